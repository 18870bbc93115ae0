/*
 * test_pinning.c — which alg a key object signs with and what pins it
 * (p11_pin_decide): the curve and the HMAC key types pin, one allowed HMAC
 * mechanism pins, a generic secret otherwise pins none and takes the
 * caller's HS alg only when its allowed mechanisms (if any) permit it; an
 * RSA key pins only through one combined mechanism (CKM_SHA*_RSA_PKCS(_PSS)).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pkcs11/pkcs11_int.h"

static p11jwt_alg decide(CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, p11jwt_alg curve,
                         const CK_MECHANISM_TYPE *m, size_t n, int has, p11jwt_alg want,
                         p11_key_family *fam, p11jwt_pinned *pinned)
{
    return p11_pin_decide(cls, kt, curve, m, n, has, want, fam, pinned);
}

static void ec_pinned_by_curve(void **state)
{
    p11_key_family fam;
    p11jwt_pinned pinned;

    (void)state;
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_EC, P11JWT_ES384, NULL, 0, 0, P11JWT_ALG_UNKNOWN,
                            &fam, &pinned), P11JWT_ES384);
    assert_int_equal(fam, P11_FAMILY_EC);
    assert_int_equal(pinned, P11JWT_PINNED_KEY_TYPE);
    /* The caller's alg never overrides the curve: the caller compares. */
    assert_int_equal(decide(CKO_PUBLIC_KEY, CKK_EC, P11JWT_ES256, NULL, 0, 0, P11JWT_ES512, &fam,
                            &pinned), P11JWT_ES256);
    /* An unknown curve: no key p11jwt signs with, whatever the caller says. */
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_EC, P11JWT_ALG_UNKNOWN, NULL, 0, 0, P11JWT_ES256,
                            &fam, &pinned), P11JWT_ALG_UNKNOWN);
    assert_int_equal(fam, P11_FAMILY_OTHER);
    /* An RSA key never signs ES. */
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, P11JWT_ALG_UNKNOWN, NULL, 0, 0,
                            P11JWT_ES256, &fam, &pinned), P11JWT_ALG_UNKNOWN);
}

static void rsa_pinned_by_one_combined_mechanism(void **state)
{
    static const CK_MECHANISM_TYPE pss256[] = { CKM_SHA256_RSA_PKCS_PSS };
    static const CK_MECHANISM_TYPE rs512_again[] = { CKM_SHA512_RSA_PKCS, CKM_SHA512_RSA_PKCS };
    static const CK_MECHANISM_TYPE two[] = { CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS };
    static const CK_MECHANISM_TYPE with_raw[] = { CKM_SHA384_RSA_PKCS, CKM_RSA_PKCS };
    static const CK_MECHANISM_TYPE raw_pss[] = { CKM_RSA_PKCS_PSS };
    p11_key_family fam;
    p11jwt_pinned pinned;

    (void)state;
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, pss256, 1, 1, P11JWT_ALG_UNKNOWN, &fam,
                            &pinned), P11JWT_PS256);
    assert_int_equal(fam, P11_FAMILY_RSA);
    assert_int_equal(pinned, P11JWT_PINNED_MECHANISMS);
    /* the public half pins as its private half does (jwks reads it) */
    assert_int_equal(decide(CKO_PUBLIC_KEY, CKK_RSA, 0, pss256, 1, 1, P11JWT_ALG_UNKNOWN, &fam,
                            &pinned), P11JWT_PS256);
    /* the pinned alg wins; the caller compares */
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, rs512_again, 2, 1, P11JWT_RS256, &fam,
                            &pinned), P11JWT_RS512);
    /* two algs, or a raw mechanism that signs any hash: pins none */
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, two, 2, 1, P11JWT_ALG_UNKNOWN, &fam,
                            &pinned), P11JWT_ALG_UNKNOWN);
    assert_int_equal(pinned, P11JWT_PINNED_NONE);
    assert_int_equal(fam, P11_FAMILY_RSA);
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, two, 2, 1, P11JWT_PS256, &fam, &pinned),
                     P11JWT_PS256);
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, two, 2, 1, P11JWT_PS384, &fam, &pinned),
                     P11JWT_ALG_UNKNOWN);
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, with_raw, 2, 1, P11JWT_ALG_UNKNOWN, &fam,
                            &pinned), P11JWT_ALG_UNKNOWN);
    /* CKM_RSA_PKCS allows every RS alg (the host builds the DigestInfo) */
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, with_raw, 2, 1, P11JWT_RS512, &fam,
                            &pinned), P11JWT_RS512);
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, with_raw, 2, 1, P11JWT_PS512, &fam,
                            &pinned), P11JWT_ALG_UNKNOWN);
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, raw_pss, 1, 1, P11JWT_PS384, &fam,
                            &pinned), P11JWT_PS384);
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, raw_pss, 1, 1, P11JWT_RS384, &fam,
                            &pinned), P11JWT_ALG_UNKNOWN);
    /* no allowed mechanisms: any RS or PS alg the caller names, nothing else */
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, NULL, 0, 0, P11JWT_RS384, &fam, &pinned),
                     P11JWT_RS384);
    assert_int_equal(pinned, P11JWT_PINNED_NONE);
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, NULL, 0, 0, P11JWT_HS256, &fam, &pinned),
                     P11JWT_ALG_UNKNOWN);
    assert_int_equal(decide(CKO_PRIVATE_KEY, CKK_RSA, 0, NULL, 0, 0, P11JWT_ALG_UNKNOWN, &fam,
                            &pinned), P11JWT_ALG_UNKNOWN);
}

static void hmac_key_types_pin(void **state)
{
    static const CK_MECHANISM_TYPE other[] = { CKM_SHA512_HMAC };
    p11_key_family fam;
    p11jwt_pinned pinned;

    (void)state;
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_SHA384_HMAC, 0, NULL, 0, 0, P11JWT_HS256, &fam,
                            &pinned), P11JWT_HS384);
    assert_int_equal(pinned, P11JWT_PINNED_KEY_TYPE);
    assert_int_equal(fam, P11_FAMILY_HMAC);
    /* The key type wins over an allowed mechanism that disagrees. */
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_SHA256_HMAC, 0, other, 1, 1, P11JWT_ALG_UNKNOWN,
                            &fam, &pinned), P11JWT_HS256);
    /* An AES key is no HMAC key. */
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_AES, 0, NULL, 0, 0, P11JWT_HS256, &fam, &pinned),
                     P11JWT_ALG_UNKNOWN);
    assert_int_equal(fam, P11_FAMILY_OTHER);
}

static void one_allowed_mechanism_pins(void **state)
{
    static const CK_MECHANISM_TYPE one[] = { CKM_SHA512_HMAC, CKM_AES_CBC };
    static const CK_MECHANISM_TYPE same_twice[] = { CKM_SHA256_HMAC, CKM_SHA256_HMAC };
    p11_key_family fam;
    p11jwt_pinned pinned;

    (void)state;
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_GENERIC_SECRET, 0, one, 2, 1, P11JWT_ALG_UNKNOWN,
                            &fam, &pinned), P11JWT_HS512);
    assert_int_equal(pinned, P11JWT_PINNED_MECHANISMS);
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_GENERIC_SECRET, 0, one, 2, 1, P11JWT_HS256, &fam,
                            &pinned), P11JWT_HS512);
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_GENERIC_SECRET, 0, same_twice, 2, 1,
                            P11JWT_ALG_UNKNOWN, &fam, &pinned), P11JWT_HS256);
    assert_int_equal(pinned, P11JWT_PINNED_MECHANISMS);
}

static void generic_secret_takes_the_callers_alg(void **state)
{
    static const CK_MECHANISM_TYPE two[] = { CKM_SHA384_HMAC, CKM_SHA512_HMAC };
    static const CK_MECHANISM_TYPE none_hmac[] = { CKM_AES_CBC };
    p11_key_family fam;
    p11jwt_pinned pinned;

    (void)state;
    /* No CKA_ALLOWED_MECHANISMS: pins none; the caller's HS alg, else none. */
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_GENERIC_SECRET, 0, NULL, 0, 0, P11JWT_ALG_UNKNOWN,
                            &fam, &pinned), P11JWT_ALG_UNKNOWN);
    assert_int_equal(pinned, P11JWT_PINNED_NONE);
    assert_int_equal(fam, P11_FAMILY_HMAC);
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_GENERIC_SECRET, 0, NULL, 0, 0, P11JWT_HS384, &fam,
                            &pinned), P11JWT_HS384);
    assert_int_equal(pinned, P11JWT_PINNED_NONE);
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_GENERIC_SECRET, 0, NULL, 0, 0, P11JWT_ES256, &fam,
                            &pinned), P11JWT_ALG_UNKNOWN);
    /* Two HMACs allowed: pins none; either of them, not a third. */
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_GENERIC_SECRET, 0, two, 2, 1, P11JWT_HS512, &fam,
                            &pinned), P11JWT_HS512);
    assert_int_equal(pinned, P11JWT_PINNED_NONE);
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_GENERIC_SECRET, 0, two, 2, 1, P11JWT_HS256, &fam,
                            &pinned), P11JWT_ALG_UNKNOWN);
    /* Allowed mechanisms without any HMAC: no HS alg at all. */
    assert_int_equal(decide(CKO_SECRET_KEY, CKK_GENERIC_SECRET, 0, none_hmac, 1, 1, P11JWT_HS256,
                            &fam, &pinned), P11JWT_ALG_UNKNOWN);
}

static void pinned_names(void **state)
{
    (void)state;
    assert_string_equal(p11jwt_pinned_name(P11JWT_PINNED_NONE), "none");
    assert_string_equal(p11jwt_pinned_name(P11JWT_PINNED_KEY_TYPE), "key-type");
    assert_string_equal(p11jwt_pinned_name(P11JWT_PINNED_MECHANISMS), "mechanisms");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ec_pinned_by_curve),
        cmocka_unit_test(hmac_key_types_pin),
        cmocka_unit_test(rsa_pinned_by_one_combined_mechanism),
        cmocka_unit_test(one_allowed_mechanism_pins),
        cmocka_unit_test(generic_secret_takes_the_callers_alg),
        cmocka_unit_test(pinned_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
