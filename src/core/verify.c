/*
 * verify.c — checking a JWS against a JWKS, a key in the token, or an HMAC
 * secret (p11jwt_verify_*). Whatever the source, the key pins the alg: the
 * header's alg must equal it ("none" never does), then the signature
 * (jose/jws_verify.c), then the claims (jose/claims_check.c). An RSA JWK
 * without "alg" pins only the family: RS or PS, as the JWS says.
 */
#include "core/core_int.h"

#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

/* Runs the checks every source shares and hands out header and payload. */
static p11jwt_rc finish(const jose_jws *j, const jose_verifier *v,
                        const p11jwt_verify_params *params, char **header_out,
                        char **payload_out)
{
    p11jwt_verify_params none = { 0 };
    p11jwt_rc rc = jose_jws_verify(j, v);

    if (rc == P11JWT_OK)
        rc = jose_claims_check(j, params != NULL ? params : &none);
    if (rc != P11JWT_OK)
        return rc;
    if (header_out != NULL &&
        (*header_out = json_dumps(j->header, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (payload_out != NULL &&
        (*payload_out = json_dumps(j->payload, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
        if (header_out != NULL) {
            free(*header_out);
            *header_out = NULL;
        }
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    return P11JWT_OK;
}

static void reset_outs(char **header_out, char **payload_out)
{
    err_clear();
    if (header_out != NULL)
        *header_out = NULL;
    if (payload_out != NULL)
        *payload_out = NULL;
}

/* The verifier of a JWK: an EC key's alg is its curve's (an OKP key's,
 * EdDSA, read by jose_ec_from_jwk too); an RSA key's is
 * its "alg", else the JWS's when that is RS or PS (RFC 7517 makes "alg"
 * optional: the key type still bars HS, ES and "none"). */
static p11jwt_rc jwk_verifier(const json_t *jwk, const jose_jws *j, jose_verifier *v)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    p11jwt_rc rc;

    if (kty != NULL && strcmp(kty, "RSA") == 0) {
        jose_rsa_pub *rsa = malloc(sizeof *rsa);

        if (rsa == NULL)
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        rc = jose_rsa_from_jwk(jwk, rsa);
        if (rc == P11JWT_OK) {
            v->alg = rsa->alg != P11JWT_ALG_UNKNOWN ? rsa->alg
                     : p11jwt_alg_is_rsa(j->alg)   ? j->alg
                                                   : P11JWT_RS256;
            rc = jose_rsa_pkey(rsa, &v->pkey);
        }
        free(rsa);
        return rc;
    }
    {
        jose_ec_pub pub;

        rc = jose_ec_from_jwk(jwk, &pub);
        if (rc == P11JWT_OK) {
            v->alg = pub.alg;
            rc = jose_ec_pkey(&pub, &v->pkey);
        }
    }
    return rc;
}

p11jwt_rc p11jwt_verify_jwks(const char *jws, const char *jwks_json,
                             const p11jwt_verify_params *params, char **header_out,
                             char **payload_out)
{
    jose_jws *j = NULL;
    json_t *jwks = NULL;
    json_error_t jerr;
    const json_t *jwk = NULL;
    jose_verifier v = { 0 };
    p11jwt_rc rc;

    reset_outs(header_out, payload_out);
    jwks = json_loads(jwks_json, JSON_REJECT_DUPLICATES, &jerr);
    if (jwks == NULL)
        return err_set(P11JWT_ERR_JSON, "JWKS is not valid JSON: %s (line %d)", ESC(jerr.text),
                       jerr.line);
    rc = jose_jws_parse(jws, strlen(jws), &j);
    if (rc == P11JWT_OK)
        rc = jose_jwks_pick(jwks, j->kid, &jwk);
    if (rc == P11JWT_OK)
        rc = jwk_verifier(jwk, j, &v);
    if (rc == P11JWT_OK)
        rc = finish(j, &v, params, header_out, payload_out);
    EVP_PKEY_free(v.pkey);
    jose_jws_free(j);
    json_decref(jwks);
    return rc;
}

p11jwt_rc p11jwt_verify_key(const char *jws, p11jwt_key *key,
                            const p11jwt_verify_params *params, char **header_out,
                            char **payload_out)
{
    jose_jws *j = NULL;
    jose_verifier v = { 0 };
    p11jwt_rc rc;

    reset_outs(header_out, payload_out);
    rc = jose_jws_parse(jws, strlen(jws), &j);
    if (rc != P11JWT_OK)
        return rc;
    if (j->kid != NULL && strcmp(j->kid, key->kid) != 0) {
        rc = err_set(P11JWT_ERR_SIGNATURE, "the JWS names kid '%s', not '%s'", ESC(j->kid),
                     ESC(key->kid));
        goto out;
    }
    v.alg = key->alg;
    if (key->has_rsa) {
        rc = jose_rsa_pkey(&key->rsa, &v.pkey);
    } else if (p11jwt_alg_is_asymmetric(key->alg)) { /* EC, Ed25519: a point */
        if (!key->has_pub) {
            rc = err_set(P11JWT_ERR_KEY_NOT_FOUND,
                         "key '%s' has no public key object in the token to verify with",
                         ESC(key->kid));
            goto out;
        }
        rc = jose_ec_pkey(&key->pub, &v.pkey);
    } else {
        /* The secret stays in the token: recompute the MAC there. */
        v.mac = core_key_sign_cb;
        v.ctx = key;
    }
    if (rc == P11JWT_OK)
        rc = finish(j, &v, params, header_out, payload_out);
out:
    EVP_PKEY_free(v.pkey);
    jose_jws_free(j);
    return rc;
}

struct host_secret {
    p11jwt_alg alg;
    const unsigned char *key;
    size_t key_len;
};

static p11jwt_rc host_mac_cb(void *ctx, const unsigned char *data, size_t len,
                             unsigned char *mac, size_t *mac_len)
{
    const struct host_secret *hs = ctx;
    const EVP_MD *md = base_alg_md(hs->alg);
    unsigned int out_len = 0;

    if (*mac_len < (size_t)EVP_MD_get_size(md) ||
        HMAC(md, hs->key, (int)hs->key_len, data, len, mac, &out_len) == NULL)
        return err_set(P11JWT_ERR_CRYPTO, "HMAC computation failed");
    *mac_len = out_len;
    return P11JWT_OK;
}

p11jwt_rc p11jwt_verify_secret(const char *jws, p11jwt_alg alg, const unsigned char *secret,
                               size_t secret_len, const p11jwt_verify_params *params,
                               char **header_out, char **payload_out)
{
    struct host_secret hs = { alg, secret, secret_len };
    jose_verifier v = { alg, NULL, host_mac_cb, &hs };
    jose_jws *j = NULL;
    p11jwt_rc rc;

    reset_outs(header_out, payload_out);
    if (alg != P11JWT_HS256 && alg != P11JWT_HS384 && alg != P11JWT_HS512)
        return err_set(P11JWT_ERR_ALG, "a secret verifies HS256, HS384 or HS512 only");
    if (secret_len == 0)
        return err_set(P11JWT_ERR_SECRET, "the secret is empty");
    rc = jose_jws_parse(jws, strlen(jws), &j);
    if (rc == P11JWT_OK)
        rc = finish(j, &v, params, header_out, payload_out);
    jose_jws_free(j);
    return rc;
}
