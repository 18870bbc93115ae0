/*
 * fuzz_escape.c — the one escape function (src/base/escape.c) every
 * echoed value and every message goes through: a kid, a label, a
 * provider's error_description, a file name. Checks, for several buffer
 * sizes and both modes: the result is NUL-terminated, fits, is one line of
 * printable ASCII or well-formed UTF-8 without C1 controls, separators or
 * bidi overrides; and escaping it again as a message changes nothing
 * (err_set passes every message through once more).
 */
#include "fuzz.h"

#include "base/base.h"

/* The code points escape.c shows as \uNNNN. */
static int invisible(unsigned long cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

static void check_line(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;

    for (size_t i = 0; i < n;) {
        size_t len = base_utf8_len(p + i, n - i);
        unsigned long cp;

        FUZZ_CHECK(len >= 1);
        cp = len == 1 ? p[i] : len == 2 ? p[i] & 0x1fu : len == 3 ? p[i] & 0x0fu : p[i] & 0x07u;
        for (size_t k = 1; k < len; k++)
            cp = cp << 6 | (p[i + k] & 0x3fu);
        FUZZ_CHECK(cp >= 0x20 && cp != 0x7f && !invisible(cp));
        i += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = { 1, 2, 4, 5, 7, 16, 64, 4096 };
    char out[4096], again[4096];

    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        for (unsigned flags = 0; flags <= P11JWT_ESCAPE_MESSAGE; flags++) {
            size_t n = p11jwt_escape(out, caps[c], (const char *)data, size, flags);

            FUZZ_CHECK(n < caps[c] && out[n] == '\0' && strlen(out) == n);
            check_line(out, n);
            if (caps[c] == sizeof out && 4 * size + 1 < sizeof out) {
                size_t m = p11jwt_escape(again, sizeof again, out, n, P11JWT_ESCAPE_MESSAGE);

                FUZZ_CHECK(m == n && memcmp(again, out, n) == 0);
            }
        }
    }
    return 0;
}
