/*
 * assertion.c — a signed JWT assertion from a key in the token: the claims
 * JSON from the jose layer, the header encoded once per key, the signature
 * from the token. This is where the two layers meet; neither sees the other.
 */
#include "core/core_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Each thread's claims buffer, kept between assertions: the JWS handed
 * back is the only allocation per signature. Freed at thread exit. */
static pthread_key_t claims_key;
static pthread_once_t claims_once = PTHREAD_ONCE_INIT;
static _Thread_local struct claims_buf {
    char *s;
    size_t cap;
} claims_tl;

/* At thread exit, in the exiting thread: forget the buffer too, so a
 * later destructor that signs starts a new one (freed in the next round)
 * rather than reallocating a freed one. */
static void claims_free(void *p)
{
    if (claims_tl.s == p) {
        claims_tl.s = NULL;
        claims_tl.cap = 0;
    }
    free(p);
}

static void claims_init(void)
{
    pthread_key_create(&claims_key, claims_free);
}

p11jwt_rc p11jwt_assertion_sign(p11jwt_key *key, const p11jwt_claims_params *params,
                                char **jws_out)
{
    jose_signer signer = core_key_signer(key);
    char *old = claims_tl.s;
    size_t len;
    p11jwt_rc rc;

    err_clear();
    *jws_out = NULL;
    rc = jose_claims_write(params, &claims_tl.s, &claims_tl.cap, &len);
    if (claims_tl.s != old) {
        pthread_once(&claims_once, claims_init);
        pthread_setspecific(claims_key, claims_tl.s);
    }
    if (rc == P11JWT_OK)
        rc = jose_jws_sign(&signer, key->header_b64, claims_tl.s, len, jws_out);
    return rc;
}
