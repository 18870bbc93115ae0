/*
 * consumer.c — a program from outside the project, built against an
 * INSTALLED libp11jwt (pkg-config or find_package, shared or static) by
 * tests/consumer/run.sh, as any application would be: <p11jwt.h> and the
 * public API only, nothing from src/.
 *
 * It signs two assertions with one key of a SoftHSM token: one through the
 * token API (the README's library example), one through a profile and a
 * client (the exchange layer: its profile's token_url is parsed by
 * libcurl, which the library loads at that point; p11jwt_client_assertion
 * sends nothing). PyJWT checks both.
 *
 *   consumer TOKEN-URI PIN-FILE KID CONFIG PROFILE
 *
 * Prints the two JWS, one per line. Exit 0, or 1 with "consumer: ..." on
 * stderr.
 */
#include <p11jwt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what)
{
    fprintf(stderr, "consumer: %s: %s\n", what, p11jwt_errmsg());
    return 1;
}

int main(int argc, char *argv[])
{
    p11jwt_token *tok = NULL;
    p11jwt_key *key = NULL;
    p11jwt_profile *profile = NULL;
    p11jwt_client *client = NULL;
    char *jws = NULL, *jws2 = NULL;
    int rc = 1;

    if (argc != 6) {
        fprintf(stderr, "usage: consumer TOKEN-URI PIN-FILE KID CONFIG PROFILE\n");
        return 2;
    }
    /* The token API. */
    p11jwt_claims_params c = {
        .iss = "consumer", .aud = "https://sts.example/oauth2/token", .ttl = 300,
    };
    tok = p11jwt_token_new();
    if (tok == NULL) {
        fprintf(stderr, "consumer: out of memory\n");
        goto out;
    }
    if (p11jwt_token_set_pin_file(tok, argv[2]) != P11JWT_OK) {
        rc = fail("pin file");
        goto out;
    }
    if (p11jwt_token_open(tok, argv[1]) != P11JWT_OK ||
        p11jwt_key_open(tok, argv[3], &key) != P11JWT_OK ||
        p11jwt_assertion_sign(key, &c, &jws) != P11JWT_OK) {
        rc = fail("sign");
        goto out;
    }
    printf("%s\n", jws);

    /* A profile and a client. */
    if (p11jwt_profile_load(argv[4], argv[5], &profile) != P11JWT_OK) {
        rc = fail("profile");
        goto out;
    }
    if (p11jwt_client_new(profile, &client) != P11JWT_OK) {
        profile = NULL; /* the client took it, even on failure */
        rc = fail("client");
        goto out;
    }
    profile = NULL;
    if (p11jwt_client_assertion(client, &jws2) != P11JWT_OK) {
        rc = fail("client assertion");
        goto out;
    }
    printf("%s\n", jws2);
    rc = fflush(stdout) == 0 ? 0 : 1;

out:
    p11jwt_free(jws2);
    p11jwt_free(jws);
    p11jwt_client_free(client);
    p11jwt_profile_free(profile);
    p11jwt_key_free(key);
    p11jwt_token_free(tok);
    return rc;
}
