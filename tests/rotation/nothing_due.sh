#!/usr/bin/env bash
# nothing_due: `rotate auto` with nothing due changes nothing: the keys, the
# keyring state and its version are the same before and after.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256
STS_PORT=9
write_config "$OUT"
expect_exit 0 rot auto          # adopts the profile's key: stores version 1
grep -q "adopted" <<<"$OUT" || fail "first auto did not adopt: $OUT"
expect_exit 0 rot status --json
before_status=$OUT
expect_exit 0 p11jwt list "${TOK[@]}" --json
before_keys=$OUT
before_objects=$(object_count)

expect_exit 0 rot auto
grep -q "nothing due" <<<"$OUT" || fail "auto says: $OUT"
expect_exit 0 rot status --json
[[ $OUT == "$before_status" ]] || fail "keyring changed: $before_status -> $OUT"
expect_exit 0 p11jwt list "${TOK[@]}" --json
[[ $OUT == "$before_keys" ]] || fail "keys changed"
[[ $(object_count) == "$before_objects" ]] || fail "object count changed"
echo "nothing due, nothing changed"
