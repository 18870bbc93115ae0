/*
 * keygen_eddsa.c — Ed25519 keys (EdDSA, RFC 8037) in the token: their
 * curve as CKA_EC_PARAMS names it, their public key as CKA_EC_POINT holds
 * it, a pair generated (CKM_EC_EDWARDS_KEY_PAIR_GEN) or imported, and the
 * check every new pair passes (a signature verified on the host).
 *
 * The decisions a reader must know:
 *  - An Ed25519 key travels in the EC types of this floor (p11_ec_point,
 *    p11_ec_pair) with alg P11JWT_EDDSA: x holds the 32-byte public key,
 *    y is unused. Floors above tell the two apart by alg.
 *  - PKCS#11 3.0 lets CKA_EC_PARAMS name the curve by OID (1.3.101.112) or
 *    as the PrintableString "edwards25519" (SoftHSM 2.6.1 takes both;
 *    pkcs11-tool writes the string). The OID is tried first, the string
 *    where a token refuses it; both are read back.
 *  - CKA_EC_POINT of an Edwards key is a DER OCTET STRING around the 32
 *    bytes; some tokens give the bare bytes: both are read.
 *  - The key type pins the alg (an Ed25519 key signs EdDSA only); the
 *    private key also gets CKA_ALLOWED_MECHANISMS = CKM_EDDSA where the
 *    token takes it. Protection never steps down (template.c).
 *  - A token whose mechanism list lacks CKM_EDDSA (PKCS#11 3.0; NSS 3.87
 *    and tpm2-pkcs11 1.9 have none) is told so before any object is made:
 *    a key it could not sign with is no key to keep.
 */
#include "pkcs11/pkcs11_int.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#define ED25519_LEN 32

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* id-Ed25519 (RFC 8410), and the curve's PKCS#11 3.0 name. */
static const unsigned char oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const unsigned char str_ed25519[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd',
                                             's', '2', '5', '5', '1', '9' };
/* CKA_EC_PARAMS as tried: the OID first (SoftHSM 2.6 takes both). */
static const struct {
    const unsigned char *der;
    size_t len;
} params[] = { { oid_ed25519, sizeof oid_ed25519 }, { str_ed25519, sizeof str_ed25519 } };

int p11_eddsa_params_match(const unsigned char *der, size_t len)
{
    return (len == sizeof oid_ed25519 && memcmp(der, oid_ed25519, len) == 0) ||
           (len == sizeof str_ed25519 && memcmp(der, str_ed25519, len) == 0);
}

p11jwt_rc p11_eddsa_point(const unsigned char *p, size_t n, p11_ec_point *out)
{
    if (n == 2 + ED25519_LEN && p[0] == 0x04 && p[1] == ED25519_LEN) {
        p += 2;                                  /* DER OCTET STRING */
        n -= 2;
    }
    if (n != ED25519_LEN)
        return err_set(P11JWT_ERR_PKCS11,
                       "CKA_EC_POINT of the Ed25519 key is %zu bytes, not the 32-byte key "
                       "(bare or in a DER OCTET STRING)",
                       n);
    memset(out, 0, sizeof *out);
    out->alg = P11JWT_EDDSA;
    out->coord_len = ED25519_LEN;
    memcpy(out->x, p, ED25519_LEN);
    return P11JWT_OK;
}

/* Whether sig is an Ed25519 signature of data under pub, checked on the
 * host. */
static int eddsa_verifies(const p11_ec_point *pub, const unsigned char *data, size_t len,
                          const unsigned char *sig, size_t sig_len)
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub->x, ED25519_LEN);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = pkey != NULL && md != NULL &&
             EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1 &&
             EVP_DigestVerify(md, sig, sig_len, data, len) == 1;

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    return ok;
}

/* Signs random bytes with the new private key (CKM_EDDSA) and verifies the
 * signature on the host with the public key the token shows. */
static p11jwt_rc self_test(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                           const p11_ec_point *pub)
{
    CK_MECHANISM mech = { CKM_EDDSA, NULL, 0 };
    unsigned char data[48], sig[2 * ED25519_LEN];
    CK_ULONG sig_len = sizeof sig;
    CK_RV rv;

    if (RAND_bytes(data, sizeof data) != 1)
        return err_set(P11JWT_ERR_CRYPTO, "OpenSSL's random generator failed");
    rv = P11_RAISE(P11JWT_ERR_PKCS11, "the new key cannot sign with CKM_EDDSA", t->fl,
                   C_SignInit, s, &mech, priv);
    if (rv == CKR_OK)
        rv = P11_RAISE(P11JWT_ERR_PKCS11, "the new key cannot sign with CKM_EDDSA", t->fl,
                       C_Sign, s, data, sizeof data, sig, &sig_len);
    if (rv != CKR_OK)
        return P11JWT_ERR_PKCS11;
    if (sig_len != sizeof sig || !eddsa_verifies(pub, data, sizeof data, sig, sig_len))
        return err_set(P11JWT_ERR_PKCS11, "the new key's signature does not verify with the "
                                          "public key the token shows");
    return P11JWT_OK;
}

/* What a new pair must pass, generated or imported: protected as the
 * policy asks, its public key readable, a signature that verifies. When
 * want is not NULL, the token must show exactly that public key. */
static p11jwt_rc check_pair(p11jwt_token *t, CK_SESSION_HANDLE s, int generated,
                            const p11_ec_point *want, p11_ec_pair *out)
{
    p11jwt_rc rc = p11_template_check(t, s, out->priv, generated);

    if (rc == P11JWT_OK)
        rc = p11_pubkey_read(t, s, out->pub, &out->point);
    if (rc == P11JWT_OK && out->point.alg != P11JWT_EDDSA)
        rc = err_set(P11JWT_ERR_PKCS11, "the token shows the new key's public half on another "
                                        "curve than Ed25519");
    if (rc == P11JWT_OK && want != NULL && memcmp(out->point.x, want->x, ED25519_LEN) != 0)
        rc = err_set(P11JWT_ERR_PKCS11, "the token shows another public key than the one "
                                        "imported");
    if (rc == P11JWT_OK)
        rc = self_test(t, s, out->priv, &out->point);
    return rc;
}

/* After a failure rc: destroys what was made of the pair. */
/* Refuses, naming the token, one that lists no CKM_EDDSA (or cannot
 * sign with it); a token that cannot tell is given the benefit of the
 * doubt: the self-test then decides. */
static p11jwt_rc need_eddsa(p11jwt_token *t, const char *what)
{
    CK_MECHANISM_INFO info;
    CK_RV rv = P11_CALL(t->fl, C_GetMechanismInfo, t->slot, CKM_EDDSA, &info);

    if (rv == CKR_MECHANISM_INVALID || (rv == CKR_OK && !(info.flags & CKF_SIGN)))
        return err_set(P11JWT_ERR_ALG,
                       "token '%s' cannot %s Ed25519 keys: it has no CKM_EDDSA to sign with",
                       t->label, what);
    return P11JWT_OK;
}

/* Refusals after which the other spelling of the curve is worth a try. */
static int params_refused(CK_RV rv)
{
    return p11_template_refused(rv) || rv == CKR_DOMAIN_PARAMS_INVALID ||
           rv == CKR_CURVE_NOT_SUPPORTED;
}

p11jwt_rc p11_keygen_eddsa(p11jwt_token *t, CK_SESSION_HANDLE s, const char *id,
                           const char *label, p11_ec_pair *out)
{
    static const CK_MECHANISM_TYPE allowed = CKM_EDDSA;
    CK_MECHANISM mech = { CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0 };
    CK_ATTRIBUTE pub_tmpl[] = {
        { CKA_TOKEN, (void *)&yes, sizeof yes },
        { CKA_PRIVATE, (void *)&no, sizeof no },
        { CKA_EC_PARAMS, (void *)oid_ed25519, sizeof oid_ed25519 },
        { CKA_ID, (void *)id, strlen(id) },
        { CKA_LABEL, (void *)label, strlen(label) },
        /* usage flags: dropped by the last step down */
        { CKA_VERIFY, (void *)&yes, sizeof yes },
        { CKA_ENCRYPT, (void *)&no, sizeof no },
        { CKA_WRAP, (void *)&no, sizeof no },
        { CKA_DERIVE, (void *)&no, sizeof no },
    };
    CK_ATTRIBUTE priv_tmpl[P11_POLICY_MAX + 3];
    /* Strictest first; then without CKA_ALLOWED_MECHANISMS; then without
     * the public key's usage flags too. */
    static const p11_template_step steps[] = { { 0, 0 }, { 0, 1 }, { 4, 1 } };
    CK_ULONG priv_n = p11_template_policy(priv_tmpl);
    CK_RV rv = CKR_OK;
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    out->priv = out->pub = CK_INVALID_HANDLE;
    if ((rc = need_eddsa(t, "generate")) != P11JWT_OK)
        return rc;
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, strlen(id) };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_ALLOWED_MECHANISMS, (void *)&allowed,
                                          sizeof allowed }; /* last: dropped */
    for (size_t p = 0; p < sizeof params / sizeof params[0]; p++) {
        pub_tmpl[2].pValue = (void *)params[p].der;
        pub_tmpl[2].ulValueLen = params[p].len;
        rv = p11_template_generate(t, s, &mech, pub_tmpl, sizeof pub_tmpl / sizeof pub_tmpl[0],
                                   priv_tmpl, priv_n, steps, 3, &out->pub, &out->priv);
        if (!params_refused(rv))
            break;
    }
    if (rv != CKR_OK)
        return p11_fail(rv == CKR_MECHANISM_INVALID ? P11JWT_ERR_ALG : P11JWT_ERR_PKCS11, rv,
                        rv == CKR_MECHANISM_INVALID
                            ? "the token cannot generate Ed25519 keys "
                              "(CKM_EC_EDWARDS_KEY_PAIR_GEN)"
                            : "the token could not generate the Ed25519 key pair");
    rc = check_pair(t, s, 1, NULL, out);
    if (rc != P11JWT_OK)
        return p11_pair_discard(t, s, &out->priv, &out->pub, id,
                                err_wrap(rc, "the token made the Ed25519 pair but it is "
                                             "unusable"));
    return P11JWT_OK;
}

p11jwt_rc p11_import_eddsa(p11jwt_token *t, CK_SESSION_HANDLE s, const unsigned char *seed,
                           const p11_ec_point *pub, const char *id, const char *label,
                           p11_ec_pair *out)
{
    static const CK_OBJECT_CLASS priv_cls = CKO_PRIVATE_KEY, pub_cls = CKO_PUBLIC_KEY;
    static const CK_KEY_TYPE kt = CKK_EC_EDWARDS;
    static const CK_MECHANISM_TYPE allowed = CKM_EDDSA;
    /* DER OCTET STRING around the 32-byte key, as PKCS#11 3.0 asks. */
    unsigned char point[2 + ED25519_LEN] = { 0x04, ED25519_LEN };
    CK_ATTRIBUTE pub_tmpl[] = {
        { CKA_CLASS, (void *)&pub_cls, sizeof pub_cls },
        { CKA_KEY_TYPE, (void *)&kt, sizeof kt },
        { CKA_TOKEN, (void *)&yes, sizeof yes },
        { CKA_PRIVATE, (void *)&no, sizeof no },
        { CKA_EC_PARAMS, (void *)oid_ed25519, sizeof oid_ed25519 },
        { CKA_EC_POINT, point, sizeof point },
        { CKA_ID, (void *)id, strlen(id) },
        { CKA_LABEL, (void *)label, strlen(label) },
        /* usage flags: dropped by the one step down */
        { CKA_VERIFY, (void *)&yes, sizeof yes },
        { CKA_ENCRYPT, (void *)&no, sizeof no },
        { CKA_WRAP, (void *)&no, sizeof no },
        { CKA_DERIVE, (void *)&no, sizeof no },
    };
    CK_ATTRIBUTE priv_tmpl[P11_POLICY_MAX + 7];
    CK_ULONG priv_n = p11_template_policy(priv_tmpl), params_at;
    /* Strictest first: with CKA_ALLOWED_MECHANISMS (last), then without;
     * the public key with its usage flags, then without. */
    static const CK_ULONG priv_drop[] = { 0, 1 }, pub_drop[] = { 0, 4 };
    CK_RV rv = CKR_OK;
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    out->priv = out->pub = CK_INVALID_HANDLE;
    if (pub->alg != P11JWT_EDDSA || pub->coord_len != ED25519_LEN)
        return err_set(P11JWT_ERR_ALG, "not an Ed25519 key");
    if ((rc = need_eddsa(t, "import")) != P11JWT_OK)
        return rc;
    memcpy(point + 2, pub->x, ED25519_LEN);
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_CLASS, (void *)&priv_cls, sizeof priv_cls };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, (void *)&kt, sizeof kt };
    params_at = priv_n;
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, NULL, 0 };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_VALUE, (void *)seed, ED25519_LEN };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, strlen(id) };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_ALLOWED_MECHANISMS, (void *)&allowed,
                                          sizeof allowed }; /* last: dropped */

    /* The public object names the curve as the private one that was taken. */
    for (size_t p = 0; p < sizeof params / sizeof params[0]; p++) {
        priv_tmpl[params_at].pValue = pub_tmpl[4].pValue = (void *)params[p].der;
        priv_tmpl[params_at].ulValueLen = pub_tmpl[4].ulValueLen = params[p].len;
        rv = p11_template_create(t, s, priv_tmpl, priv_n, priv_drop, 2, &out->priv);
        if (!params_refused(rv))
            break;
    }
    if (rv != CKR_OK)
        return p11_fail(P11JWT_ERR_PKCS11, rv, "the token could not import the Ed25519 "
                                               "private key");
    rv = p11_template_create(t, s, pub_tmpl, sizeof pub_tmpl / sizeof pub_tmpl[0], pub_drop, 2,
                             &out->pub);
    if (rv != CKR_OK) {
        rc = p11_fail(P11JWT_ERR_PKCS11, rv, "the token could not store the Ed25519 public key");
    } else {
        /* An imported key was extractable once, in its file: no
         * CKA_NEVER_EXTRACTABLE is asked of it. */
        rc = check_pair(t, s, 0, pub, out);
    }
    return rc == P11JWT_OK ? rc : p11_pair_discard(t, s, &out->priv, &out->pub, id, rc);
}
