#!/usr/bin/env bash
# keys_es.sh — EC keys end to end: keygen ES256/ES384/ES512 with the default
# kid, JWKS export, sign, and verification three ways (p11jwt with the JWKS,
# p11jwt with the key in the token, PyJWT with the exported JWKS). Checks
# the exact header, the standard claims, --sub/--no-jti/--claim/--claims-file,
# that the default kid is the key's RFC 7638 thumbprint, and what an
# independent tool (pkcs11-tool) sees in the token.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/oauth2/token

# Extra claims from a file: the CLI documents that --claim wins over the
# file for the same name ("scope" below).
cat >"$T/claims.json" <<'EOF'
{"organization": "0b7c1f0e-5f2a-4d3c-9a58-2f9c1b6d7e41", "tags": ["a", "b"], "scope": "from-file"}
EOF

declare -A KID=()   # alg -> kid of the key made with the default kid
for alg in ES256 ES384 ES512; do
    step "$alg: keygen with the default kid"
    expect_exit 0 p11jwt keygen "${TOK[@]}" --alg "$alg"
    kid=$OUT
    [[ $kid =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "$alg: default kid '$kid' is not a 43-char base64url thumbprint"

    step "$alg: JWKS export (public objects: no PIN needed)"
    expect_exit 0 p11jwt jwks --token "$TOKEN" --kid "$kid"
    printf '%s\n' "$OUT" >"$T/jwks-$alg.json"
    # The JWK is well formed, full length, on the curve, and the kid is its
    # RFC 7638 thumbprint computed here from the JWK itself.
    pycheck "$T/jwks-$alg.json" "$alg" "$kid" <<'PY'
import json, sys
from itlib import *
path, alg, kid = sys.argv[1:4]
jwks = json.load(open(path))
check(list(jwks) == ["keys"] and len(jwks["keys"]) == 1, f"JWKS shape: {jwks}")
jwk = jwks["keys"][0]
crv, coord, _, _ = EC[alg]
check(set(jwk) == {"kty", "crv", "x", "y", "kid", "alg", "use"}, f"JWK members: {sorted(jwk)}")
check(jwk["kty"] == "EC" and jwk["crv"] == crv and jwk["alg"] == alg and jwk["use"] == "sig",
      f"JWK kty/crv/alg/use: {jwk}")
check(jwk["kid"] == kid, f"JWK kid {jwk['kid']} != keygen's {kid}")
for c in ("x", "y"):
    check(len(b64d(jwk[c])) == coord, f"{c} is {len(b64d(jwk[c]))} bytes, not {coord}")
ec_public_key(jwk)   # raises unless the point is on the curve
check(jwk_thumbprint(jwk) == kid, f"kid {kid} is not the RFC 7638 thumbprint {jwk_thumbprint(jwk)}")
PY

    step "$alg: sign with every claim option"
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss "iss-$alg" --aud "$AUD" \
        --sub "sub-$alg" --ttl 600 --claims-file "$T/claims.json" \
        --claim scope=from-cli --claim 'n:=42' --claim 'obj:={"a":[1,2],"b":null}' \
        --claim 'flag:=true' --claim 'text=a b=c:=d'
    jws=$OUT
    [[ $(wc -l <"$T/out") -eq 1 ]] || fail "$alg: sign printed more than one line"

    step "$alg: verified by p11jwt (JWKS, and key in the token) and by PyJWT"
    expect_exit 0 p11jwt verify --jwks "$T/jwks-$alg.json" --aud "$AUD" --iss "iss-$alg" <<<"$jws"
    printf '%s\n' "$OUT" >"$T/ours-jwks.json"
    expect_exit 0 p11jwt verify "${TOK[@]}" --kid "$kid" --aud "$AUD" <<<"$jws"
    printf '%s\n' "$OUT" >"$T/ours-token.json"
    pyverify --jwks "$T/jwks-$alg.json" --aud "$AUD" --iss "iss-$alg" <<<"$jws" >"$T/pyjwt.json" ||
        fail "$alg: PyJWT rejects the JWS"

    pycheck "$jws" "$alg" "$kid" "$AUD" "$T/pyjwt.json" "$T/ours-jwks.json" "$T/ours-token.json" <<'PY'
import json, sys, time
from itlib import *
jws, alg, kid, aud, py_path, ours_jwks, ours_tok = sys.argv[1:8]
header, payload, sig = split_jws(jws)
# Header: exactly {alg, kid, typ}, in that order.
check(list(header.items()) == [("alg", alg), ("kid", kid), ("typ", "JWT")], f"header {header}")
check(len(sig) == SIG_LEN[alg], f"signature is {len(sig)} bytes, {alg} needs {SIG_LEN[alg]}")
# Claims: the standard ones first, in the documented order, then extras.
check(list(payload)[:6] == ["iss", "aud", "sub", "iat", "exp", "jti"], f"claim order {list(payload)}")
check(payload["iss"] == f"iss-{alg}" and payload["aud"] == aud and payload["sub"] == f"sub-{alg}",
      f"iss/aud/sub: {payload}")
now = time.time()
check(isinstance(payload["iat"], int) and abs(payload["iat"] - now) < 120, f"iat {payload['iat']} vs now {now}")
check(payload["exp"] == payload["iat"] + 600, f"exp {payload['exp']} != iat + 600")
check(isinstance(payload["jti"], str) and len(payload["jti"]) >= 16, f"jti {payload.get('jti')!r}")
extras = {k: v for k, v in payload.items() if k not in ("iss", "aud", "sub", "iat", "exp", "jti")}
want = {"organization": "0b7c1f0e-5f2a-4d3c-9a58-2f9c1b6d7e41", "tags": ["a", "b"],
        "scope": "from-cli", "n": 42, "obj": {"a": [1, 2], "b": None}, "flag": True,
        "text": "a b=c:=d"}
check(extras == want, f"extra claims {extras} != {want}")
# All three verifiers saw exactly this header and payload.
for path in (py_path, ours_jwks, ours_tok):
    got = load_json_lines(path)
    check(len(got) == 1 and got[0] == {"header": header, "payload": payload},
          f"{path}: verifier output {got} differs from the JWS")
PY

    step "$alg: jti is fresh on every signature; --no-jti and no --sub leave them out"
    : >"$T/jtis"
    for i in 1 2 3 4 5; do
        expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss i --aud "$AUD"
        printf '%s\n' "$OUT" >>"$T/jtis"
    done
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss i --aud "$AUD" --no-jti
    nojti=$OUT
    pyverify --jwks "$T/jwks-$alg.json" --aud "$AUD" <<<"$nojti" >/dev/null ||
        fail "$alg: PyJWT rejects the --no-jti JWS"
    pycheck "$T/jtis" "$nojti" <<'PY'
import sys
from itlib import *
jwss = [l for l in open(sys.argv[1]).read().split("\n") if l]
payloads = [split_jws(j)[1] for j in jwss]
jtis = [p["jti"] for p in payloads]
check(len(set(jtis)) == len(jtis) == 5, f"jti repeats: {jtis}")
check(len(set(split_jws(j)[2] for j in jwss)) == 5, "two ECDSA signatures are identical")
for p in payloads:
    check("sub" not in p, f"sub present without --sub: {p}")
    check(p["exp"] - p["iat"] == 300, f"default ttl is not 300: {p}")
_, p, _ = split_jws(sys.argv[2])
check("jti" not in p, f"--no-jti still has a jti: {p}")
check(list(p) == ["iss", "aud", "iat", "exp"], f"--no-jti claims: {list(p)}")
PY

    step "$alg: --alg $alg is accepted; the kid may come from the URI's object="
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss i --aud "$AUD" --alg "$alg"
    expect_exit 0 p11jwt sign --token "$TOKEN;object=$kid" --pin-file "$PIN_FILE" --iss i --aud "$AUD"
    pycheck "$OUT" "$kid" <<'PY'
import sys
from itlib import *
check(split_jws(sys.argv[1])[0]["kid"] == sys.argv[2], "object= in the URI did not pick the key")
PY
    pyverify --jwks "$T/jwks-$alg.json" --aud "$AUD" <<<"$OUT" >/dev/null ||
        fail "$alg: PyJWT rejects the JWS signed through object="
    KID[$alg]=$kid
done

step "a JWKS of all keys holds all three, and each JWS verifies against it"
expect_exit 0 p11jwt jwks --token "$TOKEN"
printf '%s\n' "$OUT" >"$T/jwks-all.json"
pycheck "$T/jwks-all.json" "${KID[ES256]}" "${KID[ES384]}" "${KID[ES512]}" <<'PY'
import json, sys
from itlib import *
jwks = json.load(open(sys.argv[1]))
kids = sorted(k["kid"] for k in jwks["keys"])
check(kids == sorted(sys.argv[2:5]), f"JWKS kids {kids} != {sorted(sys.argv[2:5])}")
PY
for alg in ES256 ES384 ES512; do
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "${KID[$alg]}" --iss i --aud "$AUD"
    jws=$OUT
    expect_exit 0 p11jwt verify --jwks "$T/jwks-all.json" --aud "$AUD" <<<"$jws"
    pyverify --jwks "$T/jwks-all.json" --aud "$AUD" <<<"$jws" >/dev/null ||
        fail "$alg: PyJWT rejects the JWS against the full JWKS"
done

step "an explicit --kid and --label"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid my-es-key-1 --label "My signing key"
[[ $OUT == my-es-key-1 ]] || fail "keygen --kid printed '$OUT', not the kid"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid my-es-key-1 --iss i --aud "$AUD"
jws=$OUT
export_jwks "$T/jwks-mine.json" my-es-key-1
pyverify --jwks "$T/jwks-mine.json" --aud "$AUD" <<<"$jws" >/dev/null ||
    fail "PyJWT rejects the JWS of the key with an explicit kid"

step "pkcs11-tool (OpenSC) sees the kid as label and CKA_ID, and the key's flags"
p11tool --list-objects >"$T/objects.txt" 2>&1 || fail "pkcs11-tool --list-objects failed: $(cat "$T/objects.txt")"
pycheck "$T/objects.txt" "${KID[ES256]}" "${KID[ES384]}" "${KID[ES512]}" <<'PY'
import re, sys
from itlib import *
text = open(sys.argv[1]).read()
# Split into objects: each starts with "<Class> Object;".
objs = re.split(r"\n(?=\S.* Object;)", text.strip())
def field(o, name):
    m = re.search(rf"^\s+{name}:\s+(.*)$", o, re.M)
    return m.group(1).strip() if m else None
check(len(objs) == 8, f"expected 8 objects (4 pairs), pkcs11-tool shows {len(objs)}:\n{text}")
check("p11jwt-tmp" not in text, "a temporary key ID was left behind:\n" + text)
for kid in sys.argv[2:5]:
    mine = [o for o in objs if field(o, "label") == kid]
    kinds = sorted(o.split(" Object;")[0] for o in mine)
    check(kinds == ["Private Key", "Public Key"], f"{kid}: objects labelled with the kid: {kinds}")
    for o in mine:
        check(field(o, "ID") == kid.encode().hex(), f"{kid}: CKA_ID {field(o, 'ID')} is not the kid's bytes")
        if o.startswith("Private Key"):
            access = field(o, "Access") or ""
            for flag in ("sensitive", "always sensitive", "never extractable"):
                check(flag in [a.strip() for a in access.split(",")], f"{kid}: private key Access lacks '{flag}': {access}")
            usage = [u.strip() for u in (field(o, "Usage") or "").split(",")]
            check("sign" in usage, f"{kid}: private key cannot sign: {o}")
            # Single-purpose: no ECDH, no decrypt/unwrap with a signing key.
            for other in ("derive", "decrypt", "unwrap"):
                check(other not in usage, f"{kid}: private key also allows '{other}': {usage}")
labelled = [o for o in objs if field(o, "label") == "My signing key"]
check(len(labelled) == 2 and all(field(o, "ID") == b"my-es-key-1".hex() for o in labelled),
      f"--label: objects {labelled}")
PY

step "ES512: a key whose x or y has a leading zero byte keeps all 66 bytes"
# P-521 coordinates are under 2^521, so their first byte is 0 half the time;
# a JWK that drops it is invalid (RFC 7518 6.2.1.2) and its thumbprint wrong.
# Generate until such a key comes up (P = 3/4 per key), then check it fully.
found=
for i in $(seq 1 20); do
    expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES512
    lz_kid=$OUT
    export_jwks "$T/jwks-lz.json" "$lz_kid"
    if "$PYTHON" - "$T/jwks-lz.json" <<'PY'
import json, sys
from itlib import *
jwk = json.load(open(sys.argv[1]))["keys"][0]
small = [c for c in ("x", "y") if int.from_bytes(b64d(jwk[c]), "big") < 256 ** 65]
sys.exit(0 if small else 1)
PY
    then
        found=$lz_kid
        break
    fi
    expect_exit 0 p11jwt delete "${TOK[@]}" --kid "$lz_kid" --yes
done
[[ -n $found ]] || fail "20 P-521 keys without a leading zero byte: odds 1e-12, the generator is suspect"
pycheck "$T/jwks-lz.json" "$found" <<'PY'
import json, sys
from itlib import *
jwk = json.load(open(sys.argv[1]))["keys"][0]
for c in ("x", "y"):
    check(len(b64d(jwk[c])) == 66, f"{c} is {len(b64d(jwk[c]))} bytes: the leading zero was dropped")
ec_public_key(jwk)
check(jwk_thumbprint(jwk) == sys.argv[2], "the kid is not the thumbprint of the full-length JWK")
PY
expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$found" --iss i --aud "$AUD"
lz_jws=$OUT
expect_exit 0 p11jwt verify --jwks "$T/jwks-lz.json" --aud "$AUD" <<<"$lz_jws"
pyverify --jwks "$T/jwks-lz.json" --aud "$AUD" <<<"$lz_jws" >/dev/null ||
    fail "PyJWT rejects the JWS of a P-521 key with a leading zero coordinate byte"

echo "keys_es: all checks passed"
