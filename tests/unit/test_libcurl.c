/*
 * test_libcurl.c — the typed curl_easy_setopt wrappers of
 * src/exchange/libcurl.c: each takes the options of its type only and
 * refuses the others (curl's own varargs would read a long as a pointer),
 * and libcurl, loaded on first use, takes what they pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "exchange/exchange_int.h"

static size_t sink(char *d, size_t s, size_t n, void *u)
{
    (void)d;
    (void)u;
    return s * n;
}

static void wrong_type_refused(void **state)
{
    CURL *c;

    (void)state;
    assert_int_equal(exch_curl_load(), P11JWT_OK);
    c = exch_curl_easy_init();
    assert_non_null(c);
    /* Each of these libcurl would take (and misread) without the check;
     * none of them makes it crash, so the test fails rather than dies. */
    assert_int_equal(exch_curl_setopt_long(c, CURLOPT_MAXFILESIZE_LARGE, 1L),
                     CURLE_BAD_FUNCTION_ARGUMENT);
    assert_int_equal(exch_curl_setopt_ptr(c, CURLOPT_TIMEOUT, "x"),
                     CURLE_BAD_FUNCTION_ARGUMENT);
    assert_int_equal(exch_curl_setopt_ptr(c, CURLOPT_WRITEFUNCTION, NULL),
                     CURLE_BAD_FUNCTION_ARGUMENT);
    assert_int_equal(exch_curl_setopt_off(c, CURLOPT_TIMEOUT, (curl_off_t)1),
                     CURLE_BAD_FUNCTION_ARGUMENT);
    assert_int_equal(exch_curl_setopt_write(c, CURLOPT_POSTFIELDSIZE_LARGE, sink),
                     CURLE_BAD_FUNCTION_ARGUMENT);
    exch_curl_easy_cleanup(c);
}

static void right_type_taken(void **state)
{
    CURL *c;

    (void)state;
    assert_int_equal(exch_curl_load(), P11JWT_OK);
    c = exch_curl_easy_init();
    assert_non_null(c);
    assert_int_equal(exch_curl_setopt_long(c, CURLOPT_TIMEOUT, 5L), CURLE_OK);
    assert_int_equal(exch_curl_setopt_ptr(c, CURLOPT_USERAGENT, "p11jwt-test"), CURLE_OK);
    assert_int_equal(exch_curl_setopt_off(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)4096),
                     CURLE_OK);
    assert_int_equal(exch_curl_setopt_write(c, CURLOPT_WRITEFUNCTION, sink), CURLE_OK);
    exch_curl_easy_cleanup(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wrong_type_refused),
        cmocka_unit_test(right_type_taken),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
