/*
 * test_b64url.c — base64url against RFC 4648 §10's vectors (translated to
 * the url-safe alphabet, padding dropped), every length round-trip, and the
 * strict decoder refusing what a JWS must never contain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose.h"

/* RFC 4648 §10: BASE64("foobar") = "Zm9vYmFy" and its prefixes. */
static const struct { const char *in, *out; } rfc4648[] = {
    { "", "" },        { "f", "Zg" },         { "fo", "Zm8" },      { "foo", "Zm9v" },
    { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
};

static void rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        size_t n = strlen(rfc4648[i].in);
        char out[16];
        unsigned char *dec;
        size_t dec_len;

        assert_int_equal(jose_b64url_len(n), strlen(rfc4648[i].out));
        assert_int_equal(jose_b64url_encode((const unsigned char *)rfc4648[i].in, n, out),
                         strlen(rfc4648[i].out));
        assert_string_equal(out, rfc4648[i].out);
        assert_int_equal(jose_b64url_decode(out, strlen(out), &dec, &dec_len), P11JWT_OK);
        assert_int_equal(dec_len, n);
        assert_memory_equal(dec, rfc4648[i].in, n);
        free(dec);
    }
}

/* The two characters where base64url differs from base64: 0xfb 0xff → "-_". */
static void url_safe_alphabet(void **state)
{
    const unsigned char in[] = { 0xfb, 0xef, 0xff };
    char out[8];

    (void)state;
    jose_b64url_encode(in, sizeof in, out);
    assert_string_equal(out, "--__");
}

static void round_trip_all_lengths(void **state)
{
    unsigned char in[300];
    char enc[401];

    (void)state;
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof in; n++) {
        unsigned char *dec;
        size_t dec_len;

        jose_b64url_encode(in, n, enc);
        assert_int_equal(strlen(enc), jose_b64url_len(n));
        assert_null(strchr(enc, '='));
        assert_int_equal(jose_b64url_decode(enc, strlen(enc), &dec, &dec_len), P11JWT_OK);
        assert_int_equal(dec_len, n);
        assert_memory_equal(dec, in, n);
        free(dec);
    }
}

static void strict_decoder_refuses(void **state)
{
    static const char *const bad[] = {
        "Zg==",     /* padding */
        "Zm9v\n",   /* whitespace */
        "Zm+v",     /* standard alphabet */
        "Zm/v",
        "Z",        /* impossible length */
        "Zh",       /* non-zero trailing bits: "Zg" is the only encoding of "f" */
        "Zm9",      /* ditto for two bytes: "Zm8" */
        "Zm 9v",
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *dec = (unsigned char *)"sentinel";
        size_t dec_len = 99;

        assert_int_equal(jose_b64url_decode(bad[i], strlen(bad[i]), &dec, &dec_len),
                         P11JWT_ERR_JWS_MALFORMED);
        assert_null(dec);
        assert_int_equal(dec_len, 0);
        assert_non_null(strstr(p11jwt_errmsg(), "base64url"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors),
        cmocka_unit_test(url_safe_alphabet),
        cmocka_unit_test(round_trip_all_lengths),
        cmocka_unit_test(strict_decoder_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
