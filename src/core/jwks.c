/*
 * jwks.c — public keys of the token as JWKs (RFC 7517): one key's JWK, and
 * the JWKS an STS is given to trust our assertions. Only EC and RSA public
 * keys ever appear; a secret key never goes in a JWKS. The token's points come
 * from the PKCS#11 floor as raw bytes; the JWK shape is JOSE's.
 */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

static p11jwt_rc dump_json(json_t *j, char **out)
{
    *out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return *out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

p11jwt_rc p11jwt_key_jwk(p11jwt_key *k, char **json_out)
{
    json_t *jwk = NULL;
    p11jwt_rc rc;

    err_clear();
    *json_out = NULL;
    if (!p11jwt_alg_is_asymmetric(k->alg))
        return err_set(P11JWT_ERR_ALG, "key '%s' is a secret key: it has no public JWK",
                       ESC(k->kid));
    if (k->has_rsa) {
        rc = jose_rsa_jwk(&k->rsa, k->kid, &jwk);
        if (rc == P11JWT_OK)
            rc = dump_json(jwk, json_out);
        json_decref(jwk);
        return rc;
    }
    if (!k->has_pub)
        return err_set(P11JWT_ERR_KEY_NOT_FOUND, "key '%s' has no public key object in the token",
                       ESC(k->kid));
    rc = jose_ec_jwk(&k->pub, k->kid, &jwk);
    if (rc == P11JWT_OK)
        rc = dump_json(jwk, json_out);
    json_decref(jwk);
    return rc;
}

/* Adds the JWK of public key object o (of key type kt) to keys. */
static p11jwt_rc add_jwk(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                         CK_KEY_TYPE kt, const char *kid, json_t *keys)
{
    p11_ec_point point;
    jose_ec_pub pub;
    json_t *jwk = NULL;
    p11jwt_rc rc = kt == CKK_RSA ? core_rsa_jwk_of(t, s, o, kid, &jwk)
                                 : p11_pubkey_read(t, s, o, &point);

    if (rc != P11JWT_OK)
        return err_wrap(rc, "key '%s'", kid != NULL ? ESC(kid) : "(no kid)");
    if (kt != CKK_RSA) {
        core_pub_from_point(&point, &pub);
        rc = jose_ec_jwk(&pub, kid, &jwk);
    }
    if (rc == P11JWT_OK && json_array_append_new(keys, jwk) != 0)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    return rc;
}

/* Every EC, then every RSA, public key of the token, each under its kid.
 * An RSA key too small to sign JWS with (under 2048 bits) is left out. */
static p11jwt_rc add_all(p11jwt_token *t, CK_SESSION_HANDLE s, json_t *keys)
{
    static const CK_KEY_TYPE types[] = { CKK_EC, CKK_RSA };
    p11jwt_rc rc = P11JWT_OK;

    for (size_t k = 0; k < 2 && rc == P11JWT_OK; k++) {
        CK_OBJECT_HANDLE *found = NULL;
        char *kid;
        size_t n = 0;

        rc = p11_object_find_class(t, s, CKO_PUBLIC_KEY, types[k],
                                   "cannot list the token's public keys", &found, &n);
        for (size_t i = 0; i < n && rc == P11JWT_OK; i++) {
            kid = p11_object_kid(t, s, found[i]);
            /* "" (neither a text ID, a text label nor an ID): no kid */
            rc = kid != NULL ? add_jwk(t, s, found[i], types[k], kid[0] != '\0' ? kid : NULL,
                                       keys)
                             : err_set(P11JWT_ERR_NOMEM, "out of memory");
            if (rc == P11JWT_ERR_ALG && types[k] == CKK_RSA) {
                err_clear();
                rc = P11JWT_OK;
            }
            free(kid);
        }
        free(found);
    }
    return rc;
}

/* The EC public key of each kid: refused when one is missing or secret. */
static p11jwt_rc add_kids(p11jwt_token *t, CK_SESSION_HANDLE s, const char *const *kids,
                          size_t nkids, json_t *keys)
{
    p11jwt_rc rc = P11JWT_OK;

    for (size_t i = 0; i < nkids && rc == P11JWT_OK; i++) {
        CK_OBJECT_HANDLE o, sec;

        rc = p11_object_find_one(t, s, CKO_PUBLIC_KEY, kids[i], &o);
        if (rc != P11JWT_OK)
            break;
        if (o == CK_INVALID_HANDLE) {
            if (p11_object_find_one(t, s, CKO_SECRET_KEY, kids[i], &sec) == P11JWT_OK &&
                sec != CK_INVALID_HANDLE)
                rc = err_set(P11JWT_ERR_ALG, "key '%s' is a secret key: it never goes in a JWKS",
                             ESC(kids[i]));
            else
                rc = err_set(P11JWT_ERR_KEY_NOT_FOUND, "no public key with kid '%s' in token '%s'",
                             ESC(kids[i]), p11_token_label(t));
            break;
        }
        rc = add_jwk(t, s, o, p11_object_key_type(t, s, o), kids[i], keys);
    }
    return rc;
}

p11jwt_rc p11jwt_jwks_export(p11jwt_token *t, const char *const *kids, size_t nkids,
                             char **json_out)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    json_t *root = json_object(), *keys = json_array();
    int have_session = 0;
    p11jwt_rc rc;

    err_clear();
    *json_out = NULL;
    if (root == NULL || keys == NULL || json_object_set(root, "keys", keys) != 0) {
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* Public keys are public objects: log in only when a PIN source says
     * the caller expects it, so a JWKS can be published without the PIN. */
    rc = p11_session_get(t, p11_token_pin_given(t), &s);
    if (rc != P11JWT_OK)
        goto out;
    have_session = 1;
    rc = nkids == 0 ? add_all(t, s, keys) : add_kids(t, s, kids, nkids, keys);
    if (rc == P11JWT_OK)
        rc = dump_json(root, json_out);
out:
    if (have_session)
        p11_session_put(t, s);
    json_decref(keys);
    json_decref(root);
    return rc;
}
