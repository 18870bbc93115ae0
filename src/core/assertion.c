/*
 * assertion.c — a signed JWT assertion from a key in the token: the claims
 * JSON from the jose layer, the header encoded once per key, the signature
 * from the token. This is where the two layers meet; neither sees the other.
 */
#include "token/tok.h"

#include <stdlib.h>
#include <string.h>

static p11jwt_rc key_sign_cb(void *ctx, const unsigned char *data, size_t len,
                             unsigned char *sig, size_t *sig_len)
{
    return p11jwt_key_sign(ctx, data, len, sig, sig_len);
}

p11jwt_rc p11jwt_assertion_sign(p11jwt_key *key, const p11jwt_claims_params *params,
                                char **jws_out)
{
    jose_signer signer = { key->alg, key->kid, key_sign_cb, key };
    char *claims = NULL;
    p11jwt_rc rc;

    err_clear();
    *jws_out = NULL;
    rc = jose_claims_json(params, &claims);
    if (rc == P11JWT_OK)
        rc = jose_jws_sign(&signer, key->header_b64, claims, strlen(claims), jws_out);
    free(claims);
    return rc;
}
