#!/usr/bin/env bash
# audit_sign.sh — `p11jwt sign --audit`: one JSON line per signature, one-shot
# and --batch (with threads), each record checked independently in python
# against the JWS it records (kid, alg, jti, aud from the JWS itself; sha256
# recomputed over header.payload). Then the failure modes, where no
# signature may come out without its record: an audit file that is a
# symbolic link, writable by others or in a missing directory (refused
# before anything is signed), a file that fills up half-way through a batch
# (RLIMIT_FSIZE: the lines before are output, their records complete, none
# after), and syslog with no daemon at /dev/log — and with one, a socket
# of the test's own in a private mount namespace, when unshare allows it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token
AUDIT=$T/audit.log

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid audited
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid hs-audited --alg HS384 \
    --secret-file <(printf 'an-hmac-secret-of-48-bytes-for-the-hs384-test!!!')

# check_records AUDIT JWS_FILE: one record per JWS, in order, each exactly
# {time, event, kid, alg, jti, aud, sha256} and matching its JWS.
check_records() {
    pycheck "$1" "$2" <<'PY'
import base64, hashlib, json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
jwss = [l.strip() for l in open(sys.argv[2]) if l.strip()]
assert len(recs) == len(jwss), f"{len(recs)} records for {len(jwss)} signatures"
def part(s):
    return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
for r, j in zip(recs, jwss):
    assert list(r) == ["time", "event", "kid", "alg", "jti", "aud", "sha256"], list(r)
    h, p, _ = j.split(".")
    hdr, pl = part(h), part(p)
    assert r["event"] == "sign", r
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["time"]), r
    assert r["kid"] == hdr["kid"] and r["alg"] == hdr["alg"], (r, hdr)
    assert r["jti"] == pl["jti"] and r["aud"] == pl["aud"], (r, pl)
    assert r["sha256"] == hashlib.sha256(f"{h}.{p}".encode()).hexdigest(), r
assert len({r["jti"] for r in recs}) == len(recs), "a jti is recorded twice"
PY
}

step "one-shot: ES256 and HS384, one record each, appended"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid audited --iss a --aud "$AUD" --audit "file:$AUDIT"
echo "$OUT" >"$T/all.jws"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid hs-audited --iss a --aud "$AUD" --audit "file:$AUDIT"
echo "$OUT" >>"$T/all.jws"
[[ $(stat -c %a "$AUDIT") == 600 ]] || fail "audit file made with mode $(stat -c %a "$AUDIT")"
check_records "$AUDIT" "$T/all.jws"

step "--batch --threads 4: 1200 lines, 1200 records in output order"
seq 1 1200 | sed 's/.*/{"n":&}/' >"$T/in.jsonl"
: >"$T/batch.log"
chmod 600 "$T/batch.log"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid audited --iss a --aud "$AUD" --batch --threads 4 \
    --audit "file:$T/batch.log" <"$T/in.jsonl"
echo "$OUT" >"$T/batch.jws"
[[ $(wc -l <"$T/batch.jws") -eq 1200 ]] || fail "batch output $(wc -l <"$T/batch.jws") lines"
check_records "$T/batch.log" "$T/batch.jws"
pyverify --jwks <(p11jwt jwks --token "$TOKEN") --aud "$AUD" --iss a --lines <"$T/batch.jws" \
    >/dev/null || fail "PyJWT rejects an audited JWS"

step "an audit file that cannot be trusted: nothing signed, nothing output"
ln -s "$AUDIT" "$T/link.log"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid audited --iss a --aud "$AUD" --audit "file:$T/link.log"
expect_err_matches 'symbolic link'
[[ -z $OUT ]] || fail "a JWS was output with an unusable audit file"
: >"$T/open.log"
chmod 622 "$T/open.log"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid audited --iss a --aud "$AUD" --audit "file:$T/open.log"
expect_err_matches 'others may write'
[[ -z $OUT ]] || fail "a JWS was output with a world-writable audit file"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid audited --iss a --aud "$AUD" --batch \
    --audit "file:$T/no/such/dir.log" <"$T/in.jsonl"
[[ -z $OUT ]] || fail "batch output with an audit file that cannot be made"
expect_exit 2 p11jwt sign "${TOK[@]}" --kid audited --iss a --aud "$AUD" --audit "$AUDIT"
expect_exit 2 p11jwt sign "${TOK[@]}" --kid audited --iss a --aud "$AUD" --audit file:
[[ $(wc -l <"$AUDIT") -eq 2 ]] || fail "refused runs changed the audit file"

step "the audit file fills up mid-batch: output stops with the last complete record"
# 4 KiB allowed; records are ~250 bytes, so about 15 fit. SIGXFSZ ignored:
# the write fails with EFBIG, as on a full disk. Standard output goes
# through a pipe to a process without the limit.
: >"$T/full.log"
chmod 600 "$T/full.log"
run_cmd bash -c 'set -o pipefail; (trap "" XFSZ; ulimit -f 4; exec "$@") | cat' _ "$P11JWT_BIN" sign "${TOK[@]}" \
    --kid audited --iss a --aud "$AUD" --batch --threads 2 --audit "file:$T/full.log" <"$T/in.jsonl"
[[ $RC -eq 1 ]] || fail "a full audit file: exit $RC, expected 1: $ERR"
check_stderr 1
expect_err_matches 'line [0-9]+: audit: cannot append .*not output'
n=$(grep -c . "$T/out" || true)
[[ $n -ge 5 && $n -lt 1200 ]] || fail "a full audit file: $n signatures output"
# Complete records (a whole line of JSON) are exactly the signatures output;
# the record that did not fit may be there in part, never a JWS for it.
"$PYTHON" -c '
import json, sys
good = []
for l in open(sys.argv[1]):
    try: good.append(json.dumps(json.loads(l)))
    except ValueError: pass
sys.stdout.write("".join(g + "\n" for g in good))' "$T/full.log" >"$T/full.good"
check_records "$T/full.good" "$T/out"
step "full audit file: $n signatures out, each recorded"

step "syslog"
if [[ -e /dev/log ]]; then
    step "/dev/log exists here: the no-daemon case is checked in a namespace only"
else
    expect_exit 1 p11jwt sign "${TOK[@]}" --kid audited --iss a --aud "$AUD" --audit syslog
    expect_err_matches 'no syslog daemon'
    [[ -z $OUT ]] || fail "a JWS was output without syslog"
fi
# A daemon of our own at /dev/log, in a private mount namespace.
if unshare -rm true 2>/dev/null; then
    "$PYTHON" - "$T/log.sock" "$T/syslog.out" 3 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".ready", "w").close()
s.settimeout(60)
with open(sys.argv[2], "w") as out:
    for _ in range(int(sys.argv[3])):
        out.write(s.recv(65536).decode() + "\n")
        out.flush()
PY
    syslog_pid=$!
    for _ in $(seq 100); do [[ -e $T/log.sock.ready ]] && break; sleep 0.1; done
    run_cmd unshare -rm bash -c '
        mkdir -p "$1/olddev" && mount --rbind /dev "$1/olddev" && mount -t tmpfs none /dev &&
        for n in null zero random urandom; do touch /dev/$n; mount --bind "$1/olddev/$n" /dev/$n; done &&
        ln -s "$1/log.sock" /dev/log && shift && exec "$@"' _ "$T" "$P11JWT_BIN" sign \
        "${TOK[@]}" --kid audited --iss a --aud "$AUD" --batch --audit syslog <<<'{"n":1}
{"n":2}
{"n":3}'
    wait "$syslog_pid" || fail "the test's syslog daemon got no records (exit $RC: $ERR)"
    [[ $RC -eq 0 ]] || fail "sign --audit syslog with a daemon: exit $RC: $ERR"
    check_stderr 0
    grep -Eq '^<86>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} p11jwt\[[0-9]+\]: p11jwt audit: \{' \
        "$T/syslog.out" || fail "syslog line not in the syslog(3) form: $(head -n1 "$T/syslog.out")"
    sed 's/^.*p11jwt audit: //' "$T/syslog.out" >"$T/syslog.json"
    echo "$OUT" >"$T/syslog.jws"
    check_records "$T/syslog.json" "$T/syslog.jws"
else
    step "unshare -rm is not allowed here: syslog with a daemon not checked"
fi
step "ok"
