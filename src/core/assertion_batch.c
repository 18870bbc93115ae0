/*
 * assertion_batch.c — many assertions with the same parameters, each with
 * extra claims of its own: `p11jwt sign --batch`, at the token's rate.
 *
 * The decision: everything a line does not change is done once, here —
 * the parameters checked, iss, aud and sub written, the claims every line
 * carries parsed and written (jose/claims_merge.c) — and the claims buffer lives in the handle, the
 * JWS in the caller's buffer, so a line costs the one pass over its own
 * claims, the base64url and the signature, with no allocation. A handle is
 * one thread's; the key (whose session pool is thread-safe) serves many.
 */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

struct p11jwt_assertion_batch {
    p11jwt_key *key;
    p11jwt_claims_params params; /* extra_json left out: it is in shared */
    jose_extras *shared;
    char *claims;                /* kept between assertions, and with it */
    size_t claims_cap, kept;     /* the start, iss to sub, written once */
};

p11jwt_rc p11jwt_assertion_batch_new(p11jwt_key *key, const p11jwt_claims_params *params,
                                     p11jwt_assertion_batch **out)
{
    p11jwt_assertion_batch *b;
    size_t len;
    p11jwt_rc rc;

    err_clear();
    *out = NULL;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    b->key = key;
    b->params = *params;
    b->params.extra_json = NULL;
    rc = jose_extras_new(params->extra_json, &b->shared);
    /* One claims set written now: the parameters are checked before the
     * first line, and the buffer is sized for the lines to come. */
    if (rc == P11JWT_OK)
        rc = jose_claims_write_merged(&b->params, b->shared, NULL, 0, &b->claims,
                                      &b->claims_cap, &len, &b->kept);
    if (rc != P11JWT_OK) {
        p11jwt_assertion_batch_free(b);
        return rc;
    }
    *out = b;
    return P11JWT_OK;
}

/* Makes *buf hold need bytes; a JWS in the old one is wiped first. */
static p11jwt_rc jws_room(char **buf, size_t *cap, size_t need)
{
    size_t c = *cap > 0 ? *cap : 512;
    char *n;

    if (need <= *cap)
        return P11JWT_OK;
    while (c < need)
        c *= 2;
    n = malloc(c);
    if (n == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    p11jwt_secret_free((unsigned char *)*buf, *cap);
    *buf = n;
    *cap = c;
    return P11JWT_OK;
}

p11jwt_rc p11jwt_assertion_batch_sign(p11jwt_assertion_batch *b, const char *extra_json,
                                      size_t len, char **jws, size_t *cap, size_t *jws_len)
{
    jose_signer signer = core_key_signer(b->key);
    size_t claims_len;
    p11jwt_rc rc;

    err_clear();
    *jws_len = 0;
    rc = jose_claims_write_merged(&b->params, b->shared, extra_json, len, &b->claims,
                                  &b->claims_cap, &claims_len, &b->kept);
    if (rc == P11JWT_OK)
        rc = jws_room(jws, cap, jose_jws_max_len(b->key->header_b64, claims_len));
    if (rc == P11JWT_OK)
        rc = jose_jws_write(&signer, b->key->header_b64, b->claims, claims_len, *jws, jws_len);
    return rc;
}

void p11jwt_assertion_batch_free(p11jwt_assertion_batch *b)
{
    if (b == NULL)
        return;
    jose_extras_free(b->shared);
    free(b->claims);
    free(b);
}
