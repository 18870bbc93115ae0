/*
 * rsa_key.c — RSA keys where the token and JOSE meet: a generated pair
 * named by its RFC 7638 thumbprint (p11jwt_key_generate_rsa), a JWK of a
 * token's RSA public key with the alg its private key pins, and a
 * provider's RSA private key taken from its file into the token.
 *
 * The decision: an RSA key's JWK carries "alg" only when the key pins one
 * (CKA_ALLOWED_MECHANISMS); the key type alone does not say RS or PS, nor
 * the hash, and a JWK that guessed would tell an STS the wrong thing.
 * Imported parts are copied out of OpenSSL into buffers wiped on every
 * exit path, and every refusal (size, kid) happens before the token is
 * touched.
 */
#include "core/core_int.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#define RSA_DEFAULT_BITS 3072

p11jwt_rc core_rsa_from_p11(const p11_rsa_pub *in, p11jwt_alg alg, jose_rsa_pub *out)
{
    return jose_rsa_set(out, alg, in->n, in->n_len, in->e, in->e_len);
}

p11jwt_rc core_generate_rsa(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg,
                            unsigned bits, const char *kid, const char *label, char **kid_out)
{
    char *tmp_id = NULL, thumb[44];
    const char *id;
    p11_rsa_pair pair;
    jose_rsa_pub pub;
    p11jwt_rc rc;

    if (bits == 0)
        bits = RSA_DEFAULT_BITS;
    rc = core_tmp_id(kid, &tmp_id);
    if (rc != P11JWT_OK)
        return rc;
    id = kid != NULL ? kid : tmp_id;
    rc = p11_keygen_rsa(t, s, alg, bits, id, label != NULL ? label : id, &pair);
    if (rc == P11JWT_OK) {
        rc = core_rsa_from_p11(&pair.key, alg, &pub);
        if (rc == P11JWT_OK)
            rc = jose_rsa_thumbprint(&pub, thumb);
        if (rc != P11JWT_OK)
            rc = p11_pair_discard(t, s, &pair.priv, &pair.pub, id, rc);
    }
    if (rc == P11JWT_OK)
        rc = core_name_pair(t, s, pair.priv, pair.pub, thumb, kid, id, label, kid_out);
    free(tmp_id);
    return rc;
}

p11jwt_rc p11jwt_key_generate_rsa(p11jwt_token *t, p11jwt_alg alg, unsigned bits,
                                  const char *kid, const char *label, char **kid_out)
{
    CK_SESSION_HANDLE s;
    p11jwt_rc rc;

    err_clear();
    *kid_out = NULL;
    if (!p11jwt_alg_is_rsa(alg))
        return err_set(P11JWT_ERR_ALG, "an RSA key is made for RS256, RS384, RS512, PS256, "
                                       "PS384 or PS512");
    if (bits != 0 && bits != 2048 && bits != 3072 && bits != 4096)
        return err_set(P11JWT_ERR_ARG, "an RSA key of %u bits: p11jwt makes 2048, 3072 or "
                                       "4096-bit keys",
                       bits);
    if (label != NULL && label[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the label is empty");
    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    if (kid != NULL)
        rc = p11_kid_check_new(t, s, kid);
    if (rc == P11JWT_OK)
        rc = core_generate_rsa(t, s, alg, bits, kid, label, kid_out);
    p11_session_put(t, s);
    return rc;
}

p11jwt_rc core_rsa_jwk_of(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          const char *kid, json_t **out)
{
    p11_rsa_pub raw;
    jose_rsa_pub pub;
    p11jwt_alg alg = p11_rsa_pinned_alg(t, s, o, kid);
    p11jwt_rc rc = p11_rsa_pub_read(t, s, o, &raw);

    *out = NULL;
    if (rc == P11JWT_OK)
        rc = core_rsa_from_p11(&raw, alg, &pub);
    if (rc == P11JWT_OK)
        rc = jose_rsa_jwk(&pub, kid, out);
    return rc;
}

/* One BIGNUM parameter of pkey as big-endian bytes in a new buffer. */
static int part(EVP_PKEY *pkey, const char *name, unsigned char **buf, size_t *len)
{
    BIGNUM *bn = NULL;
    int ok = 0, n;

    *buf = NULL;
    *len = 0;
    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1)
        return 0;
    n = BN_num_bytes(bn);
    if (n > 0 && (*buf = malloc((size_t)n)) != NULL && BN_bn2bin(bn, *buf) == n) {
        *len = (size_t)n;
        ok = 1;
    }
    BN_clear_free(bn);
    return ok;
}

p11jwt_rc core_import_rsa(p11jwt_token *t, const char *name, EVP_PKEY *pkey, p11jwt_alg alg,
                          const char *kid, const char *label, char **kid_out)
{
    static const char *const names[8] = {
        OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
    };
    unsigned char *buf[8] = { NULL };
    size_t len[8] = { 0 };
    p11_rsa_priv key;
    p11_rsa_pair pair;
    jose_rsa_pub pub;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    char thumb[44];
    int bits = EVP_PKEY_get_bits(pkey);
    BIGNUM *third = NULL;
    p11jwt_rc rc = P11JWT_OK;

    *kid_out = NULL;
    if (alg != P11JWT_ALG_UNKNOWN && !p11jwt_alg_is_rsa(alg))
        return err_set(P11JWT_ERR_ALG, "%s holds an RSA key: it signs RS256, RS384, RS512, "
                                       "PS256, PS384 or PS512, not %s",
                       ESC(name), p11jwt_alg_name(alg));
    if (bits < P11_RSA_MIN_BITS)
        return err_set(P11JWT_ERR_ALG,
                       "%s holds a %d-bit RSA key: RS and PS need at least %d bits (RFC 7518 "
                       "section 3.3)",
                       ESC(name), bits, P11_RSA_MIN_BITS);
    if (bits > P11_RSA_MAX * 8)
        return err_set(P11JWT_ERR_ALG, "%s holds a %d-bit RSA key: p11jwt takes at most %d",
                       ESC(name), bits, P11_RSA_MAX * 8);
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR3, &third) == 1) {
        BN_clear_free(third);
        return err_set(P11JWT_ERR_ALG, "%s holds a multi-prime RSA key: PKCS#11 takes two "
                                       "primes",
                       ESC(name));
    }
    ERR_clear_error();
    for (size_t i = 0; i < 8 && rc == P11JWT_OK; i++)
        if (!part(pkey, names[i], &buf[i], &len[i]))
            rc = err_set(P11JWT_ERR_CRYPTO, "%s: OpenSSL cannot give the RSA key's parts "
                                            "(a key without its CRT parts?)",
                         ESC(name));
    ERR_clear_error();
    if (rc != P11JWT_OK)
        goto out;
    key = (p11_rsa_priv){
        { buf[0], len[0] }, { buf[1], len[1] }, { buf[2], len[2] }, { buf[3], len[3] },
        { buf[4], len[4] }, { buf[5], len[5] }, { buf[6], len[6] }, { buf[7], len[7] },
    };
    if (kid == NULL) {
        rc = jose_rsa_set(&pub, alg, buf[0], len[0], buf[1], len[1]);
        if (rc == P11JWT_OK)
            rc = jose_rsa_thumbprint(&pub, thumb);
        if (rc != P11JWT_OK)
            goto out;
        kid = thumb;
    }
    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK) {
        s = CK_INVALID_HANDLE;
        goto out;
    }
    rc = p11_kid_check_new(t, s, kid);
    if (rc == P11JWT_OK)
        rc = p11_import_rsa(t, s, alg, &key, kid, label != NULL ? label : kid, &pair);
    if (rc == P11JWT_OK && (*kid_out = strdup(kid)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory (the key is in the token as '%s')",
                     ESC(kid));
out:
    for (size_t i = 0; i < 8; i++)
        if (buf[i] != NULL) {
            base_wipe(buf[i], len[i]);
            free(buf[i]);
        }
    if (s != CK_INVALID_HANDLE)
        p11_session_put(t, s);
    return rc;
}
