/*
 * cache.c — a client's access-token cache: one token per client, kept by
 * a backend (memory now: cache_memory.c) behind a mutex, refilled through
 * a callback (so the cache needs nothing of the client), and refreshed
 * ahead of expiry by a thread of its own.
 *
 * Who waits (issue 15): while the cached token is valid, nobody. The first
 * caller past the refresh time wakes the cache's refresher thread (started
 * then, stopped by exch_cache_free, re-made in a forked child) and takes
 * the still-valid token; the refresher refills, and after a failure tries
 * again on a backoff schedule (exch_refresh_retry_at) until the token
 * expires. Callers with no valid token wait for the one refill in flight
 * (single flight), or make it: they share its result, success or failure.
 *
 * The decision: the hit path takes no lock and writes no shared memory.
 * Each thread keeps its own copy of the token, tagged with the cache's
 * generation (bumped whenever the token changes or is dropped). A copy
 * whose generation is current and whose time has not come (the refresh
 * time, or the expiry once the refresher has the refresh) is handed out as
 * is; anything else goes through the mutex and the backend.
 */
#include "exchange/exchange_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct exch_cache {
    uint64_t id;                /* unique per process, never reused: names
                                   this cache's per-thread copies */
    const exch_cache_backend *ops;
    void *be;
    exch_cache_opts o;

    pthread_mutex_t mu;
    pthread_cond_t cv;          /* a refill ended */
    int inflight;
    uint64_t generation;        /* bumped when a refill ends */
    atomic_uint_fast64_t token_gen; /* bumped when the token changes:
                                       per-thread copies of another
                                       generation are stale */
    err_saved last;             /* the last refill's result, for its waiters */
    uint64_t failures;          /* refills that ended in an error */

    /* The refresher (under mu): started at the first refresh due, woken
     * through bg_cv. */
    pthread_cond_t bg_cv;
    pthread_t bg_thread;
    int bg_running;             /* the thread exists in this process */
    int bg_kicked;              /* a refresh is wanted now */
    int bg_failures;            /* refreshes of this token that failed in a row */
    double bg_retry_at;         /* 0: none; the next try (wall clock);
                                   INFINITY: none before the token expires */
    atomic_int stopping;        /* exch_cache_free: end the refresh in flight */

    exch_cache *reg_next;       /* the process's caches (fork) */
};

static atomic_uint_fast64_t next_cache_id = 1;

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* The wall clock with its fraction: the refresher's schedule. */
static double now_real(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Usable: not yet expired, in whole seconds, so a token may go out in its
 * last second; refresh_ahead (and min_valid) keep callers off that edge. */
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


/* ---- the process's caches, across fork() ------------------------------------------ */

/* A forked child has one thread: the refresher and any refill in flight
 * stayed in the parent. The fork handlers hold every cache's lock across
 * fork(), so the child sees each cache in a consistent state; the child
 * handler then forgets the parent's refresher and refill, and lets the
 * owner (the client) reset what that refill held. The child's refresher
 * is started like the first one, when a refresh is next due. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static exch_cache *reg_head;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
    pthread_mutex_lock(&reg_mu);
    for (exch_cache *c = reg_head; c != NULL; c = c->reg_next)
        pthread_mutex_lock(&c->mu);
}

static void fork_parent(void)
{
    for (exch_cache *c = reg_head; c != NULL; c = c->reg_next)
        pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&reg_mu);
}

static void fork_child(void)
{
    for (exch_cache *c = reg_head; c != NULL; c = c->reg_next) {
        /* Their waiters are the parent's threads: made anew, not reused. */
        pthread_cond_init(&c->cv, NULL);
        pthread_cond_init(&c->bg_cv, NULL);
        if (c->inflight)
            c->generation++;
        c->inflight = 0;
        c->bg_running = 0;
        c->bg_kicked = 0;
        c->bg_retry_at = 0;
        c->bg_failures = 0;
        /* Every thread copy past its refresh time counts on the parent's
         * refresher: made stale, so the next call finds the refresh due. */
        atomic_fetch_add(&c->token_gen, 1);
        if (c->o.after_fork != NULL)
            c->o.after_fork(c->o.ud);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&reg_mu);
}

static void reg_init(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void reg_add(exch_cache *c)
{
    pthread_once(&reg_once, reg_init);
    pthread_mutex_lock(&reg_mu);
    c->reg_next = reg_head;
    reg_head = c;
    pthread_mutex_unlock(&reg_mu);
}

static void reg_remove(exch_cache *c)
{
    pthread_mutex_lock(&reg_mu);
    for (exch_cache **pp = &reg_head; *pp != NULL; pp = &(*pp)->reg_next)
        if (*pp == c) {
            *pp = c->reg_next;
            break;
        }
    pthread_mutex_unlock(&reg_mu);
}

/* ---- the cache ----------------------------------------------------------------- */

p11jwt_rc exch_cache_new(const exch_cache_backend *ops, void *be, const exch_cache_opts *o,
                         exch_cache **out)
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
    c->o = *o;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_cond_init(&c->bg_cv, NULL);
    reg_add(c);
    *out = c;
    return P11JWT_OK;
}

void exch_cache_free(exch_cache *c)
{
    if (c == NULL)
        return;
    reg_remove(c);
    /* The refresher ends its refill early (the exchange watches
     * exch_cache_stopping), then its loop. */
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->stopping, 1);
    pthread_cond_signal(&c->bg_cv);
    pthread_mutex_unlock(&c->mu);
    if (c->bg_running)
        pthread_join(c->bg_thread, NULL);
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
    pthread_cond_destroy(&c->bg_cv);
    free(c);
}

int exch_cache_stopping(const exch_cache *c)
{
    return atomic_load_explicit(&c->stopping, memory_order_relaxed);
}

/* Under the mutex: one refill, its token handed to the backend; the
 * refresher's schedule follows from its result. Returns the refill's rc
 * (this thread's message set). */
static p11jwt_rc refill_locked(exch_cache *c)
{
    exch_cache_entry fresh = { 0 };
    const exch_cache_entry *e;
    p11jwt_rc rc;

    c->inflight = 1;
    pthread_mutex_unlock(&c->mu);

    rc = c->o.refill(c->o.ud, &fresh.tok);

    pthread_mutex_lock(&c->mu);
    if (rc == P11JWT_OK) {
        fresh.refresh_at = exch_refresh_time(c->o.refresh_ahead, now_s(), fresh.tok.expires_at,
                                             exch_random_unit());
        rc = c->ops->put(c->be, &fresh);
        if (rc == P11JWT_OK)
            atomic_fetch_add(&c->token_gen, 1);
    }
    c->inflight = 0;
    c->generation++;
    err_save(&c->last, rc);
    c->failures += rc != P11JWT_OK;
    c->bg_kicked = 0;
    if (rc == P11JWT_OK) {
        c->bg_failures = 0;
        c->bg_retry_at = 0;
    } else if (usable(e = c->ops->get(c->be), now_s())) {
        /* A refresh failed and the old token is still good: the refresher
         * tries again later, never a caller (each refill already retried). */
        c->bg_failures++;
        c->bg_retry_at = exch_refresh_retry_at(now_real(), e->tok.expires_at, c->o.retry_base,
                                               c->o.retry_max_delay, c->bg_failures,
                                               exch_random_unit());
    } else {
        c->bg_failures = 0;
        c->bg_retry_at = 0;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_cond_signal(&c->bg_cv);
    return rc;
}

/* The refresher: refreshes the token when a caller found it due (kicked)
 * or when a retry's time comes, while the token is still valid. Once it
 * has expired, the refresher leaves it to the callers (they wait anyway). */
static void *refresher(void *arg)
{
    exch_cache *c = arg;
    const exch_cache_entry *e;
    struct timespec ts;
    double now;

    pthread_mutex_lock(&c->mu);
    while (!atomic_load(&c->stopping)) {
        now = now_real();
        e = c->ops->get(c->be);
        if (!usable(e, (int64_t)now)) {
            c->bg_kicked = 0;
            c->bg_retry_at = 0;
        } else if (!c->inflight &&
                   (c->bg_kicked || (c->bg_retry_at > 0 && now >= c->bg_retry_at))) {
            refill_locked(c);
            err_clear();
            continue;
        }
        if (!c->inflight && c->bg_retry_at > 0 && isfinite(c->bg_retry_at)) {
            ts.tv_sec = (time_t)c->bg_retry_at;
            ts.tv_nsec = (long)((c->bg_retry_at - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&c->bg_cv, &c->mu, &ts);
        } else {
            pthread_cond_wait(&c->bg_cv, &c->mu);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Under the mutex, by a caller holding a valid token past its refresh
 * time: hands the refresh to the refresher (started on first use). 1 when
 * the refresher has it; 0 when it could not start and this caller
 * refreshed in its place, as before there was one. */
static int refresh_due_locked(exch_cache *c)
{
    int err;

    if (c->inflight || c->bg_kicked || (c->bg_retry_at != 0 && now_real() < c->bg_retry_at))
        return c->bg_running;
    if (!c->bg_running) {
        err = pthread_create(&c->bg_thread, NULL, refresher, c);
        if (err != 0) {
            base_log(P11JWT_LOG_WARNING, "no refresher thread (%s): refreshing in the caller",
                     strerror(err));
            refill_locked(c);
            err_clear();
            return 0;
        }
        c->bg_running = 1;
    }
    c->bg_kicked = 1;
    pthread_cond_signal(&c->bg_cv);
    return 1;
}

/* Under the mutex, with a token cached: this thread's slot holds a copy
 * of it, tagged with its generation, and the time until which the hit
 * path may hand it out. A token past its refresh time wakes the refresher
 * first. */
static p11jwt_rc hand_out_locked(exch_cache *c, struct tl_slot *slot)
{
    const exch_cache_entry *e = c->ops->get(c->be);
    int background = 1;
    p11jwt_rc rc;

    if (usable(e, now_s()) && now_s() >= e->refresh_at) {
        background = refresh_due_locked(c);
        e = c->ops->get(c->be);
    }
    if (e == NULL) /* dropped by another thread meanwhile */
        return err_set(P11JWT_ERR_HTTP, "the token was dropped as it was handed out; ask again");
    if (slot->gen != atomic_load(&c->token_gen) || slot->tok.value == NULL) {
        p11jwt_access_token_clear(&slot->tok);
        rc = exch_token_copy(&e->tok, &slot->tok);
        if (rc != P11JWT_OK)
            return rc;
        slot->gen = atomic_load(&c->token_gen);
    }
    /* Before the refresh time, until then. Past it, the refresher has the
     * refresh: until expiry (a new token changes the generation first).
     * Past it with no refresher: for this call only. */
    if (now_s() < e->refresh_at)
        slot->refresh_at = e->refresh_at < e->tok.expires_at ? e->refresh_at : e->tok.expires_at;
    else
        slot->refresh_at = background ? e->tok.expires_at : 0;
    return P11JWT_OK;
}

/* The slow path: under the mutex, hand out the cached token (waking the
 * refresher when it is due), or refill (single flight), or wait for the
 * refill in flight. */
static p11jwt_rc token_slow(exch_cache *c, struct tl_slot *slot)
{
    uint64_t gen;
    p11jwt_rc rc;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (usable(c->ops->get(c->be), now_s()))
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

hand_out:
    rc = hand_out_locked(c, slot);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

p11jwt_rc exch_cache_peek(exch_cache *c, const p11jwt_access_token **out)
{
    struct tl_slot *slot = tl_slot_for(c);
    p11jwt_rc rc;

    *out = NULL;
    if (slot == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    /* The hit path: this thread's copy, still the cache's current token
     * and its time not come. */
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
    if (c->ops->drop(c->be, value)) {
        atomic_fetch_add(&c->token_gen, 1);
        /* Known bad: the next caller waits for a new one; nothing is left
         * for the refresher to refresh. */
        c->bg_kicked = 0;
        c->bg_retry_at = 0;
        c->bg_failures = 0;
    }
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

/* The min_valid of the caller whose refill runs on this thread (0: none),
 * for a refill that may hand back a token it did not just make (the
 * fleet's Redis: exch_cache_refill_min_left). */
static _Thread_local int64_t tl_min_left;

int64_t exch_cache_refill_min_left(void)
{
    return tl_min_left;
}

/* A token valid min_valid more seconds: the caller asked for a fresh one,
 * so it waits for one refill, its own or the one in flight (single
 * flight), and gets that refill's error if it fails. */
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
    if (!c->inflight) {
        tl_min_left = min_valid;
        rc = refill_locked(c);
        tl_min_left = 0;
    } else {
        gen = c->generation;
        while (c->inflight && c->generation == gen)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->last.rc != P11JWT_OK)
            rc = err_restore(&c->last);
    }
    /* The newest token, even if the STS issues shorter-lived ones. */
    if (rc == P11JWT_OK)
        rc = hand_out_locked(c, slot);
    pthread_mutex_unlock(&c->mu);
    if (rc == P11JWT_OK)
        *out = &slot->tok;
    return rc;
}

/* What p11jwt_client_revoke revokes when it is given no token: a copy of
 * the token the backend holds, valid or not (1), or nothing (0). */
int exch_cache_held(exch_cache *c, p11jwt_access_token *out)
{
    const exch_cache_entry *e;
    int held = 0;

    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&c->mu);
    e = c->ops->get(c->be);
    if (e != NULL && e->tok.value != NULL)
        held = exch_token_copy(&e->tok, out) == P11JWT_OK;
    pthread_mutex_unlock(&c->mu);
    return held;
}
