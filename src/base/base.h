/*
 * base.h — floor 0, what every layer stands on: how a failure is reported
 * (one p11jwt_rc plus a message in a thread-local buffer, see
 * p11jwt_errmsg), how untrusted text is shown, the library's one logger,
 * secrets (read, wipe, free) and the facts of each JWS alg. Nothing here
 * includes a header of another floor (docs/architecture.md).
 *
 * A message names the cause a person can act on; it never contains a PIN,
 * a secret or key material.
 */
#ifndef P11JWT_BASE_H
#define P11JWT_BASE_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "p11jwt.h"

/* Functions that are static in the library but that unit tests call
 * (curl's UNITTEST habit): static in libp11jwt, external in the test-only
 * archive built with -DP11JWT_UNITTEST, and declared for the tests in the
 * folder's private header under #ifdef P11JWT_UNITTEST. Never exported:
 * the library is built with hidden visibility and no P11JWT_API. */
#ifdef P11JWT_UNITTEST
#define UNITTEST
#else
#define UNITTEST static
#endif

/* ---- errors (err.c) ------------------------------------------------------ */

/* Sets this thread's message (printf format) and returns rc, so a failure
 * reads `return err_set(P11JWT_ERR_IO, "cannot read %s: %s", path, ...);`.
 * The current message (p11jwt_errmsg()) may be one of the arguments. */
p11jwt_rc err_set(p11jwt_rc rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with context: "context: <old message>". */
p11jwt_rc err_wrap(p11jwt_rc rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void err_clear(void);

/* A failure kept aside while something else runs (a clean-up that may
 * fail too, a second attempt), or handed to other threads: err_save takes
 * rc and this thread's message, err_restore puts the message back and
 * returns rc. */
#define ERR_MSG_MAX 512
typedef struct err_saved {
    p11jwt_rc rc;
    char msg[ERR_MSG_MAX];
} err_saved;
void err_save(err_saved *s, p11jwt_rc rc);
p11jwt_rc err_restore(const err_saved *s);

/* ---- showing untrusted text (escape.c) ----------------------------------- */

/* An untrusted value as it may appear in a message (p11jwt_escape): into
 * buf, which is returned. ESC(s) / ESCN(s, n) give each use its own
 * buffer for the length of the enclosing call:
 *   err_set(P11JWT_ERR_KEY_NOT_FOUND, "no key with kid '%s'", ESC(kid)); */
#define ESC_CAP 160
const char *err_escape(char *buf, size_t cap, const char *s);
const char *err_escape_n(char *buf, size_t cap, const void *s, size_t n);
#define ESC(s) err_escape((char[ESC_CAP]){ 0 }, ESC_CAP, (s))
#define ESCN(s, n) err_escape_n((char[ESC_CAP]){ 0 }, ESC_CAP, (s), (n))

/* Length of the well-formed UTF-8 sequence at p (at most n bytes): 1 to 4,
 * or 0 when it is not one (overlong, surrogate, past U+10FFFF, cut off). */
size_t base_utf8_len(const unsigned char *p, size_t n);

/* ---- the library's logger (logger.c) ------------------------------------- */

/* A warning or notice through the application's p11jwt_set_logger
 * function, else one "p11jwt: ..." line on stderr. */
void base_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- secrets (secret.c) -------------------------------------------------- */

/* The longest client or HMAC secret read from a file or a variable. */
#define BASE_SECRET_MAX 4096

/* Reads a whole file (or standard input for "-") into a new buffer,
 * stripping one trailing newline ("\n"), at most max bytes; NUL-terminated
 * (the NUL not counted). The buffer is the caller's: base_secret_free_n. */
p11jwt_rc base_secret_read_file(const char *path, size_t max, unsigned char **out,
                                size_t *out_len);

/* The same, every byte kept (a key file: DER may end in 0x0a). */
p11jwt_rc base_secret_read_raw(const char *path, size_t max, unsigned char **out,
                               size_t *out_len);

/* Wipes n bytes so the compiler cannot drop the store. */
void base_wipe(void *p, size_t n);
/* Wipes a NUL-terminated secret (a token, an assertion, a header line
 * holding one) and frees it; NULL is a no-op. */
void base_secret_free(char *s);
/* The same for n bytes that need not be text. */
void base_secret_free_n(void *p, size_t n);

/* ---- the JWS algs (alg.c) ------------------------------------------------ */

/* The ES alg of an OpenSSL curve name ("prime256v1", "secp384r1",
 * "secp521r1"), else P11JWT_ALG_UNKNOWN. */
p11jwt_alg base_alg_from_group(const char *group);
/* "P-256"/"P-384"/"P-521" for an ES alg, else NULL. */
const char *base_alg_crv(p11jwt_alg alg);
/* An EC coordinate's length for an ES alg (32/48/66), else 0. */
size_t base_alg_coord_len(p11jwt_alg alg);
/* 1 for PS256/384/512 (RSASSA-PSS), 0 otherwise. */
int base_alg_is_pss(p11jwt_alg alg);
/* OpenSSL's name of the alg's hash ("SHA256"...), for EVP_MD_fetch. */
const char *base_alg_hash_name(p11jwt_alg alg);
/* The alg's hash (SHA-256/384/512). */
const EVP_MD *base_alg_md(p11jwt_alg alg);
/* An EVP_PKEY for the EC public key (x, y) on the alg's curve, each
 * coordinate base_alg_coord_len(alg) bytes. Caller frees with
 * EVP_PKEY_free. */
p11jwt_rc base_ec_pkey(p11jwt_alg alg, const unsigned char *x, const unsigned char *y,
                       EVP_PKEY **out);
/* An EVP_PKEY for the RSA public key (n, e: big-endian). Caller frees with
 * EVP_PKEY_free. */
p11jwt_rc base_rsa_pkey(const unsigned char *n, size_t n_len, const unsigned char *e,
                        size_t e_len, EVP_PKEY **out);
/* Sets an RSA signature context's padding for alg: PKCS#1 v1.5 for RS;
 * for PS, PSS with MGF1 over the alg's hash and a salt as long as it (RFC
 * 7518 §3.5). 1 on success. */
int base_rsa_set_padding(EVP_PKEY_CTX *pctx, p11jwt_alg alg);

#endif
