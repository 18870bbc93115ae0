#!/usr/bin/env bash
# keyring_unseen: a keyring another config left in the token under this
# profile's name chooses the kid, and says so: a signing error and an STS's
# refusal name the keyring, its version and the profile's own kid; `doctor`
# (text and --json) and `rotate status` show it; `rotate forget --yes`
# drops the state, keeps the keys, and the profile's kid signs and is
# exchanged again.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
mine=$OUT
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
other=$OUT
# The STS trusts the profile's own key only.
start_sts "$(jwks_of "$mine")"
write_config "$mine"

# put_state VERSION ACTIVE_KID — another config's keyring "rot" at VERSION.
put_state() {
    printf '{"keyring":"rot","active":{"kid":"%s","alg":"ES384","since":1700000000},"next":null,"previous":[]}' \
        "$2" >"$T/state.json"
    p11tool --write-object "$T/state.json" --type data \
        --label "p11jwt-keyring:rot:$(printf %020d "$1"):00112233445566778899aabbccddeeff" \
        --application-label p11jwt-keyring --private >/dev/null 2>&1 || fail "pkcs11-tool failed"
}
# Version 7: its active key is not in this token.
put_state 7 ghost-kid

step "the error names the keyring, its version and the profile's kid"
expect_exit 1 p11jwt assertion --profile rot --config "$CONFIG"
expect_err_matches "ghost-kid"
expect_err_matches "keyring 'rot', version 7"
expect_err_matches "profile's kid '$mine'"

step "status says the keyring chooses"
expect_exit 0 rot status
grep -q "version 7" <<<"$OUT" || fail "status: $OUT"
grep -q "profile's kid $mine is not used" <<<"$OUT" || fail "status does not say: $OUT"
grep -q "p11jwt rotate forget --profile rot" <<<"$OUT" || fail "status does not give the command: $OUT"
grep -q "since 2023-11-14T22:13:20Z" <<<"$OUT" || fail "status shows no RFC 3339 date: $OUT"
expect_exit 0 rot status --json
pycheck "$OUT" "$mine" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
assert s["profile_kid"] == sys.argv[2], s
assert s["version"] == 7, s
PY

step "version 8 chooses a key the token has but the STS does not trust"
put_state 8 "$other"
expect_exit 1 p11jwt token --profile rot --config "$CONFIG"
expect_err_matches "kid '$other' \(chosen by keyring 'rot', version 8"
expect_err_matches "profile's kid '$mine' is not used"
expect_err_matches "unknown client key"
run_cmd p11jwt doctor --profile rot --config "$CONFIG"
grep -q "^ok    key .*kid '$other' (the active key of keyring 'rot', version 8)" <<<"$OUT" ||
    fail "doctor's key check does not name the keyring: $OUT"
grep -q "^ok    keyring .*the profile's kid '$mine' is not one of them and is not used .*rotate forget --profile rot --yes" <<<"$OUT" ||
    fail "doctor's keyring check does not say the profile's kid is unused: $OUT"
run_cmd p11jwt doctor --profile rot --config "$CONFIG" --json
pycheck "$OUT" "$other" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
key = [c for c in d["checks"] if c["check"] == "key"][0]
assert "keyring 'rot', version 8" in key["detail"] and sys.argv[2] in key["detail"], key
PY

step "forget needs --yes, then drops the state and keeps the keys"
expect_exit 2 rot forget
before=$(key_count)
expect_exit 0 rot forget --yes
grep -q "forgot keyring 'rot' (version 8" <<<"$OUT" || fail "forget says: $OUT"
grep -qF -- "$other" <<<"$OUT" || fail "forget does not name the kids: $OUT"
[[ $(key_count) == "$before" ]] || fail "forget changed the keys"
expect_exit 0 rot status --json
pycheck "$OUT" "$mine" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
assert s.get("stored") is False and s["active"]["kid"] == sys.argv[2], s
PY
expect_exit 0 p11jwt assertion --profile rot --config "$CONFIG"
pycheck "$OUT" "$mine" <<'PY'
import base64, json, sys
h = sys.argv[1].split(".")[0]
h = json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))
assert h["kid"] == sys.argv[2], h
PY
grep -q '"event":"forget"' "$T/audit.log" || fail "no audit record of forget"
step "the profile's own kid is exchanged again"
exchange_ok
echo "a keyring that chooses the kid is seen, and can be forgotten"
