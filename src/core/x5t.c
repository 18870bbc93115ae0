/*
 * x5t.c — the certificate thumbprints of a key's JWS header: "x5t" (SHA-1
 * of the DER certificate) and "x5t#S256" (SHA-256), base64url (RFC 7515
 * §4.1.7-8), for STSs that register a certificate (Entra ID, ADFS).
 *
 * The decision: the thumbprints go into the header p11jwt_key encodes once
 * (key.c), so a signature costs what it did; the header is decoded,
 * extended and encoded again here rather than built a second way, so it
 * keeps whatever key.c puts in it, in its order, with x5t after.
 */
#include "core/core_int.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* base64url of the digest md of n bytes into out (at least 44 bytes). */
static p11jwt_rc thumbprint(const EVP_MD *md, const unsigned char *der, size_t n, char out[44])
{
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (EVP_Digest(der, n, dgst, &len, md, NULL) != 1 || len > 32)
        return err_set(P11JWT_ERR_CRYPTO, "cannot hash the certificate");
    jose_b64url_encode(dgst, len, out);
    return P11JWT_OK;
}

/* The key's header with x5t / x5t#S256 set as which says (removed when
 * not asked), encoded into a new string. */
static p11jwt_rc header_with(const p11jwt_key *k, const core_cert *c, unsigned which,
                             char **out)
{
    static const struct {
        unsigned flag;
        const char *member;
    } prints[] = { { P11JWT_X5T, "x5t" }, { P11JWT_X5T_S256, "x5t#S256" } };
    unsigned char *json = NULL;
    size_t json_len = 0;
    json_t *h = NULL;
    char *dumped = NULL, tp[44];
    p11jwt_rc rc;

    *out = NULL;
    rc = jose_b64url_decode(k->header_b64, k->header_b64_len, &json, &json_len);
    if (rc != P11JWT_OK)
        return err_set(P11JWT_ERR_JSON, "the key's own header does not decode");
    h = json_loadb((const char *)json, json_len, 0, NULL);
    free(json);
    if (!json_is_object(h)) {
        json_decref(h);
        return err_set(P11JWT_ERR_JSON, "the key's own header is not a JSON object");
    }
    for (size_t i = 0; i < sizeof prints / sizeof prints[0] && rc == P11JWT_OK; i++) {
        json_object_del(h, prints[i].member);
        if ((which & prints[i].flag) == 0)
            continue;
        rc = thumbprint(prints[i].flag == P11JWT_X5T ? EVP_sha1() : EVP_sha256(), c->der,
                        c->der_len, tp);
        if (rc == P11JWT_OK && json_object_set_new(h, prints[i].member, json_string(tp)) != 0)
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    if (rc == P11JWT_OK &&
        (dumped = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (rc == P11JWT_OK && (*out = malloc(jose_b64url_len(strlen(dumped)) + 1)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (rc == P11JWT_OK)
        jose_b64url_encode((const unsigned char *)dumped, strlen(dumped), *out);
    free(dumped);
    json_decref(h);
    return rc;
}

p11jwt_rc p11jwt_key_x5t(p11jwt_key *k, const char *cert, unsigned which)
{
    core_cert c = { 0 };
    unsigned char *der = NULL;
    size_t der_len = 0;
    char *header = NULL;
    p11jwt_rc rc;

    err_clear();
    if ((which & ~(P11JWT_X5T | P11JWT_X5T_S256)) != 0)
        return err_set(P11JWT_ERR_ARG, "unknown thumbprint flags 0x%x", which);
    if (which == 0 && cert == NULL) {
        /* None asked: the header without them, no certificate needed. */
        rc = header_with(k, &c, 0, &header);
        goto set;
    }
    if (cert != NULL && strncmp(cert, "pkcs11:", 7) == 0) {
        if ((rc = p11_uri_refuse_pin_value(cert, P11JWT_ERR_URI, "the certificate URI")) !=
                P11JWT_OK ||
            (rc = p11_uri_check(cert, P11JWT_ERR_URI, "the certificate URI")) != P11JWT_OK)
            return rc;
    }
    if (cert != NULL && strncmp(cert, "pkcs11:", 7) != 0) {
        rc = core_cert_read_file(cert, &c);
    } else {
        rc = p11_cert_find(k->h, cert, &der, &der_len);
        if (rc == P11JWT_OK)
            rc = core_cert_from_der(der, der_len, &c);
    }
    if (rc == P11JWT_OK)
        rc = core_cert_check_key(k, &c);
    if (rc == P11JWT_OK)
        rc = header_with(k, &c, which, &header);
    if (rc != P11JWT_OK && which != 0)
        err_wrap(rc, "%s", which == P11JWT_X5T_S256 ? "x5t#S256" : "x5t");
set:
    if (rc == P11JWT_OK) {
        free(k->header_b64);
        k->header_b64 = header;
        k->header_b64_len = strlen(header);
    }
    core_cert_clear(&c);
    return rc;
}
