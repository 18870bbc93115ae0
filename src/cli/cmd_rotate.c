/*
 * cmd_rotate.c — `p11jwt rotate status|stage|promote|retire|auto|forget`: key
 * rotation by kid for a profile's keyring, whose state lives in the token
 * (docs/rotation.md).
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char rotate_help[] =
    "Usage: p11jwt rotate status  --profile NAME [--config PATH] [--json]\n"
    "       p11jwt rotate stage   --profile NAME [--config PATH] [--kid KID]\n"
    "                             [--secret-file PATH|-]\n"
    "       p11jwt rotate promote --profile NAME [--config PATH]\n"
    "       p11jwt rotate retire  --profile NAME [--config PATH] [--kid KID] --yes\n"
    "       p11jwt rotate auto    --profile NAME [--config PATH]\n"
    "       p11jwt rotate forget  --profile NAME [--config PATH] --yes\n"
    "\n"
    "Rotate the profile's signing key by kid. The keyring (one active key, at\n"
    "most one next key, previous keys) is stored in the token next to the keys,\n"
    "so every host using the token agrees on the active kid.\n"
    "\n"
    "  status   the keyring's version and its active, next and previous kids\n"
    "           with their algs and dates (RFC 3339, UTC); says when the keyring\n"
    "           chooses another kid than the profile's\n"
    "  stage    make the next key: EC, RSA or Ed25519, generated in the token\n"
    "           like the active one (same alg; RSA: 3072 bits; --kid: its kid,\n"
    "           default the thumbprint); HS*, the provider's new secret imported\n"
    "           under its new kid (--secret-file, --kid).\n"
    "           Prints the JWKS of active + next (EC, RSA, Ed25519) to register\n"
    "           at the STS; for HS*, what was staged (no public key to register),\n"
    "           and without --kid or --secret-file it is a usage error\n"
    "  promote  next becomes active, active becomes previous\n"
    "  retire   destroy previous keys older than the grace period, or the\n"
    "           previous key --kid (never the active or next key); needs --yes\n"
    "  auto     one policy step for a timer: the first run adopts the profile's\n"
    "           kid as the active key (stores the keyring, dated now); then\n"
    "           stage when the active key is older than rotate_after (EC, RSA,\n"
    "           Ed25519; HS*: says the whole rotate stage command to run), promote\n"
    "           when next was staged more than overlap ago, retire previous keys\n"
    "           older than grace; runs\n"
    "           publish_command with the JWKS once when anything changed\n"
    "           (stage, promote and retire run it after their change too)\n"
    "  forget   drop the keyring's state from the token (every version), keep\n"
    "           its keys: the profile's kid signs again; needs --yes\n"
    "\n"
    "Options:\n"
    "  --profile NAME       the profile (required)\n"
    "  --config PATH        the config file (default: $P11JWT_CONFIG, else\n"
    "                       ~/.config/p11jwt/config, else /etc/p11jwt/config)\n"
    "  --json               status: as JSON\n"
    "  --kid KID            stage: the new key's kid; retire: the key to retire\n"
    "  --secret-file PATH   stage (HS*, required there): the new secret ('-':\n"
    "                       standard input); one trailing newline stripped\n"
    "  --yes                retire, forget: confirm\n"
    "  -h, --help           show this help\n"
    "\n"
    "Profile keys: keyring (default: the profile name), rotate_after (90d),\n"
    "overlap (1d), grace (7d), publish_command, audit (off | syslog |\n"
    "file:PATH); see docs/rotation.md.\n"
    "\n"
    "Steps on one keyring run one at a time on a host: a lock file in\n"
    "$RUNTIME_DIRECTORY, else /run/p11jwt/lock if it is this user's, else\n"
    "$XDG_RUNTIME_DIR/p11jwt, else /tmp/p11jwt-UID (a directory of this user's\n"
    "that neither group nor others can write). A step waits at most P11JWT_LOCK_TIMEOUT\n"
    "seconds (default 30) for another one, then fails naming the lock file.\n";

enum { OPT_JSON = OPT_FIRST_COMMAND_OPTION, OPT_KID, OPT_SECRET_FILE, OPT_YES };

/* The command's own options, as they come. */
struct rotate_args {
    int json, yes;
    const char *kid, *secret_file;
};

static int take(int c, const char *arg, void *ctx)
{
    struct rotate_args *a = ctx;

    switch (c) {
    case OPT_JSON: a->json = 1; break;
    case OPT_KID: a->kid = arg; break;
    case OPT_SECRET_FILE: a->secret_file = arg; break;
    case OPT_YES: a->yes = 1; break;
    }
    return 0;
}

/* A time from the keyring state as RFC 3339 UTC; "unknown" for 0. */
static const char *when(json_int_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "unknown");
    return buf;
}

/* A value of the keyring state (from the token) as it may be printed. */
static const char *shown(const char *s, char *buf, size_t cap)
{
    p11jwt_escape(buf, cap, s != NULL ? s : "-", s != NULL ? strlen(s) : 1, 0);
    return buf;
}

static int print_text_status(const char *json, const char *profile)
{
    json_t *o = json_loads(json, 0, NULL), *prev, *k;
    char name[256], kid[256], alg[32], date[64], pn[256];
    size_t i;

    if (o == NULL)
        return 1;
    printf("keyring %s (version %lld%s)\n",
           shown(json_string_value(json_object_get(o, "keyring")), name, sizeof name),
           (long long)json_integer_value(json_object_get(o, "version")),
           json_is_false(json_object_get(o, "stored")) ? ", not stored yet: the profile's kid"
                                                       : "");
    if (json_is_string(json_object_get(o, "profile_kid")))
        printf("  (the keyring chooses the active kid: the profile's kid %s is not used;\n"
               "   if another config left this keyring, 'p11jwt rotate forget --profile %s\n"
               "   --yes' drops its state and keeps the keys)\n",
               shown(json_string_value(json_object_get(o, "profile_kid")), kid, sizeof kid),
               shown(profile, pn, sizeof pn));
#define ROW(state, e)                                                                    \
    printf("  %-9s %-44s %-6s since %s\n", state,                                         \
           shown(json_string_value(json_object_get(e, "kid")), kid, sizeof kid),          \
           shown(json_string_value(json_object_get(e, "alg")), alg, sizeof alg),          \
           when(json_integer_value(json_object_get(e, "since")), date, sizeof date))
    ROW("active", json_object_get(o, "active"));
    if (json_is_object(json_object_get(o, "next")))
        ROW("next", json_object_get(o, "next"));
    prev = json_object_get(o, "previous");
    json_array_foreach(prev, i, k)
        ROW("previous", k);
#undef ROW
    json_decref(o);
    return 0;
}

int cmd_rotate(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "kid", required_argument, NULL, OPT_KID },
        { "secret-file", required_argument, NULL, OPT_SECRET_FILE },
        { "yes", no_argument, NULL, OPT_YES },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "rotate", *sub, *kid, *secret_file;
    struct rotate_args a = { 0 };
    const cli_command_def def = { cmd, rotate_help, CLI_PROFILE | CLI_CONFIG, opts, NULL, take,
                                  &a };
    cli_common o;
    int json, yes, r = 0, hmac = 0;
    char hs_alg[16] = "";
    p11jwt_client *cl = NULL;
    unsigned char *secret = NULL;
    size_t secret_len = 0;
    char *out = NULL;
    p11jwt_rc rc;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(rotate_help, stdout);
        return 0;
    }
    if (argc < 2 || argv[1][0] == '-')
        return cli_usage(cmd,
                         "a subcommand is required: status, stage, promote, retire, auto, forget");
    sub = argv[1];
    argc--;
    argv++;
    if ((r = cli_options_parse(&def, argc, argv, &o)) != CLI_CONTINUE)
        return r;
    json = a.json;
    yes = a.yes;
    kid = a.kid;
    secret_file = a.secret_file;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (strcmp(sub, "status") != 0 && strcmp(sub, "stage") != 0 && strcmp(sub, "promote") != 0 &&
        strcmp(sub, "retire") != 0 && strcmp(sub, "auto") != 0 && strcmp(sub, "forget") != 0)
        return cli_usage(cmd,
                         "unknown subcommand '%s' (status, stage, promote, retire, auto, forget)",
                         sub);
    if (json && strcmp(sub, "status") != 0)
        return cli_usage(cmd, "--json applies to status");
    if (secret_file != NULL && strcmp(sub, "stage") != 0)
        return cli_usage(cmd, "--secret-file applies to stage");
    if (kid != NULL && strcmp(sub, "stage") != 0 && strcmp(sub, "retire") != 0)
        return cli_usage(cmd, "--kid applies to stage and retire");
    if (strcmp(sub, "retire") == 0 && !yes)
        return cli_usage(cmd, "retire destroys keys: confirm with --yes");
    if (strcmp(sub, "forget") == 0 && !yes)
        return cli_usage(cmd, "forget drops the keyring's state: confirm with --yes");
    if (yes && strcmp(sub, "retire") != 0 && strcmp(sub, "forget") != 0)
        return cli_usage(cmd, "--yes applies to retire and forget");

    if ((r = cli_client_open(cmd, o.config, o.profile, &cl)) != 0)
        return r;
    if (strcmp(sub, "status") == 0) {
        rc = p11jwt_rotate_status(cl, &out);
        if (rc == P11JWT_OK)
            r = json ? (puts(out) < 0) : print_text_status(out, o.profile);
    } else if (strcmp(sub, "stage") == 0) {
        /* An HS* stage needs the provider's new secret and its key id: a
         * usage error without them, before anything is read. */
        const char *alg = NULL;
        char *st = NULL;
        json_t *sj = NULL;

        if (p11jwt_rotate_status(cl, &st) == P11JWT_OK && (sj = json_loads(st, 0, NULL)) != NULL)
            alg = json_string_value(json_object_get(json_object_get(sj, "active"), "alg"));
        hmac = alg != NULL && strncmp(alg, "HS", 2) == 0;
        if (hmac)
            snprintf(hs_alg, sizeof hs_alg, "%s", alg);
        json_decref(sj);
        p11jwt_free(st);
        if (hmac && (secret_file == NULL || kid == NULL)) {
            char pn[256], cf[256];

            r = cli_usage(cmd,
                          "the keyring's keys are %s secrets issued by the provider: give the "
                          "new key's id and secret (p11jwt rotate stage --profile %s%s%s --kid "
                          "NEW_KEY_ID --secret-file PATH)",
                          hs_alg, shown(o.profile, pn, sizeof pn),
                          o.config != NULL ? " --config " : "",
                          o.config != NULL ? shown(o.config, cf, sizeof cf) : "");
            goto out;
        }
        if (secret_file != NULL) {
            rc = p11jwt_secret_read_file(secret_file, CLI_SECRET_MAX, &secret, &secret_len);
            if (rc != P11JWT_OK) {
                r = cli_fail(cmd, rc);
                goto out;
            }
        }
        rc = p11jwt_rotate_stage(cl, secret, secret_len, kid, &out);
        if (rc == P11JWT_OK && hmac) {
            /* No public key: say what was staged instead of an empty JWKS,
             * in which keyring and version (read back: the stage stored it). */
            char k[256], pn[256], kn[256] = "?", cf[256];
            long long version = 0;

            st = NULL;
            sj = NULL;
            if (p11jwt_rotate_status(cl, &st) == P11JWT_OK &&
                (sj = json_loads(st, 0, NULL)) != NULL) {
                shown(json_string_value(json_object_get(sj, "keyring")), kn, sizeof kn);
                version = (long long)json_integer_value(json_object_get(sj, "version"));
            }
            json_decref(sj);
            p11jwt_free(st);
            shown(o.profile, pn, sizeof pn);
            r = printf("staged %s key '%s' as next in keyring '%s' (version %lld); an HMAC "
                       "secret has no public key to register (the provider issued this key "
                       "id). Next, once the provider accepts it: p11jwt rotate promote "
                       "--profile %s%s%s\n",
                       hs_alg, shown(kid, k, sizeof k), kn, version, pn,
                       o.config != NULL ? " --config " : "",
                       o.config != NULL ? shown(o.config, cf, sizeof cf) : "") < 0;
        } else if (rc == P11JWT_OK) {
            json_t *j = json_loads(out, 0, NULL);

            r = j == NULL || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
                putchar('\n') == EOF;
            json_decref(j);
        }
    } else if (strcmp(sub, "promote") == 0) {
        rc = p11jwt_rotate_promote(cl, &out);
        if (rc == P11JWT_OK)
            r = fputs(out, stdout) < 0;
    } else if (strcmp(sub, "retire") == 0) {
        rc = p11jwt_rotate_retire(cl, kid, &out);
        if (rc == P11JWT_OK)
            r = fputs(out, stdout) < 0;
    } else if (strcmp(sub, "forget") == 0) {
        rc = p11jwt_rotate_forget(cl, &out);
        if (rc == P11JWT_OK)
            r = fputs(out, stdout) < 0;
    } else {
        rc = p11jwt_rotate_auto(cl, &out);
        if (rc == P11JWT_OK)
            r = fputs(out, stdout) < 0;
    }
    if (rc != P11JWT_OK)
        r = cli_fail(cmd, rc);
    else if (r != 0 || fflush(stdout) != 0)
        r = cli_error(cmd, "cannot write to standard output");
out:
    p11jwt_free(out);
    if (secret != NULL)
        p11jwt_secret_free(secret, secret_len);
    p11jwt_client_free(cl);
    return r;
}
