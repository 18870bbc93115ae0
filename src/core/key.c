/*
 * key.c — p11jwt_key, a key in the token with its JOSE header: opened by
 * kid once (pkcs11's key handle finds and caches the object), its header
 * {alg, kid, typ} encoded once, so that a signature costs the token's work
 * and the claims, nothing else.
 */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

void core_pub_from_point(const p11_ec_point *point, jose_ec_pub *pub)
{
    memset(pub, 0, sizeof *pub);
    pub->alg = point->alg;
    pub->coord_len = point->coord_len;
    memcpy(pub->x, point->x, point->coord_len);
    memcpy(pub->y, point->y, point->coord_len);
}

p11jwt_rc p11jwt_key_open(p11jwt_token *t, const char *kid, p11jwt_key **out)
{
    return p11jwt_key_open_as(t, kid, P11JWT_ALG_UNKNOWN, out);
}

p11jwt_rc p11jwt_key_open_as(p11jwt_token *t, const char *kid, p11jwt_alg alg,
                             p11jwt_key **out)
{
    const p11_ec_point *point;
    const p11_rsa_pub *rsa;
    p11jwt_key *k = NULL;
    p11jwt_rc rc;

    err_clear();
    *out = NULL;
    k = calloc(1, sizeof *k);
    if (k == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    rc = p11_keyhandle_open(t, kid, alg, &k->h);
    if (rc != P11JWT_OK)
        goto out;
    k->kid = p11_keyhandle_kid(k->h);
    k->alg = p11_keyhandle_alg(k->h);
    if (alg != P11JWT_ALG_UNKNOWN && (rc = p11jwt_key_check_alg(k, alg)) != P11JWT_OK)
        goto out;
    if ((point = p11_keyhandle_point(k->h)) != NULL) {
        core_pub_from_point(point, &k->pub);
        k->has_pub = 1;
    }
    k->sig_len = p11_keyhandle_sig_len(k->h);
    if ((rsa = p11_keyhandle_rsa(k->h)) != NULL) {
        /* The JWK says the alg only when the key pins it. */
        rc = core_rsa_from_p11(rsa, p11_keyhandle_pinned(k->h) != P11JWT_PINNED_NONE
                                        ? k->alg
                                        : P11JWT_ALG_UNKNOWN,
                               &k->rsa);
        if (rc != P11JWT_OK)
            goto out;
        k->has_rsa = 1;
    }
    rc = jose_header_b64(k->alg, k->kid, &k->header_b64);
    if (rc != P11JWT_OK)
        goto out;
    k->header_b64_len = strlen(k->header_b64);
    *out = k;
    k = NULL;
out:
    p11jwt_key_free(k);
    return rc;
}

void p11jwt_key_free(p11jwt_key *k)
{
    if (k == NULL)
        return;
    p11_keyhandle_free(k->h);
    free(k->header_b64);
    free(k);
}

p11jwt_alg p11jwt_key_alg(const p11jwt_key *k)
{
    return k->alg;
}

const char *p11jwt_key_kid(const p11jwt_key *k)
{
    return k->kid;
}

size_t p11jwt_key_sig_len(const p11jwt_key *k)
{
    return k->sig_len;
}

p11jwt_rc p11jwt_key_check_alg(const p11jwt_key *k, p11jwt_alg alg)
{
    if (alg == k->alg)
        return P11JWT_OK;
    if (p11jwt_alg_is_rsa(alg) && p11jwt_alg_is_rsa(k->alg) &&
        p11_keyhandle_pinned(k->h) == P11JWT_PINNED_NONE)
        return err_set(P11JWT_ERR_ALG, "%s asked of RSA key '%s', which pins no alg and was "
                                       "opened as %s",
                       p11jwt_alg_name(alg), ESC(k->kid), p11jwt_alg_name(k->alg));
    if (base_alg_crv(k->alg) != NULL) /* EC or Ed25519: the curve is the alg */
        return err_set(P11JWT_ERR_ALG, "%s asked of key '%s', which is a key on %s (%s)",
                       alg != P11JWT_ALG_UNKNOWN ? p11jwt_alg_name(alg) : "an unknown alg",
                       ESC(k->kid), base_alg_crv(k->alg), p11jwt_alg_name(k->alg));
    return err_set(P11JWT_ERR_ALG, "%s asked of key '%s', which is %s %s",
                   alg != P11JWT_ALG_UNKNOWN ? p11jwt_alg_name(alg) : "an unknown alg",
                   ESC(k->kid),
                   p11_keyhandle_pinned(k->h) == P11JWT_PINNED_NONE ? "opened as" : "pinned to",
                   p11jwt_alg_name(k->alg));
}

p11jwt_rc p11jwt_key_sign(p11jwt_key *k, const unsigned char *data, size_t len,
                          unsigned char *sig, size_t *sig_len)
{
    return p11_sign(k->h, data, len, sig, sig_len);
}

p11jwt_rc core_key_sign_cb(void *ctx, const unsigned char *data, size_t len, unsigned char *sig,
                           size_t *sig_len)
{
    const p11jwt_key *k = ctx;

    return p11_sign(k->h, data, len, sig, sig_len);
}

jose_signer core_key_signer(p11jwt_key *k)
{
    return (jose_signer){ k->alg, k->kid, core_key_sign_cb, k, k->sig_len };
}
