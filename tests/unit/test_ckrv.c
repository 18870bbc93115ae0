/*
 * test_ckrv.c — the CK_RV table: every value we name maps to its own macro
 * name, unknown values are shown in hex, messages carry name and text, and
 * the "session lost" classification drives recovery exactly as designed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "pkcs11/pkcs11_int.h"

#define RV(x) { x, #x }
static const struct { CK_RV rv; const char *name; } known[] = {
    RV(CKR_OK), RV(CKR_HOST_MEMORY), RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED),
    RV(CKR_ARGUMENTS_BAD), RV(CKR_ATTRIBUTE_SENSITIVE), RV(CKR_ATTRIBUTE_TYPE_INVALID),
    RV(CKR_DEVICE_ERROR), RV(CKR_DEVICE_REMOVED), RV(CKR_KEY_HANDLE_INVALID),
    RV(CKR_KEY_SIZE_RANGE), RV(CKR_KEY_TYPE_INCONSISTENT), RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
    RV(CKR_MECHANISM_INVALID), RV(CKR_OBJECT_HANDLE_INVALID), RV(CKR_OPERATION_ACTIVE),
    RV(CKR_OPERATION_NOT_INITIALIZED), RV(CKR_PIN_INCORRECT), RV(CKR_PIN_LEN_RANGE),
    RV(CKR_PIN_LOCKED), RV(CKR_SESSION_CLOSED), RV(CKR_SESSION_COUNT),
    RV(CKR_SESSION_HANDLE_INVALID), RV(CKR_SESSION_READ_ONLY), RV(CKR_SIGNATURE_INVALID),
    RV(CKR_TEMPLATE_INCOMPLETE), RV(CKR_TEMPLATE_INCONSISTENT), RV(CKR_TOKEN_NOT_PRESENT),
    RV(CKR_TOKEN_WRITE_PROTECTED), RV(CKR_USER_ALREADY_LOGGED_IN), RV(CKR_USER_NOT_LOGGED_IN),
    RV(CKR_USER_PIN_NOT_INITIALIZED), RV(CKR_CURVE_NOT_SUPPORTED), RV(CKR_BUFFER_TOO_SMALL),
    RV(CKR_CRYPTOKI_NOT_INITIALIZED), RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};

static void names_match_macros(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        assert_string_equal(p11_ckr_name(known[i].rv), known[i].name);
}

static void unknown_values_in_hex(void **state)
{
    (void)state;
    assert_string_equal(p11_ckr_name(0x8000abcdUL), "CKR_0x8000abcd");
    assert_string_equal(p11_ckr_text(0x8000abcdUL), "");
}

static void every_failure_has_words(void **state)
{
    (void)state;
    /* Each non-OK value we expect in practice explains itself. */
    for (size_t i = 1; i < sizeof known / sizeof known[0]; i++)
        assert_true(strlen(p11_ckr_text(known[i].rv)) > 0);
}

static void fail_message_names_rv_and_text(void **state)
{
    (void)state;
    assert_int_equal(p11_fail(P11JWT_ERR_PIN, CKR_PIN_INCORRECT, "login"), P11JWT_ERR_PIN);
    assert_string_equal(p11jwt_errmsg(), "login: CKR_PIN_INCORRECT (PIN incorrect)");
    assert_int_equal(p11_fail(P11JWT_ERR_PKCS11, 0x8000abcdUL, "sign"), P11JWT_ERR_PKCS11);
    assert_string_equal(p11jwt_errmsg(), "sign: CKR_0x8000abcd");
}

static void session_lost_classification(void **state)
{
    (void)state;
    assert_true(p11_rv_session_lost(CKR_SESSION_HANDLE_INVALID));
    assert_true(p11_rv_session_lost(CKR_SESSION_CLOSED));
    assert_true(p11_rv_session_lost(CKR_DEVICE_REMOVED));
    assert_true(p11_rv_session_lost(CKR_TOKEN_NOT_PRESENT));
    /* Login loss and stale handles are recovered without a new session. */
    assert_false(p11_rv_session_lost(CKR_USER_NOT_LOGGED_IN));
    assert_false(p11_rv_session_lost(CKR_OBJECT_HANDLE_INVALID));
    assert_false(p11_rv_session_lost(CKR_PIN_INCORRECT));
    assert_false(p11_rv_session_lost(CKR_OK));
}

static void strerror_covers_every_code(void **state)
{
    (void)state;
    for (int rc = P11JWT_OK; rc <= P11JWT_ERR_SECRET; rc++)
        assert_string_not_equal(p11jwt_strerror((p11jwt_rc)rc), "unknown error");
    assert_string_equal(p11jwt_strerror((p11jwt_rc)999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_match_macros),
        cmocka_unit_test(unknown_values_in_hex),
        cmocka_unit_test(every_failure_has_words),
        cmocka_unit_test(fail_message_names_rv_and_text),
        cmocka_unit_test(session_lost_classification),
        cmocka_unit_test(strerror_covers_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
