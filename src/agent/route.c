/*
 * route.c — a request target (path and query as the client sent them) to
 * an endpoint, a profile name and min_valid.
 *
 * A pure function of the bytes, written to be fuzzed (tests/unit/
 * fuzz_route.c): no allocation, every byte looked at once or twice, the
 * profile name decoded into a fixed buffer. libmicrohttpd hands us the raw
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

/* min_valid=N, the one query parameter (of the token endpoint). */
static int parse_query(const char *q, size_t n, agent_route *r)
{
    static const char key[] = "min_valid=";
    const size_t kl = sizeof key - 1;
    int64_t v = 0;

    if (n == 0)
        return 0;
    if (r->ep != EP_TOKEN) {
        refuse(r, 400, "this endpoint takes no query parameters");
        return -1;
    }
    if (n < kl || memcmp(q, key, kl) != 0) {
        refuse(r, 400, "unknown query parameter (only min_valid is known)");
        return -1;
    }
    if (n == kl || n - kl > 9) {
        refuse(r, 400, "min_valid must be a number of seconds");
        return -1;
    }
    for (size_t i = kl; i < n; i++) {
        if (q[i] < '0' || q[i] > '9') {
            refuse(r, 400, q[i] == '&' ? "only one query parameter, min_valid, is known"
                                       : "min_valid must be a number of seconds");
            return -1;
        }
        v = v * 10 + (q[i] - '0');
    }
    if (v > AGENT_MAX_MIN_VALID) {
        refuse(r, 400, "min_valid is more than a year");
        return -1;
    }
    r->min_valid = v;
    return 0;
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
