/*
 * exchange_int.h — the exchange floor's private header: what its files
 * share and no other floor sees (exchange.h is the floor's interface).
 *
 *   ini.c, config.c, profile.c   the config file, its sections, the key table
 *   dialect.c, dialect_*.c       the dialect table and each family's request
 *   token_response.c             an STS's answer as an access token
 *   oauth_error.c                an STS's refusal as one line, and what it hints
 *   libcurl.c                    libcurl, loaded on first use (dlopen)
 *   url.c, http.c                URLs checked once; HTTP over libcurl
 *   cache.c, cache_memory.c      the token cache (and its refresher), its
 *                                memory backend
 *   refresh_schedule.c           when to refresh, when to try again
 *   cache_redis.c, redis.c       the fleet's level (Redis) and its connection
 *   cache_sealed.c               the fleet's entry as Redis holds it (sealed)
 *   exchange.c                   one exchange: attempts, retries, fallback
 *   resource.c                   resource calls, 401 handling
 *   revoke.c                     RFC 7009 revocation of the client's token
 *   scope.c                      scope values, a client's tokens per scope set
 *   www_auth.c                   a resource's WWW-Authenticate challenges
 *   client.c                     the client that ties them together
 *   audit.c                      audit records
 *
 * The exchange never sees keys: it asks the client for a fresh assertion.
 */
#ifndef P11JWT_EXCHANGE_INT_H
#define P11JWT_EXCHANGE_INT_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "exchange/exchange.h"
#include "keyring/keyring.h"
#include "pkcs11/pkcs11.h"

/* ---- the INI lexer (ini.c) ---------------------------------------------------- */

#define EXCH_INI_LINE_MAX 4096

/* One pass over a config file: each section header and each key of a
 * section is handed to the reader's functions; line is the line being
 * read (for messages), section_form how a header should look. */
typedef struct exch_ini exch_ini;
struct exch_ini {
    const char *path;
    int line;
    const char *section_form;   /* e.g. "[profile NAME]" */
    p11jwt_rc (*on_section)(exch_ini *ini, char *name, void *ud);
    p11jwt_rc (*on_key)(exch_ini *ini, const char *key, const char *value, void *ud);
    void *ud;
};

p11jwt_rc exch_ini_parse(exch_ini *ini, const char *data, size_t len);
/* P11JWT_ERR_CONFIG with "PATH:LINE: KEY: message" (no KEY when NULL). */
p11jwt_rc exch_ini_error(const exch_ini *ini, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- profiles (config.c, profile.c) --------------------------------------------- */

#define EXCH_PROFILE_KEYS_MAX 64

/* Reading one profile out of a file. */
typedef struct exch_profile_parser {
    exch_ini ini;
    p11jwt_profile *p;          /* NULL: the file's syntax only */
    const char *want;           /* the profile asked for */
    int found, in_profile;
    int seen[EXCH_PROFILE_KEYS_MAX]; /* per key of the table: the line that set it */
    char ***names;              /* non-NULL: collect every section's name */
    size_t *nnames;
} exch_profile_parser;

/* Reads the config file at path (NULL: $P11JWT_CONFIG, then
 * ~/.config/p11jwt/config, then /etc/p11jwt/config) whole: *path_out the
 * file used, *data its bytes (both the caller's). config.c */
p11jwt_rc exch_config_read(const char *path, char **path_out, char **data, size_t *len);
/* Points ps (and its INI lexer) at a file's `[profile NAME]` sections:
 * `want`'s keys go to p (NULL: the file's syntax only). config.c */
void exch_config_parser_init(exch_profile_parser *ps, const char *path, p11jwt_profile *p,
                             const char *want);
/* Every number key at its default (the key table's). */
void exch_profile_defaults(p11jwt_profile *p);
/* One `key = value` of the profile being read. */
p11jwt_rc exch_profile_set(exch_profile_parser *ps, const char *key, const char *value);
/* Once the section is read: what the dialect needs, its presets, the
 * bounds checked last. */
p11jwt_rc exch_profile_finish(exch_profile_parser *ps);
/* Points the parser at the line that set key (the profile's header line
 * when the key was not set), for messages about its value. */
void exch_profile_at_key(exch_profile_parser *ps, const char *key);
/* The line that set key in this profile, 0 if none did. */
int exch_profile_key_seen(const exch_profile_parser *ps, const char *key);
/* Adds NAME = VALUE (a claim.NAME or header.NAME) to arr, refusing a
 * repeated or empty name at key. */
p11jwt_rc exch_profile_add_kv(exch_profile_parser *ps, const char *key, struct exch_kv **arr,
                              size_t *n, const char *name, const char *value);
/* A duration key below its table minimum is refused, at its line. */
p11jwt_rc exch_profile_check_min(exch_profile_parser *ps, const char *key);

/* ---- dialects (dialect.c, dialect_*.c) -------------------------------------------- */

/* What a dialect needs to build its request. */
typedef struct exch_inputs {
    const char *assertion;      /* NULL for client credentials */
    const char *client_secret;  /* client credentials only */
} exch_inputs;

/* A request built by a dialect; free with exch_built_clear. */
typedef struct exch_built {
    char *url;
    const char *method;
    char *body;
    struct curl_slist *headers;
    char *basic_user, *basic_pass;
} exch_built;

/* One row of the dialect table. */
struct exch_dialect {
    exch_dialect_id id;
    const char *name;
    int signs;                  /* sends a signed assertion */
    int iss_is_client_id;       /* iss = sub = client_id (private-key-jwt) */
    const char *token_key;      /* the answer's member holding the token */
    const char *token_key_alias; /* another name for it, or NULL */
    int aud_is_token_url;       /* aud defaults to token_url (else none) */
    const char *resource_auth;  /* the resource Authorization scheme */
    const char *resource_accept; /* a default header.Accept, or NULL */
    exch_auth_method auth_method; /* how a client secret is sent by default */
    int64_t max_ttl;            /* the longest assertion it takes; 0: any */
    p11jwt_rc (*build)(const p11jwt_profile *p, const exch_inputs *in,
                       exch_built *out);
    const char *needs_claim;    /* a claim.NAME the STS requires, or NULL */
};

const struct exch_dialect *exch_dialect_get(exch_dialect_id id);
/* NULL when no dialect has that name. */
const struct exch_dialect *exch_dialect_by_name(const char *name);
/* "dt, neowit, ..." into out. */
void exch_dialect_names(char *out, size_t cap);

/* The token request for p: the dialect's builder, then what every
 * request has (the token URL, Accept: application/json). */
p11jwt_rc exch_dialect_build(const p11jwt_profile *p, const exch_inputs *in,
                             exch_built *out);
void exch_built_clear(exch_built *b);

/* What the builders share: an application/x-www-form-urlencoded body
 * grown by copy (the old copy wiped: it may hold a secret), the header
 * list, and wiping jansson's copy of a credential. */
typedef struct exch_form {
    char *s;
    size_t len;
    int failed;
} exch_form;
void exch_form_add(exch_form *f, const char *name, const char *value);
void exch_form_clear(exch_form *f);
/* Hands the form to b as its POST body (Content-Type set). */
p11jwt_rc exch_form_finish(exch_built *b, exch_form *f);
p11jwt_rc exch_built_header(exch_built *b, const char *h);
void exch_json_wipe_member(json_t *o, const char *key);

p11jwt_rc exch_build_jwt_bearer(const p11jwt_profile *p, const exch_inputs *in,
                                exch_built *b);
p11jwt_rc exch_build_noa(const p11jwt_profile *p, const exch_inputs *in,
                         exch_built *b);
p11jwt_rc exch_build_client_credentials(const p11jwt_profile *p,
                                        const exch_inputs *in, exch_built *b);
/* A client secret's authentication on another endpoint of the same server
 * (RFC 7009's revocation): HTTP Basic as auth_method basic says, else
 * client_id and client_secret in the form f (a revocation is a POST). */
p11jwt_rc exch_client_secret_auth(const p11jwt_profile *p, const exch_inputs *in,
                                  exch_form *f, exch_built *b);
p11jwt_rc exch_build_private_key_jwt(const p11jwt_profile *p,
                                     const exch_inputs *in, exch_built *b);

/* ---- libcurl, loaded on first use (libcurl.c) --------------------------------------- */

/* Loads libcurl and runs curl_global_init, once per process; P11JWT_ERR_HTTP
 * saying why when it cannot. Every wrapper below loads it too, and fails
 * as its libcurl function fails when that is impossible. */
p11jwt_rc exch_curl_load(void);
CURL *exch_curl_easy_init(void);
void exch_curl_easy_cleanup(CURL *c);
void exch_curl_easy_reset(CURL *c);
CURLcode exch_curl_easy_perform(CURL *c);
/* curl_easy_setopt by the option's type; CURLE_BAD_FUNCTION_ARGUMENT for
 * an option of another type. */
CURLcode exch_curl_setopt_long(CURL *c, CURLoption opt, long v);
CURLcode exch_curl_setopt_ptr(CURL *c, CURLoption opt, const void *v);
CURLcode exch_curl_setopt_off(CURL *c, CURLoption opt, curl_off_t v);
CURLcode exch_curl_setopt_write(CURL *c, CURLoption opt, curl_write_callback v);
CURLcode exch_curl_setopt_xferinfo(CURL *c, CURLoption opt, curl_xferinfo_callback v);
CURLcode exch_curl_response_code(CURL *c, long *status);
/* curl_easy_getinfo(CURLINFO_CERTINFO): the chain of the last transfer. */
CURLcode exch_curl_certinfo(CURL *c, struct curl_certinfo **ci);
/* curl_getdate(s, NULL): an HTTP date in seconds since the epoch, or -1. */
time_t exch_curl_getdate(const char *s);
const char *exch_curl_strerror(CURLcode e);
/* curl_easy_escape(NULL, s, 0): form-encodes s; release with exch_curl_free. */
char *exch_curl_escape(const char *s);
void exch_curl_free(void *p);
struct curl_slist *exch_curl_slist_append(struct curl_slist *l, const char *s);
void exch_curl_slist_free_all(struct curl_slist *l);
CURLU *exch_curl_url(void);
void exch_curl_url_cleanup(CURLU *u);
CURLUcode exch_curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags);
CURLUcode exch_curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags);
const char *exch_curl_url_strerror(CURLUcode e);

/* ---- HTTP (url.c, http.c) ---------------------------------------------------------- */

#define EXCH_MAX_BODY (1024 * 1024)
#define EXCH_SCOPE_MAX 1024      /* bytes of a scope value (scope.c) */
#define EXCH_SCOPE_SETS_MAX 32   /* scope sets per client besides the profile's */
#define EXCH_URL_SHOWN 256

/* A URL parsed once; every decision and every message uses its parts. */
typedef struct exch_url {
    CURLU *u;                   /* what curl connects with (CURLOPT_CURLU) */
    int https;                  /* else http, to a loopback host */
    int loopback;
    char shown[EXCH_URL_SHOWN]; /* scheme://host[:port]/path, escaped: no
                                   userinfo, no query, no fragment */
} exch_url;

/* Parses url and refuses anything but https, or http to a loopback host,
 * with rc fail and a message naming `what` (the config key, or "URL").
 * The URL itself is never echoed, only its shown form. Release *out with
 * exch_url_free (also after a failure). */
p11jwt_rc exch_url_parse(const char *url, const char *what, p11jwt_rc fail, exch_url *out);
void exch_url_free(exch_url *u);
/* exch_url_parse, for a check only. */
p11jwt_rc exch_url_check(const char *url, const char *what, p11jwt_rc fail);

typedef struct exch_http {
    CURL *curl;                 /* NULL until the first request */
    unsigned long fork_gen;     /* the process generation curl belongs to */
    char errbuf[CURL_ERROR_SIZE];
} exch_http;

/* How one request is made: what a profile (or p11jwt_http_call's fixed
 * rules) says, never the profile itself. */
typedef struct exch_http_opts {
    int64_t connect_timeout, timeout; /* seconds */
    const char *ca_file;        /* NULL: the system's CAs */
    const char *client_cert;    /* TLS client certificate, or NULL */
    const char *client_key;     /* its key: a file, or a pkcs11: URI */
    const char *key_pin;        /* the PIN for a pkcs11: client_key */
    const struct exch_cache *cancel; /* non-NULL: the request ends early once
                                   this cache is stopping */
    int certinfo;               /* 1: note the server certificate's expiry */
} exch_http_opts;

typedef struct exch_request {
    const char *method;         /* "GET", "POST", ... */
    const char *url;
    struct curl_slist *headers; /* borrowed */
    const char *body;
    size_t body_len;
    const char *basic_user, *basic_pass;
    int fresh;                  /* 1: never on a reused connection (retries) */
} exch_request;

typedef struct exch_response {
    long status;
    char *body;                 /* NUL-terminated; wiped when cleared (a
                                   token endpoint's answer holds a token) */
    size_t len;
    size_t cap;                 /* allocated for body */
    int64_t retry_after;        /* seconds; -1 when absent */
    int truncated;              /* more than EXCH_MAX_BODY was sent */
    int64_t date;               /* the Date header, Unix time; 0 when absent */
    int64_t cert_expires;       /* with opts certinfo over TLS: the server
                                   certificate's notAfter; else 0 */
    char *www_auth;             /* WWW-Authenticate (several joined by ", "),
                                   at most EXCH_WWW_AUTH_MAX bytes; else NULL */
    size_t www_auth_len;        /* its bytes (a NUL among them is its own) */
    int www_auth_cut;           /* it was longer: www_auth is not all of it */
} exch_response;

/* A connection user's handle: the libcurl easy handle is made at its first
 * request, so a client that never talks HTTP (rotate status) holds none. */
void exch_http_init(exch_http *h);
void exch_http_cleanup(exch_http *h);
void exch_response_clear(exch_response *r);
/* Performs one request. On a transport failure returns P11JWT_ERR_HTTP and
 * sets *retryable. */
p11jwt_rc exch_http_perform(exch_http *h, const exch_http_opts *o, const exch_request *rq,
                            exch_response *rs, int *retryable);
/* Wipes (it may hold an Authorization line) and frees a header list. */
void exch_headers_free(struct curl_slist *hl);

/* ---- answers (token_response.c, oauth_error.c) ---------------------------------------- */

/* Parses a 2xx answer into *t; expiry from expires_in, else a JWT-shaped
 * token's exp, else the profile's default lifetime. */
p11jwt_rc exch_token_response_parse(const p11jwt_profile *p, const exch_response *rs,
                                    int64_t now, p11jwt_access_token *t);
/* A copy of src in dst (cleared first), for the caller to clear. */
p11jwt_rc exch_token_copy(const p11jwt_access_token *src, p11jwt_access_token *dst);

/* Sets the message for a non-2xx answer from the STS: status, the OAuth
 * error and description, a hint where the provider documents one. Returns
 * P11JWT_ERR_OAUTH. *timing is set when the STS complains about iat/exp,
 * *keyish when about the key or signature (a rotation fallback may help). */
p11jwt_rc exch_oauth_error(const p11jwt_profile *p, const exch_response *rs, int *timing,
                           int *keyish);

/* ---- the token cache (cache.c, cache_memory.c) ------------------------------------------- */

/* What a cache level holds: a token and when it is due for refresh. */
typedef struct exch_cache_entry {
    p11jwt_access_token tok;
    int64_t refresh_at;
} exch_cache_entry;

/* Where a client's shared token lives, behind the per-thread copies the
 * cache hands out: process memory now (cache_memory.c); a fleet's Redis
 * later, behind the same operations. Every call is made under the cache's
 * lock, so a backend needs no lock of its own for its entry. */
typedef struct exch_cache_backend {
    const char *name;
    /* The entry held, or NULL. Borrowed: valid until the next call. */
    const exch_cache_entry *(*get)(void *be);
    /* Takes the entry over (*e's strings are the backend's now, *e is
     * cleared); the entry held before goes. */
    p11jwt_rc (*put)(void *be, exch_cache_entry *e);
    /* Moves the held entry's refresh time. */
    void (*reschedule)(void *be, int64_t refresh_at);
    /* Drops the held entry if its token is `value` (any when NULL);
     * 1 when something was dropped. */
    int (*drop)(void *be, const char *value);
    void (*free)(void *be);
} exch_cache_backend;

/* The memory backend: one entry in this process. */
extern const exch_cache_backend exch_cache_memory;
void *exch_cache_memory_new(void);

/* ---- the fleet's level (cache_redis.c, redis.c; docs/fleet.md) ------------------------------ */

/* One Redis connection, every call bounded by timeout (seconds). */
typedef struct exch_redis exch_redis;
/* Refuses a `cache` value that is not redis://[HOST][:PORT][/DB] or
 * redis+unix:///PATH[?db=N]. */
p11jwt_rc exch_redis_url_check(const char *url);
p11jwt_rc exch_redis_new(const char *url, const char *password_file, double timeout,
                         exch_redis **out);
void exch_redis_free(exch_redis *r);
/* In a forked child (single-threaded, from the cache's fork handler): the
 * connection's lock, which a thread of the parent may have held mid-command,
 * is free again; the connection itself is the parent's and is replaced at
 * the next command. */
void exch_redis_after_fork(exch_redis *r);
/* *val NULL when the key holds nothing; else the caller wipes and frees. */
p11jwt_rc exch_redis_get(exch_redis *r, const char *key, unsigned char **val, size_t *len);
/* SET key val PX px [NX]; *stored 0 when NX found the key taken. */
p11jwt_rc exch_redis_set(exch_redis *r, const char *key, const void *val, size_t len,
                         int64_t px, int nx, int *stored);
/* Deletes key only while it holds val (one script: no race). */
p11jwt_rc exch_redis_del_if(exch_redis *r, const char *key, const void *val, size_t len,
                            int *deleted);

/* Makes a fresh token when the cache has none it may hand out: the
 * exchange (exchange.c). Called by one thread at a time per cache, outside
 * the cache's lock; its failure is handed to every caller that waited. */
typedef p11jwt_rc (*exch_cache_refill_fn)(void *ud, p11jwt_access_token *out);

typedef struct exch_cache exch_cache;

/* The fleet's entry as Redis holds it (cache_sealed.c): its text, first
 * line EXCH_ENTRY_MAGIC, AES-256-GCM sealed in the token with the key kid
 * (NULL: cache_plaintext, stored as is) and aad, the entry's Redis key. */
#define EXCH_ENTRY_MAGIC "p11jwt-cache-1"
typedef struct exch_sealer exch_sealer;
/* The key is opened in c's token on first use. */
p11jwt_rc exch_sealer_new(p11jwt_client *c, const char *kid, const char *aad,
                          exch_sealer **out);
void exch_sealer_free(exch_sealer *s);
/* In a forked child: the locks a thread of the parent may have held while
 * sealing or opening are free again. */
void exch_sealer_after_fork(exch_sealer *s);
/* The bytes for Redis; the caller wipes and frees them. */
p11jwt_rc exch_sealer_seal(exch_sealer *s, const exch_cache_entry *e, unsigned char **out,
                           size_t *len);
/* What Redis held, opened and read strictly (an error: never used). The
 * value last sealed or opened is remembered with its text: the same bytes
 * again are read from memory, not decrypted in the token again. */
p11jwt_rc exch_sealer_open(exch_sealer *s, const unsigned char *v, size_t len,
                           exch_cache_entry *e);
/* Wipes the remembered text (a token dropped from the cache). */
void exch_sealer_forget(exch_sealer *s);

/* The fleet's level: a backend that keeps the memory backend as its first
 * level, and a refill (exch_fleet_refill, ud = the backend) that asks
 * Redis before it calls refill(ud). */
extern const exch_cache_backend exch_cache_redis;
p11jwt_rc exch_fleet_new(p11jwt_client *c, exch_cache_refill_fn refill, void *ud, void **out);
p11jwt_rc exch_fleet_refill(void *be, p11jwt_access_token *out);
/* A copy of the fleet's token (1), or nothing (0). */
int exch_fleet_held(void *be, p11jwt_access_token *out);
/* Tokens taken from Redis, and Redis problems, so far. */
void exch_fleet_counts(void *be, uint64_t *hits, uint64_t *errors);
/* In a forked child: the fleet's locks, its Redis connection's and its
 * sealer's are free again (the parent's refresher may have held any of
 * them when the process forked). */
void exch_fleet_after_fork(void *be);

/* How a cache refreshes, and what it asks of its owner. */
typedef struct exch_cache_opts {
    int64_t refresh_ahead;      /* seconds before expiry; -1: automatic
                                   (exch_refresh_time) */
    double retry_base, retry_max_delay; /* the refresher's backoff after a
                                           failed refresh (exch_refresh_retry_at) */
    exch_cache_refill_fn refill;
    /* In a forked child (single-threaded, from the fork handler): the
     * owner resets what a refill in flight in the parent held (its locks).
     * NULL: nothing to do. */
    void (*after_fork)(void *ud);
    void *ud;                   /* for refill and after_fork */
} exch_cache_opts;

/* A cache refreshing and refilled as o says, its entry kept by the
 * backend (be, owned from now on; freed on failure too). Its refresher
 * thread starts when a refresh is first due. */
p11jwt_rc exch_cache_new(const exch_cache_backend *ops, void *be, const exch_cache_opts *o,
                         exch_cache **out);
/* Stops the refresher (its refill in flight ends early: see
 * exch_cache_stopping) and frees the cache. */
void exch_cache_free(exch_cache *c);
/* 1 once exch_cache_free has begun: a refill should end as soon as it can
 * (the exchange watches it between attempts and during a request). */
int exch_cache_stopping(const exch_cache *c);
/* p11jwt_client_token_peek's answer: this thread's copy of the token. */
p11jwt_rc exch_cache_peek(exch_cache *c, const p11jwt_access_token **out);
/* p11jwt_client_token_min_valid's. */
p11jwt_rc exch_cache_min_valid(exch_cache *c, int64_t min_valid,
                               const p11jwt_access_token **out);
/* Inside a refill: the seconds of life the caller that started it asked
 * for (min_valid), 0 when it asked for none. */
int64_t exch_cache_refill_min_left(void);
/* Drops the token if it is `value` (any when NULL). */
void exch_cache_invalidate(exch_cache *c, const char *value);
/* A copy of the token the cache holds, valid or not (1), or nothing (0). */
int exch_cache_held(exch_cache *c, p11jwt_access_token *out);
/* state, expires_at, failures and last_error of a client's status. */
void exch_cache_status(exch_cache *c, p11jwt_client_status *out);

/* ---- the refresh schedule (refresh_schedule.c) ------------------------------------------ */

/* When to start refreshing a token obtained at `now`: refresh_ahead before
 * expiry if it is >= 0, else the earlier of 5 minutes before expiry and 80%
 * of the lifetime, moved earlier by jitter * 5% of the lifetime (jitter in
 * [0, 1): a fleet that started together does not refresh together). */
int64_t exch_refresh_time(int64_t refresh_ahead, int64_t now, int64_t expires_at,
                          double jitter);
/* When the refresher tries again after a refresh failed `failures` times
 * in a row (>= 1) at `now` (seconds, wall clock), the token still valid
 * until expires_at: after a wait that doubles from base per failure up to
 * max_delay, jittered over its upper half (jitter in [0, 1)), at least 1 s;
 * at the latest 1 s before expiry. INFINITY: no try fits before expiry. */
double exch_refresh_retry_at(double now, int64_t expires_at, double base, double max_delay,
                             int failures, double jitter);
/* A random number in [0, 1). */
double exch_random_unit(void);

/* ---- the client (client.c) --------------------------------------------------------------- */

struct p11jwt_client {
    p11jwt_profile *p;

    /* Signing: the token is opened and keys found on first use. Keys are
     * kept until the client is freed (a thread may be signing with one
     * while rotation moves the active kid on). */
    pthread_mutex_t key_mu;
    p11jwt_token *tok;
    p11jwt_key **keys;
    size_t nkeys;

    /* The STS connection; held by the one exchange in flight. */
    pthread_mutex_t sts_mu;
    exch_http sts;
    /* The resource connection, for p11jwt_client_call. */
    pthread_mutex_t res_mu;
    exch_http res;

    exch_cache *cache;
    void *fleet;                /* the cache's backend when it is the fleet's
                                   Redis (cache_redis.c), else NULL */
    atomic_uint_fast64_t exchanges;
    /* The version of the keyring that chose the last kid read (0: none
     * stored, the profile's kid): messages about that kid name it. */
    atomic_uint_fast64_t kr_version;
    int client_key_ok;          /* the pkcs11: client_key was found once */

    /* Scopes asked per request (scope.c): a client per other scope set,
     * each borrowing this one's token and keys (parent). */
    char *scope_set;            /* the profile's scope, normalised; NULL: none */
    pthread_mutex_t scope_mu;
    struct exch_scoped {
        char *set;
        p11jwt_client *c;
    } *scoped;
    size_t nscoped;             /* under scope_mu */
    atomic_size_t nscoped_any;  /* nscoped, read without the lock: a client
                                   with no scope set takes no lock for them */
    p11jwt_client *parent;      /* a scope set's client: whose token and keys */
};

/* ---- WWW-Authenticate (www_auth.c) ---------------------------------------------------- */

#define EXCH_WWW_AUTH_MAX 8192

/* One item of a WWW-Authenticate header: a challenge's start (name and
 * value NULL), its token68 (name NULL), or one of its auth-params (value
 * unescaped, in the parser's buffer). Borrowed for the callback. */
typedef struct exch_auth_item {
    const char *scheme, *name, *value;
    size_t scheme_len, name_len, value_len;
} exch_auth_item;
typedef void (*exch_auth_fn)(const exch_auth_item *it, void *ud);

/* Parses s[0..n) (RFC 7235 §4.1: 1#challenge), calling fn (may be NULL)
 * per item in order; quoted values are unescaped into buf (cap >= n is
 * always enough). The number of challenges, or -1 when the header is
 * malformed (items seen before then were handed out). */
int exch_www_auth_parse(const char *s, size_t n, char *buf, size_t cap, exch_auth_fn fn,
                        void *ud);

/* What a Bearer challenge says (RFC 6750 §3), each NUL-terminated. */
typedef struct exch_bearer_error {
    char error[64];
    char description[512];
    char scope[EXCH_SCOPE_MAX + 1];
} exch_bearer_error;

/* The first Bearer challenge of s[0..n) that names an error: 1 and *out
 * filled (cut to its fields' sizes), 0 when none names one, -1 when the
 * header is malformed (*out empty). */
int exch_bearer_error_parse(const char *s, size_t n, exch_bearer_error *out);
/* For a resource's 401 or 403 with a Bearer challenge naming an error
 * (insufficient_scope: the scope it wants) or one that does not parse:
 * sets the thread's message. Otherwise leaves it as it is. */
void exch_resource_refusal(const exch_response *rs);

/* ---- scopes (scope.c; the normaliser is cache_redis.c's) ------------------------------ */


/* P11JWT_OK when scope is space-separated RFC 6749 §3.3 scope tokens
 * (%x21 / %x23-5B / %x5D-7E), at least one, at most EXCH_SCOPE_MAX bytes;
 * else P11JWT_ERR_ARG naming the first bad byte (escaped). */
p11jwt_rc exch_scope_check(const char *scope);
/* "b a  b" -> "a b": sorted, each once, one space between. NULL for none
 * (NULL or only spaces) or out of memory. Caller frees. */
char *exch_scope_normalise(const char *scope);
/* The client that holds scope's tokens: c itself for NULL or the
 * profile's own set, else the set's client (made on first use; borrowed,
 * lives as long as c). P11JWT_ERR_ARG for a bad scope or one set too many. */
p11jwt_rc exch_client_for_scope(p11jwt_client *c, const char *scope, p11jwt_client **out);
/* fn on each scope set's client, under c's lock. */
void exch_client_scoped_each(p11jwt_client *c, void (*fn)(p11jwt_client *sub, void *ud),
                             void *ud);
/* Frees every scope set's client (p11jwt_client_free). */
void exch_client_scoped_free(p11jwt_client *c);
/* A deep copy of a profile, or NULL when out of memory. profile.c */
p11jwt_profile *exch_profile_dup(const p11jwt_profile *src);

/* Opens the token at uri with the profile's PIN source and module
 * arguments: the one way a profile's token (or TLS client key) is opened. */
p11jwt_rc exch_token_open(const p11jwt_profile *p, const char *uri, p11jwt_token **out);
/* Signs the profile's assertion with the key kid (opened once per client);
 * an audit record is written per the profile. Caller frees *jws. */
p11jwt_rc exch_client_sign(p11jwt_client *c, const char *kid, char **jws);
/* The HTTP options of a profile: for the token endpoint (sts: its TLS
 * client key, with the key's PIN) or for resources. */
void exch_http_opts_of(const p11jwt_profile *p, int sts, const char *key_pin,
                       exch_http_opts *o);
/* The kid to sign with and the one to fall back to (keyring.h); records
 * the keyring's version for exch_client_kid_origin. */
p11jwt_rc exch_client_kids(p11jwt_client *c, char **active, char **fallback, int *is_next);
/* Where kid came from, for messages: " (from keyring 'K', version N)" when
 * a stored keyring chose it, plus the profile's own kid when it differs;
 * "" when the profile's kid is used as is. Written into buf. */
const char *exch_client_kid_origin(p11jwt_client *c, const char *kid, char *buf, size_t cap);

/* ---- one exchange (exchange.c) ------------------------------------------------------------ */

/* Exchanges a fresh assertion (or the client secret) for a token: the
 * cache's refill function (ud is the client). */
p11jwt_rc exch_exchange(void *client, p11jwt_access_token *out);
/* The wait before attempt+1: full jitter (r in [0, 1)) under a cap that
 * doubles from base per attempt, never above max_delay. exchange.c */
double exch_backoff(double base, double max_delay, int attempt, double r);
/* Reads the secret a profile names by file or environment variable (what
 * names it in messages); *out NULL when it names neither. Free with
 * base_secret_free_n(*out, *len). */
p11jwt_rc exch_secret_read(const p11jwt_profile *p, const char *file, const char *env,
                           const char *what, unsigned char **out, size_t *len);

/* ---- p11jwt doctor (doctor.c, doctor_token.c) ------------------------------------------------ */

/* One diagnosis under way. */
typedef struct exch_doctor {
    const p11jwt_doctor_params *params;
    p11jwt_check_fn fn;
    void *ud;
    err_saved first;            /* the first failure (rc P11JWT_OK: none) */
    const p11jwt_profile *p;    /* NULL: a token and a key, no profile */
    p11jwt_token *tok;          /* opened by the token checks */
    int logged_in;
    const char *skip;           /* set: the checks after are skipped, why */
} exch_doctor;

/* Hands one check's outcome to the caller (detail: printf format; fix may
 * be NULL). A FAIL is kept as the diagnosis' answer when it is the first;
 * rc is the failure's code (ignored otherwise). */
void exch_doctor_report(exch_doctor *d, const char *name, p11jwt_check_result r, p11jwt_rc rc,
                        const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* A check that does not run: skipped, with d->skip as the reason. */
void exch_doctor_skip(exch_doctor *d, const char *name);
/* module, token, pin, key (and, with a profile, keyring): the token at uri,
 * the key kid (NULL: the URI's, or with a profile the keyring's active). */
void exch_doctor_token(exch_doctor *d, const char *uri, const char *kid);
/* The client secret of a dialect that sends one (check "secret"). */
void exch_doctor_secret(exch_doctor *d);

#ifdef P11JWT_UNITTEST
/* Static in the library; for tests/unit only. */
int exch_parse_duration(const char *v, int64_t max, int64_t *out);
int exch_parse_seconds(const char *v, double lo, double hi, double *out);
int exch_parse_millis(const char *v, int64_t lo, int64_t hi, int64_t *out);
long exch_sts_value_bad(const char *v, size_t n, int b64token);
int exch_url_is_loopback(const char *host);
p11jwt_rc exch_entry_decode(const char *s, size_t len, exch_cache_entry *e);
p11jwt_rc exch_redis_parse_url(const char *url, char **host, int *port, char **path, int *db);
int64_t exch_http_cert_time(const char *s);
#endif

#endif
