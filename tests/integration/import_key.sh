#!/usr/bin/env bash
# import_key.sh — `p11jwt import-key`: a provider-issued EC private key in
# every file form a provider hands out (PKCS#8 PEM and DER, encrypted
# PKCS#8 PEM and DER, SEC1 PEM and DER) on each curve goes into the token as
# a sensitive, non-extractable key whose kid is its RFC 7638 thumbprint;
# what it signs PyJWT verifies with the public key of the ORIGINAL file,
# and jwks shows that same key. Every bad input is a clear error that
# leaves nothing in the token; a key file others can read is warned about.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token
umask 077

# thumbprint PEM: the RFC 7638 thumbprint of the key in PEM, by Python.
thumbprint() {
    "$PYTHON" - "$1" <<'PY'
import sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from itlib import *
k = load_pem_private_key(open(sys.argv[1], "rb").read(), None)
n = k.public_key().public_numbers()
size = (k.curve.key_size + 7) // 8
crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[k.curve.name]
print(jwk_thumbprint({"kty": "EC", "crv": crv, "x": b64e(n.x.to_bytes(size, "big")),
                      "y": b64e(n.y.to_bytes(size, "big"))}))
PY
}

echo 'correct horse battery staple' >"$T/pass"
declare -A CURVE=([ES256]=P-256 [ES384]=P-384 [ES512]=P-521)
for alg in ES256 ES384 ES512; do
    k=$T/$alg
    openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${CURVE[$alg]}" -out "$k.pem" 2>/dev/null ||
        fail "openssl cannot make a ${CURVE[$alg]} key"
    openssl pkey -in "$k.pem" -pubout -out "$k.pub.pem"
    openssl pkey -in "$k.pem" -outform DER -out "$k.der"
    openssl pkcs8 -topk8 -in "$k.pem" -passout "file:$T/pass" -out "$k.enc.pem" 2>/dev/null
    openssl pkcs8 -topk8 -in "$k.pem" -passout "file:$T/pass" -outform DER -out "$k.enc.der" 2>/dev/null
    openssl pkey -in "$k.pem" -traditional -out "$k.sec1.pem"
    openssl ec -in "$k.pem" -outform DER -out "$k.sec1.der" 2>/dev/null
    # SEC1 ECPrivateKey starts SEQUENCE { INTEGER 1, OCTET STRING d }; PKCS#8
    # starts SEQUENCE { INTEGER 0, SEQUENCE {...} }.
    openssl asn1parse -inform DER -in "$k.sec1.der" | sed -n 3p | grep -q 'OCTET STRING' ||
        fail "openssl did not write SEC1 DER"
    grep -q 'BEGIN EC PRIVATE KEY' "$k.sec1.pem" || fail "openssl did not write SEC1"
    grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$k.enc.pem" || fail "openssl did not encrypt"
    tp=$(thumbprint "$k.pem")

    for form in pem der enc.pem enc.der sec1.pem sec1.der; do
        step "$alg: import-key of the $form file"
        pass=()
        [[ $form == enc.* ]] && pass=(--pass-file "$T/pass")
        if [[ $form == pem ]]; then
            # default kid: the thumbprint; default source: standard input
            expect_exit 0 p11jwt import-key "${TOK[@]}" <"$k.pem"
            [[ $OUT == "$tp" ]] || fail "$alg: kid '$OUT' is not the thumbprint '$tp'"
            kid=$OUT
        else
            kid="$alg-$form"
            expect_exit 0 p11jwt import-key "${TOK[@]}" --kid "$kid" --label "label $form" \
                --key-file "$k.$form" "${pass[@]}"
            [[ $OUT == "$kid" ]] || fail "import-key printed '$OUT', not the kid"
        fi
        expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss "iss-$form" --aud "$AUD"
        pyverify --pem "$k.pub.pem" --alg "$alg" --aud "$AUD" --iss "iss-$form" <<<"$OUT" >/dev/null ||
            fail "$alg $form: PyJWT rejects the JWS with the original file's public key"
        export_jwks "$T/jwks.json" "$kid"
        pycheck "$T/jwks.json" "$tp" <<'PY'
import json, sys
from itlib import *
[jwk] = json.load(open(sys.argv[1]))["keys"]
check(jwk_thumbprint(jwk) == sys.argv[2], f"the JWKS shows another key: {jwk}")
PY
    done
done

step "list --json: every imported key sensitive, not extractable, pinned by its curve"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
keys = json.loads(sys.argv[1])
check(len(keys) == 18, f"{len(keys)} keys, want 18")
for k in keys:
    check(k["class"] == "private" and k["sensitive"] is True and k["extractable"] is False,
          f"not protected: {k}")
    check(k["pinned"] == "key-type" and k["alg"] in ("ES256", "ES384", "ES512"), f"{k}")
    if k["kid"].endswith("pem") or k["kid"].endswith("der"):
        check(k["label"] == "label " + k["kid"].split("-", 1)[1], f"label {k}")
PY
step "pkcs11-tool sees the private objects as sensitive, never readable"
p11tool --list-objects --type privkey >"$T/objs" 2>/dev/null || fail "pkcs11-tool cannot list"
grep -c 'Private Key Object' "$T/objs" | grep -qx 18 || fail "pkcs11-tool does not see 18 private keys"
if grep -A8 'Private Key Object' "$T/objs" | grep -q 'Access:.*extractable' &&
    ! grep -A8 'Private Key Object' "$T/objs" | grep -q 'never extractable'; then
    fail "pkcs11-tool shows an extractable private key: $(cat "$T/objs")"
fi

step "bad input: each a clear error, nothing left in the token"
objects=$(object_count)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out "$T/k1.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$T/rsa.pem" 2>/dev/null
openssl genpkey -algorithm X448 -out "$T/x448.pem" 2>/dev/null
openssl req -x509 -new -key "$T/ES256.pem" -subj /CN=x -days 1 -out "$T/cert.pem" 2>/dev/null
echo 'not the passphrase' >"$T/wrong"
: >"$T/empty"
head -c 300 /dev/urandom >"$T/noise"
bad() {  # bad REGEX ARGS...
    local re=$1
    shift
    expect_exit 1 p11jwt import-key "${TOK[@]}" --kid bad-key "$@"
    expect_err_matches "$re"
    [[ -z $OUT ]] || fail "a refused import printed '$OUT'"
    [[ $(object_count) -eq $objects ]] || fail "a refused import left objects behind: $*"
}
bad 'is a public key' --key-file "$T/ES256.pub.pem"
bad 'encrypted: give its passphrase with --pass-file' --key-file "$T/ES384.enc.pem"
bad 'encrypted: give its passphrase with --pass-file' --key-file "$T/ES384.enc.der"
bad 'wrong passphrase' --key-file "$T/ES384.enc.pem" --pass-file "$T/wrong"
bad 'wrong passphrase' --key-file "$T/ES512.enc.der" --pass-file "$T/wrong"
bad 'curve secp256k1: p11jwt signs with P-256, P-384 and P-521' --key-file "$T/k1.pem"
bad 'holds a 1024-bit RSA key: RS and PS need at least 2048' --key-file "$T/rsa.pem"
bad "holds a X448 key: import-key takes EC keys" --key-file "$T/x448.pem"
bad 'is not a private key' --key-file "$T/cert.pem"
bad 'is not a private key' --key-file "$T/noise"
bad 'is empty' --key-file "$T/empty"
bad 'cannot read' --key-file "$T/nonexistent.pem"
bad 'passphrase in .* is empty' --key-file "$T/ES384.enc.pem" --pass-file "$T/empty"
expect_exit 1 p11jwt import-key "${TOK[@]}" --key-file "$T/ES256.der"
expect_err_matches "already exists"
[[ $(object_count) -eq $objects ]] || fail "a refused duplicate left objects behind"

step "a key file others can read: imported, and warned about (one line, after the kid)"
cp "$T/ES256.pem" "$T/open.pem"
chmod 644 "$T/open.pem"
run_cmd p11jwt import-key "${TOK[@]}" --kid open --key-file "$T/open.pem"
[[ $RC -eq 0 && $OUT == open ]] || fail "import of a 0644 file: exit $RC, out '$OUT': $ERR"
[[ $(wc -l <"$T/err") -eq 1 ]] || fail "want one warning line: $ERR"
grep -Eq '^p11jwt: import-key: warning: .*open\.pem can be read by others \(mode 0644\): delete it' \
    <<<"$ERR" || fail "no clear warning: $ERR"

echo "import_key: all checks passed"
