#!/usr/bin/env bash
# core_dumps: every command (all but --help and --version) runs without
# core dumps: RLIMIT_CORE is 0 whatever the shell allowed, the process is
# not dumpable (its /proc files are root's when it runs as another user),
# and a SIGQUIT leaves no core file behind.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ulimit -S -c unlimited 2>/dev/null || ulimit -S -c 1000000 2>/dev/null ||
    skip "cannot raise the core file limit to test it"

# blocked P11JWT_CMD...: starts p11jwt waiting on a FIFO for stdin; PID
blocked() {
    rm -f "$T/fifo"
    mkfifo "$T/fifo"
    (cd "$T/cwd" && exec "$@" <"$T/fifo" >/dev/null 2>&1) &
    PID=$!
    exec 7>"$T/fifo"        # the reader's open completes; it now waits for data
    for _ in $(seq 100); do
        [[ -r /proc/$PID/limits ]] && grep -q "p11jwt" "/proc/$PID/cmdline" 2>/dev/null && break
        sleep 0.05
    done
}
# settled TEST...: true once TEST holds, polled for up to 10 s (the process
# sets its limits at start; under load that may come after any fixed sleep)
settled() {
    for _ in $(seq 200); do
        "$@" && return 0
        sleep 0.05
    done
    return 1
}
core_off() { grep -Eq '^Max core file size +0 +0 ' "/proc/$PID/limits"; }
environ_root() { [[ $(stat -c %U "/proc/$PID/environ") == root ]]; }
unblock() {
    exec 7>&-
    wait "$PID" 2>/dev/null || true
}
mkdir -p "$T/cwd"

step "verify (waiting for its JWS on stdin): no core dump possible"
blocked "$P11JWT_BIN" verify --jwks /dev/null
settled core_off ||
    fail "core files allowed: $(grep 'core file' "/proc/$PID/limits")"
kill -QUIT "$PID"
unblock
if [[ $(cat /proc/sys/kernel/core_pattern) != \|* ]]; then
    ls "$T/cwd" | grep -q core && fail "a core file was written: $(ls "$T/cwd")"
fi

step "as another user, its /proc files are root's (not dumpable)"
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
    chmod 755 "$T" "$T/cwd"
    blocked setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
        "$P11JWT_BIN" verify --jwks /dev/null
    settled environ_root || true
    owner=$(stat -c %U "/proc/$PID/environ")
    unblock
    [[ $owner == root ]] || fail "/proc/PID/environ belongs to $owner: the process is dumpable"
    chmod 700 "$T"
else
    step "(skipped: needs root, setpriv and user nobody)"
fi

step "--help and --version are left alone"
expect_exit 0 p11jwt --version
echo "core dumps: all checks passed"
