/*
 * cmd_keys.c — the key-management subcommands: keygen, import-secret, list,
 * jwks, delete. Each parses its options, opens the token, makes one library
 * call and prints its result; the checks that protect keys (duplicate kid,
 * flags, no half-made key) live in the library, not here.
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_ALG = OPT_FIRST_COMMAND_OPTION,
    OPT_KID,
    OPT_LABEL,
    OPT_SECRET_FILE,
    OPT_JSON,
    OPT_YES,
    OPT_BITS,
};

/* The options of these commands, each a string or a flag. */
struct key_args {
    const char *alg, *kid, *label, *secret_file, *bits;
    int json, yes;
    const char **kids;          /* jwks: every --kid */
    size_t nkids;
};

static int take(int c, const char *arg, void *ctx)
{
    struct key_args *a = ctx;

    switch (c) {
    case OPT_ALG: a->alg = arg; break;
    case OPT_KID:
        a->kid = arg;
        if (a->kids != NULL)
            a->kids[a->nkids++] = arg;
        break;
    case OPT_LABEL: a->label = arg; break;
    case OPT_SECRET_FILE: a->secret_file = arg; break;
    case OPT_JSON: a->json = 1; break;
    case OPT_YES: a->yes = 1; break;
    case OPT_BITS: a->bits = arg; break;
    }
    return 0;
}

/* Prints JSON to stdout, two-space indented, and a newline. */
static int print_json(const char *cmd, json_t *j)
{
    if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
        fputc('\n', stdout) == EOF || fflush(stdout) != 0)
        return cli_error(cmd, "cannot write to standard output");
    return 0;
}

/* ---- keygen ----------------------------------------------------------- */

static const char keygen_help[] =
    "Usage: p11jwt keygen --token URI --alg ALG [--bits N] [--kid KID]\n"
    "                     [--label TEXT]\n\n"
    "Generate a key in the token and print its kid.\n"
    "  ES256|ES384|ES512  an EC key pair on P-256|P-384|P-521\n"
    "  HS256|HS384|HS512  a generic secret of 32|48|64 bytes, pinned to that HMAC\n"
    "  RS256|RS384|RS512  an RSA key pair (PKCS#1 v1.5 signatures), --bits long\n"
    "  PS256|PS384|PS512  an RSA key pair (PSS signatures), --bits long\n"
    "An RSA key is pinned to its alg by CKA_ALLOWED_MECHANISMS; on a token that\n"
    "refuses that attribute it pins none, and sign and verify need --alg.\n"
    "Or --alg A256GCM: an AES-256 key for AES-GCM, encrypt and decrypt only (a\n"
    "profile's cache_key: docs/fleet.md); it needs --kid.\n"
    "The key is CKA_SENSITIVE, not CKA_EXTRACTABLE and CKA_PRIVATE; it never\n"
    "leaves the token.\n\n"
    "Options:\n"
    "  --alg ALG          the key's alg, one of the above (required)\n"
    "  --bits N           an RSA key's size: 2048, 3072 or 4096 (default 3072)\n"
    "  --kid KID          its kid, stored as CKA_ID (default: the RFC 7638 JWK\n"
    "                     thumbprint for EC and RSA keys, 16 random bytes for HMAC\n"
    "                     keys)\n"
    "  --label TEXT       its CKA_LABEL (default: the kid, so pkcs11-tool shows it)\n"
    "  -h, --help         show this help\n" CLI_TOKEN_HELP;

int cmd_keygen(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "alg", required_argument, NULL, OPT_ALG },
        { "kid", required_argument, NULL, OPT_KID },
        { "label", required_argument, NULL, OPT_LABEL },
        { "bits", required_argument, NULL, OPT_BITS },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "keygen";
    struct key_args a = { 0 };
    const cli_command_def def = { cmd, keygen_help, CLI_TOKEN, opts, NULL, take, &a };
    const char *alg_name, *kid, *label;
    cli_common o;
    p11jwt_token *tok = NULL;
    p11jwt_alg alg;
    int64_t bits = 0;
    char *made = NULL;
    p11jwt_rc rc;
    int r;

    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    alg_name = a.alg;
    kid = a.kid;
    label = a.label;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (alg_name == NULL)
        return cli_usage(cmd, "--alg is required (ES256, ES384, ES512, HS256, HS384, HS512, "
                              "RS256, RS384, RS512, PS256, PS384, PS512, A256GCM)");
    if (kid != NULL && kid[0] == '\0')
        return cli_usage(cmd, "--kid is empty");
    if (strcmp(alg_name, "A256GCM") == 0) {
        if (kid == NULL)
            return cli_usage(cmd, "an A256GCM key needs --kid");
        if ((r = cli_token_open(cmd, &o.token, &tok)) != 0)
            return r;
        rc = p11jwt_key_generate_aes(tok, kid, label);
        r = rc == P11JWT_OK ? 0 : cli_fail(cmd, rc);
        if (r == 0) {
            printf("%s\n", kid);
            if (ferror(stdout) || fflush(stdout) != 0)
                r = cli_error(cmd, "key '%s' was generated, but its kid could not be written "
                                   "to standard output", kid);
        }
        p11jwt_token_free(tok);
        return r;
    }
    if (cli_parse_alg(alg_name, 1, 1, &alg) != 0)
        return cli_usage(cmd, "unknown alg '%s' (ES256, ES384, ES512, HS256, HS384, HS512, "
                              "RS256, RS384, RS512, PS256, PS384, PS512, A256GCM)", alg_name);
    if (a.bits != NULL && !p11jwt_alg_is_rsa(alg))
        return cli_usage(cmd, "--bits is for RSA keys (RS256...PS512): %s has a fixed size",
                         alg_name);
    if (a.bits != NULL && (cli_parse_int(a.bits, 1, 1 << 20, &bits) != 0 ||
                           (bits != 2048 && bits != 3072 && bits != 4096)))
        return cli_usage(cmd, "--bits %s: an RSA key is 2048, 3072 or 4096 bits", a.bits);
    if ((r = cli_token_open(cmd, &o.token, &tok)) != 0)
        return r;
    rc = p11jwt_alg_is_rsa(alg) ? p11jwt_key_generate_rsa(tok, alg, (unsigned)bits, kid, label,
                                                          &made)
                                : p11jwt_key_generate(tok, alg, kid, label, &made);
    if (rc == P11JWT_OK) {
        printf("%s\n", made);
        if (ferror(stdout) || fflush(stdout) != 0)
            r = cli_error(cmd, "key '%s' was generated, but its kid could not be written to "
                               "standard output", made);
    } else {
        r = cli_fail(cmd, rc);
    }
    p11jwt_free(made);
    p11jwt_token_free(tok);
    return r;
}

/* ---- import-secret ---------------------------------------------------- */

static const char import_help[] =
    "Usage: p11jwt import-secret --token URI --kid KID --alg HS256|HS384|HS512\n"
    "                            [--secret-file PATH|-] [--label TEXT]\n\n"
    "Import a provider-issued HMAC secret (dt, neowit...) into the token as a\n"
    "sensitive, non-extractable key pinned to ALG, under the provider's key id.\n"
    "The secret is its bytes as given (what PyJWT does with a str key), read from\n"
    "standard input by default or from PATH; ONE trailing newline is stripped.\n"
    "It is never taken from the command line. RFC 7518 requires at least 32/48/64\n"
    "bytes for HS256/384/512.\n\n"
    "Options:\n"
    "  --kid KID          the provider's key id (required)\n"
    "  --alg ALG          HS256, HS384 or HS512 (required)\n"
    "  --secret-file PATH read the secret from PATH ('-': standard input, default)\n"
    "  --label TEXT       its CKA_LABEL (default: the kid)\n"
    "  -h, --help         show this help\n" CLI_TOKEN_HELP;

int cmd_import_secret(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "alg", required_argument, NULL, OPT_ALG },
        { "kid", required_argument, NULL, OPT_KID },
        { "label", required_argument, NULL, OPT_LABEL },
        { "secret-file", required_argument, NULL, OPT_SECRET_FILE },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "import-secret";
    struct key_args a = { .secret_file = "-" };
    const cli_command_def def = { cmd, import_help, CLI_TOKEN, opts, NULL, take, &a };
    const char *alg_name, *kid, *label, *secret_file;
    cli_common o;
    p11jwt_token *tok = NULL;
    p11jwt_alg alg;
    unsigned char *secret = NULL;
    size_t secret_len = 0;
    p11jwt_rc rc;
    int r;

    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    alg_name = a.alg;
    kid = a.kid;
    label = a.label;
    secret_file = a.secret_file;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument (the secret is read from --secret-file or "
                              "standard input, never from the command line)");
    if (kid == NULL || kid[0] == '\0')
        return cli_usage(cmd, "--kid is required: the provider's key id");
    if (alg_name == NULL)
        return cli_usage(cmd, "--alg is required (HS256, HS384, HS512)");
    if (cli_parse_alg(alg_name, 0, 1, &alg) != 0)
        return cli_usage(cmd, "--alg must be HS256, HS384 or HS512, not '%s'", alg_name);
    if ((r = cli_token_open(cmd, &o.token, &tok)) != 0)
        return r;
    /* Read after login would be nicer for a prompt, but the token is opened
     * lazily: the first call below logs in. */
    rc = p11jwt_secret_read_file(secret_file, CLI_SECRET_MAX, &secret, &secret_len);
    if (rc == P11JWT_OK)
        rc = p11jwt_key_import_secret(tok, alg, kid, label, secret, secret_len);
    if (rc == P11JWT_OK) {
        printf("%s\n", kid);
        r = cli_flush(cmd);
    } else {
        r = cli_fail(cmd, rc);
    }
    p11jwt_secret_free(secret, secret_len);
    p11jwt_token_free(tok);
    return r;
}

/* ---- list ------------------------------------------------------------- */

static const char list_help[] =
    "Usage: p11jwt list --token URI [--json]\n\n"
    "List the token's keys, one entry per key (an EC or RSA key pair is one\n"
    "entry, of class private): kid, alg, pinned, label, class (private, public or\n"
    "secret), sensitive, extractable. pinned says what pins the alg: key-type\n"
    "(an EC curve, CKK_SHA*_HMAC), mechanisms (one alg's mechanism in\n"
    "CKA_ALLOWED_MECHANISMS) or none (alg null: sign and verify need --alg; an\n"
    "RSA key without one CKM_SHA*_RSA_PKCS(_PSS) allowed pins none).\n"
    "The kid is CKA_ID when it is text, else the label when it is, else the ID\n"
    "in hex (none: \"\" in JSON, - in the table); a label that is not UTF-8 is\n"
    "shown escaped (\\xNN).\n\n"
    "Options:\n"
    "  --json             a JSON array of objects with exactly those field names\n"
    "                     (sensitive and extractable as booleans; alg null when the\n"
    "                     key pins none)\n"
    "  -h, --help         show this help\n" CLI_TOKEN_HELP;

/* A label as it can be shown: as is when it is UTF-8 (JSON escapes the
 * rest), else escaped; into buf. */
static const char *shown_label(const char *label, char *buf, size_t cap, int for_json)
{
    json_t *probe = for_json ? json_string(label) : NULL;

    if (probe != NULL) {
        json_decref(probe);
        return label;
    }
    p11jwt_escape(buf, cap, label, strlen(label), 0);
    return buf;
}

static json_t *info_json(const p11jwt_key_info *k)
{
    const char *alg = p11jwt_alg_name(k->alg);
    char label[512];

    return json_pack("{s:s, s:o, s:s, s:s, s:s, s:b, s:b}", "kid", k->kid, "alg",
                     alg != NULL ? json_string(alg) : json_null(), "pinned",
                     p11jwt_pinned_name(k->pinned), "label",
                     shown_label(k->label, label, sizeof label, 1), "class",
                     p11jwt_key_class_name(k->klass), "sensitive", k->sensitive, "extractable",
                     k->extractable);
}

int cmd_list(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "list";
    struct key_args a = { 0 };
    const cli_command_def def = { cmd, list_help, CLI_TOKEN, opts, NULL, take, &a };
    cli_common o;
    p11jwt_token *tok = NULL;
    p11jwt_key_info *keys = NULL;
    size_t n = 0;
    int as_json, r;
    p11jwt_rc rc;

    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    as_json = a.json;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if ((r = cli_token_open(cmd, &o.token, &tok)) != 0)
        return r;
    rc = p11jwt_key_list(tok, &keys, &n);
    if (rc != P11JWT_OK) {
        r = cli_fail(cmd, rc);
    } else if (as_json) {
        json_t *arr = json_array();

        for (size_t i = 0; arr != NULL && i < n; i++)
            if (json_array_append_new(arr, info_json(&keys[i])) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        r = arr != NULL ? print_json(cmd, arr) : cli_error(cmd, "out of memory");
        json_decref(arr);
    } else {
        printf("%-44s %-6s %-10s %-8s %-9s %-11s %s\n", "KID", "ALG", "PINNED", "CLASS",
               "SENSITIVE", "EXTRACTABLE", "LABEL");
        for (size_t i = 0; i < n; i++) {
            const char *alg = p11jwt_alg_name(keys[i].alg);
            char kid[256], label[512];

            p11jwt_escape(kid, sizeof kid, keys[i].kid, strlen(keys[i].kid), 0);
            printf("%-44s %-6s %-10s %-8s %-9s %-11s %s\n", kid[0] != '\0' ? kid : "-",
                   alg != NULL ? alg : "-", p11jwt_pinned_name(keys[i].pinned),
                   p11jwt_key_class_name(keys[i].klass),
                   keys[i].sensitive ? "yes" : "no", keys[i].extractable ? "yes" : "no",
                   shown_label(keys[i].label, label, sizeof label, 0));
        }
        r = cli_flush(cmd);
    }
    p11jwt_key_info_free(keys, n);
    p11jwt_token_free(tok);
    return r;
}

/* ---- jwks ------------------------------------------------------------- */

static const char jwks_help[] =
    "Usage: p11jwt jwks --token URI [--kid KID]...\n"
    "       p11jwt jwks --profile NAME [--config PATH]\n\n"
    "Print a JWKS (RFC 7517) of the token's EC and RSA public keys: EC keys with\n"
    "kty, crv, x, y (full length, RFC 7518 6.2.1.2), RSA keys with kty, n, e (no\n"
    "leading zero bytes); each with kid, alg (an RSA key's only when it pins one)\n"
    "and use \"sig\": what an STS needs to trust our assertions. Secret keys\n"
    "never appear; RSA keys under 2048 bits neither. Public keys are\n"
    "public objects: no PIN is needed unless --pin-file or --pin-env is given.\n\n"
    "With --profile: the EC and RSA keys of the profile's keyring that are not\n"
    "retired\n"
    "(active, next, previous): what the STS should trust during a rotation.\n\n"
    "Options:\n"
    "  --kid KID          only this key (repeatable; default: every EC and RSA key)\n"
    "  --profile NAME     the keyring of this profile (see p11jwt rotate --help)\n"
    "  --config PATH      the config file (default: $P11JWT_CONFIG, ...)\n"
    "  -h, --help         show this help\n" CLI_TOKEN_HELP;

int cmd_jwks(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "kid", required_argument, NULL, OPT_KID },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "jwks";
    struct key_args a = { .kids = calloc((size_t)argc, sizeof *a.kids) };
    const cli_command_def def = { cmd, jwks_help, CLI_TOKEN | CLI_PROFILE | CLI_CONFIG, opts,
                                  NULL, take, &a };
    cli_common o;
    p11jwt_token *tok = NULL;
    char *out = NULL;
    json_t *j = NULL;
    p11jwt_rc rc;
    int r = 0;

    if (a.kids == NULL)
        return cli_error(cmd, "out of memory");
    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        goto out;
    r = 0;
    if (optind < argc) {
        r = cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (o.profile != NULL) {
        p11jwt_client *cl = NULL;

        if (o.token.uri != NULL || a.nkids > 0) {
            r = cli_usage(cmd, "--profile takes the token and kids from the profile");
            goto out;
        }
        if ((r = cli_client_open(cmd, o.config, o.profile, &cl)) != 0)
            goto out;
        rc = p11jwt_rotate_jwks(cl, &out);
        p11jwt_client_free(cl);
    } else {
        if ((r = cli_token_open(cmd, &o.token, &tok)) != 0)
            goto out;
        rc = p11jwt_jwks_export(tok, a.kids, a.nkids, &out);
    }
    if (rc != P11JWT_OK) {
        r = cli_fail(cmd, rc);
        goto out;
    }
    j = json_loads(out, 0, NULL);
    r = j != NULL ? print_json(cmd, j) : cli_error(cmd, "out of memory");
out:
    json_decref(j);
    p11jwt_free(out);
    p11jwt_token_free(tok);
    free(a.kids);
    return r;
}

/* ---- delete ----------------------------------------------------------- */

static const char delete_help[] =
    "Usage: p11jwt delete --token URI --kid KID --yes\n\n"
    "Destroy every object (private, public, secret, certificate) of the key with\n"
    "this kid, and the certificates that carry its private key's CKA_ID.\n"
    "This cannot be undone: assertions signed with it can no longer be made,\n"
    "and an STS that trusts only this key will reject everything. A kid that a\n"
    "keyring in the token names as its active or next key is refused; a\n"
    "previous key is destroyed with a warning.\n\n"
    "Options:\n"
    "  --kid KID          the key to destroy (required)\n"
    "  --yes              confirm (required)\n"
    "  -h, --help         show this help\n" CLI_TOKEN_HELP;

int cmd_delete(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "kid", required_argument, NULL, OPT_KID },
        { "yes", no_argument, NULL, OPT_YES },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "delete";
    struct key_args a = { 0 };
    const cli_command_def def = { cmd, delete_help, CLI_TOKEN, opts, NULL, take, &a };
    cli_common o;
    p11jwt_token *tok = NULL;
    int r;
    p11jwt_rc rc;

    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (a.kid == NULL || a.kid[0] == '\0')
        return cli_usage(cmd, "--kid is required");
    if (!a.yes)
        return cli_usage(cmd, "refusing to destroy key '%s' without --yes", a.kid);
    if ((r = cli_token_open(cmd, &o.token, &tok)) != 0)
        return r;
    rc = p11jwt_key_delete(tok, a.kid);
    if (rc != P11JWT_OK)
        r = cli_fail(cmd, rc);
    p11jwt_token_free(tok);
    return r;
}
