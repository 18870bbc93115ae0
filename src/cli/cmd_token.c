/*
 * cmd_token.c — the exchange commands: `token` (an access token for a
 * profile), `assertion` (the profile's assertion, offline) and `call` (a
 * resource request with the profile's Authorization).
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_SCOPE_HELP                                                                   \
    "  --scope SCOPE      ask for SCOPE instead of the profile's scope: scope tokens\n"   \
    "                     separated by spaces, each printable ASCII but '\"' and '\\'\n" \
    "                     (RFC 6749 section 3.3). Tokens are cached per scope set\n"     \
    "                     (sorted, each once: 'b a' and 'a b a' share one)\n"

static const char token_help[] =
    "Usage: p11jwt token --profile NAME [--config PATH] [--scope SCOPE] [--json]\n"
    "\n"
    "Exchange a freshly signed assertion (or client credentials) for an access\n"
    "token at the profile's token service and print the token. Network errors,\n"
    "5xx and 429 are retried with backoff (Retry-After honoured); an OAuth\n"
    "refusal is shown with the provider's error, its description and a hint.\n"
    "\n"
    "Options:\n"
    "  --json             print {access_token, token_type, expires_at, scope}\n"
    CLI_SCOPE_HELP
    CLI_PROFILE_HELP
    CLI_AGENT_HELP
    "\n"
    "Config file: INI sections [profile NAME] of 'key = value' lines; a line\n"
    "whose first non-blank character is '#' or ';' is a comment, and there are\n"
    "no comments after a value ('dialect = dt # x' is the dialect 'dt # x').\n"
    "Durations are seconds or N s|m|h|d, at most 10 years\n"
    "(3650d). Keys:\n"
    "  dialect            dt | neowit | noa | jsa | rfc7523 | client-credentials |\n"
    "                     private-key-jwt (required)\n"
    "  token_url          the token endpoint: https, or http to loopback (required)\n"
    "  revocation_url     the RFC 7009 revocation endpoint (p11jwt revoke)\n"
    "  token              the PKCS#11 token URI (dialects that sign)\n"
    "  pin_file, pin_env  where the token's user PIN comes from\n"
    "  module_args        arguments for the token module's C_Initialize (as\n"
    "                     --module-args; also for a pkcs11: client_key)\n"
    "  kid                the signing key's kid (dialects that sign)\n"
    "  alg                the alg to sign with: required for a key that pins none\n"
    "                     (p11jwt list), else must be the key's (default: the key's)\n"
    "  iss, sub           issuer and subject claims (private-key-jwt: client_id)\n"
    "  aud                audience claim (default: token_url; noa: none)\n"
    "  ttl                assertion lifetime, exp - iat (default 300; dt: <= 3600)\n"
    "  scope              scope to request: scope tokens separated by spaces, each\n"
    "                     printable ASCII but '\"' and '\\' (RFC 6749 section 3.3)\n"
    "  claim.NAME         an extra string claim, e.g. claim.organization = UUID\n"
    "  client_id          client id (client-credentials, jsa, private-key-jwt)\n"
    "  client_secret_file, client_secret_env\n"
    "                     where the client secret comes from (one trailing newline\n"
    "                     stripped from a file)\n"
    "  auth_method        get-query | basic | post-form, how the client secret is\n"
    "                     sent (default: jsa get-query, client-credentials basic)\n"
    "  resource_auth      Bearer | JWT, the Authorization scheme for resource calls\n"
    "                     (default: noa JWT, else Bearer)\n"
    "  header.NAME        an extra header on resource calls (noa default:\n"
    "                     header.Accept = application/json; version=1.0)\n"
    "  ca_file            CA bundle to verify the servers with (default: system)\n"
    "  client_cert, client_key\n"
    "                     TLS client certificate and key for the token endpoint;\n"
    "                     client_key may be a pkcs11: URI (key stays in the token)\n"
    "  x5t, x5t_s256      yes: the assertion's header carries the SHA-1 (x5t) or\n"
    "                     SHA-256 (x5t#S256) thumbprint of the key's X.509\n"
    "                     certificate, for STSs that register one (default no)\n"
    "  cert               that certificate: a PEM or DER file, or a pkcs11: URI of\n"
    "                     a certificate object (default: the one with the key's\n"
    "                     kid in the token); it must hold the key's public key\n"
    "  default_lifetime   token lifetime when the answer gives none (default 1h)\n"
    "  refresh_ahead      refresh this long before expiry (default: the earlier of\n"
    "                     5 min before and 80% of the lifetime, with jitter)\n"
    "  timeout            total time per HTTP request (default 30)\n"
    "  connect_timeout    time to connect (default 10)\n"
    "  max_retries        retries after the first attempt (default 3)\n"
    "  retry_base         first backoff step in seconds (default 0.5)\n"
    "  retry_max_delay    longest wait between attempts in seconds (default 30)\n"
    "  iat_backdate       set iat this far in the past (clock skew; default 0)\n"
    "  keyring, rotate_after, overlap, grace, publish_command\n"
    "                     key rotation (see p11jwt rotate --help); the keyring's\n"
    "                     active kid, once stored in the token, replaces kid\n"
    "  audit              off | syslog | file:/PATH: one JSON line per signature\n"
    "                     and per rotation step (default off)\n"
    "  allow              who may ask `p11jwt agent` for the profile: uid:N,\n"
    "                     user:NAME, gid:N, group:NAME (default: the agent's uid)\n"
    "  pin_credential     the PIN is systemd credential NAME (instead of\n"
    "                     pin_file or pin_env; see p11jwt agent --help)\n"
    "  cache              memory | redis://[HOST][:PORT][/DB] |\n"
    "                     redis+unix:///PATH[?db=N]: share tokens with the fleet\n"
    "                     (default memory; docs/fleet.md)\n"
    "  cache_key          kid of the A256GCM key in the token that seals what Redis\n"
    "                     holds (required with Redis unless cache_plaintext = yes)\n"
    "  cache_plaintext    yes: Redis holds readable tokens (default no)\n"
    "  cache_password_file, cache_prefix\n"
    "                     Redis AUTH password; key prefix (default p11jwt:)\n"
    "  cache_timeout      longest Redis call in ms (default 250)\n"
    "  cache_lock         longest one host holds the fleet's refresh lock (30)\n";

static const char assertion_help[] =
    "Usage: p11jwt assertion --profile NAME [--config PATH]\n"
    "\n"
    "Print a fresh assertion for the profile, exactly as `p11jwt token` would send\n"
    "it (claims from iss, sub, aud, ttl, claim.*; signed with kid in token).\n"
    "Nothing is sent anywhere. See `p11jwt token --help` for the config keys.\n"
    "\n"
    CLI_PROFILE_HELP
    CLI_AGENT_HELP;

static const char revoke_help[] =
    "Usage: p11jwt revoke --profile NAME [--config PATH] [--agent]\n"
    "\n"
    "Revoke the profile's current access token at its revocation_url (RFC 7009),\n"
    "authenticated as at the token endpoint (client secret, client assertion, or\n"
    "none for the jwt-bearer dialects), and drop it from every cache: the agent's\n"
    "(--agent), this process's and the fleet's Redis (docs/fleet.md). Without\n"
    "--agent the token revoked is the fleet's in Redis; a profile cached nowhere\n"
    "else has none to revoke. Exit 0 once the server answered 200 (it does for\n"
    "unknown tokens too), else 1 with the server's error.\n"
    "\n"
    CLI_PROFILE_HELP
    CLI_AGENT_HELP;

static const char call_help[] =
    "Usage: p11jwt call --profile NAME [--config PATH] [--scope SCOPE] [-X METHOD]\n"
    "                   [-H 'Name: value']... [-d DATA] URL\n"
    "\n"
    "Request URL with the profile's Authorization (\"Bearer TOKEN\" or \"JWT TOKEN\")\n"
    "and its header.* headers, and print the response body. On 401 the token is\n"
    "dropped, exchanged again and the request retried once. Exit 0 on a 2xx\n"
    "answer, else 1 with the status; a 403 whose WWW-Authenticate says\n"
    "error=\"insufficient_scope\" (RFC 6750) is not retried, and the line names the\n"
    "scope the resource wants (ask for it with --scope). URL: https, or http to\n"
    "loopback only.\n"
    "\n"
    "Options:\n"
    "  -X, --request METHOD  the method (default GET, or POST with -d)\n"
    "  -H, --header LINE     an extra request header (repeatable)\n"
    "  -d, --data DATA       the request body ('@PATH': the file's contents less\n"
    "                        one trailing newline, '@-': standard input; at most\n"
    "                        16 MiB)\n"
    CLI_SCOPE_HELP
    CLI_PROFILE_HELP
    CLI_AGENT_HELP;

enum { OPT_JSON = OPT_FIRST_COMMAND_OPTION, OPT_SCOPE };

/* The three commands take a profile and may go through the agent. */
#define SHARED (CLI_PROFILE | CLI_CONFIG | CLI_AGENT)

/* The commands' own options, as they come. */
struct token_args {
    const char *cmd;
    int json;
    const char *scope;          /* --scope: NULL for the profile's */
    const char *method, *data;
    const char **headers;       /* call: every -H */
    size_t nheaders;
};

static int take(int c, const char *arg, void *ctx)
{
    struct token_args *a = ctx;

    switch (c) {
    case OPT_JSON: a->json = 1; break;
    case OPT_SCOPE: a->scope = arg; break;
    case 'X': a->method = arg; break;
    case 'H':
        if (strchr(arg, ':') == NULL || arg[0] == ':')
            return cli_usage(a->cmd, "-H '%s': expected 'Name: value'", arg);
        a->headers[a->nheaders++] = arg;
        break;
    case 'd': a->data = arg; break;
    }
    return 0;
}

int cmd_token(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "scope", required_argument, NULL, OPT_SCOPE },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "token";
    struct token_args a = { .cmd = cmd };
    const cli_command_def def = { cmd, token_help, SHARED, opts, NULL, take, &a };
    cli_common o;
    char sock[256];
    p11jwt_client *c = NULL;
    p11jwt_access_token t;
    p11jwt_rc rc;
    int json, r;

    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    json = a.json;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (cli_agent_use(&o.agent, o.config, sock, sizeof sock))
        return cli_agent_token(cmd, sock, o.profile, o.config, a.scope, json);
    if ((r = cli_client_open(cmd, o.config, o.profile, &c)) != 0)
        return r;
    rc = a.scope != NULL ? p11jwt_client_token_scoped(c, a.scope, &t) : p11jwt_client_token(c, &t);
    if (rc != P11JWT_OK) {
        r = cli_fail(cmd, rc);
        p11jwt_client_free(c);
        return r;
    }
    if (json) {
        json_t *j = json_pack("{s:s, s:s?, s:I, s:s?}", "access_token", t.value, "token_type",
                              t.type, "expires_at", (json_int_t)t.expires_at, "scope", t.scope);

        r = j != NULL && json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : 1;
        if (j != NULL) { /* jansson's copy of the token */
            json_t *v = json_object_get(j, "access_token");

            explicit_bzero((char *)json_string_value(v), json_string_length(v));
        }
        json_decref(j);
        putchar('\n');
    } else {
        r = printf("%s\n", t.value) < 0;
    }
    p11jwt_access_token_clear(&t);
    p11jwt_client_free(c);
    if (fflush(stdout) != 0 || r != 0)
        return cli_error(cmd, "cannot write the token to standard output");
    return 0;
}

int cmd_assertion(int argc, char *argv[])
{
    const char *cmd = "assertion";
    struct token_args a = { .cmd = cmd };
    const cli_command_def def = { cmd, assertion_help, SHARED, NULL, NULL, take, &a };
    cli_common o;
    char sock[256];
    p11jwt_client *c = NULL;
    char *jws = NULL;
    p11jwt_rc rc;
    int r;

    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (cli_agent_use(&o.agent, o.config, sock, sizeof sock))
        return cli_agent_assertion(cmd, sock, o.profile, o.config);
    if ((r = cli_client_open(cmd, o.config, o.profile, &c)) != 0)
        return r;
    rc = p11jwt_client_assertion(c, &jws);
    if (rc == P11JWT_OK)
        r = printf("%s\n", jws) < 0 || fflush(stdout) != 0
                ? cli_error(cmd, "cannot write to standard output")
                : 0;
    else
        r = cli_fail(cmd, rc);
    if (jws != NULL) /* a credential until it expires: wiped */
        p11jwt_secret_free((unsigned char *)jws, strlen(jws));
    p11jwt_client_free(c);
    return r;
}

int cmd_revoke(int argc, char *argv[])
{
    const char *cmd = "revoke";
    struct token_args a = { .cmd = cmd };
    const cli_command_def def = { cmd, revoke_help, SHARED, NULL, NULL, take, &a };
    cli_common o;
    char sock[256];
    p11jwt_client *c = NULL;
    p11jwt_rc rc;
    int r;

    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (cli_agent_use(&o.agent, o.config, sock, sizeof sock))
        return cli_agent_revoke(cmd, sock, o.profile, o.config);
    if ((r = cli_client_open(cmd, o.config, o.profile, &c)) != 0)
        return r;
    rc = p11jwt_client_revoke(c, NULL);
    r = rc == P11JWT_OK ? 0 : cli_fail(cmd, rc);
    p11jwt_client_free(c);
    return r;
}

/* -d @PATH reads the body from a file. */
static int read_data(const char *cmd, const char *arg, char **out, size_t *len)
{
    unsigned char *buf;
    p11jwt_rc rc;

    if (arg[0] != '@') {
        *out = strdup(arg);
        *len = strlen(arg);
        return *out != NULL ? 0 : cli_error(cmd, "out of memory");
    }
    rc = p11jwt_secret_read_file(arg + 1, 16u << 20, &buf, len);
    if (rc != P11JWT_OK)
        return cli_fail(cmd, rc);
    *out = (char *)buf;
    return 0;
}

int cmd_call(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "request", required_argument, NULL, 'X' },
        { "header", required_argument, NULL, 'H' },
        { "data", required_argument, NULL, 'd' },
        { "scope", required_argument, NULL, OPT_SCOPE },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "call";
    struct token_args a = { .cmd = cmd, .headers = calloc((size_t)argc, sizeof *a.headers) };
    const cli_command_def def = { cmd, call_help, SHARED, opts, "X:H:d:", take, &a };
    cli_common o;
    char sock[256];
    const char *method, *data_arg, **headers = a.headers;
    size_t nheaders, body_len = 0;
    p11jwt_client *c = NULL;
    p11jwt_response resp = { 0 };
    char *body = NULL, refusal[1024];
    p11jwt_rc rc;
    int r = 0;

    if (headers == NULL)
        return cli_error(cmd, "out of memory");
    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        goto out;
    r = 0;
    method = a.method;
    data_arg = a.data;
    nheaders = a.nheaders;
    if (optind != argc - 1) {
        r = cli_usage(cmd, optind >= argc ? "a URL is required" : "one URL only");
        goto out;
    }
    if (data_arg != NULL && (r = read_data(cmd, data_arg, &body, &body_len)) != 0)
        goto out;
    if (cli_agent_use(&o.agent, o.config, sock, sizeof sock)) {
        r = cli_agent_call(cmd, sock, o.profile, o.config, a.scope, method, argv[optind],
                           headers, nheaders, body, body_len);
        goto out;
    }
    if ((r = cli_client_open(cmd, o.config, o.profile, &c)) != 0)
        goto out;
    rc = p11jwt_client_call_scoped(c, a.scope, method, argv[optind], headers, nheaders, body,
                                   body_len, &resp);
    if (rc != P11JWT_OK) {
        r = cli_fail(cmd, rc);
        goto out;
    }
    /* What a 401/403's challenge says (insufficient_scope: the scope wanted). */
    snprintf(refusal, sizeof refusal, "%s", p11jwt_errmsg());
    if (resp.body_len > 0 && fwrite(resp.body, 1, resp.body_len, stdout) != resp.body_len)
        r = cli_error(cmd, "cannot write the answer to standard output");
    else if (fflush(stdout) != 0)
        r = cli_error(cmd, "cannot write the answer to standard output");
    else if ((resp.status < 200 || resp.status > 299) && refusal[0] != '\0')
        r = cli_error(cmd, "%s", refusal);
    else if (resp.status < 200 || resp.status > 299)
        r = cli_error(cmd, "the server answered HTTP %ld", resp.status);
out:
    p11jwt_response_clear(&resp);
    p11jwt_client_free(c);
    free(body);
    free(headers);
    return r;
}
