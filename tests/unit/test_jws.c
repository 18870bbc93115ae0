/*
 * test_jws.c — compact JWS against RFC 7515's worked examples: A.1 (HS256,
 * signed here through the jose_signer interface, byte-exact) and A.3
 * (ES256, verified from its published r||s), then what verification must
 * refuse: tampering, alg "none", an alg other than the key's, DER
 * signatures, JWE-shaped and truncated input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose.h"

/* RFC 7515 A.1: header {"typ":"JWT",CRLF "alg":"HS256"} and the payload
 * below, with the HMAC key given there as a JWK "k". */
static const char a1_header_b64[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
static const char a1_payload[] =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
static const char a1_key_b64[] =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
static const char a1_jws[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/* RFC 7515 A.3: ES256 over the same payload, header {"alg":"ES256"}. */
static const char a3_x[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char a3_y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
static const char a3_jws[] =
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

struct hmac_key {
    unsigned char *k;
    size_t len;
    int calls;
};

static p11jwt_rc hmac_sha256(void *ctx, const unsigned char *data, size_t len,
                             unsigned char *out, size_t *out_len)
{
    struct hmac_key *key = ctx;
    unsigned int n = 0;

    key->calls++;
    assert_true(*out_len >= 32);
    assert_non_null(HMAC(EVP_sha256(), key->k, (int)key->len, data, len, out, &n));
    *out_len = n;
    return P11JWT_OK;
}

static p11jwt_rc short_signer(void *ctx, const unsigned char *data, size_t len,
                              unsigned char *out, size_t *out_len)
{
    (void)ctx, (void)data, (void)len;
    memset(out, 0, 31);
    *out_len = 31;
    return P11JWT_OK;
}

static int setup_key(void **state)
{
    struct hmac_key *key = calloc(1, sizeof *key);

    if (key == NULL ||
        jose_b64url_decode(a1_key_b64, strlen(a1_key_b64), &key->k, &key->len) != P11JWT_OK)
        return -1;
    *state = key;
    return 0;
}

static int teardown_key(void **state)
{
    struct hmac_key *key = *state;

    free(key->k);
    free(key);
    return 0;
}

static void rfc7515_a1_sign_byte_exact(void **state)
{
    struct hmac_key *key = *state;
    jose_signer s = { P11JWT_HS256, NULL, hmac_sha256, key, 0 };
    char *jws = NULL;

    assert_int_equal(jose_jws_sign(&s, a1_header_b64, a1_payload, strlen(a1_payload), &jws),
                     P11JWT_OK);
    assert_int_equal(key->calls, 1);
    assert_string_equal(jws, a1_jws);
    free(jws);
}

static void rfc7515_a1_verify(void **state)
{
    struct hmac_key *key = *state;
    jose_verifier v = { P11JWT_HS256, NULL, hmac_sha256, key };
    jose_jws *j = NULL;

    assert_int_equal(jose_jws_parse(a1_jws, strlen(a1_jws), &j), P11JWT_OK);
    assert_int_equal(j->alg, P11JWT_HS256);
    assert_null(j->kid);
    assert_int_equal(j->signing_input_len, strrchr(a1_jws, '.') - a1_jws);
    assert_string_equal(json_string_value(json_object_get(j->payload, "iss")), "joe");
    assert_int_equal(jose_jws_verify(j, &v), P11JWT_OK);
    /* Same key, flipped signature bit. */
    j->sig[0] ^= 1;
    assert_int_equal(jose_jws_verify(j, &v), P11JWT_ERR_SIGNATURE);
    jose_jws_free(j);
}

static void signature_length_is_checked(void **state)
{
    jose_signer s = { P11JWT_HS256, "k", short_signer, NULL, 0 };
    char *jws = (char *)"sentinel";

    (void)state;
    assert_int_equal(jose_jws_sign(&s, a1_header_b64, "{}", 2, &jws), P11JWT_ERR_CRYPTO);
    assert_null(jws);
    assert_non_null(strstr(p11jwt_errmsg(), "31 bytes, expected 32"));
}

static p11jwt_rc a3_verifier(jose_verifier *v)
{
    json_t *jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", a3_x,
                            "y", a3_y);
    jose_ec_pub pub;
    p11jwt_rc rc = jose_ec_from_jwk(jwk, &pub);

    json_decref(jwk);
    if (rc == P11JWT_OK)
        rc = jose_ec_pkey(&pub, &v->pkey);
    v->alg = pub.alg;
    return rc;
}

static void rfc7515_a3_es256_verify(void **state)
{
    jose_verifier v = { 0 };
    jose_jws *j = NULL;

    (void)state;
    assert_int_equal(a3_verifier(&v), P11JWT_OK);
    assert_int_equal(v.alg, P11JWT_ES256);
    assert_int_equal(jose_jws_parse(a3_jws, strlen(a3_jws), &j), P11JWT_OK);
    assert_int_equal(j->sig_len, 64);
    assert_int_equal(jose_jws_verify(j, &v), P11JWT_OK);
    j->sig[63] ^= 0x80;
    assert_int_equal(jose_jws_verify(j, &v), P11JWT_ERR_SIGNATURE);
    jose_jws_free(j);
    EVP_PKEY_free(v.pkey);
}

/* Re-encodes the A.3 JWS with another header, keeping payload and sig. */
static char *with_header(const char *header_json)
{
    const char *dot = strchr(a3_jws, '.');
    size_t hlen = jose_b64url_len(strlen(header_json));
    char *out = malloc(hlen + strlen(dot) + 1);

    assert_non_null(out);
    jose_b64url_encode((const unsigned char *)header_json, strlen(header_json), out);
    strcpy(out + hlen, dot);
    return out;
}

static void alg_none_and_mismatch_refused(void **state)
{
    static const struct { const char *header; const char *msg; } cases[] = {
        { "{\"alg\":\"none\"}", "\"none\"" },
        { "{\"alg\":\"ES384\"}", "does not match" },
        { "{\"alg\":\"HS256\"}", "does not match" },
        { "{\"alg\":\"es256\"}", "not supported" },
        { "{\"alg\":\"RS256\"}", "does not match" },
        { "{\"alg\":\"RS1\"}", "not supported" },
    };
    jose_verifier v = { 0 };

    (void)state;
    assert_int_equal(a3_verifier(&v), P11JWT_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *jws = with_header(cases[i].header);
        jose_jws *j = NULL;

        assert_int_equal(jose_jws_parse(jws, strlen(jws), &j), P11JWT_OK);
        assert_int_equal(jose_jws_verify(j, &v), P11JWT_ERR_ALG);
        assert_non_null(strstr(p11jwt_errmsg(), cases[i].msg));
        jose_jws_free(j);
        free(jws);
    }
    EVP_PKEY_free(v.pkey);
}

static void der_signature_refused(void **state)
{
    /* A 70-byte DER-looking blob where r||s belongs: refused on length. */
    unsigned char der[70] = { 0x30, 0x44, 0x02, 0x20 };
    char sig_b64[96], *jws;
    const char *last = strrchr(a3_jws, '.');
    jose_verifier v = { 0 };
    jose_jws *j = NULL;

    (void)state;
    jose_b64url_encode(der, sizeof der, sig_b64);
    jws = malloc((size_t)(last - a3_jws) + 1 + strlen(sig_b64) + 1);
    assert_non_null(jws);
    memcpy(jws, a3_jws, (size_t)(last - a3_jws) + 1);
    strcpy(jws + (last - a3_jws) + 1, sig_b64);
    assert_int_equal(a3_verifier(&v), P11JWT_OK);
    assert_int_equal(jose_jws_parse(jws, strlen(jws), &j), P11JWT_OK);
    assert_int_equal(jose_jws_verify(j, &v), P11JWT_ERR_SIGNATURE);
    assert_non_null(strstr(p11jwt_errmsg(), "70 bytes, expected 64"));
    jose_jws_free(j);
    free(jws);
    EVP_PKEY_free(v.pkey);
}

static void malformed_input(void **state)
{
    static const char *const bad[] = {
        "",
        "   \n",
        "abc",
        "eyJhbGciOiJFUzI1NiJ9.e30",                  /* two parts */
        "eyJhbGciOiJFUzI1NiJ9.e30.AA.AA.AA",         /* JWE-shaped */
        "eyJhbGciOiJFUzI1NiJ9.e30.A",                /* bad base64url length */
        "bm90IGpzb24.e30.AA",                        /* header not JSON */
        "WzFd.e30.AA",                               /* header [1] */
        "e30.e30.AA",                                /* no alg */
        "eyJhbGciOiJFUzI1NiJ9.WzFd.AA",              /* payload [1] */
        "eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiYjY0Il19.e30.AA", /* crit */
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jose_jws *j = (jose_jws *)1;

        assert_int_equal(jose_jws_parse(bad[i], strlen(bad[i]), &j), P11JWT_ERR_JWS_MALFORMED);
        assert_null(j);
        assert_true(strlen(p11jwt_errmsg()) > 0);
    }
    /* A NUL anywhere in the bytes given, even after a whole JWS. */
    {
        char buf[sizeof a3_jws + 8];
        size_t n = strlen(a3_jws);
        jose_jws *j = NULL;

        memcpy(buf, a3_jws, n);
        memcpy(buf + n, "\0junk", 5);
        assert_int_equal(jose_jws_parse(buf, n + 5, &j), P11JWT_ERR_JWS_MALFORMED);
        assert_null(j);
        assert_non_null(strstr(p11jwt_errmsg(), "not a compact JWS: a NUL byte"));
        assert_int_equal(jose_jws_parse(buf, n, &j), P11JWT_OK);
        jose_jws_free(j);
    }
}

static void surrounding_whitespace_tolerated(void **state)
{
    char buf[sizeof a3_jws + 4];
    jose_jws *j = NULL;

    (void)state;
    snprintf(buf, sizeof buf, " %s\n", a3_jws);
    assert_int_equal(jose_jws_parse(buf, strlen(buf), &j), P11JWT_OK);
    assert_int_equal(j->signing_input_len, strrchr(a3_jws, '.') - a3_jws);
    assert_memory_equal(j->signing_input, a3_jws, j->signing_input_len);
    jose_jws_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rfc7515_a1_sign_byte_exact, setup_key, teardown_key),
        cmocka_unit_test_setup_teardown(rfc7515_a1_verify, setup_key, teardown_key),
        cmocka_unit_test(signature_length_is_checked),
        cmocka_unit_test(rfc7515_a3_es256_verify),
        cmocka_unit_test(alg_none_and_mismatch_refused),
        cmocka_unit_test(der_signature_refused),
        cmocka_unit_test(malformed_input),
        cmocka_unit_test(surrounding_whitespace_tolerated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
