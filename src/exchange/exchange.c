/*
 * exchange.c — one exchange with the STS: read the secrets it needs, then
 * attempts, each with a freshly signed assertion (a retried assertion
 * would be a replay), until one gets a token or the profile's retries are
 * spent. Network errors, 5xx and 429 are retried with capped exponential
 * backoff and full jitter, honouring Retry-After; a refusal that names
 * timing earns exactly one more attempt (a clock step, a slow HSM); a
 * refusal that points at the key is tried once with the keyring's other
 * kid (next, else the newest previous), because mid-rotation the STS may
 * trust only that one.
 *
 * This is the token cache's refill (cache.c): it runs in one thread at a
 * time per client (a caller with no valid token, or the cache's refresher),
 * holding the STS connection; a client being freed cuts it short.
 */
#include "exchange/exchange_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Names the profile in an error, once: the token's errors (opened through
 * exch_client_token) already start with it. */
static void wrap_profile(p11jwt_rc rc, const p11jwt_profile *p)
{
    char prefix[ESC_CAP + 16];
    int n = snprintf(prefix, sizeof prefix, "profile '%s'", ESC(p->name));

    if (n > 0 && (size_t)n < sizeof prefix && strncmp(p11jwt_errmsg(), prefix, (size_t)n) == 0)
        return;
    err_wrap(rc, "%s", prefix);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* Sleeps s seconds, in steps of at most 50 ms: a client being freed does
 * not wait out a backoff. 0 when cut short so. */
static int sleep_s(const p11jwt_client *c, double s)
{
    struct timespec ts;
    double step;

    while (s > 0) {
        if (exch_cache_stopping(c->cache))
            return 0;
        step = s < 0.05 ? s : 0.05;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(step * 1e9);
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        s -= step;
    }
    return !exch_cache_stopping(c->cache);
}

p11jwt_rc exch_secret_read(const p11jwt_profile *p, const char *file, const char *env,
                           const char *what, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (file != NULL) {
        p11jwt_rc rc = base_secret_read_file(file, BASE_SECRET_MAX, out, len);

        if (rc != P11JWT_OK)
            return err_wrap(rc, "profile '%s': %s", ESC(p->name), what);
        /* It is sent as text: a NUL would cut it short unseen. */
        if (memchr(*out, '\0', *len) != NULL) {
            base_secret_free_n(*out, *len);
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

/* The wait before attempt+1: full jitter (r in [0, 1)) under a cap that
 * doubles from base per attempt, never above max_delay. */
double exch_backoff(double base, double max_delay, int attempt, double r)
{
    double cap = base;

    for (int i = 0; i < attempt && cap < max_delay; i++)
        cap *= 2;
    if (cap > max_delay)
        cap = max_delay;
    return cap * r;
}

/* One HTTP request to the token endpoint with a freshly made body. */
static p11jwt_rc attempt(p11jwt_client *c, const char *kid, const char *secret,
                         const char *pin, int fresh, exch_response *rs, int *retryable)
{
    const p11jwt_profile *p = c->p;
    exch_inputs in = { NULL, secret };
    exch_http_opts o;
    exch_built b;
    exch_request rq = { 0 };
    char *assertion = NULL;
    p11jwt_rc rc;

    if (exch_dialect_signs(p->dialect)) {
        /* A fresh iat and jti for every attempt: a retried assertion would
         * be a replay to the STS. */
        rc = exch_client_sign(c, kid, &assertion);
        if (rc != P11JWT_OK)
            return rc;
        in.assertion = assertion;
    }
    rc = exch_dialect_build(p, &in, &b);
    if (rc == P11JWT_OK) {
        rq.method = b.method;
        rq.url = b.url;
        rq.headers = b.headers;
        rq.body = b.body;
        rq.body_len = b.body != NULL ? strlen(b.body) : 0;
        rq.basic_user = b.basic_user;
        rq.basic_pass = b.basic_pass;
        rq.fresh = fresh;
        exch_http_opts_of(p, 1, pin, &o);
        o.cancel = c->cache;
        atomic_fetch_add(&c->exchanges, 1);
        rc = exch_http_perform(&c->sts, &o, &rq, rs, retryable);
        exch_built_clear(&b);
    }
    /* A signed assertion is a credential until it expires. */
    base_secret_free(assertion);
    return rc;
}

/* A pkcs11: client_key must name a private key before it goes to libp11's
 * engine, which would otherwise print its own complaints to stderr and
 * leave curl with a bare "could not load the key". Any private key: TLS
 * signs with it as its handshake asks (an RSA key that pins no JWS alg is
 * a usual client key), so no JWS alg is asked of it. Checked once per
 * client. */
static p11jwt_rc check_client_key(p11jwt_client *c)
{
    const p11jwt_profile *p = c->p;
    p11jwt_token *t = NULL;
    p11_key_facts k = { 0 };
    const char *kid = NULL;
    p11jwt_rc rc;

    if (c->client_key_ok || p->client_key == NULL || strncmp(p->client_key, "pkcs11:", 7) != 0)
        return P11JWT_OK;
    rc = exch_token_open(p, p->client_key, &t);
    if (rc == P11JWT_OK) {
        kid = p11jwt_token_uri_kid(t);
        /* The URI itself is not echoed. */
        rc = kid == NULL ? err_set(P11JWT_ERR_CONFIG, "the URI names no key (object= or id=)")
                         : p11_inspect_key(t, kid, 1, &k);
    }
    if (rc == P11JWT_OK && (!k.found || k.cls != CKO_PRIVATE_KEY))
        rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "no private key with kid '%s' in token '%s'%s",
                     ESC(kid), p11_token_label(t),
                     k.found ? " (it is a secret key)"
                     : k.public_only ? " (only its public key is there)"
                                     : "");
    /* The engine loads the URI's own module, not p11-kit's proxy. */
    if (rc == P11JWT_OK)
        rc = p11_engine_use_token(t);
    if (rc == P11JWT_OK)
        c->client_key_ok = 1;
    else
        err_wrap(rc, "client_key");
    p11jwt_token_free(t);
    return rc;
}

/* The secrets one exchange needs: the client secret (client credentials)
 * and the PIN of a pkcs11: TLS client key (libp11's engine). */
static p11jwt_rc read_secrets(p11jwt_client *c, unsigned char **secret, size_t *secret_len,
                              unsigned char **pin, size_t *pin_len)
{
    const p11jwt_profile *p = c->p;
    p11jwt_rc rc;

    *pin = NULL;
    *pin_len = 0;
    rc = exch_secret_read(p, p->client_secret_file, p->client_secret_env, "client secret",
                          secret, secret_len);
    if (rc == P11JWT_OK && p->client_key != NULL && strncmp(p->client_key, "pkcs11:", 7) == 0) {
        rc = check_client_key(c);
        if (rc == P11JWT_OK)
            rc = exch_secret_read(p, p->pin_file, p->pin_env, "PIN for the TLS client key", pin,
                                  pin_len);
    }
    return rc;
}

/* The STS refused the key: name the kid(s) and, when a stored keyring
 * chose them, the keyring, its version and the profile's own kid when it
 * is not the one used (issue 17.2), before the STS's words (a message is
 * cut at ERR_MSG_MAX). first is the refusal of active when fallback was
 * tried too; the current message is the last refusal. */
static void say_key_refused(p11jwt_client *c, p11jwt_rc rc, const char *active,
                            const char *fallback, const char *first)
{
    char origin[384], last[ERR_MSG_MAX];

    /* The profile's kid may be the one fallen back to: then it was used. */
    exch_client_kid_origin(c,
                           fallback != NULL && c->p->kid != NULL &&
                                   strcmp(fallback, c->p->kid) == 0
                               ? fallback
                               : active,
                           origin, sizeof origin);
    snprintf(last, sizeof last, "%s", p11jwt_errmsg());
    if (fallback == NULL) {
        if (origin[0] != '\0')
            err_wrap(rc, "kid '%s'%s", ESC(active), origin);
    } else if (strcmp(first, last) == 0) {
        err_set(rc, "the STS refused both kid '%s' and kid '%s'%s: %s", ESC(active),
                ESC(fallback), origin, last);
    } else {
        err_set(rc, "the STS refused kid '%s' (%s) and kid '%s' (%s)%s", ESC(active), first,
                ESC(fallback), last, origin);
    }
}

p11jwt_rc exch_exchange(void *client, p11jwt_access_token *out)
{
    p11jwt_client *c = client;
    const p11jwt_profile *p = c->p;
    unsigned char *secret = NULL, *pin = NULL;
    size_t secret_len = 0, pin_len = 0;
    exch_response rs = { .retry_after = -1 };
    char *active = NULL, *fallback = NULL;
    const char *kid = NULL;
    int reminted = 0, fell_back = 0, fallback_is_next = 0;
    err_saved first_refusal;
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    rc = read_secrets(c, &secret, &secret_len, &pin, &pin_len);
    if (rc == P11JWT_OK && exch_dialect_signs(p->dialect)) {
        /* Read the keyring once per exchange: the active kid may have moved
         * on (promoted on another host), and it names the fallback. */
        rc = exch_client_kids(c, &active, &fallback, &fallback_is_next);
        kid = active;
    }
    if (rc != P11JWT_OK)
        goto out;

    pthread_mutex_lock(&c->sts_mu);
    for (int n = 0;; n++) {
        int retryable = 0, timing = 0, keyish = 0;
        double delay;

        rc = attempt(c, kid, (const char *)secret, (const char *)pin,
                     n > 0 || reminted || fell_back, &rs, &retryable);
        if (rc == P11JWT_OK && rs.status >= 200 && rs.status < 300) {
            rc = exch_token_response_parse(p, &rs, now_s(), out);
            if (rc == P11JWT_OK && fell_back)
                base_log(P11JWT_LOG_NOTICE,
                         "profile '%s': the STS refused kid '%s' and accepted kid '%s' "
                         "(keyring '%s', version %llu)%s",
                         ESC(p->name), ESC(active), ESC(kid), ESC(p->keyring),
                         (unsigned long long)atomic_load(&c->kr_version),
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
                err_save(&first_refusal, rc);
                fell_back = 1;
                kid = fallback;
                continue;
            }
            if (keyish)
                say_key_refused(c, rc, active, fell_back ? fallback : NULL,
                                fell_back ? first_refusal.msg : NULL);
        }
        if (!retryable || n >= p->max_retries)
            break;
        delay = rs.retry_after >= 0 ? (double)rs.retry_after
                                    : exch_backoff(p->retry_base, p->retry_max_delay, n,
                                                   exch_random_unit());
        if (delay > p->retry_max_delay)
            delay = p->retry_max_delay;
        if (!sleep_s(c, delay))
            break;
    }
    pthread_mutex_unlock(&c->sts_mu);
out:
    exch_response_clear(&rs);
    free(active);
    free(fallback);
    base_secret_free_n(secret, secret_len);
    base_secret_free_n(pin, pin_len);
    if (rc != P11JWT_OK)
        wrap_profile(rc, p);
    return rc;
}
