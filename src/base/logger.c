/*
 * logger.c — the library's one voice for what is not an error of the call
 * in progress: a key fallback during rotation, an audit file that could
 * not be written, a keyring object that is ignored, and the PKCS#11 trace
 * ($P11JWT_TRACE, pkcs11/call.c). The application can take the messages
 * (p11jwt_set_logger); by default each is one "p11jwt: ..." line on
 * stderr. Here in base so that every layer, the PKCS#11 one included,
 * speaks through the same logger; messages pass through p11jwt_escape, so
 * each is one printable line whatever it echoes.
 */
#include "base/base.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static p11jwt_log_fn log_fn;
static void *log_ud;

void p11jwt_set_logger(p11jwt_log_fn fn, void *userdata)
{
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_ud = userdata;
    pthread_mutex_unlock(&log_mu);
}

void base_log(int level, const char *fmt, ...)
{
    char raw[768], msg[768];
    p11jwt_log_fn fn;
    void *ud;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    p11jwt_escape(msg, sizeof msg, raw, strlen(raw), P11JWT_ESCAPE_MESSAGE);
    pthread_mutex_lock(&log_mu);
    fn = log_fn;
    ud = log_ud;
    pthread_mutex_unlock(&log_mu);
    if (fn != NULL)
        fn(level, msg, ud);
    else
        fprintf(stderr, "p11jwt: %s\n", msg);
}
