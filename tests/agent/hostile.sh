#!/usr/bin/env bash
# hostile.sh — clients that misbehave are each bounded, and the others are
# still served within 50 ms: malformed requests (answered 4xx or 505, or closed,
# never left hanging), a 1 MiB header (refused without being buffered),
# 1,000 idle connections from one uid (its cap is 64: the rest are closed
# at once, the 64 at the idle timeout), a client sending one byte a second
# (which resets any idle timeout: closed at the request deadline).
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null 2>&1 || skip "setpriv (util-linux) is not installed"
[[ $(id -u) == 0 ]] || skip "running clients as nobody needs root"

dt_setup
dt_profile dt
public_sockdir
start_agent_at "$SOCKDIR/agent.sock" a --socket-mode 0666 --request-timeout 3 \
    --max-connections 256 --max-connections-per-uid 64
client() { "$PYTHON" "$AG_DIR/agentclient.py" "$@"; }
ag -o /dev/null http://agent/v1/token/dt

# served WHAT: 20 hand-outs on new connections, every one within 50 ms.
# Up to 3 tries of 20: on this shared machine a load spike elsewhere can
# delay one try; an agent stalled by the hostile client delays all of them.
served() {
    local worst tries=()
    for _ in 1 2 3; do
        worst=$(client probe "$SOCK" /v1/token/dt 20) || fail "$1: a request failed"
        tries+=("$worst")
        if awk -v w="$worst" 'BEGIN { exit !(w <= 50) }'; then
            step "$1: others served, slowest of 20 hand-outs $worst ms (tries: ${tries[*]})"
            return 0
        fi
    done
    fail "$1: in each of 3 tries a hand-out took more than 50 ms (slowest per try: ${tries[*]} ms)"
}
metric() { ag http://agent/metrics | sed -n "s/^$1 //p"; }
threads() { sed -n 's/^Threads:\s*//p' "/proc/$AGENT_PID/status"; }
served "quiet"

step "malformed requests: 4xx or closed, never left hanging"
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
CRLF=$'\r\n'
cases=(
    "GARBAGE$CRLF$CRLF"
    "GET /v1/health HTTP/1.1${CRLF}Host: a${CRLF}Content-Length: abc$CRLF$CRLF"
    "GET /v1/health HTTP/9.9${CRLF}Host: a$CRLF$CRLF"
    "GET /v1/health HTTP/1.1${CRLF}Host: a${CRLF}Bad Header$CRLF$CRLF"
    "GET /v1/../../etc/passwd HTTP/1.1${CRLF}Host: a$CRLF$CRLF"
    "POST /v1/token/dt/invalidate HTTP/1.1${CRLF}Host: a${CRLF}Content-Length: 50$CRLF$CRLF{\"a\""
    "GET /v1/token/dt HTTP/1.1${CRLF}Host: a${CRLF}Transfer-Encoding: chunked$CRLF${CRLF}zz$CRLF"
)
for c in "${cases[@]}"; do
    ans=$(client raw "$SOCK" "$(hex "$c")")
    [[ $ans =~ ^HTTP/1\.[01]\ (4[0-9][0-9]|505) || $ans == closed ]] ||
        fail "malformed request $(printf '%q' "$c") got '$ans'"
done
ans=$(client raw "$SOCK" "$(hex "GET /v1/token/d")00$(hex "t HTTP/1.1${CRLF}Host: a$CRLF$CRLF")")
[[ $ans =~ ^HTTP/1\.[01]\ 4 || $ans == closed ]] || fail "a NUL in the request target got '$ans'"
long=$(head -c 100000 /dev/zero | tr '\0' a)
hex "GET /v1/token/$long HTTP/1.1${CRLF}Host: a$CRLF$CRLF" >"$T/long.hex"
ans=$(client raw "$SOCK" @"$T/long.hex")
[[ $ans =~ ^HTTP/1\.[01]\ 4 || $ans == closed ]] || fail "a 100 KB request line got '$ans'"
served "after malformed requests"

step "a 1 MiB header"
"$PYTHON" - "$T/big.hex" <<'PY'
import sys
head = b"GET /v1/health HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
open(sys.argv[1], "w").write(head.hex())
PY
elapsed_ms client raw "$SOCK" @"$T/big.hex" >"$T/big.ans"
[[ $(cat "$T/big.ans") =~ ^HTTP/1\.[01]\ 431 || $(cat "$T/big.ans") == closed ]] ||
    fail "1 MiB header: '$(cat "$T/big.ans")'"
((MS < 5000)) || fail "1 MiB header: answered after $MS ms"
step "1 MiB header: '$(cat "$T/big.ans")' after $MS ms"
served "after a 1 MiB header"

step "1,000 idle connections from nobody"
threads0=$(threads)
as_nobody "$PYTHON" "$AG_DIR/agentclient.py" idle "$SOCK" 1000 6 >"$T/idle.out" &
idler=$!
sleep 1.5
open=$(metric p11jwt_agent_connections)
refused=$(metric p11jwt_agent_connections_refused_total)
th=$(threads)
((open <= 80)) || fail "with 1,000 idle connections from one uid the agent holds $open"
((refused >= 900)) || fail "only $refused connections refused over the per-uid cap"
((th <= threads0 + 80)) || fail "the agent runs $th threads (was $threads0)"
step "idle flood: $open open, $refused refused at once, $th threads"
served "during 1,000 idle connections"
wait "$idler"
read -r accepted closed <"$T/idle.out"
((closed == accepted)) ||
    fail "after the request deadline $((accepted - closed)) of $accepted idle connections are still open"
grep -q 'connection refused: uid 65534 already has 64 connections' "$AGENT_LOG" ||
    fail "the per-uid cap is not logged"
(($(grep -c 'connection refused' "$AGENT_LOG") < 60)) || fail "refusals are not rate-limited in the log"

step "one byte a second"
as_nobody "$PYTHON" "$AG_DIR/agentclient.py" trickle "$SOCK" 1 >"$T/trickle.out" &
trickler=$!
sleep 1
served "during a trickling client"
wait "$trickler"
read -r secs sent <"$T/trickle.out"
dropped=$(metric p11jwt_agent_connections_dropped_total)
((dropped >= 1)) || fail "the trickling client's drop is not counted"
awk -v s="$secs" 'BEGIN { exit !(s >= 2.5 && s <= 6) }' ||
    fail "the trickling client was closed after $secs s (request deadline 3 s)"
step "trickling client closed after $secs s, $sent bytes"
kill -0 "$AGENT_PID" || fail "the agent died"
served "at the end"
stop_agent
[[ $AGENT_RC == 0 ]] || fail "agent exit $AGENT_RC"
