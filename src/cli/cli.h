/*
 * cli.h — what the p11jwt subcommands share: exit codes, error printing
 * (errors.c), the options every command shares and their parser
 * (options.c), small parsers. The CLI uses the public library API only
 * (and jansson for its own JSON), never a layer's internals.
 */
#ifndef P11JWT_CLI_H
#define P11JWT_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "p11jwt.h"

enum { EXIT_OPERATION_FAILED = 1, EXIT_USAGE = 2 };

/* A secret longer than this is not an HMAC key or client secret anyone
 * issues. (The library's own bound is its BASE_SECRET_MAX; the CLI sees
 * the public header only.) */
#define CLI_SECRET_MAX 4096

/* Long-option values of the shared options (options.c), above any single
 * character; a command's own start at OPT_FIRST_COMMAND_OPTION. */
enum {
    OPT_TOKEN = 256,
    OPT_PIN_FILE,
    OPT_PIN_ENV,
    OPT_PIN,               /* refused: a PIN never comes from argv */
    OPT_MODULE_ARGS,
    OPT_PROFILE,
    OPT_CONFIG,
    OPT_AGENT,
    OPT_NO_AGENT,
    OPT_FIRST_COMMAND_OPTION,
};

/* The groups of shared options a command takes (-h/--help: every one). */
enum {
    CLI_TOKEN = 1,         /* --token, --pin-file, --pin-env, --module-args (--pin refused) */
    CLI_PROFILE = 2,       /* --profile NAME */
    CLI_CONFIG = 4,        /* --config PATH */
    CLI_AGENT = 8,         /* --agent[=SOCKET], --no-agent */
};

#define CLI_TOKEN_HELP                                                       \
    "Token options:\n"                                                       \
    "  --token URI        the token, as an RFC 7512 pkcs11: URI (token=, serial=,\n" \
    "                     object=, id=, module-path=, module-name=, pin-source=);\n" \
    "                     without a module: $P11JWT_MODULE, else SoftHSM's module.\n" \
    "                     Path attributes are ';'-separated, the module and PIN\n" \
    "                     file go after '?', '&'-separated; anything else is\n" \
    "                     refused. A real HSM: 'pkcs11:token=prod;object=k1\n" \
    "                     ?module-path=/opt/vendor/lib/libpkcs11.so\n" \
    "                     &pin-source=/etc/p11jwt/pin' (one argument, no spaces)\n" \
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

typedef struct cli_agent_opts {
    int given;                  /* --agent */
    const char *socket;         /* --agent=SOCKET */
    int off;                    /* --no-agent */
} cli_agent_opts;

/* What the shared options said. */
typedef struct cli_common {
    cli_token_opts token;
    const char *profile;
    const char *config;
    cli_agent_opts agent;
} cli_common;

/* How a command takes its options: its name (for messages), --help's
 * text, the shared groups it takes, its own options ({0}-terminated, or
 * NULL) and short options ("X:H:d:", or NULL), and the function that
 * takes one of its own (returns 0, or an exit code after printing why). */
typedef struct cli_command_def {
    const char *name;
    const char *help;
    unsigned shared;
    const struct option *options;
    const char *shortopts;
    int (*take)(int c, const char *arg, void *ctx);
    void *ctx;
} cli_command_def;

/* Parses argv once: the shared options into *o, the command's own through
 * d->take, --help printed. CLI_CONTINUE when the command goes on (optind
 * at the first argument), else its exit code: 0 after --help, 2 after a
 * usage error (said). */
#define CLI_CONTINUE (-1)
int cli_options_parse(const cli_command_def *d, int argc, char *argv[], cli_common *o);

/* Opens the token the options name; returns 0 or an exit code (message
 * printed). */
int cli_token_open(const char *cmd, const cli_token_opts *o, p11jwt_token **out);

/* ---- errors.c ------------------------------------------------------------- */

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

/* Parses an alg name among the allowed ones: asym_ok takes ES, RS and PS
 * (keys with a public half), hs_ok HS. */
int cli_parse_alg(const char *s, int asym_ok, int hs_ok, p11jwt_alg *out);

/* sign --batch: signs each line's claims with nthreads threads (1 to
 * CLI_BATCH_MAX_THREADS), writes the JWS in input order, each after its
 * audit record (audit NULL: none), with a progress line on a terminal
 * unless no_progress. Returns an exit code. */
#define CLI_BATCH_MAX_THREADS 64
struct json_t;
int cli_sign_batch(const char *cmd, p11jwt_key *key, const p11jwt_claims_params *params,
                   const struct json_t *base, int nthreads, p11jwt_audit *audit,
                   int no_progress);

/* ---- progress.c ----------------------------------------------------------- */

/* A progress line on standard error: NULL (and every call a no-op) unless
 * standard error is a terminal and standard output is not. fd_in: the
 * input, whose size (a regular file's) gives the percentage and ETA. */
typedef struct cli_progress cli_progress;
cli_progress *cli_progress_new(const char *what, int fd_in);
/* lines done and bytes of input they took; draws at most 4 times a second. */
void cli_progress_tick(cli_progress *p, uint64_t lines, uint64_t bytes);
/* The last line (ok: the totals) and its newline; frees p. */
void cli_progress_end(cli_progress *p, uint64_t lines, int ok);

#define CLI_PROFILE_HELP                                                               \
    "Profile options:\n"                                                               \
    "  --profile NAME     the [profile NAME] section to use (required)\n"             \
    "  --config PATH      the config file (default: $P11JWT_CONFIG, else\n"           \
    "                     ~/.config/p11jwt/config, else /etc/p11jwt/config)\n"        \
    "  -h, --help         show this help\n"

/* Loads a profile and makes its client; returns 0 or an exit code. */
int cli_client_open(const char *cmd, const char *config, const char *profile,
                    p11jwt_client **out);

/* ---- through the agent (agent_client.c) --------------------------------- */

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

/* 1 and the socket path when the command goes through the agent: with
 * --agent, or with $P11JWT_AGENT_SOCKET set and neither --no-agent nor
 * --config given. */
int cli_agent_use(const cli_agent_opts *o, const char *config, char *path, size_t cap);

/* token/assertion/call through the agent at socket; exit codes. */
/* scope NULL: the profile's (else the agent's ?scope=). */
int cli_agent_token(const char *cmd, const char *socket, const char *profile,
                    const char *config, const char *scope, int json);
int cli_agent_revoke(const char *cmd, const char *socket, const char *profile,
                     const char *config);
int cli_agent_assertion(const char *cmd, const char *socket, const char *profile,
                        const char *config);
int cli_agent_call(const char *cmd, const char *socket, const char *profile, const char *config,
                   const char *scope, const char *method, const char *url, const char *const *headers,
                   size_t nheaders, const char *body, size_t body_len);

typedef int (*cli_command_fn)(int argc, char *argv[]);

int cmd_keygen(int argc, char *argv[]);
int cmd_import_secret(int argc, char *argv[]);
int cmd_import_key(int argc, char *argv[]);
int cmd_import_cert(int argc, char *argv[]);
int cmd_list(int argc, char *argv[]);
int cmd_jwks(int argc, char *argv[]);
int cmd_delete(int argc, char *argv[]);
int cmd_sign(int argc, char *argv[]);
int cmd_verify(int argc, char *argv[]);
int cmd_token(int argc, char *argv[]);
int cmd_assertion(int argc, char *argv[]);
int cmd_revoke(int argc, char *argv[]);
int cmd_call(int argc, char *argv[]);
int cmd_rotate(int argc, char *argv[]);
int cmd_agent(int argc, char *argv[]);
int cmd_doctor(int argc, char *argv[]);

#endif
