/*
 * test_cache.c — the token cache's arithmetic and behaviour, without an
 * STS: when a token is refreshed (refresh_ahead, or the earlier of 5
 * minutes before expiry and 80% of its life, moved earlier by at most 5%
 * of its life), the retry backoff (full jitter under a cap that doubles
 * and stops at retry_max_delay), and the cache itself with its memory
 * backend and a refill function that counts its calls: one refill for
 * many hand-outs, invalidation of the token it holds and only that one,
 * a failed refill handed to the caller and shown in the status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "exchange/exchange_int.h"

static void refresh_time(void **state)
{
    const int64_t now = 1000000;

    (void)state;
    /* refresh_ahead set: exactly that long before expiry, no jitter */
    assert_int_equal(exch_refresh_time(60, now, now + 3600, 0.99), now + 3600 - 60);
    assert_int_equal(exch_refresh_time(0, now, now + 3600, 0.5), now + 3600);
    /* automatic: the earlier of 80% of the life (a long one) ... */
    assert_int_equal(exch_refresh_time(-1, now, now + 3600, 0), now + 2880);
    /* ... and 5 minutes before expiry (a short one); at 25 minutes both */
    assert_int_equal(exch_refresh_time(-1, now, now + 600, 0), now + 300);
    assert_int_equal(exch_refresh_time(-1, now, now + 1500, 0), now + 1200);
    /* jitter moves it earlier by at most 5% of the life, never later */
    for (int i = 0; i <= 100; i++) {
        double j = i / 101.0;
        int64_t at = exch_refresh_time(-1, now, now + 3600, j);

        assert_true(at <= now + 2880);
        assert_true(at > now + 2880 - 180);
        assert_int_equal(at, now + 2880 - (int64_t)(j * 3600 * 0.05));
    }
    /* an expired (or zero-life) token: now */
    assert_int_equal(exch_refresh_time(-1, now, now, 0.5), now);
    assert_int_equal(exch_refresh_time(30, now, now - 5, 0.5), now);
    for (int i = 0; i < 1000; i++) {
        double r = exch_random_unit();

        assert_true(r >= 0 && r < 1);
    }
}

static void backoff(void **state)
{
    (void)state;
    /* the cap doubles per attempt from the base, up to max_delay */
    assert_true(exch_backoff(0.5, 30, 0, 0.999999) < 0.5);
    assert_true(exch_backoff(0.5, 30, 1, 0.999999) < 1.0);
    assert_true(exch_backoff(0.5, 30, 1, 0.999999) > 0.99);
    assert_true(exch_backoff(0.5, 30, 3, 0.5) == 2.0);
    assert_true(exch_backoff(0.5, 30, 6, 1.0) == 30); /* 32 capped */
    assert_true(exch_backoff(0.5, 30, 60, 1.0) == 30);
    assert_true(exch_backoff(0.5, 30, 1000000, 0.25) == 7.5);
    /* full jitter: anything from 0 */
    assert_true(exch_backoff(2, 30, 2, 0) == 0);
    /* a base of 0 never waits; max 0 neither */
    assert_true(exch_backoff(0, 30, 5, 0.9) == 0);
    assert_true(exch_backoff(1, 0, 5, 0.9) == 0);
}

/* The refresher's schedule after a failed refresh: a wait doubling from
 * retry_base per failure up to retry_max_delay, jittered over its upper
 * half, at least 1 s, never past 1 s before expiry. */
static void retry_schedule(void **state)
{
    const double now = 1000000.25;
    const int64_t far = 1000000 + 3600;

    (void)state;
    /* defaults (0.5, 30): the floor of 1 s for the first failures ... */
    assert_true(exch_refresh_retry_at(now, far, 0.5, 30, 1, 0) == now + 1);
    assert_true(exch_refresh_retry_at(now, far, 0.5, 30, 2, 0.999) == now + 1);
    /* ... then the cap doubles: 2, 4, 8, 16, 30, 30 */
    assert_true(exch_refresh_retry_at(now, far, 0.5, 30, 3, 0) == now + 1);
    assert_true(exch_refresh_retry_at(now, far, 0.5, 30, 3, 0.5) == now + 1.5);
    assert_true(exch_refresh_retry_at(now, far, 0.5, 30, 4, 0) == now + 2);
    assert_true(exch_refresh_retry_at(now, far, 0.5, 30, 6, 0.5) == now + 12);
    assert_true(exch_refresh_retry_at(now, far, 0.5, 30, 7, 0) == now + 15);
    assert_true(exch_refresh_retry_at(now, far, 0.5, 30, 8, 0) == now + 15);
    assert_true(exch_refresh_retry_at(now, far, 0.5, 30, 1000000, 0.999999) < now + 30);
    /* jitter stays in the upper half of the cap, never past it */
    for (int i = 0; i < 100; i++) {
        double j = i / 100.0, at = exch_refresh_retry_at(now, far, 4, 60, 2, j);

        assert_true(at >= now + 4 && at < now + 8);
    }
    /* a base of 0, or a cap under a second: still 1 s apart */
    assert_true(exch_refresh_retry_at(now, far, 0, 30, 5, 0.9) == now + 1);
    assert_true(exch_refresh_retry_at(now, far, 0.1, 0.5, 9, 0.9) == now + 1);
    /* never later than 1 s before expiry ... */
    assert_true(exch_refresh_retry_at(now, 1000010, 0.5, 30, 8, 0.9) == 1000009);
    assert_true(exch_refresh_retry_at(now, 1000002, 0.5, 30, 1, 0) == 1000001);
    /* ... and none when that has come: the callers have it after expiry */
    assert_true(isinf(exch_refresh_retry_at(now, 1000001, 0.5, 30, 1, 0)));
    assert_true(isinf(exch_refresh_retry_at(now, 1000000, 0.5, 30, 1, 0)));
    assert_true(isinf(exch_refresh_retry_at(now, 999990, 0.5, 30, 3, 0.5)));
}

/* ---- the cache --------------------------------------------------------------- */

/* A refill that counts its calls and can be held (a slow STS) until the
 * test lets it go, so the test orders events without timing them. */
struct fake_sts {
    atomic_int calls;
    int64_t life;
    _Atomic p11jwt_rc fail;     /* P11JWT_OK: succeed */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int hold_from;              /* refills from this call on wait in the
                                   gate (0: none) */
    int held;                   /* refills waiting there */
};

#define FAKE_STS(life, fail)                                                         \
    { 0, life, fail, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 }

static p11jwt_rc refill(void *ud, p11jwt_access_token *out)
{
    struct fake_sts *f = ud;
    char value[32];
    int n;

    memset(out, 0, sizeof *out);
    n = atomic_fetch_add(&f->calls, 1) + 1;
    pthread_mutex_lock(&f->mu);
    f->held++;
    pthread_cond_broadcast(&f->cv);
    while (f->hold_from != 0 && n >= f->hold_from)
        pthread_cond_wait(&f->cv, &f->mu);
    f->held--;
    pthread_mutex_unlock(&f->mu);
    if (f->fail != P11JWT_OK)
        return err_set(f->fail, "the STS is down (call %d)", n);
    snprintf(value, sizeof value, "token-%d", n);
    out->value = strdup(value);
    out->type = strdup("Bearer");
    out->expires_at = (int64_t)time(NULL) + f->life;
    return P11JWT_OK;
}

/* Refills from call `from` on are held (0: let them all go). */
static void gate(struct fake_sts *f, int from)
{
    pthread_mutex_lock(&f->mu);
    f->hold_from = from;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Waits until n refills are held in the gate. */
static void wait_held(struct fake_sts *f, int n)
{
    pthread_mutex_lock(&f->mu);
    while (f->held < n)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

/* Waits until the cache's refill in flight has ended with `failures`. */
static void wait_failures(exch_cache *c, uint64_t failures)
{
    p11jwt_client_status st;

    for (;;) {
        memset(&st, 0, sizeof st);
        exch_cache_status(c, &st);
        if (st.failures >= failures && st.state != P11JWT_STATE_REFRESHING)
            return;
        sched_yield();
    }
}

static exch_cache *new_cache_ahead(struct fake_sts *f, int64_t refresh_ahead)
{
    exch_cache_opts o = { .refresh_ahead = refresh_ahead, .retry_base = 0.5,
                          .retry_max_delay = 30, .refill = refill, .ud = f };
    exch_cache *c = NULL;

    assert_int_equal(exch_cache_new(&exch_cache_memory, exch_cache_memory_new(), &o, &c),
                     P11JWT_OK);
    return c;
}

static exch_cache *new_cache(struct fake_sts *f)
{
    return new_cache_ahead(f, -1);
}

static void one_refill_many_hand_outs(void **state)
{
    struct fake_sts f = FAKE_STS(3600, P11JWT_OK);
    exch_cache *c = new_cache(&f);
    const p11jwt_access_token *t = NULL, *t2 = NULL;
    p11jwt_client_status st;

    (void)state;
    memset(&st, 0, sizeof st);
    exch_cache_status(c, &st);
    assert_int_equal(st.state, P11JWT_STATE_NONE);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
        assert_string_equal(t->value, "token-1");
    }
    assert_int_equal(f.calls, 1);
    /* the hit path hands out this thread's copy, the same one each time */
    assert_int_equal(exch_cache_peek(c, &t2), P11JWT_OK);
    assert_ptr_equal(t, t2);
    memset(&st, 0, sizeof st);
    exch_cache_status(c, &st);
    assert_int_equal(st.state, P11JWT_STATE_VALID);
    assert_true(st.expires_at > (int64_t)time(NULL));
    /* a token valid long enough is handed out without a refill */
    assert_int_equal(exch_cache_min_valid(c, 60, &t), P11JWT_OK);
    assert_int_equal(f.calls, 1);
    /* one valid longer than this one: refilled first */
    assert_int_equal(exch_cache_min_valid(c, 7200, &t), P11JWT_OK);
    assert_int_equal(f.calls, 2);
    assert_string_equal(t->value, "token-2");
    exch_cache_free(c);
}

static void invalidate_only_that_token(void **state)
{
    struct fake_sts f = FAKE_STS(3600, P11JWT_OK);
    exch_cache *c = new_cache(&f);
    const p11jwt_access_token *t;

    (void)state;
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    /* another token (one refreshed since, say): kept */
    exch_cache_invalidate(c, "token-0");
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    assert_int_equal(f.calls, 1);
    /* this one: dropped, the next hand-out refills */
    exch_cache_invalidate(c, "token-1");
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    assert_int_equal(f.calls, 2);
    assert_string_equal(t->value, "token-2");
    /* NULL: any */
    exch_cache_invalidate(c, NULL);
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    assert_int_equal(f.calls, 3);
    exch_cache_free(c);
}

static void failure_handed_on(void **state)
{
    struct fake_sts f = FAKE_STS(3600, P11JWT_ERR_HTTP);
    exch_cache *c = new_cache(&f);
    const p11jwt_access_token *t;
    p11jwt_client_status st;

    (void)state;
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_ERR_HTTP);
    assert_null(t);
    assert_string_equal(p11jwt_errmsg(), "the STS is down (call 1)");
    memset(&st, 0, sizeof st);
    exch_cache_status(c, &st);
    assert_int_equal(st.state, P11JWT_STATE_ERROR);
    assert_int_equal(st.failures, 1);
    assert_string_equal(st.last_error, "the STS is down (call 1)");
    /* no token: each caller tries again */
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_ERR_HTTP);
    assert_int_equal(f.calls, 2);
    f.fail = P11JWT_OK;
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    memset(&st, 0, sizeof st);
    exch_cache_status(c, &st);
    assert_int_equal(st.state, P11JWT_STATE_VALID);
    assert_string_equal(st.last_error, "");
    exch_cache_free(c);
}

/* A token past its refresh time is handed out at once while its refresh
 * runs in the refresher (held in the gate as long as the test likes): no
 * caller waits for it (a caller that did would hang in the gate), and the
 * new token replaces the old when it comes. */
static void due_refresh_in_background(void **state)
{
    struct fake_sts f = FAKE_STS(100, P11JWT_OK);
    exch_cache *c = new_cache_ahead(&f, 100); /* due at once */
    const p11jwt_access_token *t;

    (void)state;
    gate(&f, 2);
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    assert_string_equal(t->value, "token-1");
    /* due: the refresher took the refresh and is held */
    wait_held(&f, 1);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
        assert_string_equal(t->value, "token-1");
    }
    /* one refresh in flight however often it is asked */
    assert_int_equal(atomic_load(&f.calls), 2);
    f.life = 3600; /* the next token is not due at once */
    gate(&f, 0);
    do {
        assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    } while (strcmp(t->value, "token-1") == 0 && (sched_yield(), 1));
    assert_string_equal(t->value, "token-2");
    assert_int_equal(atomic_load(&f.calls), 2);
    exch_cache_free(c);
}

/* A refresh that fails leaves the valid token in service; the refresher,
 * not the callers, tries again (on its schedule: retry_schedule above). */
static void early_refresh_failure_keeps_token(void **state)
{
    struct fake_sts f = FAKE_STS(100, P11JWT_OK);
    exch_cache *c = new_cache_ahead(&f, 100);
    const p11jwt_access_token *t;
    p11jwt_client_status st;

    (void)state;
    gate(&f, 2);
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    wait_held(&f, 1);
    f.fail = P11JWT_ERR_OAUTH;
    gate(&f, 3); /* the refresh fails; a retry would be held */
    wait_failures(c, 1);
    /* the next calls hand out the valid token at once: none refills (it
     * would hang in the gate) */
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
        assert_string_equal(t->value, "token-1");
    }
    memset(&st, 0, sizeof st);
    exch_cache_status(c, &st);
    assert_true(st.state == P11JWT_STATE_VALID || st.state == P11JWT_STATE_REFRESHING);
    assert_int_equal(st.failures, 1);
    assert_string_equal(st.last_error, "the STS is down (call 2)");
    /* the STS is back: the refresher's next try gets a new token */
    f.fail = P11JWT_OK;
    f.life = 3600;
    wait_held(&f, 1);
    gate(&f, 0);
    do {
        assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    } while (strcmp(t->value, "token-1") == 0 && (sched_yield(), 1));
    assert_string_equal(t->value, "token-3");
    assert_int_equal(atomic_load(&f.calls), 3);
    exch_cache_free(c);
}

/* Freeing a cache whose refresher is in a refill waits for that refill
 * (the real exchange ends early: exch_cache_stopping) and ends the thread. */
static void free_stops_refresher(void **state)
{
    struct fake_sts f = FAKE_STS(100, P11JWT_OK);
    exch_cache *c = new_cache_ahead(&f, 100);
    const p11jwt_access_token *t;

    (void)state;
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK); /* wakes the refresher */
    while (atomic_load(&f.calls) < 2)
        sched_yield();
    exch_cache_free(c); /* joins it: leak checkers see no thread left */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refresh_time),
        cmocka_unit_test(backoff),
        cmocka_unit_test(retry_schedule),
        cmocka_unit_test(one_refill_many_hand_outs),
        cmocka_unit_test(invalidate_only_that_token),
        cmocka_unit_test(failure_handed_on),
        cmocka_unit_test(due_refresh_in_background),
        cmocka_unit_test(early_refresh_failure_keeps_token),
        cmocka_unit_test(free_stops_refresher),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
