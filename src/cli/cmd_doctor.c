/*
 * cmd_doctor.c — `p11jwt doctor`: why a profile (or a token and key) does
 * not work. The checks are the library's (p11jwt_doctor); this prints each
 * as it completes, one line with its result and the fix, or all of them
 * as one JSON document at the end. Exit 0 when nothing failed (warnings
 * included), 1 otherwise.
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_KID = OPT_FIRST_COMMAND_OPTION,
    OPT_JSON,
    OPT_EXCHANGE,
};

static const char doctor_help[] =
    "Usage: p11jwt doctor --profile NAME [--config PATH] [--exchange] [--json]\n"
    "       p11jwt doctor --token URI [--kid KID] [--json]\n\n"
    "Tell why a profile (or a token and a key) does not work. Runs these checks\n"
    "in order and prints one line per check: ok, warn or FAIL, what was found\n"
    "and, unless ok, the fix:\n"
    "  config    the config file parses and has the profile\n"
    "  module    the PKCS#11 module loads (path, description, its arguments)\n"
    "  token     the token the URI names is found\n"
    "  pin       the PIN source is readable and not group/world-readable, the\n"
    "            token's PIN flags are fine (not locked, not on its final try,\n"
    "            not to be changed), then one login (never when a flag is bad)\n"
    "  secret    instead of module..key for a dialect that sends a client\n"
    "            secret: its file (private) or variable (set)\n"
    "  key       the key exists, is sensitive, never extractable, sign-only,\n"
    "            its alg pinned, and signs\n"
    "  keyring   the keyring state is readable and names keys in the token\n"
    "  sts       the token endpoint answers a GET (no credential is sent); TLS\n"
    "            verified, the CA used, the certificate's expiry (warn under\n"
    "            14 days)\n"
    "  clock     this host's clock against the STS's Date header (warn past\n"
    "            30 s: the usual cause of dt's 'timing' refusal)\n"
    "  exchange  with --exchange: one real exchange (the token is not shown)\n"
    "A check that cannot run after a failure is shown as skip. Nothing printed\n"
    "holds a PIN, a secret or a token. Exit status: 0 when no check failed\n"
    "(warnings allowed), 1 otherwise, 2 usage error.\n\n"
    "Options:\n"
    "  --exchange         with --profile: also make one real exchange\n"
    "  --kid KID          with --token: the key to check (default: object=/id=\n"
    "                     of the URI)\n"
    "  --json             print {profile, ok, checks: [{check, result (ok, warn,\n"
    "                     fail, skip), detail, fix}]} instead of lines\n"
    CLI_PROFILE_HELP CLI_TOKEN_HELP;

struct doctor_args {
    const char *kid;
    int json, exchange;
};

static int take(int c, const char *arg, void *ctx)
{
    struct doctor_args *a = ctx;

    switch (c) {
    case OPT_KID: a->kid = arg; break;
    case OPT_JSON: a->json = 1; break;
    case OPT_EXCHANGE: a->exchange = 1; break;
    }
    return 0;
}

struct doctor_out {
    int json;
    json_t *checks;
    int failed, warned;
    const char *first_failed;
    char first_name[16];
};

static const char *const result_text[] = { "ok", "warn", "FAIL", "skip" };
static const char *const result_json[] = { "ok", "warn", "fail", "skip" };

static void on_check(const p11jwt_check *c, void *ud)
{
    struct doctor_out *o = ud;
    unsigned r = (unsigned)c->result < 4 ? (unsigned)c->result : 2;

    if (c->result == P11JWT_CHECK_FAIL && o->failed++ == 0)
        snprintf(o->first_name, sizeof o->first_name, "%s", c->name);
    if (c->result == P11JWT_CHECK_WARN)
        o->warned++;
    if (o->json) {
        json_array_append_new(o->checks, json_pack("{s:s, s:s, s:s, s:s}", "check", c->name,
                                                   "result", result_json[r], "detail",
                                                   c->detail, "fix", c->fix));
        return;
    }
    printf("%-4s  %-8s  %s%s%s\n", result_text[r], c->name, c->detail,
           c->fix[0] != '\0' ? "; fix: " : "", c->fix);
    fflush(stdout);
}

int cmd_doctor(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "kid", required_argument, NULL, OPT_KID },
        { "json", no_argument, NULL, OPT_JSON },
        { "exchange", no_argument, NULL, OPT_EXCHANGE },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "doctor";
    struct doctor_args a = { 0 };
    const cli_command_def def = { cmd, doctor_help, CLI_TOKEN | CLI_PROFILE | CLI_CONFIG,
                                  opts, NULL, take, &a };
    struct doctor_out out = { 0 };
    p11jwt_doctor_params q = { 0 };
    cli_common o;
    p11jwt_rc rc;
    int r;

    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if ((o.profile == NULL) == (o.token.uri == NULL))
        return cli_usage(cmd, "give --profile NAME or --token URI (one of them)");
    if (o.profile != NULL && (a.kid != NULL || o.token.pin_file != NULL ||
                              o.token.pin_env != NULL || o.token.module_args != NULL))
        return cli_usage(cmd, "--kid and the token options go with --token, not --profile "
                              "(the profile names its token)");
    if (o.profile == NULL && (o.config != NULL || a.exchange))
        return cli_usage(cmd, "--config and --exchange go with --profile");
    if (o.token.pin_file != NULL && o.token.pin_env != NULL)
        return cli_usage(cmd, "give --pin-file or --pin-env, not both");

    q.config = o.config;
    q.profile = o.profile;
    q.token_uri = o.token.uri;
    q.kid = a.kid;
    q.pin_file = o.token.pin_file;
    q.pin_env = o.token.pin_env;
    q.module_args = o.token.module_args;
    q.pin_prompt = 1;
    q.exchange = a.exchange;
    out.json = a.json;
    if (a.json && (out.checks = json_array()) == NULL)
        return cli_error(cmd, "out of memory");

    rc = p11jwt_doctor(&q, on_check, &out);
    if (rc == P11JWT_ERR_ARG && out.failed == 0) {
        json_decref(out.checks);
        return cli_fail(cmd, rc);
    }
    if (a.json) {
        json_t *doc = json_pack("{s:s?, s:b, s:O}", "profile", o.profile, "ok",
                                out.failed == 0, "checks", out.checks);
        char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        int bad = text == NULL || puts(text) == EOF;

        free(text);
        json_decref(doc);
        json_decref(out.checks);
        if (bad)
            return cli_error(cmd, "cannot write to standard output");
        if ((r = cli_flush(cmd)) != 0)
            return r;
    }
    if (out.failed > 0)
        return cli_error(cmd, "%d check%s failed (the first: %s)", out.failed,
                         out.failed == 1 ? "" : "s", out.first_name);
    return cli_flush(cmd);
}
