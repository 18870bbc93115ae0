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

/* ---- the cache --------------------------------------------------------------- */

struct fake_sts {
    int calls;
    int64_t life;
    p11jwt_rc fail;             /* P11JWT_OK: succeed */
};

static p11jwt_rc refill(void *ud, p11jwt_access_token *out)
{
    struct fake_sts *f = ud;
    char value[32];

    memset(out, 0, sizeof *out);
    f->calls++;
    if (f->fail != P11JWT_OK)
        return err_set(f->fail, "the STS is down (call %d)", f->calls);
    snprintf(value, sizeof value, "token-%d", f->calls);
    out->value = strdup(value);
    out->type = strdup("Bearer");
    out->expires_at = (int64_t)time(NULL) + f->life;
    return P11JWT_OK;
}

static exch_cache *new_cache(struct fake_sts *f)
{
    exch_cache *c = NULL;

    assert_int_equal(exch_cache_new(&exch_cache_memory, exch_cache_memory_new(), -1, refill, f,
                                    &c),
                     P11JWT_OK);
    return c;
}

static void one_refill_many_hand_outs(void **state)
{
    struct fake_sts f = { 0, 3600, P11JWT_OK };
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
    struct fake_sts f = { 0, 3600, P11JWT_OK };
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
    struct fake_sts f = { 0, 3600, P11JWT_ERR_HTTP };
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

/* A token past its refresh time whose refresh fails is still handed out
 * while it is valid, and the next try waits a tenth of its remaining life. */
static void early_refresh_failure_keeps_token(void **state)
{
    struct fake_sts f = { 0, 100, P11JWT_OK };
    exch_cache *c = NULL;
    const p11jwt_access_token *t;

    (void)state;
    /* refresh_ahead 100: due at once */
    assert_int_equal(exch_cache_new(&exch_cache_memory, exch_cache_memory_new(), 100, refill,
                                    &f, &c),
                     P11JWT_OK);
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    f.fail = P11JWT_ERR_OAUTH;
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    assert_string_equal(t->value, "token-1");
    assert_int_equal(f.calls, 2);
    /* rescheduled about 10 s on: no refill on the next calls */
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    assert_int_equal(exch_cache_peek(c, &t), P11JWT_OK);
    assert_int_equal(f.calls, 2);
    exch_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refresh_time),
        cmocka_unit_test(backoff),
        cmocka_unit_test(one_refill_many_hand_outs),
        cmocka_unit_test(invalidate_only_that_token),
        cmocka_unit_test(failure_handed_on),
        cmocka_unit_test(early_refresh_failure_keeps_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
