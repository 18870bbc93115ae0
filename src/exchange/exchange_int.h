/*
 * exch.h — the exchange layer's private interface: profiles (config.c), the
 * dialects that turn an assertion into a token request and an answer into a
 * token (dialect.c), OAuth error text (oauth_error.c), URLs (url.c), HTTP
 * over libcurl (http.c). client.c ties them to the token cache.
 *
 * The exchange never sees keys: it asks client.c for a fresh assertion.
 */
#ifndef P11JWT_EXCH_H
#define P11JWT_EXCH_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>

#include "p11jwt.h"

typedef enum exch_dialect_id {
    EXCH_DT,
    EXCH_NEOWIT,
    EXCH_NOA,
    EXCH_JSA,
    EXCH_RFC7523,
    EXCH_CLIENT_CREDENTIALS,
    EXCH_PRIVATE_KEY_JWT,
} exch_dialect_id;

typedef enum exch_auth_method {
    EXCH_AUTH_DEFAULT = 0,
    EXCH_AUTH_GET_QUERY,
    EXCH_AUTH_BASIC,
    EXCH_AUTH_POST_FORM,
} exch_auth_method;

struct exch_kv {
    char *name;
    char *value;
};

struct p11jwt_profile {
    char *name;
    char *path;
    int line;                   /* of the [profile NAME] header */
    exch_dialect_id dialect;
    char *token;                /* pkcs11: URI */
    char *pin_file, *pin_env;
    char *module_args;          /* C_Initialize pReserved (token, client_key) */
    char *kid;
    char *token_url;
    char *iss, *sub, *aud;      /* aud NULL: none (noa) */
    int64_t ttl;
    char *scope;
    struct exch_kv *claims;
    size_t nclaims;
    char *client_id;
    char *client_secret_file, *client_secret_env;
    exch_auth_method auth_method;
    char *resource_auth;        /* "Bearer" or "JWT" */
    struct exch_kv *headers;
    size_t nheaders;
    char *ca_file, *client_cert, *client_key;
    int64_t default_lifetime;
    int64_t refresh_ahead;      /* -1: automatic */
    int64_t timeout, connect_timeout;
    int64_t iat_backdate;
    int max_retries;
    double retry_base, retry_max_delay;

    /* rotation (docs/rotation.md) */
    char *keyring;              /* default: the profile's name */
    int64_t rotate_after, overlap, grace;
    char *publish_command;
    char *audit;                /* "off", "syslog" or "file:PATH" */

    /* the host agent (docs/agent.md) */
    char *allow;                /* who may ask the agent: "uid:N user:NAME ..." */
    char *pin_credential;       /* systemd credential name; sets pin_file */
};

/* Parses profile `name` from a config file's len bytes (path names it in
 * messages): p11jwt_profile_load without the file, for tests and fuzzing. */
p11jwt_rc exch_profile_parse(const char *data, size_t len, const char *path, const char *name,
                             p11jwt_profile **out);

const char *exch_dialect_name(exch_dialect_id d);
/* 1 when the dialect sends a signed assertion (all but client credentials). */
int exch_dialect_signs(exch_dialect_id d);

/* ---- HTTP ---------------------------------------------------------------- */

#define EXCH_MAX_BODY (1024 * 1024)

typedef struct exch_http {
    CURL *curl;
    unsigned long fork_gen;     /* the process generation curl belongs to */
    char errbuf[CURL_ERROR_SIZE];
} exch_http;

typedef struct exch_request {
    const char *method;         /* "GET", "POST", ... */
    const char *url;
    struct curl_slist *headers; /* borrowed */
    const char *body;
    size_t body_len;
    const char *basic_user, *basic_pass;
    int sts;                    /* 1: the token endpoint (client cert applies) */
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
} exch_response;

p11jwt_rc exch_http_init(exch_http *h);
void exch_http_cleanup(exch_http *h);
void exch_response_clear(exch_response *r);

/* ---- URLs (url.c) ---------------------------------------------------------- */

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

/* Performs one request with the profile's TLS settings and timeouts. On a
 * transport failure returns P11JWT_ERR_HTTP and sets *retryable. */
p11jwt_rc exch_http_perform(exch_http *h, const p11jwt_profile *p, const char *pin,
                            const exch_request *rq, exch_response *rs, int *retryable);

/* ---- dialects ------------------------------------------------------------ */

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

p11jwt_rc exch_dialect_build(const p11jwt_profile *p, CURL *curl, const exch_inputs *in,
                             exch_built *out);
void exch_built_clear(exch_built *b);

/* Parses a 2xx answer into *t; expiry from expires_in, else a JWT-shaped
 * token's exp, else the profile's default lifetime. */
p11jwt_rc exch_dialect_parse(const p11jwt_profile *p, const exch_response *rs, int64_t now,
                             p11jwt_access_token *t);

/* Sets the message for a non-2xx answer from the STS: status, the OAuth
 * error and description, a hint where the provider documents one. Returns
 * P11JWT_ERR_OAUTH. *timing is set when the STS complains about iat/exp,
 * *keyish when about the key or signature (a rotation fallback may help). */
p11jwt_rc exch_oauth_error(const p11jwt_profile *p, const exch_response *rs, int *timing,
                           int *keyish);

/* ---- the client, for rotate.c ------------------------------------------ */

const p11jwt_profile *exch_client_profile(const p11jwt_client *c);
/* The client's token, opened on first use (borrowed). */
p11jwt_rc exch_client_open_token(p11jwt_client *c, p11jwt_token **tok);
/* The keyring changed: drop tokens obtained with the old active kid. */
void exch_client_keyring_changed(p11jwt_client *c);
/* The kid to sign with (the keyring's active one, else the profile's) and
 * the one to fall back to (next, else the newest previous; NULL if none).
 * Caller frees both. */
p11jwt_rc exch_keyring_kids(p11jwt_client *c, char **active, char **fallback, int *is_next);

/* Parses a keyring state (the JSON rotate.c stores in the token, len
 * bytes) and drops it: P11JWT_OK or why it is unusable. For tests and
 * fuzzing; rotate.c reads states through the same parser. */
p11jwt_rc exch_keyring_state_check(const char *json, size_t len);

/* ---- the host-local keyring lock (lock.c) ------------------------------ */

/* The directory lock files live in: $RUNTIME_DIRECTORY (its first entry),
 * else $XDG_RUNTIME_DIR/p11jwt, else /tmp/p11jwt-UID (made 0700), checked
 * to be a directory of this user's that nobody else can write in. */
p11jwt_rc exch_lock_dir(char *out, size_t cap);
/* Takes this host's lock on keyring (of token), waiting at most
 * $P11JWT_LOCK_TIMEOUT seconds (default 30); *fd is released with
 * exch_lock_release. P11JWT_ERR_CONFLICT (naming the file) after the wait. */
p11jwt_rc exch_lock_acquire(const char *token, const char *keyring, int *fd);
void exch_lock_release(int fd);

/* ---- publish_command (publish.c) --------------------------------------- */

/* Runs the profile's publish_command (sh -c) with len bytes of data on its
 * standard input, in an environment without the profile's secrets; an
 * error (never SIGPIPE) when it stops reading, exits non-zero or is
 * killed, saying which, and that the change is stored already. */
p11jwt_rc exch_publish(const p11jwt_profile *p, const char *data, size_t len);

/* ---- audit (audit.c) ---------------------------------------------------- */

/* Writes one audit line (a JSON object, compact) per the profile's audit
 * setting; a failure to write is logged, never fatal. obj is consumed. */
void exch_audit(const p11jwt_profile *p, json_t *obj);
/* The audit record of one signature: time, profile, kid, alg, jti, aud,
 * sha256 of the signing input. */
void exch_audit_signature(const p11jwt_profile *p, const char *kid, const char *jws);
/* An audit record {time, event} to fill and hand to exch_audit. */
json_t *exch_audit_event(const char *event);

#endif
