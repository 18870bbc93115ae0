/*
 * test_claims.c — the header and claims JSON of an assertion: member order,
 * iat/exp from the given clock, jti shape and uniqueness, extras appended in
 * order, and the refusals (no iss/aud, bad ttl, extras that are not an
 * object or redefine a standard claim); then the verifier's claim checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jose/jose.h"

static void header_members_in_order(void **state)
{
    char *h = NULL;
    unsigned char *json;
    size_t len;

    (void)state;
    assert_int_equal(jose_header_b64(P11JWT_ES512, "k\"1", &h), P11JWT_OK);
    assert_int_equal(jose_b64url_decode(h, strlen(h), &json, &len), P11JWT_OK);
    assert_string_equal((char *)json, "{\"alg\":\"ES512\",\"kid\":\"k\\\"1\",\"typ\":\"JWT\"}");
    free(json);
    free(h);
    assert_int_equal(jose_header_b64(P11JWT_ALG_UNKNOWN, "k", &h), P11JWT_ERR_ALG);
    assert_null(h);
}

static void claims_in_documented_order(void **state)
{
    p11jwt_claims_params p = { .iss = "client-1", .aud = "https://sts.example/token",
                               .sub = "svc", .ttl = 600, .now = 1700000000, .no_jti = 1,
                               .extra_json = "{\"organization\":\"o-1\",\"n\":[1,2]}" };
    char *c = NULL;

    (void)state;
    assert_int_equal(jose_claims_json(&p, &c), P11JWT_OK);
    assert_string_equal(c, "{\"iss\":\"client-1\",\"aud\":\"https://sts.example/token\","
                           "\"sub\":\"svc\",\"iat\":1700000000,\"exp\":1700000600,"
                           "\"organization\":\"o-1\",\"n\":[1,2]}");
    free(c);
}

static void aud_may_be_left_out(void **state)
{
    p11jwt_claims_params p = { .iss = "fleet-backend", .ttl = 600, .now = 10, .no_jti = 1,
                               .extra_json = "{\"organization\":\"o-1\"}" };
    char *c = NULL;

    (void)state;
    assert_int_equal(jose_claims_json(&p, &c), P11JWT_OK);
    assert_string_equal(c, "{\"iss\":\"fleet-backend\",\"iat\":10,\"exp\":610,"
                           "\"organization\":\"o-1\"}");
    free(c);
}

/* The claims writer escapes exactly as jansson serialises (its compact
 * form is what the writer replaced): compare the two on awkward strings. */
static void empty_extras_add_nothing(void **state)
{
    p11jwt_claims_params p = { .iss = "i", .aud = "a", .ttl = 1, .now = 7, .no_jti = 1,
                               .extra_json = " {\t} \n" };
    char *c = NULL;

    (void)state;
    assert_int_equal(jose_claims_json(&p, &c), P11JWT_OK);
    assert_string_equal(c, "{\"iss\":\"i\",\"aud\":\"a\",\"iat\":7,\"exp\":8}");
    free(c);
    p.extra_json = "{}x";
    assert_int_equal(jose_claims_json(&p, &c), P11JWT_ERR_JSON);
}

static void escaping_matches_jansson(void **state)
{
    static const char *const values[] = {
        "plain", "quote\"in", "back\\slash", "slash/kept", "tab\tnl\ncr\r",
        "bell\a esc\x1b del\x7f", "\b\f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
        "<script>&'",
    };

    (void)state;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        p11jwt_claims_params p = { .iss = values[i], .aud = values[i], .sub = values[i],
                                   .ttl = 5, .now = 100, .no_jti = 1 };
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i}", "iss", values[i], "aud", values[i],
                              "sub", values[i], "iat", 100, "exp", 105);
        char *mine = NULL, *theirs = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

        assert_int_equal(jose_claims_json(&p, &mine), P11JWT_OK);
        assert_string_equal(mine, theirs);
        free(mine);
        free(theirs);
        json_decref(o);
    }
}

static void jti_is_random_and_url_safe(void **state)
{
    p11jwt_claims_params p = { .iss = "i", .aud = "a", .ttl = 1 };
    char *seen[64];

    (void)state;
    for (size_t i = 0; i < 64; i++) {
        json_t *obj;
        const char *jti;

        assert_int_equal(jose_claims_json(&p, &seen[i]), P11JWT_OK);
        obj = json_loads(seen[i], 0, NULL);
        assert_non_null(obj);
        jti = json_string_value(json_object_get(obj, "jti"));
        assert_non_null(jti);
        assert_int_equal(strlen(jti), 22); /* 16 bytes */
        assert_int_equal(strspn(jti, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789-_"),
                         22);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(seen[k], seen[i]);
        json_decref(obj);
    }
    for (size_t i = 0; i < 64; i++)
        free(seen[i]);
}

static void refusals(void **state)
{
    static const struct {
        p11jwt_claims_params p;
        p11jwt_rc rc;
        const char *msg;
    } cases[] = {
        { { .aud = "a", .ttl = 1 }, P11JWT_ERR_ARG, "iss" },
        { { .iss = "i", .aud = "", .ttl = 1 }, P11JWT_ERR_ARG, "aud" },
        { { .iss = "i", .aud = "a", .ttl = 0 }, P11JWT_ERR_ARG, "ttl" },
        { { .iss = "i", .aud = "a", .ttl = -5 }, P11JWT_ERR_ARG, "ttl" },
        { { .iss = "i", .aud = "a", .ttl = INT64_MAX }, P11JWT_ERR_ARG, "10 years" },
        { { .iss = "i", .aud = "a", .ttl = 1, .extra_json = "[1,2]" }, P11JWT_ERR_JSON,
          "object" },
        { { .iss = "i", .aud = "a", .ttl = 1, .extra_json = "{\"a\":" }, P11JWT_ERR_JSON,
          "not valid JSON" },
        { { .iss = "i", .aud = "a", .ttl = 1, .extra_json = "{\"a\":1,\"a\":2}" },
          P11JWT_ERR_JSON, "duplicate" },
        { { .iss = "i", .aud = "a", .ttl = 1, .extra_json = "{\"exp\":9}" }, P11JWT_ERR_ARG,
          "'exp'" },
        { { .iss = "i", .aud = "a", .ttl = 1, .extra_json = "{\"jti\":\"x\"}" },
          P11JWT_ERR_ARG, "'jti'" },
        { { .iss = "i\xff", .aud = "a", .ttl = 1 }, P11JWT_ERR_ARG, "UTF-8" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = (char *)"sentinel";

        assert_int_equal(jose_claims_json(&cases[i].p, &c), cases[i].rc);
        assert_null(c);
        if (strstr(p11jwt_errmsg(), cases[i].msg) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, p11jwt_errmsg(), cases[i].msg);
    }
}

/* The verifier's side: a parsed JWS with the given payload. */
static p11jwt_rc check(const char *payload, const p11jwt_verify_params *vp)
{
    static const char header[] = "eyJhbGciOiJIUzI1NiJ9"; /* {"alg":"HS256"} */
    char buf[512];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s.", header);
    jose_jws *j = NULL;
    p11jwt_rc rc;

    n += jose_b64url_encode((const unsigned char *)payload, strlen(payload), buf + n);
    snprintf(buf + n, sizeof buf - n, ".AA");
    assert_int_equal(jose_jws_parse(buf, strlen(buf), &j), P11JWT_OK);
    rc = jose_claims_check(j, vp);
    jose_jws_free(j);
    return rc;
}

static void claims_check(void **state)
{
    p11jwt_verify_params vp = { .leeway = 60, .now = 1000000 };
    p11jwt_verify_params strict = { .aud = "https://sts/token", .iss = "me", .now = 1000000 };

    (void)state;
    assert_int_equal(check("{\"exp\":1000100}", &vp), P11JWT_OK);
    assert_int_equal(check("{\"exp\":999950}", &vp), P11JWT_OK); /* within leeway */
    assert_int_equal(check("{\"exp\":999940}", &vp), P11JWT_ERR_CLAIMS);
    assert_non_null(strstr(p11jwt_errmsg(), "expired"));
    assert_int_equal(check("{\"iat\":1000000}", &vp), P11JWT_ERR_CLAIMS);
    assert_non_null(strstr(p11jwt_errmsg(), "exp"));
    assert_int_equal(check("{\"exp\":\"soon\"}", &vp), P11JWT_ERR_CLAIMS);
    assert_int_equal(check("{\"exp\":1000100,\"nbf\":1000061}", &vp), P11JWT_ERR_CLAIMS);
    assert_non_null(strstr(p11jwt_errmsg(), "nbf"));
    assert_int_equal(check("{\"exp\":1000100,\"nbf\":1000060}", &vp), P11JWT_OK);
    assert_int_equal(check("{\"exp\":1000100,\"iat\":1000061}", &vp), P11JWT_ERR_CLAIMS);
    assert_non_null(strstr(p11jwt_errmsg(), "future"));

    assert_int_equal(check("{\"exp\":1000100,\"aud\":\"https://sts/token\",\"iss\":\"me\"}",
                           &strict),
                     P11JWT_OK);
    assert_int_equal(check("{\"exp\":1000100,\"aud\":[\"x\",\"https://sts/token\"],"
                           "\"iss\":\"me\"}",
                           &strict),
                     P11JWT_OK);
    assert_int_equal(check("{\"exp\":1000100,\"aud\":\"https://sts/\",\"iss\":\"me\"}",
                           &strict),
                     P11JWT_ERR_CLAIMS);
    assert_non_null(strstr(p11jwt_errmsg(), "audience"));
    assert_int_equal(check("{\"exp\":1000100,\"aud\":\"https://sts/token\",\"iss\":\"you\"}",
                           &strict),
                     P11JWT_ERR_CLAIMS);
    assert_non_null(strstr(p11jwt_errmsg(), "issuer"));
    assert_int_equal(check("{\"exp\":1000100,\"aud\":\"https://sts/token\"}", &strict),
                     P11JWT_ERR_CLAIMS);
}

/* Extreme values never overflow (issue 9): a claim anywhere in int64, a
 * leeway or ttl past the 10-year bound is refused, negative times too. */
static void extreme_times(void **state)
{
    p11jwt_verify_params vp = { .leeway = 60, .now = 1700000000 };
    p11jwt_verify_params big = { .leeway = INT64_MAX, .now = 1700000000 };
    p11jwt_verify_params max = { .leeway = P11JWT_MAX_DURATION, .now = 1700000000 };
    p11jwt_verify_params neg = { .leeway = 0, .now = -1 };
    p11jwt_claims_params cp = { .iss = "i", .ttl = INT64_MAX, .now = 1700000000, .no_jti = 1 };
    char *c = NULL;

    (void)state;
    assert_int_equal(check("{\"exp\":-9223372036854775808}", &vp), P11JWT_ERR_CLAIMS);
    assert_non_null(strstr(p11jwt_errmsg(), "expired"));
    assert_null(strstr(p11jwt_errmsg(), "is -")); /* never a negative "in the past" */
    assert_int_equal(check("{\"exp\":9223372036854775807,\"nbf\":9223372036854775807}", &vp),
                     P11JWT_ERR_CLAIMS);
    assert_null(strstr(p11jwt_errmsg(), "is -"));
    assert_int_equal(check("{\"exp\":9223372036854775807,\"iat\":-9223372036854775808}", &vp),
                     P11JWT_OK);
    assert_int_equal(check("{\"exp\":1700000100}", &big), P11JWT_ERR_ARG);
    assert_non_null(strstr(p11jwt_errmsg(), "leeway"));
    assert_int_equal(check("{\"exp\":1700000100}", &max), P11JWT_OK);
    assert_int_equal(check("{\"exp\":1700000100}", &neg), P11JWT_ERR_ARG);

    assert_int_equal(jose_claims_json(&cp, &c), P11JWT_ERR_ARG);
    assert_non_null(strstr(p11jwt_errmsg(), "10 years"));
    cp.ttl = P11JWT_MAX_DURATION;
    assert_int_equal(jose_claims_json(&cp, &c), P11JWT_OK);
    free(c);
    c = NULL;
    cp.ttl = 60;
    cp.now = INT64_MIN + 5;
    assert_int_equal(jose_claims_json(&cp, &c), P11JWT_ERR_ARG);
    cp.now = P11JWT_MAX_TIME + 1;
    assert_int_equal(jose_claims_json(&cp, &c), P11JWT_ERR_ARG);
    assert_null(c);
}

static char *one_jti(void)
{
    p11jwt_claims_params p = { .iss = "i", .aud = "a", .ttl = 60, .now = 1700000000 };
    char *c = NULL, *jti;
    json_t *obj;

    assert_int_equal(jose_claims_json(&p, &c), P11JWT_OK);
    obj = json_loads(c, 0, NULL);
    assert_non_null(obj);
    jti = strdup(json_string_value(json_object_get(obj, "jti")));
    json_decref(obj);
    free(c);
    return jti;
}

/* A forked child never hands out the jtis its parent's pool still holds:
 * the same jti from both was a replay an STS would refuse (issue 9). */
static void jti_differs_after_fork(void **state)
{
    char child_jti[64] = "", *mine, *first;
    int fds[2], status;
    pid_t pid;
    ssize_t n;

    (void)state;
    first = one_jti();            /* draws this thread's pool */
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *j = one_jti();

        (void)!write(fds[1], j, strlen(j));
        _exit(0);
    }
    close(fds[1]);
    mine = one_jti();
    n = read(fds[0], child_jti, sizeof child_jti - 1);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(n > 0);
    child_jti[n] = '\0';
    assert_string_not_equal(child_jti, mine);
    assert_string_not_equal(child_jti, first);
    free(mine);
    free(first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_members_in_order),
        cmocka_unit_test(claims_in_documented_order),
        cmocka_unit_test(aud_may_be_left_out),
        cmocka_unit_test(escaping_matches_jansson),
        cmocka_unit_test(empty_extras_add_nothing),
        cmocka_unit_test(jti_is_random_and_url_safe),
        cmocka_unit_test(jti_differs_after_fork),
        cmocka_unit_test(refusals),
        cmocka_unit_test(claims_check),
        cmocka_unit_test(extreme_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
