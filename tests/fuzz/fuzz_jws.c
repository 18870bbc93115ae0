/*
 * fuzz_jws.c — compact JWS (src/jose/jws.c, jws_verify.c, claims_check.c
 * and src/core/verify.c's p11jwt_verify_secret): the one splitter, the
 * parser, the lenient peek the exchange uses on access tokens, and the
 * claims checks.
 *
 * An input that starts with '{' is a claims set: the target signs it with
 * a fixed HMAC secret and verifies it, so that the claims checks (exp,
 * nbf, iat with leeway, aud, iss) see what a fuzzer could never sign.
 * Anything else is taken as a JWS as received.
 */
#include "fuzz.h"

#include "base/base.h"
#include "jose/jose.h"

#include <openssl/hmac.h>

static const unsigned char secret[] = "fuzz-secret-0123456789abcdef0123";

static p11jwt_rc hmac_sign(void *ctx, const unsigned char *in, size_t len, unsigned char *sig,
                           size_t *sig_len)
{
    unsigned int n = 0;

    (void)ctx;
    if (HMAC(EVP_sha256(), secret, sizeof secret - 1, in, len, sig, &n) == NULL)
        return P11JWT_ERR_CRYPTO;
    *sig_len = n;
    return P11JWT_OK;
}

static const p11jwt_verify_params params[] = {
    { NULL, NULL, 0, 0 },  /* the clock */
    { "https://sts.example.com/token", "svc@example.com", 60, 1700000000 },
    { "aud", NULL, P11JWT_MAX_DURATION, P11JWT_MAX_TIME },
    { NULL, "iss", 0, 1 },
};

static void verify(const char *jws)
{
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        char *h = NULL, *p = NULL;
        p11jwt_rc rc = p11jwt_verify_secret(jws, P11JWT_HS256, secret, sizeof secret - 1,
                                            &params[i], &h, &p);

        FUZZ_CHECK((rc == P11JWT_OK) == (h != NULL && p != NULL));
        if (rc != P11JWT_OK)
            FUZZ_CHECK(strchr(p11jwt_errmsg(), '\n') == NULL);
        free(h);
        free(p);
    }
}

static void signed_claims(const char *payload, size_t n)
{
    jose_signer s = { P11JWT_HS256, "k1", hmac_sign, NULL, 0 };
    char *hdr = NULL, *jws = NULL;

    if (jose_header_b64(P11JWT_HS256, "k1", &hdr) == P11JWT_OK &&
        jose_jws_sign(&s, hdr, payload, n, &jws) == P11JWT_OK)
        verify(jws);
    free(jws);
    free(hdr);
}

static void as_received(const char *s, size_t n)
{
    jose_jws_parts parts;
    jose_jws *j = NULL;
    json_t *h = NULL, *p = NULL;
    int k = jose_jws_split(s, n, &parts);

    FUZZ_CHECK(k >= 1 && k <= 4);
    if (k >= 3) {
        FUZZ_CHECK(parts.header == s);
        FUZZ_CHECK(parts.sig + parts.sig_len <= s + n);
        FUZZ_CHECK(memchr(parts.header, '.', parts.header_len) == NULL);
        FUZZ_CHECK(memchr(parts.payload, '.', parts.payload_len) == NULL);
    }
    if (jose_jws_parse(s, n, &j) == P11JWT_OK) {
        FUZZ_CHECK(k == 3);
        FUZZ_CHECK(json_is_object(j->header) && json_is_object(j->payload));
        FUZZ_CHECK(j->alg_name != NULL);
        for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
            jose_claims_check(j, &params[i]);
        jose_jws_free(j);
    } else {
        FUZZ_CHECK(strchr(p11jwt_errmsg(), '\n') == NULL);
    }
    /* What the exchange does with an access token (not verified). */
    jose_jws_peek(s, &h, &p);
    json_decref(h);
    json_decref(p);
    jose_jwt_exp(s);
    verify(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);

    if (s == NULL)
        return 0;
    if (size > 0 && s[0] == '{')
        signed_claims(s, size);
    else
        as_received(s, size);
    free(s);
    return 0;
}
