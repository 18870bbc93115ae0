/*
 * cache_redis.c — the token cache's fleet level: a Redis shared by every
 * host of a service, behind the process's memory cache (docs/fleet.md).
 * It is a backend (exchange_int.h) that keeps the memory backend as its
 * first level, and it wraps the cache's refill: cache.c, its lock-free
 * hit path and its single flight are unchanged.
 *
 * A refill first reads the fleet's entry; a valid entry that is not due
 * is the token. Otherwise the host takes the fleet's refresh lock (SET NX
 * PX cache_lock), exchanges, stores the entry (its TTL the token's
 * expiry) and releases the lock only while it is still its own. A host
 * that did not get the lock keeps its valid token, or waits (bounded by
 * cache_lock) for the entry. Every value is AES-256-GCM sealed in the
 * token (cache_key; the entry's key is the AAD; cache_sealed.c), so Redis
 * never holds a readable token.
 *
 * The decision: Redis is an optimisation, never a dependency. Any failure
 * of it (down, stopped, slow past cache_timeout, AUTH refused, a value
 * that does not open) ends in a local exchange, is counted, and is logged
 * at most once a minute.
 */
#include "exchange/exchange_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 50
#define LOG_EVERY 60

struct fleet {
    void *mem;                  /* the first level (exch_cache_memory's) */
    exch_cache_refill_fn refill; /* the exchange */
    void *ud;
    exch_redis *r;
    char *key, *lock_key;
    int64_t lock_ms, timeout_ms, refresh_ahead;
    exch_sealer *sealer;        /* the entry's bytes (cache_sealed.c) */
    pthread_mutex_t mu;
    exch_cache_entry held;      /* a copy of what the first level holds */

    /* Set by a refill, read by the put that follows it (the cache's single
     * flight: the same thread, one at a time): the fleet's refresh time
     * for the token the refill returned. */
    char *stash;
    int64_t stash_refresh_at;

    atomic_uint_fast64_t hits, errors;
    pthread_mutex_t log_mu;
    int64_t last_log;
    uint64_t unlogged;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A Redis problem (the thread's message says which): counted, and logged
 * at most once a minute with how many went unlogged meanwhile. */
static void problem(struct fleet *f)
{
    int64_t now = now_s();

    atomic_fetch_add(&f->errors, 1);
    pthread_mutex_lock(&f->log_mu);
    if (f->last_log == 0 || now - f->last_log >= LOG_EVERY) {
        base_log(P11JWT_LOG_WARNING, "cache: %s; exchanging locally (%llu more Redis problem%s "
                 "since the last line; logged once a minute)", p11jwt_errmsg(),
                 (unsigned long long)f->unlogged, f->unlogged == 1 ? "" : "s");
        f->last_log = now;
        f->unlogged = 0;
    } else {
        f->unlogged++;
    }
    pthread_mutex_unlock(&f->log_mu);
    err_clear();
}

/* ---- the scope set and the entry's key ------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "b a  b" → "a b": sorted, each once, one space between. NULL for none
 * (NULL or only spaces). Caller frees. */
char *exch_scope_normalise(const char *scope)
{
    char *copy, *save = NULL, **words = NULL, *out = NULL, *w;
    size_t n = 0, len = 0, o = 0;

    if (scope == NULL || (copy = strdup(scope)) == NULL)
        return NULL;
    for (w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
        char **nw = realloc(words, (n + 1) * sizeof *nw);

        if (nw == NULL)
            goto out;
        words = nw;
        words[n++] = w;
        len += strlen(w) + 1;
    }
    if (n == 0 || (out = malloc(len)) == NULL)
        goto out;
    qsort(words, n, sizeof *words, cmp_str);
    for (size_t i = 0; i < n; i++) {
        size_t l;

        if (i > 0 && strcmp(words[i], words[i - 1]) == 0)
            continue;
        if (o > 0)
            out[o++] = ' ';
        l = strlen(words[i]);
        memcpy(out + o, words[i], l);
        o += l;
    }
    out[o] = '\0';
out:
    free(words);
    free(copy);
    return out;
}

/* prefix + the SHA-256 (hex) of what makes a token interchangeable: never
 * a secret. */
static p11jwt_rc entry_key(const p11jwt_profile *p, char **out)
{
    const char *parts[9];
    unsigned char d[32];
    unsigned int dl = 0;
    char *scope = exch_scope_normalise(p->scope);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const char *prefix = p->cache_prefix != NULL ? p->cache_prefix : "p11jwt:";
    size_t n;
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

    parts[0] = EXCH_ENTRY_MAGIC;
    parts[1] = p->token_url;
    parts[2] = exch_dialect_name(p->dialect);
    parts[3] = p->client_id;
    parts[4] = p->iss;
    parts[5] = p->sub;
    parts[6] = p->aud;
    parts[7] = exch_dialect_signs(p->dialect) ? p->keyring : NULL;
    parts[8] = scope;
    for (size_t i = 0; ok && i < sizeof parts / sizeof parts[0]; i++) {
        const char *v = parts[i] != NULL ? parts[i] : "";

        /* Each part with its NUL: "ab"+"c" differs from "a"+"bc". */
        ok = EVP_DigestUpdate(ctx, v, strlen(v) + 1) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, d, &dl) == 1 && dl == sizeof d;
    EVP_MD_CTX_free(ctx);
    free(scope);
    if (!ok)
        return err_set(P11JWT_ERR_CRYPTO, "SHA-256 failed");
    n = strlen(prefix) + 2 * sizeof d + 1;
    if ((*out = malloc(n)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    n = (size_t)sprintf(*out, "%s", prefix);
    for (size_t i = 0; i < sizeof d; i++)
        n += (size_t)sprintf(*out + n, "%02x", d[i]);
    return P11JWT_OK;
}

enum fetched { F_NONE, F_ENTRY, F_DOWN };

/* The fleet's entry: F_ENTRY with *e filled, F_NONE (none, or one that
 * does not open: logged, never used), F_DOWN (Redis failed: logged).
 * refused (NULL: none): set when a value was refused; one already set
 * means this round counted it, so the same value read again is not
 * counted twice. */
static enum fetched fetch(struct fleet *f, exch_cache_entry *e, unsigned char **raw,
                          size_t *raw_len, int *refused)
{
    unsigned char *v = NULL;
    size_t len = 0;
    p11jwt_rc rc;

    memset(e, 0, sizeof *e);
    if (raw != NULL)
        *raw = NULL;
    rc = exch_redis_get(f->r, f->key, &v, &len);
    if (rc != P11JWT_OK) {
        problem(f);
        return F_DOWN;
    }
    if (v == NULL)
        return F_NONE;
    rc = exch_sealer_open(f->sealer, v, len, e);
    if (rc != P11JWT_OK) {
        err_wrap(rc, "the fleet's entry is refused");
        if (refused == NULL || !*refused)
            problem(f);
        if (refused != NULL)
            *refused = 1;
        base_secret_free_n(v, len);
        return F_NONE;
    }
    if (raw != NULL) {
        *raw = v;
        *raw_len = len;
    } else {
        base_secret_free_n(v, len);
    }
    return F_ENTRY;
}

/* Stores e as the fleet's entry until its token expires. */
static void store(struct fleet *f, const exch_cache_entry *e)
{
    unsigned char *v = NULL;
    size_t len = 0;
    int stored;
    int64_t ttl = e->tok.expires_at - now_s();
    p11jwt_rc rc;

    if (ttl <= 0)
        return;
    rc = exch_sealer_seal(f->sealer, e, &v, &len);
    if (rc == P11JWT_OK)
        rc = exch_redis_set(f->r, f->key, v, len, ttl * 1000, 0, &stored);
    if (rc != P11JWT_OK)
        problem(f);
    base_secret_free_n(v, len);
}

/* ---- the refill ----------------------------------------------------------------------- */

static void stash(struct fleet *f, const char *value, int64_t refresh_at)
{
    base_secret_free(f->stash);
    f->stash = value != NULL ? strdup(value) : NULL;
    f->stash_refresh_at = refresh_at;
}

/* A copy of the token the first level holds, if it is valid a while yet. */
static int held_copy(struct fleet *f, p11jwt_access_token *out)
{
    int ok = 0;

    pthread_mutex_lock(&f->mu);
    if (f->held.tok.value != NULL && now_s() + 1 < f->held.tok.expires_at)
        ok = exch_token_copy(&f->held.tok, out) == P11JWT_OK;
    pthread_mutex_unlock(&f->mu);
    return ok;
}

/* Holding the fleet's lock: one exchange, its token stored for the fleet,
 * the lock released only while it is still ours. */
static p11jwt_rc exchange_locked(struct fleet *f, const char *nonce, p11jwt_access_token *out)
{
    exch_cache_entry e = { 0 };
    int deleted;
    p11jwt_rc rc = f->refill(f->ud, out);
    err_saved saved;

    err_save(&saved, rc);
    if (rc == P11JWT_OK) {
        e.tok = *out;
        e.refresh_at = exch_refresh_time(f->refresh_ahead, now_s(), out->expires_at,
                                         exch_random_unit());
        store(f, &e);
        stash(f, out->value, e.refresh_at);
    }
    if (exch_redis_del_if(f->r, f->lock_key, nonce, strlen(nonce), &deleted) != P11JWT_OK)
        problem(f);
    return err_restore(&saved);
}

/* When this host takes the fleet's entry as due: at the fleet's refresh
 * time, or earlier when its own refresh_ahead (if set) or the caller's
 * min_valid (min_left) wants more life than the token has left. */
static int64_t due_at(const struct fleet *f, const exch_cache_entry *e, int64_t min_left)
{
    int64_t at = e->refresh_at;

    if (f->refresh_ahead >= 0 && e->tok.expires_at - f->refresh_ahead < at)
        at = e->tok.expires_at - f->refresh_ahead;
    if (min_left > 0 && e->tok.expires_at - min_left + 1 < at)
        at = e->tok.expires_at - min_left + 1;
    return at;
}

/* The lock's value: 32 random hex digits, drawn only when a hit missed. */
static p11jwt_rc make_nonce(char nonce[33])
{
    unsigned char rnd[16];

    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return err_set(P11JWT_ERR_CRYPTO, "no random bytes for the lock");
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
    return P11JWT_OK;
}

/* The cache's refill (cache.c calls it one at a time, outside its lock). */
p11jwt_rc exch_fleet_refill(void *ud, p11jwt_access_token *out)
{
    struct fleet *f = ud;
    char nonce[33] = "";
    int64_t min_left = exch_cache_refill_min_left();
    int64_t give_up = now_ms() + f->lock_ms + f->timeout_ms;
    exch_cache_entry e;
    enum fetched st;
    int got, refused = 0;

    memset(out, 0, sizeof *out);
    stash(f, NULL, 0);
    for (;;) {
        int64_t now;

        st = fetch(f, &e, NULL, NULL, &refused);
        if (st == F_DOWN)
            break;
        now = now_s();
        if (st == F_ENTRY && now < e.tok.expires_at && now < due_at(f, &e, min_left)) {
            atomic_fetch_add(&f->hits, 1);
            stash(f, e.tok.value, due_at(f, &e, 0));
            *out = e.tok;
            return P11JWT_OK;
        }
        if (nonce[0] == '\0' && make_nonce(nonce) != P11JWT_OK) {
            p11jwt_access_token_clear(&e.tok);
            return f->refill(f->ud, out);
        }
        if (exch_redis_set(f->r, f->lock_key, nonce, strlen(nonce), f->lock_ms, 1, &got) !=
            P11JWT_OK) {
            problem(f);
            p11jwt_access_token_clear(&e.tok);
            break;
        }
        if (got) {
            int deleted;

            p11jwt_access_token_clear(&e.tok);
            /* Another host may have stored a fresh entry and released the
             * lock between our GET and our SET: look once more. */
            st = fetch(f, &e, NULL, NULL, &refused);
            now = now_s();
            if (st != F_ENTRY || now >= e.tok.expires_at || now >= due_at(f, &e, min_left)) {
                p11jwt_access_token_clear(&e.tok);
                return exchange_locked(f, nonce, out);
            }
            if (exch_redis_del_if(f->r, f->lock_key, nonce, strlen(nonce), &deleted) !=
                P11JWT_OK)
                problem(f);
            atomic_fetch_add(&f->hits, 1);
            stash(f, e.tok.value, due_at(f, &e, 0));
            *out = e.tok;
            return P11JWT_OK;
        }
        /* Another host is refreshing: keep a valid token (the fleet's,
         * else our own) and look again in a second; with none, wait. */
        if (st == F_ENTRY && now + 1 < e.tok.expires_at) {
            stash(f, e.tok.value, now + 1);
            *out = e.tok;
            return P11JWT_OK;
        }
        p11jwt_access_token_clear(&e.tok);
        if (held_copy(f, out)) {
            stash(f, out->value, now + 1);
            return P11JWT_OK;
        }
        if (now_ms() >= give_up) {
            err_set(P11JWT_ERR_HTTP, "redis: no entry and no lock within cache_lock");
            problem(f);
            break;
        }
        sleep_ms(POLL_MS);
    }
    return f->refill(f->ud, out);
}

/* ---- the backend: the first level, with the fleet's refresh time and
 *      invalidation --------------------------------------------------------------------- */

static const exch_cache_entry *fleet_get(void *be)
{
    return exch_cache_memory.get(((struct fleet *)be)->mem);
}

static p11jwt_rc fleet_put(void *be, exch_cache_entry *e)
{
    struct fleet *f = be;
    p11jwt_rc rc;

    /* The fleet's refresh time, not one of this host's own. */
    if (f->stash != NULL && e->tok.value != NULL && strcmp(f->stash, e->tok.value) == 0)
        e->refresh_at = f->stash_refresh_at;
    stash(f, NULL, 0);
    pthread_mutex_lock(&f->mu);
    p11jwt_access_token_clear(&f->held.tok);
    rc = exch_token_copy(&e->tok, &f->held.tok);
    pthread_mutex_unlock(&f->mu);
    if (rc != P11JWT_OK)
        return rc;
    return exch_cache_memory.put(f->mem, e);
}

static void fleet_reschedule(void *be, int64_t refresh_at)
{
    exch_cache_memory.reschedule(((struct fleet *)be)->mem, refresh_at);
}

/* Deletes the fleet's entry if it still holds `value`: a fresh token
 * another host just stored survives. */
static void forget(struct fleet *f, const char *value)
{
    exch_cache_entry e;
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    int deleted;

    if (fetch(f, &e, &raw, &raw_len, NULL) != F_ENTRY)
        return;
    if (strcmp(e.tok.value, value) == 0 &&
        exch_redis_del_if(f->r, f->key, raw, raw_len, &deleted) != P11JWT_OK)
        problem(f);
    p11jwt_access_token_clear(&e.tok);
    base_secret_free_n(raw, raw_len);
}

static int fleet_drop(void *be, const char *value)
{
    struct fleet *f = be;
    const exch_cache_entry *held = exch_cache_memory.get(f->mem);
    char *v = value != NULL ? strdup(value)
              : held != NULL ? strdup(held->tok.value)
                             : NULL;
    int dropped = exch_cache_memory.drop(f->mem, value);

    if (dropped) {
        pthread_mutex_lock(&f->mu);
        p11jwt_access_token_clear(&f->held.tok);
        pthread_mutex_unlock(&f->mu);
    }
    if (v != NULL)
        forget(f, v);
    /* The remembered text of the fleet's value holds the token too. */
    exch_sealer_forget(f->sealer);
    base_secret_free(v);
    return dropped;
}

static void fleet_free(void *be)
{
    struct fleet *f = be;

    if (f == NULL)
        return;
    exch_cache_memory.free(f->mem);
    exch_redis_free(f->r);
    exch_sealer_free(f->sealer);
    p11jwt_access_token_clear(&f->held.tok);
    base_secret_free(f->stash);
    free(f->key);
    free(f->lock_key);
    pthread_mutex_destroy(&f->mu);
    pthread_mutex_destroy(&f->log_mu);
    free(f);
}

const exch_cache_backend exch_cache_redis = {
    "redis", fleet_get, fleet_put, fleet_reschedule, fleet_drop, fleet_free,
};

p11jwt_rc exch_fleet_new(p11jwt_client *c, exch_cache_refill_fn refill, void *ud, void **out)
{
    const p11jwt_profile *p = c->p;
    struct fleet *f;
    p11jwt_rc rc;

    *out = NULL;
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&f->mu, NULL);
    pthread_mutex_init(&f->log_mu, NULL);
    f->refill = refill;
    f->ud = ud;
    f->lock_ms = p->cache_lock * 1000;
    f->timeout_ms = p->cache_timeout_ms;
    f->refresh_ahead = p->refresh_ahead;
    f->mem = exch_cache_memory_new();
    rc = f->mem != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (rc == P11JWT_OK)
        rc = exch_redis_new(p->cache, p->cache_password_file,
                            (double)p->cache_timeout_ms / 1000.0, &f->r);
    if (rc == P11JWT_OK)
        rc = entry_key(p, &f->key);
    if (rc == P11JWT_OK && (f->lock_key = malloc(strlen(f->key) + 6)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (rc == P11JWT_OK)
        sprintf(f->lock_key, "%s:lock", f->key);
    if (rc == P11JWT_OK)
        rc = exch_sealer_new(c, p->cache_key, f->key, &f->sealer);
    if (rc != P11JWT_OK) {
        fleet_free(f);
        return rc;
    }
    *out = f;
    return P11JWT_OK;
}

void exch_fleet_after_fork(void *be)
{
    struct fleet *f = be;

    pthread_mutex_init(&f->mu, NULL);
    pthread_mutex_init(&f->log_mu, NULL);
    exch_redis_after_fork(f->r);
    exch_sealer_after_fork(f->sealer);
}

void exch_fleet_counts(void *be, uint64_t *hits, uint64_t *errors)
{
    struct fleet *f = be;

    *hits = atomic_load(&f->hits);
    *errors = atomic_load(&f->errors);
}

int exch_fleet_held(void *be, p11jwt_access_token *out)
{
    struct fleet *f = be;
    exch_cache_entry e;

    memset(out, 0, sizeof *out);
    if (fetch(f, &e, NULL, NULL, NULL) != F_ENTRY)
        return 0;
    *out = e.tok;
    return 1;
}
