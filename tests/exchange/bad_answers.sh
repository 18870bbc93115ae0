#!/usr/bin/env bash
# bad_answers.sh — answers a client must survive: malformed JSON, a 200
# without a token, a 10 MB body (with and without Content-Length), a
# server that never answers, an HTML error page. Each must end in bounded
# time with exit 1 and one clear line.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

CLIENT=bad-app
(umask 077 && printf 'badAnswers%s\n' "$(rand_hex 12)" >"$T/cc.secret")
start_sts sts --client "$CLIENT=$T/cc.secret"

conf <<EOF
[profile cc]
dialect = client-credentials
token_url = $STS/cc/token
client_id = $CLIENT
client_secret_file = $T/cc.secret
max_retries = 0
timeout = 2
connect_timeout = 2

[profile cc-retry]
dialect = client-credentials
token_url = $STS/cc/token
client_id = $CLIENT
client_secret_file = $T/cc.secret
max_retries = 1
retry_base = 0.1
retry_max_delay = 0.5
timeout = 2
EOF

# bad ANSWER_JSON MAX_MS REGEX WHAT: the next answer is ANSWER_JSON; token
# must fail within MAX_MS with a message matching REGEX.
bad() {
    local t0
    sts_control "$1"
    t0=$(now_ms)
    expect_exit 1 x token --config "$CONF" --profile "${PROFILE:-cc}"
    assert_elapsed "$t0" "${MIN_MS:-0}" "$2" "$4"
    [[ -z $OUT ]] || fail "$4: printed '$OUT'"
    expect_err_matches "$3"
    step "$4: $ERR"
    sts_control '{"clear": true}'
}

step "malformed JSON in a 200"
bad '{"path": "/cc/token", "mode": "malformed"}' 10000 'json|malformed|parse' "malformed JSON"

step "a 200 without a token"
bad '{"path": "/cc/token", "status": 200, "body": {"token_type": "Bearer", "expires_in": 60}}' \
    10000 'access_token' "200 without access_token"
bad '{"path": "/cc/token", "status": 200, "body": "[1, 2, 3]"}' 10000 'json|object|access_token|malformed' \
    "200 with a JSON array"

step "values that would inject a header, or are not a bearer token: refused, not echoed"
ok='"token_type": "Bearer", "expires_in": 60'
bad '{"path": "/cc/token", "status": 200, "body": {"access_token": "tok\r\nX-Injected: yes", '"$ok"'}}' \
    10000 'not an RFC 6750 bearer token.*line break at offset 3' "CR LF in access_token"
grep -q "Injected" <<<"$ERR" && fail "the token is echoed: $ERR"
bad '{"path": "/cc/token", "status": 200, "body": {"access_token": "tok en", '"$ok"'}}' \
    10000 'bearer token.*a space at offset 3' "space in access_token"
bad '{"path": "/cc/token", "status": 200, "body": {"access_token": "t\u00e9k", '"$ok"'}}' \
    10000 'bearer token.*non-ASCII' "non-ASCII access_token"
bad '{"path": "/cc/token", "status": 200, "body": {"access_token": "ab=c", '"$ok"'}}' \
    10000 'bearer token.*offset 3' "= inside access_token"
bad '{"path": "/cc/token", "status": 200, "body": {"access_token": "abc", "token_type": "Bearer\nX: y", "expires_in": 60}}' \
    10000 'token type.*not printable ASCII' "LF in token_type"
bad '{"path": "/cc/token", "status": 200, "body": {"access_token": "abc", "scope": "a\u0001b", '"$ok"'}}' \
    10000 'scope.*control character' "control character in scope"
step "a token call never sends what a refused answer carried"
sts_control '{"path": "/cc/token", "status": 200, "body": {"access_token": "tok\r\nX-Injected: yes", "token_type": "Bearer", "expires_in": 600}}'
expect_exit 1 x call --config "$CONF" --profile cc "$STS/cc/resource"
[[ $(calls /cc/resource resource) -eq 0 ]] || fail "the resource was called"
sts_control '{"clear": true}'
expect_exit 1 x call --config "$CONF" --profile cc -H $'X-A: 1\r\nX-Injected: yes' "$STS/cc/resource"
expect_err_matches 'line break'
[[ $(calls /cc/resource resource) -eq 0 ]] || fail "the resource was called"
step "what every dialect issues is accepted: padded and JWT-shaped tokens"
sts_control '{"path": "/cc/token", "status": 200, "body": {"access_token": "a.b-c_d~e+f/g==", '"$ok"', "scope": "read write:all"}}'
expect_exit 0 x token --config "$CONF" --profile cc
[[ $OUT == "a.b-c_d~e+f/g==" ]] || fail "token: $OUT"
sts_control '{"clear": true}'

step "10 MB answers: refused as too large"
bad '{"path": "/cc/token", "mode": "big"}' 15000 'too (large|big|long)|larger than|exceed|limit' \
    "10 MB with Content-Length"
bad '{"path": "/cc/token", "mode": "big", "chunked": true}' 15000 'too (large|big|long)|larger than|exceed|limit' \
    "10 MB chunked"

step "a server that never answers: timeout = 2 ends it"
MIN_MS=1500 bad '{"path": "/cc/token", "mode": "hang"}' 10000 'time(d)? ?out|timeout' \
    "hang, timeout 2, no retries"
PROFILE=cc-retry MIN_MS=3000 bad '{"path": "/cc/token", "mode": "hang", "count": 5}' 15000 \
    'time(d)? ?out|timeout' "hang, timeout 2, one retry"

step "an HTML error page: the status, no garbage"
bad '{"path": "/cc/token", "status": 502, "headers": {"Content-Type": "text/html"},
  "body": "<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>"}' 10000 '502' "502 HTML"

step "the resource never answers: call ends in bounded time too"
sts_control '{"path": "/cc/resource", "mode": "hang"}'
t0=$(now_ms)
expect_exit 1 x call --config "$CONF" --profile cc "$STS/cc/resource"
assert_elapsed "$t0" 1500 10000 "call, resource hangs"
expect_err_matches 'time(d)? ?out|timeout'
sts_control '{"clear": true}'

step "a 10 MB resource answer"
sts_control '{"path": "/cc/resource", "mode": "big"}'
t0=$(now_ms)
rc=0
x call --config "$CONF" --profile cc "$STS/cc/resource" >"$T/big.out" 2>"$T/big.err" || rc=$?
assert_elapsed "$t0" 0 15000 "call, 10 MB resource answer"
# Either streamed through whole or refused in one line: never cut silently.
if [[ $rc -eq 0 ]]; then
    [[ $(stat -c %s "$T/big.out") -ge 10485760 ]] || fail "call exit 0 but printed only part of the body"
else
    [[ $(wc -l <"$T/big.err") -eq 1 ]] || fail "call on a 10 MB body: $(head -c 500 "$T/big.err")"
    step "refused: $(cat "$T/big.err")"
fi
sts_control '{"clear": true}'

step "after all that, a normal exchange"
expect_exit 0 x token --config "$CONF" --profile cc
