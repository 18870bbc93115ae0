/*
 * core_int.h — floor 2's private header: the key handle p11jwt_key, which
 * joins a key in the token (pkcs11's p11_keyhandle) to its JOSE face (the
 * encoded header, the public key as a JWK). Core is where the PKCS#11 and
 * JOSE floors meet; neither sees the other. Floors above use core through
 * the public API only, so core has no interface header of its own.
 */
#ifndef P11JWT_CORE_INT_H
#define P11JWT_CORE_INT_H

#include "jose/jose.h"
#include "pkcs11/pkcs11.h"

struct p11jwt_key {
    p11_keyhandle *h;          /* the key in the token: signs */
    const char *kid;           /* borrowed from h */
    p11jwt_alg alg;
    int has_pub;
    jose_ec_pub pub;           /* EC: the public key, from the token's point */
    char *header_b64;          /* the JWS header, encoded once */
    size_t header_b64_len;
};

/* The token's EC point as JOSE's public key (same bytes). */
void core_pub_from_point(const p11_ec_point *point, jose_ec_pub *pub);

/* An Ed25519 private key decoded from file name (keyfile_ed25519.c): its
 * 32-byte private key into seed (the caller wipes it) and its public key
 * into *pt (alg EdDSA). */
p11jwt_rc core_ed25519_parts(const char *name, EVP_PKEY *pkey, unsigned char seed[32],
                             p11_ec_point *pt);

#endif
