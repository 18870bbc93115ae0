#!/usr/bin/env bash
# client.sh — the library's client in one long-lived process (faultclient.c,
# public API only), several threads, a warm cache, through the fault module:
#   - a key whose cached handle is re-found on a session the token dropped,
#     or after the login went (another recovery made every handle stale):
#     recovered;
#   - each recoverable CK_RV on C_SignInit / C_Sign while threads keep
#     forcing exchanges: every call gets a token the STS accepted (it checks
#     each assertion with PyJWT), at most one more C_Login;
#   - a device that stays gone: every call fails within 5 s, with a message
#     naming the CK_RV;
#   - a wrong PIN, 4 threads x 3 rounds on a cold cache: ONE C_Login in the
#     process; the login lost and the PIN then refused: ONE more;
#   - CKR_FUNCTION_FAILED: each exchange tries its one signature once;
#   - CKR_SESSION_COUNT: a warm client keeps serving from its pool's session;
#     with that session lost, every call fails at once naming the CK_RV,
#     no loop of C_OpenSession.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

FC=${P11JWT_FAULTCLIENT_BIN:-$(dirname "$P11JWT_BIN")/tests/fault/faultclient}
[[ -x $FC ]] || fail "faultclient not found at $FC (set P11JWT_FAULTCLIENT_BIN)"

AUD=https://sts.example.invalid/token
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid cl-es
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid cl-es2
export_jwks "$T/jwks.json"
start_sts sts --jwks "$T/jwks.json" --iss-allowed fault-backend
URL=$STS/rfc7523/token
(umask 077 && printf 'wrong-%s' "$(cat "$PIN_FILE")" >"$T/wrong-pin")
for p in good:$PIN_FILE wrongpin:$T/wrong-pin; do
    printf '\n[profile %s]\ndialect = rfc7523\ntoken = %s\npin_file = %s\nkid = cl-es\n' \
        "${p%%:*}" "$TOKEN" "${p#*:}" >>"$CONF"
    printf 'token_url = %s\niss = fault-backend\nmax_retries = 2\n' "$URL" >>"$CONF"
done

# field NAME: a key=value line of the last run's output.
field() { sed -n "s/^$1=//p" "$T/out"; }

valid() {
    [[ $(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" \
        "$STS/rfc7523/resource") == 200 ]] || fail "the resource refuses the last token of: $RAN"
}

# all_fail_naming WHAT RV: the last run's 12 calls all failed, each within
# 5 s, with at least one message and every message naming RV; and no
# exchange was sent after the warm-up (c0: the STS's count before the run).
all_fail_naming() {
    [[ $(field ok) == 0 && $(field failed) == 12 ]] ||
        fail "$1: $(field ok) served, $(field failed) failed"
    (($(field ms_max) < 5000)) || fail "$1: a call took $(field ms_max) ms"
    [[ $(field error | wc -l) -ge 1 ]] && ! field error | grep -v -q -- "$2" ||
        fail "$1: not every message names $2: $(field error)"
    [[ $(($(calls /rfc7523/token) - c0)) -eq 1 ]] ||
        fail "$1: exchanges were sent without a signature (or no warm-up)"
}

# client warm|cold PROFILE RULES THREADS ROUNDS
client() {
    rm -f "$COUNTS" "$P11FAULT_FILE"
    run_cmd via_fault "$FC" client "$CONF" "$2" "$1" "$3" "$4" "$5"
    [[ $RC -eq 0 ]] || fail "faultclient exit $RC: $ERR"
    [[ -z $ERR ]] || fail "faultclient wrote to stderr: $ERR"
}

step "a cached key handle re-found on a dropped session, or logged out: recovered"
rm -f "$COUNTS"
run_cmd via_fault "$FC" keys "$TOKEN" "$PIN_FILE" cl-es cl-es2 "$AUD"
[[ $RC -eq 0 ]] || fail "faultclient keys: $ERR"
[[ $(wc -l <"$T/out") -eq 3 ]] || fail "expected three JWS: $OUT"
pyverify --jwks "$T/jwks.json" --aud "$AUD" --iss faultclient --lines <"$T/out" >/dev/null ||
    fail "PyJWT rejects a JWS signed after recovery"
expect_count faults C_SignInit -eq 1
expect_count faults C_FindObjectsInit -eq 2
expect_count calls C_Login -eq 3        # the first, after the lost session, after the logout

for fn in C_SignInit C_Sign; do
    for rv in CKR_SESSION_HANDLE_INVALID CKR_SESSION_CLOSED CKR_DEVICE_REMOVED \
        CKR_TOKEN_NOT_PRESENT CKR_USER_NOT_LOGGED_IN CKR_OBJECT_HANDLE_INVALID; do
        step "warm client, 4 threads x 3 exchanges: $fn -> $rv once: every call served"
        c0=$(calls /rfc7523/token)
        client warm good "$fn@1=$rv" 4 3
        [[ $(field failed) == 0 && $(field ok) == 12 ]] ||
            fail "$fn -> $rv: $(field ok) calls served, $(field failed) failed: $(field error)"
        valid "$(field token)"
        expect_count faults "$fn" -eq 1
        expect_count calls C_Login -le 2          # the warm-up's, and one after a loss
        (($(calls /rfc7523/token) > c0)) || fail "no exchange reached the STS"
    done
done

step "warm client, the device gone for good: every call fails within 5 s, naming the CK_RV"
c0=$(calls /rfc7523/token)
client warm good 'C_SignInit@1!=CKR_DEVICE_REMOVED' 4 3
all_fail_naming "device gone" CKR_DEVICE_REMOVED
step "device gone: slowest call $(field ms_max) ms: $(field error | head -n 1)"

step "a wrong PIN, cold cache, 4 threads x 3 rounds: ONE C_Login in the process"
client cold wrongpin "" 4 3
[[ $(field ok) == 0 && $(field failed) == 12 ]] || fail "wrong PIN: $(field ok) served"
expect_count calls C_Login -eq 1
field error | grep -q 'CKR_PIN_INCORRECT' || fail "wrong PIN: no clear error: $(field error)"
step "wrong PIN: $(count calls C_Login) C_Login for 12 calls: $(field error | head -n 1)"

step "the login lost on a warm client and the PIN refused: ONE more C_Login"
client warm good 'C_SignInit@1=CKR_USER_NOT_LOGGED_IN;C_Login@1+=CKR_PIN_INCORRECT' 4 3
[[ $(field ok) == 0 ]] || fail "served $(field ok) calls without a login"
expect_count calls C_Login -eq 2
expect_count faults C_Login -eq 1

step "CKR_FUNCTION_FAILED on every C_Sign: each exchange signs once, no loop"
c0=$(calls /rfc7523/token)
client warm good 'C_Sign@1+=CKR_FUNCTION_FAILED' 2 3
[[ $(field ok) == 0 && $(field failed) == 6 ]] || fail "FUNCTION_FAILED: $(field ok) served"
field error | grep -q 'CKR_FUNCTION_FAILED' || fail "no clear error: $(field error)"
# the warm-up's signature, then at most one per call (waiters share one)
expect_count faults C_Sign -le 6
expect_count calls C_Sign -eq $(($(count faults C_Sign) + 1))
[[ $(($(calls /rfc7523/token) - c0)) -eq 1 ]] || fail "exchanges were sent without a signature"

step "warm client, CKR_SESSION_COUNT on every C_OpenSession: its pool's session serves every call"
client warm good 'C_OpenSession@1+=CKR_SESSION_COUNT' 4 3
[[ $(field failed) == 0 && $(field ok) == 12 ]] ||
    fail "SESSION_COUNT, session kept: $(field ok) served, $(field failed) failed: $(field error)"
valid "$(field token)"
# the warm-up's session, kept in the pool (exchanges are single-flight, so
# one is enough; allow one more try that would have waited for it)
expect_count calls C_OpenSession -le 2

step "warm client, its session lost and the token out of sessions: every call fails at once"
c0=$(calls /rfc7523/token)
client warm good 'C_Sign@1=CKR_SESSION_HANDLE_INVALID;C_OpenSession@1+=CKR_SESSION_COUNT' 4 3
all_fail_naming "SESSION_COUNT, session lost" CKR_SESSION_COUNT
# no spin: the warm-up's session, then at most one try per call
expect_count calls C_OpenSession -le 13
step "SESSION_COUNT: $(count calls C_OpenSession) C_OpenSession for 12 calls, slowest $(field ms_max) ms: $(field error | head -n 1)"

echo "client: all checks passed"
