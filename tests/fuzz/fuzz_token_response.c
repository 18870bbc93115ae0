/*
 * fuzz_token_response.c — an STS's 2xx answer (src/exchange/
 * token_response.c) as each dialect reads it (dialect.c's table: the
 * token under access_token, accessToken or jwt). The first byte picks the
 * dialect, the rest is the body. What is accepted must be safe to put in
 * a header: the token an RFC 6750 b64token, its type and scope printable
 * ASCII; its expiry never before the answer's time nor more than a year
 * (or the profile's default lifetime) after it, and never from a
 * token's exp that is absurd.
 */
#include "fuzz.h"

#include "profiles.h"

#define NOW ((int64_t)1700000000)

static void printable(const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        FUZZ_CHECK(*s >= 0x20 && *s <= 0x7e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const p11jwt_profile *p;
    exch_response rs = { 0 };
    p11jwt_access_token t, copy;
    p11jwt_rc rc;

    if (size == 0)
        return 0;
    p = fuzz_profile(data[0] % FUZZ_NPROFILES);
    rs.status = 200;
    rs.body = fuzz_strndup(data + 1, size - 1);
    rs.len = size - 1;
    rs.cap = size;
    rs.retry_after = -1;
    if (rs.body == NULL)
        return 0;
    rc = exch_token_response_parse(p, &rs, NOW, &t);
    if (rc == P11JWT_OK) {
        FUZZ_CHECK(t.value != NULL && t.value[0] != '\0');
        FUZZ_CHECK(exch_sts_value_bad(t.value, strlen(t.value), 1) < 0);
        FUZZ_CHECK(t.type != NULL);
        printable(t.value);
        printable(t.type);
        printable(t.scope);
        FUZZ_CHECK(t.expires_at <= NOW + 366 * 86400 ||
                   t.expires_at == NOW + p->default_lifetime);
        FUZZ_CHECK(exch_token_copy(&t, &copy) == P11JWT_OK);
        FUZZ_CHECK(strcmp(copy.value, t.value) == 0 && copy.expires_at == t.expires_at);
        p11jwt_access_token_clear(&copy);
        p11jwt_access_token_clear(&t);
    } else {
        FUZZ_CHECK(t.value == NULL && t.type == NULL && t.scope == NULL);
        FUZZ_CHECK(strchr(p11jwt_errmsg(), '\n') == NULL);
        FUZZ_CHECK(strchr(p11jwt_errmsg(), '\r') == NULL);
    }
    free(rs.body);
    return 0;
}
