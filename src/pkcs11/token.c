/*
 * token.c — the p11jwt_token handle: options, RFC 7512 URI, module and slot.
 *
 * p11-kit parses the URI (token attributes, object=/id=, module-path=,
 * module-name=, pin-source=) and matches token infos; we only decide which
 * module to load (and with which C_Initialize arguments) and insist that
 * exactly one token matches, so a key is never made or used on a token the
 * operator did not mean. A URI with a pin-value= is refused before p11-kit
 * sees it (src/core/uri.c), and the URI itself is never echoed in messages.
 */
#include "pkcs11/pkcs11_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

p11jwt_token *p11jwt_token_new(void)
{
    p11jwt_token *t = calloc(1, sizeof *t);
    pthread_condattr_t ca;

    if (t == NULL)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    /* Waits for a free session are bounded: on the monotonic clock. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->freed, &ca);
    pthread_cond_init(&t->drained, &ca);
    pthread_condattr_destroy(&ca);
    atomic_store(&t->fork_gen, atomic_load(&p11_fork_generation));
    return t;
}

static void close_idle(p11jwt_token *t)
{
    for (size_t i = 0; i < t->n_idle; i++)
        P11_CALL(t->fl, C_CloseSession, t->idle[i]);
    t->n_open -= t->n_idle;
    t->n_idle = 0;
}

void p11jwt_token_free(p11jwt_token *t)
{
    if (t == NULL)
        return;
    if (t->fl != NULL && atomic_load(&t->fork_gen) == atomic_load(&p11_fork_generation))
        close_idle(t);
    free(t->idle);
    p11_module_release(t->mod);
    if (t->uri != NULL)
        p11_kit_uri_free(t->uri);
    free(t->uri_kid);
    free(t->default_module);
    free(t->module_args);
    p11_pin_clear(&t->pin);
    pthread_cond_destroy(&t->freed);
    pthread_cond_destroy(&t->drained);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

p11jwt_rc p11_token_set_string(char **slot, const char *value)
{
    char *copy = NULL;

    if (value != NULL && (copy = strdup(value)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    free(*slot);
    *slot = copy;
    return P11JWT_OK;
}

p11jwt_rc p11jwt_token_set_pin_file(p11jwt_token *t, const char *path)
{
    return p11_token_set_string(&t->pin.file, path);
}

p11jwt_rc p11jwt_token_set_pin_env(p11jwt_token *t, const char *name)
{
    if (name != NULL && name[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the PIN environment variable name is empty");
    return p11_token_set_string(&t->pin.env, name);
}

void p11jwt_token_set_pin_prompt(p11jwt_token *t, int allowed)
{
    t->pin.prompt_allowed = allowed;
}

p11jwt_rc p11jwt_token_set_default_module(p11jwt_token *t, const char *path)
{
    return p11_token_set_string(&t->default_module, path);
}

p11jwt_rc p11jwt_token_set_module_args(p11jwt_token *t, const char *args)
{
    if (t->mod != NULL)
        return err_set(P11JWT_ERR_ARG, "module arguments must be set before the token is opened");
    return p11_token_set_string(&t->module_args, args);
}

const char *p11jwt_token_uri_kid(const p11jwt_token *t)
{
    return t->uri_kid;
}

/* Copies a blank-padded PKCS#11 string, trimmed. */
static void trim_copy(char *dst, const unsigned char *src, size_t n)
{
    while (n > 0 && src[n - 1] == ' ')
        n--;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* C_GetTokenInfo, noting CKR_GENERAL_ERROR: SoftHSM's file store answers
 * that when it read the token's files while another process rewrote them
 * (seen with two `rotate auto` at once); its view of that token stays
 * broken until the module is initialised again. */
struct trouble {
    int reload;                 /* CKR_GENERAL_ERROR seen: worth a reload */
    /* The slots whose token could not be read at all, for the "no token
     * matches" message: a removed device is named, not reported absent. */
    size_t unread;
    CK_RV unread_rv;            /* the first such failure */
};

static CK_RV token_info(p11jwt_token *t, CK_SLOT_ID slot, CK_TOKEN_INFO *info,
                        struct trouble *troubled)
{
    CK_RV rv = P11_CALL(t->fl, C_GetTokenInfo, slot, info);

    if (rv == CKR_GENERAL_ERROR)
        troubled->reload = 1;
    if (rv != CKR_OK && troubled->unread++ == 0)
        troubled->unread_rv = rv;
    return rv;
}

/* The one slot whose token the URI matches. */
static p11jwt_rc find_slot_once(p11jwt_token *t, struct trouble *troubled)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;
    CK_RV rv;
    size_t matches = 0;
    char seen[256] = "";
    p11jwt_rc rc = P11JWT_OK;
    CK_TOKEN_INFO info;

    rv = P11_CALL(t->fl, C_GetSlotList, CK_TRUE, NULL, &n);
    if (rv == CKR_OK && n > 0) {
        slots = calloc(n, sizeof *slots);
        if (slots == NULL)
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        rv = P11_CALL(t->fl, C_GetSlotList, CK_TRUE, slots, &n);
    }
    if (rv != CKR_OK) {
        rc = p11_fail(P11JWT_ERR_PKCS11, rv, "cannot list the module's slots");
        goto out;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        char raw[33], label[ESC_CAP];

        /* An uninitialised token (SoftHSM's spare slot) has no label to
         * match or to show. */
        if (token_info(t, slots[i], &info, troubled) != CKR_OK ||
            !(info.flags & CKF_TOKEN_INITIALIZED))
            continue;
        trim_copy(raw, info.label, sizeof info.label);
        err_escape(label, sizeof label, raw);
        if (strlen(seen) + strlen(label) + 4 < sizeof seen)
            snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s'%s'",
                     seen[0] ? ", " : "", label);
        if (p11_kit_uri_match_token_info(t->uri, &info) != 1)
            continue;
        if (matches++ == 0) {
            t->slot = slots[i];
            memcpy(t->label, label, sizeof t->label);
            t->rw = !(info.flags & CKF_WRITE_PROTECTED);
            t->max_open = info.ulMaxSessionCount == CK_EFFECTIVELY_INFINITE ||
                                  info.ulMaxSessionCount == CK_UNAVAILABLE_INFORMATION
                              ? 0
                              : info.ulMaxSessionCount;
            /* With the label, the token's identity for its login state. */
            trim_copy(t->serial, info.serialNumber, sizeof info.serialNumber);
        }
    }
    if (matches == 0) {
        rc = err_set(P11JWT_ERR_TOKEN_NOT_FOUND,
                     "no token matches the URI in module %s (tokens present: %s)",
                     ESC(p11_module_path(t->mod)), seen[0] ? seen : "none");
    } else if (matches > 1) {
        rc = err_set(P11JWT_ERR_TOKEN_NOT_FOUND,
                     "%zu tokens match the URI (%s): name one with token= or serial=",
                     matches, seen);
    }
    if (matches == 0 && troubled->unread > 0)
        rc = err_set(rc, "%s; %zu slot%s could not be read: %s", p11jwt_errmsg(),
                     troubled->unread, troubled->unread == 1 ? "" : "s",
                     p11_ckr_name(troubled->unread_rv));
out:
    free(slots);
    return rc;
}

/* Finds the token, reloading the module when its view of the tokens was
 * read mid-rewrite by another process (a few times, briefly). */
static p11jwt_rc find_slot(p11jwt_token *t)
{
    p11jwt_rc rc = P11JWT_OK;

    for (int attempt = 0; attempt < 10; attempt++) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        struct trouble troubled = { 0, 0, CKR_OK };

        rc = find_slot_once(t, &troubled);
        if (rc != P11JWT_ERR_TOKEN_NOT_FOUND || !troubled.reload)
            break;
        nanosleep(&ts, NULL);
        if (p11_module_reload(t->mod) != P11JWT_OK)
            break;
    }
    return rc;
}

p11jwt_rc p11jwt_token_open(p11jwt_token *t, const char *uri)
{
    char *module_path = NULL, *module_args = NULL;
    p11jwt_rc rc;

    err_clear();
    if (t->mod != NULL)
        return err_set(P11JWT_ERR_ARG, "token handle is already open");
    rc = p11_uri_parse(t, uri, &module_path, &module_args);
    if (rc != P11JWT_OK)
        goto out;
    rc = p11_module_acquire(module_path, module_args, &t->mod);
    if (rc != P11JWT_OK)
        goto out;
    t->fl = p11_module_functions(t->mod);
    atomic_store(&t->fork_gen, atomic_load(&p11_fork_generation));
    rc = find_slot(t);
out:
    free(module_path);
    free(module_args);
    return rc;
}

p11jwt_rc p11_token_check_fork(p11jwt_token *t)
{
    unsigned long gen = atomic_load_explicit(&p11_fork_generation, memory_order_acquire);
    p11jwt_rc rc;

    if (atomic_load_explicit(&t->fork_gen, memory_order_acquire) == gen)
        return P11JWT_OK;
    rc = p11_module_after_fork(t->mod);
    if (rc != P11JWT_OK)
        return rc;
    pthread_mutex_lock(&t->lock);
    /* Checked again under the lock: of the child's threads that saw the
     * old generation, only the first forgets the pool; a later one would
     * drop the sessions the first has opened since. */
    if (atomic_load(&t->fork_gen) != gen) {
        /* The parent's sessions are not ours: forget them without closing. */
        t->n_idle = 0;
        t->n_open = 0;
        t->logged_in = 0;
        p11_session_after_fork(t);
        atomic_fetch_add(&t->epoch, 1);
        atomic_store_explicit(&t->fork_gen, gen, memory_order_release);
    }
    pthread_mutex_unlock(&t->lock);
    return P11JWT_OK;
}

p11jwt_rc p11jwt_token_login(p11jwt_token *t)
{
    CK_SESSION_HANDLE s;
    p11jwt_rc rc;

    err_clear();
    rc = p11_session_get(t, 1, &s);
    if (rc == P11JWT_OK)
        p11_session_put(t, s);
    return rc;
}

const char *p11_token_label(const p11jwt_token *t)
{
    return t->label;
}

int p11_token_pin_given(const p11jwt_token *t)
{
    return t->pin.file != NULL || t->pin.env != NULL;
}

void p11_token_changed(p11jwt_token *t)
{
    atomic_fetch_add(&t->epoch, 1);
}
