/*
 * www_auth.c — a resource's WWW-Authenticate header (RFC 7235 §4.1,
 * §2.1): one or more challenges, each a scheme with a token68 or a list of
 * auth-params whose values are tokens or quoted-strings (with \-escapes);
 * and what a Bearer challenge's error says (RFC 6750 §3: error,
 * error_description, scope), which p11jwt_client_call and
 * p11jwt_http_call put in the thread's message.
 *
 * The decision: one pass over the bytes, no allocation (values are
 * unescaped into the caller's buffer), every item handed to a callback: a
 * pure function of its input, fuzzed (tests/fuzz/fuzz_www_auth.c). Commas
 * separate both challenges and parameters; an item that is not `name=`
 * after a comma starts the next challenge. Anything outside the grammar
 * (a control character, an unterminated quoted-string, a missing value)
 * makes the whole header malformed: nothing of it is believed.
 */
#include "exchange/exchange_int.h"

#include <string.h>
#include <strings.h>

/* tchar (RFC 9110 §5.6.2) */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* token68 characters before its trailing '='s */
static int is_t68(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("-._~+/", c) != NULL);
}

static size_t skip_ows(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

static size_t span_token(const char *s, size_t n, size_t i)
{
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    return i;
}

/* A quoted-string at s[i] == '"': unescaped into buf (at most cap bytes,
 * enough when cap >= n). The index after it, or 0 when malformed. */
static size_t quoted(const char *s, size_t n, size_t i, char *buf, size_t cap, size_t *len)
{
    size_t o = 0;

    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"') {
            *len = o;
            return i + 1;
        }
        if (c == '\\') {
            if (++i >= n)
                return 0;
            c = (unsigned char)s[i];
            /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
            if (c != '\t' && (c < 0x20 || c == 0x7f))
                return 0;
        } else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
            return 0; /* qdtext never holds a control character */
        }
        if (o >= cap)
            return 0;
        buf[o++] = (char)c;
    }
    return 0; /* unterminated */
}

int exch_www_auth_parse(const char *s, size_t n, char *buf, size_t cap, exch_auth_fn fn,
                        void *ud)
{
    size_t i = 0;
    int count = 0;

    for (;;) {
        exch_auth_item it = { 0 };
        size_t e;
        int first = 1;

        /* Empty list elements (", ,") are allowed around challenges. */
        while (i < n && (s[i] == ',' || s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= n)
            return count > 0 ? count : -1;
        e = span_token(s, n, i);
        if (e == i)
            return -1; /* not a scheme */
        it.scheme = s + i;
        it.scheme_len = e - i;
        count++;
        if (fn != NULL)
            fn(&it, ud);
        i = e;
        if (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != ',')
            return -1;
        /* The challenge's items: a token68, or auth-params. */
        for (;;) {
            size_t ns, ne, v;

            i = skip_ows(s, n, i);
            if (i >= n)
                return count;
            if (s[i] == ',') {
                /* The next item: a parameter of this challenge, or the
                 * next challenge (a name not followed by '='). */
                while (i < n && (s[i] == ',' || s[i] == ' ' || s[i] == '\t'))
                    i++;
                if (i >= n)
                    return count;
                first = 0;
                ns = i;
                ne = span_token(s, n, ns);
                v = skip_ows(s, n, ne);
                if (ne == ns)
                    return -1;
                if (v >= n || s[v] != '=')
                    break; /* a new challenge starts at ns */
            } else {
                ns = i;
                ne = span_token(s, n, ns);
                v = skip_ows(s, n, ne);
            }
            it.name = NULL;
            it.value = NULL;
            it.name_len = it.value_len = 0;
            if (ne > ns && v < n && s[v] == '=') {
                size_t w = skip_ows(s, n, v + 1);

                if (w < n && s[w] == '"') {
                    size_t end = quoted(s, n, w, buf, cap, &it.value_len);

                    if (end == 0)
                        return -1;
                    it.name = s + ns;
                    it.name_len = ne - ns;
                    it.value = buf;
                    if (fn != NULL)
                        fn(&it, ud);
                    i = end;
                    goto next;
                }
                if (w < n && is_tchar((unsigned char)s[w])) {
                    size_t end = span_token(s, n, w);

                    it.name = s + ns;
                    it.name_len = ne - ns;
                    it.value = s + w;
                    it.value_len = end - w;
                    if (fn != NULL)
                        fn(&it, ud);
                    i = end;
                    goto next;
                }
            }
            /* Not an auth-param: a token68, which only comes first and
             * alone (token68 = 1*( ALPHA / DIGIT / "-._~+/" ) *"="). */
            if (!first)
                return -1;
            for (ne = ns; ne < n && is_t68((unsigned char)s[ne]); ne++)
                ;
            if (ne == ns)
                return -1;
            while (ne < n && s[ne] == '=')
                ne++;
            it.value = s + ns;
            it.value_len = ne - ns;
            if (fn != NULL)
                fn(&it, ud);
            i = skip_ows(s, n, ne);
            if (i < n && s[i] != ',')
                return -1;
            /* After a token68 only another challenge may follow. */
            while (i < n && (s[i] == ',' || s[i] == ' ' || s[i] == '\t'))
                i++;
            if (i >= n)
                return count;
            if (span_token(s, n, i) == i)
                return -1;
            break;
        next:
            first = 0;
            i = skip_ows(s, n, i);
            if (i < n && s[i] != ',')
                return -1; /* two values with no comma between */
        }
    }
}

/* ---- a Bearer challenge's error ---------------------------------------------------- */

struct bearer_find {
    exch_bearer_error *out;
    int in_bearer;              /* the current challenge is Bearer's */
    int done;                   /* a Bearer challenge with an error was read */
    int have_error, have_desc, have_scope;
};

static void copy_value(char *dst, size_t cap, const exch_auth_item *it)
{
    size_t l = it->value_len < cap - 1 ? it->value_len : cap - 1;

    memcpy(dst, it->value, l);
    dst[l] = '\0';
}

static void on_bearer(const exch_auth_item *it, void *ud)
{
    struct bearer_find *b = ud;

    if (b->done)
        return;
    if (it->name == NULL && it->value == NULL) {
        /* A new challenge: the previous Bearer one, if it named an error,
         * is the answer. */
        if (b->in_bearer && b->have_error) {
            b->done = 1;
            return;
        }
        b->in_bearer = it->scheme_len == 6 && strncasecmp(it->scheme, "Bearer", 6) == 0;
        b->have_error = b->have_desc = b->have_scope = 0;
        b->out->error[0] = b->out->description[0] = b->out->scope[0] = '\0';
        return;
    }
    if (!b->in_bearer || it->name == NULL)
        return;
    /* Each parameter once (RFC 7235 §2.1): the first counts. */
    if (it->name_len == 5 && strncasecmp(it->name, "error", 5) == 0 && !b->have_error) {
        copy_value(b->out->error, sizeof b->out->error, it);
        b->have_error = 1;
    } else if (it->name_len == 17 && strncasecmp(it->name, "error_description", 17) == 0 &&
               !b->have_desc) {
        copy_value(b->out->description, sizeof b->out->description, it);
        b->have_desc = 1;
    } else if (it->name_len == 5 && strncasecmp(it->name, "scope", 5) == 0 && !b->have_scope) {
        copy_value(b->out->scope, sizeof b->out->scope, it);
        b->have_scope = 1;
    }
}

int exch_bearer_error_parse(const char *s, size_t n, exch_bearer_error *out)
{
    char buf[EXCH_WWW_AUTH_MAX];
    struct bearer_find b = { .out = out };

    memset(out, 0, sizeof *out);
    if (n > sizeof buf || exch_www_auth_parse(s, n, buf, sizeof buf, on_bearer, &b) < 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    if (b.done || (b.in_bearer && b.have_error))
        return 1;
    memset(out, 0, sizeof *out);
    return 0;
}

void exch_resource_refusal(const exch_response *rs)
{
    exch_bearer_error be;
    int r;

    if (rs->status != 401 && rs->status != 403)
        return;
    if (rs->www_auth_cut) {
        err_set(P11JWT_ERR_HTTP, "the resource answered HTTP %ld with a WWW-Authenticate "
                "header over %d bytes: not read", rs->status, EXCH_WWW_AUTH_MAX);
        return;
    }
    if (rs->www_auth == NULL)
        return;
    r = exch_bearer_error_parse(rs->www_auth, rs->www_auth_len, &be);
    if (r < 0) {
        err_set(P11JWT_ERR_HTTP,
                "the resource answered HTTP %ld with a WWW-Authenticate header that does not "
                "parse (RFC 7235): '%s'",
                rs->status, ESCN(rs->www_auth, rs->www_auth_len));
    } else if (r > 0 && strcmp(be.error, "insufficient_scope") == 0) {
        if (be.scope[0] != '\0')
            err_set(P11JWT_ERR_HTTP, "the resource answered HTTP %ld insufficient_scope: it "
                    "wants scope '%s'%s%s",
                    rs->status, ESC(be.scope), be.description[0] != '\0' ? ": " : "",
                    be.description[0] != '\0' ? ESC(be.description) : "");
        else
            err_set(P11JWT_ERR_HTTP, "the resource answered HTTP %ld insufficient_scope: it "
                    "wants a scope it does not name%s%s",
                    rs->status, be.description[0] != '\0' ? ": " : "",
                    be.description[0] != '\0' ? ESC(be.description) : "");
    } else if (r > 0) {
        err_set(P11JWT_ERR_HTTP, "the resource answered HTTP %ld %s%s%s", rs->status,
                ESC(be.error), be.description[0] != '\0' ? ": " : "",
                be.description[0] != '\0' ? ESC(be.description) : "");
    }
}
