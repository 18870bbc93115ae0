#!/usr/bin/env bash
# times: a keyring state whose dates are at the ends of what a JSON integer
# holds (since = INT64_MAX, INT64_MIN) is read without overflow: a previous
# key dated in the far future is not due for retirement (an overflowing
# since + grace would make it look ancient and destroy it), one dated in
# the far past is.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

command -v pkcs11-tool >/dev/null 2>&1 || skip "pkcs11-tool (OpenSC) is not installed"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
old=$OUT
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
ancient=$OUT
write_config "$old" "grace = 1d"
expect_exit 0 rot stage
expect_exit 0 rot promote
new=$(status_kid active)

# version 9: the newest, so every reader picks it
now=$(date +%s)
printf '{"keyring":"rot","active":{"kid":"%s","alg":"ES384","since":%s},"next":null,"previous":[{"kid":"%s","alg":"ES384","since":9223372036854775807},{"kid":"%s","alg":"ES384","since":-9223372036854775808}]}' \
    "$new" "$now" "$old" "$ancient" >"$T/state.json"
p11tool --write-object "$T/state.json" --type data \
    --label "p11jwt-keyring:rot:00000000000000000009:00112233445566778899aabbccddeeff" \
    --application-label p11jwt-keyring --private >/dev/null 2>&1 || fail "pkcs11-tool failed"

step "auto retires the key dated at INT64_MIN, keeps the one dated at INT64_MAX"
expect_exit 0 rot auto
grep -q "retired '$ancient'" <<<"$OUT" || fail "the ancient key was not retired: $OUT"
grep -qF -- "$old" <<<"$OUT" && fail "the far-future key was touched: $OUT"
expect_exit 0 p11jwt list "${TOK[@]}" --json
grep -q "\"$old\"" <<<"$OUT" || fail "the far-future key was destroyed"
grep -q "\"$ancient\"" <<<"$OUT" && fail "the ancient key is still there"
expect_exit 0 rot status
echo "times ok"
