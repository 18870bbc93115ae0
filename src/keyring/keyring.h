/*
 * keyring.h — floor 3, the keyring: the state a profile's rotation keeps
 * in the token (one active key, at most one next key, any number of
 * previous ones, each with the time it entered that state), its JSON, and
 * the choice the exchange reads: the kid to sign with and the one to fall
 * back to. The state is read and written through the PKCS#11 floor's
 * versioned store; what changes it (stage, promote, retire) is rotation's.
 *
 * Without a stored state the profile's kid is the active key; the first
 * change writes the state.
 */
#ifndef P11JWT_KEYRING_H
#define P11JWT_KEYRING_H

#include <jansson.h>

#include "pkcs11/pkcs11.h"

typedef struct kr_key {
    char *kid;                  /* NULL: no such key (next) */
    p11jwt_alg alg;
    int64_t since;              /* when it entered its state; 0: unknown */
} kr_key;

typedef struct kr_state {
    uint64_t version;           /* 0: no state in the token yet */
    kr_key active;
    kr_key next;
    kr_key *prev;               /* newest first */
    size_t nprev;
} kr_state;

/* ---- the state (state.c) ------------------------------------------------- */

void kr_key_clear(kr_key *k);
void kr_state_clear(kr_state *kr);

/* Parses a stored state's JSON (len bytes) into *kr (version left alone):
 * an object with an active key, kids that are text. */
p11jwt_rc kr_state_parse(const char *json, size_t len, kr_state *kr);
/* Parses and drops a state: P11JWT_OK or why it is unusable. For tests and
 * fuzzing; kr_load reads states through the same parser. */
p11jwt_rc kr_state_check(const char *json, size_t len);

/* The state as the JSON object stored (and shown by rotate status):
 * {keyring, version, active, next, previous, last_change {op, time,
 * host}}. A new reference; NULL on out of memory. */
json_t *kr_state_json(const char *name, const kr_state *kr, const char *op);

/* The key to fall back to when the STS refuses the active one: the next
 * key, else the newest previous one; NULL when there is none. */
const kr_key *kr_state_fallback(const kr_state *kr);

/* ---- the state in the token (keyring.c) ---------------------------------- */

/* Reads keyring `name` from the token. Without a stored state the active
 * key is default_kid (the profile's kid), whose alg is looked up in the
 * token when with_alg. */
p11jwt_rc kr_load(p11jwt_token *tok, const char *name, const char *default_kid, int with_alg,
                  kr_state *kr);
/* Stores kr as the version after kr->version, op naming the change
 * ("stage", "promote", ...); kr->version is the new one on success.
 * P11JWT_ERR_CONFLICT when another writer was first. */
p11jwt_rc kr_store(p11jwt_token *tok, const char *name, kr_state *kr, const char *op);

/* The kid to sign with (the keyring's active one, else default_kid) and
 * the one to fall back to (kr_state_fallback; NULL if none); *is_next (may
 * be NULL) says whether the fallback is the next key. Caller frees both. */
p11jwt_rc kr_kids(p11jwt_token *tok, const char *name, const char *default_kid, char **active,
                  char **fallback, int *is_next);

#endif
