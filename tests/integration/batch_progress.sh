#!/usr/bin/env bash
# batch_progress.sh — `sign --batch`'s progress line on a terminal (a pty,
# batch_progress.py) and never in a pipe or a file; the assertions on
# standard output are unchanged by it: PyJWT verifies every one and their
# payloads are those of the same batch without a terminal.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token
N=12000

(umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >"$T/hs.secret")
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid hs-progress --alg HS256 \
    --secret-file "$T/hs.secret"
"$PYTHON" - "$N" >"$T/in.jsonl" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print('{"n":%d,"org":"o-%04d","roles":["r%d"]}' % (i, i % 1000, i % 7))
PY

step "no terminal: stderr stays empty"
p11jwt sign "${TOK[@]}" --kid hs-progress --iss batch --aud "$AUD" --no-jti --batch \
    <"$T/in.jsonl" >"$T/plain.jws" 2>"$T/plain.err" || fail "sign --batch failed: $(cat "$T/plain.err")"
[[ ! -s $T/plain.err ]] || fail "sign --batch wrote to a stderr that is no terminal: $(head -c 300 "$T/plain.err")"

step "on a terminal: the progress line, and the same assertions"
"$PYTHON" "$IT_DIR/batch_progress.py" "$P11JWT_BIN" "$TOKEN" "$PIN_FILE" hs-progress "$AUD" \
    "$T/in.jsonl" "$T" || fail "the progress line misbehaved"
pyverify --secret-file "$T/hs.secret" --alg HS256 --aud "$AUD" --iss batch --lines \
    <"$T/tty.jws" >/dev/null || fail "PyJWT rejects an assertion signed with a progress line"
pycheck "$T/plain.jws" "$T/tty.jws" "$N" <<'PY'
import base64, re, sys
from itlib import *
plain, tty = (open(p).read().split("\n") for p in sys.argv[1:3])
n = int(sys.argv[3])
check(len(plain) == n + 1 and len(tty) == n + 1 and plain[-1] == tty[-1] == "",
      f"{len(plain) - 1} and {len(tty) - 1} lines for {n}")
def payload(t):
    p = t.split(".")[1]
    raw = base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode()
    return re.sub(r'"iat":\d+,"exp":\d+', '"iat":T,"exp":T', raw)
for i, (a, b) in enumerate(zip(plain[:-1], tty[:-1])):
    check(a.split(".")[0] == b.split(".")[0], f"line {i + 1}: headers differ")
    check(payload(a) == payload(b), f"line {i + 1}: payloads differ:\n{payload(a)}\n{payload(b)}")
PY

step "--no-progress is for --batch only"
expect_exit 2 p11jwt sign "${TOK[@]}" --kid hs-progress --iss batch --aud "$AUD" --no-progress
expect_err_matches 'no-progress'

echo "batch_progress: all checks passed"
