/*
 * auto.c — `rotate auto`: one idempotent policy step, for a timer. On the
 * keyring as it is now: adopt the profile's key (the first stored state),
 * promote a next key staged more than `overlap` ago, or stage one when
 * the active key is older than `rotate_after` (EC only: an HMAC secret is
 * the provider's to issue); then retire previous keys past `grace`, and
 * publish the JWKS once after any of them (stage, promote, retire), so the
 * STS never keeps trusting a destroyed key.
 */
#include "rotation/rotation_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One decision on the keyring as it is now: adopt, promote or stage when
 * due; *changed when a stage or promote was stored (publish then). */
static p11jwt_rc auto_step(p11jwt_client *c, char **report, int *changed)
{
    const p11jwt_profile *p = p11jwt_client_profile(c);
    kr_state kr;
    int64_t now = (int64_t)time(NULL);
    p11jwt_rc rc = rot_load(c, &kr);

    *changed = 0;
    if (rc != P11JWT_OK)
        return rc;
    if (kr.version == 0) {
        /* Adopt the profile's key, dated now: its age is unknown. */
        kr.active.since = now;
        rc = rot_store(c, &kr, "adopt");
        if (rc == P11JWT_OK)
            rot_say(report, "adopted '%s' as the active key of keyring '%s' (version %" PRIu64
                            ")",
                    ESC(kr.active.kid), ESC(p->keyring), kr.version);
    } else if (kr.next.kid != NULL && rot_due(kr.next.since, p->overlap, now)) {
        rc = rot_promote_from(c, &kr, report);
        *changed = rc == P11JWT_OK;
    } else if (kr.next.kid == NULL && rot_due(kr.active.since, p->rotate_after, now)) {
        if (!p11jwt_alg_is_asymmetric(kr.active.alg)) {
            rot_say(report,
                    "active key '%s' is due for rotation, but its secret is issued by the "
                    "provider: make a new key in the provider's console, then run 'p11jwt "
                    "rotate stage --profile %s%s%s --kid NEW_KEY_ID --secret-file PATH'",
                    ESC(kr.active.kid), ESC(p->name), p->path != NULL ? " --config " : "",
                    p->path != NULL ? ESC(p->path) : "");
        } else {
            rc = rot_stage_from(c, &kr, NULL, 0, NULL, NULL, report);
            *changed = rc == P11JWT_OK;
        }
    }
    kr_state_clear(&kr);
    return rc;
}

static p11jwt_rc run_auto(p11jwt_client *c, char **report)
{
    const p11jwt_profile *p = p11jwt_client_profile(c);
    p11jwt_rc rc = P11JWT_ERR_CONFLICT, rc2;
    int changed = 0, retired = 0;

    err_clear();
    *report = NULL;
    /* A lost race means another host acted on the same state: decide again
     * on what it wrote (often: nothing is due any more). */
    for (int i = 0; i < ROT_MAX_ATTEMPTS && rc == P11JWT_ERR_CONFLICT; i++)
        rc = auto_step(c, report, &changed);
    if (rc == P11JWT_OK) {
        char *r2 = NULL;

        rc = rot_retire(c, NULL, &r2, &retired);
        if (rc == P11JWT_OK && r2 != NULL && strncmp(r2, "nothing", 7) != 0)
            rot_say(report, "%s", r2);
        free(r2);
    }
    /* Once, after every change to the set of keys the STS should trust (a
     * stage, a promote, a retire), and even when the retire failed after
     * a stored stage or promote: the JWKS of the keyring as it is now. */
    if (changed || retired) {
        err_saved why;

        err_save(&why, rc);
        rc2 = rot_publish_now(c, report);
        rc = rc != P11JWT_OK ? err_restore(&why) : rc2;
    }
    if (rc == P11JWT_OK && *report == NULL)
        rot_say(report, "nothing due in keyring '%s'", ESC(p->keyring));
    return rc;
}

p11jwt_rc p11jwt_rotate_auto(p11jwt_client *c, char **report)
{
    ROT_LOCKED(c, report, run_auto(c, report));
}
