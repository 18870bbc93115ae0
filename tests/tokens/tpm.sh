#!/usr/bin/env bash
# tpm.sh — p11jwt on tpm2-pkcs11 over a software TPM (swtpm + tpm2-abrmd on
# a private D-Bus bus, all started and stopped here: tpm_lib.sh): keygen
# ES256/ES384, sign, jwks -> PyJWT verifies, sign --batch, a key pkcs11-tool
# made. The token's limits are asserted as clear errors with nothing left
# behind: no secret keys at all (keygen and import-secret HS*), P-521 pairs
# whose public point the module encodes wrongly and cannot sign with, no
# Ed25519 (keygen and import-key EdDSA), and
# no import of an EC private key (import-key).
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

echo "tpm: all checks passed"
