/*
 * agent.h — the host agent's parts and what they share (docs/agent.md).
 *
 *   agent.c     lifecycle: start, signals (SIGHUP reload, SIGTERM drain),
 *               systemd notify, the 1-second housekeeping tick
 *   listen.c    the Unix socket: our own, or systemd's (LISTEN_FDS)
 *   server.c    libmicrohttpd: one thread per connection, request bodies,
 *               responses (Cache-Control: no-store)
 *   route.c     the request target -> endpoint, profile, min_valid (pure)
 *   handlers.c  what each endpoint answers
 *   peer.c      SO_PEERCRED and the `allow` rules
 *   conns.c     the live connections: per-uid cap, request deadline
 *   registry.c  the served profiles, their clients, reload
 *   metrics.c   counters and the Prometheus text
 *   log.c       one-line logging, rate-limited where a peer could flood it
 *
 * Only the public library API (p11jwt.h) is used: the agent is a client of
 * libp11jwt like any other, one p11jwt_client per profile.
 */
#ifndef P11JWT_AGENT_H
#define P11JWT_AGENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p11jwt.h"

/* ---- options (p11jwt agent) --------------------------------------------- */

typedef struct agent_opts {
    const char *config;          /* NULL: the library's search */
    const char *socket_path;     /* NULL: ptc_socket_path(1, ...) */
    const char *const *profiles; /* --profile NAME...; none: every profile */
    size_t nprofiles;
    unsigned socket_mode;        /* default 0660 */
    unsigned max_connections;    /* default 256 */
    unsigned max_per_uid;        /* default 64 */
    unsigned request_timeout;    /* seconds a request may take to arrive; default 30 */
} agent_opts;

#define AGENT_DRAIN_SECONDS 5
#define AGENT_MAX_BODY (16 * 1024)
#define AGENT_NAME_MAX 255
#define AGENT_MAX_MIN_VALID (366 * 86400)
#define AGENT_SCOPE_MAX 1024            /* bytes of ?scope= once decoded */

/* Runs the agent in the foreground until SIGTERM; returns the exit code. */
int agent_run(const agent_opts *o);

/* ---- log.c ------------------------------------------------------------------ */

enum { AGENT_ERR = 3, AGENT_WARNING = 4, AGENT_NOTICE = 5, AGENT_INFO = 6 };

/* One line on stderr: "<N>" priority prefixes when stderr goes to the
 * journal, else "p11jwt agent: ". Never given a token, PIN or secret. */
void agent_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same, at most `per_second` lines a second per limiter; the number
 * left out is said on the next line that gets through. */
typedef struct agent_ratelimit {
    unsigned per_second;
    int64_t second;
    unsigned used, suppressed;
} agent_ratelimit;
void agent_log_limited(agent_ratelimit *rl, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends the library's notices (rotation fallbacks, audit failures) here. */
void agent_log_init(void);

/* ---- route.c ---------------------------------------------------------------- */

typedef enum agent_endpoint {
    EP_NONE = 0,
    EP_TOKEN,
    EP_INVALIDATE,
    EP_ASSERTION,
    EP_JWKS,
    EP_HEALTH,
    EP_METRICS,
    EP_REVOKE,
    EP_COUNT
} agent_endpoint;

typedef struct agent_route {
    agent_endpoint ep;
    int status;                     /* 0, or 400/404 with error set */
    const char *error;              /* static text for that status */
    char profile[AGENT_NAME_MAX + 1];
    int64_t min_valid;              /* -1 when not given */
    int has_scope;                  /* ?scope= was given: scope holds it */
    char scope[AGENT_SCOPE_MAX + 1]; /* decoded ('+' and %20 are spaces);
                                       its syntax is the library's to check */
} agent_route;

/* Parses a request target as sent (path and query, still escaped). Pure:
 * no allocation, bounded by len. */
void agent_route_parse(const char *target, size_t len, agent_route *out);
/* The one method an endpoint answers ("GET" or "POST"). */
const char *agent_endpoint_method(agent_endpoint ep);
const char *agent_endpoint_name(agent_endpoint ep);

/* ---- peer.c ----------------------------------------------------------------- */

typedef struct agent_peer {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    gid_t *groups;                  /* supplementary groups (SO_PEERGROUPS) */
    size_t ngroups;
} agent_peer;

/* The credentials of the process at the other end of a Unix socket. */
int agent_peer_get(int fd, agent_peer *out);
void agent_peer_clear(agent_peer *p);

/* A profile's `allow` rules, names resolved to ids when loaded. */
typedef struct agent_allow {
    uid_t *uids;
    size_t nuids;
    gid_t *gids;
    size_t ngids;
} agent_allow;

/* Looks up a user (is_group 0) or group name; 0 and *id, or -1. */
typedef int (*agent_name_fn)(const char *name, int is_group, unsigned *id);
int agent_resolve_nss(const char *name, int is_group, unsigned *id);

/* Parses "uid:N user:NAME gid:N group:NAME ..." (spec NULL: the agent's
 * own uid only). Returns 0, or -1 with a message in err. */
int agent_allow_parse(const char *spec, agent_name_fn resolve, agent_allow *out, char *err,
                      size_t errcap);
void agent_allow_clear(agent_allow *a);
/* 1 when the rules let this peer ask. */
int agent_allow_check(const agent_allow *a, const agent_peer *p);

/* ---- registry.c ------------------------------------------------------------- */

#define AGENT_CODES 11 /* 200 204 400 403 404 405 413 500 502 503 other */

typedef struct agent_counters {
    atomic_uint_fast64_t requests[EP_COUNT][AGENT_CODES];
    atomic_uint_fast64_t cache_hits;
    atomic_uint_fast64_t sign_count;
    atomic_uint_fast64_t sign_buckets[8];   /* AGENT_SIGN_BUCKETS */
    atomic_uint_fast64_t sign_micros;
} agent_counters;

/* A served profile: immutable once published, shared by the snapshots
 * that list it and freed with the last of them. */
typedef struct agent_profile {
    atomic_uint refs;
    char *name;
    p11jwt_client *client;
    agent_allow allow;
    agent_counters counters;
} agent_profile;

/* The profiles served at one moment; requests hold one for their length. */
typedef struct agent_set {
    atomic_uint refs;
    agent_profile **v;
    size_t n;
} agent_set;

/* Loads every profile (or the --profile ones), makes and prepares their
 * clients (logs in). Returns 0 and what is served in summary, or -1 with
 * the reason in err. Logs nothing: a failed start is one line. */
int agent_registry_start(const agent_opts *o, char *summary, size_t sumcap, char *err,
                         size_t errcap);
/* SIGHUP: loads the config again; unchanged profiles keep their clients
 * (and cached tokens), changed ones are rebuilt. A config with an error
 * is refused (logged) and the old set kept. Returns 0 or -1. */
int agent_registry_reload(void);
void agent_registry_stop(void);

agent_set *agent_set_get(void);          /* the current set, referenced */
void agent_set_put(agent_set *s);
agent_profile *agent_set_find(const agent_set *s, const char *name);
/* 1 when the peer may ask at least one profile of the set. */
int agent_set_any_allowed(const agent_set *s, const agent_peer *p);

/* ---- conns.c ---------------------------------------------------------------- */

/* One live connection and the request it is on. */
typedef struct agent_conn {
    struct agent_conn *prev, *next;
    int fd;
    agent_peer peer;
    int peer_ok;
    atomic_int refused;             /* being closed: over its uid's cap, or late
                                       (set by the sweep, read by its thread) */
    int64_t waiting_since_ms;       /* start, or end of the last request */
    int busy;                       /* a request is being answered */
    /* the current request */
    agent_route route;
    int started;                    /* the handler has seen its headers */
    char *body;
    size_t body_len;
    int body_too_big;
} agent_conn;

void agent_conns_init(unsigned max_per_uid, unsigned request_timeout);
/* A new connection: its peer's credentials, counted against its uid's cap
 * (over it: shut down at once and marked refused). NULL when out of
 * memory (the connection is shut down too). */
agent_conn *agent_conn_open(int fd);
void agent_conn_close(agent_conn *c);
void agent_conn_busy(agent_conn *c);    /* a request's headers are in */
void agent_conn_done(agent_conn *c);    /* its answer went out */
/* Shuts down connections whose next request has not fully arrived within
 * the request timeout (idle keep-alive and trickling clients alike). */
void agent_conns_sweep(void);
/* Waits until no connection is answering a request, or the deadline
 * (CLOCK_MONOTONIC ms); returns how many still are. */
unsigned agent_conns_drain(int64_t deadline_ms);
unsigned agent_conns_count(void);
int64_t agent_now_ms(void);

/* ---- metrics.c -------------------------------------------------------------- */

int agent_code_index(int status);
void agent_metrics_request(agent_profile *p, agent_endpoint ep, int status);
void agent_metrics_sign(agent_profile *p, int64_t micros);

typedef struct agent_global_counters {
    atomic_uint_fast64_t requests[EP_COUNT][AGENT_CODES]; /* not tied to a profile */
    atomic_uint_fast64_t conns_refused;   /* over a uid's cap */
    atomic_uint_fast64_t conns_dropped;   /* request deadline */
    atomic_uint_fast64_t reloads_ok, reloads_failed;
} agent_global_counters;
extern agent_global_counters agent_global;

/* The Prometheus text exposition of everything; caller frees. */
char *agent_metrics_render(const agent_set *s, size_t *len);

/* ---- handlers.c ------------------------------------------------------------- */

typedef struct agent_reply {
    int status;
    char *body;                     /* malloc'd; wiped before it is freed */
    size_t len;
    const char *content_type;
    const char *allow;              /* Allow: for 405 */
} agent_reply;

/* Answers the request on c (route parsed, body read). */
void agent_handle(agent_conn *c, const char *method, agent_reply *r);
/* An error answer {"error": code, "message": msg}. */
void agent_reply_error(agent_reply *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void agent_reply_free(agent_reply *r);

/* ---- server.c --------------------------------------------------------------- */

int agent_server_start(int listen_fd, const agent_opts *o, char *err, size_t errcap);
/* Stops taking connections (the listening socket is closed). */
void agent_server_quiesce(void);
void agent_server_stop(void);
/* Set when draining: answers say Connection: close. */
extern atomic_int agent_stopping;

/* ---- listen.c --------------------------------------------------------------- */

/* The listening socket: systemd's when LISTEN_FDS passes one (*activated
 * set), else a new one at path (directory made 0750 if missing; a stale
 * socket replaced only when nothing answers on it). -1 with err. */
int agent_listen(const char *path, unsigned mode, int *activated, char *err, size_t errcap);

#endif
