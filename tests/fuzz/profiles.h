/*
 * profiles.h — one minimal profile of every dialect, read by the config
 * parser itself (so the token-response and OAuth-error targets see what a
 * real profile gives them). The same text is the config target's seed
 * corpus/config/every_dialect.
 */
#ifndef P11JWT_FUZZ_PROFILES_H
#define P11JWT_FUZZ_PROFILES_H

#include "exchange/exchange_int.h"

static const char fuzz_profiles_conf[] =
    "[profile dt]\n"
    "dialect = dt\ntoken = pkcs11:token=prod\nkid = k1\niss = sa@example.com\n"
    "token_url = https://identity.example.com/oauth2/token\n"
    "[profile neowit]\n"
    "dialect = neowit\ntoken = pkcs11:token=prod\nkid = k1\niss = sa\n"
    "token_url = https://neowit.example.com/token\n"
    "[profile noa]\n"
    "dialect = noa\ntoken = pkcs11:token=prod\nkid = k1\niss = backend\n"
    "claim.organization = 0b7c1f0e\ntoken_url = https://sts.example.com/jwt\n"
    "[profile jsa]\n"
    "dialect = jsa\nclient_id = cid\nclient_secret_env = SECRET\n"
    "token_url = https://jsa.example.com/oauth/token\n"
    "[profile rfc7523]\n"
    "dialect = rfc7523\ntoken = pkcs11:token=prod\nkid = k1\niss = svc\nscope = read\n"
    "token_url = http://127.0.0.1:8080/token\n"
    "[profile cc]\n"
    "dialect = client-credentials\nclient_id = cid\nclient_secret_file = /dev/null\n"
    "auth_method = post-form\ntoken_url = https://sts.example.com/token\n"
    "[profile pkj]\n"
    "dialect = private-key-jwt\ntoken = pkcs11:token=prod\nkid = k1\nclient_id = cid\n"
    "token_url = https://[::1]:8443/token\n";

static const char *const fuzz_profile_names[] = { "dt",      "neowit", "noa", "jsa",
                                                  "rfc7523", "cc",     "pkj" };
#define FUZZ_NPROFILES (sizeof fuzz_profile_names / sizeof fuzz_profile_names[0])

/* The profiles, read once; kept for the process (reachable, not a leak). */
static p11jwt_profile *fuzz_profile(size_t i)
{
    static p11jwt_profile *p[FUZZ_NPROFILES];

    if (p[i] == NULL &&
        exch_profile_parse(fuzz_profiles_conf, sizeof fuzz_profiles_conf - 1, "fuzz.conf",
                           fuzz_profile_names[i], &p[i]) != P11JWT_OK) {
        fprintf(stderr, "fuzz: profile %s: %s\n", fuzz_profile_names[i], p11jwt_errmsg());
        abort();
    }
    return p[i];
}

#endif
