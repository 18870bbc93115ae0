/*
 * keygen.c — making keys in the token: EC pairs, generic HMAC secrets, and
 * provider-issued secrets imported once (p11jwt_key_import_secret). The
 * kid of a generated key (a thumbprint, random bytes) is core's (kid.c):
 * here a key is made under the ID and label it is given.
 *
 * Every key follows the one template policy (template.c), with the kid as
 * CKA_ID and (by default) CKA_LABEL. HMAC keys pin their alg through
 * CKA_ALLOWED_MECHANISMS (and, when imported, the key type CKK_SHA*_HMAC),
 * so an HS256 key can never be asked for HS512. A key the token made but
 * that fails a check (its protection read back, its public point, a
 * signature verified on the host) is destroyed again, so no half-made key
 * is left behind.
 *
 * Tokens differ in the templates they take (NSS refuses
 * CKA_ALLOWED_MECHANISMS on token secret keys, tpm2-pkcs11 chokes on usage
 * flags in an EC public template): the strictest template is tried first,
 * and a refused one steps down only in what restricts usage (the public
 * key's flags; the HMAC alg then pinned by the key type instead of
 * CKA_ALLOWED_MECHANISMS), never in what protects the key.
 */
#include "pkcs11/pkcs11_int.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* Whether sig (r||s, each clen bytes) is an ECDSA signature of dgst under
 * pub, checked on the host. */
static int ecdsa_verifies(const p11_ec_point *pub, const unsigned char *dgst, size_t dlen,
                          const unsigned char *sig, size_t clen)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)clen, NULL), *sv = BN_bin2bn(sig + clen, (int)clen, NULL);
    unsigned char *der = NULL;
    int der_len, ok = 0;

    if (es == NULL || r == NULL || sv == NULL || ECDSA_SIG_set0(es, r, sv) != 1) {
        BN_free(r);
        BN_free(sv);
        goto out;
    }
    der_len = i2d_ECDSA_SIG(es, &der);
    ok = der_len > 0 && base_ec_pkey(pub->alg, pub->x, pub->y, &pkey) == P11JWT_OK &&
         (ctx = EVP_PKEY_CTX_new(pkey, NULL)) != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
         EVP_PKEY_verify(ctx, der, (size_t)der_len, dgst, dlen) == 1;
out:
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok;
}

/* Whether the new public key's CKA_EC_POINT is a DER OCTET STRING around
 * the point (or the bare point, which some tokens give): tpm2-pkcs11 1.9
 * encodes a P-521 point's length 133 in the short form (0x85), which is not
 * DER, and then cannot read its own key to sign (checked before signing:
 * after that failed C_SignInit it also refuses to destroy the key). */
p11jwt_rc p11_check_point_der(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
                              const p11_ec_point *ec)
{
    unsigned char *p = NULL;
    size_t n = 0, want = 1 + 2 * ec->coord_len;
    CK_RV rv = p11_object_attr(t, s, pub, CKA_EC_POINT, &p, &n);
    int ok;

    if (rv != CKR_OK)
        return p11_fail(P11JWT_ERR_PKCS11, rv, "cannot read CKA_EC_POINT");
    ok = (n == want && p[0] == 0x04) ||
         (n == 2 + want && p[0] == 0x04 && p[1] == want && want < 0x80) ||
         (n == 3 + want && p[0] == 0x04 && p[1] == 0x81 && p[2] == want && want >= 0x80);
    free(p);
    return ok ? P11JWT_OK
              : err_set(P11JWT_ERR_PKCS11, "its CKA_EC_POINT is not a DER-encoded %s point",
                        base_alg_crv(ec->alg));
}

/* Signs a random digest with the new private key and verifies it on the
 * host with the public key the token shows: a pair that fails is not kept
 * (tpm2-pkcs11 1.9 makes P-521 pairs it cannot sign with). */
p11jwt_rc p11_ec_self_test(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                           const p11_ec_point *pub)
{
    CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
    unsigned char dgst[64], sig[2 * 66];
    size_t clen = pub->coord_len, dlen = p11jwt_alg_sig_len(pub->alg) / 2;
    CK_ULONG sig_len = sizeof sig;
    CK_RV rv;

    /* The digest is as long as the alg's hash: 32/48/64 bytes. */
    if (dlen > sizeof dgst)
        dlen = sizeof dgst;
    if (RAND_bytes(dgst, (int)dlen) != 1)
        return err_set(P11JWT_ERR_CRYPTO, "OpenSSL's random generator failed");
    rv = P11_RAISE(P11JWT_ERR_PKCS11, "the new key cannot sign", t->fl, C_SignInit, s, &mech,
                   priv);
    if (rv == CKR_OK)
        rv = P11_RAISE(P11JWT_ERR_PKCS11, "the new key cannot sign", t->fl, C_Sign, s, dgst, dlen,
                       sig, &sig_len);
    if (rv != CKR_OK)
        return P11JWT_ERR_PKCS11;
    if (sig_len != 2 * clen || !ecdsa_verifies(pub, dgst, dlen, sig, clen))
        return err_set(P11JWT_ERR_PKCS11, "the new key's signature does not verify with the "
                                          "public key the token shows");
    return P11JWT_OK;
}

p11jwt_rc p11_keygen_ec(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg, const char *id,
                        const char *label, p11_ec_pair *out)
{
    CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    size_t params_len;
    const unsigned char *params = p11_ec_params_der(alg, &params_len);
    CK_ATTRIBUTE pub_tmpl[] = {
        { CKA_TOKEN, (void *)&yes, sizeof yes },
        { CKA_PRIVATE, (void *)&no, sizeof no },
        { CKA_EC_PARAMS, (void *)params, params_len },
        { CKA_ID, (void *)id, strlen(id) },
        { CKA_LABEL, (void *)label, strlen(label) },
        /* usage flags of the public key: the first step down drops them
         * (tpm2-pkcs11 1.9 fails the pair with them) */
        { CKA_VERIFY, (void *)&yes, sizeof yes },
        { CKA_ENCRYPT, (void *)&no, sizeof no },
        { CKA_WRAP, (void *)&no, sizeof no },
        { CKA_DERIVE, (void *)&no, sizeof no },
    };
    CK_ATTRIBUTE priv_tmpl[P11_POLICY_MAX + 2];
    CK_ULONG priv_n = p11_template_policy(priv_tmpl);
    static const p11_template_step steps[] = { { 0, 0 }, { 4, 0 } };
    CK_RV rv;
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    out->priv = out->pub = CK_INVALID_HANDLE;
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, strlen(id) };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
    rv = p11_template_generate(t, s, &mech, pub_tmpl, sizeof pub_tmpl / sizeof pub_tmpl[0],
                               priv_tmpl, priv_n, steps, 2, &out->pub, &out->priv);
    if (rv != CKR_OK)
        return p11_fail(P11JWT_ERR_PKCS11, rv, "the token could not generate the EC key pair");
    rc = p11_template_check(t, s, out->priv, 1);
    if (rc != P11JWT_OK)
        goto out;
    /* Even when the kid is given: a pair whose public key the token cannot
     * show, or that does not sign, would be a key without a working JWK. */
    rc = p11_pubkey_read(t, s, out->pub, &out->point);
    if (rc == P11JWT_OK)
        rc = p11_check_point_der(t, s, out->pub, &out->point);
    if (rc == P11JWT_OK)
        rc = p11_ec_self_test(t, s, out->priv, &out->point);
    if (rc != P11JWT_OK)
        rc = err_wrap(rc, "the token made the %s pair but it is unusable", base_alg_crv(alg));
out:
    if (rc != P11JWT_OK)
        rc = p11_pair_discard(t, s, &out->priv, &out->pub, id, rc);
    return rc;
}

static CK_KEY_TYPE hmac_key_type(p11jwt_alg alg)
{
    switch (alg) {
    case P11JWT_HS256: return CKK_SHA256_HMAC;
    case P11JWT_HS384: return CKK_SHA384_HMAC;
    default: return CKK_SHA512_HMAC;
    }
}

/* Makes an HMAC key (generated when secret is NULL, else imported) that
 * signs with alg's mechanism only. Strictest first: CKA_ALLOWED_MECHANISMS
 * (on a generic secret when generated, as SoftHSM makes those); then,
 * where the token refuses that attribute (NSS), the key type CKK_SHA*_HMAC
 * alone pins the alg. Never a key that pins no alg. */
static p11jwt_rc make_hmac(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg,
                           const char *kid, const char *label,
                           const unsigned char *secret, size_t secret_len)
{
    CK_MECHANISM mech = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = secret == NULL ? CKK_GENERIC_SECRET : hmac_key_type(alg);
    CK_ULONG len = p11jwt_alg_sig_len(alg);   /* generated: as long as the hash */
    CK_MECHANISM_TYPE allowed = p11_hmac_mech(alg);
    CK_ATTRIBUTE tmpl[2 + P11_POLICY_MAX + 6] = {
        { CKA_CLASS, &cls, sizeof cls },
        { CKA_KEY_TYPE, &kt, sizeof kt },
    };
    CK_ULONG n = 2;
    CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
    CK_RV rv;
    p11jwt_rc rc;

    n += p11_template_policy(tmpl + n);
    tmpl[n++] = (CK_ATTRIBUTE){ CKA_ENCRYPT, (void *)&no, sizeof no };
    tmpl[n++] = (CK_ATTRIBUTE){ CKA_WRAP, (void *)&no, sizeof no };
    tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, (void *)kid, strlen(kid) };
    tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
    tmpl[n++] = secret == NULL ? (CK_ATTRIBUTE){ CKA_VALUE_LEN, &len, sizeof len }
                               : (CK_ATTRIBUTE){ CKA_VALUE, (void *)secret, secret_len };
    tmpl[n++] = (CK_ATTRIBUTE){ CKA_ALLOWED_MECHANISMS, &allowed, sizeof allowed }; /* last: dropped */

    for (int step = 0; step < 2; step++) {
        if (step == 1) {
            kt = hmac_key_type(alg);
            n--;
        }
        rv = secret == NULL ? P11_CALL(t->fl, C_GenerateKey, s, &mech, tmpl, n, &o)
                            : P11_CALL(t->fl, C_CreateObject, s, tmpl, n, &o);
        if (!p11_template_refused(rv))
            break;
    }
    if (rv != CKR_OK)
        return p11_fail(P11JWT_ERR_PKCS11, rv,
                        secret == NULL ? "the token could not generate the secret key"
                                       : "the token could not import the secret");
    /* NSS makes a generated key a generic secret whatever CKA_KEY_TYPE
     * says: a key that pins no alg is not one this tool makes. */
    if (p11_object_alg(t, s, o, CKO_SECRET_KEY, P11JWT_ALG_UNKNOWN, NULL, NULL) != alg) {
        rc = err_set(P11JWT_ERR_PKCS11,
                     "the token cannot %s an HMAC key pinned to %s: it refuses "
                     "CKA_ALLOWED_MECHANISMS and %s",
                     secret == NULL ? "generate" : "import", p11jwt_alg_name(alg),
                     secret == NULL ? "makes every generated secret a generic one"
                                    : "does not keep the key type CKK_SHA*_HMAC");
        return p11_object_discard(t, s, &o, 1, kid, rc);
    }
    rc = p11_template_check(t, s, o, secret == NULL);
    return rc == P11JWT_OK ? rc : p11_object_discard(t, s, &o, 1, kid, rc);
}

p11jwt_rc p11_keygen_hmac(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg,
                          const char *kid, const char *label)
{
    return make_hmac(t, s, alg, kid, label, NULL, 0);
}

p11jwt_rc p11jwt_key_import_secret(p11jwt_token *t, p11jwt_alg alg, const char *kid,
                                   const char *label, const unsigned char *secret,
                                   size_t secret_len)
{
    CK_SESSION_HANDLE s;
    size_t min = p11jwt_alg_sig_len(alg);
    p11jwt_rc rc;

    err_clear();
    if (alg != P11JWT_HS256 && alg != P11JWT_HS384 && alg != P11JWT_HS512)
        return err_set(P11JWT_ERR_ALG, "import-secret takes HS256, HS384 or HS512");
    if (kid == NULL || kid[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "a secret is imported under the provider's kid: give one");
    if (label != NULL && label[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the label is empty");
    if (secret_len == 0)
        return err_set(P11JWT_ERR_SECRET, "the secret is empty");
    /* RFC 7518 §3.2: an HMAC key at least as long as the hash. SoftHSM
     * refuses shorter ones anyway; say why before it does. */
    if (secret_len < min)
        return err_set(P11JWT_ERR_SECRET,
                       "the secret is %zu bytes; %s needs at least %zu (RFC 7518 section 3.2)",
                       secret_len, p11jwt_alg_name(alg), min);
    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    rc = p11_kid_check_new(t, s, kid);
    if (rc == P11JWT_OK)
        rc = make_hmac(t, s, alg, kid, label != NULL ? label : kid, secret, secret_len);
    p11_session_put(t, s);
    return rc;
}
