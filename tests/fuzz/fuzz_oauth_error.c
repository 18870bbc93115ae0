/*
 * fuzz_oauth_error.c — an STS's refusal (src/exchange/oauth_error.c):
 * the OAuth error and error_description, or the start of a body that is
 * not one, made into one line with the dialect's hint. The first byte
 * picks the dialect and the HTTP status, the rest is the body. Checks:
 * the message is one printable line whatever the provider sent, and a
 * "timing" refusal never counts as pointing at the key.
 */
#include "fuzz.h"

#include "profiles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = { 400, 401, 403, 429, 500, 503, 302, 418 };
    const p11jwt_profile *p;
    exch_response rs = { 0 };
    int timing = -1, keyish = -1;
    const char *m;

    if (size == 0)
        return 0;
    p = fuzz_profile(data[0] % FUZZ_NPROFILES);
    rs.status = statuses[(data[0] / FUZZ_NPROFILES) % 8];
    rs.body = fuzz_strndup(data + 1, size - 1);
    rs.len = size - 1;
    rs.cap = size;
    rs.retry_after = -1;
    if (rs.body == NULL)
        return 0;
    FUZZ_CHECK(exch_oauth_error(p, &rs, &timing, &keyish) == P11JWT_ERR_OAUTH);
    FUZZ_CHECK(timing == 0 || timing == 1);
    FUZZ_CHECK(keyish == 0 || keyish == 1);
    FUZZ_CHECK(!(timing && keyish));
    for (m = p11jwt_errmsg(); *m != '\0'; m++)
        FUZZ_CHECK((unsigned char)*m >= 0x20 && *m != 0x7f);
    free(rs.body);
    return 0;
}
