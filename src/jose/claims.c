/*
 * claims.c — the JOSE header and the claims set of an assertion, as
 * compact JSON built with jansson (which does the string escaping).
 *
 * Member order is fixed and documented (iss, aud, sub, iat, exp, jti, then
 * the caller's extras in their order) so assertions are easy to read and
 * diff; no verifier depends on it.
 */
#include "jose/jose.h"

#include "base/base.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static p11jwt_rc dump(json_t *obj, char **out)
{
    *out = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    return *out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

p11jwt_rc jose_header_b64(p11jwt_alg alg, const char *kid, char **out)
{
    const char *name = p11jwt_alg_name(alg);
    json_t *h;
    char *json = NULL;
    p11jwt_rc rc;

    *out = NULL;
    if (name == NULL)
        return err_set(P11JWT_ERR_ALG, "no JWS alg for this key");
    h = json_object();
    if (h == NULL || json_object_set_new(h, "alg", json_string(name)) != 0 ||
        (kid != NULL && json_object_set_new(h, "kid", json_string(kid)) != 0) ||
        json_object_set_new(h, "typ", json_string("JWT")) != 0) {
        json_decref(h);
        return err_set(P11JWT_ERR_NOMEM, "out of memory (or kid is not UTF-8)");
    }
    rc = dump(h, &json);
    if (rc != P11JWT_OK)
        return rc;
    *out = malloc(jose_b64url_len(strlen(json)) + 1);
    if (*out == NULL) {
        free(json);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    jose_b64url_encode((const unsigned char *)json, strlen(json), *out);
    free(json);
    return P11JWT_OK;
}

/* ---- the claims set, written directly ------------------------------------
 *
 * One assertion per signature means the claims are built at the token's
 * rate (80 k/s for HS256 in SoftHSM): jansson's object tree cost 3 µs of
 * the 12 µs an HMAC takes. The standard claims are therefore written
 * straight into a buffer, in the same compact form jansson would give;
 * extra claims, which come from outside, are checked and copied in one
 * pass (claims_extra.c; merged with claims given once for many assertions
 * by claims_merge.c) and go through jansson only when that pass leaves
 * them to it (an error, a real number, an escaped name, ...).
 */

struct buf {
    char *s;
    size_t len, cap;
    int failed;
};

static void buf_grow(struct buf *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 256;
    char *n;

    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    while (cap < b->len + more + 1)
        cap *= 2;
    n = realloc(b->s, cap);
    if (n == NULL) {
        b->failed = 1;
        return;
    }
    b->s = n;
    b->cap = cap;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
    buf_grow(b, n);
    if (b->failed)
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* ,"name": (no comma before the first member) */
static void buf_key(struct buf *b, const char *name)
{
    if (b->len > 1)
        buf_add(b, ",", 1);
    buf_add(b, "\"", 1);
    buf_str(b, name);
    buf_add(b, "\":", 2);
}

/* "name":"value" with JSON escaping as jansson does it (short escapes,
 * \u00XX for other controls, UTF-8 kept); -1 when value is not UTF-8. */
static int buf_member_str(struct buf *b, const char *name, const char *value)
{
    const unsigned char *v = (const unsigned char *)value;
    size_t n = strlen(value), run = 0;

    buf_key(b, name);
    buf_add(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = v[i];
        const char *esc = NULL;
        char ubuf[8];

        if (c >= 0x80) {
            size_t l = base_utf8_len(v + i, n - i);

            if (l == 0)
                return -1;
            i += l;
            run += l;
            continue;
        }
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(ubuf, sizeof ubuf, "\\u%04X", c);
                esc = ubuf;
            }
        }
        if (esc == NULL) {
            i++;
            run++;
            continue;
        }
        buf_add(b, value + i - run, run);
        buf_str(b, esc);
        run = 0;
        i++;
    }
    buf_add(b, value + n - run, run);
    buf_add(b, "\"", 1);
    return 0;
}

static void buf_member_int(struct buf *b, const char *name, int64_t v)
{
    char num[24], *e = num + sizeof num, *d = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    /* Digits from the right: snprintf was a third of the claims' cost. */
    do {
        *--d = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--d = '-';
    buf_key(b, name);
    buf_add(b, d, (size_t)(e - d));
}

/* jti: 16 random bytes. OpenSSL's RAND costs ~0.9 µs a call, so each
 * thread draws 1 KiB at a time and hands out 16 bytes per jti, wiping
 * what it hands out.
 *
 * A forked child inherits the pool: left alone, parent and child (and
 * every pre-forked worker) would hand out the same jtis. A pthread_atfork
 * handler, registered before the first pool is drawn, bumps a generation
 * in the child; a pool drawn in another generation is wiped and drawn
 * again (OpenSSL's RAND itself reseeds after fork). */
#define JTI_POOL 1024
static _Thread_local unsigned char jti_pool[JTI_POOL];
static _Thread_local size_t jti_left;
static _Thread_local unsigned long jti_gen;
static atomic_ulong jti_fork_gen;
static pthread_once_t jti_once = PTHREAD_ONCE_INIT;

static void jti_after_fork(void)
{
    atomic_fetch_add(&jti_fork_gen, 1);
}

static void jti_register(void)
{
    pthread_atfork(NULL, NULL, jti_after_fork);
}

static p11jwt_rc jti_bytes(unsigned char out[16])
{
    if (jti_left < 16 ||
        jti_gen != atomic_load_explicit(&jti_fork_gen, memory_order_relaxed)) {
        base_wipe(jti_pool, jti_left);
        jti_left = 0;
        pthread_once(&jti_once, jti_register);
        jti_gen = atomic_load(&jti_fork_gen);
        if (RAND_bytes(jti_pool, JTI_POOL) != 1)
            return err_set(P11JWT_ERR_CRYPTO, "OpenSSL's RAND_bytes failed for jti");
        jti_left = JTI_POOL;
    }
    jti_left -= 16;
    memcpy(out, jti_pool + jti_left, 16);
    base_wipe(jti_pool + jti_left, 16);
    return P11JWT_OK;
}

/* The claims with the extras of shared merged with line (line_len bytes;
 * NULL: none); kept as jose_claims_write_merged says. */
static p11jwt_rc claims_write(const p11jwt_claims_params *p, const jose_extras *shared,
                              const char *line, size_t line_len, char **buf, size_t *cap,
                              size_t *len, size_t *kept)
{
    int64_t now = p->now != 0 ? p->now : (int64_t)time(NULL);
    struct buf b = { *buf, 0, *cap, 0 };
    p11jwt_rc rc = P11JWT_OK;

    /* Both bounded, so exp = now + ttl cannot overflow. */
    *len = 0;
    if (p->iss == NULL || p->iss[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the issuer (iss) is required");
    if (p->aud != NULL && p->aud[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the audience (aud) is empty (leave it out instead)");
    if (p->ttl <= 0 || p->ttl > P11JWT_MAX_DURATION)
        return err_set(P11JWT_ERR_ARG,
                       "ttl must be from 1 to %lld seconds (10 years), not %lld",
                       (long long)P11JWT_MAX_DURATION, (long long)p->ttl);
    if (now < 0 || now > P11JWT_MAX_TIME)
        return err_set(P11JWT_ERR_ARG, "the time %lld (iat) is not between 1970 and 9999",
                       (long long)now);

    if (kept != NULL && *kept > 0 && *kept <= b.cap) {
        b.len = *kept; /* iss, aud and sub as an earlier call wrote them */
    } else {
        buf_add(&b, "{", 1);
        if (buf_member_str(&b, "iss", p->iss) != 0)
            rc = err_set(P11JWT_ERR_ARG, "claim 'iss' is not valid UTF-8");
        else if (p->aud != NULL && buf_member_str(&b, "aud", p->aud) != 0)
            rc = err_set(P11JWT_ERR_ARG, "claim 'aud' is not valid UTF-8");
        else if (p->sub != NULL && buf_member_str(&b, "sub", p->sub) != 0)
            rc = err_set(P11JWT_ERR_ARG, "claim 'sub' is not valid UTF-8");
        if (kept != NULL && rc == P11JWT_OK && !b.failed)
            *kept = b.len;
    }
    if (rc == P11JWT_OK) {
        buf_member_int(&b, "iat", now);
        buf_member_int(&b, "exp", now + p->ttl);
    }
    if (rc == P11JWT_OK && !p->no_jti) {
        unsigned char raw[16];
        char jti[23];

        rc = jti_bytes(raw);
        if (rc == P11JWT_OK) {
            jose_b64url_encode(raw, sizeof raw, jti);
            buf_member_str(&b, "jti", jti);
        }
        base_wipe(raw, sizeof raw);
    }
    /* Extras in one pass when they can be (claims_extra.c, claims_merge.c),
     * through jansson otherwise: the same bytes, or the error. */
    if (rc == P11JWT_OK && !b.failed && (line != NULL || shared != NULL))
        rc = jose_extras_append(shared, line != NULL ? line : "{}", line != NULL ? line_len : 2,
                                &b.s, &b.cap, &b.len);
    buf_add(&b, "}", 1);
    if (rc == P11JWT_OK && b.failed)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    /* The buffer stays the caller's, grown or not, whatever happened. */
    *buf = b.s;
    *cap = b.cap;
    if (rc == P11JWT_OK)
        *len = b.len;
    return rc;
}

p11jwt_rc jose_claims_write(const p11jwt_claims_params *p, char **buf, size_t *cap,
                            size_t *len)
{
    const char *extra = p->extra_json;

    return claims_write(p, NULL, extra, extra != NULL ? strlen(extra) : 0, buf, cap, len, NULL);
}

p11jwt_rc jose_claims_write_merged(const p11jwt_claims_params *p, const jose_extras *shared,
                                   const char *line, size_t line_len, char **buf, size_t *cap,
                                   size_t *len, size_t *kept)
{
    return claims_write(p, shared, line, line_len, buf, cap, len, kept);
}

p11jwt_rc jose_claims_json(const p11jwt_claims_params *p, char **out)
{
    char *buf = NULL;
    size_t cap = 0, len;
    p11jwt_rc rc = jose_claims_write(p, &buf, &cap, &len);

    *out = NULL;
    if (rc != P11JWT_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    return P11JWT_OK;
}
