#!/usr/bin/env bash
# fallback: the STS already trusts only the next key while the profile's
# active is still the old one → the exchange succeeds with next and says
# promote is safe; trusting neither → one clear error naming both kids.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
old=$OUT
start_sts "$(jwks_of "$old")"
write_config "$old"
expect_exit 0 rot stage
next=$(status_kid next)

step "STS trusts only next; active is old"
start_sts "$(jwks_of "$next")"
run_cmd p11jwt token --profile rot --config "$CONFIG"
[[ $RC -eq 0 ]] || fail "exchange failed instead of falling back: $ERR"
grep -q "refused kid '$old'" <<<"$ERR" || fail "no log line about the refused kid: $ERR"
grep -q "accepted kid '$next'" <<<"$ERR" || fail "no log line naming the accepted kid: $ERR"
grep -q "promote' is safe" <<<"$ERR" || fail "the log does not say promote is safe: $ERR"
[[ $(status_kid active) == "$old" ]] || fail "the fallback changed the keyring"

step "STS trusts neither"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
start_sts "$(jwks_of "$OUT")"
run_cmd p11jwt token --profile rot --config "$CONFIG"
[[ $RC -eq 1 ]] || fail "expected exit 1, got $RC"
last=$(tail -1 <<<"$ERR")
[[ $last == "p11jwt: token: "* ]] || fail "error line: $ERR"
grep -qF -- "$old" <<<"$last" && grep -qF -- "$next" <<<"$last" ||
    fail "the error does not name both kids: $last"
echo "fallback ok"
