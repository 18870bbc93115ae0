/*
 * exchange.h — floor 4, the exchange's interface: what rotation (the floor
 * above) uses of it beyond the public API. A profile's settings, the
 * dialect names, the profile's token as the client opened it, and the
 * audit records. The exchange itself (dialects, HTTP, the token cache,
 * attempts and retries) is private: exchange_int.h.
 */
#ifndef P11JWT_EXCHANGE_H
#define P11JWT_EXCHANGE_H

#include <jansson.h>
#include <stdint.h>

#include "base/base.h"
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

/* A profile as profile.c read it: every key of its table, defaults and
 * dialect presets filled in. */
struct p11jwt_profile {
    char *name;
    char *path;
    int line;                   /* of the [profile NAME] header */
    exch_dialect_id dialect;
    char *token;                /* pkcs11: URI */
    char *pin_file, *pin_env;
    char *module_args;          /* C_Initialize pReserved (token, client_key) */
    char *kid;
    p11jwt_alg alg;             /* the alg to sign with; UNKNOWN: the key's own */
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
    char *cert;                 /* x5t's certificate: file or pkcs11: URI; NULL: by kid */
    int x5t, x5t_s256;          /* thumbprints in the assertion's header */

    /* the host agent (docs/agent.md) */
    char *allow;                /* who may ask the agent: "uid:N user:NAME ..." */
    char *pin_credential;       /* systemd credential name; sets pin_file */

    /* the fleet's cache (docs/fleet.md) */
    char *cache;                /* NULL or "memory": this process only */
    char *cache_password_file;
    char *cache_prefix;         /* NULL: "p11jwt:" */
    char *cache_key;            /* the A256GCM key's kid */
    int64_t cache_timeout_ms;
    int64_t cache_lock;         /* seconds */
    int cache_plaintext;

    char *revocation_url;       /* RFC 7009 */
};

/* Parses profile `name` from a config file's len bytes (path names it in
 * messages): p11jwt_profile_load without the file, for tests and fuzzing. */
p11jwt_rc exch_profile_parse(const char *data, size_t len, const char *path, const char *name,
                             p11jwt_profile **out);

/* The dialect's name as the config spells it ("dt", ...). */
const char *exch_dialect_name(exch_dialect_id d);
/* 1 when the dialect sends a signed assertion (all but client credentials). */
int exch_dialect_signs(exch_dialect_id d);

/* The profile's token, opened on first use with the profile's PIN source
 * and module arguments; borrowed, lives as long as the client. The one
 * place a profile's token is opened (exch_token_open). */
p11jwt_rc exch_client_token(p11jwt_client *c, p11jwt_token **tok);

/* ---- audit (audit.c) -------------------------------------------------------- */

/* Writes one audit line (a JSON object, compact) per the profile's audit
 * setting; a failure to write is logged, never fatal. obj is consumed. */
void exch_audit(const p11jwt_profile *p, json_t *obj);
/* The audit record of one signature: time, profile, kid, alg, jti, aud,
 * sha256 of the signing input. */
void exch_audit_signature(const p11jwt_profile *p, const char *kid, const char *jws);
/* An audit record {time, event} to fill and hand to exch_audit. */
json_t *exch_audit_event(const char *event);

#endif
