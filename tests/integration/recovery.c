/*
 * recovery.c — the library keeps signing when the PKCS#11 state changes under
 * it, as it does in a long-lived process:
 *
 *   1. someone calls C_CloseAllSessions on the slot (every pooled session is
 *      gone and, with the last session, the login);
 *   2. someone calls C_Logout (the login is the process's, not ours);
 *   3. the process forks and the child signs (PKCS#11 needs a fresh
 *      C_Initialize in the child: checked too, as the parent's sessions
 *      being gone in the child once it has signed);
 *   4. the parent goes on signing after the child exited.
 *
 * "Someone" is this program reaching the very same module instance the
 * library loaded: dlopen(RTLD_NOLOAD) on the module's path succeeds only if
 * it is already mapped in this process, and then C_GetFunctionList returns
 * the function table the library is using. Every phase signs an assertion
 * with an ES256 and an HS256 key and verifies it (ES: against the key's JWK,
 * on the host; HS: by the token recomputing the MAC).
 *
 *   recovery MODULE TOKEN-URI PIN-FILE TOKEN-LABEL
 *
 * $RECOVERY_HS_SECRET_FILE: import the HS256 key from this file instead of
 * generating it (NSS cannot generate an HMAC key that pins its alg). The
 * module's C_Initialize arguments, if any, come from $P11JWT_MODULE_ARGS.
 * $RECOVERY_SKIP_LOGOUT=1: leave out phase 2 (for a token where it is a
 * known failure, asserted on its own by the caller).
 *
 * Exit 0 when every phase passed; 1 with "recovery: FAIL: ..." otherwise.
 */
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p11jwt.h"

#define AUD "https://sts.example.invalid/token"
#define ISS "recovery-test"

struct key_under_test {
    const char *kid;
    p11jwt_alg alg;
    p11jwt_key *key;
    char *jwks;            /* ES: {"keys":[<its JWK>]}, for host-side checks */
};

static struct key_under_test keys[] = {
    { "recovery-es256", P11JWT_ES256, NULL, NULL },
    { "recovery-hs256", P11JWT_HS256, NULL, NULL },
};
#define NKEYS (sizeof keys / sizeof keys[0])

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int failf(const char *fmt, ...)
{
    va_list ap;

    fputs("recovery: FAIL: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static int lib_fail(const char *phase, const char *what, p11jwt_rc rc)
{
    return failf("%s: %s: %s (%s)", phase, what, p11jwt_strerror(rc), p11jwt_errmsg());
}

/* Signs one assertion with k and verifies it; 0 or -1. */
static int sign_and_verify(struct key_under_test *k, const char *phase)
{
    p11jwt_claims_params cp = { .iss = ISS, .aud = AUD, .ttl = 300 };
    p11jwt_verify_params vp = { .aud = AUD, .iss = ISS, .leeway = 60 };
    char *jws = NULL, *payload = NULL;
    char what[128];
    p11jwt_rc rc;
    int r = 0;

    snprintf(what, sizeof what, "%s sign", p11jwt_alg_name(k->alg));
    rc = p11jwt_assertion_sign(k->key, &cp, &jws);
    if (rc != P11JWT_OK)
        return lib_fail(phase, what, rc);
    snprintf(what, sizeof what, "%s verify", p11jwt_alg_name(k->alg));
    rc = p11jwt_alg_is_ec(k->alg) ? p11jwt_verify_jwks(jws, k->jwks, &vp, NULL, &payload)
                                  : p11jwt_verify_key(jws, k->key, &vp, NULL, &payload);
    if (rc != P11JWT_OK)
        r = lib_fail(phase, what, rc);
    else if (strstr(payload, "\"iss\":\"" ISS "\"") == NULL)
        r = failf("%s: %s: verified payload lacks the iss: %s", phase, what, payload);
    else
        printf("ok - %s: %s signed and verified\n", phase, p11jwt_alg_name(k->alg));
    p11jwt_free(payload);
    p11jwt_free(jws);
    return r;
}

static int sign_all(const char *phase)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (sign_and_verify(&keys[i], phase) != 0)
            return -1;
    fflush(stdout);
    return 0;
}

/* A verifier that accepts everything would pass every phase: make sure a
 * JWS with one payload byte changed is refused, by each verification path. */
static int negative_control(void)
{
    p11jwt_claims_params cp = { .iss = ISS, .aud = AUD, .ttl = 300 };
    p11jwt_verify_params vp = { .aud = AUD, .iss = ISS, .leeway = 60 };

    for (size_t i = 0; i < NKEYS; i++) {
        struct key_under_test *k = &keys[i];
        char *jws = NULL, *sig;
        p11jwt_rc rc = p11jwt_assertion_sign(k->key, &cp, &jws);

        if (rc != P11JWT_OK)
            return lib_fail("negative control", "sign", rc);
        /* One character inside the signature: still well-formed base64url
         * of the right length, so only the signature check can refuse it. */
        sig = strrchr(jws, '.') + 1;
        sig[3] = sig[3] == 'A' ? 'B' : 'A';
        rc = p11jwt_alg_is_ec(k->alg) ? p11jwt_verify_jwks(jws, k->jwks, &vp, NULL, NULL)
                                      : p11jwt_verify_key(jws, k->key, &vp, NULL, NULL);
        p11jwt_free(jws);
        if (rc == P11JWT_OK)
            return failf("negative control: a tampered %s JWS verified",
                         p11jwt_alg_name(k->alg));
    }
    printf("ok - negative control: JWS with a changed signature refused\n");
    return 0;
}

/* ---- reaching the module behind the library's back ------------------- */

static CK_FUNCTION_LIST *fl;
static CK_SLOT_ID slot;

static int find_module(const char *module, const char *label)
{
    CK_C_GetFunctionList get = NULL;
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;
    void *h, *sym;
    int found = 0;

    h = dlopen(module, RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL)
        return failf("%s is not loaded in this process: the library did not load the "
                     "module the URI names (%s)", module, dlerror());
    sym = dlsym(h, "C_GetFunctionList");
    if (sym != NULL)
        memcpy(&get, &sym, sizeof get);   /* POSIX: a data pointer to a function */
    if (get == NULL || get(&fl) != CKR_OK)
        return failf("C_GetFunctionList of %s failed", module);
    if (fl->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        return failf("C_GetSlotList failed: is the module initialised by the library?");
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO info;
        size_t len = sizeof info.label;

        if (fl->C_GetTokenInfo(slots[i], &info) != CKR_OK)
            continue;
        while (len > 0 && info.label[len - 1] == ' ')
            len--;
        if (len == strlen(label) && memcmp(info.label, label, len) == 0) {
            slot = slots[i];
            found++;
        }
    }
    if (found != 1)
        return failf("%d tokens labelled '%s'", found, label);
    /* Deliberately no dlclose: the handle only adds a reference. */
    return 0;
}

/* Opens a session of our own, reports whether the process is logged in as
 * the user (1) or not (0), and optionally logs out through it. -1 on error. */
static int user_state(int logout)
{
    CK_SESSION_HANDLE s;
    CK_SESSION_INFO si;
    CK_RV rv;
    int user;

    rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK)
        return failf("C_OpenSession: 0x%lx", (unsigned long)rv);
    rv = fl->C_GetSessionInfo(s, &si);
    if (rv != CKR_OK) {
        fl->C_CloseSession(s);
        return failf("C_GetSessionInfo: 0x%lx", (unsigned long)rv);
    }
    user = si.state == CKS_RW_USER_FUNCTIONS || si.state == CKS_RO_USER_FUNCTIONS;
    if (logout) {
        rv = fl->C_Logout(s);
        if (rv != CKR_OK) {
            fl->C_CloseSession(s);
            return failf("C_Logout: 0x%lx", (unsigned long)rv);
        }
    }
    /* Closed at once: PKCS#11 modules reuse session handles, and the
     * library's pool must not be handed ours by accident. */
    fl->C_CloseSession(s);
    return user;
}

/* A session of ours that the forked child must not see: opened after 15
 * others (then closed), so its handle is above any a freshly initialised
 * module hands out to the child's one or two sessions. */
static CK_SESSION_HANDLE open_marker_session(void)
{
    CK_SESSION_HANDLE s[16];
    CK_RV rv;
    size_t i;

    for (i = 0; i < 16; i++) {
        rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s[i]);
        if (rv != CKR_OK) {
            failf("C_OpenSession: 0x%lx", (unsigned long)rv);
            break;
        }
    }
    for (size_t j = 0; j + 1 < i; j++)
        fl->C_CloseSession(s[j]);
    return i == 16 ? s[15] : CK_INVALID_HANDLE;
}

static int session_alive(CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO si;

    return fl->C_GetSessionInfo(s, &si) == CKR_OK;
}

/* ---- the phases -------------------------------------------------------- */

static int setup(p11jwt_token *tok)
{
    for (size_t i = 0; i < NKEYS; i++) {
        struct key_under_test *k = &keys[i];
        char *made = NULL, *jwk = NULL;
        const char *secret_file = getenv("RECOVERY_HS_SECRET_FILE");
        p11jwt_rc rc;

        if (!p11jwt_alg_is_ec(k->alg) && secret_file != NULL && secret_file[0] != '\0') {
            char secret[256];
            size_t n;
            FILE *f = fopen(secret_file, "r");

            if (f == NULL)
                return failf("setup: cannot open %s", secret_file);
            n = fread(secret, 1, sizeof secret, f);
            fclose(f);
            rc = p11jwt_key_import_secret(tok, k->alg, k->kid, NULL, (unsigned char *)secret, n);
            if (rc != P11JWT_OK)
                return lib_fail("setup", "import-secret", rc);
        } else {
            rc = p11jwt_key_generate(tok, k->alg, k->kid, NULL, &made);
            if (rc != P11JWT_OK)
                return lib_fail("setup", "keygen", rc);
            if (strcmp(made, k->kid) != 0)
                return failf("setup: keygen returned kid '%s' for '%s'", made, k->kid);
            p11jwt_free(made);
        }
        rc = p11jwt_key_open(tok, k->kid, &k->key);
        if (rc != P11JWT_OK)
            return lib_fail("setup", "key open", rc);
        if (p11jwt_key_alg(k->key) != k->alg)
            return failf("setup: key '%s' opened as %s", k->kid,
                         p11jwt_alg_name(p11jwt_key_alg(k->key)));
        if (!p11jwt_alg_is_ec(k->alg))
            continue;
        rc = p11jwt_key_jwk(k->key, &jwk);
        if (rc != P11JWT_OK)
            return lib_fail("setup", "jwk", rc);
        k->jwks = malloc(strlen(jwk) + 16);
        if (k->jwks == NULL)
            return failf("out of memory");
        sprintf(k->jwks, "{\"keys\":[%s]}", jwk);
        p11jwt_free(jwk);
    }
    return 0;
}

static int run(const char *module, const char *uri, const char *pin_file, const char *label,
               p11jwt_token *tok)
{
    p11jwt_rc rc;
    int st;
    pid_t pid;
    CK_SESSION_HANDLE marker;

    if ((rc = p11jwt_token_set_default_module(tok, module)) != P11JWT_OK ||
        (rc = p11jwt_token_set_pin_file(tok, pin_file)) != P11JWT_OK)
        return lib_fail("setup", "options", rc);
    p11jwt_token_set_pin_prompt(tok, 0);
    if ((rc = p11jwt_token_open(tok, uri)) != P11JWT_OK)
        return lib_fail("setup", "token open", rc);
    if (setup(tok) != 0 || sign_all("initial") != 0 || negative_control() != 0)
        return -1;

    if (find_module(module, label) != 0)
        return -1;
    st = user_state(0);
    if (st != 1)
        return st < 0 ? -1 : failf("the library signed, yet the process is not logged in");

    /* 1. Every session of the slot closed behind the library's back. */
    if (fl->C_CloseAllSessions(slot) != CKR_OK)
        return failf("C_CloseAllSessions failed");
    st = user_state(0);
    if (st != 0)
        return st < 0 ? -1 : failf("still logged in after C_CloseAllSessions: the phase tests nothing");
    if (sign_all("after C_CloseAllSessions") != 0)
        return -1;

    /* 2. A C_Logout from elsewhere in the process. */
    if (getenv("RECOVERY_SKIP_LOGOUT") != NULL && strcmp(getenv("RECOVERY_SKIP_LOGOUT"), "1") == 0) {
        printf("skip - after C_Logout\n");
        goto fork_phase;
    }
    st = user_state(1);
    if (st != 1)
        return st < 0 ? -1 : failf("the library recovered, yet the process is not logged in");
    st = user_state(0);
    if (st != 0)
        return st < 0 ? -1 : failf("still logged in after C_Logout: the phase tests nothing");
    if (sign_all("after C_Logout") != 0)
        return -1;
    st = user_state(0);
    if (st != 1)
        return st < 0 ? -1 : failf("signing after C_Logout did not log in again");

fork_phase:
    /* 3. A forked child signs with the handles it inherited. PKCS#11 says
     * a child must C_Initialize afresh; the design says the library does
     * it before the child's first call. Proof it did: the parent's marker
     * session no longer exists in the child once the child has signed. */
    marker = open_marker_session();
    if (marker == CK_INVALID_HANDLE)
        return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return failf("fork failed");
    if (pid == 0) {
        int r = sign_all("in a forked child");

        if (r == 0 && session_alive(marker))
            r = failf("in a forked child: the parent's session is still there after signing: "
                      "the library did not re-initialise the module after fork()");
        else if (r == 0)
            printf("ok - in a forked child: the module was re-initialised\n");
        fflush(NULL);
        _exit(r == 0 ? 0 : 1);      /* not exit(): no parent atexit handlers */
    }
    if (waitpid(pid, &st, 0) != pid)
        return failf("waitpid failed");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return failf("the forked child failed (status 0x%x)", st);

    /* 4. The parent is unaffected by its child's re-initialisation. */
    if (!session_alive(marker))
        return failf("the child's re-initialisation closed the parent's session");
    fl->C_CloseSession(marker);
    return sign_all("in the parent after the child exited");
}

int main(int argc, char *argv[])
{
    p11jwt_token *tok;
    int r;

    if (argc != 5) {
        fprintf(stderr, "usage: recovery MODULE TOKEN-URI PIN-FILE TOKEN-LABEL\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    tok = p11jwt_token_new();
    if (tok == NULL) {
        failf("out of memory");
        return 1;
    }
    r = run(argv[1], argv[2], argv[3], argv[4], tok);
    for (size_t i = 0; i < NKEYS; i++) {
        p11jwt_key_free(keys[i].key);
        free(keys[i].jwks);
    }
    p11jwt_token_free(tok);
    if (r == 0)
        printf("recovery: all phases passed\n");
    return r == 0 ? 0 : 1;
}
