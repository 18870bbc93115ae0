/*
 * module.c — loading PKCS#11 modules, once per process.
 *
 * Modules are loaded through p11-kit *unmanaged*: p11-kit finds and dlopens
 * the module, we call C_Initialize ourselves. Unmanaged because a managed
 * module gives every caller its own view of sessions, and we want the one
 * process-wide state PKCS#11 defines (login shared by all sessions, a test
 * able to close our sessions through the same module). A refcounted
 * registry keeps one entry per path so handles do not finalize each other,
 * and a module someone else initialised before us is left initialised.
 * Module arguments (C_Initialize's pReserved, NSS's configdir) belong to
 * that one initialisation: a second handle asking for the same module with
 * different arguments is refused, never silently given the first's.
 */
#include "pkcs11/pkcs11_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct p11_module {
    char *path;
    char *args;               /* pReserved at C_Initialize; NULL: none */
    CK_FUNCTION_LIST *fl;
    unsigned refs;
    int we_initialized;
    unsigned long fork_gen;   /* generation this entry was initialised in */
    struct p11_module *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_module *registry;
static pthread_once_t once = PTHREAD_ONCE_INIT;

atomic_ulong p11_fork_generation;

static void on_fork_child(void)
{
    p11_login_after_fork();
    atomic_fetch_add(&p11_fork_generation, 1);
}

static void init_once(void)
{
    p11_trace_init();
    pthread_atfork(NULL, NULL, on_fork_child);
}

static CK_RV module_initialize(const struct p11_module *m)
{
    CK_C_INITIALIZE_ARGS args;

    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    args.pReserved = m->args;
    return P11_CALL(m->fl, C_Initialize, &args);
}

static int same_args(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static void module_free(struct p11_module *m)
{
    free(m->path);
    free(m->args);
    free(m);
}

p11jwt_rc p11_module_acquire(const char *path, const char *args, p11_module **out)
{
    struct p11_module *m;
    CK_RV rv;
    p11jwt_rc rc = P11JWT_OK;

    *out = NULL;
    pthread_once(&once, init_once);
    pthread_mutex_lock(&registry_lock);
    for (m = registry; m != NULL; m = m->next) {
        if (strcmp(m->path, path) == 0) {
            /* The arguments are not echoed: they are configuration, but a
             * vendor's may carry a credential. */
            if (!same_args(m->args, args)) {
                rc = err_set(P11JWT_ERR_MODULE,
                             "PKCS#11 module %s is already initialised in this process %s "
                             "module arguments; a module is initialised once per process, "
                             "so every token on it must be given the same ones",
                             path, m->args != NULL ? "with other" : "without");
                goto out;
            }
            m->refs++;
            *out = m;
            goto out;
        }
    }

    m = calloc(1, sizeof *m);
    if (m == NULL || (m->path = strdup(path)) == NULL ||
        (args != NULL && (m->args = strdup(args)) == NULL)) {
        if (m != NULL)
            module_free(m);
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }
    m->fl = p11_kit_module_load(path, P11_KIT_MODULE_UNMANAGED | P11_KIT_MODULE_CRITICAL);
    if (m->fl == NULL) {
        const char *why = p11_kit_message();
        rc = err_set(P11JWT_ERR_MODULE, "cannot load PKCS#11 module %s: %s", path,
                     why != NULL ? why : "unknown reason");
        module_free(m);
        goto out;
    }
    rv = module_initialize(m);
    if (rv == CKR_OK) {
        m->we_initialized = 1;
    } else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        char what[512];
        /* NSS's softokn, for one, answers CKR_ARGUMENTS_BAD without its
         * configdir. */
        snprintf(what, sizeof what, "cannot initialise PKCS#11 module %s (%s)", path,
                 args != NULL ? "with the module arguments given"
                              : "without module arguments; does it need some?");
        rc = p11_fail(P11JWT_ERR_MODULE, rv, what);
        p11_kit_module_release(m->fl);
        module_free(m);
        goto out;
    }
    m->fork_gen = atomic_load(&p11_fork_generation);
    m->refs = 1;
    m->next = registry;
    registry = m;
    *out = m;
out:
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

void p11_module_release(p11_module *m)
{
    struct p11_module **pp;

    if (m == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    if (--m->refs == 0) {
        for (pp = &registry; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == m) {
                *pp = m->next;
                break;
            }
        }
        if (m->we_initialized)
            P11_CALL(m->fl, C_Finalize, NULL);
        p11_kit_module_release(m->fl);
        module_free(m);
    }
    pthread_mutex_unlock(&registry_lock);
}

CK_FUNCTION_LIST *p11_module_functions(const p11_module *m)
{
    return m->fl;
}

const char *p11_module_path(const p11_module *m)
{
    return m->path;
}

const char *p11_module_args(const p11_module *m)
{
    return m->args;
}

p11jwt_rc p11_module_reload(p11_module *m)
{
    p11jwt_rc rc = P11JWT_OK;
    CK_RV rv;

    pthread_mutex_lock(&registry_lock);
    /* Only a module nobody else in this process holds: C_Finalize would
     * pull the sessions from under another handle's signature. */
    if (m->refs > 1) {
        pthread_mutex_unlock(&registry_lock);
        return err_set(P11JWT_ERR_MODULE, "the module is in use by another token handle");
    }
    if (m->we_initialized) {
        P11_CALL(m->fl, C_Finalize, NULL);
        rv = module_initialize(m);
        if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
            rc = p11_fail(P11JWT_ERR_MODULE, rv, "cannot re-initialise the PKCS#11 module");
    }
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

p11jwt_rc p11_module_after_fork(p11_module *m)
{
    unsigned long gen = atomic_load(&p11_fork_generation);
    p11jwt_rc rc = P11JWT_OK;
    CK_RV rv;

    pthread_mutex_lock(&registry_lock);
    if (m->fork_gen != gen) {
        /* The child inherited the parent's module state: PKCS#11 asks for a
         * fresh C_Initialize, which modules refuse while they believe they
         * are initialised, so finalize first. */
        P11_CALL(m->fl, C_Finalize, NULL);
        rv = module_initialize(m);
        if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
            rc = p11_fail(P11JWT_ERR_MODULE, rv, "cannot re-initialise the PKCS#11 module after fork");
        else
            m->we_initialized = 1;
        m->fork_gen = gen;
    }
    pthread_mutex_unlock(&registry_lock);
    return rc;
}
