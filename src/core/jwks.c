/*
 * jwks.c — public keys of the token as JWKs (RFC 7517): one key's JWK, and
 * the JWKS an STS is given to trust our assertions. Only EC and Ed25519
 * (OKP) public keys ever appear; a secret key never goes in a JWKS. The
 * token's points come from the PKCS#11 floor as raw bytes; the JWK shape
 * is JOSE's.
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
    if (!base_alg_has_public_key(k->alg))
        return err_set(P11JWT_ERR_ALG, "key '%s' is a secret key: it has no public JWK",
                       ESC(k->kid));
    if (!k->has_pub)
        return err_set(P11JWT_ERR_KEY_NOT_FOUND, "key '%s' has no public key object in the token",
                       ESC(k->kid));
    rc = jose_ec_jwk(&k->pub, k->kid, &jwk);
    if (rc == P11JWT_OK)
        rc = dump_json(jwk, json_out);
    json_decref(jwk);
    return rc;
}

/* Adds the JWK of public key object o to keys. */
static p11jwt_rc add_jwk(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                         const char *kid, json_t *keys)
{
    p11_ec_point point;
    jose_ec_pub pub;
    json_t *jwk = NULL;
    p11jwt_rc rc = p11_pubkey_read(t, s, o, &point);

    if (rc != P11JWT_OK)
        return err_wrap(rc, "key '%s'", kid != NULL ? ESC(kid) : "(no kid)");
    core_pub_from_point(&point, &pub);
    rc = jose_ec_jwk(&pub, kid, &jwk);
    if (rc == P11JWT_OK && json_array_append_new(keys, jwk) != 0)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    return rc;
}

/* Every public key of type kt (EC, Ed25519) in the token, each under its
 * kid. */
static p11jwt_rc add_all(p11jwt_token *t, CK_SESSION_HANDLE s, CK_KEY_TYPE kt, json_t *keys)
{
    CK_OBJECT_HANDLE *found = NULL;
    char *kid;
    size_t n = 0;
    p11jwt_rc rc = p11_object_find_class(t, s, CKO_PUBLIC_KEY, kt,
                                         "cannot list the token's public keys", &found, &n);

    for (size_t i = 0; i < n && rc == P11JWT_OK; i++) {
        kid = p11_object_kid(t, s, found[i]);
        /* "" (neither a text ID, a text label nor an ID): no kid */
        rc = kid != NULL ? add_jwk(t, s, found[i], kid[0] != '\0' ? kid : NULL, keys)
                         : err_set(P11JWT_ERR_NOMEM, "out of memory");
        free(kid);
    }
    free(found);
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
        rc = add_jwk(t, s, o, kids[i], keys);
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
    if (nkids != 0)
        rc = add_kids(t, s, kids, nkids, keys);
    else if ((rc = add_all(t, s, CKK_EC, keys)) == P11JWT_OK)
        rc = add_all(t, s, CKK_EC_EDWARDS, keys);
    if (rc == P11JWT_OK)
        rc = dump_json(root, json_out);
out:
    if (have_session)
        p11_session_put(t, s);
    json_decref(keys);
    json_decref(root);
    return rc;
}
