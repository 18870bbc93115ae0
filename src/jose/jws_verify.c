/*
 * jws_verify.c — checking a parsed JWS's signature: the alg against the
 * key's (never "none", never one the key does not pin), then the signature
 * with OpenSSL (ES, over r||s; RS and PS in rsa.c) or a MAC function (HS, compared in constant
 * time). The claims are claims_check.c's.
 */
#include "jose/jose.h"

#include "base/base.h"

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <stdlib.h>
#include <string.h>

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
    if (p11jwt_alg_is_rsa(v->alg)) {
        if (v->pkey == NULL)
            return err_set(P11JWT_ERR_ARG, "no public key to verify %s with", ESC(j->alg_name));
        return jose_rsa_verify(j, v);
    }
    if (p11jwt_alg_is_ec(v->alg)) {
        if (v->pkey == NULL)
            return err_set(P11JWT_ERR_ARG, "no public key to verify %s with", ESC(j->alg_name));
        return verify_es(j, v);
    }
    if (v->mac == NULL)
        return err_set(P11JWT_ERR_ARG, "no secret to verify %s with", ESC(j->alg_name));
    return verify_hs(j, v);
}
