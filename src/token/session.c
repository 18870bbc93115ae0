/*
 * session.c — the session pool, login, and recovery after a lost session.
 *
 * A signature borrows a session for the length of C_SignInit + C_Sign and
 * gives it back; a session is opened only when none is idle, so a process
 * holds about as many sessions as it has threads signing at once (capped by
 * the token's ulMaxSessionCount). Login is the process's state, so it is done
 * once and redone only when the token says it was lost.
 */
#include "token/tok.h"

#include <stdlib.h>
#include <string.h>

static p11jwt_rc open_session(p11jwt_token *t, CK_SESSION_HANDLE *s)
{
    CK_FLAGS flags = CKF_SERIAL_SESSION | (t->rw ? CKF_RW_SESSION : 0);
    CK_RV rv = P11(t->fl, C_OpenSession, t->slot, flags, NULL, NULL, s);

    if (rv == CKR_TOKEN_WRITE_PROTECTED && t->rw) {
        t->rw = 0;
        rv = P11(t->fl, C_OpenSession, t->slot, CKF_SERIAL_SESSION, NULL, NULL, s);
    }
    if (rv != CKR_OK)
        return tok_fail(P11JWT_ERR_PKCS11, rv, "cannot open a session on the token");
    return P11JWT_OK;
}

p11jwt_rc tok_login(p11jwt_token *t, CK_SESSION_HANDLE s)
{
    CK_TOKEN_INFO info;
    CK_RV rv;
    unsigned char *pin = NULL;
    size_t pin_len = 0;
    const char *where = "";
    p11jwt_rc rc;

    rv = P11(t->fl, C_GetTokenInfo, t->slot, &info);
    if (rv != CKR_OK)
        return tok_fail(P11JWT_ERR_PKCS11, rv, "cannot read the token's information");
    /* Never be the one who locks a token: a wrong PIN now would. */
    if (info.flags & CKF_USER_PIN_LOCKED)
        return err_set(P11JWT_ERR_PIN_LOCKED,
                       "the user PIN of token '%s' is locked; unlock it with the SO PIN",
                       t->label);
    if (info.flags & CKF_USER_PIN_FINAL_TRY)
        return err_set(P11JWT_ERR_PIN_LOCKED,
                       "token '%s' is on its final PIN try: refusing to risk locking it; "
                       "check the PIN and log in once with the token's own tools",
                       t->label);
    if (info.flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
        rv = P11(t->fl, C_Login, s, CKU_USER, NULL, 0);
    } else {
        rc = tok_pin_read(&t->pin, t->label, &pin, &pin_len, &where);
        if (rc != P11JWT_OK)
            return rc;
        rv = P11(t->fl, C_Login, s, CKU_USER, pin, pin_len);
        tok_pin_wipe(pin, pin_len);
    }
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
        t->logged_in = 1;
        return P11JWT_OK;
    }
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_INVALID)
        return err_set(P11JWT_ERR_PIN, "login to token '%s' failed: %s from %s is incorrect (%s)",
                       t->label, "the PIN", where, tok_ckr_name(rv));
    if (rv == CKR_PIN_LOCKED)
        return err_set(P11JWT_ERR_PIN_LOCKED, "the user PIN of token '%s' is locked", t->label);
    return tok_fail(P11JWT_ERR_PIN, rv, "login failed");
}

/* Whether the process is logged in, as the session sees it. */
static int session_logged_in(p11jwt_token *t, CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO si;

    if (P11(t->fl, C_GetSessionInfo, s, &si) != CKR_OK)
        return 0;
    return si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS;
}

p11jwt_rc tok_session_get(p11jwt_token *t, int need_login, CK_SESSION_HANDLE *out)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    int fresh = 0;
    p11jwt_rc rc;

    *out = CK_INVALID_HANDLE;
    rc = tok_check_fork(t);
    if (rc != P11JWT_OK)
        return rc;

    pthread_mutex_lock(&t->lock);
    while (t->n_idle == 0 && t->max_open != 0 && t->n_open >= t->max_open)
        pthread_cond_wait(&t->freed, &t->lock);
    if (t->n_idle > 0) {
        s = t->idle[--t->n_idle];
    } else {
        t->n_open++;            /* reserve the slot before dropping the lock */
        fresh = 1;
    }
    pthread_mutex_unlock(&t->lock);

    if (fresh) {
        rc = open_session(t, &s);
        if (rc != P11JWT_OK) {
            pthread_mutex_lock(&t->lock);
            t->n_open--;
            pthread_cond_signal(&t->freed);
            pthread_mutex_unlock(&t->lock);
            return rc;
        }
    }
    if (need_login && (!t->logged_in || (fresh && !session_logged_in(t, s)))) {
        if (!session_logged_in(t, s)) {
            rc = tok_login(t, s);
            if (rc != P11JWT_OK) {
                tok_session_put(t, s);
                return rc;
            }
        }
        t->logged_in = 1;
    }
    *out = s;
    return P11JWT_OK;
}

void tok_session_put(p11jwt_token *t, CK_SESSION_HANDLE s)
{
    pthread_mutex_lock(&t->lock);
    if (t->n_idle == t->cap_idle) {
        size_t ncap = t->cap_idle ? t->cap_idle * 2 : 8;
        CK_SESSION_HANDLE *n = realloc(t->idle, ncap * sizeof *n);

        if (n == NULL) {        /* cannot pool it: close it instead */
            P11(t->fl, C_CloseSession, s);
            t->n_open--;
            goto out;
        }
        t->idle = n;
        t->cap_idle = ncap;
    }
    t->idle[t->n_idle++] = s;
out:
    pthread_cond_signal(&t->freed);
    pthread_mutex_unlock(&t->lock);
}

void tok_session_lost(p11jwt_token *t, CK_SESSION_HANDLE s)
{
    pthread_mutex_lock(&t->lock);
    P11(t->fl, C_CloseSession, s);
    t->n_open--;
    /* The idle ones most likely went the same way (C_CloseAllSessions, a
     * removed device); closing a healthy one only costs a reopen. */
    for (size_t i = 0; i < t->n_idle; i++)
        P11(t->fl, C_CloseSession, t->idle[i]);
    t->n_open -= t->n_idle;
    t->n_idle = 0;
    t->logged_in = 0;
    atomic_fetch_add(&t->epoch, 1);
    pthread_cond_broadcast(&t->freed);
    pthread_mutex_unlock(&t->lock);
}

int tok_recover(p11jwt_token *t, CK_SESSION_HANDLE s, CK_RV rv)
{
    if (tok_rv_session_lost(rv)) {
        tok_session_lost(t, s);
        return 1;
    }
    if (rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_OBJECT_HANDLE_INVALID ||
        rv == CKR_KEY_HANDLE_INVALID) {
        /* After a C_Logout elsewhere in the process, private objects vanish
         * from view and modules report their handles invalid rather than
         * the login lost; either way: log in again if needed, re-find. */
        if (!session_logged_in(t, s))
            t->logged_in = 0;
        atomic_fetch_add(&t->epoch, 1);
        tok_session_put(t, s);
        return 1;
    }
    return 0;
}
