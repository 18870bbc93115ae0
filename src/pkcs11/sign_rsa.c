/*
 * sign_rsa.c — how an RSA key signs RS256/384/512 (RSASSA-PKCS1-v1_5) and
 * PS256/384/512 (RSASSA-PSS) on a given token: which mechanism, with which
 * parameters, over which bytes; which alg an RSA key pins; and the RSA
 * part of opening a key handle.
 *
 * The decision: the token's combined mechanism (CKM_SHA256_RSA_PKCS,
 * CKM_SHA256_RSA_PKCS_PSS...) is preferred, as it hashes inside the token;
 * a token without it (many HSMs only have the raw ones) gets CKM_RSA_PKCS
 * over a DigestInfo the host builds (RFC 8017 §9.2), or CKM_RSA_PKCS_PSS
 * over the host's hash. PSS always uses MGF1 with the alg's hash and a
 * salt as long as the hash (RFC 7518 §3.5). The token's mechanism list is
 * read once per token handle, and a key's CKA_ALLOWED_MECHANISMS narrows
 * the choice. An RSA key type pins neither RS vs PS nor the hash: only a
 * single combined mechanism in CKA_ALLOWED_MECHANISMS does.
 */
#include "pkcs11/pkcs11_int.h"

#include <stdlib.h>
#include <string.h>

/* Each alg's combined and raw mechanism, its hash for PSS and its MGF1. */
static const struct rsa_row {
    p11jwt_alg alg;
    CK_MECHANISM_TYPE combined, raw, hash;
    CK_RSA_PKCS_MGF_TYPE mgf;
    const char *combined_name, *raw_name;
} rows[] = {
    { P11JWT_RS256, CKM_SHA256_RSA_PKCS, CKM_RSA_PKCS, CKM_SHA256, CKG_MGF1_SHA256,
      "CKM_SHA256_RSA_PKCS", "CKM_RSA_PKCS" },
    { P11JWT_RS384, CKM_SHA384_RSA_PKCS, CKM_RSA_PKCS, CKM_SHA384, CKG_MGF1_SHA384,
      "CKM_SHA384_RSA_PKCS", "CKM_RSA_PKCS" },
    { P11JWT_RS512, CKM_SHA512_RSA_PKCS, CKM_RSA_PKCS, CKM_SHA512, CKG_MGF1_SHA512,
      "CKM_SHA512_RSA_PKCS", "CKM_RSA_PKCS" },
    { P11JWT_PS256, CKM_SHA256_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256,
      "CKM_SHA256_RSA_PKCS_PSS", "CKM_RSA_PKCS_PSS" },
    { P11JWT_PS384, CKM_SHA384_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384,
      "CKM_SHA384_RSA_PKCS_PSS", "CKM_RSA_PKCS_PSS" },
    { P11JWT_PS512, CKM_SHA512_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512,
      "CKM_SHA512_RSA_PKCS_PSS", "CKM_RSA_PKCS_PSS" },
};
#define N_ROWS (sizeof rows / sizeof rows[0])

static const struct rsa_row *row_of(p11jwt_alg alg)
{
    for (size_t i = 0; i < N_ROWS; i++)
        if (rows[i].alg == alg)
            return &rows[i];
    return NULL;
}

/* The signing mechanisms of the table, as bits of t->rsa_mechs: bit i for
 * rows[i].combined, bit N_ROWS for CKM_RSA_PKCS, N_ROWS + 1 for
 * CKM_RSA_PKCS_PSS; the top bit says the list was read. */
#define MECHS_READ (1UL << (sizeof(unsigned long) * 8 - 1))
#define BIT_RAW_PKCS (1UL << N_ROWS)
#define BIT_RAW_PSS (1UL << (N_ROWS + 1))

static unsigned long mech_bit(CK_MECHANISM_TYPE m)
{
    if (m == CKM_RSA_PKCS)
        return BIT_RAW_PKCS;
    if (m == CKM_RSA_PKCS_PSS)
        return BIT_RAW_PSS;
    for (size_t i = 0; i < N_ROWS; i++)
        if (rows[i].combined == m)
            return 1UL << i;
    return 0;
}

/* The token's RSA signing mechanisms (those C_GetMechanismInfo says sign),
 * read once per token handle. A token that cannot list them is taken to
 * have them all: the first signature then says what it lacks. */
static unsigned long token_mechs(p11jwt_token *t)
{
    unsigned long bits = atomic_load(&t->rsa_mechs);
    CK_MECHANISM_TYPE *list = NULL;
    CK_ULONG n = 0;

    if (bits & MECHS_READ)
        return bits;
    bits = MECHS_READ;
    if (P11_CALL(t->fl, C_GetMechanismList, t->slot, NULL, &n) == CKR_OK && n > 0 &&
        (list = calloc(n, sizeof *list)) != NULL &&
        P11_CALL(t->fl, C_GetMechanismList, t->slot, list, &n) == CKR_OK) {
        for (CK_ULONG i = 0; i < n; i++) {
            CK_MECHANISM_INFO info;
            unsigned long b = mech_bit(list[i]);

            if (b != 0 && P11_CALL(t->fl, C_GetMechanismInfo, t->slot, list[i], &info) == CKR_OK &&
                (info.flags & CKF_SIGN))
                bits |= b;
        }
    } else {
        bits = ~0UL;
    }
    free(list);
    atomic_store(&t->rsa_mechs, bits);
    return bits;
}

/* Whether mechanism m is in the key's allowed list (or the key has none). */
static int allowed_has(const CK_MECHANISM_TYPE *allowed, size_t n, int has_allowed,
                       CK_MECHANISM_TYPE m)
{
    if (!has_allowed)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (allowed[i] == m)
            return 1;
    return 0;
}

/* The key's CKA_ALLOWED_MECHANISMS (*buf: caller frees), 1 when it has a
 * non-empty one. */
static int read_allowed(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                        unsigned char **buf, size_t *n)
{
    size_t len = 0;

    *buf = NULL;
    *n = 0;
    if (o == CK_INVALID_HANDLE ||
        p11_object_attr(t, s, o, CKA_ALLOWED_MECHANISMS, buf, &len) != CKR_OK)
        return 0;
    *n = len / sizeof(CK_MECHANISM_TYPE);
    return *n > 0;
}

p11jwt_rc p11_rsa_mech_choose(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                              p11jwt_alg alg, const char *kid, p11_rsa_mech *out)
{
    const struct rsa_row *r = row_of(alg);
    unsigned long have;
    unsigned char *buf = NULL;
    size_t n = 0;
    int has_allowed, combined_ok, raw_ok;

    memset(out, 0, sizeof *out);
    if (r == NULL)
        return err_set(P11JWT_ERR_ALG, "not an RS or PS alg");
    have = token_mechs(t);
    has_allowed = read_allowed(t, s, o, &buf, &n);
    combined_ok = (have & mech_bit(r->combined)) &&
                  allowed_has((const CK_MECHANISM_TYPE *)buf, n, has_allowed, r->combined);
    raw_ok = (have & mech_bit(r->raw)) &&
             allowed_has((const CK_MECHANISM_TYPE *)buf, n, has_allowed, r->raw);
    free(buf);
    if (!combined_ok && !raw_ok)
        return err_set(P11JWT_ERR_ALG,
                       "token '%s' cannot sign %s with key '%s': it %s neither %s nor %s",
                       t->label, p11jwt_alg_name(alg), kid != NULL ? ESC(kid) : "(new)",
                       has_allowed ? "has (or the key's CKA_ALLOWED_MECHANISMS allows)" : "has",
                       r->combined_name, r->raw_name);
    out->type = combined_ok ? r->combined : r->raw;
    out->host_hash = !combined_ok;
    out->is_pss = base_alg_is_pss(alg);
    out->digest_info = !combined_ok && !out->is_pss;
    if (out->is_pss) {
        out->pss.hashAlg = r->hash;
        out->pss.mgf = r->mgf;
        out->pss.sLen = (CK_ULONG)EVP_MD_get_size(base_alg_md(alg));
    }
    return P11JWT_OK;
}

size_t p11_rsa_digest_info(p11jwt_alg alg, unsigned char *out)
{
    /* RFC 8017 §9.2, note 1: DER of DigestInfo up to the digest's bytes;
     * the byte after 0x60 0x86 0x48 0x01 0x65 0x03 0x04 0x02 is the hash
     * (1: SHA-256, 2: SHA-384, 3: SHA-512), the last its length. */
    static const unsigned char prefix[P11_DIGEST_INFO_MAX] = {
        0x30, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
        0x65, 0x03, 0x04, 0x02, 0x00, 0x05, 0x00, 0x04, 0x00,
    };
    size_t dlen = (size_t)EVP_MD_get_size(base_alg_md(alg));

    memcpy(out, prefix, sizeof prefix);
    out[1] = (unsigned char)(0x11 + dlen);      /* 17 bytes of AlgorithmIdentifier + tag/len */
    out[14] = dlen == 32 ? 1 : dlen == 48 ? 2 : 3;
    out[18] = (unsigned char)dlen;
    return sizeof prefix;
}

p11jwt_rc p11_rsa_input(const p11_rsa_mech *m, p11jwt_alg alg, const EVP_MD *md,
                        const unsigned char *data, size_t len, unsigned char *buf,
                        const unsigned char **in, size_t *in_len)
{
    size_t pre = 0;
    unsigned int dlen = 0;

    if (!m->host_hash) {
        *in = data;
        *in_len = len;
        return P11JWT_OK;
    }
    if (m->digest_info)
        pre = p11_rsa_digest_info(alg, buf);
    if (EVP_Digest(data, len, buf + pre, &dlen, md, NULL) != 1)
        return err_set(P11JWT_ERR_CRYPTO, "hashing the signing input failed");
    *in = buf;
    *in_len = pre + dlen;
    return P11JWT_OK;
}

p11jwt_alg p11_rsa_pin_decide(const CK_MECHANISM_TYPE *allowed, size_t n_allowed,
                              int has_allowed, p11jwt_alg want, p11jwt_pinned *pinned)
{
    p11jwt_alg one = P11JWT_ALG_UNKNOWN;
    int several = 0, raw = 0;

    *pinned = P11JWT_PINNED_NONE;
    for (size_t i = 0; has_allowed && i < n_allowed; i++) {
        if (allowed[i] == CKM_RSA_PKCS || allowed[i] == CKM_RSA_PKCS_PSS ||
            allowed[i] == CKM_RSA_X_509)
            raw = 1;            /* signs any hash: pins none */
        for (size_t r = 0; r < N_ROWS; r++)
            if (rows[r].combined == allowed[i]) {
                if (one != P11JWT_ALG_UNKNOWN && one != rows[r].alg)
                    several = 1;
                one = rows[r].alg;
            }
    }
    if (one != P11JWT_ALG_UNKNOWN && !several && !raw) {
        *pinned = P11JWT_PINNED_MECHANISMS;
        return one;
    }
    /* Pins none: the caller's alg, if the key may run its mechanism. */
    if (!p11jwt_alg_is_rsa(want))
        return P11JWT_ALG_UNKNOWN;
    if (allowed_has(allowed, n_allowed, has_allowed, row_of(want)->combined) ||
        allowed_has(allowed, n_allowed, has_allowed, row_of(want)->raw))
        return want;
    return P11JWT_ALG_UNKNOWN;
}

p11jwt_rc p11_rsa_keyhandle_init(p11_keyhandle *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub)
{
    CK_OBJECT_HANDLE key = atomic_load(&h->handle);
    p11jwt_rc rc = P11JWT_OK;

    /* The public object when there is one (what jwks shows), else the
     * private key's own CKA_MODULUS and CKA_PUBLIC_EXPONENT. */
    if (pub == CK_INVALID_HANDLE && h->cls != CKO_PUBLIC_KEY)
        rc = p11_object_find_one(h->tok, s, CKO_PUBLIC_KEY, h->kid, &pub);
    if (rc == P11JWT_OK)
        rc = p11_rsa_pub_read(h->tok, s, pub != CK_INVALID_HANDLE ? pub : key, &h->rsa_pub);
    if (rc != P11JWT_OK)
        return err_wrap(rc, "RSA key '%s'", ESC(h->kid));
    h->has_rsa = 1;
    h->sig_len = h->rsa_pub.n_len;
    if (h->cls == CKO_PUBLIC_KEY)
        return P11JWT_OK;       /* verifies only: no mechanism */
    rc = p11_rsa_mech_choose(h->tok, s, key, h->alg, h->kid, &h->rsa);
    if (rc != P11JWT_OK)
        return rc;
    h->mech = h->rsa.type;
    if (h->rsa.is_pss) {
        h->mech_param = &h->rsa.pss;
        h->mech_param_len = sizeof h->rsa.pss;
    }
    if (h->rsa.host_hash) {
        h->md = EVP_MD_fetch(NULL, base_alg_hash_name(h->alg), NULL);
        if (h->md == NULL)
            return err_set(P11JWT_ERR_CRYPTO, "OpenSSL has no %s", base_alg_hash_name(h->alg));
    }
    return P11JWT_OK;
}

p11jwt_alg p11_rsa_pinned_alg(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
                              const char *kid)
{
    CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE;
    p11jwt_pinned pinned;
    p11jwt_alg alg = p11_object_alg(t, s, pub, CKO_PUBLIC_KEY, P11JWT_ALG_UNKNOWN, NULL, &pinned);

    if (p11jwt_alg_is_rsa(alg))
        return alg;
    if (kid == NULL)
        return P11JWT_ALG_UNKNOWN;
    if (p11_object_find_one(t, s, CKO_PRIVATE_KEY, kid, &priv) != P11JWT_OK ||
        priv == CK_INVALID_HANDLE) {
        err_clear();
        return P11JWT_ALG_UNKNOWN;
    }
    alg = p11_object_alg(t, s, priv, CKO_PRIVATE_KEY, P11JWT_ALG_UNKNOWN, NULL, &pinned);
    return p11jwt_alg_is_rsa(alg) ? alg : P11JWT_ALG_UNKNOWN;
}
