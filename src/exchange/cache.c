/*
 * cache.c — a client's access-token cache: one token per client, kept by
 * a backend (memory now: cache_memory.c) behind a mutex, and refilled
 * through a callback, so the cache needs nothing of the client.
 *
 * A caller gets the cached token until it is due for refresh; the first
 * caller past the refresh time refills while everyone else keeps getting
 * the still-valid token; callers with no valid token wait for the one
 * refill in flight (single flight) and share its result, success or
 * failure. Retries happen inside that one refill, never in the waiters.
 *
 * The decision: the hit path takes no lock and writes no shared memory.
 * Each thread keeps its own copy of the token, tagged with the cache's
 * generation (bumped whenever the token changes or is dropped). A copy
 * whose generation is current and whose refresh time has not come is
 * handed out as is; anything else goes through the mutex and the backend.
 */
#include "exchange/exchange_int.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct exch_cache {
    uint64_t id;                /* unique per process, never reused: names
                                   this cache's per-thread copies */
    const exch_cache_backend *ops;
    void *be;
    int64_t refresh_ahead;
    exch_cache_refill_fn refill;
    void *ud;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inflight;
    uint64_t generation;        /* bumped when a refill ends */
    atomic_uint_fast64_t token_gen; /* bumped when the token changes:
                                       per-thread copies of another
                                       generation are stale */
    err_saved last;             /* the last refill's result, for its waiters */
    uint64_t failures;          /* refills that ended in an error */
};

static atomic_uint_fast64_t next_cache_id = 1;

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

double exch_random_unit(void)
{
    uint32_t r = 0;

    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint32_t)clock();
    return (double)r / 4294967296.0;
}

int64_t exch_refresh_time(int64_t refresh_ahead, int64_t now, int64_t expires_at,
                          double jitter)
{
    int64_t life = expires_at - now, at;

    if (life <= 0)
        return now;
    if (refresh_ahead >= 0)
        return expires_at - refresh_ahead;
    at = expires_at - 300;
    if (now + life * 8 / 10 < at)
        at = now + life * 8 / 10;
    return at - (int64_t)(jitter * (double)life * 0.05);
}

/* Usable: not yet expired. A token is never handed out in its last second. */
static int usable(const exch_cache_entry *e, int64_t now)
{
    return e != NULL && e->tok.value != NULL && now < e->tok.expires_at;
}

static int64_t now_coarse(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec;
}

/* ---- per-thread copies ------------------------------------------------------- */

#define TL_SLOTS 4

struct tl_slot {
    uint64_t cache_id;          /* 0: empty */
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

/* This thread's slot for cache c, made or recycled if needed. */
static struct tl_slot *tl_slot_for(const exch_cache *c)
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
        if (tl->slot[i].cache_id == c->id)
            return &tl->slot[i];
    s = &tl->slot[tl->next++ % TL_SLOTS];
    p11jwt_access_token_clear(&s->tok);
    s->cache_id = c->id;
    s->gen = 0;
    return s;
}

/* ---- the cache ----------------------------------------------------------------- */

p11jwt_rc exch_cache_new(const exch_cache_backend *ops, void *be, int64_t refresh_ahead,
                         exch_cache_refill_fn refill, void *ud, exch_cache **out)
{
    exch_cache *c;

    *out = NULL;
    if (be == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        ops->free(be);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    c->id = atomic_fetch_add(&next_cache_id, 1);
    c->ops = ops;
    c->be = be;
    c->refresh_ahead = refresh_ahead;
    c->refill = refill;
    c->ud = ud;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    *out = c;
    return P11JWT_OK;
}

void exch_cache_free(exch_cache *c)
{
    if (c == NULL)
        return;
    /* This thread's copy goes now; other threads' copies go when their
     * slots are reused or the threads exit. */
    for (int i = 0; tl != NULL && i < TL_SLOTS; i++)
        if (tl->slot[i].cache_id == c->id) {
            p11jwt_access_token_clear(&tl->slot[i].tok);
            tl->slot[i].cache_id = 0;
        }
    c->ops->free(c->be);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

/* Under the mutex: one refill, its token handed to the backend. */
static p11jwt_rc refill_locked(exch_cache *c)
{
    exch_cache_entry fresh = { 0 };
    const exch_cache_entry *e;
    p11jwt_rc rc;

    c->inflight = 1;
    pthread_mutex_unlock(&c->mu);

    rc = c->refill(c->ud, &fresh.tok);

    pthread_mutex_lock(&c->mu);
    if (rc == P11JWT_OK) {
        fresh.refresh_at = exch_refresh_time(c->refresh_ahead, now_s(), fresh.tok.expires_at,
                                             exch_random_unit());
        rc = c->ops->put(c->be, &fresh);
        if (rc == P11JWT_OK)
            atomic_fetch_add(&c->token_gen, 1);
    }
    c->inflight = 0;
    c->generation++;
    err_save(&c->last, rc);
    c->failures += rc != P11JWT_OK;
    pthread_cond_broadcast(&c->cv);
    if (rc != P11JWT_OK && usable(e = c->ops->get(c->be), now_s())) {
        /* An early refresh failed and the old token is still good: try
         * again a tenth of the remaining life later, not on every call
         * (each failed refill already retried). */
        int64_t left = e->tok.expires_at - now_s();

        c->ops->reschedule(c->be, now_s() + (left / 10 > 1 ? left / 10 : 1));
        return P11JWT_OK;
    }
    return rc;
}

/* The slow path: under the mutex, hand out the cached token, or refill
 * (single flight), or wait for the refill in flight. On success the
 * thread's slot holds a copy tagged with the generation it belongs to. */
static p11jwt_rc token_slow(exch_cache *c, struct tl_slot *slot)
{
    const exch_cache_entry *e;
    uint64_t gen;
    p11jwt_rc rc;
    int64_t now;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        now = now_s();
        e = c->ops->get(c->be);
        if (usable(e, now) && (now < e->refresh_at || c->inflight))
            goto hand_out;
        if (!c->inflight)
            break;
        /* No usable token and a refill in flight: wait for its result. */
        gen = c->generation;
        while (c->inflight && c->generation == gen)
            pthread_cond_wait(&c->cv, &c->mu);
        if (!usable(c->ops->get(c->be), now_s()) && c->last.rc != P11JWT_OK) {
            rc = err_restore(&c->last);
            pthread_mutex_unlock(&c->mu);
            return rc;
        }
    }
    rc = refill_locked(c);
    if (rc != P11JWT_OK) {
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    e = c->ops->get(c->be);

hand_out:
    if (slot->gen != atomic_load(&c->token_gen) || slot->tok.value == NULL) {
        p11jwt_access_token_clear(&slot->tok);
        rc = exch_token_copy(&e->tok, &slot->tok);
        if (rc != P11JWT_OK) {
            pthread_mutex_unlock(&c->mu);
            return rc;
        }
        slot->gen = atomic_load(&c->token_gen);
    }
    /* Past the cache's refresh time (a refresh in flight, or one that just
     * failed) the copy is good only for this call. */
    slot->refresh_at = e->refresh_at < e->tok.expires_at ? e->refresh_at : e->tok.expires_at;
    pthread_mutex_unlock(&c->mu);
    return P11JWT_OK;
}

p11jwt_rc exch_cache_peek(exch_cache *c, const p11jwt_access_token **out)
{
    struct tl_slot *slot = tl_slot_for(c);
    p11jwt_rc rc;

    *out = NULL;
    if (slot == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    /* The hit path: this thread's copy, still the cache's current token
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

void exch_cache_invalidate(exch_cache *c, const char *value)
{
    pthread_mutex_lock(&c->mu);
    if (c->ops->drop(c->be, value))
        atomic_fetch_add(&c->token_gen, 1);
    pthread_mutex_unlock(&c->mu);
}

void exch_cache_status(exch_cache *c, p11jwt_client_status *out)
{
    const exch_cache_entry *e;

    pthread_mutex_lock(&c->mu);
    e = c->ops->get(c->be);
    if (usable(e, now_s()))
        out->expires_at = e->tok.expires_at;
    if (c->inflight)
        out->state = P11JWT_STATE_REFRESHING;
    else if (out->expires_at != 0)
        out->state = P11JWT_STATE_VALID;
    else if (c->last.rc != P11JWT_OK)
        out->state = P11JWT_STATE_ERROR;
    else
        out->state = P11JWT_STATE_NONE;
    if (c->last.rc != P11JWT_OK)
        snprintf(out->last_error, sizeof out->last_error, "%s", c->last.msg);
    out->failures = c->failures;
    pthread_mutex_unlock(&c->mu);
}

/* Merge point with the background refresh (issue 15): a refresh is made due
 * now and this caller takes the slow path, which refills (or finds a refill
 * in flight and waits for its end below). */
p11jwt_rc exch_cache_min_valid(exch_cache *c, int64_t min_valid,
                               const p11jwt_access_token **out)
{
    struct tl_slot *slot;
    uint64_t gen;
    p11jwt_rc rc = exch_cache_peek(c, out);

    if (rc != P11JWT_OK || min_valid <= 0 || (*out)->expires_at - now_s() >= min_valid)
        return rc;
    *out = NULL;
    slot = tl_slot_for(c); /* the peek above made it */
    pthread_mutex_lock(&c->mu);
    gen = c->generation;
    if (!c->inflight)
        c->ops->reschedule(c->be, now_s());
    pthread_mutex_unlock(&c->mu);
    slot->refresh_at = 0;
    rc = token_slow(c, slot);
    if (rc != P11JWT_OK || slot->tok.expires_at - now_s() >= min_valid)
        goto out;
    /* Still too short: another caller's refill was in flight (wait for its
     * end), or the refresh failed and the old token was kept (an error: it
     * is not valid long enough). */
    pthread_mutex_lock(&c->mu);
    while (c->inflight && c->generation == gen)
        pthread_cond_wait(&c->cv, &c->mu);
    if (c->generation != gen && c->last.rc != P11JWT_OK)
        rc = err_restore(&c->last);
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
