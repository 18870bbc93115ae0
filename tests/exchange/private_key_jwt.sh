#!/usr/bin/env bash
# private_key_jwt.sh — client authentication with a signed client assertion
# (RFC 7523 2.2, OIDC private_key_jwt; what Keycloak, Okta, Entra ID, Auth0
# accept): grant_type=client_credentials, client_assertion_type,
# client_assertion (iss = sub = client_id, aud = token URL, a jti never
# reused), ES256 with a key made in the token.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

CLIENT=svc-client-9
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid pkj-1
export_jwks "$T/jwks.json"
start_sts sts --jwks "$T/jwks.json" --iss-allowed "$CLIENT"
URL=$STS/pkj/token

conf <<EOF
[profile pkj]
dialect = private-key-jwt
token = $TOKEN
pin_file = $PIN_FILE
kid = pkj-1
token_url = $URL
client_id = $CLIENT
scope = api:read

[profile pkj-other-client]
dialect = private-key-jwt
token = $TOKEN
pin_file = $PIN_FILE
kid = pkj-1
token_url = $URL
client_id = someone-else
EOF

step "assertion: iss = sub = client_id, aud = token URL, a jti"
expect_exit 0 x assertion --config "$CONF" --profile pkj
a1=$OUT
expect_exit 0 x assertion --config "$CONF" --profile pkj
a2=$OUT
pyverify --jwks "$T/jwks.json" --aud "$URL" --iss "$CLIENT" --lines <<<"$a1"$'\n'"$a2" >"$T/py.json" ||
    fail "PyJWT rejects the client assertion"
pycheck "$T/py.json" "$CLIENT" <<'PY'
import sys
from itlib import *
ds = load_json_lines(sys.argv[1])
for d in ds:
    h, p = d["header"], d["payload"]
    check(h["alg"] == "ES256" and h["kid"] == "pkj-1", f"header {h}")
    check(p["iss"] == p["sub"] == sys.argv[2], f"iss/sub {p}")
    check(isinstance(p.get("jti"), str) and len(p["jti"]) >= 16, f"jti {p.get('jti')!r}")
check(ds[0]["payload"]["jti"] != ds[1]["payload"]["jti"], "two assertions share a jti")
PY

step "token: the form the STS expects, scope granted"
expect_exit 0 x token --config "$CONF" --profile pkj --json
pycheck "$OUT" "$(sts_stats)" <<'PY'
import json, sys
from itlib import *
d, st = json.loads(sys.argv[1]), json.loads(sys.argv[2])
check(d["scope"] == "api:read" and d["token_type"] == "Bearer", f"{d}")
r = [q for q in st["requests"] if q["path"] == "/pkj/token"][-1]
check(r["status"] == 200 and r["auth_method"] == "private_key_jwt", f"{r}")
check(r["params"] == ["client_assertion", "client_assertion_type", "client_id", "grant_type", "scope"],
      f"form fields {r['params']}")
PY

step "again: a fresh jti each time (the STS refuses replays)"
expect_exit 0 x token --config "$CONF" --profile pkj
expect_exit 0 x token --config "$CONF" --profile pkj

step "call: Bearer at the resource"
expect_exit 0 x call --config "$CONF" --profile pkj -X POST -d 'hello' "$STS/pkj/resource"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
check(d["ok"] and d["dialect"] == "private-key-jwt" and d["body"] == "hello", f"{d}")
PY

step "a client the STS does not know: invalid_client, one line"
expect_exit 1 x token --config "$CONF" --profile pkj-other-client
expect_err_matches 'invalid_client'
