/*
 * client.c — a profile bound to its token, keys, HTTP connections and
 * token cache (p11jwt_client), and what ties them: the one way a
 * profile's token is opened, the profile's assertion, the HTTP options a
 * profile implies. The exchange itself is exchange.c's, the cache
 * cache.c's, resource calls resource.c's.
 *
 * The decision: everything is opened on first use (the token and its
 * keys when a signature is first needed, the curl handles at their first
 * request), so a client made for `rotate status` or for an offline
 * assertion holds nothing it does not use; p11jwt_client_prepare does the
 * token's part up front for an agent.
 */
#include "exchange/exchange_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The cache's refill: one exchange with the STS. */
static p11jwt_rc refill(void *client, p11jwt_access_token *out)
{
    return exch_exchange(client, out);
}

/* The fleet's refill, with the client as its argument like refill's. */
static p11jwt_rc fleet_refill(void *client, p11jwt_access_token *out)
{
    return exch_fleet_refill(((p11jwt_client *)client)->fleet, out);
}

/* In a forked child, from the cache's fork handler: a refill (the
 * refresher's) may have been in flight in the parent, holding the STS
 * connection's lock, the keys' lock, or the fleet's (Redis, sealing); no
 * thread of the child holds any. The connections themselves are made anew
 * in the child (http.c, redis.c), the token's module re-initialised (the
 * PKCS#11 layer). */
static void after_fork(void *client)
{
    p11jwt_client *c = client;

    pthread_mutex_init(&c->key_mu, NULL);
    pthread_mutex_init(&c->sts_mu, NULL);
    pthread_mutex_init(&c->res_mu, NULL);
    pthread_mutex_init(&c->scope_mu, NULL);
    if (c->fleet != NULL)
        exch_fleet_after_fork(c->fleet);
}

p11jwt_rc p11jwt_client_new(p11jwt_profile *profile, p11jwt_client **out)
{
    p11jwt_client *c;
    p11jwt_rc rc;

    err_clear();
    *out = NULL;
    /* libcurl is loaded (and set up) at the first URL or request, not here:
     * a client for an offline assertion never loads it. */
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        p11jwt_profile_free(profile);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    c->p = profile;
    pthread_mutex_init(&c->key_mu, NULL);
    pthread_mutex_init(&c->sts_mu, NULL);
    pthread_mutex_init(&c->res_mu, NULL);
    pthread_mutex_init(&c->scope_mu, NULL);
    exch_http_init(&c->sts);
    exch_http_init(&c->res);
    /* The profile's own scope set: asking for it is asking for its token. */
    if (profile->scope != NULL && (c->scope_set = exch_scope_normalise(profile->scope)) == NULL &&
        strspn(profile->scope, " ") != strlen(profile->scope)) {
        p11jwt_client_free(c);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    exch_cache_opts co = { .refresh_ahead = profile->refresh_ahead,
                           .retry_base = profile->retry_base,
                           .retry_max_delay = profile->retry_max_delay,
                           .refill = refill,
                           .after_fork = after_fork,
                           .ud = c };
    if (profile->cache != NULL && strcmp(profile->cache, "memory") != 0) {
        /* The fleet's Redis as the second level (docs/fleet.md): its refill
         * asks Redis before it exchanges. */
        rc = exch_fleet_new(c, refill, c, &c->fleet);
        co.refill = fleet_refill;
        if (rc == P11JWT_OK)
            rc = exch_cache_new(&exch_cache_redis, c->fleet, &co, &c->cache);
    } else {
        rc = exch_cache_new(&exch_cache_memory, exch_cache_memory_new(), &co, &c->cache);
    }
    if (rc != P11JWT_OK) {
        c->fleet = NULL; /* freed with the cache, or never made */
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
    /* Scope sets' clients first: they use this one's token and keys. */
    exch_client_scoped_free(c);
    exch_cache_free(c->cache);
    for (size_t i = 0; i < c->nkeys; i++)
        p11jwt_key_free(c->keys[i]);
    free(c->keys);
    p11jwt_token_free(c->tok);
    exch_http_cleanup(&c->sts);
    exch_http_cleanup(&c->res);
    pthread_mutex_destroy(&c->key_mu);
    pthread_mutex_destroy(&c->sts_mu);
    pthread_mutex_destroy(&c->res_mu);
    pthread_mutex_destroy(&c->scope_mu);
    free(c->scope_set);
    p11jwt_profile_free(c->p);
    free(c);
}

const p11jwt_profile *p11jwt_client_profile(const p11jwt_client *c)
{
    return c->p;
}

/* The counters of a scope set's client, added to the profile's. */
static void add_counts(p11jwt_client *sub, void *ud)
{
    p11jwt_client_status *out = ud;
    uint64_t hits = 0, errors = 0;

    out->exchanges += atomic_load(&sub->exchanges);
    if (sub->fleet != NULL) {
        exch_fleet_counts(sub->fleet, &hits, &errors);
        out->fleet_hits += hits;
        out->fleet_errors += errors;
    }
}

void p11jwt_client_get_stats(p11jwt_client *c, p11jwt_client_stats *out)
{
    p11jwt_client_status st = { .exchanges = atomic_load(&c->exchanges) };

    exch_client_scoped_each(c, add_counts, &st);
    out->exchanges = st.exchanges;
}

void p11jwt_client_get_status(p11jwt_client *c, p11jwt_client_status *out)
{
    memset(out, 0, sizeof *out);
    exch_cache_status(c->cache, out);
    out->exchanges = atomic_load(&c->exchanges);
    if (c->fleet != NULL)
        exch_fleet_counts(c->fleet, &out->fleet_hits, &out->fleet_errors);
    /* Exchanges and the fleet's counts cover every scope set; the state
     * is the profile's own token's. */
    exch_client_scoped_each(c, add_counts, out);
}

/* ---- tokens: the cache's --------------------------------------------------------- */

p11jwt_rc p11jwt_client_token_peek(p11jwt_client *c, const p11jwt_access_token **out)
{
    return exch_cache_peek(c->cache, out);
}

p11jwt_rc p11jwt_client_token(p11jwt_client *c, p11jwt_access_token *out)
{
    const p11jwt_access_token *t;
    p11jwt_rc rc = exch_cache_peek(c->cache, &t);

    memset(out, 0, sizeof *out);
    return rc == P11JWT_OK ? exch_token_copy(t, out) : rc;
}

p11jwt_rc p11jwt_client_token_min_valid(p11jwt_client *c, int64_t min_valid,
                                        const p11jwt_access_token **out)
{
    return exch_cache_min_valid(c->cache, min_valid, out);
}

static void invalidate_one(p11jwt_client *sub, void *value)
{
    exch_cache_invalidate(sub->cache, value);
}

void p11jwt_client_invalidate(p11jwt_client *c, const char *value)
{
    exch_cache_invalidate(c->cache, value);
    /* The token may be a scope set's (p11jwt_client_token_scoped). */
    exch_client_scoped_each(c, invalidate_one, (void *)value);
}

/* ---- the token and its keys --------------------------------------------------- */

p11jwt_rc exch_token_open(const p11jwt_profile *p, const char *uri, p11jwt_token **out)
{
    p11jwt_token *t;
    p11jwt_rc rc = P11JWT_OK;

    *out = NULL;
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
        rc = p11jwt_token_open(t, uri);
    if (rc != P11JWT_OK) {
        p11jwt_token_free(t);
        return rc;
    }
    *out = t;
    return P11JWT_OK;
}

static p11jwt_rc open_token_locked(p11jwt_client *c)
{
    const p11jwt_profile *p = c->p;
    p11jwt_rc rc;

    if (c->tok != NULL)
        return P11JWT_OK;
    if (p->token == NULL)
        return err_set(P11JWT_ERR_CONFIG, "profile '%s' names no token", ESC(p->name));
    rc = exch_token_open(p, p->token, &c->tok);
    if (rc != P11JWT_OK)
        err_wrap(rc, "profile '%s': token", ESC(p->name));
    return rc;
}

p11jwt_rc exch_client_token(p11jwt_client *c, p11jwt_token **tok)
{
    p11jwt_rc rc;

    if (c->parent != NULL) /* a scope set's client signs with the profile's token */
        c = c->parent;
    pthread_mutex_lock(&c->key_mu);
    rc = open_token_locked(c);
    *tok = c->tok;
    pthread_mutex_unlock(&c->key_mu);
    return rc;
}

/* The profile's certificate thumbprints in the key's header, made once
 * here, before the key is shared; a key refused is freed. */
static p11jwt_rc key_x5t(p11jwt_client *c, p11jwt_key *k)
{
    const p11jwt_profile *p = c->p;
    unsigned which = (p->x5t ? P11JWT_X5T : 0) | (p->x5t_s256 ? P11JWT_X5T_S256 : 0);
    p11jwt_rc rc;

    if (which == 0 || (rc = p11jwt_key_x5t(k, p->cert, which)) == P11JWT_OK)
        return P11JWT_OK;
    p11jwt_key_free(k);
    return rc;
}

/* The key with this kid, opened once per client. */
static p11jwt_rc open_key(p11jwt_client *c, const char *kid, p11jwt_key **out)
{
    p11jwt_key **nk;
    p11jwt_rc rc;

    if (c->parent != NULL) /* a scope set's client: the profile's keys */
        c = c->parent;
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
        /* The profile's alg, when set: a key that pins none signs as it,
         * one that pins another is refused. */
        rc = p11jwt_key_open_as(c->tok, kid, c->p->alg, &c->keys[c->nkeys]);
        if (rc == P11JWT_OK)
            rc = key_x5t(c, c->keys[c->nkeys]);
        if (rc == P11JWT_OK)
            *out = c->keys[c->nkeys++];
    }
    pthread_mutex_unlock(&c->key_mu);
    return rc;
}

p11jwt_rc exch_client_kids(p11jwt_client *c, char **active, char **fallback, int *is_next)
{
    p11jwt_token *tok;
    p11jwt_rc rc = exch_client_token(c, &tok);

    *active = NULL;
    *fallback = NULL;
    if (rc != P11JWT_OK)
        return rc;
    /* The keyring in the token names the active kid (the profile's kid
     * until a rotation stored a state). */
    {
        uint64_t version = 0;

        rc = kr_kids(tok, c->p->keyring, c->p->kid, active, fallback, is_next, &version);
        atomic_store(&c->kr_version, version);
    }
    return rc;
}

const char *exch_client_kid_origin(p11jwt_client *c, const char *kid, char *buf, size_t cap)
{
    uint64_t v = atomic_load(&c->kr_version);
    const char *pk = c->p->kid;

    if (v == 0) {
        buf[0] = '\0';
        return buf;
    }
    if (pk != NULL && kid != NULL && strcmp(pk, kid) != 0)
        snprintf(buf, cap,
                 " (chosen by keyring '%s', version %llu, in the token; the profile's kid '%s' "
                 "is not used: p11jwt rotate status --profile %s shows the keyring, rotate "
                 "forget drops it)",
                 ESC(c->p->keyring), (unsigned long long)v, ESC(pk), ESC(c->p->name));
    else
        snprintf(buf, cap, " (chosen by keyring '%s', version %llu, in the token)",
                 ESC(c->p->keyring), (unsigned long long)v);
    return buf;
}

/* ---- the profile's assertion ------------------------------------------------------ */

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

p11jwt_rc exch_client_sign(p11jwt_client *c, const char *kid, char **jws)
{
    const p11jwt_profile *p = c->p;
    p11jwt_claims_params cp = { 0 };
    p11jwt_key *key = NULL;
    char *extra = NULL;
    p11jwt_rc rc;

    *jws = NULL;
    rc = open_key(c, kid, &key);
    if (rc != P11JWT_OK) {
        char origin[512];

        exch_client_kid_origin(c, kid, origin, sizeof origin);
        if (origin[0] != '\0')
            err_wrap(rc, "kid '%s'%s", ESC(kid), origin);
        return rc;
    }
    rc = extra_claims(p, &extra);
    if (rc != P11JWT_OK)
        return rc;
    if (exch_dialect_get(p->dialect)->iss_is_client_id) {
        cp.iss = p->client_id; /* RFC 7523 §3: iss = sub = client_id */
        cp.sub = p->client_id;
    } else {
        cp.iss = p->iss;
        cp.sub = p->sub;
    }
    cp.aud = p->aud;
    cp.ttl = p->ttl;
    /* iat_backdate is at most 10 years (profile.c), so this is a time after
     * 1970 on any sane clock; never 0, which would mean "now". */
    cp.now = (int64_t)time(NULL) - p->iat_backdate;
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
    rc = exch_client_kids(c, &active, &fallback, NULL);
    if (rc == P11JWT_OK)
        rc = exch_client_sign(c, active, jws);
    free(active);
    free(fallback);
    return rc;
}

void exch_http_opts_of(const p11jwt_profile *p, int sts, const char *key_pin,
                       exch_http_opts *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout = p->connect_timeout;
    o->timeout = p->timeout;
    o->ca_file = p->ca_file;
    /* The TLS client certificate is the token endpoint's only. */
    if (sts && p->client_cert != NULL) {
        o->client_cert = p->client_cert;
        o->client_key = p->client_key;
        o->key_pin = key_pin;
    }
}

/* ==== for the host agent (docs/agent.md) ============================================
 * Does now what the first exchange would do lazily: the token opened and
 * logged in, the signing key found; for a client secret, shows it can be
 * read.
 */
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
        rc = exch_secret_read(p, p->client_secret_file, p->client_secret_env, "client secret",
                              &secret, &secret_len);
        base_secret_free_n(secret, secret_len);
        return rc;
    }
    rc = exch_client_token(c, &tok);
    if (rc == P11JWT_OK && (rc = p11jwt_token_login(tok)) != P11JWT_OK)
        err_wrap(rc, "profile '%s': token", ESC(p->name));
    if (rc == P11JWT_OK)
        rc = exch_client_kids(c, &active, &fallback, NULL);
    if (rc == P11JWT_OK && (rc = open_key(c, active, &key)) != P11JWT_OK) {
        char origin[512];

        err_wrap(rc, "profile '%s': kid '%s'%s", ESC(p->name), ESC(active),
                 exch_client_kid_origin(c, active, origin, sizeof origin));
    }
    free(active);
    free(fallback);
    return rc;
}
