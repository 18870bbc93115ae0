#!/usr/bin/env bash
# noa.sh — the noa dialect: an EC key made in the token (ES512, as noa's
# Python sample; ES384, as its Go sample), its JWKS handed to the STS; the
# assertion {iss: client name, organization, iat, exp = iat + 10 min}, no
# aud by default; POST {"assertion"} as JSON; the answer {"jwt"} carries its
# lifetime only in its own exp; the resource wants "Authorization: JWT ..."
# AND "Accept: application/json; version=1.0".
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

NAME="my shiny backend"
ORG=6f1e3c2a-8d4b-4f7e-9a10-2b3c4d5e6f70
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES512 --kid noa-512
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384 --kid noa-384
export_jwks "$T/jwks.json"
start_sts sts --jwks "$T/jwks.json" --iss-allowed "$NAME"
URL=$STS/noa/token

noa_profile() {   # noa_profile NAME KID [extra line]...
    printf '\n[profile %s]\ndialect = noa\ntoken = %s\npin_file = %s\nkid = %s\n' \
        "$1" "$TOKEN" "$PIN_FILE" "$2" >>"$CONF"
    printf 'token_url = %s\niss = %s\nclaim.organization = %s\nttl = 10m\n' \
        "$URL" "$NAME" "$ORG" >>"$CONF"
    shift 2
    (($# == 0)) || printf '%s\n' "$@" >>"$CONF"
}
noa_profile noa noa-512 'header.Accept = application/json; version=1.0'
noa_profile noa384 noa-384 'header.Accept = application/json; version=1.0' 'resource_auth = JWT'
noa_profile noa-wrong-accept noa-512 'header.Accept = application/json'
noa_profile noa-no-org noa-512
sed -i '/^\[profile noa-no-org\]/,$ {/^claim.organization/d}' "$CONF"

step "assertion: ES512, iss, organization, exp = iat + 600, no aud"
expect_exit 0 x assertion --config "$CONF" --profile noa
pycheck "$OUT" "$T/jwks.json" "$NAME" "$ORG" <<'PY'
import json, sys
import jwt
from jwt.algorithms import ECAlgorithm
from itlib import *
jws, jwks, name, org = sys.argv[1:5]
h, p, sig = split_jws(jws)
check(h["alg"] == "ES512" and h["kid"] == "noa-512", f"header {h}")
check(len(sig) == 132, f"ES512 signature of {len(sig)} bytes")
check(p["iss"] == name and p["organization"] == org, f"claims {p}")
check(p["exp"] - p["iat"] == 600, f"exp - iat = {p['exp'] - p['iat']}")
check("aud" not in p, f"noa's assertion has no aud by default: {p}")
[jwk] = [k for k in json.load(open(jwks))["keys"] if k["kid"] == "noa-512"]
jwt.api_jws.decode_complete(jws, key=ECAlgorithm.from_jwk(json.dumps(jwk)), algorithms=["ES512"])
PY

step "token --json: the JWT, expires_at = its exp"
expect_exit 0 x token --config "$CONF" --profile noa --json
pycheck "$OUT" "$NAME" "$ORG" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
h, p, _ = split_jws(d["access_token"])
check(p["sub"] == sys.argv[2] and p["organization"] == sys.argv[3], f"issued JWT {p}")
check(d["expires_at"] == p["exp"], f"expires_at {d['expires_at']} is not the JWT's exp {p['exp']}")
check(d["token_type"] == "JWT", f"token_type {d['token_type']!r}: noa's tokens are used as 'JWT'")
PY
sts_stats >"$T/stats.json"
pycheck "$T/stats.json" <<'PY'
import json, sys
from itlib import *
r = [q for q in json.load(open(sys.argv[1]))["requests"] if q["path"] == "/noa/token"][-1]
check(r["method"] == "POST" and r["params"] == ["assertion"] and r["status"] == 200,
      f"noa wants POST {{\"assertion\": ...}}: {r}")
PY

step "short expiry comes from the JWT's exp (no expires_in)"
sts_control '{"expires_in": 120}'
t0=$(date +%s)
expect_exit 0 x token --config "$CONF" --profile noa --json
pycheck "$OUT" "$t0" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1]); t0 = int(sys.argv[2])
check(t0 + 115 <= d["expires_at"] <= t0 + 130, f"expires_at {d['expires_at']}, now {t0}, lifetime 120")
PY
sts_control '{"expires_in": 3600}'

step "call: Authorization: JWT and the Accept header from header.Accept"
expect_exit 0 x call --config "$CONF" --profile noa "$STS/noa/resource"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
check(d["ok"] and d["dialect"] == "noa", f"{d}")
check(d["headers"].get("Accept") == "application/json; version=1.0", f"Accept {d['headers']}")
PY
sts_stats >"$T/stats.json"
pycheck "$T/stats.json" <<'PY'
import json, sys
from itlib import *
r = [q for q in json.load(open(sys.argv[1]))["requests"] if q["path"] == "/noa/resource"][-1]
check(r["scheme"] == "JWT", f"scheme {r['scheme']!r}")
PY

step "ES384 (noa's Go sample) works the same"
expect_exit 0 x call --config "$CONF" --profile noa384 -X POST -d '{"bicycle": 1}' "$STS/noa/resource"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
check(d["ok"] and d["method"] == "POST" and d["body"] == '{"bicycle": 1}', f"{d}")
PY

step "the wrong Accept is refused by the resource (406): exit 1"
expect_exit 1 x call --config "$CONF" --profile noa-wrong-accept "$STS/noa/resource"
expect_err_matches '406'

step "no organization claim: the STS refuses"
expect_exit 1 x token --config "$CONF" --profile noa-no-org
expect_err_matches 'organization'
