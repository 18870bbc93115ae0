/*
 * test_rsa.c — RS and PS without a token: the alg table's RSA rows (names,
 * values, hash, no fixed signature length), RSA JWKs and the RFC 7638
 * §3.1 thumbprint, the JWKS choice among EC and RSA keys, RS/PS signature
 * checks against signatures OpenSSL made (and the ones that must fail),
 * and the DigestInfo the host puts before a hash for CKM_RSA_PKCS, compared
 * with OpenSSL's own DER encoding of one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose.h"
#include "pkcs11/pkcs11_int.h"

/* RFC 7638 §3.1's example key and its thumbprint. */
static const char rfc_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJE"
    "CPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2"
    "QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQF"
    "h6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char rfc_thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

static void alg_table_rows(void **state)
{
    static const struct {
        p11jwt_alg alg;
        int value;
        const char *name, *hash;
        int pss;
    } rows[] = {
        { P11JWT_RS256, 7, "RS256", "SHA256", 0 },  { P11JWT_RS384, 8, "RS384", "SHA384", 0 },
        { P11JWT_RS512, 9, "RS512", "SHA512", 0 },  { P11JWT_PS256, 10, "PS256", "SHA256", 1 },
        { P11JWT_PS384, 11, "PS384", "SHA384", 1 }, { P11JWT_PS512, 12, "PS512", "SHA512", 1 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_int_equal((int)rows[i].alg, rows[i].value);
        assert_string_equal(p11jwt_alg_name(rows[i].alg), rows[i].name);
        assert_int_equal(p11jwt_alg_from_name(rows[i].name), rows[i].alg);
        assert_string_equal(base_alg_hash_name(rows[i].alg), rows[i].hash);
        assert_int_equal(EVP_MD_get_size(base_alg_md(rows[i].alg)),
                         atoi(rows[i].hash + 3) / 8);
        /* the key's modulus says how long a signature is */
        assert_int_equal(p11jwt_alg_sig_len(rows[i].alg), 0);
        assert_true(p11jwt_alg_is_rsa(rows[i].alg));
        assert_true(p11jwt_alg_is_asymmetric(rows[i].alg));
        assert_false(p11jwt_alg_is_ec(rows[i].alg));
        assert_int_equal(base_alg_is_pss(rows[i].alg), rows[i].pss);
        assert_null(base_alg_crv(rows[i].alg));
    }
    /* the rows before them are as they were */
    assert_int_equal(p11jwt_alg_sig_len(P11JWT_ES512), 132);
    assert_int_equal(p11jwt_alg_sig_len(P11JWT_HS384), 48);
    assert_true(p11jwt_alg_is_asymmetric(P11JWT_ES256));
    assert_false(p11jwt_alg_is_asymmetric(P11JWT_HS256));
    assert_false(p11jwt_alg_is_rsa(P11JWT_HS512));
    assert_false(p11jwt_alg_is_rsa(P11JWT_ALG_UNKNOWN));
    /* exact names only */
    assert_int_equal(p11jwt_alg_from_name("rs256"), P11JWT_ALG_UNKNOWN);
    assert_int_equal(p11jwt_alg_from_name("PS256 "), P11JWT_ALG_UNKNOWN);
    assert_int_equal(p11jwt_alg_from_name("RS1"), P11JWT_ALG_UNKNOWN);
}

static json_t *rfc_jwk(const char *alg)
{
    json_t *jwk = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", rfc_n, "e", "AQAB");

    assert_non_null(jwk);
    if (alg != NULL)
        json_object_set_new(jwk, "alg", json_string(alg));
    return jwk;
}

static void rfc7638_thumbprint_and_jwk(void **state)
{
    json_t *jwk = rfc_jwk("RS256"), *out = NULL, *back;
    jose_rsa_pub *pub = malloc(sizeof *pub), *pub2 = malloc(sizeof *pub2);
    unsigned char *padded;
    char tp[44];

    (void)state;
    assert_non_null(pub);
    assert_non_null(pub2);
    assert_int_equal(jose_rsa_from_jwk(jwk, pub), P11JWT_OK);
    assert_int_equal(pub->alg, P11JWT_RS256);
    assert_int_equal(pub->n_len, 256);
    assert_int_equal(pub->e_len, 3);
    assert_int_equal(jose_rsa_thumbprint(pub, tp), P11JWT_OK);
    assert_string_equal(tp, rfc_thumbprint);

    /* leading zero bytes (as a token may give CKA_MODULUS) are dropped */
    padded = calloc(1, pub->n_len + 2);
    assert_non_null(padded);
    memcpy(padded + 2, pub->n, pub->n_len);
    assert_int_equal(jose_rsa_set(pub2, P11JWT_ALG_UNKNOWN, padded, pub->n_len + 2,
                                  (const unsigned char *)"\0\x01\x00\x01", 4),
                     P11JWT_OK);
    assert_int_equal(pub2->n_len, 256);
    assert_int_equal(jose_rsa_thumbprint(pub2, tp), P11JWT_OK);
    assert_string_equal(tp, rfc_thumbprint);
    free(padded);

    /* export: members in order, n and e as given, alg only when pinned */
    assert_int_equal(jose_rsa_jwk(pub, "k1", &out), P11JWT_OK);
    assert_string_equal(json_string_value(json_object_get(out, "n")), rfc_n);
    assert_string_equal(json_string_value(json_object_get(out, "e")), "AQAB");
    assert_string_equal(json_string_value(json_object_get(out, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(out, "use")), "sig");
    assert_int_equal(jose_rsa_from_jwk(out, pub2), P11JWT_OK);
    assert_int_equal(pub2->n_len, pub->n_len);
    assert_memory_equal(pub2->n, pub->n, pub->n_len);
    json_decref(out);
    assert_int_equal(jose_rsa_jwk(pub2 /* still RS256 */, NULL, &back), P11JWT_OK);
    json_decref(back);
    assert_int_equal(jose_rsa_set(pub2, P11JWT_ALG_UNKNOWN, pub->n, pub->n_len, pub->e, pub->e_len),
                     P11JWT_OK);
    assert_int_equal(jose_rsa_jwk(pub2, NULL, &out), P11JWT_OK);
    assert_null(json_object_get(out, "alg"));
    assert_null(json_object_get(out, "kid"));
    json_decref(out);

    /* an RSA JWK naming an alg RSA cannot sign, an EC JWK, no n */
    json_decref(jwk);
    jwk = rfc_jwk("HS256");
    assert_int_equal(jose_rsa_from_jwk(jwk, pub), P11JWT_ERR_JSON);
    json_object_set_new(jwk, "kty", json_string("EC"));
    assert_int_equal(jose_rsa_from_jwk(jwk, pub), P11JWT_ERR_JSON);
    json_decref(jwk);
    jwk = json_pack("{s:s, s:s}", "kty", "RSA", "e", "AQAB");
    assert_int_equal(jose_rsa_from_jwk(jwk, pub), P11JWT_ERR_JSON);
    json_decref(jwk);
    free(pub);
    free(pub2);
}

static void jwks_pick_rsa_and_ec(void **state)
{
    json_t *jwks = json_pack("{s:[{s:s,s:s,s:s,s:s}, {s:s,s:s,s:s,s:s,s:s}, {s:s,s:s,s:s,s:s}]}",
                             "keys", "kty", "RSA", "kid", "r", "n", rfc_n, "e", "AQAB", "kty",
                             "EC", "kid", "e", "crv", "P-256", "x", "x", "y", "y", "kty", "oct",
                             "kid", "s", "k", "c2VjcmV0", "use", "sig");
    const json_t *jwk;

    (void)state;
    assert_non_null(jwks);
    assert_int_equal(jose_jwks_pick(jwks, "r", &jwk), P11JWT_OK);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
    assert_int_equal(jose_jwks_pick(jwks, "e", &jwk), P11JWT_OK);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "EC");
    /* a secret is never a candidate; no kid and two keys: which one? */
    assert_int_equal(jose_jwks_pick(jwks, "s", &jwk), P11JWT_ERR_KEY_NOT_FOUND);
    assert_int_equal(jose_jwks_pick(jwks, NULL, &jwk), P11JWT_ERR_KEY_NOT_FOUND);
    json_decref(jwks);
}

/* An RS or PS signature by OpenSSL over msg with key, salt -1 for PSS's
 * "as long as the hash", else the given salt length. */
static size_t openssl_sign(EVP_PKEY *key, p11jwt_alg alg, int salt, const char *msg,
                           unsigned char *sig, size_t cap)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t len = cap;

    assert_non_null(md);
    assert_int_equal(EVP_DigestSignInit(md, &pctx, base_alg_md(alg), NULL, key), 1);
    if (base_alg_is_pss(alg)) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(
                             pctx, salt < 0 ? EVP_MD_get_size(base_alg_md(alg)) : salt),
                         1);
    }
    assert_int_equal(EVP_DigestSign(md, sig, &len, (const unsigned char *)msg, strlen(msg)), 1);
    EVP_MD_CTX_free(md);
    return len;
}

static p11jwt_rc check(EVP_PKEY *pub, p11jwt_alg alg, const char *msg, unsigned char *sig,
                       size_t len)
{
    jose_jws j = { 0 };
    jose_verifier v = { alg, pub, NULL, NULL };

    j.alg = alg;
    j.alg_name = p11jwt_alg_name(alg);
    j.signing_input = msg;
    j.signing_input_len = strlen(msg);
    j.sig = sig;
    j.sig_len = len;
    return jose_jws_verify(&j, &v);
}

static void rs_ps_signatures(void **state)
{
    static const p11jwt_alg algs[] = { P11JWT_RS256, P11JWT_RS384, P11JWT_RS512,
                                       P11JWT_PS256, P11JWT_PS384, P11JWT_PS512 };
    const char *msg = "eyJhbGciOiJQUzI1NiJ9.eyJpc3MiOiJ0In0";
    EVP_PKEY *key = EVP_RSA_gen(2048);
    unsigned char sig[512];
    size_t len;

    (void)state;
    assert_non_null(key);
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        p11jwt_alg other = base_alg_is_pss(algs[i]) ? algs[i] - 3 : algs[i] + 3;

        len = openssl_sign(key, algs[i], -1, msg, sig, sizeof sig);
        assert_int_equal(len, 256);
        assert_int_equal(check(key, algs[i], msg, sig, len), P11JWT_OK);
        /* the other padding, another message, a short signature: refused */
        assert_int_equal(check(key, other, msg, sig, len), P11JWT_ERR_SIGNATURE);
        assert_int_equal(check(key, algs[i], "eyJ9.e30", sig, len), P11JWT_ERR_SIGNATURE);
        assert_int_equal(check(key, algs[i], msg, sig + 1, len - 1), P11JWT_ERR_SIGNATURE);
    }
    /* PS with a salt other than the hash's length is not RFC 7518 PS256 */
    len = openssl_sign(key, P11JWT_PS256, 0, msg, sig, sizeof sig);
    assert_int_equal(check(key, P11JWT_PS256, msg, sig, len), P11JWT_ERR_SIGNATURE);
    EVP_PKEY_free(key);
    /* a valid signature by a 1024-bit key: the key is refused (RFC 7518 3.3) */
    key = EVP_RSA_gen(1024);
    assert_non_null(key);
    len = openssl_sign(key, P11JWT_RS256, -1, msg, sig, sizeof sig);
    assert_int_equal(check(key, P11JWT_RS256, msg, sig, len), P11JWT_ERR_ALG);
    assert_non_null(strstr(p11jwt_errmsg(), "1024 bits"));
    EVP_PKEY_free(key);
}

static void digest_info_is_der(void **state)
{
    static const p11jwt_alg algs[] = { P11JWT_RS256, P11JWT_RS384, P11JWT_RS512 };

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        const EVP_MD *md = base_alg_md(algs[i]);
        size_t dlen = (size_t)EVP_MD_get_size(md);
        unsigned char zeros[64] = { 0 }, ours[P11_DIGEST_INFO_MAX], *der = NULL;
        X509_SIG *di = X509_SIG_new();
        X509_ALGOR *a;
        ASN1_OCTET_STRING *d;
        int der_len;

        /* OpenSSL's encoding of DigestInfo { hash OID, NULL params; digest } */
        assert_non_null(di);
        X509_SIG_getm(di, &a, &d);
        assert_int_equal(X509_ALGOR_set0(a, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL),
                         1);
        assert_int_equal(ASN1_OCTET_STRING_set(d, zeros, (int)dlen), 1);
        der_len = i2d_X509_SIG(di, &der);
        assert_int_equal(der_len, (int)(P11_DIGEST_INFO_MAX + dlen));
        assert_int_equal(p11_rsa_digest_info(algs[i], ours), P11_DIGEST_INFO_MAX);
        assert_memory_equal(ours, der, P11_DIGEST_INFO_MAX);
        OPENSSL_free(der);
        X509_SIG_free(di);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alg_table_rows),
        cmocka_unit_test(rfc7638_thumbprint_and_jwk),
        cmocka_unit_test(jwks_pick_rsa_and_ec),
        cmocka_unit_test(rs_ps_signatures),
        cmocka_unit_test(digest_info_is_der),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
