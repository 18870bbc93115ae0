/*
 * keys.c — finding keys by kid, listing and deleting them, key handles and
 * JWK export.
 *
 * A kid is stored as the object's CKA_ID (its bytes) and, by default, as its
 * CKA_LABEL, so pkcs11-tool shows it. Lookup tries CKA_ID first, then the
 * label, so keys made by other tools (label only) are found too. A key
 * handle caches its object handle: C_FindObjects costs about as much as a
 * signature, so it runs again only when the token's epoch says the handle
 * may be stale.
 */
#include "pkcs11/pkcs11_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CK_RV tok_get_attr(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                   CK_ATTRIBUTE_TYPE type, unsigned char **out, size_t *len)
{
    CK_ATTRIBUTE a = { type, NULL, 0 };
    CK_RV rv;

    *out = NULL;
    *len = 0;
    rv = P11(t->fl, C_GetAttributeValue, s, o, &a, 1);
    if (rv != CKR_OK)
        return rv;
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return CKR_ATTRIBUTE_TYPE_INVALID;
    a.pValue = malloc(a.ulValueLen + 1);
    if (a.pValue == NULL)
        return CKR_HOST_MEMORY;
    rv = P11(t->fl, C_GetAttributeValue, s, o, &a, 1);
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
    rv = P11(t->fl, C_FindObjectsInit, s, tmpl, n_tmpl);
    if (rv != CKR_OK)
        return rv;
    do {
        rv = P11(t->fl, C_FindObjects, s, batch, 16, &got);
        if (rv != CKR_OK)
            break;
        for (CK_ULONG i = 0; i < got; i++, (*n)++)
            if (*n < max)
                found[*n] = batch[i];
    } while (got == 16);
    rv2 = P11(t->fl, C_FindObjectsFinal, s);
    return rv != CKR_OK ? rv : rv2;
}

/* Every object matching tmpl, in a new array (*found, caller frees). */
static CK_RV find_all(p11jwt_token *t, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
                      CK_ULONG n_tmpl, CK_OBJECT_HANDLE **found, size_t *n)
{
    size_t max = 64;
    CK_RV rv;

    *found = NULL;
    for (;;) {
        free(*found);
        *found = malloc(max * sizeof **found);
        if (*found == NULL)
            return CKR_HOST_MEMORY;
        rv = find_objects(t, s, tmpl, n_tmpl, *found, max, n);
        if (rv != CKR_OK || *n <= max)
            return rv;
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

CK_RV tok_find_by_kid(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                      const char *kid, CK_OBJECT_HANDLE *found, size_t max, size_t *n)
{
    CK_RV rv = find_by_attr(t, s, cls, CKA_ID, kid, found, max, n);

    if (rv != CKR_OK || *n > 0)
        return rv;
    return find_by_attr(t, s, cls, CKA_LABEL, kid, found, max, n);
}

p11jwt_rc tok_kid_exists(p11jwt_token *t, CK_SESSION_HANDLE s, const char *kid, int *exists)
{
    static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_SECRET_KEY };
    CK_OBJECT_HANDLE h;
    size_t n;

    *exists = 0;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        CK_RV rv = tok_find_by_kid(t, s, classes[i], kid, &h, 1, &n);
        if (rv != CKR_OK)
            return tok_fail(P11JWT_ERR_PKCS11, rv, "cannot search the token");
        if (n > 0) {
            *exists = 1;
            break;
        }
    }
    return P11JWT_OK;
}

static p11jwt_alg hmac_mech_alg(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_SHA256_HMAC: return P11JWT_HS256;
    case CKM_SHA384_HMAC: return P11JWT_HS384;
    case CKM_SHA512_HMAC: return P11JWT_HS512;
    default: return P11JWT_ALG_UNKNOWN;
    }
}

p11jwt_alg tok_object_alg(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          CK_OBJECT_CLASS cls)
{
    CK_KEY_TYPE kt = 0;
    CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof kt };
    unsigned char *buf = NULL;
    size_t len = 0;
    p11jwt_alg alg = P11JWT_ALG_UNKNOWN;

    if (P11(t->fl, C_GetAttributeValue, s, o, &a, 1) != CKR_OK)
        return P11JWT_ALG_UNKNOWN;
    if (cls != CKO_SECRET_KEY) {
        if (kt == CKK_EC && tok_get_attr(t, s, o, CKA_EC_PARAMS, &buf, &len) == CKR_OK)
            alg = tok_ec_params_alg(buf, len);
        free(buf);
        return alg;
    }
    if (kt == CKK_SHA256_HMAC)
        return P11JWT_HS256;
    if (kt == CKK_SHA384_HMAC)
        return P11JWT_HS384;
    if (kt == CKK_SHA512_HMAC)
        return P11JWT_HS512;
    if (kt != CKK_GENERIC_SECRET)
        return P11JWT_ALG_UNKNOWN;
    /* A generic secret pins its alg through its one allowed HMAC mechanism. */
    if (tok_get_attr(t, s, o, CKA_ALLOWED_MECHANISMS, &buf, &len) == CKR_OK) {
        const CK_MECHANISM_TYPE *m = (const CK_MECHANISM_TYPE *)buf;
        size_t n = len / sizeof *m;

        for (size_t i = 0; i < n; i++) {
            p11jwt_alg a2 = hmac_mech_alg(m[i]);
            if (a2 == P11JWT_ALG_UNKNOWN)
                continue;
            if (alg != P11JWT_ALG_UNKNOWN && alg != a2) {
                alg = P11JWT_ALG_UNKNOWN;   /* allows several: pins none */
                break;
            }
            alg = a2;
        }
    }
    free(buf);
    return alg;
}

int tok_kid_is_text(const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0, len; i < n; i += len) {
        len = jose_utf8_len(p + i, n - i);
        if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7f)))
            return 0;
    }
    return 1;
}

char *tok_object_kid(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
    unsigned char *id = NULL, *label = NULL;
    size_t id_len = 0, label_len = 0;
    char *kid = NULL;

    tok_get_attr(t, s, o, CKA_ID, &id, &id_len);
    if (tok_kid_is_text(id, id_len)) {
        kid = (char *)id;
        id = NULL;
    } else if (tok_get_attr(t, s, o, CKA_LABEL, &label, &label_len) == CKR_OK &&
               tok_kid_is_text(label, label_len)) {
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

    return P11(t->fl, C_GetAttributeValue, s, o, &a, 1) == CKR_OK && b == CK_TRUE;
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
    e->kid = tok_object_kid(t, s, o);
    if (e->kid == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (cls == CKO_PUBLIC_KEY && e->kid[0] != '\0') {
        CK_OBJECT_HANDLE h;
        size_t n = 0;

        if (tok_find_by_kid(t, s, CKO_PRIVATE_KEY, e->kid, &h, 1, &n) == CKR_OK && n > 0) {
            free(e->kid);
            e->kid = NULL;
            *skip = 1;
            return P11JWT_OK;
        }
    }
    tok_get_attr(t, s, o, CKA_LABEL, &label, &label_len);
    e->label = label != NULL ? (char *)label : strdup("");
    e->alg = tok_object_alg(t, s, o, cls);
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
    rc = tok_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    for (size_t c = 0; c < sizeof classes / sizeof classes[0]; c++) {
        CK_OBJECT_CLASS cls = classes[c];
        CK_ATTRIBUTE tmpl = { CKA_CLASS, &cls, sizeof cls };
        size_t n = 0;
        CK_RV rv;

        free(found);
        rv = find_all(t, s, &tmpl, 1, &found, &n);
        if (rv != CKR_OK) {
            rc = tok_fail(P11JWT_ERR_PKCS11, rv, "cannot list the token's keys");
            goto out;
        }
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
    tok_session_put(t, s);
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
            rv = P11(t->fl, C_DestroyObject, s, found[i]);
            if (rv != CKR_OK)
                return tok_fail(P11JWT_ERR_PKCS11, rv, "cannot destroy the key");
        }
        rv = find_by_attr(t, s, cls, by, kid, found, 16, &n);
    }
    return rv == CKR_OK ? P11JWT_OK : tok_fail(P11JWT_ERR_PKCS11, rv, "cannot search the token");
}

p11jwt_rc p11jwt_key_delete(p11jwt_token *t, const char *kid)
{
    static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_SECRET_KEY };
    CK_SESSION_HANDLE s;
    size_t total = 0;
    p11jwt_rc rc;

    err_clear();
    if (kid == NULL || kid[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "no kid given");
    rc = tok_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    for (size_t c = 0; c < sizeof classes / sizeof classes[0]; c++) {
        rc = delete_class(t, s, classes[c], kid, &total);
        if (rc != P11JWT_OK) {
            if (total > 0)
                atomic_fetch_add(&t->epoch, 1);
            goto out;
        }
    }
    if (total == 0)
        rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "no key with kid '%s' in token '%s'", ESC(kid),
                     t->label);
    else
        atomic_fetch_add(&t->epoch, 1);
out:
    tok_session_put(t, s);
    return rc;
}

/* ---- key handles ------------------------------------------------------ */

/* Finds the one object of class cls with this kid; 0 found is not an error
 * (*o stays CK_INVALID_HANDLE), more than one is. */
static p11jwt_rc find_one(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                          const char *kid, CK_OBJECT_HANDLE *o)
{
    CK_OBJECT_HANDLE found[2];
    size_t n = 0;
    CK_RV rv = tok_find_by_kid(t, s, cls, kid, found, 2, &n);

    *o = CK_INVALID_HANDLE;
    if (rv != CKR_OK)
        return tok_fail(P11JWT_ERR_PKCS11, rv, "cannot search the token");
    if (n > 1)
        return err_set(P11JWT_ERR_KEY_EXISTS,
                       "kid '%s' is ambiguous: %zu %s keys carry it in token '%s'", ESC(kid), n,
                       cls == CKO_PRIVATE_KEY ? "private" : cls == CKO_SECRET_KEY ? "secret" : "public",
                       t->label);
    if (n == 1)
        *o = found[0];
    return P11JWT_OK;
}

p11jwt_rc tok_key_handle(p11jwt_key *k, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *out)
{
    unsigned long epoch = atomic_load_explicit(&k->tok->epoch, memory_order_acquire);
    CK_OBJECT_HANDLE h;
    p11jwt_rc rc = P11JWT_OK;

    if (atomic_load_explicit(&k->epoch, memory_order_acquire) == epoch) {
        *out = atomic_load_explicit(&k->handle, memory_order_relaxed);
        return P11JWT_OK;
    }
    pthread_mutex_lock(&k->refind);
    if (atomic_load(&k->epoch) != epoch) {
        rc = find_one(k->tok, s, k->cls, k->kid, &h);
        if (rc == P11JWT_OK && h == CK_INVALID_HANDLE)
            rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "key '%s' is no longer in token '%s'",
                         ESC(k->kid), k->tok->label);
        if (rc == P11JWT_OK) {
            atomic_store(&k->handle, h);
            atomic_store_explicit(&k->epoch, epoch, memory_order_release);
        }
    }
    *out = atomic_load(&k->handle);
    pthread_mutex_unlock(&k->refind);
    return rc;
}

static const char *hash_name(p11jwt_alg alg)
{
    switch (alg) {
    case P11JWT_ES256: return "SHA256";
    case P11JWT_ES384: return "SHA384";
    case P11JWT_ES512: return "SHA512";
    default: return NULL;
    }
}

p11jwt_rc p11jwt_key_open(p11jwt_token *t, const char *kid, p11jwt_key **out)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE, sec = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
    p11jwt_key *k = NULL;
    p11jwt_rc rc;

    err_clear();
    *out = NULL;
    if (kid == NULL || kid[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "no kid given");
    rc = tok_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    rc = find_one(t, s, CKO_PRIVATE_KEY, kid, &priv);
    if (rc == P11JWT_OK && priv == CK_INVALID_HANDLE)
        rc = find_one(t, s, CKO_SECRET_KEY, kid, &sec);
    if (rc == P11JWT_OK && sec == CK_INVALID_HANDLE)
        rc = find_one(t, s, CKO_PUBLIC_KEY, kid, &pub);
    if (rc != P11JWT_OK)
        goto out;
    if (priv == CK_INVALID_HANDLE && sec == CK_INVALID_HANDLE && pub == CK_INVALID_HANDLE) {
        rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "no key with kid '%s' in token '%s'", ESC(kid),
                     t->label);
        goto out;
    }

    k = calloc(1, sizeof *k);
    if (k == NULL || (k->kid = strdup(kid)) == NULL) {
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_init(&k->refind, NULL);
    k->tok = t;
    k->cls = priv != CK_INVALID_HANDLE ? CKO_PRIVATE_KEY
             : sec != CK_INVALID_HANDLE ? CKO_SECRET_KEY
                                        : CKO_PUBLIC_KEY;
    atomic_store(&k->handle, priv != CK_INVALID_HANDLE ? priv : sec != CK_INVALID_HANDLE ? sec : pub);
    atomic_store(&k->epoch, atomic_load(&t->epoch));
    k->alg = tok_object_alg(t, s, atomic_load(&k->handle), k->cls);
    if (k->alg == P11JWT_ALG_UNKNOWN) {
        rc = err_set(P11JWT_ERR_ALG,
                     k->cls == CKO_SECRET_KEY
                         ? "secret key '%s' pins no HMAC alg (key type CKK_SHA*_HMAC or one "
                           "CKM_SHA*_HMAC in CKA_ALLOWED_MECHANISMS)"
                         : "key '%s' is not an EC key on P-256, P-384 or P-521",
                     ESC(kid));
        goto out;
    }
    if (p11jwt_alg_is_ec(k->alg)) {
        k->mech = CKM_ECDSA;
        k->md = EVP_MD_fetch(NULL, hash_name(k->alg), NULL);
        if (k->md == NULL) {
            rc = err_set(P11JWT_ERR_CRYPTO, "OpenSSL has no %s", hash_name(k->alg));
            goto out;
        }
        if (pub == CK_INVALID_HANDLE)
            rc = find_one(t, s, CKO_PUBLIC_KEY, kid, &pub);
        if (rc != P11JWT_OK)
            goto out;
        if (pub != CK_INVALID_HANDLE) {
            rc = tok_ec_read_public(t, s, pub, &k->pub);
            if (rc != P11JWT_OK)
                goto out;
            if (k->pub.alg != k->alg) {
                rc = err_set(P11JWT_ERR_ALG, "the halves of key '%s' are on different curves",
                             ESC(kid));
                goto out;
            }
            k->has_pub = 1;
        }
    } else {
        k->mech = tok_hmac_mech(k->alg);
    }
    rc = jose_header_b64(k->alg, k->kid, &k->header_b64);
    if (rc != P11JWT_OK)
        goto out;
    k->header_b64_len = strlen(k->header_b64);
    *out = k;
    k = NULL;
out:
    tok_session_put(t, s);
    p11jwt_key_free(k);
    return rc;
}

void p11jwt_key_free(p11jwt_key *k)
{
    if (k == NULL)
        return;
    EVP_MD_free(k->md);
    free(k->header_b64);
    free(k->kid);
    pthread_mutex_destroy(&k->refind);
    free(k);
}

p11jwt_alg p11jwt_key_alg(const p11jwt_key *k)
{
    return k->alg;
}

const char *p11jwt_key_kid(const p11jwt_key *k)
{
    return k->kid;
}

p11jwt_rc p11jwt_key_check_alg(const p11jwt_key *k, p11jwt_alg alg)
{
    if (alg == k->alg)
        return P11JWT_OK;
    if (p11jwt_alg_is_ec(k->alg))
        return err_set(P11JWT_ERR_ALG, "%s asked of key '%s', which is a %s key (%s)",
                       alg != P11JWT_ALG_UNKNOWN ? p11jwt_alg_name(alg) : "an unknown alg",
                       ESC(k->kid), jose_ec_crv(k->alg), p11jwt_alg_name(k->alg));
    return err_set(P11JWT_ERR_ALG, "%s asked of key '%s', which is pinned to %s",
                   alg != P11JWT_ALG_UNKNOWN ? p11jwt_alg_name(alg) : "an unknown alg",
                   ESC(k->kid),
                   p11jwt_alg_name(k->alg));
}

/* ---- JWK / JWKS ------------------------------------------------------- */

static p11jwt_rc dump_json(json_t *j, char **out)
{
    *out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return *out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

p11jwt_rc p11jwt_key_jwk(p11jwt_key *k, char **json_out)
{
    json_t *jwk = NULL;
    p11jwt_rc rc;

    err_clear();
    *json_out = NULL;
    if (!p11jwt_alg_is_ec(k->alg))
        return err_set(P11JWT_ERR_ALG, "key '%s' is a secret key: it has no public JWK",
                       ESC(k->kid));
    if (!k->has_pub)
        return err_set(P11JWT_ERR_KEY_NOT_FOUND, "key '%s' has no public key object in the token",
                       ESC(k->kid));
    rc = jose_ec_jwk(&k->pub, k->kid, &jwk);
    if (rc == P11JWT_OK)
        rc = dump_json(jwk, json_out);
    json_decref(jwk);
    return rc;
}

/* Adds the JWK of public key object o to keys. */
static p11jwt_rc add_jwk(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                         const char *kid, json_t *keys)
{
    jose_ec_pub pub;
    json_t *jwk = NULL;
    p11jwt_rc rc = tok_ec_read_public(t, s, o, &pub);

    if (rc != P11JWT_OK)
        return err_wrap(rc, "key '%s'", kid != NULL ? ESC(kid) : "(no kid)");
    rc = jose_ec_jwk(&pub, kid, &jwk);
    if (rc == P11JWT_OK && json_array_append_new(keys, jwk) != 0)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    return rc;
}

p11jwt_rc p11jwt_jwks_export(p11jwt_token *t, const char *const *kids, size_t nkids,
                             char **json_out)
{
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_KEY_TYPE kt = CKK_EC;
    CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt } };
    CK_OBJECT_HANDLE *found = NULL;
    CK_SESSION_HANDLE s;
    json_t *root = json_object(), *keys = json_array();
    char *kid = NULL;
    size_t n = 0;
    p11jwt_rc rc;

    err_clear();
    *json_out = NULL;
    if (root == NULL || keys == NULL || json_object_set(root, "keys", keys) != 0) {
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out_json;
    }
    /* Public keys are public objects: log in only when a PIN source says
     * the caller expects it, so a JWKS can be published without the PIN. */
    rc = tok_session_get(t, t->pin.file != NULL || t->pin.env != NULL, &s);
    if (rc != P11JWT_OK)
        goto out_json;
    if (nkids == 0) {
        CK_RV rv = find_all(t, s, tmpl, 2, &found, &n);
        if (rv != CKR_OK) {
            rc = tok_fail(P11JWT_ERR_PKCS11, rv, "cannot list the token's public keys");
            goto out;
        }
        for (size_t i = 0; i < n && rc == P11JWT_OK; i++) {
            kid = tok_object_kid(t, s, found[i]);
            /* "" (neither a text ID, a text label nor an ID): no kid */
            rc = kid != NULL ? add_jwk(t, s, found[i], kid[0] != '\0' ? kid : NULL, keys)
                             : err_set(P11JWT_ERR_NOMEM, "out of memory");
            free(kid);
            kid = NULL;
        }
    }
    for (size_t i = 0; i < nkids && rc == P11JWT_OK; i++) {
        CK_OBJECT_HANDLE o, sec;

        rc = find_one(t, s, CKO_PUBLIC_KEY, kids[i], &o);
        if (rc != P11JWT_OK)
            break;
        if (o == CK_INVALID_HANDLE) {
            if (find_one(t, s, CKO_SECRET_KEY, kids[i], &sec) == P11JWT_OK &&
                sec != CK_INVALID_HANDLE)
                rc = err_set(P11JWT_ERR_ALG, "key '%s' is a secret key: it never goes in a JWKS",
                             ESC(kids[i]));
            else
                rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "no public key with kid '%s' in token '%s'",
                             ESC(kids[i]), t->label);
            break;
        }
        rc = add_jwk(t, s, o, kids[i], keys);
    }
    if (rc == P11JWT_OK)
        rc = dump_json(root, json_out);
out:
    tok_session_put(t, s);
    free(found);
out_json:
    json_decref(keys);
    json_decref(root);
    return rc;
}
