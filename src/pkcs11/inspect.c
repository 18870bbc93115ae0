/*
 * inspect.c — what `p11jwt doctor` reads of a token that nothing else
 * needs: the module's own description and arguments, the token's identity
 * and PIN flags, where its PIN would come from, and a key's protection
 * attributes. Read-only: nothing here logs in (the caller does, through
 * the ordinary login, with all its rules) or changes an object.
 *
 * The decision: facts, not verdicts. What is fine and what is not is the
 * doctor's (exchange/doctor.c) to say, next to its fixes.
 */
#include "pkcs11/pkcs11_int.h"

#include <stdio.h>
#include <string.h>

/* A blank-padded PKCS#11 string, trimmed and escaped. */
static void padded(char *dst, size_t cap, const unsigned char *src, size_t n)
{
    char raw[65];

    if (n > sizeof raw - 1)
        n = sizeof raw - 1;
    while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
        n--;
    memcpy(raw, src, n);
    raw[n] = '\0';
    err_escape(dst, cap, raw);
}

p11jwt_rc p11_inspect_module(const p11jwt_token *t, p11_module_facts *out)
{
    CK_INFO info;

    memset(out, 0, sizeof *out);
    if (t->mod == NULL)
        return err_set(P11JWT_ERR_MODULE, "no module loaded");
    out->path = p11_module_path(t->mod);
    out->args = p11_module_args(t->mod);
    if (P11_RAISE(P11JWT_ERR_PKCS11, "C_GetInfo", t->fl, C_GetInfo, &info) != CKR_OK)
        return P11JWT_ERR_PKCS11;
    {
        char maker[ESC_CAP], desc[ESC_CAP];

        padded(maker, sizeof maker, info.manufacturerID, sizeof info.manufacturerID);
        padded(desc, sizeof desc, info.libraryDescription, sizeof info.libraryDescription);
        snprintf(out->description, sizeof out->description, "%s, %s %u.%u", desc, maker,
                 info.libraryVersion.major, info.libraryVersion.minor);
    }
    return P11JWT_OK;
}

p11jwt_rc p11_inspect_token(p11jwt_token *t, p11_token_facts *out)
{
    CK_TOKEN_INFO info;
    char maker[ESC_CAP], model[ESC_CAP];

    memset(out, 0, sizeof *out);
    if (P11_RAISE(P11JWT_ERR_PKCS11, "cannot read the token's information", t->fl,
                  C_GetTokenInfo, t->slot, &info) != CKR_OK)
        return P11JWT_ERR_PKCS11;
    padded(maker, sizeof maker, info.manufacturerID, sizeof info.manufacturerID);
    padded(model, sizeof model, info.model, sizeof info.model);
    snprintf(out->label, sizeof out->label, "%s", t->label);
    padded(out->serial, sizeof out->serial, info.serialNumber, sizeof info.serialNumber);
    snprintf(out->model, sizeof out->model, "%s %s", maker, model);
    out->slot = (unsigned long)t->slot;
    out->flags = info.flags;
    out->pin_file = t->pin.file;
    out->pin_env = t->pin.env;
    out->prompt = t->pin.prompt_allowed;
    return P11JWT_OK;
}

/* A CK_BBOOL attribute: 1, 0, or -1 when the token does not show it. */
static int bool_of(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL b = CK_FALSE;
    CK_ATTRIBUTE a = { type, &b, sizeof b };

    if (P11_CALL(t->fl, C_GetAttributeValue, s, o, &a, 1) != CKR_OK || a.ulValueLen != sizeof b)
        return -1;
    return b == CK_TRUE;
}

p11jwt_rc p11_inspect_key(p11jwt_token *t, const char *kid, int logged_in, p11_key_facts *out)
{
    static const struct {
        CK_ATTRIBUTE_TYPE type;
        const char *name;
    } other_uses[] = {
        { CKA_DECRYPT, "decrypt" }, { CKA_UNWRAP, "unwrap" }, { CKA_DERIVE, "derive" },
        { CKA_ENCRYPT, "encrypt" }, { CKA_WRAP, "wrap" },
    };
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    rc = p11_session_get(t, logged_in, &s);
    if (rc != P11JWT_OK)
        return rc;
    out->cls = CKO_PRIVATE_KEY;
    rc = p11_object_find_one(t, s, CKO_PRIVATE_KEY, kid, &o);
    if (rc == P11JWT_OK && o == CK_INVALID_HANDLE) {
        out->cls = CKO_SECRET_KEY;
        rc = p11_object_find_one(t, s, CKO_SECRET_KEY, kid, &o);
    }
    if (rc == P11JWT_OK && o == CK_INVALID_HANDLE) {
        /* Only a public half: the key to sign with is not here. */
        CK_OBJECT_HANDLE pub;

        out->cls = CKO_PUBLIC_KEY;
        rc = p11_object_find_one(t, s, CKO_PUBLIC_KEY, kid, &pub);
        out->public_only = rc == P11JWT_OK && pub != CK_INVALID_HANDLE;
    }
    if (rc == P11JWT_OK && o != CK_INVALID_HANDLE) {
        out->found = 1;
        out->alg = p11_object_alg(t, s, o, out->cls, P11JWT_ALG_UNKNOWN, NULL, NULL);
        out->sensitive = bool_of(t, s, o, CKA_SENSITIVE);
        out->extractable = bool_of(t, s, o, CKA_EXTRACTABLE);
        out->never_extractable = bool_of(t, s, o, CKA_NEVER_EXTRACTABLE);
        out->sign = bool_of(t, s, o, CKA_SIGN);
        for (size_t i = 0; i < sizeof other_uses / sizeof other_uses[0]; i++)
            if (bool_of(t, s, o, other_uses[i].type) == 1)
                snprintf(out->other_uses + strlen(out->other_uses),
                         sizeof out->other_uses - strlen(out->other_uses), "%s%s",
                         out->other_uses[0] ? ", " : "", other_uses[i].name);
    }
    p11_session_put(t, s);
    return rc;
}
