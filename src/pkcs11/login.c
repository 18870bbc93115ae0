/*
 * login.c — logging the process in to a token, once, and never twice with
 * a PIN the token refused.
 *
 * Login is the process's state (PKCS#11 shares it among every session of
 * the application), so it is done once and redone only when the token
 * says it was lost (session.c decides that).
 *
 * The design decision: a PIN try is the scarcest thing here (three wrong
 * ones can lock a token for good), so login is serialised per token across
 * every handle of the process — one C_Login at a time, the threads that
 * wanted one meanwhile take its result — and a PIN the token refused is
 * never sent again by this process: its fingerprint (HMAC under a key made
 * at random per process, never the PIN) is kept, and a later login with
 * the same PIN fails at once with the first refusal's message. A different
 * PIN (the operator fixed the PIN file) gets its one try. A login whose
 * session went under it (a device pulled mid-login) says nothing of the
 * PIN: the caller recovers, and the waiters take their own turn.
 */
#include "pkcs11/pkcs11_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define REFUSED_MAX 8
#define FP_LEN 32

/* ---- login state, per token, process-wide -------------------------------- */

/* One per token (module path + label + serial) this process logged in to.
 * Never freed: a handful per process, and they must outlive token handles
 * (a PIN refused through one handle stays refused for the next). */
struct p11_login_state {
    char *module;               /* the token: module path, label, serial */
    char *label;
    char *serial;
    pthread_cond_t done;        /* a login attempt ended */
    int busy;                   /* a thread is in C_Login... */
    const p11jwt_token *leader; /* ...for this handle */
    unsigned long round;        /* bumped when an attempt ends */
    err_saved result;           /* the last attempt's, for those who waited */
    int result_lost;            /* ...it failed on a lost session: theirs may
                                   be fine, so they take their own turn */
    unsigned char refused[REFUSED_MAX][FP_LEN];
    size_t n_refused;           /* ring: the last REFUSED_MAX refused PINs */
    err_saved refusal;          /* the last refusal, said again for that PIN */
    struct p11_login_state *next;
};

static pthread_mutex_t logins_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_login_state *logins;
static unsigned char fp_key[32];
static int fp_key_ok;

void p11_login_after_fork(void)
{
    /* In the child, single-threaded: a parent thread may have held the lock
     * or been in C_Login at the fork. What was refused stays refused. */
    pthread_mutex_init(&logins_lock, NULL);
    for (struct p11_login_state *e = logins; e != NULL; e = e->next) {
        pthread_cond_init(&e->done, NULL);
        e->busy = 0;
    }
}

/* The token's login state, made on first use. */
static p11jwt_rc login_state(p11jwt_token *t, struct p11_login_state **out)
{
    const char *path = p11_module_path(t->mod);
    struct p11_login_state *e;
    p11jwt_rc rc = P11JWT_OK;

    pthread_mutex_lock(&logins_lock);
    for (e = logins; e != NULL; e = e->next)
        if (strcmp(e->module, path) == 0 && strcmp(e->label, t->label) == 0 &&
            strcmp(e->serial, t->serial) == 0)
            break;
    if (e == NULL && (e = calloc(1, sizeof *e)) != NULL) {
        e->module = strdup(path);
        e->label = strdup(t->label);
        e->serial = strdup(t->serial);
        if (e->module == NULL || e->label == NULL || e->serial == NULL) {
            free(e->module);
            free(e->label);
            free(e->serial);
            free(e);
            e = NULL;
        } else {
            pthread_cond_init(&e->done, NULL);
            e->next = logins;
            logins = e;
        }
    }
    if (e == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    pthread_mutex_unlock(&logins_lock);
    *out = e;
    return rc;
}

/* HMAC-SHA256 of the PIN under this process's random key: enough to tell
 * "the same PIN again" without keeping the PIN. */
static p11jwt_rc pin_fingerprint(const unsigned char *pin, size_t len, unsigned char fp[FP_LEN])
{
    size_t out_len = 0;

    pthread_mutex_lock(&logins_lock);
    if (!fp_key_ok)
        fp_key_ok = RAND_bytes(fp_key, sizeof fp_key) == 1;
    pthread_mutex_unlock(&logins_lock);
    if (!fp_key_ok ||
        EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, fp_key, sizeof fp_key, pin, len, fp,
                  FP_LEN, &out_len) == NULL ||
        out_len != FP_LEN)
        return err_set(P11JWT_ERR_CRYPTO, "cannot fingerprint the PIN (OpenSSL failed)");
    return P11JWT_OK;
}

/* Under logins_lock. */
static int pin_refused(const struct p11_login_state *e, const unsigned char fp[FP_LEN])
{
    size_t n = e->n_refused < REFUSED_MAX ? e->n_refused : REFUSED_MAX;

    for (size_t i = 0; i < n; i++)
        if (CRYPTO_memcmp(e->refused[i], fp, FP_LEN) == 0)
            return 1;
    return 0;
}

/* Whether the process is logged in, as the session sees it. */
int p11_session_logged_in(p11jwt_token *t, CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO si;

    if (P11_CALL(t->fl, C_GetSessionInfo, s, &si) != CKR_OK)
        return 0;
    return si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS;
}

/* One login attempt; the caller holds the token's turn (e->busy). *lost
 * is C_Login's CK_RV when it says the session is gone, else CKR_OK. */
static p11jwt_rc login_once(p11jwt_token *t, CK_SESSION_HANDLE s, struct p11_login_state *e,
                            CK_RV *lost)
{
    CK_TOKEN_INFO info;
    CK_SESSION_INFO si;
    CK_RV rv;
    unsigned char *pin = NULL;
    size_t pin_len = 0;
    unsigned char fp[FP_LEN];
    err_saved refusal;
    const char *where = "the PIN pad";
    int refused;
    p11jwt_rc rc;

    /* Someone logged the process in while we waited for our turn. A
     * session that is gone already (closed by another thread's fault, a
     * device pulled) is not worth a C_Login: the caller recovers. */
    rv = P11_CALL(t->fl, C_GetSessionInfo, s, &si);
    if (rv == CKR_OK &&
        (si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS))
        return P11JWT_OK;
    if (p11_rv_session_lost(rv)) {
        *lost = rv;
        return p11_fail(P11JWT_ERR_PIN, rv, "login failed");
    }
    if (P11_RAISE(P11JWT_ERR_PKCS11, "cannot read the token's information", t->fl,
                  C_GetTokenInfo, t->slot, &info) != CKR_OK)
        return P11JWT_ERR_PKCS11;
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
    if (!(info.flags & CKF_PROTECTED_AUTHENTICATION_PATH)) {
        rc = p11_pin_read(&t->pin, t->label, &pin, &pin_len, &where);
        if (rc != P11JWT_OK)
            return rc;
    }
    /* A PIN pad's "PIN" is whatever is typed there: fingerprinted as empty,
     * so one refusal there stops this process's tries too. */
    rc = pin_fingerprint(pin != NULL ? pin : (const unsigned char *)"", pin_len, fp);
    if (rc != P11JWT_OK) {
        base_secret_free_n(pin, pin_len);
        return rc;
    }
    pthread_mutex_lock(&logins_lock);
    refused = pin_refused(e, fp);
    if (refused)
        refusal = e->refusal;
    pthread_mutex_unlock(&logins_lock);
    if (refused) {
        base_secret_free_n(pin, pin_len);
        return err_restore(&refusal);
    }
    if (pin == NULL)
        rv = P11_CALL(t->fl, C_Login, s, CKU_USER, NULL, 0);
    else
        rv = P11_CALL(t->fl, C_Login, s, CKU_USER, pin, pin_len);
    base_secret_free_n(pin, pin_len);
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
        return P11JWT_OK;
    if (p11_rv_session_lost(rv))
        *lost = rv;
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_INVALID) {
        rc = err_set(P11JWT_ERR_PIN,
                     "login to token '%s' failed: %s from %s is incorrect (%s); this process "
                     "will not try it again",
                     t->label, "the PIN", where, p11_ckr_name(rv));
        pthread_mutex_lock(&logins_lock);
        memcpy(e->refused[e->n_refused++ % REFUSED_MAX], fp, FP_LEN);
        err_save(&e->refusal, rc);
        pthread_mutex_unlock(&logins_lock);
        return rc;
    }
    if (rv == CKR_PIN_LOCKED)
        return err_set(P11JWT_ERR_PIN_LOCKED, "the user PIN of token '%s' is locked", t->label);
    return p11_fail(P11JWT_ERR_PIN, rv, "login failed");
}

p11jwt_rc p11_login(p11jwt_token *t, CK_SESSION_HANDLE s, CK_RV *lost)
{
    struct p11_login_state *e;
    p11jwt_rc rc = login_state(t, &e);

    *lost = CKR_OK;
    if (rc != P11JWT_OK)
        return rc;
    pthread_mutex_lock(&logins_lock);
    while (e->busy) {
        /* One C_Login at a time per token: wait for the one in flight. A
         * thread of the same handle takes its result rather than spend a
         * PIN try of its own; another handle (its own PIN source) then
         * takes its turn, and finds the process logged in or its PIN
         * already judged. */
        unsigned long round = e->round;
        int same = e->leader == t;

        while (e->busy && e->round == round)
            pthread_cond_wait(&e->done, &logins_lock);
        /* Its session was lost under it (a recovery elsewhere): that says
         * nothing of the PIN nor of ours; take a turn. */
        if (same && !e->result_lost) {
            rc = e->result.rc != P11JWT_OK ? err_restore(&e->result) : P11JWT_OK;
            pthread_mutex_unlock(&logins_lock);
            if (rc == P11JWT_OK)
                t->logged_in = 1;
            return rc;
        }
    }
    e->busy = 1;
    e->leader = t;
    pthread_mutex_unlock(&logins_lock);

    rc = login_once(t, s, e, lost);

    pthread_mutex_lock(&logins_lock);
    e->busy = 0;
    e->leader = NULL;
    e->round++;
    err_save(&e->result, rc);
    e->result_lost = *lost != CKR_OK;
    pthread_cond_broadcast(&e->done);
    pthread_mutex_unlock(&logins_lock);
    if (rc == P11JWT_OK)
        t->logged_in = 1;
    return rc;
}
