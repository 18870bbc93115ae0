/*
 * dialect.c — how each provider wants its token request and what its
 * answer looks like (DESIGN.md's dialect table is the contract):
 *
 *   dt, neowit, rfc7523   POST form grant_type=jwt-bearer&assertion=...
 *   noa                   POST JSON {"assertion": ...}        → {"jwt": ...}
 *   neowit                                                    → {"accessToken": ...}
 *   jsa                   GET ?grant_type=client_credentials&client_id=&client_secret=
 *   client-credentials    RFC 6749 §4.4 with HTTP Basic, form secret or query
 *   private-key-jwt       client_credentials + client_assertion (RFC 7523 §2.2)
 *
 * Everything else (RFC 6749 §5.1 answers) is shared.
 */
#include "exchange/exchange_int.h"

#include "base/base.h"
#include "jose/jose.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define GRANT_JWT_BEARER "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define MAX_LIFETIME ((int64_t)366 * 86400)
#define ASSERTION_TYPE_JWT "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

void exch_built_clear(exch_built *b)
{
    base_secret_free(b->url);
    base_secret_free(b->body);
    curl_slist_free_all(b->headers);
    free(b->basic_user);
    base_secret_free(b->basic_pass);
    memset(b, 0, sizeof *b);
}

/* A growing application/x-www-form-urlencoded string. */
struct form {
    char *s;
    size_t len;
    int failed;
};

static void form_add(struct form *f, CURL *curl, const char *name, const char *value)
{
    char *ev;
    size_t need;
    char *ns;

    if (f->failed || value == NULL)
        return;
    ev = curl_easy_escape(curl, value, 0);
    if (ev == NULL) {
        f->failed = 1;
        return;
    }
    need = f->len + (f->len ? 1 : 0) + strlen(name) + 1 + strlen(ev) + 1;
    ns = malloc(need);
    if (ns == NULL) {
        f->failed = 1;
    } else {
        snprintf(ns, need, "%s%s%s=%s", f->s ? f->s : "", f->len ? "&" : "", name, ev);
        if (f->s != NULL)
            base_wipe(f->s, f->len);
        free(f->s);
        f->s = ns;
        f->len = need - 1;
    }
    base_wipe(ev, strlen(ev));
    curl_free(ev);
}

static p11jwt_rc add_header(exch_built *b, const char *h)
{
    struct curl_slist *n = curl_slist_append(b->headers, h);

    if (n == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    b->headers = n;
    return P11JWT_OK;
}

static p11jwt_rc finish_form(exch_built *b, struct form *f)
{
    if (f->failed) {
        free(f->s);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    b->body = f->s;
    b->method = "POST";
    return add_header(b, "Content-Type: application/x-www-form-urlencoded");
}

static p11jwt_rc build_jwt_bearer(const p11jwt_profile *p, CURL *curl, const exch_inputs *in,
                                  exch_built *b)
{
    struct form f = { 0 };

    form_add(&f, curl, "grant_type", GRANT_JWT_BEARER);
    form_add(&f, curl, "assertion", in->assertion);
    if (p->scope != NULL)
        form_add(&f, curl, "scope", p->scope);
    return finish_form(b, &f);
}

/* Wipes the string jansson keeps for the member `key` of o (a token or an
 * assertion), before o is released: o is ours, its copy of the credential
 * need not outlive it. (What jansson's parser and serialiser keep in their
 * own scratch buffers cannot be reached: see docs/architecture.md.) */
static void wipe_member(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (json_is_string(v))
        base_wipe((char *)json_string_value(v), json_string_length(v));
}

static p11jwt_rc build_noa(const p11jwt_profile *p, const exch_inputs *in, exch_built *b)
{
    json_t *o = json_pack("{s:s}", "assertion", in->assertion);
    p11jwt_rc rc;

    (void)p;
    if (o == NULL || (b->body = json_dumps(o, JSON_COMPACT)) == NULL) {
        wipe_member(o, "assertion");
        json_decref(o);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    wipe_member(o, "assertion");
    json_decref(o);
    b->method = "POST";
    rc = add_header(b, "Content-Type: application/json");
    if (rc == P11JWT_OK)
        rc = add_header(b, "Accept: application/json");
    return rc;
}

static p11jwt_rc build_client_credentials(const p11jwt_profile *p, CURL *curl,
                                          const exch_inputs *in, exch_built *b)
{
    struct form f = { 0 };

    form_add(&f, curl, "grant_type", "client_credentials");
    if (p->scope != NULL)
        form_add(&f, curl, "scope", p->scope);
    switch (p->auth_method) {
    case EXCH_AUTH_GET_QUERY: {
        /* JSA/QRadar qoauth: everything in the query string of a GET. */
        size_t need;

        form_add(&f, curl, "client_id", p->client_id);
        form_add(&f, curl, "client_secret", in->client_secret);
        if (f.failed) {
            free(f.s);
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        }
        need = strlen(p->token_url) + 1 + f.len + 1;
        b->url = malloc(need);
        if (b->url != NULL)
            snprintf(b->url, need, "%s%c%s", p->token_url,
                     strchr(p->token_url, '?') ? '&' : '?', f.s);
        base_wipe(f.s, f.len);
        free(f.s);
        b->method = "GET";
        return b->url != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    case EXCH_AUTH_POST_FORM:
        form_add(&f, curl, "client_id", p->client_id);
        form_add(&f, curl, "client_secret", in->client_secret);
        break;
    default: {
        /* RFC 6749 §2.3.1: HTTP Basic is what every server must accept, with
         * id and secret form-encoded first (a secret with ':' or '%' would
         * otherwise reach the server changed). */
        char *u = curl_easy_escape(curl, p->client_id, 0);
        char *pw = curl_easy_escape(curl, in->client_secret, 0);

        b->basic_user = u != NULL ? strdup(u) : NULL;
        b->basic_pass = pw != NULL ? strdup(pw) : NULL;
        if (pw != NULL)
            base_wipe(pw, strlen(pw));
        curl_free(u);
        curl_free(pw);
        if (b->basic_user == NULL || b->basic_pass == NULL) {
            free(f.s);
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        }
        break;
    }
    }
    return finish_form(b, &f);
}

static p11jwt_rc build_private_key_jwt(const p11jwt_profile *p, CURL *curl,
                                       const exch_inputs *in, exch_built *b)
{
    struct form f = { 0 };

    form_add(&f, curl, "grant_type", "client_credentials");
    form_add(&f, curl, "client_id", p->client_id);
    form_add(&f, curl, "client_assertion_type", ASSERTION_TYPE_JWT);
    form_add(&f, curl, "client_assertion", in->assertion);
    if (p->scope != NULL)
        form_add(&f, curl, "scope", p->scope);
    return finish_form(b, &f);
}

p11jwt_rc exch_dialect_build(const p11jwt_profile *p, CURL *curl, const exch_inputs *in,
                             exch_built *out)
{
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    switch (p->dialect) {
    case EXCH_DT:
    case EXCH_NEOWIT:
    case EXCH_RFC7523:
        rc = build_jwt_bearer(p, curl, in, out);
        break;
    case EXCH_NOA:
        rc = build_noa(p, in, out);
        break;
    case EXCH_JSA:
    case EXCH_CLIENT_CREDENTIALS:
        rc = build_client_credentials(p, curl, in, out);
        break;
    case EXCH_PRIVATE_KEY_JWT:
        rc = build_private_key_jwt(p, curl, in, out);
        break;
    default:
        rc = err_set(P11JWT_ERR_ARG, "unknown dialect");
    }
    if (rc == P11JWT_OK && out->url == NULL && (out->url = strdup(p->token_url)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (rc == P11JWT_OK && p->dialect != EXCH_NOA)
        rc = add_header(out, "Accept: application/json");
    if (rc != P11JWT_OK)
        exch_built_clear(out);
    return rc;
}

/* What is wrong with byte c at a place that wants printable ASCII, for a
 * message that must not show the value itself. */
static const char *char_class(unsigned char c)
{
    if (c == '\r' || c == '\n')
        return "a line break";
    if (c == '\0')
        return "a NUL byte";
    if (c < 0x20 || c == 0x7f)
        return "a control character";
    if (c >= 0x80)
        return "a non-ASCII byte";
    if (c == ' ')
        return "a space";
    return "a character other than A-Z a-z 0-9 - . _ ~ + / and final =";
}

/* A value from the STS that goes into a request header or a message:
 * printable ASCII only (no CR, LF or NUL: nothing an STS says may add a
 * header). b64token: also RFC 6750's token68 shape, what an Authorization
 * header may carry. Returns the offset of the first bad byte, or -1. */
static long bad_sts_value(const char *v, size_t n, int b64token)
{
    size_t i = 0;

    for (; i < n; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c < 0x20 || c > 0x7e)
            return (long)i;
        if (b64token && !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                          c == '~' || c == '+' || c == '/'))
            break;
    }
    if (!b64token || i == n)
        return i == 0 && b64token ? 0 : -1;
    /* then only "=" to the end, after at least one token character */
    if (i == 0)
        return 0;
    for (size_t k = i; k < n; k++)
        if (v[k] != '=')
            return (long)k;
    return -1;
}

/* Refuses an STS value (s NULL: absent) a header or message cannot carry
 * safely. jansson refuses \u0000 in strings, so strlen is its length. */
static p11jwt_rc check_sts_value(const char *s, const char *key, const char *what,
                                 int b64token)
{
    long bad;

    if (s == NULL)
        return P11JWT_OK;
    bad = bad_sts_value(s, strlen(s), b64token);
    if (bad < 0)
        return P11JWT_OK;
    return err_set(P11JWT_ERR_HTTP,
                   "the STS answered a %s (\"%s\") that %s: %s at offset %ld; refused "
                   "(not shown)",
                   what, key,
                   b64token ? "is not an RFC 6750 bearer token (b64token)"
                            : "is not printable ASCII",
                   char_class((unsigned char)s[bad]), bad);
}

/* expires_in given as a string of digits: its value (saturated), else 0. */
static int64_t lifetime_string(const char *s)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0')
        return 0;
    return errno == ERANGE && v > 0 ? INT64_MAX : (int64_t)v;
}

static p11jwt_rc dup_or_null(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL)
        return P11JWT_OK;
    *out = strdup(s);
    return *out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

p11jwt_rc exch_dialect_parse(const p11jwt_profile *p, const exch_response *rs, int64_t now,
                             p11jwt_access_token *t)
{
    json_error_t jerr;
    json_t *o = json_loadb(rs->body, rs->len, 0, &jerr);
    const char *value_key = p->dialect == EXCH_NOA      ? "jwt"
                            : p->dialect == EXCH_NEOWIT ? "accessToken"
                                                        : "access_token";
    const char *value, *type;
    json_t *expires_in;
    int64_t exp, life;
    p11jwt_rc rc;

    memset(t, 0, sizeof *t);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return err_set(P11JWT_ERR_HTTP,
                       "the STS answered %ld with a body that is not a JSON object%s%s", rs->status,
                       o == NULL ? ": " : "", o == NULL ? ESC(jerr.text) : "");
    }
    value = json_string_value(json_object_get(o, value_key));
    /* neowit documents accessToken; accept the RFC name too. */
    if (value == NULL && p->dialect == EXCH_NEOWIT)
        value = json_string_value(json_object_get(o, "access_token"));
    if (value == NULL || value[0] == '\0') {
        wipe_member(o, "access_token");
        json_decref(o);
        return err_set(P11JWT_ERR_HTTP, "the STS answered %ld without a \"%s\" string",
                       rs->status, value_key);
    }
    type = json_string_value(json_object_get(o, "token_type"));
    /* The token goes into "Authorization: <scheme> <token>": whatever the
     * dialect, it must be a b64token, and nothing else the STS says may
     * carry a line break into a header or a log. */
    rc = check_sts_value(value, value_key, "token", 1);
    if (rc == P11JWT_OK)
        rc = check_sts_value(type, "token_type", "token type", 0);
    if (rc == P11JWT_OK)
        rc = check_sts_value(json_string_value(json_object_get(o, "scope")), "scope", "scope",
                             0);
    if (rc == P11JWT_OK)
        rc = dup_or_null(value, &t->value);
    if (rc == P11JWT_OK)
        rc = dup_or_null(type != NULL ? type : p->resource_auth, &t->type);
    if (rc == P11JWT_OK)
        rc = dup_or_null(json_string_value(json_object_get(o, "scope")), &t->scope);

    /* A lifetime past a year is treated as a year: nothing an STS says may
     * overflow the arithmetic or pin a token for ever. */
    expires_in = json_object_get(o, "expires_in");
    life = json_is_integer(expires_in) ? (int64_t)json_integer_value(expires_in)
           : json_is_string(expires_in) ? lifetime_string(json_string_value(expires_in))
                                        : 0; /* a string: seen in the wild */
    if (life > 0)
        t->expires_at = now + (life < MAX_LIFETIME ? life : MAX_LIFETIME);
    else if ((exp = jose_jwt_exp(value)) > 0)
        t->expires_at = exp < now + MAX_LIFETIME ? exp : now + MAX_LIFETIME;
    else
        t->expires_at = now + p->default_lifetime;
    /* The token's copies in the parsed answer (neowit may send both names). */
    wipe_member(o, value_key);
    wipe_member(o, "access_token");
    json_decref(o);
    if (rc != P11JWT_OK)
        p11jwt_access_token_clear(t);
    return rc;
}

void p11jwt_access_token_clear(p11jwt_access_token *t)
{
    if (t == NULL)
        return;
    base_secret_free(t->value);
    free(t->type);
    free(t->scope);
    memset(t, 0, sizeof *t);
}
