/*
 * log.c — the agent's log: one line per event on stderr, which systemd
 * sends to the journal. Under the journal ($JOURNAL_STREAM) each line
 * starts with its syslog priority ("<4>"), elsewhere with "p11jwt agent: ".
 *
 * Lines a peer can cause (refusals, connections over a cap) go through a
 * rate limiter, so that a hostile client cannot flood the journal; nothing
 * logged ever holds a token, a PIN or a secret (the library's messages
 * never do, and the agent logs no request bodies).
 */
#include "agent/agent.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void vlog_line(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void vlog_line(int level, const char *fmt, va_list ap)
{
    static const char *const names[] = { "", "", "", "error", "warning", "notice", "info" };
    char msg[1024];
    int journal = getenv("JOURNAL_STREAM") != NULL;

    if (level < AGENT_ERR || level > AGENT_INFO)
        level = AGENT_NOTICE;
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* One line, whatever a message held. */
    for (char *p = msg; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    pthread_mutex_lock(&log_mu);
    if (journal)
        fprintf(stderr, "<%d>%s\n", level, msg);
    else
        fprintf(stderr, "p11jwt agent: %s: %s\n", names[level], msg);
    fflush(stderr);
    pthread_mutex_unlock(&log_mu);
}

void agent_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog_line(level, fmt, ap);
    va_end(ap);
}

void agent_log_limited(agent_ratelimit *rl, int level, const char *fmt, ...)
{
    struct timespec ts;
    unsigned suppressed = 0;
    int pass;
    va_list ap;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    pthread_mutex_lock(&log_mu);
    if (rl->second != (int64_t)ts.tv_sec) {
        rl->second = (int64_t)ts.tv_sec;
        rl->used = 0;
    }
    pass = rl->used < rl->per_second;
    if (pass) {
        rl->used++;
        suppressed = rl->suppressed;
        rl->suppressed = 0;
    } else {
        rl->suppressed++;
    }
    pthread_mutex_unlock(&log_mu);
    if (!pass)
        return;
    if (suppressed > 0)
        agent_log(level, "(%u similar lines left out)", suppressed);
    va_start(ap, fmt);
    vlog_line(level, fmt, ap);
    va_end(ap);
}

static void library_notice(int level, const char *msg, void *userdata)
{
    (void)userdata;
    agent_log(level, "%s", msg);
}

void agent_log_init(void)
{
    p11jwt_set_logger(library_notice, NULL);
}
