/*
 * err.c — error codes to text, and the per-thread message behind
 * p11jwt_errmsg(). Thread-local rather than per-handle because one token
 * handle serves every thread of a process. (p11jwt_free is here too: it
 * releases what a failing or succeeding call handed out, and has no
 * concept of its own.)
 */
#include "base/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char errmsg[ERR_MSG_MAX];

const char *p11jwt_strerror(p11jwt_rc rc)
{
    switch (rc) {
    case P11JWT_OK: return "success";
    case P11JWT_ERR_ARG: return "invalid argument";
    case P11JWT_ERR_NOMEM: return "out of memory";
    case P11JWT_ERR_URI: return "invalid PKCS#11 URI";
    case P11JWT_ERR_MODULE: return "PKCS#11 module could not be loaded";
    case P11JWT_ERR_TOKEN_NOT_FOUND: return "token not found";
    case P11JWT_ERR_PIN: return "PIN missing or incorrect";
    case P11JWT_ERR_PIN_LOCKED: return "PIN locked or on its final try";
    case P11JWT_ERR_KEY_NOT_FOUND: return "key not found";
    case P11JWT_ERR_KEY_EXISTS: return "key already exists";
    case P11JWT_ERR_ALG: return "algorithm not supported or not matching the key";
    case P11JWT_ERR_PKCS11: return "PKCS#11 operation failed";
    case P11JWT_ERR_IO: return "input/output error";
    case P11JWT_ERR_JSON: return "invalid JSON";
    case P11JWT_ERR_CRYPTO: return "cryptographic operation failed";
    case P11JWT_ERR_JWS_MALFORMED: return "malformed JWS";
    case P11JWT_ERR_SIGNATURE: return "invalid signature";
    case P11JWT_ERR_CLAIMS: return "claims check failed";
    case P11JWT_ERR_SECRET: return "secret empty, too short or unreadable";
    case P11JWT_ERR_CONFIG: return "configuration error";
    case P11JWT_ERR_HTTP: return "HTTP exchange failed";
    case P11JWT_ERR_OAUTH: return "the token service refused the request";
    case P11JWT_ERR_CONFLICT: return "changed by someone else at the same time";
    }
    return "unknown error";
}

const char *p11jwt_errmsg(void)
{
    return errmsg;
}

void p11jwt_free(void *p)
{
    free(p);
}

p11jwt_rc err_set(p11jwt_rc rc, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;

    /* Through a copy, so the old message may be an argument of the new. */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Values are escaped where they are echoed; this pass only makes sure
     * that nothing a call site missed can break the one-line message. */
    p11jwt_escape(errmsg, sizeof errmsg, msg, strlen(msg), P11JWT_ESCAPE_MESSAGE);
    return rc;
}

p11jwt_rc err_wrap(p11jwt_rc rc, const char *fmt, ...)
{
    char old[ERR_MSG_MAX], prefix[ERR_MSG_MAX];
    size_t n, room, olen;
    va_list ap;
    int len;

    memcpy(old, errmsg, sizeof old);
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    len = (int)p11jwt_escape(errmsg, sizeof errmsg, prefix, strlen(prefix),
                             P11JWT_ESCAPE_MESSAGE);
    n = len < 0 ? 0 : (size_t)len < sizeof errmsg ? (size_t)len : sizeof errmsg - 1;
    /* "prefix: old", cut at the buffer's end like any long message. */
    if (old[0] != '\0' && n + 2 < sizeof errmsg) {
        memcpy(errmsg + n, ": ", 2);
        n += 2;
        room = sizeof errmsg - n - 1;
        olen = strlen(old);
        memcpy(errmsg + n, old, olen < room ? olen : room);
        errmsg[n + (olen < room ? olen : room)] = '\0';
    }
    return rc;
}

void err_clear(void)
{
    errmsg[0] = '\0';
}

void err_save(err_saved *s, p11jwt_rc rc)
{
    s->rc = rc;
    memcpy(s->msg, errmsg, sizeof s->msg);
}

p11jwt_rc err_restore(const err_saved *s)
{
    /* Copied as it is: it was escaped when it was set. */
    memcpy(errmsg, s->msg, sizeof errmsg);
    return s->rc;
}
