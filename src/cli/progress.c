/*
 * progress.c — the progress line of a long run (`sign --batch`) on
 * standard error: lines done, their rate and, when the input's size is
 * known, how far and how long still, redrawn in place with \r.
 *
 * The decision: a person watching a terminal wants it, a pipe or a log
 * does not, so it is drawn only when standard error is a terminal (and
 * standard output is not the same screen, where the assertions go). The
 * caller ticks it every few lines; a tick reads the clock only, and draws
 * at most four times a second, so it costs a line nothing measurable.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REDRAW_NS 250000000LL /* at most 4 draws a second */

struct cli_progress {
    const char *what;
    int64_t start, next_draw;   /* ns, CLOCK_MONOTONIC */
    uint64_t total;             /* the input's size in bytes, 0 when unknown */
    int width;                  /* of the last line drawn, to blank its rest */
    int drawn;
};

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

cli_progress *cli_progress_new(const char *what, int fd_in)
{
    cli_progress *p;
    struct stat st;
    off_t at;

    if (!isatty(STDERR_FILENO) || isatty(STDOUT_FILENO))
        return NULL;
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL; /* a run without its progress line, not a failure */
    p->what = what;
    p->start = now_ns();
    p->next_draw = p->start + REDRAW_NS;
    /* A regular file's size, less what was read of it before us. */
    if (fstat(fd_in, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        at = lseek(fd_in, 0, SEEK_CUR);
        if (at >= 0 && at < st.st_size)
            p->total = (uint64_t)(st.st_size - at);
    }
    return p;
}

/* "12:34" or "1:02:03" of s seconds. */
static void hms(char *out, size_t n, double s)
{
    unsigned long t = s < 0 ? 0 : (unsigned long)(s + 0.5);

    if (t >= 3600)
        snprintf(out, n, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, n, "%lu:%02lu", t / 60, t % 60);
}

static void draw(cli_progress *p, uint64_t lines, uint64_t bytes, int64_t now, int last)
{
    double secs = (double)(now - p->start) / 1e9;
    double rate = secs > 0 ? (double)lines / secs : 0;
    char text[160], eta[32];
    int n;

    if (last) {
        n = snprintf(text, sizeof text, "p11jwt: %s: %llu lines in %.1f s, %.0f lines/s",
                     p->what, (unsigned long long)lines, secs, rate);
    } else if (p->total > 0 && bytes > 0 && bytes <= p->total) {
        hms(eta, sizeof eta, secs * (double)(p->total - bytes) / (double)bytes);
        n = snprintf(text, sizeof text, "p11jwt: %s: %llu lines, %.0f lines/s, %.0f%%, ETA %s",
                     p->what, (unsigned long long)lines, rate,
                     100.0 * (double)bytes / (double)p->total, eta);
    } else {
        n = snprintf(text, sizeof text, "p11jwt: %s: %llu lines, %.0f lines/s", p->what,
                     (unsigned long long)lines, rate);
    }
    if (n < 0)
        return;
    if (n >= (int)sizeof text)
        n = (int)sizeof text - 1;
    /* Spaces over the rest of a longer line drawn before. */
    fprintf(stderr, "\r%s%*s%s", text, p->width > n ? p->width - n : 0, "", last ? "\n" : "");
    fflush(stderr);
    p->width = n;
    p->drawn = 1;
}

void cli_progress_tick(cli_progress *p, uint64_t lines, uint64_t bytes)
{
    int64_t now;

    if (p == NULL)
        return;
    now = now_ns();
    if (now < p->next_draw)
        return;
    p->next_draw = now + REDRAW_NS;
    draw(p, lines, bytes, now, 0);
}

void cli_progress_end(cli_progress *p, uint64_t lines, int ok)
{
    if (p == NULL)
        return;
    if (ok)
        draw(p, lines, 0, now_ns(), 1);
    else if (p->drawn) /* a message follows: on a line of its own */
        fputc('\n', stderr);
    free(p);
}
