/*
 * pinning.c — which JWS alg a key object signs with, and what pins it:
 * the key type (an EC curve, CKK_SHA*_HMAC), CKA_ALLOWED_MECHANISMS (one
 * alg's mechanism), or nothing (a generic secret another tool made, an RSA
 * key without one combined mechanism: sign_rsa.c decides those).
 *
 * The decision: a key that pins no alg is usable only as an alg its
 * caller names (--alg, a profile's alg), and only when the key can be that
 * alg (its family; its allowed mechanisms, when it has any). p11jwt never
 * guesses: an HMAC key used as HS256 by one party and HS512 by another
 * would be a key for two algs.
 */
#include "pkcs11/pkcs11_int.h"

#include <stdlib.h>

const char *p11jwt_pinned_name(p11jwt_pinned p)
{
    switch (p) {
    case P11JWT_PINNED_KEY_TYPE: return "key-type";
    case P11JWT_PINNED_MECHANISMS: return "mechanisms";
    case P11JWT_PINNED_NONE: break;
    }
    return "none";
}

CK_MECHANISM_TYPE p11_hmac_mech(p11jwt_alg alg)
{
    switch (alg) {
    case P11JWT_HS256: return CKM_SHA256_HMAC;
    case P11JWT_HS384: return CKM_SHA384_HMAC;
    case P11JWT_HS512: return CKM_SHA512_HMAC;
    default: return 0;
    }
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

static int is_hs(p11jwt_alg alg)
{
    return p11_hmac_mech(alg) != 0;
}

UNITTEST p11jwt_alg p11_pin_decide(CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, p11jwt_alg curve_alg,
                                   const CK_MECHANISM_TYPE *allowed, size_t n_allowed,
                                   int has_allowed, p11jwt_alg want, p11_key_family *fam,
                                   p11jwt_pinned *pinned)
{
    p11jwt_alg one = P11JWT_ALG_UNKNOWN;
    int several = 0;

    *fam = P11_FAMILY_OTHER;
    *pinned = P11JWT_PINNED_NONE;
    if (cls != CKO_SECRET_KEY && kt == CKK_RSA) {
        *fam = P11_FAMILY_RSA;
        return p11_rsa_pin_decide(allowed, n_allowed, has_allowed, want, pinned);
    }
    if (cls != CKO_SECRET_KEY) {
        if (kt != CKK_EC || !p11jwt_alg_is_ec(curve_alg))
            return P11JWT_ALG_UNKNOWN;
        *fam = P11_FAMILY_EC;
        *pinned = P11JWT_PINNED_KEY_TYPE;
        return curve_alg;
    }
    switch (kt) {
    case CKK_SHA256_HMAC: one = P11JWT_HS256; break;
    case CKK_SHA384_HMAC: one = P11JWT_HS384; break;
    case CKK_SHA512_HMAC: one = P11JWT_HS512; break;
    case CKK_GENERIC_SECRET: break;
    default: return P11JWT_ALG_UNKNOWN;
    }
    *fam = P11_FAMILY_HMAC;
    if (one != P11JWT_ALG_UNKNOWN) {
        *pinned = P11JWT_PINNED_KEY_TYPE;
        return one;
    }
    /* A generic secret pins its alg through its one allowed HMAC mechanism. */
    for (size_t i = 0; i < n_allowed; i++) {
        p11jwt_alg a = hmac_mech_alg(allowed[i]);

        if (a == P11JWT_ALG_UNKNOWN)
            continue;
        if (one != P11JWT_ALG_UNKNOWN && one != a)
            several = 1;
        one = a;
    }
    if (one != P11JWT_ALG_UNKNOWN && !several) {
        *pinned = P11JWT_PINNED_MECHANISMS;
        return one;
    }
    /* Pins none: the caller's alg, if the key may run its mechanism. */
    if (!is_hs(want))
        return P11JWT_ALG_UNKNOWN;
    if (!has_allowed)
        return want;
    for (size_t i = 0; i < n_allowed; i++)
        if (allowed[i] == p11_hmac_mech(want))
            return want;
    return P11JWT_ALG_UNKNOWN;
}

p11jwt_alg p11_object_alg(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          CK_OBJECT_CLASS cls, p11jwt_alg want, p11_key_family *fam,
                          p11jwt_pinned *pinned)
{
    CK_KEY_TYPE kt = 0;
    CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof kt };
    unsigned char *buf = NULL;
    size_t len = 0;
    p11jwt_alg curve = P11JWT_ALG_UNKNOWN, alg;
    int has_allowed = 0;
    p11_key_family f;
    p11jwt_pinned p;

    if (fam == NULL)
        fam = &f;
    if (pinned == NULL)
        pinned = &p;
    *fam = P11_FAMILY_OTHER;
    *pinned = P11JWT_PINNED_NONE;
    if (P11_CALL(t->fl, C_GetAttributeValue, s, o, &a, 1) != CKR_OK)
        return P11JWT_ALG_UNKNOWN;
    if (cls != CKO_SECRET_KEY && kt == CKK_EC &&
        p11_object_attr(t, s, o, CKA_EC_PARAMS, &buf, &len) == CKR_OK)
        curve = p11_ec_params_alg(buf, len);
    else if ((cls == CKO_SECRET_KEY || kt == CKK_RSA) &&
             p11_object_attr(t, s, o, CKA_ALLOWED_MECHANISMS, &buf, &len) == CKR_OK)
        /* Absent (NSS, opencryptoki) or empty (SoftHSM's answer for a key
         * made without it): every mechanism is allowed. */
        has_allowed = len >= sizeof(CK_MECHANISM_TYPE);
    alg = p11_pin_decide(cls, kt, curve, has_allowed ? (const CK_MECHANISM_TYPE *)buf : NULL,
                         has_allowed ? len / sizeof(CK_MECHANISM_TYPE) : 0, has_allowed, want,
                         fam, pinned);
    free(buf);
    return alg;
}
