#!/usr/bin/env bash
# keys_rsa.sh — RSA keys end to end: keygen RS256/RS512/PS256/PS384 (default
# and explicit --bits) with the default kid, the JWK (kty RSA, n and e
# without leading zeros, alg, the kid its RFC 7638 thumbprint), sign, and
# verification by PyJWT with the exported JWKS and by p11jwt (JWKS and
# token key); p11jwt verify of RS256/PS256 tokens PyJWT made; a batch of
# RS256; keys made by another tool that allow only CKM_RSA_PKCS or
# CKM_RSA_PKCS_PSS (the host-hash path: DigestInfo and PSS over the digest);
# and the bad inputs, each a clear error that leaves nothing in the token.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/oauth2/token
umask 077

declare -A KID=()
# alg -> --bits given ("" : the default, 3072)
declare -A BITS=([RS256]="" [PS256]=2048 [RS512]=4096 [PS384]=2048)
for alg in RS256 PS256 RS512 PS384; do
    want_bits=${BITS[$alg]:-3072}
    step "$alg: keygen ${BITS[$alg]:+--bits ${BITS[$alg]}} with the default kid"
    bits=()
    [[ -n ${BITS[$alg]} ]] && bits=(--bits "${BITS[$alg]}")
    expect_exit 0 p11jwt keygen "${TOK[@]}" --alg "$alg" "${bits[@]}"
    kid=$OUT
    [[ $kid =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "$alg: default kid '$kid' is not a thumbprint"

    step "$alg: the JWK (no PIN needed)"
    expect_exit 0 p11jwt jwks --token "$TOKEN" --kid "$kid"
    printf '%s\n' "$OUT" >"$T/jwks-$alg.json"
    pycheck "$T/jwks-$alg.json" "$alg" "$kid" "$want_bits" <<'PY'
import json, sys
from itlib import *
path, alg, kid, bits = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
[jwk] = json.load(open(path))["keys"]
check(list(jwk) == ["kty", "n", "e", "kid", "alg", "use"], f"JWK members: {list(jwk)}")
check(jwk["kty"] == "RSA" and jwk["alg"] == alg and jwk["use"] == "sig", f"JWK: {jwk}")
n, e = b64d(jwk["n"]), b64d(jwk["e"])
check(n[0] != 0 and e[0] != 0, "n or e has a leading zero byte (RFC 7518 6.3.1)")
check(int.from_bytes(n, "big").bit_length() == bits, f"modulus is not {bits} bits")
check(int.from_bytes(e, "big") == 65537, f"public exponent {e.hex()}")
check(jwk["kid"] == kid and jwk_thumbprint(jwk) == kid,
      f"kid {kid} is not the RFC 7638 thumbprint {jwk_thumbprint(jwk)}")
PY

    step "$alg: sign; PyJWT and p11jwt verify"
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss "iss-$alg" --aud "$AUD"
    jws=$OUT
    pyverify --jwks "$T/jwks-$alg.json" --aud "$AUD" --iss "iss-$alg" <<<"$jws" >"$T/py.json" ||
        fail "$alg: PyJWT rejects the JWS with the exported JWKS"
    pycheck "$T/py.json" "$alg" "$kid" "$want_bits" <<'PY'
import json, sys
from itlib import *
d = json.load(open(sys.argv[1]))
check(d["header"] == {"alg": sys.argv[2], "kid": sys.argv[3], "typ": "JWT"},
      f"header {d['header']}")
PY
    [[ $(cut -d. -f3 <<<"$jws" | tr -d '\n' | wc -c) -eq $(((want_bits / 8 * 4 + 2) / 3)) ]] ||
        fail "$alg: the signature is not as long as the modulus"
    expect_exit 0 p11jwt verify --jwks "$T/jwks-$alg.json" --aud "$AUD" <<<"$jws"
    expect_exit 0 p11jwt verify "${TOK[@]}" --kid "$kid" --aud "$AUD" <<<"$jws"
    # another first character of the signature is refused by both
    sig=${jws##*.}
    bad=${jws%.*}.$([[ ${sig:0:1} == A ]] && echo B || echo A)${sig:1}
    expect_exit 1 p11jwt verify --jwks "$T/jwks-$alg.json" --aud "$AUD" <<<"$bad"
    expect_err_matches "signature does not verify"
    pyverify --jwks "$T/jwks-$alg.json" --aud "$AUD" <<<"$bad" 2>/dev/null &&
        fail "$alg: PyJWT accepts a tampered signature"
    KID[$alg]=$kid
done

step "list --json: each RSA key pinned by its mechanism, sensitive, not extractable"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" "${KID[RS256]}" "${KID[PS256]}" "${KID[RS512]}" "${KID[PS384]}" <<'PY'
import json, sys
from itlib import *
keys = {k["kid"]: k for k in json.loads(sys.argv[1])}
for kid, alg in zip(sys.argv[2:], ("RS256", "PS256", "RS512", "PS384")):
    k = keys[kid]
    check(k["alg"] == alg and k["pinned"] == "mechanisms" and k["class"] == "private"
          and k["sensitive"] is True and k["extractable"] is False, f"list entry {k}")
PY
# pkcs11-tool sees what p11jwt says: one allowed mechanism, sign only.
p11tool --list-objects --type privkey 2>/dev/null >"$T/objs"
grep -A6 "label: *${KID[PS256]}\$" "$T/objs" | grep -q "Allowed mechanisms: SHA256-RSA-PKCS-PSS$" ||
    fail "pkcs11-tool does not show PS256's key allowed only SHA256-RSA-PKCS-PSS: $(cat "$T/objs")"
grep -A6 "label: *${KID[RS256]}\$" "$T/objs" | grep -q "Usage: *sign$" ||
    fail "the RS256 key may do more than sign: $(cat "$T/objs")"

step "a pinned key refuses another alg, RS or PS"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid "${KID[RS256]}" --alg PS256 --iss i --aud "$AUD"
expect_err_matches "PS256.*RS256"

step "an RS256 batch of 50"
for i in $(seq 0 49); do printf '{"n":%d}\n' "$i"; done >"$T/in.jsonl"
p11jwt sign "${TOK[@]}" --kid "${KID[RS256]}" --iss batch --aud "$AUD" --batch <"$T/in.jsonl" \
    >"$T/out.jws" 2>"$T/err" || fail "sign --batch failed: $(cat "$T/err")"
[[ ! -s $T/err ]] || fail "sign --batch wrote to stderr: $(cat "$T/err")"
pyverify --jwks "$T/jwks-RS256.json" --aud "$AUD" --iss batch --lines <"$T/out.jws" >"$T/dec.jsonl" ||
    fail "PyJWT rejects a JWS of the RS256 batch"
pycheck "$T/dec.jsonl" <<'PY'
import sys
from itlib import *
d = load_json_lines(sys.argv[1])
check([x["payload"]["n"] for x in d] == list(range(50)), "RS256 batch short or out of order")
check(len({x["payload"]["jti"] for x in d}) == 50, "RS256 batch repeats a jti")
PY

step "p11jwt verify checks RS256 and PS256 tokens PyJWT made (JWKS, and the key imported)"
"$PYTHON" - "$T" "$AUD" <<'PY' || fail "making PyJWT's tokens failed"
import json, sys, time
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from itlib import *
d, aud = sys.argv[1], sys.argv[2]
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
open(f"{d}/py.pem", "wb").write(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
now = int(time.time())
for alg in ("RS256", "PS256"):
    claims = {"iss": "pyjwt", "aud": aud, "iat": now, "exp": now + 300}
    tok = jwt.encode(claims, key, algorithm=alg, headers={"kid": "py"})
    open(f"{d}/py-{alg}.jws", "w").write(tok + "\n")
    json.dump({"keys": [dict(jwk, kid="py", alg=alg, use="sig")]},
              open(f"{d}/py-{alg}.jwks", "w"))
# one JWKS whose RSA key says no alg: the header's RS/PS alg is taken
json.dump({"keys": [dict(jwk, kid="py")]}, open(f"{d}/py-noalg.jwks", "w"))
# alg confusion: an HS256 token keyed with the public key's PEM
pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                    serialization.PublicFormat.SubjectPublicKeyInfo)
hdr = {"alg": "HS256", "kid": "py", "typ": "JWT"}
pay = {"iss": "pyjwt", "aud": aud, "iat": now, "exp": now + 300}
open(f"{d}/confused.jws", "w").write(hs_sign(hdr, pay, pem, "HS256") + "\n")
PY
for alg in RS256 PS256; do
    expect_exit 0 p11jwt verify --jwks "$T/py-$alg.jwks" --aud "$AUD" --iss pyjwt <"$T/py-$alg.jws"
    [[ $OUT == *"\"alg\":\"$alg\""* ]] || fail "verify printed '$OUT'"
done
expect_exit 0 p11jwt verify --jwks "$T/py-noalg.jwks" --aud "$AUD" <"$T/py-RS256.jws"
expect_exit 1 p11jwt verify --jwks "$T/py-PS256.jwks" --aud "$AUD" <"$T/py-RS256.jws"
expect_err_matches "no RSA key|no EC or RSA key|does not match"
expect_exit 1 p11jwt verify --jwks "$T/py-noalg.jwks" --aud "$AUD" <"$T/confused.jws"
expect_err_matches "HS256 does not match"
expect_exit 0 p11jwt import-key "${TOK[@]}" --kid py --key-file "$T/py.pem"
expect_exit 0 p11jwt verify "${TOK[@]}" --kid py --alg RS256 --aud "$AUD" <"$T/py-RS256.jws"
expect_exit 0 p11jwt verify "${TOK[@]}" --kid py --alg PS256 --aud "$AUD" <"$T/py-PS256.jws"
expect_exit 1 p11jwt verify "${TOK[@]}" --kid py --alg PS256 --aud "$AUD" <"$T/py-RS256.jws"
expect_err_matches "RS256 does not match"

step "keys another tool made, allowed only the raw mechanisms: the host hashes"
for m in RSA-PKCS RSA-PKCS-PSS; do
    p11tool --keypairgen --key-type rsa:2048 --id "$(printf 'raw-%s' "$m" | od -An -tx1 | tr -d ' \n')" \
        --label "raw-$m" --usage-sign --allowed-mechanisms "$m" >"$T/p11tool.log" 2>&1 ||
        fail "pkcs11-tool cannot make a key allowed only $m: $(cat "$T/p11tool.log")"
done
# SoftHSM keeps the key to its allowed mechanism: the combined one is refused.
echo data >"$T/data"
p11tool --sign -m SHA256-RSA-PKCS --id "$(printf 'raw-RSA-PKCS' | od -An -tx1 | tr -d ' \n')" \
    -i "$T/data" -o "$T/sig" >/dev/null 2>&1 &&
    fail "SoftHSM signs SHA256-RSA-PKCS with a key allowed only RSA-PKCS: the fallback is not tested"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid raw-RSA-PKCS --iss raw --aud "$AUD"
expect_err_matches "does not pin its alg.*--alg"
for alg in RS256 RS384 PS256 PS512; do
    kid=raw-RSA-PKCS
    [[ $alg == PS* ]] && kid=raw-RSA-PKCS-PSS
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --alg "$alg" --iss raw --aud "$AUD"
    jws=$OUT
    expect_exit 0 p11jwt jwks --token "$TOKEN" --kid "$kid"
    # The key pins no alg, so its JWK says none: give PyJWT the one asked for.
    pycheck "$OUT" "$alg" "$T/raw.jwks" <<'PY'
import json, sys
from itlib import *
[jwk] = json.loads(sys.argv[1])["keys"]
check("alg" not in jwk, f"a key that pins no alg shows one: {jwk}")
json.dump({"keys": [dict(jwk, alg=sys.argv[2])]}, open(sys.argv[3], "w"))
PY
    pyverify --jwks "$T/raw.jwks" --aud "$AUD" --iss raw <<<"$jws" >/dev/null ||
        fail "$alg over $kid: PyJWT rejects the signature made over the host's digest"
    expect_exit 0 p11jwt verify "${TOK[@]}" --kid "$kid" --alg "$alg" --aud "$AUD" <<<"$jws"
done
expect_exit 1 p11jwt sign "${TOK[@]}" --kid raw-RSA-PKCS --alg PS256 --iss raw --aud "$AUD"
expect_err_matches "CKA_ALLOWED_MECHANISMS does not allow"

step "bad inputs: a clear error, nothing left in the token"
objects=$(object_count)
keys=$(key_count)
expect_exit 2 p11jwt keygen "${TOK[@]}" --alg RS256 --bits 1000
expect_err_matches "--bits 1000.*2048, 3072 or 4096"
expect_exit 2 p11jwt keygen "${TOK[@]}" --alg RS256 --bits 3072x
expect_exit 2 p11jwt keygen "${TOK[@]}" --alg ES256 --bits 2048
expect_err_matches "--bits is for RSA keys"
expect_exit 2 p11jwt keygen "${TOK[@]}" --alg RS257
expect_err_matches "unknown alg 'RS257'"
expect_exit 1 p11jwt keygen "${TOK[@]}" --alg PS256 --bits 2048 --kid "${KID[RS256]}"
expect_err_matches "already"
expect_exit 2 p11jwt import-secret "${TOK[@]}" --kid s --alg RS256 --secret-file "$T/data"
p11tool --keypairgen --key-type rsa:1024 --id 736d616c6c --label small --usage-sign >/dev/null 2>&1 ||
    fail "pkcs11-tool cannot make a 1024-bit key"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid small --alg RS256 --iss i --aud "$AUD"
expect_err_matches "1024 bits.*at least 2048"
p11tool --delete-object --type privkey --id 736d616c6c >/dev/null 2>&1
p11tool --delete-object --type pubkey --id 736d616c6c >/dev/null 2>&1
[[ $(object_count) -eq $objects ]] || fail "a refused input left objects in the token"
[[ $(key_count) -eq $keys ]] || fail "a refused input changed the key list"
