#!/usr/bin/env bash
# sts_down.sh — the STS goes away. A valid cached token is still handed
# out; a profile with no token answers 503 naming the cause within the
# profile's timeouts, and health says so (state error, last_error) without
# a token in it; an STS that refuses is a 502 with its error and
# description; a profile whose background refresh fails keeps handing out
# its valid token while health shows the refresh's error (issue 15); when
# the STS is back, the next request gets a token.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

dt_setup
fast=('timeout = 2' 'connect_timeout = 1' 'max_retries = 1' 'retry_base = 0.1' 'retry_max_delay = 0.2')
dt_profile warm "${fast[@]}"
dt_profile cold "${fast[@]}"
# Due for refresh as soon as it is handed out: each hand-out wakes the
# refresher (the STS's tokens last an hour).
dt_profile bg "${fast[@]}" 'refresh_ahead = 3600'
start_agent a

get() {
    CODE=$(ag -o "$T/body" -w '%{http_code}' "http://agent$1")
    BODY=$(cat "$T/body")
}

get /v1/token/warm
[[ $CODE == 200 ]] || fail "warm: $CODE $BODY"
tok=$BODY
get /v1/token/bg
[[ $CODE == 200 ]] || fail "bg: $CODE $BODY"

step "the STS refuses: 502 with its error and description"
sts_control '{"path": "/dt/token", "status": 400, "count": 1,
  "body": {"error": "invalid_grant", "error_description": "Untrusted entity. Check the iss."}}'
get /v1/token/cold
[[ $CODE == 502 ]] || fail "refused exchange: HTTP $CODE, expected 502: $BODY"
grep -q '"error":"sts_refused"' <<<"$BODY" && grep -q 'invalid_grant' <<<"$BODY" &&
    grep -q 'Untrusted entity' <<<"$BODY" || fail "502 body does not name the STS's error: $BODY"

step "the STS is down"
port=$STS_PORT
kill "${STS_PIDS[0]}"
wait "${STS_PIDS[0]}" 2>/dev/null || true
STS_PIDS=()
get /v1/token/warm
[[ $CODE == 200 && $BODY == "$tok" ]] || fail "a valid token was not handed out with the STS down: $CODE"
elapsed_ms get /v1/token/cold
[[ $CODE == 503 ]] || fail "no token and no STS: HTTP $CODE, expected 503: $BODY"
grep -q '"error":"sts_unavailable"' <<<"$BODY" || fail "503 body: $BODY"
grep -Eqi "connect|refused" <<<"$BODY" || fail "the 503 does not name the cause: $BODY"
# 2 attempts, each within connect_timeout 1 s, and one backoff <= 0.2 s
((MS < 5000)) || fail "the 503 took $MS ms; the profile's timeouts allow about 2.5 s"
step "503 after $MS ms: $(sed -n 's/.*"message":"\([^"]*\)".*/\1/p' <<<"$BODY")"
get /v1/health
pycheck "$BODY" <<'PY'
import json, sys
from itlib import check
d = json.loads(sys.argv[1])["profiles"]
check(d["warm"]["state"] == "valid", f"warm: {d['warm']}")
check(d["cold"]["state"] == "error" and d["cold"]["expires_at"] is None, f"cold: {d['cold']}")
check("connect" in d["cold"]["last_error"].lower(), f"cold last_error: {d['cold']}")
PY
grep -qF -- "$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$tok")" <<<"$BODY" &&
    fail "health holds a token"

step "a background refresh fails: the valid token is still handed out, health shows the error"
for ((i = 0; i < 100; i++)); do
    get /v1/token/bg
    [[ $CODE == 200 ]] || fail "bg: a valid token was not handed out while its refresh failed: $CODE $BODY"
    get /v1/health
    grep -q '"bg":{[^}]*"last_error":"' <<<"$BODY" && break
    sleep 0.1
done
pycheck "$BODY" <<'PY'
import json, sys
from itlib import check
bg = json.loads(sys.argv[1])["profiles"]["bg"]
check(bg["state"] in ("valid", "refreshing") and bg["expires_at"] is not None,
      f"bg while its token is valid: {bg}")
check(bg["last_error"] is not None and "connect" in bg["last_error"].lower(),
      f"bg: the background refresh's error is not shown: {bg}")
PY

step "the STS is back: the next request gets a token"
start_sts sts2 --port "$port" --secret "k1=$T/k1.secret"
get /v1/token/cold
[[ $CODE == 200 ]] || fail "STS back: $CODE $BODY"
stop_agent
[[ $AGENT_RC == 0 ]] || fail "agent exit $AGENT_RC"
