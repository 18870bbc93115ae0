#!/usr/bin/env bash
# lock: the host-local keyring lock lives in a directory of this user's
# ($RUNTIME_DIRECTORY, else $XDG_RUNTIME_DIR/p11jwt, else /tmp/p11jwt-UID),
# is never followed through a symlink, and is waited for a bounded time: a
# process that holds it makes rotate fail within P11JWT_LOCK_TIMEOUT with an
# error naming the lock file, instead of hanging.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
write_config "$OUT"
unset RUNTIME_DIRECTORY
mkdir -m 700 "$T/run"
export XDG_RUNTIME_DIR=$T/run

step "the lock file is made in \$XDG_RUNTIME_DIR/p11jwt, 0700 / 0600"
expect_exit 0 rot status
lockfile=$(ls "$T/run/p11jwt/"keyring-*.lock)
[[ $(stat -c %a "$T/run/p11jwt") == 700 ]] || fail "lock dir mode $(stat -c %a "$T/run/p11jwt")"
[[ $(stat -c %a "$lockfile") == 600 ]] || fail "lock file mode $(stat -c %a "$lockfile")"

step "another process holds the lock: rotate fails within the bound, naming the file"
"$PYTHON" - "$lockfile" "$T/held" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(60)
PY
holder=$!
trap 'rc=$?; kill $holder 2>/dev/null || true; stop_sts; (exit $rc); cleanup' EXIT
for _ in $(seq 100); do [[ -e $T/held ]] && break; sleep 0.05; done
[[ -e $T/held ]] || fail "the holder did not take the lock"
t0=$(date +%s%N)
P11JWT_LOCK_TIMEOUT=2 expect_exit 1 timeout 30 "$P11JWT_BIN" rotate stage --profile rot --config "$CONFIG"
el=$(( ($(date +%s%N) - t0) / 1000000 ))
# It waited for the bound (never gave up at once); a hang is `timeout`'s
# exit 124, which expect_exit 1 refuses. No upper bound on a loaded host.
(( el >= 1900 )) || fail "gave up after $el ms, before P11JWT_LOCK_TIMEOUT (2 s)"
expect_err_matches "held the lock file $lockfile for 2 s"
kill "$holder"; wait "$holder" 2>/dev/null || true
expect_exit 0 rot stage

step "\$RUNTIME_DIRECTORY (systemd) comes first"
mkdir -m 755 "$T/rd"
RUNTIME_DIRECTORY="$T/rd:$T/other" expect_exit 0 rot status
ls "$T/rd/"keyring-*.lock >/dev/null 2>&1 || fail "no lock file in \$RUNTIME_DIRECTORY"

step "unsafe lock directories and files are refused"
chmod 777 "$T/rd"
RUNTIME_DIRECTORY=$T/rd expect_exit 1 rot status
expect_err_matches "lock directory .*mode 0777"
rm -rf "$T/run/p11jwt"
mkdir -m 700 "$T/elsewhere"
ln -s "$T/elsewhere" "$T/run/p11jwt"
expect_exit 1 rot status
expect_err_matches "symbolic link"
rm "$T/run/p11jwt"
mkdir -m 775 "$T/run/p11jwt"
expect_exit 1 rot status
expect_err_matches "mode 0775 \(its group may write in it\)"
# 0750, as a user's own agent makes it for its socket: accepted.
chmod 750 "$T/run/p11jwt"
expect_exit 0 rot status
chmod 700 "$T/run/p11jwt"
rm -f "$lockfile"
ln -s "$T/elsewhere/target" "$lockfile"
expect_exit 1 rot status
expect_err_matches "symbolic link"
[[ ! -e $T/elsewhere/target ]] || fail "the lock file symlink was followed"
rm "$lockfile"
expect_exit 0 rot status
echo "lock ok"
