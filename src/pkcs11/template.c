/*
 * template.c — the one policy for a signing key's private or secret
 * object: what it is made with (CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not
 * CKA_EXTRACTABLE, CKA_SIGN, and no decrypt, unwrap or derive), what must
 * read back from it once the token made it, and which refusals of a
 * template are worth a less strict one. keygen.c builds every template
 * from here, so an EC pair, a generated HMAC secret and an imported one
 * are protected alike.
 *
 * The decision: a refused template steps down only in what restricts
 * usage (a public key's flags, an HMAC key's allowed mechanisms), never in
 * what protects the key; and what protects it is read back, because a
 * token may take an attribute and not honour it.
 */
#include "pkcs11/pkcs11_int.h"

#include <string.h>

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

size_t p11_template_policy(CK_ATTRIBUTE *out)
{
    const CK_ATTRIBUTE policy[P11_POLICY_MAX] = {
        { CKA_TOKEN, (void *)&yes, sizeof yes },
        { CKA_PRIVATE, (void *)&yes, sizeof yes },
        { CKA_SENSITIVE, (void *)&yes, sizeof yes },
        { CKA_EXTRACTABLE, (void *)&no, sizeof no },
        { CKA_SIGN, (void *)&yes, sizeof yes },
        /* A signing key signs and does nothing else: tokens (SoftHSM among
         * them) default decrypt, unwrap and derive to TRUE, which would let
         * an EC key do ECDH and a secret key unwrap other keys. */
        { CKA_DECRYPT, (void *)&no, sizeof no },
        { CKA_UNWRAP, (void *)&no, sizeof no },
        { CKA_DERIVE, (void *)&no, sizeof no },
    };

    memcpy(out, policy, sizeof policy);
    return P11_POLICY_MAX;
}

p11jwt_rc p11_template_check(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                             int generated)
{
    static const struct {
        CK_ATTRIBUTE_TYPE type;
        CK_BBOOL want;
        const char *name;
    } must[] = {
        { CKA_SENSITIVE, CK_TRUE, "CKA_SENSITIVE" },
        { CKA_EXTRACTABLE, CK_FALSE, "CKA_EXTRACTABLE" },
        { CKA_NEVER_EXTRACTABLE, CK_TRUE, "CKA_NEVER_EXTRACTABLE" },
    };
    size_t n = generated ? 3 : 2;
    p11jwt_rc rc = P11JWT_OK;

    for (size_t i = 0; i < n && rc == P11JWT_OK; i++) {
        CK_BBOOL v = !must[i].want;
        CK_ATTRIBUTE a = { must[i].type, &v, sizeof v };

        if (P11_RAISE(P11JWT_ERR_PKCS11, must[i].name, t->fl, C_GetAttributeValue, s, o, &a,
                      1) != CKR_OK)
            rc = P11JWT_ERR_PKCS11;
        else if (a.ulValueLen != sizeof v || (v != CK_FALSE) != (must[i].want != CK_FALSE))
            rc = err_set(P11JWT_ERR_PKCS11, "%s reads %s", must[i].name,
                         must[i].want ? "FALSE" : "TRUE");
    }
    if (rc != P11JWT_OK)
        rc = err_set(rc, "the token did not keep the new key sensitive and non-extractable (%s)",
                     p11jwt_errmsg());
    return rc;
}

int p11_template_refused(CK_RV rv)
{
    /* NSS and tpm2-pkcs11 answer CKR_GENERAL_ERROR to an attribute they
     * cannot take. */
    return rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
           rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_GENERAL_ERROR ||
           rv == CKR_FUNCTION_FAILED;
}

CK_RV p11_template_create(p11jwt_token *t, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                          const CK_ULONG *drop, size_t steps, CK_OBJECT_HANDLE *o)
{
    CK_RV rv = CKR_TEMPLATE_INCONSISTENT;

    for (size_t i = 0; i < steps; i++) {
        rv = P11_CALL(t->fl, C_CreateObject, s, tmpl, n - drop[i], o);
        if (!p11_template_refused(rv))
            break;
    }
    if (rv != CKR_OK)
        *o = CK_INVALID_HANDLE;
    return rv;
}

CK_RV p11_template_generate(p11jwt_token *t, CK_SESSION_HANDLE s, CK_MECHANISM *mech,
                            CK_ATTRIBUTE *pub_tmpl, CK_ULONG pub_n, CK_ATTRIBUTE *priv_tmpl,
                            CK_ULONG priv_n, const p11_template_step *steps, size_t nsteps,
                            CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
    CK_RV rv = CKR_TEMPLATE_INCONSISTENT;

    for (size_t i = 0; i < nsteps; i++) {
        rv = P11_CALL(t->fl, C_GenerateKeyPair, s, mech, pub_tmpl, pub_n - steps[i].pub_drop,
                      priv_tmpl, priv_n - steps[i].priv_drop, pub, priv);
        if (!p11_template_refused(rv))
            break;
    }
    if (rv != CKR_OK)
        *pub = *priv = CK_INVALID_HANDLE;
    return rv;
}
