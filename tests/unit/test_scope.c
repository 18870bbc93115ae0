/*
 * test_scope.c — scopes (issue 12): a scope value's syntax (RFC 6749 §3.3:
 * space-separated %x21 / %x23-5B / %x5D-7E, the bad byte named and
 * escaped), a client's scope sets (one client per set, the profile's own
 * set its own token, a cap on their number), and the WWW-Authenticate
 * parser (RFC 7235 §4.1) with what a Bearer challenge says (RFC 6750 §3).
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

static void scope_syntax(void **state)
{
    static const char *const good[] = { "a", "a b", "  a  b ", "read:x write:y",
                                        "!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~" };
    static const struct {
        const char *in, *msg;
    } bad[] = {
        { "a\"b", "scope 'a\"b': byte 2 ('\"') is not allowed" },
        { "a\\b", "scope 'a\\\\b': byte 2 ('\\\\') is not allowed" },
        { "a\tb", "scope 'a\\tb': byte 2 ('\\t') is not allowed" },
        { "a\nb", "scope 'a\\nb': byte 2 ('\\n')" },
        { "\x7f", "byte 1 ('\\x7f')" },
        { "caf\xc3\xa9", "byte 4 ('\\xc3')" },
        { "", "names no scope token" },
        { "   ", "names no scope token" },
    };
    char big[EXCH_SCOPE_MAX + 2];

    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (exch_scope_check(good[i]) != P11JWT_OK)
            fail_msg("'%s' refused: %s", good[i], p11jwt_errmsg());
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(exch_scope_check(bad[i].in), P11JWT_ERR_ARG);
        if (strstr(p11jwt_errmsg(), bad[i].msg) == NULL)
            fail_msg("case %zu: message '%s' lacks '%s'", i, p11jwt_errmsg(), bad[i].msg);
        assert_null(strchr(p11jwt_errmsg(), '\n'));
    }
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(exch_scope_check(big), P11JWT_ERR_ARG);
    assert_non_null(strstr(p11jwt_errmsg(), "longer than 1024 bytes"));
    big[EXCH_SCOPE_MAX] = '\0';
    assert_int_equal(exch_scope_check(big), P11JWT_OK);
}

static p11jwt_client *client_of(const char *extra)
{
    char conf[512];
    p11jwt_profile *p = NULL;
    p11jwt_client *c = NULL;

    snprintf(conf, sizeof conf,
             "[profile s]\ndialect = rfc7523\ntoken = pkcs11:token=t\nkid = k\n"
             "token_url = https://sts.example/token\niss = i\n%s",
             extra);
    assert_int_equal(exch_profile_parse(conf, strlen(conf), "test.conf", "s", &p), P11JWT_OK);
    assert_int_equal(p11jwt_client_new(p, &c), P11JWT_OK);
    return c;
}

static void scope_sets(void **state)
{
    p11jwt_client *c = client_of("scope = b  a\n"), *x, *y, *z;
    char s[32];

    (void)state;
    /* NULL and the profile's own set (any spelling): the client itself. */
    assert_int_equal(exch_client_for_scope(c, NULL, &x), P11JWT_OK);
    assert_ptr_equal(x, c);
    assert_int_equal(exch_client_for_scope(c, "a b a", &x), P11JWT_OK);
    assert_ptr_equal(x, c);
    /* Another set: its own client, the same for every spelling, sending the
     * normalised set, borrowing c's token and keys. */
    assert_int_equal(exch_client_for_scope(c, "c a", &x), P11JWT_OK);
    assert_ptr_not_equal(x, c);
    assert_ptr_equal(x->parent, c);
    assert_string_equal(x->p->scope, "a c");
    assert_string_equal(x->p->name, "s");
    assert_int_equal(exch_client_for_scope(c, " a  c c ", &y), P11JWT_OK);
    assert_ptr_equal(x, y);
    assert_int_equal(exch_client_for_scope(c, "c", &z), P11JWT_OK);
    assert_ptr_not_equal(z, x);
    /* A bad scope: refused, naming the profile. */
    assert_int_equal(exch_client_for_scope(c, "a\"", &y), P11JWT_ERR_ARG);
    assert_non_null(strstr(p11jwt_errmsg(), "profile 's'"));
    /* At most EXCH_SCOPE_SETS_MAX sets besides the profile's. */
    for (int i = 2; i < EXCH_SCOPE_SETS_MAX; i++) {
        snprintf(s, sizeof s, "s%d", i);
        assert_int_equal(exch_client_for_scope(c, s, &y), P11JWT_OK);
    }
    assert_int_equal(c->nscoped, EXCH_SCOPE_SETS_MAX);
    assert_int_equal(exch_client_for_scope(c, "one-more", &y), P11JWT_ERR_ARG);
    assert_non_null(strstr(p11jwt_errmsg(), "at most 32"));
    /* ...but the known ones still answer. */
    assert_int_equal(exch_client_for_scope(c, "a c", &y), P11JWT_OK);
    assert_ptr_equal(y, x);
    p11jwt_client_free(c);

    /* A profile with no scope: any set is its own client. */
    c = client_of("");
    assert_int_equal(exch_client_for_scope(c, "a", &x), P11JWT_OK);
    assert_ptr_not_equal(x, c);
    p11jwt_client_free(c);
}

/* ---- WWW-Authenticate -------------------------------------------------------------- */

struct items {
    char text[1024];
};

static void collect(const exch_auth_item *it, void *ud)
{
    struct items *o = ud;
    size_t n = strlen(o->text);

    if (it->name == NULL && it->value == NULL)
        snprintf(o->text + n, sizeof o->text - n, "[%.*s]", (int)it->scheme_len, it->scheme);
    else if (it->name == NULL)
        snprintf(o->text + n, sizeof o->text - n, "<%.*s>", (int)it->value_len, it->value);
    else
        snprintf(o->text + n, sizeof o->text - n, "%.*s=(%.*s)", (int)it->name_len, it->name,
                 (int)it->value_len, it->value);
}

static void www_auth_grammar(void **state)
{
    static const struct {
        const char *in;
        int n;
        const char *items;
    } cases[] = {
        { "Bearer", 1, "[Bearer]" },
        { "Bearer realm=\"x\"", 1, "[Bearer]realm=(x)" },
        { "Bearer realm=\"a, b\", error=insufficient_scope , scope=\"x y\"", 1,
          "[Bearer]realm=(a, b)error=(insufficient_scope)scope=(x y)" },
        { "Basic realm=\"r\", Bearer error=\"e\"", 2, "[Basic]realm=(r)[Bearer]error=(e)" },
        { "Basic, Bearer", 2, "[Basic][Bearer]" },
        { "Negotiate a87421000492aa874209af8bc028==, Bearer", 2,
          "[Negotiate]<a87421000492aa874209af8bc028==>[Bearer]" },
        { "Basic abc=", 1, "[Basic]<abc=>" },
        { "Bearer x=", 1, "[Bearer]<x=>" }, /* a token68 */
        { "Bearer x=\"q\\\"u\\\\o\\te\"", 1, "[Bearer]x=(q\"u\\ote)" },
        { "Bearer x = \"v\"", 1, "[Bearer]x=(v)" },
        { "Basic abc= def", 1, "[Basic]abc=(def)" }, /* BWS around = */
        { " ,Bearer a=b,,c=d, ", 1, "[Bearer]a=(b)c=(d)" },
        { "Bearer x=\"\"", 1, "[Bearer]x=()" },
        { "Bearer x=\"\xc3\xa9\"", 1, "[Bearer]x=(\xc3\xa9)" },
    };
    static const char *const bad[] = {
        "", " ", ",", "=x", "Bearer x=\"open", "Bearer x=\"a\x01\"", "Bearer x=\"a\\\x01\"",
        "Bearer x=y=", "Bearer x=\"a\" y=\"b\"", "Bearer a b", "Basic abc== def",
        "Bearer x=\"a\"b", "Bearer, x=", "Bearer,=", "Bearer x=\"\\", "Be\x01arer",
        "Basic abc, x=y",
    };
    char buf[1024];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct items o = { "" };
        int n = exch_www_auth_parse(cases[i].in, strlen(cases[i].in), buf, sizeof buf, collect,
                                    &o);

        if (n != cases[i].n || strcmp(o.text, cases[i].items) != 0)
            fail_msg("'%s': %d %s, want %d %s", cases[i].in, n, o.text, cases[i].n,
                     cases[i].items);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = exch_www_auth_parse(bad[i], strlen(bad[i]), buf, sizeof buf, NULL, NULL);

        if (n != -1)
            fail_msg("'%s' parsed (%d challenges)", bad[i], n);
    }
}

static void bearer_error(void **state)
{
    exch_bearer_error be;
    const char *h;

    (void)state;
    h = "Bearer realm=\"example\", error=\"insufficient_scope\", "
        "error_description=\"needs \\\"read\\\"\", scope=\"read write\"";
    assert_int_equal(exch_bearer_error_parse(h, strlen(h), &be), 1);
    assert_string_equal(be.error, "insufficient_scope");
    assert_string_equal(be.description, "needs \"read\"");
    assert_string_equal(be.scope, "read write");

    /* Another scheme's error is not Bearer's; the first Bearer naming one counts;
     * names are case-insensitive; the first of a repeated parameter counts. */
    h = "Basic error=x, bearer realm=r, BEARER ERROR=invalid_token, Scope=a, scope=b, "
        "Bearer error=other";
    assert_int_equal(exch_bearer_error_parse(h, strlen(h), &be), 1);
    assert_string_equal(be.error, "invalid_token");
    assert_string_equal(be.scope, "a");

    h = "Bearer realm=\"r\"";
    assert_int_equal(exch_bearer_error_parse(h, strlen(h), &be), 0);
    assert_string_equal(be.error, "");
    h = "Bearer error=\"x";
    assert_int_equal(exch_bearer_error_parse(h, strlen(h), &be), -1);
    assert_string_equal(be.scope, "");

    /* The resource's answer as the thread's message, escaped. */
    {
        exch_response rs = { .status = 403 };
        char v[] = "Bearer error=insufficient_scope, scope=\"a\\\x1b[2J\", "
                   "error_description=\"x\\\ny\"";

        rs.www_auth = v;
        rs.www_auth_len = strlen(v);
        err_clear();
        exch_resource_refusal(&rs);
        /* a quoted-pair with a control character is malformed */
        assert_non_null(strstr(p11jwt_errmsg(), "does not parse"));
        assert_null(strchr(p11jwt_errmsg(), '\x1b'));
        strcpy(v, "Bearer error=insufficient_scope, scope=\"b\xc2\x9b" "c\"");
        rs.www_auth_len = strlen(v);
        err_clear();
        exch_resource_refusal(&rs);
        assert_non_null(strstr(p11jwt_errmsg(), "HTTP 403 insufficient_scope: it wants scope 'b\\u009bc'"));
        rs.status = 200;
        err_clear();
        exch_resource_refusal(&rs);
        assert_string_equal(p11jwt_errmsg(), "");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scope_syntax),
        cmocka_unit_test(scope_sets),
        cmocka_unit_test(www_auth_grammar),
        cmocka_unit_test(bearer_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
