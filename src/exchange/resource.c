/*
 * resource.c — calling a protected resource with the profile's access
 * token (p11jwt_client_call). On a 401 the token is dropped, exchanged
 * again and the request retried once: the resource no longer accepts it
 * (revoked, rotated key, clock). A 403 is not retried; what its
 * challenge says (RFC 6750 insufficient_scope: the scope wanted) becomes
 * the thread's message (www_auth.c).
 *
 * Every copy of the Authorization line (ours, and curl's in its header
 * list) is wiped before its memory goes.
 */
#include "exchange/exchange_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void p11jwt_response_clear(p11jwt_response *r)
{
    if (r == NULL)
        return;
    base_secret_free_n(r->body, r->body_len);
    memset(r, 0, sizeof *r);
}

p11jwt_rc p11jwt_client_auth_value(p11jwt_client *c, const p11jwt_access_token *t, char **out)
{
    /* The agent makes one per hand-out: two copies, no format. */
    size_t a = strlen(c->p->resource_auth), v = strlen(t->value);

    *out = malloc(a + 1 + v + 1);
    if (*out == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    memcpy(*out, c->p->resource_auth, a);
    (*out)[a] = ' ';
    memcpy(*out + a + 1, t->value, v + 1);
    return P11JWT_OK;
}

static p11jwt_rc call_once(p11jwt_client *c, const char *method, const char *url,
                           const char *const *headers, size_t nheaders, const char *body,
                           size_t body_len, const p11jwt_access_token *t, exch_response *rs)
{
    const p11jwt_profile *p = c->p;
    struct curl_slist *hl = NULL, *n;
    exch_request rq = { 0 };
    exch_http_opts o;
    char *auth = NULL, *line = NULL;
    int retryable;
    p11jwt_rc rc = p11jwt_client_auth_value(c, t, &auth);

    /* Profile headers first, then the caller's, then Authorization. */
    for (size_t i = 0; rc == P11JWT_OK && i < p->nheaders + nheaders; i++) {
        const char *h = headers != NULL && i >= p->nheaders ? headers[i - p->nheaders] : NULL;
        size_t len;

        if (h == NULL) {
            len = strlen(p->headers[i].name) + 2 + strlen(p->headers[i].value) + 1;
            if ((line = malloc(len)) != NULL)
                snprintf(line, len, "%s: %s", p->headers[i].name, p->headers[i].value);
            h = line;
        }
        if (h != NULL && strpbrk(h, "\r\n") != NULL)
            rc = err_set(P11JWT_ERR_ARG, "header %s holds a line break: refused",
                         ESCN(h, strcspn(h, ":")));
        else if (h == NULL || (n = exch_curl_slist_append(hl, h)) == NULL)
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        else
            hl = n;
        free(line);
        line = NULL;
    }
    /* The token is checked when it arrives; a caller's own is checked here. */
    if (rc == P11JWT_OK && strpbrk(auth, "\r\n") != NULL)
        rc = err_set(P11JWT_ERR_ARG, "the access token holds a line break: refused");
    if (rc == P11JWT_OK) {
        size_t len = strlen("Authorization: ") + strlen(auth) + 1;

        if ((line = malloc(len)) != NULL)
            snprintf(line, len, "Authorization: %s", auth);
        if (line == NULL || (n = exch_curl_slist_append(hl, line)) == NULL)
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
        exch_http_opts_of(p, 0, NULL, &o);
        pthread_mutex_lock(&c->res_mu);
        rc = exch_http_perform(&c->res, &o, &rq, rs, &retryable);
        pthread_mutex_unlock(&c->res_mu);
    }
    base_secret_free(line);
    base_secret_free(auth);
    /* The list holds its own copy of the Authorization line (and maybe of
     * a caller's secret header). */
    exch_headers_free(hl);
    return rc;
}

/* The call, with the token of scope's set (NULL: the profile's). */
static p11jwt_rc call(p11jwt_client *c, const char *scope, const char *method, const char *url,
                      const char *const *headers, size_t nheaders, const char *body,
                      size_t body_len, p11jwt_response *out)
{
    exch_response rs = { .retry_after = -1 };
    p11jwt_access_token t;
    p11jwt_client *sc;
    p11jwt_rc rc;

    err_clear();
    memset(out, 0, sizeof *out);
    /* Refuse a URL we would never call before spending an exchange on it. */
    rc = exch_url_check(url, "URL", P11JWT_ERR_HTTP);
    if (rc == P11JWT_OK)
        rc = exch_client_for_scope(c, scope, &sc);
    if (rc != P11JWT_OK)
        return rc;
    for (int tries = 0;; tries++) {
        rc = p11jwt_client_token(sc, &t);
        if (rc != P11JWT_OK) {
            /* After a 401, rs still holds its answer: cleared below. */
            if (tries > 0)
                err_wrap(rc, "the resource refused the token (HTTP 401), and a new one");
            break;
        }
        rc = call_once(c, method, url, headers, nheaders, body, body_len, &t, &rs);
        if (rc == P11JWT_OK && rs.status == 401 && tries == 0) {
            /* The resource no longer accepts this token (revoked, rotated
             * key, clock): drop it, get a new one, try once more. */
            p11jwt_client_invalidate(sc, t.value);
            p11jwt_access_token_clear(&t);
            continue;
        }
        p11jwt_access_token_clear(&t);
        break;
    }
    if (rc == P11JWT_OK) {
        out->status = rs.status;
        out->body = rs.body;
        out->body_len = rs.len;
        rs.body = NULL;
        /* A 403 insufficient_scope is not retried: another token of the
         * same scope would be refused alike. Its challenge is the message. */
        err_clear();
        exch_resource_refusal(&rs);
    }
    exch_response_clear(&rs);
    return rc;
}

p11jwt_rc p11jwt_client_call(p11jwt_client *c, const char *method, const char *url,
                             const char *const *headers, size_t nheaders, const char *body,
                             size_t body_len, p11jwt_response *out)
{
    return call(c, NULL, method, url, headers, nheaders, body, body_len, out);
}

p11jwt_rc p11jwt_client_call_scoped(p11jwt_client *c, const char *scope, const char *method,
                                    const char *url, const char *const *headers,
                                    size_t nheaders, const char *body, size_t body_len,
                                    p11jwt_response *out)
{
    return call(c, scope, method, url, headers, nheaders, body, body_len, out);
}
