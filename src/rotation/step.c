/*
 * step.c — what every rotation step shares: the keyring loaded and stored
 * for a client, the report of what was done, the audit record of a step,
 * publishing the JWKS after one.
 *
 * A profile's keyring has one active key, at most one next key and any
 * number of previous ones, each with the time it entered that state
 * (src/keyring). Every change is read-decide-write against a version; a
 * writer that loses a race starts over from what the winner wrote. Order
 * of effects, so a reader always finds a usable active key:
 *   stage    the key is made first, then the state names it next;
 *   promote  only the state changes (next -> active -> previous);
 *   retire   the state drops the keys first, then their objects go.
 * A key made for a stage that loses its race is destroyed again. Between
 * processes of one host, steps on a keyring also take an advisory lock
 * (lock.c).
 */
#include "rotation/rotation_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

p11jwt_rc rot_load(p11jwt_client *c, kr_state *kr)
{
    const p11jwt_profile *p = p11jwt_client_profile(c);
    p11jwt_token *tok;
    p11jwt_rc rc;

    memset(kr, 0, sizeof *kr);
    /* A client-credentials profile may name a token (for nothing) but has
     * no key: there is nothing to rotate, and no kid to start from. */
    if (!exch_dialect_signs(p->dialect) || p->kid == NULL)
        return err_set(P11JWT_ERR_CONFIG,
                       "profile '%s' (dialect %s) sends a client secret, not a signed "
                       "assertion: it has no key to rotate",
                       ESC(p->name), exch_dialect_name(p->dialect));
    rc = exch_client_token(c, &tok);
    if (rc == P11JWT_OK)
        rc = kr_load(tok, p->keyring, p->kid, 1, kr);
    return rc;
}

p11jwt_rc rot_store(p11jwt_client *c, kr_state *kr, const char *op)
{
    p11jwt_token *tok;
    p11jwt_rc rc = exch_client_token(c, &tok);

    if (rc == P11JWT_OK)
        rc = kr_store(tok, p11jwt_client_profile(c)->keyring, kr, op);
    /* Tokens were obtained with the old active kid: drop them. */
    if (rc == P11JWT_OK)
        p11jwt_client_invalidate(c, NULL);
    return rc;
}

void rot_say(char **report, const char *fmt, ...)
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

void rot_audit(const p11jwt_profile *p, const char *op, const kr_key *k, uint64_t version)
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

p11jwt_rc rot_publish_jwks(const p11jwt_profile *p, const char *jwks, char **report)
{
    size_t n = strlen(jwks);
    char *line = malloc(n + 2);
    p11jwt_rc rc;

    if (line == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    memcpy(line, jwks, n);
    memcpy(line + n, "\n", 2);
    rc = rot_publish(p, line, n + 1);
    free(line);
    if (rc == P11JWT_OK)
        rot_say(report, "published the JWKS with publish_command");
    return rc;
}

int rot_due(int64_t since, int64_t period, int64_t now)
{
    /* Written so that no value of since (it is read from the token:
     * anything a JSON integer holds) can overflow; period is a config
     * duration (at most 10 years) and now the clock. */
    return since <= now - period;
}
