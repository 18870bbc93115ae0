/*
 * test_fleet.c — the fleet cache's pure parts (docs/fleet.md): the scope
 * set that names an entry (sorted, each scope once), an entry read back
 * strictly (anything but what p11jwt writes is refused, never half-used),
 * the Redis address a `cache` value gives, and `cache_timeout`'s values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "exchange/exchange_int.h"

static void scope_set(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "a", "a" },
        { "b a", "a b" },
        { "  b   a b a  ", "a b" },
        { "read:x write:x read:x", "read:x write:x" },
        { "", NULL },
        { "   ", NULL },
        { NULL, NULL },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = exch_scope_normalise(cases[i].in);

        if (cases[i].want == NULL ? got != NULL : got == NULL || strcmp(got, cases[i].want) != 0)
            fail_msg("'%s': got '%s', want '%s'", cases[i].in ? cases[i].in : "(null)",
                     got ? got : "(null)", cases[i].want ? cases[i].want : "(null)");
        free(got);
    }
}

static void entry_roundtrip(void **state)
{
    static const char good[] = "p11jwt-cache-1\n2000000000\n1999999000\nBearer\na b\ntok.en-1";
    exch_cache_entry e;

    (void)state;
    assert_int_equal(exch_entry_decode(good, strlen(good), &e), P11JWT_OK);
    assert_int_equal(e.tok.expires_at, 2000000000);
    assert_int_equal(e.refresh_at, 1999999000);
    assert_string_equal(e.tok.type, "Bearer");
    assert_string_equal(e.tok.scope, "a b");
    assert_string_equal(e.tok.value, "tok.en-1");
    p11jwt_access_token_clear(&e.tok);

    /* no scope */
    {
        static const char s[] = "p11jwt-cache-1\n2000000000\n1999999000\nBearer\n\nt";

        assert_int_equal(exch_entry_decode(s, strlen(s), &e), P11JWT_OK);
        assert_null(e.tok.scope);
        assert_string_equal(e.tok.value, "t");
        p11jwt_access_token_clear(&e.tok);
    }
}

static void entry_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "p11jwt-cache-1",
        "p11jwt-cache-2\n2000000000\n1999999000\nBearer\n\nt",
        "p11jwt-cache-1\n2000000000\n1999999000\nBearer\n\n",        /* no token */
        "p11jwt-cache-1\n-5\n1999999000\nBearer\n\nt",               /* negative */
        "p11jwt-cache-1\n20x\n1999999000\nBearer\n\nt",              /* not a number */
        "p11jwt-cache-1\n\n1999999000\nBearer\n\nt",                 /* empty number */
        "p11jwt-cache-1\n2000000000\n1999999000\nBearer\n\nt\x01",  /* control byte */
        "p11jwt-cache-1\n2000000000\n1999999000\nBea\xffrer\n\nt",  /* not ASCII */
        "p11jwt-cache-1\n99999999999999999999\n1\nBearer\n\nt",      /* overflow */
        "p11jwt-cache-1\n 2000000000\n1999999000\nBearer\n\nt",      /* a space */
        "p11jwt-cache-1\n+2000000000\n1999999000\nBearer\n\nt",      /* a sign */
        "p11jwt-cache-1\n2000000000\n01999999000\nBearer\n\nt",      /* a leading 0 */
        "p11jwt-cache-1\n2000000000\n1999999000\nBearer\n\nt\nu",    /* a newline in it */
    };
    exch_cache_entry e;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (exch_entry_decode(bad[i], strlen(bad[i]), &e) == P11JWT_OK)
            fail_msg("case %zu was taken as an entry", i);
        assert_null(e.tok.value);
    }
    /* A NUL inside is refused too (the length says where the value ends). */
    assert_int_not_equal(exch_entry_decode("p11jwt-cache-1\n2\n1\nB\n\nt\0u", 25, &e), P11JWT_OK);
}

static void redis_urls(void **state)
{
    char *host, *path;
    int port, db;

    (void)state;
    assert_int_equal(exch_redis_parse_url("redis://", &host, &port, &path, &db), P11JWT_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6379);
    assert_int_equal(db, 0);
    assert_null(path);
    free(host);
    assert_int_equal(exch_redis_parse_url("redis://cache.example:6380/3", &host, &port, &path,
                                          &db), P11JWT_OK);
    assert_string_equal(host, "cache.example");
    assert_int_equal(port, 6380);
    assert_int_equal(db, 3);
    free(host);
    assert_int_equal(exch_redis_parse_url("redis+unix:///run/redis.sock?db=2", &host, &port,
                                          &path, &db), P11JWT_OK);
    assert_null(host);
    assert_string_equal(path, "/run/redis.sock");
    assert_int_equal(db, 2);
    free(path);

    static const char *const bad[] = {
        "rediss://cache.example", "redis://user:pw@cache.example", "redis://h:0",
        "redis://h:70000", "redis://h:x", "redis://h/x", "redis+unix://relative",
        "redis+unix:///p?x=1", "memcached://h", "redis://[::1]:6379",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (exch_redis_url_check(bad[i]) == P11JWT_OK)
            fail_msg("'%s' was accepted", bad[i]);
        if (strstr(p11jwt_errmsg(), "pw@") != NULL)
            fail_msg("the message shows the password: %s", p11jwt_errmsg());
    }
}

static void millis(void **state)
{
    int64_t v = 0;

    (void)state;
    assert_int_equal(exch_parse_millis("250", 1, 60000, &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(exch_parse_millis("250ms", 1, 60000, &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(exch_parse_millis("0.5s", 1, 60000, &v), 0);
    assert_int_equal(v, 500);
    assert_int_equal(exch_parse_millis("2s", 1, 60000, &v), 0);
    assert_int_equal(v, 2000);
    assert_int_equal(exch_parse_millis("0", 1, 60000, &v), -1);
    assert_int_equal(exch_parse_millis("61s", 1, 60000, &v), -1);
    assert_int_equal(exch_parse_millis("1.5", 1, 60000, &v), -1);
    assert_int_equal(exch_parse_millis("-1", 1, 60000, &v), -1);
    assert_int_equal(exch_parse_millis("5m", 1, 60000, &v), -1);
    assert_int_equal(exch_parse_millis("nan", 1, 60000, &v), -1);
    assert_int_equal(exch_parse_millis("", 1, 60000, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scope_set),
        cmocka_unit_test(entry_roundtrip),
        cmocka_unit_test(entry_refused),
        cmocka_unit_test(redis_urls),
        cmocka_unit_test(millis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
