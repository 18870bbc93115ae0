/*
 * cmd_verify.c — `p11jwt verify`: checks one JWS read on standard input
 * against a JWKS file, a key in the token, or an HMAC secret file, and
 * prints {"header":...,"payload":...} when it is valid. Any failure, an
 * invalid signature included, exits 1 with the reason.
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_JWKS = OPT_FIRST_COMMAND_OPTION,
    OPT_KID,
    OPT_SECRET_FILE,
    OPT_ALG,
    OPT_AUD,
    OPT_ISS,
    OPT_LEEWAY,
};

#define JWS_MAX (1 << 20)
#define JWKS_MAX (1 << 20)

static const char verify_help[] =
    "Usage: p11jwt verify (--jwks PATH | --token URI --kid KID |\n"
    "                      --secret-file PATH --alg HS256|HS384|HS512)\n"
    "                     [--aud AUD] [--iss ISS] [--leeway SECONDS]\n\n"
    "Verify one compact JWS read on standard input. Valid: print\n"
    "{\"header\":{...},\"payload\":{...}} and exit 0. Invalid (signature, alg none\n"
    "or not the key's, exp passed, nbf or iat in the future beyond the leeway,\n"
    "aud or iss not matching): exit 1 with the reason.\n\n"
    "Options:\n"
    "  --jwks PATH          verify with the EC or RSA key of this JWKS the header's\n"
    "                       kid names (or its only key); a key whose \"use\" is not\n"
    "                       \"sig\" or whose \"key_ops\" lacks \"verify\" is never used;\n"
    "                       an RSA key without \"alg\" takes the header's RS or PS alg\n"
    "  --kid KID            with --token: verify with this key in the token (EC,\n"
    "                       RSA: its public key; HMAC: recomputed in the token)\n"
    "  --secret-file PATH   verify an HMAC JWS with this secret ('-': standard\n"
    "                       input is taken by the JWS, so a file); one trailing\n"
    "                       newline is stripped\n"
    "  --alg ALG            the alg expected (required with --secret-file, and\n"
    "                       with a token key that pins no alg): ES256, ES384,\n"
    "                       ES512, HS256, HS384, HS512, RS256, RS384, RS512,\n"
    "                       PS256, PS384, PS512\n"
    "  --aud AUD            require this audience (in aud, string or array)\n"
    "  --iss ISS            require this issuer\n"
    "  --leeway SECONDS     clock skew allowed on exp, nbf and iat (default 60)\n"
    "  -h, --help           show this help\n" CLI_TOKEN_HELP;

static int read_stdin_jws(const char *cmd, unsigned char **jws, size_t *len)
{
    p11jwt_rc rc = p11jwt_secret_read_file("-", JWS_MAX, jws, len);

    const unsigned char *nul;

    if (rc != P11JWT_OK)
        return cli_fail(cmd, rc);
    if (*len == 0)
        return cli_error(cmd, "no JWS on standard input");
    /* The library takes a C string: a NUL would hide what follows it. */
    if ((nul = memchr(*jws, '\0', *len)) != NULL)
        return cli_error(cmd, "not a compact JWS: a NUL byte at offset %zu on standard input",
                         (size_t)(nul - *jws));
    return 0;
}

/* Prints {"header":...,"payload":...} on one line. */
static int print_result(const char *cmd, const char *header, const char *payload)
{
    if (printf("{\"header\":%s,\"payload\":%s}\n", header, payload) < 0 || fflush(stdout) != 0)
        return cli_error(cmd, "cannot write to standard output");
    return 0;
}

/* When --alg was given, the verified header's alg must be it. */
static int check_alg(const char *cmd, const char *header, p11jwt_alg want)
{
    json_t *h;
    const char *got;
    int r = 0;

    if (want == P11JWT_ALG_UNKNOWN)
        return 0;
    h = json_loads(header, 0, NULL);
    got = json_string_value(json_object_get(h, "alg"));
    if (got == NULL || p11jwt_alg_from_name(got) != want)
        r = cli_error(cmd, "the JWS is %s, not %s", got != NULL ? got : "without alg",
                      p11jwt_alg_name(want));
    json_decref(h);
    return r;
}

/* The command's own options, as they come. */
struct verify_args {
    const char *cmd;
    p11jwt_verify_params *vp;
    const char *jwks_path, *kid, *secret_file, *alg_name;
};

static int take(int c, const char *arg, void *ctx)
{
    struct verify_args *a = ctx;

    switch (c) {
    case OPT_JWKS: a->jwks_path = arg; break;
    case OPT_KID: a->kid = arg; break;
    case OPT_SECRET_FILE: a->secret_file = arg; break;
    case OPT_ALG: a->alg_name = arg; break;
    case OPT_AUD: a->vp->aud = arg; break;
    case OPT_ISS: a->vp->iss = arg; break;
    case OPT_LEEWAY:
        if (cli_parse_int(arg, 0, 24 * 3600, &a->vp->leeway) != 0)
            return cli_usage(a->cmd,
                             "--leeway must be a whole number of seconds from 0 to 86400");
        break;
    }
    return 0;
}

int cmd_verify(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "jwks", required_argument, NULL, OPT_JWKS },
        { "kid", required_argument, NULL, OPT_KID },
        { "secret-file", required_argument, NULL, OPT_SECRET_FILE },
        { "alg", required_argument, NULL, OPT_ALG },
        { "aud", required_argument, NULL, OPT_AUD },
        { "iss", required_argument, NULL, OPT_ISS },
        { "leeway", required_argument, NULL, OPT_LEEWAY },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "verify", *jwks_path, *kid, *secret_file, *alg_name;
    p11jwt_verify_params vp = { .leeway = 60 };
    struct verify_args a = { cmd, &vp, NULL, NULL, NULL, NULL };
    const cli_command_def def = { cmd, verify_help, CLI_TOKEN, opts, NULL, take, &a };
    cli_common o;
    p11jwt_token *tok = NULL;
    p11jwt_key *key = NULL;
    p11jwt_alg alg = P11JWT_ALG_UNKNOWN;
    unsigned char *jws = NULL, *aux = NULL;
    size_t jws_len = 0, aux_len = 0;
    char *header = NULL, *payload = NULL;
    int r = 0, sources;
    p11jwt_rc rc;

    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    r = 0;
    jwks_path = a.jwks_path;
    kid = a.kid;
    secret_file = a.secret_file;
    alg_name = a.alg_name;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s' (the JWS is read on standard input)",
                         argv[optind]);
    sources = (jwks_path != NULL) + (o.token.uri != NULL) + (secret_file != NULL);
    if (sources != 1)
        return cli_usage(cmd, "give exactly one of --jwks, --token with --kid, or --secret-file "
                              "with --alg");
    if (alg_name != NULL && cli_parse_alg(alg_name, 1, 1, &alg) != 0)
        return cli_usage(cmd, "unknown alg '%s'", alg_name);
    if (secret_file != NULL && (alg == P11JWT_ALG_UNKNOWN || p11jwt_alg_is_asymmetric(alg)))
        return cli_usage(cmd, "--secret-file needs --alg HS256, HS384 or HS512");
    if (secret_file != NULL && strcmp(secret_file, "-") == 0)
        return cli_usage(cmd, "the JWS is read on standard input: --secret-file must be a file");
    if (o.token.uri != NULL && (kid == NULL || kid[0] == '\0'))
        return cli_usage(cmd, "--token needs --kid");

    if ((r = read_stdin_jws(cmd, &jws, &jws_len)) != 0)
        goto out;
    if (jwks_path != NULL) {
        rc = p11jwt_secret_read_file(jwks_path, JWKS_MAX, &aux, &aux_len);
        if (rc == P11JWT_OK && memchr(aux, '\0', aux_len) != NULL) {
            r = cli_error(cmd, "JWKS file %s: a NUL byte at offset %zu", jwks_path,
                          (size_t)((unsigned char *)memchr(aux, '\0', aux_len) - aux));
            goto out;
        }
        if (rc == P11JWT_OK)
            rc = p11jwt_verify_jwks((const char *)jws, (const char *)aux, &vp, &header, &payload);
    } else if (secret_file != NULL) {
        rc = p11jwt_secret_read_file(secret_file, CLI_SECRET_MAX, &aux, &aux_len);
        if (rc == P11JWT_OK && aux_len == 0) {
            r = cli_error(cmd, "the secret in %s is empty", secret_file);
            goto out;
        }
        if (rc == P11JWT_OK)
            rc = p11jwt_verify_secret((const char *)jws, alg, aux, aux_len, &vp, &header,
                                      &payload);
    } else {
        if ((r = cli_token_open(cmd, &o.token, &tok)) != 0)
            goto out;
        rc = p11jwt_key_open_as(tok, kid, alg, &key);
        if (rc == P11JWT_OK)
            rc = p11jwt_verify_key((const char *)jws, key, &vp, &header, &payload);
    }
    if (rc != P11JWT_OK) {
        r = cli_fail(cmd, rc);
        goto out;
    }
    r = check_alg(cmd, header, alg);
    if (r == 0)
        r = print_result(cmd, header, payload);
out:
    p11jwt_free(header);
    p11jwt_free(payload);
    p11jwt_secret_free(aux, aux_len);
    p11jwt_secret_free(jws, jws_len);
    p11jwt_key_free(key);
    p11jwt_token_free(tok);
    return r;
}
