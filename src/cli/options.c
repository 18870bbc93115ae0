/*
 * util.c — helpers every subcommand uses: one way to print an error, one way
 * to open the token from --token/--pin-file/--pin-env, strict number
 * parsing. Errors are one line on stderr starting "p11jwt: ".
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes "p11jwt: <cmd>: <msg>" as one line: whatever the message echoes
 * (an argument, a file name) is escaped by the library's one function. */
static void print_line(const char *cmd, const char *msg, const char *tail)
{
    char shown[1024];

    p11jwt_escape(shown, sizeof shown, msg, strlen(msg), P11JWT_ESCAPE_MESSAGE);
    fprintf(stderr, "p11jwt: %s: %s%s\n", cmd, shown, tail);
}

static void vprint(const char *cmd, const char *fmt, va_list ap)
{
    char msg[1024];

    vsnprintf(msg, sizeof msg, fmt, ap);
    print_line(cmd, msg, "");
}

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprint(cmd, fmt, ap);
    va_end(ap);
    return EXIT_OPERATION_FAILED;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char msg[512], tail[64];
    va_list ap;

    /* One line, like every error: the cause, then where the usage is. */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(tail, sizeof tail, " (see 'p11jwt %s --help')", cmd);
    print_line(cmd, msg, tail);
    return EXIT_USAGE;
}

int cli_flush(const char *cmd)
{
    if (ferror(stdout) || fflush(stdout) != 0)
        return cli_error(cmd, "cannot write to standard output");
    return 0;
}

int cli_fail(const char *cmd, p11jwt_rc rc)
{
    const char *msg = p11jwt_errmsg();

    return cli_error(cmd, "%s", msg[0] != '\0' ? msg : p11jwt_strerror(rc));
}

int cli_bad_option(const char *cmd, int c, char *const argv[])
{
    const char *opt = argv[optind - 1];

    if (c == ':')
        return cli_usage(cmd, "option %s needs a value", opt);
    if (optopt != 0 && optopt < 256)
        return cli_usage(cmd, "unknown option -%c", optopt);
    return cli_usage(cmd, "unknown option %s", opt);
}

int cli_token_option(int c, const char *arg, cli_token_opts *o)
{
    switch (c) {
    case OPT_TOKEN: o->uri = arg; return 1;
    case OPT_PIN_FILE: o->pin_file = arg; return 1;
    case OPT_PIN_ENV: o->pin_env = arg; return 1;
    case OPT_MODULE_ARGS: o->module_args = arg; return 1;
    case OPT_PIN:
        fprintf(stderr, "p11jwt: --pin is not accepted: a PIN on the command line is visible "
                        "to every user of this machine; use --pin-file or --pin-env\n");
        return EXIT_USAGE;
    default: return 0;
    }
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

int cli_parse_alg(const char *s, int ec_ok, int hs_ok, p11jwt_alg *out)
{
    p11jwt_alg a = p11jwt_alg_from_name(s);

    if (a == P11JWT_ALG_UNKNOWN || (p11jwt_alg_is_ec(a) ? !ec_ok : !hs_ok))
        return -1;
    *out = a;
    return 0;
}
