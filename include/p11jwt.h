/*
 * p11jwt.h — sign OAuth 2.0 JWT assertions (RFC 7523) with keys that never
 * leave a PKCS#11 token.
 *
 * Every function that can fail returns a p11jwt_rc (P11JWT_OK == 0). The
 * human-readable detail of the last failure (the CK_RV, the file that could
 * not be read, the claim that did not match) is kept per thread and read with
 * p11jwt_errmsg(): handles are shared across threads (a token serves all of
 * them from one session pool), so a per-handle buffer would race.
 *
 * Ownership: functions named *_new / *_open return objects the caller frees
 * with the matching *_free (NULL is a no-op). Strings returned through
 * `char **` are the caller's and are released with p11jwt_free(). Setters and
 * parameters copy what they keep.
 */
#ifndef P11JWT_H
#define P11JWT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(P11JWT_BUILDING) && defined(__GNUC__)
#define P11JWT_API __attribute__((visibility("default")))
#else
#define P11JWT_API
#endif

#define P11JWT_VERSION "0.1.0"

/* Error codes. New codes are appended; existing values never change. */
typedef enum p11jwt_rc {
    P11JWT_OK = 0,
    P11JWT_ERR_ARG,            /* invalid argument or parameter value */
    P11JWT_ERR_NOMEM,          /* out of memory */
    P11JWT_ERR_URI,            /* malformed or unusable pkcs11: URI */
    P11JWT_ERR_MODULE,         /* the PKCS#11 module could not be loaded */
    P11JWT_ERR_TOKEN_NOT_FOUND,/* no token matches the URI */
    P11JWT_ERR_PIN,            /* PIN missing, unreadable or incorrect */
    P11JWT_ERR_PIN_LOCKED,     /* PIN locked or on its final try: login refused */
    P11JWT_ERR_KEY_NOT_FOUND,  /* no key with that kid */
    P11JWT_ERR_KEY_EXISTS,     /* a key with that kid already exists */
    P11JWT_ERR_ALG,            /* unsupported alg, or alg does not match the key */
    P11JWT_ERR_PKCS11,         /* any other PKCS#11 failure (see p11jwt_errmsg) */
    P11JWT_ERR_IO,             /* a file or stream could not be read or written */
    P11JWT_ERR_JSON,           /* JSON malformed or of the wrong shape */
    P11JWT_ERR_CRYPTO,         /* a host-side crypto operation failed */
    P11JWT_ERR_JWS_MALFORMED,  /* not a compact JWS we can parse */
    P11JWT_ERR_SIGNATURE,      /* signature does not verify */
    P11JWT_ERR_CLAIMS,         /* exp/nbf/iat/aud/iss check failed */
    P11JWT_ERR_SECRET,         /* secret empty, too short or unreadable */
    P11JWT_ERR_CONFIG,         /* config file unreadable, or a bad line or key */
    P11JWT_ERR_HTTP,           /* network, TLS, timeout, or an unusable answer */
    P11JWT_ERR_OAUTH,          /* the STS refused: OAuth error (see errmsg) */
    P11JWT_ERR_CONFLICT,       /* someone else changed the same state first */
} p11jwt_rc;

P11JWT_API const char *p11jwt_strerror(p11jwt_rc rc);

/* Detail of the last failure on this thread ("" when none). Borrowed: valid
 * until the next p11jwt call on this thread. */
P11JWT_API const char *p11jwt_errmsg(void);

/* Frees a string or buffer the library returned. */
P11JWT_API void p11jwt_free(void *p);

/* Reads a secret (PIN, HMAC secret, client secret) from a file, or from
 * standard input when path is "-": its bytes as given, less one trailing
 * newline ("\n"). At most max bytes. *out is NUL-terminated (the NUL not
 * counted in *out_len) and the caller's; release it with
 * p11jwt_secret_free, which wipes it. */
P11JWT_API p11jwt_rc p11jwt_secret_read_file(const char *path, size_t max,
                                             unsigned char **out, size_t *out_len);
P11JWT_API void p11jwt_secret_free(unsigned char *secret, size_t len);

/* ---- algorithms ------------------------------------------------------- */

typedef enum p11jwt_alg {
    P11JWT_ALG_UNKNOWN = 0,
    P11JWT_ES256,
    P11JWT_ES384,
    P11JWT_ES512,
    P11JWT_HS256,
    P11JWT_HS384,
    P11JWT_HS512,
    P11JWT_RS256 = 7,
    P11JWT_RS384 = 8,
    P11JWT_RS512 = 9,
    P11JWT_PS256 = 10,
    P11JWT_PS384 = 11,
    P11JWT_PS512 = 12,
} p11jwt_alg;

/* "ES256"... or NULL for P11JWT_ALG_UNKNOWN. */
P11JWT_API const char *p11jwt_alg_name(p11jwt_alg alg);
/* Exact, case-sensitive match of a JWS alg name; P11JWT_ALG_UNKNOWN if none
 * ("none" included). */
P11JWT_API p11jwt_alg p11jwt_alg_from_name(const char *name);
P11JWT_API int p11jwt_alg_is_ec(p11jwt_alg alg);
/* RS256/384/512 and PS256/384/512 (RSA keys). */
P11JWT_API int p11jwt_alg_is_rsa(p11jwt_alg alg);
/* Signs with a private key and verifies with a public one, which a JWKS
 * shows (ES, RS, PS); 0 for HS and unknown algs. */
P11JWT_API int p11jwt_alg_is_asymmetric(p11jwt_alg alg);
/* Length in bytes of a signature for alg: 64/96/132 for ES, 32/48/64 for HS,
 * 0 for RS and PS, whose signature is as long as the key's modulus (see
 * p11jwt_key_sig_len). */
P11JWT_API size_t p11jwt_alg_sig_len(p11jwt_alg alg);
/* The longest signature p11jwt makes or checks: an 8192-bit RSA key's. */
#define P11JWT_SIG_MAX 1024

/* ---- token ------------------------------------------------------------ */

typedef struct p11jwt_token p11jwt_token;

/* A new, unopened token handle carrying options. NULL on out of memory. */
P11JWT_API p11jwt_token *p11jwt_token_new(void);
/* Logs out of nothing (the login is the process's), closes the pool's
 * sessions, finalizes the module if this handle initialized it. */
P11JWT_API void p11jwt_token_free(p11jwt_token *tok);

/* PIN sources, tried in this order: --pin-file, --pin-env, the URI's
 * pin-source=, a prompt on the controlling terminal (only if allowed). A
 * URI with pin-value= is refused (P11JWT_ERR_URI): a PIN never comes from a
 * URI. A PIN file loses one trailing newline. The PIN is read
 * when a login is needed and wiped right after C_Login; a prompted PIN is
 * kept in locked memory for re-login and wiped on free. */
P11JWT_API p11jwt_rc p11jwt_token_set_pin_file(p11jwt_token *tok, const char *path);
P11JWT_API p11jwt_rc p11jwt_token_set_pin_env(p11jwt_token *tok, const char *name);
P11JWT_API void p11jwt_token_set_pin_prompt(p11jwt_token *tok, int allowed);
/* Module used when the URI names none (default: $P11JWT_MODULE, else
 * SoftHSM's module as Debian installs it). */
P11JWT_API p11jwt_rc p11jwt_token_set_default_module(p11jwt_token *tok, const char *path);
/* Arguments for the module's C_Initialize (CK_C_INITIALIZE_ARGS.pReserved),
 * e.g. NSS softokn's "configdir='sql:DIR' certPrefix='' keyPrefix=''
 * secmod='secmod.db' flags=optimizeSpace". Not set (NULL): $P11JWT_MODULE_ARGS,
 * else, for a module-name= URI, the x-init-reserved option of that module's
 * p11-kit config, else none; "" means none. Set before p11jwt_token_open. A
 * module is initialised once per process: opening a token on a module this
 * process already initialised with other arguments fails. */
P11JWT_API p11jwt_rc p11jwt_token_set_module_args(p11jwt_token *tok, const char *args);

/* Parses the RFC 7512 URI, loads its module, finds the one token that
 * matches. No login yet: the first operation that needs one logs in. */
P11JWT_API p11jwt_rc p11jwt_token_open(p11jwt_token *tok, const char *uri);

/* Logs in now (no-op when the process is already logged in). */
P11JWT_API p11jwt_rc p11jwt_token_login(p11jwt_token *tok);

/* The URI's object= / id= as a kid, when it names one; else NULL. Borrowed. */
P11JWT_API const char *p11jwt_token_uri_kid(const p11jwt_token *tok);

/* ---- keys ------------------------------------------------------------- */

/* Generates a key in the token: an EC pair for ES*, a generic secret of the
 * hash's length for HS*. kid NULL: the RFC 7638 thumbprint (EC) or 16 random
 * bytes in base64url (HS). label NULL: the kid. Returns the kid in *kid_out
 * (caller frees). Refuses a kid that exists. */
P11JWT_API p11jwt_rc p11jwt_key_generate(p11jwt_token *tok, p11jwt_alg alg,
                                         const char *kid, const char *label,
                                         char **kid_out);

/* Generates an RSA pair for RS256/384/512 or PS256/384/512 of bits 2048,
 * 3072 or 4096 (0: 3072; others refused with P11JWT_ERR_ARG). The private
 * key is pinned to alg by CKA_ALLOWED_MECHANISMS where the token takes it;
 * else it pins none and signs as an alg its caller names. kid NULL: the RFC
 * 7638 thumbprint. p11jwt_key_generate makes RS and PS keys of 3072 bits. */
P11JWT_API p11jwt_rc p11jwt_key_generate_rsa(p11jwt_token *tok, p11jwt_alg alg,
                                             unsigned bits, const char *kid,
                                             const char *label, char **kid_out);

/* Imports a provider-issued HMAC secret (its bytes as given) as a
 * non-extractable, sensitive secret key pinned to alg. */
P11JWT_API p11jwt_rc p11jwt_key_import_secret(p11jwt_token *tok, p11jwt_alg alg,
                                              const char *kid, const char *label,
                                              const unsigned char *secret,
                                              size_t secret_len);

/* Generates an AES-256 key for AES-GCM under kid (required) and label
 * (NULL: the kid): sensitive, non-extractable, encrypt and decrypt only.
 * What a profile's cache_key names (docs/fleet.md). Refuses a kid that
 * exists. */
P11JWT_API p11jwt_rc p11jwt_key_generate_aes(p11jwt_token *tok, const char *kid,
                                             const char *label);
/* Imports a provider-issued private key from key_path ("-" or NULL:
 * standard input), PEM or DER: PKCS#8, encrypted PKCS#8 (passphrase in
 * pass_path, one trailing newline stripped), SEC1 EC, PKCS#1 RSA; EC on
 * P-256, P-384 or P-521, RSA of 2048 to 8192 bits. Makes the private object (sensitive, non-extractable, sign
 * only) and the public one (for jwks), checked by a signature verified on
 * the host. kid NULL: the RFC 7638 thumbprint; label NULL: the kid. The
 * file's bytes and the key's parts are wiped; OpenSSL never prompts. A
 * refused file or key leaves nothing in the token. Returns the kid in
 * *kid_out (caller frees). */
P11JWT_API p11jwt_rc p11jwt_key_import_file(p11jwt_token *tok, const char *key_path,
                                            const char *pass_path, const char *kid,
                                            const char *label, char **kid_out);
/* p11jwt_key_import_file for use as alg: an RSA key is pinned to alg (RS*
 * or PS*) by CKA_ALLOWED_MECHANISMS where the token takes it; an EC key's
 * curve must be alg's. alg P11JWT_ALG_UNKNOWN: an RSA key pins none (it
 * signs as an alg its caller names). */
P11JWT_API p11jwt_rc p11jwt_key_import_file_as(p11jwt_token *tok, p11jwt_alg alg,
                                               const char *key_path, const char *pass_path,
                                               const char *kid, const char *label,
                                               char **kid_out);

/* Destroys every object (private, public, secret, certificate) with that
 * kid, and the certificates with the private key's CKA_ID. Refused (P11JWT_ERR_ARG, the message naming the keyring, its
 * version and what to run instead) when a keyring in the token names the kid as its active or
 * next key; a previous key is destroyed with a warning through the logger. */
P11JWT_API p11jwt_rc p11jwt_key_delete(p11jwt_token *tok, const char *kid);

typedef enum p11jwt_key_class {
    P11JWT_CLASS_PRIVATE = 1, /* an EC pair, shown by its private half */
    P11JWT_CLASS_PUBLIC,      /* a public key with no private half here */
    P11JWT_CLASS_SECRET,
} p11jwt_key_class;

P11JWT_API const char *p11jwt_key_class_name(p11jwt_key_class c);

/* How a key pins the alg it signs with. A key that pins none (a generic
 * secret made by another tool) signs only as an alg its caller names. */
typedef enum p11jwt_pinned {
    P11JWT_PINNED_NONE = 0,       /* nothing in the key: the caller names the alg */
    P11JWT_PINNED_KEY_TYPE,       /* its key type: an EC curve, CKK_SHA*_HMAC */
    P11JWT_PINNED_MECHANISMS,     /* CKA_ALLOWED_MECHANISMS: one alg's mechanism */
} p11jwt_pinned;

/* "none", "key-type" or "mechanisms". */
P11JWT_API const char *p11jwt_pinned_name(p11jwt_pinned p);

typedef struct p11jwt_key_info {
    char *kid;
    char *label;
    p11jwt_alg alg;           /* P11JWT_ALG_UNKNOWN when the key pins none */
    p11jwt_key_class klass;
    int sensitive;
    int extractable;
    p11jwt_pinned pinned;     /* how alg is pinned (NONE: alg is UNKNOWN) */
} p11jwt_key_info;

/* Lists the token's keys, one entry per key (an EC pair is one key). */
P11JWT_API p11jwt_rc p11jwt_key_list(p11jwt_token *tok, p11jwt_key_info **out,
                                     size_t *count);
P11JWT_API void p11jwt_key_info_free(p11jwt_key_info *list, size_t count);

/* A handle on one key in the token, found by kid once and cached. Borrows
 * tok, which must outlive it. Thread-safe: many threads may sign at once. */
typedef struct p11jwt_key p11jwt_key;

P11JWT_API p11jwt_rc p11jwt_key_open(p11jwt_token *tok, const char *kid,
                                     p11jwt_key **out);
/* p11jwt_key_open for use as alg: a key that pins an alg must pin this one
 * (else P11JWT_ERR_ALG naming both); a key that pins none (see
 * p11jwt_pinned) signs as alg when it can (a generic secret: an HS alg its
 * CKA_ALLOWED_MECHANISMS, if any, allows). alg P11JWT_ALG_UNKNOWN is
 * p11jwt_key_open, which refuses a key that pins no alg. */
P11JWT_API p11jwt_rc p11jwt_key_open_as(p11jwt_token *tok, const char *kid,
                                        p11jwt_alg alg, p11jwt_key **out);
P11JWT_API void p11jwt_key_free(p11jwt_key *key);
P11JWT_API p11jwt_alg p11jwt_key_alg(const p11jwt_key *key);
P11JWT_API const char *p11jwt_key_kid(const p11jwt_key *key);
/* The length of the key's signatures: p11jwt_alg_sig_len of its alg, or
 * for RS and PS its modulus length in bytes. */
P11JWT_API size_t p11jwt_key_sig_len(const p11jwt_key *key);

/* Requires the key to be usable as alg: refuses with P11JWT_ERR_ALG and a
 * message naming both when it is not (e.g. ES384 asked of a P-521 key). */
P11JWT_API p11jwt_rc p11jwt_key_check_alg(const p11jwt_key *key, p11jwt_alg alg);

/* Signs data as the key's alg in JWS form: ES* hashes on the host then
 * CKM_ECDSA (raw r||s), HS* runs CKM_SHA*_HMAC in the token, RS* and PS*
 * CKM_SHA*_RSA_PKCS(_PSS) (else the host's hash and CKM_RSA_PKCS(_PSS)).
 * *sig_len is in: capacity (P11JWT_SIG_MAX always suffices), out: length. */
P11JWT_API p11jwt_rc p11jwt_key_sign(p11jwt_key *key, const unsigned char *data,
                                     size_t len, unsigned char *sig,
                                     size_t *sig_len);

/* The public key as a JWK, compact JSON: EC (kty, crv, x, y, kid, alg, use)
 * or RSA (kty, n, e, kid, alg when the key pins one, use). */
P11JWT_API p11jwt_rc p11jwt_key_jwk(p11jwt_key *key, char **json_out);

/* A JWKS of the token's EC and RSA public keys: all of them when nkids is
 * 0, else those kids (each must exist and have a public key). Secret keys
 * never appear. */
P11JWT_API p11jwt_rc p11jwt_jwks_export(p11jwt_token *tok, const char *const *kids,
                                        size_t nkids, char **json_out);

/* ---- certificates: x5t and x5t#S256 in the JWS header ---------------- */

/* Which thumbprints of the key's X.509 certificate the header carries
 * (RFC 7515 §4.1.7, §4.1.8): STSs that register a certificate rather than
 * a JWK (Entra ID, ADFS) find the key by them. */
#define P11JWT_X5T      0x1u  /* "x5t": base64url of the SHA-1 of the DER */
#define P11JWT_X5T_S256 0x2u  /* "x5t#S256": base64url of its SHA-256 */

/* Puts the thumbprints `which` names (P11JWT_X5T | P11JWT_X5T_S256) of
 * the key's certificate in its JWS header, encoded here once: every later
 * p11jwt_assertion_sign with key carries them (which 0: none again).
 * cert is a PEM or DER file (a PEM file's first certificate), a pkcs11:
 * URI of a certificate object in the key's token (id= and/or object=), or
 * NULL: the certificate object with the key's kid (CKA_ID, else
 * CKA_LABEL). The certificate must hold the key's public key, checked by
 * a signature of the key verified with it: a mismatch is refused
 * (P11JWT_ERR_ARG), as is a secret (HS) key, an unreadable or malformed
 * certificate (P11JWT_ERR_IO, P11JWT_ERR_ARG) and none found
 * (P11JWT_ERR_KEY_NOT_FOUND). Call it before the key is shared between
 * threads: it changes the header they sign with. */
P11JWT_API p11jwt_rc p11jwt_key_x5t(p11jwt_key *key, const char *cert, unsigned which);

/* Stores the certificate in cert_path (PEM or DER) in the token next to
 * key kid: a public CKO_CERTIFICATE object (CKC_X_509, CKA_VALUE,
 * CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER) with CKA_ID = kid and
 * CKA_LABEL = label (NULL: the kid), where p11jwt_key_x5t with cert NULL
 * finds it. Refused, with nothing stored: a certificate that does not hold
 * the key's public key (P11JWT_ERR_ARG), no key kid
 * (P11JWT_ERR_KEY_NOT_FOUND), a certificate already stored for kid
 * (P11JWT_ERR_KEY_EXISTS). p11jwt_key_delete destroys it with the key. */
P11JWT_API p11jwt_rc p11jwt_cert_import(p11jwt_token *tok, const char *kid,
                                        const char *cert_path, const char *label);

/* ---- keyring state in the token ------------------------------------- */

/* The current state of keyring `name` as its writer stored it (JSON, see
 * docs/rotation.md), and its version; *json_out NULL and version 0 when the
 * token holds none. Caller frees *json_out. */
P11JWT_API p11jwt_rc p11jwt_keyring_read(p11jwt_token *tok, const char *name,
                                         char **json_out, uint64_t *version);

/* Stores a new state made from version base_version. P11JWT_ERR_CONFLICT
 * when another writer stored a state from the same (or a later) version
 * first: nothing was changed; read again and decide again. */
P11JWT_API p11jwt_rc p11jwt_keyring_write(p11jwt_token *tok, const char *name,
                                          uint64_t base_version, const char *json);

/* ---- assertions ------------------------------------------------------- */

/* The longest duration p11jwt takes anywhere (a ttl, a leeway, a config
 * duration): 10 years of 365 days, in seconds. Longer ones are refused
 * (P11JWT_ERR_ARG, or P11JWT_ERR_CONFIG for a config file), so that no time
 * arithmetic can overflow. */
#define P11JWT_MAX_DURATION ((int64_t)10 * 365 * 86400)
/* Reads a duration as a config file and the CLI write it: whole seconds
 * ("300"), or a number with one unit s, m, h or d ("90s", "15m", "12h",
 * "90d"); at most max (and P11JWT_MAX_DURATION) seconds. P11JWT_ERR_ARG
 * when it is none of these. */
P11JWT_API p11jwt_rc p11jwt_duration_parse(const char *text, int64_t max, int64_t *seconds);
/* The latest time p11jwt takes as a `now`: the end of year 9999 (UTC). */
#define P11JWT_MAX_TIME ((int64_t)253402300799)

typedef struct p11jwt_claims_params {
    const char *iss;          /* required */
    const char *aud;          /* NULL: left out (RFC 7523 wants one; some
                                 STSs, e.g. noa's, expect none) */
    const char *sub;          /* optional */
    int64_t ttl;              /* seconds, 1 to P11JWT_MAX_DURATION */
    int64_t now;              /* 0: the current time; else 1 to
                                 P11JWT_MAX_TIME (iat) */
    int no_jti;               /* 1: leave out jti */
    const char *extra_json;   /* NULL, or a JSON object of extra claims, added
                                 after the standard ones; may not redefine
                                 iss/aud/sub/iat/exp/jti */
} p11jwt_claims_params;

/* One compact JWS: header {alg, kid, typ:"JWT"}, claims iss, aud (if set), sub (if set), iat,
 * exp, jti, then the extras. Caller frees *jws_out. */
P11JWT_API p11jwt_rc p11jwt_assertion_sign(p11jwt_key *key,
                                           const p11jwt_claims_params *params,
                                           char **jws_out);

/* Many assertions with the same parameters, each with extra claims of its
 * own (what `p11jwt sign --batch` signs): params->extra_json, the claims
 * every assertion carries, is checked and written once; an assertion's own
 * extras replace those of the same name and add the others after them. The
 * buffers are kept between signatures: a loop allocates nothing per
 * assertion. A handle is for one thread at a time (a key serves many). */
typedef struct p11jwt_assertion_batch p11jwt_assertion_batch;

/* A new batch signer. key and params' strings are borrowed: they must
 * outlive it. Checks params (as p11jwt_assertion_sign does) and
 * params->extra_json (P11JWT_ERR_JSON, P11JWT_ERR_ARG). */
P11JWT_API p11jwt_rc p11jwt_assertion_batch_new(p11jwt_key *key,
                                                const p11jwt_claims_params *params,
                                                p11jwt_assertion_batch **out);

/* Signs one assertion whose own extra claims are extra_json (len bytes, one
 * JSON object; NULL for none) into *jws, a buffer of *cap bytes the caller
 * keeps between calls (start with NULL and 0): when too small it is
 * replaced by a larger one (the old one wiped and freed). The JWS is
 * NUL-terminated, *jws_len bytes. Free the buffer with
 * p11jwt_secret_free(*jws, *cap). */
P11JWT_API p11jwt_rc p11jwt_assertion_batch_sign(p11jwt_assertion_batch *b,
                                                 const char *extra_json, size_t len,
                                                 char **jws, size_t *cap, size_t *jws_len);
P11JWT_API void p11jwt_assertion_batch_free(p11jwt_assertion_batch *b);

/* ---- verification ----------------------------------------------------- */

typedef struct p11jwt_verify_params {
    const char *aud;          /* NULL: not checked */
    const char *iss;          /* NULL: not checked */
    int64_t leeway;           /* seconds allowed on exp/nbf/iat, 0 to
                                 P11JWT_MAX_DURATION */
    int64_t now;              /* 0: the current time; else 1 to
                                 P11JWT_MAX_TIME */
} p11jwt_verify_params;

/* Each verifies one compact JWS and, when valid, returns its header and
 * payload as compact JSON (caller frees; either out may be NULL). alg "none"
 * and an alg the key does not pin are refused. */
P11JWT_API p11jwt_rc p11jwt_verify_jwks(const char *jws, const char *jwks_json,
                                        const p11jwt_verify_params *params,
                                        char **header_out, char **payload_out);
P11JWT_API p11jwt_rc p11jwt_verify_key(const char *jws, p11jwt_key *key,
                                       const p11jwt_verify_params *params,
                                       char **header_out, char **payload_out);
P11JWT_API p11jwt_rc p11jwt_verify_secret(const char *jws, p11jwt_alg alg,
                                          const unsigned char *secret,
                                          size_t secret_len,
                                          const p11jwt_verify_params *params,
                                          char **header_out, char **payload_out);


/* ---- logging ---------------------------------------------------------- */

enum { P11JWT_LOG_WARNING = 4, P11JWT_LOG_NOTICE = 5, P11JWT_LOG_INFO = 6 };
typedef void (*p11jwt_log_fn)(int level, const char *msg, void *userdata);

/* Where the library's notices go (key fallback during rotation, audit
 * write failures): fn, or one "p11jwt: ..." line on stderr when fn is
 * NULL (the default). Messages never hold a PIN, secret or token. */
P11JWT_API void p11jwt_set_logger(p11jwt_log_fn fn, void *userdata);

/* ---- exchange: profiles, access tokens, the client ------------------- */

/* A profile: one [profile NAME] section of a config file (see
 * docs/exchange.md for every key). */
typedef struct p11jwt_profile p11jwt_profile;

/* Loads profile `name` from the config file at path; path NULL searches
 * $P11JWT_CONFIG, ~/.config/p11jwt/config, /etc/p11jwt/config. Errors name
 * the file, line and key (P11JWT_ERR_CONFIG). Caller frees *out. */
P11JWT_API p11jwt_rc p11jwt_profile_load(const char *path, const char *name,
                                         p11jwt_profile **out);
P11JWT_API void p11jwt_profile_free(p11jwt_profile *p);
/* The profile's name and the file it came from (borrowed). */
P11JWT_API const char *p11jwt_profile_name(const p11jwt_profile *p);
P11JWT_API const char *p11jwt_profile_path(const p11jwt_profile *p);

/* An access token as the STS issued it. All strings are owned by the
 * struct; release them with p11jwt_access_token_clear. */
typedef struct p11jwt_access_token {
    char *value;          /* the token itself: never log it */
    char *type;           /* "Bearer", "JWT", ... */
    char *scope;          /* NULL when the STS named none */
    int64_t expires_at;   /* Unix time */
} p11jwt_access_token;

P11JWT_API void p11jwt_access_token_clear(p11jwt_access_token *t);

/* A client: a profile bound to its token, key, HTTP connection and token
 * cache. Thread-safe: any number of threads may ask it for tokens; one
 * exchange is in flight at a time. Takes ownership of profile. A refresh
 * ahead of expiry runs in a thread of the client's own, started when the
 * first refresh is due; p11jwt_client_free stops it (cutting its exchange
 * short), and a forked child starts its own. */
typedef struct p11jwt_client p11jwt_client;

P11JWT_API p11jwt_rc p11jwt_client_new(p11jwt_profile *profile, p11jwt_client **out);
P11JWT_API void p11jwt_client_free(p11jwt_client *c);

/* A valid access token: the cached one while it has not expired (once it
 * is due for refresh, the client's refresher refreshes it; the caller does
 * not wait), else a fresh exchange (retried per the profile), which the
 * caller waits for. *out is a copy the caller clears. */
P11JWT_API p11jwt_rc p11jwt_client_token(p11jwt_client *c, p11jwt_access_token *out);

/* The same without a copy: *out is this thread's own copy of the token,
 * borrowed; it stays valid until this thread's next peek or token call on
 * any client, or the client's free. The hit path takes no lock and
 * allocates nothing: for callers that ask per request. */
P11JWT_API p11jwt_rc p11jwt_client_token_peek(p11jwt_client *c,
                                              const p11jwt_access_token **out);

/* Drops the cached token — of any scope set — if its value equals `value`
 * (or every cached token when value is NULL): what a caller does after a 401 from a resource, so
 * that two threads seeing the same 401 cause one re-exchange, not two. */
P11JWT_API void p11jwt_client_invalidate(p11jwt_client *c, const char *value);

/* Revokes a token at the profile's revocation_url (RFC 7009; value NULL:
 * the token the client holds, else its fleet's), authenticated as the
 * dialect authenticates at the token endpoint, then drops it from every
 * cache level (memory, the fleet's Redis). 200 is success, for unknown
 * tokens too; other answers are errors with the provider's text, retried
 * as token requests are. */
P11JWT_API p11jwt_rc p11jwt_client_revoke(p11jwt_client *c, const char *value);

/* A fresh assertion for the profile, signed offline; nothing is sent.
 * Reads the keyring state in the token first (one object search) to sign
 * with its active kid: for bulk signing, use p11jwt_key_open once and
 * p11jwt_assertion_sign. Caller frees *jws. */
P11JWT_API p11jwt_rc p11jwt_client_assertion(p11jwt_client *c, char **jws);

/* The Authorization header value for a resource call with token t, per
 * the profile ("Bearer X" or "JWT X"). Caller frees *out. */
P11JWT_API p11jwt_rc p11jwt_client_auth_value(p11jwt_client *c,
                                              const p11jwt_access_token *t,
                                              char **out);

/* A response from a resource call. Owned strings; clear with
 * p11jwt_response_clear. */
typedef struct p11jwt_response {
    long status;          /* HTTP status */
    char *body;           /* NUL-terminated (body_len excludes the NUL) */
    size_t body_len;
} p11jwt_response;

P11JWT_API void p11jwt_response_clear(p11jwt_response *r);

/* Calls a protected resource with the profile's Authorization and header.*
 * headers plus `headers` ("Name: value" each); on 401 invalidates the token,
 * exchanges once more and retries once. method NULL: GET (POST when body is
 * given). A non-2xx answer is still P11JWT_OK with out->status set; only
 * failures to get an answer are errors. After a 401 or 403 whose
 * WWW-Authenticate Bearer challenge names an error (RFC 6750 §3.1),
 * p11jwt_errmsg() says it: for insufficient_scope (403, not retried), the
 * scope the resource wants; otherwise it is empty. */
P11JWT_API p11jwt_rc p11jwt_client_call(p11jwt_client *c, const char *method,
                                        const char *url, const char *const *headers,
                                        size_t nheaders, const char *body,
                                        size_t body_len, p11jwt_response *out);

/* ---- scopes (RFC 6749 §3.3) ------------------------------------------- */

/* The same as p11jwt_client_token, _token_peek / _token_min_valid (borrowed
 * *out; min_valid 0: a peek) and p11jwt_client_call, for the scope `scope`
 * instead of the profile's `scope` key (NULL: the profile's). scope is
 * scope tokens separated by spaces, each of printable ASCII other than '"'
 * and '\' (%x21 / %x23-5B / %x5D-7E), at most 1024 bytes: anything else is
 * P11JWT_ERR_ARG naming the byte. Tokens are cached per scope set — the
 * tokens sorted, each once — so "b a" and "a b a" share one token, and the
 * profile's own set shares the profile's; every cache level (memory, the
 * agent, the fleet's Redis) keeps them apart. A client keeps at most 32
 * sets besides its profile's (P11JWT_ERR_ARG beyond). Refusals by the STS
 * (invalid_scope) are P11JWT_ERR_OAUTH with the STS's description. */
P11JWT_API p11jwt_rc p11jwt_client_token_scoped(p11jwt_client *c, const char *scope,
                                                p11jwt_access_token *out);
P11JWT_API p11jwt_rc p11jwt_client_token_scoped_peek(p11jwt_client *c, const char *scope,
                                                     int64_t min_valid,
                                                     const p11jwt_access_token **out);
P11JWT_API p11jwt_rc p11jwt_client_call_scoped(p11jwt_client *c, const char *scope,
                                               const char *method, const char *url,
                                               const char *const *headers, size_t nheaders,
                                               const char *body, size_t body_len,
                                               p11jwt_response *out);

/* ---- key rotation (docs/rotation.md) -------------------------------- */

/* The profile's keyring: {keyring, version, active, next, previous} as
 * indented JSON, each key {kid, alg, since}. Caller frees. */
P11JWT_API p11jwt_rc p11jwt_rotate_status(p11jwt_client *c, char **json_out);
/* Makes the next key: generated in the token like the active one (EC), or
 * the provider's new secret imported under kid (HS*). Returns the JWKS of
 * active + next (EC keys) to register at the STS. */
P11JWT_API p11jwt_rc p11jwt_rotate_stage(p11jwt_client *c, const unsigned char *secret,
                                         size_t secret_len, const char *kid,
                                         char **jwks_out);
/* next -> active -> previous. *report says what was done. */
P11JWT_API p11jwt_rc p11jwt_rotate_promote(p11jwt_client *c, char **report);
/* Destroys previous keys older than the profile's grace (kid NULL) or the
 * previous key kid. Refuses the active and the next key. */
P11JWT_API p11jwt_rc p11jwt_rotate_retire(p11jwt_client *c, const char *kid, char **report);
/* Drops the keyring's stored state (every version); the keys stay in the
 * token and the profile's kid signs again. *report names the keys the
 * state held. */
P11JWT_API p11jwt_rc p11jwt_rotate_forget(p11jwt_client *c, char **report);
/* One idempotent policy step (stage, promote, retire when due). */
P11JWT_API p11jwt_rc p11jwt_rotate_auto(p11jwt_client *c, char **report);
/* JWKS of every non-retired EC key of the keyring. */
P11JWT_API p11jwt_rc p11jwt_rotate_jwks(p11jwt_client *c, char **jwks_out);

/* Counters for tests and monitoring. */
typedef struct p11jwt_client_stats {
    uint64_t exchanges;   /* token requests sent to the STS (incl. retries) */
} p11jwt_client_stats;
P11JWT_API void p11jwt_client_get_stats(p11jwt_client *c, p11jwt_client_stats *out);

/* ---- showing untrusted text ----------------------------------------- */

enum { P11JWT_ESCAPE_MESSAGE = 1 };

/* Writes len bytes of src (a kid, a label, a provider's text...) into dst
 * as one line of printable text, NUL-terminated, at most cap bytes: control
 * characters as \n, \r, \t or \xNN, bytes that are not UTF-8 as \xNN,
 * invisible direction and line controls (C1, U+2028.., bidi) as \uNNNN,
 * and a backslash as \\ (kept as is with P11JWT_ESCAPE_MESSAGE, for a
 * whole message whose values were escaped already). Text that does not
 * fit ends in "...". Returns the length written. Every message of the
 * library has its values escaped so. */
P11JWT_API size_t p11jwt_escape(char *dst, size_t cap, const char *src, size_t len,
                                unsigned flags);

/* ---- for a host agent (docs/agent.md) ------------------------------- */

/* The names of every [profile NAME] section of a config file, in file
 * order, after checking the whole file's syntax (not each profile's keys:
 * p11jwt_profile_load does that). path NULL searches like
 * p11jwt_profile_load; *path_out (may be NULL) receives the file used.
 * Caller frees *path_out with p11jwt_free and the names with
 * p11jwt_config_profiles_free. */
P11JWT_API p11jwt_rc p11jwt_config_profiles(const char *path, char **path_out,
                                            char ***names, size_t *count);
P11JWT_API void p11jwt_config_profiles_free(char **names, size_t count);

/* 1 when two loaded profiles have the same name and every setting the
 * same (defaults included; where in the file they are does not count),
 * else 0. What a reload uses to keep an unchanged profile's client. */
P11JWT_API int p11jwt_profile_same(const p11jwt_profile *a, const p11jwt_profile *b);

/* The profile's `allow` value as written (who may ask an agent for its
 * tokens; docs/agent.md), or NULL when it sets none. Borrowed. */
P11JWT_API const char *p11jwt_profile_allow(const p11jwt_profile *p);

/* The profile's i-th header.NAME entry (dialect defaults included): 1 and
 * *name, *value set (borrowed, live as long as the profile), or 0 when i
 * is past the last one. */
P11JWT_API int p11jwt_profile_header(const p11jwt_profile *p, size_t i, const char **name,
                                     const char **value);

/* The profile the client was made from (borrowed; lives as long as c). */
P11JWT_API const p11jwt_profile *p11jwt_client_profile(const p11jwt_client *c);

/* Does now what the first exchange would do lazily: opens the profile's
 * token, logs in and finds the signing key (the keyring's active kid);
 * for dialects that send a client secret, reads the secret once. A wrong
 * PIN fails here (P11JWT_ERR_PIN), once: it is not retried. */
P11JWT_API p11jwt_rc p11jwt_client_prepare(p11jwt_client *c);

typedef enum p11jwt_token_state {
    P11JWT_STATE_NONE = 0,    /* no token, and no exchange has failed */
    P11JWT_STATE_VALID,       /* a token that has not expired */
    P11JWT_STATE_REFRESHING,  /* an exchange is in flight */
    P11JWT_STATE_ERROR,       /* no valid token; the last exchange failed */
} p11jwt_token_state;

/* A client's state for health checks and metrics. Never holds a token. */
typedef struct p11jwt_client_status {
    p11jwt_token_state state;
    int64_t expires_at;       /* of the cached token; 0 when none is valid */
    uint64_t exchanges;       /* token requests sent to the STS (incl. retries) */
    uint64_t failures;        /* exchanges (with their retries) that failed */
    char last_error[512];     /* the last exchange's error if it failed, else "" */
    uint64_t fleet_hits;      /* tokens taken from the fleet's Redis (docs/fleet.md) */
    uint64_t fleet_errors;    /* Redis failures and refused values (docs/fleet.md) */
} p11jwt_client_status;

/* Fills *out (a snapshot under the client's lock). Thread-safe. */
P11JWT_API void p11jwt_client_get_status(p11jwt_client *c, p11jwt_client_status *out);

/* Like p11jwt_client_token_peek, for a token valid at least min_valid more
 * seconds: when the cached one expires sooner, a refresh is made first
 * (one in flight however many callers ask). If that refresh fails, its
 * error is returned (the old token is kept for other callers); if the STS
 * issues tokens shorter-lived than min_valid, the fresh one is returned
 * all the same (check expires_at). *out is borrowed as for peek. */
P11JWT_API p11jwt_rc p11jwt_client_token_min_valid(p11jwt_client *c, int64_t min_valid,
                                                   const p11jwt_access_token **out);

/* One HTTP request with exactly these headers ("Name: value" each, e.g. an
 * Authorization an agent handed out), under the library's rules: https
 * (the system's CAs), or http to loopback only; no redirects; answers up
 * to 1 MiB; 10 s to connect, 30 s in all. A non-2xx answer is P11JWT_OK
 * with out->status set (and, as for p11jwt_client_call, p11jwt_errmsg()
 * says what a 401 or 403's Bearer challenge names). Thread-safe; clear
 * *out with p11jwt_response_clear. */
P11JWT_API p11jwt_rc p11jwt_http_call(const char *method, const char *url,
                                      const char *const *headers, size_t nheaders,
                                      const char *body, size_t body_len,
                                      p11jwt_response *out);

/* ---- audit records of offline signatures ----------------------------- */

/* Where an application records the assertions it signs itself (what a
 * profile's `audit` key does for a client): one compact JSON line per
 * signature, {time, event:"sign", kid, alg, jti, aud, sha256} (sha256: hex
 * of the SHA-256 of the signing input, header.payload), as a profile's
 * audit writes them without its "profile" member. */
typedef struct p11jwt_audit p11jwt_audit;

/* target "file:PATH" (appended to; created 0600; refused when it is a
 * symbolic link, not a regular file, another user's, or writable by
 * others) or "syslog" (LOG_AUTHPRIV, sent to /dev/log; refused when no
 * daemon listens there). P11JWT_ERR_ARG for another target, P11JWT_ERR_IO
 * when it cannot be opened. Free with p11jwt_audit_free. */
P11JWT_API p11jwt_rc p11jwt_audit_open(const char *target, p11jwt_audit **out);
/* Writes the record of jws (a compact JWS); P11JWT_ERR_IO when the record
 * was not written whole (disk full, the daemon gone): a caller keeping a
 * record of every signature then withholds jws. One write per record;
 * safe from several threads. */
P11JWT_API p11jwt_rc p11jwt_audit_signature(p11jwt_audit *a, const char *jws);
P11JWT_API void p11jwt_audit_free(p11jwt_audit *a);

/* ---- diagnosis (what `p11jwt doctor` runs) --------------------------- */

typedef enum p11jwt_check_result {
    P11JWT_CHECK_OK = 0,
    P11JWT_CHECK_WARN,          /* works, but something is off (see fix) */
    P11JWT_CHECK_FAIL,          /* does not work (see fix) */
    P11JWT_CHECK_SKIPPED,       /* not run: an earlier check failed */
} p11jwt_check_result;

/* One check's outcome. Never holds a PIN, a secret or a token; a URL is
 * shown without its query. Borrowed by the callback, for the call only. */
typedef struct p11jwt_check {
    const char *name;           /* "config", "module", "token", "pin" (or
                                   "secret"), "key", "keyring", "sts",
                                   "clock", "exchange" */
    p11jwt_check_result result;
    const char *detail;         /* what was found, one line */
    const char *fix;            /* what to do about it; "" when nothing */
} p11jwt_check;

typedef void (*p11jwt_check_fn)(const p11jwt_check *check, void *userdata);

typedef struct p11jwt_doctor_params {
    /* A profile: config (NULL: the usual search) and profile name. */
    const char *config;
    const char *profile;
    /* Or, when profile is NULL, a token and a key: token_uri (required),
     * kid (NULL: the URI's object=/id=), and the PIN sources and module
     * arguments of p11jwt_token_set_*. */
    const char *token_uri;
    const char *kid;
    const char *pin_file;
    const char *pin_env;
    const char *module_args;
    int pin_prompt;             /* 1: a PIN may be asked on the terminal */
    int exchange;               /* 1 (profile): also one real exchange */
} p11jwt_doctor_params;

/* Runs the checks in order — the config parses; the module loads; the
 * token is found; the PIN source is readable and private and the token's
 * PIN flags are fine (then one login); the key exists, is sensitive,
 * never extractable, sign-only, its alg pinned, and signs; the keyring
 * state names keys that exist; the STS answers (TLS verified); the clock
 * agrees with the STS's Date header (30 s); with exchange, one exchange —
 * calling fn once per check, as it completes (p11jwt(1), doctor). Returns
 * P11JWT_OK when no check failed, else the first failure's rc (with its
 * message); P11JWT_ERR_ARG, before any check, for params naming neither a
 * profile nor a token. */
P11JWT_API p11jwt_rc p11jwt_doctor(const p11jwt_doctor_params *params, p11jwt_check_fn fn,
                                   void *userdata);

#ifdef __cplusplus
}
#endif
#endif /* P11JWT_H */
