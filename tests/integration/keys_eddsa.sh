#!/usr/bin/env bash
# keys_eddsa.sh — EdDSA (Ed25519, RFC 8037) end to end: keygen --alg EdDSA
# makes a CKK_EC_EDWARDS pair whose kid is the RFC 7638 thumbprint of its
# OKP JWK; it is sensitive, never extractable, sign-only and pinned by its
# key type; what it signs (one JWS, and a batch) PyJWT verifies with our
# JWKS, and our own verify does too. A pair pkcs11-tool made (its curve as
# the PrintableString "edwards25519") signs as well. Our verify checks EdDSA tokens PyJWT
# made with a key of its own, and refuses the forged, altered and
# mismatched ones with a clear error.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# SoftHSM 2.6.1 leaks 37 bytes (an ASN1 string of its own) in every
# C_SignInit with an Ed25519 key it generated (OSSL::byteString2oid, fixed
# upstream in SoftHSMv2 PR 863). tests/lsan.supp lists libsofthsm2.so, but
# LeakSanitizer sees its frames only without fast unwinding (harmless when
# the build has no sanitizer).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0

AUD=https://sts.example.invalid/token

step "keygen --alg EdDSA: the kid is the thumbprint of the OKP JWK the JWKS shows"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg EdDSA
kid=$OUT
export_jwks "$T/jwks.json"
pycheck "$T/jwks.json" "$kid" <<'PY'
import json, sys
from itlib import *
jwks, kid = json.load(open(sys.argv[1])), sys.argv[2]
[jwk] = jwks["keys"]
check(set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}, f"members {sorted(jwk)}")
check(jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["alg"] == "EdDSA"
      and jwk["use"] == "sig" and jwk["kid"] == kid, f"JWK {jwk}")
check(len(b64d(jwk["x"])) == 32, f"x is {len(b64d(jwk['x']))} bytes")
check(jwk_thumbprint(jwk) == kid, f"kid {kid} is not the RFC 7638 thumbprint {jwk_thumbprint(jwk)}")
PY

step "list --json: EdDSA, pinned by its key type, sensitive, not extractable"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" "$kid" <<'PY'
import json, sys
from itlib import *
[k] = json.loads(sys.argv[1])
check(k == {"kid": sys.argv[2], "alg": "EdDSA", "pinned": "key-type", "label": sys.argv[2],
            "class": "private", "sensitive": True, "extractable": False}, f"{k}")
PY

step "pkcs11-tool: CKK_EC_EDWARDS, never extractable, signs with CKM_EDDSA only"
p11tool --list-objects --type privkey >"$T/objs" 2>/dev/null || fail "pkcs11-tool cannot list"
grep -q 'Private Key Object; EC_EDWARDS' "$T/objs" || fail "not an EC_EDWARDS key: $(cat "$T/objs")"
grep -q 'Access:.*sensitive.*never extractable' "$T/objs" || fail "not protected: $(cat "$T/objs")"
grep -Eq 'Usage: +sign$' "$T/objs" || fail "usage is not sign only: $(cat "$T/objs")"
grep -Eq 'Allowed mechanisms: +EDDSA$' "$T/objs" || fail "not pinned to CKM_EDDSA: $(cat "$T/objs")"

step "sign: a 64-byte EdDSA signature PyJWT verifies with the JWKS; our verify too"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss eddsa --aud "$AUD" --claim n:=1
jws=$OUT
pyverify --jwks "$T/jwks.json" --aud "$AUD" --iss eddsa <<<"$jws" >"$T/py.json" ||
    fail "PyJWT rejects the EdDSA JWS"
pycheck "$jws" "$T/py.json" "$kid" <<'PY'
import json, sys
from itlib import *
h, p, sig = split_jws(sys.argv[1])
check(h == {"alg": "EdDSA", "kid": sys.argv[3], "typ": "JWT"}, f"header {h}")
check(len(sig) == 64, f"signature of {len(sig)} bytes")
check(json.load(open(sys.argv[2]))["payload"]["n"] == 1, "PyJWT decoded another payload")
PY
expect_exit 0 p11jwt verify --jwks "$T/jwks.json" --aud "$AUD" --iss eddsa <<<"$jws"
expect_exit 0 p11jwt verify "${TOK[@]}" --kid "$kid" --aud "$AUD" <<<"$jws"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --alg EdDSA --iss eddsa --aud "$AUD"

step "doctor: the profile's key is an Ed25519 private key, sensitive, never extractable, sign-only"
printf '[profile ed]\ndialect = rfc7523\ntoken = %s\npin_file = %s\nkid = %s\niss = x\n' \
    "$TOKEN" "$PIN_FILE" "$kid" >"$T/config"
printf 'token_url = http://127.0.0.1:9/rfc7523/token\nmax_retries = 0\n' >>"$T/config"
run_cmd p11jwt doctor --profile ed --config "$T/config"     # no STS: exit 1, the key is checked
grep -Eq "^ok +key +kid '$kid': Ed25519 private key, EdDSA, sensitive, never extractable, sign-only; signs$" \
    <<<"$OUT" || fail "doctor's key line: $OUT"

step "the key type pins EdDSA: other algs are refused both ways"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid "$kid" --alg ES256 --iss eddsa --aud "$AUD"
expect_err_matches "ES256 asked of key .*Ed25519 \(EdDSA\)"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid es
expect_exit 1 p11jwt sign "${TOK[@]}" --kid es --alg EdDSA --iss eddsa --aud "$AUD"
expect_err_matches "EdDSA asked of key 'es'.*P-256 \(ES256\)"

step "a JWKS with EC and OKP keys: each JWS finds its own"
export_jwks "$T/both.json"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid es --iss eddsa --aud "$AUD"
es_jws=$OUT
for j in "$jws" "$es_jws"; do
    pyverify --jwks "$T/both.json" --aud "$AUD" <<<"$j" >/dev/null || fail "PyJWT: mixed JWKS"
    expect_exit 0 p11jwt verify --jwks "$T/both.json" --aud "$AUD" <<<"$j"
done

step "sign --batch with EdDSA: 300 JWS, all verified by PyJWT in one process"
seq 0 299 | sed 's/.*/{"n": &}/' >"$T/in.jsonl"
p11jwt sign "${TOK[@]}" --kid "$kid" --iss batch --aud "$AUD" --batch <"$T/in.jsonl" \
    >"$T/out.jws" 2>"$T/err" || fail "sign --batch failed: $(cat "$T/err")"
[[ ! -s $T/err ]] || fail "sign --batch wrote to stderr: $(cat "$T/err")"
pyverify --jwks "$T/jwks.json" --aud "$AUD" --iss batch --lines <"$T/out.jws" >"$T/decoded.jsonl" ||
    fail "PyJWT rejects a JWS of the batch"
pycheck "$T/decoded.jsonl" <<'PY'
import sys
from itlib import *
d = load_json_lines(sys.argv[1])
check(len(d) == 300, f"{len(d)} JWS decoded, want 300")
check([x["payload"]["n"] for x in d] == list(range(300)), "out of order")
check(all(x["header"]["alg"] == "EdDSA" for x in d), "an alg other than EdDSA")
check(len({x["payload"]["jti"] for x in d}) == 300, "a jti repeats")
PY

step "an Ed25519 pair pkcs11-tool made (CKA_EC_PARAMS \"edwards25519\") signs; PyJWT verifies"
p11tool --keypairgen --key-type EC:edwards25519 --id 01ff --label foreign-ed >"$T/keygen.log" 2>&1 ||
    fail "pkcs11-tool cannot make an Ed25519 pair: $(cat "$T/keygen.log")"
grep -q 'EC_PARAMS: *130c6564776172647332353531' "$T/keygen.log" ||
    fail "pkcs11-tool did not name the curve as a PrintableString: $(cat "$T/keygen.log")"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid foreign-ed --iss foreign --aud "$AUD"
export_jwks "$T/foreign.json" foreign-ed
pyverify --jwks "$T/foreign.json" --aud "$AUD" --iss foreign <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects what the pkcs11-tool key signed"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
[k] = [k for k in json.loads(sys.argv[1]) if k["kid"] == "foreign-ed"]
check(k["alg"] == "EdDSA" and k["pinned"] == "key-type", f"{k}")
PY

step "our verify checks EdDSA tokens PyJWT made with a key of its own"
"$PYTHON" - "$T" "$AUD" <<'PY' || fail "PyJWT could not make its tokens"
import json, sys, time
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from itlib import *
d, aud = sys.argv[1], sys.argv[2]
now = int(time.time())
key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64e(raw), "kid": "py-ed", "alg": "EdDSA", "use": "sig"}
json.dump({"keys": [jwk]}, open(f"{d}/py-jwks.json", "w"))
x25519 = dict(jwk, crv="X25519")
json.dump({"keys": [x25519]}, open(f"{d}/x25519-jwks.json", "w"))
claims = {"iss": "pyjwt", "aud": aud, "iat": now, "exp": now + 300, "sub": "s"}
hdr = {"kid": "py-ed"}
open(f"{d}/py.jws", "w").write(jwt.encode(claims, key, algorithm="EdDSA", headers=hdr))
open(f"{d}/forged.jws", "w").write(jwt.encode(claims, other, algorithm="EdDSA", headers=hdr))
open(f"{d}/expired.jws", "w").write(
    jwt.encode(dict(claims, iat=now - 900, exp=now - 600), key, algorithm="EdDSA", headers=hdr))
good = open(f"{d}/py.jws").read()
h, p, s = good.split(".")
# The same signature under another payload, and under a header claiming ES256.
altered = b64e(compact_json(dict(claims, sub="mallory")).encode())
open(f"{d}/altered.jws", "w").write(f"{h}.{altered}.{s}")
es_hdr = b64e(compact_json({"alg": "ES256", "kid": "py-ed", "typ": "JWT"}).encode())
open(f"{d}/es-header.jws", "w").write(f"{es_hdr}.{p}.{s}")
# A 65-byte signature: the right one with a byte more.
long_sig = b64e(b64d(s) + bytes(1))
open(f"{d}/long.jws", "w").write(f"{h}.{p}.{long_sig}")
PY
expect_exit 0 p11jwt verify --jwks "$T/py-jwks.json" --aud "$AUD" --iss pyjwt <"$T/py.jws"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
o = json.loads(sys.argv[1])
check(o["header"]["alg"] == "EdDSA" and o["header"]["kid"] == "py-ed", f"header {o['header']}")
check(o["payload"]["iss"] == "pyjwt" and o["payload"]["sub"] == "s", f"payload {o['payload']}")
PY
expect_exit 0 p11jwt verify --jwks "$T/py-jwks.json" --alg EdDSA --aud "$AUD" <"$T/py.jws"
expect_exit 1 p11jwt verify --jwks "$T/py-jwks.json" --aud "$AUD" <"$T/forged.jws"
expect_err_matches "EdDSA signature does not verify"
expect_exit 1 p11jwt verify --jwks "$T/py-jwks.json" --aud "$AUD" <"$T/altered.jws"
expect_err_matches "EdDSA signature does not verify"
expect_exit 1 p11jwt verify --jwks "$T/py-jwks.json" --aud "$AUD" <"$T/long.jws"
expect_err_matches "EdDSA signature is 65 bytes, expected 64"
expect_exit 1 p11jwt verify --jwks "$T/py-jwks.json" --aud "$AUD" <"$T/es-header.jws"
expect_err_matches "alg ES256 does not match the key's alg EdDSA"
expect_exit 1 p11jwt verify --jwks "$T/py-jwks.json" --aud "$AUD" <"$T/expired.jws"
expect_err_matches "expired"
expect_exit 1 p11jwt verify --jwks "$T/x25519-jwks.json" --aud "$AUD" <"$T/py.jws"
expect_err_matches "curve \"X25519\" is not Ed25519 \(a key-agreement key never verifies"
expect_exit 1 p11jwt verify --jwks "$T/jwks.json" --aud "$AUD" <"$T/py.jws"
expect_err_matches "no EC, RSA or OKP \\(Ed25519\\) key with kid 'py-ed'"
expect_exit 2 p11jwt verify --secret-file "$T/jwks.json" --alg EdDSA --aud "$AUD" <"$T/py.jws"
expect_err_matches "--secret-file needs --alg HS256, HS384 or HS512"

echo "keys_eddsa: all checks passed"
