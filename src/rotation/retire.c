/*
 * retire.c — `rotate retire`: previous keys leave the keyring, then the
 * token. The state drops them first and is stored; only then are their
 * objects destroyed, and only those the state in force (a racing writer's,
 * perhaps) no longer names. Never the active or the next key.
 */
#include "rotation/rotation_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Destroys the keys gone from the state, unless the state in force still
 * names one of them. */
static p11jwt_rc destroy_gone(p11jwt_client *c, const kr_key *gone, size_t ngone,
                              uint64_t version, char **report)
{
    const p11jwt_profile *p = p11jwt_client_profile(c);
    p11jwt_token *tok;
    kr_state again;
    p11jwt_rc rc = exch_client_token(c, &tok);

    if (rc == P11JWT_OK)
        rc = rot_load(c, &again);
    if (rc != P11JWT_OK)
        return rc;
    for (size_t i = 0; i < ngone; i++) {
        int named = strcmp(again.active.kid, gone[i].kid) == 0 ||
                    (again.next.kid && strcmp(again.next.kid, gone[i].kid) == 0);

        for (size_t k = 0; k < again.nprev; k++)
            named |= strcmp(again.prev[k].kid, gone[i].kid) == 0;
        if (named) {
            rot_say(report, "kept key '%s': the keyring in force still names it",
                    ESC(gone[i].kid));
            continue;
        }
        if (p11jwt_key_delete(tok, gone[i].kid) != P11JWT_OK) {
            rot_say(report, "retired '%s' from keyring '%s' but could not destroy it: %s",
                    ESC(gone[i].kid), ESC(p->keyring), p11jwt_errmsg());
        } else {
            rot_audit(p, "retire", &gone[i], version);
            rot_say(report, "retired '%s' from keyring '%s' and destroyed its key",
                    ESC(gone[i].kid), ESC(p->keyring));
        }
    }
    kr_state_clear(&again);
    return P11JWT_OK;
}

/* Drops from the state the previous keys to retire (kid, or all older
 * than the grace period), stores it, then destroys their objects. */
static p11jwt_rc retire_once(p11jwt_client *c, const char *kid, char **report)
{
    const p11jwt_profile *p = p11jwt_client_profile(c);
    kr_state kr;
    kr_key gone[64];
    size_t ngone = 0, keep = 0;
    int64_t now = (int64_t)time(NULL);
    p11jwt_rc rc = rot_load(c, &kr);

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
                             : rot_due(kr.prev[i].since, p->grace, now);

        if (go && ngone < 64)
            gone[ngone++] = kr.prev[i];
        else
            kr.prev[keep++] = kr.prev[i];
    }
    kr.nprev = keep;
    if (kid != NULL && ngone == 0)
        rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "'%s' is not a previous key of keyring '%s'",
                     ESC(kid), ESC(p->keyring));
    else if (ngone > 0) /* else nothing is due */
        rc = rot_store(c, &kr, "retire");
    /* The state no longer names them. Make sure the state in force does not
     * either (a racing writer), then destroy. */
    if (rc == P11JWT_OK && ngone > 0)
        rc = destroy_gone(c, gone, ngone, kr.version, report);
    for (size_t i = 0; i < ngone; i++)
        kr_key_clear(&gone[i]);
out:
    kr_state_clear(&kr);
    return rc;
}

p11jwt_rc rot_retire(p11jwt_client *c, const char *kid, char **report)
{
    p11jwt_rc rc = P11JWT_ERR_CONFLICT;

    err_clear();
    *report = NULL;
    for (int i = 0; i < ROT_MAX_ATTEMPTS && rc == P11JWT_ERR_CONFLICT; i++)
        rc = retire_once(c, kid, report);
    if (rc == P11JWT_OK && *report == NULL)
        rot_say(report, "nothing to retire: no previous key is older than the grace period");
    return rc;
}

p11jwt_rc p11jwt_rotate_retire(p11jwt_client *c, const char *kid, char **report)
{
    ROT_LOCKED(c, report, rot_retire(c, kid, report));
}
