/*
 * agent_cmd.c — the agent program, p11jwt-agent, which `p11jwt agent`
 * executes (agent_exec.c): its options and help, then src/agent runs the
 * agent in the foreground (docs/agent.md). A program of its own so that
 * only the agent loads libmicrohttpd (and the TLS library it brings) and
 * libsystemd, not every p11jwt command.
 */
#include "cli.h"

#include "agent/agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char agent_help[] =
    "Usage: p11jwt agent [--config PATH] [--socket PATH] [--profile NAME]...\n"
    "                    [--socket-mode MODE] [--max-connections N]\n"
    "                    [--max-connections-per-uid N] [--request-timeout SECONDS]\n"
    "\n"
    "Run the host agent in the foreground: one process that holds the tokens'\n"
    "sessions (logged in once, at start) and every profile's access-token cache,\n"
    "and hands tokens to local callers over HTTP/1.1 on a Unix socket. Callers\n"
    "need no PIN, no token access and no config file; the kernel tells the agent\n"
    "who they are (SO_PEERCRED) and each profile's `allow` says who may ask.\n"
    "\n"
    "Options:\n"
    "  --config PATH      the config file (default: $P11JWT_CONFIG, else\n"
    "                     ~/.config/p11jwt/config, else /etc/p11jwt/config)\n"
    "  --profile NAME     serve this profile (repeatable; default: every profile)\n"
    "  --socket PATH      listen here (default: $P11JWT_AGENT_SOCKET, else\n"
    "                     $XDG_RUNTIME_DIR/p11jwt/agent.sock, else\n"
    "                     /run/p11jwt/agent.sock); ignored under systemd socket\n"
    "                     activation (LISTEN_FDS)\n"
    "  --socket-mode MODE the socket's mode, octal (default 0660); a directory the\n"
    "                     agent makes for it is 0750\n"
    "  --max-connections N            open connections in all (default 256)\n"
    "  --max-connections-per-uid N    open connections per peer uid (default 64)\n"
    "  --request-timeout SECONDS      time for a request to arrive, from the\n"
    "                     connection's start or its previous answer; also the\n"
    "                     keep-alive idle timeout (default 30)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Protocol (see docs/agent.md): GET /v1/token/NAME (query: min_valid=SECONDS,\n"
    "scope=SCOPE, one token per scope set: scope=b+a is scope=a+b),\n"
    "POST /v1/token/NAME/invalidate {\"access_token\": ...}, POST\n"
    "/v1/token/NAME/revoke, POST /v1/assertion/NAME, GET /v1/jwks/NAME,\n"
    "GET /v1/health, GET /metrics.\n"
    "\n"
    "Profile keys read by the agent (see `p11jwt token --help` for the others):\n"
    "  allow              who may ask for the profile: space-separated uid:N,\n"
    "                     user:NAME, gid:N, group:NAME (supplementary groups\n"
    "                     count); default: the agent's own uid only\n"
    "  pin_credential     the PIN is systemd credential NAME\n"
    "                     ($CREDENTIALS_DIRECTORY/NAME, from LoadCredential=)\n"
    "\n"
    "Signals: SIGHUP reloads the config (unchanged profiles keep their tokens; a\n"
    "config with an error is refused and the old one kept); SIGTERM finishes the\n"
    "requests in flight (at most 5 s) and exits 0. Under systemd: Type=notify.\n";

enum {
    OPT_SOCKET = OPT_FIRST_COMMAND_OPTION,
    OPT_SERVE, /* --profile: the agent's own, repeatable */
    OPT_SOCKET_MODE,
    OPT_MAX_CONN,
    OPT_MAX_PER_UID,
    OPT_REQUEST_TIMEOUT,
};

static int parse_mode(const char *s, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 8);

    if (s[0] == '\0' || *end != '\0' || v > 0777 || (v & 0600) != 0600)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* The agent's options, and where the --profile names go. */
struct agent_args {
    agent_opts *o;
    const char **profiles;
    char **argv;
};

static int take(int c, const char *arg, void *ctx)
{
    struct agent_args *a = ctx;
    agent_opts *o = a->o;
    int64_t v;

    switch (c) {
    case OPT_SOCKET: o->socket_path = arg; break;
    case OPT_SERVE: a->profiles[o->nprofiles++] = arg; break;
    case OPT_SOCKET_MODE:
        if (parse_mode(arg, &o->socket_mode) != 0)
            return cli_usage("agent", "--socket-mode '%s': an octal mode with owner rw, e.g. 0660",
                             arg);
        break;
    case OPT_MAX_CONN:
    case OPT_MAX_PER_UID:
    case OPT_REQUEST_TIMEOUT:
        if (cli_parse_int(arg, 1, c == OPT_REQUEST_TIMEOUT ? 3600 : 65536, &v) != 0)
            return cli_usage("agent", "%s '%s' is not a whole number in range",
                             a->argv[optind - 1], arg);
        if (c == OPT_MAX_CONN)
            o->max_connections = (unsigned)v;
        else if (c == OPT_MAX_PER_UID)
            o->max_per_uid = (unsigned)v;
        else
            o->request_timeout = (unsigned)v;
        break;
    }
    return 0;
}

static int agent_program(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "profile", required_argument, NULL, OPT_SERVE },
        { "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
        { "max-connections", required_argument, NULL, OPT_MAX_CONN },
        { "max-connections-per-uid", required_argument, NULL, OPT_MAX_PER_UID },
        { "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "agent";
    agent_opts o = { .socket_mode = 0660, .max_connections = 256, .max_per_uid = 64,
                     .request_timeout = 30 };
    struct agent_args a = { &o, calloc((size_t)argc, sizeof *a.profiles), argv };
    const cli_command_def def = { cmd, agent_help, CLI_CONFIG, opts, NULL, take, &a };
    cli_common common;
    const char **profiles = a.profiles;
    int r;

    if (profiles == NULL)
        return cli_error(cmd, "out of memory");
    o.profiles = profiles;
    if ((r = cli_options_parse(&def, argc, argv, &common)) != CLI_CONTINUE)
        goto out;
    o.config = common.config;
    if (optind < argc) {
        r = cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    r = agent_run(&o);
out:
    free(profiles);
    return r;
}

int main(int argc, char *argv[])
{
    return agent_program(argc, argv);
}
