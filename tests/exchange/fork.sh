#!/usr/bin/env bash
# fork: a client's kept-alive STS connection is not shared with a forked
# child: the child's token request comes on a connection of its own (the
# STS records each request's client port), and parent and child both get
# their tokens.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

(umask 077 && printf 'forkSecret%s\n' "$(rand_hex 8)" >"$T/cc.secret")
start_sts sts --client "app=$T/cc.secret"
conf <<CONF
[profile cc]
dialect = client-credentials
client_id = app
client_secret_file = $T/cc.secret
token_url = $STS/cc/token
max_retries = 0
CONF
timeout 60 "$FORK_BIN" "$CONF" cc || fail "fork test program failed"
sts_stats >"$T/stats.json"
"$PYTHON" - "$T/stats.json" <<'PY' || fail "the child used the parent's connection"
import json, sys
reqs = [r for r in json.load(open(sys.argv[1]))["requests"] if r["path"] == "/cc/token"]
ports = [r["port"] for r in reqs]
print("token requests came from ports", ports)
assert len(ports) == 3, ports
assert ports[1] != ports[0], "the child's request came on the parent's connection"
PY
echo "fork ok"
