/*
 * test_url.c — the URL checks every request goes through (exch_url_parse):
 * https anywhere, plain http to a loopback host only, nothing else; and
 * what a message shows of a URL: scheme://host[:port]/path, escaped, never
 * its userinfo, query or fragment (a jsa request carries its secret in
 * the query).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "exchange/exchange_int.h"

static void loopback(void **state)
{
    static const char *const yes[] = { "localhost", "LocalHost", "127.0.0.1", "127.255.0.9",
                                       "[::1]", "::1", "[0:0:0:0:0:0:0:1]" };
    static const char *const no[] = { "128.0.0.1", "10.0.0.1", "localhost.example", "[::2]",
                                      "::ffff:127.0.0.1", "127.0.0.1.nip.io", "", "[]" };

    (void)state;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!exch_url_is_loopback(yes[i]))
            fail_msg("'%s' is loopback", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (exch_url_is_loopback(no[i]))
            fail_msg("'%s' is not loopback", no[i]);
}

static void check(const char *url, p11jwt_rc want, const char *msg)
{
    p11jwt_rc rc = exch_url_check(url, "token_url", P11JWT_ERR_CONFIG);

    if (rc != want || (msg != NULL && strcmp(p11jwt_errmsg(), msg) != 0))
        fail_msg("%s: rc %d \"%s\", want %d \"%s\"", url, rc, p11jwt_errmsg(), want,
                 msg ? msg : "");
}

static void schemes(void **state)
{
    (void)state;
    check("https://sts.example/token", P11JWT_OK, NULL);
    check("HTTPS://sts.example:8443/t?a=b", P11JWT_OK, NULL);
    check("http://127.0.0.1:8080/t", P11JWT_OK, NULL);
    check("http://localhost/t", P11JWT_OK, NULL);
    check("http://[::1]:9/t", P11JWT_OK, NULL);
    check("http://sts.example/token?secret=S3CRET", P11JWT_ERR_CONFIG,
          "token_url http://sts.example/token: plain http is refused for non-loopback host "
          "'sts.example'; use https");
    check("ftp://127.0.0.1/t", P11JWT_ERR_CONFIG,
          "token_url ftp://127.0.0.1/t: only https (or http to loopback) is spoken");
    check("not a url", P11JWT_ERR_CONFIG, NULL);
    assert_non_null(strstr(p11jwt_errmsg(), "token_url is not a valid URL"));
    assert_null(strstr(p11jwt_errmsg(), "not a url"));
}

static void shown(void **state)
{
    exch_url u;

    (void)state;
    assert_int_equal(exch_url_parse("https://user:pw@sts.example:8443/a/b?client_secret=S#f",
                                    "URL", P11JWT_ERR_HTTP, &u),
                     P11JWT_OK);
    assert_string_equal(u.shown, "https://sts.example:8443/a/b");
    assert_true(u.https);
    assert_false(u.loopback);
    exch_url_free(&u);
    assert_int_equal(exch_url_parse("http://127.0.0.1", "URL", P11JWT_ERR_HTTP, &u), P11JWT_OK);
    assert_string_equal(u.shown, "http://127.0.0.1/");
    assert_true(u.loopback);
    exch_url_free(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loopback),
        cmocka_unit_test(schemes),
        cmocka_unit_test(shown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
