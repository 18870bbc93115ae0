#!/usr/bin/env bash
# rfc7523.sh — the generic jwt-bearer grant (RFC 7523 2.1): any iss, sub,
# aud, scope and extra claims; ES256 from a key made in the token and HS256
# from an imported secret; the RFC 6749 5.1 answer; Bearer at the resource.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid rfc-es
export_jwks "$T/jwks.json"
make_secret "$T/hs.secret"
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid rfc-hs --alg HS256 --secret-file "$T/hs.secret"
start_sts sts --jwks "$T/jwks.json" --secret "rfc-hs=$T/hs.secret" \
    --iss-allowed backend-1 --iss-allowed backend-2
URL=$STS/rfc7523/token

conf <<EOF
[profile es]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = rfc-es
token_url = $URL
iss = backend-1
sub = user-42
scope = read write
ttl = 2m
claim.tenant = acme
claim.purpose = exchange test
header.X-Request-Source = p11jwt-tests

[profile hs]
dialect = rfc7523
token = $TOKEN
pin_env = P11JWT_TEST_PIN
kid = rfc-hs
token_url = $URL
aud = $URL
iss = backend-2
ttl = 90

[profile es-wrong-aud]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = rfc-es
token_url = $URL
aud = https://elsewhere.example.invalid/token
iss = backend-1
EOF
P11JWT_TEST_PIN=$(cat "$PIN_FILE")
export P11JWT_TEST_PIN

step "assertion: iss, sub, aud, ttl and the extra claims"
expect_exit 0 x assertion --config "$CONF" --profile es
pyverify --jwks "$T/jwks.json" --aud "$URL" --iss backend-1 <<<"$OUT" >"$T/py.json" ||
    fail "PyJWT rejects the ES256 assertion"
pycheck "$T/py.json" <<'PY'
import sys
from itlib import *
[d] = load_json_lines(sys.argv[1])
h, p = d["header"], d["payload"]
check(h["alg"] == "ES256" and h["kid"] == "rfc-es", f"header {h}")
check(p["sub"] == "user-42" and p["tenant"] == "acme" and p["purpose"] == "exchange test", f"claims {p}")
check(p["exp"] - p["iat"] == 120, f"ttl 2m: exp - iat = {p['exp'] - p['iat']}")
check("scope" not in p, f"scope is a request parameter, not a claim: {p}")
PY
expect_exit 0 x assertion --config "$CONF" --profile hs
pyverify --secret-file "$T/hs.secret" --alg HS256 --aud "$URL" --iss backend-2 <<<"$OUT" \
    >"$T/py.json" || fail "PyJWT rejects the HS256 assertion"
pycheck "$T/py.json" <<'PY'
import sys
from itlib import *
[d] = load_json_lines(sys.argv[1])
check(d["payload"]["exp"] - d["payload"]["iat"] == 90, f"ttl 90: {d['payload']}")
PY

step "token --json: scope requested and granted"
expect_exit 0 x token --config "$CONF" --profile es --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
check(d["scope"] == "read write" and d["token_type"] == "Bearer", f"{d}")
PY
sts_stats >"$T/stats.json"
pycheck "$T/stats.json" <<'PY'
import json, sys
from itlib import *
r = [q for q in json.load(open(sys.argv[1]))["requests"] if q["path"] == "/rfc7523/token"][-1]
check(r["form"] and r["params"] == ["assertion", "grant_type", "scope"], f"{r}")
PY
expect_exit 0 x token --config "$CONF" --profile hs --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
check(d["scope"] is None, f"no scope asked, none granted: {d}")
PY

step "call: Bearer and header.X-Request-Source"
expect_exit 0 x call --config "$CONF" --profile es -X PUT -d 'v=2' "$STS/rfc7523/resource/item/7"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
check(d["ok"] and d["method"] == "PUT" and d["body"] == "v=2", f"{d}")
check(d["headers"].get("X-Request-Source") == "p11jwt-tests", f"headers {d['headers']}")
PY
expect_exit 0 x call --config "$CONF" --profile hs -X DELETE "$STS/rfc7523/resource"

step "a wrong aud: refused by the STS, the description shown"
expect_exit 1 x token --config "$CONF" --profile es-wrong-aud
expect_err_matches 'invalid_grant'
expect_err_matches 'aud must be the token URL'
