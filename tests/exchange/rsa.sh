#!/usr/bin/env bash
# rsa.sh — RS and PS assertions exchanged at the test STS, as Okta, Entra ID
# and Google take them: private-key-jwt with a PS256 key made in the token,
# the rfc7523 grant with an RS256 key, and with a provider's RSA key
# imported without an alg (pinned none) that the profile's alg = RS384
# names; the profile asking another alg of a pinned key is refused before
# anything is sent; and a rotation of the PS256 key: stage makes the next
# RSA key with the same alg, the JWKS printed holds both with their alg,
# and after promote the assertion is signed by the new key.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"
umask 077

CLIENT=rsa-client
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg PS256 --bits 2048 --kid ps-1
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg RS256 --bits 2048 --kid rs-1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/provider.pem" 2>/dev/null ||
    fail "openssl cannot make an RSA key"
expect_exit 0 p11jwt import-key "${TOK[@]}" --kid imported --key-file "$T/provider.pem"
expect_exit 0 p11jwt jwks --token "$TOKEN"
# The imported key pins no alg, so its JWK has none: registered at the STS
# with the alg the profile signs it with, as an operator would.
pycheck "$OUT" "$T/jwks.json" <<'PY'
import json, sys
from itlib import *
jwks = json.loads(sys.argv[1])
algs = {k["kid"]: k.get("alg") for k in jwks["keys"]}
check(algs == {"ps-1": "PS256", "rs-1": "RS256", "imported": None}, f"JWKS algs {algs}")
for k in jwks["keys"]:
    if k["kid"] == "imported":
        k["alg"] = "RS384"
json.dump(jwks, open(sys.argv[2], "w"))
PY
start_sts sts --jwks "$T/jwks.json" --iss-allowed "$CLIENT" --iss-allowed rsa-backend

conf <<EOF
[profile pkj-ps]
dialect = private-key-jwt
token = $TOKEN
pin_file = $PIN_FILE
kid = ps-1
token_url = $STS/pkj/token
client_id = $CLIENT
keyring = pkj-ps

[profile bearer-rs]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = rs-1
token_url = $STS/rfc7523/token
iss = rsa-backend

[profile bearer-imported]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = imported
alg = RS384
token_url = $STS/rfc7523/token
iss = rsa-backend

[profile bearer-wrong-alg]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = rs-1
alg = PS256
token_url = $STS/rfc7523/token
iss = rsa-backend
EOF

for prof in pkj-ps:PS256:ps-1:/pkj/token bearer-rs:RS256:rs-1:/rfc7523/token \
    bearer-imported:RS384:imported:/rfc7523/token; do
    IFS=: read -r name alg kid path <<<"$prof"
    step "$name: an $alg assertion the STS accepts"
    expect_exit 0 x assertion --config "$CONF" --profile "$name"
    pyverify --jwks "$T/jwks.json" --aud "$STS$path" <<<"$OUT" >"$T/py.json" ||
        fail "$name: PyJWT rejects the assertion"
    pycheck "$T/py.json" "$alg" "$kid" <<'PY'
import json, sys
from itlib import *
h = json.load(open(sys.argv[1]))["header"]
check(h["alg"] == sys.argv[2] and h["kid"] == sys.argv[3], f"header {h}")
PY
    expect_exit 0 x token --config "$CONF" --profile "$name" --json
    pycheck "$(sts_stats)" "$path" <<'PY'
import json, sys
from itlib import *
r = [q for q in json.loads(sys.argv[1])["requests"] if q["path"] == sys.argv[2]][-1]
check(r["status"] == 200, f"{r}")
PY
done

step "a profile asking PS256 of an RS256 key: refused, nothing sent"
before=$(calls /rfc7523/token)
expect_exit 1 x token --config "$CONF" --profile bearer-wrong-alg
expect_err_matches "PS256.*RS256"
[[ $(calls /rfc7523/token) == "$before" ]] || fail "a request went out with the wrong alg"

step "rotation of the PS256 key: the next key is PS256 too"
expect_exit 0 x rotate stage --profile pkj-ps --config "$CONF"
printf '%s\n' "$OUT" >"$T/staged.json"
pycheck "$T/staged.json" <<'PY'
import json, sys
from itlib import *
keys = json.load(open(sys.argv[1]))["keys"]
check(len(keys) == 2 and all(k["kty"] == "RSA" and k["alg"] == "PS256" for k in keys),
      f"staged JWKS {keys}")
new = [k for k in keys if k["kid"] != "ps-1"]
check(len(new) == 1 and jwk_thumbprint(new[0]) == new[0]["kid"], f"next key {new}")
check(len(b64d(new[0]["n"])) == 384, "the next key is not 3072 bits (the default)")
PY
expect_exit 0 x rotate promote --profile pkj-ps --config "$CONF"
expect_exit 0 x assertion --config "$CONF" --profile pkj-ps
pyverify --jwks "$T/staged.json" --aud "$STS/pkj/token" <<<"$OUT" >"$T/py.json" ||
    fail "PyJWT rejects the assertion of the promoted key"
pycheck "$T/py.json" <<'PY'
import json, sys
from itlib import *
h = json.load(open(sys.argv[1]))["header"]
check(h["alg"] == "PS256" and h["kid"] != "ps-1", f"after promote the header is {h}")
PY
