/*
 * jws.c — compact JWS serialization (RFC 7515 §7.1): making one over a
 * jose_signer, splitting one at its dots (the one splitter: parsing for
 * verification, reading a token's exp, an audit record all use it), and
 * decoding one for verification or, unverified, just to read it.
 */
#include "jose/jose.h"

#include "base/base.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* The largest JWS signature we make or accept: an 8192-bit RSA key's. */
#define MAX_SIG_LEN P11JWT_SIG_MAX

size_t jose_jws_max_len(const char *header_b64, size_t payload_len)
{
    return strlen(header_b64) + 1 + jose_b64url_len(payload_len) + 1 +
           jose_b64url_len(MAX_SIG_LEN) + 1;
}

p11jwt_rc jose_jws_write(const jose_signer *s, const char *header_b64, const char *payload,
                         size_t payload_len, char *buf, size_t *len)
{
    size_t want = s->sig_len != 0 ? s->sig_len : p11jwt_alg_sig_len(s->alg);
    size_t hlen = strlen(header_b64);
    unsigned char sig[MAX_SIG_LEN];
    size_t sig_len = sizeof sig;
    char *p;
    p11jwt_rc rc;

    *len = 0;
    if (want == 0 || want > MAX_SIG_LEN)
        return err_set(P11JWT_ERR_ALG, "key '%s' has no JWS alg", s->kid ? ESC(s->kid) : "");
    /* header "." payload "." signature NUL, signed in place. */
    memcpy(buf, header_b64, hlen);
    p = buf + hlen;
    *p++ = '.';
    p += jose_b64url_encode((const unsigned char *)payload, payload_len, p);

    rc = s->sign(s->ctx, (const unsigned char *)buf, (size_t)(p - buf), sig, &sig_len);
    if (rc == P11JWT_OK && sig_len != want)
        rc = err_set(P11JWT_ERR_CRYPTO, "%s signature is %zu bytes, expected %zu",
                     p11jwt_alg_name(s->alg), sig_len, want);
    if (rc == P11JWT_OK) {
        *p++ = '.';
        p += jose_b64url_encode(sig, sig_len, p);
        *p = '\0';
        *len = (size_t)(p - buf);
    }
    base_wipe(sig, sizeof sig);
    return rc;
}

p11jwt_rc jose_jws_sign(const jose_signer *s, const char *header_b64, const char *payload,
                        size_t payload_len, char **out)
{
    char *buf = malloc(jose_jws_max_len(header_b64, payload_len));
    size_t len;
    p11jwt_rc rc;

    *out = NULL;
    if (buf == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    rc = jose_jws_write(s, header_b64, payload, payload_len, buf, &len);
    if (rc != P11JWT_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    return P11JWT_OK;
}

void jose_jws_free(jose_jws *j)
{
    if (j == NULL)
        return;
    json_decref(j->header);
    json_decref(j->payload);
    free(j->sig);
    free(j);
}

/* Decodes one base64url part holding a JSON object. */
static p11jwt_rc decode_json_part(const char *name, const char *s, size_t n, json_t **out)
{
    unsigned char *raw;
    size_t raw_len;
    json_error_t jerr;
    p11jwt_rc rc = jose_b64url_decode(s, n, &raw, &raw_len);

    if (rc != P11JWT_OK)
        return err_wrap(rc, "JWS %s", name);
    *out = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
    free(raw);
    if (*out == NULL)
        return err_set(P11JWT_ERR_JWS_MALFORMED, "JWS %s is not valid JSON: %s", name,
                       ESC(jerr.text));
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return err_set(P11JWT_ERR_JWS_MALFORMED, "JWS %s is not a JSON object", name);
    }
    return P11JWT_OK;
}

static p11jwt_rc read_header(jose_jws *j)
{
    json_t *alg = json_object_get(j->header, "alg");
    json_t *kid = json_object_get(j->header, "kid");

    if (!json_is_string(alg))
        return err_set(P11JWT_ERR_JWS_MALFORMED, "JWS header has no \"alg\" string");
    j->alg_name = json_string_value(alg);
    j->alg = p11jwt_alg_from_name(j->alg_name);
    if (kid != NULL && !json_is_string(kid))
        return err_set(P11JWT_ERR_JWS_MALFORMED, "JWS header \"kid\" is not a string");
    j->kid = kid != NULL ? json_string_value(kid) : NULL;
    /* RFC 7515 §4.1.11: extensions we do not understand must be refused. */
    if (json_object_get(j->header, "crit") != NULL)
        return err_set(P11JWT_ERR_JWS_MALFORMED,
                       "JWS header lists critical extensions (\"crit\"); none is supported");
    return P11JWT_OK;
}

int jose_jws_split(const char *s, size_t len, jose_jws_parts *out)
{
    const char *end = s + len, *dot1, *dot2, *dot3;

    memset(out, 0, sizeof *out);
    dot1 = memchr(s, '.', len);
    dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (dot2 == NULL)
        return dot1 == NULL ? 1 : 2;
    dot3 = memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1));
    out->header = s;
    out->header_len = (size_t)(dot1 - s);
    out->payload = dot1 + 1;
    out->payload_len = (size_t)(dot2 - dot1 - 1);
    out->sig = dot2 + 1;
    out->sig_len = (size_t)((dot3 != NULL ? dot3 : end) - dot2 - 1);
    return dot3 == NULL ? 3 : 4;
}

p11jwt_rc jose_jws_parse(const char *jws, size_t len, jose_jws **out)
{
    const char *start = jws, *end = jws + len, *nul;
    jose_jws_parts parts;
    jose_jws *j;
    int n;
    p11jwt_rc rc;

    *out = NULL;
    if ((nul = memchr(jws, '\0', len)) != NULL)
        return err_set(P11JWT_ERR_JWS_MALFORMED, "not a compact JWS: a NUL byte at offset %zu",
                       (size_t)(nul - jws));
    while (start < end && isspace((unsigned char)*start))
        start++;
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    if (end == start)
        return err_set(P11JWT_ERR_JWS_MALFORMED, "no JWS given (empty input)");

    n = jose_jws_split(start, (size_t)(end - start), &parts);
    if (n < 3)
        return err_set(P11JWT_ERR_JWS_MALFORMED,
                       "not a compact JWS: expected three base64url parts separated by '.'");
    if (n > 3)
        return err_set(P11JWT_ERR_JWS_MALFORMED,
                       "not a compact JWS: more than three parts (an encrypted JWE?)");

    j = calloc(1, sizeof *j);
    if (j == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    j->signing_input = start;
    j->signing_input_len = parts.header_len + 1 + parts.payload_len;

    rc = decode_json_part("header", parts.header, parts.header_len, &j->header);
    if (rc == P11JWT_OK)
        rc = read_header(j);
    if (rc == P11JWT_OK)
        rc = decode_json_part("payload", parts.payload, parts.payload_len, &j->payload);
    if (rc == P11JWT_OK) {
        rc = jose_b64url_decode(parts.sig, parts.sig_len, &j->sig, &j->sig_len);
        if (rc != P11JWT_OK)
            err_wrap(rc, "JWS signature");
    }
    if (rc != P11JWT_OK) {
        jose_jws_free(j);
        return rc;
    }
    *out = j;
    return P11JWT_OK;
}

/* One base64url part as JSON, read leniently (it is not verified). */
static json_t *peek_part(const char *s, size_t n)
{
    unsigned char *raw = NULL;
    size_t raw_len;
    json_t *j;

    if (jose_b64url_decode(s, n, &raw, &raw_len) != P11JWT_OK)
        return NULL;
    j = json_loadb((const char *)raw, raw_len, 0, NULL);
    free(raw);
    return j;
}

int jose_jws_peek(const char *jws, json_t **header, json_t **payload)
{
    jose_jws_parts parts;

    if (header != NULL)
        *header = NULL;
    if (payload != NULL)
        *payload = NULL;
    if (jose_jws_split(jws, strlen(jws), &parts) < 3)
        return -1;
    if (header != NULL)
        *header = peek_part(parts.header, parts.header_len);
    if (payload != NULL)
        *payload = peek_part(parts.payload, parts.payload_len);
    return 0;
}

int64_t jose_jwt_exp(const char *token)
{
    json_t *payload, *exp;
    int64_t out = -1;

    if (jose_jws_peek(token, NULL, &payload) != 0)
        return -1;
    exp = json_object_get(payload, "exp");
    if (json_is_integer(exp))
        out = (int64_t)json_integer_value(exp);
    else if (json_is_real(exp) && json_real_value(exp) > 0 && json_real_value(exp) < 9e18)
        out = (int64_t)json_real_value(exp);
    json_decref(payload);
    return out;
}
