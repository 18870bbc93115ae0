#!/usr/bin/env bash
# units.sh — dist/systemd's agent units are valid for this systemd
# (systemd-analyze verify: every directive known, every value well formed),
# and say what docs/agent.md promises: socket activation on
# /run/p11jwt/agent.sock 0660, Type=notify, the PIN as a credential, no
# restart after a failed start, the sandbox. The units are templates
# (cmake --install fills in @CMAKE_INSTALL_FULL_BINDIR@ and the like): here
# they are filled in for the build tree; tests/install/units.sh checks the
# installed ones, all four.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze is not installed"

D=$P11JWT_SRC/dist/systemd
# verify wants ExecStart's binary to exist
for u in p11jwt-agent.socket p11jwt-agent.service; do
    sed -e "s|@CMAKE_INSTALL_FULL_BINDIR@/p11jwt|$P11JWT_BIN|" \
        -e "s|@CMAKE_INSTALL_FULL_DOCDIR@|$P11JWT_SRC/docs|" "$D/$u.in" >"$T/$u"
    ! grep -n '@[A-Z_]*@' "$T/$u" || fail "$u.in has a @VAR@ this test does not fill in"
done
out=$(cd "$T" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
    ./p11jwt-agent.socket ./p11jwt-agent.service 2>&1) || fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify complains: $out"

has() { grep -qx -- "$2" "$D/$1.in" || fail "$1.in lacks '$2'"; }
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
