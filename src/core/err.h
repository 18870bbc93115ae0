/*
 * err.h — how every layer reports a failure: one p11jwt_rc plus a message in
 * a thread-local buffer (see p11jwt_errmsg). The message names the cause a
 * person can act on; it never contains a PIN, a secret or key material.
 */
#ifndef P11JWT_CORE_ERR_H
#define P11JWT_CORE_ERR_H

#include "p11jwt.h"

/* Sets this thread's message (printf format) and returns rc, so a failure
 * reads `return err_set(P11JWT_ERR_IO, "cannot read %s: %s", path, ...);`.
 * The current message (p11jwt_errmsg()) may be one of the arguments. */
p11jwt_rc err_set(p11jwt_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with context: "context: <old message>". */
p11jwt_rc err_wrap(p11jwt_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void err_clear(void);

/* Wipes n bytes so the compiler cannot drop the store. */
void secure_wipe(void *p, size_t n);

#endif
