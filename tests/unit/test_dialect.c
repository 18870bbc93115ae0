/*
 * test_dialect.c — each dialect's token request (exch_dialect_build:
 * method, URL, body, headers, Basic credentials) and the answer's parsing
 * (exch_token_response_parse: the token under the dialect's name, its
 * type, scope and expiry, and what an STS may not slip into a header).
 * Profiles are read from config text, as p11jwt reads them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchange/exchange_int.h"
#include "jose/jose.h"

#define SIGNS "token = pkcs11:token=x\nkid = k\niss = i\n"

static p11jwt_profile *profile(const char *body)
{
    char text[1024];
    p11jwt_profile *p = NULL;

    snprintf(text, sizeof text, "[profile t]\n%s", body);
    if (exch_profile_parse(text, strlen(text), "cfg", "t", &p) != P11JWT_OK)
        fail_msg("%s", p11jwt_errmsg());
    return p;
}

/* The built request's headers, one per line. */
static const char *headers(const exch_built *b)
{
    static char out[1024];

    out[0] = '\0';
    for (const struct curl_slist *h = b->headers; h != NULL; h = h->next) {
        strcat(out, h->data);
        strcat(out, "\n");
    }
    return out;
}

static void build(const char *prof, const char *assertion, const char *secret, exch_built *b)
{
    p11jwt_profile *p = profile(prof);
    exch_inputs in = { assertion, secret };

    assert_int_equal(exch_dialect_build(p, &in, b), P11JWT_OK);
    p11jwt_profile_free(p);
}

static void jwt_bearer(void **state)
{
    exch_built b;

    (void)state;
    build("dialect = dt\n" SIGNS "token_url = https://sts/token\n", "A.B.C", NULL, &b);
    assert_string_equal(b.method, "POST");
    assert_string_equal(b.url, "https://sts/token");
    assert_string_equal(b.body,
                        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                        "&assertion=A.B.C");
    assert_string_equal(headers(&b), "Content-Type: application/x-www-form-urlencoded\n"
                                     "Accept: application/json\n");
    assert_null(b.basic_user);
    exch_built_clear(&b);
    build("dialect = rfc7523\n" SIGNS "token_url = https://sts/t?x=1\nscope = a b\n", "J", NULL,
          &b);
    assert_string_equal(b.url, "https://sts/t?x=1");
    assert_string_equal(b.body, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-"
                                "bearer&assertion=J&scope=a%20b");
    exch_built_clear(&b);
}

static void noa(void **state)
{
    exch_built b;

    (void)state;
    build("dialect = noa\n" SIGNS "token_url = https://noa/auth\n", "x\"y", NULL, &b);
    assert_string_equal(b.method, "POST");
    assert_string_equal(b.body, "{\"assertion\":\"x\\\"y\"}");
    assert_string_equal(headers(&b), "Content-Type: application/json\n"
                                     "Accept: application/json\n");
    exch_built_clear(&b);
}

static void client_credentials(void **state)
{
    exch_built b;

    (void)state;
    /* jsa: everything in the query of a GET (its default auth_method) */
    build("dialect = jsa\nclient_id = c i\nclient_secret_env = S\n"
          "token_url = https://q/oauth?v=2\nscope = s\n",
          NULL, "p&w=%", &b);
    assert_string_equal(b.method, "GET");
    assert_string_equal(b.url, "https://q/oauth?v=2&grant_type=client_credentials&scope=s"
                               "&client_id=c%20i&client_secret=p%26w%3D%25");
    assert_null(b.body);
    assert_string_equal(headers(&b), "Accept: application/json\n");
    exch_built_clear(&b);
    /* client-credentials: HTTP Basic by default, id and secret form-encoded */
    build("dialect = client-credentials\nclient_id = id:1\nclient_secret_env = S\n"
          "token_url = https://q/t\n",
          NULL, "s:%", &b);
    assert_string_equal(b.method, "POST");
    assert_string_equal(b.body, "grant_type=client_credentials");
    assert_string_equal(b.basic_user, "id%3A1");
    assert_string_equal(b.basic_pass, "s%3A%25");
    exch_built_clear(&b);
    build("dialect = client-credentials\nclient_id = id\nclient_secret_env = S\n"
          "token_url = https://q/t\nauth_method = post-form\n",
          NULL, "sec", &b);
    assert_string_equal(b.body, "grant_type=client_credentials&client_id=id&client_secret=sec");
    assert_null(b.basic_user);
    exch_built_clear(&b);
}

static void private_key_jwt(void **state)
{
    exch_built b;

    (void)state;
    build("dialect = private-key-jwt\ntoken = pkcs11:\nkid = k\nclient_id = app\n"
          "token_url = https://kc/token\n",
          "A.B.C", NULL, &b);
    assert_string_equal(b.body, "grant_type=client_credentials&client_id=app&client_assertion_"
                                "type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-"
                                "bearer&client_assertion=A.B.C");
    exch_built_clear(&b);
}

/* ---- answers ------------------------------------------------------------- */

static p11jwt_rc parse(const char *prof, const char *body, p11jwt_access_token *t)
{
    p11jwt_profile *p = profile(prof);
    exch_response rs = { .status = 200, .body = (char *)body, .len = strlen(body) };
    p11jwt_rc rc = exch_token_response_parse(p, &rs, 1000, t);

    p11jwt_profile_free(p);
    return rc;
}

#define DT "dialect = dt\n" SIGNS "token_url = https://sts/token\n"

static void answers(void **state)
{
    p11jwt_access_token t;
    char body[512], jwt[256], payload[64];

    (void)state;
    assert_int_equal(parse(DT, "{\"access_token\":\"tok\",\"token_type\":\"bearer\","
                               "\"expires_in\":60,\"scope\":\"s\"}", &t), P11JWT_OK);
    assert_string_equal(t.value, "tok");
    assert_string_equal(t.type, "bearer");
    assert_string_equal(t.scope, "s");
    assert_int_equal(t.expires_at, 1060);
    p11jwt_access_token_clear(&t);
    /* expires_in as a string; no type: the profile's scheme */
    assert_int_equal(parse(DT, "{\"access_token\":\"t\",\"expires_in\":\"120\"}", &t), P11JWT_OK);
    assert_int_equal(t.expires_at, 1120);
    assert_string_equal(t.type, "Bearer");
    assert_null(t.scope);
    p11jwt_access_token_clear(&t);
    /* none: the default lifetime; past a year: a year */
    assert_int_equal(parse(DT "default_lifetime = 10m\n", "{\"access_token\":\"t\"}", &t),
                     P11JWT_OK);
    assert_int_equal(t.expires_at, 1600);
    p11jwt_access_token_clear(&t);
    assert_int_equal(parse(DT, "{\"access_token\":\"t\",\"expires_in\":9999999999}", &t),
                     P11JWT_OK);
    assert_int_equal(t.expires_at, 1000 + 366 * 86400);
    p11jwt_access_token_clear(&t);
    /* noa: {"jwt": ...}, expiry from the token's own exp */
    jose_b64url_encode((const unsigned char *)"{\"exp\":5000}", 12, payload);
    snprintf(jwt, sizeof jwt, "eyJhbGciOiJFUzUxMiJ9.%s.c2ln", payload);
    snprintf(body, sizeof body, "{\"jwt\":\"%s\"}", jwt);
    assert_int_equal(parse("dialect = noa\n" SIGNS "token_url = https://noa/a\n", body, &t),
                     P11JWT_OK);
    assert_string_equal(t.value, jwt);
    assert_string_equal(t.type, "JWT");
    assert_int_equal(t.expires_at, 5000);
    p11jwt_access_token_clear(&t);
    /* neowit: accessToken, or the RFC's name */
    assert_int_equal(parse("dialect = neowit\n" SIGNS "token_url = https://n/t\n",
                           "{\"accessToken\":\"n1\"}", &t), P11JWT_OK);
    assert_string_equal(t.value, "n1");
    p11jwt_access_token_clear(&t);
    assert_int_equal(parse("dialect = neowit\n" SIGNS "token_url = https://n/t\n",
                           "{\"access_token\":\"n2\"}", &t), P11JWT_OK);
    assert_string_equal(t.value, "n2");
    p11jwt_access_token_clear(&t);
}

static void refused_answers(void **state)
{
    p11jwt_access_token t;

    (void)state;
    assert_int_equal(parse(DT, "[]", &t), P11JWT_ERR_HTTP);
    assert_string_equal(p11jwt_errmsg(), "the STS answered 200 with a body that is not a JSON "
                                         "object");
    assert_int_equal(parse(DT, "{\"jwt\":\"t\"}", &t), P11JWT_ERR_HTTP);
    assert_string_equal(p11jwt_errmsg(), "the STS answered 200 without a \"access_token\" string");
    assert_int_equal(parse(DT, "{\"access_token\":\"a b\"}", &t), P11JWT_ERR_HTTP);
    assert_non_null(strstr(p11jwt_errmsg(), "a space at offset 1; refused (not shown)"));
    assert_int_equal(parse(DT, "{\"access_token\":\"t\",\"token_type\":\"x\\r\\ny\"}", &t),
                     P11JWT_ERR_HTTP);
    assert_non_null(strstr(p11jwt_errmsg(), "token type (\"token_type\") that is not printable "
                                            "ASCII: a line break at offset 1"));
    assert_null(t.value);
}

/* RFC 6750's b64token: token68 characters, then only '=' to the end. */
static void b64token(void **state)
{
    static const struct {
        const char *v;
        int b64, want;
    } cases[] = {
        { "abc-._~+/XYZ09", 1, -1 }, { "abc==", 1, -1 }, { "=", 1, 0 }, { "", 1, 0 },
        { "a=b", 1, 2 }, { "a b", 1, 1 }, { "a\x7f", 1, 1 }, { "a\xc3\xa9", 1, 1 },
        { "any text, really", 0, -1 }, { "tab\there", 0, 3 }, { "", 0, -1 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long got = exch_sts_value_bad(cases[i].v, strlen(cases[i].v), cases[i].b64);

        if (got != cases[i].want)
            fail_msg("'%s' (b64token %d): %ld, want %d", cases[i].v, cases[i].b64, got,
                     cases[i].want);
    }
}

static void table(void **state)
{
    static const char *const all[] = { "dt", "neowit", "noa", "jsa", "rfc7523",
                                       "client-credentials", "private-key-jwt" };
    char names[256];

    (void)state;
    exch_dialect_names(names, sizeof names);
    assert_string_equal(names, "dt, neowit, noa, jsa, rfc7523, client-credentials, "
                               "private-key-jwt");
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const struct exch_dialect *d = exch_dialect_by_name(all[i]);

        assert_non_null(d);
        assert_ptr_equal(exch_dialect_get(d->id), d);
        assert_string_equal(exch_dialect_name(d->id), all[i]);
    }
    assert_null(exch_dialect_by_name("DT"));
    assert_true(exch_dialect_signs(EXCH_PRIVATE_KEY_JWT));
    assert_false(exch_dialect_signs(EXCH_JSA));
    assert_false(exch_dialect_signs(EXCH_CLIENT_CREDENTIALS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jwt_bearer),      cmocka_unit_test(noa),
        cmocka_unit_test(client_credentials), cmocka_unit_test(private_key_jwt),
        cmocka_unit_test(answers),         cmocka_unit_test(refused_answers),
        cmocka_unit_test(b64token),        cmocka_unit_test(table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
