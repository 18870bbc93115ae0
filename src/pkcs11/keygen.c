/*
 * keygen.c — making keys in the token: EC pairs, generic HMAC secrets, and
 * provider-issued secrets imported once.
 *
 * Every key is CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE,
 * CKA_SIGN, with the kid as CKA_ID and (by default) CKA_LABEL. HMAC keys pin
 * their alg through CKA_ALLOWED_MECHANISMS (and, when imported, the key type
 * CKK_SHA*_HMAC), so an HS256 key can never be asked for HS512. An EC key's
 * default kid is its RFC 7638 thumbprint, known only once the token made the
 * pair: it is created under a temporary ID and renamed; if the rename fails
 * the pair is destroyed, so no half-made key is left behind.
 *
 * Tokens differ in the templates they take (NSS refuses
 * CKA_ALLOWED_MECHANISMS on token secret keys, tpm2-pkcs11 chokes on usage
 * flags in an EC public template): the strictest template is tried first,
 * and a refused template steps down only in what restricts usage (the
 * public key's flags; the HMAC alg then pinned by the key type instead of
 * CKA_ALLOWED_MECHANISMS), never in what protects the key. What protects it
 * is read back from the new object, which is destroyed if the token did not
 * honour it.
 */
#include "pkcs11/pkcs11_int.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define TMP_ID_PREFIX "p11jwt-tmp-"

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* A signing key signs and does nothing else: tokens (SoftHSM among them)
 * default decrypt, unwrap and derive to TRUE, which would let an EC key do
 * ECDH and a secret key unwrap other keys. */
#define NOT_FOR_ANYTHING_ELSE                                   \
    { CKA_DECRYPT, (void *)&no, sizeof no },                    \
    { CKA_UNWRAP, (void *)&no, sizeof no },                     \
    { CKA_DERIVE, (void *)&no, sizeof no }

/* The CK_RVs with which a module refuses a template it cannot take (NSS
 * and tpm2-pkcs11 answer CKR_GENERAL_ERROR): worth a less strict one. */
static int template_refused(CK_RV rv)
{
    return rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
           rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_GENERAL_ERROR ||
           rv == CKR_FUNCTION_FAILED;
}

/* Reads back what protects a new private or secret key: sensitive, not
 * extractable and, when the token made it (generated), never extractable.
 * An attribute the token cannot show counts as not honoured. */
static p11jwt_rc check_protected(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                                 int generated)
{
    static const struct {
        CK_ATTRIBUTE_TYPE type;
        CK_BBOOL want;
        const char *name;
    } must[] = {
        { CKA_SENSITIVE, CK_TRUE, "CKA_SENSITIVE" },
        { CKA_EXTRACTABLE, CK_FALSE, "CKA_EXTRACTABLE" },
        { CKA_NEVER_EXTRACTABLE, CK_TRUE, "CKA_NEVER_EXTRACTABLE" },
    };
    size_t n = generated ? 3 : 2;

    for (size_t i = 0; i < n; i++) {
        CK_BBOOL v = !must[i].want;
        CK_ATTRIBUTE a = { must[i].type, &v, sizeof v };
        CK_RV rv = P11(t->fl, C_GetAttributeValue, s, o, &a, 1);

        if (rv != CKR_OK)
            return tok_fail(P11JWT_ERR_PKCS11, rv, must[i].name);
        if (a.ulValueLen != sizeof v || (v != CK_FALSE) != (must[i].want != CK_FALSE))
            return err_set(P11JWT_ERR_PKCS11, "%s reads %s", must[i].name,
                           must[i].want ? "FALSE" : "TRUE");
    }
    return P11JWT_OK;
}

/* After a failure rc on a key just made: destroys its objects (n of them,
 * CK_INVALID_HANDLE skipped) and says in the message whether that worked. */
static p11jwt_rc discard(p11jwt_token *t, CK_SESSION_HANDLE s, const CK_OBJECT_HANDLE *o,
                         size_t n, const char *id, p11jwt_rc rc)
{
    CK_RV bad = CKR_OK;
    size_t destroyed = 0;

    for (size_t i = 0; i < n; i++) {
        CK_RV rv;

        if (o[i] == CK_INVALID_HANDLE)
            continue;
        rv = P11(t->fl, C_DestroyObject, s, o[i]);
        if (rv != CKR_OK) {
            /* tpm2-pkcs11 refuses it on the session whose C_SignInit
             * failed, and takes it on another. */
            CK_SESSION_HANDLE s2;

            if (tok_session_get(t, 1, &s2) == P11JWT_OK) {
                rv = P11(t->fl, C_DestroyObject, s2, o[i]);
                tok_session_put(t, s2);
            }
        }
        if (rv == CKR_OK)
            destroyed++;
        else if (bad == CKR_OK)
            bad = rv;
    }
    if (bad != CKR_OK)
        return err_set(rc, "%s; the token refused to destroy the new key (%s): remove the "
                           "objects with ID '%s' with the token's own tools",
                       p11jwt_errmsg(), tok_ckr_name(bad), id);
    if (destroyed > 0)
        return err_set(rc, "%s; the new key was destroyed", p11jwt_errmsg());
    return rc;
}

/* check_protected, worded for the user; discards o when it fails. */
static p11jwt_rc keep_if_protected(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                                   int generated, const char *id)
{
    p11jwt_rc rc = check_protected(t, s, o, generated);

    if (rc == P11JWT_OK)
        return rc;
    rc = err_set(rc, "the token did not keep the new key sensitive and non-extractable (%s)",
                 p11jwt_errmsg());
    return discard(t, s, &o, 1, id, rc);
}

/* Whether sig (r||s, each clen bytes) is an ECDSA signature of dgst under
 * pub, checked on the host. */
static int ecdsa_verifies(const jose_ec_pub *pub, const unsigned char *dgst, size_t dlen,
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
    ok = der_len > 0 && jose_ec_pkey(pub, &pkey) == P11JWT_OK &&
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
static p11jwt_rc check_point_der(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
                                 const jose_ec_pub *ec)
{
    unsigned char *p = NULL;
    size_t n = 0, want = 1 + 2 * ec->coord_len;
    CK_RV rv = tok_get_attr(t, s, pub, CKA_EC_POINT, &p, &n);
    int ok;

    if (rv != CKR_OK)
        return tok_fail(P11JWT_ERR_PKCS11, rv, "cannot read CKA_EC_POINT");
    ok = (n == want && p[0] == 0x04) ||
         (n == 2 + want && p[0] == 0x04 && p[1] == want && want < 0x80) ||
         (n == 3 + want && p[0] == 0x04 && p[1] == 0x81 && p[2] == want && want >= 0x80);
    free(p);
    return ok ? P11JWT_OK
              : err_set(P11JWT_ERR_PKCS11, "its CKA_EC_POINT is not a DER-encoded %s point",
                        jose_ec_crv(ec->alg));
}

/* Signs a random digest with the new private key and verifies it on the
 * host with the public key the token shows: a pair that fails is not kept
 * (tpm2-pkcs11 1.9 makes P-521 pairs it cannot sign with). */
static p11jwt_rc self_test(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                           const jose_ec_pub *pub)
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
    rv = P11(t->fl, C_SignInit, s, &mech, priv);
    if (rv == CKR_OK)
        rv = P11(t->fl, C_Sign, s, dgst, dlen, sig, &sig_len);
    if (rv != CKR_OK)
        return tok_fail(P11JWT_ERR_PKCS11, rv, "the new key cannot sign");
    if (sig_len != 2 * clen || !ecdsa_verifies(pub, dgst, dlen, sig, clen))
        return err_set(P11JWT_ERR_PKCS11, "the new key's signature does not verify with the "
                                          "public key the token shows");
    return P11JWT_OK;
}

/* Refuses a kid some key already has. */
static p11jwt_rc check_new_kid(p11jwt_token *t, CK_SESSION_HANDLE s, const char *kid)
{
    int exists;
    p11jwt_rc rc;

    if (kid[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the kid is empty");
    if (!tok_kid_is_text((const unsigned char *)kid, strlen(kid)))
        return err_set(P11JWT_ERR_ARG,
                       "the kid must be UTF-8 text without control characters (it goes into "
                       "JSON headers and JWKS)");
    rc = tok_kid_exists(t, s, kid, &exists);
    if (rc == P11JWT_OK && exists)
        rc = err_set(P11JWT_ERR_KEY_EXISTS, "a key with kid '%s' already exists in token '%s'",
                     ESC(kid), t->label);
    return rc;
}

static p11jwt_rc random_b64(size_t nbytes, char **out)
{
    unsigned char raw[32];

    *out = malloc(jose_b64url_len(nbytes) + 1);
    if (*out == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (RAND_bytes(raw, (int)nbytes) != 1) {
        free(*out);
        *out = NULL;
        return err_set(P11JWT_ERR_CRYPTO, "OpenSSL's random generator failed");
    }
    jose_b64url_encode(raw, nbytes, *out);
    return P11JWT_OK;
}

/* Sets CKA_ID = kid and CKA_LABEL = label on an object. */
static CK_RV name_object(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                         const char *kid, const char *label)
{
    CK_ATTRIBUTE a[2] = {
        { CKA_ID, (void *)kid, strlen(kid) },
        { CKA_LABEL, (void *)label, strlen(label) },
    };

    return P11(t->fl, C_SetAttributeValue, s, o, a, 2);
}

static p11jwt_rc generate_ec(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg,
                             const char *kid, const char *label, char **kid_out)
{
    CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    size_t params_len;
    const unsigned char *params = tok_ec_params_der(alg, &params_len);
    char *tmp_id = NULL, *rand_part = NULL, *final_kid = NULL;
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
    jose_ec_pub ec;
    CK_RV rv;
    p11jwt_rc rc;

    /* Without a kid the pair is born under a temporary ID, renamed below. */
    if (kid == NULL) {
        rc = random_b64(12, &rand_part);
        if (rc != P11JWT_OK)
            return rc;
        tmp_id = malloc(strlen(TMP_ID_PREFIX) + strlen(rand_part) + 1);
        if (tmp_id == NULL) {
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
            goto out;
        }
        strcpy(tmp_id, TMP_ID_PREFIX);
        strcat(tmp_id, rand_part);
    }
    {
        const char *id = kid != NULL ? kid : tmp_id;
        const char *lbl = label != NULL ? label : id;
        CK_ATTRIBUTE pub_tmpl[] = {
            { CKA_TOKEN, (void *)&yes, sizeof yes },
            { CKA_PRIVATE, (void *)&no, sizeof no },
            { CKA_EC_PARAMS, (void *)params, params_len },
            { CKA_ID, (void *)id, strlen(id) },
            { CKA_LABEL, (void *)lbl, strlen(lbl) },
            /* usage flags of the public key: the first step down drops
             * them (tpm2-pkcs11 1.9 fails the pair with them) */
            { CKA_VERIFY, (void *)&yes, sizeof yes },
            { CKA_ENCRYPT, (void *)&no, sizeof no },
            { CKA_WRAP, (void *)&no, sizeof no },
            { CKA_DERIVE, (void *)&no, sizeof no },
        };
        CK_ATTRIBUTE priv_tmpl[] = {
            { CKA_TOKEN, (void *)&yes, sizeof yes },
            { CKA_PRIVATE, (void *)&yes, sizeof yes },
            { CKA_SENSITIVE, (void *)&yes, sizeof yes },
            { CKA_EXTRACTABLE, (void *)&no, sizeof no },
            { CKA_SIGN, (void *)&yes, sizeof yes },
            NOT_FOR_ANYTHING_ELSE,
            { CKA_ID, (void *)id, strlen(id) },
            { CKA_LABEL, (void *)lbl, strlen(lbl) },
        };
        const CK_ULONG pub_n[] = { sizeof pub_tmpl / sizeof pub_tmpl[0], 5 };

        rv = CKR_OK;
        for (size_t step = 0; step < sizeof pub_n / sizeof pub_n[0]; step++) {
            rv = P11(t->fl, C_GenerateKeyPair, s, &mech, pub_tmpl, pub_n[step], priv_tmpl,
                     sizeof priv_tmpl / sizeof priv_tmpl[0], &pub, &priv);
            if (!template_refused(rv))
                break;
        }
        if (rv != CKR_OK) {
            pub = priv = CK_INVALID_HANDLE;
            rc = tok_fail(P11JWT_ERR_PKCS11, rv, "the token could not generate the EC key pair");
            goto out;
        }
    }
    rc = check_protected(t, s, priv, 1);
    if (rc != P11JWT_OK) {
        rc = err_set(rc, "the token did not keep the new key sensitive and non-extractable (%s)",
                     p11jwt_errmsg());
        goto out;
    }
    /* Even when the kid is given: a pair whose public key the token cannot
     * show, or that does not sign, would be a key without a working JWK. */
    rc = tok_ec_read_public(t, s, pub, &ec);
    if (rc == P11JWT_OK)
        rc = check_point_der(t, s, pub, &ec);
    if (rc == P11JWT_OK)
        rc = self_test(t, s, priv, &ec);
    if (rc != P11JWT_OK) {
        rc = err_wrap(rc, "the token made the %s pair but it is unusable", jose_ec_crv(alg));
        goto out;
    }
    if (kid != NULL) {
        final_kid = strdup(kid);
        rc = final_kid != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }

    final_kid = malloc(44);
    if (final_kid == NULL) {
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = jose_ec_thumbprint(&ec, final_kid);
    if (rc == P11JWT_OK)
        rc = check_new_kid(t, s, final_kid);
    if (rc != P11JWT_OK)
        goto out;
    rv = name_object(t, s, pub, final_kid, label != NULL ? label : final_kid);
    if (rv == CKR_OK)
        rv = name_object(t, s, priv, final_kid, label != NULL ? label : final_kid);
    if (rv != CKR_OK)
        rc = tok_fail(P11JWT_ERR_PKCS11, rv, "cannot set the key's kid");
out:
    if (rc != P11JWT_OK) {
        CK_OBJECT_HANDLE made[2] = { priv, pub };

        rc = discard(t, s, made, 2, kid != NULL ? kid : tmp_id, rc);
        free(final_kid);
        final_kid = NULL;
    }
    *kid_out = final_kid;
    free(rand_part);
    free(tmp_id);
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
    CK_MECHANISM_TYPE allowed = tok_hmac_mech(alg);
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof cls },
        { CKA_KEY_TYPE, &kt, sizeof kt },
        { CKA_TOKEN, (void *)&yes, sizeof yes },
        { CKA_PRIVATE, (void *)&yes, sizeof yes },
        { CKA_SENSITIVE, (void *)&yes, sizeof yes },
        { CKA_EXTRACTABLE, (void *)&no, sizeof no },
        { CKA_SIGN, (void *)&yes, sizeof yes },
        NOT_FOR_ANYTHING_ELSE,
        { CKA_ENCRYPT, (void *)&no, sizeof no },
        { CKA_WRAP, (void *)&no, sizeof no },
        { CKA_ID, (void *)kid, strlen(kid) },
        { CKA_LABEL, (void *)label, strlen(label) },
        secret == NULL ? (CK_ATTRIBUTE){ CKA_VALUE_LEN, &len, sizeof len }
                       : (CK_ATTRIBUTE){ CKA_VALUE, (void *)secret, secret_len },
        { CKA_ALLOWED_MECHANISMS, &allowed, sizeof allowed },   /* last: dropped */
    };
    CK_ULONG n = sizeof tmpl / sizeof tmpl[0];
    CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
    CK_RV rv;

    for (int step = 0; step < 2; step++) {
        if (step == 1) {
            kt = hmac_key_type(alg);
            n--;
        }
        rv = secret == NULL ? P11(t->fl, C_GenerateKey, s, &mech, tmpl, n, &o)
                            : P11(t->fl, C_CreateObject, s, tmpl, n, &o);
        if (!template_refused(rv))
            break;
    }
    if (rv != CKR_OK)
        return tok_fail(P11JWT_ERR_PKCS11, rv,
                        secret == NULL ? "the token could not generate the secret key"
                                       : "the token could not import the secret");
    /* NSS makes a generated key a generic secret whatever CKA_KEY_TYPE
     * says: a key that pins no alg is not one this tool makes. */
    if (tok_object_alg(t, s, o, CKO_SECRET_KEY) != alg) {
        p11jwt_rc rc = err_set(P11JWT_ERR_PKCS11,
                               "the token cannot %s an HMAC key pinned to %s: it refuses "
                               "CKA_ALLOWED_MECHANISMS and %s",
                               secret == NULL ? "generate" : "import", p11jwt_alg_name(alg),
                               secret == NULL ? "makes every generated secret a generic one"
                                              : "does not keep the key type CKK_SHA*_HMAC");
        return discard(t, s, &o, 1, kid, rc);
    }
    return keep_if_protected(t, s, o, secret == NULL, kid);
}

p11jwt_rc p11jwt_key_generate(p11jwt_token *t, p11jwt_alg alg, const char *kid,
                              const char *label, char **kid_out)
{
    CK_SESSION_HANDLE s;
    char *hs_kid = NULL;
    p11jwt_rc rc;

    err_clear();
    *kid_out = NULL;
    if (p11jwt_alg_name(alg) == NULL)
        return err_set(P11JWT_ERR_ALG, "unsupported alg for key generation");
    if (label != NULL && label[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the label is empty");
    rc = tok_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    if (kid != NULL)
        rc = check_new_kid(t, s, kid);
    if (rc != P11JWT_OK)
        goto out;

    if (p11jwt_alg_is_ec(alg)) {
        rc = generate_ec(t, s, alg, kid, label, kid_out);
        goto out;
    }
    if (kid == NULL) {
        rc = random_b64(16, &hs_kid);
        if (rc != P11JWT_OK)
            goto out;
        kid = hs_kid;
    }
    rc = make_hmac(t, s, alg, kid, label != NULL ? label : kid, NULL, 0);
    if (rc == P11JWT_OK) {
        *kid_out = hs_kid != NULL ? hs_kid : strdup(kid);
        hs_kid = NULL;
        if (*kid_out == NULL)
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
out:
    free(hs_kid);
    tok_session_put(t, s);
    return rc;
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
    rc = tok_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    rc = check_new_kid(t, s, kid);
    if (rc == P11JWT_OK)
        rc = make_hmac(t, s, alg, kid, label != NULL ? label : kid, secret, secret_len);
    tok_session_put(t, s);
    return rc;
}
