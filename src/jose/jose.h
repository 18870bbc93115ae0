/*
 * jose.h — the JOSE layer: base64url, header and claims JSON, compact JWS
 * over a signer, JWK/JWKS and RFC 7638 thumbprints, verification.
 *
 * This layer never sees PKCS#11 types. It asks a jose_signer for signature
 * bytes and a jose_verifier to check them; where those bytes come from (a
 * token, OpenSSL, a test vector) is the caller's business.
 */
#ifndef P11JWT_JOSE_H
#define P11JWT_JOSE_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "p11jwt.h"

/* ---- base64url (RFC 4648 §5, no padding) ------------------------------ */

/* Encoded length of n bytes, without the terminating NUL. */
size_t jose_b64url_len(size_t n);

/* Writes jose_b64url_len(n) characters and a NUL to out; returns the count
 * written (without the NUL). out must hold jose_b64url_len(n) + 1. */
size_t jose_b64url_encode(const unsigned char *in, size_t n, char *out);

/* Decodes exactly n characters; strict: no padding, no whitespace, no
 * characters outside the url-safe alphabet, no non-zero trailing bits.
 * *out is malloc'd (caller frees; NUL-terminated for convenience, the NUL not
 * counted in *out_len). Returns P11JWT_ERR_JWS_MALFORMED on bad input. */
p11jwt_rc jose_b64url_decode(const char *in, size_t n, unsigned char **out,
                             size_t *out_len);

/* ---- signing ---------------------------------------------------------- */

/* Something that can sign: the alg it is pinned to, its kid, and a function
 * that writes the JWS-form signature (raw r||s for ES, the MAC for HS) of
 * data into sig (*sig_len: in capacity, out length). */
typedef struct jose_signer {
    p11jwt_alg alg;
    const char *kid;
    p11jwt_rc (*sign)(void *ctx, const unsigned char *data, size_t len,
                      unsigned char *sig, size_t *sig_len);
    void *ctx;
    size_t sig_len;            /* the signature's length; 0: p11jwt_alg_sig_len */
} jose_signer;

/* base64url of the compact JSON header {"alg":..,"kid":..,"typ":"JWT"} in
 * that order (kid left out when NULL). Caller frees *out. */
p11jwt_rc jose_header_b64(p11jwt_alg alg, const char *kid, char **out);

/* Compact JSON of the claims: iss, aud and sub (each if set), iat, exp, jti (unless
 * no_jti; jti is the base64url of 16 random bytes from OpenSSL's RAND), then
 * the extra claims in their given order. now == 0 means time(NULL). Refuses
 * ttl <= 0, a missing iss, an empty aud, extra_json that is not an object, and extras
 * that redefine a standard claim. Caller frees *out. */
p11jwt_rc jose_claims_json(const p11jwt_claims_params *p, char **out);

/* The same into a buffer the caller keeps between calls (*buf and *cap, grown
 * with realloc as needed; start with NULL/0); *len is the JSON's length. */
p11jwt_rc jose_claims_write(const p11jwt_claims_params *p, char **buf, size_t *cap,
                            size_t *len);

/* The extra claims text in (len bytes), checked and written compact to out
 * (room for len bytes) as its members without the outer braces, exactly as
 * jansson's compact dump of the parsed object would write them: 1 and
 * *out_len, or 0 when the text is not in the subset this one pass checks
 * (claims_extra.c says which) — malformed, reserved or repeated names among
 * them — and the caller must take the jansson path. No allocation. */
int jose_claims_extra_copy(const char *in, size_t len, char *out, size_t *out_len);

/* The most members an object may have on that one pass. */
#define JOSE_MAX_MEMBERS 64

/* Where one top-level member landed in the output of the one pass: its
 * text "name":value is out[off, off + len), its name (no escapes, so its
 * raw bytes are the name) out[off + 1, off + 1 + name_len). */
typedef struct jose_member {
    size_t off, len, name_len;
} jose_member;

/* jose_claims_extra_copy that also fills m (room for JOSE_MAX_MEMBERS)
 * with the top-level members in order and *n with their count. */
int jose_claims_extra_scan(const char *in, size_t len, char *out, size_t *out_len,
                           jose_member *m, size_t *n);

/* ---- extra claims given once, merged with each assertion's own ---------- */

/* Extra claims shared by many assertions (the CLI's --claim for every line
 * of a batch), checked and written compact once (claims_merge.c). */
typedef struct jose_extras jose_extras;

/* Checks json (NULL or "" for none) as extra claims are checked (an object,
 * no reserved name) and indexes its members. Caller frees with
 * jose_extras_free. */
p11jwt_rc jose_extras_new(const char *json, jose_extras **out);
void jose_extras_free(jose_extras *x);

/* Extra claims text (len bytes, no NUL needed): P11JWT_OK and the object
 * in *obj (the caller's reference) when it is a JSON object none of whose
 * names is reserved, else the error and its message: malformed JSON with
 * jansson's reason and line, not an object, a reserved name. */
p11jwt_rc jose_extras_parse(const char *text, size_t len, json_t **obj);

/* Appends to buf (*len bytes used, *cap allocated; grown with realloc) a
 * comma and the merged extra claims: shared's members in their order, the
 * value of one that line (len bytes, one JSON object) also names taken
 * from line, then line's other members in theirs; nothing when both are
 * empty. The same bytes as jansson's compact dump of shared updated with
 * line; the one pass when line is in its subset (no parse, no allocation
 * once buf is large enough), jansson otherwise. Errors as
 * jose_extras_parse. On error *len is unchanged. */
p11jwt_rc jose_extras_append(const jose_extras *shared, const char *line, size_t line_len,
                             char **buf, size_t *cap, size_t *len);

/* jose_claims_write with, as extras, shared (NULL: none) merged with line
 * (line_len bytes, a JSON object; NULL: none) as jose_extras_append does;
 * p->extra_json is not read. kept (NULL: not used) carries, from one call
 * to the next into the same buffer with the same p, how many bytes at its
 * start hold "{", iss, aud and sub, checked and written: 0 at first, then
 * they are not written again. */
p11jwt_rc jose_claims_write_merged(const p11jwt_claims_params *p, const jose_extras *shared,
                                   const char *line, size_t line_len, char **buf, size_t *cap,
                                   size_t *len, size_t *kept);

/* 1 when name (len bytes) is a claim p11jwt sets itself (iss, aud, sub, iat,
 * exp, jti), which extra claims may not redefine. */
int jose_claim_reserved(const char *name, size_t len);

/* Compact JWS: header_b64 "." b64url(payload) "." b64url(signature). The
 * signature length is checked against s->sig_len (0: p11jwt_alg_sig_len). Caller
 * frees *out. */
p11jwt_rc jose_jws_sign(const jose_signer *s, const char *header_b64,
                        const char *payload, size_t payload_len, char **out);

/* The largest compact JWS (with its NUL) of this header and a payload of
 * payload_len bytes: the room jose_jws_write needs. */
size_t jose_jws_max_len(const char *header_b64, size_t payload_len);

/* jose_jws_sign into buf (room for jose_jws_max_len bytes), NUL-terminated;
 * its length in *len. No allocation. */
p11jwt_rc jose_jws_write(const jose_signer *s, const char *header_b64, const char *payload,
                         size_t payload_len, char *buf, size_t *len);

/* ---- parsing and verification ----------------------------------------- */

typedef struct jose_jws {
    json_t *header;            /* owned */
    json_t *payload;           /* owned; must be a JSON object */
    p11jwt_alg alg;            /* from the header; UNKNOWN for none/other */
    const char *alg_name;      /* borrowed from header */
    const char *kid;           /* borrowed from header, or NULL */
    const char *signing_input; /* borrowed from the caller's string */
    size_t signing_input_len;
    unsigned char *sig;        /* owned */
    size_t sig_len;
} jose_jws;

/* The three parts of a compact JWS, pointing into the caller's bytes. */
typedef struct jose_jws_parts {
    const char *header, *payload, *sig;
    size_t header_len, payload_len, sig_len;
} jose_jws_parts;

/* The one JWS splitter: cuts len bytes at their dots. Returns how many
 * '.'-separated parts there are (1, 2, 3, or 4 for "more than three"); the
 * parts are filled when there are at least three (sig: the third). */
int jose_jws_split(const char *s, size_t len, jose_jws_parts *out);

/* Decodes the header and payload of a JWS-shaped string (at least three
 * parts) without verifying anything: for reading what we signed (audit)
 * or what an STS issued (its exp). Either out may be NULL; an out is NULL
 * when that part is not JSON (caller decrefs). 0, or -1 when not split. */
int jose_jws_peek(const char *jws, json_t **header, json_t **payload);

/* The "exp" of a JWT-shaped string (not verified), or -1. */
int64_t jose_jwt_exp(const char *token);

/* Splits and decodes a compact JWS of len bytes (surrounding whitespace
 * tolerated; a NUL byte anywhere is "not a compact JWS"). The bytes must
 * outlive *out (signing_input points into them). */
p11jwt_rc jose_jws_parse(const char *jws, size_t len, jose_jws **out);
void jose_jws_free(jose_jws *j);

/* What can check a signature: an EC, RSA or Ed25519 public key (pkey,
 * borrowed) pinned to alg, or a MAC function (HS) pinned to alg. */
typedef struct jose_verifier {
    p11jwt_alg alg;
    EVP_PKEY *pkey;
    p11jwt_rc (*mac)(void *ctx, const unsigned char *data, size_t len,
                     unsigned char *mac, size_t *mac_len);
    void *ctx;
} jose_verifier;

/* Checks alg (refuses none and any alg other than v->alg) and the
 * signature: ES via OpenSSL over r||s, HS by computing the MAC and comparing
 * in constant time. P11JWT_ERR_ALG or P11JWT_ERR_SIGNATURE on failure
 * (jws_verify.c). */
p11jwt_rc jose_jws_verify(const jose_jws *j, const jose_verifier *v);

/* Checks exp, nbf, iat (with leeway), aud (string or array) and iss.
 * P11JWT_ERR_CLAIMS with the reason on failure (claims_check.c). */
p11jwt_rc jose_claims_check(const jose_jws *j, const p11jwt_verify_params *p);

/* ---- EC keys and JWK -------------------------------------------------- */

/* An EC public key in affine coordinates, each coord_len bytes (32/48/66),
 * leading zeros kept (RFC 7518 §6.2.1.2). Or, with alg P11JWT_EDDSA, an
 * Ed25519 key: x its 32 bytes, coord_len 32, y unused (an OKP JWK); the
 * functions below take both, an Ed25519 key through jwk_okp.c. */
typedef struct jose_ec_pub {
    p11jwt_alg alg;            /* ES256/ES384/ES512 from the curve, or EdDSA */
    unsigned char x[66];
    unsigned char y[66];
    size_t coord_len;
} jose_ec_pub;

/* RFC 7638 thumbprint: base64url(SHA-256 of {"crv","kty","x","y"} in
 * lexicographic order, no whitespace). out holds 44 bytes (43 + NUL). */
p11jwt_rc jose_ec_thumbprint(const jose_ec_pub *pub, char out[44]);

/* A new JWK object {kty, crv, x, y, kid, alg, use:"sig"} (kid left out when
 * NULL). Caller owns the reference. */
p11jwt_rc jose_ec_jwk(const jose_ec_pub *pub, const char *kid, json_t **out);

/* An EVP_PKEY for the public key. Caller frees with EVP_PKEY_free. */
p11jwt_rc jose_ec_pkey(const jose_ec_pub *pub, EVP_PKEY **out);

/* Reads an EC JWK (kty "EC", crv P-256/384/521, full-length x and y) or an
 * OKP one (crv Ed25519, x) into *pub; the alg follows from crv, and a JWK
 * "alg" member that disagrees is refused. */
p11jwt_rc jose_ec_from_jwk(const json_t *jwk, jose_ec_pub *pub);


/* ---- Ed25519 keys (jwk_okp.c) ----------------------------------------- */

/* What the jose_ec_* functions do for a key of alg P11JWT_EDDSA: the RFC
 * 7638 thumbprint over {crv, kty, x}; the JWK {kty "OKP", crv "Ed25519",
 * x, kid, alg "EdDSA", use "sig"}; the EVP_PKEY; reading an OKP JWK
 * (X25519, X448 and Ed448 refused). */
p11jwt_rc jose_okp_thumbprint(const jose_ec_pub *pub, char out[44]);
p11jwt_rc jose_okp_jwk(const jose_ec_pub *pub, const char *kid, json_t **out);
p11jwt_rc jose_okp_pkey(const jose_ec_pub *pub, EVP_PKEY **out);
p11jwt_rc jose_okp_from_jwk(const json_t *jwk, jose_ec_pub *pub);
/* Checks an EdDSA signature (exactly 64 bytes) over the signing input
 * with an Ed25519 key (borrowed). */
p11jwt_rc jose_eddsa_verify(const jose_jws *j, EVP_PKEY *pkey);
/* Finds in a parsed JWKS the EC, RSA or OKP (Ed25519) key a JWS names:
 * *jwk (borrowed from jwks) is the key with that kid when the header has
 * one, else the only key. Other key types (oct), and keys whose "use" is
 * not "sig" or whose "key_ops" lacks "verify", are never taken (nor
 * counted). P11JWT_ERR_KEY_NOT_FOUND when none matches. */
p11jwt_rc jose_jwks_pick(const json_t *jwks, const char *kid, const json_t **jwk);

/* ---- RSA keys and RS/PS signatures (rsa.c) ----------------------------- */

/* The largest RSA modulus p11jwt takes, in bytes (8192 bits). */
#define JOSE_RSA_MAX (P11JWT_SIG_MAX)

/* An RSA public key: the modulus and public exponent, big-endian without
 * leading zero bytes (RFC 7518 §6.3.1), and the alg it is pinned to
 * (P11JWT_ALG_UNKNOWN: none, the JWK then has no "alg"). */
typedef struct jose_rsa_pub {
    p11jwt_alg alg;
    unsigned char n[JOSE_RSA_MAX];
    size_t n_len;
    unsigned char e[8];
    size_t e_len;
} jose_rsa_pub;

/* Fills pub from big-endian n and e, leading zero bytes dropped; refuses
 * an empty or oversized one. */
p11jwt_rc jose_rsa_set(jose_rsa_pub *pub, p11jwt_alg alg, const unsigned char *n, size_t n_len,
                       const unsigned char *e, size_t e_len);
/* RFC 7638 thumbprint over {"e","kty","n"}. out holds 44 bytes. */
p11jwt_rc jose_rsa_thumbprint(const jose_rsa_pub *pub, char out[44]);
/* A new JWK {kty, n, e, kid, alg, use:"sig"} (kid left out when NULL, alg
 * when the key pins none). Caller owns the reference. */
p11jwt_rc jose_rsa_jwk(const jose_rsa_pub *pub, const char *kid, json_t **out);
/* An EVP_PKEY for the public key. Caller frees with EVP_PKEY_free. */
p11jwt_rc jose_rsa_pkey(const jose_rsa_pub *pub, EVP_PKEY **out);
/* Reads an RSA JWK (kty "RSA", n, e); its "alg", when present, must be RS*
 * or PS* and becomes pub->alg. */
p11jwt_rc jose_rsa_from_jwk(const json_t *jwk, jose_rsa_pub *pub);
/* Checks an RS (RSASSA-PKCS1-v1_5) or PS (RSASSA-PSS, MGF1 with the same
 * hash, salt as long as the hash) signature with v->pkey: the key must be
 * 2048 bits or more, the signature exactly the modulus length. */
p11jwt_rc jose_rsa_verify(const jose_jws *j, const jose_verifier *v);

#endif /* P11JWT_JOSE_H */
