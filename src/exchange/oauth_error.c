/*
 * oauth_error.c — turning a refusal from an STS into one line a person can
 * act on: the HTTP status, the OAuth error and error_description as the
 * provider sent them, and a hint where the provider documents the cause
 * (dt's "Common Errors" list; neowit runs the same service family).
 */
#include "exchange/exchange_int.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct hint {
    const char *error;          /* OAuth error code, NULL: any */
    const char *needle;         /* substring of error_description, NULL: any */
    const char *text;
};

/* Ordered: the first match wins. */
static const struct hint dt_hints[] = {
    { "invalid_grant", "timing",
      "check this host's clock (NTP) and that exp - iat <= 3600 (profile ttl)" },
    { "invalid_grant", "untrusted",
      "aud must be the token URL and iss the service account's email (profile aud, iss)" },
    { "invalid_grant", "signature",
      "the kid must be the service account key id and the secret in the token its secret "
      "(re-import it with p11jwt import-secret)" },
    { "unsupported_grant_type", NULL,
      "the body must be form URL-encoded with grant_type=" "urn:ietf:params:oauth:grant-"
      "type:jwt-bearer" },
    { "invalid_grant", NULL,
      "the service account or its key may not exist, or the assertion is malformed" },
};

static const struct hint generic_hints[] = {
    { "invalid_client", NULL, "check client_id and the client secret or key" },
    { "invalid_scope", NULL, "the scope is not granted to this client" },
    { "unauthorized_client", NULL, "this client may not use this grant type" },
};

/* Case-insensitive substring test (strcasestr is a GNU extension). */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

static const char *find_hint(const struct hint *h, size_t n, const char *error,
                             const char *desc)
{
    for (size_t i = 0; i < n; i++) {
        if (h[i].error != NULL && (error == NULL || strcmp(h[i].error, error) != 0))
            continue;
        if (h[i].needle != NULL && (desc == NULL || !contains_ci(desc, h[i].needle)))
            continue;
        return h[i].text;
    }
    return NULL;
}

p11jwt_rc exch_oauth_error(const p11jwt_profile *p, const exch_response *rs, int *timing,
                           int *keyish)
{
    json_t *o = json_loadb(rs->body, rs->len, 0, NULL);
    const char *error = json_string_value(json_object_get(o, "error"));
    const char *desc = json_string_value(json_object_get(o, "error_description"));
    const char *hint = NULL;
    char e[ESC_CAP], d[256], asked[ESC_CAP + 32];
    int bare;

    *timing = 0;
    /* A 401 from a token endpoint is about the client's credentials. */
    *keyish = rs->status == 401;
    /* What the provider says is shown escaped: a hostile answer cannot
     * forge extra lines in our logs or drive a terminal. */
    err_escape(e, sizeof e, error);
    err_escape(d, sizeof d, desc != NULL ? desc : "");
    if (error == NULL) {
        /* Not an OAuth error body: show the start of what came back. */
        err_escape_n(d, 120, rs->body, rs->len);
        json_decref(o);
        return err_set(P11JWT_ERR_OAUTH, "the STS answered HTTP %ld%s%s", rs->status,
                       d[0] ? ": " : "", d);
    }
    *timing = desc != NULL && contains_ci(desc, "timing");
    /* What points at the key: a description that names the signature, an
     * untrusted entity or the key; or none at all, the way Disruptive
     * Technologies (a bare invalid_grant, 'the Service Account key doesn't
     * exist') and many STSs answer an unknown kid. Timing never does. */
    bare = desc == NULL || desc[0] == '\0';
    *keyish = !*timing &&
              (*keyish || strcmp(error, "invalid_client") == 0 ||
               (strcmp(error, "invalid_grant") == 0 &&
                (bare || contains_ci(desc, "signature") || contains_ci(desc, "untrusted") ||
                 contains_ci(desc, "key"))));
    if (p->dialect == EXCH_DT || p->dialect == EXCH_NEOWIT)
        hint = find_hint(dt_hints, sizeof dt_hints / sizeof dt_hints[0], error, desc);
    if (hint == NULL)
        hint = find_hint(generic_hints, sizeof generic_hints / sizeof generic_hints[0], error,
                         desc);
    /* invalid_scope: say which scope was asked for (--scope or ?scope= may
     * have set it rather than the profile). */
    asked[0] = '\0';
    if (strcmp(error, "invalid_scope") == 0)
        snprintf(asked, sizeof asked, p->scope != NULL ? " (asked for scope '%s')"
                                                       : " (asked for no scope)%s",
                 p->scope != NULL ? ESC(p->scope) : "");
    err_set(P11JWT_ERR_OAUTH, "the STS refused (HTTP %ld): %s%s%s%s%s%s", rs->status, e,
            d[0] ? ": " : "", d, hint ? " — hint: " : "", hint ? hint : "", asked);
    json_decref(o);
    return P11JWT_ERR_OAUTH;
}
