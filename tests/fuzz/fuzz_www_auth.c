/*
 * fuzz_www_auth.c — a resource's WWW-Authenticate header
 * (src/exchange/www_auth.c): the RFC 7235 challenge list, a Bearer
 * challenge's error, error_description and scope (RFC 6750 §3), and the
 * message a 403 makes of them. Checks: every item the parser hands out
 * lies inside the input (or, unescaped, inside its buffer), schemes and
 * names are RFC 9110 tokens, two parses agree, the Bearer reading fails
 * exactly when the grammar does, and the message is one printable line.
 */
#include "fuzz.h"

#include "exchange/exchange_int.h"

struct seen {
    const char *s, *buf;
    size_t n, cap;
    int items;
};

static int tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int inside(const char *p, size_t len, const char *base, size_t n)
{
    return p >= base && len <= n && (size_t)(p - base) <= n - len;
}

static void on_item(const exch_auth_item *it, void *ud)
{
    struct seen *v = ud;

    v->items++;
    FUZZ_CHECK(it->scheme != NULL && it->scheme_len > 0 &&
               inside(it->scheme, it->scheme_len, v->s, v->n));
    for (size_t i = 0; i < it->scheme_len; i++)
        FUZZ_CHECK(tchar((unsigned char)it->scheme[i]));
    if (it->name != NULL) {
        FUZZ_CHECK(it->name_len > 0 && inside(it->name, it->name_len, v->s, v->n));
        for (size_t i = 0; i < it->name_len; i++)
            FUZZ_CHECK(tchar((unsigned char)it->name[i]));
        FUZZ_CHECK(it->value != NULL);
    }
    if (it->value != NULL)
        FUZZ_CHECK(inside(it->value, it->value_len, v->s, v->n) ||
                   inside(it->value, it->value_len, v->buf, v->cap));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[EXCH_WWW_AUTH_MAX];
    char *s;
    struct seen a = { 0 }, b = { 0 };
    exch_bearer_error be;
    exch_response rs = { .retry_after = -1 };
    int na, nb, r;

    if (size > EXCH_WWW_AUTH_MAX || (s = fuzz_strndup(data, size)) == NULL)
        return 0;
    a.s = b.s = s;
    a.n = b.n = size;
    a.buf = b.buf = buf;
    a.cap = b.cap = sizeof buf;
    na = exch_www_auth_parse(s, size, buf, sizeof buf, on_item, &a);
    nb = exch_www_auth_parse(s, size, buf, sizeof buf, on_item, &b);
    FUZZ_CHECK(na == nb && a.items == b.items);
    FUZZ_CHECK(na == -1 || (na >= 1 && a.items >= na));

    r = exch_bearer_error_parse(s, size, &be);
    FUZZ_CHECK(r == (na < 0 ? -1 : r) && r >= -1 && r <= 1);
    FUZZ_CHECK((r == -1) == (na < 0));
    FUZZ_CHECK(memchr(be.error, '\0', sizeof be.error) != NULL &&
               memchr(be.description, '\0', sizeof be.description) != NULL &&
               memchr(be.scope, '\0', sizeof be.scope) != NULL);
    if (r != 1)
        FUZZ_CHECK(be.error[0] == '\0' && be.scope[0] == '\0');

    /* The message a 403 with this header makes: one printable line. */
    rs.status = 403;
    rs.www_auth = s;
    rs.www_auth_len = size;
    err_clear();
    exch_resource_refusal(&rs);
    for (const char *m = p11jwt_errmsg(); *m != '\0'; m++)
        FUZZ_CHECK((unsigned char)*m >= 0x20 && *m != 0x7f);
    FUZZ_CHECK((r == 1 || r == -1) == (p11jwt_errmsg()[0] != '\0'));
    free(s);
    return 0;
}
