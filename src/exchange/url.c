/*
 * url.c — every URL p11jwt speaks to is parsed once, by libcurl's URL API,
 * and every decision about it is taken from the parsed parts: the scheme
 * (lower case, as curl normalises it), whether the host is loopback,
 * whether a proxy may be used, and what a message shows. The same parsed
 * handle is what curl connects with (CURLOPT_CURLU), so what was checked
 * is what is used.
 *
 * What a person is shown is scheme://host[:port]/path and nothing else:
 * no userinfo, no query (a jsa request carries its client secret there),
 * no fragment.
 */
#include "exchange/exchange_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

UNITTEST int exch_url_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    char buf[64];
    size_t n = strlen(host);

    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    /* curl hands IPv6 hosts back in brackets. */
    if (n >= 2 && n < sizeof buf && host[0] == '[' && host[n - 1] == ']') {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        host = buf;
    }
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* scheme://host[:port]/path of the parsed URL, escaped, into out. */
static void render(CURLU *u, const char *scheme, const char *host, char *out, size_t cap)
{
    char *port = NULL, *path = NULL;
    char raw[EXCH_URL_SHOWN];

    exch_curl_url_get(u, CURLUPART_PORT, &port, 0);          /* only when given */
    exch_curl_url_get(u, CURLUPART_PATH, &path, 0);
    snprintf(raw, sizeof raw, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
             path ? path : "/");
    err_escape(out, cap, raw);
    exch_curl_free(port);
    exch_curl_free(path);
}

void exch_url_free(exch_url *u)
{
    if (u->u != NULL)
        exch_curl_url_cleanup(u->u);
    memset(u, 0, sizeof *u);
}

p11jwt_rc exch_url_parse(const char *url, const char *what, p11jwt_rc fail, exch_url *out)
{
    char *scheme = NULL, *host = NULL;
    CURLUcode uc;
    p11jwt_rc rc = P11JWT_OK;

    memset(out, 0, sizeof *out);
    rc = exch_curl_load();
    if (rc != P11JWT_OK)
        return rc;
    out->u = exch_curl_url();
    if (out->u == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    /* Not echoed: what cannot be parsed cannot be shown without its query. */
    uc = exch_curl_url_set(out->u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (uc == CURLUE_OK)
        uc = exch_curl_url_get(out->u, CURLUPART_SCHEME, &scheme, 0);
    if (uc == CURLUE_OK)
        uc = exch_curl_url_get(out->u, CURLUPART_HOST, &host, 0);
    if (uc != CURLUE_OK || scheme == NULL || host == NULL || host[0] == '\0') {
        rc = err_set(fail, "%s is not a valid URL (%s)", what,
                     uc != CURLUE_OK ? exch_curl_url_strerror(uc) : "no host");
        goto out;
    }
    for (char *s = scheme; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    render(out->u, scheme, host, out->shown, sizeof out->shown);
    out->loopback = exch_url_is_loopback(host);
    if (strcmp(scheme, "https") == 0) {
        out->https = 1;
    } else if (strcmp(scheme, "http") != 0) {
        rc = err_set(fail, "%s %s: only https (or http to loopback) is spoken", what, out->shown);
    } else if (!out->loopback) {
        rc = err_set(fail, "%s %s: plain http is refused for non-loopback host '%s'; use https",
                     what, out->shown, ESC(host));
    }
out:
    exch_curl_free(scheme);
    exch_curl_free(host);
    if (rc != P11JWT_OK)
        exch_url_free(out);
    return rc;
}

p11jwt_rc exch_url_check(const char *url, const char *what, p11jwt_rc fail)
{
    exch_url u;
    p11jwt_rc rc = exch_url_parse(url, what, fail, &u);

    exch_url_free(&u);
    return rc;
}
