/*
 * options.c — the options every command shares, in one table (curl's
 * tool keeps its options so): the token options, --profile, --config,
 * --agent/--no-agent and --help, each in a group a command takes or not.
 * cli_options_parse runs getopt_long once over a command's own options
 * and the shared groups it takes, handles the shared ones itself and
 * hands the command its own; so no command repeats the set-up, and a
 * shared option means the same everywhere. Here too: opening the token
 * and the profile's client those options name, and the strict parsing of
 * numbers and algs.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    struct option opt;
    unsigned group;
} shared[] = {
    { { "token", required_argument, NULL, OPT_TOKEN }, CLI_TOKEN },
    { { "pin-file", required_argument, NULL, OPT_PIN_FILE }, CLI_TOKEN },
    { { "pin-env", required_argument, NULL, OPT_PIN_ENV }, CLI_TOKEN },
    { { "pin", required_argument, NULL, OPT_PIN }, CLI_TOKEN }, /* refused */
    { { "module-args", required_argument, NULL, OPT_MODULE_ARGS }, CLI_TOKEN },
    { { "profile", required_argument, NULL, OPT_PROFILE }, CLI_PROFILE },
    { { "config", required_argument, NULL, OPT_CONFIG }, CLI_CONFIG },
    { { "agent", optional_argument, NULL, OPT_AGENT }, CLI_AGENT },
    { { "no-agent", no_argument, NULL, OPT_NO_AGENT }, CLI_AGENT },
    { { "help", no_argument, NULL, 'h' }, ~0u },
};
#define NSHARED (sizeof shared / sizeof shared[0])
#define MAX_OPTIONS 48

/* A shared option: 1 when taken, or an exit code (> 1 never: 2). */
static int take_shared(int c, const char *arg, cli_common *o)
{
    switch (c) {
    case OPT_TOKEN: o->token.uri = arg; return 0;
    case OPT_PIN_FILE: o->token.pin_file = arg; return 0;
    case OPT_PIN_ENV: o->token.pin_env = arg; return 0;
    case OPT_MODULE_ARGS: o->token.module_args = arg; return 0;
    case OPT_PIN:
        fprintf(stderr, "p11jwt: --pin is not accepted: a PIN on the command line is visible "
                        "to every user of this machine; use --pin-file or --pin-env\n");
        return EXIT_USAGE;
    case OPT_PROFILE: o->profile = arg; return 0;
    case OPT_CONFIG: o->config = arg; return 0;
    case OPT_AGENT:
        o->agent.given = 1;
        o->agent.socket = arg;
        return 0;
    case OPT_NO_AGENT: o->agent.off = 1; return 0;
    default: return -1;
    }
}

int cli_options_parse(const cli_command_def *d, int argc, char *argv[], cli_common *o)
{
    struct option opts[MAX_OPTIONS];
    char shortopts[32];
    size_t n = 0;
    int c, r;

    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < NSHARED; i++)
        if (shared[i].group & d->shared)
            opts[n++] = shared[i].opt;
    for (size_t i = 0; d->options != NULL && d->options[i].name != NULL; i++)
        if (n + 1 < MAX_OPTIONS)
            opts[n++] = d->options[i];
    memset(&opts[n], 0, sizeof opts[n]);
    /* ':' first: a missing value is ':', told apart from an unknown '?'. */
    snprintf(shortopts, sizeof shortopts, ":h%s", d->shortopts != NULL ? d->shortopts : "");
    opterr = 0;
    while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(d->help, stdout);
            return 0;
        }
        if (c == '?' || c == ':')
            return cli_bad_option(d->name, c, argv);
        if ((r = take_shared(c, optarg, o)) < 0)
            r = d->take(c, optarg, d->ctx);
        if (r != 0)
            return r;
    }
    return CLI_CONTINUE;
}

int cli_token_open(const char *cmd, const cli_token_opts *o, p11jwt_token **out)
{
    p11jwt_token *t;
    p11jwt_rc rc;

    *out = NULL;
    if (o->uri == NULL)
        return cli_usage(cmd, "--token URI is required");
    if (o->pin_file != NULL && o->pin_env != NULL)
        return cli_usage(cmd, "give --pin-file or --pin-env, not both");
    t = p11jwt_token_new();
    if (t == NULL)
        return cli_error(cmd, "out of memory");
    rc = p11jwt_token_set_pin_file(t, o->pin_file);
    if (rc == P11JWT_OK)
        rc = p11jwt_token_set_pin_env(t, o->pin_env);
    if (rc == P11JWT_OK && o->module_args != NULL)
        rc = p11jwt_token_set_module_args(t, o->module_args);
    p11jwt_token_set_pin_prompt(t, 1);
    if (rc == P11JWT_OK)
        rc = p11jwt_token_open(t, o->uri);
    if (rc != P11JWT_OK) {
        p11jwt_token_free(t);
        return rc == P11JWT_ERR_URI ? cli_usage(cmd, "%s", p11jwt_errmsg()) : cli_fail(cmd, rc);
    }
    *out = t;
    return 0;
}

int cli_client_open(const char *cmd, const char *config, const char *profile,
                    p11jwt_client **out)
{
    p11jwt_profile *p = NULL;
    p11jwt_rc rc;

    *out = NULL;
    if (profile == NULL)
        return cli_usage(cmd, "--profile is required");
    rc = p11jwt_profile_load(config, profile, &p);
    if (rc == P11JWT_OK)
        rc = p11jwt_client_new(p, out);
    return rc == P11JWT_OK ? 0 : cli_fail(cmd, rc);
}

int cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_alg(const char *s, int asym_ok, int hs_ok, p11jwt_alg *out)
{
    p11jwt_alg a = p11jwt_alg_from_name(s);

    if (a == P11JWT_ALG_UNKNOWN || (p11jwt_alg_is_asymmetric(a) ? !asym_ok : !hs_ok))
        return -1;
    *out = a;
    return 0;
}
