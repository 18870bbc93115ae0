/*
 * handlers.c — what each endpoint answers (docs/agent.md, "Protocol").
 *
 * Every token, assertion and Authorization value passes through a buffer
 * that is wiped before it is freed (a jbuf grows by copy-and-wipe, never by
 * realloc), so no copy of a credential is left behind in freed memory by
 * the agent's own code. Errors are JSON {"error": CODE, "message": TEXT}
 * where TEXT is the library's message: it names the cause (the STS's
 * error and description, the token's CK_RV) and never holds a secret.
 */
#include "agent/agent.h"

#include "token-client/ptc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a JSON writer that wipes what it drops -------------------------------- */

typedef struct jbuf {
    char *p;
    size_t len, cap;
    int oom;
} jbuf;

static void jb_reserve(jbuf *b, size_t more)
{
    size_t need = b->len + more + 1, ncap;
    char *n;

    if (b->oom || need <= b->cap)
        return;
    ncap = b->cap * 2 > need ? b->cap * 2 : need < 256 ? 256 : need;
    if ((n = malloc(ncap)) == NULL) {
        b->oom = 1;
        return;
    }
    if (b->p != NULL) {
        memcpy(n, b->p, b->len);
        explicit_bzero(b->p, b->cap);
        free(b->p);
    }
    b->p = n;
    b->cap = ncap;
}

static void jb_raw(jbuf *b, const char *s, size_t n)
{
    jb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void jb_lit(jbuf *b, const char *s)
{
    jb_raw(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* A JSON string (null for NULL); bytes that are not UTF-8 become U+FFFD. */
static void jb_str(jbuf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n;

    if (s == NULL) {
        jb_lit(b, "null");
        return;
    }
    n = strlen(s);
    jb_reserve(b, n + 2);
    jb_lit(b, "\"");
    for (size_t i = 0; i < n;) {
        size_t run = i, k;
        char esc[8];

        /* A run of printable ASCII needing no escape (a whole token, as a
         * rule) in one copy, not a call per byte. */
        while (run < n && u[run] >= 0x20 && u[run] < 0x7f && u[run] != '"' && u[run] != '\\')
            run++;
        if (run > i) {
            jb_raw(b, s + i, run - i);
            i = run;
            continue;
        }
        k = utf8_seq(u + i, n - i);
        if (u[i] == '"' || u[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char)u[i];
            jb_raw(b, esc, 2);
            i++;
        } else if (u[i] < 0x20 || u[i] == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", u[i]);
            jb_raw(b, esc, 6);
            i++;
        } else if (k == 0) {
            jb_lit(b, "\\ufffd");
            i++;
        } else {
            jb_raw(b, s + i, k);
            i += k;
        }
    }
    jb_lit(b, "\"");
}

static void jb_int(jbuf *b, int64_t v)
{
    char num[24];

    jb_raw(b, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)v));
}

/* Hands the buffer to the reply (or a 500 when it ran out of memory). */
static void jb_reply(jbuf *b, agent_reply *r, int status)
{
    if (b->oom) {
        if (b->p != NULL)
            explicit_bzero(b->p, b->cap);
        free(b->p);
        agent_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    jb_lit(b, "\n");
    r->status = status;
    r->body = b->p;
    r->len = b->len;
    r->content_type = "application/json";
}

/* ---- replies ------------------------------------------------------------------ */

void agent_reply_free(agent_reply *r)
{
    if (r->body != NULL) {
        explicit_bzero(r->body, r->len);
        free(r->body);
    }
    memset(r, 0, sizeof *r);
}

void agent_reply_error(agent_reply *r, int status, const char *code, const char *fmt, ...)
{
    static char fallback[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}\n";
    char msg[1024];
    jbuf b = { 0 };
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jb_lit(&b, "{\"error\":");
    jb_str(&b, code);
    jb_lit(&b, ",\"message\":");
    jb_str(&b, msg);
    jb_lit(&b, "}\n");
    r->status = status;
    r->content_type = "application/json";
    if (b.oom) {
        free(b.p);
        r->status = 500;
        r->body = strdup(fallback);
        r->len = r->body != NULL ? strlen(r->body) : 0;
        return;
    }
    r->body = b.p;
    r->len = b.len;
}

/* A library failure as an answer: 502 when the STS refused, 503 when the
 * STS or the token could not be reached. */
static void reply_rc(agent_reply *r, p11jwt_rc rc)
{
    const char *msg = p11jwt_errmsg()[0] != '\0' ? p11jwt_errmsg() : p11jwt_strerror(rc);

    switch (rc) {
    case P11JWT_ERR_OAUTH:
        agent_reply_error(r, 502, "sts_refused", "%s", msg);
        break;
    case P11JWT_ERR_HTTP:
        agent_reply_error(r, 503, "sts_unavailable", "%s", msg);
        break;
    case P11JWT_ERR_PIN:
    case P11JWT_ERR_PIN_LOCKED:
    case P11JWT_ERR_MODULE:
    case P11JWT_ERR_TOKEN_NOT_FOUND:
    case P11JWT_ERR_KEY_NOT_FOUND:
    case P11JWT_ERR_PKCS11:
    case P11JWT_ERR_ALG:
    case P11JWT_ERR_CRYPTO:
        agent_reply_error(r, 503, "token_unavailable", "%s", msg);
        break;
    default:
        agent_reply_error(r, 503, "unavailable", "%s", msg);
        break;
    }
}

/* ---- endpoints ------------------------------------------------------------------ */

static void token(agent_profile *p, const agent_route *rt, agent_reply *r)
{
    int64_t min_valid = rt->min_valid;
    const p11jwt_profile *prof = p11jwt_client_profile(p->client);
    const p11jwt_access_token *t;
    p11jwt_client_stats before, after;
    const char *hn, *hv;
    char *auth = NULL;
    jbuf b = { 0 };
    p11jwt_rc rc;

    p11jwt_client_get_stats(p->client, &before);
    if (rt->has_scope) /* the scope set's own token (cached per set) */
        rc = p11jwt_client_token_scoped_peek(p->client, rt->scope, min_valid, &t);
    else
        rc = min_valid > 0 ? p11jwt_client_token_min_valid(p->client, min_valid, &t)
                           : p11jwt_client_token_peek(p->client, &t);
    if (rc == P11JWT_OK)
        rc = p11jwt_client_auth_value(p->client, t, &auth);
    if (rc == P11JWT_ERR_ARG) { /* a scope refused before any exchange */
        agent_reply_error(r, 400, "bad_request", "%s", p11jwt_errmsg());
        return;
    }
    if (rc != P11JWT_OK) {
        reply_rc(r, rc);
        return;
    }
    p11jwt_client_get_stats(p->client, &after);
    if (after.exchanges == before.exchanges)
        atomic_fetch_add_explicit(&p->counters.cache_hits, 1, memory_order_relaxed);
    jb_reserve(&b, 2 * strlen(t->value) + 256);
    jb_lit(&b, "{\"access_token\":");
    jb_str(&b, t->value);
    jb_lit(&b, ",\"token_type\":");
    jb_str(&b, t->type);
    jb_lit(&b, ",\"expires_at\":");
    jb_int(&b, t->expires_at);
    jb_lit(&b, ",\"scope\":");
    jb_str(&b, t->scope);
    jb_lit(&b, ",\"authorization\":");
    jb_str(&b, auth);
    jb_lit(&b, ",\"headers\":{");
    for (size_t i = 0; p11jwt_profile_header(prof, i, &hn, &hv); i++) {
        jb_lit(&b, i ? "," : "");
        jb_str(&b, hn);
        jb_lit(&b, ":");
        jb_str(&b, hv);
    }
    jb_lit(&b, "}}");
    explicit_bzero(auth, strlen(auth));
    p11jwt_free(auth);
    jb_reply(&b, r, 200);
}

static void invalidate(agent_profile *p, const agent_conn *c, agent_reply *r)
{
    ptc_json_type type;
    const char *v;
    size_t vl;
    char *value;
    long n;

    if (c->body == NULL ||
        ptc_json_find(c->body, c->body_len, "access_token", &type, &v, &vl) != 1 ||
        type != PTC_JSON_STRING) {
        agent_reply_error(r, 400, "bad_request", "expected a JSON body {\"access_token\": \"...\"}");
        return;
    }
    if ((value = malloc(vl + 1)) == NULL) {
        agent_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    n = ptc_json_unescape(v, vl, value, vl + 1);
    if (n <= 0)
        agent_reply_error(r, 400, "bad_request", "access_token must be a non-empty string");
    else
        p11jwt_client_invalidate(p->client, value); /* only if it is the cached one */
    explicit_bzero(value, vl + 1);
    free(value);
    if (n > 0)
        r->status = 204;
}

/* RFC 7009: the agent's token revoked at the STS and dropped from every
 * cache level (p11jwt_client_revoke). */
static void revoke(agent_profile *p, agent_reply *r)
{
    p11jwt_rc rc = p11jwt_client_revoke(p->client, NULL);

    if (rc == P11JWT_OK)
        r->status = 204;
    else if (rc == P11JWT_ERR_ARG || rc == P11JWT_ERR_CONFIG)
        agent_reply_error(r, 409, "nothing_to_revoke", "%s", p11jwt_errmsg());
    else
        reply_rc(r, rc);
}

static int64_t micros_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void assertion(agent_profile *p, agent_reply *r)
{
    int64_t t0 = micros_now();
    char *jws = NULL;
    jbuf b = { 0 };
    p11jwt_rc rc = p11jwt_client_assertion(p->client, &jws);

    if (rc != P11JWT_OK) {
        /* A profile that sends a client secret has no key: nothing here,
         * as /v1/jwks answers for it, not a failure to retry. */
        if (rc == P11JWT_ERR_ARG)
            agent_reply_error(r, 404, "not_found", "%s", p11jwt_errmsg());
        else
            reply_rc(r, rc);
        return;
    }
    agent_metrics_sign(p, micros_now() - t0);
    jb_lit(&b, "{\"assertion\":");
    jb_str(&b, jws);
    jb_lit(&b, "}");
    explicit_bzero(jws, strlen(jws));
    p11jwt_free(jws);
    jb_reply(&b, r, 200);
}

static void jwks(agent_profile *p, agent_reply *r)
{
    char *json = NULL;
    jbuf b = { 0 };
    p11jwt_rc rc = p11jwt_rotate_jwks(p->client, &json);

    if (rc != P11JWT_OK) {
        if (rc == P11JWT_ERR_ARG || rc == P11JWT_ERR_CONFIG)
            agent_reply_error(r, 404, "not_found", "%s", p11jwt_errmsg());
        else
            reply_rc(r, rc);
        return;
    }
    jb_lit(&b, json);
    p11jwt_free(json);
    jb_reply(&b, r, 200);
}

static void health(const agent_set *s, const agent_peer *peer, agent_reply *r)
{
    static const char *const states[] = { "none", "valid", "refreshing", "error" };
    p11jwt_client_status st;
    jbuf b = { 0 };
    int first = 1;

    jb_lit(&b, "{\"status\":\"ok\",\"profiles\":{");
    for (size_t i = 0; i < s->n; i++) {
        if (!agent_allow_check(&s->v[i]->allow, peer))
            continue; /* a peer sees the profiles it may ask */
        p11jwt_client_get_status(s->v[i]->client, &st);
        jb_lit(&b, first ? "" : ",");
        first = 0;
        jb_str(&b, s->v[i]->name);
        jb_lit(&b, ":{\"state\":");
        jb_str(&b, states[st.state]);
        jb_lit(&b, ",\"expires_at\":");
        if (st.expires_at != 0)
            jb_int(&b, st.expires_at);
        else
            jb_lit(&b, "null");
        jb_lit(&b, ",\"last_error\":");
        jb_str(&b, st.last_error[0] != '\0' ? st.last_error : NULL);
        jb_lit(&b, "}");
    }
    jb_lit(&b, "}}");
    jb_reply(&b, r, 200);
}

static agent_ratelimit refused_rl = { .per_second = 10 };

void agent_handle(agent_conn *c, const char *method, agent_reply *r)
{
    const agent_route *rt = &c->route;
    agent_profile *p = NULL;
    agent_set *s = NULL;

    memset(r, 0, sizeof *r);
    if (rt->status != 0) {
        agent_reply_error(r, rt->status, rt->status == 404 ? "not_found" : "bad_request", "%s",
                          rt->error);
        goto out;
    }
    if (strcmp(method, agent_endpoint_method(rt->ep)) != 0) {
        r->allow = agent_endpoint_method(rt->ep);
        agent_reply_error(r, 405, "method_not_allowed", "%s %s: use %s", method,
                          agent_endpoint_name(rt->ep), r->allow);
        goto out;
    }
    if (c->body_too_big) {
        agent_reply_error(r, 413, "payload_too_large", "request bodies are limited to %d bytes",
                          AGENT_MAX_BODY);
        goto out;
    }
    if ((s = agent_set_get()) == NULL) {
        agent_reply_error(r, 503, "unavailable", "the agent is stopping");
        goto out;
    }
    if (rt->ep == EP_HEALTH || rt->ep == EP_METRICS) {
        if (!agent_set_any_allowed(s, &c->peer)) {
            agent_log_limited(&refused_rl, AGENT_WARNING,
                              "refused uid %u gid %u pid %d: %s (no profile allows it)",
                              (unsigned)c->peer.uid, (unsigned)c->peer.gid, (int)c->peer.pid,
                              agent_endpoint_name(rt->ep));
            agent_reply_error(r, 403, "forbidden", "uid %u may ask for no profile here",
                              (unsigned)c->peer.uid);
        } else if (rt->ep == EP_HEALTH) {
            health(s, &c->peer, r);
        } else if ((r->body = agent_metrics_render(s, &r->len)) != NULL) {
            r->status = 200;
            r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        } else {
            agent_reply_error(r, 500, "internal", "out of memory");
        }
        goto out;
    }
    /* An unknown profile and one the caller may not ask for answer alike
     * (404, the same message): a caller learns nothing of the names it is
     * not allowed. The log tells the operator which it was. */
    p = agent_set_find(s, rt->profile);
    if (p != NULL && !agent_allow_check(&p->allow, &c->peer)) {
        agent_log_limited(&refused_rl, AGENT_WARNING,
                          "refused uid %u gid %u pid %d: %s of profile '%s' (not in its allow)",
                          (unsigned)c->peer.uid, (unsigned)c->peer.gid, (int)c->peer.pid,
                          agent_endpoint_name(rt->ep), p->name);
        p = NULL;
    }
    if (p == NULL) {
        agent_reply_error(r, 404, "not_found", "no profile '%s' is served here to uid %u",
                          rt->profile, (unsigned)c->peer.uid);
        goto out;
    }
    switch (rt->ep) {
    case EP_TOKEN: token(p, rt, r); break;
    case EP_INVALIDATE: invalidate(p, c, r); break;
    case EP_REVOKE: revoke(p, r); break;
    case EP_ASSERTION: assertion(p, r); break;
    case EP_JWKS: jwks(p, r); break;
    default: agent_reply_error(r, 404, "not_found", "no such endpoint"); break;
    }
out:
    agent_metrics_request(p, rt->ep, r->status);
    agent_set_put(s);
}
