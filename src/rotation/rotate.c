/*
 * rotate.c — key rotation by kid. A profile's keyring (its state stored in
 * the token by src/pkcs11/store.c) has one active key, at most one next
 * key and any number of previous ones, each with the time it entered that
 * state. Every change is read-decide-write against a version; a writer
 * that loses a race starts over from what the winner wrote.
 *
 * Order of effects, so a reader always finds a usable active key:
 *   stage    the key is made first, then the state names it next;
 *   promote  only the state changes (next -> active -> previous);
 *   retire   the state drops the keys first, then their objects go.
 * A key made for a stage that loses its race is destroyed again.
 *
 * Without a state in the token, the profile's `kid` is the active key; the
 * first change writes the state.
 *
 * Between processes of one host, rotation steps on a keyring also take an
 * advisory lock (lock.c: a file in a directory of this user's, waited for a
 * bounded time): the versioned state keeps hosts consistent, but SoftHSM's
 * file store fails (CKR_GENERAL_ERROR) when one process reads a token
 * another is rewriting, so local steps are simply taken one at a time.
 */
#include "exchange/exchange_int.h"

#include "base/base.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ATTEMPTS 5

struct kr_key {
    char *kid;
    p11jwt_alg alg;
    int64_t since;              /* when it entered its state; 0: unknown */
};

struct keyring {
    uint64_t version;           /* 0: no state in the token yet */
    struct kr_key active;
    struct kr_key next;         /* kid NULL: none */
    struct kr_key *prev;
    size_t nprev;
};

static void key_clear(struct kr_key *k)
{
    free(k->kid);
    memset(k, 0, sizeof *k);
}

static void kr_clear(struct keyring *kr)
{
    key_clear(&kr->active);
    key_clear(&kr->next);
    for (size_t i = 0; i < kr->nprev; i++)
        key_clear(&kr->prev[i]);
    free(kr->prev);
    memset(kr, 0, sizeof *kr);
}

static p11jwt_rc key_from_json(const json_t *o, struct kr_key *k)
{
    const char *kid = json_string_value(json_object_get(o, "kid"));
    const char *alg = json_string_value(json_object_get(o, "alg"));

    if (kid == NULL || alg == NULL)
        return err_set(P11JWT_ERR_JSON, "keyring state: an entry lacks kid or alg");
    /* A kid goes into headers and messages: text, never empty. */
    if (kid[0] == '\0')
        return err_set(P11JWT_ERR_JSON, "keyring state: an entry has an empty kid");
    for (const char *s = kid; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return err_set(P11JWT_ERR_JSON, "keyring state: kid '%s' holds a control character",
                           ESC(kid));
    k->kid = strdup(kid);
    k->alg = p11jwt_alg_from_name(alg);
    k->since = (int64_t)json_integer_value(json_object_get(o, "since"));
    return k->kid != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

/* Whether a key that entered its state at `since` has been in it for
 * `period`: since + period <= now, written so that no value of since (it
 * is read from the token: anything a JSON integer holds) can overflow;
 * period is a config duration (at most 10 years) and now the clock. */
static int due(int64_t since, int64_t period, int64_t now)
{
    return since <= now - period;
}

static json_t *key_to_json(const struct kr_key *k)
{
    return json_pack("{s:s, s:s, s:I}", "kid", k->kid, "alg",
                     p11jwt_alg_name(k->alg) ? p11jwt_alg_name(k->alg) : "unknown", "since",
                     (json_int_t)k->since);
}

/* The alg of a key in the token. */
static p11jwt_rc key_alg(p11jwt_token *tok, const char *kid, p11jwt_alg *alg)
{
    p11jwt_key *k;
    p11jwt_rc rc = p11jwt_key_open(tok, kid, &k);

    if (rc == P11JWT_OK) {
        *alg = p11jwt_key_alg(k);
        p11jwt_key_free(k);
    }
    return rc;
}

/* Reads the keyring. Without a stored state the profile's kid is the
 * active key; its alg is then looked up in the token when with_alg (status
 * and the rotation steps need it, the signer opens the key anyway). */
static p11jwt_rc kr_parse(const char *json, size_t len, struct keyring *kr);

static p11jwt_rc kr_load(p11jwt_client *c, struct keyring *kr, int with_alg)
{
    const p11jwt_profile *p = exch_client_profile(c);
    p11jwt_token *tok;
    char *json = NULL;
    p11jwt_rc rc;

    memset(kr, 0, sizeof *kr);
    /* A client-credentials profile may name a token (for nothing) but has
     * no key: there is nothing to rotate, and no kid to start from. */
    if (!exch_dialect_signs(p->dialect) || p->kid == NULL)
        return err_set(P11JWT_ERR_CONFIG,
                       "profile '%s' (dialect %s) sends a client secret, not a signed "
                       "assertion: it has no key to rotate",
                       ESC(p->name), exch_dialect_name(p->dialect));
    rc = exch_client_open_token(c, &tok);
    if (rc == P11JWT_OK)
        rc = p11jwt_keyring_read(tok, p->keyring, &json, &kr->version);
    if (rc != P11JWT_OK)
        return rc;
    if (json == NULL) {
        /* No state yet: the profile's kid is the active key. */
        kr->active.kid = strdup(p->kid);
        if (kr->active.kid == NULL)
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        if (!with_alg)
            return P11JWT_OK;
        rc = key_alg(tok, p->kid, &kr->active.alg);
        if (rc != P11JWT_OK) {
            err_wrap(rc, "the active key (kid in the profile)");
            kr_clear(kr);
        }
        return rc;
    }
    rc = kr_parse(json, strlen(json), kr);
    free(json);
    if (rc != P11JWT_OK)
        err_wrap(rc, "keyring '%s' in the token", ESC(p->keyring));
    return rc;
}

/* The keyring state's JSON (len bytes) into kr (version left alone). */
static p11jwt_rc kr_parse(const char *json, size_t len, struct keyring *kr)
{
    json_t *o, *prev;
    json_error_t jerr;
    p11jwt_rc rc;

    o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return err_set(P11JWT_ERR_JSON, "the state is not a JSON object");
    }
    rc = key_from_json(json_object_get(o, "active"), &kr->active);
    if (rc == P11JWT_OK && json_is_object(json_object_get(o, "next")))
        rc = key_from_json(json_object_get(o, "next"), &kr->next);
    prev = json_object_get(o, "previous");
    if (rc == P11JWT_OK && json_array_size(prev) > 0) {
        kr->prev = calloc(json_array_size(prev), sizeof *kr->prev);
        if (kr->prev == NULL)
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; rc == P11JWT_OK && i < json_array_size(prev); i++, kr->nprev++)
            rc = key_from_json(json_array_get(prev, i), &kr->prev[i]);
    }
    json_decref(o);
    if (rc != P11JWT_OK)
        kr_clear(kr);
    return rc;
}

static json_t *kr_to_json(const p11jwt_profile *p, const struct keyring *kr, const char *op)
{
    json_t *o = json_object(), *prev = json_array();
    char host[256] = "";

    gethostname(host, sizeof host - 1);
    for (size_t i = 0; i < kr->nprev; i++)
        json_array_append_new(prev, key_to_json(&kr->prev[i]));
    json_object_set_new(o, "keyring", json_string(p->keyring));
    json_object_set_new(o, "version", json_integer((json_int_t)kr->version));
    json_object_set_new(o, "active", key_to_json(&kr->active));
    json_object_set_new(o, "next", kr->next.kid ? key_to_json(&kr->next) : json_null());
    json_object_set_new(o, "previous", prev);
    json_object_set_new(o, "last_change",
                        json_pack("{s:s, s:I, s:s}", "op", op, "time", (json_int_t)time(NULL),
                                  "host", host));
    return o;
}

/* Writes kr as the version after kr->version. */
static p11jwt_rc kr_store(p11jwt_client *c, struct keyring *kr, const char *op)
{
    const p11jwt_profile *p = exch_client_profile(c);
    p11jwt_token *tok;
    json_t *o;
    char *json;
    p11jwt_rc rc = exch_client_open_token(c, &tok);

    if (rc != P11JWT_OK)
        return rc;
    /* The first stored state dates the active key: its age before that is
     * unknown, and "since 0" would make it look decades old to auto. */
    if (kr->version == 0 && kr->active.since == 0)
        kr->active.since = (int64_t)time(NULL);
    kr->version++;
    o = kr_to_json(p, kr, op);
    kr->version--;
    json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (json == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    rc = p11jwt_keyring_write(tok, p->keyring, kr->version, json);
    free(json);
    if (rc == P11JWT_OK) {
        kr->version++;
        exch_client_keyring_changed(c);
    }
    return rc;
}

static void audit_change(const p11jwt_profile *p, const char *op, const struct kr_key *k,
                         uint64_t version)
{
    json_t *o = exch_audit_event(op);

    if (o == NULL)
        return;
    json_object_set_new(o, "keyring", json_string(p->keyring));
    json_object_set_new(o, "kid", json_string(k->kid));
    json_object_set_new(o, "alg", json_string(p11jwt_alg_name(k->alg)));
    json_object_set_new(o, "version", json_integer((json_int_t)version));
    exch_audit(p, o);
}

/* ---- status and JWKS ------------------------------------------------------ */

static p11jwt_rc rotate_status_unlocked(p11jwt_client *c, char **json_out)
{
    struct keyring kr;
    json_t *o;
    p11jwt_rc rc;

    err_clear();
    *json_out = NULL;
    rc = kr_load(c, &kr, 1);
    if (rc != P11JWT_OK)
        return rc;
    o = kr_to_json(exch_client_profile(c), &kr, "status");
    json_object_del(o, "last_change");
    if (kr.version == 0)
        json_object_set_new(o, "stored", json_false()); /* from the profile's kid */
    *json_out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    kr_clear(&kr);
    return *json_out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

/* JWKS of the keyring's EC keys (active, next, previous). */
static p11jwt_rc kr_jwks(p11jwt_client *c, const struct keyring *kr, int with_prev,
                         char **out)
{
    const char *kids[64];
    size_t n = 0;
    p11jwt_token *tok;
    p11jwt_rc rc = exch_client_open_token(c, &tok);

    *out = NULL;
    if (rc != P11JWT_OK)
        return rc;
    if (p11jwt_alg_is_ec(kr->active.alg))
        kids[n++] = kr->active.kid;
    if (kr->next.kid != NULL && p11jwt_alg_is_ec(kr->next.alg))
        kids[n++] = kr->next.kid;
    for (size_t i = 0; with_prev && i < kr->nprev && n < 64; i++)
        if (p11jwt_alg_is_ec(kr->prev[i].alg))
            kids[n++] = kr->prev[i].kid;
    if (n == 0) {
        *out = strdup("{\"keys\":[]}");
        return *out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    return p11jwt_jwks_export(tok, kids, n, out);
}

static p11jwt_rc rotate_jwks_unlocked(p11jwt_client *c, char **jwks_out)
{
    struct keyring kr;
    p11jwt_rc rc;

    err_clear();
    *jwks_out = NULL;
    rc = kr_load(c, &kr, 1);
    if (rc == P11JWT_OK)
        rc = kr_jwks(c, &kr, 1, jwks_out);
    kr_clear(&kr);
    return rc;
}

/* ---- stage, promote, retire ---------------------------------------------- */

static p11jwt_rc run_publish(const p11jwt_profile *p, const char *jwks, char **report);

/* Appends a line to a growing report. */
static void say(char **report, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(char **report, const char *fmt, ...)
{
    char line[512];
    size_t old = *report ? strlen(*report) : 0;
    char *n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    n = realloc(*report, old + strlen(line) + 2);
    if (n == NULL)
        return;
    memcpy(n + old, line, strlen(line));
    n[old + strlen(line)] = '\n';
    n[old + strlen(line) + 1] = '\0';
    *report = n;
}

/* Stages a next key into the keyring as loaded in kr (consumed). */
static p11jwt_rc stage_from(p11jwt_client *c, struct keyring *krp, const unsigned char *secret,
                            size_t secret_len, const char *kid, char **jwks_out, char **report)
{
    const p11jwt_profile *p = exch_client_profile(c);
    struct keyring kr = *krp;
    p11jwt_token *tok;
    char *made = NULL;
    p11jwt_rc rc;

    memset(krp, 0, sizeof *krp);
    if (kr.next.kid != NULL) {
        rc = err_set(P11JWT_ERR_ARG,
                     "keyring '%s' already has a next key ('%s', staged): promote it or "
                     "retire it first",
                     ESC(p->keyring), ESC(kr.next.kid));
        goto out;
    }
    rc = exch_client_open_token(c, &tok);
    if (rc != P11JWT_OK)
        goto out;
    kr.next.alg = kr.active.alg;
    if (p11jwt_alg_is_ec(kr.active.alg)) {
        if (secret != NULL) {
            rc = err_set(P11JWT_ERR_ARG, "the active key is %s: the next key is generated in "
                                         "the token, no secret is taken",
                         p11jwt_alg_name(kr.active.alg));
            goto out;
        }
        rc = p11jwt_key_generate(tok, kr.active.alg, kid, NULL, &made);
    } else {
        if (secret == NULL || kid == NULL) {
            rc = err_set(P11JWT_ERR_ARG,
                         "the active key is %s: staging imports the provider's new secret "
                         "under its new kid (--secret-file and --kid)",
                         p11jwt_alg_name(kr.active.alg) ? p11jwt_alg_name(kr.active.alg)
                                                        : "not an EC key");
            goto out;
        }
        rc = p11jwt_key_import_secret(tok, kr.active.alg, kid, NULL, secret, secret_len);
        if (rc == P11JWT_OK && (made = strdup(kid)) == NULL)
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    if (rc != P11JWT_OK)
        goto out;
    kr.next.kid = made;
    kr.next.since = (int64_t)time(NULL);
    made = NULL;
    rc = kr_store(c, &kr, "stage");
    if (rc != P11JWT_OK) {
        /* Not named by any state: take the key away again. */
        p11jwt_rc keep = rc;
        char msg[512];

        snprintf(msg, sizeof msg, "%s", p11jwt_errmsg());
        p11jwt_key_delete(tok, kr.next.kid);
        rc = err_set(keep, "%s", msg);
        goto out;
    }
    audit_change(p, "stage", &kr.next, kr.version);
    say(report, "staged %s key '%s' as next in keyring '%s' (version %" PRIu64 ")",
        p11jwt_alg_name(kr.next.alg), ESC(kr.next.kid), ESC(p->keyring), kr.version);
    if (jwks_out != NULL)
        rc = kr_jwks(c, &kr, 0, jwks_out);
out:
    free(made);
    kr_clear(&kr);
    return rc;
}

static p11jwt_rc stage_once(p11jwt_client *c, const unsigned char *secret, size_t secret_len,
                            const char *kid, char **jwks_out, char **report)
{
    struct keyring kr;
    p11jwt_rc rc = kr_load(c, &kr, 1);

    return rc == P11JWT_OK ? stage_from(c, &kr, secret, secret_len, kid, jwks_out, report) : rc;
}

static p11jwt_rc rotate_stage_unlocked(p11jwt_client *c, const unsigned char *secret, size_t secret_len,
                              const char *kid, char **jwks_out)
{
    char *report = NULL;
    p11jwt_rc rc = P11JWT_ERR_CONFLICT;

    err_clear();
    *jwks_out = NULL;
    for (int i = 0; i < MAX_ATTEMPTS && rc == P11JWT_ERR_CONFLICT; i++)
        rc = stage_once(c, secret, secret_len, kid, jwks_out, &report);
    if (rc == P11JWT_OK && exch_client_profile(c)->publish_command != NULL) {
        /* Publish what the STS should trust now: previous keys included
         * (the JWKS printed is active + next, to register). */
        char *all = NULL;

        rc = rotate_jwks_unlocked(c, &all);
        if (rc == P11JWT_OK)
            rc = run_publish(exch_client_profile(c), all, &report);
        free(all);
    }
    free(report);
    return rc;
}

/* Promotes in the keyring as loaded in kr (consumed). */
static p11jwt_rc promote_from(p11jwt_client *c, struct keyring *krp, char **report)
{
    const p11jwt_profile *p = exch_client_profile(c);
    struct keyring kr = *krp;
    struct kr_key *np;
    int64_t now = (int64_t)time(NULL);
    p11jwt_rc rc = P11JWT_OK;

    memset(krp, 0, sizeof *krp);
    if (kr.next.kid == NULL) {
        rc = err_set(P11JWT_ERR_ARG, "keyring '%s' has no next key to promote (stage one first)",
                     ESC(p->keyring));
        goto out;
    }
    np = realloc(kr.prev, (kr.nprev + 1) * sizeof *np);
    if (np == NULL) {
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }
    kr.prev = np;
    /* Newest previous first. */
    memmove(kr.prev + 1, kr.prev, kr.nprev * sizeof *kr.prev);
    kr.prev[0] = kr.active;
    kr.prev[0].since = now;
    kr.nprev++;
    kr.active = kr.next;
    kr.active.since = now;
    memset(&kr.next, 0, sizeof kr.next);
    rc = kr_store(c, &kr, "promote");
    if (rc == P11JWT_OK) {
        audit_change(p, "promote", &kr.active, kr.version);
        say(report, "promoted '%s' to active in keyring '%s'; '%s' is now previous (version %"
                    PRIu64 ")",
            ESC(kr.active.kid), ESC(p->keyring), ESC(kr.prev[0].kid), kr.version);
    }
out:
    kr_clear(&kr);
    return rc;
}

static p11jwt_rc promote_once(p11jwt_client *c, char **report)
{
    struct keyring kr;
    p11jwt_rc rc = kr_load(c, &kr, 1);

    return rc == P11JWT_OK ? promote_from(c, &kr, report) : rc;
}

static p11jwt_rc rotate_promote_unlocked(p11jwt_client *c, char **report)
{
    p11jwt_rc rc = P11JWT_ERR_CONFLICT;
    char *jwks = NULL;

    err_clear();
    *report = NULL;
    for (int i = 0; i < MAX_ATTEMPTS && rc == P11JWT_ERR_CONFLICT; i++)
        rc = promote_once(c, report);
    if (rc == P11JWT_OK && exch_client_profile(c)->publish_command != NULL) {
        rc = rotate_jwks_unlocked(c, &jwks);
        if (rc == P11JWT_OK)
            rc = run_publish(exch_client_profile(c), jwks, report);
        free(jwks);
    }
    return rc;
}

/* Drops from the state the previous keys to retire (kid, or all older
 * than the grace period), stores it, then destroys their objects. */
static p11jwt_rc retire_once(p11jwt_client *c, const char *kid, char **report)
{
    const p11jwt_profile *p = exch_client_profile(c);
    struct keyring kr, again;
    struct kr_key gone[64];
    size_t ngone = 0, keep = 0;
    int64_t now = (int64_t)time(NULL);
    p11jwt_token *tok;
    p11jwt_rc rc = kr_load(c, &kr, 1);

    if (rc != P11JWT_OK)
        return rc;
    if (kid != NULL && strcmp(kid, kr.active.kid) == 0) {
        rc = err_set(P11JWT_ERR_ARG, "'%s' is the active key of keyring '%s': it cannot be "
                                     "retired (stage and promote another first)",
                     ESC(kid), ESC(p->keyring));
        goto out;
    }
    if (kid != NULL && kr.next.kid != NULL && strcmp(kid, kr.next.kid) == 0) {
        rc = err_set(P11JWT_ERR_ARG, "'%s' is the next key of keyring '%s', not a previous "
                                     "one; to drop a staged key, delete it with p11jwt delete "
                                     "after removing it from the STS",
                     ESC(kid), ESC(p->keyring));
        goto out;
    }
    for (size_t i = 0; i < kr.nprev; i++) {
        int go = kid != NULL ? strcmp(kr.prev[i].kid, kid) == 0
                             : due(kr.prev[i].since, p->grace, now);

        if (go && ngone < 64)
            gone[ngone++] = kr.prev[i];
        else
            kr.prev[keep++] = kr.prev[i];
    }
    kr.nprev = keep;
    if (kid != NULL && ngone == 0) {
        rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "'%s' is not a previous key of keyring '%s'",
                     ESC(kid), ESC(p->keyring));
        goto out_gone;
    }
    if (ngone == 0)
        goto out_gone; /* nothing due */
    rc = kr_store(c, &kr, "retire");
    if (rc != P11JWT_OK)
        goto out_gone;
    /* The state no longer names them. Make sure the state in force does not
     * either (a racing writer), then destroy. */
    rc = exch_client_open_token(c, &tok);
    if (rc == P11JWT_OK)
        rc = kr_load(c, &again, 1);
    for (size_t i = 0; rc == P11JWT_OK && i < ngone; i++) {
        int named = strcmp(again.active.kid, gone[i].kid) == 0 ||
                    (again.next.kid && strcmp(again.next.kid, gone[i].kid) == 0);

        for (size_t k = 0; k < again.nprev; k++)
            named |= strcmp(again.prev[k].kid, gone[i].kid) == 0;
        if (named) {
            say(report, "kept key '%s': the keyring in force still names it", ESC(gone[i].kid));
            continue;
        }
        if (p11jwt_key_delete(tok, gone[i].kid) != P11JWT_OK)
            say(report, "retired '%s' from keyring '%s' but could not destroy it: %s",
                ESC(gone[i].kid), ESC(p->keyring), p11jwt_errmsg());
        else {
            audit_change(p, "retire", &gone[i], kr.version);
            say(report, "retired '%s' from keyring '%s' and destroyed its key", ESC(gone[i].kid),
                ESC(p->keyring));
        }
    }
    if (rc == P11JWT_OK)
        kr_clear(&again);
out_gone:
    for (size_t i = 0; i < ngone; i++)
        key_clear(&gone[i]);
out:
    kr_clear(&kr);
    return rc;
}

static p11jwt_rc rotate_retire_unlocked(p11jwt_client *c, const char *kid, char **report)
{
    p11jwt_rc rc = P11JWT_ERR_CONFLICT;

    err_clear();
    *report = NULL;
    for (int i = 0; i < MAX_ATTEMPTS && rc == P11JWT_ERR_CONFLICT; i++)
        rc = retire_once(c, kid, report);
    if (rc == P11JWT_OK && *report == NULL)
        say(report, "nothing to retire: no previous key is older than the grace period");
    return rc;
}

/* ---- publish and auto ------------------------------------------------------ */

/* Runs publish_command with the JWKS on its standard input (publish.c). */
static p11jwt_rc run_publish(const p11jwt_profile *p, const char *jwks, char **report)
{
    size_t n = strlen(jwks);
    char *line = malloc(n + 2);
    p11jwt_rc rc;

    if (line == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    memcpy(line, jwks, n);
    memcpy(line + n, "\n", 2);
    rc = exch_publish(p, line, n + 1);
    free(line);
    if (rc == P11JWT_OK)
        say(report, "published the JWKS with publish_command");
    return rc;
}

/* One decision on the keyring as it is now: adopt, promote or stage when
 * due; *changed when a stage or promote was stored (publish then). */
static p11jwt_rc auto_step(p11jwt_client *c, char **report, int *changed)
{
    const p11jwt_profile *p = exch_client_profile(c);
    struct keyring kr;
    int64_t now = (int64_t)time(NULL);
    p11jwt_rc rc = kr_load(c, &kr, 1);

    *changed = 0;
    if (rc != P11JWT_OK)
        return rc;
    if (kr.version == 0) {
        /* Adopt the profile's key, dated now: its age is unknown. */
        kr.active.since = now;
        rc = kr_store(c, &kr, "adopt");
        if (rc == P11JWT_OK)
            say(report, "adopted '%s' as the active key of keyring '%s' (version %" PRIu64 ")",
                ESC(kr.active.kid), ESC(p->keyring), kr.version);
    } else if (kr.next.kid != NULL && due(kr.next.since, p->overlap, now)) {
        rc = promote_from(c, &kr, report);
        *changed = rc == P11JWT_OK;
    } else if (kr.next.kid == NULL && due(kr.active.since, p->rotate_after, now)) {
        if (!p11jwt_alg_is_ec(kr.active.alg)) {
            say(report, "active key '%s' is due for rotation, but its secret is issued by the "
                        "provider: stage it with 'p11jwt rotate stage --secret-file'",
                ESC(kr.active.kid));
        } else {
            rc = stage_from(c, &kr, NULL, 0, NULL, NULL, report);
            *changed = rc == P11JWT_OK;
        }
    }
    kr_clear(&kr);
    return rc;
}

static p11jwt_rc rotate_auto_unlocked(p11jwt_client *c, char **report)
{
    const p11jwt_profile *p = exch_client_profile(c);
    p11jwt_rc rc = P11JWT_ERR_CONFLICT;
    int changed = 0;
    char *jwks = NULL;

    err_clear();
    *report = NULL;
    /* A lost race means another host acted on the same state: decide again
     * on what it wrote (often: nothing is due any more). */
    for (int i = 0; i < MAX_ATTEMPTS && rc == P11JWT_ERR_CONFLICT; i++)
        rc = auto_step(c, report, &changed);
    if (rc == P11JWT_OK && changed && p->publish_command != NULL) {
        rc = rotate_jwks_unlocked(c, &jwks);
        if (rc == P11JWT_OK)
            rc = run_publish(p, jwks, report);
        free(jwks);
    }
    if (rc == P11JWT_OK) {
        char *r2 = NULL;

        rc = rotate_retire_unlocked(c, NULL, &r2);
        if (rc == P11JWT_OK && r2 != NULL && strncmp(r2, "nothing", 7) != 0)
            say(report, "%s", r2);
        free(r2);
    }
    if (rc == P11JWT_OK && *report == NULL)
        say(report, "nothing due in keyring '%s'", ESC(p->keyring));
    return rc;
}

/* ---- for tests and fuzzing: the state parser alone ------------------------ */

p11jwt_rc exch_keyring_state_check(const char *json, size_t len)
{
    struct keyring kr;
    p11jwt_rc rc;

    memset(&kr, 0, sizeof kr);
    rc = kr_parse(json, len, &kr);
    kr_clear(&kr);
    return rc;
}

/* ---- for the exchange: the key to sign with, and the one to fall back to */

p11jwt_rc exch_keyring_kids(p11jwt_client *c, char **active, char **fallback, int *is_next)
{
    struct keyring kr;
    p11jwt_rc rc = kr_load(c, &kr, 0);

    *active = NULL;
    *fallback = NULL;
    if (rc != P11JWT_OK)
        return rc;
    *active = kr.active.kid;
    kr.active.kid = NULL;
    if (is_next != NULL)
        *is_next = kr.next.kid != NULL;
    if (kr.next.kid != NULL) {
        *fallback = kr.next.kid;
        kr.next.kid = NULL;
    } else if (kr.nprev > 0) {
        *fallback = kr.prev[0].kid; /* the newest previous */
        kr.prev[0].kid = NULL;
    }
    kr_clear(&kr);
    return P11JWT_OK;
}

/* ---- the public entry points: one keyring step at a time on this host --- */

/* Runs call holding this host's lock on the keyring (lock.c); *out is
 * reset first, so a lock that cannot be taken leaves it NULL. */
#define LOCKED(out, call)                                                        \
    do {                                                                         \
        const p11jwt_profile *p_ = exch_client_profile(c);                       \
        int fd_;                                                                 \
        p11jwt_rc rc_;                                                           \
                                                                                 \
        err_clear();                                                             \
        *(out) = NULL;                                                           \
        rc_ = exch_lock_acquire(p_->token, p_->keyring, &fd_);                   \
        if (rc_ == P11JWT_OK) {                                                  \
            rc_ = (call);                                                        \
            exch_lock_release(fd_);                                              \
        }                                                                        \
        return rc_;                                                              \
    } while (0)

p11jwt_rc p11jwt_rotate_status(p11jwt_client *c, char **json_out)
{
    LOCKED(json_out, rotate_status_unlocked(c, json_out));
}

p11jwt_rc p11jwt_rotate_jwks(p11jwt_client *c, char **jwks_out)
{
    LOCKED(jwks_out, rotate_jwks_unlocked(c, jwks_out));
}

p11jwt_rc p11jwt_rotate_stage(p11jwt_client *c, const unsigned char *secret, size_t secret_len,
                              const char *kid, char **jwks_out)
{
    LOCKED(jwks_out, rotate_stage_unlocked(c, secret, secret_len, kid, jwks_out));
}

p11jwt_rc p11jwt_rotate_promote(p11jwt_client *c, char **report)
{
    LOCKED(report, rotate_promote_unlocked(c, report));
}

p11jwt_rc p11jwt_rotate_retire(p11jwt_client *c, const char *kid, char **report)
{
    LOCKED(report, rotate_retire_unlocked(c, kid, report));
}

p11jwt_rc p11jwt_rotate_auto(p11jwt_client *c, char **report)
{
    LOCKED(report, rotate_auto_unlocked(c, report));
}
