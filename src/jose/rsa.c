/*
 * rsa.c — RSA public keys in JOSE: as JWKs (RFC 7518 §6.3: kty "RSA", n
 * and e in base64url without leading zero bytes), their RFC 7638
 * thumbprints, the bridge to OpenSSL's EVP_PKEY, and the check of RS
 * (RSASSA-PKCS1-v1_5) and PS (RSASSA-PSS) signatures (RFC 7518 §3.3, §3.5).
 *
 * The decision: the JWS alg fixes the padding, the hash, the MGF1 hash and
 * the PSS salt length (the hash's length), so nothing about them is read
 * from the signature or left to OpenSSL's defaults; and a signature must
 * be exactly the modulus length, never shorter.
 */
#include "jose/jose.h"

#include "base/base.h"

#include <openssl/err.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

p11jwt_rc jose_rsa_set(jose_rsa_pub *pub, p11jwt_alg alg, const unsigned char *n, size_t n_len,
                       const unsigned char *e, size_t e_len)
{
    memset(pub, 0, sizeof *pub);
    while (n_len > 0 && n[0] == 0) {
        n++;
        n_len--;
    }
    while (e_len > 0 && e[0] == 0) {
        e++;
        e_len--;
    }
    if (n_len == 0 || e_len == 0)
        return err_set(P11JWT_ERR_ARG, "the RSA key has an empty modulus or exponent");
    if (n_len > sizeof pub->n)
        return err_set(P11JWT_ERR_ALG, "the RSA key is %zu bits: p11jwt takes at most %zu",
                       n_len * 8, sizeof pub->n * 8);
    if (e_len > sizeof pub->e)
        return err_set(P11JWT_ERR_ALG, "the RSA key's public exponent is %zu bytes long",
                       e_len);
    pub->alg = alg;
    memcpy(pub->n, n, n_len);
    pub->n_len = n_len;
    memcpy(pub->e, e, e_len);
    pub->e_len = e_len;
    return P11JWT_OK;
}

/* base64url of n (a new string) and e (into e_b64, 12 bytes). */
static p11jwt_rc parts_b64(const jose_rsa_pub *pub, char **n_b64, char e_b64[12])
{
    if (pub->n_len == 0 || pub->e_len == 0 || pub->n_len > sizeof pub->n ||
        pub->e_len > sizeof pub->e)
        return err_set(P11JWT_ERR_ARG, "not an RSA public key");
    *n_b64 = malloc(jose_b64url_len(pub->n_len) + 1);
    if (*n_b64 == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    jose_b64url_encode(pub->n, pub->n_len, *n_b64);
    jose_b64url_encode(pub->e, pub->e_len, e_b64);
    return P11JWT_OK;
}

p11jwt_rc jose_rsa_thumbprint(const jose_rsa_pub *pub, char out[44])
{
    char *n = NULL, e[12], *json = NULL;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    p11jwt_rc rc = parts_b64(pub, &n, e);
    size_t cap;
    int len;

    if (rc != P11JWT_OK)
        return rc;
    /* RFC 7638 §3.2: required members only, sorted, no whitespace; every
     * value is base64url or a fixed name, so nothing needs escaping. */
    cap = strlen(n) + strlen(e) + 32;
    json = malloc(cap);
    if (json == NULL) {
        free(n);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    len = snprintf(json, cap, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
    if (len < 0 || (size_t)len >= cap)
        rc = err_set(P11JWT_ERR_ARG, "RSA key too large for a thumbprint");
    else {
        SHA256((const unsigned char *)json, (size_t)len, digest);
        jose_b64url_encode(digest, sizeof digest, out);
    }
    free(json);
    free(n);
    return rc;
}

p11jwt_rc jose_rsa_jwk(const jose_rsa_pub *pub, const char *kid, json_t **out)
{
    char *n = NULL, e[12];
    p11jwt_rc rc = parts_b64(pub, &n, e);
    json_t *jwk;

    *out = NULL;
    if (rc != P11JWT_OK)
        return rc;
    jwk = json_object();
    if (jwk == NULL || json_object_set_new(jwk, "kty", json_string("RSA")) != 0 ||
        json_object_set_new(jwk, "n", json_string(n)) != 0 ||
        json_object_set_new(jwk, "e", json_string(e)) != 0 ||
        (kid != NULL && json_object_set_new(jwk, "kid", json_string(kid)) != 0) ||
        (p11jwt_alg_is_rsa(pub->alg) &&
         json_object_set_new(jwk, "alg", json_string(p11jwt_alg_name(pub->alg))) != 0) ||
        json_object_set_new(jwk, "use", json_string("sig")) != 0) {
        json_decref(jwk);
        free(n);
        return err_set(P11JWT_ERR_NOMEM, "out of memory (or kid is not UTF-8)");
    }
    free(n);
    *out = jwk;
    return P11JWT_OK;
}

p11jwt_rc jose_rsa_pkey(const jose_rsa_pub *pub, EVP_PKEY **out)
{
    return base_rsa_pkey(pub->n, pub->n_len, pub->e, pub->e_len, out);
}

/* Decodes JWK member name (base64url) into a new buffer. */
static p11jwt_rc member(const json_t *jwk, const char *name, unsigned char **out, size_t *len)
{
    const char *s = json_string_value(json_object_get(jwk, name));

    *out = NULL;
    if (s == NULL)
        return err_set(P11JWT_ERR_JSON, "RSA JWK has no \"%s\" string", name);
    if (jose_b64url_decode(s, strlen(s), out, len) != P11JWT_OK)
        return err_set(P11JWT_ERR_JSON, "RSA JWK \"%s\" is not base64url", name);
    return P11JWT_OK;
}

p11jwt_rc jose_rsa_from_jwk(const json_t *jwk, jose_rsa_pub *pub)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const json_t *alg = json_object_get(jwk, "alg");
    p11jwt_alg a = P11JWT_ALG_UNKNOWN;
    unsigned char *n = NULL, *e = NULL;
    size_t n_len = 0, e_len = 0;
    p11jwt_rc rc;

    memset(pub, 0, sizeof *pub);
    if (kty == NULL || strcmp(kty, "RSA") != 0)
        return err_set(P11JWT_ERR_JSON, "JWK is not an RSA key (kty \"%s\")",
                       kty != NULL ? ESC(kty) : "");
    if (alg != NULL && (!json_is_string(alg) ||
                        !p11jwt_alg_is_rsa(a = p11jwt_alg_from_name(json_string_value(alg)))))
        return err_set(P11JWT_ERR_JSON, "RSA JWK says alg \"%s\": expected RS256, RS384, RS512, "
                                        "PS256, PS384 or PS512",
                       json_is_string(alg) ? ESC(json_string_value(alg)) : "?");
    rc = member(jwk, "n", &n, &n_len);
    if (rc == P11JWT_OK)
        rc = member(jwk, "e", &e, &e_len);
    if (rc == P11JWT_OK)
        rc = jose_rsa_set(pub, a, n, n_len, e, e_len);
    free(n);
    free(e);
    return rc;
}

p11jwt_rc jose_rsa_verify(const jose_jws *j, const jose_verifier *v)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *hash = base_alg_md(v->alg);
    size_t want = (size_t)EVP_PKEY_get_size(v->pkey);
    int ok = 0;

    if (md == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (!EVP_PKEY_is_a(v->pkey, "RSA") || want == 0) {
        EVP_MD_CTX_free(md);
        return err_set(P11JWT_ERR_ALG, "%s needs an RSA key", p11jwt_alg_name(v->alg));
    }
    if (EVP_PKEY_get_bits(v->pkey) < 2048) {
        EVP_MD_CTX_free(md);
        return err_set(P11JWT_ERR_ALG, "the RSA key is %d bits: %s needs at least 2048 (RFC 7518 "
                                       "section 3.3)",
                       EVP_PKEY_get_bits(v->pkey), p11jwt_alg_name(v->alg));
    }
    if (j->sig_len != want) {
        EVP_MD_CTX_free(md);
        return err_set(P11JWT_ERR_SIGNATURE, "%s signature is %zu bytes, the key's modulus %zu",
                       p11jwt_alg_name(v->alg), j->sig_len, want);
    }
    if (EVP_DigestVerifyInit(md, &pctx, hash, NULL, v->pkey) == 1) {
        ok = base_rsa_set_padding(pctx, v->alg) && EVP_DigestVerify(md, j->sig, j->sig_len,
                                    (const unsigned char *)j->signing_input,
                                    j->signing_input_len) == 1;
    }
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    return ok ? P11JWT_OK : err_set(P11JWT_ERR_SIGNATURE, "%s signature does not verify",
                                    p11jwt_alg_name(v->alg));
}
