/*
 * route.c — a request target (path and query as the client sent them) to
 * an endpoint, a profile name, min_valid and scope.
 *
 * A pure function of the bytes, written to be fuzzed (tests/unit/
 * fuzz_route.c): no allocation, every byte looked at once or twice, the
 * profile name and the scope decoded into fixed buffers. libmicrohttpd hands us the raw
 * target before its own unescaping, so what is checked here is exactly
 * what was sent.
 */
#include "agent/agent.h"

#include <string.h>

static const struct {
    agent_endpoint ep;
    const char *name, *method;
} endpoints[] = {
    { EP_NONE, "none", "GET" },
    { EP_TOKEN, "token", "GET" },
    { EP_INVALIDATE, "invalidate", "POST" },
    { EP_ASSERTION, "assertion", "POST" },
    { EP_JWKS, "jwks", "GET" },
    { EP_HEALTH, "health", "GET" },
    { EP_METRICS, "metrics", "GET" },
    { EP_REVOKE, "revoke", "POST" },
};

const char *agent_endpoint_method(agent_endpoint ep)
{
    return ep < EP_COUNT ? endpoints[ep].method : "GET";
}

const char *agent_endpoint_name(agent_endpoint ep)
{
    return ep < EP_COUNT ? endpoints[ep].name : "none";
}

static void refuse(agent_route *r, int status, const char *why)
{
    r->ep = EP_NONE;
    r->status = status;
    r->error = why;
    r->profile[0] = '\0';
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

/* Decodes one path segment s[0..n) into out; 0, or -1 with *why. */
static int decode_segment(const char *s, size_t n, char *out, const char **why)
{
    size_t o = 0;

    if (n == 0) {
        *why = "a profile name is needed";
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '%') {
            int hi, lo;

            if (n - i < 3 || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0) {
                *why = "malformed percent-encoding in the path";
                return -1;
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f) {
            *why = "control characters in the profile name";
            return -1;
        }
        if (o >= AGENT_NAME_MAX) {
            *why = "profile name too long";
            return -1;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* min_valid=N: 0 and r->min_valid set, or -1 (refused). */
static int parse_min_valid(const char *v, size_t n, agent_route *r)
{
    int64_t x = 0;

    if (n == 0 || n > 9) {
        refuse(r, 400, "min_valid must be a number of seconds");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            refuse(r, 400, "min_valid must be a number of seconds");
            return -1;
        }
        x = x * 10 + (v[i] - '0');
    }
    if (x > AGENT_MAX_MIN_VALID) {
        refuse(r, 400, "min_valid is more than a year");
        return -1;
    }
    r->min_valid = x;
    return 0;
}

/* scope=SCOPE, form-encoded ('+' or %20 a space): decoded into r->scope.
 * Only a NUL is refused here; the library checks the scope's syntax and
 * names the byte it refuses. */
static int parse_scope(const char *v, size_t n, agent_route *r)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        int hi, lo;

        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (n - i < 3 || (hi = hexval(v[i + 1])) < 0 || (lo = hexval(v[i + 2])) < 0) {
                refuse(r, 400, "malformed percent-encoding in scope");
                return -1;
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') {
            refuse(r, 400, "a NUL byte in scope");
            return -1;
        }
        if (o >= AGENT_SCOPE_MAX) {
            refuse(r, 400, "scope is longer than 1024 bytes");
            return -1;
        }
        r->scope[o++] = (char)c;
    }
    r->scope[o] = '\0';
    r->has_scope = 1;
    return 0;
}

/* The token endpoint's query: min_valid=N and scope=SCOPE, each at most
 * once, in any order, separated by '&'. */
static int parse_query(const char *q, size_t n, agent_route *r)
{
    static const char mv[] = "min_valid=", sc[] = "scope=";
    int seen_mv = 0, seen_sc = 0;
    size_t i = 0;

    if (n == 0)
        return 0;
    if (r->ep != EP_TOKEN) {
        refuse(r, 400, "this endpoint takes no query parameters");
        return -1;
    }
    for (;;) {
        const char *p = q + i, *amp = memchr(p, '&', n - i);
        size_t pl = amp != NULL ? (size_t)(amp - p) : n - i;

        if (pl >= sizeof mv - 1 && memcmp(p, mv, sizeof mv - 1) == 0) {
            if (seen_mv++) {
                refuse(r, 400, "min_valid is given twice");
                return -1;
            }
            if (parse_min_valid(p + sizeof mv - 1, pl - (sizeof mv - 1), r) != 0)
                return -1;
        } else if (pl >= sizeof sc - 1 && memcmp(p, sc, sizeof sc - 1) == 0) {
            if (seen_sc++) {
                refuse(r, 400, "scope is given twice");
                return -1;
            }
            if (parse_scope(p + sizeof sc - 1, pl - (sizeof sc - 1), r) != 0)
                return -1;
        } else {
            refuse(r, 400, "unknown query parameter (min_valid and scope are known)");
            return -1;
        }
        if (amp == NULL)
            return 0;
        i += pl + 1;
    }
}

static int has_prefix(const char *s, size_t n, const char *prefix, size_t *pl)
{
    *pl = strlen(prefix);
    return n >= *pl && memcmp(s, prefix, *pl) == 0;
}

void agent_route_parse(const char *target, size_t len, agent_route *out)
{
    const char *q = memchr(target, '?', len), *seg, *why = NULL;
    size_t plen = q != NULL ? (size_t)(q - target) : len, qlen = q != NULL ? len - plen - 1 : 0;
    size_t pl, sl;

    memset(out, 0, sizeof *out);
    out->min_valid = -1;
    if (len == 0 || target[0] != '/') {
        refuse(out, 400, "the request target must be a path");
        return;
    }
    if (memchr(target, '#', len) != NULL) {
        refuse(out, 400, "a fragment in the request target");
        return;
    }
    if (plen == 10 && memcmp(target, "/v1/health", 10) == 0)
        out->ep = EP_HEALTH;
    else if (plen == 8 && memcmp(target, "/metrics", 8) == 0)
        out->ep = EP_METRICS;
    else if (has_prefix(target, plen, "/v1/token/", &pl))
        out->ep = EP_TOKEN;
    else if (has_prefix(target, plen, "/v1/assertion/", &pl))
        out->ep = EP_ASSERTION;
    else if (has_prefix(target, plen, "/v1/jwks/", &pl))
        out->ep = EP_JWKS;
    else {
        refuse(out, 404, "no such endpoint (see docs/agent.md)");
        return;
    }
    if (out->ep == EP_TOKEN || out->ep == EP_ASSERTION || out->ep == EP_JWKS) {
        const char *slash;

        seg = target + pl;
        sl = plen - pl;
        slash = memchr(seg, '/', sl);
        if (slash != NULL) {
            size_t rest = sl - (size_t)(slash - seg);

            if (out->ep == EP_TOKEN && rest == 11 && memcmp(slash, "/invalidate", 11) == 0) {
                out->ep = EP_INVALIDATE;
            } else if (out->ep == EP_TOKEN && rest == 7 && memcmp(slash, "/revoke", 7) == 0) {
                out->ep = EP_REVOKE;
            } else {
                refuse(out, 404, "no such endpoint (see docs/agent.md)");
                return;
            }
            sl = (size_t)(slash - seg);
        }
        if (decode_segment(seg, sl, out->profile, &why) != 0) {
            refuse(out, 400, why);
            return;
        }
    }
    parse_query(q != NULL ? q + 1 : "", qlen, out);
}
