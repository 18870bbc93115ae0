/*
 * jwk.c — EC public keys as JWKs (RFC 7517, RFC 7518 §6.2), RFC 7638
 * thumbprints, and the bridge to OpenSSL's EVP_PKEY for verification;
 * choosing the key a JWS names in a JWKS (EC, RSA and OKP; RSA's JWKs are
 * rsa.c's). An Ed25519 key (alg EdDSA, kty OKP) goes to jwk_okp.c.
 */
#include "jose/jose.h"

#include "base/base.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static p11jwt_alg alg_from_crv(const char *crv)
{
    if (strcmp(crv, "P-256") == 0)
        return P11JWT_ES256;
    if (strcmp(crv, "P-384") == 0)
        return P11JWT_ES384;
    if (strcmp(crv, "P-521") == 0)
        return P11JWT_ES512;
    return P11JWT_ALG_UNKNOWN;
}

/* base64url of the two coordinates; x and y hold 89 bytes (66 → 88 + NUL). */
static p11jwt_rc coords_b64(const jose_ec_pub *pub, char x[89], char y[89])
{
    if (base_alg_coord_len(pub->alg) == 0 || pub->coord_len != base_alg_coord_len(pub->alg))
        return err_set(P11JWT_ERR_ARG, "not an EC public key of a supported curve");
    jose_b64url_encode(pub->x, pub->coord_len, x);
    jose_b64url_encode(pub->y, pub->coord_len, y);
    return P11JWT_OK;
}

p11jwt_rc jose_ec_thumbprint(const jose_ec_pub *pub, char out[44])
{
    char x[89], y[89], json[256];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    p11jwt_rc rc;
    int n;

    if (pub->alg == P11JWT_EDDSA)
        return jose_okp_thumbprint(pub, out);
    rc = coords_b64(pub, x, y);
    if (rc != P11JWT_OK)
        return rc;
    /* RFC 7638 §3.2: required members only, sorted, no whitespace. All the
     * values are base64url or fixed names, so no escaping is needed. */
    n = snprintf(json, sizeof json, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                 base_alg_crv(pub->alg), x, y);
    if (n < 0 || (size_t)n >= sizeof json)
        return err_set(P11JWT_ERR_ARG, "EC key too large for a thumbprint");
    SHA256((const unsigned char *)json, (size_t)n, digest);
    jose_b64url_encode(digest, sizeof digest, out);
    return P11JWT_OK;
}

p11jwt_rc jose_ec_jwk(const jose_ec_pub *pub, const char *kid, json_t **out)
{
    char x[89], y[89];
    p11jwt_rc rc;
    json_t *jwk;

    if (pub->alg == P11JWT_EDDSA)
        return jose_okp_jwk(pub, kid, out);
    *out = NULL;
    rc = coords_b64(pub, x, y);
    if (rc != P11JWT_OK)
        return rc;
    jwk = json_object();
    if (jwk == NULL || json_object_set_new(jwk, "kty", json_string("EC")) != 0 ||
        json_object_set_new(jwk, "crv", json_string(base_alg_crv(pub->alg))) != 0 ||
        json_object_set_new(jwk, "x", json_string(x)) != 0 ||
        json_object_set_new(jwk, "y", json_string(y)) != 0 ||
        (kid != NULL && json_object_set_new(jwk, "kid", json_string(kid)) != 0) ||
        json_object_set_new(jwk, "alg", json_string(p11jwt_alg_name(pub->alg))) != 0 ||
        json_object_set_new(jwk, "use", json_string("sig")) != 0) {
        json_decref(jwk);
        return err_set(P11JWT_ERR_NOMEM, "out of memory (or kid is not UTF-8)");
    }
    *out = jwk;
    return P11JWT_OK;
}

p11jwt_rc jose_ec_pkey(const jose_ec_pub *pub, EVP_PKEY **out)
{
    if (pub->alg == P11JWT_EDDSA)
        return jose_okp_pkey(pub, out);
    *out = NULL;
    if (base_alg_coord_len(pub->alg) == 0 || pub->coord_len != base_alg_coord_len(pub->alg))
        return err_set(P11JWT_ERR_ARG, "not an EC public key of a supported curve");
    return base_ec_pkey(pub->alg, pub->x, pub->y, out);
}

/* Decodes a coordinate that must be exactly clen bytes. */
static p11jwt_rc coord_from_jwk(const json_t *jwk, const char *name, size_t clen,
                                unsigned char *out)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    unsigned char *raw;
    size_t raw_len;
    p11jwt_rc rc;

    if (s == NULL)
        return err_set(P11JWT_ERR_JSON, "EC JWK has no \"%s\" string", name);
    rc = jose_b64url_decode(s, strlen(s), &raw, &raw_len);
    if (rc != P11JWT_OK)
        return err_set(P11JWT_ERR_JSON, "EC JWK \"%s\" is not base64url", name);
    if (raw_len != clen) {
        free(raw);
        return err_set(P11JWT_ERR_JSON, "EC JWK \"%s\" is %zu bytes, expected %zu", name,
                       raw_len, clen);
    }
    memcpy(out, raw, clen);
    free(raw);
    return P11JWT_OK;
}

p11jwt_rc jose_ec_from_jwk(const json_t *jwk, jose_ec_pub *pub)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const json_t *alg = json_object_get(jwk, "alg");
    p11jwt_rc rc;

    memset(pub, 0, sizeof *pub);
    if (kty != NULL && strcmp(kty, "OKP") == 0)
        return jose_okp_from_jwk(jwk, pub);
    if (kty == NULL || strcmp(kty, "EC") != 0)
        return err_set(P11JWT_ERR_JSON, "JWK is not an EC key nor an OKP one (kty \"%s\")",
                       kty ? ESC(kty) : "");
    if (crv == NULL || (pub->alg = alg_from_crv(crv)) == P11JWT_ALG_UNKNOWN)
        return err_set(P11JWT_ERR_JSON, "EC JWK curve \"%s\" is not P-256, P-384 or P-521",
                       crv ? ESC(crv) : "");
    if (alg != NULL && (!json_is_string(alg) ||
                        p11jwt_alg_from_name(json_string_value(alg)) != pub->alg))
        return err_set(P11JWT_ERR_JSON, "EC JWK on %s says alg \"%s\", expected %s", crv,
                       json_is_string(alg) ? ESC(json_string_value(alg)) : "?",
                       p11jwt_alg_name(pub->alg));
    pub->coord_len = base_alg_coord_len(pub->alg);
    rc = coord_from_jwk(jwk, "x", pub->coord_len, pub->x);
    if (rc == P11JWT_OK)
        rc = coord_from_jwk(jwk, "y", pub->coord_len, pub->y);
    return rc;
}

/* Why a JWK may not verify signatures (RFC 7517 §4.2, §4.3), or NULL when
 * it may: "use" other than "sig", or "key_ops" without "verify". */
static const char *not_for_verifying(const json_t *jwk)
{
    const json_t *use = json_object_get(jwk, "use");
    const json_t *ops = json_object_get(jwk, "key_ops"), *op;
    size_t i;

    if (use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0))
        return "its \"use\" is not \"sig\"";
    if (ops == NULL)
        return NULL;
    if (!json_is_array(ops))
        return "its \"key_ops\" is not an array";
    json_array_foreach(ops, i, op)
        if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
            return NULL;
    return "its \"key_ops\" lacks \"verify\"";
}

/* The key types p11jwt verifies with, as jose_jwks_pick's messages name
 * them. */
#define JOSE_KTY_WORDS "EC, RSA or OKP (Ed25519)"

/* The key types a JWKS key may have to be a candidate. */
static int known_kty(const char *kty)
{
    return kty != NULL &&
           (strcmp(kty, "EC") == 0 || strcmp(kty, "RSA") == 0 || strcmp(kty, "OKP") == 0);
}

p11jwt_rc jose_jwks_pick(const json_t *jwks, const char *kid, const json_t **out)
{
    const json_t *keys = json_object_get(jwks, "keys");
    const json_t *found = NULL, *k;
    const char *unusable = NULL;
    size_t i, candidates = 0;

    *out = NULL;
    if (!json_is_array(keys))
        return err_set(P11JWT_ERR_JSON, "JWKS has no \"keys\" array");
    json_array_foreach(keys, i, k) {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        const char *kkid = json_string_value(json_object_get(k, "kid"));
        const char *why;

        if (!known_kty(kty))
            continue;
        /* A key for encryption, or not for verifying, is not a candidate:
         * never used, and not counted as "the only key" either. */
        if ((why = not_for_verifying(k)) != NULL) {
            if (kid != NULL && kkid != NULL && strcmp(kkid, kid) == 0)
                unusable = why;
            continue;
        }
        candidates++;
        if (kid == NULL || (kkid != NULL && strcmp(kkid, kid) == 0)) {
            if (found != NULL && kid != NULL)
                return err_set(P11JWT_ERR_JSON, "JWKS holds kid '%s' more than once", ESC(kid));
            found = k;
        }
    }
    if (kid == NULL && candidates > 1)
        return err_set(P11JWT_ERR_KEY_NOT_FOUND,
                       "the JWS names no kid and the JWKS holds %zu " JOSE_KTY_WORDS " keys",
                       candidates);
    if (found == NULL && unusable != NULL)
        return err_set(P11JWT_ERR_KEY_NOT_FOUND,
                       "the JWKS's key '%s' may not verify signatures: %s", ESC(kid), unusable);
    if (found == NULL)
        return kid != NULL
                   ? err_set(P11JWT_ERR_KEY_NOT_FOUND,
                             "no " JOSE_KTY_WORDS " key with kid '%s' in the JWKS", ESC(kid))
                   : err_set(P11JWT_ERR_KEY_NOT_FOUND,
                             "the JWKS holds no " JOSE_KTY_WORDS
                             " key for verifying signatures");
    *out = found;
    return P11JWT_OK;
}
