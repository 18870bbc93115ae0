/*
 * promote.c — `rotate promote`: next becomes active, active becomes the
 * newest previous. Only the state changes; every key stays in the token,
 * so an STS that still trusts only the old key is served by the
 * exchange's fallback until it learns the new one.
 */
#include "rotation/rotation_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

p11jwt_rc rot_promote_from(p11jwt_client *c, kr_state *krp, char **report)
{
    const p11jwt_profile *p = p11jwt_client_profile(c);
    kr_state kr = *krp;
    kr_key *np;
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
    rc = rot_store(c, &kr, "promote");
    if (rc == P11JWT_OK) {
        rot_audit(p, "promote", &kr.active, kr.version);
        rot_say(report,
                "promoted '%s' to active in keyring '%s'; '%s' is now previous (version %" PRIu64
                ")",
                ESC(kr.active.kid), ESC(p->keyring), ESC(kr.prev[0].kid), kr.version);
    }
out:
    kr_state_clear(&kr);
    return rc;
}

static p11jwt_rc promote(p11jwt_client *c, char **report)
{
    p11jwt_rc rc = P11JWT_ERR_CONFLICT;
    char *jwks = NULL;

    err_clear();
    *report = NULL;
    for (int i = 0; i < ROT_MAX_ATTEMPTS && rc == P11JWT_ERR_CONFLICT; i++) {
        kr_state kr;

        rc = rot_load(c, &kr);
        if (rc == P11JWT_OK)
            rc = rot_promote_from(c, &kr, report);
    }
    if (rc == P11JWT_OK && p11jwt_client_profile(c)->publish_command != NULL) {
        rc = rot_jwks(c, &jwks);
        if (rc == P11JWT_OK)
            rc = rot_publish_jwks(p11jwt_client_profile(c), jwks, report);
        free(jwks);
    }
    return rc;
}

p11jwt_rc p11jwt_rotate_promote(p11jwt_client *c, char **report)
{
    ROT_LOCKED(c, report, promote(c, report));
}
