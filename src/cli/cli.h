/*
 * cli.h — what the p11jwt subcommands share: exit codes, error printing,
 * the token options, small parsers. The CLI uses the public library API
 * only (and jansson for its own JSON), never a layer's internals.
 */
#ifndef P11JWT_CLI_H
#define P11JWT_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "p11jwt.h"

enum { EXIT_OPERATION_FAILED = 1, EXIT_USAGE = 2 };

/* Long-option values above any single character. */
enum {
    OPT_TOKEN = 256,
    OPT_PIN_FILE,
    OPT_PIN_ENV,
    OPT_PIN,               /* refused: a PIN never comes from argv */
    OPT_MODULE_ARGS,
    OPT_AGENT,
    OPT_NO_AGENT,
    OPT_FIRST_COMMAND_OPTION,
};

#define CLI_TOKEN_OPTIONS                                                    \
    { "token", required_argument, NULL, OPT_TOKEN },                         \
    { "pin-file", required_argument, NULL, OPT_PIN_FILE },                   \
    { "pin-env", required_argument, NULL, OPT_PIN_ENV },                     \
    { "pin", required_argument, NULL, OPT_PIN },                             \
    { "module-args", required_argument, NULL, OPT_MODULE_ARGS },             \
    { "help", no_argument, NULL, 'h' }

#define CLI_TOKEN_HELP                                                       \
    "Token options:\n"                                                       \
    "  --token URI        the token, as an RFC 7512 pkcs11: URI (token=, serial=,\n" \
    "                     object=, id=, module-path=, module-name=, pin-source=);\n" \
    "                     without a module: $P11JWT_MODULE, else SoftHSM's module\n" \
    "  --pin-file PATH    read the user PIN from PATH (one trailing newline stripped)\n" \
    "  --pin-env NAME     read the user PIN from environment variable NAME\n" \
    "                     (neither: pin-source= in the URI, else a prompt on the\n" \
    "                     terminal; a PIN is never accepted on the command line,\n" \
    "                     and a URI with pin-value= is refused)\n" \
    "  --module-args STR  arguments for the module's C_Initialize (pReserved), e.g.\n" \
    "                     NSS: \"configdir='sql:DIR' certPrefix='' keyPrefix=''\n" \
    "                     secmod='secmod.db' flags=optimizeSpace\"; default:\n" \
    "                     $P11JWT_MODULE_ARGS, else with module-name= the module's\n" \
    "                     p11-kit option x-init-reserved\n"

typedef struct cli_token_opts {
    const char *uri;
    const char *pin_file;
    const char *pin_env;
    const char *module_args;
} cli_token_opts;

/* Handles a token option; returns 1 when c was one (0 otherwise), or
 * EXIT_USAGE after printing why (for --pin). */
int cli_token_option(int c, const char *arg, cli_token_opts *o);

/* Opens the token the options name; returns 0 or an exit code (message
 * printed). */
int cli_token_open(const char *cmd, const cli_token_opts *o, p11jwt_token **out);

/* Prints "p11jwt: <cmd>: <message>" for a failed library call; returns 1. */
int cli_fail(const char *cmd, p11jwt_rc rc);

/* Prints "p11jwt: <cmd>: <message>" and a hint to --help; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Flushes stdout; 0, or 1 after saying it could not be written. */
int cli_flush(const char *cmd);

/* Prints "p11jwt: <cmd>: <message>"; returns 1. */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The usage error getopt_long's '?' or ':' stands for. */
int cli_bad_option(const char *cmd, int c, char *const argv[]);

/* Parses a decimal integer in [min, max]; returns 0 on success. */
int cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Parses an alg name among the allowed ones ("ES256,ES384,..." style list
 * checked by prefix class: ec_ok / hs_ok). */
int cli_parse_alg(const char *s, int ec_ok, int hs_ok, p11jwt_alg *out);

/* sign --batch: signs each line's claims with nthreads threads (1 to
 * CLI_BATCH_MAX_THREADS), writes the JWS in input order. Returns an exit
 * code. */
#define CLI_BATCH_MAX_THREADS 64
struct json_t;
int cli_sign_batch(const char *cmd, p11jwt_key *key, const p11jwt_claims_params *params,
                   const struct json_t *base, int nthreads);

/* Loads a profile and makes its client; returns 0 or an exit code. */
int cli_client_open(const char *cmd, const char *config, const char *profile,
                    p11jwt_client **out);

/* ---- through the agent (agent_client.c) --------------------------------- */

#define CLI_AGENT_OPTIONS                                                    \
    { "agent", optional_argument, NULL, OPT_AGENT },                         \
    { "no-agent", no_argument, NULL, OPT_NO_AGENT }

#define CLI_AGENT_HELP                                                       \
    "Agent options:\n"                                                       \
    "  --agent[=SOCKET]   ask the local p11jwt agent instead: no PIN, token or\n" \
    "                     config file needed (see p11jwt agent --help); SOCKET\n" \
    "                     default: $P11JWT_AGENT_SOCKET, else\n"               \
    "                     $XDG_RUNTIME_DIR/p11jwt/agent.sock if it exists, else\n" \
    "                     /run/p11jwt/agent.sock. With $P11JWT_AGENT_SOCKET set,\n" \
    "                     commands go through the agent unless --config or\n" \
    "                     --no-agent is given\n"                             \
    "  --no-agent         work here, even when $P11JWT_AGENT_SOCKET is set\n"

typedef struct cli_agent_opts {
    int given;                  /* --agent */
    const char *socket;         /* --agent=SOCKET */
    int off;                    /* --no-agent */
} cli_agent_opts;

/* Handles --agent/--no-agent; 1 when c was one of them, else 0. */
int cli_agent_option(int c, const char *arg, cli_agent_opts *o);
/* 1 and the socket path when the command goes through the agent: with
 * --agent, or with $P11JWT_AGENT_SOCKET set and neither --no-agent nor
 * --config given. */
int cli_agent_use(const cli_agent_opts *o, const char *config, char *path, size_t cap);

/* token/assertion/call through the agent at socket; exit codes. */
int cli_agent_token(const char *cmd, const char *socket, const char *profile,
                    const char *config, int json);
int cli_agent_assertion(const char *cmd, const char *socket, const char *profile,
                        const char *config);
int cli_agent_call(const char *cmd, const char *socket, const char *profile, const char *config,
                   const char *method, const char *url, const char *const *headers,
                   size_t nheaders, const char *body, size_t body_len);

typedef int (*cli_command_fn)(int argc, char *argv[]);

int cmd_keygen(int argc, char *argv[]);
int cmd_import_secret(int argc, char *argv[]);
int cmd_list(int argc, char *argv[]);
int cmd_jwks(int argc, char *argv[]);
int cmd_delete(int argc, char *argv[]);
int cmd_sign(int argc, char *argv[]);
int cmd_verify(int argc, char *argv[]);
int cmd_token(int argc, char *argv[]);
int cmd_assertion(int argc, char *argv[]);
int cmd_call(int argc, char *argv[]);
int cmd_rotate(int argc, char *argv[]);
int cmd_agent(int argc, char *argv[]);

#endif
