/*
 * escape.c — the one way any text that came from outside (a kid, an alg,
 * a label, a claim name, a provider's error_description, a file name) is
 * shown in a message: as one line of printable text that says exactly
 * which bytes it was.
 *
 * The decision: escape rather than drop or replace. Control characters
 * become \n, \r, \t or \xNN, bytes that are not UTF-8 become \xNN, and the
 * code points that change how a terminal shows text without being visible
 * (C1 controls, line and paragraph separators, bidi overrides) become
 * \uNNNN; everything else, non-ASCII text included, is kept. A value's own
 * backslashes are doubled, so what is shown cannot be mistaken for an
 * escape; a whole message that already holds escaped values is passed
 * through once more with P11JWT_ESCAPE_MESSAGE (backslashes kept), which
 * only catches what a call site forgot.
 */
#include "base/base.h"

#include <stdio.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at p (at most n bytes) and its
 * code point, or 0 when the bytes are not one. */
static size_t utf8_decode(const unsigned char *p, size_t n, unsigned long *cp)
{
    unsigned char c = p[0];
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4 : 0;
    unsigned long v;

    if (len == 0 || len > n)
        return 0;
    v = len == 1 ? c : len == 2 ? c & 0x1fu : len == 3 ? c & 0x0fu : c & 0x07u;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[k] & 0x3fu);
    }
    /* overlong, surrogate, past U+10FFFF */
    if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
        (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
        return 0;
    *cp = v;
    return len;
}

size_t base_utf8_len(const unsigned char *p, size_t n)
{
    unsigned long cp;

    return utf8_decode(p, n, &cp);
}

/* Code points shown as \uNNNN: C1 controls, invisible direction and line
 * controls a terminal or log viewer would act on. */
static int invisible(unsigned long cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0xfeff;
}

size_t p11jwt_escape(char *dst, size_t cap, const char *src, size_t len, unsigned flags)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, cut = 0;

    if (cap == 0)
        return 0;
    if (src == NULL) {
        snprintf(dst, cap, "(null)");
        return strlen(dst);
    }
    for (size_t i = 0; i < len;) {
        char piece[16];
        size_t plen, step = 1;
        unsigned long cp = 0;
        size_t ulen = utf8_decode(s + i, len - i, &cp);

        if (ulen == 0) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", s[i]);
        } else if (ulen == 1 && (cp == '\n' || cp == '\r' || cp == '\t')) {
            piece[0] = '\\';
            piece[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
            plen = 2;
        } else if (ulen == 1 && (cp < 0x20 || cp == 0x7f)) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02lx", cp);
        } else if (ulen == 1 && cp == '\\' && !(flags & P11JWT_ESCAPE_MESSAGE)) {
            memcpy(piece, "\\\\", 2);
            plen = 2;
        } else if (invisible(cp)) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\u%04lx", cp);
            step = ulen;
        } else {
            memcpy(piece, s + i, ulen);
            plen = ulen;
            step = ulen;
        }
        if (o + plen + 1 > cap) {
            /* Cut after the last whole piece that leaves room for "...". */
            if (cap > 4) {
                memcpy(dst + cut, "...", 3);
                o = cut + 3;
            }
            break;
        }
        memcpy(dst + o, piece, plen);
        o += plen;
        i += step;
        if (o + 3 + 1 <= cap)
            cut = o;
    }
    dst[o] = '\0';
    return o;
}

const char *err_escape(char *buf, size_t cap, const char *s)
{
    p11jwt_escape(buf, cap, s, s != NULL ? strlen(s) : 0, 0);
    return buf;
}

const char *err_escape_n(char *buf, size_t cap, const void *s, size_t n)
{
    p11jwt_escape(buf, cap, s, n, 0);
    return buf;
}
