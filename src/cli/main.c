/*
 * main.c — p11jwt's entry point: picks the subcommand and hands it argv.
 * Exit status everywhere: 0 success, 1 the operation failed (an invalid
 * signature included), 2 usage error.
 *
 * Every command runs without core dumps: its memory may hold a PIN, an
 * HMAC or client secret, an assertion or an access token at any moment, and
 * a core file (or another process of the same user attaching) would carry
 * them off. Only --help and --version run as they are.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

static const struct {
    const char *name;
    cli_command_fn fn;
    const char *summary;
} commands[] = {
    { "keygen", cmd_keygen, "generate a key (EC or RSA pair, HMAC secret) in the token" },
    { "import-secret", cmd_import_secret, "import a provider-issued HMAC secret into the token" },
    { "import-key", cmd_import_key, "import a provider-issued private key file into the token" },
    { "import-cert", cmd_import_cert, "store a key's X.509 certificate in the token (x5t)" },
    { "list", cmd_list, "list the token's keys" },
    { "jwks", cmd_jwks, "print the JWKS of the token's EC and RSA public keys" },
    { "sign", cmd_sign, "sign a JWT assertion (or a batch of them) offline" },
    { "verify", cmd_verify, "verify a JWS read on standard input" },
    { "delete", cmd_delete, "destroy a key's objects in the token" },
    { "token", cmd_token, "exchange an assertion for an access token (profile)" },
    { "assertion", cmd_assertion, "print a profile's assertion, signed offline" },
    { "call", cmd_call, "call a resource with a profile's access token" },
    { "revoke", cmd_revoke, "revoke a profile's access token (RFC 7009)" },
    { "rotate", cmd_rotate, "rotate a profile's signing key by kid (keyring in the token)" },
    { "agent", cmd_agent, "serve tokens to local processes over a Unix socket" },
    { "doctor", cmd_doctor, "tell why a profile (or a token and key) does not work" },
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: p11jwt COMMAND [OPTIONS]\n"
               "       p11jwt --version | --help\n\n"
               "Sign OAuth 2.0 JWT assertions (RFC 7523) with keys that never leave a\n"
               "PKCS#11 token.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'p11jwt COMMAND --help' for a command's options.\n"
               "Exit status: 0 success, 1 the operation failed, 2 usage error.\n"
               "Environment: P11JWT_MODULE (default PKCS#11 module), P11JWT_CONFIG\n"
               "(default config file), P11JWT_TRACE=1 (log every PKCS#11 call and its\n"
               "result to stderr), P11JWT_AGENT_SOCKET (token, assertion and call go\n"
               "through the agent listening there).\n"
               "Commands run without core dumps (RLIMIT_CORE 0, not dumpable): their\n"
               "memory may hold a PIN, a secret or a token.\n");
}

/* No core file, and no ptrace or /proc/PID/mem by other processes of this
 * user (PR_SET_DUMPABLE 0 makes the process's /proc files root's). Best
 * effort: a failure here changes nothing else. */
static void no_core_dumps(void)
{
    const struct rlimit none = { 0, 0 };

    (void)setrlimit(RLIMIT_CORE, &none);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char *argv[])
{
    if (argc < 2) {
        fputs("p11jwt: a command is required (see 'p11jwt --help')\n", stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("p11jwt %s\n", P11JWT_VERSION);
        return 0;
    }
    no_core_dumps();
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    {
        char shown[128];

        p11jwt_escape(shown, sizeof shown, argv[1], strlen(argv[1]), 0);
        fprintf(stderr, "p11jwt: unknown command '%s' (see 'p11jwt --help')\n", shown);
    }
    return EXIT_USAGE;
}
