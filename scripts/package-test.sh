#!/usr/bin/env bash
# package-test.sh — the Debian packages as a user gets them: builds them
# (scripts/package.sh: dpkg-buildpackage, lintian), installs them on this
# host with apt-get, tests what they installed, then removes and purges
# them and checks what is left. CI runs it (scripts/test.sh, stage
# "packages"). Needs root; prints the time of each step.
#
#   scripts/package-test.sh [--debs DIR]
#
#   --debs DIR  test the packages already in DIR (from scripts/package.sh)
#               instead of building them into build-deb/
#
# What the installed packages must do:
#   - p11jwt --version names the packages' version; `p11jwt agent` finds
#     the agent program where the package put it;
#   - man -w finds p11jwt(1), p11jwt.conf(5) and libp11jwt(3) in /usr/share/man;
#   - the postinst made the system user p11jwt and the group p11jwt-clients
#     (an earlier run's are deleted first, so this run sees them made);
#   - tests/consumer/run.sh builds the consumer against the -dev package
#     with pkg-config and with find_package(p11jwt), shared and static,
#     and it signs on a fresh SoftHSM token (PyJWT verifies);
#   - tests/docs/completion_bash.sh passes on the installed completion;
#   - tests/install/units.sh passes on the installed units;
#   - after remove and purge: no file or folder the packages made is left
#     (nor any other path named *p11jwt* under /etc, /usr, /var, /opt), and
#     the user and group are still there, as Debian leaves system users.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
debs=""
case "${1:-}" in
    --debs) debs=${2:?--debs needs a folder} ;;
    "") ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package-test.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac
[[ $(id -u) -eq 0 ]] || { echo "package-test.sh: needs root (it installs packages)" >&2; exit 1; }

PKGS=(p11jwt libp11jwt0 libp11jwt-dev)
GECOS="p11jwt agent and key rotation"      # dist/sysusers/p11jwt.conf
work=$(mktemp -d "${TMPDIR:-/tmp}/p11jwt-package-test.XXXXXX")
failed=1
cleanup() {
    # Never leave the packages installed, whatever failed.
    if dpkg-query -W -f='${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null | grep -qv not-installed; then
        echo "== cleanup: purging the packages" >&2
        dpkg --purge "${PKGS[@]}" >/dev/null 2>&1 || true
    fi
    if [[ $failed -eq 0 ]]; then rm -rf "$work"; else echo "files kept in $work" >&2; fi
}
trap cleanup EXIT
fail() { printf 'FAIL [package-test]: %s\n' "$*" >&2; exit 1; }

# Wall time and CPU time (user + system of every process the script ran,
# from the shell's `times`): on a shared machine the wall time is mostly
# the others' load, the CPU time is the stage's own cost.
cpu_s() { # sets CPU to the seconds so far
    times >"$work/times"    # in this shell, not a $(...) subshell: its children are ours
    CPU=$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, t, "m"); s += t[1] * 60 + t[2] }
                         printf "%.0f", s }' "$work/times")
}
t0=$(date +%s)
step_start=$t0
cpu_s
cpu0=$CPU
step_cpu=$CPU
timed() { # label: ends the step that is running, prints its time
    local now
    now=$(date +%s)
    cpu_s
    printf '   (%s: %d s, %d s CPU)\n' "$1" $((now - step_start)) $((CPU - step_cpu))
    step_start=$now
    step_cpu=$CPU
}

# p11jwt paths on this host outside the packages' own files: the units'
# enablement state, dpkg's records, leftovers. Compared before and after.
stray_paths() {
    find /etc /usr /var /opt -xdev \( -path /var/cache/apt -o -path /var/lib/apt \
        -o -path /var/log \) -prune -o -name '*p11jwt*' -print 2>/dev/null | sort
}

# ---- build -----------------------------------------------------------------

if [[ -z $debs ]]; then
    echo "== build the packages (scripts/package.sh)"
    debs=$root/build-deb
    "$root/scripts/package.sh" --out "$debs"
    timed "build and lintian"
fi
debs=$(cd "$debs" && pwd)
files=()
for p in "${PKGS[@]}"; do
    f=$(find "$debs" -maxdepth 1 -name "${p}_*.deb" | sort | tail -n1)
    [[ -n $f ]] || fail "no ${p}_*.deb in $debs"
    files+=("$f")
done
version=$(dpkg-deb -f "${files[0]}" Version)

# ---- before -----------------------------------------------------------------

echo "== before: no p11jwt package installed, no p11jwt user of ours"
if dpkg-query -W -f='${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null | grep -qv not-installed; then
    echo "   an earlier run left the packages installed: purging them"
    dpkg --purge "${PKGS[@]}" >/dev/null
fi
if getent passwd p11jwt >/dev/null; then
    [[ $(getent passwd p11jwt | cut -d: -f5) == "$GECOS" ]] ||
        fail "this host has a user p11jwt that the package did not make; not touching it"
    echo "   deleting the user p11jwt and group p11jwt-clients an earlier run's package made"
    userdel p11jwt
    getent group p11jwt >/dev/null && groupdel p11jwt
fi
getent group p11jwt-clients >/dev/null && groupdel p11jwt-clients
stray_paths >"$work/stray.before"
# Each path the packages hold, and whether it exists now (a shared folder
# such as /usr/bin does; the packages' own files and folders do not).
for f in "${files[@]}"; do
    dpkg-deb -c "$f" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' | grep -v '^\.\?$'
done | sort -u >"$work/paths"
while read -r p; do
    if [[ -e $p || -L $p ]]; then echo "$p"; fi
done <"$work/paths" >"$work/paths.existing"
timed "snapshot"

# ---- install ----------------------------------------------------------------

echo "== apt-get install ${files[*]##*/}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${files[@]}" \
    >"$work/install.log" 2>&1 || fail "apt-get install failed: $(tail -n 20 "$work/install.log")"
for p in "${PKGS[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status} ${Version}' "$p") == "installed $version" ]] ||
        fail "$p $version is not installed"
done
timed "install"

echo "== what they installed"
[[ $(command -v p11jwt) == /usr/bin/p11jwt ]] || fail "p11jwt on PATH is $(command -v p11jwt), not /usr/bin/p11jwt"
out=$(p11jwt --version) || fail "p11jwt --version failed"
[[ $out == "p11jwt ${version%%-*}" ]] || fail "p11jwt --version says '$out', the package is $version"
echo "   $out"
# `p11jwt agent` executes /usr/libexec/p11jwt/p11jwt-agent (its --help).
out=$(p11jwt agent --help 2>&1) || fail "p11jwt agent --help: $out"
[[ $out == *--socket* ]] || fail "p11jwt agent --help does not show the agent's help: $out"
/usr/bin/p11jwt-token --help >/dev/null || fail "p11jwt-token --help failed"
for page in "1 p11jwt" "5 p11jwt.conf" "3 libp11jwt"; do
    read -r sec name <<<"$page"
    got=$(man -w "$sec" "$name" 2>&1) || fail "man -w $sec $name: $got"
    [[ $got == "/usr/share/man/man$sec/$name.$sec.gz" ]] || fail "man -w $sec $name gives $got"
    echo "   man -w $name: $got"
done
got=$(man -w p11jwt.conf) || fail "man -w p11jwt.conf finds nothing"
[[ $got == /usr/share/man/man5/p11jwt.conf.5.gz ]] || fail "man -w p11jwt.conf gives $got"
getent passwd p11jwt >/dev/null || fail "the postinst did not make the user p11jwt"
getent group p11jwt-clients >/dev/null || fail "the postinst did not make the group p11jwt-clients"
IFS=: read -r _ _ _ _ gecos home shell <<<"$(getent passwd p11jwt)"
[[ $gecos == "$GECOS" && $home == /nonexistent && $shell == /usr/sbin/nologin ]] ||
    fail "the user p11jwt is not a system user without home and shell: $(getent passwd p11jwt)"
echo "   user: $(getent passwd p11jwt); group: $(getent group p11jwt-clients)"
timed "version, man pages, user"

# The tests, run on the installed files; their temp folders in $work.
export P11JWT_SRC=$root P11JWT_BIN=/usr/bin/p11jwt P11JWT_TEST_TMP=$work/test-tmp
echo "== consumer: pkg-config and find_package against libp11jwt-dev (tests/consumer/run.sh)"
P11JWT_CONSUMER_PREFIX="" bash "$root/tests/consumer/run.sh" || fail "the consumer test failed"
timed "consumer"
echo "== bash completion, installed (tests/docs/completion_bash.sh)"
P11JWT_COMPLETION=/usr/share/bash-completion/completions/p11jwt \
    bash "$root/tests/docs/completion_bash.sh" || fail "the completion test failed"
timed "completion"
echo "== systemd units, installed (tests/install/units.sh)"
unit_dir=$(dpkg -L p11jwt | grep '/systemd/system/p11jwt-agent.service$' | xargs dirname)
P11JWT_INSTALL_PREFIX=/usr P11JWT_UNIT_DIR=$unit_dir P11JWT_SYSUSERS_DIR=/usr/lib/sysusers.d \
    bash "$root/tests/install/units.sh" || fail "the units test failed"
timed "units"

# ---- remove, purge ---------------------------------------------------------

# apt-get remove, then dpkg --purge: after the remove, apt no longer knows
# a package that had no maintainer scripts (libp11jwt-dev), nor can it
# download one; dpkg purges what is left (p11jwt's postrm, the units' state).
echo "== apt-get remove, then dpkg --purge"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "${PKGS[@]}" >"$work/remove.log" 2>&1 ||
    fail "apt-get remove failed: $(tail -n 20 "$work/remove.log")"
[[ ! -e /usr/bin/p11jwt ]] || fail "/usr/bin/p11jwt is still there after remove"
dpkg --purge "${PKGS[@]}" >"$work/purge.log" 2>&1 ||
    fail "dpkg --purge failed: $(tail -n 20 "$work/purge.log")"
for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ -z $st || $st == not-installed ]] || fail "$p is '$st' after purge"
done
left=$(comm -23 "$work/paths" "$work/paths.existing" | while read -r p; do
    if [[ -e $p || -L $p ]]; then echo "$p"; fi
done)
[[ -z $left ]] || fail "left behind after purge: $left"
stray_paths >"$work/stray.after"
new=$(comm -13 "$work/stray.before" "$work/stray.after")
[[ -z $new ]] || fail "left behind after purge (not in the packages): $new"
getent passwd p11jwt >/dev/null || fail "purge removed the user p11jwt (Debian leaves system users)"
getent group p11jwt-clients >/dev/null || fail "purge removed the group p11jwt-clients"
echo "   nothing left of $(wc -l <"$work/paths") package paths; user and group kept"
timed "remove and purge"

failed=0
cpu_s
echo "== packages green ($(($(date +%s) - t0)) s, $((CPU - cpu0)) s CPU)"
