/*
 * certificate.c — a key's X.509 certificate: read from a PEM or DER file or
 * from the token, checked to hold the key's public key, stored next to the
 * key (p11jwt_cert_import). The thumbprints the header carries are x5t.c's.
 *
 * The decision: a certificate "is the key's" when a signature the key makes
 * in the token verifies with the certificate's public key, through the same
 * JOSE verification every JWS gets. That holds for any alg the JOSE floor
 * verifies, and for keys whose token holds no public object; a wrong
 * certificate is refused here rather than found out as a silent x5t
 * mismatch at the STS.
 */
#include "core/core_int.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A certificate file is public, but read with the same care as any input:
 * bounded, NUL-free handling left to OpenSSL. 1 MiB holds any real chain. */
#define CERT_FILE_MAX (1024 * 1024)

static p11jwt_rc der_parse(const unsigned char *der, size_t len, const char *name, X509 **out)
{
    const unsigned char *p = der;

    *out = d2i_X509(NULL, &p, (long)len);
    if (*out == NULL)
        return err_set(P11JWT_ERR_ARG, "%s is not an X.509 certificate (PEM or DER)", name);
    if ((size_t)(p - der) != len) {
        X509_free(*out);
        *out = NULL;
        return err_set(P11JWT_ERR_ARG, "%s has %zu bytes after its DER certificate", name,
                       len - (size_t)(p - der));
    }
    return P11JWT_OK;
}

p11jwt_rc core_cert_read_file(const char *path, core_cert *out)
{
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    p11jwt_rc rc;
    int n;

    memset(out, 0, sizeof *out);
    if (path == NULL || path[0] == '\0' || strcmp(path, "-") == 0)
        return err_set(P11JWT_ERR_ARG, "name the certificate's file (PEM or DER)");
    rc = base_secret_read_raw(path, CERT_FILE_MAX, &data, &len);
    if (rc != P11JWT_OK)
        return err_wrap(rc, "certificate");
    if (len == 0) {
        rc = err_set(P11JWT_ERR_ARG, "certificate file %s is empty", ESC(path));
        goto out;
    }
    /* DER holds NULs before any text could; PEM holds none. */
    if (strstr((const char *)data, "-----BEGIN") != NULL) {
        /* PEM: the first certificate (the leaf, when the file is a chain). */
        bio = BIO_new_mem_buf(data, (int)len);
        out->x509 = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        if (out->x509 == NULL) {
            rc = err_set(P11JWT_ERR_ARG, "%s holds no PEM certificate (BEGIN CERTIFICATE)",
                         ESC(path));
            goto out;
        }
    } else {
        char name[ESC_CAP + 32];

        snprintf(name, sizeof name, "certificate file %s", ESC(path));
        if ((rc = der_parse(data, len, name, &out->x509)) != P11JWT_OK)
            goto out;
    }
    n = i2d_X509(out->x509, &out->der);
    if (n <= 0) {
        rc = err_set(P11JWT_ERR_CRYPTO, "cannot encode the certificate in %s", ESC(path));
        goto out;
    }
    out->der_len = (size_t)n;
out:
    BIO_free(bio);
    base_secret_free_n(data, len + 1);
    if (rc != P11JWT_OK)
        core_cert_clear(out);
    return rc;
}

p11jwt_rc core_cert_from_der(unsigned char *der, size_t len, core_cert *out)
{
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    rc = der_parse(der, len, "the certificate object", &out->x509);
    if (rc != P11JWT_OK) {
        free(der);
        return rc;
    }
    /* The object's own bytes: the thumbprint is of what the token holds. */
    out->der = der;
    out->der_len = len;
    out->der_malloced = 1;
    return P11JWT_OK;
}

void core_cert_clear(core_cert *c)
{
    X509_free(c->x509);
    if (c->der_malloced)
        free(c->der);
    else
        OPENSSL_free(c->der);
    memset(c, 0, sizeof *c);
}

static int alg_is_hs(p11jwt_alg alg)
{
    return alg == P11JWT_HS256 || alg == P11JWT_HS384 || alg == P11JWT_HS512;
}

p11jwt_rc core_cert_check_key(p11jwt_key *k, const core_cert *c)
{
    static const char payload[] = "{\"p11jwt\":\"does this certificate hold the key?\"}";
    jose_signer signer = core_key_signer(k);
    jose_verifier v = { k->alg, NULL, NULL, NULL };
    EVP_PKEY *pkey;
    jose_jws *j = NULL;
    char *jws = NULL;
    const char *type;
    p11jwt_rc rc;

    if (alg_is_hs(k->alg))
        return err_set(P11JWT_ERR_ARG, "key '%s' is a secret key (%s): a certificate names a "
                                       "public key, and x5t needs a private key", ESC(k->kid),
                       p11jwt_alg_name(k->alg));
    pkey = X509_get0_pubkey(c->x509);
    if (pkey == NULL)
        return err_set(P11JWT_ERR_ARG, "the certificate's public key cannot be read (an "
                                       "algorithm OpenSSL does not know?)");
    v.pkey = pkey;
    rc = jose_jws_sign(&signer, k->header_b64, payload, sizeof payload - 1, &jws);
    if (rc != P11JWT_OK)
        return err_wrap(rc, "key '%s' could not sign to check its certificate", ESC(k->kid));
    rc = jose_jws_parse(jws, strlen(jws), &j);
    if (rc == P11JWT_OK)
        rc = jose_jws_verify(j, &v);
    if (rc != P11JWT_OK) {
        type = EVP_PKEY_get0_type_name(pkey);
        rc = err_set(P11JWT_ERR_ARG,
                     "the certificate does not match key '%s': its public key (%s, %d bits) "
                     "does not verify the key's %s signature; the STS would refuse its "
                     "thumbprint", ESC(k->kid), type != NULL ? type : "unknown type",
                     EVP_PKEY_get_bits(pkey), p11jwt_alg_name(k->alg));
    }
    jose_jws_free(j);
    free(jws);
    return rc;
}

/* Opens key kid to check a certificate against. An RSA key that pins no alg
 * (a token that refused CKA_ALLOWED_MECHANISMS, a key made elsewhere) holds
 * one public key whatever it signs as: it is opened as RS256, else PS256
 * (its allowed mechanisms may permit only PSS). When neither opens, the
 * error is the plain open's. */
static p11jwt_rc open_any(p11jwt_token *tok, const char *kid, p11jwt_key **k)
{
    static const p11jwt_alg rsa[] = { P11JWT_RS256, P11JWT_PS256 };
    p11jwt_rc rc = p11jwt_key_open(tok, kid, k);

    if (rc != P11JWT_ERR_ALG)
        return rc;
    for (size_t i = 0; i < sizeof rsa / sizeof rsa[0]; i++)
        if (p11jwt_key_open_as(tok, kid, rsa[i], k) == P11JWT_OK)
            return P11JWT_OK;
    return p11jwt_key_open(tok, kid, k);
}

/* A name's DER into a new buffer (OPENSSL_free). */
static int name_der(const X509_NAME *name, unsigned char **out)
{
    *out = NULL;
    return i2d_X509_NAME(name, out);
}

p11jwt_rc p11jwt_cert_import(p11jwt_token *tok, const char *kid, const char *cert_path,
                             const char *label)
{
    p11jwt_key *k = NULL;
    core_cert c = { 0 };
    unsigned char *subject = NULL, *issuer = NULL, *serial = NULL;
    int subject_len, issuer_len, serial_len;
    p11_cert_attrs attrs;
    p11jwt_rc rc;

    err_clear();
    if (kid == NULL || kid[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "no kid given");
    if (label != NULL && label[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the label is empty");
    rc = core_cert_read_file(cert_path, &c);
    if (rc != P11JWT_OK)
        return rc;
    /* A key that pins no alg is checked as whatever it is opened as;
     * one that cannot open has no certificate to go with. */
    rc = open_any(tok, kid, &k);
    if (rc == P11JWT_OK)
        rc = core_cert_check_key(k, &c);
    if (rc != P11JWT_OK)
        goto out;
    subject_len = name_der(X509_get_subject_name(c.x509), &subject);
    issuer_len = name_der(X509_get_issuer_name(c.x509), &issuer);
    serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(c.x509), &serial);
    if (subject_len <= 0 || issuer_len <= 0 || serial_len <= 0) {
        rc = err_set(P11JWT_ERR_CRYPTO, "cannot encode the certificate's subject, issuer or "
                                        "serial number");
        goto out;
    }
    attrs = (p11_cert_attrs){ c.der, subject, issuer, serial, c.der_len, (size_t)subject_len,
                              (size_t)issuer_len, (size_t)serial_len };
    rc = p11_cert_store(tok, &attrs, kid, label != NULL ? label : kid);
out:
    OPENSSL_free(subject);
    OPENSSL_free(issuer);
    OPENSSL_free(serial);
    p11jwt_key_free(k);
    core_cert_clear(&c);
    return rc;
}
