#!/usr/bin/env bash
# fork.sh — fork() while the refresher's fleet refill waits on Redis
# (issue 15): the process forks with its refresher blocked in a Redis
# command (redis-server SIGSTOPped), holding the connection's lock. The
# child must not inherit that lock held: its own refresher refreshes (from
# Redis, or by an exchange of its own), and so does the parent once Redis
# answers again; the STS sees every jti once. Library client, public API
# (tests/exchange/refresh_bg.c, fork mode).
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/../agent/lib.sh"
source "$(dirname "$0")/lib.sh"

BG_BIN=${REFRESH_BG_BIN:-$(dirname "$P11JWT_BIN")/tests/exchange/exchange_refresh_bg}
[[ -x $BG_BIN ]] || fail "refresh_bg test program not found at $BG_BIN (set REFRESH_BG_BIN)"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid fk-key
export_jwks "$T/jwks.json"
fleet_setup --jwks "$T/jwks.json" --iss-allowed fk-client
sts_control '{"expires_in": 12}'
printf '[profile fk]\ndialect = private-key-jwt\ntoken = %s\npin_file = %s\nkid = fk-key\n' \
    "$TOKEN" "$PIN_FILE" >>"$CONF"
printf 'token_url = %s/pkj/token\nclient_id = fk-client\n' "$STS" >>"$CONF"
# A Redis command waits up to 20 s: the refresher is still in it at the fork.
printf 'cache = redis+unix://%s\ncache_key = cachekey\n' "$REDIS_SOCK" >>"$CONF"
printf 'refresh_ahead = 6\ncache_timeout = 20s\nmax_retries = 1\n' >>"$CONF"

# wait_file PATH: until PATH exists (the program's stages), at most 30 s.
wait_file() {
    local i
    for ((i = 0; i < 300; i++)); do
        [[ -e $1 ]] && return 0
        kill -0 "$pid" 2>/dev/null || fail "refresh_bg exited before $(basename "$1"): $(cat "$T/fork.err")"
        sleep 0.1
    done
    fail "refresh_bg never reached $(basename "$1")"
}

step "fork() with the refresher blocked in a Redis command"
mkdir "$T/stage"
timeout 60 "$BG_BIN" "$CONF" fk fork "$T/stage" >"$T/fork.out" 2>"$T/fork.err" &
pid=$!
wait_file "$T/stage/first"
# The first token is out; its refresh is due 5 s later. Redis stops
# answering: the refresher's first Redis command, when the refresh is due,
# waits (holding the connection) until it answers again.
kill -STOP "$REDIS_PID"
wait_file "$T/stage/forked"
n_fork=$(calls /pkj/token)
kill -CONT "$REDIS_PID"
rc=0
wait "$pid" || rc=$?
((rc == 0)) || fail "refresh_bg fork exited $rc (124: a process hung): $(cat "$T/fork.err")"
step "$(cat "$T/fork.out")"
sts_stats >"$T/stats.json"
pycheck "$T/stats.json" "$(cat "$T/fork.out")" "$n_fork" <<'PY'
import json, sys
from itlib import check
st = json.load(open(sys.argv[1]))
ids = dict(kv.split("=") for kv in sys.argv[2].split())
# The refresh in flight at the fork had not reached the STS: it was in Redis.
check(sys.argv[3] == "1", f"{sys.argv[3]} token requests when the process forked, expected 1")
check(ids["parent"] != ids["old"] and ids["child"] != ids["old"], f"not refreshed: {ids}")
reqs = [q for q in st["requests"] if q["path"] == "/pkj/token"]
check(all(q.get("status") == 200 for q in reqs), f"a token request was refused: {reqs}")
jtis = [a["payload"]["jti"] for a in st["assertions"] if a["path"] == "/pkj/token"]
check(len(jtis) == len(reqs) and len(set(jtis)) == len(jtis), f"jtis repeat: {jtis}")
print(f"token requests: {len(reqs)}, parent and child "
      f"{'share the fleet token' if ids['parent'] == ids['child'] else 'each made their own'}")
PY
