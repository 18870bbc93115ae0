/*
 * fuzz_token_client.c — what p11jwt-token (src/token-client, libc only)
 * reads of the agent's answers: the HTTP/1.1 status line and headers, and
 * the JSON body's members and string escapes. The input is a whole
 * answer; when its head parses, the body after it is read as JSON too.
 * Checks: spans inside the input, results NUL-terminated and bounded.
 */
#include "fuzz.h"

#include "token-client/ptc.h"

static void json(const char *s, size_t n)
{
    static const char *const keys[] = { "access_token", "token_type", "expires_at",
                                        "error", "message", "" };
    char out[256];

    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        ptc_json_type t;
        const char *v = NULL;
        size_t vl = 0;
        int r = ptc_json_find(s, n, keys[k], &t, &v, &vl);

        FUZZ_CHECK(r >= -1 && r <= 1);
        if (r != 1)
            continue;
        FUZZ_CHECK(v >= s && v + vl <= s + n);
        FUZZ_CHECK(t >= PTC_JSON_STRING && t <= PTC_JSON_NULL);
        if (t == PTC_JSON_STRING) {
            long u = ptc_json_unescape(v, vl, out, sizeof out);

            FUZZ_CHECK(u >= -1 && u < (long)sizeof out);
            if (u >= 0)
                FUZZ_CHECK(out[u] == '\0');
        }
    }
    {
        long u = ptc_json_unescape(s, n, out, sizeof out);

        FUZZ_CHECK(u >= -1 && u < (long)sizeof out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy without a NUL: the parsers take lengths. */
    const char *s = (const char *)data;
    ptc_head h;
    int r = ptc_http_parse_head(s, size, &h);

    FUZZ_CHECK(r >= -1 && r <= 1);
    if (r == 1) {
        FUZZ_CHECK(h.head_len <= size && h.head_len <= PTC_MAX_HEAD);
        FUZZ_CHECK(h.status >= 100 && h.status <= 599);
        FUZZ_CHECK(h.content_length >= -1);
        json(s + h.head_len, size - h.head_len);
    }
    json(s, size);
    return 0;
}
