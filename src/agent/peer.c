/*
 * peer.c — who is asking, and whether a profile lets them.
 *
 * The kernel says who is at the other end of a Unix socket (SO_PEERCRED:
 * uid, gid, pid as of connect(); SO_PEERGROUPS: the supplementary groups),
 * so no caller can claim to be someone else. A profile's `allow` names
 * users and groups; without it only the agent's own uid may ask — root
 * included only when the agent runs as root, never by default otherwise.
 * Names are resolved when the config is (re)loaded: a name that does not
 * exist is a config error, and no lookup happens per request.
 */
#define _GNU_SOURCE /* struct ucred */
#include "agent/agent.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int agent_peer_get(int fd, agent_peer *out)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    gid_t small[32];

    memset(out, 0, sizeof *out);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
        return -1;
    out->uid = cred.uid;
    out->gid = cred.gid;
    out->pid = cred.pid;
    len = sizeof small;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, small, &len) == 0) {
        out->ngroups = len / sizeof(gid_t);
        if (out->ngroups > 0 && (out->groups = malloc(len)) != NULL)
            memcpy(out->groups, small, len);
    } else if (errno == ERANGE && len > 0 && (out->groups = malloc(len)) != NULL) {
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, out->groups, &len) == 0)
            out->ngroups = len / sizeof(gid_t);
    }
    if (out->groups == NULL)
        out->ngroups = 0; /* the primary gid still counts */
    return 0;
}

void agent_peer_clear(agent_peer *p)
{
    free(p->groups);
    memset(p, 0, sizeof *p);
}

int agent_resolve_nss(const char *name, int is_group, unsigned *id)
{
    char buf[16384];
    int e;

    if (is_group) {
        struct group g, *res = NULL;

        e = getgrnam_r(name, &g, buf, sizeof buf, &res);
        if (e != 0 || res == NULL)
            return -1;
        *id = (unsigned)g.gr_gid;
    } else {
        struct passwd pw, *res = NULL;

        e = getpwnam_r(name, &pw, buf, sizeof buf, &res);
        if (e != 0 || res == NULL)
            return -1;
        *id = (unsigned)pw.pw_uid;
    }
    return 0;
}

static int push(unsigned **arr, size_t *n, unsigned v)
{
    unsigned *na = realloc(*arr, (*n + 1) * sizeof *na);

    if (na == NULL)
        return -1;
    na[(*n)++] = v;
    *arr = na;
    return 0;
}

/* A decimal id: digits only, below 2^32 - 1 ((uid_t)-1 means "none"). */
static int parse_id(const char *s, unsigned *out)
{
    unsigned long long v = 0;

    if (*s == '\0' || strlen(s) > 10)
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v >= 0xffffffffULL)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int agent_allow_parse(const char *spec, agent_name_fn resolve, agent_allow *out, char *err,
                      size_t errcap)
{
    char word[256];
    const char *p = spec;

    memset(out, 0, sizeof *out);
    if (spec == NULL) {
        unsigned self = (unsigned)getuid();

        return push((unsigned **)&out->uids, &out->nuids, self) == 0 ? 0 : -1;
    }
    for (;;) {
        size_t n;
        const char *colon, *what;
        unsigned id;
        int is_user, is_group, by_name;

        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        n = strcspn(p, " \t");
        if (n >= sizeof word) {
            snprintf(err, errcap, "allow: an entry is too long");
            goto fail;
        }
        memcpy(word, p, n);
        word[n] = '\0';
        p += n;
        colon = strchr(word, ':');
        what = colon != NULL ? colon + 1 : "";
        is_user = colon != NULL && ((colon - word == 3 && memcmp(word, "uid", 3) == 0) ||
                                    (colon - word == 4 && memcmp(word, "user", 4) == 0));
        is_group = colon != NULL && ((colon - word == 3 && memcmp(word, "gid", 3) == 0) ||
                                     (colon - word == 5 && memcmp(word, "group", 5) == 0));
        by_name = colon != NULL && (colon - word == 4 || colon - word == 5);
        if (!is_user && !is_group) {
            snprintf(err, errcap,
                     "allow: '%s' is not uid:N, user:NAME, gid:N or group:NAME", word);
            goto fail;
        }
        if (by_name ? (what[0] == '\0' || resolve(what, is_group, &id) != 0)
                    : parse_id(what, &id) != 0) {
            snprintf(err, errcap, by_name ? "allow: no %s named '%s' on this host"
                                          : "allow: %s '%s' is not a number",
                     is_group ? "group" : "user", what);
            goto fail;
        }
        if (is_user ? push((unsigned **)&out->uids, &out->nuids, id)
                    : push((unsigned **)&out->gids, &out->ngids, id)) {
            snprintf(err, errcap, "out of memory");
            goto fail;
        }
    }
    if (out->nuids + out->ngids == 0) {
        snprintf(err, errcap, "allow: names nobody");
        goto fail;
    }
    return 0;
fail:
    agent_allow_clear(out);
    return -1;
}

void agent_allow_clear(agent_allow *a)
{
    free(a->uids);
    free(a->gids);
    memset(a, 0, sizeof *a);
}

int agent_allow_check(const agent_allow *a, const agent_peer *p)
{
    for (size_t i = 0; i < a->nuids; i++)
        if (a->uids[i] == p->uid)
            return 1;
    for (size_t i = 0; i < a->ngids; i++) {
        if (a->gids[i] == p->gid)
            return 1;
        for (size_t j = 0; j < p->ngroups; j++)
            if (a->gids[i] == p->groups[j])
                return 1;
    }
    return 0;
}
