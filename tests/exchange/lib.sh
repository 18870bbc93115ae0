# lib.sh — sourced by every exchange test (bash, set -euo pipefail), right
# after tests/integration/lib.sh:
#
#   source "$(dirname "$0")/../integration/lib.sh"
#   source "$(dirname "$0")/lib.sh"
#
# On top of tests/integration/lib.sh (a FRESH SoftHSM token per test, the
# expect_exit / pycheck / fail / skip / step helpers, $T, $TOKEN, $PIN_FILE),
# this gives a test its own security-token service (tests/sts/sts.py) on a
# loopback port, killed when the test ends, and helpers to write a config
# file and to script and inspect the STS:
#
#   start_sts NAME [sts.py ARGS...]   starts an STS; sets STS (base URL),
#                                     STS_PORT, STS_CTL (where /_control and
#                                     /_stats answer), STS_LOG
#   sts_control JSON                  POST /_control
#   sts_stats                         GET /_stats (JSON on stdout)
#   calls PATH [token|resource]       how many requests PATH has received
#   conf <<EOF ... EOF                appends to the test's config file $CONF
#   x ARGS...                         the CLI, bounded by `timeout 60`
#   now_ms                            wall clock in milliseconds
EX_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
declare -F expect_exit >/dev/null || {
    echo "exchange/lib.sh: source tests/integration/lib.sh first" >&2
    exit 1
}

STS_PY=$P11JWT_SRC/tests/sts/sts.py
MKCERTS=$P11JWT_SRC/tests/sts/mkcerts.sh
[[ -r $STS_PY ]] || fail "STS not found at $STS_PY"
command -v curl >/dev/null 2>&1 || skip "curl is not installed (used to drive the test STS)"
command -v timeout >/dev/null 2>&1 || skip "timeout (coreutils) is not installed"

# Everything is on 127.0.0.1: no proxy may get in the way, and no config
# from the caller's environment may be picked up.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
unset P11JWT_CONFIG
export HOME=$T/home
mkdir -p "$HOME"

CONF=$T/p11jwt.conf
: >"$CONF"
STS_PIDS=()
STS_LOGS=()

ex_cleanup() {
    local rc=$? pid log
    set +e # errexit in a trap would end it at the first failing command
    for pid in "${STS_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STS_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $rc -ne 0 && $rc -ne 77 ]]; then
        for log in "${STS_LOGS[@]}"; do
            printf -- '--- last lines of %s:\n' "$log" >&2
            tail -n 25 "$log" >&2 || true
        done
    fi
    (exit "$rc")
    cleanup     # integration/lib.sh's: keeps $T on failure, exits with rc
}
trap ex_cleanup EXIT

now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
}

# The CLI, never allowed to hang the suite.
x() { timeout 60 "$P11JWT_BIN" "$@"; }

# start_sts NAME [ARGS...]
start_sts() {
    local name=$1 pid i scheme=http a
    shift
    for a in "$@"; do [[ $a == --tls-cert ]] && scheme=https; done
    rm -f "$T/$name.port" "$T/$name.ctl"
    STS_LOG=$T/$name.log
    "$PYTHON" "$STS_PY" --port-file "$T/$name.port" --control-port-file "$T/$name.ctl" \
        "$@" 2>"$STS_LOG" &
    pid=$!
    STS_PIDS+=("$pid")
    STS_LOGS+=("$STS_LOG")
    for ((i = 0; i < 100; i++)); do
        [[ -s $T/$name.port && -s $T/$name.ctl ]] && break
        kill -0 "$pid" 2>/dev/null || fail "STS $name died: $(tail -n 5 "$STS_LOG")"
        sleep 0.1
    done
    [[ -s $T/$name.port ]] || fail "STS $name did not start in 10 s"
    STS_PORT=$(cat "$T/$name.port")
    STS=$scheme://127.0.0.1:$STS_PORT
    STS_CTL=http://127.0.0.1:$(cat "$T/$name.ctl")
}

sts_control() {
    curl -sS --noproxy '*' --fail -H 'Content-Type: application/json' \
        -d "$1" "${2:-$STS_CTL}/_control" >/dev/null || fail "STS control '$1' failed"
}

sts_stats() {
    curl -sS --noproxy '*' --fail "${1:-$STS_CTL}/_stats" || fail "STS stats failed"
}

# calls PATH [token|resource]: requests PATH received so far.
calls() {
    local kind=${2:-token}
    sts_stats | "$PYTHON" -c '
import json, sys
print(json.load(sys.stdin)[sys.argv[2] + "_calls"].get(sys.argv[1], 0))' "$1" "$kind"
}

conf() { cat >>"$CONF"; }

# A secret file as a provider hands it out: random text and a newline.
make_secret() {
    (umask 077 && head -c 36 /dev/urandom | base64 | tr -d '\n/+' >"$1" && echo >>"$1")
}

# The CLI must know the exchange commands, else there is nothing to test.
"$P11JWT_BIN" token --help >/dev/null 2>&1 ||
    fail "'p11jwt token --help' does not work: the exchange commands are missing"

# assert_elapsed START_MS MIN_MS MAX_MS WHAT
assert_elapsed() {
    local el=$(($(now_ms) - $1))
    ((el >= $2)) || fail "$4: took ${el} ms, expected at least $2 ms"
    ((el <= $3)) || fail "$4: took ${el} ms, expected at most $3 ms"
    step "$4: ${el} ms"
}

# expect_usage CMD [ARG...]: a usage error, exit 2, one "p11jwt: " line
# (optionally followed by the fixed "Try 'p11jwt CMD --help'." line).
expect_usage() {
    local rc=0 what
    local -a lines
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
    what=$(printf '%q ' "$@")
    [[ $rc -eq 2 ]] || fail "expected exit 2 (usage), got $rc: $what: $ERR"
    mapfile -t lines <"$T/err"
    if [[ ${#lines[@]} -eq 2 && ${lines[1]} =~ ^Try\ \'p11jwt\ [a-z-]+\ --help\'\.$ ]]; then
        lines=("${lines[0]}")
    fi
    [[ ${#lines[@]} -eq 1 && ${lines[0]} == "p11jwt: "?* ]] ||
        fail "usage error: stderr should be one 'p11jwt: ' line (+ the Try line): $what: $ERR"
}
