/*
 * fuzz_url.c — the URL rules (src/exchange/url.c): every URL p11jwt
 * speaks to is parsed once by libcurl's URL API and every decision comes
 * from its parts. Checks: what is accepted is https, or http to a
 * loopback host (whatever the scheme's case); what a message shows has no
 * query and no fragment; a refusal's message is one line.
 */
#include "fuzz.h"

#include "exchange/exchange_int.h"

#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    exch_url u;
    p11jwt_rc rc;

    if (s == NULL)
        return 0;
    rc = exch_url_parse(s, "token_url", P11JWT_ERR_CONFIG, &u);
    if (rc == P11JWT_OK) {
        char *host = NULL, *scheme = NULL;

        FUZZ_CHECK(u.u != NULL);
        FUZZ_CHECK(u.https || u.loopback);
        FUZZ_CHECK(strchr(u.shown, '?') == NULL && strchr(u.shown, '#') == NULL);
        FUZZ_CHECK(strncmp(u.shown, u.https ? "https://" : "http://", u.https ? 8 : 7) == 0);
        FUZZ_CHECK(exch_curl_url_get(u.u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK);
        FUZZ_CHECK(strcasecmp(scheme, u.https ? "https" : "http") == 0);
        FUZZ_CHECK(exch_curl_url_get(u.u, CURLUPART_HOST, &host, 0) == CURLUE_OK);
        FUZZ_CHECK(exch_url_is_loopback(host) == u.loopback);
        /* Plain http is for loopback only, however the scheme is spelt. */
        if (strncasecmp(s, "http://", 7) == 0)
            FUZZ_CHECK(u.loopback);
        exch_curl_free(host);
        exch_curl_free(scheme);
        exch_url_free(&u);
    } else {
        FUZZ_CHECK(u.u == NULL);
        FUZZ_CHECK(strchr(p11jwt_errmsg(), '\n') == NULL);
    }
    free(s);
    return 0;
}
