/*
 * cache_sealed.c — the fleet's entry as Redis holds it (docs/fleet.md):
 * its text ("p11jwt-cache-1\nEXPIRES\nREFRESH\nTYPE\nSCOPE\nTOKEN") and
 * its AES-256-GCM sealing in the token with cache_key, the entry's Redis
 * key as AAD. cache_redis.c decides when to read and write the entry;
 * this file only turns an entry into the bytes Redis gets and back.
 *
 * The decision: what comes back from Redis is untrusted. It is opened by
 * the token (a value altered, truncated or moved to another key fails the
 * tag) and then read strictly; anything else is refused, never half-used.
 *
 * The last value this host sealed or opened is remembered with its text,
 * so that a hit on the same value (what every host of a fleet reads until
 * the next refresh) costs a comparison instead of a decryption in the
 * token. Sound because Redis values are only read: a value is reused only
 * when it is byte-for-byte the one the token sealed or opened (compared
 * in full), a value that did not open is never remembered, and an altered
 * value differs in its bytes, so it goes to the token and fails there.
 * The text (it holds the token) is kept as the memory cache keeps tokens:
 * wiped when replaced, forgotten (exch_sealer_forget) and freed.
 */
#include "exchange/exchange_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct exch_sealer {
    p11jwt_client *client;      /* its token holds cache_key */
    char *kid;                  /* NULL: cache_plaintext */
    char *aad;                  /* the entry's Redis key */
    pthread_mutex_t aead_mu;
    p11_aead *aead;             /* opened on first use */

    pthread_mutex_t memo_mu;    /* the last value sealed or opened */
    unsigned char *memo_v;      /* as Redis holds it; NULL: none */
    size_t memo_vlen;
    char *memo_text;            /* its text (secret) */
    size_t memo_tlen;
};

/* ---- the entry's text ------------------------------------------------------------------ */

static int printable(const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

/* The STS's values are printable ASCII (token_response.c), so a newline
 * separates. */
static p11jwt_rc entry_encode(const exch_cache_entry *e, char **out, size_t *len)
{
    const p11jwt_access_token *t = &e->tok;
    int n;

    *out = NULL;
    if (!printable(t->value) || !printable(t->type) || !printable(t->scope) || t->value == NULL)
        return err_set(P11JWT_ERR_ARG, "a token that is not printable ASCII is not shared");
    n = snprintf(NULL, 0, EXCH_ENTRY_MAGIC "\n%lld\n%lld\n%s\n%s\n%s", (long long)t->expires_at,
                 (long long)e->refresh_at, t->type != NULL ? t->type : "",
                 t->scope != NULL ? t->scope : "", t->value);
    if (n < 0 || (*out = malloc((size_t)n + 1)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    snprintf(*out, (size_t)n + 1, EXCH_ENTRY_MAGIC "\n%lld\n%lld\n%s\n%s\n%s",
             (long long)t->expires_at, (long long)e->refresh_at, t->type != NULL ? t->type : "",
             t->scope != NULL ? t->scope : "", t->value);
    *len = (size_t)n;
    return P11JWT_OK;
}

static char *dup_field(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* The inverse, strictly: anything else is not an entry (what decodes
 * encodes to the same bytes: tests/fuzz/fuzz_fleet_entry.c). */
UNITTEST p11jwt_rc exch_entry_decode(const char *s, size_t len, exch_cache_entry *e)
{
    const char *f[6];
    size_t fl[6];
    const char *p = s, *end = s + len;
    long long v[2];

    memset(e, 0, sizeof *e);
    for (int i = 0; i < 6; i++) {
        const char *nl = i < 5 ? memchr(p, '\n', (size_t)(end - p)) : end;

        if (nl == NULL)
            return err_set(P11JWT_ERR_CRYPTO, "the cached value is not an entry");
        f[i] = p;
        fl[i] = (size_t)(nl - p);
        p = nl + (i < 5);
    }
    /* The token is the rest: one more newline would be taken into it. */
    if (fl[0] != strlen(EXCH_ENTRY_MAGIC) || memcmp(f[0], EXCH_ENTRY_MAGIC, fl[0]) != 0 ||
        fl[5] == 0 || memchr(f[5], '\n', fl[5]) != NULL)
        return err_set(P11JWT_ERR_CRYPTO, "the cached value is not an entry");
    for (int i = 0; i < 2; i++) {
        char num[24], *e_;

        if (fl[1 + i] == 0 || fl[1 + i] >= sizeof num || f[1 + i][0] == '0')
            return err_set(P11JWT_ERR_CRYPTO, "the cached value is not an entry");
        /* Digits only, as written: strtoll alone would take " 1" or "+1". */
        for (size_t k = 0; k < fl[1 + i]; k++)
            if (f[1 + i][k] < '0' || f[1 + i][k] > '9')
                return err_set(P11JWT_ERR_CRYPTO, "the cached value is not an entry");
        memcpy(num, f[1 + i], fl[1 + i]);
        num[fl[1 + i]] = '\0';
        errno = 0;
        v[i] = strtoll(num, &e_, 10);
        if (*e_ != '\0' || errno != 0 || v[i] <= 0)
            return err_set(P11JWT_ERR_CRYPTO, "the cached value is not an entry");
    }
    for (size_t i = 0; i < len; i++)
        if (s[i] != '\n' && ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e))
            return err_set(P11JWT_ERR_CRYPTO, "the cached value is not an entry");
    e->tok.expires_at = v[0];
    e->refresh_at = v[1];
    e->tok.type = dup_field(f[3], fl[3]);
    e->tok.scope = fl[4] > 0 ? dup_field(f[4], fl[4]) : NULL;
    e->tok.value = dup_field(f[5], fl[5]);
    if (e->tok.type == NULL || (fl[4] > 0 && e->tok.scope == NULL) || e->tok.value == NULL) {
        p11jwt_access_token_clear(&e->tok);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    return P11JWT_OK;
}

/* ---- sealing in the token ----------------------------------------------------------- */

p11jwt_rc exch_sealer_new(p11jwt_client *c, const char *kid, const char *aad,
                          exch_sealer **out)
{
    exch_sealer *s = calloc(1, sizeof *s);

    *out = NULL;
    if (s == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->aead_mu, NULL);
    pthread_mutex_init(&s->memo_mu, NULL);
    s->client = c;
    if ((s->aad = strdup(aad)) == NULL || (kid != NULL && (s->kid = strdup(kid)) == NULL)) {
        exch_sealer_free(s);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return P11JWT_OK;
}

void exch_sealer_free(exch_sealer *s)
{
    if (s == NULL)
        return;
    exch_sealer_forget(s);
    p11_aead_free(s->aead);
    free(s->kid);
    free(s->aad);
    pthread_mutex_destroy(&s->aead_mu);
    pthread_mutex_destroy(&s->memo_mu);
    free(s);
}

void exch_sealer_after_fork(exch_sealer *s)
{
    pthread_mutex_init(&s->aead_mu, NULL);
    pthread_mutex_init(&s->memo_mu, NULL);
}

/* ---- the value remembered ------------------------------------------------------------- */

static void memo_clear_locked(exch_sealer *s)
{
    free(s->memo_v);
    base_secret_free_n(s->memo_text, s->memo_tlen);
    s->memo_v = NULL;
    s->memo_text = NULL;
    s->memo_vlen = s->memo_tlen = 0;
}

void exch_sealer_forget(exch_sealer *s)
{
    pthread_mutex_lock(&s->memo_mu);
    memo_clear_locked(s);
    pthread_mutex_unlock(&s->memo_mu);
}

/* Remembers v (sealed or opened by the token) with its text: copies. */
static void memo_set(exch_sealer *s, const unsigned char *v, size_t vlen, const char *text,
                     size_t tlen)
{
    unsigned char *nv = malloc(vlen);
    char *nt = malloc(tlen);

    if (nv == NULL || nt == NULL) {
        free(nv);
        free(nt);
        exch_sealer_forget(s); /* not remembering is always correct */
        return;
    }
    memcpy(nv, v, vlen);
    memcpy(nt, text, tlen);
    pthread_mutex_lock(&s->memo_mu);
    memo_clear_locked(s);
    s->memo_v = nv;
    s->memo_vlen = vlen;
    s->memo_text = nt;
    s->memo_tlen = tlen;
    pthread_mutex_unlock(&s->memo_mu);
}

/* 1 with *e read from the remembered text when v is, in full, the
 * remembered value; 0 otherwise. */
static int memo_open(exch_sealer *s, const unsigned char *v, size_t vlen, exch_cache_entry *e,
                     p11jwt_rc *rc)
{
    int same;

    pthread_mutex_lock(&s->memo_mu);
    same = s->memo_v != NULL && s->memo_vlen == vlen && memcmp(s->memo_v, v, vlen) == 0;
    if (same)
        *rc = exch_entry_decode(s->memo_text, s->memo_tlen, e);
    pthread_mutex_unlock(&s->memo_mu);
    return same;
}

static p11jwt_rc sealer_aead(exch_sealer *s, p11_aead **out)
{
    p11jwt_token *tok;
    p11jwt_rc rc = P11JWT_OK;

    pthread_mutex_lock(&s->aead_mu);
    if (s->aead == NULL) {
        rc = exch_client_token(s->client, &tok);
        if (rc == P11JWT_OK)
            rc = p11_aead_open(tok, s->kid, &s->aead);
        if (rc != P11JWT_OK)
            err_wrap(rc, "cache_key");
    }
    *out = s->aead;
    pthread_mutex_unlock(&s->aead_mu);
    return rc;
}

p11jwt_rc exch_sealer_seal(exch_sealer *s, const exch_cache_entry *e, unsigned char **out,
                           size_t *len)
{
    char *plain = NULL;
    size_t plen = 0;
    p11_aead *a;
    p11jwt_rc rc = entry_encode(e, &plain, &plen);

    *out = NULL;
    if (rc != P11JWT_OK || s->kid == NULL) {
        *out = (unsigned char *)plain;
        *len = plen;
        return rc;
    }
    rc = sealer_aead(s, &a);
    if (rc == P11JWT_OK)
        rc = p11_aead_seal(a, (const unsigned char *)s->aad, strlen(s->aad),
                           (const unsigned char *)plain, plen, out, len);
    if (rc == P11JWT_OK)
        memo_set(s, *out, *len, plain, plen);
    base_secret_free_n(plain, plen);
    return rc;
}

p11jwt_rc exch_sealer_open(exch_sealer *s, const unsigned char *v, size_t len,
                           exch_cache_entry *e)
{
    unsigned char *plain = NULL;
    size_t plen = 0;
    p11_aead *a;
    p11jwt_rc rc;

    memset(e, 0, sizeof *e);
    if (s->kid == NULL)
        return exch_entry_decode((const char *)v, len, e);
    if (memo_open(s, v, len, e, &rc))
        return rc;
    rc = sealer_aead(s, &a);
    if (rc == P11JWT_OK)
        rc = p11_aead_open_value(a, (const unsigned char *)s->aad, strlen(s->aad), v, len,
                                 &plain, &plen);
    if (rc == P11JWT_OK)
        rc = exch_entry_decode((const char *)plain, plen, e);
    if (rc == P11JWT_OK)
        memo_set(s, v, len, (const char *)plain, plen);
    base_secret_free_n(plain, plen);
    return rc;
}
