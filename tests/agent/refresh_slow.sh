#!/usr/bin/env bash
# refresh_slow.sh — the agent's token is due for refresh and the STS holds
# that refresh until the test lets it go (a slow STS): no caller waits for
# it (issue 15). STS tokens of 30 s, refresh_ahead 27 s, two callers asking
# every 20 ms on their own connections.
#
# Checked by counts and order, not by how long a hand-out took: while the
# refresh is held (from its arrival at the STS to its release), EACH caller
# keeps being handed the old token; the new one appears only after the
# release and before the old one expires; one token request in flight.
# A caller that waited for the refresh would be stuck until the release.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

dt_setup --expires-in 31     # dt answers expires_in = lifetime - 1: 30 s
dt_profile dt 'refresh_ahead = 27' 'timeout = 10' 'max_retries = 2' 'retry_base = 0.1' \
    'retry_max_delay = 0.5'
start_agent a
[[ $(ag -o /dev/null -w '%{http_code}' http://agent/v1/token/dt) == 200 ]] || fail "first token"
sts_control '{"reset_stats": true}'
# The next token request (the refresh, due 3 s from now) is held.
sts_control '{"path": "/dt/token", "mode": "hold", "seconds": 60, "count": 1}'

step "2 callers every 20 ms; the refresh is held at the STS for 3 s"
"$PYTHON" "$AG_DIR/agentclient.py" poll "$SOCK" dt 0.02 14 2 "$T/poll.jsonl" &
poller=$!
held=0
for ((i = 0; i < 200; i++)); do
    sts_stats >"$T/stats.json"
    held=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["held"].get("/dt/token", 0))' "$T/stats.json")
    [[ $held == 1 ]] && break
    sleep 0.1
done
[[ $held == 1 ]] || fail "the refresh never reached the STS"
sleep 3
t_release=$EPOCHREALTIME
sts_control '{"release": "/dt/token"}'
wait "$poller" || fail "the poller failed"
sts_stats >"$T/stats.json"
pycheck "$T/poll.jsonl" "$T/stats.json" "$t_release" <<'PY'
import json, sys
from itlib import check
rows = [json.loads(l) for l in open(sys.argv[1])]
st = json.load(open(sys.argv[2]))
release = float(sys.argv[3])
reqs = [q for q in st["requests"] if q["path"] == "/dt/token" and q["t"] <= release]
check(len(reqs) == 1, f"{len(reqs)} token requests while held: expected the one refresh")
check(st["max_inflight"].get("/dt/token") == 1, f"max_inflight {st['max_inflight']}")
arrival = reqs[0]["t"]
bad = [r for r in rows if r["status"] != 200]
check(not bad, f"{len(bad)} requests failed: {bad[:3]}")
expired = [r for r in rows if r["expires_at"] <= int(r["t"])]
check(not expired, f"{len(expired)} hand-outs of an expired token: {expired[:3]}")
old = rows[0]["tok"]
during = [r for r in rows if r["t"] >= arrival and r["t"] + r["ms"] / 1000 <= release]
for c in (0, 1):
    n = sum(1 for r in during if r["c"] == c)
    check(n >= 5, f"caller {c} was handed {n} tokens while the refresh was held: it waited")
check(all(r["tok"] == old for r in during), "a new token before the STS answered")
new = [r for r in rows if r["tok"] != old]
check(new, "the new token never appeared after the release")
check(new[0]["t"] + new[0]["ms"] / 1000 >= release, "a new token before the release")
check(new[0]["t"] < rows[0]["expires_at"], "the new token came after the old one expired")
late = [r for r in rows if r["t"] > new[0]["t"] + 1 and r["tok"] == old]
check(not late, f"the old token handed out after the new one was out: {late[:2]}")
ms = sorted(r["ms"] for r in rows)
print(f"hand-outs {len(rows)}, {len(during)} while the refresh was held "
      f"({release - arrival:.1f} s), median {ms[len(ms) // 2]:.1f} ms, max {ms[-1]:.1f} ms")
PY
stop_agent
[[ $AGENT_RC == 0 ]] || fail "agent exit $AGENT_RC"
