#!/usr/bin/env bash
# activation.sh — systemd socket activation and notification, with
# systemd's own systemd-socket-activate: it holds the socket, starts the
# agent on the first connection and passes it LISTEN_FDS; the agent answers
# that first request, sends READY=1 (and RELOADING=1/READY=1 on SIGHUP,
# STOPPING=1 on SIGTERM) to $NOTIFY_SOCKET, exits 0 and leaves systemd's
# socket file in place.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"
command -v systemd-socket-activate >/dev/null 2>&1 || skip "systemd-socket-activate is not installed"

dt_setup
dt_profile dt
SOCK=$T/activated.sock
AGENT_LOG=$T/activated.agent.log

# A notify socket: every datagram becomes a line of $T/notify.log.
"$PYTHON" - "$T/notify.sock" "$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(120)
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            break
        f.write(msg.replace("\n", " ") + "\n")
        if "STOPPING=1" in msg:
            break
PY
notify=$!
STS_PIDS+=("$notify")  # stopped with the STS on every exit path
for ((i = 0; i < 50; i++)); do [[ -S $T/notify.sock ]] && break; sleep 0.1; done

# It passes on only the environment it is told to (-E).
envs=()
for v in SOFTHSM2_CONF P11JWT_MODULE HOME ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
    [[ -n ${!v:-} ]] && envs+=(-E "$v")
done
NOTIFY_SOCKET=$T/notify.sock systemd-socket-activate -l "$SOCK" -E NOTIFY_SOCKET "${envs[@]}" \
    "$P11JWT_BIN" agent --config "$CONF" 2>"$AGENT_LOG" &
AGENT_PID=$!
AGENT_PIDS+=("$AGENT_PID")
AGENT_LOGS+=("$AGENT_LOG")
for ((i = 0; i < 100; i++)); do [[ -S $SOCK ]] && break; sleep 0.1; done
[[ -S $SOCK ]] || fail "systemd-socket-activate made no socket"

step "the first connection starts the agent, which answers it"
[[ -z $(grep -s READY "$T/notify.log") ]] || fail "READY before the agent was started"
code=$(ag -o "$T/body" -w '%{http_code}' http://agent/v1/token/dt)
[[ $code == 200 ]] || fail "first request through the activated socket: $code $(cat "$T/body")"
grep -q 'listening on the socket systemd passed' "$AGENT_LOG" || fail "log: $(cat "$AGENT_LOG")"
grep -q '^READY=1' "$T/notify.log" || fail "no READY=1: $(cat "$T/notify.log")"
[[ $(ptok dt) == "$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$T/body")" ]] ||
    fail "p11jwt-token through the activated socket"

step "SIGHUP: RELOADING=1 then READY=1"
kill -HUP "$AGENT_PID"
for ((i = 0; i < 100; i++)); do grep -q RELOADING "$T/notify.log" && break; sleep 0.1; done
for ((i = 0; i < 100; i++)); do [[ $(grep -c '^READY=1' "$T/notify.log") -ge 2 ]] && break; sleep 0.1; done
[[ $(grep -c '^READY=1' "$T/notify.log") -ge 2 ]] && grep -q '^RELOADING=1' "$T/notify.log" ||
    fail "reload notifications: $(cat "$T/notify.log")"

step "SIGTERM: STOPPING=1, exit 0, systemd's socket left alone"
stop_agent
[[ $AGENT_RC == 0 ]] || fail "exit $AGENT_RC"
wait "$notify" 2>/dev/null || true
grep -q '^STOPPING=1' "$T/notify.log" || fail "no STOPPING=1: $(cat "$T/notify.log")"
[[ -S $SOCK ]] || fail "the agent removed the socket systemd owns"
