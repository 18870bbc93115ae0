/*
 * agent_bench.c — p11jwt-agent-bench: what the agent costs its callers,
 * always as a ratio to a baseline measured in the same run.
 *
 *   handout   GET /v1/token/NAME against GET /v1/health, each client thread
 *             on its own kept-alive connection, at 1 and 2 threads. health
 *             is the agent's cheapest answer, so its rate is the ceiling of
 *             the round trip itself: the ratio says what the token cache
 *             adds. The two alternate in slices (health, token, token,
 *             health, ...) so that load from elsewhere weighs on both.
 *   latency   hand-out latency (p50, p99) on one kept-alive connection,
 *             quiet against while a refresh is in flight: a second thread
 *             keeps asking GET /v1/token/NAME?min_valid=BIG, which makes
 *             the agent exchange every time (scripts/bench.sh makes the STS
 *             take 200 ms per token), in alternating slices.
 *   spawn     one process per call, fork+exec+wait4, in rounds that take
 *             each in turn (the CLI in a tenth of them): p11jwt-token
 *             NAME against `pkcs11-tool --help` (a bare process start with
 *             its libraries; OpenSC 0.23's pkcs11-tool has no --version,
 *             and --help prints its usage and exits 2) in CPU time (user +
 *             system, from rusage),
 *             and against today's `p11jwt token --profile NAME` (a process
 *             that loads the module, logs in, signs and exchanges) in wall
 *             time; and /bin/true, the cost of any process start on this
 *             machine, as the floor under all three.
 *
 * Output: one row per measurement, then
 *   summary: handout_t1=R handout_t2=R refresh_p99=R token_cpu_vs_p11tool=R
 *            token_speedup_vs_cli=X
 * It measures; it asserts nothing about speed.
 */
#include "token-client/ptc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 2
#define SLICES 6
#define TIMEOUT_MS 60000

static const char *sock, *profile = "dt";
static double seconds = 3;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("p11jwt-agent-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void connect_or_die(ptc_conn *c)
{
    char err[512];

    if (ptc_connect(c, sock, err, sizeof err) != 0)
        die("%s", err);
}

/* One request on c, which must answer want. */
static void ask(ptc_conn *c, const char *target, int want)
{
    char err[512];
    ptc_reply r;

    if (ptc_request(c, "GET", target, NULL, 0, 1, TIMEOUT_MS, &r, err, sizeof err) != 0)
        die("%s: %s", target, err);
    if (r.status != want)
        die("%s: HTTP %d: %s", target, r.status, r.body);
    ptc_reply_clear(&r);
}

/* ---- handout: token against health --------------------------------------- */

typedef struct worker {
    pthread_t th;
    ptc_conn conn;
    const char *target;
    double until;
    unsigned long n;
    char pad[64];
} worker;

static void *handout_loop(void *arg)
{
    worker *w = arg;

    w->n = 0;
    while (now_s() < w->until) {
        for (int i = 0; i < 16; i++)
            ask(&w->conn, w->target, 200);
        w->n += 16;
    }
    return NULL;
}

/* ops/s of target over `secs` with nthreads workers. */
static double slice(worker *ws, int nthreads, const char *target, double secs)
{
    double t0 = now_s(), el;
    unsigned long n = 0;

    for (int i = 0; i < nthreads; i++) {
        ws[i].target = target;
        ws[i].until = t0 + secs;
        if (pthread_create(&ws[i].th, NULL, handout_loop, &ws[i]) != 0)
            die("pthread_create failed");
    }
    for (int i = 0; i < nthreads; i++) {
        pthread_join(ws[i].th, NULL);
        n += ws[i].n;
    }
    el = now_s() - t0;
    return (double)n / el;
}

static double handout(int nthreads)
{
    char token[600];
    worker ws[MAX_THREADS];
    double health = 0, tok = 0, per = seconds / SLICES;

    snprintf(token, sizeof token, "/v1/token/%s", profile);
    memset(ws, 0, sizeof ws);
    for (int i = 0; i < nthreads; i++)
        connect_or_die(&ws[i].conn);
    slice(ws, nthreads, token, 0.2); /* warm: each connection's thread has its copy */
    slice(ws, nthreads, "/v1/health", 0.2);
    for (int s = 0; s < SLICES; s++) {
        int first_health = s % 2 == 0;

        if (first_health) {
            health += slice(ws, nthreads, "/v1/health", per);
            tok += slice(ws, nthreads, token, per);
        } else {
            tok += slice(ws, nthreads, token, per);
            health += slice(ws, nthreads, "/v1/health", per);
        }
    }
    for (int i = 0; i < nthreads; i++)
        ptc_close(&ws[i].conn);
    health /= SLICES;
    tok /= SLICES;
    printf("handout  health   %d  %10.0f\n", nthreads, health);
    printf("handout  token    %d  %10.0f  %.3f\n", nthreads, tok, tok / health);
    return tok / health;
}

/* ---- latency: quiet against a refresh in flight ---------------------------- */

static pthread_mutex_t phase_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t phase_cv = PTHREAD_COND_INITIALIZER;
static int refreshing, stop_refresher;

static void set_phase(int on, int stop)
{
    pthread_mutex_lock(&phase_mu);
    refreshing = on;
    stop_refresher = stop;
    pthread_cond_broadcast(&phase_cv);
    pthread_mutex_unlock(&phase_mu);
}

/* While the phase says so, keeps a refresh in flight: each request asks
 * for a token valid a year, which no token is, so the agent exchanges. */
static void *refresher(void *arg)
{
    char target[600];
    ptc_conn c;

    (void)arg;
    snprintf(target, sizeof target, "/v1/token/%s?min_valid=31536000", profile);
    connect_or_die(&c);
    for (;;) {
        pthread_mutex_lock(&phase_mu);
        while (!refreshing && !stop_refresher)
            pthread_cond_wait(&phase_cv, &phase_mu);
        if (stop_refresher) {
            pthread_mutex_unlock(&phase_mu);
            break;
        }
        pthread_mutex_unlock(&phase_mu);
        ask(&c, target, 200);
    }
    ptc_close(&c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    return n == 0 ? 0 : v[(size_t)((double)(n - 1) * p)];
}

static double latency(void)
{
    size_t cap = 1 << 22, nq = 0, nr = 0;
    double *q = malloc(cap * sizeof *q), *rf = malloc(cap * sizeof *rf), per = seconds / SLICES;
    char target[600];
    pthread_t th;
    ptc_conn c;
    double ratio;

    if (q == NULL || rf == NULL)
        die("out of memory");
    snprintf(target, sizeof target, "/v1/token/%s", profile);
    connect_or_die(&c);
    ask(&c, target, 200);
    if (pthread_create(&th, NULL, refresher, NULL) != 0)
        die("pthread_create failed");
    for (int s = 0; s < 2 * SLICES; s++) {
        int on = (s % 4 == 1 || s % 4 == 2); /* quiet, refresh, refresh, quiet, ... */
        double until;

        set_phase(on, 0);
        until = now_s() + per;
        while (now_s() < until) {
            double t0 = now_s(), d;

            ask(&c, target, 200);
            d = (now_s() - t0) * 1e3;
            if (on && nr < cap)
                rf[nr++] = d;
            else if (!on && nq < cap)
                q[nq++] = d;
        }
    }
    set_phase(0, 1);
    pthread_join(th, NULL);
    ptc_close(&c);
    qsort(q, nq, sizeof *q, cmp_double);
    qsort(rf, nr, sizeof *rf, cmp_double);
    ratio = pct(rf, nr, 0.99) / pct(q, nq, 0.99);
    printf("latency  quiet    %zu hand-outs  p50 %.3f ms  p99 %.3f ms\n", nq, pct(q, nq, 0.5),
           pct(q, nq, 0.99));
    printf("latency  refresh  %zu hand-outs  p50 %.3f ms  p99 %.3f ms  %.3f\n", nr,
           pct(rf, nr, 0.5), pct(rf, nr, 0.99), ratio);
    free(q);
    free(rf);
    return ratio;
}

/* ---- spawn: one process per call ------------------------------------------ */

/* One process that runs argv (it must exit `want`), output to /dev/null;
 * its CPU (user + system, from rusage) and wall ms added to *job. */
typedef struct spawn_job {
    char *const *argv;
    int want, n;
    double cpu_ms, wall_ms;
} spawn_job;

static void spawn_one(spawn_job *j)
{
    double t0 = now_s();
    struct rusage ru;
    int status;
    pid_t pid = fork();

    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
            close(null);
        }
        execv(j->argv[0], j->argv);
        _exit(127);
    }
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR)
            die("wait4: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != j->want)
        die("%s exited %d", j->argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    j->wall_ms += (now_s() - t0) * 1e3;
    j->cpu_ms += (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3 +
                 (double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec / 1e3;
    j->n++;
}

/* The four in rounds (p11jwt-token, pkcs11-tool, /bin/true, each once a
 * round, the order turning; `p11jwt token` in cli_runs of the rounds,
 * spread evenly), so that load from elsewhere weighs on all of them
 * alike; then each one's means. */
static void spawn_rounds(spawn_job *jobs, int runs, spawn_job *cli, int cli_runs)
{
    for (int i = 0; i < runs; i++) {
        for (int k = 0; k < 3; k++)
            spawn_one(&jobs[(i + k) % 3]);
        if ((long)(i + 1) * cli_runs / runs > cli->n)
            spawn_one(cli);
    }
    for (int k = 0; k < 3; k++) {
        jobs[k].cpu_ms /= jobs[k].n;
        jobs[k].wall_ms /= jobs[k].n;
    }
    cli->cpu_ms /= cli->n;
    cli->wall_ms /= cli->n;
}

static const char usage_text[] =
    "Usage: p11jwt-agent-bench --socket PATH [--profile NAME] [--seconds S]\n"
    "         [--only handout,latency,spawn] [--runs N] [--token-bin PATH]\n"
    "         [--cli-bin PATH --cli-config PATH] [--p11tool PATH]\n";

int main(int argc, char *argv[])
{
    const char *only = "handout,latency,spawn", *token_bin = NULL, *cli = NULL,
               *cli_config = NULL, *p11tool = "/usr/bin/pkcs11-tool";
    double h1 = 0, h2 = 0, lat = 0, cpu_ratio = 0, speedup = 0;
    int runs = 100;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (v == NULL)
            die("%s needs a value\n%s", a, usage_text);
        if (strcmp(a, "--socket") == 0)
            sock = v;
        else if (strcmp(a, "--profile") == 0)
            profile = v;
        else if (strcmp(a, "--seconds") == 0)
            seconds = atof(v);
        else if (strcmp(a, "--only") == 0)
            only = v;
        else if (strcmp(a, "--runs") == 0)
            runs = atoi(v);
        else if (strcmp(a, "--token-bin") == 0)
            token_bin = v;
        else if (strcmp(a, "--cli-bin") == 0)
            cli = v;
        else if (strcmp(a, "--cli-config") == 0)
            cli_config = v;
        else if (strcmp(a, "--p11tool") == 0)
            p11tool = v;
        else
            die("unknown option %s\n%s", a, usage_text);
        i++;
    }
    if (sock == NULL || seconds <= 0 || runs <= 0)
        die("--socket is required\n%s", usage_text);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("# what     path     threads  ops/s  ratio\n");
    if (strstr(only, "handout") != NULL) {
        h1 = handout(1);
        h2 = handout(2);
    }
    if (strstr(only, "latency") != NULL)
        lat = latency();
    if (strstr(only, "spawn") != NULL) {
        char *tok_argv[] = { (char *)token_bin, (char *)"--socket", (char *)sock,
                             (char *)profile, NULL };
        char *p11_argv[] = { (char *)p11tool, (char *)"--help", NULL };
        char *true_argv[] = { (char *)"/bin/true", NULL };
        char *cli_argv[] = { (char *)cli, (char *)"token", (char *)"--no-agent",
                             (char *)"--config", (char *)cli_config, (char *)"--profile",
                             (char *)profile, NULL };
        int cli_runs = runs / 10 > 3 ? runs / 10 : 3;
        spawn_job jobs[3] = { { tok_argv, 0, 0, 0, 0 }, { p11_argv, 2, 0, 0, 0 },
                              { true_argv, 0, 0, 0, 0 } },
                  cli_job = { cli_argv, 0, 0, 0, 0 }, warm_tok = { tok_argv, 0, 0, 0, 0 },
                  warm_p11 = { p11_argv, 2, 0, 0, 0 };
        const spawn_job *tj = &jobs[0], *pj = &jobs[1], *fj = &jobs[2], *cj = &cli_job;

        if (token_bin == NULL || cli == NULL || cli_config == NULL)
            die("spawn needs --token-bin, --cli-bin and --cli-config");
        for (int i = 0; i < 5; i++) { /* warm the page cache */
            spawn_one(&warm_tok);
            spawn_one(&warm_p11);
        }
        spawn_rounds(jobs, runs, &cli_job, cli_runs);
        cpu_ratio = tj->cpu_ms / pj->cpu_ms;
        speedup = cj->wall_ms / tj->wall_ms;
        printf("spawn    p11jwt-token        cpu %.3f ms  wall %.3f ms  (%d runs)\n", tj->cpu_ms,
               tj->wall_ms, runs);
        printf("spawn    pkcs11-tool-help    cpu %.3f ms  wall %.3f ms  token/it cpu %.3f\n",
               pj->cpu_ms, pj->wall_ms, cpu_ratio);
        printf("spawn    true-floor          cpu %.3f ms  wall %.3f ms  (/bin/true: a process "
               "start and nothing else)\n",
               fj->cpu_ms, fj->wall_ms);
        printf("spawn    p11jwt-token-cli    cpu %.3f ms  wall %.3f ms  it/token wall %.1fx  "
               "(%d runs)\n",
               cj->cpu_ms, cj->wall_ms, speedup, cj->n);
    }
    printf("summary: handout_t1=%.2f handout_t2=%.2f refresh_p99=%.2f "
           "token_cpu_vs_p11tool=%.2f token_speedup_vs_cli=%.1f\n",
           h1, h2, lat, cpu_ratio, speedup);
    return 0;
}
