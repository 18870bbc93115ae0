/*
 * scope.c — scopes asked per request (RFC 6749 §3.3): the syntax of a
 * scope value, and a client's tokens per scope set
 * (p11jwt_client_token_scoped and the agent's ?scope=).
 *
 * The decision: a scope set other than the profile's gets a client of its
 * own — its profile a copy whose scope is the normalised set (sorted, each
 * token once: cache_redis.c's exch_scope_normalise) — that borrows the
 * parent's token and keys (client.c). It has its own token cache, its own
 * refresher and, with a fleet, its own Redis entry (whose key names the
 * set), so every level caches per (profile, scope set) without the cache
 * knowing of scopes. Callers of an agent choose the sets, so their number
 * per client is capped.
 */
#include "exchange/exchange_int.h"

#include <stdlib.h>
#include <string.h>

p11jwt_rc exch_scope_check(const char *scope)
{
    size_t n = strlen(scope);
    int tokens = 0;

    if (n > EXCH_SCOPE_MAX)
        return err_set(P11JWT_ERR_ARG, "scope '%s' is longer than %d bytes", ESC(scope),
                       EXCH_SCOPE_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)scope[i];

        if (ch == ' ')
            continue;
        /* scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
        if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\')
            return err_set(P11JWT_ERR_ARG,
                           "scope '%s': byte %zu ('%s') is not allowed: scope tokens are "
                           "printable ASCII other than '\"' and '\\', separated by spaces "
                           "(RFC 6749 section 3.3)",
                           ESC(scope), i + 1, ESCN(scope + i, 1));
        tokens = 1;
    }
    if (!tokens)
        return err_set(P11JWT_ERR_ARG, "the scope '%s' names no scope token", ESC(scope));
    return P11JWT_OK;
}

p11jwt_rc exch_client_for_scope(p11jwt_client *c, const char *scope, p11jwt_client **out)
{
    p11jwt_profile *p = NULL;
    p11jwt_client *sub = NULL;
    struct exch_scoped *ns;
    char *set;
    p11jwt_rc rc;

    *out = c;
    if (scope == NULL)
        return P11JWT_OK;
    if (c->p->dialect == EXCH_NOA) /* its request is {"assertion"} alone */
        return err_set(P11JWT_ERR_ARG, "profile '%s' (dialect %s) sends no scope",
                       ESC(c->p->name), exch_dialect_name(c->p->dialect));
    rc = exch_scope_check(scope);
    if (rc != P11JWT_OK)
        return err_wrap(rc, "profile '%s'", ESC(c->p->name));
    if ((set = exch_scope_normalise(scope)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (c->scope_set != NULL && strcmp(set, c->scope_set) == 0) {
        free(set); /* the profile's own set: its token */
        return P11JWT_OK;
    }
    pthread_mutex_lock(&c->scope_mu);
    for (size_t i = 0; i < c->nscoped; i++)
        if (strcmp(c->scoped[i].set, set) == 0) {
            *out = c->scoped[i].c;
            pthread_mutex_unlock(&c->scope_mu);
            free(set);
            return P11JWT_OK;
        }
    if (c->nscoped >= EXCH_SCOPE_SETS_MAX) {
        rc = err_set(P11JWT_ERR_ARG,
                     "profile '%s': scope '%s' would be its %d-th scope set; at most %d are "
                     "kept besides the profile's own (ask for fewer distinct sets)",
                     ESC(c->p->name), ESC(set), EXCH_SCOPE_SETS_MAX + 1, EXCH_SCOPE_SETS_MAX);
        goto out;
    }
    if ((ns = realloc(c->scoped, (c->nscoped + 1) * sizeof *ns)) == NULL) {
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }
    c->scoped = ns;
    if ((p = exch_profile_dup(c->p)) == NULL) {
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }
    free(p->scope);
    p->scope = set;
    set = NULL;
    /* Its cache's refill may run as soon as it exists: the parent is set
     * before anyone can ask it for a token (it is not yet in the table). */
    rc = p11jwt_client_new(p, &sub); /* takes p */
    if (rc != P11JWT_OK)
        goto out;
    sub->parent = c;
    if ((c->scoped[c->nscoped].set = strdup(sub->p->scope)) == NULL) {
        p11jwt_client_free(sub);
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }
    c->scoped[c->nscoped++].c = sub;
    atomic_store(&c->nscoped_any, c->nscoped);
    *out = sub;
out:
    pthread_mutex_unlock(&c->scope_mu);
    free(set);
    return rc;
}

void exch_client_scoped_free(p11jwt_client *c)
{
    for (size_t i = 0; i < c->nscoped; i++) {
        p11jwt_client_free(c->scoped[i].c);
        free(c->scoped[i].set);
    }
    free(c->scoped);
    c->scoped = NULL;
    c->nscoped = 0;
    atomic_store(&c->nscoped_any, 0);
}

void exch_client_scoped_each(p11jwt_client *c, void (*fn)(p11jwt_client *sub, void *ud),
                             void *ud)
{
    /* The agent asks for counts around every token it hands out: with no
     * scope set, no lock. */
    if (atomic_load(&c->nscoped_any) == 0)
        return;
    pthread_mutex_lock(&c->scope_mu);
    for (size_t i = 0; i < c->nscoped; i++)
        fn(c->scoped[i].c, ud);
    pthread_mutex_unlock(&c->scope_mu);
}

/* ---- the public functions ----------------------------------------------------------- */

p11jwt_rc p11jwt_client_token_scoped(p11jwt_client *c, const char *scope,
                                     p11jwt_access_token *out)
{
    p11jwt_client *sc;
    p11jwt_rc rc;

    err_clear();
    memset(out, 0, sizeof *out);
    rc = exch_client_for_scope(c, scope, &sc);
    return rc == P11JWT_OK ? p11jwt_client_token(sc, out) : rc;
}

p11jwt_rc p11jwt_client_token_scoped_peek(p11jwt_client *c, const char *scope,
                                          int64_t min_valid, const p11jwt_access_token **out)
{
    p11jwt_client *sc;
    p11jwt_rc rc;

    *out = NULL;
    rc = exch_client_for_scope(c, scope, &sc);
    if (rc != P11JWT_OK)
        return rc;
    return min_valid > 0 ? p11jwt_client_token_min_valid(sc, min_valid, out)
                         : p11jwt_client_token_peek(sc, out);
}
