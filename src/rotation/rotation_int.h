/*
 * rotation_int.h — floor 5, key rotation by kid (docs/rotation.md): the
 * steps that change a profile's keyring (stage, promote, retire, auto),
 * the JWKS and status it shows, this host's lock on a keyring, and
 * publishing a new JWKS. Its public face is p11jwt_rotate_* in p11jwt.h;
 * no floor includes this header but rotation's own files.
 *
 * Rotation stands on the exchange's profiles and asks the client for the
 * profile's token (exch_client_token); the client never calls rotation,
 * and rotation tells the client of a change only through its public
 * p11jwt_client_invalidate.
 */
#ifndef P11JWT_ROTATION_INT_H
#define P11JWT_ROTATION_INT_H

#include <stdint.h>

#include "exchange/exchange.h"
#include "keyring/keyring.h"

/* A step that loses a race against another writer starts over this many
 * times at most. */
#define ROT_MAX_ATTEMPTS 5

/* ---- what the steps share (step.c) ----------------------------------------- */

/* The profile's keyring (rotation needs the algs); refused for a profile
 * that signs nothing. */
p11jwt_rc rot_load(p11jwt_client *c, kr_state *kr);
/* Stores kr as the next version (kr_store) and drops the client's tokens,
 * obtained with the old active kid. */
p11jwt_rc rot_store(p11jwt_client *c, kr_state *kr, const char *op);
/* Appends a line to a growing report (*report: NULL at first). */
void rot_say(char **report, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An audit record of a step on key k. */
void rot_audit(const p11jwt_profile *p, const char *op, const kr_key *k, uint64_t version);
/* Runs the profile's publish_command with the JWKS (publish.c) and says so. */
p11jwt_rc rot_publish_jwks(const p11jwt_profile *p, const char *jwks, char **report);
/* Whether a key that entered its state at `since` has been in it for
 * `period` (since + period <= now), for any since a token may hold. */
int rot_due(int64_t since, int64_t period, int64_t now);

/* Runs call holding this host's lock on the client's keyring (lock.c);
 * *out is reset first, so a lock that cannot be taken leaves it NULL. */
#define ROT_LOCKED(c, out, call)                                                \
    do {                                                                        \
        const p11jwt_profile *p_ = p11jwt_client_profile(c);                    \
        int fd_;                                                                \
        p11jwt_rc rc_;                                                          \
                                                                                \
        err_clear();                                                            \
        *(out) = NULL;                                                          \
        rc_ = rot_lock_acquire(p_->token, p_->keyring, &fd_);                   \
        if (rc_ == P11JWT_OK) {                                                 \
            rc_ = (call);                                                       \
            rot_lock_release(fd_);                                              \
        }                                                                       \
        return rc_;                                                             \
    } while (0)

/* ---- the steps, without the lock (their files) ------------------------------ */

/* status.c: the JWKS of the keyring's public keys (EC, RSA, Ed25519;
 * previous ones when with_prev), and of the keyring as it is now. */
p11jwt_rc rot_jwks_of(p11jwt_client *c, const kr_state *kr, int with_prev, char **out);
p11jwt_rc rot_jwks(p11jwt_client *c, char **jwks_out);
/* stage.c, promote.c: one step on the keyring as loaded in kr (consumed). */
p11jwt_rc rot_stage_from(p11jwt_client *c, kr_state *kr, const unsigned char *secret,
                         size_t secret_len, const char *kid, char **jwks_out, char **report);
p11jwt_rc rot_promote_from(p11jwt_client *c, kr_state *kr, char **report);
/* retire.c: retires kid, or every previous key past the grace period;
 * *retired (may be NULL) says whether the state dropped any key. Publishes
 * nothing: the caller does, once, after every change. */
p11jwt_rc rot_retire(p11jwt_client *c, const char *kid, char **report, int *retired);
/* step.c: runs publish_command (if any) with the JWKS of the keyring as it
 * is now (active, next, previous public keys): after every change to the
 * set of keys the STS should trust. */
p11jwt_rc rot_publish_now(p11jwt_client *c, char **report);

/* ---- this host's lock (lock.c) ------------------------------------------------ */

/* The directory lock files live in: $RUNTIME_DIRECTORY (its first entry),
 * else /run/p11jwt/lock when it is this user's, else $XDG_RUNTIME_DIR/p11jwt,
 * else /tmp/p11jwt-UID (the last two made 0700 if missing), checked to be
 * a directory of this user's that neither group nor others can write in. */
p11jwt_rc rot_lock_dir(char *out, size_t cap);
#ifdef P11JWT_UNITTEST
/* rot_lock_dir with its inputs given: $RUNTIME_DIRECTORY, the system's
 * directory and $XDG_RUNTIME_DIR (each may be NULL). */
p11jwt_rc rot_lock_dir_pick(const char *rd, const char *sysdir, const char *xdg, char *out,
                            size_t cap);
#endif
/* Takes this host's lock on keyring (of token), waiting at most
 * $P11JWT_LOCK_TIMEOUT seconds (default 30); *fd is released with
 * rot_lock_release. P11JWT_ERR_CONFLICT (naming the file) after the wait. */
p11jwt_rc rot_lock_acquire(const char *token, const char *keyring, int *fd);
void rot_lock_release(int fd);

/* ---- publish_command (publish.c) --------------------------------------------- */

/* Runs the profile's publish_command (sh -c) with len bytes of data on its
 * standard input, in an environment without the profile's secrets; an
 * error (never SIGPIPE) when it stops reading, exits non-zero or is
 * killed, saying which, and that the change is stored already. */
p11jwt_rc rot_publish(const p11jwt_profile *p, const char *data, size_t len);

#endif
