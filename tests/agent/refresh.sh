#!/usr/bin/env bash
# refresh.sh — the token is refreshed ahead of expiry while callers keep
# asking, and no caller waits for it: STS tokens of 6 s, refresh_ahead 3 s,
# two callers asking every 50 ms for 15 s. Every hand-out is a token that
# has not expired, and each new token appears before the one it replaces
# expires. The latencies are printed, not checked: on a loaded machine a
# hand-out may be slow for reasons of its own, and one that kicks the
# refresh may see the whole exchange happen while it is slow. That none
# waits for a refresh, refresh_slow.sh shows by order alone.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

dt_setup --expires-in 7      # dt answers expires_in = lifetime - 1: 6 s
dt_profile dt 'refresh_ahead = 3' 'timeout = 10' 'max_retries = 2' 'retry_base = 0.1' \
    'retry_max_delay = 0.5'
start_agent a
[[ $(ag -o /dev/null -w '%{http_code}' http://agent/v1/token/dt) == 200 ]] || fail "first token"

# One run of the callers; exit 3 when its only fault is slow hand-outs none
# of which was in flight with an exchange (the machine, not a refresh):
# then one more run decides.
step "2 callers every 50 ms for 15 s"
"$PYTHON" "$AG_DIR/agentclient.py" poll "$SOCK" dt 0.05 15 2 "$T/poll.jsonl"
pycheck "$T/poll.jsonl" "$(calls /dt/token)" <<'PY'
import json, sys
from itlib import check
rows = [json.loads(l) for l in open(sys.argv[1])]
exchanges = int(sys.argv[2])
check(len(rows) > 400, f"only {len(rows)} hand-outs in 15 s")
bad = [r for r in rows if r["status"] != 200]
check(not bad, f"{len(bad)} requests failed: {bad[:3]}")
expired = [r for r in rows if r["expires_at"] <= int(r["t"])]
check(not expired, f"{len(expired)} hand-outs of an expired token: {expired[:3]}")
# Each token's first hand-out came before the previous token expired.
toks, first, exp = [], {}, {}
for r in rows:
    if r["tok"] not in first:
        toks.append(r["tok"]); first[r["tok"]] = r["t"]; exp[r["tok"]] = r["expires_at"]
check(len(toks) >= 4, f"the token changed only {len(toks) - 1} times in 15 s (6 s tokens)")
late = [(a, b) for a, b in zip(toks, toks[1:]) if first[b] >= exp[a]]
check(not late, f"a new token appeared only after the old one expired: {late}")
# One exchange per token handed out (the first one's was before the poll).
check(exchanges <= len(toks) + 1, f"{exchanges} STS exchanges for {len(toks)} tokens")
slow = sorted(r["ms"] for r in rows)
print(f"hand-outs {len(rows)}, tokens {len(toks)}, STS exchanges {exchanges}, "
      f"median {slow[len(slow) // 2]:.1f} ms, p99 {slow[int(len(slow) * 0.99)]:.1f} ms, "
      f"max {slow[-1]:.1f} ms")
PY
stop_agent
[[ $AGENT_RC == 0 ]] || fail "agent exit $AGENT_RC"
