#!/usr/bin/env bash
# tpm.sh — p11jwt on tpm2-pkcs11 over a software TPM (swtpm + tpm2-abrmd on
# a private D-Bus bus, all started and stopped here: tpm_lib.sh): keygen
# ES256/ES384, sign, jwks -> PyJWT verifies, sign --batch, a key pkcs11-tool
# made; RSA keygen RS256 (2048, 3072) and PS256 -> sign --alg (the keys pin
# no alg: no CKA_ALLOWED_MECHANISMS) -> PyJWT verifies, the combined
# CKM_SHA256_RSA_PKCS(_PSS) in C_SignInit (pkcs11-spy), batch, and a
# certificate stored by import-cert for sign --x5t --x5t-s256. The token's
# limits are asserted as clear errors with nothing left behind: no secret
# keys at all (keygen and import-secret HS*), P-521 pairs whose public point
# the module encodes wrongly and cannot sign with, no Ed25519 (keygen and
# import-key EdDSA), and no import of an EC or RSA private key (import-key).
set -euo pipefail
source "$(dirname "$0")/tpm_lib.sh"

AUD=https://sts.example.invalid/token

step "the token, empty"
expect_exit 0 p11jwt list "${TOK[@]}" --json
[[ $OUT == "[]" ]] || fail "a fresh tpm2-pkcs11 token lists keys: $OUT"

for alg in ES256 ES384; do
    step "$alg: keygen, sign, jwks, PyJWT verifies"
    expect_exit 0 p11jwt keygen "${TOK[@]}" --alg "$alg" --kid "tpm-$alg"
    [[ $OUT == "tpm-$alg" ]] || fail "keygen printed '$OUT'"
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "tpm-$alg" --iss tpm --aud "$AUD"
    jws=$OUT
    export_jwks "$T/jwks-$alg.json" "tpm-$alg"
    pyverify --jwks "$T/jwks-$alg.json" --aud "$AUD" --iss tpm <<<"$jws" >"$T/decoded.json" ||
        fail "PyJWT rejects the $alg JWS"
    pycheck "$T/decoded.json" "$alg" <<'PY'
import json, sys
from itlib import *
d, alg = json.load(open(sys.argv[1])), sys.argv[2]
check(d["header"] == {"alg": alg, "kid": "tpm-" + alg, "typ": "JWT"}, f"header {d['header']}")
PY
done

step "ES256 without a kid: named by its thumbprint, which pkcs11-tool sees as its ID"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256
tp=$OUT
[[ $tp =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "keygen printed '$tp', not a thumbprint"
if command -v pkcs11-tool >/dev/null 2>&1; then
    p11tool --list-objects --type privkey >"$T/objects" 2>/dev/null || fail "pkcs11-tool cannot list the keys"
    grep -qF "label:      $tp" "$T/objects" || fail "pkcs11-tool does not see key $tp: $(cat "$T/objects")"
fi

step "list --json: sensitive, not extractable"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$T/out" "$tp" <<'PY'
import json, sys
from itlib import *
keys = {k["kid"]: k for k in json.load(open(sys.argv[1]))}
want = {"tpm-ES256": "ES256", "tpm-ES384": "ES384", sys.argv[2]: "ES256"}
check(set(keys) == set(want), f"kids {sorted(keys)}")
for kid, alg in want.items():
    check(keys[kid]["alg"] == alg and keys[kid]["pinned"] == "key-type", f"{kid}: {keys[kid]}")
    check(keys[kid]["sensitive"] is True and keys[kid]["extractable"] is False, f"{kid}: {keys[kid]}")
PY
n_keys=$(key_count)

step "sign --batch: 100 lines, 2 threads, all verified by PyJWT in order"
"$PYTHON" -c 'import json
for i in range(100): print(json.dumps({"n": i}))' >"$T/in.jsonl"
run_cmd p11jwt sign "${TOK[@]}" --kid tpm-ES256 --iss tpm --aud "$AUD" --batch --threads 2 <"$T/in.jsonl"
[[ $RC -eq 0 ]] || fail "sign --batch failed: $ERR"
check_stderr 0
cp "$T/out" "$T/out.jws"
pyverify --jwks "$T/jwks-ES256.json" --aud "$AUD" --lines <"$T/out.jws" >"$T/decoded.jsonl" ||
    fail "PyJWT rejects a JWS of the batch"
pycheck "$T/decoded.jsonl" <<'PY'
import sys
from itlib import *
d = load_json_lines(sys.argv[1])
check(len(d) == 100, f"{len(d)} JWS")
check([x["payload"]["n"] for x in d] == list(range(100)), "out of order")
check(len({x["payload"]["jti"] for x in d}) == 100, "jti repeated")
PY

step "LIMIT: no secret keys — keygen HS256 is a clear error"
expect_exit 1 p11jwt keygen "${TOK[@]}" --alg HS256 --kid tpm-hs256
expect_err_matches 'could not generate the secret key: CKR_FUNCTION_NOT_SUPPORTED'
step "$ERR"

step "LIMIT: no secret keys — import-secret HS256 is a clear error"
(umask 077 && rand_hex 16 >"$T/secret")
expect_exit 1 p11jwt import-secret "${TOK[@]}" --alg HS256 --kid tpm-imp --secret-file "$T/secret"
expect_err_matches 'could not import the secret: CKR_'
step "$ERR"

step "LIMIT: P-521 — the module mis-encodes the public point; a clear error, the pair destroyed"
expect_exit 1 p11jwt keygen "${TOK[@]}" --alg ES512 --kid tpm-es512
expect_err_matches 'P-521 pair but it is unusable'
expect_err_matches 'destroyed'
step "$ERR"
[[ $(key_count) -eq $n_keys ]] || fail "a failed keygen left a key behind: $(p11jwt list "${TOK[@]}")"

step "LIMIT: no Ed25519 (no CKM_EDDSA) — keygen and import-key EdDSA are clear errors, nothing left"
expect_exit 1 p11jwt keygen "${TOK[@]}" --alg EdDSA --kid tpm-ed
expect_err_matches "cannot generate Ed25519 keys: it has no CKM_EDDSA"
step "$ERR"
(umask 077 && openssl genpkey -algorithm ED25519 -out "$T/ed.pem" 2>/dev/null)
expect_exit 1 p11jwt import-key "${TOK[@]}" --kid tpm-ed-imp --key-file "$T/ed.pem"
expect_err_matches "cannot import Ed25519 keys: it has no CKM_EDDSA"
[[ $(key_count) -eq $n_keys ]] || fail "a refused Ed25519 key left a key behind: $(p11jwt list "${TOK[@]}")"

step "LIMIT: no EC private key import (C_CreateObject) — import-key is a clear error, nothing left"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/imp.pem" 2>/dev/null
chmod 600 "$T/imp.pem"
expect_exit 1 p11jwt import-key "${TOK[@]}" --kid tpm-imp --key-file "$T/imp.pem"
expect_err_matches 'could not import the private key: CKR_ATTRIBUTE_VALUE_INVALID'
step "$ERR"
[[ $(key_count) -eq $n_keys ]] || fail "a failed import left a key behind: $(p11jwt list "${TOK[@]}")"
step "a key made by pkcs11-tool: found by its ID, pinned by its curve, signs, PyJWT verifies"
if command -v pkcs11-tool >/dev/null 2>&1; then
    p11tool --keypairgen --key-type EC:prime256v1 --id "$(printf p11tool-ec | od -An -tx1 | tr -d ' \n')" \
        --label p11tool-ec >"$T/p11tool.log" 2>&1 || fail "pkcs11-tool --keypairgen: $(cat "$T/p11tool.log")"
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid p11tool-ec --iss tpm --aud "$AUD"
    jws=$OUT
    export_jwks "$T/jwks-p11tool.json" p11tool-ec
    pyverify --jwks "$T/jwks-p11tool.json" --aud "$AUD" <<<"$jws" >/dev/null ||
        fail "PyJWT rejects the pkcs11-tool key's JWS"
    expect_exit 0 p11jwt list "${TOK[@]}" --json
    pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
k = {k["kid"]: k for k in json.loads(sys.argv[1])}["p11tool-ec"]
check(k["alg"] == "ES256" and k["pinned"] == "key-type", f"{k}")
PY
fi

# RSA on the TPM: tpm2-pkcs11 takes no CKA_ALLOWED_MECHANISMS, so keygen
# steps down to a key that pins no alg (keygen --help says so): list shows
# pinned none, sign without --alg is a clear error, with --alg it signs RS
# or PS (the module lists CKM_SHA*_RSA_PKCS and CKM_SHA*_RSA_PKCS_PSS).
# Its JWK has no alg: PyJWT is given the one the caller named (with_alg).
with_alg() {
    pycheck "$1" "$2" "$3" <<'PY'
import json, sys
from itlib import *
jwks, alg, out = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
[jwk] = jwks["keys"]
check(jwk["kty"] == "RSA" and "alg" not in jwk, f"the JWK of a key that pins no alg: {jwk}")
json.dump({"keys": [dict(jwk, alg=alg)]}, open(out, "w"))
PY
}
rsa_bits() {
    "$PYTHON" -c 'import json, sys
from itlib import *
print(len(b64d(json.load(open(sys.argv[1]))["keys"][0]["n"])) * 8)' "$1"
}

# Few keys: a TPM's RSA keygen is slow. swtpm makes 3072-bit keys too.
for spec in "RS256 2048" "PS256 2048" "RS256 3072"; do
    read -r alg bits <<<"$spec"
    kid=tpm-$alg-$bits
    step "$alg, $bits bits: keygen, pinned none, sign --alg, jwks, PyJWT verifies"
    expect_exit 0 p11jwt keygen "${TOK[@]}" --alg "$alg" --bits "$bits" --kid "$kid"
    [[ $OUT == "$kid" ]] || fail "keygen printed '$OUT'"
    expect_exit 0 p11jwt list "${TOK[@]}" --json
    pycheck "$OUT" "$kid" <<'PY'
import json, sys
from itlib import *
k = {k["kid"]: k for k in json.loads(sys.argv[1])}[sys.argv[2]]
check(k["pinned"] == "none" and k["alg"] is None, f"tpm2-pkcs11 now pins an RSA key's alg: {k}")
check(k["sensitive"] is True and k["extractable"] is False, f"{k}")
PY
    expect_exit 1 p11jwt sign "${TOK[@]}" --kid "$kid" --iss tpm --aud "$AUD"
    expect_err_matches "RSA key '$kid' does not pin its alg.*name it with --alg"
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --alg "$alg" --iss tpm --aud "$AUD"
    jws=$OUT
    export_jwks "$T/jwks-$kid.json" "$kid"
    [[ $(rsa_bits "$T/jwks-$kid.json") -eq $bits ]] ||
        fail "$kid: a $(rsa_bits "$T/jwks-$kid.json")-bit modulus, not $bits"
    with_alg "$T/jwks-$kid.json" "$alg" "$T/jwks-$kid.alg.json"
    pyverify --jwks "$T/jwks-$kid.alg.json" --aud "$AUD" --iss tpm <<<"$jws" >"$T/decoded.json" ||
        fail "PyJWT rejects the $alg JWS"
    pycheck "$T/decoded.json" "$alg" "$kid" <<'PY'
import json, sys
from itlib import *
d, alg, kid = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
check(d["header"] == {"alg": alg, "kid": kid, "typ": "JWT"}, f"header {d['header']}")
PY
    expect_exit 0 p11jwt verify "${TOK[@]}" --kid "$kid" --alg "$alg" --aud "$AUD" <<<"$jws"
done

step "PS512 and RS512 with the same 2048-bit key (it pins none), PyJWT verifies"
for alg in PS512 RS512; do
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid tpm-PS256-2048 --alg "$alg" --iss tpm --aud "$AUD"
    with_alg "$T/jwks-tpm-PS256-2048.json" "$alg" "$T/jwks-$alg.alg.json"
    pyverify --jwks "$T/jwks-$alg.alg.json" --aud "$AUD" <<<"$OUT" >/dev/null ||
        fail "PyJWT rejects the $alg JWS"
done

step "which mechanism: OpenSC's pkcs11-spy between p11jwt and tpm2-pkcs11 shows C_SignInit's"
step "  (the module has CKM_SHA256_RSA_PKCS(_PSS): the raw-mechanism fallback is not needed here)"
SPY=
for m in /usr/lib/*-linux-gnu/pkcs11-spy.so /usr/lib/*-linux-gnu/pkcs11/pkcs11-spy.so; do
    [[ -r $m ]] && SPY=$m && break
done
if [[ -n $SPY ]]; then
    for alg in RS256 PS256; do
        PKCS11SPY=$TPM_MODULE PKCS11SPY_OUTPUT=$T/spy-$alg.log run_cmd p11jwt sign \
            --token "pkcs11:token=$TOKEN_LABEL?module-path=$SPY" --pin-file "$PIN_FILE" \
            --kid tpm-PS256-2048 --alg "$alg" --iss tpm --aud "$AUD"
        [[ $RC -eq 0 ]] || fail "sign through pkcs11-spy failed: $ERR"
        want=CKM_SHA256_RSA_PKCS
        [[ $alg == PS256 ]] && want=CKM_SHA256_RSA_PKCS_PSS
        got=$(grep -A4 'C_SignInit' "$T/spy-$alg.log" | sed -n 's/.*pMechanism->type = \([A-Z0-9_]*\).*/\1/p' | sort -u)
        [[ $got == "$want" ]] || fail "$alg: C_SignInit got '$got', not $want"
    done
else
    step "  (skipped: OpenSC's pkcs11-spy.so is not installed)"
fi

step "sign --batch PS256: 20 lines, 2 threads, all verified by PyJWT in order"
"$PYTHON" -c 'import json
for i in range(20): print(json.dumps({"n": i}))' >"$T/in-rsa.jsonl"
run_cmd p11jwt sign "${TOK[@]}" --kid tpm-PS256-2048 --alg PS256 --iss tpm --aud "$AUD" --batch \
    --threads 2 <"$T/in-rsa.jsonl"
[[ $RC -eq 0 ]] || fail "sign --batch failed: $ERR"
check_stderr 0
cp "$T/out" "$T/out-rsa.jws"
pyverify --jwks "$T/jwks-tpm-PS256-2048.alg.json" --aud "$AUD" --lines <"$T/out-rsa.jws" \
    >"$T/decoded-rsa.jsonl" || fail "PyJWT rejects a JWS of the RSA batch"
pycheck "$T/decoded-rsa.jsonl" <<'PY'
import sys
from itlib import *
d = load_json_lines(sys.argv[1])
check([x["payload"]["n"] for x in d] == list(range(20)), f"{len(d)} JWS, or out of order")
PY

step "certificates: import-cert stores one for a keygen'd RSA key; sign --x5t --x5t-s256 = openssl's"
# fp ALG FILE: openssl's fingerprint of a PEM certificate, as base64url.
fp() {
    openssl x509 -in "$2" -noout -fingerprint "-$1" | sed 's/^.*=//; s/://g' | xxd -r -p |
        base64 -w0 | tr '+/' '-_' | tr -d '='
}
# A certificate for the token key's public key (from jwks), by a throwaway CA.
"$PYTHON" - "$T/jwks-tpm-RS256-2048.json" "$T/rsa-cert.pem" <<'PY' || fail "cannot make a test certificate"
import datetime, json, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from itlib import *
jwk = json.load(open(sys.argv[1]))["keys"][0]
pub = rsa.RSAPublicNumbers(int.from_bytes(b64d(jwk["e"]), "big"),
                           int.from_bytes(b64d(jwk["n"]), "big")).public_key()
ca = ec.generate_private_key(ec.SECP256R1())
now = datetime.datetime.now(datetime.timezone.utc)
c = (x509.CertificateBuilder()
     .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tpm-RS256-2048")]))
     .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p11jwt test CA")]))
     .public_key(pub).serial_number(x509.random_serial_number())
     .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
     .sign(ca, hashes.SHA256()))
open(sys.argv[2], "wb").write(c.public_bytes(serialization.Encoding.PEM))
PY
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other.key" -subj /CN=other -days 3 \
    -out "$T/other.crt" 2>/dev/null || fail "openssl req -x509 -newkey failed"
expect_exit 1 p11jwt import-cert "${TOK[@]}" --kid tpm-RS256-2048 --cert "$T/other.crt"
expect_err_matches "does not match key 'tpm-RS256-2048'"
expect_exit 0 p11jwt import-cert "${TOK[@]}" --kid tpm-RS256-2048 --cert "$T/rsa-cert.pem"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid tpm-RS256-2048 --alg RS256 --iss tpm --aud "$AUD" \
    --x5t --x5t-s256
jws=$OUT
pyverify --jwks "$T/jwks-tpm-RS256-2048.alg.json" --aud "$AUD" <<<"$jws" >"$T/decoded.json" ||
    fail "PyJWT rejects the JWS with x5t"
pycheck "$T/decoded.json" "$(fp sha1 "$T/rsa-cert.pem")" "$(fp sha256 "$T/rsa-cert.pem")" <<'PY'
import json, sys
from itlib import *
h = json.load(open(sys.argv[1]))["header"]
check(h.get("x5t") == sys.argv[2], f"x5t {h.get('x5t')!r} is not openssl's {sys.argv[2]!r}")
check(h.get("x5t#S256") == sys.argv[3], f"x5t#S256 {h.get('x5t#S256')!r} is not openssl's {sys.argv[3]!r}")
PY
expect_exit 1 p11jwt import-cert "${TOK[@]}" --kid tpm-RS256-2048 --cert "$T/rsa-cert.pem"
expect_err_matches "already holds a certificate"

step "LIMIT: no RSA private-key import (C_CreateObject) — import-key is a clear error, nothing left"
n_keys=$(key_count)
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.pem" 2>/dev/null)
expect_exit 1 p11jwt import-key "${TOK[@]}" --kid tpm-rsa-imp --key-file "$T/rsa.pem"
expect_err_matches 'could not import the private key: CKR_ATTRIBUTE_VALUE_INVALID'
step "$ERR"
[[ $(key_count) -eq $n_keys ]] || fail "a failed import left a key behind: $(p11jwt list "${TOK[@]}")"

echo "tpm: all checks passed"
