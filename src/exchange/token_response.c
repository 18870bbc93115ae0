/*
 * token_response.c — an STS's answer as an access token (RFC 6749 §5.1):
 * the token under the dialect's name for it, its type and scope, and when
 * it expires (expires_in, else a JWT-shaped token's exp, else the
 * profile's default lifetime; never more than a year). Shared by every
 * dialect; the access token's copy and wipe are here too.
 *
 * The decision: nothing an STS says may reach a header or a log unless it
 * is printable ASCII, and the token itself must be an RFC 6750 b64token —
 * it goes into "Authorization: <scheme> <token>". What is refused is
 * named by its place and kind of byte, never shown.
 */
#include "exchange/exchange_int.h"

#include "jose/jose.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIFETIME ((int64_t)366 * 86400)

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
UNITTEST long exch_sts_value_bad(const char *v, size_t n, int b64token)
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
    bad = exch_sts_value_bad(s, strlen(s), b64token);
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

p11jwt_rc exch_token_response_parse(const p11jwt_profile *p, const exch_response *rs,
                                    int64_t now, p11jwt_access_token *t)
{
    json_error_t jerr;
    json_t *o = json_loadb(rs->body, rs->len, 0, &jerr);
    const struct exch_dialect *d = exch_dialect_get(p->dialect);
    const char *value_key = d->token_key;
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
    if (value == NULL && d->token_key_alias != NULL)
        value = json_string_value(json_object_get(o, d->token_key_alias));
    if (value == NULL || value[0] == '\0') {
        exch_json_wipe_member(o, "access_token");
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
    exch_json_wipe_member(o, value_key);
    exch_json_wipe_member(o, "access_token");
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

p11jwt_rc exch_token_copy(const p11jwt_access_token *src, p11jwt_access_token *dst)
{
    memset(dst, 0, sizeof *dst);
    dst->value = strdup(src->value);
    dst->type = src->type ? strdup(src->type) : NULL;
    dst->scope = src->scope ? strdup(src->scope) : NULL;
    dst->expires_at = src->expires_at;
    if (dst->value == NULL || (src->type && !dst->type) || (src->scope && !dst->scope)) {
        p11jwt_access_token_clear(dst);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    return P11JWT_OK;
}
