/*
 * alg.c — the JWS algorithms p11jwt signs with, and the one table of what
 * each implies: its name, its signature length, its curve (ES) and its
 * hash. Every layer asks here rather than keep a switch of its own, so
 * that an alg added later (EdDSA) is one row.
 *
 * RS* and PS* have no fixed signature length: it is the key's modulus
 * length, so their rows say 0 and the key handle knows the length.
 *
 * Names are exact and case-sensitive: "none" and look-alikes are never an
 * alg.
 */
#include "base/base.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <string.h>

static const struct alg_facts {
    p11jwt_alg alg;
    const char *name;
    size_t sig_len;             /* JWS signature: r||s for ES, the MAC for HS;
                                   0: the key's modulus length (RS, PS) */
    const char *crv;            /* JWK "crv" (ES only) */
    const char *group;          /* OpenSSL's name of that curve */
    size_t coord_len;           /* an EC coordinate, leading zeros kept */
    const char *hash;           /* OpenSSL's name of the alg's hash */
} algs[] = {
    { P11JWT_ES256, "ES256", 64, "P-256", "prime256v1", 32, "SHA256" },
    { P11JWT_ES384, "ES384", 96, "P-384", "secp384r1", 48, "SHA384" },
    { P11JWT_ES512, "ES512", 132, "P-521", "secp521r1", 66, "SHA512" },
    { P11JWT_HS256, "HS256", 32, NULL, NULL, 0, "SHA256" },
    { P11JWT_HS384, "HS384", 48, NULL, NULL, 0, "SHA384" },
    { P11JWT_HS512, "HS512", 64, NULL, NULL, 0, "SHA512" },
    { P11JWT_RS256, "RS256", 0, NULL, NULL, 0, "SHA256" },
    { P11JWT_RS384, "RS384", 0, NULL, NULL, 0, "SHA384" },
    { P11JWT_RS512, "RS512", 0, NULL, NULL, 0, "SHA512" },
    { P11JWT_PS256, "PS256", 0, NULL, NULL, 0, "SHA256" },
    { P11JWT_PS384, "PS384", 0, NULL, NULL, 0, "SHA384" },
    { P11JWT_PS512, "PS512", 0, NULL, NULL, 0, "SHA512" },
};

static const struct alg_facts *facts(p11jwt_alg alg)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (algs[i].alg == alg)
            return &algs[i];
    return NULL;
}

const char *p11jwt_alg_name(p11jwt_alg alg)
{
    const struct alg_facts *f = facts(alg);

    return f != NULL ? f->name : NULL;
}

p11jwt_alg p11jwt_alg_from_name(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(algs[i].name, name) == 0)
            return algs[i].alg;
    return P11JWT_ALG_UNKNOWN;
}

int p11jwt_alg_is_ec(p11jwt_alg alg)
{
    return alg == P11JWT_ES256 || alg == P11JWT_ES384 || alg == P11JWT_ES512;
}

int p11jwt_alg_is_rsa(p11jwt_alg alg)
{
    return alg >= P11JWT_RS256 && alg <= P11JWT_PS512;
}

int base_alg_is_pss(p11jwt_alg alg)
{
    return alg >= P11JWT_PS256 && alg <= P11JWT_PS512;
}

int p11jwt_alg_is_asymmetric(p11jwt_alg alg)
{
    return p11jwt_alg_is_ec(alg) || p11jwt_alg_is_rsa(alg);
}

size_t p11jwt_alg_sig_len(p11jwt_alg alg)
{
    const struct alg_facts *f = facts(alg);

    return f != NULL ? f->sig_len : 0;
}

p11jwt_alg base_alg_from_group(const char *group)
{
    for (size_t i = 0; group != NULL && i < sizeof algs / sizeof algs[0]; i++)
        if (algs[i].group != NULL && strcmp(algs[i].group, group) == 0)
            return algs[i].alg;
    return P11JWT_ALG_UNKNOWN;
}

const char *base_alg_crv(p11jwt_alg alg)
{
    const struct alg_facts *f = facts(alg);

    return f != NULL ? f->crv : NULL;
}

size_t base_alg_coord_len(p11jwt_alg alg)
{
    const struct alg_facts *f = facts(alg);

    return f != NULL ? f->coord_len : 0;
}

const char *base_alg_hash_name(p11jwt_alg alg)
{
    const struct alg_facts *f = facts(alg);

    return f != NULL ? f->hash : NULL;
}

const EVP_MD *base_alg_md(p11jwt_alg alg)
{
    const struct alg_facts *f = facts(alg);

    if (f != NULL && strcmp(f->hash, "SHA256") == 0)
        return EVP_sha256();
    if (f != NULL && strcmp(f->hash, "SHA384") == 0)
        return EVP_sha384();
    return EVP_sha512();
}

p11jwt_rc base_ec_pkey(p11jwt_alg alg, const unsigned char *x, const unsigned char *y,
                       EVP_PKEY **out)
{
    const struct alg_facts *f = facts(alg);
    unsigned char point[1 + 2 * 66];
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    p11jwt_rc rc = P11JWT_OK;

    *out = NULL;
    if (f == NULL || f->coord_len == 0)
        return err_set(P11JWT_ERR_ARG, "not an EC public key of a supported curve");
    point[0] = 0x04; /* uncompressed (SEC 1 §2.3.3) */
    memcpy(point + 1, x, f->coord_len);
    memcpy(point + 1 + f->coord_len, y, f->coord_len);

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, f->group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                          1 + 2 * f->coord_len) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) <= 0)
        rc = err_set(P11JWT_ERR_CRYPTO, "OpenSSL could not set up an EC key");
    else if (EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        rc = err_set(P11JWT_ERR_CRYPTO, "the EC public key is not a point on %s", f->crv);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

p11jwt_rc base_rsa_pkey(const unsigned char *n, size_t n_len, const unsigned char *e,
                        size_t e_len, EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *bn = NULL, *be = NULL;
    p11jwt_rc rc = P11JWT_OK;

    *out = NULL;
    if (n_len == 0 || e_len == 0 || n_len > P11JWT_SIG_MAX)
        return err_set(P11JWT_ERR_ARG, "not an RSA public key");
    bn = BN_bin2bn(n, (int)n_len, NULL);
    be = BN_bin2bn(e, (int)e_len, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (bn == NULL || be == NULL || bld == NULL ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) <= 0)
        rc = err_set(P11JWT_ERR_CRYPTO, "OpenSSL could not set up an RSA key");
    else if (EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        rc = err_set(P11JWT_ERR_CRYPTO, "not a usable RSA public key");
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return rc;
}

int base_rsa_set_padding(EVP_PKEY_CTX *pctx, p11jwt_alg alg)
{
    const EVP_MD *md = base_alg_md(alg);

    if (!base_alg_is_pss(alg))
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, EVP_MD_get_size(md)) == 1;
}
