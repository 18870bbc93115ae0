/*
 * jwk_okp.c — Ed25519 public keys (EdDSA, RFC 8037): the OKP JWK {kty
 * "OKP", crv "Ed25519", x}, its RFC 7638 thumbprint, the EVP_PKEY OpenSSL
 * verifies with, and the check of an EdDSA signature.
 *
 * The decision: an Ed25519 key travels in jose_ec_pub with alg
 * P11JWT_EDDSA (x: the 32 bytes, y unused), so that the JWK, JWKS and
 * verification paths that carry EC keys carry it too; jwk.c hands every
 * such key to the functions here. Only Ed25519 is taken: X25519 (key
 * agreement) and Ed448 are refused by name.
 */
#include "jose/jose.h"

#include "base/base.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED25519_LEN 32

/* base64url of x; out holds 44 bytes (32 -> 43 + NUL). */
static p11jwt_rc x_b64(const jose_ec_pub *pub, char out[44])
{
    if (pub->alg != P11JWT_EDDSA || pub->coord_len != ED25519_LEN)
        return err_set(P11JWT_ERR_ARG, "not an Ed25519 public key");
    jose_b64url_encode(pub->x, ED25519_LEN, out);
    return P11JWT_OK;
}

p11jwt_rc jose_okp_thumbprint(const jose_ec_pub *pub, char out[44])
{
    char x[44], json[128];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    p11jwt_rc rc = x_b64(pub, x);
    int n;

    if (rc != P11JWT_OK)
        return rc;
    /* RFC 7638 §3.2 and RFC 8037 §2: crv, kty, x, sorted, no whitespace. */
    n = snprintf(json, sizeof json, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
    if (n < 0 || (size_t)n >= sizeof json)
        return err_set(P11JWT_ERR_ARG, "Ed25519 key too large for a thumbprint");
    SHA256((const unsigned char *)json, (size_t)n, digest);
    jose_b64url_encode(digest, sizeof digest, out);
    return P11JWT_OK;
}

p11jwt_rc jose_okp_jwk(const jose_ec_pub *pub, const char *kid, json_t **out)
{
    char x[44];
    p11jwt_rc rc = x_b64(pub, x);
    json_t *jwk;

    *out = NULL;
    if (rc != P11JWT_OK)
        return rc;
    jwk = json_object();
    if (jwk == NULL || json_object_set_new(jwk, "kty", json_string("OKP")) != 0 ||
        json_object_set_new(jwk, "crv", json_string("Ed25519")) != 0 ||
        json_object_set_new(jwk, "x", json_string(x)) != 0 ||
        (kid != NULL && json_object_set_new(jwk, "kid", json_string(kid)) != 0) ||
        json_object_set_new(jwk, "alg", json_string("EdDSA")) != 0 ||
        json_object_set_new(jwk, "use", json_string("sig")) != 0) {
        json_decref(jwk);
        return err_set(P11JWT_ERR_NOMEM, "out of memory (or kid is not UTF-8)");
    }
    *out = jwk;
    return P11JWT_OK;
}

p11jwt_rc jose_okp_pkey(const jose_ec_pub *pub, EVP_PKEY **out)
{
    *out = NULL;
    if (pub->alg != P11JWT_EDDSA || pub->coord_len != ED25519_LEN)
        return err_set(P11JWT_ERR_ARG, "not an Ed25519 public key");
    *out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub->x, ED25519_LEN);
    return *out != NULL ? P11JWT_OK
                        : err_set(P11JWT_ERR_CRYPTO, "OpenSSL could not set up an Ed25519 key");
}

p11jwt_rc jose_okp_from_jwk(const json_t *jwk, jose_ec_pub *pub)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *x = json_string_value(json_object_get(jwk, "x"));
    const json_t *alg = json_object_get(jwk, "alg");
    unsigned char *raw = NULL;
    size_t raw_len = 0;

    memset(pub, 0, sizeof *pub);
    if (crv == NULL || strcmp(crv, "Ed25519") != 0)
        return err_set(P11JWT_ERR_JSON,
                       "OKP JWK curve \"%s\" is not Ed25519 (%s)", crv ? ESC(crv) : "",
                       crv != NULL && (strcmp(crv, "X25519") == 0 || strcmp(crv, "X448") == 0)
                           ? "a key-agreement key never verifies a signature"
                           : "the only EdDSA curve p11jwt verifies");
    if (alg != NULL && (!json_is_string(alg) || strcmp(json_string_value(alg), "EdDSA") != 0))
        return err_set(P11JWT_ERR_JSON, "OKP JWK on Ed25519 says alg \"%s\", expected EdDSA",
                       json_is_string(alg) ? ESC(json_string_value(alg)) : "?");
    if (x == NULL)
        return err_set(P11JWT_ERR_JSON, "OKP JWK has no \"x\" string");
    if (jose_b64url_decode(x, strlen(x), &raw, &raw_len) != P11JWT_OK)
        return err_set(P11JWT_ERR_JSON, "OKP JWK \"x\" is not base64url");
    if (raw_len != ED25519_LEN) {
        free(raw);
        return err_set(P11JWT_ERR_JSON, "OKP JWK \"x\" is %zu bytes, expected 32", raw_len);
    }
    pub->alg = P11JWT_EDDSA;
    pub->coord_len = ED25519_LEN;
    memcpy(pub->x, raw, ED25519_LEN);
    free(raw);
    return P11JWT_OK;
}

p11jwt_rc jose_eddsa_verify(const jose_jws *j, EVP_PKEY *pkey)
{
    EVP_MD_CTX *md;
    int ok = 0;

    /* RFC 8037 §3.1: the 64-byte Ed25519 signature, nothing else. */
    if (j->sig_len != 2 * ED25519_LEN)
        return err_set(P11JWT_ERR_SIGNATURE, "EdDSA signature is %zu bytes, expected 64",
                       j->sig_len);
    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)
        return err_set(P11JWT_ERR_ALG, "EdDSA needs an Ed25519 key");
    md = EVP_MD_CTX_new();
    /* No digest: Ed25519 hashes the whole message itself (one shot). */
    if (md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1)
        ok = EVP_DigestVerify(md, j->sig, j->sig_len, (const unsigned char *)j->signing_input,
                              j->signing_input_len) == 1;
    EVP_MD_CTX_free(md);
    return ok ? P11JWT_OK : err_set(P11JWT_ERR_SIGNATURE, "EdDSA signature does not verify");
}
