/*
 * kid.c — p11jwt_key_generate: a new key in the token and the kid it is
 * known by. Without a kid given, an EC, RSA or Ed25519 key's kid is its
 * RFC 7638 thumbprint (an Ed25519 key's over its OKP JWK) and an HMAC
 * key's 16 random bytes in base64url (RSA pairs: rsa_key.c).
 *
 * The decision: a thumbprint is known only once the token made the pair,
 * so the pair is born under a temporary ID (p11jwt-tmp-RANDOM) and renamed;
 * if anything after the pair exists fails (the thumbprint is taken, the
 * rename is refused), the pair is destroyed, so no half-made key is left
 * behind. Making and checking the key is the PKCS#11 floor's (keygen.c);
 * the kid is JOSE's, so it is decided here, where the two meet.
 */
#include "core/core_int.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define TMP_ID_PREFIX "p11jwt-tmp-"

/* nbytes (at most 32) random bytes in base64url, in a new string. */
static p11jwt_rc random_b64(size_t nbytes, char **out)
{
    unsigned char raw[32];

    *out = malloc(jose_b64url_len(nbytes) + 1);
    if (*out == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (RAND_bytes(raw, (int)nbytes) != 1) {
        free(*out);
        *out = NULL;
        return err_set(P11JWT_ERR_CRYPTO, "OpenSSL's random generator failed");
    }
    jose_b64url_encode(raw, nbytes, *out);
    return P11JWT_OK;
}

p11jwt_rc core_name_pair(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                         CK_OBJECT_HANDLE pub, const char *thumb, const char *kid,
                         const char *id, const char *label, char **kid_out)
{
    char *final_kid = NULL;
    p11jwt_rc rc;

    if (kid != NULL) {
        final_kid = strdup(kid);
        rc = final_kid != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
        goto out;
    }
    final_kid = strdup(thumb);
    rc = final_kid != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (rc == P11JWT_OK)
        rc = p11_kid_check_new(t, s, final_kid);
    if (rc == P11JWT_OK)
        rc = p11_object_name(t, s, pub, final_kid, label != NULL ? label : final_kid);
    if (rc == P11JWT_OK)
        rc = p11_object_name(t, s, priv, final_kid, label != NULL ? label : final_kid);
out:
    if (rc != P11JWT_OK) {
        rc = p11_pair_discard(t, s, &priv, &pub, id, rc);
        free(final_kid);
        final_kid = NULL;
    }
    *kid_out = final_kid;
    return rc;
}

p11jwt_rc core_tmp_id(const char *kid, char **tmp_id)
{
    char *rand_part = NULL;
    p11jwt_rc rc;

    *tmp_id = NULL;
    if (kid != NULL)
        return P11JWT_OK;
    rc = random_b64(12, &rand_part);
    if (rc != P11JWT_OK)
        return rc;
    *tmp_id = malloc(strlen(TMP_ID_PREFIX) + strlen(rand_part) + 1);
    if (*tmp_id == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    else {
        strcpy(*tmp_id, TMP_ID_PREFIX);
        strcat(*tmp_id, rand_part);
    }
    free(rand_part);
    return rc;
}

static p11jwt_rc generate_ec(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg,
                             const char *kid, const char *label, char **kid_out)
{
    char *tmp_id = NULL, thumb[44];
    const char *id;
    p11_ec_pair pair;
    jose_ec_pub pub;
    p11jwt_rc rc;

    /* Without a kid the pair is born under a temporary ID, renamed below. */
    rc = core_tmp_id(kid, &tmp_id);
    if (rc != P11JWT_OK)
        return rc;
    id = kid != NULL ? kid : tmp_id;
    rc = alg == P11JWT_EDDSA ? p11_keygen_eddsa(t, s, id, label != NULL ? label : id, &pair)
                             : p11_keygen_ec(t, s, alg, id, label != NULL ? label : id, &pair);
    if (rc == P11JWT_OK) {
        core_pub_from_point(&pair.point, &pub);
        rc = jose_ec_thumbprint(&pub, thumb); /* an OKP JWK's for Ed25519 */
        if (rc != P11JWT_OK)
            rc = p11_pair_discard(t, s, &pair.priv, &pair.pub, id, rc);
    }
    if (rc == P11JWT_OK)
        rc = core_name_pair(t, s, pair.priv, pair.pub, thumb, kid, id, label, kid_out);
    free(tmp_id);
    return rc;
}

p11jwt_rc p11jwt_key_generate(p11jwt_token *t, p11jwt_alg alg, const char *kid,
                              const char *label, char **kid_out)
{
    CK_SESSION_HANDLE s;
    char *hs_kid = NULL;
    p11jwt_rc rc;

    err_clear();
    *kid_out = NULL;
    if (p11jwt_alg_name(alg) == NULL)
        return err_set(P11JWT_ERR_ALG, "unsupported alg for key generation");
    if (label != NULL && label[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "the label is empty");
    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    if (kid != NULL)
        rc = p11_kid_check_new(t, s, kid);
    if (rc != P11JWT_OK)
        goto out;

    if (p11jwt_alg_is_rsa(alg)) {
        rc = core_generate_rsa(t, s, alg, 0, kid, label, kid_out);
        goto out;
    }
    if (p11jwt_alg_is_asymmetric(alg)) { /* EC, Ed25519 */
        rc = generate_ec(t, s, alg, kid, label, kid_out);
        goto out;
    }
    if (kid == NULL) {
        rc = random_b64(16, &hs_kid);
        if (rc != P11JWT_OK)
            goto out;
        kid = hs_kid;
    }
    rc = p11_keygen_hmac(t, s, alg, kid, label != NULL ? label : kid);
    if (rc == P11JWT_OK) {
        *kid_out = hs_kid != NULL ? hs_kid : strdup(kid);
        hs_kid = NULL;
        if (*kid_out == NULL)
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
out:
    free(hs_kid);
    p11_session_put(t, s);
    return rc;
}
