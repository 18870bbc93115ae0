/*
 * import.c — a provider-issued EC private key put into the token
 * (p11jwt import-key): its private object made with C_CreateObject under
 * the one template policy (template.c), its public object beside it so
 * that jwks can show it, then the pair checked as a generated one is.
 *
 * The decision: the private template never steps down (what protects the
 * key is not negotiable); the public one does, in its usage flags only,
 * as for a generated pair (tpm2-pkcs11 chokes on them). An imported key
 * was extractable once, in the file, so CKA_NEVER_EXTRACTABLE is not
 * asked of it.
 */
#include "pkcs11/pkcs11_int.h"

#include <string.h>

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

p11jwt_rc p11_import_ec(p11jwt_token *t, CK_SESSION_HANDLE s, const unsigned char *d,
                        const p11_ec_point *pub, const char *id, const char *label,
                        p11_ec_pair *out)
{
    static const CK_OBJECT_CLASS priv_cls = CKO_PRIVATE_KEY, pub_cls = CKO_PUBLIC_KEY;
    static const CK_KEY_TYPE kt = CKK_EC;
    size_t params_len, clen = pub->coord_len;
    const unsigned char *params = p11_ec_params_der(pub->alg, &params_len);
    /* DER OCTET STRING around 04||X||Y: 65, 97 or 133 bytes. */
    unsigned char point[3 + 1 + 2 * 66];
    size_t plen = 0, body = 1 + 2 * clen;
    CK_ATTRIBUTE priv_tmpl[P11_POLICY_MAX + 6];
    CK_ULONG priv_n;
    CK_ATTRIBUTE pub_tmpl[] = {
        { CKA_CLASS, (void *)&pub_cls, sizeof pub_cls },
        { CKA_KEY_TYPE, (void *)&kt, sizeof kt },
        { CKA_TOKEN, (void *)&yes, sizeof yes },
        { CKA_PRIVATE, (void *)&no, sizeof no },
        { CKA_EC_PARAMS, (void *)params, params_len },
        { CKA_EC_POINT, point, 0 },
        { CKA_ID, (void *)id, strlen(id) },
        { CKA_LABEL, (void *)label, strlen(label) },
        /* usage flags: dropped by the one step down */
        { CKA_VERIFY, (void *)&yes, sizeof yes },
        { CKA_ENCRYPT, (void *)&no, sizeof no },
        { CKA_WRAP, (void *)&no, sizeof no },
        { CKA_DERIVE, (void *)&no, sizeof no },
    };
    static const CK_ULONG pub_drop[] = { 0, 4 };
    p11_ec_point shown;
    CK_RV rv = CKR_OK;
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    out->priv = out->pub = CK_INVALID_HANDLE;
    if (params == NULL || clen == 0 || clen > 66)
        return err_set(P11JWT_ERR_ALG, "not an EC key on P-256, P-384 or P-521");
    point[plen++] = 0x04;
    if (body >= 0x80)
        point[plen++] = 0x81;
    point[plen++] = (unsigned char)body;
    point[plen++] = 0x04;
    memcpy(point + plen, pub->x, clen);
    memcpy(point + plen + clen, pub->y, clen);
    plen += 2 * clen;
    pub_tmpl[5].ulValueLen = plen;

    priv_n = p11_template_policy(priv_tmpl);
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_CLASS, (void *)&priv_cls, sizeof priv_cls };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, (void *)&kt, sizeof kt };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)params, params_len };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_VALUE, (void *)d, clen };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, strlen(id) };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };

    rv = P11_CALL(t->fl, C_CreateObject, s, priv_tmpl, priv_n, &out->priv);
    if (rv != CKR_OK) {
        out->priv = CK_INVALID_HANDLE;
        return p11_fail(P11JWT_ERR_PKCS11, rv, "the token could not import the private key");
    }
    rv = p11_template_create(t, s, pub_tmpl, sizeof pub_tmpl / sizeof pub_tmpl[0], pub_drop, 2,
                             &out->pub);
    if (rv != CKR_OK) {
        rc = p11_fail(P11JWT_ERR_PKCS11, rv, "the token could not store the public key");
        goto out;
    }
    rc = p11_template_check(t, s, out->priv, 0);
    if (rc == P11JWT_OK)
        rc = p11_pubkey_read(t, s, out->pub, &shown);
    if (rc == P11JWT_OK && (shown.alg != pub->alg || memcmp(shown.x, pub->x, clen) != 0 ||
                            memcmp(shown.y, pub->y, clen) != 0))
        rc = err_set(P11JWT_ERR_PKCS11, "the token shows another public key than the one "
                                        "imported");
    if (rc == P11JWT_OK)
        rc = p11_check_point_der(t, s, out->pub, &shown);
    if (rc == P11JWT_OK)
        rc = p11_ec_self_test(t, s, out->priv, &shown);
    if (rc == P11JWT_OK)
        out->point = shown;
out:
    if (rc != P11JWT_OK)
        rc = p11_pair_discard(t, s, &out->priv, &out->pub, id, rc);
    return rc;
}
