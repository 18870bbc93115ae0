/*
 * pkcs11.h — floor 1, the PKCS#11 layer's interface: what the floors
 * above (core, keyring, exchange) may use of a token beyond the public
 * API. PKCS#11 only: nothing here knows JOSE. A public key comes out as
 * raw bytes (p11_ec_point); core turns it into a JWK.
 *
 * Design decisions a reader must know (pkcs11_int.h has the rest):
 *  - Sessions come from a per-token pool (opened once, reused); the login
 *    state is the process's, shared by all sessions.
 *  - A key handle (p11_keyhandle) finds its object once and re-finds it
 *    only when the token's epoch says cached handles may be stale.
 */
#ifndef P11JWT_PKCS11_H
#define P11JWT_PKCS11_H

#include <p11-kit/pkcs11.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "p11jwt.h"

/* ---- sessions and the token (session.c, token.c) ------------------------- */

/* Takes a session from the token's pool (opening one if none is idle).
 * When need_login, makes sure the process is logged in. */
p11jwt_rc p11_session_get(p11jwt_token *t, int need_login, CK_SESSION_HANDLE *out);
/* Returns a healthy session to the pool. */
void p11_session_put(p11jwt_token *t, CK_SESSION_HANDLE s);

/* The token's label, trimmed and escaped: for messages only. */
const char *p11_token_label(const p11jwt_token *t);
/* 1 when the caller named a PIN source (file or variable): a read of
 * public objects then logs in too, as the caller expects. */
int p11_token_pin_given(const p11jwt_token *t);

/* ---- URIs (uri.c) -------------------------------------------------------- */

/* 1 when a pkcs11: URI has a pin-value= attribute. */
int p11_uri_has_pin_value(const char *uri);
/* P11JWT_OK, or rc with a message saying why a PIN in `what` (e.g. "the
 * token URI") is refused and where a PIN comes from instead. */
p11jwt_rc p11_uri_refuse_pin_value(const char *uri, p11jwt_rc rc, const char *what);
/* Refuses (rc, the message starting with what) an attribute RFC 7512 does
 * not know, and one in the wrong part (module-path= in the path, token= in
 * the query), showing the URI as it should be written. */
p11jwt_rc p11_uri_check(const char *uri, p11jwt_rc rc, const char *what);

/* ---- objects (object.c) -------------------------------------------------- */

/* The one object of class cls whose kid is kid (CKA_ID equal to its bytes,
 * else CKA_LABEL); none found is not an error (*o stays
 * CK_INVALID_HANDLE), more than one is. */
p11jwt_rc p11_object_find_one(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                              const char *kid, CK_OBJECT_HANDLE *o);
/* Every object of class cls (and key type kt, unless P11_ANY_KEY_TYPE),
 * in a new array (*found, caller frees). Raises what on failure. */
#define P11_ANY_KEY_TYPE ((CK_KEY_TYPE)-1)
p11jwt_rc p11_object_find_class(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                                CK_KEY_TYPE kt, const char *what, CK_OBJECT_HANDLE **found,
                                size_t *n);
/* The kid of an object: CKA_ID when it is text, else CKA_LABEL when it
 * is, else the ID in hex, else "" (no kid). Caller frees; NULL: out of
 * memory. */
char *p11_object_kid(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o);
/* An object's CKA_KEY_TYPE, or P11_ANY_KEY_TYPE when it has none. */
CK_KEY_TYPE p11_object_key_type(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o);
/* Sets CKA_ID = kid and CKA_LABEL = label on an object. */
p11jwt_rc p11_object_name(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          const char *kid, const char *label);
/* Destroys every object (private, public, secret, certificate) with that kid, whatever
 * names it: p11jwt_key_delete (src/keyring) first asks the keyrings. */
p11jwt_rc p11_key_destroy(p11jwt_token *t, const char *kid);
/* After a failure rc on a key just made: destroys its objects (n of them,
 * CK_INVALID_HANDLE skipped) and says in the message whether that worked
 * (id names the objects to remove by hand if not). Returns rc. */
p11jwt_rc p11_object_discard(p11jwt_token *t, CK_SESSION_HANDLE s, const CK_OBJECT_HANDLE *o,
                             size_t n, const char *id, p11jwt_rc rc);
/* The same for a new pair; both handles are CK_INVALID_HANDLE after. */
p11jwt_rc p11_pair_discard(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *priv,
                           CK_OBJECT_HANDLE *pub, const char *id, p11jwt_rc rc);

/* 1 when n bytes are a usable kid: non-empty UTF-8 without control
 * characters. */
int p11_kid_is_text(const unsigned char *p, size_t n);
/* Refuses a kid that is empty, not text, or that some key already has. */
p11jwt_rc p11_kid_check_new(p11jwt_token *t, CK_SESSION_HANDLE s, const char *kid);

/* ---- public keys (pubkey.c) ---------------------------------------------- */

/* An EC public key as the token shows it: the alg its curve implies and
 * the affine coordinates, each coord_len bytes (leading zeros kept). An
 * Ed25519 key (alg P11JWT_EDDSA): x holds its 32 bytes, coord_len 32, y
 * is unused. */
typedef struct p11_ec_point {
    p11jwt_alg alg;
    unsigned char x[66];
    unsigned char y[66];
    size_t coord_len;
} p11_ec_point;

/* Reads CKA_EC_PARAMS and CKA_EC_POINT of a public key object. */
p11jwt_rc p11_pubkey_read(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          p11_ec_point *out);

/* ---- key generation (keygen.c) ------------------------------------------- */

/* A new EC pair, checked: protected as the template policy asks, its
 * public point readable and DER, a signature of a random digest verified
 * on the host. On failure nothing is left in the token. */
typedef struct p11_ec_pair {
    CK_OBJECT_HANDLE priv, pub;
    p11_ec_point point;
} p11_ec_pair;

/* Generates an EC pair for alg under CKA_ID id and CKA_LABEL label. */
p11jwt_rc p11_keygen_ec(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg, const char *id,
                        const char *label, p11_ec_pair *out);
/* Imports an EC private key (the scalar d, coord_len bytes, and its
 * public point pub) as a pair under CKA_ID id and CKA_LABEL label: the
 * private object as the template policy asks (sensitive, not extractable,
 * sign only), the public object for jwks; then checked as a generated
 * pair is. On failure nothing is left in the token. d is the caller's to
 * wipe. */
p11jwt_rc p11_import_ec(p11jwt_token *t, CK_SESSION_HANDLE s, const unsigned char *d,
                        const p11_ec_point *pub, const char *id, const char *label,
                        p11_ec_pair *out);
/* Ed25519 (keygen_eddsa.c): a pair generated with
 * CKM_EC_EDWARDS_KEY_PAIR_GEN, or imported from its 32-byte private key
 * (seed, the caller's to wipe) and public key, under CKA_ID id and
 * CKA_LABEL label; protected and checked as an EC pair is. On failure
 * nothing is left in the token. */
p11jwt_rc p11_keygen_eddsa(p11jwt_token *t, CK_SESSION_HANDLE s, const char *id,
                           const char *label, p11_ec_pair *out);
p11jwt_rc p11_import_eddsa(p11jwt_token *t, CK_SESSION_HANDLE s, const unsigned char *seed,
                           const p11_ec_point *pub, const char *id, const char *label,
                           p11_ec_pair *out);
/* Generates a secret key pinned to HMAC alg under kid and label. */
p11jwt_rc p11_keygen_hmac(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg,
                          const char *kid, const char *label);

/* ---- RSA keys (keygen_rsa.c) --------------------------------------------- */

/* The largest RSA modulus in bytes (8192 bits), and the smallest key p11jwt
 * signs with (RFC 7518 §3.3). */
#define P11_RSA_MAX P11JWT_SIG_MAX
#define P11_RSA_MIN_BITS 2048

/* An RSA public key as the token shows it (CKA_MODULUS,
 * CKA_PUBLIC_EXPONENT), big-endian without leading zero bytes. */
typedef struct p11_rsa_pub {
    unsigned char n[P11_RSA_MAX];
    size_t n_len;
    unsigned char e[8];
    size_t e_len;
} p11_rsa_pub;

/* Reads the modulus and public exponent of an RSA key object (public, or
 * private: both hold them); refuses a key under P11_RSA_MIN_BITS. */
p11jwt_rc p11_rsa_pub_read(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                           p11_rsa_pub *out);
/* The modulus length in bits. */
size_t p11_rsa_bits(const p11_rsa_pub *pub);
/* The alg an RSA public key object pins (its CKA_ALLOWED_MECHANISMS), else
 * the one the private key with that kid pins (seen when logged in), else
 * UNKNOWN. */
p11jwt_alg p11_rsa_pinned_alg(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
                              const char *kid);

/* A new RSA pair, checked like an EC one (protection read back, a
 * signature verified on the host). On failure nothing is left. */
typedef struct p11_rsa_pair {
    CK_OBJECT_HANDLE priv, pub;
    p11_rsa_pub key;
} p11_rsa_pair;

/* Generates an RSA pair of bits for alg (RS* or PS*) under CKA_ID id and
 * CKA_LABEL label, pinned to alg by CKA_ALLOWED_MECHANISMS when the token
 * takes it. */
p11jwt_rc p11_keygen_rsa(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg, unsigned bits,
                         const char *id, const char *label, p11_rsa_pair *out);

/* An RSA private key's parts (PKCS#1), each big-endian; the caller's to
 * wipe. */
typedef struct p11_bytes {
    const unsigned char *p;
    size_t len;
} p11_bytes;
typedef struct p11_rsa_priv {
    p11_bytes n, e, d, p, q, dp, dq, qi;
} p11_rsa_priv;

/* Imports an RSA private key as a pair under id and label: the private
 * object as the template policy asks, pinned to alg when alg is RS* or PS*
 * (and the token takes CKA_ALLOWED_MECHANISMS), none when UNKNOWN; the
 * public object for jwks; then checked. On failure nothing is left. */
p11jwt_rc p11_import_rsa(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg,
                         const p11_rsa_priv *key, const char *id, const char *label,
                         p11_rsa_pair *out);

/* ---- key handles and signing (keyhandle.c, sign.c) ------------------------ */

/* One key in the token, found by kid once: its class, alg, mechanism and
 * cached object handle, and its public point when the token has one.
 * Thread-safe: many threads may sign with it at once. */
typedef struct p11_keyhandle p11_keyhandle;

/* Opens key kid to sign as the alg it pins, else as want (a key that pins
 * none and can be want); want P11JWT_ALG_UNKNOWN: the key must pin one.
 * A key that pins another alg than want opens as its own: the caller
 * compares. */
p11jwt_rc p11_keyhandle_open(p11jwt_token *t, const char *kid, p11jwt_alg want,
                             p11_keyhandle **out);
void p11_keyhandle_free(p11_keyhandle *h);
const char *p11_keyhandle_kid(const p11_keyhandle *h);
p11jwt_alg p11_keyhandle_alg(const p11_keyhandle *h);
p11jwt_pinned p11_keyhandle_pinned(const p11_keyhandle *h);
/* The public key, or NULL when the token holds no public object for it. */
const p11_ec_point *p11_keyhandle_point(const p11_keyhandle *h);
/* An RSA key's public key (from its public object, else its private one),
 * or NULL for other keys. */
const p11_rsa_pub *p11_keyhandle_rsa(const p11_keyhandle *h);
/* The length of the key's signatures (an RSA key's: its modulus length). */
size_t p11_keyhandle_sig_len(const p11_keyhandle *h);

/* Signs data as the key's alg in JWS form: ES* hashes on the host then
 * CKM_ECDSA (raw r||s), HS* runs CKM_SHA*_HMAC in the token, RS and PS the
 * mechanism sign_rsa.c chose for the token and key, EdDSA gives the whole
 * input to CKM_EDDSA. *sig_len is in: capacity, out: length. One retry
 * after a recoverable failure. */
p11jwt_rc p11_sign(p11_keyhandle *h, const unsigned char *data, size_t len, unsigned char *sig,
                   size_t *sig_len);

/* ---- certificates (cert.c) ------------------------------------------------ */

/* The DER certificate of key h: uri (a pkcs11: URI of a certificate
 * object in the key's token: its id= and/or object=), or, when uri is
 * NULL, the one certificate object with the key's kid (CKA_ID, else
 * CKA_LABEL). None found: P11JWT_ERR_KEY_NOT_FOUND saying where it
 * looked. *der is new (caller frees). Does not check that it is the
 * key's: core does. */
p11jwt_rc p11_cert_find(p11_keyhandle *h, const char *uri, unsigned char **der, size_t *der_len);

/* What a certificate object holds, as DER (issuer and serial may be
 * NULL: then left out, as PKCS#11 allows). */
typedef struct p11_cert_attrs {
    const unsigned char *der, *subject, *issuer, *serial;
    size_t der_len, subject_len, issuer_len, serial_len;
} p11_cert_attrs;

/* Stores a token object CKO_CERTIFICATE / CKC_X_509 (public) with
 * CKA_ID = kid and CKA_LABEL = label. Refuses (P11JWT_ERR_KEY_EXISTS) when
 * the token already holds a certificate for kid. */
p11jwt_rc p11_cert_store(p11jwt_token *t, const p11_cert_attrs *c, const char *kid,
                         const char *label);
/* Destroys the certificates that carry the CKA_ID of private key kid
 * (a key made by another tool pairs them so), counting them in *total;
 * p11_key_destroy's, before the key goes. No key, or no CKA_ID: nothing. */
p11jwt_rc p11_cert_destroy_for_key(p11jwt_token *t, CK_SESSION_HANDLE s, const char *kid,
                                   size_t *total);

/* ---- AES-256-GCM in the token (aead.c) ---------------------------------- */

#define P11_AEAD_IV 12
#define P11_AEAD_TAG 16

/* An A256GCM key (p11jwt_key_generate_aes), found by kid once. */
typedef struct p11_aead p11_aead;

p11jwt_rc p11_aead_open(p11jwt_token *t, const char *kid, p11_aead **out);
void p11_aead_free(p11_aead *a);
/* Encrypts in the token with a fresh random IV and aad: *out (caller
 * frees) is IV (12 bytes) || ciphertext || tag (16 bytes). */
p11jwt_rc p11_aead_seal(p11_aead *a, const unsigned char *aad, size_t aad_len,
                        const unsigned char *in, size_t in_len, unsigned char **out,
                        size_t *out_len);
/* Decrypts what p11_aead_seal made with the same aad; a value altered or
 * bound to another aad fails with P11JWT_ERR_CRYPTO and gives nothing.
 * *out is NUL-terminated; the caller wipes and frees it. */
p11jwt_rc p11_aead_open_value(p11_aead *a, const unsigned char *aad, size_t aad_len,
                              const unsigned char *in, size_t in_len, unsigned char **out,
                              size_t *out_len);

/* ---- the versioned data store (store.c) ----------------------------------- */

#define P11_STORE_ID_LEN (20 + 1 + 32)
/* The largest version written or read; a state at it takes no successor.
 * INT64_MAX: the version is shown as a JSON integer (rotate status). */
#define P11_STORE_MAX_VERSION ((uint64_t)INT64_MAX)

/* The current value stored under name (its writer's JSON) and its
 * version; *json_out NULL and version 0 when the token holds none. */
p11jwt_rc p11_store_read(p11jwt_token *t, const char *name, char **json_out, uint64_t *version);
/* Stores a new value made from version base_version; P11JWT_ERR_CONFLICT
 * when another writer stored one from the same (or a later) version
 * first. */
p11jwt_rc p11_store_write(p11jwt_token *t, const char *name, uint64_t base_version,
                          const char *json);
/* The names of every value stored in the token, each once (a new array of
 * new strings, *n of them; caller frees). */
p11jwt_rc p11_store_names(p11jwt_token *t, char ***names, size_t *n);
/* Destroys every stored version of name (*gone: how many). */
p11jwt_rc p11_store_drop(p11jwt_token *t, const char *name, size_t *gone);
/* Reads a stored object's label (len bytes, not NUL-terminated): 1 when
 * it is "p11jwt-keyring:NAME:VERSION:NONCE" for this name, with VERSION
 * exactly 20 digits from 1 to P11_STORE_MAX_VERSION and NONCE 32 lower-case
 * hex digits (*version and id = "VERSION:NONCE" set); 0 when it belongs to
 * no value of that name; -1 when it names it but is not what p11jwt
 * writes (*why says how). */
int p11_store_label_parse(const char *label, size_t len, const char *name, uint64_t *version,
                          char id[P11_STORE_ID_LEN + 1], const char **why);

/* ---- what p11jwt doctor reads (inspect.c) --------------------------------- */

/* The module a token handle loaded (also when no token matched). */
typedef struct p11_module_facts {
    const char *path;           /* borrowed */
    const char *args;           /* C_Initialize's pReserved; NULL: none */
    char description[2 * ESC_CAP + 16]; /* "description, manufacturer v.v" */
} p11_module_facts;
p11jwt_rc p11_inspect_module(const p11jwt_token *t, p11_module_facts *out);

/* The open token's identity, flags and PIN source. */
typedef struct p11_token_facts {
    char label[ESC_CAP], serial[ESC_CAP], model[2 * ESC_CAP + 2];
    unsigned long slot;
    CK_FLAGS flags;             /* CK_TOKEN_INFO's: CKF_USER_PIN_LOCKED... */
    const char *pin_file;       /* --pin-file, pin_file or pin-source= */
    const char *pin_env;        /* borrowed, NULL when not set */
    int prompt;                 /* a prompt is allowed */
} p11_token_facts;
p11jwt_rc p11_inspect_token(p11jwt_token *t, p11_token_facts *out);

/* One key by kid: found (private or secret), or only its public half, and
 * its protection: each flag 1, 0 or -1 (the token does not show it). */
typedef struct p11_key_facts {
    int found, public_only;
    CK_OBJECT_CLASS cls;
    p11jwt_alg alg;             /* UNKNOWN: it pins none */
    int sensitive, extractable, never_extractable, sign;
    char other_uses[64];        /* "decrypt, derive": usages besides signing */
} p11_key_facts;
/* Looks the key up on a session logged in when logged_in. */
p11jwt_rc p11_inspect_key(p11jwt_token *t, const char *kid, int logged_in, p11_key_facts *out);

/* ---- mTLS through libp11's engine (engine.c) ------------------------------ */

/* Configures the "pkcs11" engine, before libcurl asks for it by id, with
 * the module (and module arguments) of the open token t: libcurl's
 * ENGINE_by_id then finds this configured engine instead of loading one
 * that reaches every module registered with p11-kit through its proxy.
 * The engine serves one module per process: another is refused. */
p11jwt_rc p11_engine_use_token(const p11jwt_token *t);

#endif
