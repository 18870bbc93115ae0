#!/usr/bin/env bash
# import_key_ed25519.sh — `p11jwt import-key` of an Ed25519 private key
# made by openssl, in each form a provider hands out (PKCS#8 PEM and DER,
# encrypted PKCS#8 PEM and DER): it goes into the token as a sensitive,
# non-extractable CKK_EC_EDWARDS key (default kid: the RFC 7638 thumbprint
# of its OKP JWK); what it signs PyJWT verifies with the public key of the
# ORIGINAL file, and jwks shows that same key. Keys that are not Ed25519
# signing keys (X25519, Ed448, a public key) and bad passphrases are each a
# clear error that leaves nothing in the token.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token
umask 077

k=$T/ed
openssl genpkey -algorithm ED25519 -out "$k.pem" 2>/dev/null || skip "openssl cannot make Ed25519 keys"
echo 'correct horse battery staple' >"$T/pass"
openssl pkey -in "$k.pem" -pubout -out "$k.pub.pem"
openssl pkey -in "$k.pem" -outform DER -out "$k.der"
openssl pkcs8 -topk8 -in "$k.pem" -passout "file:$T/pass" -out "$k.enc.pem" 2>/dev/null
openssl pkcs8 -topk8 -in "$k.pem" -passout "file:$T/pass" -outform DER -out "$k.enc.der" 2>/dev/null
grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$k.enc.pem" || fail "openssl did not encrypt"

# The RFC 7638 thumbprint of the original file's key (RFC 8037: crv, kty, x).
tp=$("$PYTHON" - "$k.pem" <<'PY'
import sys
from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                          load_pem_private_key)
from itlib import *
pub = load_pem_private_key(open(sys.argv[1], "rb").read(), None).public_key()
print(jwk_thumbprint({"kty": "OKP", "crv": "Ed25519",
                      "x": b64e(pub.public_bytes(Encoding.Raw, PublicFormat.Raw))}))
PY
)

for form in pem der enc.pem enc.der; do
    step "import-key of the Ed25519 $form file"
    pass=()
    [[ $form == enc.* ]] && pass=(--pass-file "$T/pass")
    if [[ $form == pem ]]; then
        expect_exit 0 p11jwt import-key "${TOK[@]}" <"$k.pem"
        [[ $OUT == "$tp" ]] || fail "kid '$OUT' is not the thumbprint '$tp'"
        kid=$OUT
    else
        kid="ed-$form"
        expect_exit 0 p11jwt import-key "${TOK[@]}" --kid "$kid" --label "label $form" \
            --key-file "$k.$form" "${pass[@]}"
        [[ $OUT == "$kid" ]] || fail "import-key printed '$OUT', not the kid"
    fi
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss "iss-$form" --aud "$AUD"
    pyverify --pem "$k.pub.pem" --alg EdDSA --aud "$AUD" --iss "iss-$form" <<<"$OUT" >/dev/null ||
        fail "$form: PyJWT rejects the JWS with the original file's public key"
    export_jwks "$T/jwks.json" "$kid"
    pycheck "$T/jwks.json" "$tp" <<'PY'
import json, sys
from itlib import *
[jwk] = json.load(open(sys.argv[1]))["keys"]
check(jwk["kty"] == "OKP" and jwk["alg"] == "EdDSA", f"not an EdDSA JWK: {jwk}")
check(jwk_thumbprint(jwk) == sys.argv[2], f"the JWKS shows another key: {jwk}")
PY
done

step "list --json: each imported key sensitive, not extractable, EdDSA by its key type"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
keys = json.loads(sys.argv[1])
check(len(keys) == 4, f"{len(keys)} keys, want 4")
for k in keys:
    check(k["class"] == "private" and k["sensitive"] is True and k["extractable"] is False,
          f"not protected: {k}")
    check(k["alg"] == "EdDSA" and k["pinned"] == "key-type", f"{k}")
PY
p11tool --list-objects --type privkey >"$T/objs" 2>/dev/null || fail "pkcs11-tool cannot list"
[[ $(grep -c 'Private Key Object; EC_EDWARDS' "$T/objs") -eq 4 ]] ||
    fail "pkcs11-tool does not see 4 Ed25519 private keys: $(cat "$T/objs")"
[[ $(grep -Ec 'Usage: +sign$' "$T/objs") -eq 4 ]] || fail "a key does more than sign: $(cat "$T/objs")"
[[ $(grep -Ec 'Access: +sensitive$' "$T/objs") -eq 4 ]] ||
    fail "a key is not sensitive, or extractable: $(cat "$T/objs")"

step "bad input: each a clear error, nothing left in the token"
objects=$(object_count)
openssl genpkey -algorithm X25519 -out "$T/x25519.pem" 2>/dev/null
openssl genpkey -algorithm ED448 -out "$T/ed448.pem" 2>/dev/null
echo 'not the passphrase' >"$T/wrong"
bad() {  # bad REGEX ARGS...
    local re=$1
    shift
    expect_exit 1 p11jwt import-key "${TOK[@]}" --kid bad-key "$@"
    expect_err_matches "$re"
    [[ -z $OUT ]] || fail "a refused import printed '$OUT'"
    [[ $(object_count) -eq $objects ]] || fail "a refused import left objects behind: $*"
}
bad 'holds an X25519 key, which is for key agreement, not for signing: import-key takes .*Ed25519' \
    --key-file "$T/x25519.pem"
bad 'holds an ED448 key: import-key takes .*Ed25519 keys' --key-file "$T/ed448.pem"
bad 'is a public key' --key-file "$k.pub.pem"
bad 'encrypted: give its passphrase with --pass-file' --key-file "$k.enc.der"
bad 'wrong passphrase' --key-file "$k.enc.pem" --pass-file "$T/wrong"
expect_exit 1 p11jwt import-key "${TOK[@]}" --key-file "$k.der"
expect_err_matches "already exists"
[[ $(object_count) -eq $objects ]] || fail "a refused duplicate left objects behind"

echo "import_key_ed25519: all checks passed"
