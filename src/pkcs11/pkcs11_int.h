/*
 * pkcs11_int.h — the PKCS#11 floor's private header: what its files share
 * and no other floor sees (pkcs11.h is the floor's interface): the call
 * wrapper, the module registry, PIN sources, the token handle and its
 * session pool, object attributes.
 *
 * Design decisions a reader must know:
 *  - Every PKCS#11 call goes through one wrapper (P11_CALL, call.c) that
 *    traces it through base's logger and, when the caller names the
 *    failure, maps the CK_RV to words and raises the error.
 *  - Modules are loaded unmanaged through p11-kit and shared process-wide in
 *    a refcounted registry, so two token handles on one module do not
 *    finalize each other, and a test can reach the very same SoftHSM
 *    instance through dlopen.
 *  - After fork() the child re-initialises the module before its next call
 *    (a generation counter bumped by a pthread_atfork handler), and every
 *    cached object handle is re-found (the token's epoch changes).
 */
#ifndef P11JWT_PKCS11_INT_H
#define P11JWT_PKCS11_INT_H

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>
#include <pthread.h>
#include <stdatomic.h>

#include "pkcs11/pkcs11.h"

/* ---- the call wrapper (call.c) and the CK_RV table (ckrv.c) -------------- */

/* "CKR_PIN_INCORRECT"... or "CKR_0x%lx" for values not in the table
 * (that one is in a thread-local buffer). */
const char *p11_ckr_name(CK_RV rv);
/* A short human explanation of rv, "" when the name says it all. */
const char *p11_ckr_text(CK_RV rv);

/* Sets the error message "<what>: <CKR name> (<text>)" and returns rc. */
p11jwt_rc p11_fail(p11jwt_rc rc, CK_RV rv, const char *what);

/* True for the CK_RVs after which the session (or the whole token
 * connection) must be reopened: handle invalid, closed, device removed,
 * token not present. */
int p11_rv_session_lost(CK_RV rv);

/* Set once from $P11JWT_TRACE, before any module is loaded
 * (p11_trace_init, called by the module registry), then only read. */
extern int p11_trace_on;
void p11_trace_init(void);

/* The wrapper's slow part: the trace line, and the raise. */
CK_RV p11_call_end(const char *fn, CK_RV rv, p11jwt_rc rc, const char *what);

static inline CK_RV p11_call(const char *fn, CK_RV rv, p11jwt_rc rc, const char *what)
{
    if (p11_trace_on || (rv != CKR_OK && what != NULL))
        return p11_call_end(fn, rv, rc, what);
    return rv;
}

/* Every PKCS#11 call goes through one of these; both evaluate to the
 * CK_RV and trace the call (name and CK_RV, never its arguments):
 *   rv = P11_CALL(t->fl, C_SignInit, s, &mech, h);
 *       a failure is the caller's to judge (expected, or recovered from);
 *   rv = P11_RAISE(P11JWT_ERR_PKCS11, "cannot open a session", t->fl,
 *                  C_OpenSession, slot, flags, NULL, NULL, &s);
 *       a failure raises rc with "<what>: <CKR name> (<text>)". */
#define P11_CALL(fl, fn, ...) p11_call(#fn, (fl)->fn(__VA_ARGS__), P11JWT_OK, NULL)
#define P11_RAISE(rc, what, fl, fn, ...) p11_call(#fn, (fl)->fn(__VA_ARGS__), (rc), (what))

/* ---- modules (module.c) ---------------------------------------------------- */

typedef struct p11_module p11_module;

/* Loads (or finds already loaded) the module at path and initialises it
 * with args as C_Initialize's pReserved (NULL: none). A module already
 * loaded with other args is refused. Returns a reference; release with
 * p11_module_release. */
p11jwt_rc p11_module_acquire(const char *path, const char *args, p11_module **out);
void p11_module_release(p11_module *m);
CK_FUNCTION_LIST *p11_module_functions(const p11_module *m);
const char *p11_module_path(const p11_module *m);
/* The arguments it was initialised with (NULL: none). */
const char *p11_module_args(const p11_module *m);

/* Bumped in the child by a pthread_atfork handler. */
extern atomic_ulong p11_fork_generation;
/* In a forked child: finalize + initialize the module once per fork. */
p11jwt_rc p11_module_after_fork(p11_module *m);
/* Finalizes and initializes again a module this process initialized (its
 * view of the tokens was read while another process rewrote them), when no
 * other handle holds it; refused otherwise. */
p11jwt_rc p11_module_reload(p11_module *m);

/* ---- PIN sources (pin.c) --------------------------------------------------- */

typedef struct p11_pin {
    char *file;              /* --pin-file / pin-source= (a path) */
    char *env;               /* --pin-env NAME */
    int prompt_allowed;
    unsigned char *prompted; /* a prompted PIN, kept for re-login, mlocked */
    size_t prompted_len;
} p11_pin;

/* Reads the PIN into a new buffer (*out, wiped and freed by the caller with
 * base_secret_free_n). *where names the source for messages ("PIN file X"). */
p11jwt_rc p11_pin_read(p11_pin *p, const char *token_label, unsigned char **out,
                       size_t *out_len, const char **where);
void p11_pin_clear(p11_pin *p);

/* ---- the token handle (token.c, uri.c, session.c) --------------------------- */

struct p11jwt_token {
    /* options */
    p11_pin pin;
    char *default_module;
    char *module_args;       /* set by the caller (NULL: not set, "": none) */

    /* what open() resolved */
    P11KitUri *uri;
    char *uri_kid;
    p11_module *mod;
    CK_FUNCTION_LIST *fl;
    CK_SLOT_ID slot;
    char label[ESC_CAP];     /* the token's label, trimmed and escaped for
                                messages (it is only ever shown) */
    int rw;                  /* sessions are opened read-write */
    char serial[17];         /* the token's serial number, trimmed */

    /* the session pool */
    pthread_mutex_t lock;
    pthread_cond_t freed;
    pthread_cond_t drained;  /* the last session lent before a recovery is back */
    CK_SESSION_HANDLE *idle;
    size_t n_idle;
    size_t cap_idle;
    size_t n_open;
    size_t max_open;         /* 0: no cap; lowered on CKR_SESSION_COUNT */
    int session_count_seen;  /* the token answered CKR_SESSION_COUNT */
    atomic_int logged_in;    /* we logged in (or found the process so) */
    /* Recovery generations (session.c): bumped by the one recovery that
     * follows a lost session. A session lent out before the bump may be
     * dead: a failure on it is retried without recovering again, and it
     * rejoins the pool only if the module still knows it. Until every such
     * session is back, no session is lent (a module that reuses handle
     * numbers could otherwise give one's number to a fresh session). */
    unsigned long recovery_gen;
    size_t n_lent;           /* sessions lent out in recovery_gen */
    size_t n_lent_old;       /* ...and in an older one, not back yet */

    /* generations: a change means cached handles are stale. fork_gen is
     * read without the lock on every call, written under it. */
    atomic_ulong fork_gen;
    atomic_ulong epoch;

    /* the RSA signing mechanisms the token has (sign_rsa.c), read once */
    atomic_ulong rsa_mechs;
};

/* Parses the RFC 7512 URI into t (t->uri, t->uri_kid, a pin-source as the
 * PIN file) and decides the module to load and its C_Initialize
 * arguments (*module_path, *module_args: the caller's to free). */
p11jwt_rc p11_uri_parse(p11jwt_token *t, const char *uri, char **module_path,
                        char **module_args);
/* Copies a string option into *slot (NULL clears it). */
p11jwt_rc p11_token_set_string(char **slot, const char *value);

/* Re-initialises after fork when needed; cheap when not (one atomic load).
 * Every entry point calls this before touching the module. */
p11jwt_rc p11_token_check_fork(p11jwt_token *t);
/* Cached object handles are stale (a key was destroyed, a session lost). */
void p11_token_changed(p11jwt_token *t);

/* Forgets session s, which rv (p11_rv_session_lost) says the module has
 * closed, without closing it again (its handle may be another's by now).
 * When s is of the current recovery generation this is the recovery:
 * every idle session is discarded (they share its fate after
 * C_CloseAllSessions or a device loss: closed unless the device is gone),
 * the login is marked lost, the epoch and the generation are bumped. When
 * s predates the last recovery, that recovery already did all this: s is
 * only forgotten. */
void p11_session_lost(p11jwt_token *t, CK_SESSION_HANDLE s, CK_RV rv);
/* In a forked child (from p11_token_check_fork, under t->lock): the pool
 * is forgotten; sessions the forking thread held are of an older
 * generation. */
void p11_session_after_fork(p11jwt_token *t);

/* Whether the process is logged in, as session s sees it (login.c). */
int p11_session_logged_in(p11jwt_token *t, CK_SESSION_HANDLE s);
/* Logs in on session s (login.c): refuses a locked / final-try PIN; treats
 * CKR_USER_ALREADY_LOGGED_IN as success. One C_Login at a time per token
 * in the process (waiters of the same handle take its result); a PIN the
 * token refused is never sent again by this process (same error at once).
 * *lost is C_Login's CK_RV when it says s is gone (p11_rv_session_lost),
 * else CKR_OK: a lost session is the caller's to recover from. */
p11jwt_rc p11_login(p11jwt_token *t, CK_SESSION_HANDLE s, CK_RV *lost);
/* In a forked child (from the atfork handler): resets the login locks. */
void p11_login_after_fork(void);

/* After a failure with rv on session s in the operation's attempt-th try
 * (0 first): decides whether a retry can fix it, and prepares it (session
 * replaced, re-login, epoch bump). One retry per operation, plus one per
 * failure on a session lent before another thread's recovery (bounded).
 * Returns 1 when the caller should retry (s is then given back or dropped
 * already), 0 when rv is final (s is still the caller's to put back). */
int p11_session_recover(p11jwt_token *t, CK_SESSION_HANDLE s, CK_RV rv, int attempt);

/* ---- RSA mechanisms (sign_rsa.c) --------------------------------------------- */

/* How an RS or PS alg is signed with a key on a token: the mechanism and
 * its PSS parameters; host_hash when the host hashes (a raw CKM_RSA_PKCS
 * or CKM_RSA_PKCS_PSS), digest_info when the DigestInfo goes before the
 * hash (RS over CKM_RSA_PKCS). */
typedef struct p11_rsa_mech {
    CK_MECHANISM_TYPE type;
    CK_RSA_PKCS_PSS_PARAMS pss;
    int is_pss, host_hash, digest_info;
} p11_rsa_mech;

/* Chooses the mechanism for alg: CKM_SHA*_RSA_PKCS(_PSS) when the token has
 * it, else CKM_RSA_PKCS(_PSS) over a host digest; when o is a key, only
 * what its CKA_ALLOWED_MECHANISMS allows. kid names the key in messages. */
p11jwt_rc p11_rsa_mech_choose(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                              p11jwt_alg alg, const char *kid, p11_rsa_mech *out);
/* The longest DigestInfo prefix (SHA-256/384/512: 19 bytes). */
#define P11_DIGEST_INFO_MAX 19
/* Writes the DER DigestInfo prefix of alg's hash to out (room for
 * P11_DIGEST_INFO_MAX); returns its length. */
size_t p11_rsa_digest_info(p11jwt_alg alg, unsigned char *out);
/* The C_Sign input for m over data: data itself, or its hash (after the
 * DigestInfo when m asks) in buf, of P11_DIGEST_INFO_MAX + EVP_MAX_MD_SIZE
 * bytes. md: the alg's hash. */
p11jwt_rc p11_rsa_input(const p11_rsa_mech *m, p11jwt_alg alg, const EVP_MD *md,
                        const unsigned char *data, size_t len, unsigned char *buf,
                        const unsigned char **in, size_t *in_len);
/* The alg an RSA key pins (pinning.c's decision for CKK_RSA): one alg's
 * combined mechanism as its only CKA_ALLOWED_MECHANISMS signing one, else
 * none (want, when it is RS or PS and allowed). */
p11jwt_alg p11_rsa_pin_decide(const CK_MECHANISM_TYPE *allowed, size_t n_allowed,
                              int has_allowed, p11jwt_alg want, p11jwt_pinned *pinned);

/* ---- key handles (keyhandle.c) ----------------------------------------------- */

struct p11_keyhandle {
    p11jwt_token *tok;
    char *kid;
    p11jwt_alg alg;            /* pinned by the key, else the caller's */
    p11jwt_pinned pinned;
    CK_OBJECT_CLASS cls;       /* private or secret; public: verify only */
    CK_MECHANISM_TYPE mech;    /* CKM_ECDSA, CKM_SHA*_HMAC or CKM_EDDSA */
    EVP_MD *md;                /* ES: the hash run on the host */
    atomic_ulong handle;       /* cached; re-found when epoch moves */
    atomic_ulong epoch;
    pthread_mutex_t refind;
    int has_point;
    p11_ec_point point;
    size_t sig_len;            /* the alg's, or an RSA key's modulus length */
    void *mech_param;          /* RSA PSS: &rsa.pss */
    CK_ULONG mech_param_len;
    p11_rsa_mech rsa;          /* RS, PS: how the token signs */
    int has_rsa;
    p11_rsa_pub rsa_pub;
};

/* Sets up an RSA key handle opened on session s (pub: its public object
 * or CK_INVALID_HANDLE): its public key, size, mechanism, hash. */
p11jwt_rc p11_rsa_keyhandle_init(p11_keyhandle *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub);

/* The key's object handle, re-found on session s when the token's epoch
 * moved. */
p11jwt_rc p11_keyhandle_object(p11_keyhandle *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *out);

/* ---- objects (object.c, pubkey.c, template.c) ------------------------------- */

/* Finds every object of class cls whose kid is kid: CKA_ID equal to its
 * bytes, else (when none has that ID) CKA_LABEL equal. Fills up to max
 * handles; *n is the number found (may exceed max). */
CK_RV p11_object_find_by_kid(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                             const char *kid, CK_OBJECT_HANDLE *found, size_t max, size_t *n);

/* Reads an attribute of unknown length into a new buffer (NUL-terminated
 * for convenience). CKR_ATTRIBUTE_TYPE_INVALID etc. are returned as is. */
CK_RV p11_object_attr(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                      CK_ATTRIBUTE_TYPE type, unsigned char **out, size_t *len);

/* What kind of signing key an object is (pinning.c). */
typedef enum p11_key_family {
    P11_FAMILY_OTHER = 0,       /* no key p11jwt signs with */
    P11_FAMILY_EC,              /* EC on P-256, P-384 or P-521 */
    P11_FAMILY_HMAC,            /* a generic or CKK_SHA*_HMAC secret */
    P11_FAMILY_RSA,             /* an RSA key (RS*, PS*) */
    P11_FAMILY_EDDSA,           /* CKK_EC_EDWARDS on Ed25519 */
} p11_key_family;

/* The alg a key object signs with (pinning.c): the one it pins (its curve,
 * its key type, its one allowed HMAC mechanism), else want when the key
 * pins none and can be want; P11JWT_ALG_UNKNOWN otherwise. *fam and
 * *pinned (either may be NULL) say what the key is and how its alg is
 * pinned. */
p11jwt_alg p11_object_alg(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          CK_OBJECT_CLASS cls, p11jwt_alg want, p11_key_family *fam,
                          p11jwt_pinned *pinned);

/* The alg of a DER curve OID (CKA_EC_PARAMS), or UNKNOWN. Ed25519 (OID or
 * PrintableString "edwards25519") is P11JWT_EDDSA. */
p11jwt_alg p11_ec_params_alg(const unsigned char *der, size_t len);
/* Ed25519 (keygen_eddsa.c): 1 when CKA_EC_PARAMS names it (OID 1.3.101.112
 * or PrintableString "edwards25519"); its CKA_EC_POINT (a DER OCTET STRING
 * around the 32 bytes, or the bare 32 bytes) as a point of alg EdDSA. */
int p11_eddsa_params_match(const unsigned char *der, size_t len);
p11jwt_rc p11_eddsa_point(const unsigned char *p, size_t n, p11_ec_point *out);
/* DER OID bytes for an ES alg's curve. */
const unsigned char *p11_ec_params_der(p11jwt_alg alg, size_t *len);
/* HMAC mechanism for an HS alg, 0 otherwise. */
CK_MECHANISM_TYPE p11_hmac_mech(p11jwt_alg alg);

/* The one signing-key template policy (template.c): what a private or
 * secret key is made with, what must read back from it, and which
 * refusals of a template are worth a less strict one. */
#define P11_POLICY_MAX 8
/* Writes the policy's attributes (token, private, sensitive, not
 * extractable, sign, and nothing else: no decrypt, unwrap, derive) to
 * out, which holds P11_POLICY_MAX; returns how many. */
size_t p11_template_policy(CK_ATTRIBUTE *out);
/* Reads back what protects a new private or secret key: sensitive, not
 * extractable and, when the token made it (generated), never extractable.
 * An attribute the token cannot show counts as not honoured; the error
 * says which. The caller discards the key. */
p11jwt_rc p11_template_check(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                             int generated);
/* The CK_RVs with which a module refuses a template it cannot take. */
int p11_template_refused(CK_RV rv);
/* The step down (a template's usage attributes are its last ones): C_CreateObject
 * with the n attributes of tmpl less drop[0], then, while the token
 * refuses the template (p11_template_refused), less drop[1], drop[2], ...
 * (steps of them, strictest first). Raises nothing; *o is
 * CK_INVALID_HANDLE unless CKR_OK is returned. */
CK_RV p11_template_create(p11jwt_token *t, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                          const CK_ULONG *drop, size_t steps, CK_OBJECT_HANDLE *o);
/* One step down of a pair's templates: how many attributes are left off
 * the end of the public and of the private one. */
typedef struct p11_template_step {
    CK_ULONG pub_drop, priv_drop;
} p11_template_step;
/* The same for C_GenerateKeyPair. *pub and *priv are CK_INVALID_HANDLE
 * unless CKR_OK is returned. */
CK_RV p11_template_generate(p11jwt_token *t, CK_SESSION_HANDLE s, CK_MECHANISM *mech,
                            CK_ATTRIBUTE *pub_tmpl, CK_ULONG pub_n, CK_ATTRIBUTE *priv_tmpl,
                            CK_ULONG priv_n, const p11_template_step *steps, size_t nsteps,
                            CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);

/* Checks of a new EC pair (keygen.c), for generated and imported keys
 * alike: its CKA_EC_POINT is DER (or the bare point), and a signature of
 * a random digest by priv verifies on the host with pub. */
p11jwt_rc p11_check_point_der(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
                              const p11_ec_point *ec);
p11jwt_rc p11_ec_self_test(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                           const p11_ec_point *pub);

#ifdef P11JWT_UNITTEST
/* Static in the library; for tests/unit only. */
int p11_store_wins(uint64_t va, const char *ida, uint64_t vb, const char *idb);
/* p11_object_alg's decision from what it read: the key's class and type,
 * the alg its curve implies (EC), its CKA_ALLOWED_MECHANISMS (has_allowed
 * 0: the key has none), and the caller's alg. */
p11jwt_alg p11_pin_decide(CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, p11jwt_alg curve_alg,
                          const CK_MECHANISM_TYPE *allowed, size_t n_allowed, int has_allowed,
                          p11jwt_alg want, p11_key_family *fam, p11jwt_pinned *pinned);
#endif

#endif
