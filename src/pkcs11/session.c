/*
 * session.c — the session pool, and recovery after a lost session.
 *
 * A signature borrows a session for the length of C_SignInit + C_Sign and
 * gives it back; a session is opened only when none is idle, so a process
 * holds about as many sessions as it has threads signing at once (capped by
 * the token's ulMaxSessionCount, or by what it gave when it answered
 * CKR_SESSION_COUNT). A session is lent logged in when the caller needs it
 * (login.c logs the process in, once).
 *
 * Recovery is counted in generations. A lost session (CKR_DEVICE_REMOVED,
 * CKR_SESSION_HANDLE_INVALID...) most often means every session went
 * (C_CloseAllSessions, the device pulled), including those other threads
 * hold mid-signature: they find out on their next call. The first thread
 * to see the loss on a session of the current generation recovers — drops
 * the idle sessions, marks the login lost, bumps the generation; a failure
 * on a session lent before that bump is the same loss seen late: that
 * thread retries on a fresh session without recovering again (it would
 * throw away the sessions, and the login, the first one just rebuilt), and
 * such a session rejoins the pool only when the module still knows it.
 * Until the last of them is back no session is lent, so a module that
 * reuses handle numbers cannot give a dead session's number to a fresh
 * one while a thread still holds the dead one.
 */
#include "pkcs11/pkcs11_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a thread waits for a pooled session to come free before it
 * gives up with a clear error. */
#define SESSION_WAIT_S 10
/* Attempts of one operation: the first, one after a recovery, and more
 * only after failures on sessions lent before another thread's recovery. */
#define RETRY_MAX 4

/* ---- sessions -------------------------------------------------------------- */

static p11jwt_rc open_session(p11jwt_token *t, CK_SESSION_HANDLE *s, CK_RV *rv_out)
{
    CK_FLAGS flags = CKF_SERIAL_SESSION | (t->rw ? CKF_RW_SESSION : 0);
    CK_RV rv = P11_CALL(t->fl, C_OpenSession, t->slot, flags, NULL, NULL, s);

    if (rv == CKR_TOKEN_WRITE_PROTECTED && t->rw) {
        t->rw = 0;
        rv = P11_CALL(t->fl, C_OpenSession, t->slot, CKF_SERIAL_SESSION, NULL, NULL, s);
    }
    *rv_out = rv;
    if (rv != CKR_OK)
        return p11_fail(P11JWT_ERR_PKCS11, rv, "cannot open a session on the token");
    return P11JWT_OK;
}

/* ---- sessions lent out, per thread ----------------------------------------- */

/* The sessions this thread holds, each with the recovery generation it was
 * lent in (and the fork generation: one held across fork() is the
 * parent's). A thread holds one, two while it discards a new key
 * (object.c); beyond HELD_MAX a session is lent untracked and counts as of
 * the generation it comes back in, as before generations existed. */
#define HELD_MAX 4

struct held {
    const p11jwt_token *t;
    CK_SESSION_HANDLE s;
    unsigned long gen;
    unsigned long fork_gen;
};

static _Thread_local struct held held[HELD_MAX];
static _Thread_local size_t n_held;

static void held_add(const p11jwt_token *t, CK_SESSION_HANDLE s, unsigned long gen)
{
    if (n_held < HELD_MAX)
        held[n_held++] = (struct held){ t, s, gen, atomic_load(&p11_fork_generation) };
}

static struct held *held_find(const p11jwt_token *t, CK_SESSION_HANDLE s)
{
    for (size_t i = n_held; i-- > 0;)
        if (held[i].t == t && held[i].s == s)
            return &held[i];
    return NULL;
}

/* Takes s off this thread's list: 1 with its generations when it was on. */
static int held_take(const p11jwt_token *t, CK_SESSION_HANDLE s, unsigned long *gen,
                     unsigned long *fork_gen)
{
    struct held *h = held_find(t, s);

    if (h == NULL)
        return 0;
    *gen = h->gen;
    *fork_gen = h->fork_gen;
    *h = held[--n_held];
    return 1;
}

static int holds_any(const p11jwt_token *t)
{
    for (size_t i = 0; i < n_held; i++)
        if (held[i].t == t)
            return 1;
    return 0;
}

/* Under t->lock: a session lent in generation gen is back, or gone. */
static void lent_end(p11jwt_token *t, unsigned long gen)
{
    if (gen == t->recovery_gen) {
        if (t->n_lent > 0)
            t->n_lent--;
    } else if (t->n_lent_old > 0 && --t->n_lent_old == 0) {
        pthread_cond_broadcast(&t->drained);
    }
}

void p11_session_after_fork(p11jwt_token *t)
{
    t->recovery_gen++;
    t->n_lent = 0;
    t->n_lent_old = 0;
}

/* Under t->lock: after a recovery, waits until every session lent before
 * it is back (at most until deadline: past it, lends anyway). A thread
 * that holds a session of t itself does not wait: that one may be old. */
static void wait_drained(p11jwt_token *t, const struct timespec *deadline)
{
    while (t->n_lent_old > 0 && !holds_any(t))
        if (pthread_cond_timedwait(&t->drained, &t->lock, deadline) == ETIMEDOUT)
            break;
}

/* Under t->lock: waits until a session is idle or one may be opened, at
 * most until deadline. */
static p11jwt_rc wait_for_session(p11jwt_token *t, const struct timespec *deadline)
{
    while (t->n_idle == 0 && t->max_open != 0 && t->n_open >= t->max_open) {
        int r = pthread_cond_timedwait(&t->freed, &t->lock, deadline);

        if (r == ETIMEDOUT && t->n_idle == 0 && t->n_open >= t->max_open)
            return err_set(P11JWT_ERR_PKCS11,
                           "no session of token '%s' came free in %d s: the token gives this "
                           "process %zu and all stay busy%s",
                           t->label, SESSION_WAIT_S, t->max_open,
                           t->session_count_seen ? " (it answered CKR_SESSION_COUNT to more)"
                                                 : "");
    }
    return P11JWT_OK;
}

/* A session from the pool or a new one, lent to this thread (not logged
 * in on purpose). */
static p11jwt_rc session_lend(p11jwt_token *t, const struct timespec *deadline,
                              CK_SESSION_HANDLE *out, int *fresh)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    unsigned long gen = 0;
    CK_RV rv = CKR_OK;
    p11jwt_rc rc;

    pthread_mutex_lock(&t->lock);
    for (;;) {
        wait_drained(t, deadline);
        rc = wait_for_session(t, deadline);
        if (rc != P11JWT_OK)
            break;
        gen = t->recovery_gen;
        if (t->n_idle > 0) {
            s = t->idle[--t->n_idle];
            *fresh = 0;
            break;
        }
        t->n_open++;            /* reserve the slot before dropping the lock */
        pthread_mutex_unlock(&t->lock);
        rc = open_session(t, &s, &rv);
        pthread_mutex_lock(&t->lock);
        if (rc == P11JWT_OK) {
            *fresh = 1;
            break;
        }
        t->n_open--;
        pthread_cond_signal(&t->freed);
        /* The token has no session left to give. When this process holds
         * some, that is its share: cap the pool there and wait for one of
         * ours to come back (later callers wait too, without asking the
         * token again). Holding none, there is nothing to wait for. */
        if (rv != CKR_SESSION_COUNT || t->n_open == 0)
            break;
        t->session_count_seen = 1;
        if (t->max_open == 0 || t->max_open > t->n_open)
            t->max_open = t->n_open;
    }
    if (rc == P11JWT_OK) {
        /* Opened across a recovery: it may predate the loss. */
        if (gen == t->recovery_gen)
            t->n_lent++;
        else
            t->n_lent_old++;
    }
    pthread_mutex_unlock(&t->lock);
    if (rc != P11JWT_OK) {
        if (rv == CKR_SESSION_COUNT)
            err_set(rc, "%s, and this process holds none to wait for", p11jwt_errmsg());
        return rc;
    }
    held_add(t, s, gen);
    *out = s;
    return P11JWT_OK;
}

p11jwt_rc p11_session_get(p11jwt_token *t, int need_login, CK_SESSION_HANDLE *out)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    struct timespec deadline;
    int fresh = 0;
    p11jwt_rc rc;

    *out = CK_INVALID_HANDLE;
    rc = p11_token_check_fork(t);
    if (rc != P11JWT_OK)
        return rc;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += SESSION_WAIT_S;

    for (int attempt = 0;; attempt++) {
        CK_RV lost = CKR_OK;

        rc = session_lend(t, &deadline, &s, &fresh);
        if (rc != P11JWT_OK)
            return rc;
        if (!need_login || (t->logged_in && (!fresh || p11_session_logged_in(t, s))))
            break;          /* no login wanted, or the process has one */
        rc = p11_login(t, s, &lost);
        if (rc == P11JWT_OK)
            break;
        if (lost == CKR_OK) {
            p11_session_put(t, s);
            return rc;
        }
        /* The session went under the login (the device was pulled, another
         * thread's recovery or a C_CloseAllSessions elsewhere): the loss is
         * recovered from like one seen mid-signature, once. */
        p11_session_lost(t, s, lost);
        if (attempt > 0)
            return rc;
    }
    *out = s;
    return P11JWT_OK;
}

/* Whether the module still knows session s. */
static int session_alive(p11jwt_token *t, CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO si;

    return P11_CALL(t->fl, C_GetSessionInfo, s, &si) == CKR_OK;
}

void p11_session_put(p11jwt_token *t, CK_SESSION_HANDLE s)
{
    unsigned long gen = 0, fork_gen = 0;
    int known = held_take(t, s, &gen, &fork_gen);

    /* Held across fork(): the parent's session, its number may be one of
     * the child's own by now. The child forgot the pool already. */
    if (known && fork_gen != atomic_load(&p11_fork_generation))
        return;
    pthread_mutex_lock(&t->lock);
    if (!known)
        gen = t->recovery_gen;
    if (gen != t->recovery_gen) {
        /* Lent before the last recovery: the loss may have taken it too.
         * The module says; no session was lent since that recovery while
         * this one was out, so no fresh session has its number. */
        unsigned long seen;
        int alive;

        do {
            seen = t->recovery_gen;
            pthread_mutex_unlock(&t->lock);
            alive = session_alive(t, s);
            pthread_mutex_lock(&t->lock);
        } while (alive && seen != t->recovery_gen);
        lent_end(t, gen);
        if (!alive) {
            if (t->n_open > 0)
                t->n_open--;
            goto out;
        }
    } else {
        lent_end(t, gen);
    }
    if (t->n_idle == t->cap_idle) {
        size_t ncap = t->cap_idle ? t->cap_idle * 2 : 8;
        CK_SESSION_HANDLE *n = realloc(t->idle, ncap * sizeof *n);

        if (n == NULL) {        /* cannot pool it: close it instead */
            P11_CALL(t->fl, C_CloseSession, s);
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

void p11_session_lost(p11jwt_token *t, CK_SESSION_HANDLE s, CK_RV rv)
{
    int device_gone = rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT;
    unsigned long gen = 0, fork_gen = 0;
    int known = held_take(t, s, &gen, &fork_gen);

    if (known && fork_gen != atomic_load(&p11_fork_generation))
        return;
    pthread_mutex_lock(&t->lock);
    if (!known)
        gen = t->recovery_gen;
    /* s is closed already: that is what rv says (PKCS#11 closes every
     * session of a removed token). Closing it again is at best a no-op and
     * at worst closes the session a module that reuses handles has since
     * given the same number to — another thread's, mid-signature. */
    if (t->n_open > 0)
        t->n_open--;
    lent_end(t, gen);
    if (gen == t->recovery_gen) {
        /* The first to see this loss: recover. The idle ones went with the
         * device. After one lost session they most likely went the same
         * way (C_CloseAllSessions): close them, a healthy one only costs a
         * reopen (and an idle handle is still ours: no fresh session can
         * have been given its number while it sat here). The ones other
         * threads hold are of the old generation from now on. */
        if (!device_gone)
            for (size_t i = 0; i < t->n_idle; i++)
                P11_CALL(t->fl, C_CloseSession, t->idle[i]);
        t->n_open -= t->n_idle;
        t->n_idle = 0;
        t->logged_in = 0;
        p11_token_changed(t);
        t->recovery_gen++;
        t->n_lent_old += t->n_lent;
        t->n_lent = 0;
    }
    pthread_cond_broadcast(&t->freed);
    pthread_mutex_unlock(&t->lock);
}

int p11_session_recover(p11jwt_token *t, CK_SESSION_HANDLE s, CK_RV rv, int attempt)
{
    const struct held *h = held_find(t, s);
    int stale;

    if (!p11_rv_session_lost(rv) && rv != CKR_USER_NOT_LOGGED_IN &&
        rv != CKR_OBJECT_HANDLE_INVALID && rv != CKR_KEY_HANDLE_INVALID)
        return 0;
    pthread_mutex_lock(&t->lock);
    stale = h != NULL && h->gen != t->recovery_gen;
    pthread_mutex_unlock(&t->lock);
    /* One retry per operation; a failure on a session lent before the last
     * recovery is that recovery's loss seen late, and costs none (bounded
     * all the same, for a device that comes and goes). */
    if (attempt > 0 && !(stale && attempt < RETRY_MAX))
        return 0;
    if (p11_rv_session_lost(rv)) {
        p11_session_lost(t, s, rv);
        return 1;
    }
    /* After a C_Logout elsewhere in the process, private objects vanish
     * from view and modules report their handles invalid rather than the
     * login lost; either way: log in again if needed, re-find. A stale
     * session's failure was the recovery's, which did both already. */
    if (!stale) {
        if (!p11_session_logged_in(t, s))
            t->logged_in = 0;
        p11_token_changed(t);
    }
    p11_session_put(t, s);
    return 1;
}
