/*
 * fleet_bench.c — p11jwt-fleet-bench: what a second-level hit costs (the
 * fleet's Redis, docs/fleet.md), in one run so the ratios hold:
 *
 *   first    GET of a value this host has not seen (another host just
 *            sealed it) + AES-256-GCM decryption in the token + decoding:
 *            the first hit after each refresh of the fleet
 *   sealed   GET of the value this host opened last + comparison with it
 *            + decoding: every other hit until the next refresh
 *   plain    GET of a plain value of the same size, same connection
 *   memory   the memory cache's hit path (exch_cache_peek) with the memory
 *            backend, and with the fleet's Redis backend configured (which
 *            the hit path never touches)
 *
 * The three Redis rows run interleaved, so that load from elsewhere lands
 * on each. Prints one line per row with the median and p99 in
 * microseconds (first, sealed, plain) or million hand-outs per second
 * (memory), then "summary: sealed_over_plain=R first_over_plain=R
 * memory_fleet_over_memory=R". Links the test-only archive: it times
 * internal functions. Never run by ctest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exchange/exchange_int.h"

static void die(const char *what, p11jwt_rc rc)
{
    fprintf(stderr, "p11jwt-fleet-bench: %s: %s\n", what,
            rc != P11JWT_OK ? p11jwt_errmsg() : "failed");
    exit(1);
}

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static const char *const KEY = "p11jwt-bench:fleet:sealed";
static const char *const PLAIN_KEY = "p11jwt-bench:fleet:plain";

/* GET of KEY + opening by `reader`, in microseconds. */
static double timed_open(exch_redis *r, exch_sealer *reader)
{
    unsigned char *got = NULL;
    size_t got_len = 0;
    exch_cache_entry e;
    double t0 = now_us(), t1;
    p11jwt_rc rc;

    if ((rc = exch_redis_get(r, KEY, &got, &got_len)) != P11JWT_OK || got == NULL)
        die("GET", rc);
    if ((rc = exch_sealer_open(reader, got, got_len, &e)) != P11JWT_OK)
        die("opening", rc);
    t1 = now_us();
    p11jwt_access_token_clear(&e.tok);
    free(got);
    return t1 - t0;
}

/* A profile in a temp file: p11jwt_profile_load reads only files. */
static p11jwt_client *bench_client(const char *text)
{
    char conf[] = "/tmp/p11jwt-fleet-bench.XXXXXX";
    int fd = mkstemp(conf);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    p11jwt_profile *prof;
    p11jwt_client *c;
    p11jwt_rc rc;

    if (f == NULL)
        die("a temp config", P11JWT_ERR_IO);
    fputs(text, f);
    fclose(f);
    rc = p11jwt_profile_load(conf, "b", &prof);
    unlink(conf);
    if (rc != P11JWT_OK || (rc = p11jwt_client_new(prof, &c)) != P11JWT_OK)
        die("the bench profile", rc);
    return c;
}

static p11jwt_rc fixed_refill(void *ud, p11jwt_access_token *out)
{
    (void)ud;
    memset(out, 0, sizeof *out);
    out->value = strdup("bench-token-value-bench-token-value-bench-token-value");
    out->type = strdup("Bearer");
    out->expires_at = (int64_t)time(NULL) + 3600;
    return out->value != NULL && out->type != NULL ? P11JWT_OK : P11JWT_ERR_NOMEM;
}

/* Million peeks a second on a warm cache, for `seconds`. */
static double peek_rate(exch_cache *c, double seconds)
{
    const p11jwt_access_token *t;
    double t0 = now_us(), t1;
    unsigned long n = 0;

    do {
        for (int i = 0; i < 1024; i++)
            if (exch_cache_peek(c, &t) != P11JWT_OK)
                die("exch_cache_peek", P11JWT_ERR_ARG);
        n += 1024;
        t1 = now_us();
    } while (t1 - t0 < seconds * 1e6);
    return (double)n / (t1 - t0);
}

int main(int argc, char **argv)
{
    const char *uri, *pin_file, *kid, *redis_url;
    int n = 2000;
    double *first_us, *sealed_us, *plain_us, seconds = 1;
    exch_redis *r = NULL;
    exch_sealer *writer = NULL, *reader = NULL;
    unsigned char *plain_val;
    size_t got_len = 0, sealed_len = 0;
    char plain[512], text[1024];
    p11jwt_client *sc, *c;
    int stored;
    p11jwt_rc rc;

    if (argc < 5) {
        fprintf(stderr, "Usage: p11jwt-fleet-bench TOKEN_URI PIN_FILE A256GCM_KID REDIS_URL "
                        "[N [SECONDS]]\n");
        return 2;
    }
    uri = argv[1];
    pin_file = argv[2];
    kid = argv[3];
    redis_url = argv[4];
    if (argc > 5)
        n = atoi(argv[5]);
    if (argc > 6)
        seconds = atof(argv[6]);
    if (n < 10)
        n = 10;
    if ((rc = exch_redis_new(redis_url, NULL, 1.0, &r)) != P11JWT_OK)
        die("redis", rc);
    /* Two sealers on the one token: the host that exchanged (writer) and
     * the host that reads the fleet's entry (reader). */
    snprintf(text, sizeof text,
             "[profile b]\ndialect = rfc7523\ntoken_url = http://127.0.0.1:9/token\n"
             "token = %s\npin_file = %s\nkid = none\niss = b\n"
             "cache = %s\ncache_key = %s\n", uri, pin_file, redis_url, kid);
    sc = bench_client(text);
    if ((rc = exch_sealer_new(sc, kid, KEY, &writer)) != P11JWT_OK ||
        (rc = exch_sealer_new(sc, kid, KEY, &reader)) != P11JWT_OK)
        die("the sealers", rc);

    first_us = calloc((size_t)n, sizeof *first_us);
    sealed_us = calloc((size_t)n, sizeof *sealed_us);
    plain_us = calloc((size_t)n, sizeof *plain_us);
    if (first_us == NULL || sealed_us == NULL || plain_us == NULL)
        die("out of memory", P11JWT_ERR_NOMEM);
    for (int i = -100; i < n; i++) {
        /* A new entry each round, as the fleet writes it: a JWT-sized
         * token (a new value, so the reader has never opened it). */
        exch_cache_entry w = { 0 };
        unsigned char *sealed = NULL;
        char value[320];
        double first, hit, t2;

        snprintf(value, sizeof value, "bench-%d-", i);
        for (size_t l = strlen(value); l < 270; l++)
            value[l] = 'x';
        value[270] = '\0';
        w.tok.value = value;
        w.tok.type = (char *)"Bearer";
        w.tok.expires_at = (int64_t)time(NULL) + 3600;
        w.refresh_at = w.tok.expires_at - 600;
        if ((rc = exch_sealer_seal(writer, &w, &sealed, &sealed_len)) != P11JWT_OK)
            die("sealing", rc);
        if ((rc = exch_redis_set(r, KEY, sealed, sealed_len, 60000, 0, &stored)) != P11JWT_OK)
            die("SET", rc);
        if (i == -100) {
            memset(plain, 'p', sealed_len);
            if ((rc = exch_redis_set(r, PLAIN_KEY, plain, sealed_len, 600000, 0, &stored)) !=
                P11JWT_OK)
                die("SET", rc);
        }
        free(sealed);
        first = timed_open(r, reader); /* the token decrypts */
        hit = timed_open(r, reader);   /* the same bytes: remembered */
        t2 = now_us();
        if ((rc = exch_redis_get(r, PLAIN_KEY, &plain_val, &got_len)) != P11JWT_OK ||
            plain_val == NULL)
            die("GET", rc);
        free(plain_val);
        if (i >= 0) {
            plain_us[i] = now_us() - t2;
            first_us[i] = first;
            sealed_us[i] = hit;
        }
    }
    qsort(first_us, (size_t)n, sizeof *first_us, cmp_d);
    qsort(sealed_us, (size_t)n, sizeof *sealed_us, cmp_d);
    qsort(plain_us, (size_t)n, sizeof *plain_us, cmp_d);
    {
        double fm = first_us[n / 2], fp = first_us[n * 99 / 100];
        double sm = sealed_us[n / 2], sp = sealed_us[n * 99 / 100];
        double pm = plain_us[n / 2], pp = plain_us[n * 99 / 100];
        exch_cache *mem, *fleet_backed;
        void *fleet_be;
        double m1, m2;

        printf("first   GET+decrypt+decode  %zu bytes  median %.1f us  p99 %.1f us\n",
               sealed_len, fm, fp);
        printf("sealed  GET+compare+decode  %zu bytes  median %.1f us  p99 %.1f us\n",
               sealed_len, sm, sp);
        printf("plain   GET                 %zu bytes  median %.1f us  p99 %.1f us\n",
               sealed_len, pm, pp);

        /* The memory hit path, without and with the fleet's backend. */
        snprintf(text, sizeof text,
                 "[profile b]\ndialect = client-credentials\n"
                 "token_url = http://127.0.0.1:9/token\nclient_id = b\n"
                 "client_secret_env = P11JWT_FLEET_BENCH_SECRET\n"
                 "cache = %s\ncache_plaintext = yes\n", redis_url);
        c = bench_client(text);
        exch_cache_opts mo = { .refresh_ahead = -1, .retry_base = 1, .retry_max_delay = 30,
                               .refill = fixed_refill };
        exch_cache_opts fo = mo;
        if ((rc = exch_cache_new(&exch_cache_memory, exch_cache_memory_new(), &mo, &mem)) !=
                P11JWT_OK ||
            (rc = exch_fleet_new(c, fixed_refill, NULL, &fleet_be)) != P11JWT_OK)
            die("the caches", rc);
        fo.refill = exch_fleet_refill;
        fo.ud = fleet_be;
        if ((rc = exch_cache_new(&exch_cache_redis, fleet_be, &fo, &fleet_backed)) != P11JWT_OK)
            die("the caches", rc);
        peek_rate(mem, 0.2);
        peek_rate(fleet_backed, 0.2);
        /* Alternating slices (memory, fleet, fleet, memory), as every other
         * ratio here: a drift in the machine weighs on both sides alike. */
        m1 = peek_rate(mem, seconds);
        m2 = peek_rate(fleet_backed, seconds);
        m2 += peek_rate(fleet_backed, seconds);
        m1 += peek_rate(mem, seconds);
        m1 /= 2;
        m2 /= 2;
        printf("memory  hit, memory backend       %.2f M/s\n", m1);
        printf("memory  hit, Redis configured     %.2f M/s\n", m2);
        printf("summary: sealed_over_plain=%.2f first_over_plain=%.2f sealed_p99_us=%.1f "
               "first_p99_us=%.1f memory_fleet_over_memory=%.2f\n",
               sm / pm, fm / pm, sp, fp, m2 / m1);
        exch_cache_free(fleet_backed);
        exch_cache_free(mem);
        p11jwt_client_free(c);
    }
    free(first_us);
    free(sealed_us);
    free(plain_us);
    exch_sealer_free(writer);
    exch_sealer_free(reader);
    p11jwt_client_free(sc);
    exch_redis_free(r);
    return 0;
}
