#!/usr/bin/env bash
# share.sh — one exchange per fleet: two agents (two hosts, each its own
# process and config copy) share the token through a real Redis. 20
# concurrent cold requests spread over both make exactly one STS exchange;
# a refresh window with both busy makes one more, for the whole fleet.
# Redis holds no readable token, and each host counts its Redis hits.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/../agent/lib.sh"
source "$(dirname "$0")/lib.sh"

fleet_setup
sts_control '{"expires_in": 100}'
fleet_profile dt "refresh_ahead = 80"
start_hosts

step "20 concurrent cold requests, 10 on each host"
pids=()
for ((i = 0; i < 20; i++)); do
    if ((i % 2)); then s=$SOCK_A; else s=$SOCK_B; fi
    tok_at "$s" >"$T/tok.$i" 2>"$T/err.$i" &
    pids+=($!)
done
for ((i = 0; i < 20; i++)); do
    wait "${pids[$i]}" || fail "request $i: $(cat "$T/err.$i")"
done
n=$(calls /dt/token)
((n == 1)) || fail "20 cold requests over two hosts: $n exchanges, expected 1"
step "STS exchanges for 20 cold requests over two hosts: $n"
first=$(cat "$T/tok.0")
for ((i = 1; i < 20; i++)); do
    [[ $(cat "$T/tok.$i") == "$first" ]] || fail "request $i got another token"
done
curl -sSf -o /dev/null -H "Authorization: Bearer $first" "$STS/dt/resource" ||
    fail "the shared token is refused by the resource"
hits=$(($(metric "$SOCK_A" p11jwt_agent_fleet_hits_total) + $(metric "$SOCK_B" p11jwt_agent_fleet_hits_total)))
((hits == 1)) || fail "one host should have taken the token from Redis, fleet hits: $hits"
assert_unreadable "$first"

step "a refresh window with both hosts busy"
# The token (expires_in 99) is due at expires_at - 80: keep both hosts busy
# from 2 s before to 5 s after (times from the token's own expiry, not from
# when the test asked: a loaded machine may take seconds to start 20
# clients). The refreshed token lives an hour, so that whatever a slow
# machine makes of the window, only this one refresh can fall in it.
exp=$(curl -sS --unix-socket "$SOCK_A" http://agent/v1/token/dt |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["expires_at"])')
due=$((exp - 80))
sts_control '{"expires_in": 3600}'
before=$(calls /dt/token) # the ask above refreshed already if the machine was that slow
while (($(date +%s) < due - 2)); do sleep 0.1; done
end=$((due + 5))
(($(date +%s) + 5 > end)) && end=$(($(date +%s) + 5))
for s in "$SOCK_A" "$SOCK_B"; do
    for ((j = 0; j < 2; j++)); do
        (while (($(date +%s) < end)); do
            tok_at "$s" >/dev/null || exit 1
            sleep 0.05
        done) &
        pids+=($!)
    done
done
for p in "${pids[@]:20}"; do wait "$p" || fail "a busy caller failed"; done
n=$(($(calls /dt/token) - before))
((n == 1)) || fail "one refresh window, both hosts busy: $n exchanges, expected 1"
step "STS exchanges for the fleet's refresh: $n"
a=$(tok_at "$SOCK_A")
b=$(tok_at "$SOCK_B")
[[ $a == "$b" && $a != "$first" ]] || fail "after the refresh the hosts hold different tokens"
assert_unreadable "$first" "$a"
for log in "$LOG_A" "$LOG_B"; do check_log_clean "$log" "$first" "$a"; done
errs=$(($(metric "$SOCK_A" p11jwt_agent_fleet_errors_total) + $(metric "$SOCK_B" p11jwt_agent_fleet_errors_total)))
((errs == 0)) || fail "Redis problems counted on a healthy fleet: $errs"

step "min_valid through Redis: a fleet token with less life left is due"
# The fleet's token has about an hour left. A host asking for more takes it
# as due: it exchanges (holding the fleet's lock) and stores the longer
# token; the other host, asking the same, finds that one in Redis.
sts_control '{"expires_in": 7200}'
before=$(calls /dt/token)
min_tok() {
    curl -sSf --max-time 60 --unix-socket "$1" "http://agent/v1/token/dt?min_valid=3700" |
        "$PYTHON" -c 'import json, sys, time
d = json.load(sys.stdin)
print(d["access_token"], d["expires_at"] - int(time.time()))'
}
read -r mb left_b < <(min_tok "$SOCK_B") || fail "host b: min_valid=3700 failed"
[[ $mb != "$a" ]] || fail "host b took the fleet's shorter-lived token for min_valid=3700"
((left_b >= 3700)) || fail "host b's token has $left_b s left, asked for 3700"
(($(calls /dt/token) == before + 1)) || fail "min_valid on host b: $(($(calls /dt/token) - before)) exchanges, expected 1"
read -r ma left_a < <(min_tok "$SOCK_A") || fail "host a: min_valid=3700 failed"
[[ $ma == "$mb" ]] || fail "host a did not take host b's longer-lived token from Redis"
(($(calls /dt/token) == before + 1)) || fail "host a exchanged instead of sharing"
assert_unreadable "$first" "$a" "$mb"

step "refresh_ahead through Redis: a host with a wider margin takes the token as due"
# The fleet's token has about 7200 s left and a refresh time 80 s before
# expiry; a host whose own refresh_ahead is wider than what is left
# exchanges (the CLI: a process with an empty memory cache).
sed 's/^refresh_ahead = .*/refresh_ahead = 7300/' "$T/host-a.conf" >"$T/wide.conf"
grep -q '^refresh_ahead = 7300$' "$T/wide.conf" || fail "no refresh_ahead line to change"
before=$(calls /dt/token)
expect_exit 0 x token --config "$T/host-a.conf" --profile dt
[[ $OUT == "$mb" ]] || fail "the CLI did not take the fleet's token"
(($(calls /dt/token) == before)) || fail "the CLI exchanged with the fleet's margin"
expect_exit 0 x token --config "$T/wide.conf" --profile dt
[[ $OUT != "$mb" ]] || fail "refresh_ahead = 7300 took a token with about 7200 s left from Redis"
(($(calls /dt/token) == before + 1)) || fail "refresh_ahead = 7300: no exchange"
