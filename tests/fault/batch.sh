#!/usr/bin/env bash
# batch.sh — `p11jwt sign --batch --threads 2`: two threads share one token
# handle, its session pool and the process's login, so a fault one thread
# sees is a state both must get through:
#   - each recoverable CK_RV on C_SignInit / C_Sign mid-batch: every line
#     signed (PyJWT verifies all of them), one recovery per fault; also
#     when the other thread, asleep in C_Sign, finds the loss late;
#   - the login lost mid-batch and the PIN then refused: exactly ONE more
#     C_Login in the process (not one per thread or per line), then one
#     clear error; a wrong PIN from the start: one C_Login;
#   - CKR_SESSION_COUNT when the second thread wants a session: it waits for
#     the first one's instead (C_OpenSession not called again and again),
#     and gives up with a clear error after 10 s if it never comes back;
#   - the device gone mid-batch: one line naming the CK_RV within 5 s.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token
N=40
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid b-es
export_jwks "$T/jwks.json" b-es
SIGN=(sign "${TOK[@]}" --kid b-es --iss batch --aud "$AUD" --batch --threads 2)
for ((i = 0; i < N; i++)); do printf '{"n":%d}\n' "$i"; done >"$T/in.jsonl"

# all_signed: the last run wrote N JWS, in order, each valid.
all_signed() {
    [[ $(wc -l <"$T/out") -eq $N ]] || fail "$(wc -l <"$T/out") JWS out for $N lines: $RAN"
    pyverify --jwks "$T/jwks.json" --aud "$AUD" --iss batch --lines <"$T/out" >"$T/decoded.jsonl" ||
        fail "PyJWT rejects a JWS of: $RAN"
    pycheck "$T/decoded.jsonl" "$N" <<'PY'
import sys
from itlib import *
d = load_json_lines(sys.argv[1])
check([x["payload"]["n"] for x in d] == list(range(int(sys.argv[2]))), "out of order or short")
PY
}

step "baseline"
expect_exit 0 fx "" "${SIGN[@]}" <"$T/in.jsonl"
all_signed
BASE_LOGIN=$(count calls C_Login)

for fn in C_SignInit C_Sign; do
    for rv in CKR_SESSION_HANDLE_INVALID CKR_SESSION_CLOSED CKR_DEVICE_REMOVED \
        CKR_TOKEN_NOT_PRESENT CKR_USER_NOT_LOGGED_IN CKR_OBJECT_HANDLE_INVALID; do
        step "$fn -> $rv at call 7: every line signed"
        expect_exit 0 fx "$fn@7=$rv" "${SIGN[@]}" <"$T/in.jsonl"
        all_signed
        expect_count faults "$fn" -eq 1
        # one retry for the faulted call; a lost device or login may also
        # have cost the other thread its session: one retry there too
        expect_count calls "$fn" -ge $((N + 1))
        expect_count calls "$fn" -le $((N + 2))
        # the login may be redone once per loss, never once per thread/line
        expect_count calls C_Login -le $((BASE_LOGIN + 1))
    done
done

step "the device pulled while the other thread is inside C_Sign: one recovery, one re-login"
# The 38th C_Sign sleeps 1 s before it reaches SoftHSM; every C_SignInit and
# C_Sign meanwhile is the other thread's, which finishes the input, so the
# fault at the 40th lands on it mid-sleep: it recovers, logs in again, signs
# the last line and pools its session. The sleeper then finds its session
# closed under it: the same loss seen late. Taken for a new one, it threw
# away the pooled session (the process's last, so its login) and logged in
# a third time.
for rule in 'C_Sign@38~1000ms;C_SignInit@40=CKR_DEVICE_REMOVED' \
    'C_Sign@38~1000ms;C_Sign@40=CKR_TOKEN_NOT_PRESENT'; do
    expect_exit 0 fx "$rule" "${SIGN[@]}" <"$T/in.jsonl"
    all_signed
    expect_count calls C_Login -eq $((BASE_LOGIN + 1))
    expect_count calls C_Sign -le $((N + 2))
done

step "login lost mid-batch and the PIN refused on re-login: ONE more C_Login, then one error"
# The real token is logged out at the 5th C_SignInit (the module's side
# effect of CKR_USER_NOT_LOGGED_IN), so every thread finds the login gone;
# every later C_Login is refused as a changed PIN file would be.
timed 1 5000 fx 'C_SignInit@5=CKR_USER_NOT_LOGGED_IN;C_Login@2+=CKR_PIN_INCORRECT' \
    "${SIGN[@]}" <"$T/in.jsonl"
expect_one_line_naming CKR_PIN_INCORRECT
expect_count calls C_Login -eq $((BASE_LOGIN + 1))
step "refused re-login: $(count calls C_Login) C_Login in all: $ERR"

step "a wrong PIN from the start, two threads: exactly one C_Login"
(umask 077 && printf 'wrong-%s' "$(cat "$PIN_FILE")" >"$T/wrong-pin")
timed 1 5000 fx "" sign --token "$TOKEN" --pin-file "$T/wrong-pin" --kid b-es --iss batch \
    --aud "$AUD" --batch --threads 2 <"$T/in.jsonl"
expect_one_line_naming CKR_PIN_INCORRECT
expect_count calls C_Login -eq 1

step "CKR_SESSION_COUNT for the second session: the second thread waits for the first's"
# Each C_Sign holds its session 20 ms, so the threads do want two at once.
timed 0 20000 fx 'C_OpenSession@2+=CKR_SESSION_COUNT;C_Sign@1+~20ms' "${SIGN[@]}" <"$T/in.jsonl"
all_signed
expect_count faults C_OpenSession -ge 1
expect_count calls C_OpenSession -le 3
step "one session for two threads: $(count calls C_OpenSession) C_OpenSession, $(count faults C_OpenSession) refused"

step "CKR_SESSION_COUNT and our one session held 12 s: the wait ends at 10 s, clearly"
timed 1 20000 fx 'C_OpenSession@2+=CKR_SESSION_COUNT;C_Sign@1~12000ms' "${SIGN[@]}" <"$T/in.jsonl"
expect_one_line_naming 'came free in 10 s'
expect_err_matches 'CKR_SESSION_COUNT'
((ELAPSED >= 10000)) || fail "gave up after $ELAPSED ms, before the 10 s bound"
expect_count calls C_OpenSession -le 3
step "bounded wait: $ELAPSED ms: $ERR"

step "the device gone mid-batch: one line naming the CK_RV within 5 s"
for rule in C_Sign@9!=CKR_DEVICE_REMOVED C_SignInit@9!=CKR_TOKEN_NOT_PRESENT; do
    timed 1 5000 fx "$rule" "${SIGN[@]}" <"$T/in.jsonl"
    expect_one_line_naming "${rule#*=}"
    step "gone at $rule: $ELAPSED ms: $ERR"
done

step "CKR_GENERAL_ERROR mid-batch: one clear error, that call not retried"
timed 1 5000 fx 'C_Sign@9=CKR_GENERAL_ERROR' "${SIGN[@]}" <"$T/in.jsonl"
expect_one_line_naming CKR_GENERAL_ERROR
# Not retried: a retry would have signed that line (the fault is once).
# The threads stop taking lines once the failure is written out, so fewer
# than all may be signed, never more.
expect_count calls C_Sign -ge 9
expect_count calls C_Sign -le "$N"

echo "batch: all checks passed"
