/*
 * dialect.c — the dialect table: for each provider its name, whether it
 * signs, what its answer calls the token, the presets a profile of it gets
 * (the audience, the resource Authorization scheme and Accept header, how
 * a client secret is sent, the longest assertion it takes) and the builder
 * of its token request, one file per family (dialect_jwt_bearer.c,
 * dialect_noa.c, dialect_client_credentials.c, dialect_private_key_jwt.c).
 * The contract is docs/exchange.md's dialect table:
 *
 *   dt, neowit, rfc7523   POST form grant_type=jwt-bearer&assertion=...
 *   noa                   POST JSON {"assertion": ...}        → {"jwt": ...}
 *   neowit                                                    → {"accessToken": ...}
 *   jsa                   GET ?grant_type=client_credentials&client_id=&client_secret=
 *   client-credentials    RFC 6749 §4.4 with HTTP Basic, form secret or query
 *   private-key-jwt       client_credentials + client_assertion (RFC 7523 §2.2)
 *
 * Here too: the pieces every builder uses (the form, the header list) and
 * the dispatch. The answer (RFC 6749 §5.1) is token_response.c's. Values
 * are form-encoded by curl_easy_escape without a handle (libcurl ignores
 * it since 7.82), so a request is built before its connection exists.
 */
#include "exchange/exchange_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct exch_dialect dialects[] = {
    /* id, name, signs, iss is client_id, token key, its alias,
     * aud is token_url, resource scheme, resource Accept,
     * client secret sent, longest ttl (0: any), builder, claim required.
     * The limits are the providers' own, checked when the profile loads
     * rather than refused by the STS: noa takes exp - iat of at most 10
     * minutes and needs the organization claim, dt and neowit an hour. */
    { EXCH_DT, "dt", 1, 0, "access_token", NULL,
      1, "Bearer", NULL, EXCH_AUTH_BASIC, 3600, exch_build_jwt_bearer, NULL },
    { EXCH_NEOWIT, "neowit", 1, 0, "accessToken", "access_token",
      1, "Bearer", NULL, EXCH_AUTH_BASIC, 3600, exch_build_jwt_bearer, NULL },
    { EXCH_NOA, "noa", 1, 0, "jwt", NULL,
      0, "JWT", "application/json; version=1.0", EXCH_AUTH_BASIC, 600, exch_build_noa,
      "organization" },
    { EXCH_JSA, "jsa", 0, 0, "access_token", NULL,
      1, "Bearer", NULL, EXCH_AUTH_GET_QUERY, 0, exch_build_client_credentials, NULL },
    { EXCH_RFC7523, "rfc7523", 1, 0, "access_token", NULL,
      1, "Bearer", NULL, EXCH_AUTH_BASIC, 0, exch_build_jwt_bearer, NULL },
    { EXCH_CLIENT_CREDENTIALS, "client-credentials", 0, 0, "access_token", NULL,
      1, "Bearer", NULL, EXCH_AUTH_BASIC, 0, exch_build_client_credentials, NULL },
    { EXCH_PRIVATE_KEY_JWT, "private-key-jwt", 1, 1, "access_token", NULL,
      1, "Bearer", NULL, EXCH_AUTH_BASIC, 0, exch_build_private_key_jwt, NULL },
};
#define NDIALECTS (sizeof dialects / sizeof dialects[0])

const struct exch_dialect *exch_dialect_get(exch_dialect_id id)
{
    for (size_t i = 0; i < NDIALECTS; i++)
        if (dialects[i].id == id)
            return &dialects[i];
    return &dialects[0]; /* every id is in the table */
}

const struct exch_dialect *exch_dialect_by_name(const char *name)
{
    for (size_t i = 0; i < NDIALECTS; i++)
        if (strcmp(dialects[i].name, name) == 0)
            return &dialects[i];
    return NULL;
}

void exch_dialect_names(char *out, size_t cap)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < NDIALECTS && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i > 0 ? ", " : "",
                                 dialects[i].name);
}

const char *exch_dialect_name(exch_dialect_id d)
{
    for (size_t i = 0; i < NDIALECTS; i++)
        if (dialects[i].id == d)
            return dialects[i].name;
    return "?";
}

int exch_dialect_signs(exch_dialect_id d)
{
    return exch_dialect_get(d)->signs;
}

/* ---- what every builder uses ----------------------------------------------------- */

void exch_built_clear(exch_built *b)
{
    base_secret_free(b->url);
    base_secret_free(b->body);
    exch_curl_slist_free_all(b->headers);
    free(b->basic_user);
    base_secret_free(b->basic_pass);
    memset(b, 0, sizeof *b);
}

void exch_form_add(exch_form *f, const char *name, const char *value)
{
    char *ev;
    size_t need;
    char *ns;

    if (f->failed || value == NULL)
        return;
    ev = exch_curl_escape(value);
    if (ev == NULL) {
        f->failed = 1;
        return;
    }
    need = f->len + (f->len ? 1 : 0) + strlen(name) + 1 + strlen(ev) + 1;
    ns = malloc(need);
    if (ns == NULL) {
        f->failed = 1;
    } else {
        /* Grown by copy, the old copy wiped: it may hold a secret. */
        snprintf(ns, need, "%s%s%s=%s", f->s ? f->s : "", f->len ? "&" : "", name, ev);
        base_secret_free_n(f->s, f->len);
        f->s = ns;
        f->len = need - 1;
    }
    base_wipe(ev, strlen(ev));
    exch_curl_free(ev);
}

void exch_form_clear(exch_form *f)
{
    base_secret_free_n(f->s, f->len);
    memset(f, 0, sizeof *f);
}

p11jwt_rc exch_built_header(exch_built *b, const char *h)
{
    struct curl_slist *n = exch_curl_slist_append(b->headers, h);

    if (n == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    b->headers = n;
    return P11JWT_OK;
}

p11jwt_rc exch_form_finish(exch_built *b, exch_form *f)
{
    if (f->failed) {
        exch_form_clear(f);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    b->body = f->s;
    b->method = "POST";
    memset(f, 0, sizeof *f);
    return exch_built_header(b, "Content-Type: application/x-www-form-urlencoded");
}

void exch_json_wipe_member(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (json_is_string(v))
        base_wipe((char *)json_string_value(v), json_string_length(v));
}

p11jwt_rc exch_dialect_build(const p11jwt_profile *p, const exch_inputs *in,
                             exch_built *out)
{
    p11jwt_rc rc;

    memset(out, 0, sizeof *out);
    /* The builders escape and list headers with libcurl. */
    rc = exch_curl_load();
    if (rc == P11JWT_OK)
        rc = exch_dialect_get(p->dialect)->build(p, in, out);
    if (rc == P11JWT_OK && out->url == NULL && (out->url = strdup(p->token_url)) == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (rc == P11JWT_OK)
        rc = exch_built_header(out, "Accept: application/json");
    if (rc != P11JWT_OK)
        exch_built_clear(out);
    return rc;
}
