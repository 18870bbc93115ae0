/*
 * test_oauth_error.c — how a refusal from an STS is read: which answers
 * point at the key (a rotation fallback may help: a bare invalid_grant or
 * invalid_client, a description naming the signature, an untrusted entity
 * or the key, any 401) and which at timing (never at the key), and that
 * the provider's text is shown escaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "exchange/exchange_int.h"

static p11jwt_profile prof = { .dialect = EXCH_DT };

static void flags(long status, const char *body, int want_timing, int want_keyish)
{
    exch_response rs = { .status = status, .body = (char *)body, .len = strlen(body) };
    int timing = -1, keyish = -1;

    assert_int_equal(exch_oauth_error(&prof, &rs, &timing, &keyish), P11JWT_ERR_OAUTH);
    if (timing != want_timing || keyish != want_keyish)
        fail_msg("%ld %s: timing %d keyish %d, want %d %d", status, body, timing, keyish,
                 want_timing, want_keyish);
}

static void what_points_at_the_key(void **state)
{
    (void)state;
    /* Disruptive Technologies' answer to an unknown key id */
    flags(400, "{\"error\": \"invalid_grant\"}", 0, 1);
    flags(400, "{\"error\":\"invalid_grant\",\"error_description\":\"\"}", 0, 1);
    flags(401, "{\"error\":\"invalid_client\"}", 0, 1);
    flags(400, "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid signature\"}", 0, 1);
    flags(400, "{\"error\":\"invalid_grant\",\"error_description\":\"Untrusted entity. Check "
               "the 'aud' and 'iss' claims.\"}", 0, 1);
    flags(400, "{\"error\":\"invalid_grant\",\"error_description\":\"unknown key\"}", 0, 1);
    flags(401, "not json", 0, 1);
    /* timing is never the key, whatever else is said */
    flags(400, "{\"error\":\"invalid_grant\",\"error_description\":\"Timing-related error. "
               "Check the 'exp' and 'iat' claims.\"}", 1, 0);
    flags(401, "{\"error\":\"invalid_client\",\"error_description\":\"timing: key too "
               "old\"}", 1, 0);
    /* neither */
    flags(400, "{\"error\":\"invalid_grant\",\"error_description\":\"assertion expired "
               "or used\"}", 0, 0);
    flags(400, "{\"error\":\"unsupported_grant_type\"}", 0, 0);
    flags(400, "{\"error\":\"invalid_scope\"}", 0, 0);
    flags(500, "oops", 0, 0);
}

static void provider_text_escaped(void **state)
{
    exch_response rs = { .status = 400 };
    const char *body = "{\"error\":\"invalid_grant\",\"error_description\":\"a\\nb\\u001b[2J\"}";
    int timing, keyish;

    (void)state;
    rs.body = (char *)body;
    rs.len = strlen(body);
    exch_oauth_error(&prof, &rs, &timing, &keyish);
    assert_non_null(strstr(p11jwt_errmsg(), "a\\nb\\x1b[2J"));
}

static const char *message(exch_dialect_id d, long status, const char *body)
{
    p11jwt_profile p = { .dialect = d };
    exch_response rs = { .status = status, .body = (char *)body, .len = strlen(body) };
    int timing, keyish;

    assert_int_equal(exch_oauth_error(&p, &rs, &timing, &keyish), P11JWT_ERR_OAUTH);
    return p11jwt_errmsg();
}

/* The hints dt documents (neowit runs the same service), then the generic
 * ones; the first match wins. */
static void hints(void **state)
{
    (void)state;
    assert_string_equal(message(EXCH_DT, 400, "{\"error\":\"invalid_grant\","
                                              "\"error_description\":\"Timing-related error\"}"),
                        "the STS refused (HTTP 400): invalid_grant: Timing-related error — hint: "
                        "check this host's clock (NTP) and that exp - iat <= 3600 (profile ttl)");
    assert_non_null(strstr(message(EXCH_NEOWIT, 400, "{\"error\":\"invalid_grant\","
                                                     "\"error_description\":\"Untrusted entity\"}"),
                           "hint: aud must be the token URL"));
    assert_non_null(strstr(message(EXCH_DT, 400, "{\"error\":\"invalid_grant\","
                                                 "\"error_description\":\"bad SIGNATURE\"}"),
                           "hint: the kid must be the service account key id"));
    assert_non_null(strstr(message(EXCH_DT, 400, "{\"error\":\"unsupported_grant_type\"}"),
                           "hint: the body must be form URL-encoded"));
    assert_non_null(strstr(message(EXCH_DT, 400, "{\"error\":\"invalid_grant\"}"),
                           "hint: the service account or its key may not exist"));
    /* dt's hints are dt's: another dialect gets the generic ones only */
    assert_string_equal(message(EXCH_RFC7523, 400, "{\"error\":\"invalid_grant\"}"),
                        "the STS refused (HTTP 400): invalid_grant");
    assert_string_equal(message(EXCH_RFC7523, 401, "{\"error\":\"invalid_client\"}"),
                        "the STS refused (HTTP 401): invalid_client — hint: check client_id and "
                        "the client secret or key");
    assert_non_null(strstr(message(EXCH_PRIVATE_KEY_JWT, 400, "{\"error\":\"invalid_scope\"}"),
                           "hint: the scope is not granted to this client"));
    assert_non_null(strstr(message(EXCH_JSA, 400, "{\"error\":\"unauthorized_client\"}"),
                           "hint: this client may not use this grant type"));
    /* not an OAuth error: the start of what came back */
    assert_string_equal(message(EXCH_DT, 503, "Service Unavailable"),
                        "the STS answered HTTP 503: Service Unavailable");
    assert_string_equal(message(EXCH_DT, 502, ""), "the STS answered HTTP 502");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(what_points_at_the_key),
        cmocka_unit_test(provider_text_escaped),
        cmocka_unit_test(hints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
