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

/* An untrusted value as it may appear in a message (p11jwt_escape): into
 * buf, which is returned. ESC(s) / ESCN(s, n) give each use its own
 * buffer for the length of the enclosing call:
 *   err_set(P11JWT_ERR_KEY_NOT_FOUND, "no key with kid '%s'", ESC(kid)); */
#define ESC_CAP 160
const char *err_escape(char *buf, size_t cap, const char *s);
const char *err_escape_n(char *buf, size_t cap, const void *s, size_t n);
#define ESC(s) err_escape((char[ESC_CAP]){ 0 }, ESC_CAP, (s))
#define ESCN(s, n) err_escape_n((char[ESC_CAP]){ 0 }, ESC_CAP, (s), (n))

/* A warning or notice through the library's logger (log.c): the
 * application's p11jwt_set_logger function, else one line on stderr. */
void core_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 when a pkcs11: URI has a pin-value= attribute (uri.c). */
int core_uri_has_pin_value(const char *uri);
/* P11JWT_OK, or rc with a message saying why a PIN in `what` (e.g. "the
 * token URI") is refused and where a PIN comes from instead. */
p11jwt_rc core_uri_refuse_pin_value(const char *uri, p11jwt_rc rc, const char *what);

/* Wipes n bytes so the compiler cannot drop the store. */
void secure_wipe(void *p, size_t n);

#endif
