/*
 * keygen_rsa.c — RSA pairs in the token: generated (p11jwt keygen --alg
 * RS256 --bits N) or imported from a provider's file (p11jwt import-key),
 * their public key read back (CKA_MODULUS, CKA_PUBLIC_EXPONENT), and the
 * check every new pair passes: its protection read back and a signature
 * made by the token verified on the host with the public key it shows.
 *
 * The decision: as for EC and HMAC keys, the private template is the one
 * policy (template.c) and never steps down in what protects the key. What
 * restricts usage steps down: CKA_ALLOWED_MECHANISMS naming the alg's one
 * mechanism (which pins RS vs PS and the hash, as the key type cannot),
 * then nothing, and the public key's usage flags. The public key carries
 * the same CKA_ALLOWED_MECHANISMS, so that jwks, which runs without a PIN
 * and so cannot see the private key, can say the alg. A pair that ends up
 * pinning no alg signs only as an alg its caller names (pinned: none).
 */
#include "pkcs11/pkcs11_int.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

size_t p11_rsa_bits(const p11_rsa_pub *pub)
{
    size_t bits = pub->n_len * 8;

    for (unsigned char top = pub->n_len > 0 ? pub->n[0] : 0x80; !(top & 0x80) && bits > 0;
         top <<= 1)
        bits--;
    return bits;
}

/* Copies a big-endian integer of len bytes into out (cap bytes) without
 * its leading zero bytes; 0 when empty or too long. */
static size_t strip_copy(const unsigned char *p, size_t len, unsigned char *out, size_t cap)
{
    while (len > 0 && p[0] == 0) {
        p++;
        len--;
    }
    if (len == 0 || len > cap)
        return 0;
    memcpy(out, p, len);
    return len;
}

p11jwt_rc p11_rsa_pub_read(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                           p11_rsa_pub *out)
{
    unsigned char *n = NULL, *e = NULL;
    size_t n_len = 0, e_len = 0, bits;
    CK_RV rv;
    p11jwt_rc rc = P11JWT_OK;

    memset(out, 0, sizeof *out);
    rv = p11_object_attr(t, s, o, CKA_MODULUS, &n, &n_len);
    if (rv == CKR_OK)
        rv = p11_object_attr(t, s, o, CKA_PUBLIC_EXPONENT, &e, &e_len);
    if (rv != CKR_OK) {
        rc = p11_fail(P11JWT_ERR_PKCS11, rv, "cannot read the RSA public key");
        goto out;
    }
    if ((out->e_len = strip_copy(e, e_len, out->e, sizeof out->e)) == 0) {
        rc = err_set(P11JWT_ERR_PKCS11, "the RSA key's CKA_PUBLIC_EXPONENT is empty or too long");
        goto out;
    }
    if ((out->n_len = strip_copy(n, n_len, out->n, sizeof out->n)) == 0) {
        rc = err_set(P11JWT_ERR_ALG, "the RSA key's modulus is empty or longer than %d bits",
                     P11_RSA_MAX * 8);
        goto out;
    }
    bits = p11_rsa_bits(out);
    if (bits < P11_RSA_MIN_BITS)
        rc = err_set(P11JWT_ERR_ALG,
                     "the RSA key is %zu bits: RS and PS need at least %d (RFC 7518 section 3.3)",
                     bits, P11_RSA_MIN_BITS);
out:
    free(n);
    free(e);
    return rc;
}

/* Signs random bytes with the new private key as alg and verifies the
 * signature on the host with the public key the token shows. */
static p11jwt_rc self_test(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                           p11jwt_alg alg, const p11_rsa_pub *pub)
{
    unsigned char data[32], buf[P11_DIGEST_INFO_MAX + EVP_MAX_MD_SIZE], sig[P11_RSA_MAX];
    const unsigned char *in;
    size_t in_len;
    CK_ULONG sig_len = sizeof sig;
    p11_rsa_mech m;
    CK_MECHANISM mech;
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    p11jwt_rc rc;
    int ok = 0;

    if (RAND_bytes(data, sizeof data) != 1)
        return err_set(P11JWT_ERR_CRYPTO, "OpenSSL's random generator failed");
    rc = p11_rsa_mech_choose(t, s, priv, alg, NULL, &m);
    if (rc == P11JWT_OK)
        rc = p11_rsa_input(&m, alg, base_alg_md(alg), data, sizeof data, buf, &in, &in_len);
    if (rc != P11JWT_OK)
        return rc;
    mech = (CK_MECHANISM){ m.type, m.is_pss ? &m.pss : NULL, m.is_pss ? sizeof m.pss : 0 };
    if (P11_RAISE(P11JWT_ERR_PKCS11, "the new key cannot sign", t->fl, C_SignInit, s, &mech,
                  priv) != CKR_OK ||
        P11_RAISE(P11JWT_ERR_PKCS11, "the new key cannot sign", t->fl, C_Sign, s,
                  (CK_BYTE_PTR)in, in_len, sig, &sig_len) != CKR_OK)
        return P11JWT_ERR_PKCS11;
    rc = base_rsa_pkey(pub->n, pub->n_len, pub->e, pub->e_len, &pkey);
    if (rc != P11JWT_OK)
        return rc;
    md = EVP_MD_CTX_new();
    ok = sig_len == pub->n_len && md != NULL &&
         EVP_DigestVerifyInit(md, &pctx, base_alg_md(alg), NULL, pkey) == 1 &&
         base_rsa_set_padding(pctx, alg) &&
         EVP_DigestVerify(md, sig, sig_len, data, sizeof data) == 1;
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    return ok ? P11JWT_OK
              : err_set(P11JWT_ERR_PKCS11, "the new key's %s signature does not verify with "
                                           "the public key the token shows",
                        p11jwt_alg_name(alg));
}

/* After the token made priv and pub: protection, public key, signature. */
static p11jwt_rc check_pair(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg,
                            int generated, const p11_rsa_priv *want, p11_rsa_pair *out)
{
    p11jwt_rc rc = p11_template_check(t, s, out->priv, generated);

    if (rc == P11JWT_OK)
        rc = p11_rsa_pub_read(t, s, out->pub, &out->key);
    if (rc == P11JWT_OK && want != NULL) {
        unsigned char n[P11_RSA_MAX], e[8];
        size_t n_len = strip_copy(want->n.p, want->n.len, n, sizeof n);
        size_t e_len = strip_copy(want->e.p, want->e.len, e, sizeof e);

        if (n_len != out->key.n_len || e_len != out->key.e_len ||
            memcmp(n, out->key.n, n_len) != 0 || memcmp(e, out->key.e, e_len) != 0)
            rc = err_set(P11JWT_ERR_PKCS11, "the token shows another public key than the one "
                                            "imported");
    }
    if (rc == P11JWT_OK)
        rc = self_test(t, s, out->priv, p11jwt_alg_is_rsa(alg) ? alg : P11JWT_RS256, &out->key);
    return rc;
}

/* The one mechanism that pins alg on this token (the combined one when the
 * token has it, else the raw one, which pins only RS vs PS). */
static CK_MECHANISM_TYPE pin_mech(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg)
{
    p11_rsa_mech m;

    return p11_rsa_mech_choose(t, s, CK_INVALID_HANDLE, alg, NULL, &m) == P11JWT_OK ? m.type : 0;
}

p11jwt_rc p11_keygen_rsa(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg, unsigned bits,
                         const char *id, const char *label, p11_rsa_pair *out)
{
    static const unsigned char f4[] = { 0x01, 0x00, 0x01 };
    CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
    CK_ULONG mod_bits = bits;
    CK_MECHANISM_TYPE allowed = pin_mech(t, s, alg);
    CK_ATTRIBUTE pub_tmpl[] = {
        { CKA_TOKEN, (void *)&yes, sizeof yes },
        { CKA_PRIVATE, (void *)&no, sizeof no },
        { CKA_MODULUS_BITS, &mod_bits, sizeof mod_bits },
        { CKA_PUBLIC_EXPONENT, (void *)f4, sizeof f4 },
        { CKA_ID, (void *)id, strlen(id) },
        { CKA_LABEL, (void *)label, strlen(label) },
        /* usage flags: dropped by the public key's step down */
        { CKA_VERIFY, (void *)&yes, sizeof yes },
        { CKA_ENCRYPT, (void *)&no, sizeof no },
        { CKA_WRAP, (void *)&no, sizeof no },
        /* last: dropped first, with the private key's (jwks reads the
         * alg from here when it runs without a PIN) */
        { CKA_ALLOWED_MECHANISMS, &allowed, sizeof allowed },
    };
    CK_ATTRIBUTE priv_tmpl[P11_POLICY_MAX + 3];
    CK_ULONG priv_n = p11_template_policy(priv_tmpl);
    /* Steps, strictest first: allowed mechanisms and public usage flags;
     * no allowed mechanisms; then neither. */
    static const p11_template_step steps[] = { { 0, 0 }, { 1, 1 }, { 4, 1 } };
    CK_RV rv;
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    out->priv = out->pub = CK_INVALID_HANDLE;
    if (allowed == 0)
        return P11JWT_ERR_ALG;          /* p11_rsa_mech_choose said why */
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, strlen(id) };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_ALLOWED_MECHANISMS, &allowed, sizeof allowed };
    rv = p11_template_generate(t, s, &mech, pub_tmpl, sizeof pub_tmpl / sizeof pub_tmpl[0],
                               priv_tmpl, priv_n, steps, 3, &out->pub, &out->priv);
    if (rv != CKR_OK)
        return p11_fail(rv == CKR_MECHANISM_INVALID ? P11JWT_ERR_ALG : P11JWT_ERR_PKCS11, rv,
                        "the token could not generate the RSA key pair");
    rc = check_pair(t, s, alg, 1, NULL, out);
    if (rc == P11JWT_OK && p11_rsa_bits(&out->key) != bits)
        rc = err_set(P11JWT_ERR_PKCS11, "the token made a %zu-bit key, not %u bits",
                     p11_rsa_bits(&out->key), bits);
    if (rc != P11JWT_OK)
        rc = p11_pair_discard(t, s, &out->priv, &out->pub, id,
                              err_wrap(rc, "the token made the RSA pair but it is unusable"));
    return rc;
}

p11jwt_rc p11_import_rsa(p11jwt_token *t, CK_SESSION_HANDLE s, p11jwt_alg alg,
                         const p11_rsa_priv *key, const char *id, const char *label,
                         p11_rsa_pair *out)
{
    static const CK_OBJECT_CLASS priv_cls = CKO_PRIVATE_KEY, pub_cls = CKO_PUBLIC_KEY;
    static const CK_KEY_TYPE kt = CKK_RSA;
    CK_MECHANISM_TYPE allowed = p11jwt_alg_is_rsa(alg) ? pin_mech(t, s, alg) : 0;
    CK_ATTRIBUTE pub_tmpl[] = {
        { CKA_CLASS, (void *)&pub_cls, sizeof pub_cls },
        { CKA_KEY_TYPE, (void *)&kt, sizeof kt },
        { CKA_TOKEN, (void *)&yes, sizeof yes },
        { CKA_PRIVATE, (void *)&no, sizeof no },
        { CKA_MODULUS, (void *)key->n.p, key->n.len },
        { CKA_PUBLIC_EXPONENT, (void *)key->e.p, key->e.len },
        { CKA_ID, (void *)id, strlen(id) },
        { CKA_LABEL, (void *)label, strlen(label) },
        /* usage flags: dropped by the one step down */
        { CKA_VERIFY, (void *)&yes, sizeof yes },
        { CKA_ENCRYPT, (void *)&no, sizeof no },
        { CKA_WRAP, (void *)&no, sizeof no },
        /* last: dropped first (and left out when the key pins none) */
        { CKA_ALLOWED_MECHANISMS, &allowed, sizeof allowed },
    };
    /* Strictest first: allowed mechanisms (when the key pins an alg), then
     * not; the public key's usage flags, then not. */
    const CK_ULONG pub_drop[] = { allowed != 0 ? 0 : 1, 1, 4 };
    static const CK_ULONG priv_drop[] = { 0, 1 };
    CK_ATTRIBUTE priv_tmpl[P11_POLICY_MAX + 13];
    CK_ULONG priv_n;
    CK_RV rv;
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    out->priv = out->pub = CK_INVALID_HANDLE;
    if (p11jwt_alg_is_rsa(alg) && allowed == 0)
        return P11JWT_ERR_ALG;          /* p11_rsa_mech_choose said why */
    priv_n = p11_template_policy(priv_tmpl);
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_CLASS, (void *)&priv_cls, sizeof priv_cls };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, (void *)&kt, sizeof kt };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_MODULUS, (void *)key->n.p, key->n.len };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, (void *)key->e.p, key->e.len };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_PRIVATE_EXPONENT, (void *)key->d.p, key->d.len };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_PRIME_1, (void *)key->p.p, key->p.len };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_PRIME_2, (void *)key->q.p, key->q.len };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_EXPONENT_1, (void *)key->dp.p, key->dp.len };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_EXPONENT_2, (void *)key->dq.p, key->dq.len };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_COEFFICIENT, (void *)key->qi.p, key->qi.len };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, strlen(id) };
    priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
    if (allowed != 0)
        priv_tmpl[priv_n++] = (CK_ATTRIBUTE){ CKA_ALLOWED_MECHANISMS, &allowed, sizeof allowed };

    rv = p11_template_create(t, s, priv_tmpl, priv_n, priv_drop, allowed != 0 ? 2 : 1,
                             &out->priv);
    if (rv != CKR_OK)
        return p11_fail(P11JWT_ERR_PKCS11, rv, "the token could not import the private key");
    rv = p11_template_create(t, s, pub_tmpl, sizeof pub_tmpl / sizeof pub_tmpl[0], pub_drop, 3,
                             &out->pub);
    if (rv != CKR_OK) {
        rc = p11_fail(P11JWT_ERR_PKCS11, rv, "the token could not store the public key");
    } else {
        rc = check_pair(t, s, alg, 0, key, out);
    }
    if (rc != P11JWT_OK)
        rc = p11_pair_discard(t, s, &out->priv, &out->pub, id, rc);
    return rc;
}
