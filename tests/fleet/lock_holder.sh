#!/usr/bin/env bash
# lock_holder.sh — the host holding the fleet's refresh lock dies in the
# middle of a slow exchange (the STS takes 20 s to answer). The other host,
# which has no token, waits for the entry; once cache_lock (3 s) passes,
# the dead host's lock expires and it exchanges itself. Its request does
# not fail, and takes about cache_lock, not the dead host's 20 s.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/../agent/lib.sh"
source "$(dirname "$0")/lib.sh"

fleet_setup
fleet_profile dt "cache_lock = 3"
start_hosts
sts_control '{"path": "/dt/token", "mode": "delay", "seconds": 20, "count": 1}'

step "host a takes the lock and exchanges slowly"
tok_at "$SOCK_A" >/dev/null 2>&1 &
apid=$!
for ((i = 0; i < 100; i++)); do
    [[ -n $(rcli --scan --pattern '*:lock') ]] && break
    sleep 0.05
done
[[ -n $(rcli --scan --pattern '*:lock') ]] || fail "host a did not take the fleet's lock"
t0=$(now_ms)

step "host b asks, with no token anywhere: it waits"
tok_at "$SOCK_B" >"$T/b.tok" 2>"$T/b.err" &
bpid=$!
sleep 1
kill -0 "$bpid" 2>/dev/null || fail "host b did not wait for the lock: $(cat "$T/b.err")"

step "host a dies holding the lock"
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null || true
wait "$apid" 2>/dev/null || true

wait "$bpid" || fail "host b's request failed: $(cat "$T/b.err")"
el=$(($(now_ms) - t0))
((el >= 2000 && el <= 3000 + 5000)) ||
    fail "host b got its token $el ms after a took the lock; expected cache_lock (3 s) + an exchange"
step "host b exchanged after the dead host's lock expired: $el ms after it was taken"
curl -sSf -o /dev/null -H "Authorization: Bearer $(cat "$T/b.tok")" "$STS/dt/resource" ||
    fail "host b's token is refused by the resource"
(($(calls /dt/token) == 2)) ||
    fail "expected 2 exchanges (a's unfinished one, b's), got $(calls /dt/token)"
[[ -n $(rcli --scan --pattern '*:lock') ]] && fail "host b left the fleet's lock behind"
assert_unreadable "$(cat "$T/b.tok")"
