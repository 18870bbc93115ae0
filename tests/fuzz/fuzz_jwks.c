/*
 * fuzz_jwks.c — JWK and JWKS reading (src/jose/jwk.c) and verification
 * against a JWKS (src/core/verify.c, p11jwt_verify_jwks). The input is a
 * JWKS, optionally followed by a NUL and a JWS to verify with it; without
 * one, a real ES256 JWS (made with PyJWT) is verified, so that a JWKS
 * holding its key reaches the signature and claims checks. Every EC JWK
 * read is written back and read again: the same key must come out, with
 * the same RFC 7638 thumbprint (an OKP one, Ed25519, too:
 * corpus/jwks/ed25519_okp_with_jws carries an EdDSA JWS PyJWT made); so is
 * every RSA JWK.
 */
#include "fuzz.h"

#include "base/base.h"
#include "jose/jose.h"

/* PyJWT, ES256, key k-ES256 (tests/fuzz/corpus/jwks/es256_pair). */
static const char default_jws[] =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImstRVMyNTYiLCJ0eXAiOiJKV1QifQ."
    "eyJpc3MiOiJzdmNAZXhhbXBsZS5jb20iLCJhdWQiOiJodHRwczovL3N0cy5leGFtcGxlLmNvbS90b2tlbiIs"
    "InN1YiI6InN2YyIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwLCJqdGkiOiJhYmMifQ."
    "6Hb2uol9OWypz9aaVu6hmmznjFwr1xHakgXCoFP5Z3XoiLnGj8m0qSpdNl5b1FD51vfGdyEbIluAeYL9gj98Tw";

static void round_trip(const json_t *jwk)
{
    jose_ec_pub a, b;
    json_t *again = NULL;
    char ta[44], tb[44];
    EVP_PKEY *pk = NULL;

    if (jose_ec_from_jwk(jwk, &a) != P11JWT_OK)
        return;
    FUZZ_CHECK(a.coord_len == 32 || a.coord_len == 48 || a.coord_len == 66);
    FUZZ_CHECK(jose_ec_jwk(&a, "kid", &again) == P11JWT_OK);
    FUZZ_CHECK(jose_ec_from_jwk(again, &b) == P11JWT_OK);
    FUZZ_CHECK(a.alg == b.alg && a.coord_len == b.coord_len);
    FUZZ_CHECK(memcmp(a.x, b.x, a.coord_len) == 0 && memcmp(a.y, b.y, a.coord_len) == 0);
    FUZZ_CHECK(jose_ec_thumbprint(&a, ta) == P11JWT_OK);
    FUZZ_CHECK(jose_ec_thumbprint(&b, tb) == P11JWT_OK);
    FUZZ_CHECK(strcmp(ta, tb) == 0);
    /* A point off the curve is refused here, never used. */
    if (jose_ec_pkey(&a, &pk) == P11JWT_OK)
        EVP_PKEY_free(pk);
    json_decref(again);
}

static void rsa_round_trip(const json_t *jwk)
{
    static jose_rsa_pub a, b;   /* 1 KiB moduli: off the stack */
    json_t *again = NULL;
    char ta[44], tb[44];
    EVP_PKEY *pk = NULL;

    if (jose_rsa_from_jwk(jwk, &a) != P11JWT_OK)
        return;
    FUZZ_CHECK(a.n_len > 0 && a.n[0] != 0 && a.e_len > 0 && a.e[0] != 0);
    FUZZ_CHECK(jose_rsa_jwk(&a, "kid", &again) == P11JWT_OK);
    FUZZ_CHECK(jose_rsa_from_jwk(again, &b) == P11JWT_OK);
    FUZZ_CHECK(a.alg == b.alg && a.n_len == b.n_len && a.e_len == b.e_len);
    FUZZ_CHECK(memcmp(a.n, b.n, a.n_len) == 0 && memcmp(a.e, b.e, a.e_len) == 0);
    FUZZ_CHECK(jose_rsa_thumbprint(&a, ta) == P11JWT_OK);
    FUZZ_CHECK(jose_rsa_thumbprint(&b, tb) == P11JWT_OK);
    FUZZ_CHECK(strcmp(ta, tb) == 0);
    if (jose_rsa_pkey(&a, &pk) == P11JWT_OK)
        EVP_PKEY_free(pk);
    json_decref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const p11jwt_verify_params vp = { "https://sts.example.com/token",
                                             "svc@example.com", 0, 1700000100 };
    char *s = fuzz_strndup(data, size), *h = NULL, *p = NULL;
    const char *jws;
    json_t *jwks, *k;
    size_t i;
    p11jwt_rc rc;

    if (s == NULL)
        return 0;
    jws = strlen(s) < size ? s + strlen(s) + 1 : default_jws;
    jwks = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    if (jwks != NULL) {
        const json_t *jwk;
        jose_ec_pub pub;

        round_trip(jwks);
        json_array_foreach(json_object_get(jwks, "keys"), i, k) {
            round_trip(k);
            rsa_round_trip(k);
        }
        if (jose_jwks_pick(jwks, NULL, &jwk) == P11JWT_OK)
            jose_ec_from_jwk(jwk, &pub);
        if (jose_jwks_pick(jwks, "k-ES256", &jwk) == P11JWT_OK)
            jose_ec_from_jwk(jwk, &pub);
        json_decref(jwks);
    }
    rc = p11jwt_verify_jwks(jws, s, &vp, &h, &p);
    FUZZ_CHECK((rc == P11JWT_OK) == (h != NULL && p != NULL));
    if (rc != P11JWT_OK)
        FUZZ_CHECK(strchr(p11jwt_errmsg(), '\n') == NULL);
    free(h);
    free(p);
    free(s);
    return 0;
}
