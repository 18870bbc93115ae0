/*
 * cmd_sign.c — `p11jwt sign`: one assertion, or with --batch one per line of
 * standard input, offline. Extra claims come from --claims-file first, then
 * --claim in order (a later one replaces an earlier one of the same name),
 * then, in batch mode, the line's own object. With --audit, each signature's
 * record is written before the signature is output, and one whose record
 * could not be written is withheld: an audited signer never hands out an
 * assertion it has no record of.
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_KID = OPT_FIRST_COMMAND_OPTION,
    OPT_ISS,
    OPT_AUD,
    OPT_SUB,
    OPT_TTL,
    OPT_CLAIM,
    OPT_CLAIMS_FILE,
    OPT_NO_JTI,
    OPT_BATCH,
    OPT_THREADS,
    OPT_ALG,
    OPT_AUDIT,
    OPT_CERT,
    OPT_X5T,
    OPT_X5T_S256,
    OPT_NO_PROGRESS,
};

#define TTL_MAX (366 * 24 * 3600)

static const char sign_help[] =
    "Usage: p11jwt sign --token URI --kid KID --iss ISS --aud AUD [--sub SUB]\n"
    "                   [--ttl DURATION] [--claim NAME=STRING | --claim NAME:=JSON]...\n"
    "                   [--claims-file PATH|-] [--no-jti]\n"
    "                   [--batch [--threads N] [--no-progress]]\n"
    "                   [--alg ALG] [--audit file:PATH|syslog]\n"
    "                   [--x5t] [--x5t-s256] [--cert PATH|URI]\n\n"
    "Sign a JWT assertion (RFC 7523) with a key in the token and print the\n"
    "compact JWS. Nothing is sent anywhere. Header: {alg, kid, typ:\"JWT\"}, the\n"
    "alg following from the key (then x5t, x5t#S256 when asked). Claims, in this\n"
    "order: iss, aud, sub (if given), iat (now), exp (iat + ttl), jti (random),\n"
    "then the extra claims.\n\n"
    "Options:\n"
    "  --kid KID            the signing key (default: object=/id= of the URI)\n"
    "  --iss ISS            issuer claim (required)\n"
    "  --aud AUD            audience claim, usually the token endpoint (required)\n"
    "  --sub SUB            subject claim\n"
    "  --ttl DURATION       lifetime, exp - iat: seconds, or N with s, m, h or d\n"
    "                       as in the config file (e.g. 10m; default 300)\n"
    "  --claim NAME=STRING  an extra string claim (repeatable)\n"
    "  --claim NAME:=JSON   an extra claim of any JSON type, e.g. n:=42 (repeatable)\n"
    "  --claims-file PATH   a JSON object of extra claims ('-': standard input)\n"
    "  --no-jti             leave out jti\n"
    "  --alg ALG            require the key to sign with ALG (refused otherwise):\n"
    "                       ES256, ES384, ES512, HS256, HS384, HS512, RS256,\n"
    "                       RS384, RS512, PS256, PS384, PS512, EdDSA; a key that\n"
    "                       pins no alg (a generic secret or an RSA key made by\n"
    "                       another tool) signs only with --alg\n"
    "  --batch              read one JSON object of extra claims per line on\n"
    "                       standard input, write one JWS per line, in order; each\n"
    "                       gets its own iat, exp and jti; the first bad line\n"
    "                       stops it (exit 1, naming that line) after the lines\n"
    "                       before it were written\n"
    "  --threads N          with --batch: sign with N threads (default 1); the\n"
    "                       output keeps the input's order\n"
    "  --no-progress        with --batch: no progress line (lines done, lines/s,\n"
    "                       and for a file, % done and ETA), which is drawn on\n"
    "                       standard error only when it is a terminal and\n"
    "                       standard output is not\n"
    "  --audit TARGET       record every signature, before it is output, as a\n"
    "                       JSON line {time, event, kid, alg, jti, aud, sha256 of\n"
    "                       the signing input}: file:PATH (appended to) or syslog\n"
    "                       (LOG_AUTHPRIV); a signature whose record cannot be\n"
    "                       written is not output (exit 1)\n"
    "  --x5t                put the key's certificate's SHA-1 thumbprint in the\n"
    "                       header (x5t, base64url), as Entra ID and ADFS want\n"
    "  --x5t-s256           put its SHA-256 thumbprint in the header (x5t#S256)\n"
    "  --cert PATH|URI      the certificate: a PEM or DER file, or a pkcs11: URI of\n"
    "                       a certificate object in the token (default: the one\n"
    "                       with the key's kid); one that does not hold the key's\n"
    "                       public key is refused\n"
    "  -h, --help           show this help\n" CLI_TOKEN_HELP;

/* Adds one --claim NAME=STRING or NAME:=JSON to obj. */
static int add_claim(const char *cmd, json_t *obj, const char *arg)
{
    const char *eq = strchr(arg, '=');
    json_t *value;
    json_error_t jerr;
    size_t name_len;
    char *name;
    int r = 0;

    if (eq == NULL)
        return cli_usage(cmd, "--claim '%s' needs NAME=STRING or NAME:=JSON", arg);
    name_len = (size_t)(eq - arg);
    if (name_len > 0 && arg[name_len - 1] == ':') {
        name_len--;
        value = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
        if (value == NULL)
            return cli_usage(cmd, "--claim '%.*s': the value is not JSON: %s", (int)name_len,
                             arg, jerr.text);
    } else {
        value = json_string(eq + 1);
        if (value == NULL)
            return cli_usage(cmd, "--claim '%.*s': the value is not valid UTF-8", (int)name_len,
                             arg);
    }
    if (name_len == 0) {
        json_decref(value);
        return cli_usage(cmd, "--claim '%s' has an empty name", arg);
    }
    name = strndup(arg, name_len);
    if (name == NULL || json_object_set_new(obj, name, value) != 0)
        r = cli_error(cmd, "out of memory");
    free(name);
    return r;
}

static int load_claims_file(const char *cmd, const char *path, json_t **out)
{
    json_error_t jerr;
    json_t *j = strcmp(path, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
                                       : json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

    *out = NULL;
    if (j == NULL)
        return cli_error(cmd, "claims file %s: %s (line %d)",
                         strcmp(path, "-") == 0 ? "(standard input)" : path, jerr.text, jerr.line);
    if (!json_is_object(j)) {
        json_decref(j);
        return cli_error(cmd, "claims file %s: claims JSON must be an object",
                         strcmp(path, "-") == 0 ? "(standard input)" : path);
    }
    *out = j;
    return 0;
}

/* Signs one assertion with extras (may be empty) and prints it. */
static int sign_one(const char *cmd, p11jwt_key *key, p11jwt_claims_params *p,
                    json_t *extras, p11jwt_audit *audit)
{
    char *extra_json = NULL, *jws = NULL;
    p11jwt_rc rc;
    int r = 0;

    if (json_object_size(extras) > 0) {
        extra_json = json_dumps(extras, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (extra_json == NULL)
            return cli_error(cmd, "out of memory");
    }
    p->extra_json = extra_json;
    rc = p11jwt_assertion_sign(key, p, &jws);
    p->extra_json = NULL;
    if (rc == P11JWT_OK && audit != NULL && (rc = p11jwt_audit_signature(audit, jws)) != P11JWT_OK)
        r = cli_error(cmd, "%s (the assertion was not output)", p11jwt_errmsg());
    else if (rc != P11JWT_OK)
        r = cli_fail(cmd, rc);
    else if (fputs(jws, stdout) == EOF || fputc('\n', stdout) == EOF)
        r = cli_error(cmd, "cannot write to standard output");
    else
        r = cli_flush(cmd);
    if (jws != NULL) /* a credential until it expires: wiped */
        p11jwt_secret_free((unsigned char *)jws, strlen(jws));
    free(extra_json);
    return r;
}

/* The command's own options, as they come. */
struct sign_args {
    const char *cmd;
    p11jwt_claims_params *p;
    json_t *extras;
    const char *kid, *claims_file, *alg_name, *audit, *cert;
    unsigned x5t;
    int batch, no_progress;
    int64_t threads;
};

static int take(int c, const char *arg, void *ctx)
{
    struct sign_args *a = ctx;

    switch (c) {
    case OPT_KID: a->kid = arg; break;
    case OPT_ISS: a->p->iss = arg; break;
    case OPT_AUD: a->p->aud = arg; break;
    case OPT_SUB: a->p->sub = arg; break;
    case OPT_TTL:
        /* The config's duration syntax: --ttl 10m means what ttl = 10m does. */
        if (p11jwt_duration_parse(arg, TTL_MAX, &a->p->ttl) != P11JWT_OK || a->p->ttl < 1)
            return cli_usage(a->cmd,
                             "--ttl must be a duration from 1 s to %d s (366d): seconds, or "
                             "N with s, m, h or d (e.g. 300, 10m)",
                             TTL_MAX);
        break;
    case OPT_CLAIM: return add_claim(a->cmd, a->extras, arg);
    case OPT_CLAIMS_FILE: a->claims_file = arg; break;
    case OPT_NO_JTI: a->p->no_jti = 1; break;
    case OPT_BATCH: a->batch = 1; break;
    case OPT_THREADS:
        if (cli_parse_int(arg, 1, CLI_BATCH_MAX_THREADS, &a->threads) != 0)
            return cli_usage(a->cmd, "--threads must be a whole number from 1 to %d",
                             CLI_BATCH_MAX_THREADS);
        break;
    case OPT_ALG: a->alg_name = arg; break;
    case OPT_AUDIT: a->audit = arg; break;
    case OPT_CERT: a->cert = arg; break;
    case OPT_X5T: a->x5t |= P11JWT_X5T; break;
    case OPT_X5T_S256: a->x5t |= P11JWT_X5T_S256; break;
    case OPT_NO_PROGRESS: a->no_progress = 1; break;
    }
    return 0;
}

int cmd_sign(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "kid", required_argument, NULL, OPT_KID },
        { "iss", required_argument, NULL, OPT_ISS },
        { "aud", required_argument, NULL, OPT_AUD },
        { "sub", required_argument, NULL, OPT_SUB },
        { "ttl", required_argument, NULL, OPT_TTL },
        { "claim", required_argument, NULL, OPT_CLAIM },
        { "claims-file", required_argument, NULL, OPT_CLAIMS_FILE },
        { "claim-file", required_argument, NULL, OPT_CLAIMS_FILE },
        { "no-jti", no_argument, NULL, OPT_NO_JTI },
        { "batch", no_argument, NULL, OPT_BATCH },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "alg", required_argument, NULL, OPT_ALG },
        { "audit", required_argument, NULL, OPT_AUDIT },
        { "cert", required_argument, NULL, OPT_CERT },
        { "x5t", no_argument, NULL, OPT_X5T },
        { "x5t-s256", no_argument, NULL, OPT_X5T_S256 },
        { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "sign", *kid, *claims_file, *alg_name;
    p11jwt_claims_params p = { .ttl = 300 };
    struct sign_args a = { cmd, &p, json_object(), NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0 };
    const cli_command_def def = { cmd, sign_help, CLI_TOKEN, opts, NULL, take, &a };
    cli_common o;
    p11jwt_token *tok = NULL;
    p11jwt_key *key = NULL;
    p11jwt_audit *audit = NULL;
    json_t *extras = a.extras, *from_file = NULL;
    int batch, r = 0;
    int64_t threads;
    p11jwt_alg want_alg = P11JWT_ALG_UNKNOWN;
    p11jwt_rc rc;

    if (extras == NULL)
        return cli_error(cmd, "out of memory");
    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        goto out;
    r = 0;
    kid = a.kid;
    claims_file = a.claims_file;
    alg_name = a.alg_name;
    batch = a.batch;
    threads = a.threads;
    if (optind < argc)
        r = cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    else if (p.iss == NULL || p.iss[0] == '\0')
        r = cli_usage(cmd, "--iss is required");
    else if (p.aud == NULL || p.aud[0] == '\0')
        r = cli_usage(cmd, "--aud is required");
    else if (threads != 0 && !batch)
        r = cli_usage(cmd, "--threads applies to --batch only");
    else if (a.no_progress && !batch)
        r = cli_usage(cmd, "--no-progress applies to --batch only");
    else if (batch && claims_file != NULL && strcmp(claims_file, "-") == 0)
        r = cli_usage(cmd, "--batch reads standard input: --claims-file cannot be '-'");
    else if (alg_name != NULL && cli_parse_alg(alg_name, 1, 1, &want_alg) != 0)
        r = cli_usage(cmd, "unknown alg '%s'", alg_name);
    else if (a.audit != NULL && strcmp(a.audit, "syslog") != 0 &&
             (strncmp(a.audit, "file:", 5) != 0 || a.audit[5] == '\0'))
        r = cli_usage(cmd, "--audit takes file:PATH or syslog");
    else if (a.cert != NULL && a.x5t == 0)
        r = cli_usage(cmd, "--cert needs --x5t or --x5t-s256 (the header names the "
                           "certificate by its thumbprints)");
    else if (a.cert != NULL && a.cert[0] == '\0')
        r = cli_usage(cmd, "--cert is empty");
    if (r != 0)
        goto out;

    /* File claims come first; --claim entries given on the line win. */
    if (claims_file != NULL) {
        if ((r = load_claims_file(cmd, claims_file, &from_file)) != 0)
            goto out;
        if (json_object_update(from_file, extras) != 0) {
            r = cli_error(cmd, "out of memory");
            goto out;
        }
        json_decref(extras);
        extras = from_file;
        from_file = NULL;
    }

    /* Opened before the token: nothing is signed without its record. */
    if (a.audit != NULL && (rc = p11jwt_audit_open(a.audit, &audit)) != P11JWT_OK) {
        r = cli_fail(cmd, rc);
        goto out;
    }
    if ((r = cli_token_open(cmd, &o.token, &tok)) != 0)
        goto out;
    if (kid == NULL)
        kid = p11jwt_token_uri_kid(tok);
    if (kid == NULL || kid[0] == '\0') {
        r = cli_usage(cmd, "--kid is required (or object=/id= in the token URI)");
        goto out;
    }
    rc = p11jwt_key_open_as(tok, kid, want_alg, &key);
    if (rc != P11JWT_OK) {
        r = cli_fail(cmd, rc);
        goto out;
    }
    /* The header with the thumbprints is made once, before any signature. */
    if (a.x5t != 0 && (rc = p11jwt_key_x5t(key, a.cert, a.x5t)) != P11JWT_OK) {
        r = cli_fail(cmd, rc);
        goto out;
    }
    r = batch ? cli_sign_batch(cmd, key, &p, extras, threads > 0 ? (int)threads : 1, audit,
                               a.no_progress)
              : sign_one(cmd, key, &p, extras, audit);
out:
    p11jwt_audit_free(audit);
    json_decref(extras);
    json_decref(from_file);
    p11jwt_key_free(key);
    p11jwt_token_free(tok);
    return r;
}
