/*
 * doctor_token.c — p11jwt doctor's checks of the token side: the module
 * loads, the token is found, the PIN source is readable and private and
 * the token's PIN flags allow a login (then one login), the signing key is
 * protected as p11jwt makes keys and signs, and the keyring's state names
 * keys that exist; for a dialect that sends a client secret, that secret's
 * source instead.
 *
 * The decision: a PIN is tried only after the flags say a try is safe —
 * the ordinary login, with its refused-PIN rule — so the doctor can never
 * be the thing that locks a token. A PIN file is judged by stat(2) and an
 * open, never read here (the login reads it, and wipes it).
 */
#include "exchange/exchange_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A secret's file: readable by us and by no one else. NULL when fine,
 * else why not (in buf) and the fix (in fix). */
static const char *secret_file_trouble(const char *path, const char *what, char *buf,
                                       size_t cap, char *fix, size_t fcap)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(buf, cap, "%s %s cannot be read: %s", what, ESC(path), strerror(errno));
        snprintf(fix, fcap, "create it readable by this user only (chmod 600), or correct the "
                            "path");
        if (fd >= 0)
            close(fd);
        return buf;
    }
    close(fd);
    if (!S_ISREG(st.st_mode)) {
        snprintf(buf, cap, "%s %s is not a regular file", what, ESC(path));
        snprintf(fix, fcap, "point it at a file readable by this user only");
        return buf;
    }
    if (st.st_mode & 077) {
        snprintf(buf, cap, "%s %s may be read by %s (mode %04o)", what, ESC(path),
                 st.st_mode & 007 ? "every user" : "its group",
                 (unsigned)(st.st_mode & 07777));
        snprintf(fix, fcap, "chmod 600 %s", ESC(path));
        return buf;
    }
    return NULL;
}

/* The module, and the token the URI names. */
static p11jwt_rc open_token(exch_doctor *d, const char *uri)
{
    const p11jwt_doctor_params *q = d->params;
    const p11jwt_profile *p = d->p;
    p11jwt_token *t = p11jwt_token_new();
    p11_module_facts mf;
    p11jwt_rc rc;

    if (t == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    d->tok = t;
    rc = p11jwt_token_set_pin_file(t, p != NULL ? p->pin_file : q->pin_file);
    if (rc == P11JWT_OK)
        rc = p11jwt_token_set_pin_env(t, p != NULL ? p->pin_env : q->pin_env);
    if (rc == P11JWT_OK && (p != NULL ? p->module_args : q->module_args) != NULL)
        rc = p11jwt_token_set_module_args(t, p != NULL ? p->module_args : q->module_args);
    p11jwt_token_set_pin_prompt(t, p == NULL && q->pin_prompt);
    if (rc == P11JWT_OK)
        rc = p11jwt_token_open(t, uri);
    if (rc == P11JWT_ERR_URI || rc == P11JWT_ERR_MODULE || rc == P11JWT_ERR_ARG ||
        p11_inspect_module(t, &mf) != P11JWT_OK) {
        if (rc == P11JWT_OK)
            rc = P11JWT_ERR_MODULE;
        exch_doctor_report(d, "module", P11JWT_CHECK_FAIL, rc,
                           rc == P11JWT_ERR_URI
                               ? "correct the token URI (RFC 7512: pkcs11:token=LABEL;...)"
                               : "install the module, or name the right one (module-path= in "
                                 "the URI, $P11JWT_MODULE); a module that needs C_Initialize "
                                 "arguments takes them from module_args",
                           "%s", p11jwt_errmsg());
        d->skip = "the module did not load";
        exch_doctor_skip(d, "token");
        return rc;
    }
    exch_doctor_report(d, "module", P11JWT_CHECK_OK, P11JWT_OK, NULL,
                       "%s (%s), C_Initialize arguments: %s", ESC(mf.path), mf.description,
                       mf.args != NULL ? ESC(mf.args) : "none");
    if (rc != P11JWT_OK) {
        exch_doctor_report(d, "token", P11JWT_CHECK_FAIL, rc,
                           "check token=/serial= in the URI against the tokens present "
                           "(p11-kit list-modules, softhsm2-util --show-slots)",
                           "%s", p11jwt_errmsg());
        return rc;
    }
    return P11JWT_OK;
}

/* The PIN's source and the token's PIN flags, then one login. */
static void check_pin(exch_doctor *d, const p11_token_facts *tf)
{
    char why[512], fix[512], source[256];
    const char *trouble = NULL;
    const CK_FLAGS f = tf->flags;
    p11jwt_rc rc;

    fix[0] = '\0';
    if (f & CKF_PROTECTED_AUTHENTICATION_PATH) {
        snprintf(source, sizeof source, "the token's PIN pad");
    } else if (tf->pin_file != NULL) {
        snprintf(source, sizeof source, "PIN file %s", ESC(tf->pin_file));
        trouble = secret_file_trouble(tf->pin_file, "PIN file", why, sizeof why, fix, sizeof fix);
    } else if (tf->pin_env != NULL) {
        const char *v = getenv(tf->pin_env);

        snprintf(source, sizeof source, "environment variable %s", ESC(tf->pin_env));
        if (v == NULL || v[0] == '\0') {
            snprintf(why, sizeof why, "environment variable %s is %s", ESC(tf->pin_env),
                     v == NULL ? "not set" : "empty");
            snprintf(fix, sizeof fix, "set it in the environment that runs p11jwt, or use "
                                      "pin_file (a file only this user may read)");
            trouble = why;
        }
    } else if (tf->prompt) {
        snprintf(source, sizeof source, "a prompt on the terminal");
    } else {
        snprintf(why, sizeof why, "no PIN source: neither pin_file, pin_env nor pin-source=");
        snprintf(fix, sizeof fix, "set pin_file to a file only this user may read (chmod 600)");
        trouble = why;
    }
    if (trouble == NULL) {
        static const struct {
            CK_FLAGS flag;
            int set;
            const char *what, *fix;
        } bad[] = {
            { CKF_USER_PIN_INITIALIZED, 0, "the token's user PIN is not initialised",
              "initialise it with the SO PIN (pkcs11-tool --init-pin)" },
            { CKF_USER_PIN_LOCKED, 1, "the token's user PIN is locked",
              "unlock it with the SO PIN (pkcs11-tool --init-pin), then correct the PIN source" },
            { CKF_USER_PIN_FINAL_TRY, 1,
              "the token is on its final PIN try: p11jwt will not risk it",
              "check the PIN, then log in once with the token's own tools (or reset it "
              "with the SO PIN)" },
            { CKF_USER_PIN_TO_BE_CHANGED, 1, "the token wants its user PIN changed",
              "change it (pkcs11-tool --change-pin) and update the PIN source" },
        };

        for (size_t i = 0; i < sizeof bad / sizeof bad[0] && trouble == NULL; i++)
            if (!(f & bad[i].flag) == !bad[i].set) {
                snprintf(why, sizeof why, "%s (%s)", bad[i].what, source);
                snprintf(fix, sizeof fix, "%s", bad[i].fix);
                trouble = why;
            }
    }
    if (trouble != NULL) {
        exch_doctor_report(d, "pin", P11JWT_CHECK_FAIL, P11JWT_ERR_PIN, fix, "%s", trouble);
        return;
    }
    rc = p11jwt_token_login(d->tok);
    if (rc != P11JWT_OK) {
        exch_doctor_report(d, "pin", P11JWT_CHECK_FAIL, rc,
                           rc == P11JWT_ERR_PIN
                               ? "put the token's user PIN in the PIN source; each wrong try "
                                 "brings the token closer to locking"
                               : NULL,
                           "login with %s: %s", source, p11jwt_errmsg());
        return;
    }
    d->logged_in = 1;
    exch_doctor_report(d, "pin", (f & CKF_USER_PIN_COUNT_LOW) ? P11JWT_CHECK_WARN : P11JWT_CHECK_OK,
                       P11JWT_OK,
                       (f & CKF_USER_PIN_COUNT_LOW)
                           ? "find out who tried a wrong PIN; a few more lock the token"
                           : NULL,
                       "%s: logged in%s", source,
                       (f & CKF_USER_PIN_COUNT_LOW) ? "; the token counted wrong PINs lately"
                                                    : "; PIN flags fine");
}

/* The key: there, protected, sign-only, alg pinned, and it signs. */
static void check_key(exch_doctor *d, const char *kid, const char *origin)
{
    p11_key_facts k;
    p11jwt_key *key = NULL;
    unsigned char sig[P11JWT_SIG_MAX];
    size_t sig_len = sizeof sig;
    const char *fatal = NULL, *warn = NULL, *remake;
    char why[256];
    p11jwt_rc rc;

    remake = "make a new key with p11jwt keygen (or import-secret), which makes keys "
             "sensitive, non-extractable and sign-only, and rotate to it (p11jwt rotate stage)";
    rc = p11_inspect_key(d->tok, kid, 1, &k);
    if (rc != P11JWT_OK) {
        exch_doctor_report(d, "key", P11JWT_CHECK_FAIL, rc, NULL, "kid '%s'%s: %s", ESC(kid), origin,
                           p11jwt_errmsg());
        return;
    }
    if (!k.found) {
        exch_doctor_report(d, "key", P11JWT_CHECK_FAIL, P11JWT_ERR_KEY_NOT_FOUND,
                           "generate it (p11jwt keygen --kid KID), import it, or correct kid",
                           "no private or secret key with kid '%s'%s in token '%s'%s", ESC(kid),
                           origin, p11_token_label(d->tok),
                           k.public_only ? " (only its public key is there)" : "");
        return;
    }
    if (k.sensitive != 1)
        fatal = "it is not sensitive (CKA_SENSITIVE): its value can be read out";
    else if (k.extractable != 0)
        fatal = "it is extractable (CKA_EXTRACTABLE): it can be wrapped out of the token";
    else if (k.sign != 1)
        fatal = "it may not sign (CKA_SIGN is false)";
    if (fatal != NULL) {
        exch_doctor_report(d, "key", P11JWT_CHECK_FAIL, P11JWT_ERR_PKCS11, remake,
                           "kid '%s'%s: %s", ESC(kid), origin, fatal);
        return;
    }
    /* As the profile signs: a key that pins no alg (an RSA key or a generic
     * secret made elsewhere) signs as the profile's alg. */
    rc = p11jwt_key_open_as(d->tok, kid, d->p != NULL ? d->p->alg : P11JWT_ALG_UNKNOWN, &key);
    if (rc == P11JWT_OK)
        rc = p11jwt_key_sign(key, (const unsigned char *)"p11jwt doctor", 13, sig, &sig_len);
    p11jwt_key_free(key);
    if (rc != P11JWT_OK) {
        exch_doctor_report(d, "key", P11JWT_CHECK_FAIL, rc, NULL, "kid '%s'%s does not sign: %s",
                           ESC(kid), origin, p11jwt_errmsg());
        return;
    }
    /* An imported secret was never the token's alone (the provider issued
     * it): only a key the token made can be never-extractable. */
    if (k.never_extractable != 1 && k.cls != CKO_SECRET_KEY)
        warn = "it was extractable once (CKA_NEVER_EXTRACTABLE false): copies may exist "
               "outside the token";
    else if (k.other_uses[0] != '\0') {
        snprintf(why, sizeof why, "it is not sign-only: it may also %s", k.other_uses);
        warn = why;
    } else if (k.alg == P11JWT_ALG_UNKNOWN)
        warn = "its alg is not pinned (an HMAC key without one CKA_ALLOWED_MECHANISMS, an RSA "
               "key without one CKM_SHA*_RSA_PKCS(_PSS))";
    if (warn != NULL) {
        exch_doctor_report(d, "key", P11JWT_CHECK_WARN, P11JWT_OK, remake, "kid '%s'%s signs, but %s",
                           ESC(kid), origin, warn);
        return;
    }
    exch_doctor_report(d, "key", P11JWT_CHECK_OK, P11JWT_OK, NULL,
                       "kid '%s'%s: %s key, %s, sensitive, %s, sign-only; signs", ESC(kid), origin,
                       k.cls == CKO_SECRET_KEY      ? "secret"
                       : p11jwt_alg_is_rsa(k.alg) ? "RSA private"
                       : k.alg == P11JWT_EDDSA    ? "Ed25519 private"
                                                  : "EC private",
                       p11jwt_alg_name(k.alg),
                       k.never_extractable == 1 ? "never extractable"
                                                : "not extractable (imported)");
}

/* Whether kid is one of the keyring's keys (active, next or previous). */
static int kr_names(const kr_state *kr, const char *kid)
{
    if (kid == NULL)
        return 1;
    if ((kr->active.kid != NULL && strcmp(kr->active.kid, kid) == 0) ||
        (kr->next.kid != NULL && strcmp(kr->next.kid, kid) == 0))
        return 1;
    for (size_t i = 0; i < kr->nprev; i++)
        if (kr->prev[i].kid != NULL && strcmp(kr->prev[i].kid, kid) == 0)
            return 1;
    return 0;
}

/* The keyring's state names keys the token holds, and the profile's kid
 * among them (else the keyring acts unseen: another config's, by name). */
static void check_keyring(exch_doctor *d)
{
    const p11jwt_profile *p = d->p;
    kr_state kr = { 0 };
    p11_key_facts k;
    char missing_prev[256] = "";
    char unseen[512] = "";
    p11jwt_rc rc = kr_load(d->tok, p->keyring, p->kid, 0, &kr);

    /* Not a warning: after a rotation retired it, the profile's kid is
     * rightly gone from its own keyring. Said, so it is never unseen. */
    if (rc == P11JWT_OK && kr.version != 0 && !kr_names(&kr, p->kid))
        snprintf(unseen, sizeof unseen,
                 "; the profile's kid '%s' is not one of them and is not used (if another "
                 "config left this keyring: p11jwt rotate forget --profile %s --yes)",
                 ESC(p->kid), ESC(p->name));
    if (rc != P11JWT_OK) {
        exch_doctor_report(d, "keyring", P11JWT_CHECK_FAIL, rc,
                           "see docs/rotation.md; p11jwt rotate status --profile NAME shows it",
                           "keyring '%s': %s", ESC(p->keyring), p11jwt_errmsg());
        return;
    }
    if (kr.version == 0) {
        exch_doctor_report(d, "keyring", P11JWT_CHECK_OK, P11JWT_OK, NULL,
                           "keyring '%s': no state stored yet; kid '%s' is the active key",
                           ESC(p->keyring), ESC(p->kid));
        kr_state_clear(&kr);
        return;
    }
    for (int which = 0; which < 2 && rc == P11JWT_OK; which++) {
        const char *kid = which == 0 ? kr.active.kid : kr.next.kid;

        if (kid == NULL)
            continue;
        rc = p11_inspect_key(d->tok, kid, 1, &k);
        if (rc == P11JWT_OK && !k.found)
            rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "its %s key '%s' is not in the token",
                         which == 0 ? "active" : "next", ESC(kid));
    }
    for (size_t i = 0; i < kr.nprev && rc == P11JWT_OK; i++)
        if (p11_inspect_key(d->tok, kr.prev[i].kid, 1, &k) == P11JWT_OK && !k.found)
            snprintf(missing_prev + strlen(missing_prev),
                     sizeof missing_prev - strlen(missing_prev), "%s'%s'",
                     missing_prev[0] ? ", " : "", ESC(kr.prev[i].kid));
    if (rc != P11JWT_OK)
        exch_doctor_report(d, "keyring", P11JWT_CHECK_FAIL, rc,
                           "restore the key, or stage a new one (p11jwt rotate stage) and "
                           "promote it",
                           "keyring '%s' version %llu: %s", ESC(p->keyring),
                           (unsigned long long)kr.version, p11jwt_errmsg());
    else if (missing_prev[0] != '\0')
        exch_doctor_report(d, "keyring", P11JWT_CHECK_WARN, P11JWT_OK,
                           "p11jwt rotate retire drops them from the state",
                           "keyring '%s' version %llu: previous key(s) %s no longer in the "
                           "token",
                           ESC(p->keyring), (unsigned long long)kr.version, missing_prev);
    else
        exch_doctor_report(d, "keyring", P11JWT_CHECK_OK, P11JWT_OK, NULL,
                           "keyring '%s' version %llu: active '%s'%s%s%s, %zu previous; all in "
                           "the token%s",
                           ESC(p->keyring), (unsigned long long)kr.version,
                           ESC(kr.active.kid), kr.next.kid ? ", next '" : "",
                           kr.next.kid ? ESC(kr.next.kid) : "", kr.next.kid ? "'" : "",
                           kr.nprev, unseen);
    kr_state_clear(&kr);
}

void exch_doctor_token(exch_doctor *d, const char *uri, const char *kid)
{
    p11_token_facts tf;
    char *active = NULL, *fallback = NULL, origin[256] = "";
    p11jwt_rc rc;

    int opened = d->skip == NULL;

    /* open_token reports module and token, failed or skipped. */
    if (opened && open_token(d, uri) != P11JWT_OK && d->skip == NULL)
        d->skip = "the token could not be opened";
    if (d->skip != NULL) {
        if (!opened) {
            exch_doctor_skip(d, "module");
            exch_doctor_skip(d, "token");
        }
        goto skip_rest;
    }
    rc = p11_inspect_token(d->tok, &tf);
    if (rc != P11JWT_OK) {
        exch_doctor_report(d, "token", P11JWT_CHECK_FAIL, rc, NULL, "%s", p11jwt_errmsg());
        d->skip = "the token could not be read";
        goto skip_rest;
    }
    exch_doctor_report(d, "token", P11JWT_CHECK_OK, P11JWT_OK, NULL,
                       "'%s', serial %s, %s, slot %lu%s", tf.label, tf.serial, tf.model, tf.slot,
                       (tf.flags & CKF_WRITE_PROTECTED) ? " (read-only: no keygen or rotation)"
                                                        : "");
    check_pin(d, &tf);
    if (!d->logged_in) {
        d->skip = "no login (see pin)";
        goto skip_key;
    }
    if (kid == NULL && d->p != NULL) {
        /* The key the client would sign with: the keyring's active one,
         * named as such when a stored keyring chose it. */
        uint64_t version = 0;

        if (kr_kids(d->tok, d->p->keyring, d->p->kid, &active, &fallback, NULL, &version) ==
            P11JWT_OK)
            kid = active;
        else
            kid = d->p->kid;
        if (version != 0 && kid == active)
            snprintf(origin, sizeof origin, " (the active key of keyring '%s', version %llu)",
                     ESC(d->p->keyring), (unsigned long long)version);
    }
    if (kid == NULL)
        kid = p11jwt_token_uri_kid(d->tok);
    if (kid == NULL)
        exch_doctor_report(d, "key", P11JWT_CHECK_FAIL, P11JWT_ERR_ARG,
                           "give --kid, or object= in the token URI", "no kid to check");
    else
        check_key(d, kid, origin);
    if (d->p != NULL)
        check_keyring(d);
    free(active);
    free(fallback);
    return;
skip_rest:
    exch_doctor_skip(d, "pin");
skip_key:
    exch_doctor_skip(d, "key");
    if (d->params->profile != NULL)
        exch_doctor_skip(d, "keyring");
}

void exch_doctor_secret(exch_doctor *d)
{
    const p11jwt_profile *p = d->p;
    char why[512], fix[512];

    if (p->client_secret_file != NULL) {
        if (secret_file_trouble(p->client_secret_file, "client secret file", why, sizeof why,
                                fix, sizeof fix) != NULL)
            exch_doctor_report(d, "secret", P11JWT_CHECK_FAIL, P11JWT_ERR_SECRET, fix, "%s", why);
        else
            exch_doctor_report(d, "secret", P11JWT_CHECK_OK, P11JWT_OK, NULL,
                               "client secret file %s: readable by this user only",
                               ESC(p->client_secret_file));
    } else if (p->client_secret_env != NULL) {
        const char *v = getenv(p->client_secret_env);

        if (v == NULL || v[0] == '\0')
            exch_doctor_report(d, "secret", P11JWT_CHECK_FAIL, P11JWT_ERR_SECRET,
                               "set it in the environment that runs p11jwt, or use "
                               "client_secret_file",
                               "environment variable %s is %s", ESC(p->client_secret_env),
                               v == NULL ? "not set" : "empty");
        else
            exch_doctor_report(d, "secret", P11JWT_CHECK_OK, P11JWT_OK, NULL,
                               "client secret from environment variable %s (set)",
                               ESC(p->client_secret_env));
    } else {
        exch_doctor_report(d, "secret", P11JWT_CHECK_FAIL, P11JWT_ERR_SECRET,
                           "set client_secret_file", "no client secret source");
    }
}
