/*
 * threads.c — the exchange client under concurrency, through the public API
 * only (p11jwt.h). Driven by threads.sh, which owns the token and the STS
 * and checks the STS's own count of token requests.
 *
 *   threads CONFIG PROFILE burst N
 *       N threads ask for a token at the same instant on a cold cache: all
 *       must get the same value, from ONE exchange (single flight).
 *   threads CONFIG PROFILE refresh SECONDS N
 *       N threads keep asking for SECONDS. Every token handed out must still
 *       be valid (expires_at in the future), and the value must change (a
 *       refresh happened before expiry).
 *   threads CONFIG PROFILE invalidate N
 *       after a first token A, N threads each invalidate A (what they would
 *       do after a 401) and ask again: ONE new exchange, all get the same
 *       B != A; invalidating the stale A once more changes nothing.
 *
 * Prints "key=value" lines (exchanges=, values=, token=) for threads.sh;
 * exit 0 when every check here held, 1 otherwise (reasons on stderr).
 */
#include <p11jwt.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 256
#define MAX_VALUES 64

static p11jwt_client *client;
static pthread_barrier_t barrier;
static atomic_int failures;
static double run_seconds;
static const char *stale;               /* invalidate: the value to drop */

static pthread_mutex_t values_mu = PTHREAD_MUTEX_INITIALIZER;
static char *values[MAX_VALUES];        /* distinct values, in order seen */
static int nvalues;
static atomic_long handed_out;

struct slot {
    char *value;
    int64_t expires_at;
};
static struct slot slots[MAX_THREADS];

__attribute__((format(printf, 1, 2))) static void failf(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "threads: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    atomic_fetch_add(&failures, 1);
}

static double now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_wall(void)
{
    return (int64_t)time(NULL);
}

/* Records v among the distinct values seen (order of first sight). */
static void note_value(const char *v)
{
    int seen = 0;

    pthread_mutex_lock(&values_mu);
    for (int i = 0; i < nvalues && !seen; i++)
        seen = strcmp(values[i], v) == 0;
    if (!seen && nvalues < MAX_VALUES)
        values[nvalues++] = strdup(v);
    pthread_mutex_unlock(&values_mu);
}

/* One p11jwt_client_token call, checked; 0 on success. */
static int get(p11jwt_access_token *t)
{
    p11jwt_rc rc = p11jwt_client_token(client, t);
    if (rc != P11JWT_OK) {
        failf("p11jwt_client_token: %s: %s", p11jwt_strerror(rc), p11jwt_errmsg());
        return -1;
    }
    if (t->value == NULL || t->value[0] == '\0') {
        failf("an empty token");
        p11jwt_access_token_clear(t);
        return -1;
    }
    if (t->expires_at <= now_wall()) {
        failf("handed out a token that has expired (expires_at - now = %lld s)",
              (long long)(t->expires_at - now_wall()));
        p11jwt_access_token_clear(t);
        return -1;
    }
    atomic_fetch_add(&handed_out, 1);
    return 0;
}

static void *burst_main(void *arg)
{
    struct slot *s = arg;
    p11jwt_access_token t;

    pthread_barrier_wait(&barrier);
    if (get(&t) == 0) {
        s->value = strdup(t.value);
        s->expires_at = t.expires_at;
        p11jwt_access_token_clear(&t);
    }
    return NULL;
}

static void *refresh_main(void *arg)
{
    p11jwt_access_token t;
    double end;
    struct timespec pause = { 0, 20 * 1000 * 1000 };

    (void)arg;
    pthread_barrier_wait(&barrier);
    end = now_mono() + run_seconds;
    while (now_mono() < end) {
        if (get(&t) != 0)
            return NULL;
        note_value(t.value);
        p11jwt_access_token_clear(&t);
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void *invalidate_main(void *arg)
{
    struct slot *s = arg;
    p11jwt_access_token t;

    pthread_barrier_wait(&barrier);
    p11jwt_client_invalidate(client, stale);
    if (get(&t) == 0) {
        s->value = strdup(t.value);
        s->expires_at = t.expires_at;
        p11jwt_access_token_clear(&t);
    }
    return NULL;
}

static int run_threads(int n, void *(*fn)(void *))
{
    pthread_t tids[MAX_THREADS];

    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    for (int i = 0; i < n; i++)
        if (pthread_create(&tids[i], NULL, fn, &slots[i]) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            exit(1);
        }
    for (int i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    pthread_barrier_destroy(&barrier);
    return 0;
}

/* All n slots hold the same value; returns it (borrowed) or NULL. */
static const char *all_same(int n)
{
    for (int i = 0; i < n; i++) {
        if (slots[i].value == NULL) {
            failf("a thread got no token");
            return NULL;
        }
        if (strcmp(slots[i].value, slots[0].value) != 0) {
            failf("threads got different tokens (%.8s... and %.8s...)", slots[0].value,
                  slots[i].value);
            return NULL;
        }
    }
    return slots[0].value;
}

static void clear_slots(void)
{
    for (int i = 0; i < MAX_THREADS; i++) {
        free(slots[i].value);
        slots[i].value = NULL;
    }
}

int main(int argc, char **argv)
{
    p11jwt_profile *prof = NULL;
    p11jwt_client_stats st;
    p11jwt_rc rc;
    const char *mode;
    int n;

    if (argc < 5) {
        fprintf(stderr, "usage: threads CONFIG PROFILE burst N | refresh SECONDS N | "
                        "invalidate N\n");
        return 2;
    }
    mode = argv[3];
    rc = p11jwt_profile_load(argv[1], argv[2], &prof);
    if (rc != P11JWT_OK) {
        fprintf(stderr, "threads: profile: %s\n", p11jwt_errmsg());
        return 1;
    }
    rc = p11jwt_client_new(prof, &client);
    if (rc != P11JWT_OK) {
        fprintf(stderr, "threads: client: %s\n", p11jwt_errmsg());
        return 1;
    }

    if (strcmp(mode, "burst") == 0) {
        const char *v;

        n = atoi(argv[4]);
        if (n < 1 || n > MAX_THREADS)
            return 2;
        run_threads(n, burst_main);
        v = all_same(n);
        p11jwt_client_get_stats(client, &st);
        if (st.exchanges != 1)
            failf("%llu exchanges for one cold burst (client stats), expected 1",
                  (unsigned long long)st.exchanges);
        printf("exchanges=%llu\ntoken=%s\n", (unsigned long long)st.exchanges, v ? v : "");
    } else if (strcmp(mode, "refresh") == 0) {
        if (argc < 6)
            return 2;
        run_seconds = atof(argv[4]);
        n = atoi(argv[5]);
        if (n < 1 || n > MAX_THREADS || run_seconds <= 0)
            return 2;
        run_threads(n, refresh_main);
        p11jwt_client_get_stats(client, &st);
        if (nvalues < 2)
            failf("the token never changed over the run: no refresh happened");
        printf("exchanges=%llu\nvalues=%d\nhanded_out=%ld\ntoken=%s\n",
               (unsigned long long)st.exchanges, nvalues,
               atomic_load(&handed_out), nvalues > 0 ? values[nvalues - 1] : "");
    } else if (strcmp(mode, "invalidate") == 0) {
        p11jwt_access_token a;
        const char *b;
        char *bcopy = NULL;
        uint64_t after;

        n = atoi(argv[4]);
        if (n < 1 || n > MAX_THREADS)
            return 2;
        if (get(&a) != 0)
            return 1;
        stale = a.value;
        run_threads(n, invalidate_main);
        b = all_same(n);
        if (b != NULL && strcmp(b, a.value) == 0)
            failf("invalidate(A) did not drop A");
        if (b != NULL)
            bcopy = strdup(b);
        p11jwt_client_get_stats(client, &st);
        after = st.exchanges;
        if (after != 2)
            failf("%llu exchanges for a first token and one invalidation seen by every "
                  "thread (expected 2)", (unsigned long long)after);
        /* A stale value (a late 401 for A) must not drop B. */
        p11jwt_client_invalidate(client, a.value);
        {
            p11jwt_access_token t;

            if (get(&t) == 0) {
                if (bcopy != NULL && strcmp(t.value, bcopy) != 0)
                    failf("invalidating the stale token dropped the current one");
                p11jwt_access_token_clear(&t);
            }
        }
        p11jwt_client_get_stats(client, &st);
        if (st.exchanges != after)
            failf("invalidating a stale token caused an exchange");
        printf("exchanges=%llu\ntoken=%s\n", (unsigned long long)st.exchanges,
               bcopy ? bcopy : "");
        free(bcopy);
        p11jwt_access_token_clear(&a);
    } else {
        fprintf(stderr, "threads: unknown mode %s\n", mode);
        return 2;
    }

    clear_slots();
    for (int i = 0; i < nvalues; i++)
        free(values[i]);
    p11jwt_client_free(client);
    return atomic_load(&failures) == 0 ? 0 : 1;
}
