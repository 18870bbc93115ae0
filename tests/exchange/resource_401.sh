#!/usr/bin/env bash
# resource_401.sh — `p11jwt call` and a 401 from the resource: the token is
# dropped, ONE new exchange is made and the request is sent once more. A
# second 401 is the answer (exit 1 with the status), not a loop.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid k401
export_jwks "$T/jwks.json"
start_sts sts --jwks "$T/jwks.json"
conf <<EOF
[profile r]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = k401
token_url = $STS/rfc7523/token
iss = backend
EOF
RES=$STS/rfc7523/resource

# run_call EXPECTED_EXIT: one `call`; sets DT (token requests) and DR
# (resource requests) it caused.
run_call() {
    local t0 r0
    t0=$(calls /rfc7523/token)
    r0=$(calls /rfc7523/resource resource)
    expect_exit "$1" x call --config "$CONF" --profile r -X POST -d 'n=1' "$RES"
    DT=$(($(calls /rfc7523/token) - t0))
    DR=$(($(calls /rfc7523/resource resource) - r0))
}

step "baseline: one exchange, one resource request"
run_call 0
[[ $DT == 1 && $DR == 1 ]] || fail "baseline: $DT token and $DR resource requests, expected 1 and 1"
base=$DT

step "one 401: exactly one more exchange, the request repeated once, success"
sts_control '{"resource_401": 1}'
run_call 0
[[ $DT == $((base + 1)) ]] || fail "one 401: $DT token requests, expected $((base + 1))"
[[ $DR == 2 ]] || fail "one 401: $DR resource requests, expected 2"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
check(d["ok"] and d["body"] == "n=1", f"the retried request lost its body: {d}")
PY
sts_stats >"$T/stats.json"
pycheck "$T/stats.json" <<'PY'
import json, sys
from itlib import *
rs = [q for q in json.load(open(sys.argv[1]))["requests"] if q["path"] == "/rfc7523/resource"][-2:]
check([q["status"] for q in rs] == [401, 200], f"{rs}")
check(rs[0]["token"] != rs[1]["token"], "the retry used the token that had just been refused")
PY

step "two 401s: exit 1 with the status, no third attempt"
sts_control '{"resource_401": 2}'
run_call 1
expect_err_matches '401'
[[ $DT == $((base + 1)) ]] || fail "two 401s: $DT token requests, expected $((base + 1))"
[[ $DR == 2 ]] || fail "two 401s: $DR resource requests, expected 2"

step "403 is not 401: no re-exchange, exit 1"
sts_control '{"path": "/rfc7523/resource", "status": 403, "body": {"error": "forbidden"}}'
run_call 1
expect_err_matches '403'
[[ $DT == "$base" && $DR == 1 ]] || fail "403: $DT token, $DR resource requests, expected $base and 1"
