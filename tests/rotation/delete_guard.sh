#!/usr/bin/env bash
# delete_guard: `p11jwt delete` refuses a kid that a keyring in the token
# names as active or next (naming the keyring, its version and what to run
# instead) and destroys a previous key with a warning.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
old=$OUT
STS_PORT=9
write_config "$old"
expect_exit 0 rot auto            # adopts the profile's key: version 1

expect_exit 1 p11jwt delete "${TOK[@]}" --kid "$old" --yes
expect_err_matches "active key of keyring 'rot' \(version 1\)"
# What to run instead, whole.
expect_err_matches "p11jwt rotate stage --profile P; p11jwt rotate promote --profile P; p11jwt rotate retire --profile P --kid $old --yes"
expect_err_matches "p11jwt rotate forget --profile P --yes"
p11jwt list "${TOK[@]}" | grep -q -- "$old" || fail "the active key was destroyed"

expect_exit 0 rot stage
new=$(status_kid next)
[[ -n $new ]] || fail "stage made no next key"
expect_exit 1 p11jwt delete "${TOK[@]}" --kid "$new" --yes
expect_err_matches "next key of keyring 'rot' \(version 2\)"
p11jwt list "${TOK[@]}" | grep -q -- "$new" || fail "the next key was destroyed"

# Once promoted, the old key is previous: destroyed, with a warning.
expect_exit 0 rot promote
run_cmd p11jwt delete "${TOK[@]}" --kid "$old" --yes
[[ $RC -eq 0 ]] || fail "delete of a previous key failed: $ERR"
grep -q "previous key of keyring 'rot'" <<<"$ERR" || fail "no warning: $ERR"
p11jwt list "${TOK[@]}" | grep -q -- "$old" && fail "the previous key is still there"
# A kid no keyring names is deleted as before.
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256
expect_exit 0 p11jwt delete "${TOK[@]}" --kid "$OUT" --yes
echo "delete refuses active and next keys, warns for previous ones"
