#!/usr/bin/env bash
# sign.sh — `p11jwt sign` (one signature per process) against every fault
# the token layer must survive or report:
#   - each recoverable CK_RV on C_SignInit and on C_Sign: signed after ONE
#     recovery, verified by PyJWT; the same fault twice: one clear error;
#   - a device that stays gone, whichever call it vanishes at: one line
#     naming the CK_RV within 5 s;
#   - CKR_FUNCTION_FAILED / CKR_GENERAL_ERROR: a clear error, no retry;
#   - a wrong PIN: exactly one C_Login, then a clear error;
#   - CKR_SESSION_COUNT with no session to wait for: a clear error at once;
#   - a 2 s delay on C_Sign delays `sign` by about that (the background-
#     refresh test of a later issue builds on this rule).
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid f-es
export_jwks "$T/jwks.json" f-es
(umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >"$T/hs.secret")
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid f-hs --alg HS256 --secret-file "$T/hs.secret"
SIGN=(sign "${TOK[@]}" --kid f-es --iss fault --aud "$AUD")

verify_es() {
    pyverify --jwks "$T/jwks.json" --aud "$AUD" --iss fault <<<"$OUT" >/dev/null ||
        fail "PyJWT rejects the JWS signed after: $RAN"
}

step "baseline: the calls one clean signature makes"
expect_exit 0 fx "" "${SIGN[@]}"
verify_es
for f in C_OpenSession C_Login C_FindObjectsInit C_SignInit C_Sign; do
    declare "BASE_$f=$(count calls "$f")"
done
step "baseline: $BASE_C_OpenSession C_OpenSession, $BASE_C_Login C_Login, $BASE_C_FindObjectsInit C_FindObjectsInit"

RECOVERABLE=(CKR_SESSION_HANDLE_INVALID CKR_SESSION_CLOSED CKR_DEVICE_REMOVED CKR_TOKEN_NOT_PRESENT
    CKR_USER_NOT_LOGGED_IN CKR_OBJECT_HANDLE_INVALID)
for fn in C_SignInit C_Sign; do
    for rv in "${RECOVERABLE[@]}"; do
        step "$fn -> $rv once: recovered"
        expect_exit 0 fx "$fn@1=$rv" "${SIGN[@]}"
        verify_es
        expect_count faults "$fn" -eq 1
        base=BASE_$fn
        expect_count calls "$fn" -eq $((${!base} + 1))      # one retry, no more
        case $rv in
        CKR_SESSION_* | CKR_DEVICE_REMOVED | CKR_TOKEN_NOT_PRESENT)
            # the session (and with the device, the login) went for real
            expect_count calls C_OpenSession -eq $((BASE_C_OpenSession + 1)) ;;
        CKR_USER_NOT_LOGGED_IN)
            expect_count calls C_Login -eq $((BASE_C_Login + 1)) ;;
        CKR_OBJECT_HANDLE_INVALID)
            expect_count calls C_FindObjectsInit -eq $((BASE_C_FindObjectsInit + 1)) ;;
        esac
        expect_count calls C_Login -le $((BASE_C_Login + 1))

        step "$fn -> $rv twice: one clear error, no third try"
        timed 1 5000 fx "$fn@1+=$rv" "${SIGN[@]}"
        expect_one_line_naming "$rv"
        expect_count calls "$fn" -eq $((${!base} + 1))
    done
done

step "HS256: a lost session on C_Sign is recovered too"
expect_exit 0 fx 'C_Sign@1=CKR_SESSION_HANDLE_INVALID' sign "${TOK[@]}" --kid f-hs --iss fault --aud "$AUD"
pyverify --secret-file "$T/hs.secret" --alg HS256 --aud "$AUD" <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the HS256 JWS signed after recovery"
expect_count faults C_Sign -eq 1

step "a device that stays gone: one line naming the CK_RV within 5 s, wherever it vanishes"
for rule in C_Sign@1!=CKR_DEVICE_REMOVED C_SignInit@1!=CKR_TOKEN_NOT_PRESENT \
    C_FindObjectsInit@1!=CKR_DEVICE_REMOVED C_Login@1!=CKR_DEVICE_REMOVED \
    C_GetSessionInfo@1!=CKR_TOKEN_NOT_PRESENT C_OpenSession@1!=CKR_DEVICE_REMOVED \
    C_GetTokenInfo@1!=CKR_TOKEN_NOT_PRESENT C_GetTokenInfo@2!=CKR_DEVICE_REMOVED \
    C_GetSlotList@1!=CKR_DEVICE_REMOVED C_Initialize@1=CKR_DEVICE_REMOVED \
    C_GetTokenInfo@1!=CKR_GENERAL_ERROR C_GetTokenInfo@1+=CKR_GENERAL_ERROR; do
    # (CKR_GENERAL_ERROR from C_GetTokenInfo makes p11jwt reload the module,
    # a few times: bounded too)
    timed 1 5000 fx "$rule" "${SIGN[@]}"
    expect_one_line_naming "${rule#*=}"
    step "gone at $rule: $ELAPSED ms: $ERR"
done
# ... and for the other commands that log in
timed 1 5000 fx 'C_FindObjectsInit@1!=CKR_DEVICE_REMOVED' list "${TOK[@]}"
expect_one_line_naming CKR_DEVICE_REMOVED
timed 1 5000 fx 'C_GetAttributeValue@1!=CKR_DEVICE_REMOVED' jwks --token "$TOKEN"
expect_one_line_naming CKR_DEVICE_REMOVED

step "CKR_FUNCTION_FAILED / CKR_GENERAL_ERROR: a clear error, no retry"
for fn in C_SignInit C_Sign; do
    for rv in CKR_FUNCTION_FAILED CKR_GENERAL_ERROR; do
        timed 1 5000 fx "$fn@1=$rv" "${SIGN[@]}"
        expect_one_line_naming "$rv"
        base=BASE_$fn
        expect_count calls "$fn" -eq "${!base}"
        expect_count calls C_OpenSession -eq "$BASE_C_OpenSession"
    done
done

step "a wrong PIN: exactly one C_Login, then a clear error"
(umask 077 && printf 'wrong-%s' "$(cat "$PIN_FILE")" >"$T/wrong-pin")
timed 1 5000 fx "" sign --token "$TOKEN" --pin-file "$T/wrong-pin" --kid f-es --iss fault --aud "$AUD"
expect_one_line_naming CKR_PIN_INCORRECT
expect_err_matches "PIN file"
expect_count calls C_Login -eq 1
timed 1 5000 fx "" list --token "$TOKEN" --pin-file "$T/wrong-pin"
expect_count calls C_Login -eq 1

step "CKR_SESSION_COUNT and no session of ours to wait for: a clear error at once"
timed 1 5000 fx 'C_OpenSession@1+=CKR_SESSION_COUNT' "${SIGN[@]}"
expect_one_line_naming CKR_SESSION_COUNT
expect_count calls C_OpenSession -le 2

step "a 2 s delay on C_Sign delays sign by about that"
t0=$(now_ms)
expect_exit 0 fx "" "${SIGN[@]}"
plain=$(($(now_ms) - t0))
t0=$(now_ms)
expect_exit 0 fx 'C_Sign@1+~2000ms' "${SIGN[@]}"
slow=$(($(now_ms) - t0))
verify_es
# loosely: the delay cannot be shorter than asked, and adds about that much
# (a loaded or sanitised build varies by a second either way)
((slow >= 2000 && slow - plain <= 4000)) ||
    fail "C_Sign delayed 2000 ms: sign took $slow ms against $plain ms without"
step "sign: $plain ms plain, $slow ms with C_Sign delayed 2 s"

echo "sign: all checks passed"
