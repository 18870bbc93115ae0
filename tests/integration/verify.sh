#!/usr/bin/env bash
# verify.sh — `p11jwt verify` says no when it must: expired, not yet valid,
# wrong audience or issuer, alg "none", alg confusion, a wrong key, a
# tampered or malformed JWS. Every rejection is paired with a control that
# the same JWS (or its honest twin) is accepted when the one condition is
# lifted, so a verifier that rejects everything cannot pass.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token
ISS=client-1

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid es-a
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid es-b
export_jwks "$T/jwks-a.json" es-a
export_jwks "$T/jwks-b.json" es-b
(umask 077 && head -c 40 /dev/urandom | base64 | tr -d '\n' >"$T/hs.secret")
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid hs-a --alg HS256 --secret-file "$T/hs.secret"

# The three ways p11jwt can verify an ES / HS JWS.
verify_es() { p11jwt verify --jwks "$T/jwks-a.json" "$@"; }
verify_es_tok() { p11jwt verify "${TOK[@]}" --kid es-a "$@"; }
verify_hs() { p11jwt verify --secret-file "$T/hs.secret" --alg HS256 "$@"; }
verify_hs_tok() { p11jwt verify "${TOK[@]}" --kid hs-a "$@"; }

# craft_hs HEADER_JSON PAYLOAD_JSON — an HS256 JWS made here with the shared
# secret; "now" inside the JSON is replaced by the current time plus an offset
# ("now-600" -> time - 600), so expired/future tokens need no sleep.
craft_hs() {
    "$PYTHON" - "$T/hs.secret" "$1" "$2" <<'PY'
import json, re, sys, time
from itlib import *
now = int(time.time())
def at(s):
    return re.sub(r'"now([+-]\d+)?"', lambda m: str(now + int(m.group(1) or 0)), s)
secret = read_secret(sys.argv[1])
print(hs_sign(json.loads(at(sys.argv[2])), json.loads(at(sys.argv[3])), secret, "HS256"))
PY
}
HDR='{"alg":"HS256","kid":"hs-a","typ":"JWT"}'

step "controls: honest JWS verify every way"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid es-a --iss "$ISS" --aud "$AUD"
es_jws=$OUT
expect_exit 0 verify_es --aud "$AUD" --iss "$ISS" <<<"$es_jws"
expect_exit 0 verify_es_tok --aud "$AUD" --iss "$ISS" <<<"$es_jws"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid hs-a --iss "$ISS" --aud "$AUD"
hs_jws=$OUT
expect_exit 0 verify_hs --aud "$AUD" --iss "$ISS" <<<"$hs_jws"
expect_exit 0 verify_hs_tok --aud "$AUD" --iss "$ISS" <<<"$hs_jws"
# A JWS crafted here verifies too: the crafting helper is sound.
ok=$(craft_hs "$HDR" '{"iss":"client-1","aud":"'"$AUD"'","iat":"now","exp":"now+300"}')
expect_exit 0 verify_hs --aud "$AUD" <<<"$ok"
expect_exit 0 verify_hs_tok --aud "$AUD" <<<"$ok"

step "audience and issuer"
expect_exit 1 verify_es --aud https://other.example.invalid/token <<<"$es_jws"
expect_exit 1 verify_es_tok --aud https://other.example.invalid/token <<<"$es_jws"
expect_exit 1 verify_hs --aud "$AUD/" <<<"$hs_jws"      # a prefix match is no match
expect_exit 1 verify_es --aud "$AUD" --iss client-2 <<<"$es_jws"
expect_exit 1 verify_hs_tok --aud "$AUD" --iss client <<<"$hs_jws"
# aud as an array: the expected audience must be one of its members.
arr=$(craft_hs "$HDR" '{"iss":"client-1","aud":["https://a.invalid","'"$AUD"'"],"iat":"now","exp":"now+300"}')
expect_exit 0 verify_hs --aud "$AUD" <<<"$arr"
expect_exit 0 verify_hs --aud https://a.invalid <<<"$arr"
expect_exit 1 verify_hs --aud https://b.invalid <<<"$arr"

step "expiry, crafted (HS): refused with no leeway, accepted with enough"
old=$(craft_hs "$HDR" '{"iss":"client-1","aud":"'"$AUD"'","iat":"now-900","exp":"now-300"}')
expect_exit 1 verify_hs --aud "$AUD" --leeway 0 <<<"$old"
expect_exit 1 verify_hs --aud "$AUD" <<<"$old"             # default leeway is 60 s
expect_exit 1 verify_hs_tok --aud "$AUD" <<<"$old"
expect_exit 0 verify_hs --aud "$AUD" --leeway 3600 <<<"$old"

step "not before / issued in the future"
nbf=$(craft_hs "$HDR" '{"iss":"client-1","aud":"'"$AUD"'","iat":"now","exp":"now+7200","nbf":"now+3600"}')
expect_exit 1 verify_hs --aud "$AUD" <<<"$nbf"
expect_exit 0 verify_hs --aud "$AUD" --leeway 7200 <<<"$nbf"
future=$(craft_hs "$HDR" '{"iss":"client-1","aud":"'"$AUD"'","iat":"now+3600","exp":"now+7200"}')
expect_exit 1 verify_hs --aud "$AUD" <<<"$future"
expect_exit 0 verify_hs --aud "$AUD" --leeway 7200 <<<"$future"
# nbf through the CLI's own --claim, signed in the token.
expect_exit 0 p11jwt sign "${TOK[@]}" --kid es-a --iss "$ISS" --aud "$AUD" --ttl 7200 \
    --claim "nbf:=$(($(date +%s) + 3600))"
nbf_es=$OUT
expect_exit 1 verify_es --aud "$AUD" <<<"$nbf_es"
expect_exit 0 verify_es --aud "$AUD" --leeway 7200 <<<"$nbf_es"

step "expiry, real (ES): --ttl 3, then wait it out"
# 3 s, not 1: on a loaded machine a second may pass between sign and verify.
expect_exit 0 p11jwt sign "${TOK[@]}" --kid es-a --iss "$ISS" --aud "$AUD" --ttl 3
short=$OUT
expect_exit 0 verify_es --aud "$AUD" --leeway 0 <<<"$short"
sleep 5
expect_exit 1 verify_es --aud "$AUD" --leeway 0 <<<"$short"
expect_exit 1 verify_es_tok --aud "$AUD" --leeway 0 <<<"$short"
expect_exit 0 verify_es --aud "$AUD" --leeway 60 <<<"$short"
if pyverify --jwks "$T/jwks-a.json" --aud "$AUD" <<<"$short" >/dev/null 2>&1; then
    fail "PyJWT accepts the expired JWS: the expiry check above proves nothing"
fi

step "alg none, crafted: refused whatever the key source"
none=$("$PYTHON" - "$AUD" <<'PY'
import sys, time
from itlib import *
now = int(time.time())
for kid in ("es-a", "hs-a"):
    h = {"alg": "none", "kid": kid, "typ": "JWT"}
    p = {"iss": "client-1", "aud": sys.argv[1], "iat": now, "exp": now + 300}
    print(f"{b64e(compact_json(h).encode())}.{b64e(compact_json(p).encode())}.")
PY
)
none_es=$(sed -n 1p <<<"$none")
none_hs=$(sed -n 2p <<<"$none")
expect_exit 1 verify_es --aud "$AUD" <<<"$none_es"
expect_exit 1 verify_es_tok --aud "$AUD" <<<"$none_es"
expect_exit 1 verify_hs --aud "$AUD" <<<"$none_hs"
expect_exit 1 verify_hs_tok --aud "$AUD" <<<"$none_hs"
# ... also with a signature part that is not empty.
expect_exit 1 verify_hs --aud "$AUD" <<<"${none_hs}$(cut -d. -f3 <<<"$hs_jws")"

step "alg confusion: HS256 MAC'd with the EC public key, kid of the EC key"
confused=$("$PYTHON" - "$T/jwks-a.json" "$AUD" <<'PY'
import json, sys, time
from itlib import *
from cryptography.hazmat.primitives import serialization
jwk = json.load(open(sys.argv[1]))["keys"][0]
pem = ec_public_key(jwk).public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
now = int(time.time())
h = {"alg": "HS256", "kid": "es-a", "typ": "JWT"}
p = {"iss": "client-1", "aud": sys.argv[2], "iat": now, "exp": now + 300}
# The classic attack: the public key's PEM, or its JWK JSON, used as the HMAC secret.
print(hs_sign(h, p, pem, "HS256"))
print(hs_sign(h, p, json.dumps(jwk).encode(), "HS256"))
PY
)
while read -r c; do
    expect_exit 1 verify_es --aud "$AUD" <<<"$c"
    expect_exit 1 verify_es_tok --aud "$AUD" <<<"$c"
done <<<"$confused"
# An ES384 header over the ES256 key's genuine signature bytes.
relabelled=$("$PYTHON" - "$es_jws" <<'PY'
import sys
from itlib import *
h, p, s = sys.argv[1].split(".")
hdr = split_jws(sys.argv[1])[0]
hdr["alg"] = "ES384"
print(f"{b64e(compact_json(hdr).encode())}.{p}.{s}")
PY
)
expect_exit 1 verify_es --aud "$AUD" <<<"$relabelled"

step "wrong key: another key's JWKS under the same kid, another secret, another kid"
# jwks-b's key published under kid es-a: the lookup succeeds, the signature must not.
"$PYTHON" - "$T/jwks-b.json" >"$T/jwks-impostor.json" <<'PY'
import json, sys
jwks = json.load(open(sys.argv[1]))
jwks["keys"][0]["kid"] = "es-a"
print(json.dumps(jwks))
PY
expect_exit 1 p11jwt verify --jwks "$T/jwks-impostor.json" --aud "$AUD" <<<"$es_jws"
if pyverify --jwks "$T/jwks-impostor.json" --aud "$AUD" <<<"$es_jws" >/dev/null 2>&1; then
    fail "PyJWT accepts the JWS with the impostor JWKS: the test is broken"
fi
expect_exit 1 p11jwt verify --jwks "$T/jwks-b.json" --aud "$AUD" <<<"$es_jws"   # kid es-a not in it
expect_exit 1 p11jwt verify "${TOK[@]}" --kid es-b --aud "$AUD" <<<"$es_jws"
(umask 077 && head -c 40 /dev/urandom | base64 | tr -d '\n' >"$T/other.secret")
expect_exit 1 p11jwt verify --secret-file "$T/other.secret" --alg HS256 --aud "$AUD" <<<"$hs_jws"
# An ES JWS against a secret, and an HS JWS against an EC key.
expect_exit 1 verify_hs --aud "$AUD" <<<"$es_jws"
expect_exit 1 verify_es_tok --aud "$AUD" <<<"$hs_jws"

step "tampered and malformed JWS"
tampered=$("$PYTHON" - "$es_jws" <<'PY'
import json, sys
from itlib import *
h, p, s = sys.argv[1].split(".")
payload = json.loads(b64d(p))
payload["sub"] = "admin"
print(f"{h}.{b64e(compact_json(payload).encode())}.{s}")
PY
)
expect_exit 1 verify_es --aud "$AUD" <<<"$tampered"
expect_exit 1 verify_es_tok --aud "$AUD" <<<"$tampered"
# One signature bit flipped.
flipped=$("$PYTHON" - "$es_jws" <<'PY'
import sys
from itlib import *
h, p, s = sys.argv[1].split(".")
sig = bytearray(b64d(s))
sig[10] ^= 0x01
print(f"{h}.{p}.{b64e(bytes(sig))}")
PY
)
expect_exit 1 verify_es --aud "$AUD" <<<"$flipped"
# A truncated signature, two parts, garbage, an empty input.
expect_exit 1 verify_es --aud "$AUD" <<<"${es_jws%??????}"
expect_exit 1 verify_es --aud "$AUD" <<<"$(cut -d. -f1,2 <<<"$es_jws")"
expect_exit 1 verify_es --aud "$AUD" <<<"not a jws at all"
expect_exit 1 verify_es --aud "$AUD" </dev/null
# The control again, last: nothing above broke the honest path.
expect_exit 0 verify_es --aud "$AUD" <<<"$es_jws"

step "what verify prints for a valid JWS is exactly its header and payload"
expect_exit 0 verify_es --aud "$AUD" <<<"$es_jws"
pycheck "$OUT" "$es_jws" <<'PY'
import json, sys
from itlib import *
out = json.loads(sys.argv[1])
h, p, _ = split_jws(sys.argv[2])
check(out == {"header": h, "payload": p}, f"verify printed {out}")
PY

echo "verify: all checks passed"
