/*
 * keyfile.c — p11jwt_key_import_file: a provider-issued private key, read
 * from its file like a secret (wiped when done), decoded on the host
 * (PEM or DER: PKCS#8, encrypted PKCS#8, SEC1, PKCS#1; RSA keys go on in
 * rsa_key.c), and put into the token as
 * a sensitive, non-extractable pair under its kid (default: the RFC 7638
 * thumbprint, computed before the key goes in, so no temporary ID is
 * needed).
 *
 * The decision: every refusal happens before the token is touched (not a
 * key, a public key, encrypted without a passphrase, a wrong passphrase,
 * a curve or type p11jwt does not sign with, a kid taken), so a bad file
 * leaves nothing behind; what the token refuses after that is destroyed
 * by pkcs11's import. OpenSSL never prompts: without a passphrase file an
 * encrypted key is an error, not a question on the terminal.
 */
#define _GNU_SOURCE /* memmem */
#include "core/core_int.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* A key file is small: a PKCS#8 RSA-4096 key in PEM is about 3.3 KiB. */
#define KEYFILE_MAX (64 * 1024)
/* A passphrase file, as a PIN file: one trailing newline stripped. */
#define PASS_MAX 1024

/* OpenSSL's PEM passphrase callback when the caller gave none: refuse,
 * never prompt. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Decodes data as a key of the given selection (private key, or public
 * key); 1 when it is one. */
static int decode(const unsigned char *data, size_t len, const unsigned char *pass,
                  size_t pass_len, int selection, EVP_PKEY **out)
{
    OSSL_DECODER_CTX *dctx;
    const unsigned char *p = data;
    size_t n = len;
    int ok = 0;

    *out = NULL;
    dctx = OSSL_DECODER_CTX_new_for_pkey(out, NULL, NULL, NULL, selection, NULL, NULL);
    if (dctx == NULL)
        return 0;
    if (pass != NULL ? OSSL_DECODER_CTX_set_passphrase(dctx, pass, pass_len) == 1
                     : OSSL_DECODER_CTX_set_pem_password_cb(dctx, no_passphrase, NULL) == 1)
        ok = OSSL_DECODER_from_data(dctx, &p, &n) == 1 && *out != NULL;
    OSSL_DECODER_CTX_free(dctx);
    ERR_clear_error();
    if (!ok) {
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    return ok;
}

/* Whether the file holds an encrypted key: PEM "ENCRYPTED PRIVATE KEY" (or
 * a legacy PEM's "Proc-Type: 4,ENCRYPTED"), or DER EncryptedPrivateKeyInfo. */
static int looks_encrypted(const unsigned char *data, size_t len)
{
    const unsigned char *p = data;
    X509_SIG *p8;

    if (memmem(data, len, "ENCRYPTED", 9) != NULL)
        return 1;
    p8 = d2i_X509_SIG(NULL, &p, (long)len);
    X509_SIG_free(p8);
    ERR_clear_error();
    return p8 != NULL && p == data + len;
}

/* Why a file that did not decode as a private key is refused. */
static p11jwt_rc why_not(const char *name, const unsigned char *data, size_t len, int has_pass)
{
    EVP_PKEY *pub = NULL;

    if (looks_encrypted(data, len))
        return has_pass ? err_set(P11JWT_ERR_ARG,
                                  "%s: cannot decrypt the key: wrong passphrase (or a cipher "
                                  "OpenSSL does not know)",
                                  ESC(name))
                        : err_set(P11JWT_ERR_ARG,
                                  "%s: the key is encrypted: give its passphrase with "
                                  "--pass-file",
                                  ESC(name));
    if (decode(data, len, NULL, 0, OSSL_KEYMGMT_SELECT_PUBLIC_KEY, &pub)) {
        EVP_PKEY_free(pub);
        return err_set(P11JWT_ERR_ARG,
                       "%s is a public key: import-key needs the private key the provider "
                       "issued",
                       ESC(name));
    }
    return err_set(P11JWT_ERR_ARG,
                   "%s is not a private key (PEM or DER: PKCS#8, encrypted PKCS#8, SEC1 EC, "
                   "PKCS#1 RSA)",
                   ESC(name));
}

/* The EC key's alg, private scalar (d, coord_len bytes) and point. */
static p11jwt_rc ec_parts(const char *name, EVP_PKEY *pkey, unsigned char d[66],
                          p11_ec_point *pt)
{
    char group[64] = "";
    BIGNUM *priv = NULL, *x = NULL, *y = NULL;
    p11jwt_rc rc = P11JWT_OK;
    size_t clen;

    if (!EVP_PKEY_is_a(pkey, "EC"))
        return err_set(P11JWT_ERR_ALG,
                       "%s holds a%s %s key: import-key takes EC keys on P-256, P-384 or "
                       "P-521 and RSA keys",
                       ESC(name), EVP_PKEY_is_a(pkey, "RSA-PSS") ? "n" : "",
                       EVP_PKEY_get0_type_name(pkey) != NULL ? EVP_PKEY_get0_type_name(pkey)
                                                             : "unknown");
    memset(pt, 0, sizeof *pt);
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       NULL) != 1 ||
        (pt->alg = base_alg_from_group(group)) == P11JWT_ALG_UNKNOWN) {
        ERR_clear_error();
        return err_set(P11JWT_ERR_ALG,
                       "%s: the key is on curve %s: p11jwt signs with P-256, P-384 and P-521",
                       ESC(name), group[0] != '\0' ? ESC(group) : "(unnamed)");
    }
    clen = pt->coord_len = base_alg_coord_len(pt->alg);
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1 ||
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
        BN_bn2binpad(priv, d, (int)clen) != (int)clen ||
        BN_bn2binpad(x, pt->x, (int)clen) != (int)clen ||
        BN_bn2binpad(y, pt->y, (int)clen) != (int)clen)
        rc = err_set(P11JWT_ERR_CRYPTO, "%s: OpenSSL cannot give the key's parts", ESC(name));
    ERR_clear_error();
    BN_clear_free(priv);
    BN_free(x);
    BN_free(y);
    return rc;
}

p11jwt_rc p11jwt_key_import_file(p11jwt_token *t, const char *key_path, const char *pass_path,
                                 const char *kid, const char *label, char **kid_out)
{
    return p11jwt_key_import_file_as(t, P11JWT_ALG_UNKNOWN, key_path, pass_path, kid, label,
                                     kid_out);
}

p11jwt_rc p11jwt_key_import_file_as(p11jwt_token *t, p11jwt_alg alg, const char *key_path,
                                    const char *pass_path, const char *kid, const char *label,
                                    char **kid_out)
{
    const char *name = key_path != NULL && strcmp(key_path, "-") != 0 ? key_path
                                                                       : "standard input";
    unsigned char *data = NULL, *pass = NULL, d[66];
    size_t len = 0, pass_len = 0;
    EVP_PKEY *pkey = NULL;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    p11_ec_point pt;
    p11_ec_pair pair;
    jose_ec_pub pub;
    char thumb[44], *made = NULL;
    p11jwt_rc rc;

    err_clear();
    *kid_out = NULL;
    if (label != NULL && label[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the label is empty");
    if (alg != P11JWT_ALG_UNKNOWN && !p11jwt_alg_is_asymmetric(alg))
        return err_set(P11JWT_ERR_ALG, "import-key takes private keys for ES256, ES384, ES512, "
                                       "RS256, RS384, RS512, PS256, PS384 or PS512, not %s",
                       p11jwt_alg_name(alg) != NULL ? p11jwt_alg_name(alg) : "that alg");
    if (pass_path != NULL && key_path != NULL && strcmp(pass_path, "-") == 0 &&
        strcmp(key_path, "-") == 0)
        return err_set(P11JWT_ERR_ARG, "the key and its passphrase cannot both come from "
                                       "standard input");
    rc = base_secret_read_raw(key_path != NULL ? key_path : "-", KEYFILE_MAX, &data, &len);
    if (rc == P11JWT_OK && pass_path != NULL) {
        rc = base_secret_read_file(pass_path, PASS_MAX, &pass, &pass_len);
        if (rc == P11JWT_OK && pass_len == 0)
            rc = err_set(P11JWT_ERR_ARG, "the passphrase in %s is empty", ESC(pass_path));
    }
    if (rc != P11JWT_OK)
        goto out;
    if (len == 0) {
        rc = err_set(P11JWT_ERR_ARG, "%s is empty", ESC(name));
        goto out;
    }
    if (!decode(data, len, pass, pass_len, OSSL_KEYMGMT_SELECT_PRIVATE_KEY, &pkey)) {
        rc = why_not(name, data, len, pass != NULL);
        goto out;
    }
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        rc = core_import_rsa(t, name, pkey, alg, kid, label, kid_out);
        goto out;
    }
    rc = ec_parts(name, pkey, d, &pt);
    if (rc == P11JWT_OK && alg != P11JWT_ALG_UNKNOWN && alg != pt.alg)
        rc = err_set(P11JWT_ERR_ALG, "%s holds an EC key on %s, which signs %s, not %s",
                     ESC(name), base_alg_crv(pt.alg), p11jwt_alg_name(pt.alg),
                     p11jwt_alg_name(alg));
    if (rc != P11JWT_OK)
        goto out;
    if (kid == NULL) {
        core_pub_from_point(&pt, &pub);
        rc = jose_ec_thumbprint(&pub, thumb);
        if (rc != P11JWT_OK)
            goto out;
        kid = thumb;
    }
    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK) {
        s = CK_INVALID_HANDLE;
        goto out;
    }
    rc = p11_kid_check_new(t, s, kid);
    if (rc == P11JWT_OK)
        rc = p11_import_ec(t, s, d, &pt, kid, label != NULL ? label : kid, &pair);
    if (rc == P11JWT_OK && (made = strdup(kid)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory (the key is in the token as '%s')",
                     ESC(kid));
    *kid_out = made;
out:
    base_wipe(d, sizeof d);
    base_wipe(&pt, sizeof pt);
    EVP_PKEY_free(pkey);
    base_secret_free_n(data, len + 1);
    base_secret_free_n(pass, pass_len + 1);
    if (s != CK_INVALID_HANDLE)
        p11_session_put(t, s);
    return rc;
}
