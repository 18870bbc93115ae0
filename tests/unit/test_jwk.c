/*
 * test_jwk.c — EC JWKs and RFC 7638 thumbprints: the RFC 7515 A.3 key's
 * thumbprint (as computed independently with Python's hashlib over the
 * canonical JSON of RFC 7638 §3.2), JWK export/import round trips, points
 * not on the curve, and finding keys in a JWKS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose.h"

static const char a3_x[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char a3_y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
static const char a3_thumbprint[] = "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U";

static json_t *a3_jwk(void)
{
    json_t *jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", a3_x,
                            "y", a3_y);

    assert_non_null(jwk);
    return jwk;
}

static void thumbprint_of_known_key(void **state)
{
    json_t *jwk = a3_jwk();
    jose_ec_pub pub;
    char tp[44];

    (void)state;
    assert_int_equal(jose_ec_from_jwk(jwk, &pub), P11JWT_OK);
    assert_int_equal(pub.alg, P11JWT_ES256);
    assert_int_equal(pub.coord_len, 32);
    assert_int_equal(jose_ec_thumbprint(&pub, tp), P11JWT_OK);
    assert_string_equal(tp, a3_thumbprint);
    json_decref(jwk);
}

static void jwk_round_trip(void **state)
{
    json_t *in = a3_jwk(), *out = NULL;
    jose_ec_pub pub, again;

    (void)state;
    assert_int_equal(jose_ec_from_jwk(in, &pub), P11JWT_OK);
    assert_int_equal(jose_ec_jwk(&pub, "my-kid", &out), P11JWT_OK);
    assert_string_equal(json_string_value(json_object_get(out, "x")), a3_x);
    assert_string_equal(json_string_value(json_object_get(out, "y")), a3_y);
    assert_string_equal(json_string_value(json_object_get(out, "kid")), "my-kid");
    assert_string_equal(json_string_value(json_object_get(out, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(out, "use")), "sig");
    assert_null(json_object_get(out, "d"));
    assert_int_equal(jose_ec_from_jwk(out, &again), P11JWT_OK);
    assert_memory_equal(&pub, &again, sizeof pub);
    json_decref(in);
    json_decref(out);
}

static void bad_jwks_refused(void **state)
{
    static const struct { const char *json; const char *msg; } cases[] = {
        { "{\"kty\":\"RSA\"}", "not an EC key" },
        { "{\"kty\":\"EC\",\"crv\":\"secp256k1\"}", "secp256k1" },
        { "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES512\",\"x\":\"AA\",\"y\":\"AA\"}",
          "alg \"ES512\"" },
        { "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}", "1 bytes, expected 32" },
        { "{\"kty\":\"EC\",\"crv\":\"P-256\",\"y\":\"AA\"}", "\"x\"" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *jwk = json_loads(cases[i].json, 0, NULL);
        jose_ec_pub pub;

        assert_non_null(jwk);
        assert_int_equal(jose_ec_from_jwk(jwk, &pub), P11JWT_ERR_JSON);
        if (strstr(p11jwt_errmsg(), cases[i].msg) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, p11jwt_errmsg(), cases[i].msg);
        json_decref(jwk);
    }
}

static void point_off_curve_refused(void **state)
{
    json_t *jwk = a3_jwk();
    jose_ec_pub pub;
    EVP_PKEY *pkey = NULL;

    (void)state;
    assert_int_equal(jose_ec_from_jwk(jwk, &pub), P11JWT_OK);
    assert_int_equal(jose_ec_pkey(&pub, &pkey), P11JWT_OK);
    EVP_PKEY_free(pkey);
    pkey = NULL;
    pub.y[31] ^= 1;
    assert_int_equal(jose_ec_pkey(&pub, &pkey), P11JWT_ERR_CRYPTO);
    assert_null(pkey);
    assert_non_null(strstr(p11jwt_errmsg(), "not a point on P-256"));
    json_decref(jwk);
}

/* The kid a pick took, or "" without one. */
static const char *picked_kid(const json_t *jwk)
{
    const char *kid = json_string_value(json_object_get(jwk, "kid"));

    return kid != NULL ? kid : "";
}

static void jwks_pick(void **state)
{
    json_t *k1 = a3_jwk(), *k2 = a3_jwk();
    json_t *jwks;
    const json_t *jwk;
    jose_ec_pub pub;

    (void)state;
    json_object_set_new(k1, "kid", json_string("one"));
    json_object_set_new(k2, "kid", json_string("two"));
    jwks = json_pack("{s:[{s:s,s:s}, o, o]}", "keys", "kty", "oct", "kid", "one", k1, k2);
    assert_non_null(jwks);

    assert_int_equal(jose_jwks_pick(jwks, "two", &jwk), P11JWT_OK);
    assert_string_equal(picked_kid(jwk), "two");
    assert_int_equal(jose_ec_from_jwk(jwk, &pub), P11JWT_OK);
    assert_int_equal(jose_jwks_pick(jwks, "one", &jwk), P11JWT_OK); /* skips the oct key */
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "EC");
    assert_int_equal(jose_jwks_pick(jwks, "three", &jwk), P11JWT_ERR_KEY_NOT_FOUND);
    assert_null(jwk);
    assert_non_null(strstr(p11jwt_errmsg(), "'three'"));
    /* No kid in the JWS and two EC keys: ambiguous, refused. */
    assert_int_equal(jose_jwks_pick(jwks, NULL, &jwk), P11JWT_ERR_KEY_NOT_FOUND);
    assert_non_null(strstr(p11jwt_errmsg(), "holds 2 "));
    json_decref(jwks);

    jwks = json_pack("{s:[]}", "keys");
    assert_int_equal(jose_jwks_pick(jwks, NULL, &jwk), P11JWT_ERR_KEY_NOT_FOUND);
    json_decref(jwks);
    jwks = json_pack("{s:{}}", "keys");
    assert_int_equal(jose_jwks_pick(jwks, NULL, &jwk), P11JWT_ERR_JSON);
    json_decref(jwks);
}

/* RFC 7517 §4.2/§4.3: a key for encryption, or whose key_ops lacks
 * "verify", never verifies a signature, by kid or as the only key. */
static void jwks_only_signature_keys(void **state)
{
    static const char *const bad_members[] = {
        "{\"use\":\"enc\"}", "{\"use\":1}", "{\"key_ops\":[\"sign\",\"encrypt\"]}",
        "{\"key_ops\":[]}", "{\"key_ops\":\"verify\"}",
    };
    const json_t *jwk;

    (void)state;
    for (size_t i = 0; i < sizeof bad_members / sizeof bad_members[0]; i++) {
        json_t *k = a3_jwk(), *extra = json_loads(bad_members[i], 0, NULL), *jwks;

        assert_non_null(extra);
        json_object_set_new(k, "kid", json_string("k"));
        json_object_update(k, extra);
        json_decref(extra);
        jwks = json_pack("{s:[o]}", "keys", k);
        assert_int_equal(jose_jwks_pick(jwks, "k", &jwk), P11JWT_ERR_KEY_NOT_FOUND);
        assert_non_null(strstr(p11jwt_errmsg(), "may not verify"));
        assert_int_equal(jose_jwks_pick(jwks, NULL, &jwk), P11JWT_ERR_KEY_NOT_FOUND);
        json_decref(jwks);
    }
    {   /* "use":"sig" and key_ops with verify are fine; an enc key beside a
         * sig key leaves the sig key the only candidate */
        json_t *k = a3_jwk(), *enc = a3_jwk(), *jwks;

        json_object_set_new(k, "use", json_string("sig"));
        json_object_set_new(k, "key_ops", json_pack("[s]", "verify"));
        json_object_set_new(enc, "use", json_string("enc"));
        jwks = json_pack("{s:[o,o]}", "keys", enc, k);
        assert_int_equal(jose_jwks_pick(jwks, NULL, &jwk), P11JWT_OK);
        assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
        json_decref(jwks);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thumbprint_of_known_key),
        cmocka_unit_test(jwk_round_trip),
        cmocka_unit_test(bad_jwks_refused),
        cmocka_unit_test(point_off_curve_refused),
        cmocka_unit_test(jwks_pick),
        cmocka_unit_test(jwks_only_signature_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
