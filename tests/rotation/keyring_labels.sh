#!/usr/bin/env bash
# keyring_labels: data objects that carry a keyring's name but not a label
# p11jwt writes (a negative or signed version, spaces, too few digits, a
# version past the largest) are ignored and named in a warning; they never
# become the state, never freeze the keyring; and a state at the largest
# version refuses a successor with a clear error.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

command -v pkcs11-tool >/dev/null 2>&1 || skip "pkcs11-tool (OpenSC) is not installed"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
old=$OUT
write_config "$old"
expect_exit 0 rot stage
[[ $(status_json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["version"])') == 1 ]] ||
    fail "setup: not at version 1"

NONCE=00112233445566778899aabbccddeeff
plant() { # LABEL: a private data object of the keyring application
    printf '{"keyring":"rot","active":{"kid":"planted","alg":"ES384","since":1},"next":null,"previous":[]}' \
        >"$T/planted.json"
    p11tool --write-object "$T/planted.json" --type data --label "$1" \
        --application-label p11jwt-keyring --private >/dev/null 2>&1 ||
        fail "pkcs11-tool could not write a data object"
}

step "malformed labels are ignored, named in a warning"
for v in "-0000000000000000001" "+0000000000000000009" " 0000000000000000009" \
    "000000000000000009" "99999999999999999999" "18446744073709551615" \
    "09223372036854775808" "00000000000000000000"; do
    plant "p11jwt-keyring:rot:$v:$NONCE"
done
plant "p11jwt-keyring:rot:00000000000000000009:NOTHEX5566778899aabbccddeeff0011"
plant "p11jwt-keyring:rot:00000000000000000009:$NONCE:extra"
run_cmd rot status --json
[[ $RC -eq 0 ]] || fail "status failed: $ERR"
pycheck "$OUT" "$old" <<'PY'
import json, sys
from itlib import *
s = json.loads(sys.argv[1])
check(s["version"] == 1, f"version is {s['version']}, not 1: a malformed label was read")
check(s["active"]["kid"] == sys.argv[2], f"active is {s['active']['kid']}")
PY
grep -q "ignoring the data object labelled 'p11jwt-keyring:rot:-0000000000000000001:$NONCE'" <<<"$ERR" ||
    fail "no warning naming the object with version -1: $ERR"
[[ $(grep -c "ignoring the data object" <<<"$ERR") -eq 10 ]] ||
    fail "expected 10 warnings: $ERR"

step "the keyring is not frozen: promote and stage still work"
run_cmd rot promote
[[ $RC -eq 0 ]] || fail "promote failed after malformed objects: $ERR"
[[ $(status_json 2>/dev/null | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["version"])') == 2 ]] ||
    fail "promote did not store version 2"

step "another keyring's objects (a longer name) are not warned about"
plant "p11jwt-keyring:rot-other:00000000000000000001:$NONCE"
run_cmd rot status
grep -q "rot-other" <<<"$ERR" && fail "warned about another keyring: $ERR"

step "a state at the largest version takes no successor"
status_json 2>/dev/null >"$T/state.json"
p11tool --write-object "$T/state.json" --type data \
    --label "p11jwt-keyring:rot:09223372036854775807:$NONCE" \
    --application-label p11jwt-keyring --private >/dev/null 2>&1 || fail "pkcs11-tool failed"
run_cmd rot status --json
[[ $RC -eq 0 ]] || fail "status failed: $ERR"
grep -q '"version": 9223372036854775807' <<<"$OUT" || fail "the largest version is not read: $OUT"
run_cmd rot stage
[[ $RC -eq 1 ]] || fail "stage at the largest version: exit $RC: $ERR"
grep -q "the largest there is" <<<"$ERR" || fail "no clear error at the largest version: $ERR"
echo "keyring labels ok"
