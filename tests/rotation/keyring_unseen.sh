#!/usr/bin/env bash
# keyring_unseen: a keyring another config left in the token under this
# profile's name chooses the kid, and says so: the error names the keyring,
# its version and the profile's own kid; `rotate status` shows it;
# `rotate forget --yes` drops the state, keeps the keys, and the profile's
# kid signs again.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
mine=$OUT
STS_PORT=9
write_config "$mine"

# Another config's keyring "rot", at version 7, whose active key is not here.
printf '{"keyring":"rot","active":{"kid":"ghost-kid","alg":"ES384","since":1700000000},"next":null,"previous":[]}' \
    >"$T/state.json"
p11tool --write-object "$T/state.json" --type data \
    --label "p11jwt-keyring:rot:00000000000000000007:00112233445566778899aabbccddeeff" \
    --application-label p11jwt-keyring --private >/dev/null 2>&1 || fail "pkcs11-tool failed"

step "the error names the keyring, its version and the profile's kid"
expect_exit 1 p11jwt assertion --profile rot --config "$CONFIG"
expect_err_matches "ghost-kid"
expect_err_matches "keyring 'rot', version 7"
expect_err_matches "profile's kid '$mine'"

step "status says the keyring chooses"
expect_exit 0 rot status
grep -q "version 7" <<<"$OUT" || fail "status: $OUT"
grep -q "profile's kid $mine is not used" <<<"$OUT" || fail "status does not say: $OUT"
grep -q "since 2023-11-14T22:13:20Z" <<<"$OUT" || fail "status shows no RFC 3339 date: $OUT"
expect_exit 0 rot status --json
pycheck "$OUT" "$mine" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
assert s["profile_kid"] == sys.argv[2], s
assert s["version"] == 7, s
PY

step "forget needs --yes, then drops the state and keeps the keys"
expect_exit 2 rot forget
before=$(key_count)
expect_exit 0 rot forget --yes
grep -q "forgot keyring 'rot' (version 7" <<<"$OUT" || fail "forget says: $OUT"
grep -q "ghost-kid" <<<"$OUT" || fail "forget does not name the kids: $OUT"
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
echo "a keyring that chooses the kid is seen, and can be forgotten"
