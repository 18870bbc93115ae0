#!/usr/bin/env bash
# call.sh — the CLI through the agent: `p11jwt call --agent` against the
# test STS's noa (JWT scheme + Accept header) and dt (Bearer + header.*)
# resources, `token` and `assertion` --agent, $P11JWT_AGENT_SOCKET instead
# of the option, the 401 path (invalidate, one new exchange, retry), and the
# caller needing no config, no token and no PIN.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

ORG=0b7c1f0e-5f2a-4d3c-9a58-2f9c1b6d7e41
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES512 --kid noa-1
export_jwks "$T/jwks.json" noa-1
dt_setup --jwks "$T/jwks.json" --iss-allowed svc@example.com --iss-allowed "noa client"
dt_profile dt 'header.X-Trace = via-agent'
conf <<EOF2

[profile noa]
dialect = noa
token = $TOKEN
pin_file = $PIN_FILE
kid = noa-1
iss = "noa client"
claim.organization = $ORG
token_url = $STS/noa/token
EOF2
start_agent a
cp "$CONF" "$T/agent.conf"

# What the caller has: no config file, and no token (without SOFTHSM2_CONF
# this SoftHSM has no tokens at all), so no PIN either.
caller() {
    env -u SOFTHSM2_CONF -u P11JWT_MODULE -u P11JWT_CONFIG HOME="$T/nohome" \
        timeout 60 "$P11JWT_BIN" "$@"
}

step "call --agent: noa resource (JWT scheme, Accept header)"
expect_exit 0 caller call --agent="$SOCK" --profile noa "$STS/noa/resource"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import check
d = json.loads(sys.argv[1])
check(d["ok"] and d["dialect"] == "noa", f"{d}")
check(d["headers"].get("Accept") == "application/json; version=1.0", f"headers {d['headers']}")
PY
sts_stats | "$PYTHON" -c 'import json,sys; r=[q for q in json.load(sys.stdin)["requests"] if q["path"]=="/noa/resource"][-1]; sys.exit(r["scheme"]!="JWT")' ||
    fail "the noa resource did not get the JWT scheme"

step "call --agent: dt resource (Bearer, header.*, caller's -H, POST body)"
expect_exit 0 caller call --agent="$SOCK" --profile dt -H 'X-Extra: 1' -d '{"a":1}' \
    "$STS/dt/resource?q=2"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import check
d = json.loads(sys.argv[1])
check(d["ok"] and d["method"] == "POST" and d["body"] == '{"a":1}' and d["query"] == "q=2", f"{d}")
check(d["headers"].get("X-Trace") == "via-agent" and d["headers"].get("X-Extra") == "1",
      f"headers {d['headers']}")
PY

step "\$P11JWT_AGENT_SOCKET instead of --agent; --no-agent or --config work here"
P11JWT_AGENT_SOCKET=$SOCK expect_exit 0 caller call --profile dt "$STS/dt/resource"
P11JWT_AGENT_SOCKET=$SOCK expect_exit 1 caller call --no-agent --profile dt "$STS/dt/resource"
expect_err_matches 'config'
n=$(calls /dt/token)
P11JWT_AGENT_SOCKET=$SOCK expect_exit 0 x token --config "$T/agent.conf" --profile dt
[[ $(calls /dt/token) == $((n + 1)) ]] || fail "token --config with \$P11JWT_AGENT_SOCKET set did not work here"

step "call --agent: a 401 invalidates the token, one new exchange, one retry"
n=$(calls /dt/token)
r=$(calls /dt/resource resource)
sts_control '{"resource_401": 1}'
expect_exit 0 caller call --agent="$SOCK" --profile dt "$STS/dt/resource"
[[ $(calls /dt/token) == $((n + 1)) ]] || fail "401: $(($(calls /dt/token) - n)) new exchanges, expected 1"
[[ $(calls /dt/resource resource) == $((r + 2)) ]] ||
    fail "401: resource called $(($(calls /dt/resource resource) - r)) times, expected 2"
sts_control '{"resource_401": 2}'
expect_exit 1 caller call --agent="$SOCK" --profile dt "$STS/dt/resource?secret=1"
expect_err_matches '401'
[[ $ERR != *secret=1* ]] || fail "the URL's query was shown: $ERR"

step "token --agent, --json; assertion --agent (PyJWT verifies it)"
expect_exit 0 caller token --agent="$SOCK" --profile noa
jwt=$OUT
[[ $jwt == *.*.* ]] || fail "noa token: $jwt"
expect_exit 0 caller token --agent="$SOCK" --profile dt --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import check
d = json.loads(sys.argv[1])
check(list(d) == ["access_token", "token_type", "expires_at", "scope"], f"fields {list(d)}")
PY
expect_exit 0 caller assertion --agent="$SOCK" --profile noa
# noa's assertions carry no aud, which pyjwt_verify.py requires: PyJWT directly.
"$PYTHON" - "$OUT" "$T/jwks.json" <<'PY' || fail "PyJWT rejects the agent's noa assertion"
import json, sys, jwt
from jwt.algorithms import ECAlgorithm
jws, jwks = sys.argv[1], json.load(open(sys.argv[2]))
key = ECAlgorithm.from_jwk(json.dumps(jwks["keys"][0]))
p = jwt.decode(jws, key, algorithms=["ES512"], options={"verify_aud": False})
assert p["iss"] == "noa client" and p["organization"] == "0b7c1f0e-5f2a-4d3c-9a58-2f9c1b6d7e41", p
PY

step "usage and failures through the agent"
expect_exit 2 caller token --agent="$SOCK" --profile dt --config "$T/agent.conf"
expect_err_matches 'no-agent'
expect_exit 2 caller token --agent="$SOCK"
expect_exit 1 caller token --agent="$SOCK" --profile nope
expect_err_matches "no profile 'nope'"
expect_exit 1 caller token --agent="$T/none.sock" --profile dt
expect_err_matches 'cannot reach the agent'
stop_agent
[[ $AGENT_RC == 0 ]] || fail "agent exit $AGENT_RC"
check_log_clean "$AGENT_LOG" "$jwt"
