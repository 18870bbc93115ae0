/*
 * refresh_bg.c — the library client while a refresh is slow or failing
 * (issue 15), public API only; refresh_bg.sh drives the STS and checks
 * what this program wrote against what the STS saw.
 *
 *   refresh_bg CONFIG PROFILE poll SECONDS INTERVAL_MS THREADS OUT
 *       THREADS callers each ask p11jwt_client_token every INTERVAL_MS for
 *       SECONDS; one line per call to OUT:
 *       "thread t_start t_end rc expires_at token_id message", times in
 *       seconds (wall clock), token_id a hash of the token (never the
 *       token), message "-" or the error with spaces as '_'.
 *   refresh_bg CONFIG PROFILE fork [STAGEDIR]
 *       gets a token, asks again until the client reports a refresh in
 *       flight (the STS holds it), forks; child and parent each ask until
 *       they are handed a new token, and print "parent=ID child=ID". With
 *       STAGEDIR, it creates STAGEDIR/first once it has its first token and
 *       STAGEDIR/forked once it has forked, for a test that acts between.
 *   refresh_bg CONFIG PROFILE call URL
 *       gets a token, asks again until the client reports its background
 *       refresh under way (in flight, or failed once), then GETs URL with
 *       p11jwt_client_call and prints "old=ID rc=N status=S t0=T t1=T
 *       msg=MESSAGE" (times as above, MESSAGE with spaces as '_').
 *   refresh_bg CONFIG PROFILE free GOFILE
 *       gets a token, asks again until the client reports its background
 *       refresh in flight, waits for GOFILE to exist (the test has seen the
 *       STS hold the request, or answer it with a long Retry-After), frees
 *       the client and prints "free_ms=MS".
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "p11jwt.h"

static p11jwt_client *client;
static double run_until;
static long interval_ms;
static FILE *out;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* FNV-1a: names a token in the output without showing it. */
static uint64_t token_id(const char *v)
{
    uint64_t h = 1469598103934665603ULL;

    for (; v != NULL && *v; v++)
        h = (h ^ (unsigned char)*v) * 1099511628211ULL;
    return h;
}

static void *caller(void *arg)
{
    long id = (long)(intptr_t)arg;

    while (now() < run_until) {
        p11jwt_access_token t;
        double t0 = now(), t1;
        p11jwt_rc rc = p11jwt_client_token(client, &t);
        char msg[256] = "-";

        t1 = now();
        if (rc != P11JWT_OK) {
            snprintf(msg, sizeof msg, "%s", p11jwt_errmsg());
            for (char *p = msg; *p; p++)
                if (*p == ' ' || *p == '\t')
                    *p = '_';
        }
        pthread_mutex_lock(&out_mu);
        fprintf(out, "%ld %.6f %.6f %d %" PRId64 " %016" PRIx64 " %s\n", id, t0, t1, (int)rc,
                rc == P11JWT_OK ? t.expires_at : 0, rc == P11JWT_OK ? token_id(t.value) : 0,
                msg);
        fflush(out);
        pthread_mutex_unlock(&out_mu);
        if (rc == P11JWT_OK)
            p11jwt_access_token_clear(&t);
        sleep_ms(interval_ms);
    }
    return NULL;
}

static int poll_main(char **argv)
{
    long threads = strtol(argv[2], NULL, 10);
    pthread_t th[64];

    run_until = now() + strtod(argv[0], NULL);
    interval_ms = strtol(argv[1], NULL, 10);
    if (threads < 1 || threads > 64 || (out = fopen(argv[3], "w")) == NULL) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    for (long i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, caller, (void *)(intptr_t)i);
    for (long i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    fclose(out);
    return 0;
}

/* Asks until handed a token other than `old` (at most ~30 s). */
static int new_token(uint64_t old, const char *who, uint64_t *got)
{
    for (int i = 0; i < 600; i++) {
        p11jwt_access_token t;

        if (p11jwt_client_token(client, &t) != P11JWT_OK) {
            fprintf(stderr, "%s: %s\n", who, p11jwt_errmsg());
            return 1;
        }
        *got = token_id(t.value);
        p11jwt_access_token_clear(&t);
        if (*got != old)
            return 0;
        sleep_ms(50);
    }
    fprintf(stderr, "%s: never handed a new token\n", who);
    return 1;
}

/* Creates dir/name, if dir is given. */
static void stage(const char *dir, const char *name)
{
    char path[4096];
    FILE *f;

    if (dir == NULL)
        return;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if ((f = fopen(path, "w")) != NULL)
        fclose(f);
}

static int fork_main(const char *stagedir)
{
    p11jwt_client_status st;
    p11jwt_access_token t;
    uint64_t old, parent_new = 0, child_new = 0;
    int status = 0, pipefd[2], i;
    pid_t pid;

    if (p11jwt_client_token(client, &t) != P11JWT_OK) {
        fprintf(stderr, "first token: %s\n", p11jwt_errmsg());
        return 1;
    }
    old = token_id(t.value);
    p11jwt_access_token_clear(&t);
    stage(stagedir, "first");
    /* Ask until the refresh is due and in flight (the STS holds it). */
    for (i = 0; i < 600; i++) {
        if (p11jwt_client_token(client, &t) != P11JWT_OK) {
            fprintf(stderr, "while valid: %s\n", p11jwt_errmsg());
            return 1;
        }
        if (token_id(t.value) != old) {
            fprintf(stderr, "the refresh ended before the fork: is the STS holding it?\n");
            return 1;
        }
        p11jwt_access_token_clear(&t);
        p11jwt_client_get_status(client, &st);
        if (st.state == P11JWT_STATE_REFRESHING)
            break;
        sleep_ms(50);
    }
    if (i == 600) {
        fprintf(stderr, "no refresh in flight seen\n");
        return 1;
    }
    if (pipe(pipefd) != 0)
        return 1;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        /* The parent's refresher and its refill stayed in the parent: the
         * child refreshes on its own. */
        int r = new_token(old, "child", &child_new);

        if (write(pipefd[1], &child_new, sizeof child_new) != sizeof child_new)
            r = 1;
        p11jwt_client_free(client);
        _exit(r);
    }
    close(pipefd[1]);
    stage(stagedir, "forked");
    if (new_token(old, "parent", &parent_new) != 0)
        return 1;
    if (read(pipefd[0], &child_new, sizeof child_new) != sizeof child_new)
        child_new = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "the child failed (status %d)\n", status);
        return 1;
    }
    printf("old=%016" PRIx64 " parent=%016" PRIx64 " child=%016" PRIx64 "\n", old, parent_new,
           child_new);
    return 0;
}

/* The 401 path while the refresher has the refresh: the caller drops the
 * token the resource refused and waits for one exchange (the refresher's
 * in flight, or its own), then calls again once. */
static int call_main(const char *url)
{
    p11jwt_client_status st;
    p11jwt_access_token t;
    p11jwt_response r;
    uint64_t old;
    double t0, t1;
    char msg[512] = "-";
    p11jwt_rc rc;
    int i;

    if (p11jwt_client_token(client, &t) != P11JWT_OK) {
        fprintf(stderr, "first token: %s\n", p11jwt_errmsg());
        return 1;
    }
    old = token_id(t.value);
    p11jwt_access_token_clear(&t);
    for (i = 0; i < 600; i++) {
        if (p11jwt_client_token(client, &t) != P11JWT_OK) {
            fprintf(stderr, "while valid: %s\n", p11jwt_errmsg());
            return 1;
        }
        p11jwt_access_token_clear(&t);
        p11jwt_client_get_status(client, &st);
        if (st.state == P11JWT_STATE_REFRESHING || st.failures > 0)
            break;
        sleep_ms(50);
    }
    if (i == 600) {
        fprintf(stderr, "no background refresh seen\n");
        return 1;
    }
    t0 = now();
    rc = p11jwt_client_call(client, "GET", url, NULL, 0, NULL, 0, &r);
    t1 = now();
    if (rc != P11JWT_OK) {
        snprintf(msg, sizeof msg, "%s", p11jwt_errmsg());
        for (char *p = msg; *p; p++)
            if (*p == ' ' || *p == '\t')
                *p = '_';
    }
    printf("old=%016" PRIx64 " rc=%d status=%d t0=%.6f t1=%.6f msg=%s\n", old, (int)rc,
           rc == P11JWT_OK ? (int)r.status : 0, t0, t1, msg);
    if (rc == P11JWT_OK)
        p11jwt_response_clear(&r);
    return 0;
}

/* p11jwt_client_free with the refresher's exchange in flight: the request
 * held, or the backoff after an answer, is cut short. */
static int free_main(const char *gofile)
{
    p11jwt_client_status st;
    p11jwt_access_token t;
    double t0;
    int i;

    if (p11jwt_client_token(client, &t) != P11JWT_OK) {
        fprintf(stderr, "first token: %s\n", p11jwt_errmsg());
        return 1;
    }
    p11jwt_access_token_clear(&t);
    for (i = 0; i < 600; i++) {
        if (p11jwt_client_token(client, &t) != P11JWT_OK) {
            fprintf(stderr, "while valid: %s\n", p11jwt_errmsg());
            return 1;
        }
        p11jwt_access_token_clear(&t);
        p11jwt_client_get_status(client, &st);
        if (st.state == P11JWT_STATE_REFRESHING)
            break;
        sleep_ms(50);
    }
    for (; i < 600 && access(gofile, F_OK) != 0; i++)
        sleep_ms(50);
    if (i == 600) {
        fprintf(stderr, "no refresh in flight seen, or no go from the test\n");
        return 1;
    }
    t0 = now();
    p11jwt_client_free(client);
    client = NULL;
    printf("free_ms=%.1f\n", (now() - t0) * 1000);
    return 0;
}

int main(int argc, char **argv)
{
    p11jwt_profile *p = NULL;
    int rc;

    if (argc < 4 || (strcmp(argv[3], "poll") == 0 && argc != 8) ||
        ((strcmp(argv[3], "call") == 0 || strcmp(argv[3], "free") == 0) && argc != 5) ||
        (strcmp(argv[3], "fork") == 0 && argc > 5)) {
        fprintf(stderr, "usage: refresh_bg CONFIG PROFILE poll SECONDS INTERVAL_MS THREADS OUT\n"
                        "       refresh_bg CONFIG PROFILE fork [STAGEDIR]\n"
                        "       refresh_bg CONFIG PROFILE call URL\n"
                        "       refresh_bg CONFIG PROFILE free GOFILE\n");
        return 2;
    }
    if (p11jwt_profile_load(argv[1], argv[2], &p) != P11JWT_OK ||
        p11jwt_client_new(p, &client) != P11JWT_OK) {
        fprintf(stderr, "set-up: %s\n", p11jwt_errmsg());
        return 1;
    }
    if (strcmp(argv[3], "poll") == 0)
        rc = poll_main(argv + 4);
    else if (strcmp(argv[3], "call") == 0)
        rc = call_main(argv[4]);
    else if (strcmp(argv[3], "free") == 0)
        rc = free_main(argv[4]);
    else
        rc = fork_main(argc == 5 ? argv[4] : NULL);
    p11jwt_client_free(client);
    return rc;
}
