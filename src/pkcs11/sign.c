/*
 * sign.c — one signature in the token with a key handle, with one retry
 * after a recoverable failure.
 *
 * ES*: the JWS signing input is hashed on the host (SoftHSM has no
 * CKM_ECDSA_SHA384 and friends) and CKM_ECDSA signs the digest; PKCS#11
 * returns r||s with each half the curve order's length, which is already
 * the JWS form (RFC 7518 §3.4), so there is no DER anywhere. HS*: the token
 * runs CKM_SHA*_HMAC. RS*, PS*: the mechanism sign_rsa.c chose, over the
 * data or the host's hash; the signature is the modulus length. EdDSA:
 * CKM_EDDSA over the whole signing input (no host hash; Ed25519 hashes
 * inside), 64 bytes (RFC 8037 §3.1). The hot path borrows a pooled session
 * and a cached object handle: no session open, no object search, no
 * allocation.
 */
#include "pkcs11/pkcs11_int.h"

#include <openssl/evp.h>
#include <string.h>

/* Why re-finding the key's handle on session s failed, when that is
 * something one recovery can fix: the session is lost, or the process is
 * no longer logged in (private keys are then out of sight). CKR_OK when
 * neither: the failure is final. */
static CK_RV refind_failure(p11_keyhandle *k, CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO si;
    CK_RV rv = P11_CALL(k->tok->fl, C_GetSessionInfo, s, &si);

    if (p11_rv_session_lost(rv))
        return rv;
    if (rv == CKR_OK && si.state != CKS_RO_USER_FUNCTIONS && si.state != CKS_RW_USER_FUNCTIONS)
        return CKR_USER_NOT_LOGGED_IN;
    return CKR_OK;
}

/* One attempt: C_SignInit + C_Sign on a borrowed session. */
static CK_RV sign_once(p11_keyhandle *k, CK_SESSION_HANDLE s, const unsigned char *in,
                       size_t in_len, unsigned char *sig, CK_ULONG *sig_len,
                       p11jwt_rc *rc)
{
    CK_MECHANISM mech = { k->mech, k->mech_param, k->mech_param_len };
    CK_OBJECT_HANDLE h;
    CK_RV rv;

    *rc = p11_keyhandle_object(k, s, &h);
    if (*rc == P11JWT_ERR_PKCS11 || *rc == P11JWT_ERR_KEY_NOT_FOUND) {
        /* The key is re-found after another recovery made every handle
         * stale, on a session that may have gone with the others or lost
         * its login: then recover as a failed C_SignInit would. */
        CK_RV why = refind_failure(k, s);

        if (why != CKR_OK) {
            *rc = P11JWT_OK;
            return why;
        }
    }
    if (*rc != P11JWT_OK)
        return CKR_OK;
    rv = P11_CALL(k->tok->fl, C_SignInit, s, &mech, h);
    if (rv != CKR_OK)
        return rv;
    return P11_CALL(k->tok->fl, C_Sign, s, (CK_BYTE_PTR)in, in_len, sig, sig_len);
}

p11jwt_rc p11_sign(p11_keyhandle *k, const unsigned char *data, size_t len, unsigned char *sig,
                   size_t *sig_len)
{
    unsigned char digest[P11_DIGEST_INFO_MAX + EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    const unsigned char *in = data;
    size_t in_len = len;
    size_t want = k->sig_len;
    p11jwt_rc rc = P11JWT_OK;
    CK_RV rv = CKR_OK;

    if (*sig_len < want)
        return err_set(P11JWT_ERR_ARG, "signature buffer of %zu bytes, %s needs %zu", *sig_len,
                       p11jwt_alg_name(k->alg), want);
    if (k->cls == CKO_PUBLIC_KEY)
        return err_set(P11JWT_ERR_KEY_NOT_FOUND,
                       "key '%s' has only its public half in token '%s': it cannot sign",
                       k->kid, k->tok->label);
    if (k->has_rsa) {
        rc = p11_rsa_input(&k->rsa, k->alg, k->md, data, len, digest, &in, &in_len);
        if (rc != P11JWT_OK)
            return rc;
    } else if (k->md != NULL) {
        if (EVP_Digest(data, len, digest, &digest_len, k->md, NULL) != 1)
            return err_set(P11JWT_ERR_CRYPTO, "hashing the signing input failed");
        in = digest;
        in_len = digest_len;
    }

    for (int attempt = 0;; attempt++) {
        CK_SESSION_HANDLE s;
        CK_ULONG out_len = (CK_ULONG)*sig_len;

        rc = p11_session_get(k->tok, 1, &s);
        if (rc != P11JWT_OK)
            return rc;
        rv = sign_once(k, s, in, in_len, sig, &out_len, &rc);
        if (rc != P11JWT_OK || rv == CKR_OK) {
            p11_session_put(k->tok, s);
            if (rc != P11JWT_OK)
                return rc;
            /* A short r||s (or RSA signature) would be silently wrong JWS:
             * check, never pad. */
            if (out_len != want)
                return err_set(P11JWT_ERR_PKCS11,
                               "the token returned a %lu-byte signature for %s (expected %zu)",
                               (unsigned long)out_len, p11jwt_alg_name(k->alg), want);
            *sig_len = out_len;
            return P11JWT_OK;
        }
        if (p11_session_recover(k->tok, s, rv, attempt))
            continue;                   /* s was given back or dropped */
        if (p11_rv_session_lost(rv))
            p11_session_lost(k->tok, s, rv);
        else
            p11_session_put(k->tok, s);
        break;
    }
    if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED || rv == CKR_MECHANISM_INVALID ||
        rv == CKR_KEY_TYPE_INCONSISTENT)
        return p11_fail(P11JWT_ERR_ALG, rv, "the token refused to sign with this key");
    return p11_fail(P11JWT_ERR_PKCS11, rv, "signing failed");
}
