/*
 * aead.c — AES-256-GCM in the token: the key that seals what p11jwt keeps
 * outside the process (a fleet's cached tokens in Redis), made once with
 * `p11jwt keygen --alg A256GCM`, and the seal and open operations on it.
 *
 * The decision: the key is an encryption key and nothing else (CKA_ENCRYPT
 * and CKA_DECRYPT, no sign, wrap, unwrap or derive; CKM_AES_GCM its only
 * mechanism where the token takes CKA_ALLOWED_MECHANISMS), sensitive and
 * never extractable like every key p11jwt makes, so what Redis holds is
 * readable only where the token is. The 12-byte IV is drawn on the host
 * for each seal (OpenSSL's RAND) and travels in front of the ciphertext;
 * the caller's AAD binds a value to where it is stored. The object handle
 * is cached and re-found when the token's epoch moves, as key handles do.
 */
#include "pkcs11/pkcs11_int.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

struct p11_aead {
    p11jwt_token *tok;
    char *kid;
    atomic_ulong handle;
    atomic_ulong epoch;
    pthread_mutex_t refind;
};

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

p11jwt_rc p11jwt_key_generate_aes(p11jwt_token *t, const char *kid, const char *label)
{
    CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_MECHANISM_TYPE allowed = CKM_AES_GCM;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof cls },
        { CKA_KEY_TYPE, &kt, sizeof kt },
        { CKA_VALUE_LEN, &len, sizeof len },
        { CKA_TOKEN, (void *)&yes, sizeof yes },
        { CKA_PRIVATE, (void *)&yes, sizeof yes },
        { CKA_SENSITIVE, (void *)&yes, sizeof yes },
        { CKA_EXTRACTABLE, (void *)&no, sizeof no },
        { CKA_ENCRYPT, (void *)&yes, sizeof yes },
        { CKA_DECRYPT, (void *)&yes, sizeof yes },
        { CKA_SIGN, (void *)&no, sizeof no },
        { CKA_VERIFY, (void *)&no, sizeof no },
        { CKA_WRAP, (void *)&no, sizeof no },
        { CKA_UNWRAP, (void *)&no, sizeof no },
        { CKA_DERIVE, (void *)&no, sizeof no },
        { CKA_ID, (void *)kid, kid != NULL ? strlen(kid) : 0 },
        { CKA_LABEL, (void *)label, label != NULL ? strlen(label) : 0 },
        { CKA_ALLOWED_MECHANISMS, &allowed, sizeof allowed }, /* last: dropped if refused */
    };
    CK_ULONG n = sizeof tmpl / sizeof tmpl[0];
    CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
    CK_SESSION_HANDLE s;
    CK_RV rv = CKR_OK;
    p11jwt_rc rc;

    err_clear();
    if (kid == NULL || kid[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "an A256GCM key needs a kid (--kid)");
    if (label == NULL || label[0] == '\0') {
        if (label != NULL)
            return err_set(P11JWT_ERR_ARG, "the label is empty");
        tmpl[15].pValue = (void *)kid;
        tmpl[15].ulValueLen = strlen(kid);
    }
    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    rc = p11_kid_check_new(t, s, kid);
    for (int step = 0; rc == P11JWT_OK && step < 2; step++) {
        if (step == 1)
            n--; /* a token that refuses CKA_ALLOWED_MECHANISMS on AES keys */
        rv = P11_CALL(t->fl, C_GenerateKey, s, &mech, tmpl, n, &o);
        if (!p11_template_refused(rv))
            break;
    }
    if (rc == P11JWT_OK && rv != CKR_OK)
        rc = p11_fail(P11JWT_ERR_PKCS11, rv, "the token could not generate the AES key");
    if (rc == P11JWT_OK && (rc = p11_template_check(t, s, o, 1)) != P11JWT_OK)
        rc = p11_object_discard(t, s, &o, 1, kid, rc);
    p11_session_put(t, s);
    return rc;
}

p11jwt_rc p11_aead_open(p11jwt_token *t, const char *kid, p11_aead **out)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
    p11_aead *a = NULL;
    p11jwt_rc rc;

    *out = NULL;
    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    rc = p11_object_find_one(t, s, CKO_SECRET_KEY, kid, &o);
    p11_session_put(t, s);
    if (rc == P11JWT_OK && o == CK_INVALID_HANDLE)
        rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "no secret key with kid '%s' in token '%s'",
                     ESC(kid), t->label);
    if (rc != P11JWT_OK)
        return rc;
    a = calloc(1, sizeof *a);
    if (a == NULL || (a->kid = strdup(kid)) == NULL) {
        free(a);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    a->tok = t;
    atomic_store(&a->handle, o);
    atomic_store(&a->epoch, atomic_load(&t->epoch));
    pthread_mutex_init(&a->refind, NULL);
    *out = a;
    return P11JWT_OK;
}

void p11_aead_free(p11_aead *a)
{
    if (a == NULL)
        return;
    pthread_mutex_destroy(&a->refind);
    free(a->kid);
    free(a);
}

/* The key's object handle, re-found when the token's epoch moved. */
static p11jwt_rc aead_object(p11_aead *a, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *out)
{
    unsigned long epoch = atomic_load_explicit(&a->tok->epoch, memory_order_acquire);
    CK_OBJECT_HANDLE o;
    p11jwt_rc rc = P11JWT_OK;

    if (atomic_load_explicit(&a->epoch, memory_order_acquire) == epoch) {
        *out = atomic_load(&a->handle);
        return P11JWT_OK;
    }
    pthread_mutex_lock(&a->refind);
    if (atomic_load(&a->epoch) != epoch) {
        rc = p11_object_find_one(a->tok, s, CKO_SECRET_KEY, a->kid, &o);
        if (rc == P11JWT_OK && o == CK_INVALID_HANDLE)
            rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "key '%s' is no longer in token '%s'",
                         ESC(a->kid), a->tok->label);
        if (rc == P11JWT_OK) {
            atomic_store(&a->handle, o);
            atomic_store_explicit(&a->epoch, epoch, memory_order_release);
        }
    }
    *out = atomic_load(&a->handle);
    pthread_mutex_unlock(&a->refind);
    return rc;
}

/* One C_EncryptInit + C_Encrypt (or decrypt) on session s. */
static CK_RV crypt_once(p11_aead *a, CK_SESSION_HANDLE s, int seal, CK_GCM_PARAMS *gp,
                        const unsigned char *in, size_t in_len, unsigned char *out,
                        CK_ULONG *out_len, p11jwt_rc *rc)
{
    CK_MECHANISM mech = { CKM_AES_GCM, gp, sizeof *gp };
    CK_OBJECT_HANDLE h;
    CK_RV rv;

    *rc = aead_object(a, s, &h);
    if (*rc != P11JWT_OK)
        return CKR_OK;
    if (seal) {
        rv = P11_CALL(a->tok->fl, C_EncryptInit, s, &mech, h);
        if (rv == CKR_OK)
            rv = P11_CALL(a->tok->fl, C_Encrypt, s, (CK_BYTE_PTR)in, in_len, out, out_len);
    } else {
        rv = P11_CALL(a->tok->fl, C_DecryptInit, s, &mech, h);
        if (rv == CKR_OK)
            rv = P11_CALL(a->tok->fl, C_Decrypt, s, (CK_BYTE_PTR)in, in_len, out, out_len);
    }
    return rv;
}

/* Runs one operation with a pooled session and one retry after a
 * recoverable failure; *out_len is in: capacity, out: length. */
static p11jwt_rc crypt(p11_aead *a, int seal, CK_GCM_PARAMS *gp, const unsigned char *in,
                       size_t in_len, unsigned char *out, size_t *out_len)
{
    p11jwt_rc rc = P11JWT_OK;
    CK_RV rv = CKR_OK;

    for (int attempt = 0;; attempt++) {
        CK_SESSION_HANDLE s;
        CK_ULONG n = (CK_ULONG)*out_len;

        rc = p11_session_get(a->tok, 1, &s);
        if (rc != P11JWT_OK)
            return rc;
        rv = crypt_once(a, s, seal, gp, in, in_len, out, &n, &rc);
        if (rc != P11JWT_OK || rv == CKR_OK) {
            p11_session_put(a->tok, s);
            *out_len = n;
            return rc;
        }
        /* A failed C_Decrypt (a bad tag) ends the operation; anything else
         * that is not recoverable leaves the session usable too. */
        if (p11_session_recover(a->tok, s, rv, attempt))
            continue;
        if (p11_rv_session_lost(rv))
            p11_session_lost(a->tok, s, rv);
        else
            p11_session_put(a->tok, s);
        break;
    }
    if (!seal && (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
                  rv == CKR_FUNCTION_FAILED || rv == CKR_GENERAL_ERROR))
        return p11_fail(P11JWT_ERR_CRYPTO, rv, "the value does not decrypt with the key");
    return p11_fail(P11JWT_ERR_PKCS11, rv, seal ? "encryption failed" : "decryption failed");
}

p11jwt_rc p11_aead_seal(p11_aead *a, const unsigned char *aad, size_t aad_len,
                        const unsigned char *in, size_t in_len, unsigned char **out,
                        size_t *out_len)
{
    unsigned char *buf;
    size_t n = in_len + P11_AEAD_TAG;
    CK_GCM_PARAMS gp;
    p11jwt_rc rc;

    *out = NULL;
    *out_len = 0;
    buf = malloc(P11_AEAD_IV + n);
    if (buf == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (RAND_bytes(buf, P11_AEAD_IV) != 1) {
        free(buf);
        return err_set(P11JWT_ERR_CRYPTO, "no random bytes for an IV");
    }
    gp = (CK_GCM_PARAMS){ buf, P11_AEAD_IV, P11_AEAD_IV * 8, (unsigned char *)aad, aad_len,
                          P11_AEAD_TAG * 8 };
    rc = crypt(a, 1, &gp, in, in_len, buf + P11_AEAD_IV, &n);
    if (rc == P11JWT_OK && n != in_len + P11_AEAD_TAG)
        rc = err_set(P11JWT_ERR_PKCS11, "the token returned %zu bytes of AES-GCM for %zu", n,
                     in_len);
    if (rc != P11JWT_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = P11_AEAD_IV + n;
    return P11JWT_OK;
}

p11jwt_rc p11_aead_open_value(p11_aead *a, const unsigned char *aad, size_t aad_len,
                              const unsigned char *in, size_t in_len, unsigned char **out,
                              size_t *out_len)
{
    unsigned char iv[P11_AEAD_IV], *buf;
    size_t n;
    CK_GCM_PARAMS gp;
    p11jwt_rc rc;

    *out = NULL;
    *out_len = 0;
    if (in_len < P11_AEAD_IV + P11_AEAD_TAG)
        return err_set(P11JWT_ERR_CRYPTO, "a sealed value of %zu bytes is too short", in_len);
    n = in_len - P11_AEAD_IV;
    buf = malloc(n + 1);
    if (buf == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    memcpy(iv, in, P11_AEAD_IV);
    gp = (CK_GCM_PARAMS){ iv, P11_AEAD_IV, P11_AEAD_IV * 8, (unsigned char *)aad, aad_len,
                          P11_AEAD_TAG * 8 };
    rc = crypt(a, 0, &gp, in + P11_AEAD_IV, in_len - P11_AEAD_IV, buf, &n);
    if (rc == P11JWT_OK && n != in_len - P11_AEAD_IV - P11_AEAD_TAG)
        rc = err_set(P11JWT_ERR_CRYPTO, "the token returned %zu bytes for %zu of AES-GCM", n,
                     in_len - P11_AEAD_IV);
    if (rc != P11JWT_OK) {
        base_secret_free_n(buf, in_len - P11_AEAD_IV + 1);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return P11JWT_OK;
}
