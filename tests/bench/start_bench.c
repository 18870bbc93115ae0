/*
 * start_bench.c — p11jwt-start-bench: what one process of a command costs
 * in CPU (user + system, from wait4's rusage) against another command's
 * process, as a ratio measured in one run.
 *
 *   p11jwt-start-bench --name NAME [--runs N] [--want-a CODE] [--want-b CODE]
 *                      -- COMMAND-A... --vs COMMAND-B...
 *
 * Each command is run N times (default 100; each must exit with its
 * --want code, default 0; output to /dev/null), after 5 warm-up runs of
 * each, in 10 alternating slices (A, B, B, A, ...) so that load from
 * elsewhere on the machine weighs on both sides alike. Prints
 *   start NAME a_cpu_ms b_cpu_ms a/b a_wall_ms b_wall_ms
 * scripts/bench.sh runs it for `p11jwt --version` against `pkcs11-tool
 * --help` and a one-shot `p11jwt sign` against `pkcs11-tool --sign` on the
 * same key (docs/performance.md, "Start-up"). It measures; it asserts
 * nothing about speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLICES 10
#define WARMUP 5

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("p11jwt-start-bench: ", stderr);
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
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs argv n times (each must exit `want`); adds CPU and wall ms. */
static void spawn(char *const argv[], int want, int n, double *cpu_ms, double *wall_ms)
{
    double t0 = now_s();

    for (int i = 0; i < n; i++) {
        struct rusage ru;
        int status;
        pid_t pid = fork();

        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            int null = open("/dev/null", O_RDWR);

            if (null >= 0) {
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
                close(null);
            }
            execv(argv[0], argv);
            _exit(127);
        }
        while (wait4(pid, &status, 0, &ru) < 0)
            if (errno != EINTR)
                die("wait4: %s", strerror(errno));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != want)
            die("%s exited %d, not %d", argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                want);
        *cpu_ms += (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3 +
                   (double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec / 1e3;
    }
    *wall_ms += (now_s() - t0) * 1e3;
}

static const char usage_text[] =
    "Usage: p11jwt-start-bench --name NAME [--runs N] [--want-a CODE] [--want-b CODE]\n"
    "         -- COMMAND-A... --vs COMMAND-B...\n";

int main(int argc, char *argv[])
{
    const char *name = NULL;
    int runs = 100, want_a = 0, want_b = 0, i;
    char **a = NULL, **b = NULL;
    double ac = 0, aw = 0, bc = 0, bw = 0, skip = 0;

    for (i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(o, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(o, "--") == 0) {
            a = &argv[i + 1];
            break;
        }
        if (v == NULL)
            die("%s needs a value\n%s", o, usage_text);
        if (strcmp(o, "--name") == 0)
            name = v;
        else if (strcmp(o, "--runs") == 0)
            runs = atoi(v);
        else if (strcmp(o, "--want-a") == 0)
            want_a = atoi(v);
        else if (strcmp(o, "--want-b") == 0)
            want_b = atoi(v);
        else
            die("unknown option %s\n%s", o, usage_text);
        i++;
    }
    for (char **p = a; p != NULL && *p != NULL; p++)
        if (strcmp(*p, "--vs") == 0) {
            *p = NULL;
            b = p + 1;
            break;
        }
    if (name == NULL || a == NULL || a[0] == NULL || b == NULL || b[0] == NULL || runs < SLICES)
        die("--name, two commands and --runs >= %d are needed\n%s", SLICES, usage_text);
    spawn(a, want_a, WARMUP, &skip, &skip); /* the page cache, both sides */
    spawn(b, want_b, WARMUP, &skip, &skip);
    for (int s = 0; s < SLICES; s++) {
        int n = runs / SLICES;

        if (s % 4 == 0 || s % 4 == 3)
            spawn(a, want_a, n, &ac, &aw);
        else
            spawn(b, want_b, n, &bc, &bw);
    }
    /* Slices went A, B, B, A, A, B, B, A, A, B: five each. */
    runs = runs / SLICES * (SLICES / 2);
    ac /= runs, aw /= runs, bc /= runs, bw /= runs;
    printf("start %s %.3f %.3f %.3f %.3f %.3f\n", name, ac, bc, ac / bc, aw, bw);
    return 0;
}
