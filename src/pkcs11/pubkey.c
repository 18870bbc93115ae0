/*
 * pubkey.c — EC public keys as the token stores them: CKA_EC_PARAMS (a DER
 * curve OID) and CKA_EC_POINT (an uncompressed point, DER-wrapped in an
 * OCTET STRING by the spec, bare by some modules: we accept both), read
 * into raw coordinates (p11_ec_point) for the floors above to turn into
 * whatever they need (core: a JWK). Only the three NIST curves JWS names
 * are known, and Ed25519 (keygen_eddsa.c reads its params and key);
 * anything else is refused by name.
 */
#include "pkcs11/pkcs11_int.h"

#include <stdlib.h>
#include <string.h>

static const unsigned char oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const unsigned char oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const unsigned char oid_p521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };

p11jwt_alg p11_ec_params_alg(const unsigned char *der, size_t len)
{
    if (len == sizeof oid_p256 && memcmp(der, oid_p256, len) == 0)
        return P11JWT_ES256;
    if (len == sizeof oid_p384 && memcmp(der, oid_p384, len) == 0)
        return P11JWT_ES384;
    if (len == sizeof oid_p521 && memcmp(der, oid_p521, len) == 0)
        return P11JWT_ES512;
    if (p11_eddsa_params_match(der, len))
        return P11JWT_EDDSA;
    return P11JWT_ALG_UNKNOWN;
}

const unsigned char *p11_ec_params_der(p11jwt_alg alg, size_t *len)
{
    switch (alg) {
    case P11JWT_ES256: *len = sizeof oid_p256; return oid_p256;
    case P11JWT_ES384: *len = sizeof oid_p384; return oid_p384;
    case P11JWT_ES512: *len = sizeof oid_p521; return oid_p521;
    default: *len = 0; return NULL;
    }
}

/* Unwraps an OCTET STRING (short or long form length) when pt is one of
 * exactly the expected length; else leaves pt as the bare point. */
static void unwrap_point(const unsigned char **pt, size_t *len, size_t want)
{
    const unsigned char *p = *pt;
    size_t n = *len;

    if (n == want && p[0] == 0x04)
        return;                                  /* bare 04||X||Y */
    if (n >= 2 && p[0] == 0x04) {
        size_t hdr = 2, body = p[1];
        if (p[1] == 0x81 && n >= 3) {
            hdr = 3;
            body = p[2];
        }
        if (body == want && hdr + body == n) {
            *pt = p + hdr;
            *len = body;
        }
    }
}

p11jwt_rc p11_pubkey_read(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          p11_ec_point *pub)
{
    unsigned char *params = NULL, *point = NULL;
    size_t params_len = 0, point_len = 0, clen;
    const unsigned char *pt;
    CK_RV rv;
    p11jwt_rc rc = P11JWT_OK;

    memset(pub, 0, sizeof *pub);
    rv = p11_object_attr(t, s, o, CKA_EC_PARAMS, &params, &params_len);
    if (rv == CKR_OK)
        rv = p11_object_attr(t, s, o, CKA_EC_POINT, &point, &point_len);
    if (rv != CKR_OK) {
        rc = p11_fail(P11JWT_ERR_PKCS11, rv, "cannot read the EC public key");
        goto out;
    }
    pub->alg = p11_ec_params_alg(params, params_len);
    if (pub->alg == P11JWT_EDDSA) {
        rc = p11_eddsa_point(point, point_len, pub);
        goto out;
    }
    clen = base_alg_coord_len(pub->alg);
    if (clen == 0) {
        rc = err_set(P11JWT_ERR_ALG, "EC key on a curve JWS does not name (only P-256, P-384, "
                                     "P-521, Ed25519)");
        goto out;
    }
    pt = point;
    unwrap_point(&pt, &point_len, 1 + 2 * clen);
    if (point_len != 1 + 2 * clen || pt[0] != 0x04) {
        rc = err_set(P11JWT_ERR_PKCS11, "CKA_EC_POINT is not an uncompressed %s point",
                     base_alg_crv(pub->alg));
        goto out;
    }
    memcpy(pub->x, pt + 1, clen);
    memcpy(pub->y, pt + 1 + clen, clen);
    pub->coord_len = clen;
out:
    free(params);
    free(point);
    return rc;
}
