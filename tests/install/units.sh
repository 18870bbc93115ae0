#!/usr/bin/env bash
# units.sh — the systemd units as `cmake --install` installed them (the
# install.prefix fixture): systemd-analyze verify accepts all four (the
# templates as an instance, p11jwt-rotate@test), each ExecStart= runs the
# installed p11jwt, each file: in Documentation= is installed, and the
# sysusers.d file makes the user and group the units name (checked with
# systemd-sysusers on a copy of this host's /etc, never on the host).
# tests/agent/units.sh checks what the agent's units say.
#
# Environment: P11JWT_INSTALL_PREFIX (the prefix), P11JWT_UNIT_DIR and
# P11JWT_SYSUSERS_DIR (default PREFIX/lib/systemd/system and
# PREFIX/lib/sysusers.d; scripts/package-test.sh gives the package's).
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze is not installed"

P=${P11JWT_INSTALL_PREFIX:?}
U=${P11JWT_UNIT_DIR:-$P/lib/systemd/system}
SYSUSERS=${P11JWT_SYSUSERS_DIR:-$P/lib/sysusers.d}
units=(p11jwt-agent.socket p11jwt-agent.service p11jwt-rotate@.service p11jwt-rotate@.timer)
for u in "${units[@]}"; do
    [[ -f $U/$u ]] || fail "$u is not installed in $U"
done

step "ExecStart= and Documentation= name installed files"
for u in "${units[@]}"; do
    while read -r exe; do
        [[ $exe == "$P/bin/p11jwt" ]] || fail "$u runs $exe, not $P/bin/p11jwt"
    done < <(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$U/$u")
    n=0
    for doc in $(sed -n 's/^Documentation=//p' "$U/$u"); do
        case $doc in
            file:*) [[ -f ${doc#file:} ]] || fail "$u cites ${doc#file:}, which is not installed"
                    n=$((n + 1)) ;;
            man:*) ;;
            *) fail "$u: Documentation=$doc is neither file: nor man:" ;;
        esac
    done
    [[ $n -ge 1 ]] || fail "$u cites no installed doc"
done
grep -q '^ExecStart=' "$U/p11jwt-agent.service" "$U/p11jwt-rotate@.service" >/dev/null ||
    fail "no ExecStart= in the services"

step "the services that take the keyring lock share its directory with an operator"
# Under PrivateTmp= a lock in /tmp is the unit's own (issue 17.4): the
# timer's step, the agent and `sudo -u p11jwt p11jwt rotate ...` by hand
# must meet in the system lock directory p11jwt looks for, which each unit
# makes (RuntimeDirectory=, kept between runs, p11jwt's alone).
sysdir=$("$P/bin/p11jwt" rotate --help | sed -n 's/.*else \(\/run\/[^ ]*\) if it is this user.s.*/\1/p')
[[ $sysdir == /run/* ]] || fail "rotate --help names no system lock directory under /run"
lib=$(find "$P" -name 'libp11jwt.so.0' | head -n1)
grep -qaF -- "$sysdir" "$lib" || fail "the library ($lib) does not look in $sysdir, as --help says"
for u in p11jwt-rotate@.service p11jwt-agent.service; do
    rd=$(sed -n 's/^RuntimeDirectory=//p' "$U/$u")
    [[ "/run/$rd" == "$sysdir" ]] ||
        fail "$u: RuntimeDirectory=$rd, but p11jwt looks for its lock in $sysdir"
    grep -qx 'RuntimeDirectoryMode=0700' "$U/$u" || fail "$u: the lock directory is not 0700"
    grep -qx 'RuntimeDirectoryPreserve=yes' "$U/$u" ||
        fail "$u: the lock directory goes when the unit stops (an operator's lock with it)"
done

step "systemd-analyze verify"
# Under the names systemd would load them by; the rotate pair as one
# instance (a template itself cannot be loaded).
cp "$U/p11jwt-agent.socket" "$U/p11jwt-agent.service" "$T/"
cp "$U/p11jwt-rotate@.service" "$T/p11jwt-rotate@test.service"
cp "$U/p11jwt-rotate@.timer" "$T/p11jwt-rotate@test.timer"
out=$(cd "$T" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
    ./p11jwt-agent.socket ./p11jwt-agent.service \
    ./p11jwt-rotate@test.service ./p11jwt-rotate@test.timer 2>&1) ||
    fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify complains: $out"

step "the sysusers.d file makes what the units name"
command -v systemd-sysusers >/dev/null 2>&1 || skip "systemd-sysusers is not installed"
mkdir -p "$T/root/etc"
for f in passwd group shadow gshadow login.defs; do
    [[ -r /etc/$f ]] && cp "/etc/$f" "$T/root/etc/"
done
# This host's /etc may have them already (the package test makes them).
sed -i '/^p11jwt:/d; /^p11jwt-clients:/d' "$T"/root/etc/{passwd,group}
sed -i '/^p11jwt:/d; /^p11jwt-clients:/d' "$T"/root/etc/{shadow,gshadow} 2>/dev/null || true
systemd-sysusers --root="$T/root" "$SYSUSERS/p11jwt.conf" >"$T/sysusers.log" 2>&1 ||
    fail "systemd-sysusers refuses p11jwt.conf: $(cat "$T/sysusers.log")"
paths=("${units[@]/#/$U/}")
users=$(sed -n 's/^\(User\|SocketUser\)=//p' "${paths[@]}" | sort -u | tr '\n' ' ')
groups=$(sed -n 's/^\(Group\|SocketGroup\)=//p' "${paths[@]}" | sort -u | tr '\n' ' ')
for u in $users; do
    grep -q "^$u:x:[0-9]*:[0-9]*:[^:]*:/nonexistent:/usr/sbin/nologin$" "$T/root/etc/passwd" ||
        fail "p11jwt.conf does not make the system user $u the units name: $(cat "$T/sysusers.log")"
done
for g in $groups; do
    grep -q "^$g:" "$T/root/etc/group" || fail "p11jwt.conf does not make the group $g the units name"
done
echo "units verified: ${units[*]}; users: ${users% }; groups: ${groups% }"
