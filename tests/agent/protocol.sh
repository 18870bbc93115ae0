#!/usr/bin/env bash
# protocol.sh — the agent's HTTP protocol as docs/agent.md states it, against
# a real agent, a real token and the test STS: every endpoint's answer and
# fields, Cache-Control: no-store, min_valid, invalidate (only the cached
# token is dropped), assertions PyJWT accepts, JWKS, health and metrics
# (never a token in them), every error status with a JSON body, and
# p11jwt-token's outputs and exit codes. Nothing the agent logs holds a
# token, the PIN or the secret.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid ec-1
export_jwks "$T/jwks.json" ec-1
dt_setup --jwks "$T/jwks.json"
dt_profile dt 'header.X-Trace = trace-42'
conf <<EOF2

[profile ec]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = ec-1
iss = ec-client
token_url = $STS/rfc7523/token
EOF2
start_agent a

# get PATH [curl args]: status in $CODE, headers in $T/h, body in $BODY
get() {
    local path=$1
    shift
    CODE=$(ag -o "$T/body" -D "$T/h" -w '%{http_code}' "$@" "http://agent$path")
    BODY=$(cat "$T/body")
}
header() { grep -i "^$1:" "$T/h" | cut -d: -f2- | tr -d '\r' | sed 's/^ //'; }
json() { "$PYTHON" -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$BODY" "$1"; }

step "GET /v1/token/dt: the token, its fields, no-store"
get /v1/token/dt
[[ $CODE == 200 ]] || fail "token: HTTP $CODE: $BODY"
[[ $(header Cache-Control) == no-store ]] || fail "Cache-Control is '$(header Cache-Control)'"
[[ $(header Content-Type) == application/json ]] || fail "Content-Type $(header Content-Type)"
pycheck "$BODY" "$(date +%s)" <<'PY'
import json, sys
from itlib import check
d = json.loads(sys.argv[1]); now = int(sys.argv[2])
check(list(d) == ["access_token", "token_type", "expires_at", "scope", "authorization", "headers"],
      f"fields {list(d)}")
check(len(d["access_token"]) == 32, f"access_token {d['access_token']!r}")
check(d["token_type"].lower() == "bearer" and d["scope"] is None, f"{d}")
check(d["authorization"] == "Bearer " + d["access_token"], f"authorization {d['authorization']!r}")
check(d["headers"] == {"X-Trace": "trace-42"}, f"headers {d['headers']}")
check(now + 3500 < d["expires_at"] <= now + 3600, f"expires_at {d['expires_at']} vs {now}")
PY
tok=$(json 'd["access_token"]')
[[ $(calls /dt/token) == 1 ]] || fail "first token: $(calls /dt/token) exchanges, expected 1"
get /v1/token/d%74
[[ $CODE == 200 && $(json 'd["access_token"]') == "$tok" ]] || fail "cached token not handed out again"
[[ $(calls /dt/token) == 1 ]] || fail "a second GET made an exchange"

step "min_valid: satisfied by the cached token, else a refresh first"
get '/v1/token/dt?min_valid=600'
[[ $CODE == 200 && $(json 'd["access_token"]') == "$tok" ]] || fail "min_valid=600: $CODE $BODY"
[[ $(calls /dt/token) == 1 ]] || fail "min_valid=600 made an exchange"
get '/v1/token/dt?min_valid=7200'
[[ $CODE == 200 ]] || fail "min_valid=7200: $CODE $BODY"
[[ $(json 'd["access_token"]') != "$tok" ]] || fail "min_valid=7200 (more than the token has) gave the old token"
[[ $(calls /dt/token) == 2 ]] || fail "min_valid=7200: $(calls /dt/token) exchanges, expected 2"
tok=$(json 'd["access_token"]')
expect_exit 0 ptok dt --min-valid 60
[[ $OUT == "$tok" ]] || fail "p11jwt-token --min-valid 60 printed another token"

step "invalidate: only the cached token is dropped"
get /v1/token/dt/invalidate -X POST -H 'Content-Type: application/json' -d '{"access_token":"not-it"}'
[[ $CODE == 204 && -z $BODY ]] || fail "invalidate (other token): $CODE '$BODY'"
get /v1/token/dt
[[ $(json 'd["access_token"]') == "$tok" && $(calls /dt/token) == 2 ]] ||
    fail "invalidating another token dropped the cached one"
get /v1/token/dt/invalidate -X POST -d "{\"access_token\": \"$tok\"}"
[[ $CODE == 204 ]] || fail "invalidate: $CODE $BODY"
get /v1/token/dt
[[ $(json 'd["access_token"]') != "$tok" && $(calls /dt/token) == 3 ]] ||
    fail "after invalidating the cached token: same token or no exchange ($(calls /dt/token))"
tok2=$(json 'd["access_token"]')

step "POST /v1/assertion/dt: a fresh assertion PyJWT accepts; nothing sent"
get /v1/assertion/dt -X POST
[[ $CODE == 200 ]] || fail "assertion: $CODE $BODY"
json 'd["assertion"]' | pyverify --secret-file "$T/k1.secret" --alg HS256 --aud "$STS/dt/token" \
    --iss svc@example.com >/dev/null || fail "PyJWT rejects the agent's assertion"
[[ $(calls /dt/token) == 3 ]] || fail "an assertion request contacted the STS"

step "GET /v1/jwks: the EC profile's key; none for a secret key"
get /v1/jwks/ec
[[ $CODE == 200 ]] || fail "jwks ec: $CODE $BODY"
[[ $(json '[k["kid"] for k in d["keys"]]') == "['ec-1']" ]] || fail "jwks ec: $BODY"
get /v1/jwks/dt
[[ $CODE == 200 && $(json 'd["keys"]') == '[]' ]] || fail "jwks dt: $CODE $BODY"
get /v1/token/ec
[[ $CODE == 200 ]] || fail "ec token: $CODE $BODY"

step "health: states and expiry, never a token"
get /v1/health
[[ $CODE == 200 && $(header Cache-Control) == no-store ]] || fail "health: $CODE"
pycheck "$BODY" <<'PY'
import json, sys
from itlib import check
d = json.loads(sys.argv[1])
check(d["status"] == "ok" and set(d["profiles"]) == {"dt", "ec"}, f"{d}")
for name, p in d["profiles"].items():
    check(set(p) == {"state", "expires_at", "last_error"}, f"{name}: {p}")
    check(p["state"] == "valid" and isinstance(p["expires_at"], int) and p["last_error"] is None,
          f"{name}: {p}")
PY
grep -qF -- "$tok2" <<<"$BODY" && fail "health holds a token"

step "metrics: Prometheus text, counters that moved, no token"
get /metrics
[[ $CODE == 200 && $(header Content-Type) == text/plain* ]] || fail "metrics: $CODE $(header Content-Type)"
grep -q '^p11jwt_agent_requests_total{profile="dt",endpoint="token",code="200"} [5-9]$' <<<"$BODY" ||
    fail "metrics: no count of dt's token requests: $(grep requests_total <<<"$BODY")"
grep -q '^p11jwt_agent_exchanges_total{profile="dt"} 3$' <<<"$BODY" || fail "metrics: exchanges"
grep -q '^p11jwt_agent_cache_hits_total{profile="dt"} [1-9]' <<<"$BODY" || fail "metrics: cache hits"
grep -q '^p11jwt_agent_signature_seconds_count{profile="dt"} 1$' <<<"$BODY" || fail "metrics: signatures"
grep -q '^p11jwt_agent_token_expiry_seconds{profile="dt"} 3[0-9][0-9][0-9]$' <<<"$BODY" ||
    fail "metrics: expiry"
grep -q '^p11jwt_agent_token_state{profile="ec",state="valid"} 1$' <<<"$BODY" || fail "metrics: state"
grep -qF -- "$tok2" <<<"$BODY" && fail "metrics hold a token"

step "errors: JSON bodies with the right status"
# err PATH STATUS ERROR [curl args...]
err() {
    local path=$1 want=$2 code=$3
    shift 3
    get "$path" "$@"
    [[ $CODE == "$want" ]] || fail "$path $*: HTTP $CODE, expected $want: $BODY"
    [[ $(json 'd["error"]') == "$code" && -n $(json 'd["message"]') ]] || fail "$path: body $BODY"
    [[ $(header Cache-Control) == no-store ]] || fail "$path: no Cache-Control: no-store"
}
err /v1/token/nope 404 not_found
err /v1/nothing 404 not_found
err /v1/token/dt/other 404 not_found
err '/v1/token/dt?min_valid=abc' 400 bad_request
err '/v1/token/dt?min_valid=' 400 bad_request
err '/v1/token/dt?scope=a%22b' 400 bad_request
err '/v1/token/dt?scope=a&scope=b' 400 bad_request
err '/v1/token/dt?scope=a%00b' 400 bad_request
err '/v1/token/dt?scope=' 400 bad_request
err '/v1/token/dt?x=1' 400 bad_request
err '/v1/token/dt?min_valid=1&min_valid=2' 400 bad_request
err '/v1/token/dt?min_valid=99999999' 400 bad_request
err '/v1/health?x=1' 400 bad_request
err /v1/token/d%zz 400 bad_request
err /v1/token/d%0aa 400 bad_request
err /v1/token/ 400 bad_request
err /v1/token/dt 405 method_not_allowed -X POST
[[ $(header Allow) == GET ]] || fail "405 without Allow: GET"
err /v1/assertion/dt 405 method_not_allowed
[[ $(header Allow) == POST ]] || fail "405 without Allow: POST"
err /v1/token/dt/invalidate 400 bad_request -X POST -d '{"access_token": 5}'
err /v1/token/dt/invalidate 400 bad_request -X POST -d '{"access_token": "x"'
err /v1/token/dt/invalidate 400 bad_request -X POST
head -c 20000 /dev/zero | tr '\0' a >"$T/big"
err /v1/token/dt/invalidate 413 payload_too_large -X POST --data-binary @"$T/big"
err /v1/token/dt/invalidate 413 payload_too_large -X POST -H 'Transfer-Encoding: chunked' \
    --data-binary @"$T/big"
get /v1/token/dt
[[ $CODE == 200 && $(json 'd["access_token"]') == "$tok2" ]] || fail "the agent after the errors: $CODE"

step "p11jwt-token: token, --json, --header, exit codes"
# ptok_expect CODE ARGS...: exit code, and stderr one 'p11jwt-token: ' line on failure
ptok_expect() {
    local want=$1
    shift
    run_cmd ptok "$@"
    [[ $RC == "$want" ]] || fail "p11jwt-token $*: exit $RC, expected $want: $ERR"
    if ((want == 0)); then
        [[ -z $ERR ]] || fail "p11jwt-token $*: stderr on success: $ERR"
    else
        [[ $(wc -l <"$T/err") == 1 && $ERR == "p11jwt-token: "?????* ]] ||
            fail "p11jwt-token $*: stderr is not one 'p11jwt-token: ' line: $ERR"
    fi
}
ptok_expect 0 dt
[[ $OUT == "$tok2" ]] || fail "p11jwt-token printed '$OUT'"
ptok_expect 0 dt --header
[[ $OUT == "Authorization: Bearer $tok2" ]] || fail "--header printed '$OUT'"
ptok_expect 0 dt --json
BODY=$OUT
[[ $(json 'd["access_token"]') == "$tok2" && $(json 'd["headers"]["X-Trace"]') == trace-42 ]] ||
    fail "--json printed '$OUT'"
ptok_expect 1 nope
[[ $ERR == *"no profile 'nope'"* ]] || fail "unknown profile: $ERR"
ptok_expect 2
ptok_expect 2 dt --min-valid x
ptok_expect 2 dt --json --header
ptok_expect 2 dt extra
ptok_expect 2 dt --bogus
run_cmd timeout 10 "$P11JWT_TOKEN_BIN" --socket "$T/none.sock" dt
[[ $RC == 1 && $ERR == "p11jwt-token: cannot reach the agent at $T/none.sock"* ]] ||
    fail "no agent: exit $RC: $ERR"
P11JWT_AGENT_SOCKET=$SOCK run_cmd timeout 10 "$P11JWT_TOKEN_BIN" dt
[[ $RC == 0 && $OUT == "$tok2" ]] || fail "P11JWT_AGENT_SOCKET not used: $RC $ERR"

step "nothing secret in the agent's log; SIGTERM: exit 0"
stop_agent
[[ $AGENT_RC == 0 ]] || fail "the agent exited $AGENT_RC after SIGTERM"
[[ ! -e $SOCK ]] || fail "the agent left its socket behind"
check_log_clean "$AGENT_LOG" "$tok" "$tok2"
