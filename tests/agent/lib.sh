# lib.sh — sourced by every agent test (bash, set -euo pipefail), after
# tests/integration/lib.sh and tests/exchange/lib.sh:
#
#   source "$(dirname "$0")/../integration/lib.sh"
#   source "$(dirname "$0")/../exchange/lib.sh"
#   source "$(dirname "$0")/lib.sh"
#
# On top of those (a FRESH SoftHSM token, the test STS, $CONF, expect_exit,
# pycheck, calls, sts_control), this runs the REAL agent (`p11jwt agent`)
# on a socket in $T and stops it by pid on every exit path:
#
#   start_agent NAME [ARGS...]   starts it on $T/NAME.sock with --config $CONF;
#                                waits until it answers; sets AGENT_PID, SOCK,
#                                AGENT_LOG
#   stop_agent [PID]             SIGTERM, wait (<= 15 s); exit code in AGENT_RC
#   ag ARGS...                   curl on the agent's socket (URL http://agent/...)
#   ptok ARGS...                 p11jwt-token --socket $SOCK, bounded by timeout
#   dt_setup [STS ARGS...]       an HS256 secret k1 in the token and an STS that
#                                knows it; dt_profile NAME [LINE...] adds a profile
#   elapsed_ms CMD...            runs CMD; its wall time in ms in $MS
AG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
declare -F start_sts >/dev/null || {
    echo "agent/lib.sh: source tests/exchange/lib.sh first" >&2
    exit 1
}
P11JWT_TOKEN_BIN=${P11JWT_TOKEN_BIN:-$(dirname "$P11JWT_BIN")/p11jwt-token}
[[ -x $P11JWT_TOKEN_BIN ]] || fail "p11jwt-token not found at $P11JWT_TOKEN_BIN"
unset P11JWT_AGENT_SOCKET XDG_RUNTIME_DIR NOTIFY_SOCKET LISTEN_FDS LISTEN_PID JOURNAL_STREAM

AGENT_PIDS=()
AGENT_LOGS=()
AG_DIRS=()

ag_cleanup() {
    local rc=$? pid i log
    set +e # errexit in a trap would end it at the first failing command
    for pid in "${AGENT_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${AGENT_PIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ $rc -ne 0 && $rc -ne 77 ]]; then
        for log in "${AGENT_LOGS[@]}"; do
            printf -- '--- last lines of %s:\n' "$log" >&2
            tail -n 30 "$log" >&2 || true
        done
    fi
    for log in "${AG_DIRS[@]}"; do
        rm -rf "$log"
    done
    (exit "$rc")
    ex_cleanup
}
trap ag_cleanup EXIT

ag() { curl -sS --max-time 60 --unix-socket "$SOCK" "$@"; }
ptok() { timeout 60 "$P11JWT_TOKEN_BIN" --socket "$SOCK" "$@"; }

# wait_agent PID: until the socket answers /v1/health (10 s; 60 under ASan).
wait_agent() {
    local pid=$1 i
    for ((i = 0; i < 600; i++)); do
        if [[ -S $SOCK ]] && curl -s --max-time 5 -o /dev/null --unix-socket "$SOCK" \
            http://agent/v1/health 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || fail "the agent exited before answering: $(cat "$AGENT_LOG")"
        sleep 0.1
    done
    fail "the agent did not answer on $SOCK within 60 s"
}

start_agent() {
    local name=$1
    shift
    SOCK=$T/$name.sock
    AGENT_LOG=$T/$name.agent.log
    "$P11JWT_BIN" agent --config "$CONF" --socket "$SOCK" "$@" 2>"$AGENT_LOG" &
    AGENT_PID=$!
    AGENT_PIDS+=("$AGENT_PID")
    AGENT_LOGS+=("$AGENT_LOG")
    wait_agent "$AGENT_PID"
}

stop_agent() {
    local pid=${1:-$AGENT_PID} i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && fail "the agent (pid $pid) did not stop within 15 s of SIGTERM"
    AGENT_RC=0
    wait "$pid" || AGENT_RC=$?
}

dt_setup() {
    make_secret "$T/k1.secret"
    expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid k1 --alg HS256 --secret-file "$T/k1.secret"
    start_sts sts --secret "k1=$T/k1.secret" "$@"
}

dt_profile() {
    local name=$1
    shift
    printf '\n[profile %s]\ndialect = dt\ntoken = %s\npin_file = %s\nkid = k1\n' \
        "$name" "$TOKEN" "$PIN_FILE" >>"$CONF"
    printf 'iss = svc@example.com\ntoken_url = %s/dt/token\n' "$STS" >>"$CONF"
    (($# == 0)) || printf '%s\n' "$@" >>"$CONF"
}

# public_sockdir: a directory other users can reach ($T is 0700), for tests
# that run clients as nobody; removed at exit. Sets SOCKDIR.
public_sockdir() {
    SOCKDIR=$(mktemp -d /tmp/p11jwt-agent-test.XXXXXX)
    AG_DIRS+=("$SOCKDIR")
    chmod 0755 "$SOCKDIR"
}

# start_agent_at PATH NAME [ARGS...]: start_agent on a socket outside $T.
start_agent_at() {
    local path=$1 name=$2
    shift 2
    SOCK=$path
    AGENT_LOG=$T/$name.agent.log
    "$P11JWT_BIN" agent --config "$CONF" --socket "$SOCK" "$@" 2>"$AGENT_LOG" &
    AGENT_PID=$!
    AGENT_PIDS+=("$AGENT_PID")
    AGENT_LOGS+=("$AGENT_LOG")
    wait_agent "$AGENT_PID"
}

# as_nobody CMD...: runs CMD as uid/gid 65534 (nobody), no other groups.
as_nobody() {
    setpriv --reuid 65534 --regid 65534 --clear-groups -- "$@"
}

# wait_log REGEX [SECONDS]: until the agent's log has a line matching REGEX.
wait_log() {
    local i
    for ((i = 0; i < ${2:-30} * 10; i++)); do
        grep -Eq -- "$1" "$AGENT_LOG" && return 0
        sleep 0.1
    done
    fail "no line matching /$1/ in the agent's log: $(tail -n 5 "$AGENT_LOG")"
}

elapsed_ms() {
    local t0
    t0=$(now_ms)
    "$@"
    MS=$(($(now_ms) - t0))
}

# The agent's log must never hold a token, a secret or a PIN.
check_log_clean() {
    local log=${1:-$AGENT_LOG} tok
    grep -qF -- "$(cat "$PIN_FILE")" "$log" && fail "the agent's log holds the PIN"
    for tok in "${@:2}"; do
        grep -qF -- "$tok" "$log" && fail "the agent's log holds a token or secret"
    done
    [[ -f $T/k1.secret ]] && grep -qF -- "$(head -c 40 "$T/k1.secret")" "$log" &&
        fail "the agent's log holds the HMAC secret"
    return 0
}
