/*
 * agent_client.c — `p11jwt token|assertion|call --agent`: the same commands
 * answered by the local agent (docs/agent.md) instead of a token and a
 * config file here. The transport is the libc-only client p11jwt-token is
 * built from (src/token-client); the answers are read with jansson.
 *
 * `call --agent` makes the resource request itself (p11jwt_http_call) with
 * the agent's Authorization and headers, and after a 401 asks the agent to
 * drop that token (the agent drops it only if it is still the cached one,
 * so many callers seeing the same 401 cause one new exchange) and retries
 * once.
 */
#include "cli.h"

#include "token-client/ptc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 120000

int cli_agent_use(const cli_agent_opts *o, const char *config, char *path, size_t cap)
{
    const char *env = getenv("P11JWT_AGENT_SOCKET");

    /* The variable is a default: --no-agent or an explicit --config means
     * work here. */
    if (!o->given && (o->off || config != NULL))
        return 0;
    if (o->socket != NULL && o->socket[0] != '\0')
        return snprintf(path, cap, "%s", o->socket) < (int)cap;
    if (o->given || (env != NULL && env[0] != '\0'))
        return ptc_socket_path(0, path, cap) == 0;
    return 0;
}

static int check_args(const char *cmd, const char *profile, const char *config)
{
    if (profile == NULL)
        return cli_usage(cmd, "--profile is required");
    if (config != NULL)
        return cli_usage(cmd, "--config has no effect through the agent, which reads its own "
                              "(give --no-agent to use PATH here)");
    return 0;
}

/* One request to the agent on c; 0 and a 2xx reply, else an exit code
 * (message printed). */
static int ask(const char *cmd, ptc_conn *c, const char *method, const char *target,
               const char *body, ptc_reply *r, int want)
{
    char err[1024];

    if (ptc_request(c, method, target, body, body ? strlen(body) : 0, 1, TIMEOUT_MS, r, err,
                    sizeof err) != 0)
        return cli_error(cmd, "%s", err);
    if (r->status != want) {
        ptc_reply_message(r, err, sizeof err);
        ptc_reply_clear(r);
        return cli_error(cmd, "%s", err);
    }
    return 0;
}

static int open_conn(const char *cmd, const char *socket, ptc_conn *c)
{
    char err[1024];

    if (ptc_connect(c, socket, err, sizeof err) != 0) {
        ptc_close(c);
        return cli_error(cmd, "%s", err);
    }
    return 0;
}

/* "/v1/" what "/" NAME suffix, NAME escaped. */
static int target(const char *cmd, const char *what, const char *profile, const char *suffix,
                  char *out, size_t cap)
{
    char name[3 * 255 + 1];

    if (strlen(profile) > 255 || ptc_url_escape(profile, name, sizeof name) < 0)
        return cli_usage(cmd, "profile name '%s' is too long", profile);
    snprintf(out, cap, "/v1/%s/%s%s", what, name, suffix);
    return 0;
}

/* The token target "/v1/token/NAME[?scope=SCOPE]", SCOPE percent-encoded
 * (the agent checks its syntax, as the library does). */
static int token_target(const char *cmd, const char *profile, const char *scope, char *out,
                        size_t cap)
{
    char enc[3 * 1024 + 1], suffix[sizeof enc + 8];

    suffix[0] = '\0';
    if (scope != NULL) {
        if (strlen(scope) > 1024 || ptc_url_escape(scope, enc, sizeof enc) < 0)
            return cli_error(cmd, "scope '%s' is longer than 1024 bytes", scope);
        snprintf(suffix, sizeof suffix, "?scope=%s", enc);
    }
    return target(cmd, "token", profile, suffix, out, cap);
}

/* The reply's JSON, wiped with the reply. */
static json_t *reply_json(const char *cmd, const ptc_reply *r)
{
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);

    if (!json_is_object(j)) {
        json_decref(j);
        cli_error(cmd, "the agent sent an answer that is not a JSON object");
        return NULL;
    }
    return j;
}

int cli_agent_token(const char *cmd, const char *socket, const char *profile,
                    const char *config, const char *scope, int json)
{
    char tgt[4096];
    ptc_conn c;
    ptc_reply r;
    json_t *j, *out;
    const char *tok;
    int rc;

    if ((rc = check_args(cmd, profile, config)) != 0 ||
        (rc = token_target(cmd, profile, scope, tgt, sizeof tgt)) != 0 ||
        (rc = open_conn(cmd, socket, &c)) != 0)
        return rc;
    rc = ask(cmd, &c, "GET", tgt, NULL, &r, 200);
    ptc_close(&c);
    if (rc != 0)
        return rc;
    j = reply_json(cmd, &r);
    ptc_reply_clear(&r);
    if (j == NULL)
        return 1;
    tok = json_string_value(json_object_get(j, "access_token"));
    if (tok == NULL) {
        json_decref(j);
        return cli_error(cmd, "the agent's answer has no access_token");
    }
    if (json) {
        out = json_pack("{s:O, s:O?, s:O?, s:O?}", "access_token", json_object_get(j, "access_token"),
                        "token_type", json_object_get(j, "token_type"), "expires_at",
                        json_object_get(j, "expires_at"), "scope", json_object_get(j, "scope"));
        rc = out != NULL && json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 &&
                     putchar('\n') != EOF
                 ? 0
                 : 1;
        json_decref(out);
    } else {
        rc = printf("%s\n", tok) < 0;
    }
    json_decref(j);
    if (fflush(stdout) != 0 || rc != 0)
        return cli_error(cmd, "cannot write the token to standard output");
    return 0;
}

int cli_agent_revoke(const char *cmd, const char *socket, const char *profile,
                     const char *config)
{
    char tgt[1024];
    ptc_conn c;
    ptc_reply r;
    int rc;

    if ((rc = check_args(cmd, profile, config)) != 0 ||
        (rc = target(cmd, "token", profile, "/revoke", tgt, sizeof tgt)) != 0 ||
        (rc = open_conn(cmd, socket, &c)) != 0)
        return rc;
    rc = ask(cmd, &c, "POST", tgt, NULL, &r, 204);
    ptc_close(&c);
    if (rc == 0)
        ptc_reply_clear(&r);
    return rc;
}

int cli_agent_assertion(const char *cmd, const char *socket, const char *profile,
                        const char *config)
{
    char tgt[1024];
    const char *jws;
    ptc_conn c;
    ptc_reply r;
    json_t *j;
    int rc;

    if ((rc = check_args(cmd, profile, config)) != 0 ||
        (rc = target(cmd, "assertion", profile, "", tgt, sizeof tgt)) != 0 ||
        (rc = open_conn(cmd, socket, &c)) != 0)
        return rc;
    rc = ask(cmd, &c, "POST", tgt, NULL, &r, 200);
    ptc_close(&c);
    if (rc != 0)
        return rc;
    j = reply_json(cmd, &r);
    ptc_reply_clear(&r);
    if (j == NULL)
        return 1;
    jws = json_string_value(json_object_get(j, "assertion"));
    rc = jws == NULL ? cli_error(cmd, "the agent's answer has no assertion")
         : printf("%s\n", jws) < 0 || fflush(stdout) != 0
             ? cli_error(cmd, "cannot write to standard output")
             : 0;
    json_decref(j);
    return rc;
}

/* "a: b" in a new string, or NULL. */
static char *header_line(const char *name, const char *value)
{
    size_t n = strlen(name) + 2 + strlen(value) + 1;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s: %s", name, value);
    return s;
}

/* The agent's token answer as request headers: the profile's, the
 * caller's, then Authorization (as p11jwt_client_call orders them). */
static int build_headers(const char *cmd, json_t *j, const char *const *extra, size_t nextra,
                         char ***out, size_t *n)
{
    json_t *hs = json_object_get(j, "headers"), *v;
    const char *auth = json_string_value(json_object_get(j, "authorization")), *k;
    char **h = calloc(json_object_size(hs) + nextra + 1, sizeof *h);
    size_t i = 0;

    *out = h;
    *n = 0;
    if (h == NULL)
        return cli_error(cmd, "out of memory");
    if (auth == NULL)
        return cli_error(cmd, "the agent's answer has no authorization");
    json_object_foreach(hs, k, v) {
        const char *s = json_string_value(v);

        if (s == NULL || (h[i] = header_line(k, s)) == NULL)
            return cli_error(cmd, "the agent's answer has a malformed header");
        *n = ++i;
    }
    for (size_t e = 0; e < nextra; e++) {
        if ((h[i] = strdup(extra[e])) == NULL)
            return cli_error(cmd, "out of memory");
        *n = ++i;
    }
    if ((h[i] = header_line("Authorization", auth)) == NULL)
        return cli_error(cmd, "out of memory");
    *n = ++i;
    return 0;
}

static void free_headers(char **h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ptc_wipe(h[i], strlen(h[i]));
        free(h[i]);
    }
    free(h);
}

int cli_agent_call(const char *cmd, const char *socket, const char *profile, const char *config,
                   const char *scope, const char *method, const char *url,
                   const char *const *headers, size_t nheaders, const char *body,
                   size_t body_len)
{
    char tgt[4096], inv[1024], refusal[1024] = "";
    p11jwt_response resp = { 0 };
    ptc_conn c = { -1, NULL };
    int rc;

    if ((rc = check_args(cmd, profile, config)) != 0 ||
        (rc = token_target(cmd, profile, scope, tgt, sizeof tgt)) != 0 ||
        (rc = target(cmd, "token", profile, "/invalidate", inv, sizeof inv)) != 0 ||
        (rc = open_conn(cmd, socket, &c)) != 0)
        return rc;
    for (int tries = 0;; tries++) {
        char **h = NULL, *inv_body = NULL;
        size_t nh = 0;
        ptc_reply r;
        json_t *j;
        p11jwt_rc prc;

        if ((rc = ask(cmd, &c, "GET", tgt, NULL, &r, 200)) != 0)
            break;
        j = reply_json(cmd, &r);
        ptc_reply_clear(&r);
        if (j == NULL) {
            rc = 1;
            break;
        }
        rc = build_headers(cmd, j, headers, nheaders, &h, &nh);
        if (rc == 0) {
            prc = p11jwt_http_call(method, url, (const char *const *)h, nh, body, body_len,
                                   &resp);
            if (prc != P11JWT_OK)
                rc = cli_fail(cmd, prc);
            else /* what a 401/403's challenge says (insufficient_scope: the scope) */
                snprintf(refusal, sizeof refusal, "%s", p11jwt_errmsg());
        }
        free_headers(h, nh);
        if (rc == 0 && resp.status == 401 && tries == 0) {
            /* {"access_token": TOKEN}, built by jansson so that it is
             * escaped right; dropped only if still the agent's token. */
            json_t *req = json_pack("{s:O}", "access_token", json_object_get(j, "access_token"));

            inv_body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
            json_decref(req);
            rc = inv_body == NULL ? cli_error(cmd, "out of memory")
                                  : ask(cmd, &c, "POST", inv, inv_body, &r, 204);
            if (inv_body != NULL) {
                ptc_wipe(inv_body, strlen(inv_body));
                free(inv_body);
            }
            if (rc == 0)
                ptc_reply_clear(&r);
            json_decref(j);
            p11jwt_response_clear(&resp);
            if (rc != 0)
                break;
            continue;
        }
        json_decref(j);
        break;
    }
    ptc_close(&c);
    if (rc == 0) {
        if (resp.body_len > 0 && fwrite(resp.body, 1, resp.body_len, stdout) != resp.body_len)
            rc = cli_error(cmd, "cannot write the answer to standard output");
        else if (fflush(stdout) != 0)
            rc = cli_error(cmd, "cannot write the answer to standard output");
        else if ((resp.status < 200 || resp.status > 299) && refusal[0] != '\0')
            rc = cli_error(cmd, "%.*s: %s", (int)strcspn(url, "?"), url, refusal);
        else if (resp.status < 200 || resp.status > 299)
            rc = cli_error(cmd, "%.*s answered HTTP %ld", (int)strcspn(url, "?"), url,
                           resp.status);
    }
    p11jwt_response_clear(&resp);
    return rc;
}
