/*
 * cmd_import_cert.c — p11jwt import-cert: a key's X.509 certificate into
 * the token, next to the key (same kid), where sign --x5t and a profile's
 * x5t = yes find it. The library checks that it holds the key's public
 * key; here only the options.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

enum {
    OPT_KID = OPT_FIRST_COMMAND_OPTION,
    OPT_LABEL,
    OPT_CERT,
};

struct import_cert_args {
    const char *kid, *label, *cert;
};

static int take(int c, const char *arg, void *ctx)
{
    struct import_cert_args *a = ctx;

    switch (c) {
    case OPT_KID: a->kid = arg; break;
    case OPT_LABEL: a->label = arg; break;
    case OPT_CERT: a->cert = arg; break;
    }
    return 0;
}

static const char import_cert_help[] =
    "Usage: p11jwt import-cert --token URI --kid KID --cert PATH [--label TEXT]\n\n"
    "Store the X.509 certificate of key KID in the token: a public certificate\n"
    "object (CKO_CERTIFICATE, CKC_X_509) with the key's kid as CKA_ID, where\n"
    "sign --x5t/--x5t-s256 and a profile's x5t = yes find it without cert. A\n"
    "certificate that does not hold the key's public key is refused (checked by a\n"
    "signature of the key), as is a second certificate for the same kid. delete\n"
    "--kid removes it with the key.\n\n"
    "Options:\n"
    "  --kid KID          the key the certificate is for (default: object=/id= of\n"
    "                     the URI)\n"
    "  --cert PATH        the certificate, PEM (its first certificate) or DER\n"
    "  --label TEXT       its CKA_LABEL (default: the kid)\n"
    "  -h, --help         show this help\n" CLI_TOKEN_HELP;

int cmd_import_cert(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "kid", required_argument, NULL, OPT_KID },
        { "label", required_argument, NULL, OPT_LABEL },
        { "cert", required_argument, NULL, OPT_CERT },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "import-cert", *kid;
    struct import_cert_args a = { NULL, NULL, NULL };
    const cli_command_def def = { cmd, import_cert_help, CLI_TOKEN, opts, NULL, take, &a };
    cli_common o;
    p11jwt_token *tok = NULL;
    p11jwt_rc rc;
    int r;

    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (a.cert == NULL || a.cert[0] == '\0' || strcmp(a.cert, "-") == 0)
        return cli_usage(cmd, "--cert PATH is required (the certificate's file)");
    if (a.kid != NULL && a.kid[0] == '\0')
        return cli_usage(cmd, "--kid is empty");
    if (a.label != NULL && a.label[0] == '\0')
        return cli_usage(cmd, "--label is empty");
    if ((r = cli_token_open(cmd, &o.token, &tok)) != 0)
        return r;
    kid = a.kid != NULL ? a.kid : p11jwt_token_uri_kid(tok);
    if (kid == NULL || kid[0] == '\0') {
        r = cli_usage(cmd, "--kid is required (or object=/id= in the token URI)");
        goto out;
    }
    rc = p11jwt_cert_import(tok, kid, a.cert, a.label);
    r = rc == P11JWT_OK ? 0 : cli_fail(cmd, rc);
out:
    p11jwt_token_free(tok);
    return r;
}
