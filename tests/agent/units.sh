#!/usr/bin/env bash
# units.sh — dist/systemd's agent units are valid for this systemd
# (systemd-analyze verify: every directive known, every value well formed),
# and say what docs/agent.md promises: socket activation on
# /run/p11jwt/agent.sock 0660, Type=notify, the PIN as a credential, no
# restart after a failed start, the sandbox.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze is not installed"

D=$P11JWT_SRC/dist/systemd
cp "$D/p11jwt-agent.socket" "$D/p11jwt-agent.service" "$T/"
# verify wants ExecStart's binary to exist
sed -i "s|/usr/bin/p11jwt|$P11JWT_BIN|" "$T/p11jwt-agent.service"
out=$(cd "$T" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
    ./p11jwt-agent.socket ./p11jwt-agent.service 2>&1) || fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify complains: $out"

has() { grep -qx -- "$2" "$D/$1" || fail "$1 lacks '$2'"; }
has p11jwt-agent.socket 'ListenStream=/run/p11jwt/agent.sock'
has p11jwt-agent.socket 'SocketMode=0660'
has p11jwt-agent.service 'Type=notify'
has p11jwt-agent.service 'ExecReload=/bin/kill -HUP $MAINPID'
has p11jwt-agent.service 'LoadCredential=p11jwt-pin:/etc/p11jwt/pin'
has p11jwt-agent.service 'RestartPreventExitStatus=1 2'
for d in ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes LimitCORE=0 \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK' CapabilityBoundingSet=; do
    has p11jwt-agent.service "$d"
done
