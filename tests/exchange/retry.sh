#!/usr/bin/env bash
# retry.sh — transient failures of the STS are retried with backoff,
# honouring Retry-After, a bounded number of times; each retry of a
# signing dialect carries a FRESH assertion (a new jti: an STS that saw the
# first one may refuse a replay). Every case finishes in bounded time.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

CLIENT=retry-app
(umask 077 && printf 'retrySecret%s\n' "$(rand_hex 12)" >"$T/cc.secret")
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid pkj-r
export_jwks "$T/jwks.json"
start_sts sts --client "$CLIENT=$T/cc.secret" --jwks "$T/jwks.json" --iss-allowed "$CLIENT"

conf <<EOF
[profile cc]
dialect = client-credentials
token_url = $STS/cc/token
client_id = $CLIENT
client_secret_file = $T/cc.secret
auth_method = post-form
max_retries = 3
timeout = 10

[profile cc2]
dialect = client-credentials
token_url = $STS/cc/token
client_id = $CLIENT
client_secret_file = $T/cc.secret
max_retries = 2
retry_base = 0.2
retry_max_delay = 1
timeout = 10

[profile pkj]
dialect = private-key-jwt
token = $TOKEN
pin_file = $PIN_FILE
kid = pkj-r
token_url = $STS/pkj/token
client_id = $CLIENT
max_retries = 3
EOF

# attempt PROFILE EXIT MIN_MS MAX_MS WHAT: runs `token`, checks the exit
# code and the time taken; DT = token requests it caused.
attempt() {
    local prof=$1 want=$2 lo=$3 hi=$4 what=$5 c0 t0 path=/cc/token
    [[ $prof == pkj ]] && path=/pkj/token
    c0=$(calls "$path")
    t0=$(now_ms)
    expect_exit "$want" x token --config "$CONF" --profile "$prof"
    assert_elapsed "$t0" "$lo" "$hi" "$what"
    DT=$(($(calls "$path") - c0))
}

# gaps PATH N: the N last requests to PATH, their spacing in ms.
gaps() {
    sts_stats | "$PYTHON" -c '
import json, sys
rs = [q for q in json.load(sys.stdin)["requests"] if q["path"] == sys.argv[1]][-int(sys.argv[2]):]
print(" ".join(str(int((b["t"] - a["t"]) * 1000)) for a, b in zip(rs, rs[1:])))' "$1" "$2"
}

step "503 with Retry-After: 1, then success"
sts_control '{"path": "/cc/token", "status": 503, "headers": {"Retry-After": "1"},
  "body": {"error": "temporarily_unavailable"}, "count": 1}'
attempt cc 0 900 15000 "503 + Retry-After 1"
[[ $DT == 2 ]] || fail "503 once: $DT token requests, expected 2"
g=$(gaps /cc/token 2)
((g >= 950)) || fail "Retry-After: 1 not honoured: the retry came after ${g} ms"

step "429 with Retry-After: 1, then success"
sts_control '{"path": "/cc/token", "status": 429, "headers": {"Retry-After": "1"},
  "body": {"error": "slow_down"}, "count": 1}'
attempt cc 0 900 15000 "429 + Retry-After 1"
[[ $DT == 2 ]] || fail "429 once: $DT token requests, expected 2"
g=$(gaps /cc/token 2)
((g >= 950)) || fail "Retry-After: 1 not honoured on 429: the retry came after ${g} ms"

step "connection closed without an answer, once, then success"
sts_control '{"path": "/cc/token", "mode": "close", "count": 1}'
attempt cc 0 0 15000 "closed once"
[[ $DT == 2 ]] || fail "closed once: $DT token requests, expected 2"

step "500 twice, then success (backoff, no Retry-After)"
sts_control '{"path": "/cc/token", "status": 500, "body": "oops", "count": 2}'
attempt cc 0 0 20000 "500 twice"
[[ $DT == 3 ]] || fail "500 twice: $DT token requests, expected 3"

step "always closed: gives up after max_retries, one clear line"
sts_control '{"path": "/cc/token", "mode": "close", "count": 50}'
attempt cc2 1 0 20000 "always closed, max_retries 2"
[[ $DT == 3 ]] || fail "always closed, max_retries 2: $DT token requests, expected 3"
sts_control '{"clear": true}'

step "always 503: gives up after max_retries, the status in the message"
sts_control '{"path": "/cc/token", "status": 503, "body": {"error": "temporarily_unavailable"}, "count": 50}'
attempt cc2 1 0 20000 "always 503, max_retries 2"
[[ $DT == 3 ]] || fail "always 503, max_retries 2: $DT token requests, expected 3"
expect_err_matches '503'
sts_control '{"clear": true}'

step "400 invalid_request is final: not retried"
sts_control '{"path": "/cc/token", "status": 400, "body": {"error": "invalid_request", "error_description": "nope"}, "count": 5}'
attempt cc 1 0 10000 "400"
[[ $DT == 1 ]] || fail "400: $DT token requests, expected 1"
expect_err_matches 'invalid_request'
sts_control '{"clear": true}'

step "private-key-jwt: each retry sends a fresh client assertion"
# 503 first (the connection stays open), then the STS closes that kept-alive
# connection without answering: whoever resends - p11jwt's retry loop or
# libcurl on a dead reused connection - must not resend the same jti.
sts_control '{"path": "/pkj/token", "status": 503, "headers": {"Retry-After": "1"}, "count": 1}'
sts_control '{"path": "/pkj/token", "mode": "close", "count": 1}'
attempt pkj 0 900 20000 "pkj: 503, then closed, then success"
((DT >= 3)) || fail "pkj: $DT token requests, expected at least 3"
sts_stats >"$T/stats.json"
pycheck "$T/stats.json" "$DT" <<'PY'
import json, sys
from itlib import *
n = int(sys.argv[2])
rs = [q for q in json.load(open(sys.argv[1]))["requests"] if q["path"] == "/pkj/token"][-n:]
shas = [q["assertion_sha"] for q in rs]
what = [q.get("scripted") or q.get("status") for q in rs]
check(None not in shas, f"a request without a client assertion: {rs}")
check(rs[-1]["status"] == 200, f"{rs[-1]}")
dup = [i for i in range(1, n) if shas[i] in shas[:i]]
check(not dup, "the STS received the same client assertion (same jti) twice: requests "
      f"{what}, assertion hashes {shas}; request #{dup[0] + 1 if dup else 0} repeats an earlier one "
      "(a resend after the STS closed a reused connection)")
PY
