/*
 * p11fault.c — a PKCS#11 module that forwards every call to a real module
 * (SoftHSM by default) and injects the faults its rules ask for: the Nth
 * call of a function returns a chosen CK_RV, or every call from the Nth on
 * does, or the device goes away for good, or a call is delayed. It counts
 * every call and every injected fault and can write the counts to a file
 * after each call, so a shell test reads them even from a killed process.
 *
 * The one design decision: a fault looks like the real thing. When it
 * tells the caller a session or the device is gone, the real module's
 * session (or every session of the slot, and with them the login) is
 * really closed; when it says the login is gone, the real token is logged
 * out; a fault on a call that ends an operation is returned after the real
 * call ended it. So the caller's recovery is exercised against a module in
 * the state the error claims, not against one that still works.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rules.h"

#define EXPORT __attribute__((visibility("default")))
#define DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"

/* ---- state ----------------------------------------------------------- */

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST *real;          /* set once, never unloaded */
static int env_parsed;

static atomic_ulong calls[P11F_NFUNCS];
static atomic_ulong faults[P11F_NFUNCS];

/* The rules: from $P11FAULT (read at the first C_Initialize) and from the
 * control file (re-read whenever it changes). Readers hold the read lock
 * while matching; a reload takes the write lock. */
static pthread_rwlock_t rules_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct p11f_ruleset env_rules, file_rules;
static int file_bad;                    /* the control file holds a bad rule */
static struct {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
} file_seen;
static atomic_int file_checked;         /* file_seen is valid */

/* Set when a '!' rule fired: every device call fails with it from then on,
 * until the rule set changes. 0: the device is there. */
static atomic_ulong gone_rv;

static pthread_mutex_t counts_mu = PTHREAD_MUTEX_INITIALIZER;
static int counts_warned;

/* Calls into the real module hold this shared; closing sessions holds it
 * exclusive. SoftHSM frees a session that C_CloseAllSessions (or
 * C_CloseSession on a handle it has since given to another thread) closes
 * while another thread is inside a call on it, and crashes — sometimes
 * mid-write of the token's files. A real HSM closes the session between
 * calls; so does this module. */
static pthread_rwlock_t real_lock = PTHREAD_RWLOCK_INITIALIZER;

static int closes(enum p11f_fn fn)
{
    return fn == FN_C_CloseSession || fn == FN_C_CloseAllSessions || fn == FN_C_Finalize;
}

static void real_enter(enum p11f_fn fn)
{
    if (closes(fn))
        pthread_rwlock_wrlock(&real_lock);
    else
        pthread_rwlock_rdlock(&real_lock);
}

static void real_leave(void)
{
    pthread_rwlock_unlock(&real_lock);
}

/* ---- small helpers ----------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

static void sleep_ms(unsigned long ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The rules start counting calls now: @1 is the next call. */
static void set_bases(struct p11f_ruleset *set)
{
    for (size_t i = 0; i < set->n; i++)
        set->rule[i].base = atomic_load(&calls[set->rule[i].fn]);
}

/* ---- the control file ---------------------------------------------------- */

/* Reads the whole file into a new string, NULL on error (errno set). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        size_t n;

        if (cap - len < 4096) {
            char *nb = realloc(buf, cap + 8192);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            cap += 8192;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    buf[len] = '\0';
    if (ferror(f) || memchr(buf, '\0', len) != NULL) {
        free(buf);
        fclose(f);
        errno = EINVAL;
        return NULL;
    }
    fclose(f);
    return buf;
}

static int same_stat(const struct stat *st)
{
    return file_seen.exists && file_seen.dev == st->st_dev && file_seen.ino == st->st_ino &&
           file_seen.size == st->st_size && file_seen.mtime.tv_sec == st->st_mtim.tv_sec &&
           file_seen.mtime.tv_nsec == st->st_mtim.tv_nsec &&
           file_seen.ctime.tv_sec == st->st_ctim.tv_sec &&
           file_seen.ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Under the write lock: (re)loads the control file if it changed. Returns
 * -1 when it holds a bad rule (reported on stderr once per change). */
static int reload_file_locked(const char *path)
{
    struct stat st;
    char err[300];
    char *text;
    int exists = stat(path, &st) == 0;

    if (atomic_load(&file_checked) && (exists ? same_stat(&st) : !file_seen.exists))
        return file_bad ? -1 : 0;
    atomic_store(&file_checked, 1);
    file_seen.exists = exists;
    if (exists) {
        file_seen.dev = st.st_dev;
        file_seen.ino = st.st_ino;
        file_seen.size = st.st_size;
        file_seen.mtime = st.st_mtim;
        file_seen.ctime = st.st_ctim;
    }
    /* A new rule set: a device that went away with the old one is back. */
    atomic_store(&gone_rv, 0);
    file_bad = 0;
    file_rules.n = 0;
    if (!exists)
        return 0;
    text = slurp(path);
    if (text == NULL) {
        fprintf(stderr, "p11fault: P11FAULT_FILE %s: %s\n", path, strerror(errno));
        file_bad = 1;
        return -1;
    }
    if (p11f_parse(text, 1, &file_rules, err, sizeof err) != 0) {
        fprintf(stderr, "p11fault: P11FAULT_FILE %s: %s\n", path, err);
        file_bad = 1;
    }
    free(text);
    set_bases(&file_rules);
    return file_bad ? -1 : 0;
}

/* Cheap when nothing changed: one stat(). */
static void check_file(void)
{
    const char *path = env("P11FAULT_FILE");
    struct stat st;
    int exists, changed;

    if (path == NULL)
        return;
    exists = stat(path, &st) == 0;
    pthread_rwlock_rdlock(&rules_lock);
    changed = !atomic_load(&file_checked) || (exists ? !same_stat(&st) : file_seen.exists);
    pthread_rwlock_unlock(&rules_lock);
    if (!changed)
        return;
    pthread_rwlock_wrlock(&rules_lock);
    reload_file_locked(path);
    pthread_rwlock_unlock(&rules_lock);
}

/* ---- the counts file ------------------------------------------------------- */

/* Writes every non-zero count to $P11FAULT_COUNTS ("%p" there: this pid),
 * through a temp file and rename, so a reader never sees half a file. */
static void write_counts(void)
{
    const char *spec = env("P11FAULT_COUNTS");
    char path[4096], tmp[4200];
    size_t o = 0;
    FILE *f;
    int fd;

    if (spec == NULL)
        return;
    for (const char *p = spec; *p != '\0' && o + 24 < sizeof path; p++) {
        if (p[0] == '%' && p[1] == 'p') {
            o += (size_t)snprintf(path + o, sizeof path - o, "%ld", (long)getpid());
            p++;
        } else {
            path[o++] = *p;
        }
    }
    path[o] = '\0';
    pthread_mutex_lock(&counts_mu);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    fprintf(f, "pid %ld\n", (long)getpid());
    for (int i = 0; i < P11F_NFUNCS; i++) {
        unsigned long n = atomic_load(&calls[i]);
        if (n != 0)
            fprintf(f, "calls %s %lu\n", p11f_fn_name((enum p11f_fn)i), n);
    }
    for (int i = 0; i < P11F_NFUNCS; i++) {
        unsigned long n = atomic_load(&faults[i]);
        if (n != 0)
            fprintf(f, "faults %s %lu\n", p11f_fn_name((enum p11f_fn)i), n);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        goto fail;
    }
    pthread_mutex_unlock(&counts_mu);
    return;
fail:
    if (!counts_warned) {
        counts_warned = 1;
        fprintf(stderr, "p11fault: cannot write the counts to %s: %s\n", path, strerror(errno));
    }
    pthread_mutex_unlock(&counts_mu);
}

/* ---- faults ------------------------------------------------------------------ */

enum first_arg { NONE, SESSION, SLOT };
enum verdict { GO, FAIL, FAIL_AFTER };

struct fault {
    enum p11f_fn fn;
    enum first_arg first;
    CK_ULONG arg;               /* the session or slot, per `first` */
    CK_RV rv;
    int side_effects;           /* 0 for the echoes of a device gone */
};

/* What a real module would have done along with answering rv. */
static void side_effects(const struct fault *f)
{
    CK_SESSION_INFO si;
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;

    if (!f->side_effects || real == NULL)
        return;
    pthread_rwlock_wrlock(&real_lock);
    switch (f->rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
        if (f->first == SESSION)
            real->C_CloseSession(f->arg);
        break;
    case CKR_USER_NOT_LOGGED_IN:
        if (f->first == SESSION)
            real->C_Logout(f->arg);
        break;
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
        if (f->first == SLOT) {
            real->C_CloseAllSessions(f->arg);
        } else if (f->first == SESSION && real->C_GetSessionInfo(f->arg, &si) == CKR_OK) {
            real->C_CloseAllSessions(si.slotID);
        } else if (f->first == NONE && real->C_GetSlotList(CK_FALSE, slots, &n) == CKR_OK) {
            for (CK_ULONG i = 0; i < n; i++)
                real->C_CloseAllSessions(slots[i]);
        }
        break;
    default:
        break;
    }
    pthread_rwlock_unlock(&real_lock);
}

/* Counts the call and decides its fate from the rules. */
static enum verdict decide(enum p11f_fn fn, enum first_arg first, CK_ULONG arg, int ends,
                           struct fault *f)
{
    unsigned long n, delay = 0;
    int hit = 0, latch = 0, bad_rules;
    CK_RV rv = CKR_OK, gone;

    check_file();
    n = atomic_fetch_add(&calls[fn], 1) + 1;
    pthread_rwlock_rdlock(&rules_lock);
    bad_rules = file_bad;
    gone = atomic_load(&gone_rv);
    if (gone != 0 && fn != FN_C_Initialize && fn != FN_C_Finalize && fn != FN_C_GetInfo) {
        hit = 1;
        rv = gone;
    }
    for (int s = 0; s < 2; s++) {
        const struct p11f_ruleset *set = s == 0 ? &env_rules : &file_rules;

        for (size_t i = 0; i < set->n; i++) {
            const struct p11f_rule *r = &set->rule[i];
            unsigned long rel = n - r->base;

            if (r->fn != fn || rel < r->n || (r->scope == P11F_ONLY && rel != r->n))
                continue;
            if (r->action == P11F_DELAY) {
                delay += r->delay_ms;
            } else if (!hit) {
                hit = 1;
                rv = r->rv;
                latch = r->scope == P11F_GONE;
            }
        }
    }
    pthread_rwlock_unlock(&rules_lock);
    if (bad_rules && !hit) {
        hit = 1;
        rv = CKR_ARGUMENTS_BAD;
    }
    f->side_effects = 1;
    if (latch) {
        CK_RV expected = 0;
        /* Only the first '!' to fire has the side effects. */
        f->side_effects = atomic_compare_exchange_strong(&gone_rv, &expected, rv);
    } else if (gone != 0 && rv == gone) {
        f->side_effects = 0;
    }
    if (hit)
        atomic_fetch_add(&faults[fn], 1);
    write_counts();
    if (delay > 0)
        sleep_ms(delay);
    if (!hit)
        return GO;
    f->fn = fn;
    f->first = first;
    f->arg = arg;
    f->rv = rv;
    if (ends)
        return FAIL_AFTER;
    side_effects(f);
    return FAIL;
}

/* ---- the forwarded functions -------------------------------------------------- */

/* With $P11FAULT_TRACE set: one line per forwarded call on stderr, with the
 * thread, the first argument (session or slot) and the result. */
static void trace(enum p11f_fn fn, CK_ULONG arg, CK_RV rv, int injected)
{
    static _Thread_local unsigned long tid;
    static atomic_ulong next_tid;
    const char *name;

    if (env("P11FAULT_TRACE") == NULL)
        return;
    if (tid == 0)
        tid = atomic_fetch_add(&next_tid, 1) + 1;
    name = p11f_rv_name(rv);
    if (name != NULL)
        fprintf(stderr, "p11fault: [%lu] %s(%lu) -> %s%s\n", tid, p11f_fn_name(fn), arg, name,
                injected ? " (injected)" : "");
    else
        fprintf(stderr, "p11fault: [%lu] %s(%lu) -> 0x%lx%s\n", tid, p11f_fn_name(fn), arg,
                (unsigned long)rv, injected ? " (injected)" : "");
}

#define P11F_FIRST(a, ...) a

#define P11F_WRAP(name, first, ends, params, args)                                   \
    static CK_RV w_##name params                                                     \
    {                                                                                \
        struct fault f;                                                              \
        enum verdict v;                                                              \
        CK_RV rv;                                                                    \
                                                                                     \
        if (real == NULL)                                                            \
            return CKR_CRYPTOKI_NOT_INITIALIZED;                                     \
        v = decide(FN_##name, first, (CK_ULONG)(P11F_FIRST args), ends, &f);         \
        if (v == FAIL) {                                                             \
            trace(FN_##name, (CK_ULONG)(P11F_FIRST args), f.rv, 1);                  \
            return f.rv;                                                             \
        }                                                                            \
        real_enter(FN_##name);                                                       \
        rv = real->name args;                                                        \
        real_leave();                                                                \
        if (v == FAIL_AFTER) {                                                       \
            side_effects(&f);                                                        \
            rv = f.rv;                                                               \
        }                                                                            \
        trace(FN_##name, (CK_ULONG)(P11F_FIRST args), rv, v != GO);                  \
        return rv;                                                                   \
    }
P11F_FORWARDED(P11F_WRAP)
#undef P11F_WRAP

/* ---- the library functions ----------------------------------------------------- */

static void on_fork_child(void)
{
    /* The child is a process of its own: its calls count from zero, and the
     * rules count its calls. Locks another thread held at fork are reset. */
    pthread_mutex_init(&counts_mu, NULL);
    pthread_rwlock_init(&rules_lock, NULL);
    pthread_rwlock_init(&real_lock, NULL);
    pthread_mutex_init(&init_mu, NULL);
    for (int i = 0; i < P11F_NFUNCS; i++) {
        atomic_store(&calls[i], 0);
        atomic_store(&faults[i], 0);
    }
    set_bases(&env_rules);
    set_bases(&file_rules);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

/* Loads the real module; an error message on stderr when it cannot. */
static CK_RV load_real(void)
{
    const char *path = env("P11FAULT_MODULE");
    CK_C_GetFunctionList get;
    CK_FUNCTION_LIST *fl = NULL;
    void *h;
    CK_RV rv;

    if (path == NULL)
        path = DEFAULT_MODULE;
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "p11fault: cannot load P11FAULT_MODULE %s: %s\n", path, dlerror());
        return CKR_GENERAL_ERROR;
    }
    get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
    if (get == NULL || get == C_GetFunctionList) {
        fprintf(stderr, "p11fault: %s is not a PKCS#11 module to forward to\n", path);
        dlclose(h);
        return CKR_GENERAL_ERROR;
    }
    rv = get(&fl);
    if (rv != CKR_OK || fl == NULL) {
        fprintf(stderr, "p11fault: C_GetFunctionList of %s failed (0x%lx)\n", path,
                (unsigned long)rv);
        dlclose(h);
        return CKR_GENERAL_ERROR;
    }
    real = fl;              /* h stays open for the life of the process */
    return CKR_OK;
}

static CK_RV w_C_Initialize(CK_VOID_PTR args)
{
    struct fault f;
    char err[300];
    const char *text;
    CK_RV rv = CKR_OK;

    pthread_once(&once, init_once);
    pthread_mutex_lock(&init_mu);
    if (!env_parsed && (text = env("P11FAULT")) != NULL) {
        pthread_rwlock_wrlock(&rules_lock);
        if (p11f_parse(text, 0, &env_rules, err, sizeof err) != 0) {
            fprintf(stderr, "p11fault: P11FAULT: %s\n", err);
            rv = CKR_ARGUMENTS_BAD;
        }
        set_bases(&env_rules);
        pthread_rwlock_unlock(&rules_lock);
    }
    if (rv == CKR_OK && env("P11FAULT_FILE") != NULL) {
        pthread_rwlock_wrlock(&rules_lock);
        if (reload_file_locked(env("P11FAULT_FILE")) != 0)
            rv = CKR_ARGUMENTS_BAD;
        pthread_rwlock_unlock(&rules_lock);
    }
    if (rv == CKR_OK) {
        env_parsed = 1;
        if (real == NULL)
            rv = load_real();
    }
    pthread_mutex_unlock(&init_mu);
    if (rv != CKR_OK)
        return rv;
    if (decide(FN_C_Initialize, NONE, 0, 0, &f) != GO)
        return f.rv;
    real_enter(FN_C_Initialize);
    rv = real->C_Initialize(args);
    real_leave();
    return rv;
}

static CK_RV w_C_Finalize(CK_VOID_PTR reserved)
{
    struct fault f;
    enum verdict v;
    CK_RV rv;

    if (real == NULL)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    v = decide(FN_C_Finalize, NONE, 0, 1, &f);
    real_enter(FN_C_Finalize);
    rv = real->C_Finalize(reserved);
    real_leave();
    return v == GO ? rv : f.rv;
}

static CK_RV w_C_GetInfo(CK_INFO_PTR info)
{
    struct fault f;
    CK_RV rv;

    if (real == NULL)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (decide(FN_C_GetInfo, NONE, 0, 0, &f) != GO)
        return f.rv;
    real_enter(FN_C_GetInfo);
    rv = real->C_GetInfo(info);
    real_leave();
    return rv;
}

static CK_FUNCTION_LIST function_list = {
    .version = { 2, 40 },
    .C_Initialize = w_C_Initialize,
    .C_Finalize = w_C_Finalize,
    .C_GetInfo = w_C_GetInfo,
    .C_GetFunctionList = C_GetFunctionList,
#define P11F_SLOT(name, first, ends, params, args) .name = w_##name,
    P11F_FORWARDED(P11F_SLOT)
#undef P11F_SLOT
};

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    if (list == NULL)
        return CKR_ARGUMENTS_BAD;
    *list = &function_list;
    return CKR_OK;
}
