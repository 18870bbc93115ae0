/*
 * forget.c — `rotate forget`: the keyring's state leaves the token, its keys
 * stay. For a keyring another config left behind (its active kid silently
 * replaces this profile's kid) or one to start over: afterwards the
 * profile's kid signs again, and every key the state named is still there
 * (`p11jwt list` shows them, `p11jwt delete` removes one no keyring needs).
 *
 * The decision: the same safety as retire — confirmed with --yes, under
 * this host's lock, recorded in the audit log — and the report names every
 * kid the state held, so nothing becomes unknown unseen.
 */
#include "rotation/rotation_int.h"

#include <inttypes.h>
#include <stdlib.h>

static void say_key(char **report, const char *role, const kr_key *k)
{
    if (k->kid != NULL)
        rot_say(report, "  %s %s (%s): kept in the token", role, ESC(k->kid),
                p11jwt_alg_name(k->alg) ? p11jwt_alg_name(k->alg) : "unknown alg");
}

static p11jwt_rc forget(p11jwt_client *c, char **report)
{
    const p11jwt_profile *p = p11jwt_client_profile(c);
    p11jwt_token *tok;
    kr_state kr;
    size_t gone = 0;
    p11jwt_rc rc;

    err_clear();
    *report = NULL;
    rc = rot_load(c, &kr);
    if (rc != P11JWT_OK)
        return rc;
    if (kr.version == 0) {
        rot_say(report, "keyring '%s' has no state in the token: nothing to forget",
                ESC(p->keyring));
        goto out;
    }
    rc = exch_client_token(c, &tok);
    if (rc == P11JWT_OK)
        rc = kr_forget(tok, p->keyring, &gone);
    if (rc != P11JWT_OK) {
        err_wrap(rc, "keyring '%s'", ESC(p->keyring));
        goto out;
    }
    p11jwt_client_invalidate(c, NULL);
    rot_audit(p, "forget", &kr.active, kr.version);
    rot_say(report, "forgot keyring '%s' (version %" PRIu64 ", %zu stored version%s); its keys:",
            ESC(p->keyring), kr.version, gone, gone == 1 ? "" : "s");
    say_key(report, "active", &kr.active);
    say_key(report, "next", &kr.next);
    for (size_t i = 0; i < kr.nprev; i++)
        say_key(report, "previous", &kr.prev[i]);
    rot_say(report, "profile '%s' signs with its kid '%s' again", ESC(p->name), ESC(p->kid));
out:
    kr_state_clear(&kr);
    return rc;
}

p11jwt_rc p11jwt_rotate_forget(p11jwt_client *c, char **report)
{
    ROT_LOCKED(c, report, forget(c, report));
}
