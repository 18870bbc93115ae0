/*
 * revoke.c — token revocation (RFC 7009): the client's token sent to the
 * profile's revocation_url, authenticated as the dialect authenticates at
 * the token endpoint (a client secret by HTTP Basic or in the form, a
 * fresh client_assertion for private-key-jwt, nothing for the jwt-bearer
 * dialects), then dropped from every cache level (memory, and the fleet's
 * Redis entry if it still holds it).
 *
 * The decision: 200 is the only success, whatever the token was (RFC 7009
 * §2.2: an unknown or invalid token gets 200 too); anything else is the
 * provider's error, retried as a token request is (network errors, 5xx
 * and 429, with backoff and Retry-After). The token is dropped from the
 * caches only once the server has revoked it.
 */
#include "exchange/exchange_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ASSERTION_TYPE_JWT "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

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

/* The revocation request for value, with a fresh assertion (kid) or the
 * client secret as the dialect authenticates. */
static p11jwt_rc build(p11jwt_client *c, const char *value, const char *kid,
                       const char *secret, exch_built *b)
{
    const p11jwt_profile *p = c->p;
    exch_inputs in = { NULL, secret };
    exch_form f = { 0 };
    char *assertion = NULL;
    p11jwt_rc rc = P11JWT_OK;

    memset(b, 0, sizeof *b);
    exch_form_add(&f, "token", value);
    exch_form_add(&f, "token_type_hint", "access_token");
    if (p->dialect == EXCH_PRIVATE_KEY_JWT) {
        rc = exch_client_sign(c, kid, &assertion);
        exch_form_add(&f, "client_id", p->client_id);
        exch_form_add(&f, "client_assertion_type", ASSERTION_TYPE_JWT);
        exch_form_add(&f, "client_assertion", assertion);
        base_secret_free(assertion);
    } else if (!exch_dialect_signs(p->dialect)) {
        rc = exch_client_secret_auth(p, &in, &f, b);
    }
    if (rc == P11JWT_OK && (b->url = strdup(p->revocation_url)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (rc == P11JWT_OK)
        rc = exch_form_finish(b, &f);
    if (rc == P11JWT_OK)
        rc = exch_built_header(b, "Accept: application/json");
    exch_form_clear(&f);
    if (rc != P11JWT_OK)
        exch_built_clear(b);
    return rc;
}

/* One attempt. */
static p11jwt_rc attempt(p11jwt_client *c, const char *value, const char *kid,
                         const char *secret, int fresh, exch_response *rs, int *retryable)
{
    exch_http_opts o;
    exch_request rq = { 0 };
    exch_built b;
    p11jwt_rc rc = build(c, value, kid, secret, &b);

    if (rc != P11JWT_OK)
        return rc;
    rq.method = b.method;
    rq.url = b.url;
    rq.headers = b.headers;
    rq.body = b.body;
    rq.body_len = strlen(b.body);
    rq.basic_user = b.basic_user;
    rq.basic_pass = b.basic_pass;
    rq.fresh = fresh;
    exch_http_opts_of(c->p, 1, NULL, &o);
    rc = exch_http_perform(&c->sts, &o, &rq, rs, retryable);
    exch_built_clear(&b);
    return rc;
}

/* Revokes value at the STS, with the retries a token request gets. */
static p11jwt_rc revoke_at_sts(p11jwt_client *c, const char *value)
{
    const p11jwt_profile *p = c->p;
    unsigned char *secret = NULL;
    size_t secret_len = 0;
    char *active = NULL, *fallback = NULL;
    exch_response rs = { .retry_after = -1 };
    p11jwt_rc rc;

    rc = exch_secret_read(p, p->client_secret_file, p->client_secret_env, "client secret",
                          &secret, &secret_len);
    if (rc == P11JWT_OK && p->dialect == EXCH_PRIVATE_KEY_JWT)
        rc = exch_client_kids(c, &active, &fallback, NULL);
    if (rc != P11JWT_OK)
        goto out;
    pthread_mutex_lock(&c->sts_mu);
    for (int n = 0;; n++) {
        int retryable = 0, timing, keyish;
        double delay;

        exch_response_clear(&rs);
        rs.retry_after = -1;
        rc = attempt(c, value, active, (const char *)secret, n > 0, &rs, &retryable);
        if (rc == P11JWT_OK && rs.status == 200)
            break;
        if (rc == P11JWT_OK) {
            rc = exch_oauth_error(p, &rs, &timing, &keyish);
            retryable = rs.status >= 500 || rs.status == 429;
        }
        if (!retryable || n >= p->max_retries)
            break;
        delay = rs.retry_after >= 0 ? (double)rs.retry_after
                                    : exch_backoff(p->retry_base, p->retry_max_delay, n,
                                                   exch_random_unit());
        sleep_s(delay > p->retry_max_delay ? p->retry_max_delay : delay);
    }
    pthread_mutex_unlock(&c->sts_mu);
out:
    exch_response_clear(&rs);
    free(active);
    free(fallback);
    base_secret_free_n(secret, secret_len);
    return rc;
}

p11jwt_rc p11jwt_client_revoke(p11jwt_client *c, const char *value)
{
    const p11jwt_profile *p = c->p;
    p11jwt_access_token held = { 0 };
    p11jwt_rc rc;

    err_clear();
    if (p->revocation_url == NULL)
        return err_set(P11JWT_ERR_CONFIG, "profile '%s' has no revocation_url", ESC(p->name));
    if (value == NULL) {
        /* The token this client holds, else the fleet's. */
        if (!exch_cache_held(c->cache, &held) &&
            (c->fleet == NULL || !exch_fleet_held(c->fleet, &held)))
            return err_set(P11JWT_ERR_ARG,
                           "profile '%s': no token is cached here, so none is revoked (ask "
                           "the agent that holds it: --agent)",
                           ESC(p->name));
        value = held.value;
    }
    rc = revoke_at_sts(c, value);
    if (rc == P11JWT_OK)
        exch_cache_invalidate(c->cache, value);
    else
        err_wrap(rc, "profile '%s': revocation", ESC(p->name));
    p11jwt_access_token_clear(&held);
    return rc;
}
