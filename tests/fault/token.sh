#!/usr/bin/env bash
# token.sh — `p11jwt token` (sign an assertion, exchange it at the test STS,
# which checks it with PyJWT) through the fault module:
#   - each recoverable CK_RV on C_SignInit / C_Sign: a token after one
#     recovery, accepted by the resource;
#   - a device that stays gone: one line naming the CK_RV within 5 s, and
#     nothing sent to the STS;
#   - a wrong PIN: one C_Login, one clear line, nothing sent;
#   - CKR_FUNCTION_FAILED / CKR_GENERAL_ERROR: one clear line, no retry of
#     the signature nor of the exchange;
#   - CKR_SESSION_COUNT with no session of ours to wait for: a clear error at
#     once, no loop of C_OpenSession, nothing sent.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid tk-es
export_jwks "$T/jwks.json"
start_sts sts --jwks "$T/jwks.json" --iss-allowed fault-backend
URL=$STS/rfc7523/token
(umask 077 && printf 'wrong-%s' "$(cat "$PIN_FILE")" >"$T/wrong-pin")
for p in good:$PIN_FILE wrongpin:$T/wrong-pin; do
    printf '\n[profile %s]\ndialect = rfc7523\ntoken = %s\npin_file = %s\nkid = tk-es\n' \
        "${p%%:*}" "$TOKEN" "${p#*:}" >>"$CONF"
    printf 'token_url = %s\niss = fault-backend\nmax_retries = 2\n' "$URL" >>"$CONF"
done

valid() {
    [[ $(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" \
        "$STS/rfc7523/resource") == 200 ]] || fail "the resource refuses the token from: $RAN"
}

step "baseline"
expect_exit 0 fx "" token --config "$CONF" --profile good
valid "$OUT"
BASE_C_Sign=$(count calls C_Sign)
BASE_C_SignInit=$(count calls C_SignInit)
BASE_C_Login=$(count calls C_Login)

for fn in C_SignInit C_Sign; do
    for rv in CKR_SESSION_HANDLE_INVALID CKR_SESSION_CLOSED CKR_DEVICE_REMOVED \
        CKR_TOKEN_NOT_PRESENT CKR_USER_NOT_LOGGED_IN CKR_OBJECT_HANDLE_INVALID; do
        step "token: $fn -> $rv once: recovered"
        c0=$(calls /rfc7523/token)
        expect_exit 0 fx "$fn@1=$rv" token --config "$CONF" --profile good
        valid "$OUT"
        expect_count faults "$fn" -eq 1
        base=BASE_$fn
        expect_count calls "$fn" -eq $((${!base} + 1))
        expect_count calls C_Login -le $((BASE_C_Login + 1))
        [[ $(($(calls /rfc7523/token) - c0)) -eq 1 ]] || fail "one exchange expected: $RAN"
    done
done

step "token: a device that stays gone: one line naming the CK_RV within 5 s, nothing sent"
c0=$(calls /rfc7523/token)
for rule in C_Sign@1!=CKR_DEVICE_REMOVED C_SignInit@1!=CKR_TOKEN_NOT_PRESENT \
    C_Login@1!=CKR_DEVICE_REMOVED C_GetSlotList@1!=CKR_DEVICE_REMOVED; do
    timed 1 5000 fx "$rule" token --config "$CONF" --profile good
    expect_one_line_naming "${rule#*=}"
    step "gone at $rule: $ELAPSED ms: $ERR"
done
[[ $(calls /rfc7523/token) == "$c0" ]] || fail "an assertion reached the STS with the device gone"

step "token: a wrong PIN: one C_Login, one clear line, nothing sent"
timed 1 5000 fx "" token --config "$CONF" --profile wrongpin
expect_one_line_naming CKR_PIN_INCORRECT
expect_count calls C_Login -eq 1
[[ $(calls /rfc7523/token) == "$c0" ]] || fail "an exchange was tried without a signature"

step "token: CKR_FUNCTION_FAILED / CKR_GENERAL_ERROR: one clear line, no retry"
for fn in C_SignInit C_Sign; do
    for rv in CKR_FUNCTION_FAILED CKR_GENERAL_ERROR; do
        timed 1 5000 fx "$fn@1+=$rv" token --config "$CONF" --profile good
        expect_one_line_naming "$rv"
        base=BASE_$fn
        expect_count calls "$fn" -eq "${!base}"
    done
done
[[ $(calls /rfc7523/token) == "$c0" ]] || fail "an exchange was tried without a signature"

step "token: CKR_SESSION_COUNT and no session of ours to wait for: a clear error at once"
timed 1 5000 fx 'C_OpenSession@1+=CKR_SESSION_COUNT' token --config "$CONF" --profile good
expect_one_line_naming CKR_SESSION_COUNT
expect_count calls C_OpenSession -le 2
[[ $(calls /rfc7523/token) == "$c0" ]] || fail "an exchange was tried without a session"

echo "token: all checks passed"
