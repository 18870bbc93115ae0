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

/* The inverse, strictly: anything else is not an entry. */
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
    if (fl[0] != strlen(EXCH_ENTRY_MAGIC) || memcmp(f[0], EXCH_ENTRY_MAGIC, fl[0]) != 0 ||
        fl[5] == 0)
        return err_set(P11JWT_ERR_CRYPTO, "the cached value is not an entry");
    for (int i = 0; i < 2; i++) {
        char num[24], *e_;

        if (fl[1 + i] == 0 || fl[1 + i] >= sizeof num)
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
    p11_aead_free(s->aead);
    free(s->kid);
    free(s->aad);
    pthread_mutex_destroy(&s->aead_mu);
    free(s);
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
    rc = sealer_aead(s, &a);
    if (rc == P11JWT_OK)
        rc = p11_aead_open_value(a, (const unsigned char *)s->aad, strlen(s->aad), v, len,
                                 &plain, &plen);
    if (rc == P11JWT_OK)
        rc = exch_entry_decode((const char *)plain, plen, e);
    base_secret_free_n(plain, plen);
    return rc;
}
