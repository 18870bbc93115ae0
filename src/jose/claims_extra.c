/*
 * claims_extra.c — the extra claims of an assertion checked and copied in
 * one pass, without a JSON tree: what a batch line costs beyond the
 * signature when a line brings a handful of claims.
 *
 * The decision: this path only ever says "done" or "not mine". It takes a
 * strict subset of JSON that it checks completely — an object whose names
 * carry no escapes, are unique in each object and are not one p11jwt sets;
 * strings of well-formed UTF-8 whose escapes it decodes and writes again;
 * integers of at most 18 digits; true, false, null; at most 16 levels and 64
 * members an object — and writes exactly what jansson's compact dump of the
 * parsed object writes. Everything else (malformed JSON, a real number, an
 * escaped or repeated or reserved name, \u0000, a lone surrogate, deeper
 * nesting) goes to the jansson path, which refuses it with the message it
 * always gave, or accepts and re-encodes it. So no check is lost and the
 * output never depends on the path; tests/unit/test_claims_extra.c holds the
 * two side by side on hostile inputs. A pure function of the bytes: no
 * allocation, no global state, every byte read once. It can also hand back
 * where each top-level member landed in the output, which is what lets a
 * batch line's members replace those given once on the command line
 * without a parse (claims_merge.c).
 */
#include "jose/jose.h"

#include "base/base.h"

#include <string.h>

#define MAX_DEPTH 16
#define MAX_MEMBERS JOSE_MAX_MEMBERS
#define MAX_INT_DIGITS 18 /* always within jansson's json_int_t (long long) */

/* The claims p11jwt sets itself; extras may not redefine them. nbf and
 * anything else are the caller's to add. All three letters long: a name
 * of another length is never one (the check runs for every member of
 * every batch line). */
static const char reserved[][3] = { "iss", "aud", "sub", "iat", "exp", "jti" };

int jose_claim_reserved(const char *name, size_t len)
{
    if (len != 3)
        return 0;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (name[0] == reserved[i][0] && name[1] == reserved[i][1] && name[2] == reserved[i][2])
            return 1;
    return 0;
}

/* The bytes a string holds as they are, run over in a tight loop: not
 * '"', '\\', a control or a byte of a multi-byte UTF-8 sequence. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
    /* 0x80 to 0xff: 0 */
};

struct cur {
    const unsigned char *p, *end;
    char *o;                    /* the output: never longer than what was read */
    char *out;                  /* where the output starts */
    jose_member *m;             /* the top level's members, or NULL */
    size_t nm;                  /* how many the top level has */
};

static void skip_ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* The next byte, or -1 at the end. */
static int peek(const struct cur *c)
{
    return c->p < c->end ? *c->p : -1;
}

static int hex4(const unsigned char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char h = p[i];
        unsigned d = h >= '0' && h <= '9'   ? (unsigned)(h - '0')
                   : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                   : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
                                          : 16;

        if (d == 16)
            return 0;
        *v = *v << 4 | d;
    }
    return 1;
}

/* Writes code point cp of a string as jansson does: " and \ escaped, the
 * short escapes, \u00XX (upper case) for other controls, UTF-8 otherwise. */
static char *put_cp(char *o, unsigned long cp)
{
    static const char hex[] = "0123456789ABCDEF";

    if (cp == '"' || cp == '\\') {
        *o++ = '\\';
        *o++ = (char)cp;
    } else if (cp < 0x20) {
        *o++ = '\\';
        switch (cp) {
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[cp >> 4];
            *o++ = hex[cp & 15];
        }
    } else if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* One escape at p (the backslash); its code point and the bytes it takes,
 * or 0 for what this path leaves to jansson (\u0000, a lone surrogate) or
 * what is not JSON. */
static size_t escape(const unsigned char *p, const unsigned char *end, unsigned long *cp)
{
    unsigned hi, lo;

    if (end - p < 2)
        return 0;
    switch (p[1]) {
    case '"': *cp = '"'; return 2;
    case '\\': *cp = '\\'; return 2;
    case '/': *cp = '/'; return 2;
    case 'b': *cp = '\b'; return 2;
    case 'f': *cp = '\f'; return 2;
    case 'n': *cp = '\n'; return 2;
    case 'r': *cp = '\r'; return 2;
    case 't': *cp = '\t'; return 2;
    case 'u': break;
    default: return 0;
    }
    if (end - p < 6 || !hex4(p + 2, &hi) || hi == 0 || (hi >= 0xdc00 && hi <= 0xdfff))
        return 0;
    if (hi < 0xd800 || hi > 0xdbff) {
        *cp = hi;
        return 6;
    }
    if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || !hex4(p + 8, &lo) || lo < 0xdc00 ||
        lo > 0xdfff)
        return 0;
    *cp = 0x10000 + ((unsigned long)(hi - 0xd800) << 10) + (lo - 0xdc00);
    return 12;
}

/* The string at c->p (its opening quote), written again. A name (name !=
 * NULL) may hold no escape; its raw bytes are handed back for the checks. */
static int string(struct cur *c, const unsigned char **name, size_t *name_len)
{
    const unsigned char *p = c->p + 1, *run = p;
    char *o = c->o;

    *o++ = '"';
    for (;;) {
        unsigned char ch;

        if (p >= c->end)
            return 0;
        ch = *p;
        if (plain[ch]) {
            p++;
            while (p < c->end && plain[*p])
                p++;
            continue;
        }
        if (ch == '"')
            break;
        if (ch < 0x20)
            return 0;
        if (ch >= 0x80) {
            size_t l = base_utf8_len(p, (size_t)(c->end - p));

            if (l == 0)
                return 0;
            p += l;
        } else {
            unsigned long cp;
            size_t l;

            if (name != NULL || (l = escape(p, c->end, &cp)) == 0)
                return 0;
            memcpy(o, run, (size_t)(p - run));
            o = put_cp(o + (p - run), cp);
            p += l;
            run = p;
        }
    }
    memcpy(o, run, (size_t)(p - run));
    o += p - run;
    *o++ = '"';
    if (name != NULL) {
        *name = c->p + 1;
        *name_len = (size_t)(p - *name);
    }
    c->p = p + 1;
    c->o = o;
    return 1;
}

static int number(struct cur *c)
{
    const unsigned char *s = c->p, *p = s, *digits;

    if (*p == '-')
        p++;
    digits = p;
    if (p >= c->end || *p < '0' || *p > '9')
        return 0;
    if (*p == '0') {
        p++;
        if (s != digits) /* -0: jansson writes 0 */
            return 0;
    } else {
        while (p < c->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p - digits > MAX_INT_DIGITS)
        return 0;
    /* A fraction or exponent: jansson's real, written its own way. */
    if (p < c->end && (*p == '.' || *p == 'e' || *p == 'E'))
        return 0;
    memcpy(c->o, s, (size_t)(p - s));
    c->o += p - s;
    c->p = p;
    return 1;
}

static int literal(struct cur *c, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return 0;
    memcpy(c->o, word, n);
    c->o += n;
    c->p += n;
    return 1;
}

static int object(struct cur *c, int depth);
static int array(struct cur *c, int depth);

static int value(struct cur *c, int depth)
{
    switch (peek(c)) {
    case '"': return string(c, NULL, NULL);
    case '{': return object(c, depth + 1);
    case '[': return array(c, depth + 1);
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    case '-': return number(c);
    default: return peek(c) >= '0' && peek(c) <= '9' ? number(c) : 0;
    }
}

/* An object at c->p; depth 1 is the claims object itself, written
 * without its braces, whose names may not be reserved. */
static int object(struct cur *c, int depth)
{
    struct {
        const unsigned char *s;
        size_t n;
    } names[MAX_MEMBERS];
    size_t n = 0;

    if (depth > MAX_DEPTH)
        return 0;
    c->p++;
    if (depth > 1)
        *c->o++ = '{';
    skip_ws(c);
    if (peek(c) == '}') {
        c->p++;
    } else {
        for (;;) {
            const unsigned char *name;
            size_t len;

            if (n == MAX_MEMBERS || peek(c) != '"')
                return 0;
            if (n > 0)
                *c->o++ = ',';
            if (c->m != NULL && depth == 1)
                c->m[n].off = (size_t)(c->o - c->out);
            if (!string(c, &name, &len))
                return 0;
            if (depth == 1 && jose_claim_reserved((const char *)name, len))
                return 0;
            for (size_t k = 0; k < n; k++)
                if (names[k].n == len && memcmp(names[k].s, name, len) == 0)
                    return 0;
            names[n].s = name;
            names[n++].n = len;
            skip_ws(c);
            if (peek(c) != ':')
                return 0;
            c->p++;
            *c->o++ = ':';
            skip_ws(c);
            if (!value(c, depth))
                return 0;
            if (c->m != NULL && depth == 1) {
                c->m[n - 1].name_len = len; /* raw: a name here has no escape */
                c->m[n - 1].len = (size_t)(c->o - c->out) - c->m[n - 1].off;
            }
            skip_ws(c);
            if (peek(c) == ',') {
                c->p++;
                skip_ws(c);
                continue;
            }
            if (peek(c) != '}')
                return 0;
            c->p++;
            break;
        }
    }
    if (depth > 1)
        *c->o++ = '}';
    else
        c->nm = n;
    return 1;
}

static int array(struct cur *c, int depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    c->p++;
    *c->o++ = '[';
    skip_ws(c);
    if (peek(c) == ']') {
        c->p++;
    } else {
        for (int first = 1;; first = 0) {
            if (!first)
                *c->o++ = ',';
            if (!value(c, depth))
                return 0;
            skip_ws(c);
            if (peek(c) == ',') {
                c->p++;
                skip_ws(c);
                continue;
            }
            if (peek(c) != ']')
                return 0;
            c->p++;
            break;
        }
    }
    *c->o++ = ']';
    return 1;
}

int jose_claims_extra_scan(const char *in, size_t len, char *out, size_t *out_len,
                           jose_member *m, size_t *n)
{
    struct cur c = { .p = (const unsigned char *)in, .end = (const unsigned char *)in + len,
                     .o = out, .out = out, .m = m };

    *out_len = 0;
    if (n != NULL)
        *n = 0;
    skip_ws(&c);
    if (peek(&c) != '{' || !object(&c, 1))
        return 0;
    skip_ws(&c);
    if (c.p != c.end)
        return 0;
    *out_len = (size_t)(c.o - out);
    if (n != NULL)
        *n = c.nm;
    return 1;
}

int jose_claims_extra_copy(const char *in, size_t len, char *out, size_t *out_len)
{
    return jose_claims_extra_scan(in, len, out, out_len, NULL, NULL);
}
