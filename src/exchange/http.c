/*
 * http.c — one libcurl easy handle per connection user, kept for reuse so
 * the TLS session and TCP connection survive between exchanges; made at
 * its first request, so a client that never talks HTTP holds none; and
 * p11jwt_http_call, one request under these rules without a profile.
 *
 * A request comes with its options (exch_http_opts: timeouts, the CA
 * file, a TLS client key), never with a profile: the client says what a
 * profile means for HTTP. What is fixed here and not configurable: TLS
 * peer and host verification are always on, plain http is allowed only to
 * loopback hosts, redirects are not followed (an assertion must not be
 * forwarded anywhere), only http and https are spoken, and an answer
 * larger than 1 MiB is cut off with an error rather than buffered.
 *
 * After fork() a handle's kept-alive connections are the parent's too: a
 * child that used one would interleave its requests with the parent's on
 * one TCP/TLS stream, and one that closed it would send the parent's TLS
 * close_notify. A generation counter, bumped in the child by a
 * pthread_atfork handler (as the PKCS#11 layer does), makes a child leave
 * the inherited handle alone (a small leak per fork) and start a new one.
 */
#include "exchange/exchange_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static atomic_ulong http_fork_gen;
static pthread_once_t http_once = PTHREAD_ONCE_INIT;

static void http_after_fork(void)
{
    atomic_fetch_add(&http_fork_gen, 1);
}

static void http_register(void)
{
    pthread_atfork(NULL, NULL, http_after_fork);
}

void exch_http_init(exch_http *h)
{
    memset(h, 0, sizeof *h);
    pthread_once(&http_once, http_register);
    h->fork_gen = atomic_load(&http_fork_gen);
}

/* The handle, made at the first request; in a forked child, a new one in
 * place of the parent's (left untouched). */
static p11jwt_rc own_handle(exch_http *h)
{
    unsigned long gen = atomic_load(&http_fork_gen);
    p11jwt_rc rc;

    if (h->fork_gen == gen && h->curl != NULL)
        return P11JWT_OK;
    rc = exch_curl_load();
    if (rc != P11JWT_OK)
        return rc;
    h->curl = exch_curl_easy_init();
    h->fork_gen = gen;
    return h->curl != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "libcurl could not start");
}

void exch_http_cleanup(exch_http *h)
{
    /* A parent's handle is the parent's to close. */
    if (h->curl != NULL && h->fork_gen == atomic_load(&http_fork_gen))
        exch_curl_easy_cleanup(h->curl);
    h->curl = NULL;
}

void exch_response_clear(exch_response *r)
{
    base_secret_free_n(r->body, r->cap > r->len ? r->cap : r->len);
    free(r->www_auth);
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    exch_response *rs = userp;
    size_t n = size * nmemb;
    char *nb;

    if (rs->len + n > EXCH_MAX_BODY) {
        rs->truncated = 1;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (rs->len + n + 1 > rs->cap) {
        /* Grown by hand, not realloc: the old copy is wiped, not left in
         * freed memory (an answer from a token endpoint holds a token). */
        size_t cap = rs->cap ? rs->cap : 4096;

        while (cap < rs->len + n + 1)
            cap *= 2;
        nb = malloc(cap);
        if (nb == NULL)
            return 0;
        if (rs->body != NULL) {
            memcpy(nb, rs->body, rs->len);
            base_secret_free_n(rs->body, rs->cap);
        }
        rs->body = nb;
        rs->cap = cap;
    }
    memcpy(rs->body + rs->len, data, n);
    rs->len += n;
    rs->body[rs->len] = '\0';
    return n;
}

/* WWW-Authenticate (each line's value, joined by ", " as RFC 9110 §5.3
 * allows): what a resource's 401 or 403 says (www_auth.c). */
static void www_auth_header(exch_response *rs, const char *v, size_t n)
{
    size_t have = rs->www_auth_len, need;
    char *nb;

    while (n > 0 && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (rs->www_auth_cut)
        return;
    need = have + (have > 0 ? 2 : 0) + n;
    if (need > EXCH_WWW_AUTH_MAX) {
        rs->www_auth_cut = 1;
        return;
    }
    if ((nb = realloc(rs->www_auth, need + 1)) == NULL)
        return;
    if (have > 0)
        memcpy(nb + have, ", ", 2), have += 2;
    memcpy(nb + have, v, n);
    nb[need] = '\0';
    rs->www_auth = nb;
    rs->www_auth_len = need;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    exch_response *rs = userp;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:", date[] = "date:", wa[] = "www-authenticate:";

    /* A status line starts a response's headers (after a 100 Continue). */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        free(rs->www_auth);
        rs->www_auth = NULL;
        rs->www_auth_len = 0;
        rs->www_auth_cut = 0;
    }
    if (n > sizeof wa - 1 && strncasecmp(data, wa, sizeof wa - 1) == 0)
        www_auth_header(rs, data + sizeof wa - 1, n - (sizeof wa - 1));

    /* Date: what p11jwt doctor compares this host's clock with. */
    if (n > sizeof date - 1 && n < 128 && strncasecmp(data, date, sizeof date - 1) == 0) {
        char buf[128];
        time_t t;

        memcpy(buf, data + sizeof date - 1, n - (sizeof date - 1));
        buf[n - (sizeof date - 1)] = '\0';
        t = exch_curl_getdate(buf);
        rs->date = t > 0 ? (int64_t)t : 0;
    }

    /* Retry-After in seconds; the HTTP-date form is treated as absent. */
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        char buf[32];
        size_t vl = n - (sizeof name - 1);
        char *end;
        long long v;

        if (vl >= sizeof buf)
            vl = sizeof buf - 1;
        memcpy(buf, data + sizeof name - 1, vl);
        buf[vl] = '\0';
        v = strtoll(buf, &end, 10);
        while (*end == ' ' || *end == '\r' || *end == '\n')
            end++;
        if (end != buf && *end == '\0' && v >= 0)
            rs->retry_after = v;
    }
    return n;
}

/* curl asks about once a second: a request for a cache being freed ends. */
static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return exch_cache_stopping(userp);
}

/* Sets the options every request shares; the handle keeps its connection
 * cache across curl_easy_reset. */
static CURLcode setup(exch_http *h, const exch_http_opts *o, const exch_request *rq,
                      const exch_url *url, exch_response *rs)
{
    CURL *c = h->curl;
    CURLcode e = CURLE_OK;

/* SET_LONG, SET_PTR, SET_OFF, SET_WRITE: by the option's type. */
#define SET_(type, opt, val)                            \
    do {                                                \
        if (e == CURLE_OK)                              \
            e = exch_curl_setopt_##type(c, opt, val);   \
    } while (0)
#define SET_LONG(opt, val) SET_(long, opt, val)
#define SET_PTR(opt, val) SET_(ptr, opt, val)
#define SET_OFF(opt, val) SET_(off, opt, val)
#define SET_WRITE(opt, val) SET_(write, opt, val)
#define SET_XFER(opt, val) SET_(xferinfo, opt, val)
    exch_curl_easy_reset(c);
    h->errbuf[0] = '\0';
    SET_PTR(CURLOPT_ERRORBUFFER, h->errbuf);
    /* The very URL that was checked: curl does not parse it again. */
    SET_PTR(CURLOPT_CURLU, url->u);
    SET_PTR(CURLOPT_PROTOCOLS_STR, "http,https");
    SET_LONG(CURLOPT_FOLLOWLOCATION, 0L);
    /* Plain http goes to loopback only: never through a proxy from the
     * environment, which could be anywhere. https may use one (the TLS
     * session is end to end). */
    if (!url->https)
        SET_PTR(CURLOPT_NOPROXY, "*");
    /* A retry goes out on a new connection: libcurl resends a request by
     * itself when a reused connection turns out dead, and a resent
     * assertion is a replay to an STS that did see the first copy. */
    SET_LONG(CURLOPT_FRESH_CONNECT, rq->fresh ? 1L : 0L);
    SET_LONG(CURLOPT_NOSIGNAL, 1L);
    SET_LONG(CURLOPT_SSL_VERIFYPEER, 1L);
    SET_LONG(CURLOPT_SSL_VERIFYHOST, 2L);
    SET_LONG(CURLOPT_CONNECTTIMEOUT, (long)o->connect_timeout);
    SET_LONG(CURLOPT_TIMEOUT, (long)o->timeout);
    SET_PTR(CURLOPT_USERAGENT, "p11jwt/" P11JWT_VERSION);
    SET_WRITE(CURLOPT_WRITEFUNCTION, on_body);
    SET_PTR(CURLOPT_WRITEDATA, rs);
    SET_WRITE(CURLOPT_HEADERFUNCTION, on_header);
    SET_PTR(CURLOPT_HEADERDATA, rs);
    SET_OFF(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)EXCH_MAX_BODY);
    if (o->ca_file != NULL)
        SET_PTR(CURLOPT_CAINFO, o->ca_file);
    if (o->cancel != NULL) {
        SET_XFER(CURLOPT_XFERINFOFUNCTION, on_progress);
        SET_PTR(CURLOPT_XFERINFODATA, (const void *)o->cancel);
        SET_LONG(CURLOPT_NOPROGRESS, 0L);
    }
    if (o->certinfo)
        SET_LONG(CURLOPT_CERTINFO, 1L);
    if (o->client_cert != NULL) {
        SET_PTR(CURLOPT_SSLCERT, o->client_cert);
        if (strncmp(o->client_key, "pkcs11:", 7) == 0) {
            /* The key stays in the token: libp11's engine signs the TLS
             * handshake; the PIN reaches it through curl's key password. */
            SET_PTR(CURLOPT_SSLENGINE, "pkcs11");
            SET_PTR(CURLOPT_SSLKEYTYPE, "ENG");
            if (o->key_pin != NULL)
                SET_PTR(CURLOPT_KEYPASSWD, o->key_pin);
        }
        SET_PTR(CURLOPT_SSLKEY, o->client_key);
    }
    if (rq->headers != NULL)
        SET_PTR(CURLOPT_HTTPHEADER, rq->headers);
    if (rq->basic_user != NULL) {
        SET_LONG(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SET_PTR(CURLOPT_USERNAME, rq->basic_user);
        SET_PTR(CURLOPT_PASSWORD, rq->basic_pass);
    }
    if (rq->body != NULL) {
        SET_PTR(CURLOPT_POSTFIELDS, rq->body);
        SET_OFF(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    }
    if (strcmp(rq->method, "GET") == 0)
        SET_LONG(CURLOPT_HTTPGET, 1L);
    else if (strcmp(rq->method, "POST") != 0 || rq->body == NULL)
        SET_PTR(CURLOPT_CUSTOMREQUEST, rq->method);
#undef SET_LONG
#undef SET_PTR
#undef SET_OFF
#undef SET_WRITE
#undef SET_
    return e;
}

/* A certificate date as libcurl shows it with OpenSSL ("Dec  4 06:00:04
 * 2026 GMT"), in Unix time; 0 when it is not one. */
UNITTEST int64_t exch_http_cert_time(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4], gmt[4];
    struct tm tm = { 0 };
    const char *m;
    int n = 0;

    if (sscanf(s, "%3s %d %d:%d:%d %d %3s%n", mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &tm.tm_year, gmt, &n) != 7 ||
        s[n] != '\0' || strcmp(gmt, "GMT") != 0 || strlen(mon) != 3 ||
        (m = strstr(months, mon)) == NULL || (m - months) % 3 != 0 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
        tm.tm_hour < 0 || tm.tm_min < 0 || tm.tm_sec < 0 || tm.tm_year < 1970 ||
        tm.tm_year > 9999)
        return 0;
    tm.tm_mon = (int)(m - months) / 3;
    tm.tm_year -= 1900;
    return (int64_t)timegm(&tm);
}

/* The notAfter of the server's certificate (the chain's first); 0 when
 * libcurl does not show it. */
static int64_t cert_expiry(CURL *c)
{
    struct curl_certinfo *ci = NULL;

    if (exch_curl_certinfo(c, &ci) != CURLE_OK || ci == NULL ||
        ci->num_of_certs < 1)
        return 0;
    for (struct curl_slist *l = ci->certinfo[0]; l != NULL; l = l->next)
        if (strncmp(l->data, "Expire date:", 12) == 0)
            return exch_http_cert_time(l->data + 12);
    return 0;
}

/* What curl_easy_perform's code means, with the URL as shown. */
static p11jwt_rc result(exch_http *h, const exch_http_opts *o, const exch_url *url, CURLcode e,
                        exch_response *rs, int *retryable)
{
    const char *shown = url->shown;

    if (e == CURLE_OK) {
        exch_curl_response_code(h->curl, &rs->status);
        if (o->certinfo && url->https)
            rs->cert_expires = cert_expiry(h->curl);
        if (rs->body == NULL && (rs->body = calloc(1, 1)) == NULL)
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        if (rs->cap == 0)
            rs->cap = 1;
        return P11JWT_OK;
    }
    switch (e) {
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        if (rs->truncated || e == CURLE_FILESIZE_EXCEEDED)
            return err_set(P11JWT_ERR_HTTP, "%s: the answer is larger than %d bytes; refused",
                           shown, EXCH_MAX_BODY);
        return err_set(P11JWT_ERR_NOMEM, "out of memory reading the answer from %s", shown);
    case CURLE_ABORTED_BY_CALLBACK:
        return err_set(P11JWT_ERR_HTTP, "%s: the request was cut short: the client is being "
                       "freed", shown);
    case CURLE_OPERATION_TIMEDOUT:
        *retryable = 1;
        return err_set(P11JWT_ERR_HTTP, "%s: no answer within %lld s (timeout)", shown,
                       (long long)o->timeout);
    case CURLE_GOT_NOTHING:
        *retryable = 1;
        return err_set(P11JWT_ERR_HTTP, "%s: the server closed the connection without answering",
                       shown);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        *retryable = 1;
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        return err_set(P11JWT_ERR_HTTP,
                       "%s: TLS: the server's certificate is not trusted (%s); set ca_file to "
                       "the CA that issued it",
                       shown, h->errbuf[0] ? ESC(h->errbuf) : exch_curl_strerror(e));
    default:
        break;
    }
    /* libcurl's own text names hosts, never a URL's query. */
    return err_set(P11JWT_ERR_HTTP, "%s: %s", shown, h->errbuf[0] ? ESC(h->errbuf)
                                                                   : exch_curl_strerror(e));
}

p11jwt_rc exch_http_perform(exch_http *h, const exch_http_opts *o, const exch_request *rq,
                            exch_response *rs, int *retryable)
{
    exch_url url;
    CURLcode e = CURLE_OK;
    p11jwt_rc rc;

    *retryable = 0;
    exch_response_clear(rs);
    rc = own_handle(h);
    if (rc != P11JWT_OK)
        return rc;
    rc = exch_url_parse(rq->url, "URL", P11JWT_ERR_HTTP, &url);
    if (rc != P11JWT_OK)
        return rc;
    e = setup(h, o, rq, &url, rs);
    if (e == CURLE_OK)
        e = exch_curl_easy_perform(h->curl);
    else
        rc = err_set(P11JWT_ERR_HTTP, "libcurl refused an option: %s", exch_curl_strerror(e));
    if (o->key_pin != NULL) /* curl keeps a copy of the PIN until told otherwise */
        exch_curl_setopt_ptr(h->curl, CURLOPT_KEYPASSWD, NULL);
    /* The handle must not outlive the parsed URL it points to. */
    exch_curl_setopt_ptr(h->curl, CURLOPT_CURLU, NULL);
    if (rc == P11JWT_OK)
        rc = result(h, o, &url, e, rs, retryable);
    exch_url_free(&url);
    return rc;
}

void exch_headers_free(struct curl_slist *hl)
{
    for (struct curl_slist *n = hl; n != NULL; n = n->next)
        base_wipe(n->data, strlen(n->data));
    exch_curl_slist_free_all(hl); /* curl copied nothing of ours it still needs */
}

/* One request under the library's rules, for a caller without a profile
 * (headers an agent handed out): 10 s to connect, 30 s in all. */
p11jwt_rc p11jwt_http_call(const char *method, const char *url, const char *const *headers,
                           size_t nheaders, const char *body, size_t body_len,
                           p11jwt_response *out)
{
    /* The library's rules for a request without a profile. */
    const exch_http_opts o = { .connect_timeout = 10, .timeout = 30 };
    exch_response rs = { .retry_after = -1 };
    struct curl_slist *hl = NULL, *n;
    exch_request rq = { 0 };
    exch_http h;
    int retryable;
    p11jwt_rc rc;

    err_clear();
    memset(out, 0, sizeof *out);
    rc = exch_curl_load();
    if (rc != P11JWT_OK)
        return rc;
    exch_http_init(&h);
    for (size_t i = 0; rc == P11JWT_OK && i < nheaders; i++) {
        if ((n = exch_curl_slist_append(hl, headers[i])) == NULL)
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        else
            hl = n;
    }
    if (rc == P11JWT_OK) {
        rq.method = method != NULL ? method : body != NULL ? "POST" : "GET";
        rq.url = url;
        rq.headers = hl;
        rq.body = body;
        rq.body_len = body_len;
        rc = exch_http_perform(&h, &o, &rq, &rs, &retryable);
    }
    if (rc == P11JWT_OK) {
        out->status = rs.status;
        out->body = rs.body;
        out->body_len = rs.len;
        rs.body = NULL;
        /* A 401 or 403's challenge, e.g. the scope the resource wants. */
        exch_resource_refusal(&rs);
    }
    /* The list may hold an Authorization header. */
    exch_headers_free(hl);
    exch_response_clear(&rs);
    exch_http_cleanup(&h);
    return rc;
}
