#!/usr/bin/env bash
# invalidate.sh — the 401 path with many callers: every caller holds the
# same token, the resource starts answering 401 (the STS revoked it), and
# each caller does what docs/agent.md says — invalidate that token, ask
# again, retry. However many callers invalidate the same token, the agent
# makes exactly one new exchange, and every retry succeeds.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"
command -v flock >/dev/null 2>&1 || skip "flock (util-linux) is not installed"

dt_setup
dt_profile dt
start_agent a
tok=$(ptok dt)
curl -sSf -o /dev/null -H "Authorization: Bearer $tok" "$STS/dt/resource" || fail "resource refused"
before=$(calls /dt/token)
sts_control '{"revoke_all": true}'

# One caller: the resource says 401, the caller invalidates and retries.
cat >"$T/caller.sh" <<'SH'
set -eu
auth=$("$1" --socket "$2" dt --header)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$3/dt/resource")
[ "$code" = 401 ] || { echo "first call: $code, expected 401" >&2; exit 1; }
tok=${auth#Authorization: Bearer }
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$2" -X POST \
    -d "{\"access_token\": \"$tok\"}" http://agent/v1/token/dt/invalidate)
[ "$code" = 204 ] || { echo "invalidate: $code" >&2; exit 1; }
auth=$("$1" --socket "$2" dt --header)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$3/dt/resource")
[ "$code" = 200 ] || { echo "retry: $code" >&2; exit 1; }
SH

step "20 callers see the 401 at once"
exec 9>"$T/go"
flock -x 9
pids=()
for ((i = 0; i < 20; i++)); do
    flock -s "$T/go" sh "$T/caller.sh" "$P11JWT_TOKEN_BIN" "$SOCK" "$STS" 2>"$T/err.$i" &
    pids+=($!)
done
sleep 1
flock -u 9
exec 9>&-
for ((i = 0; i < 20; i++)); do
    wait "${pids[$i]}" || fail "caller $i: $(cat "$T/err.$i")"
done
after=$(calls /dt/token)
(((after - before) == 1)) ||
    fail "20 callers invalidating the same token: $((after - before)) new exchanges, expected 1"
step "new exchanges after 20 invalidations of one token: $((after - before))"
[[ $(ptok dt) != "$tok" ]] || fail "the revoked token is still handed out"
stop_agent
[[ $AGENT_RC == 0 ]] || fail "agent exit $AGENT_RC"
