/*
 * registry.c — the profiles the agent serves: one p11jwt_client each (its
 * token session, key handles and token cache), with its `allow` rules and
 * counters.
 *
 * The served set is an immutable snapshot swapped whole on reload; each
 * request holds a reference to the snapshot it started with, so a reload
 * never pulls a client from under a request. A profile whose settings did
 * not change is carried into the new snapshot as is, cached token and
 * counters included; a changed one gets a new client, made and logged in
 * before the swap. Any error — a bad line, an unknown user in `allow`, a
 * wrong PIN — refuses the whole reload and the old snapshot stays.
 */
#include "agent/agent.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t cur_mu = PTHREAD_MUTEX_INITIALIZER;
static agent_set *cur;
static char *config_path;                /* resolved once, at start */
static const char *const *only;          /* --profile names, if any */
static size_t nonly;

static void profile_put(agent_profile *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    p11jwt_client_free(p->client);
    agent_allow_clear(&p->allow);
    free(p->name);
    free(p);
}

void agent_set_put(agent_set *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < s->n; i++)
        profile_put(s->v[i]);
    free(s->v);
    free(s);
}

agent_set *agent_set_get(void)
{
    agent_set *s;

    pthread_mutex_lock(&cur_mu);
    s = cur;
    if (s != NULL)
        atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&cur_mu);
    return s;
}

agent_profile *agent_set_find(const agent_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i]->name, name) == 0)
            return s->v[i];
    return NULL;
}

int agent_set_any_allowed(const agent_set *s, const agent_peer *p)
{
    if (p->uid == getuid())
        return 1;
    for (size_t i = 0; i < s->n; i++)
        if (agent_allow_check(&s->v[i]->allow, p))
            return 1;
    return 0;
}

/* The names to serve: --profile's, each checked against the file, else
 * every section of the file. */
static int serve_names(char ***names, size_t *n, char *err, size_t errcap)
{
    p11jwt_rc rc = p11jwt_config_profiles(config_path, NULL, names, n);

    if (rc != P11JWT_OK) {
        snprintf(err, errcap, "%s", p11jwt_errmsg());
        return -1;
    }
    if (*n == 0) {
        snprintf(err, errcap, "%s has no [profile NAME] section", config_path);
        return -1;
    }
    if (nonly == 0)
        return 0;
    for (size_t i = 0; i < nonly; i++) {
        size_t j;

        for (j = 0; j < *n && strcmp((*names)[j], only[i]) != 0; j++)
            ;
        if (j == *n) {
            snprintf(err, errcap, "%s: no [profile %s] section", config_path, only[i]);
            return -1;
        }
    }
    p11jwt_config_profiles_free(*names, *n);
    *names = NULL;
    *n = 0;
    if ((*names = calloc(nonly, sizeof **names)) == NULL)
        return -1;
    for (; *n < nonly; (*n)++)
        if (((*names)[*n] = strdup(only[*n])) == NULL)
            return -1;
    return 0;
}

static int same_allow(const agent_allow *a, const agent_allow *b)
{
    return a->nuids == b->nuids && a->ngids == b->ngids &&
           (a->nuids == 0 || memcmp(a->uids, b->uids, a->nuids * sizeof *a->uids) == 0) &&
           (a->ngids == 0 || memcmp(a->gids, b->gids, a->ngids * sizeof *a->gids) == 0);
}

/* One profile of the new set: the old one when nothing changed (*kept set),
 * else a new client, logged in. The allow rules count as changed when the
 * names in them now resolve to other ids. */
static agent_profile *build_one(const agent_set *old, const char *name, int *kept, char *err,
                                size_t errcap)
{
    p11jwt_profile *prof = NULL;
    agent_profile *o = old != NULL ? agent_set_find(old, name) : NULL, *np;
    agent_allow allow;
    char why[512];
    p11jwt_rc rc;

    *kept = 0;
    rc = p11jwt_profile_load(config_path, name, &prof);
    if (rc != P11JWT_OK) {
        snprintf(err, errcap, "%s", p11jwt_errmsg());
        return NULL;
    }
    if (agent_allow_parse(p11jwt_profile_allow(prof), agent_resolve_nss, &allow, why,
                          sizeof why) != 0) {
        snprintf(err, errcap, "%s: profile '%s': %s", config_path, name, why);
        p11jwt_profile_free(prof);
        return NULL;
    }
    if (o != NULL && p11jwt_profile_same(p11jwt_client_profile(o->client), prof) &&
        same_allow(&o->allow, &allow)) {
        p11jwt_profile_free(prof);
        agent_allow_clear(&allow);
        atomic_fetch_add(&o->refs, 1);
        *kept = 1;
        return o;
    }
    np = calloc(1, sizeof *np);
    if (np == NULL || (np->name = strdup(name)) == NULL) {
        snprintf(err, errcap, "out of memory");
        p11jwt_profile_free(prof);
        agent_allow_clear(&allow);
        free(np);
        return NULL;
    }
    atomic_init(&np->refs, 1);
    np->allow = allow;
    rc = p11jwt_client_new(prof, &np->client); /* takes prof, even on failure */
    if (rc == P11JWT_OK)
        rc = p11jwt_client_prepare(np->client);
    if (rc != P11JWT_OK) {
        snprintf(err, errcap, "%s", p11jwt_errmsg());
        profile_put(np);
        return NULL;
    }
    return np;
}

/* A new set from the config file; old (may be NULL) lends unchanged
 * profiles. *summary says what happened to each. */
static agent_set *build(const agent_set *old, char *summary, size_t sumcap, char *err,
                        size_t errcap)
{
    char **names = NULL;
    size_t n = 0, used = 0;
    agent_set *s = calloc(1, sizeof *s);

    if (s == NULL || serve_names(&names, &n, err, errcap) != 0 ||
        (s->v = calloc(n, sizeof *s->v)) == NULL) {
        if (err[0] == '\0')
            snprintf(err, errcap, "out of memory");
        p11jwt_config_profiles_free(names, n);
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    summary[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int kept;
        agent_profile *p = build_one(old, names[i], &kept, err, errcap);

        if (p == NULL) {
            agent_set_put(s);
            p11jwt_config_profiles_free(names, n);
            return NULL;
        }
        s->v[s->n++] = p;
        used += (size_t)snprintf(summary + used, used < sumcap ? sumcap - used : 0, "%s%s%s",
                                 i ? ", " : "", names[i],
                                 old == NULL ? "" : kept ? " (kept)"
                                                  : agent_set_find(old, names[i]) ? " (rebuilt)"
                                                                                  : " (added)");
        if (used >= sumcap)
            used = sumcap;
    }
    for (size_t i = 0; old != NULL && i < old->n; i++)
        if (agent_set_find(s, old->v[i]->name) == NULL) {
            used += (size_t)snprintf(summary + used, used < sumcap ? sumcap - used : 0,
                                     ", %s (removed)", old->v[i]->name);
            if (used >= sumcap)
                used = sumcap;
        }
    p11jwt_config_profiles_free(names, n);
    return s;
}

int agent_registry_start(const agent_opts *o, char *summary, size_t sumcap, char *err,
                         size_t errcap)
{
    char **names = NULL, list[1024];
    size_t n = 0;
    p11jwt_rc rc;

    err[0] = '\0';
    only = o->profiles;
    nonly = o->nprofiles;
    for (size_t i = 0; i < nonly; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(only[i], only[j]) == 0) {
                snprintf(err, errcap, "--profile %s is given twice", only[i]);
                return -1;
            }
    /* Which file: --config, else the library's search, fixed from now on. */
    rc = p11jwt_config_profiles(o->config, &config_path, &names, &n);
    p11jwt_config_profiles_free(names, n);
    if (rc != P11JWT_OK) {
        snprintf(err, errcap, "%s", p11jwt_errmsg());
        return -1;
    }
    cur = build(NULL, list, sizeof list, err, errcap);
    if (cur == NULL)
        return -1;
    snprintf(summary, sumcap, "%zu profile(s) from %s: %s", cur->n, config_path, list);
    return 0;
}

int agent_registry_reload(void)
{
    char summary[1024], err[1024] = "";
    agent_set *old = agent_set_get(), *s;

    s = build(old, summary, sizeof summary, err, sizeof err);
    if (s == NULL) {
        agent_set_put(old);
        atomic_fetch_add(&agent_global.reloads_failed, 1);
        agent_log(AGENT_ERR, "reload refused, still serving the previous configuration: %s",
                  err);
        return -1;
    }
    pthread_mutex_lock(&cur_mu);
    cur = s;
    pthread_mutex_unlock(&cur_mu);
    agent_set_put(old); /* ours */
    agent_set_put(old); /* the registry's: freed when the last request ends */
    atomic_fetch_add(&agent_global.reloads_ok, 1);
    agent_log(AGENT_INFO, "reloaded %s: %s", config_path, summary);
    return 0;
}

void agent_registry_stop(void)
{
    pthread_mutex_lock(&cur_mu);
    agent_set_put(cur);
    cur = NULL;
    pthread_mutex_unlock(&cur_mu);
    free(config_path);
    config_path = NULL;
}
