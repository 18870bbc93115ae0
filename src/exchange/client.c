/*
 * client.c — a profile bound to its token, key and HTTP connection, and the
 * access-token cache in front of them.
 *
 * The cache is one token per client behind a mutex. A caller gets the
 * cached token until it is due for refresh; the first caller past the
 * refresh time exchanges while everyone else keeps getting the still-valid
 * token; callers with no valid token wait for the one exchange in flight
 * (single flight) and share its result, success or failure. Retries (with
 * capped exponential backoff and full jitter, honouring Retry-After) happen
 * inside that one exchange, never in the waiters.
 *
 * The hit path takes no lock and writes no shared memory: each thread keeps
 * its own copy of the token, tagged with the client's generation (bumped
 * whenever the cached token changes or is invalidated). A copy whose
 * generation is current and whose refresh time has not come is handed out
 * as is; anything else goes through the mutex.
 */
#include "exchange/exchange_int.h"

#include "base/base.h"
#include "pkcs11/pkcs11.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET_MAX 4096

struct p11jwt_client {
    p11jwt_profile *p;
    uint64_t id;                /* unique per process, never reused */

    /* Signing: the token is opened and keys found on first use. Keys are
     * kept until the client is freed (a thread may be signing with one
     * while rotation moves the active kid on). */
    pthread_mutex_t key_mu;
    p11jwt_token *tok;
    p11jwt_key **keys;
    size_t nkeys;

    /* The STS connection; held by the one exchange in flight. */
    pthread_mutex_t sts_mu;
    exch_http sts;
    /* The resource connection, for p11jwt_client_call. */
    pthread_mutex_t res_mu;
    exch_http res;

    /* The cache. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    p11jwt_access_token cur;    /* value NULL: none */
    int64_t refresh_at;
    int inflight;
    uint64_t generation;        /* bumped when an exchange ends */
    atomic_uint_fast64_t token_gen; /* bumped when cur changes: per-thread
                                       copies of another generation are stale */
    p11jwt_rc last_rc;          /* of the last exchange, for its waiters */
    char last_msg[512];
    uint64_t failures;          /* exchanges that ended in an error (agent health) */

    atomic_uint_fast64_t exchanges;
    int client_key_ok;          /* the pkcs11: client_key was found once */
};

static atomic_uint_fast64_t next_client_id = 1;

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static double rand_unit(void)
{
    uint32_t r = 0;

    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint32_t)clock();
    return (double)r / 4294967296.0;
}

static void sleep_s(double s)
{
    struct timespec ts;

    if (s <= 0)
        return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- per-thread copies ----------------------------------------------- */

#define TL_SLOTS 4

struct tl_slot {
    uint64_t client_id;         /* 0: empty */
    uint64_t gen;
    int64_t refresh_at;
    p11jwt_access_token tok;
};

struct tl_cache {
    struct tl_slot slot[TL_SLOTS];
    unsigned next;              /* round-robin victim */
};

static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static _Thread_local struct tl_cache *tl;

/* Runs at thread exit, in the exiting thread: after it, `tl` must not
 * point at the freed cache, or a later destructor (another library's, the
 * application's) that asks for a token would use it. It starts a new one
 * instead, which the next round of destructors frees. */
static void tl_destroy(void *p)
{
    struct tl_cache *tc = p;

    for (int i = 0; i < TL_SLOTS; i++)
        p11jwt_access_token_clear(&tc->slot[i].tok);
    if (tl == tc)
        tl = NULL;
    free(tc);
}

static void tl_init(void)
{
    pthread_key_create(&tl_key, tl_destroy);
}

/* This thread's slot for client c, made or recycled if needed. */
static struct tl_slot *tl_slot_for(const p11jwt_client *c)
{
    struct tl_slot *s;

    if (tl == NULL) {
        pthread_once(&tl_once, tl_init);
        tl = calloc(1, sizeof *tl);
        if (tl == NULL)
            return NULL;
        pthread_setspecific(tl_key, tl); /* freed when the thread exits */
    }
    for (int i = 0; i < TL_SLOTS; i++)
        if (tl->slot[i].client_id == c->id)
            return &tl->slot[i];
    s = &tl->slot[tl->next++ % TL_SLOTS];
    p11jwt_access_token_clear(&s->tok);
    s->client_id = c->id;
    s->gen = 0;
    return s;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

p11jwt_rc p11jwt_client_new(p11jwt_profile *profile, p11jwt_client **out)
{
    p11jwt_client *c;
    p11jwt_rc rc;

    err_clear();
    *out = NULL;
    /* libcurl's global set-up is not thread-safe: do it once, here. */
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        p11jwt_profile_free(profile);
        return err_set(P11JWT_ERR_HTTP, "libcurl could not start: %s",
                       curl_easy_strerror(curl_init_rc));
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        p11jwt_profile_free(profile);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    c->p = profile;
    c->id = atomic_fetch_add(&next_client_id, 1);
    pthread_mutex_init(&c->key_mu, NULL);
    pthread_mutex_init(&c->sts_mu, NULL);
    pthread_mutex_init(&c->res_mu, NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    rc = exch_http_init(&c->sts);
    if (rc == P11JWT_OK)
        rc = exch_http_init(&c->res);
    if (rc != P11JWT_OK) {
        p11jwt_client_free(c);
        return rc;
    }
    *out = c;
    return P11JWT_OK;
}

void p11jwt_client_free(p11jwt_client *c)
{
    if (c == NULL)
        return;
    /* This thread's copy goes now; other threads' copies go when their
     * slots are reused or the threads exit. */
    for (int i = 0; tl != NULL && i < TL_SLOTS; i++)
        if (tl->slot[i].client_id == c->id) {
            p11jwt_access_token_clear(&tl->slot[i].tok);
            tl->slot[i].client_id = 0;
        }
    for (size_t i = 0; i < c->nkeys; i++)
        p11jwt_key_free(c->keys[i]);
    free(c->keys);
    p11jwt_token_free(c->tok);
    exch_http_cleanup(&c->sts);
    exch_http_cleanup(&c->res);
    p11jwt_access_token_clear(&c->cur);
    pthread_mutex_destroy(&c->key_mu);
    pthread_mutex_destroy(&c->sts_mu);
    pthread_mutex_destroy(&c->res_mu);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    p11jwt_profile_free(c->p);
    free(c);
}

void p11jwt_client_get_stats(p11jwt_client *c, p11jwt_client_stats *out)
{
    out->exchanges = atomic_load(&c->exchanges);
}

/* ---- assertions ---------------------------------------------------------- */

static p11jwt_rc open_token_locked(p11jwt_client *c)
{
    const p11jwt_profile *p = c->p;
    p11jwt_rc rc = P11JWT_OK;

    if (c->tok != NULL)
        return P11JWT_OK;
    if (p->token == NULL)
        return err_set(P11JWT_ERR_CONFIG, "profile '%s' names no token", ESC(p->name));
    c->tok = p11jwt_token_new();
    if (c->tok == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (p->pin_file != NULL)
        rc = p11jwt_token_set_pin_file(c->tok, p->pin_file);
    if (rc == P11JWT_OK && p->pin_env != NULL)
        rc = p11jwt_token_set_pin_env(c->tok, p->pin_env);
    if (rc == P11JWT_OK && p->module_args != NULL)
        rc = p11jwt_token_set_module_args(c->tok, p->module_args);
    if (rc == P11JWT_OK)
        rc = p11jwt_token_open(c->tok, p->token);
    if (rc != P11JWT_OK) {
        p11jwt_token_free(c->tok);
        c->tok = NULL;
        err_wrap(rc, "profile '%s': token", ESC(p->name));
    }
    return rc;
}

p11jwt_rc exch_client_open_token(p11jwt_client *c, p11jwt_token **tok)
{
    p11jwt_rc rc;

    pthread_mutex_lock(&c->key_mu);
    rc = open_token_locked(c);
    *tok = c->tok;
    pthread_mutex_unlock(&c->key_mu);
    return rc;
}

const p11jwt_profile *exch_client_profile(const p11jwt_client *c)
{
    return c->p;
}

void exch_client_keyring_changed(p11jwt_client *c)
{
    /* Tokens were obtained with the old active kid: drop them. */
    p11jwt_client_invalidate(c, NULL);
}

/* The key with this kid, opened once per client. */
static p11jwt_rc open_key(p11jwt_client *c, const char *kid, p11jwt_key **out)
{
    p11jwt_key **nk;
    p11jwt_rc rc;

    pthread_mutex_lock(&c->key_mu);
    for (size_t i = 0; i < c->nkeys; i++)
        if (strcmp(p11jwt_key_kid(c->keys[i]), kid) == 0) {
            *out = c->keys[i];
            pthread_mutex_unlock(&c->key_mu);
            return P11JWT_OK;
        }
    rc = open_token_locked(c);
    if (rc == P11JWT_OK && (nk = realloc(c->keys, (c->nkeys + 1) * sizeof *nk)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (rc == P11JWT_OK) {
        c->keys = nk;
        rc = p11jwt_key_open(c->tok, kid, &c->keys[c->nkeys]);
        if (rc == P11JWT_OK)
            *out = c->keys[c->nkeys++];
    }
    pthread_mutex_unlock(&c->key_mu);
    return rc;
}

/* The profile's claim.NAME entries as a JSON object (strings). */
static p11jwt_rc extra_claims(const p11jwt_profile *p, char **out)
{
    json_t *o = json_object();

    *out = NULL;
    if (o == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < p->nclaims; i++)
        if (json_object_set_new(o, p->claims[i].name, json_string(p->claims[i].value)) != 0) {
            json_decref(o);
            return err_set(P11JWT_ERR_CONFIG, "profile '%s': claim.%s is not valid UTF-8",
                           ESC(p->name), ESC(p->claims[i].name));
        }
    *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return *out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

/* Signs the profile's assertion with the key `kid`. */
static p11jwt_rc assertion_with(p11jwt_client *c, const char *kid, char **jws)
{
    const p11jwt_profile *p = c->p;
    p11jwt_claims_params cp = { 0 };
    p11jwt_key *key = NULL;
    char *extra = NULL;
    p11jwt_rc rc;

    *jws = NULL;
    rc = open_key(c, kid, &key);
    if (rc == P11JWT_OK)
        rc = extra_claims(p, &extra);
    if (rc != P11JWT_OK)
        return rc;
    if (p->dialect == EXCH_PRIVATE_KEY_JWT) {
        cp.iss = p->client_id; /* RFC 7523 §3: iss = sub = client_id */
        cp.sub = p->client_id;
    } else {
        cp.iss = p->iss;
        cp.sub = p->sub;
    }
    cp.aud = p->aud;
    cp.ttl = p->ttl;
    /* iat_backdate is at most 10 years (config.c), so this is a time after
     * 1970 on any sane clock; never 0, which would mean "now". */
    cp.now = now_s() - p->iat_backdate;
    if (cp.now <= 0) {
        free(extra);
        return err_set(P11JWT_ERR_CONFIG, "profile '%s': iat_backdate %lld reaches before 1970",
                       ESC(p->name), (long long)p->iat_backdate);
    }
    cp.extra_json = p->nclaims > 0 ? extra : NULL;
    rc = p11jwt_assertion_sign(key, &cp, jws);
    free(extra);
    if (rc == P11JWT_OK)
        exch_audit_signature(p, kid, *jws);
    return rc;
}

p11jwt_rc p11jwt_client_assertion(p11jwt_client *c, char **jws)
{
    const p11jwt_profile *p = c->p;
    char *active = NULL, *fallback = NULL;
    p11jwt_rc rc;

    err_clear();
    *jws = NULL;
    if (!exch_dialect_signs(p->dialect))
        return err_set(P11JWT_ERR_ARG,
                       "profile '%s' (dialect %s) sends a client secret, not an assertion",
                       ESC(p->name), exch_dialect_name(p->dialect));
    /* The keyring in the token names the active kid (the profile's kid
     * until a rotation stored a state). */
    rc = exch_keyring_kids(c, &active, &fallback, NULL);
    if (rc == P11JWT_OK)
        rc = assertion_with(c, active, jws);
    free(active);
    free(fallback);
    return rc;
}

/* ---- one exchange, with its retries -------------------------------------- */

/* Reads the client secret (client credentials) or the token PIN (mTLS
 * engine) for one exchange; wiped by the caller. */
static p11jwt_rc read_secret(const p11jwt_profile *p, const char *file, const char *env,
                             const char *what, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (file != NULL) {
        p11jwt_rc rc = p11jwt_secret_read_file(file, SECRET_MAX, out, len);

        if (rc != P11JWT_OK)
            return err_wrap(rc, "profile '%s': %s", ESC(p->name), what);
        /* It is sent as text: a NUL would cut it short unseen. */
        if (memchr(*out, '\0', *len) != NULL) {
            p11jwt_secret_free(*out, *len);
            *out = NULL;
            *len = 0;
            return err_set(P11JWT_ERR_SECRET, "profile '%s': %s: the file %s holds a NUL byte",
                           ESC(p->name), what, ESC(file));
        }
        return P11JWT_OK;
    }
    if (env != NULL) {
        const char *v = getenv(env);

        if (v == NULL || v[0] == '\0')
            return err_set(P11JWT_ERR_SECRET, "profile '%s': %s: environment variable %s is %s",
                           ESC(p->name), what, ESC(env), v == NULL ? "not set" : "empty");
        *len = strlen(v);
        *out = (unsigned char *)strdup(v);
        return *out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    return P11JWT_OK;
}

static double backoff(const p11jwt_profile *p, int attempt)
{
    double cap = p->retry_base;

    for (int i = 0; i < attempt && cap < p->retry_max_delay; i++)
        cap *= 2;
    if (cap > p->retry_max_delay)
        cap = p->retry_max_delay;
    return cap * rand_unit(); /* full jitter */
}

/* One HTTP request to the token endpoint with a freshly made body. */
static p11jwt_rc attempt(p11jwt_client *c, const char *kid, const char *secret,
                         const char *pin, int fresh, exch_response *rs, int *retryable)
{
    const p11jwt_profile *p = c->p;
    exch_inputs in = { NULL, secret };
    exch_built b;
    exch_request rq = { 0 };
    char *assertion = NULL;
    p11jwt_rc rc;

    if (exch_dialect_signs(p->dialect)) {
        /* A fresh iat and jti for every attempt: a retried assertion would
         * be a replay to the STS. */
        rc = assertion_with(c, kid, &assertion);
        if (rc != P11JWT_OK)
            return rc;
        in.assertion = assertion;
    }
    rc = exch_dialect_build(p, c->sts.curl, &in, &b);
    if (rc == P11JWT_OK) {
        rq.method = b.method;
        rq.url = b.url;
        rq.headers = b.headers;
        rq.body = b.body;
        rq.body_len = b.body != NULL ? strlen(b.body) : 0;
        rq.basic_user = b.basic_user;
        rq.basic_pass = b.basic_pass;
        rq.sts = 1;
        rq.fresh = fresh;
        atomic_fetch_add(&c->exchanges, 1);
        rc = exch_http_perform(&c->sts, p, pin, &rq, rs, retryable);
        exch_built_clear(&b);
    }
    /* A signed assertion is a credential until it expires. */
    base_secret_free(assertion);
    return rc;
}

/* A pkcs11: client_key must name a key before it goes to libp11's engine,
 * which would otherwise print its own complaints to stderr and leave curl
 * with a bare "could not load the key". Checked once per client. */
static p11jwt_rc check_client_key(p11jwt_client *c)
{
    const p11jwt_profile *p = c->p;
    p11jwt_token *t;
    p11jwt_key *k = NULL;
    const char *kid;
    p11jwt_rc rc = P11JWT_OK;

    if (c->client_key_ok || p->client_key == NULL || strncmp(p->client_key, "pkcs11:", 7) != 0)
        return P11JWT_OK;
    t = p11jwt_token_new();
    if (t == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (p->pin_file != NULL)
        rc = p11jwt_token_set_pin_file(t, p->pin_file);
    if (rc == P11JWT_OK && p->pin_env != NULL)
        rc = p11jwt_token_set_pin_env(t, p->pin_env);
    if (rc == P11JWT_OK && p->module_args != NULL)
        rc = p11jwt_token_set_module_args(t, p->module_args);
    if (rc == P11JWT_OK)
        rc = p11jwt_token_open(t, p->client_key);
    if (rc == P11JWT_OK) {
        kid = p11jwt_token_uri_kid(t);
        /* The URI itself is not echoed. */
        rc = kid == NULL ? err_set(P11JWT_ERR_CONFIG, "the URI names no key (object= or id=)")
                         : p11jwt_key_open(t, kid, &k);
    }
    /* The engine loads the URI's own module, not p11-kit's proxy. */
    if (rc == P11JWT_OK)
        rc = p11_engine_use_token(t);
    if (rc == P11JWT_OK)
        c->client_key_ok = 1;
    else
        err_wrap(rc, "client_key");
    p11jwt_key_free(k);
    p11jwt_token_free(t);
    return rc;
}

static p11jwt_rc exchange(p11jwt_client *c, p11jwt_access_token *out)
{
    const p11jwt_profile *p = c->p;
    unsigned char *secret = NULL, *pin = NULL;
    size_t secret_len = 0, pin_len = 0;
    exch_response rs = { .retry_after = -1 };
    char *active = NULL, *fallback = NULL, first_refusal[512] = "";
    const char *kid = NULL;
    int reminted = 0, fell_back = 0, fallback_is_next = 0;
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    rc = read_secret(p, p->client_secret_file, p->client_secret_env, "client secret", &secret,
                     &secret_len);
    if (rc == P11JWT_OK && p->client_key != NULL && strncmp(p->client_key, "pkcs11:", 7) == 0) {
        rc = check_client_key(c);
        if (rc == P11JWT_OK)
            rc = read_secret(p, p->pin_file, p->pin_env, "PIN for the TLS client key", &pin,
                             &pin_len);
    }
    if (rc == P11JWT_OK && exch_dialect_signs(p->dialect)) {
        /* Read the keyring once per exchange: the active kid may have moved
         * on (promoted on another host), and it names the fallback. */
        rc = exch_keyring_kids(c, &active, &fallback, &fallback_is_next);
        kid = active;
    }
    if (rc != P11JWT_OK)
        goto out;

    pthread_mutex_lock(&c->sts_mu);
    for (int n = 0;; n++) {
        int retryable = 0, timing = 0, keyish = 0;
        double delay;

        rc = attempt(c, kid, (const char *)secret, (const char *)pin, n > 0 || reminted ||
                     fell_back, &rs, &retryable);
        if (rc == P11JWT_OK && rs.status >= 200 && rs.status < 300) {
            rc = exch_dialect_parse(p, &rs, now_s(), out);
            if (rc == P11JWT_OK && fell_back)
                base_log(P11JWT_LOG_NOTICE,
                         "profile '%s': the STS refused kid '%s' and accepted kid '%s'%s",
                         ESC(p->name), ESC(active), ESC(kid),
                         fallback_is_next ? ": it already trusts the next key, so "
                                            "'p11jwt rotate promote' is safe"
                                          : " (the newest previous key): has the STS been "
                                            "given the active key's JWKS?");
            break;
        }
        if (rc == P11JWT_OK) {
            rc = exch_oauth_error(p, &rs, &timing, &keyish);
            retryable = rs.status >= 500 || rs.status == 429;
            /* The assertion is re-made on each attempt anyway; a timing
             * complaint earns exactly one more (a clock step, a slow HSM). */
            if (timing && !reminted) {
                reminted = 1;
                continue;
            }
            /* Mid-rotation the STS may trust only the other key: one try
             * with it (next, else the newest previous). */
            if (keyish && fallback != NULL && !fell_back) {
                /* Said afterwards: the kid accepted, or one error naming both. */
                snprintf(first_refusal, sizeof first_refusal, "%s", p11jwt_errmsg());
                fell_back = 1;
                kid = fallback;
                continue;
            }
            if (keyish && fell_back)
                rc = err_set(rc, "the STS refused both kid '%s' (%s) and kid '%s' (%s)",
                             ESC(active), first_refusal, ESC(fallback), p11jwt_errmsg());
        }
        if (!retryable || n >= p->max_retries)
            break;
        delay = rs.retry_after >= 0 ? (double)rs.retry_after : backoff(p, n);
        if (delay > p->retry_max_delay)
            delay = p->retry_max_delay;
        sleep_s(delay);
    }
    pthread_mutex_unlock(&c->sts_mu);
out:
    exch_response_clear(&rs);
    free(active);
    free(fallback);
    if (secret != NULL)
        p11jwt_secret_free(secret, secret_len);
    if (pin != NULL)
        p11jwt_secret_free(pin, pin_len);
    if (rc != P11JWT_OK)
        err_wrap(rc, "profile '%s'", ESC(p->name));
    return rc;
}

/* ---- the cache ----------------------------------------------------------- */

static p11jwt_rc copy_token(const p11jwt_access_token *src, p11jwt_access_token *dst)
{
    memset(dst, 0, sizeof *dst);
    dst->value = strdup(src->value);
    dst->type = src->type ? strdup(src->type) : NULL;
    dst->scope = src->scope ? strdup(src->scope) : NULL;
    dst->expires_at = src->expires_at;
    if (dst->value == NULL || (src->type && !dst->type) || (src->scope && !dst->scope)) {
        p11jwt_access_token_clear(dst);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    return P11JWT_OK;
}

/* When to start refreshing a token obtained at `now`: refresh_ahead before
 * expiry if set, else the earlier of 5 minutes before expiry and 80% of the
 * lifetime, moved earlier by up to 5% of the lifetime so a fleet that
 * started together does not refresh together. */
static int64_t refresh_time(const p11jwt_profile *p, int64_t now, int64_t expires_at)
{
    int64_t life = expires_at - now, at;

    if (life <= 0)
        return now;
    if (p->refresh_ahead >= 0)
        return expires_at - p->refresh_ahead;
    at = expires_at - 300;
    if (now + life * 8 / 10 < at)
        at = now + life * 8 / 10;
    return at - (int64_t)(rand_unit() * (double)life * 0.05);
}

/* Usable: not yet expired. A token is never handed out in its last second. */
static int usable(const p11jwt_access_token *t, int64_t now)
{
    return t->value != NULL && now < t->expires_at;
}

static int64_t now_coarse(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec;
}

/* The slow path: under the mutex, hand out the cached token, or exchange
 * (single flight), or wait for the exchange in flight. On success the
 * thread's slot holds a copy tagged with the generation it belongs to. */
static p11jwt_rc token_slow(p11jwt_client *c, struct tl_slot *slot)
{
    p11jwt_access_token fresh;
    uint64_t gen;
    p11jwt_rc rc;
    int64_t now;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        now = now_s();
        if (usable(&c->cur, now) && (now < c->refresh_at || c->inflight))
            goto hand_out;
        if (!c->inflight)
            break;
        /* No usable token and an exchange in flight: wait for its result. */
        gen = c->generation;
        while (c->inflight && c->generation == gen)
            pthread_cond_wait(&c->cv, &c->mu);
        if (!usable(&c->cur, now_s()) && c->last_rc != P11JWT_OK) {
            rc = err_set(c->last_rc, "%s", c->last_msg);
            pthread_mutex_unlock(&c->mu);
            return rc;
        }
    }
    c->inflight = 1;
    pthread_mutex_unlock(&c->mu);

    rc = exchange(c, &fresh);

    pthread_mutex_lock(&c->mu);
    c->inflight = 0;
    c->generation++;
    c->last_rc = rc;
    snprintf(c->last_msg, sizeof c->last_msg, "%s", rc != P11JWT_OK ? p11jwt_errmsg() : "");
    c->failures += rc != P11JWT_OK;
    pthread_cond_broadcast(&c->cv);
    if (rc == P11JWT_OK) {
        p11jwt_access_token_clear(&c->cur);
        c->cur = fresh;
        c->refresh_at = refresh_time(c->p, now_s(), fresh.expires_at);
        atomic_fetch_add(&c->token_gen, 1);
    } else if (!usable(&c->cur, now_s())) {
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    else {
        /* An early refresh failed and the old token is still good: try
         * again a tenth of the remaining life later, not on every call
         * (each failed exchange already retried). */
        int64_t left = c->cur.expires_at - now_s();

        c->refresh_at = now_s() + (left / 10 > 1 ? left / 10 : 1);
    }

hand_out:
    if (slot->gen != atomic_load(&c->token_gen) || slot->tok.value == NULL) {
        p11jwt_access_token_clear(&slot->tok);
        rc = copy_token(&c->cur, &slot->tok);
        if (rc != P11JWT_OK) {
            pthread_mutex_unlock(&c->mu);
            return rc;
        }
        slot->gen = atomic_load(&c->token_gen);
    }
    /* Past the cache's refresh time (a refresh in flight, or one that just
     * failed) the copy is good only for this call. */
    slot->refresh_at = c->refresh_at < c->cur.expires_at ? c->refresh_at : c->cur.expires_at;
    pthread_mutex_unlock(&c->mu);
    return P11JWT_OK;
}

p11jwt_rc p11jwt_client_token_peek(p11jwt_client *c, const p11jwt_access_token **out)
{
    struct tl_slot *slot = tl_slot_for(c);
    p11jwt_rc rc;

    *out = NULL;
    if (slot == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    /* The hit path: this thread's copy, still the client's current token
     * and not yet due for refresh. */
    if (slot->gen == atomic_load_explicit(&c->token_gen, memory_order_acquire) &&
        slot->tok.value != NULL && now_coarse() < slot->refresh_at) {
        *out = &slot->tok;
        return P11JWT_OK;
    }
    err_clear();
    rc = token_slow(c, slot);
    if (rc == P11JWT_OK)
        *out = &slot->tok;
    return rc;
}

p11jwt_rc p11jwt_client_token(p11jwt_client *c, p11jwt_access_token *out)
{
    const p11jwt_access_token *t;
    p11jwt_rc rc = p11jwt_client_token_peek(c, &t);

    memset(out, 0, sizeof *out);
    return rc == P11JWT_OK ? copy_token(t, out) : rc;
}

void p11jwt_client_invalidate(p11jwt_client *c, const char *value)
{
    pthread_mutex_lock(&c->mu);
    if (c->cur.value != NULL && (value == NULL || strcmp(c->cur.value, value) == 0)) {
        p11jwt_access_token_clear(&c->cur);
        atomic_fetch_add(&c->token_gen, 1);
    }
    pthread_mutex_unlock(&c->mu);
}

p11jwt_rc p11jwt_client_auth_value(p11jwt_client *c, const p11jwt_access_token *t, char **out)
{
    size_t n = strlen(c->p->resource_auth) + 1 + strlen(t->value) + 1;

    *out = malloc(n);
    if (*out == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    snprintf(*out, n, "%s %s", c->p->resource_auth, t->value);
    return P11JWT_OK;
}

/* ---- resource calls ------------------------------------------------------ */

void p11jwt_response_clear(p11jwt_response *r)
{
    if (r == NULL)
        return;
    if (r->body != NULL)
        base_wipe(r->body, r->body_len);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static p11jwt_rc call_once(p11jwt_client *c, const char *method, const char *url,
                           const char *const *headers, size_t nheaders, const char *body,
                           size_t body_len, const p11jwt_access_token *t, exch_response *rs)
{
    const p11jwt_profile *p = c->p;
    struct curl_slist *hl = NULL, *n;
    exch_request rq = { 0 };
    char *auth = NULL, *line = NULL;
    int retryable;
    p11jwt_rc rc = p11jwt_client_auth_value(c, t, &auth);

    /* Profile headers first, then the caller's, then Authorization. */
    for (size_t i = 0; rc == P11JWT_OK && i < p->nheaders + nheaders; i++) {
        const char *h = headers != NULL && i >= p->nheaders ? headers[i - p->nheaders] : NULL;
        size_t len;

        if (h == NULL) {
            len = strlen(p->headers[i].name) + 2 + strlen(p->headers[i].value) + 1;
            if ((line = malloc(len)) != NULL)
                snprintf(line, len, "%s: %s", p->headers[i].name, p->headers[i].value);
            h = line;
        }
        if (h != NULL && strpbrk(h, "\r\n") != NULL)
            rc = err_set(P11JWT_ERR_ARG, "header %s holds a line break: refused",
                         ESCN(h, strcspn(h, ":")));
        else if (h == NULL || (n = curl_slist_append(hl, h)) == NULL)
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        else
            hl = n;
        free(line);
        line = NULL;
    }
    /* The token is checked when it arrives; a caller's own is checked here. */
    if (rc == P11JWT_OK && strpbrk(auth, "\r\n") != NULL)
        rc = err_set(P11JWT_ERR_ARG, "the access token holds a line break: refused");
    if (rc == P11JWT_OK) {
        size_t len = strlen("Authorization: ") + strlen(auth) + 1;

        if ((line = malloc(len)) != NULL)
            snprintf(line, len, "Authorization: %s", auth);
        if (line == NULL || (n = curl_slist_append(hl, line)) == NULL)
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        else
            hl = n;
    }
    if (rc == P11JWT_OK) {
        rq.method = method != NULL ? method : body != NULL ? "POST" : "GET";
        rq.url = url;
        rq.headers = hl;
        rq.body = body;
        rq.body_len = body_len;
        pthread_mutex_lock(&c->res_mu);
        rc = exch_http_perform(&c->res, p, NULL, &rq, rs, &retryable);
        pthread_mutex_unlock(&c->res_mu);
    }
    base_secret_free(line);
    base_secret_free(auth);
    /* The list holds its own copy of the Authorization line (and maybe of
     * a caller's secret header): wiped before it goes. */
    for (n = hl; n != NULL; n = n->next)
        base_wipe(n->data, strlen(n->data));
    curl_slist_free_all(hl); /* curl copied nothing of ours it still needs */
    return rc;
}

p11jwt_rc p11jwt_client_call(p11jwt_client *c, const char *method, const char *url,
                             const char *const *headers, size_t nheaders, const char *body,
                             size_t body_len, p11jwt_response *out)
{
    exch_response rs = { .retry_after = -1 };
    p11jwt_access_token t;
    p11jwt_rc rc;

    err_clear();
    memset(out, 0, sizeof *out);
    /* Refuse a URL we would never call before spending an exchange on it. */
    rc = exch_url_check(url, "URL", P11JWT_ERR_HTTP);
    if (rc != P11JWT_OK)
        return rc;
    for (int tries = 0;; tries++) {
        rc = p11jwt_client_token(c, &t);
        if (rc != P11JWT_OK)
            return rc;
        rc = call_once(c, method, url, headers, nheaders, body, body_len, &t, &rs);
        if (rc == P11JWT_OK && rs.status == 401 && tries == 0) {
            /* The resource no longer accepts this token (revoked, rotated
             * key, clock): drop it, get a new one, try once more. */
            p11jwt_client_invalidate(c, t.value);
            p11jwt_access_token_clear(&t);
            continue;
        }
        p11jwt_access_token_clear(&t);
        break;
    }
    if (rc == P11JWT_OK) {
        out->status = rs.status;
        out->body = rs.body;
        out->body_len = rs.len;
        rs.body = NULL;
    }
    exch_response_clear(&rs);
    return rc;
}

/* ==== for the host agent (docs/agent.md) ====================================
 * What an agent serving many callers needs beyond the calls above: the
 * profile back, the token opened and logged in at start, a status without a
 * token in it, a token valid a given time longer, and a plain resource
 * request for callers that got their Authorization from an agent.
 */

const p11jwt_profile *p11jwt_client_profile(const p11jwt_client *c)
{
    return c->p;
}

p11jwt_rc p11jwt_client_prepare(p11jwt_client *c)
{
    const p11jwt_profile *p = c->p;
    unsigned char *secret = NULL;
    size_t secret_len = 0;
    char *active = NULL, *fallback = NULL;
    p11jwt_token *tok = NULL;
    p11jwt_key *key = NULL;
    p11jwt_rc rc;

    err_clear();
    if (!exch_dialect_signs(p->dialect)) {
        /* Nothing to log in to: show now that the secret can be read. */
        rc = read_secret(p, p->client_secret_file, p->client_secret_env, "client secret",
                         &secret, &secret_len);
        if (secret != NULL)
            p11jwt_secret_free(secret, secret_len);
        return rc;
    }
    rc = exch_client_open_token(c, &tok);
    if (rc == P11JWT_OK && (rc = p11jwt_token_login(tok)) != P11JWT_OK)
        err_wrap(rc, "profile '%s': token", p->name);
    if (rc == P11JWT_OK)
        rc = exch_keyring_kids(c, &active, &fallback, NULL);
    if (rc == P11JWT_OK && (rc = open_key(c, active, &key)) != P11JWT_OK)
        err_wrap(rc, "profile '%s'", p->name);
    free(active);
    free(fallback);
    return rc;
}

void p11jwt_client_get_status(p11jwt_client *c, p11jwt_client_status *out)
{
    int64_t now = now_s();

    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&c->mu);
    if (usable(&c->cur, now))
        out->expires_at = c->cur.expires_at;
    if (c->inflight)
        out->state = P11JWT_STATE_REFRESHING;
    else if (out->expires_at != 0)
        out->state = P11JWT_STATE_VALID;
    else if (c->last_rc != P11JWT_OK)
        out->state = P11JWT_STATE_ERROR;
    else
        out->state = P11JWT_STATE_NONE;
    if (c->last_rc != P11JWT_OK)
        snprintf(out->last_error, sizeof out->last_error, "%s", c->last_msg);
    out->failures = c->failures;
    pthread_mutex_unlock(&c->mu);
    out->exchanges = atomic_load(&c->exchanges);
}

/* Merge point with the background refresh (issue 15): a refresh is made due
 * now and this caller takes the slow path, which exchanges (or finds one in
 * flight and waits for its end below). */
p11jwt_rc p11jwt_client_token_min_valid(p11jwt_client *c, int64_t min_valid,
                                        const p11jwt_access_token **out)
{
    struct tl_slot *slot;
    uint64_t gen;
    p11jwt_rc rc = p11jwt_client_token_peek(c, out);

    if (rc != P11JWT_OK || min_valid <= 0 || (*out)->expires_at - now_s() >= min_valid)
        return rc;
    *out = NULL;
    slot = tl_slot_for(c); /* the peek above made it */
    pthread_mutex_lock(&c->mu);
    gen = c->generation;
    if (!c->inflight)
        c->refresh_at = now_s();
    pthread_mutex_unlock(&c->mu);
    slot->refresh_at = 0;
    rc = token_slow(c, slot);
    if (rc != P11JWT_OK || slot->tok.expires_at - now_s() >= min_valid)
        goto out;
    /* Still too short: another caller's exchange was in flight (wait for
     * its end), or the refresh failed and the old token was kept (an
     * error: it is not valid long enough). */
    pthread_mutex_lock(&c->mu);
    while (c->inflight && c->generation == gen)
        pthread_cond_wait(&c->cv, &c->mu);
    if (c->generation != gen && c->last_rc != P11JWT_OK)
        rc = err_set(c->last_rc, "%s", c->last_msg);
    pthread_mutex_unlock(&c->mu);
    if (rc == P11JWT_OK) {
        /* The newest token, even if the STS issues shorter-lived ones. */
        slot->refresh_at = 0;
        rc = token_slow(c, slot);
    }
out:
    if (rc == P11JWT_OK)
        *out = &slot->tok;
    return rc;
}

p11jwt_rc p11jwt_http_call(const char *method, const char *url, const char *const *headers,
                           size_t nheaders, const char *body, size_t body_len,
                           p11jwt_response *out)
{
    p11jwt_profile p = { .name = (char *)"(none)", .timeout = 30, .connect_timeout = 10 };
    exch_response rs = { .retry_after = -1 };
    struct curl_slist *hl = NULL, *n;
    exch_request rq = { 0 };
    exch_http h = { 0 };
    int retryable;
    p11jwt_rc rc;

    err_clear();
    memset(out, 0, sizeof *out);
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return err_set(P11JWT_ERR_HTTP, "libcurl could not start: %s",
                       curl_easy_strerror(curl_init_rc));
    rc = exch_http_init(&h);
    for (size_t i = 0; rc == P11JWT_OK && i < nheaders; i++) {
        if ((n = curl_slist_append(hl, headers[i])) == NULL)
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        else
            hl = n;
    }
    if (rc == P11JWT_OK) {
        rq.method = method != NULL ? method : body != NULL ? "POST" : "GET";
        rq.url = url;
        rq.headers = hl;
        rq.body = body;
        rq.body_len = body_len;
        rc = exch_http_perform(&h, &p, NULL, &rq, &rs, &retryable);
    }
    if (rc == P11JWT_OK) {
        out->status = rs.status;
        out->body = rs.body;
        out->body_len = rs.len;
        rs.body = NULL;
    }
    /* The list may hold an Authorization header: wipe it on the way out. */
    for (n = hl; n != NULL; n = n->next)
        base_wipe(n->data, strlen(n->data));
    curl_slist_free_all(hl);
    exch_response_clear(&rs);
    exch_http_cleanup(&h);
    return rc;
}
