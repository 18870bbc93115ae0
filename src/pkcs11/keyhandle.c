/*
 * keyhandle.c — one key in the token, found by kid once: which object
 * signs (private or secret; a public one only verifies), the alg it pins,
 * the mechanism and host-side hash that alg takes, and its public point
 * when the token has one (an RSA key's modulus and mechanism: sign_rsa.c).
 *
 * The decision: the object handle is cached. C_FindObjects costs about as
 * much as a signature, so it runs again only when the token's epoch says
 * the handle may be stale (a lost session, a re-login, a destroyed key,
 * a fork); the hot path reads two atomics.
 */
#include "pkcs11/pkcs11_int.h"

#include <stdlib.h>
#include <string.h>

p11jwt_rc p11_keyhandle_object(p11_keyhandle *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *out)
{
    unsigned long epoch = atomic_load_explicit(&h->tok->epoch, memory_order_acquire);
    CK_OBJECT_HANDLE o;
    p11jwt_rc rc = P11JWT_OK;

    if (atomic_load_explicit(&h->epoch, memory_order_acquire) == epoch) {
        *out = atomic_load_explicit(&h->handle, memory_order_relaxed);
        return P11JWT_OK;
    }
    pthread_mutex_lock(&h->refind);
    if (atomic_load(&h->epoch) != epoch) {
        rc = p11_object_find_one(h->tok, s, h->cls, h->kid, &o);
        if (rc == P11JWT_OK && o == CK_INVALID_HANDLE)
            rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "key '%s' is no longer in token '%s'",
                         ESC(h->kid), h->tok->label);
        if (rc == P11JWT_OK) {
            atomic_store(&h->handle, o);
            atomic_store_explicit(&h->epoch, epoch, memory_order_release);
        }
    }
    *out = atomic_load(&h->handle);
    pthread_mutex_unlock(&h->refind);
    return rc;
}

/* Reads the public half of an EC key, when the token holds one. */
static p11jwt_rc read_point(p11_keyhandle *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub)
{
    p11jwt_rc rc = P11JWT_OK;

    if (pub == CK_INVALID_HANDLE)
        rc = p11_object_find_one(h->tok, s, CKO_PUBLIC_KEY, h->kid, &pub);
    if (rc != P11JWT_OK || pub == CK_INVALID_HANDLE)
        return rc;
    rc = p11_pubkey_read(h->tok, s, pub, &h->point);
    if (rc != P11JWT_OK)
        return rc;
    if (h->point.alg != h->alg)
        return err_set(P11JWT_ERR_ALG, "the halves of key '%s' are on different curves",
                       ESC(h->kid));
    h->has_point = 1;
    return P11JWT_OK;
}

/* Why key kid has no alg to sign with: it pins none and the caller named
 * none, the caller's alg is not one it can be, or it is no signing key. */
static p11jwt_rc no_alg(const char *kid, CK_OBJECT_CLASS cls, p11_key_family fam,
                        p11jwt_alg want)
{
    if (fam == P11_FAMILY_HMAC && want == P11JWT_ALG_UNKNOWN)
        return err_set(P11JWT_ERR_ALG,
                       "secret key '%s' does not pin its alg (no key type CKK_SHA*_HMAC, no "
                       "one CKM_SHA*_HMAC in CKA_ALLOWED_MECHANISMS): name it with --alg (or "
                       "the profile's alg)",
                       ESC(kid));
    if (fam == P11_FAMILY_HMAC)
        return err_set(P11JWT_ERR_ALG,
                       "%s cannot be used with secret key '%s': %s", p11jwt_alg_name(want),
                       ESC(kid),
                       p11_hmac_mech(want) == 0
                           ? "it is an HMAC key (HS256, HS384 or HS512)"
                           : "its CKA_ALLOWED_MECHANISMS does not allow that HMAC");
    if (fam == P11_FAMILY_RSA && want == P11JWT_ALG_UNKNOWN)
        return err_set(P11JWT_ERR_ALG,
                       "RSA key '%s' does not pin its alg (no one CKM_SHA*_RSA_PKCS(_PSS) in "
                       "CKA_ALLOWED_MECHANISMS): name it with --alg (or the profile's alg): "
                       "RS256, RS384, RS512, PS256, PS384 or PS512",
                       ESC(kid));
    if (fam == P11_FAMILY_RSA)
        return err_set(P11JWT_ERR_ALG, "%s cannot be used with RSA key '%s': %s",
                       p11jwt_alg_name(want), ESC(kid),
                       p11jwt_alg_is_rsa(want)
                           ? "its CKA_ALLOWED_MECHANISMS does not allow that alg"
                           : "it signs RS256, RS384, RS512, PS256, PS384 or PS512");
    return err_set(P11JWT_ERR_ALG,
                   cls == CKO_SECRET_KEY ? "secret key '%s' is not an HMAC key"
                                         : "key '%s' is not an EC key on P-256, P-384 or "
                                          "P-521, nor an RSA key",
                   ESC(kid));
}

p11jwt_rc p11_keyhandle_open(p11jwt_token *t, const char *kid, p11jwt_alg want,
                             p11_keyhandle **out)
{
    p11_key_family fam;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE, sec = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
    p11_keyhandle *h = NULL;
    p11jwt_rc rc;

    *out = NULL;
    if (kid == NULL || kid[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "no kid given");
    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    rc = p11_object_find_one(t, s, CKO_PRIVATE_KEY, kid, &priv);
    if (rc == P11JWT_OK && priv == CK_INVALID_HANDLE)
        rc = p11_object_find_one(t, s, CKO_SECRET_KEY, kid, &sec);
    if (rc == P11JWT_OK && sec == CK_INVALID_HANDLE)
        rc = p11_object_find_one(t, s, CKO_PUBLIC_KEY, kid, &pub);
    if (rc != P11JWT_OK)
        goto out;
    if (priv == CK_INVALID_HANDLE && sec == CK_INVALID_HANDLE && pub == CK_INVALID_HANDLE) {
        rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "no key with kid '%s' in token '%s'", ESC(kid),
                     t->label);
        goto out;
    }

    h = calloc(1, sizeof *h);
    if (h == NULL || (h->kid = strdup(kid)) == NULL) {
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_init(&h->refind, NULL);
    h->tok = t;
    h->cls = priv != CK_INVALID_HANDLE ? CKO_PRIVATE_KEY
             : sec != CK_INVALID_HANDLE ? CKO_SECRET_KEY
                                        : CKO_PUBLIC_KEY;
    atomic_store(&h->handle, priv != CK_INVALID_HANDLE ? priv : sec != CK_INVALID_HANDLE ? sec : pub);
    atomic_store(&h->epoch, atomic_load(&t->epoch));
    h->alg = p11_object_alg(t, s, atomic_load(&h->handle), h->cls, want, &fam, &h->pinned);
    if (h->alg == P11JWT_ALG_UNKNOWN) {
        rc = no_alg(kid, h->cls, fam, want);
        goto out;
    }
    if (h->pinned == P11JWT_PINNED_NONE && fam == P11_FAMILY_HMAC) {
        /* The caller's HS alg on a secret nobody sized for it: RFC 7518
         * §3.2 wants a key at least as long as the hash (SoftHSM refuses a
         * shorter one with CKR_KEY_SIZE_RANGE at the first signature). */
        CK_ULONG vlen = 0;
        CK_ATTRIBUTE a = { CKA_VALUE_LEN, &vlen, sizeof vlen };

        if (P11_CALL(t->fl, C_GetAttributeValue, s, atomic_load(&h->handle), &a, 1) == CKR_OK &&
            vlen < p11jwt_alg_sig_len(h->alg)) {
            rc = err_set(P11JWT_ERR_ALG,
                         "secret key '%s' is %lu bytes long: %s needs at least %zu (RFC 7518 "
                         "3.2)",
                         ESC(kid), (unsigned long)vlen, p11jwt_alg_name(h->alg),
                         p11jwt_alg_sig_len(h->alg));
            goto out;
        }
    }
    h->sig_len = p11jwt_alg_sig_len(h->alg);
    if (p11jwt_alg_is_rsa(h->alg)) {
        rc = p11_rsa_keyhandle_init(h, s, pub);
        if (rc != P11JWT_OK)
            goto out;
    } else if (p11jwt_alg_is_ec(h->alg)) {
        h->mech = CKM_ECDSA;
        /* Fetched once: EVP_Digest with an implicit fetch per call would
         * look the hash up on every signature. */
        h->md = EVP_MD_fetch(NULL, base_alg_hash_name(h->alg), NULL);
        if (h->md == NULL) {
            rc = err_set(P11JWT_ERR_CRYPTO, "OpenSSL has no %s", base_alg_hash_name(h->alg));
            goto out;
        }
        rc = read_point(h, s, pub);
        if (rc != P11JWT_OK)
            goto out;
    } else {
        h->mech = p11_hmac_mech(h->alg);
    }
    *out = h;
    h = NULL;
out:
    p11_session_put(t, s);
    p11_keyhandle_free(h);
    return rc;
}

void p11_keyhandle_free(p11_keyhandle *h)
{
    if (h == NULL)
        return;
    EVP_MD_free(h->md);
    free(h->kid);
    pthread_mutex_destroy(&h->refind);
    free(h);
}

const char *p11_keyhandle_kid(const p11_keyhandle *h)
{
    return h->kid;
}

p11jwt_alg p11_keyhandle_alg(const p11_keyhandle *h)
{
    return h->alg;
}

p11jwt_pinned p11_keyhandle_pinned(const p11_keyhandle *h)
{
    return h->pinned;
}

const p11_ec_point *p11_keyhandle_point(const p11_keyhandle *h)
{
    return h->has_point ? &h->point : NULL;
}

const p11_rsa_pub *p11_keyhandle_rsa(const p11_keyhandle *h)
{
    return h->has_rsa ? &h->rsa_pub : NULL;
}

size_t p11_keyhandle_sig_len(const p11_keyhandle *h)
{
    return h->sig_len;
}
