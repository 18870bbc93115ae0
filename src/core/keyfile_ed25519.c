/*
 * keyfile_ed25519.c — the parts of an Ed25519 private key read from a
 * provider's file (p11jwt_key_import_file, keyfile.c): its 32-byte private
 * key (RFC 8032's seed, what PKCS#8 holds and what CKA_VALUE takes) and
 * its public key, for the token's import and the kid's thumbprint.
 *
 * The decision: OpenSSL gives both as raw bytes into our buffers (no
 * BIGNUM, no copy of its own to clear); the caller wipes the seed.
 */
#include "core/core_int.h"

#include <openssl/err.h>
#include <string.h>

#define ED25519_LEN 32

p11jwt_rc core_ed25519_parts(const char *name, EVP_PKEY *pkey, unsigned char seed[32],
                             p11_ec_point *pt)
{
    size_t priv_len = ED25519_LEN, pub_len = ED25519_LEN;
    p11jwt_rc rc = P11JWT_OK;

    memset(pt, 0, sizeof *pt);
    if (EVP_PKEY_get_raw_private_key(pkey, seed, &priv_len) != 1 || priv_len != ED25519_LEN ||
        EVP_PKEY_get_raw_public_key(pkey, pt->x, &pub_len) != 1 || pub_len != ED25519_LEN)
        rc = err_set(P11JWT_ERR_CRYPTO, "%s: OpenSSL cannot give the Ed25519 key's parts",
                     ESC(name));
    ERR_clear_error();
    if (rc != P11JWT_OK) {
        base_wipe(seed, ED25519_LEN);
        return rc;
    }
    pt->alg = P11JWT_EDDSA;
    pt->coord_len = ED25519_LEN;
    return P11JWT_OK;
}
