/*
 * redis.c — one connection to a fleet's Redis (hiredis): its address
 * (`cache = redis://...` or `redis+unix:///...`), AUTH and SELECT, and the
 * four commands the fleet cache needs (GET, SET with NX and PX, and two
 * compare-and-delete scripts). Nothing here knows what the values mean.
 *
 * The decision: every call is bounded. hiredis 0.14 is blocking, so the
 * connect and each command run under `cache_timeout` (connect timeout and
 * SO_RCVTIMEO/SO_SNDTIMEO); a connection that failed or timed out is
 * dropped, never reused half-read, and the next call connects anew. One
 * mutex makes a connection one caller's at a time; a forked child never
 * uses its parent's socket.
 */
#include "exchange/exchange_int.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct exch_redis {
    char *host;                 /* TCP; NULL for a Unix socket */
    int port;
    char *path;                 /* Unix socket */
    int db;
    char *password_file;
    double timeout;             /* seconds, for the connect and each command */

    pthread_mutex_t mu;
    redisContext *ctx;
    pid_t pid;                  /* the process ctx belongs to */
};

/* A database number: 0 to 15 in a default Redis, up to what it allows. */
static int parse_db(const char *s, size_t n, int *db)
{
    int v = 0;

    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *db = v;
    return 0;
}

/* Fills r's address from url; a message names `cache` and never echoes
 * more than the URL's escaped text (a Redis URL holds no password: that is
 * cache_password_file's). */
UNITTEST p11jwt_rc exch_redis_parse_url(const char *url, char **host, int *port, char **path,
                                        int *db)
{
    const char *s, *end, *colon, *slash;
    char *endp;
    long v;

    *host = NULL;
    *path = NULL;
    *port = 6379;
    *db = 0;
    if (strncmp(url, "redis+unix://", 13) == 0) {
        const char *q;

        s = url + 13;
        if (s[0] != '/')
            return err_set(P11JWT_ERR_CONFIG, "cache: '%s' needs an absolute path "
                           "(redis+unix:///PATH[?db=N])", ESC(url));
        q = strchr(s, '?');
        if (q != NULL && (strncmp(q, "?db=", 4) != 0 || parse_db(q + 4, strlen(q + 4), db) != 0))
            return err_set(P11JWT_ERR_CONFIG, "cache: '%s': the query may only be ?db=N",
                           ESC(url));
        *path = q != NULL ? strndup(s, (size_t)(q - s)) : strdup(s);
        return *path != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    if (strncmp(url, "redis://", 8) != 0)
        return err_set(P11JWT_ERR_CONFIG,
                       "cache: '%s' is not memory, redis://[HOST][:PORT][/DB] or "
                       "redis+unix:///PATH[?db=N] (rediss:// TLS is not supported by hiredis "
                       "0.14: see docs/fleet.md)", ESC(url));
    s = url + 8;
    if (strchr(s, '@') != NULL)
        return err_set(P11JWT_ERR_CONFIG, "cache: a password in the URL is refused: it shows "
                       "in process lists and logs; use cache_password_file");
    slash = strchr(s, '/');
    end = slash != NULL ? slash : s + strlen(s);
    colon = memchr(s, ':', (size_t)(end - s));
    if (s[0] == '[')
        return err_set(P11JWT_ERR_CONFIG, "cache: '%s': IPv6 addresses are not supported; use "
                       "a host name", ESC(url));
    if (colon != NULL) {
        errno = 0;
        v = strtol(colon + 1, &endp, 10);
        if (endp != end || colon + 1 == end || errno != 0 || v < 1 || v > 65535)
            return err_set(P11JWT_ERR_CONFIG, "cache: '%s': the port is not 1 to 65535",
                           ESC(url));
        *port = (int)v;
    }
    if (slash != NULL && slash[1] != '\0' && parse_db(slash + 1, strlen(slash + 1), db) != 0)
        return err_set(P11JWT_ERR_CONFIG, "cache: '%s': the database is not a number",
                       ESC(url));
    {
        size_t hl = (size_t)((colon != NULL ? colon : end) - s);

        *host = hl == 0 ? strdup("127.0.0.1") : strndup(s, hl);
    }
    return *host != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

p11jwt_rc exch_redis_url_check(const char *url)
{
    char *host, *path;
    int port, db;
    p11jwt_rc rc = exch_redis_parse_url(url, &host, &port, &path, &db);

    free(host);
    free(path);
    return rc;
}

p11jwt_rc exch_redis_new(const char *url, const char *password_file, double timeout,
                         exch_redis **out)
{
    exch_redis *r;
    p11jwt_rc rc;

    *out = NULL;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    rc = exch_redis_parse_url(url, &r->host, &r->port, &r->path, &r->db);
    if (rc == P11JWT_OK && password_file != NULL &&
        (r->password_file = strdup(password_file)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (rc != P11JWT_OK) {
        free(r->host);
        free(r->path);
        free(r);
        return rc;
    }
    r->timeout = timeout;
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return P11JWT_OK;
}

static void drop_locked(exch_redis *r)
{
    /* In a forked child the socket is the parent's too: closing it is
     * fine, sending on it is not. */
    if (r->ctx != NULL)
        redisFree(r->ctx);
    r->ctx = NULL;
}

void exch_redis_free(exch_redis *r)
{
    if (r == NULL)
        return;
    drop_locked(r);
    pthread_mutex_destroy(&r->mu);
    free(r->host);
    free(r->path);
    free(r->password_file);
    free(r);
}

static struct timeval tv_of(double s)
{
    struct timeval tv;

    tv.tv_sec = (time_t)s;
    tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
    return tv;
}

/* Where Redis is, for messages. */
static const char *where(const exch_redis *r, char *buf, size_t cap)
{
    if (r->path != NULL)
        snprintf(buf, cap, "%s", ESC(r->path));
    else
        snprintf(buf, cap, "%s:%d", ESC(r->host), r->port);
    return buf;
}

/* One command on a connected context; a reply of type ERROR becomes a
 * failure. Drops the connection on an I/O failure. */
static p11jwt_rc command_locked(exch_redis *r, int argc, const char **argv, const size_t *lens,
                                redisReply **out)
{
    char w[ESC_CAP + 16];
    redisReply *rep;

    *out = NULL;
    rep = redisCommandArgv(r->ctx, argc, argv, lens);
    if (rep == NULL) {
        p11jwt_rc rc = err_set(P11JWT_ERR_HTTP, "redis %s: %s: %s", where(r, w, sizeof w),
                               argv[0],
                               r->ctx->err == REDIS_ERR_IO && (errno == EAGAIN ||
                                                               errno == EWOULDBLOCK)
                                   ? "no answer within cache_timeout"
                                   : r->ctx->errstr);

        drop_locked(r);
        return rc;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        p11jwt_rc rc = err_set(P11JWT_ERR_HTTP, "redis %s: %s refused: %s",
                               where(r, w, sizeof w), argv[0], ESCN(rep->str, rep->len));

        freeReplyObject(rep);
        return rc;
    }
    *out = rep;
    return P11JWT_OK;
}

/* Connects (and AUTH, SELECT) when no connection is open. */
static p11jwt_rc connect_locked(exch_redis *r)
{
    struct timeval tv = tv_of(r->timeout);
    char w[ESC_CAP + 16], dbs[16];
    unsigned char *pw = NULL;
    size_t pwlen = 0;
    redisReply *rep = NULL;
    p11jwt_rc rc = P11JWT_OK;

    if (r->ctx != NULL && r->pid == getpid())
        return P11JWT_OK;
    drop_locked(r);
    r->ctx = r->path != NULL ? redisConnectUnixWithTimeout(r->path, tv)
                             : redisConnectWithTimeout(r->host, r->port, tv);
    if (r->ctx == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    r->pid = getpid();
    if (r->ctx->err != 0) {
        rc = err_set(P11JWT_ERR_HTTP, "redis %s: cannot connect: %s", where(r, w, sizeof w),
                     r->ctx->errstr);
        drop_locked(r);
        return rc;
    }
    if (redisSetTimeout(r->ctx, tv) != REDIS_OK) {
        rc = err_set(P11JWT_ERR_HTTP, "redis %s: cannot set a timeout", where(r, w, sizeof w));
        drop_locked(r);
        return rc;
    }
    if (r->password_file != NULL) {
        const char *argv[2] = { "AUTH", NULL };
        size_t lens[2] = { 4, 0 };

        rc = base_secret_read_file(r->password_file, BASE_SECRET_MAX, &pw, &pwlen);
        if (rc != P11JWT_OK) {
            drop_locked(r);
            return err_wrap(rc, "cache_password_file");
        }
        argv[1] = (const char *)pw;
        lens[1] = pwlen;
        rc = command_locked(r, 2, argv, lens, &rep);
        base_secret_free_n(pw, pwlen);
        freeReplyObject(rep);
        rep = NULL;
    }
    if (rc == P11JWT_OK && r->db != 0) {
        const char *argv[2] = { "SELECT", dbs };
        size_t lens[2] = { 6, 0 };

        lens[1] = (size_t)snprintf(dbs, sizeof dbs, "%d", r->db);
        rc = command_locked(r, 2, argv, lens, &rep);
        freeReplyObject(rep);
    }
    if (rc != P11JWT_OK)
        drop_locked(r);
    return rc;
}

void exch_redis_after_fork(exch_redis *r)
{
    pthread_mutex_init(&r->mu, NULL);
}

/* Connects if needed, then runs one command. */
static p11jwt_rc run(exch_redis *r, int argc, const char **argv, const size_t *lens,
                     redisReply **out)
{
    p11jwt_rc rc;

    pthread_mutex_lock(&r->mu);
    rc = connect_locked(r);
    if (rc == P11JWT_OK)
        rc = command_locked(r, argc, argv, lens, out);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

p11jwt_rc exch_redis_get(exch_redis *r, const char *key, unsigned char **val, size_t *len)
{
    const char *argv[2] = { "GET", key };
    size_t lens[2] = { 3, strlen(key) };
    redisReply *rep;
    p11jwt_rc rc = run(r, 2, argv, lens, &rep);

    *val = NULL;
    *len = 0;
    if (rc != P11JWT_OK)
        return rc;
    if (rep->type == REDIS_REPLY_STRING) {
        if ((*val = malloc(rep->len + 1)) == NULL) {
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        } else {
            memcpy(*val, rep->str, rep->len);
            (*val)[rep->len] = '\0';
            *len = rep->len;
        }
        base_wipe(rep->str, rep->len);
    } else if (rep->type != REDIS_REPLY_NIL) {
        rc = err_set(P11JWT_ERR_HTTP, "redis: GET answered a reply of type %d", rep->type);
    }
    freeReplyObject(rep);
    return rc;
}

p11jwt_rc exch_redis_set(exch_redis *r, const char *key, const void *val, size_t len,
                         int64_t px, int nx, int *stored)
{
    char ms[24];
    const char *argv[6] = { "SET", key, val, "PX", ms, "NX" };
    size_t lens[6] = { 3, strlen(key), len, 2, 0, 2 };
    redisReply *rep;
    p11jwt_rc rc;

    lens[4] = (size_t)snprintf(ms, sizeof ms, "%lld", (long long)(px > 0 ? px : 1));
    rc = run(r, nx ? 6 : 5, argv, lens, &rep);
    *stored = 0;
    if (rc != P11JWT_OK)
        return rc;
    *stored = rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    return P11JWT_OK;
}

/* Deletes key only while it holds val: what the lock's release and an
 * invalidation need (another host's newer value survives). */
p11jwt_rc exch_redis_del_if(exch_redis *r, const char *key, const void *val, size_t len,
                            int *deleted)
{
    static const char script[] =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
        "end return 0";
    const char *argv[5] = { "EVAL", script, "1", key, val };
    size_t lens[5] = { 4, sizeof script - 1, 1, strlen(key), len };
    redisReply *rep;
    p11jwt_rc rc = run(r, 5, argv, lens, &rep);

    *deleted = 0;
    if (rc != P11JWT_OK)
        return rc;
    *deleted = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    freeReplyObject(rep);
    return P11JWT_OK;
}
