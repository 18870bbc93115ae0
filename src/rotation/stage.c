/*
 * stage.c — `rotate stage`: the next key, made in the token first and
 * then named in the keyring, so that a reader never finds a state naming
 * a key that does not exist. EC: generated like the active key (its kid
 * the thumbprint unless given); HS*: the provider's new secret imported
 * under its new kid. A key made for a stage that loses its race is
 * destroyed again.
 */
#include "rotation/rotation_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Makes the next key in the token like the active one; *made is its kid. */
static p11jwt_rc make_next(p11jwt_token *tok, p11jwt_alg alg, const unsigned char *secret,
                           size_t secret_len, const char *kid, char **made)
{
    p11jwt_rc rc;

    *made = NULL;
    if (p11jwt_alg_is_asymmetric(alg)) {
        if (secret != NULL)
            return err_set(P11JWT_ERR_ARG, "the active key is %s: the next key is generated in "
                                           "the token, no secret is taken",
                           p11jwt_alg_name(alg));
        return p11jwt_key_generate(tok, alg, kid, NULL, made);
    }
    if (secret == NULL || kid == NULL)
        return err_set(P11JWT_ERR_ARG,
                       "the active key is %s: staging imports the provider's new secret "
                       "under its new kid (--secret-file and --kid)",
                       p11jwt_alg_name(alg) ? p11jwt_alg_name(alg) : "not an EC or RSA key");
    rc = p11jwt_key_import_secret(tok, alg, kid, NULL, secret, secret_len);
    if (rc == P11JWT_OK && (*made = strdup(kid)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    return rc;
}

p11jwt_rc rot_stage_from(p11jwt_client *c, kr_state *krp, const unsigned char *secret,
                         size_t secret_len, const char *kid, char **jwks_out, char **report)
{
    const p11jwt_profile *p = p11jwt_client_profile(c);
    kr_state kr = *krp;
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
    rc = exch_client_token(c, &tok);
    if (rc == P11JWT_OK)
        rc = make_next(tok, kr.active.alg, secret, secret_len, kid, &made);
    if (rc != P11JWT_OK)
        goto out;
    kr.next.alg = kr.active.alg;
    kr.next.kid = made;
    kr.next.since = (int64_t)time(NULL);
    made = NULL;
    rc = rot_store(c, &kr, "stage");
    if (rc != P11JWT_OK) {
        /* Not named by any state: take the key away again. */
        err_saved why;

        err_save(&why, rc);
        p11jwt_key_delete(tok, kr.next.kid);
        rc = err_restore(&why);
        goto out;
    }
    rot_audit(p, "stage", &kr.next, kr.version);
    rot_say(report, "staged %s key '%s' as next in keyring '%s' (version %" PRIu64 ")",
            p11jwt_alg_name(kr.next.alg), ESC(kr.next.kid), ESC(p->keyring), kr.version);
    if (jwks_out != NULL)
        rc = rot_jwks_of(c, &kr, 0, jwks_out);
out:
    free(made);
    kr_state_clear(&kr);
    return rc;
}

static p11jwt_rc stage(p11jwt_client *c, const unsigned char *secret, size_t secret_len,
                       const char *kid, char **jwks_out)
{
    char *report = NULL;
    p11jwt_rc rc = P11JWT_ERR_CONFLICT;

    err_clear();
    *jwks_out = NULL;
    for (int i = 0; i < ROT_MAX_ATTEMPTS && rc == P11JWT_ERR_CONFLICT; i++) {
        kr_state kr;

        rc = rot_load(c, &kr);
        if (rc == P11JWT_OK)
            rc = rot_stage_from(c, &kr, secret, secret_len, kid, jwks_out, &report);
    }
    if (rc == P11JWT_OK && p11jwt_client_profile(c)->publish_command != NULL) {
        /* Publish what the STS should trust now: previous keys included
         * (the JWKS printed is active + next, to register). */
        char *all = NULL;

        rc = rot_jwks(c, &all);
        if (rc == P11JWT_OK)
            rc = rot_publish_jwks(p11jwt_client_profile(c), all, &report);
        free(all);
    }
    free(report);
    return rc;
}

p11jwt_rc p11jwt_rotate_stage(p11jwt_client *c, const unsigned char *secret, size_t secret_len,
                              const char *kid, char **jwks_out)
{
    ROT_LOCKED(c, jwks_out, stage(c, secret, secret_len, kid, jwks_out));
}
