/*
 * errors.c — how a command says it failed: one line on stderr starting
 * "p11jwt: CMD: ", exit 1 when the operation failed, 2 for a usage error
 * (with where the usage is). Whatever a message echoes (an argument, a
 * file name) is escaped by the library's one function.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Writes "p11jwt: <cmd>: <msg>" as one line. */
static void print_line(const char *cmd, const char *msg, const char *tail)
{
    char shown[1024];

    p11jwt_escape(shown, sizeof shown, msg, strlen(msg), P11JWT_ESCAPE_MESSAGE);
    fprintf(stderr, "p11jwt: %s: %s%s\n", cmd, shown, tail);
}

static void vprint(const char *cmd, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
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
