/*
 * dialect_client_credentials.c — the client credentials grant (RFC 6749
 * §4.4), the request of jsa and client-credentials: no assertion, a
 * client secret, sent as the profile's auth_method says: in the query of
 * a GET (JSA/QRadar qoauth; the dialect table makes it jsa's default), in
 * the form, or by HTTP Basic (every server must take it, RFC 6749 §2.3.1).
 */
#include "exchange/exchange_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything in the query string of a GET: the URL carries the secret
 * (and is wiped with the request). */
static p11jwt_rc build_get_query(const p11jwt_profile *p, const exch_inputs *in,
                                 exch_form *f, exch_built *b)
{
    size_t need;

    exch_form_add(f, "client_id", p->client_id);
    exch_form_add(f, "client_secret", in->client_secret);
    if (f->failed) {
        exch_form_clear(f);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    need = strlen(p->token_url) + 1 + f->len + 1;
    b->url = malloc(need);
    if (b->url != NULL)
        snprintf(b->url, need, "%s%c%s", p->token_url, strchr(p->token_url, '?') ? '&' : '?',
                 f->s);
    exch_form_clear(f);
    b->method = "GET";
    return b->url != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

/* HTTP Basic with id and secret form-encoded first (RFC 6749 §2.3.1): a
 * secret with ':' or '%' would otherwise reach the server changed. */
static p11jwt_rc basic_credentials(const p11jwt_profile *p, const exch_inputs *in,
                                   exch_built *b)
{
    char *u = exch_curl_escape(p->client_id);
    char *pw = exch_curl_escape(in->client_secret);

    b->basic_user = u != NULL ? strdup(u) : NULL;
    b->basic_pass = pw != NULL ? strdup(pw) : NULL;
    if (pw != NULL)
        base_wipe(pw, strlen(pw));
    exch_curl_free(u);
    exch_curl_free(pw);
    if (b->basic_user == NULL || b->basic_pass == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    return P11JWT_OK;
}

p11jwt_rc exch_build_client_credentials(const p11jwt_profile *p,
                                        const exch_inputs *in, exch_built *b)
{
    exch_form f = { 0 };
    p11jwt_rc rc;

    exch_form_add(&f, "grant_type", "client_credentials");
    if (p->scope != NULL)
        exch_form_add(&f, "scope", p->scope);
    switch (p->auth_method) {
    case EXCH_AUTH_GET_QUERY:
        return build_get_query(p, in, &f, b);
    case EXCH_AUTH_POST_FORM:
        exch_form_add(&f, "client_id", p->client_id);
        exch_form_add(&f, "client_secret", in->client_secret);
        break;
    default:
        rc = basic_credentials(p, in, b);
        if (rc != P11JWT_OK) {
            exch_form_clear(&f);
            return rc;
        }
        break;
    }
    return exch_form_finish(b, &f);
}

p11jwt_rc exch_client_secret_auth(const p11jwt_profile *p, const exch_inputs *in,
                                  exch_form *f, exch_built *b)
{
    if (p->auth_method == EXCH_AUTH_BASIC)
        return basic_credentials(p, in, b);
    exch_form_add(f, "client_id", p->client_id);
    exch_form_add(f, "client_secret", in->client_secret);
    return P11JWT_OK;
}
