/*
 * libcurl.c — libcurl, loaded (dlopen) the first time the library needs
 * HTTP or parses a URL, not when a program linked to libp11jwt starts;
 * the rest of the exchange floor calls it through the wrappers here.
 *
 * The decision: libp11jwt is not linked to libcurl. libcurl brings some
 * 28 libraries with it (GnuTLS, nghttp2, LDAP, Kerberos, SSH, IDN...) whose
 * loading and constructors cost a process start more CPU than everything
 * else p11jwt loads, and the offline commands (sign, keygen, verify, jwks,
 * --version) never speak HTTP. The library loads the SONAME it was built
 * against (P11JWT_CURL_SONAME, found by CMake) once, in a pthread_once
 * that also runs curl_global_init. Callers that can say why HTTP fails
 * call exch_curl_load first; a wrapper called when libcurl could not be
 * loaded fails the way libcurl's function fails (NULL, an error code).
 * The setopt wrappers are typed (long, pointer, curl_off_t, callback) and
 * refuse an option of another type, which curl's own varargs cannot.
 */
#include "exchange/exchange_int.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifndef P11JWT_CURL_SONAME
#define P11JWT_CURL_SONAME "libcurl.so.4"
#endif

static struct {
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_easy_reset) *easy_reset;
    __typeof__(curl_easy_perform) *easy_perform;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_getinfo) *easy_getinfo;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_easy_escape) *easy_escape;
    __typeof__(curl_free) *free;
    __typeof__(curl_slist_append) *slist_append;
    __typeof__(curl_slist_free_all) *slist_free_all;
    __typeof__(curl_url) *url;
    __typeof__(curl_url_cleanup) *url_cleanup;
    __typeof__(curl_url_set) *url_set;
    __typeof__(curl_url_get) *url_get;
    __typeof__(curl_url_strerror) *url_strerror;
    __typeof__(curl_getdate) *getdate;
} fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[256];

static void load(void)
{
    void *h = dlopen(P11JWT_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    const char *missing = NULL;
    CURLcode e;

    if (h == NULL) {
        const char *why = dlerror();

        snprintf(load_error, sizeof load_error, "%s", why != NULL ? why : "not found");
        return;
    }
    /* memcpy: ISO C has no conversion from dlsym's void * to a function
     * pointer; POSIX guarantees the representation. */
#define SYM(field, name)                                  \
    do {                                                  \
        void *p_ = missing == NULL ? dlsym(h, name) : NULL; \
        if (p_ == NULL && missing == NULL)                \
            missing = name;                               \
        memcpy(&fn.field, &p_, sizeof p_);                \
    } while (0)
    SYM(global_init, "curl_global_init");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_reset, "curl_easy_reset");
    SYM(easy_perform, "curl_easy_perform");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(easy_escape, "curl_easy_escape");
    SYM(free, "curl_free");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
    SYM(url, "curl_url");
    SYM(url_cleanup, "curl_url_cleanup");
    SYM(url_set, "curl_url_set");
    SYM(url_get, "curl_url_get");
    SYM(url_strerror, "curl_url_strerror");
    SYM(getdate, "curl_getdate");
#undef SYM
    if (missing != NULL) {
        /* Too old a libcurl: left loaded (others may use it), not used. */
        snprintf(load_error, sizeof load_error, "it has no %s (too old)", missing);
        return;
    }
    /* Not thread-safe in older libcurl: once, here. */
    e = fn.global_init(CURL_GLOBAL_DEFAULT);
    if (e != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "curl_global_init: %s", fn.easy_strerror(e));
        return;
    }
    loaded = 1;
}

static int ready(void)
{
    pthread_once(&load_once, load);
    return loaded;
}

p11jwt_rc exch_curl_load(void)
{
    if (ready())
        return P11JWT_OK;
    return err_set(P11JWT_ERR_HTTP, "libcurl (%s) could not be loaded: %s; HTTP needs it",
                   P11JWT_CURL_SONAME, ESC(load_error));
}

CURL *exch_curl_easy_init(void)
{
    return ready() ? fn.easy_init() : NULL;
}

void exch_curl_easy_cleanup(CURL *c)
{
    if (c != NULL && ready())
        fn.easy_cleanup(c);
}

void exch_curl_easy_reset(CURL *c)
{
    if (ready())
        fn.easy_reset(c);
}

CURLcode exch_curl_easy_perform(CURL *c)
{
    return ready() ? fn.easy_perform(c) : CURLE_FAILED_INIT;
}

/* An option's type is its number's ten-thousands (curl.h, CURLOPTTYPE_*). */
static int opt_is(CURLoption opt, long type)
{
    return (long)opt - (long)opt % 10000 == type;
}

CURLcode exch_curl_setopt_long(CURL *c, CURLoption opt, long v)
{
    if (!opt_is(opt, CURLOPTTYPE_LONG))
        return CURLE_BAD_FUNCTION_ARGUMENT;
    return ready() ? fn.easy_setopt(c, opt, v) : CURLE_FAILED_INIT;
}

CURLcode exch_curl_setopt_ptr(CURL *c, CURLoption opt, const void *v)
{
    if (!opt_is(opt, CURLOPTTYPE_OBJECTPOINT))
        return CURLE_BAD_FUNCTION_ARGUMENT;
    return ready() ? fn.easy_setopt(c, opt, v) : CURLE_FAILED_INIT;
}

CURLcode exch_curl_setopt_off(CURL *c, CURLoption opt, curl_off_t v)
{
    if (!opt_is(opt, CURLOPTTYPE_OFF_T))
        return CURLE_BAD_FUNCTION_ARGUMENT;
    return ready() ? fn.easy_setopt(c, opt, v) : CURLE_FAILED_INIT;
}

CURLcode exch_curl_setopt_write(CURL *c, CURLoption opt, curl_write_callback v)
{
    if (!opt_is(opt, CURLOPTTYPE_FUNCTIONPOINT))
        return CURLE_BAD_FUNCTION_ARGUMENT;
    return ready() ? fn.easy_setopt(c, opt, v) : CURLE_FAILED_INIT;
}

CURLcode exch_curl_setopt_xferinfo(CURL *c, CURLoption opt, curl_xferinfo_callback v)
{
    if (!opt_is(opt, CURLOPTTYPE_FUNCTIONPOINT))
        return CURLE_BAD_FUNCTION_ARGUMENT;
    return ready() ? fn.easy_setopt(c, opt, v) : CURLE_FAILED_INIT;
}

CURLcode exch_curl_certinfo(CURL *c, struct curl_certinfo **ci)
{
    return ready() ? fn.easy_getinfo(c, CURLINFO_CERTINFO, ci) : CURLE_FAILED_INIT;
}

time_t exch_curl_getdate(const char *s)
{
    return ready() ? fn.getdate(s, NULL) : (time_t)-1;
}

CURLcode exch_curl_response_code(CURL *c, long *status)
{
    return ready() ? fn.easy_getinfo(c, CURLINFO_RESPONSE_CODE, status) : CURLE_FAILED_INIT;
}

const char *exch_curl_strerror(CURLcode e)
{
    return ready() ? fn.easy_strerror(e) : "libcurl is not loaded";
}

char *exch_curl_escape(const char *s)
{
    /* libcurl ignores the handle for escaping. */
    return ready() ? fn.easy_escape(NULL, s, 0) : NULL;
}

void exch_curl_free(void *p)
{
    if (p != NULL && ready())
        fn.free(p);
}

struct curl_slist *exch_curl_slist_append(struct curl_slist *l, const char *s)
{
    return ready() ? fn.slist_append(l, s) : NULL;
}

void exch_curl_slist_free_all(struct curl_slist *l)
{
    if (l != NULL && ready())
        fn.slist_free_all(l);
}

CURLU *exch_curl_url(void)
{
    return ready() ? fn.url() : NULL;
}

void exch_curl_url_cleanup(CURLU *u)
{
    if (u != NULL && ready())
        fn.url_cleanup(u);
}

CURLUcode exch_curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
    return ready() ? fn.url_set(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

CURLUcode exch_curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
    *part = NULL;
    return ready() ? fn.url_get(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

const char *exch_curl_url_strerror(CURLUcode e)
{
    return ready() ? fn.url_strerror(e) : "libcurl is not loaded";
}
