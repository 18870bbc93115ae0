/*
 * status.c — what a keyring looks like now: `rotate status` (the state as
 * indented JSON) and the JWKS of its public keys, EC, RSA or Ed25519
 * (what an STS should trust during a rotation: active, next, previous).
 * Read only; a secret key never appears in a JWKS.
 */
#include "rotation/rotation_int.h"

#include <stdlib.h>
#include <string.h>

static p11jwt_rc status(p11jwt_client *c, char **json_out)
{
    kr_state kr;
    json_t *o;
    p11jwt_rc rc;

    err_clear();
    *json_out = NULL;
    rc = rot_load(c, &kr);
    if (rc != P11JWT_OK)
        return rc;
    o = kr_state_json(p11jwt_client_profile(c)->keyring, &kr, "status");
    json_object_del(o, "last_change");
    if (kr.version == 0)
        json_object_set_new(o, "stored", json_false()); /* from the profile's kid */
    else if (strcmp(kr.active.kid, p11jwt_client_profile(c)->kid) != 0)
        /* The keyring, not the profile's kid, chooses: say so. */
        json_object_set_new(o, "profile_kid", json_string(p11jwt_client_profile(c)->kid));
    *json_out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    kr_state_clear(&kr);
    return *json_out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

p11jwt_rc rot_jwks_of(p11jwt_client *c, const kr_state *kr, int with_prev, char **out)
{
    const char *kids[64];
    size_t n = 0;
    p11jwt_token *tok;
    p11jwt_rc rc = exch_client_token(c, &tok);

    *out = NULL;
    if (rc != P11JWT_OK)
        return rc;
    if (p11jwt_alg_is_asymmetric(kr->active.alg))
        kids[n++] = kr->active.kid;
    if (kr->next.kid != NULL && p11jwt_alg_is_asymmetric(kr->next.alg))
        kids[n++] = kr->next.kid;
    for (size_t i = 0; with_prev && i < kr->nprev && n < 64; i++)
        if (p11jwt_alg_is_asymmetric(kr->prev[i].alg))
            kids[n++] = kr->prev[i].kid;
    if (n == 0) {
        *out = strdup("{\"keys\":[]}");
        return *out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    return p11jwt_jwks_export(tok, kids, n, out);
}

p11jwt_rc rot_jwks(p11jwt_client *c, char **jwks_out)
{
    kr_state kr;
    p11jwt_rc rc;

    err_clear();
    *jwks_out = NULL;
    rc = rot_load(c, &kr);
    if (rc == P11JWT_OK)
        rc = rot_jwks_of(c, &kr, 1, jwks_out);
    kr_state_clear(&kr);
    return rc;
}

p11jwt_rc p11jwt_rotate_status(p11jwt_client *c, char **json_out)
{
    ROT_LOCKED(c, json_out, status(c, json_out));
}

p11jwt_rc p11jwt_rotate_jwks(p11jwt_client *c, char **jwks_out)
{
    ROT_LOCKED(c, jwks_out, rot_jwks(c, jwks_out));
}
