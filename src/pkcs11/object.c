/*
 * object.c — key objects in the token: finding them by kid, their
 * attributes, naming, listing and destroying them.
 *
 * A kid is stored as the object's CKA_ID (its bytes) and, by default, as its
 * CKA_LABEL, so pkcs11-tool shows it. Lookup tries CKA_ID first, then the
 * label, so keys made by other tools (label only) are found too.
 */
#include "pkcs11/pkcs11_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CK_RV p11_object_attr(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                      CK_ATTRIBUTE_TYPE type, unsigned char **out, size_t *len)
{
    CK_ATTRIBUTE a = { type, NULL, 0 };
    CK_RV rv;

    *out = NULL;
    *len = 0;
    rv = P11_CALL(t->fl, C_GetAttributeValue, s, o, &a, 1);
    if (rv != CKR_OK)
        return rv;
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return CKR_ATTRIBUTE_TYPE_INVALID;
    a.pValue = malloc(a.ulValueLen + 1);
    if (a.pValue == NULL)
        return CKR_HOST_MEMORY;
    rv = P11_CALL(t->fl, C_GetAttributeValue, s, o, &a, 1);
    if (rv != CKR_OK) {
        free(a.pValue);
        return rv;
    }
    ((unsigned char *)a.pValue)[a.ulValueLen] = '\0';
    *out = a.pValue;
    *len = a.ulValueLen;
    return CKR_OK;
}

static CK_RV find_objects(p11jwt_token *t, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
                          CK_ULONG n_tmpl, CK_OBJECT_HANDLE *found, size_t max,
                          size_t *n)
{
    CK_OBJECT_HANDLE batch[16];
    CK_ULONG got;
    CK_RV rv, rv2;

    *n = 0;
    rv = P11_CALL(t->fl, C_FindObjectsInit, s, tmpl, n_tmpl);
    if (rv != CKR_OK)
        return rv;
    do {
        rv = P11_CALL(t->fl, C_FindObjects, s, batch, 16, &got);
        if (rv != CKR_OK)
            break;
        for (CK_ULONG i = 0; i < got; i++, (*n)++)
            if (*n < max)
                found[*n] = batch[i];
    } while (got == 16);
    rv2 = P11_CALL(t->fl, C_FindObjectsFinal, s);
    return rv != CKR_OK ? rv : rv2;
}

p11jwt_rc p11_object_find_class(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                                CK_KEY_TYPE kt, const char *what, CK_OBJECT_HANDLE **found,
                                size_t *n)
{
    CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt } };
    CK_ULONG n_tmpl = kt == P11_ANY_KEY_TYPE ? 1 : 2;
    size_t max = 64;
    CK_RV rv;

    *found = NULL;
    *n = 0;
    for (;;) {
        free(*found);
        *found = malloc(max * sizeof **found);
        rv = *found != NULL ? find_objects(t, s, tmpl, n_tmpl, *found, max, n) : CKR_HOST_MEMORY;
        if (rv != CKR_OK) {
            free(*found);
            *found = NULL;
            *n = 0;
            return p11_fail(P11JWT_ERR_PKCS11, rv, what);
        }
        if (*n <= max)
            return P11JWT_OK;
        max = *n;
    }
}

/* Objects of class cls whose attribute `type` (CKA_ID or CKA_LABEL) is
 * the kid's bytes. */
static CK_RV find_by_attr(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                          CK_ATTRIBUTE_TYPE type, const char *kid, CK_OBJECT_HANDLE *found,
                          size_t max, size_t *n)
{
    CK_ATTRIBUTE tmpl[2] = {
        { CKA_CLASS, &cls, sizeof cls },
        { type, (void *)kid, strlen(kid) },
    };

    return find_objects(t, s, tmpl, 2, found, max, n);
}

CK_RV p11_object_find_by_kid(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                             const char *kid, CK_OBJECT_HANDLE *found, size_t max, size_t *n)
{
    CK_RV rv = find_by_attr(t, s, cls, CKA_ID, kid, found, max, n);

    if (rv != CKR_OK || *n > 0)
        return rv;
    return find_by_attr(t, s, cls, CKA_LABEL, kid, found, max, n);
}

p11jwt_rc p11_object_find_one(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                              const char *kid, CK_OBJECT_HANDLE *o)
{
    CK_OBJECT_HANDLE found[2];
    size_t n = 0;
    CK_RV rv = p11_object_find_by_kid(t, s, cls, kid, found, 2, &n);

    *o = CK_INVALID_HANDLE;
    if (rv != CKR_OK)
        return p11_fail(P11JWT_ERR_PKCS11, rv, "cannot search the token");
    if (n > 1)
        return err_set(P11JWT_ERR_KEY_EXISTS,
                       "kid '%s' is ambiguous: %zu %s keys carry it in token '%s'", ESC(kid), n,
                       cls == CKO_PRIVATE_KEY ? "private" : cls == CKO_SECRET_KEY ? "secret" : "public",
                       t->label);
    if (n == 1)
        *o = found[0];
    return P11JWT_OK;
}

/* Whether any key object (private, public or secret) has this kid. */
static p11jwt_rc kid_exists(p11jwt_token *t, CK_SESSION_HANDLE s, const char *kid, int *exists)
{
    /* A certificate stored next to the key (p11jwt_cert_import) goes too. */
    static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_SECRET_KEY,
                                               CKO_CERTIFICATE };
    CK_OBJECT_HANDLE h;
    size_t n;

    *exists = 0;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        CK_RV rv = p11_object_find_by_kid(t, s, classes[i], kid, &h, 1, &n);
        if (rv != CKR_OK)
            return p11_fail(P11JWT_ERR_PKCS11, rv, "cannot search the token");
        if (n > 0) {
            *exists = 1;
            break;
        }
    }
    return P11JWT_OK;
}

int p11_kid_is_text(const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0, len; i < n; i += len) {
        len = base_utf8_len(p + i, n - i);
        if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7f)))
            return 0;
    }
    return 1;
}

char *p11_object_kid(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
    unsigned char *id = NULL, *label = NULL;
    size_t id_len = 0, label_len = 0;
    char *kid = NULL;

    p11_object_attr(t, s, o, CKA_ID, &id, &id_len);
    if (p11_kid_is_text(id, id_len)) {
        kid = (char *)id;
        id = NULL;
    } else if (p11_object_attr(t, s, o, CKA_LABEL, &label, &label_len) == CKR_OK &&
               p11_kid_is_text(label, label_len)) {
        /* A label is a kid only when it is text: one that is not UTF-8
         * could go into no JSON header, JWKS or listing. */
        kid = (char *)label;
        label = NULL;
    } else if (id_len > 0 && (kid = malloc(2 * id_len + 1)) != NULL) {
        for (size_t i = 0; i < id_len; i++)
            snprintf(kid + 2 * i, 3, "%02x", id[i]);
    }
    free(id);
    free(label);
    return kid != NULL ? kid : strdup("");
}

/* ---- naming new keys ---------------------------------------------------- */

p11jwt_rc p11_kid_check_new(p11jwt_token *t, CK_SESSION_HANDLE s, const char *kid)
{
    int exists;
    p11jwt_rc rc;

    if (kid[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the kid is empty");
    if (!p11_kid_is_text((const unsigned char *)kid, strlen(kid)))
        return err_set(P11JWT_ERR_ARG,
                       "the kid must be UTF-8 text without control characters (it goes into "
                       "JSON headers and JWKS)");
    rc = kid_exists(t, s, kid, &exists);
    if (rc == P11JWT_OK && exists)
        rc = err_set(P11JWT_ERR_KEY_EXISTS, "a key with kid '%s' already exists in token '%s'",
                     ESC(kid), t->label);
    return rc;
}

p11jwt_rc p11_object_name(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          const char *kid, const char *label)
{
    CK_ATTRIBUTE a[2] = {
        { CKA_ID, (void *)kid, strlen(kid) },
        { CKA_LABEL, (void *)label, strlen(label) },
    };

    return P11_RAISE(P11JWT_ERR_PKCS11, "cannot set the key's kid", t->fl, C_SetAttributeValue,
                     s, o, a, 2) == CKR_OK
               ? P11JWT_OK
               : P11JWT_ERR_PKCS11;
}

p11jwt_rc p11_object_discard(p11jwt_token *t, CK_SESSION_HANDLE s, const CK_OBJECT_HANDLE *o,
                             size_t n, const char *id, p11jwt_rc rc)
{
    CK_RV bad = CKR_OK;
    size_t destroyed = 0;

    for (size_t i = 0; i < n; i++) {
        CK_RV rv;

        if (o[i] == CK_INVALID_HANDLE)
            continue;
        rv = P11_CALL(t->fl, C_DestroyObject, s, o[i]);
        if (rv != CKR_OK) {
            /* tpm2-pkcs11 refuses it on the session whose C_SignInit
             * failed, and takes it on another. */
            CK_SESSION_HANDLE s2;

            if (p11_session_get(t, 1, &s2) == P11JWT_OK) {
                rv = P11_CALL(t->fl, C_DestroyObject, s2, o[i]);
                p11_session_put(t, s2);
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
                       p11jwt_errmsg(), p11_ckr_name(bad), id);
    if (destroyed > 0)
        return err_set(rc, "%s; the new key was destroyed", p11jwt_errmsg());
    return rc;
}

p11jwt_rc p11_pair_discard(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *priv,
                           CK_OBJECT_HANDLE *pub, const char *id, p11jwt_rc rc)
{
    CK_OBJECT_HANDLE made[2] = { *priv, *pub };

    *priv = *pub = CK_INVALID_HANDLE;
    return p11_object_discard(t, s, made, 2, id, rc);
}

/* ---- listing ---------------------------------------------------------- */

const char *p11jwt_key_class_name(p11jwt_key_class c)
{
    switch (c) {
    case P11JWT_CLASS_PRIVATE: return "private";
    case P11JWT_CLASS_PUBLIC: return "public";
    case P11JWT_CLASS_SECRET: return "secret";
    }
    return "unknown";
}


static int bool_attr(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                     CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL b = CK_FALSE;
    CK_ATTRIBUTE a = { type, &b, sizeof b };

    return P11_CALL(t->fl, C_GetAttributeValue, s, o, &a, 1) == CKR_OK && b == CK_TRUE;
}

CK_KEY_TYPE p11_object_key_type(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
    CK_KEY_TYPE kt = 0;
    CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof kt };

    return P11_CALL(t->fl, C_GetAttributeValue, s, o, &a, 1) == CKR_OK ? kt : P11_ANY_KEY_TYPE;
}

static int cmp_info(const void *a, const void *b)
{
    const p11jwt_key_info *x = a, *y = b;
    int c = strcmp(x->kid, y->kid);

    return c != 0 ? c : (int)x->klass - (int)y->klass;
}

/* Appends one entry for object o, unless it is the public half of a pair
 * already listed through its private half. */
static p11jwt_rc list_one(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          CK_OBJECT_CLASS cls, p11jwt_key_info *e, int *skip)
{
    unsigned char *label = NULL;
    size_t label_len = 0;

    *skip = 0;
    memset(e, 0, sizeof *e);
    e->kid = p11_object_kid(t, s, o);
    if (e->kid == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (cls == CKO_PUBLIC_KEY && e->kid[0] != '\0') {
        CK_OBJECT_HANDLE h;
        size_t n = 0;

        if (p11_object_find_by_kid(t, s, CKO_PRIVATE_KEY, e->kid, &h, 1, &n) == CKR_OK && n > 0) {
            free(e->kid);
            e->kid = NULL;
            *skip = 1;
            return P11JWT_OK;
        }
    }
    p11_object_attr(t, s, o, CKA_LABEL, &label, &label_len);
    e->label = label != NULL ? (char *)label : strdup("");
    e->alg = p11_object_alg(t, s, o, cls, P11JWT_ALG_UNKNOWN, NULL, &e->pinned);
    e->klass = cls == CKO_PRIVATE_KEY  ? P11JWT_CLASS_PRIVATE
               : cls == CKO_PUBLIC_KEY ? P11JWT_CLASS_PUBLIC
                                       : P11JWT_CLASS_SECRET;
    if (cls != CKO_PUBLIC_KEY) {
        e->sensitive = bool_attr(t, s, o, CKA_SENSITIVE);
        e->extractable = bool_attr(t, s, o, CKA_EXTRACTABLE);
    }
    return e->label != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

p11jwt_rc p11jwt_key_list(p11jwt_token *t, p11jwt_key_info **out, size_t *count)
{
    static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_SECRET_KEY, CKO_PUBLIC_KEY };
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE *found = NULL;
    p11jwt_key_info *list = NULL;
    size_t n_list = 0, cap = 0;
    p11jwt_rc rc;

    err_clear();
    *out = NULL;
    *count = 0;
    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    for (size_t c = 0; c < sizeof classes / sizeof classes[0]; c++) {
        CK_OBJECT_CLASS cls = classes[c];
        size_t n = 0;

        free(found);
        rc = p11_object_find_class(t, s, cls, P11_ANY_KEY_TYPE, "cannot list the token's keys",
                                   &found, &n);
        if (rc != P11JWT_OK)
            goto out;
        for (size_t i = 0; i < n; i++) {
            int skip;

            if (n_list == cap) {
                size_t ncap = cap ? 2 * cap : 16;
                p11jwt_key_info *nl = realloc(list, ncap * sizeof *nl);
                if (nl == NULL) {
                    rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
                    goto out;
                }
                list = nl;
                cap = ncap;
            }
            rc = list_one(t, s, found[i], cls, &list[n_list], &skip);
            if (rc != P11JWT_OK)
                goto out;
            if (!skip)
                n_list++;
        }
    }
    if (n_list > 1)
        qsort(list, n_list, sizeof *list, cmp_info);
    *out = list;
    *count = n_list;
    list = NULL;
    n_list = 0;
out:
    p11_session_put(t, s);
    free(found);
    p11jwt_key_info_free(list, n_list);
    return rc;
}

void p11jwt_key_info_free(p11jwt_key_info *list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        free(list[i].kid);
        free(list[i].label);
    }
    free(list);
}

/* ---- delete ----------------------------------------------------------- */

/* Destroys, batch by batch until none is left, the objects of class cls
 * that carry kid: by CKA_ID when any does, else by CKA_LABEL (decided once,
 * so a label match is never destroyed alongside ID matches). */
static p11jwt_rc delete_class(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                              const char *kid, size_t *total)
{
    CK_ATTRIBUTE_TYPE by = CKA_ID;
    CK_OBJECT_HANDLE found[16];
    size_t n = 0;
    CK_RV rv = find_by_attr(t, s, cls, by, kid, found, 16, &n);

    if (rv == CKR_OK && n == 0) {
        by = CKA_LABEL;
        rv = find_by_attr(t, s, cls, by, kid, found, 16, &n);
    }
    /* A token that reports a destroyed object again must not keep us
     * here: a bound far above any real count. */
    for (size_t rounds = 0; rv == CKR_OK && n > 0; rounds++) {
        if (rounds == 100000)
            return err_set(P11JWT_ERR_PKCS11,
                           "the token still lists objects of kid '%s' after destroying them",
                           ESC(kid));
        for (size_t i = 0; i < n && i < 16; i++, (*total)++) {
            rv = P11_RAISE(P11JWT_ERR_PKCS11, "cannot destroy the key", t->fl, C_DestroyObject,
                           s, found[i]);
            if (rv != CKR_OK)
                return P11JWT_ERR_PKCS11;
        }
        rv = find_by_attr(t, s, cls, by, kid, found, 16, &n);
    }
    return rv == CKR_OK ? P11JWT_OK : p11_fail(P11JWT_ERR_PKCS11, rv, "cannot search the token");
}

p11jwt_rc p11_key_destroy(p11jwt_token *t, const char *kid)
{
    /* A certificate stored next to the key (p11jwt_cert_import) goes too. */
    static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_SECRET_KEY,
                                               CKO_CERTIFICATE };
    CK_SESSION_HANDLE s;
    size_t total = 0;
    p11jwt_rc rc;

    err_clear();
    if (kid == NULL || kid[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "no kid given");
    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    for (size_t c = 0; c <= sizeof classes / sizeof classes[0]; c++) {
        rc = c == 0 ? p11_cert_destroy_for_key(t, s, kid, &total)
                    : delete_class(t, s, classes[c - 1], kid, &total);
        if (rc != P11JWT_OK) {
            if (total > 0)
                p11_token_changed(t);
            goto out;
        }
    }
    if (total == 0)
        rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "no key with kid '%s' in token '%s'", ESC(kid),
                     t->label);
    else
        p11_token_changed(t);
out:
    p11_session_put(t, s);
    return rc;
}

