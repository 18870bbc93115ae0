#!/usr/bin/env bash
# audit: `audit = file:PATH` appends one line per signature to a regular
# file of this user's, made 0600; it never follows a symlink, never writes
# a file others may write, a FIFO or a directory. A refusal is a warning,
# never a failure of the signature it records.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
write_config "$OUT"
sign() { run_cmd p11jwt assertion --profile rot --config "$CONFIG"; }

step "a fresh audit file: 0600, one line per signature"
sign
[[ $RC -eq 0 && -z $ERR ]] || fail "assertion: $RC $ERR"
[[ $(stat -c %a "$T/audit.log") == 600 ]] || fail "audit file mode $(stat -c %a "$T/audit.log")"
[[ $(wc -l <"$T/audit.log") -eq 1 ]] || fail "audit lines: $(cat "$T/audit.log")"

step "a symlink is not followed"
mv "$T/audit.log" "$T/real.log"
: >"$T/target"
ln -s "$T/target" "$T/audit.log"
sign
[[ $RC -eq 0 ]] || fail "the signature failed because of the audit file: $ERR"
[[ -n $OUT ]] || fail "no assertion"
grep -q "audit: cannot append to $T/audit.log.*symbolic link" <<<"$ERR" || fail "no warning: $ERR"
[[ ! -s $T/target ]] || fail "the symlink's target was written: $(cat "$T/target")"
rm "$T/audit.log"

step "a file others may write, a FIFO, a directory: refused with a warning"
: >"$T/audit.log"
chmod 666 "$T/audit.log"
sign
[[ $RC -eq 0 ]] || fail "the signature failed: $ERR"
grep -q "refusing to append to $T/audit.log: others may write" <<<"$ERR" || fail "no warning: $ERR"
[[ ! -s $T/audit.log ]] || fail "a group/other-writable audit file was written"
rm "$T/audit.log"
mkfifo "$T/audit.log"
t0=$(date +%s)
run_cmd timeout 20 "$P11JWT_BIN" assertion --profile rot --config "$CONFIG"
[[ $RC -eq 0 ]] || fail "a FIFO audit file: exit $RC: $ERR"
grep -q "audit: .*$T/audit.log" <<<"$ERR" || fail "no warning for the FIFO: $ERR"
rm "$T/audit.log"
mkdir "$T/audit.log"
sign
[[ $RC -eq 0 ]] || fail "the signature failed: $ERR"
grep -q "audit: .*$T/audit.log" <<<"$ERR" || fail "no warning for a directory: $ERR"
rmdir "$T/audit.log"
if [[ $(id -u) -eq 0 ]] && id nobody >/dev/null 2>&1; then
    : >"$T/audit.log"
    chown nobody "$T/audit.log"
    sign
    grep -q "belongs to another user" <<<"$ERR" || fail "another user's file: $ERR"
    rm "$T/audit.log"
fi

step "back to a good file"
mv "$T/real.log" "$T/audit.log"
sign
[[ $RC -eq 0 && -z $ERR ]] || fail "assertion: $RC $ERR"
[[ $(wc -l <"$T/audit.log") -eq 2 ]] || fail "audit lines: $(cat "$T/audit.log")"
echo "audit ok"
