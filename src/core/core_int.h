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
    size_t sig_len;            /* its signatures' length */
    int has_rsa;
    jose_rsa_pub rsa;          /* RSA: the public key */
    char *header_b64;          /* the JWS header, encoded once */
    size_t header_b64_len;
};

/* Key k as JOSE's signer (assertions, the certificate check): its alg,
 * kid and signature length, and the token's signature (key.c). */
jose_signer core_key_signer(p11jwt_key *k);
/* The signer's callback (ctx: the p11jwt_key); also a token MAC's for
 * jose_verifier. */
p11jwt_rc core_key_sign_cb(void *ctx, const unsigned char *data, size_t len, unsigned char *sig,
                           size_t *sig_len);

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
/* ---- new pairs' names (kid.c) ---- */

/* A temporary CKA_ID for a pair made without a kid (*tmp_id, caller
 * frees); nothing (NULL) when kid is given. */
p11jwt_rc core_tmp_id(const char *kid, char **tmp_id);
/* Names a new pair (made under id): kid as given, else thumb (checked
 * free), set on both objects; on failure the pair is destroyed. *kid_out:
 * the kid (caller frees). */
p11jwt_rc core_name_pair(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                         CK_OBJECT_HANDLE pub, const char *thumb, const char *kid,
                         const char *id, const char *label, char **kid_out);

/* ---- RSA (rsa_key.c) ---- */

/* The token's RSA public key as JOSE's, pinned to alg (UNKNOWN: none). */
p11jwt_rc core_rsa_from_p11(const p11_rsa_pub *in, p11jwt_alg alg, jose_rsa_pub *out);
/* Generates an RSA pair (bits 0: 3072) on session s and names it. */
p11jwt_rc core_generate_rsa(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg,
                            unsigned bits, const char *kid, const char *label, char **kid_out);
/* The JWK of RSA public key object o under kid (NULL: none); its alg is
 * the one it (else the private key of that kid) pins, else none. */
p11jwt_rc core_rsa_jwk_of(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          const char *kid, json_t **out);
/* Imports the RSA key of a file (pkey, decoded by keyfile.c) as alg
 * (UNKNOWN: pinned to none) under kid (NULL: its thumbprint). */
p11jwt_rc core_import_rsa(p11jwt_token *t, const char *name, EVP_PKEY *pkey, p11jwt_alg alg,
                          const char *kid, const char *label, char **kid_out);
/* An Ed25519 private key decoded from file name (keyfile_ed25519.c): its
 * 32-byte private key into seed (the caller wipes it) and its public key
 * into *pt (alg EdDSA). */
p11jwt_rc core_ed25519_parts(const char *name, EVP_PKEY *pkey, unsigned char seed[32],
                             p11_ec_point *pt);

#endif
