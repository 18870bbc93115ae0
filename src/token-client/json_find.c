/*
 * json_find.c — finds one member of a JSON object and unescapes a string,
 * without building a tree or allocating: what p11jwt-token needs from the
 * agent's answers, and what the agent needs from an invalidate body.
 *
 * The scanner checks the whole text against the JSON grammar even when the
 * member comes first, so a truncated or doctored answer is refused rather
 * than half read. Recursion is bounded by PTC_JSON_MAX_DEPTH; every byte
 * is looked at a bounded number of times.
 */
#include "token-client/ptc.h"

#include <string.h>

struct scan {
    const char *p, *end;
    int depth;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* At an opening quote: moves past the string; its body in *body and *blen. */
static int scan_string(struct scan *s, const char **body, size_t *blen)
{
    const char *start;

    if (s->p >= s->end || *s->p != '"')
        return -1;
    start = ++s->p;
    while (s->p < s->end) {
        unsigned char ch = (unsigned char)*s->p;

        if (ch == '"') {
            *body = start;
            *blen = (size_t)(s->p - start);
            s->p++;
            return 0;
        }
        if (ch < 0x20)
            return -1;
        if (ch != '\\') {
            s->p++;
            continue;
        }
        if (s->end - s->p < 2)
            return -1;
        switch (s->p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            s->p += 2;
            break;
        case 'u':
            if (s->end - s->p < 6)
                return -1;
            for (int i = 2; i < 6; i++)
                if (hexval(s->p[i]) < 0)
                    return -1;
            s->p += 6;
            break;
        default:
            return -1;
        }
    }
    return -1;
}

static int scan_digits(struct scan *s)
{
    const char *start = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start ? 0 : -1;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(struct scan *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (scan_digits(s) != 0)
        return -1;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (scan_digits(s) != 0)
            return -1;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (scan_digits(s) != 0)
            return -1;
    }
    return 0;
}

static int scan_literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int scan_value(struct scan *s, ptc_json_type *type);

/* At '{' or '[': moves past the container. */
static int scan_container(struct scan *s, char close)
{
    const char *k;
    size_t kl;
    ptc_json_type t;

    if (++s->depth > PTC_JSON_MAX_DEPTH)
        return -1;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            if (scan_string(s, &k, &kl) != 0)
                return -1;
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return -1;
            s->p++;
        }
        if (scan_value(s, &t) != 0)
            return -1;
        skip_ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == close) {
            s->p++;
            s->depth--;
            return 0;
        }
        if (*s->p != ',')
            return -1;
        s->p++;
        skip_ws(s);
    }
}

static int scan_value(struct scan *s, ptc_json_type *type)
{
    const char *b;
    size_t bl;

    skip_ws(s);
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '"': *type = PTC_JSON_STRING; return scan_string(s, &b, &bl);
    case '{': *type = PTC_JSON_OBJECT; return scan_container(s, '}');
    case '[': *type = PTC_JSON_ARRAY; return scan_container(s, ']');
    case 't': *type = PTC_JSON_TRUE; return scan_literal(s, "true");
    case 'f': *type = PTC_JSON_FALSE; return scan_literal(s, "false");
    case 'n': *type = PTC_JSON_NULL; return scan_literal(s, "null");
    default:
        *type = PTC_JSON_NUMBER;
        return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) ? scan_number(s) : -1;
    }
}

int ptc_json_find(const char *json, size_t len, const char *key, ptc_json_type *type,
                  const char **val, size_t *vlen)
{
    struct scan s = { json, json + len, 1 };
    char name[128];
    int found = 0;

    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return -1;
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}') {
        s.p++;
    } else {
        for (;;) {
            const char *k, *v;
            size_t kl;
            ptc_json_type t;
            long nl;

            if (scan_string(&s, &k, &kl) != 0)
                return -1;
            skip_ws(&s);
            if (s.p >= s.end || *s.p != ':')
                return -1;
            s.p++;
            skip_ws(&s);
            v = s.p;
            if (scan_value(&s, &t) != 0)
                return -1;
            /* A name too long for the buffer (or with a lone surrogate)
             * cannot be one we look for. */
            nl = ptc_json_unescape(k, kl, name, sizeof name);
            if (nl >= 0 && strcmp(name, key) == 0) {
                if (found)
                    return -1;
                found = 1;
                *type = t;
                *val = t == PTC_JSON_STRING ? v + 1 : v;
                *vlen = (size_t)(s.p - v) - (t == PTC_JSON_STRING ? 2 : 0);
            }
            skip_ws(&s);
            if (s.p >= s.end)
                return -1;
            if (*s.p == '}') {
                s.p++;
                break;
            }
            if (*s.p != ',')
                return -1;
            s.p++;
            skip_ws(&s);
        }
    }
    skip_ws(&s);
    return s.p == s.end ? found : -1;
}

/* Appends code point cp as UTF-8; -1 when out of room. */
static int put_utf8(uint32_t cp, char *out, size_t cap, size_t *o)
{
    unsigned char b[4];
    size_t n;

    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xf0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    if (*o + n >= cap)
        return -1;
    memcpy(out + *o, b, n);
    *o += n;
    return 0;
}

/* Four hex digits at s (n bytes available); -1 when not. */
static long hex4(const char *s, size_t n)
{
    long v = 0;

    if (n < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = hexval(s[i]);

        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

long ptc_json_unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 0, o = 0;

    if (cap == 0)
        return -1;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        long cp, lo;
        char c;

        if (ch != '\\') {
            if (ch < 0x20 || ch == '"' || o + 1 >= cap)
                return -1;
            out[o++] = (char)ch;
            i++;
            continue;
        }
        if (i + 1 >= n)
            return -1;
        switch (s[i + 1]) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u':
            cp = hex4(s + i + 2, n - i - 2);
            if (cp < 0)
                return -1;
            i += 6;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return -1;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (n - i < 6 || s[i] != '\\' || s[i + 1] != 'u')
                    return -1;
                lo = hex4(s + i + 2, n - i - 2);
                if (lo < 0xdc00 || lo > 0xdfff)
                    return -1;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            }
            if (cp == 0 || put_utf8((uint32_t)cp, out, cap, &o) != 0)
                return -1;
            continue;
        default:
            return -1;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
        i += 2;
    }
    out[o] = '\0';
    return (long)o;
}
