/*
 * verify.c — checking a parsed JWS: the alg against the key's (never
 * "none", never one the key does not pin), the signature with OpenSSL or a
 * MAC function, and the time and audience claims of an assertion.
 */
#include "jose/jose.h"

#include "base/base.h"

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* JWS carries ECDSA as fixed-length r||s (RFC 7518 §3.4); OpenSSL wants
 * DER. The length is checked first, so a DER signature is never accepted. */
static p11jwt_rc verify_es(const jose_jws *j, const jose_verifier *v)
{
    size_t clen = base_alg_coord_len(v->alg);
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *der = NULL;
    EVP_MD_CTX *md = NULL;
    int der_len, ok = 0;

    if (j->sig_len != 2 * clen)
        return err_set(P11JWT_ERR_SIGNATURE, "%s signature is %zu bytes, expected %zu",
                       p11jwt_alg_name(v->alg), j->sig_len, 2 * clen);
    es = ECDSA_SIG_new();
    r = BN_bin2bn(j->sig, (int)clen, NULL);
    s = BN_bin2bn(j->sig + clen, (int)clen, NULL);
    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (der_len <= 0)
        return err_set(P11JWT_ERR_CRYPTO, "could not encode the ECDSA signature");

    md = EVP_MD_CTX_new();
    if (md != NULL && EVP_DigestVerifyInit(md, NULL, base_alg_md(v->alg), NULL, v->pkey) == 1)
        ok = EVP_DigestVerify(md, der, (size_t)der_len,
                              (const unsigned char *)j->signing_input,
                              j->signing_input_len) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return ok ? P11JWT_OK : err_set(P11JWT_ERR_SIGNATURE, "%s signature does not verify",
                                    p11jwt_alg_name(v->alg));
}

static p11jwt_rc verify_hs(const jose_jws *j, const jose_verifier *v)
{
    unsigned char mac[64];
    size_t mac_len = sizeof mac;
    p11jwt_rc rc;
    int equal;

    rc = v->mac(v->ctx, (const unsigned char *)j->signing_input, j->signing_input_len, mac,
                &mac_len);
    if (rc != P11JWT_OK)
        return rc;
    equal = mac_len == j->sig_len && CRYPTO_memcmp(mac, j->sig, mac_len) == 0;
    base_wipe(mac, sizeof mac);
    return equal ? P11JWT_OK : err_set(P11JWT_ERR_SIGNATURE, "%s signature does not verify",
                                       p11jwt_alg_name(v->alg));
}

p11jwt_rc jose_jws_verify(const jose_jws *j, const jose_verifier *v)
{
    if (strcmp(j->alg_name, "none") == 0)
        return err_set(P11JWT_ERR_ALG, "JWS alg \"none\" (an unsigned token) is refused");
    if (j->alg == P11JWT_ALG_UNKNOWN)
        return err_set(P11JWT_ERR_ALG, "JWS alg \"%s\" is not supported", ESC(j->alg_name));
    if (j->alg != v->alg)
        return err_set(P11JWT_ERR_ALG, "JWS alg %s does not match the key's alg %s",
                       ESC(j->alg_name), p11jwt_alg_name(v->alg));
    if (p11jwt_alg_is_ec(v->alg)) {
        if (v->pkey == NULL)
            return err_set(P11JWT_ERR_ARG, "no public key to verify %s with", ESC(j->alg_name));
        return verify_es(j, v);
    }
    if (v->mac == NULL)
        return err_set(P11JWT_ERR_ARG, "no secret to verify %s with", ESC(j->alg_name));
    return verify_hs(j, v);
}

/* A NumericDate claim (RFC 7519 §2): *present = 0 when absent. */
static p11jwt_rc numeric_date(const json_t *payload, const char *name, int *present,
                              int64_t *out)
{
    const json_t *v = json_object_get(payload, name);

    *present = v != NULL;
    if (v == NULL)
        return P11JWT_OK;
    if (json_is_integer(v))
        *out = (int64_t)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) > -9e18 && json_real_value(v) < 9e18)
        *out = (int64_t)json_real_value(v);
    else
        return err_set(P11JWT_ERR_CLAIMS, "claim \"%s\" is not a NumericDate", name);
    return P11JWT_OK;
}

static int aud_matches(const json_t *aud, const char *want)
{
    const json_t *item;
    size_t i;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    json_array_foreach(aud, i, item)
        if (json_is_string(item) && strcmp(json_string_value(item), want) == 0)
            return 1;
    return 0;
}

/* a - b, or the nearest int64_t when it does not fit: a claim's value may
 * be anything a JSON integer holds. */
static int64_t diff(int64_t a, int64_t b)
{
    int64_t d;

    if (__builtin_sub_overflow(a, b, &d))
        return a < b ? INT64_MIN : INT64_MAX;
    return d;
}

p11jwt_rc jose_claims_check(const jose_jws *j, const p11jwt_verify_params *p)
{
    int64_t now = p->now != 0 ? p->now : (int64_t)time(NULL);
    int64_t exp = 0, nbf = 0, iat = 0;
    int has_exp, has_nbf, has_iat;
    p11jwt_rc rc;

    /* now and leeway bounded: now - leeway and now + leeway cannot
     * overflow; differences with a claim go through diff(). */
    if (p->leeway < 0 || p->leeway > P11JWT_MAX_DURATION)
        return err_set(P11JWT_ERR_ARG, "leeway must be from 0 to %lld seconds (10 years)",
                       (long long)P11JWT_MAX_DURATION);
    if (now < 0 || now > P11JWT_MAX_TIME)
        return err_set(P11JWT_ERR_ARG, "the time %lld is not between 1970 and 9999",
                       (long long)now);
    if ((rc = numeric_date(j->payload, "exp", &has_exp, &exp)) != P11JWT_OK ||
        (rc = numeric_date(j->payload, "nbf", &has_nbf, &nbf)) != P11JWT_OK ||
        (rc = numeric_date(j->payload, "iat", &has_iat, &iat)) != P11JWT_OK)
        return rc;
    /* RFC 7523 §3: an assertion MUST carry exp. */
    if (!has_exp)
        return err_set(P11JWT_ERR_CLAIMS, "no \"exp\" claim (RFC 7523 requires one)");
    if (now - p->leeway >= exp)
        return err_set(P11JWT_ERR_CLAIMS,
                       "expired: exp %lld is %lld s in the past (leeway %lld s)",
                       (long long)exp, (long long)diff(now, exp), (long long)p->leeway);
    if (has_nbf && nbf > now + p->leeway)
        return err_set(P11JWT_ERR_CLAIMS, "not yet valid: nbf is %lld s in the future",
                       (long long)diff(nbf, now));
    if (has_iat && iat > now + p->leeway)
        return err_set(P11JWT_ERR_CLAIMS,
                       "issued in the future: iat is %lld s ahead (check the clocks)",
                       (long long)diff(iat, now));
    if (p->aud != NULL && !aud_matches(json_object_get(j->payload, "aud"), p->aud))
        return err_set(P11JWT_ERR_CLAIMS, "audience mismatch: \"aud\" does not contain '%s'",
                       ESC(p->aud));
    if (p->iss != NULL) {
        const char *iss = json_string_value(json_object_get(j->payload, "iss"));

        if (iss == NULL || strcmp(iss, p->iss) != 0)
            return err_set(P11JWT_ERR_CLAIMS, "issuer mismatch: \"iss\" is '%s', expected '%s'",
                           iss != NULL ? ESC(iss) : "(none)", ESC(p->iss));
    }
    return P11JWT_OK;
}
