/*
 * tok.h — the token layer's private interface: module registry, the one
 * PKCS#11 call wrapper, PIN sources, the session pool, key lookup.
 *
 * Design decisions a reader must know:
 *  - Modules are loaded unmanaged through p11-kit and shared process-wide in
 *    a refcounted registry, so two token handles on one module do not
 *    finalize each other, and a test can reach the very same SoftHSM
 *    instance through dlopen.
 *  - Sessions come from a per-token pool (opened once, reused); the login
 *    state is the process's, shared by all sessions.
 *  - After fork() the child re-initialises the module before its next call
 *    (a generation counter bumped by a pthread_atfork handler), and every
 *    cached object handle is re-found (the token's epoch changes).
 */
#ifndef P11JWT_TOKEN_TOK_H
#define P11JWT_TOKEN_TOK_H

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "jose/jose.h"
#include "p11jwt.h"

/* ---- CK_RV and the call wrapper (ckrv.c) ------------------------------ */

/* "CKR_PIN_INCORRECT"... or "CKR_0x%lx" for values not in the table
 * (that one is in a thread-local buffer). */
const char *tok_ckr_name(CK_RV rv);
/* A short human explanation of rv, "" when the name says it all. */
const char *tok_ckr_text(CK_RV rv);

/* Set from $P11JWT_TRACE at first use: every wrapped call is logged to
 * stderr with its name and CK_RV (never with its arguments). */
extern int tok_trace_enabled;
CK_RV tok_trace(const char *fn, CK_RV rv);

/* Every PKCS#11 call goes through here: P11(fl, C_Sign, s, ...). */
#define P11(fl, fn, ...)                                                     \
    (tok_trace_enabled ? tok_trace(#fn, (fl)->fn(__VA_ARGS__))               \
                       : (fl)->fn(__VA_ARGS__))

/* Sets the error message "<what>: <CKR name> (<text>)" and returns rc. */
p11jwt_rc tok_fail(p11jwt_rc rc, CK_RV rv, const char *what);

/* True for the CK_RVs after which the session (or the whole token
 * connection) must be reopened: handle invalid, closed, device removed,
 * token not present. */
int tok_rv_session_lost(CK_RV rv);

/* ---- modules (module.c) ----------------------------------------------- */

typedef struct tok_module tok_module;

/* Loads (or finds already loaded) the module at path and initialises it
 * with args as C_Initialize's pReserved (NULL: none). A module already
 * loaded with other args is refused. Returns a reference; release with
 * tok_module_release. */
p11jwt_rc tok_module_acquire(const char *path, const char *args, tok_module **out);
void tok_module_release(tok_module *m);
CK_FUNCTION_LIST *tok_module_functions(const tok_module *m);
const char *tok_module_path(const tok_module *m);
/* The arguments it was initialised with (NULL: none). */
const char *tok_module_args(const tok_module *m);

/* Bumped in the child by a pthread_atfork handler. */
extern atomic_ulong tok_fork_generation;
/* In a forked child: finalize + initialize the module once per fork. */
p11jwt_rc tok_module_after_fork(tok_module *m);
/* Finalizes and initializes again a module this process initialized (its
 * view of the tokens was read while another process rewrote them), when no
 * other handle holds it; refused otherwise. */
p11jwt_rc tok_module_reload(tok_module *m);

/* ---- PIN sources (pin.c) ---------------------------------------------- */

typedef struct tok_pin {
    char *file;              /* --pin-file / pin-source= (a path) */
    char *env;               /* --pin-env NAME */
    int prompt_allowed;
    unsigned char *prompted; /* a prompted PIN, kept for re-login, mlocked */
    size_t prompted_len;
} tok_pin;

/* Reads the PIN into a new buffer (*out, wiped and freed by the caller with
 * tok_pin_wipe). *where names the source for messages ("PIN file X"). */
p11jwt_rc tok_pin_read(tok_pin *p, const char *token_label,
                       unsigned char **out, size_t *out_len, const char **where);
void tok_pin_wipe(unsigned char *pin, size_t len);
void tok_pin_clear(tok_pin *p);

/* Reads a whole file (or stdin for "-") into a new buffer, stripping one
 * trailing newline ("\n"). Capped at max bytes. Used for PIN and
 * secret files; the buffer is the caller's to wipe and free. */
p11jwt_rc tok_read_secret_file(const char *path, size_t max,
                               unsigned char **out, size_t *out_len);

/* ---- the token handle (token.c, session.c) ---------------------------- */

struct p11jwt_token {
    /* options */
    tok_pin pin;
    char *default_module;
    char *module_args;       /* set by the caller (NULL: not set, "": none) */

    /* what open() resolved */
    P11KitUri *uri;
    char *uri_kid;
    tok_module *mod;
    CK_FUNCTION_LIST *fl;
    CK_SLOT_ID slot;
    char label[ESC_CAP];     /* the token's label, trimmed and escaped for
                                messages (it is only ever shown) */
    int rw;                  /* sessions are opened read-write */
    char serial[17];         /* the token's serial number, trimmed */

    /* the session pool */
    pthread_mutex_t lock;
    pthread_cond_t freed;
    CK_SESSION_HANDLE *idle;
    size_t n_idle;
    size_t cap_idle;
    size_t n_open;
    size_t max_open;         /* 0: no cap; lowered on CKR_SESSION_COUNT */
    int session_count_seen;  /* the token answered CKR_SESSION_COUNT */
    atomic_int logged_in;    /* we logged in (or found the process so) */

    /* generations: a change means cached handles are stale. fork_gen is
     * read without the lock on every call, written under it. */
    atomic_ulong fork_gen;
    atomic_ulong epoch;
};

/* Re-initialises after fork when needed; cheap when not (one atomic load).
 * Every entry point calls this before touching the module. */
p11jwt_rc tok_check_fork(p11jwt_token *t);

/* Takes a session from the pool (opening one if none is idle). When
 * need_login, makes sure the process is logged in. */
p11jwt_rc tok_session_get(p11jwt_token *t, int need_login, CK_SESSION_HANDLE *out);
/* Returns a healthy session to the pool. */
void tok_session_put(p11jwt_token *t, CK_SESSION_HANDLE s);
/* Forgets session s, which rv (tok_rv_session_lost) says the module has
 * closed, without closing it again (its handle may be another's by now);
 * discards every idle one (they share its fate after C_CloseAllSessions or
 * a device loss: closed unless the device is gone), and bumps the epoch. */
void tok_session_lost(p11jwt_token *t, CK_SESSION_HANDLE s, CK_RV rv);

/* Logs in on session s: refuses a locked / final-try PIN; treats
 * CKR_USER_ALREADY_LOGGED_IN as success. One C_Login at a time per token
 * in the process (waiters of the same handle take its result); a PIN the
 * token refused is never sent again by this process (same error at once). */
p11jwt_rc tok_login(p11jwt_token *t, CK_SESSION_HANDLE s);
/* In a forked child (from the atfork handler): resets the login locks. */
void tok_login_after_fork(void);

/* After a failure with rv on session s: decides whether one retry can fix
 * it, and prepares it (session replaced, re-login, epoch bump). Returns 1
 * when the caller should retry (s is then given back or dropped already),
 * 0 when rv is final (s is still the caller's to put back). */
int tok_recover(p11jwt_token *t, CK_SESSION_HANDLE s, CK_RV rv);

/* ---- objects (keys.c) ------------------------------------------------- */

struct p11jwt_key {
    p11jwt_token *tok;
    char *kid;
    p11jwt_alg alg;
    CK_OBJECT_CLASS cls;       /* private or secret; public: verify only */
    CK_MECHANISM_TYPE mech;    /* CKM_ECDSA or CKM_SHA*_HMAC */
    EVP_MD *md;                /* ES: the hash run on the host */
    atomic_ulong handle;       /* cached; re-found when epoch moves */
    atomic_ulong epoch;
    pthread_mutex_t refind;
    int has_pub;
    jose_ec_pub pub;
    char *header_b64;          /* the JWS header, encoded once */
    size_t header_b64_len;
};

/* Re-finds the key's handle when the token's epoch moved; returns it. */
p11jwt_rc tok_key_handle(p11jwt_key *k, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *out);

/* Finds every object of class cls whose kid is kid: CKA_ID equal to its
 * bytes, else (when none has that ID) CKA_LABEL equal. Fills up to max
 * handles; *n is the number found (may exceed max). */
CK_RV tok_find_by_kid(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                      const char *kid, CK_OBJECT_HANDLE *found, size_t max,
                      size_t *n);

/* Whether any key object (private, public or secret) has this kid. */
p11jwt_rc tok_kid_exists(p11jwt_token *t, CK_SESSION_HANDLE s, const char *kid,
                         int *exists);

/* Reads an attribute of unknown length into a new buffer (NUL-terminated
 * for convenience). CKR_ATTRIBUTE_TYPE_INVALID etc. are returned as is. */
CK_RV tok_get_attr(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                   CK_ATTRIBUTE_TYPE type, unsigned char **out, size_t *len);

/* The alg a key object pins: from the curve (EC) or from the key type or
 * CKA_ALLOWED_MECHANISMS (HMAC). P11JWT_ALG_UNKNOWN when it pins none. */
p11jwt_alg tok_object_alg(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          CK_OBJECT_CLASS cls);

/* 1 when n bytes are a usable kid: non-empty UTF-8 without control
 * characters. */
int tok_kid_is_text(const unsigned char *p, size_t n);

/* The kid of an object: CKA_ID when it is text (tok_kid_is_text), else
 * CKA_LABEL when it is, else the ID in hex, else "" (no kid: a label that
 * is not text never becomes one). Caller frees; NULL: out of memory. */
char *tok_object_kid(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o);

/* ---- keyring state labels (keyring.c) --------------------------------- */

#define TOK_KEYRING_ID_LEN (20 + 1 + 32)
/* The largest version written or read; a state at it takes no successor.
 * INT64_MAX: the version is shown as a JSON integer (rotate status). */
#define TOK_KEYRING_MAX_VERSION ((uint64_t)INT64_MAX)

/* Reads a keyring state object's label (len bytes, not NUL-terminated):
 * 1 when it is "p11jwt-keyring:NAME:VERSION:NONCE" for this name, with
 * VERSION exactly 20 digits from 1 to TOK_KEYRING_MAX_VERSION and NONCE 32
 * lower-case hex digits (*version and id = "VERSION:NONCE" set); 0 when it
 * belongs to no keyring of that name; -1 when it names the keyring but is
 * not what p11jwt writes (*why says how). */
int tok_keyring_label_parse(const char *label, size_t len, const char *name,
                            uint64_t *version, char id[TOK_KEYRING_ID_LEN + 1],
                            const char **why);

/* ---- EC public keys (ecpub.c) ----------------------------------------- */

/* The alg of a DER curve OID (CKA_EC_PARAMS), or UNKNOWN. */
p11jwt_alg tok_ec_params_alg(const unsigned char *der, size_t len);
/* DER OID bytes for an ES alg's curve. */
const unsigned char *tok_ec_params_der(p11jwt_alg alg, size_t *len);
/* Reads CKA_EC_PARAMS and CKA_EC_POINT of a public key object into pub. */
p11jwt_rc tok_ec_read_public(p11jwt_token *t, CK_SESSION_HANDLE s,
                             CK_OBJECT_HANDLE o, jose_ec_pub *pub);

/* HMAC mechanism for an HS alg, 0 otherwise. */
CK_MECHANISM_TYPE tok_hmac_mech(p11jwt_alg alg);

#endif /* P11JWT_TOKEN_TOK_H */
