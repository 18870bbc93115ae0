/*
 * call.c — the one wrapper every PKCS#11 call goes through (P11_CALL and
 * P11_RAISE in pkcs11_int.h), after pkcs11-provider's interface functions:
 * the call is traced, and a failure the caller names is mapped to words
 * (ckrv.c) and raised as this thread's error.
 *
 * The design decision: the wrapper raises only when told what the call
 * was for. Many failures are expected and answered in place (an attribute
 * a token does not have, a session a module closed, a write-protected
 * token asked for a read-write session); raising those would leave a
 * message behind that nothing failed for. The trace goes through base's
 * logger, the library's one voice: one "p11jwt: trace: C_Sign -> CKR_OK"
 * line on stderr, or the application's logger when it set one.
 */
#include "pkcs11/pkcs11_int.h"

#include <stdlib.h>
#include <string.h>

int p11_trace_on;

void p11_trace_init(void)
{
    const char *trace = getenv("P11JWT_TRACE");

    p11_trace_on = trace != NULL && trace[0] != '\0' && strcmp(trace, "0") != 0;
}

p11jwt_rc p11_fail(p11jwt_rc rc, CK_RV rv, const char *what)
{
    const char *text = p11_ckr_text(rv);

    if (text[0] != '\0')
        return err_set(rc, "%s: %s (%s)", what, p11_ckr_name(rv), text);
    return err_set(rc, "%s: %s", what, p11_ckr_name(rv));
}

CK_RV p11_call_end(const char *fn, CK_RV rv, p11jwt_rc rc, const char *what)
{
    if (p11_trace_on)
        base_log(P11JWT_LOG_INFO, "trace: %s -> %s", fn, p11_ckr_name(rv));
    if (rv != CKR_OK && what != NULL)
        p11_fail(rc, rv, what);
    return rv;
}

int p11_rv_session_lost(CK_RV rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
           rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT;
}
