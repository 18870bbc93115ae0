/*
 * claims.c — the JOSE header and the claims set of an assertion, as
 * compact JSON built with jansson (which does the string escaping).
 *
 * Member order is fixed and documented (iss, aud, sub, iat, exp, jti, then
 * the caller's extras in their order) so assertions are easy to read and
 * diff; no verifier depends on it.
 */
#include "jose/jose.h"

#include "core/err.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The claims p11jwt sets itself; extras may not redefine them. nbf and
 * anything else are the caller's to add. */
static const char *const std_claims[] = { "iss", "aud", "sub", "iat", "exp", "jti" };

static p11jwt_rc dump(json_t *obj, char **out)
{
    *out = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    return *out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

p11jwt_rc jose_header_b64(p11jwt_alg alg, const char *kid, char **out)
{
    const char *name = p11jwt_alg_name(alg);
    json_t *h;
    char *json = NULL;
    p11jwt_rc rc;

    *out = NULL;
    if (name == NULL)
        return err_set(P11JWT_ERR_ALG, "no JWS alg for this key");
    h = json_object();
    if (h == NULL || json_object_set_new(h, "alg", json_string(name)) != 0 ||
        (kid != NULL && json_object_set_new(h, "kid", json_string(kid)) != 0) ||
        json_object_set_new(h, "typ", json_string("JWT")) != 0) {
        json_decref(h);
        return err_set(P11JWT_ERR_NOMEM, "out of memory (or kid is not UTF-8)");
    }
    rc = dump(h, &json);
    if (rc != P11JWT_OK)
        return rc;
    *out = malloc(jose_b64url_len(strlen(json)) + 1);
    if (*out == NULL) {
        free(json);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    jose_b64url_encode((const unsigned char *)json, strlen(json), *out);
    free(json);
    return P11JWT_OK;
}

static p11jwt_rc set_str(json_t *obj, const char *name, const char *value)
{
    json_t *s = json_string(value);

    if (s == NULL)
        return err_set(P11JWT_ERR_ARG, "claim '%s' is not valid UTF-8", name);
    if (json_object_set_new(obj, name, s) != 0)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    return P11JWT_OK;
}

static p11jwt_rc set_int(json_t *obj, const char *name, int64_t value)
{
    if (json_object_set_new(obj, name, json_integer((json_int_t)value)) != 0)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    return P11JWT_OK;
}

static p11jwt_rc set_jti(json_t *obj)
{
    unsigned char raw[16];
    char b64[23];

    if (RAND_bytes(raw, sizeof raw) != 1)
        return err_set(P11JWT_ERR_CRYPTO, "OpenSSL's RAND_bytes failed for jti");
    jose_b64url_encode(raw, sizeof raw, b64);
    return set_str(obj, "jti", b64);
}

/* Appends the members of extra_json, refusing what redefines ours. */
static p11jwt_rc add_extras(json_t *claims, const char *extra_json)
{
    json_error_t jerr;
    json_t *extra = json_loads(extra_json, JSON_REJECT_DUPLICATES, &jerr);
    const char *name;
    json_t *value;
    p11jwt_rc rc = P11JWT_OK;

    if (extra == NULL)
        return err_set(P11JWT_ERR_JSON, "extra claims are not valid JSON: %s (line %d)",
                       jerr.text, jerr.line);
    if (!json_is_object(extra)) {
        json_decref(extra);
        return err_set(P11JWT_ERR_JSON, "extra claims must be a JSON object");
    }
    json_object_foreach(extra, name, value) {
        for (size_t i = 0; i < sizeof std_claims / sizeof std_claims[0]; i++)
            if (strcmp(name, std_claims[i]) == 0) {
                rc = err_set(P11JWT_ERR_ARG,
                             "extra claim '%s' would redefine a claim p11jwt sets "
                             "(use the matching option instead)",
                             name);
                goto out;
            }
        if (json_object_set(claims, name, value) != 0) {
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
out:
    json_decref(extra);
    return rc;
}

p11jwt_rc jose_claims_json(const p11jwt_claims_params *p, char **out)
{
    int64_t now = p->now != 0 ? p->now : (int64_t)time(NULL);
    json_t *c;
    p11jwt_rc rc;

    *out = NULL;
    if (p->iss == NULL || p->iss[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the issuer (iss) is required");
    if (p->aud != NULL && p->aud[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the audience (aud) is empty (leave it out instead)");
    if (p->ttl <= 0)
        return err_set(P11JWT_ERR_ARG, "ttl must be a positive number of seconds, not %lld",
                       (long long)p->ttl);
    if (p->ttl > INT64_MAX - now)
        return err_set(P11JWT_ERR_ARG, "ttl %lld is too large", (long long)p->ttl);

    c = json_object();
    if (c == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    rc = set_str(c, "iss", p->iss);
    if (rc == P11JWT_OK && p->aud != NULL)
        rc = set_str(c, "aud", p->aud);
    if (rc == P11JWT_OK && p->sub != NULL)
        rc = set_str(c, "sub", p->sub);
    if (rc == P11JWT_OK)
        rc = set_int(c, "iat", now);
    if (rc == P11JWT_OK)
        rc = set_int(c, "exp", now + p->ttl);
    if (rc == P11JWT_OK && !p->no_jti)
        rc = set_jti(c);
    if (rc == P11JWT_OK && p->extra_json != NULL)
        rc = add_extras(c, p->extra_json);
    if (rc != P11JWT_OK) {
        json_decref(c);
        return rc;
    }
    return dump(c, out);
}
