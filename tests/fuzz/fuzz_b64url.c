/*
 * fuzz_b64url.c — base64url decoding (src/jose/b64url.c), which every JWS
 * part goes through. The decoder is strict (no padding, whitespace,
 * standard alphabet or non-zero trailing bits), so whatever it accepts is
 * canonical: encoding the bytes again must give back the input exactly.
 */
#include "fuzz.h"

#include "jose/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    char *again;

    if (jose_b64url_decode((const char *)data, size, &raw, &raw_len) != P11JWT_OK) {
        FUZZ_CHECK(raw == NULL);
        return 0;
    }
    FUZZ_CHECK(raw_len == size / 4 * 3 + (size % 4 ? size % 4 - 1 : 0));
    again = malloc(jose_b64url_len(raw_len) + 1);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(jose_b64url_encode(raw, raw_len, again) == size);
    FUZZ_CHECK(memcmp(again, data, size) == 0);
    free(again);
    free(raw);
    return 0;
}
