/*
 * sealed.c — the fleet's sealed entry against a real token (cache_sealed.c,
 * docs/fleet.md): what one host seals another opens; the value a host
 * sealed or opened last is opened again without the token (no C_Decrypt
 * in the PKCS#11 trace), and only when it is byte-for-byte that value:
 * one byte changed anywhere, a value cut short or grown, or a value
 * sealed for another Redis key goes to the token and is refused; a
 * forgotten value goes to the token again.
 *
 *   it-fleet-sealed TOKEN-URI PIN-FILE KID
 *
 * Run with P11JWT_TRACE=1 (the trace is how C_Decrypt calls are counted).
 * Exit 0 when every check passed; 1 with "sealed: FAIL: ..." otherwise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exchange/exchange_int.h"

static int decrypts;

static void count(int level, const char *msg, void *ud)
{
    (void)level;
    (void)ud;
    if (strstr(msg, "trace: C_Decrypt ") != NULL)
        decrypts++;
}

static void fail(const char *fmt, ...)
{
    va_list ap;

    fputs("sealed: FAIL: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (%s)\n", p11jwt_errmsg());
    exit(1);
}

/* Opens v with s: expect_ok, and how many C_Decrypt calls that took. */
static void check_open(exch_sealer *s, const unsigned char *v, size_t len, int expect_ok,
                       int expect_decrypts, const char *want_value, const char *what)
{
    exch_cache_entry e;
    int before = decrypts;
    p11jwt_rc rc = exch_sealer_open(s, v, len, &e);

    if (expect_ok && rc != P11JWT_OK)
        fail("%s: refused", what);
    if (!expect_ok && rc == P11JWT_OK)
        fail("%s: opened (token '%s')", what, e.tok.value);
    if (!expect_ok && rc != P11JWT_ERR_CRYPTO)
        fail("%s: refused with %d, not P11JWT_ERR_CRYPTO", what, (int)rc);
    if (decrypts - before != expect_decrypts)
        fail("%s: %d C_Decrypt calls, want %d", what, decrypts - before, expect_decrypts);
    if (expect_ok && (strcmp(e.tok.value, want_value) != 0 || strcmp(e.tok.type, "Bearer") != 0))
        fail("%s: opened to another entry", what);
    p11jwt_access_token_clear(&e.tok);
    printf("ok: %s\n", what);
}

static p11jwt_client *client(const char *uri, const char *pin_file, const char *kid)
{
    char conf[] = "/tmp/it-fleet-sealed.XXXXXX";
    int fd = mkstemp(conf);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    p11jwt_profile *p;
    p11jwt_client *c;

    if (f == NULL)
        fail("a temp config");
    fprintf(f, "[profile s]\ndialect = rfc7523\ntoken_url = http://127.0.0.1:9/token\n"
               "token = %s\npin_file = %s\nkid = none\niss = s\n"
               "cache = redis://127.0.0.1:9\ncache_key = %s\n", uri, pin_file, kid);
    fclose(f);
    if (p11jwt_profile_load(conf, "s", &p) != P11JWT_OK) {
        unlink(conf);
        fail("the profile");
    }
    unlink(conf);
    if (p11jwt_client_new(p, &c) != P11JWT_OK)
        fail("the client");
    return c;
}

static unsigned char *seal(exch_sealer *s, const char *value, size_t *len)
{
    exch_cache_entry e = { 0 };
    unsigned char *v;

    e.tok.value = (char *)value;
    e.tok.type = (char *)"Bearer";
    e.tok.expires_at = (int64_t)time(NULL) + 3600;
    e.refresh_at = e.tok.expires_at - 600;
    if (exch_sealer_seal(s, &e, &v, len) != P11JWT_OK)
        fail("sealing");
    return v;
}

int main(int argc, char **argv)
{
    const char *key = "p11jwt:it-fleet-sealed";
    exch_sealer *a, *b, *other;
    unsigned char *v1, *v2, *bad;
    size_t l1, l2;
    p11jwt_client *c;

    if (argc != 4) {
        fprintf(stderr, "usage: it-fleet-sealed TOKEN-URI PIN-FILE KID\n");
        return 2;
    }
    p11jwt_set_logger(count, NULL);
    c = client(argv[1], argv[2], argv[3]);
    /* Host a seals, host b opens: two sealers, as two processes have. */
    if (exch_sealer_new(c, argv[3], key, &a) != P11JWT_OK ||
        exch_sealer_new(c, argv[3], key, &b) != P11JWT_OK ||
        exch_sealer_new(c, argv[3], "p11jwt:another-entry", &other) != P11JWT_OK)
        fail("the sealers");
    v1 = seal(a, "token-one", &l1);
    check_open(b, v1, l1, 1, 1, "token-one", "a value another host sealed: decrypted in the token");
    if (decrypts == 0)
        fail("no C_Decrypt seen: is P11JWT_TRACE set?");
    check_open(b, v1, l1, 1, 0, "token-one", "the same value again: remembered, no decryption");
    check_open(a, v1, l1, 1, 0, "token-one", "the value this host sealed: remembered");

    bad = malloc(l1 + 1);
    if (bad == NULL)
        fail("out of memory");
    for (size_t i = 0; i < l1; i += (i < 16 || i + 17 > l1) ? 1 : 7) {
        char what[128];

        memcpy(bad, v1, l1);
        bad[i] ^= 0x01;
        snprintf(what, sizeof what, "byte %zu of %zu changed: refused by the token", i, l1);
        check_open(b, bad, l1, 0, 1, NULL, what);
    }
    check_open(b, v1, l1 - 1, 0, 1, NULL, "cut by one byte: refused by the token");
    memcpy(bad, v1, l1);
    bad[l1] = 'x';
    check_open(b, bad, l1 + 1, 0, 1, NULL, "grown by one byte: refused by the token");
    check_open(other, v1, l1, 0, 1, NULL, "another entry's key as AAD: refused by the token");
    check_open(b, v1, l1, 1, 0, "token-one", "the whole value again: still remembered");

    v2 = seal(a, "token-two", &l2);
    check_open(b, v2, l2, 1, 1, "token-two", "a new value: decrypted in the token");
    check_open(b, v1, l1, 1, 1, "token-one", "the one before: decrypted again (one is kept)");
    exch_sealer_forget(b);
    check_open(b, v1, l1, 1, 1, "token-one", "after forget: decrypted again");

    free(bad);
    free(v1);
    free(v2);
    exch_sealer_free(a);
    exch_sealer_free(b);
    exch_sealer_free(other);
    p11jwt_client_free(c);
    printf("sealed: all checks passed\n");
    return 0;
}
