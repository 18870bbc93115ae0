/*
 * cmd_import_key.c — p11jwt import-key: a provider-issued private key file
 * into the token (the library reads, checks and wipes it; here only the
 * options and what a person must be told: a key file others can read, and
 * that the file should go now that the key is in the token).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    OPT_KID = OPT_FIRST_COMMAND_OPTION,
    OPT_LABEL,
    OPT_KEY_FILE,
    OPT_PASS_FILE,
    OPT_CERT,
    OPT_ALG,
};

struct import_args {
    const char *kid, *label, *key_file, *pass_file, *cert, *alg;
};

static int take(int c, const char *arg, void *ctx)
{
    struct import_args *a = ctx;

    switch (c) {
    case OPT_KID: a->kid = arg; break;
    case OPT_LABEL: a->label = arg; break;
    case OPT_KEY_FILE: a->key_file = arg; break;
    case OPT_PASS_FILE: a->pass_file = arg; break;
    case OPT_CERT: a->cert = arg; break;
    case OPT_ALG: a->alg = arg; break;
    }
    return 0;
}

static const char import_key_help[] =
    "Usage: p11jwt import-key --token URI [--kid KID] [--label TEXT] [--alg ALG]\n"
    "                         [--key-file PATH|-] [--pass-file PATH] [--cert PATH]\n\n"
    "Import a provider-issued private key into the token and print its kid: a\n"
    "sensitive, non-extractable private key that only signs, and its public key\n"
    "(for jwks). PEM or DER: PKCS#8, encrypted PKCS#8 (--pass-file), SEC1 EC,\n"
    "PKCS#1 RSA; EC keys on P-256, P-384 or P-521 (ES256/384/512), RSA keys of\n"
    "2048 bits or more (RS256/384/512, PS256/384/512). The file is read like a\n"
    "secret and wiped from memory; nothing is left in the token when the file or\n"
    "the key is refused. Delete the file once the key is in the token. A file\n"
    "that others can read is warned about.\n\n"
    "Options:\n"
    "  --alg ALG          ES256,ES384,ES512,RS256,RS384,RS512,PS256,PS384,PS512:\n"
    "                     pins an RSA key to that alg (CKA_ALLOWED_MECHANISMS;\n"
    "                     without it the key pins none and sign needs --alg);\n"
    "                     an EC key's curve must fit it\n"
    "  --kid KID          the key's kid (default: its RFC 7638 thumbprint)\n"
    "  --label TEXT       its CKA_LABEL (default: the kid)\n"
    "  --key-file PATH    read the key from PATH ('-': standard input, default)\n"
    "  --pass-file PATH   the passphrase of an encrypted key (one trailing newline\n"
    "                     stripped); never asked on the terminal\n"
    "  --cert PATH        also store the key's X.509 certificate (PEM or DER) in\n"
    "                     the token, with the key's kid, for sign --x5t and x5t =\n"
    "                     yes; one that does not hold the key's public key is\n"
    "                     refused, and then the key is not kept either\n"
    "  -h, --help         show this help\n" CLI_TOKEN_HELP;

/* Stores the key's certificate; when it is refused, the key just imported
 * goes too: an import is whole or nothing. */
static int store_cert(const char *cmd, p11jwt_token *tok, const char *kid, const char *cert,
                      const char *label)
{
    char why[1024], shown[256];
    p11jwt_rc rc = p11jwt_cert_import(tok, kid, cert, label);

    if (rc == P11JWT_OK)
        return 0;
    p11jwt_escape(shown, sizeof shown, kid, strlen(kid), 0);
    snprintf(why, sizeof why, "%s", p11jwt_errmsg()[0] != '\0' ? p11jwt_errmsg()
                                                                 : p11jwt_strerror(rc));
    if (p11jwt_key_delete(tok, kid) != P11JWT_OK)
        return cli_error(cmd, "%s; the key imported as '%s' could not be removed: %s", why,
                         shown, p11jwt_errmsg());
    return cli_error(cmd, "%s (the key was not kept)", why);
}

int cmd_import_key(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "kid", required_argument, NULL, OPT_KID },
        { "label", required_argument, NULL, OPT_LABEL },
        { "key-file", required_argument, NULL, OPT_KEY_FILE },
        { "pass-file", required_argument, NULL, OPT_PASS_FILE },
        { "cert", required_argument, NULL, OPT_CERT },
        { "alg", required_argument, NULL, OPT_ALG },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "import-key";
    struct import_args a = { .key_file = "-" };
    const cli_command_def def = { cmd, import_key_help, CLI_TOKEN, opts, NULL, take, &a };
    cli_common o;
    p11jwt_token *tok = NULL;
    p11jwt_alg alg = P11JWT_ALG_UNKNOWN;
    char *kid = NULL;
    struct stat st;
    int file = 0, r;
    p11jwt_rc rc;

    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument (the key is read from --key-file or "
                              "standard input)");
    if (a.kid != NULL && a.kid[0] == '\0')
        return cli_usage(cmd, "--kid is empty");
    if (a.cert != NULL && (a.cert[0] == '\0' || strcmp(a.cert, "-") == 0))
        return cli_usage(cmd, "--cert names the certificate's file");
    if (a.alg != NULL && cli_parse_alg(a.alg, 1, 0, &alg) != 0)
        return cli_usage(cmd, "--alg must be ES256, ES384, ES512, RS256, RS384, RS512, PS256, "
                              "PS384 or PS512, not '%s'", a.alg);
    file = a.key_file[0] != '\0' && !(a.key_file[0] == '-' && a.key_file[1] == '\0');
    if ((r = cli_token_open(cmd, &o.token, &tok)) != 0)
        return r;
    rc = p11jwt_key_import_file_as(tok, alg, a.key_file, a.pass_file, a.kid, a.label, &kid);
    if (rc != P11JWT_OK) {
        r = cli_fail(cmd, rc);
        goto out;
    }
    if (a.cert != NULL && (r = store_cert(cmd, tok, kid, a.cert, a.label)) != 0)
        goto out;
    printf("%s\n", kid);
    r = cli_flush(cmd);
    /* Said after the kid, on stderr: stdout stays the kid alone. */
    if (r == 0 && file && stat(a.key_file, &st) == 0 && (st.st_mode & 077) != 0) {
        char shown[512];

        p11jwt_escape(shown, sizeof shown, a.key_file, strlen(a.key_file), 0);
        fprintf(stderr,
                "p11jwt: import-key: warning: %s can be read by %s (mode %04o): delete it "
                "now that the key is in the token\n",
                shown, (st.st_mode & 007) != 0 ? "others" : "its group",
                (unsigned)(st.st_mode & 07777));
    } else if (r == 0 && file && isatty(STDERR_FILENO)) {
        char shown[512];

        p11jwt_escape(shown, sizeof shown, a.key_file, strlen(a.key_file), 0);
        fprintf(stderr, "p11jwt: import-key: the key is in the token: delete %s\n", shown);
    }
out:
    free(kid);
    p11jwt_token_free(tok);
    return r;
}
