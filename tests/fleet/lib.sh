# lib.sh — sourced by every fleet test (bash, set -euo pipefail), after
# tests/integration/lib.sh, tests/exchange/lib.sh and tests/agent/lib.sh:
#
#   source "$(dirname "$0")/../integration/lib.sh"
#   source "$(dirname "$0")/../exchange/lib.sh"
#   source "$(dirname "$0")/../agent/lib.sh"
#   source "$(dirname "$0")/lib.sh"
#
# On top of those, a REAL redis-server (Debian's) on a Unix socket in $T,
# stopped by pid on every exit path (also when a test left it SIGSTOPped),
# and two agents standing for two hosts: each its own process and its own
# copy of the config, sharing the SoftHSM token, the STS and Redis.
#
#   start_redis [ARGS...]     starts redis-server on $REDIS_SOCK; sets REDIS_PID
#   stop_redis                SIGCONT + SIGTERM, wait; SIGKILL after 10 s
#   rcli ARGS...              redis-cli on $REDIS_SOCK
#   fleet_setup [STS ARGS...] dt_setup, an A256GCM key `cachekey` in the token,
#                             Redis; fleet_profile NAME [LINE...] adds a dt
#                             profile with cache = redis+unix://$REDIS_SOCK
#   start_hosts               agents a and b, each on its own copy of $CONF;
#                             sets SOCK_A, SOCK_B, PID_A, PID_B, LOG_A, LOG_B
#   tok_at SOCK [PROFILE]     a token from the agent at SOCK
command -v redis-server >/dev/null 2>&1 || skip "redis-server is not installed"
command -v redis-cli >/dev/null 2>&1 || skip "redis-cli (redis-tools) is not installed"

REDIS_PID=
REDIS_SOCK=$T/redis.sock

fl_cleanup() {
    local rc=$?
    set +e
    [[ -n $REDIS_PID ]] && stop_redis
    (exit "$rc")
    ag_cleanup
}
trap fl_cleanup EXIT

start_redis() {
    local i
    rm -f "$REDIS_SOCK"
    redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
        --save '' --appendonly no --dir "$T" --logfile "$T/redis.log" "$@" &
    REDIS_PID=$!
    for ((i = 0; i < 100; i++)); do
        [[ -S $REDIS_SOCK ]] && rcli PING >/dev/null 2>&1 && return 0
        kill -0 "$REDIS_PID" 2>/dev/null || fail "redis-server died: $(tail -n 5 "$T/redis.log")"
        sleep 0.1
    done
    fail "redis-server did not answer within 10 s"
}

stop_redis() {
    local i
    kill -CONT "$REDIS_PID" 2>/dev/null
    kill -TERM "$REDIS_PID" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
    REDIS_PID=
}

rcli() { timeout 10 redis-cli -s "$REDIS_SOCK" "$@"; }

fleet_setup() {
    dt_setup "$@"
    expect_exit 0 p11jwt keygen "${TOK[@]}" --alg A256GCM --kid cachekey
    start_redis
}

fleet_profile() {
    local name=$1
    shift
    dt_profile "$name" "cache = redis+unix://$REDIS_SOCK" "cache_key = cachekey" "$@"
}

start_hosts() {
    local conf=$CONF
    cp "$conf" "$T/host-a.conf"
    cp "$conf" "$T/host-b.conf"
    CONF=$T/host-a.conf start_agent a
    SOCK_A=$SOCK PID_A=$AGENT_PID LOG_A=$AGENT_LOG
    CONF=$T/host-b.conf start_agent b
    SOCK_B=$SOCK PID_B=$AGENT_PID LOG_B=$AGENT_LOG
}

tok_at() { timeout 60 "$P11JWT_TOKEN_BIN" --socket "$1" "${2:-dt}"; }

# metric SOCK NAME [PROFILE]: a per-profile counter from /metrics.
metric() {
    curl -sS --max-time 10 --unix-socket "$1" http://agent/metrics |
        sed -n "s/^$2{profile=\"${3:-dt}\"} //p"
}

# assert_unreadable TOKEN...: no key or value in Redis (redis-cli --scan,
# then GET of each) holds any of the tokens, or any 12 characters of one.
assert_unreadable() {
    local k n=0
    : >"$T/redis.dump"
    for k in $(rcli --scan); do
        n=$((n + 1))
        printf '%s\n' "$k" >>"$T/redis.dump"
        rcli --raw GET "$k" >>"$T/redis.dump" 2>/dev/null || true
    done
    ((n > 0)) || fail "Redis holds no key at all"
    "$PYTHON" - "$T/redis.dump" "$@" <<'PY' || fail "Redis holds a readable token"
import sys
blob = open(sys.argv[1], "rb").read()
for tok in sys.argv[2:]:
    t = tok.encode()
    for i in range(len(t) - 11):
        if t[i:i + 12] in blob:
            sys.exit("12 characters of a token at offset %d are in Redis" % i)
PY
    step "Redis: $n key(s), no token or piece of one in any key or value"
}
