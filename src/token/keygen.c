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
 */
#include "token/tok.h"

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
            { CKA_VERIFY, (void *)&yes, sizeof yes },
            { CKA_ENCRYPT, (void *)&no, sizeof no },
            { CKA_WRAP, (void *)&no, sizeof no },
            { CKA_DERIVE, (void *)&no, sizeof no },
            { CKA_EC_PARAMS, (void *)params, params_len },
            { CKA_ID, (void *)id, strlen(id) },
            { CKA_LABEL, (void *)lbl, strlen(lbl) },
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

        rv = P11(t->fl, C_GenerateKeyPair, s, &mech, pub_tmpl,
                 sizeof pub_tmpl / sizeof pub_tmpl[0], priv_tmpl,
                 sizeof priv_tmpl / sizeof priv_tmpl[0], &pub, &priv);
        if (rv != CKR_OK) {
            rc = tok_fail(P11JWT_ERR_PKCS11, rv, "the token could not generate the EC key pair");
            goto out;
        }
    }
    if (kid != NULL) {
        final_kid = strdup(kid);
        rc = final_kid != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }

    rc = tok_ec_read_public(t, s, pub, &ec);
    if (rc != P11JWT_OK)
        goto out;
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
        if (priv != CK_INVALID_HANDLE)
            P11(t->fl, C_DestroyObject, s, priv);
        if (pub != CK_INVALID_HANDLE)
            P11(t->fl, C_DestroyObject, s, pub);
        free(final_kid);
        final_kid = NULL;
    }
    *kid_out = final_kid;
    free(rand_part);
    free(tmp_id);
    return rc;
}

static p11jwt_rc generate_hmac(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg,
                               const char *kid, const char *label)
{
    CK_MECHANISM mech = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_ULONG len = p11jwt_alg_sig_len(alg);   /* key as long as the hash */
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
        { CKA_VALUE_LEN, &len, sizeof len },
        { CKA_ALLOWED_MECHANISMS, &allowed, sizeof allowed },
        { CKA_ID, (void *)kid, strlen(kid) },
        { CKA_LABEL, (void *)label, strlen(label) },
    };
    CK_OBJECT_HANDLE o;
    CK_RV rv = P11(t->fl, C_GenerateKey, s, &mech, tmpl, sizeof tmpl / sizeof tmpl[0], &o);

    if (rv != CKR_OK)
        return tok_fail(P11JWT_ERR_PKCS11, rv, "the token could not generate the secret key");
    return P11JWT_OK;
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
    rc = generate_hmac(t, s, alg, kid, label != NULL ? label : kid);
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

static CK_KEY_TYPE hmac_key_type(p11jwt_alg alg)
{
    switch (alg) {
    case P11JWT_HS256: return CKK_SHA256_HMAC;
    case P11JWT_HS384: return CKK_SHA384_HMAC;
    default: return CKK_SHA512_HMAC;
    }
}

p11jwt_rc p11jwt_key_import_secret(p11jwt_token *t, p11jwt_alg alg, const char *kid,
                                   const char *label, const unsigned char *secret,
                                   size_t secret_len)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt;
    CK_MECHANISM_TYPE allowed;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE o;
    size_t min = p11jwt_alg_sig_len(alg);
    CK_RV rv;
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
    kt = hmac_key_type(alg);
    allowed = tok_hmac_mech(alg);
    rc = tok_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    rc = check_new_kid(t, s, kid);
    if (rc == P11JWT_OK) {
        const char *lbl = label != NULL ? label : kid;
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
            { CKA_ALLOWED_MECHANISMS, &allowed, sizeof allowed },
            { CKA_VALUE, (void *)secret, secret_len },
            { CKA_ID, (void *)kid, strlen(kid) },
            { CKA_LABEL, (void *)lbl, strlen(lbl) },
        };

        rv = P11(t->fl, C_CreateObject, s, tmpl, sizeof tmpl / sizeof tmpl[0], &o);
        if (rv != CKR_OK)
            rc = tok_fail(P11JWT_ERR_PKCS11, rv, "the token could not import the secret");
    }
    tok_session_put(t, s);
    return rc;
}
