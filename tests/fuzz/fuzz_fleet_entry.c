/*
 * fuzz_fleet_entry.c — the fleet's entry as Redis hands it back
 * (src/exchange/cache_sealed.c): with cache_plaintext these bytes come
 * from Redis as they are, and with cache_key they are what the token
 * decrypted. Checks: an entry is taken only whole (token, type and scope
 * printable, both times positive), and what is taken encodes back to the
 * very same bytes, so nothing in it was guessed or skipped.
 */
#include "fuzz.h"

#include "exchange/exchange_int.h"

static int printable(const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static exch_sealer *plain;
    exch_cache_entry e;
    unsigned char *back = NULL;
    size_t back_len = 0;

    /* No kid: cache_plaintext, which never opens the token. */
    if (plain == NULL && exch_sealer_new(NULL, NULL, "p11jwt:fuzz", &plain) != P11JWT_OK)
        return 0;
    if (exch_sealer_open(plain, data, size, &e) != P11JWT_OK) {
        FUZZ_CHECK(e.tok.value == NULL && e.tok.type == NULL && e.tok.scope == NULL);
        return 0;
    }
    FUZZ_CHECK(e.tok.value != NULL && e.tok.value[0] != '\0' && printable(e.tok.value));
    FUZZ_CHECK(e.tok.type != NULL && printable(e.tok.type));
    FUZZ_CHECK(e.tok.scope == NULL || (e.tok.scope[0] != '\0' && printable(e.tok.scope)));
    FUZZ_CHECK(e.tok.expires_at > 0 && e.refresh_at > 0);
    FUZZ_CHECK(exch_sealer_seal(plain, &e, &back, &back_len) == P11JWT_OK);
    FUZZ_CHECK(back_len == size && memcmp(back, data, size) == 0);
    free(back);
    p11jwt_access_token_clear(&e.tok);
    return 0;
}
