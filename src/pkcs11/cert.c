/*
 * cert.c — X.509 certificate objects (CKO_CERTIFICATE, CKC_X_509) in the
 * token: the one a key's JWS header names by its thumbprints (x5t), found
 * by the key's kid or by a pkcs11: URI, and stored next to a key.
 *
 * The decision: a certificate goes with its key by kid, exactly as the
 * key's public object does (CKA_ID = the kid's bytes, else CKA_LABEL), so
 * that rotation, delete and pkcs11-tool see them together. This floor
 * only moves DER bytes; reading them (OpenSSL) is core's.
 */
#include "pkcs11/pkcs11_int.h"

#include <stdlib.h>
#include <string.h>

/* The certificates a parsed URI names: its id= and object= on top of the
 * class. Refuses a URI that names neither, or another class than cert. */
static p11jwt_rc uri_template(P11KitUri *u, CK_ATTRIBUTE *tmpl, CK_ULONG *n)
{
    CK_ATTRIBUTE_PTR a;
    CK_OBJECT_CLASS cls;

    if ((a = p11_kit_uri_get_attribute(u, CKA_CLASS)) != NULL && a->ulValueLen == sizeof cls) {
        memcpy(&cls, a->pValue, sizeof cls);
        if (cls != CKO_CERTIFICATE)
            return err_set(P11JWT_ERR_URI, "the certificate URI names an object of another "
                                           "type (type=cert, or leave type= out)");
    }
    if ((a = p11_kit_uri_get_attribute(u, CKA_ID)) != NULL)
        tmpl[(*n)++] = *a;
    if ((a = p11_kit_uri_get_attribute(u, CKA_LABEL)) != NULL)
        tmpl[(*n)++] = *a;
    if (*n == 1)
        return err_set(P11JWT_ERR_URI, "the certificate URI names no object (object= or id=)");
    return P11JWT_OK;
}

/* The token info of t's slot matches what the URI says of a token. */
static p11jwt_rc uri_same_token(p11jwt_token *t, P11KitUri *u)
{
    CK_TOKEN_INFO info;
    CK_RV rv;

    rv = P11_RAISE(P11JWT_ERR_PKCS11, "cannot read the token's information", t->fl,
                   C_GetTokenInfo, t->slot, &info);
    if (rv != CKR_OK)
        return P11JWT_ERR_PKCS11;
    if (!p11_kit_uri_match_token_info(u, &info))
        return err_set(P11JWT_ERR_URI, "the certificate URI names another token than the "
                                       "key's ('%s'): the certificate must be in the key's token",
                       t->label);
    return P11JWT_OK;
}

/* The first two objects matching tmpl (*count: how many, at most 2):
 * a certificate is wanted once, so two means ambiguous. */
static CK_RV find_two(p11jwt_token *t, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                      CK_OBJECT_HANDLE found[2], size_t *count)
{
    CK_ULONG got = 0;
    CK_RV rv, rv2;

    *count = 0;
    rv = P11_CALL(t->fl, C_FindObjectsInit, s, tmpl, n);
    if (rv != CKR_OK)
        return rv;
    rv = P11_CALL(t->fl, C_FindObjects, s, found, 2, &got);
    rv2 = P11_CALL(t->fl, C_FindObjectsFinal, s);
    if (rv == CKR_OK)
        *count = got;
    return rv != CKR_OK ? rv : rv2;
}

/* The certificates whose CKA_ID is id (n bytes). */
static CK_RV find_by_id(p11jwt_token *t, CK_SESSION_HANDLE s, const unsigned char *id, size_t n,
                        CK_OBJECT_HANDLE found[2], size_t *count)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_ID, (void *)id, n } };

    return find_two(t, s, tmpl, 2, found, count);
}

/* The certificates of a key: by the key object's own CKA_ID (a key made
 * by another tool may carry a binary one, and its certificate the same),
 * else by its kid as p11jwt names objects (CKA_ID, then CKA_LABEL). */
static CK_RV find_for_key(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
                          const char *kid, CK_OBJECT_HANDLE found[2], size_t *n)
{
    unsigned char *id = NULL;
    size_t id_len = 0;
    CK_RV rv = CKR_OK;

    *n = 0;
    if (key != CK_INVALID_HANDLE &&
        p11_object_attr(t, s, key, CKA_ID, &id, &id_len) == CKR_OK && id_len > 0)
        rv = find_by_id(t, s, id, id_len, found, n);
    free(id);
    if (rv != CKR_OK || *n > 0)
        return rv;
    return p11_object_find_by_kid(t, s, CKO_CERTIFICATE, kid, found, 2, n);
}

p11jwt_rc p11_cert_find(p11_keyhandle *h, const char *uri, unsigned char **der, size_t *der_len)
{
    p11jwt_token *t = h->tok;
    const char *kid = h->kid;
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_ATTRIBUTE tmpl[3] = { { CKA_CLASS, &cls, sizeof cls } };
    CK_ULONG n_tmpl = 1;
    CK_OBJECT_HANDLE found[2];
    CK_SESSION_HANDLE s;
    P11KitUri *u = NULL;
    size_t n = 0;
    CK_RV rv;
    p11jwt_rc rc;

    *der = NULL;
    *der_len = 0;
    if (uri != NULL) {
        if ((u = p11_kit_uri_new()) == NULL)
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        /* The URI itself is not echoed: it may be long and is the caller's. */
        if (p11_kit_uri_parse(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, u) != P11_KIT_URI_OK) {
            p11_kit_uri_free(u);
            return err_set(P11JWT_ERR_URI, "the certificate URI is not a valid pkcs11: URI");
        }
        if ((rc = uri_template(u, tmpl, &n_tmpl)) != P11JWT_OK ||
            (rc = uri_same_token(t, u)) != P11JWT_OK) {
            p11_kit_uri_free(u);
            return rc;
        }
    }
    rc = p11_session_get(t, p11_token_pin_given(t), &s);
    if (rc != P11JWT_OK)
        goto out_uri;
    if (u != NULL) {
        rv = find_two(t, s, tmpl, n_tmpl, found, &n);
    } else {
        CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;

        /* The key's object, for its CKA_ID: not found is no error here. */
        if (p11_keyhandle_object(h, s, &key) != P11JWT_OK) {
            err_clear();
            key = CK_INVALID_HANDLE;
        }
        rv = find_for_key(t, s, key, kid, found, &n);
    }
    if (rv != CKR_OK) {
        rc = p11_fail(P11JWT_ERR_PKCS11, rv, "cannot search the token for the certificate");
    } else if (n == 0) {
        rc = u != NULL ? err_set(P11JWT_ERR_KEY_NOT_FOUND,
                                 "no certificate object matches the certificate URI in "
                                 "token '%s'", t->label)
                       : err_set(P11JWT_ERR_KEY_NOT_FOUND,
                                 "no certificate for key '%s' in token '%s' (none has the "
                                 "key's CKA_ID, or its kid as CKA_ID or CKA_LABEL): store "
                                 "one with p11jwt import-cert, or name a file", ESC(kid),
                                 t->label);
    } else if (n > 1) {
        rc = err_set(P11JWT_ERR_KEY_EXISTS, "%s: more than one certificate in token '%s'",
                     u != NULL ? "the certificate URI is ambiguous" : "the key's kid is ambiguous",
                     t->label);
    } else {
        rv = p11_object_attr(t, s, found[0], CKA_VALUE, der, der_len);
        if (rv != CKR_OK)
            rc = p11_fail(P11JWT_ERR_PKCS11, rv, "cannot read the certificate's CKA_VALUE");
        else if (*der_len == 0)
            rc = err_set(P11JWT_ERR_PKCS11, "the certificate object in token '%s' is empty",
                         t->label);
        if (rc != P11JWT_OK) {
            free(*der);
            *der = NULL;
            *der_len = 0;
        }
    }
    p11_session_put(t, s);
out_uri:
    p11_kit_uri_free(u);
    return rc;
}

p11jwt_rc p11_cert_store(p11jwt_token *t, const p11_cert_attrs *c, const char *kid,
                         const char *label)
{
    static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_CERTIFICATE_TYPE type = CKC_X_509;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof cls },
        { CKA_CERTIFICATE_TYPE, &type, sizeof type },
        { CKA_TOKEN, (void *)&yes, sizeof yes },
        { CKA_PRIVATE, (void *)&no, sizeof no },
        { CKA_ID, (void *)kid, strlen(kid) },
        { CKA_LABEL, (void *)label, strlen(label) },
        { CKA_SUBJECT, (void *)c->subject, c->subject_len },
        { CKA_VALUE, (void *)c->der, c->der_len },
        /* optional for X.509 (PKCS#11 §4.6.3): last, so they can be left out */
        { CKA_ISSUER, (void *)c->issuer, c->issuer_len },
        { CKA_SERIAL_NUMBER, (void *)c->serial, c->serial_len },
    };
    CK_ULONG n_tmpl = sizeof tmpl / sizeof tmpl[0];
    CK_OBJECT_HANDLE found[2], o, key = CK_INVALID_HANDLE;
    CK_SESSION_HANDLE s;
    unsigned char *id = NULL;
    size_t n = 0, id_len = 0;
    CK_RV rv;
    p11jwt_rc rc;

    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    /* CKA_ID: the private key's own, so that tools pairing objects by
     * CKA_ID pair them; the kid's bytes when it has none. */
    rc = p11_object_find_one(t, s, CKO_PRIVATE_KEY, kid, &key);
    if (rc != P11JWT_OK)
        goto out;
    if (key != CK_INVALID_HANDLE &&
        p11_object_attr(t, s, key, CKA_ID, &id, &id_len) == CKR_OK && id_len > 0) {
        tmpl[4].pValue = id;
        tmpl[4].ulValueLen = id_len;
    }
    rv = find_for_key(t, s, key, kid, found, &n);
    if (rv != CKR_OK) {
        rc = p11_fail(P11JWT_ERR_PKCS11, rv, "cannot search the token for certificates");
        goto out;
    }
    if (n > 0) {
        rc = err_set(P11JWT_ERR_KEY_EXISTS,
                     "token '%s' already holds a certificate for key '%s' (p11jwt delete "
                     "--kid removes the key with its certificate)", t->label, ESC(kid));
        goto out;
    }
    if (c->issuer == NULL || c->serial == NULL)
        n_tmpl -= 2;
    rv = P11_CALL(t->fl, C_CreateObject, s, tmpl, n_tmpl, &o);
    if (rv != CKR_OK)
        rc = p11_fail(P11JWT_ERR_PKCS11, rv, "the token could not store the certificate");
out:
    free(id);
    p11_session_put(t, s);
    return rc;
}

p11jwt_rc p11_cert_destroy_for_key(p11jwt_token *t, CK_SESSION_HANDLE s, const char *kid,
                                   size_t *total)
{
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE, found[2];
    unsigned char *id = NULL;
    size_t id_len = 0, n = 0;
    CK_RV rv = CKR_OK;
    p11jwt_rc rc;

    /* An ambiguous kid (or a failed search, which the key's own search
     * reports next) leaves only the certificates named by the kid. */
    rc = p11_object_find_one(t, s, CKO_PRIVATE_KEY, kid, &key);
    if (rc != P11JWT_OK) {
        err_clear();
        return P11JWT_OK;
    }
    if (key == CK_INVALID_HANDLE)
        return P11JWT_OK;
    if (p11_object_attr(t, s, key, CKA_ID, &id, &id_len) != CKR_OK || id_len == 0) {
        free(id);
        return P11JWT_OK;
    }
    /* Bounded: a token that reports a destroyed object again must not keep
     * us here. */
    for (size_t round = 0; round < 1000; round++) {
        rv = find_by_id(t, s, id, id_len, found, &n);
        if (rv != CKR_OK || n == 0)
            break;
        rv = P11_RAISE(P11JWT_ERR_PKCS11, "cannot destroy the key's certificate", t->fl,
                       C_DestroyObject, s, found[0]);
        if (rv != CKR_OK) {
            free(id);
            return P11JWT_ERR_PKCS11;
        }
        (*total)++;
    }
    free(id);
    return rv == CKR_OK ? P11JWT_OK
                        : p11_fail(P11JWT_ERR_PKCS11, rv, "cannot search the token");
}
