/*
 * delete.c — p11jwt_key_delete: destroying a key, but never one a keyring
 * still signs with. Every keyring stored in the token is read (not only the
 * caller's profile's: a token is shared by configs and hosts), and a kid
 * one of them names as active or next is refused with the keyring, its
 * version and what to run instead; a previous key is destroyed with a
 * warning, since the keyring would fall back to it.
 *
 * The decision: the check is in the library's one delete, under the CLI's
 * `delete` and rotation's retire alike, so no path destroys a key in use.
 */
#include "keyring/keyring.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Which role keyring kr gives kid: "active", "next", "previous" or NULL. */
static const char *kid_role(const kr_state *kr, const char *kid)
{
    if (kr->active.kid != NULL && strcmp(kr->active.kid, kid) == 0)
        return "active";
    if (kr->next.kid != NULL && strcmp(kr->next.kid, kid) == 0)
        return "next";
    for (size_t i = 0; i < kr->nprev; i++)
        if (kr->prev[i].kid != NULL && strcmp(kr->prev[i].kid, kid) == 0)
            return "previous";
    return NULL;
}

/* Refuses kid when a keyring names it active or next; warns for previous. */
static p11jwt_rc check_keyrings(p11jwt_token *tok, const char *kid)
{
    char **names = NULL;
    size_t n = 0;
    p11jwt_rc rc = p11_store_names(tok, &names, &n);

    for (size_t i = 0; rc == P11JWT_OK && i < n; i++) {
        kr_state kr;
        const char *role;

        rc = kr_load(tok, names[i], kid, 0, &kr);
        if (rc != P11JWT_OK) {
            err_wrap(rc, "cannot tell whether keyring '%s' needs kid '%s'", ESC(names[i]),
                     ESC(kid));
            break;
        }
        role = kid_role(&kr, kid);
        /* What to run instead, whole: the profile is not known here (a
         * keyring is named by its profile, unless the profile says
         * keyring = NAME). */
        if (role != NULL && strcmp(role, "active") == 0)
            rc = err_set(P11JWT_ERR_ARG,
                         "kid '%s' is the active key of keyring '%s' (version %" PRIu64
                         "): refused, its profiles sign with it. Instead, with P the profile "
                         "whose keyring it is: p11jwt rotate stage --profile P; p11jwt rotate "
                         "promote --profile P; p11jwt rotate retire --profile P --kid %s "
                         "--yes. Or drop the keyring, keeping its keys: p11jwt rotate forget "
                         "--profile P --yes",
                         ESC(kid), ESC(names[i]), kr.version, ESC(kid));
        else if (role != NULL && strcmp(role, "next") == 0)
            rc = err_set(P11JWT_ERR_ARG,
                         "kid '%s' is the next key of keyring '%s' (version %" PRIu64
                         "): refused, it is to be promoted. Instead, with P the profile whose "
                         "keyring it is: p11jwt rotate promote --profile P, then p11jwt rotate "
                         "retire --profile P --kid OLD_ACTIVE_KID --yes. Or drop the keyring, "
                         "keeping its keys: p11jwt rotate forget --profile P --yes",
                         ESC(kid), ESC(names[i]), kr.version);
        else if (role != NULL)
            base_log(P11JWT_LOG_WARNING,
                     "kid '%s' is a previous key of keyring '%s' (version %" PRIu64
                     "): its profiles can no longer fall back to it; p11jwt rotate retire "
                     "--profile P --kid %s --yes (P: the profile whose keyring it is) drops "
                     "it from the keyring",
                     ESC(kid), ESC(names[i]), kr.version, ESC(kid));
        kr_state_clear(&kr);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

p11jwt_rc p11jwt_key_delete(p11jwt_token *tok, const char *kid)
{
    p11jwt_rc rc;

    err_clear();
    if (kid == NULL || kid[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "no kid given");
    rc = check_keyrings(tok, kid);
    if (rc != P11JWT_OK)
        return rc;
    return p11_key_destroy(tok, kid);
}
