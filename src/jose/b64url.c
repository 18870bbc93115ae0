/*
 * b64url.c — base64url without padding (RFC 4648 §5, RFC 7515 §2).
 *
 * Decoding is strict on purpose: a JWS has exactly one encoding of its
 * bytes, so padding, whitespace, the standard alphabet's '+' and '/', and
 * non-zero bits in the final character are all refused.
 */
#include "jose/jose.h"

#include "base/base.h"

#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The characters of every 12 bits, as constant expressions. */
#define B64C(x)                                                                             \
    (char)((x) < 26 ? 'A' + (x) : (x) < 52 ? 'a' + (x) - 26 : (x) < 62 ? '0' + (x) - 52   \
                                          : (x) == 62 ? '-' : '_')
#define PAIR(i) { B64C((i) >> 6), B64C((i) & 63) }
#define P4(i) PAIR(i), PAIR((i) + 1), PAIR((i) + 2), PAIR((i) + 3)
#define P16(i) P4(i), P4((i) + 4), P4((i) + 8), P4((i) + 12)
#define P64(i) P16(i), P16((i) + 16), P16((i) + 32), P16((i) + 48)
#define P256(i) P64(i), P64((i) + 64), P64((i) + 128), P64((i) + 192)
#define P1024(i) P256(i), P256((i) + 256), P256((i) + 512), P256((i) + 768)
static const char pairs[4096][2] = { P1024(0), P1024(1024), P1024(2048), P1024(3072) };
#undef P1024
#undef P256
#undef P64
#undef P16
#undef P4
#undef PAIR
#undef B64C

/* 0..63 for alphabet characters, 0xff for anything else. */
static unsigned char decode_char(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (unsigned char)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (unsigned char)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (unsigned char)(c - '0' + 52);
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return 0xff;
}

size_t jose_b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t jose_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    char *o = out;
    size_t i = 0;

    /* Six bytes to eight characters a step, from one 8-byte load, two
     * characters a table look-up: byte by byte, the compiler must reload
     * in[] after each store (the two may alias), and that was most of an
     * assertion's base64url. */
    for (; i + 8 <= n; i += 6, o += 8) {
        uint64_t v;

        memcpy(&v, in + i, 8);
        v = be64toh(v);
        memcpy(o, pairs[v >> 52], 2);
        memcpy(o + 2, pairs[v >> 40 & 4095], 2);
        memcpy(o + 4, pairs[v >> 28 & 4095], 2);
        memcpy(o + 6, pairs[v >> 16 & 4095], 2);
    }
    for (; i + 3 <= n; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = alphabet[v >> 6 & 63];
        *o++ = alphabet[v & 63];
    }
    if (n - i == 1) {
        unsigned long v = (unsigned long)in[i] << 16;
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = alphabet[v >> 6 & 63];
    }
    *o = '\0';
    return (size_t)(o - out);
}

p11jwt_rc jose_b64url_decode(const char *in, size_t n, unsigned char **out, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t full = n / 4, rest = n % 4, len;
    unsigned char *buf, *o;

    *out = NULL;
    *out_len = 0;
    if (rest == 1)
        return err_set(P11JWT_ERR_JWS_MALFORMED,
                       "base64url: %zu characters is not a valid length", n);
    len = full * 3 + (rest == 0 ? 0 : rest - 1);
    buf = malloc(len + 1);
    if (buf == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    o = buf;
    for (size_t i = 0; i < n; i += 4) {
        size_t k = n - i < 4 ? n - i : 4;
        unsigned long v = 0;

        for (size_t j = 0; j < k; j++) {
            unsigned char d = decode_char(s[i + j]);

            if (d == 0xff) {
                free(buf);
                return err_set(P11JWT_ERR_JWS_MALFORMED,
                               "base64url: invalid character at offset %zu", i + j);
            }
            v = v << 6 | d;
        }
        if (k == 4) {
            *o++ = (unsigned char)(v >> 16);
            *o++ = (unsigned char)(v >> 8);
            *o++ = (unsigned char)v;
        } else if (k == 3) {
            if (v & 0x3) /* 18 bits carry 16 */
                goto trailing;
            *o++ = (unsigned char)(v >> 10);
            *o++ = (unsigned char)(v >> 2);
        } else { /* k == 2 */
            if (v & 0xf) /* 12 bits carry 8 */
                goto trailing;
            *o++ = (unsigned char)(v >> 4);
        }
    }
    *o = '\0';
    *out = buf;
    *out_len = len;
    return P11JWT_OK;

trailing:
    free(buf);
    return err_set(P11JWT_ERR_JWS_MALFORMED, "base64url: non-canonical final character");
}
