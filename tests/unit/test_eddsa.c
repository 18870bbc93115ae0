/*
 * test_eddsa.c — EdDSA (Ed25519) across the floors, without a token: the
 * alg's facts; the OKP JWK of RFC 8037 appendix A (its thumbprint, A.3,
 * and its signature, A.4, both also checked with Python's cryptography);
 * OKP JWKs refused (X25519, short x, another alg); a mixed JWKS; what
 * pins an Ed25519 key; CKA_EC_PARAMS and CKA_EC_POINT as tokens give them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose.h"
#include "pkcs11/pkcs11_int.h"

/* RFC 8037 A.1 (public key), A.3 (thumbprint), A.4 (signature). */
static const char a1_x[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
static const char a3_thumbprint[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
static const char a4_input[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
static const char a4_sig[] =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

static json_t *a1_jwk(void)
{
    json_t *jwk = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", a1_x);

    assert_non_null(jwk);
    return jwk;
}

static void alg_facts(void **state)
{
    (void)state;
    assert_int_equal(P11JWT_EDDSA, 13);
    assert_string_equal(p11jwt_alg_name(P11JWT_EDDSA), "EdDSA");
    assert_int_equal(p11jwt_alg_from_name("EdDSA"), P11JWT_EDDSA);
    assert_int_equal(p11jwt_alg_from_name("EDDSA"), P11JWT_ALG_UNKNOWN);
    assert_int_equal(p11jwt_alg_from_name("Ed25519"), P11JWT_ALG_UNKNOWN);
    assert_int_equal(p11jwt_alg_sig_len(P11JWT_EDDSA), 64);
    assert_true(p11jwt_alg_is_asymmetric(P11JWT_EDDSA));
    assert_true(p11jwt_alg_is_asymmetric(P11JWT_ES256));
    assert_true(p11jwt_alg_is_asymmetric(P11JWT_PS512));
    assert_false(p11jwt_alg_is_asymmetric(P11JWT_HS256));
    assert_false(p11jwt_alg_is_rsa(P11JWT_EDDSA));
    assert_false(p11jwt_alg_is_ec(P11JWT_EDDSA));
    assert_string_equal(base_alg_crv(P11JWT_EDDSA), "Ed25519");
    /* no EC path may take it */
    assert_int_equal(base_alg_coord_len(P11JWT_EDDSA), 0);
    assert_null(base_alg_hash_name(P11JWT_EDDSA));
}

static void thumbprint_and_jwk(void **state)
{
    json_t *in = a1_jwk(), *out = NULL;
    jose_ec_pub pub, again;
    char tp[44];

    (void)state;
    assert_int_equal(jose_ec_from_jwk(in, &pub), P11JWT_OK);
    assert_int_equal(pub.alg, P11JWT_EDDSA);
    assert_int_equal(pub.coord_len, 32);
    assert_int_equal(jose_ec_thumbprint(&pub, tp), P11JWT_OK);
    assert_string_equal(tp, a3_thumbprint);
    assert_int_equal(jose_ec_jwk(&pub, "k1", &out), P11JWT_OK);
    assert_string_equal(json_string_value(json_object_get(out, "kty")), "OKP");
    assert_string_equal(json_string_value(json_object_get(out, "crv")), "Ed25519");
    assert_string_equal(json_string_value(json_object_get(out, "x")), a1_x);
    assert_string_equal(json_string_value(json_object_get(out, "kid")), "k1");
    assert_string_equal(json_string_value(json_object_get(out, "alg")), "EdDSA");
    assert_string_equal(json_string_value(json_object_get(out, "use")), "sig");
    assert_null(json_object_get(out, "y"));
    assert_null(json_object_get(out, "d"));
    assert_int_equal(json_object_size(out), 6);
    assert_int_equal(jose_ec_from_jwk(out, &again), P11JWT_OK);
    assert_memory_equal(&pub, &again, sizeof pub);
    json_decref(in);
    json_decref(out);
}

/* Checks signing input + sig (base64url) with the RFC 8037 A.1 key. */
static p11jwt_rc verify_a4(const char *input, const unsigned char *sig, size_t sig_len)
{
    json_t *jwk = a1_jwk();
    jose_ec_pub pub;
    jose_jws j = { 0 };
    jose_verifier v = { 0 };
    p11jwt_rc rc;

    assert_int_equal(jose_ec_from_jwk(jwk, &pub), P11JWT_OK);
    assert_int_equal(jose_ec_pkey(&pub, &v.pkey), P11JWT_OK);
    v.alg = P11JWT_EDDSA;
    j.alg = P11JWT_EDDSA;
    j.alg_name = "EdDSA";
    j.signing_input = input;
    j.signing_input_len = strlen(input);
    j.sig = (unsigned char *)sig;
    j.sig_len = sig_len;
    rc = jose_jws_verify(&j, &v);
    EVP_PKEY_free(v.pkey);
    json_decref(jwk);
    return rc;
}

static void rfc8037_signature(void **state)
{
    unsigned char *sig;
    size_t len;
    char other[sizeof a4_input];

    (void)state;
    assert_int_equal(jose_b64url_decode(a4_sig, strlen(a4_sig), &sig, &len), P11JWT_OK);
    assert_int_equal(len, 64);
    assert_int_equal(verify_a4(a4_input, sig, len), P11JWT_OK);
    /* one bit of the input, one bit of the signature, one byte short */
    memcpy(other, a4_input, sizeof other);
    other[sizeof other - 2] ^= 1;
    assert_int_equal(verify_a4(other, sig, len), P11JWT_ERR_SIGNATURE);
    sig[10] ^= 0x40;
    assert_int_equal(verify_a4(a4_input, sig, len), P11JWT_ERR_SIGNATURE);
    sig[10] ^= 0x40;
    assert_int_equal(verify_a4(a4_input, sig, len - 1), P11JWT_ERR_SIGNATURE);
    assert_non_null(strstr(p11jwt_errmsg(), "63 bytes, expected 64"));
    free(sig);
}

static void bad_okp_jwks_refused(void **state)
{
#define X "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    static const char *bad[] = {
        "{\"kty\":\"OKP\",\"crv\":\"X25519\"," X "\"}",      /* key agreement */
        "{\"kty\":\"OKP\",\"crv\":\"Ed448\"," X "\"}",       /* another curve */
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\"," X "x\"}",    /* 33 bytes */
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}",              /* no x */
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"alg\":\"ES256\"," X "\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\"," X "=\"}",    /* padding */
    };
#undef X
    jose_ec_pub pub;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *jwk = json_loads(bad[i], 0, NULL);

        assert_non_null(jwk);
        assert_int_equal(jose_ec_from_jwk(jwk, &pub), P11JWT_ERR_JSON);
        json_decref(jwk);
    }
    {
        json_t *jwk = json_loads(bad[0], 0, NULL);

        assert_int_equal(jose_ec_from_jwk(jwk, &pub), P11JWT_ERR_JSON);
        assert_non_null(strstr(p11jwt_errmsg(), "key-agreement"));
        json_decref(jwk);
    }
}

static void mixed_jwks(void **state)
{
    json_t *jwks = json_pack(
        "{s:[{s:s, s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]}", "keys", "kty", "EC", "crv",
        "P-256", "x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y",
        "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "kid", "ec", "kty", "OKP", "crv",
        "Ed25519", "x", a1_x, "kid", "ed");
    const json_t *jwk;
    jose_ec_pub pub;

    (void)state;
    assert_non_null(jwks);
    assert_int_equal(jose_jwks_pick(jwks, "ed", &jwk), P11JWT_OK);
    assert_int_equal(jose_ec_from_jwk(jwk, &pub), P11JWT_OK);
    assert_int_equal(pub.alg, P11JWT_EDDSA);
    assert_int_equal(jose_jwks_pick(jwks, "ec", &jwk), P11JWT_OK);
    assert_int_equal(jose_ec_from_jwk(jwk, &pub), P11JWT_OK);
    assert_int_equal(pub.alg, P11JWT_ES256);
    /* no kid and two keys: ambiguous */
    assert_int_equal(jose_jwks_pick(jwks, NULL, &jwk), P11JWT_ERR_KEY_NOT_FOUND);
    json_decref(jwks);
}

static void pinned_by_key_type(void **state)
{
    p11_key_family fam;
    p11jwt_pinned pinned;
    static const CK_MECHANISM_TYPE eddsa = CKM_EDDSA;

    (void)state;
    assert_int_equal(p11_pin_decide(CKO_PRIVATE_KEY, CKK_EC_EDWARDS, P11JWT_EDDSA, NULL, 0, 0,
                                    P11JWT_ALG_UNKNOWN, &fam, &pinned),
                     P11JWT_EDDSA);
    assert_int_equal(fam, P11_FAMILY_EDDSA);
    assert_int_equal(pinned, P11JWT_PINNED_KEY_TYPE);
    assert_int_equal(p11_pin_decide(CKO_PRIVATE_KEY, CKK_EC_EDWARDS, P11JWT_EDDSA, &eddsa, 1, 1,
                                    P11JWT_ES256, &fam, &pinned),
                     P11JWT_EDDSA);
    assert_int_equal(pinned, P11JWT_PINNED_KEY_TYPE);
    /* an Edwards key on another curve (Ed448), and an EC key claiming Ed25519 */
    assert_int_equal(p11_pin_decide(CKO_PRIVATE_KEY, CKK_EC_EDWARDS, P11JWT_ALG_UNKNOWN, NULL,
                                    0, 0, P11JWT_EDDSA, &fam, &pinned),
                     P11JWT_ALG_UNKNOWN);
    assert_int_equal(p11_pin_decide(CKO_PRIVATE_KEY, CKK_EC, P11JWT_EDDSA, NULL, 0, 0,
                                    P11JWT_EDDSA, &fam, &pinned),
                     P11JWT_ALG_UNKNOWN);
}

static void params_and_point(void **state)
{
    static const unsigned char oid[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
    static const unsigned char str[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd',
                                         's', '2', '5', '5', '1', '9' };
    static const unsigned char ed448[] = { 0x06, 0x03, 0x2b, 0x65, 0x71 };
    unsigned char der[34] = { 0x04, 0x20 }, bad[33] = { 0 };
    p11_ec_point pt;

    (void)state;
    assert_int_equal(p11_ec_params_alg(oid, sizeof oid), P11JWT_EDDSA);
    assert_int_equal(p11_ec_params_alg(str, sizeof str), P11JWT_EDDSA);
    assert_int_equal(p11_ec_params_alg(ed448, sizeof ed448), P11JWT_ALG_UNKNOWN);
    for (int i = 0; i < 32; i++)
        der[2 + i] = (unsigned char)(0xa0 + i);
    assert_int_equal(p11_eddsa_point(der, sizeof der, &pt), P11JWT_OK);
    assert_int_equal(pt.alg, P11JWT_EDDSA);
    assert_int_equal(pt.coord_len, 32);
    assert_memory_equal(pt.x, der + 2, 32);
    /* the bare 32 bytes, as some tokens give them */
    memset(&pt, 0, sizeof pt);
    assert_int_equal(p11_eddsa_point(der + 2, 32, &pt), P11JWT_OK);
    assert_memory_equal(pt.x, der + 2, 32);
    assert_int_equal(p11_eddsa_point(bad, sizeof bad, &pt), P11JWT_ERR_PKCS11);
    der[1] = 0x21;
    assert_int_equal(p11_eddsa_point(der, sizeof der, &pt), P11JWT_ERR_PKCS11);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alg_facts),
        cmocka_unit_test(thumbprint_and_jwk),
        cmocka_unit_test(rfc8037_signature),
        cmocka_unit_test(bad_okp_jwks_refused),
        cmocka_unit_test(mixed_jwks),
        cmocka_unit_test(pinned_by_key_type),
        cmocka_unit_test(params_and_point),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
