/*
 * p11jwt_token.c — p11jwt-token, the agent's client for scripts: one
 * request to the local agent, the access token (or its JSON, or the whole
 * Authorization line) on standard output.
 *
 * Linked against libc only, so that a shell script can afford it per call:
 * the process is little more than its own start (docs/performance.md).
 * Exit 0, 1 with the agent's message, 2 on a usage error.
 */
#include "token-client/ptc.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT_MS 120000 /* the agent bounds an exchange by the profile's timeouts */

static const char usage_text[] =
    "Usage: p11jwt-token NAME [--min-valid SECONDS] [--scope SCOPE] [--socket PATH]\n"
    "                    [--json | --header]\n"
    "\n"
    "Ask the local p11jwt agent for profile NAME's access token and print it.\n"
    "\n"
    "Options:\n"
    "  --min-valid SECONDS  a token valid at least that much longer (the agent\n"
    "                       refreshes first if needed)\n"
    "  --scope SCOPE        a token for SCOPE instead of the profile's scope: scope\n"
    "                       tokens separated by spaces (RFC 6749 section 3.3); the\n"
    "                       agent caches one token per scope set ('b a' = 'a b a')\n"
    "  --socket PATH        the agent's socket (default: $P11JWT_AGENT_SOCKET, else\n"
    "                       $XDG_RUNTIME_DIR/p11jwt/agent.sock if it exists, else\n"
    "                       /run/p11jwt/agent.sock)\n"
    "  --json               print the agent's JSON answer (access_token, token_type,\n"
    "                       expires_at, scope, authorization, headers)\n"
    "  --header             print the whole header line, e.g.\n"
    "                       curl -H \"$(p11jwt-token dt --header)\" URL\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 success, 1 the agent refused or could not be reached (its\n"
    "message on stderr), 2 usage error.\n";

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    va_list ap;

    fputs("p11jwt-token: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see 'p11jwt-token --help')\n", stderr);
    return 2;
}

static int fail(const char *msg)
{
    fprintf(stderr, "p11jwt-token: %s\n", msg);
    return 1;
}

/* Writes all of p[0..n) to standard output with write(2): the answer is
 * one line, so stdio would add only its set-up (fstat, ioctl) to every
 * call. Returns 0, or 1 with a message. */
static int out_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return fail("cannot write to standard output");
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Prints member key of the answer, a string, unescaped, with prefix. */
static int print_member(const ptc_reply *r, const char *key, const char *prefix)
{
    size_t plen = strlen(prefix), cap;
    ptc_json_type t;
    const char *v;
    size_t vl;
    char *buf;
    long n;
    int rc;

    if (ptc_json_find(r->body, r->body_len, key, &t, &v, &vl) != 1 || t != PTC_JSON_STRING)
        return fail("the agent's answer has no usable token");
    cap = plen + vl + 2; /* prefix, the value, '\n', the unescaper's NUL */
    if ((buf = malloc(cap)) == NULL)
        return fail("out of memory");
    memcpy(buf, prefix, plen);
    n = ptc_json_unescape(v, vl, buf + plen, vl + 1);
    if (n > 0 && strcspn(buf + plen, "\r\n") == (size_t)n) {
        buf[plen + (size_t)n] = '\n';
        rc = out_all(buf, plen + (size_t)n + 1);
    } else {
        rc = fail("the agent's answer has no usable token");
    }
    ptc_wipe(buf, cap);
    free(buf);
    return rc;
}

int main(int argc, char *argv[])
{
    enum { OPT_MIN_VALID = 256, OPT_SOCKET, OPT_JSON, OPT_HEADER, OPT_SCOPE };
    static const struct option opts[] = {
        { "min-valid", required_argument, NULL, OPT_MIN_VALID },
        { "scope", required_argument, NULL, OPT_SCOPE },
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "json", no_argument, NULL, OPT_JSON },
        { "header", no_argument, NULL, OPT_HEADER },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *socket = NULL, *min_valid = NULL, *scope = NULL;
    char path[256], name[3 * 255 + 1], enc[3 * 1024 + 1] = "", target[4096], err[1024];
    ptc_conn c;
    ptc_reply r;
    int json = 0, header = 0, ch, rc;

    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_MIN_VALID: min_valid = optarg; break;
        case OPT_SCOPE: scope = optarg; break;
        case OPT_SOCKET: socket = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_HEADER: header = 1; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case ':': return usage("option %s needs a value", argv[optind - 1]);
        default: return usage("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage("a profile NAME is required");
    if (optind + 1 < argc)
        return usage("unexpected argument '%s'", argv[optind + 1]);
    if (json && header)
        return usage("give --json or --header, not both");
    if (min_valid != NULL &&
        (min_valid[0] == '\0' || strspn(min_valid, "0123456789") != strlen(min_valid) ||
         strlen(min_valid) > 8))
        return usage("--min-valid '%s' is not a number of seconds", min_valid);
    if (argv[optind][0] == '\0' || strlen(argv[optind]) > 255 ||
        ptc_url_escape(argv[optind], name, sizeof name) < 0)
        return usage("profile name '%s' is empty or too long", argv[optind]);
    if (socket != NULL ? snprintf(path, sizeof path, "%s", socket) >= (int)sizeof path
                       : ptc_socket_path(0, path, sizeof path) != 0)
        return usage("the socket path is too long");
    /* The agent checks the scope's syntax and names a byte it refuses. */
    if (scope != NULL && (strlen(scope) > 1024 || ptc_url_escape(scope, enc, sizeof enc) < 0))
        return usage("--scope is longer than 1024 bytes");
    snprintf(target, sizeof target, "/v1/token/%s%s%s%s%s", name, min_valid ? "?min_valid=" : "",
             min_valid ? min_valid : "", scope ? (min_valid ? "&scope=" : "?scope=") : "", enc);

    if (ptc_connect(&c, path, err, sizeof err) != 0) {
        ptc_close(&c);
        return fail(err);
    }
    rc = ptc_request(&c, "GET", target, NULL, 0, 0, TIMEOUT_MS, &r, err, sizeof err);
    ptc_close(&c);
    if (rc != 0)
        return fail(err);
    if (r.status != 200) {
        ptc_reply_message(&r, err, sizeof err);
        ptc_reply_clear(&r);
        return fail(err);
    }
    if (json)
        rc = out_all(r.body, r.body_len) != 0 ? 1
             : r.body_len > 0 && r.body[r.body_len - 1] != '\n' ? out_all("\n", 1)
                                                                : 0;
    else
        rc = print_member(&r, header ? "authorization" : "access_token",
                          header ? "Authorization: " : "");
    ptc_reply_clear(&r);
    return rc;
}
