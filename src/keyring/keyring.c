/*
 * keyring.c — the keyring in the token: p11jwt_keyring_read and
 * p11jwt_keyring_write (the PKCS#11 floor's versioned store under the
 * keyring's name), and the state read and stored through them (kr_load,
 * kr_store), which the exchange asks for its kids and rotation changes.
 *
 * Every change is read-decide-write against a version: a writer that
 * loses a race gets P11JWT_ERR_CONFLICT and starts over from what the
 * winner wrote (pkcs11/store.c says how readers always agree).
 */
#include "keyring/keyring.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

p11jwt_rc p11jwt_keyring_read(p11jwt_token *t, const char *name, char **json_out,
                              uint64_t *version)
{
    return p11_store_read(t, name, json_out, version);
}

p11jwt_rc p11jwt_keyring_write(p11jwt_token *t, const char *name, uint64_t base_version,
                               const char *json)
{
    return p11_store_write(t, name, base_version, json);
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

p11jwt_rc kr_load(p11jwt_token *tok, const char *name, const char *default_kid, int with_alg,
                  kr_state *kr)
{
    char *json = NULL;
    p11jwt_rc rc;

    memset(kr, 0, sizeof *kr);
    rc = p11jwt_keyring_read(tok, name, &json, &kr->version);
    if (rc != P11JWT_OK)
        return rc;
    if (json == NULL) {
        /* No state yet: the profile's kid is the active key. */
        kr->active.kid = strdup(default_kid);
        if (kr->active.kid == NULL)
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        if (!with_alg)
            return P11JWT_OK;
        rc = key_alg(tok, default_kid, &kr->active.alg);
        if (rc != P11JWT_OK) {
            err_wrap(rc, "the active key (kid in the profile)");
            kr_state_clear(kr);
        }
        return rc;
    }
    rc = kr_state_parse(json, strlen(json), kr);
    free(json);
    if (rc != P11JWT_OK)
        err_wrap(rc, "keyring '%s' in the token", ESC(name));
    return rc;
}

p11jwt_rc kr_store(p11jwt_token *tok, const char *name, kr_state *kr, const char *op)
{
    json_t *o;
    char *json;
    p11jwt_rc rc;

    /* The first stored state dates the active key: its age before that is
     * unknown, and "since 0" would make it look decades old to auto. */
    if (kr->version == 0 && kr->active.since == 0)
        kr->active.since = (int64_t)time(NULL);
    kr->version++;
    o = kr_state_json(name, kr, op);
    kr->version--;
    json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (json == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    rc = p11jwt_keyring_write(tok, name, kr->version, json);
    free(json);
    if (rc == P11JWT_OK)
        kr->version++;
    return rc;
}

p11jwt_rc kr_kids(p11jwt_token *tok, const char *name, const char *default_kid, char **active,
                  char **fallback, int *is_next)
{
    kr_state kr;
    const kr_key *fb;
    p11jwt_rc rc = kr_load(tok, name, default_kid, 0, &kr);

    *active = NULL;
    *fallback = NULL;
    if (rc != P11JWT_OK)
        return rc;
    *active = kr.active.kid;
    kr.active.kid = NULL;
    if (is_next != NULL)
        *is_next = kr.next.kid != NULL;
    if ((fb = kr_state_fallback(&kr)) != NULL && (*fallback = strdup(fb->kid)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    kr_state_clear(&kr);
    if (rc != P11JWT_OK) {
        free(*active);
        *active = NULL;
    }
    return rc;
}
