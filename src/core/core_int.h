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

/* ---- a key's X.509 certificate (certificate.c) ---- */

/* A parsed certificate and its DER bytes (what the thumbprints hash). */
typedef struct core_cert {
    X509 *x509;
    unsigned char *der;
    size_t der_len;
    int der_malloced;          /* der from malloc (a token's), else OpenSSL's */
} core_cert;

/* Reads a PEM (its first certificate) or DER file. */
p11jwt_rc core_cert_read_file(const char *path, core_cert *out);
/* Parses a token object's DER, taking der (freed also on failure). */
p11jwt_rc core_cert_from_der(unsigned char *der, size_t len, core_cert *out);
void core_cert_clear(core_cert *c);
/* Refuses (P11JWT_ERR_ARG) a certificate whose public key does not
 * verify a signature key k makes, and a secret key. One signature. */
p11jwt_rc core_cert_check_key(p11jwt_key *k, const core_cert *c);

#endif
