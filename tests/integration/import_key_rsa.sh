#!/usr/bin/env bash
# import_key_rsa.sh — `p11jwt import-key` of RSA private keys made by
# openssl in every form a provider hands out (PKCS#1 PEM and DER, PKCS#8
# PEM and DER, encrypted PKCS#8 PEM and DER): each goes into the token as a
# sensitive, non-extractable private key (pinned to --alg when given, to
# none without), its kid the RFC 7638 thumbprint of the original file's
# key; what it signs PyJWT verifies with the public key of the ORIGINAL
# file. Bad inputs (a 1024-bit key, a wrong or missing passphrase, a public
# key, an alg the key cannot sign) are clear errors leaving nothing behind.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token
umask 077

k=$T/rsa
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k.pem" 2>/dev/null ||
    fail "openssl cannot make an RSA key"
echo 'correct horse battery staple' >"$T/pass"
openssl pkey -in "$k.pem" -pubout -out "$k.pub.pem"
openssl pkey -in "$k.pem" -traditional -out "$k.p1.pem"
openssl rsa -in "$k.pem" -traditional -outform DER -out "$k.p1.der" 2>/dev/null
openssl pkey -in "$k.pem" -outform DER -out "$k.der"
openssl pkcs8 -topk8 -in "$k.pem" -passout "file:$T/pass" -out "$k.enc.pem" 2>/dev/null
openssl pkcs8 -topk8 -in "$k.pem" -passout "file:$T/pass" -outform DER -out "$k.enc.der" 2>/dev/null
grep -q 'BEGIN RSA PRIVATE KEY' "$k.p1.pem" || fail "openssl did not write PKCS#1"
grep -q 'BEGIN PRIVATE KEY' "$k.pem" || fail "openssl did not write PKCS#8"
grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$k.enc.pem" || fail "openssl did not encrypt"
# PKCS#1 RSAPrivateKey starts SEQUENCE { INTEGER 0, INTEGER n, ... }; PKCS#8
# starts SEQUENCE { INTEGER 0, SEQUENCE { rsaEncryption } ... }.
openssl asn1parse -inform DER -in "$k.p1.der" | sed -n 3p | grep -q 'INTEGER' ||
    fail "openssl did not write PKCS#1 DER"
tp=$("$PYTHON" -c 'import sys; from itlib import *; print(jwk_thumbprint(rsa_jwk_of_pem(sys.argv[1])))' "$k.pem")

# form -> the alg it is imported as ("": none, the key then pins none)
declare -A AS=([p1.pem]=RS256 [p1.der]="" [pem]="" [der]=PS256 [enc.pem]=RS512 [enc.der]=PS384)
for form in pem p1.pem p1.der der enc.pem enc.der; do
    alg=${AS[$form]}
    step "import-key of the $form file${alg:+ as $alg}"
    args=()
    [[ $form == enc.* ]] && args+=(--pass-file "$T/pass")
    [[ -n $alg ]] && args+=(--alg "$alg")
    if [[ $form == pem ]]; then
        # default kid: the thumbprint; default source: standard input
        expect_exit 0 p11jwt import-key "${TOK[@]}" "${args[@]}" <"$k.pem"
        [[ $OUT == "$tp" ]] || fail "kid '$OUT' is not the thumbprint '$tp'"
        kid=$OUT
    else
        kid="rsa-$form"
        expect_exit 0 p11jwt import-key "${TOK[@]}" --kid "$kid" --key-file "$k.$form" "${args[@]}"
        [[ $OUT == "$kid" ]] || fail "import-key printed '$OUT', not the kid"
    fi
    sign_as=${alg:-PS512}
    if [[ -z $alg ]]; then
        # pins none: sign needs --alg, and says so
        expect_exit 1 p11jwt sign "${TOK[@]}" --kid "$kid" --iss "iss-$form" --aud "$AUD"
        expect_err_matches "does not pin its alg.*--alg"
        expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --alg "$sign_as" --iss "iss-$form" --aud "$AUD"
    else
        expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss "iss-$form" --aud "$AUD"
    fi
    pyverify --pem "$k.pub.pem" --alg "$sign_as" --aud "$AUD" --iss "iss-$form" <<<"$OUT" >/dev/null ||
        fail "$form: PyJWT rejects the $sign_as JWS with the original file's public key"
    expect_exit 0 p11jwt jwks --token "$TOKEN" --kid "$kid"
    pycheck "$OUT" "$tp" "$alg" <<'PY'
import json, sys
from itlib import *
[jwk] = json.loads(sys.argv[1])["keys"]
check(jwk_thumbprint(jwk) == sys.argv[2], f"the JWKS shows another key: {jwk}")
check(jwk.get("alg", "") == sys.argv[3], f"JWK alg {jwk.get('alg')!r}, expected {sys.argv[3]!r}")
PY
done

step "list --json: every imported key sensitive, not extractable; pinned as imported"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" "$tp" <<'PY'
import json, sys
from itlib import *
keys = {k["kid"]: k for k in json.loads(sys.argv[1])}
want = {sys.argv[2]: None, "rsa-p1.pem": "RS256", "rsa-p1.der": None, "rsa-der": "PS256",
        "rsa-enc.pem": "RS512", "rsa-enc.der": "PS384"}
check(set(keys) == set(want), f"keys listed: {sorted(keys)}")
for kid, alg in want.items():
    k = keys[kid]
    check(k["class"] == "private" and k["sensitive"] is True and k["extractable"] is False,
          f"{kid} is not a sensitive, non-extractable private key: {k}")
    check(k["alg"] == alg and k["pinned"] == ("mechanisms" if alg else "none"), f"{kid}: {k}")
PY
# An independent reader agrees: sensitive, sign only.
p11tool --list-objects --type privkey 2>/dev/null >"$T/objs"
[[ $(grep -c 'Access: *sensitive' "$T/objs") -eq 6 ]] || fail "pkcs11-tool: not all 6 keys sensitive: $(cat "$T/objs")"
[[ $(grep -c 'Usage: *sign$' "$T/objs") -eq 6 ]] || fail "pkcs11-tool: a key may do more than sign: $(cat "$T/objs")"

step "bad inputs: each a clear error, nothing left in the token"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$T/small.pem" 2>/dev/null
echo 'not the passphrase' >"$T/wrong"
objects=$(object_count)
expect_exit 1 p11jwt import-key "${TOK[@]}" --key-file "$T/small.pem"
expect_err_matches "1024-bit RSA key.*at least 2048"
expect_exit 1 p11jwt import-key "${TOK[@]}" --kid w --key-file "$k.enc.pem" --pass-file "$T/wrong"
expect_err_matches "wrong passphrase"
expect_exit 1 p11jwt import-key "${TOK[@]}" --kid w --key-file "$k.enc.der" --pass-file "$T/wrong"
expect_err_matches "wrong passphrase"
expect_exit 1 p11jwt import-key "${TOK[@]}" --kid w --key-file "$k.enc.pem"
expect_err_matches "encrypted.*--pass-file"
expect_exit 1 p11jwt import-key "${TOK[@]}" --kid w --key-file "$k.pub.pem"
expect_err_matches "is a public key"
expect_exit 1 p11jwt import-key "${TOK[@]}" --kid w --key-file "$k.pem" --alg ES256
expect_err_matches "RSA key.*not ES256"
expect_exit 2 p11jwt import-key "${TOK[@]}" --kid w --key-file "$k.pem" --alg HS256
expect_err_matches "--alg must be"
expect_exit 1 p11jwt import-key "${TOK[@]}" --kid rsa-der --key-file "$k.pem"
expect_err_matches "already exists"
[[ $(object_count) -eq $objects ]] || fail "a refused import left objects in the token"
