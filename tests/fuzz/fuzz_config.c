/*
 * fuzz_config.c — the config file (src/exchange/ini.c, config.c,
 * profile.c): the INI lexer, the list of [profile NAME] sections, and each
 * named profile read through its key table (types, bounds, defaults,
 * dialect presets, what each dialect needs), then the token request its
 * dialect would build from it. A profile that is accepted must be usable:
 * its token_url passes the URL rules, its bounded durations are in
 * bounds, it equals itself, and reading it twice gives the same profile.
 */
#include "fuzz.h"

#include "exchange/exchange_int.h"

static void one_profile(const char *data, size_t size, const char *name)
{
    p11jwt_profile *p = NULL, *again = NULL;
    exch_inputs in = { "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "s3cret" };
    exch_built b;

    if (exch_profile_parse(data, size, "fuzz.conf", name, &p) != P11JWT_OK) {
        FUZZ_CHECK(p == NULL);
        FUZZ_CHECK(strchr(p11jwt_errmsg(), '\n') == NULL);
        return;
    }
    FUZZ_CHECK(strcmp(p->name, name) == 0);
    FUZZ_CHECK(p->token_url != NULL);
    FUZZ_CHECK(exch_url_check(p->token_url, "token_url", P11JWT_ERR_CONFIG) == P11JWT_OK);
    FUZZ_CHECK(p->ttl >= 1 && p->ttl <= P11JWT_MAX_DURATION);
    FUZZ_CHECK(p->default_lifetime >= 0 && p->default_lifetime <= P11JWT_MAX_DURATION);
    FUZZ_CHECK(p->iat_backdate >= 0 && p->iat_backdate <= P11JWT_MAX_DURATION);
    FUZZ_CHECK(p->timeout >= 1 && p->connect_timeout >= 1);
    FUZZ_CHECK(p->keyring != NULL && p->resource_auth != NULL);
    FUZZ_CHECK(!p11_uri_has_pin_value(p->token) && !p11_uri_has_pin_value(p->client_key));
    FUZZ_CHECK(p11jwt_profile_same(p, p));
    FUZZ_CHECK(exch_profile_parse(data, size, "fuzz.conf", name, &again) == P11JWT_OK);
    FUZZ_CHECK(p11jwt_profile_same(p, again));
    memset(&b, 0, sizeof b);
    if (exch_dialect_build(p, &in, &b) == P11JWT_OK) {
        FUZZ_CHECK(b.url != NULL && b.method != NULL);
        exch_built_clear(&b);
    }
    p11jwt_profile_free(again);
    p11jwt_profile_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    exch_profile_parser ps;
    char **names = NULL;
    size_t n = 0;
    p11jwt_rc rc;

    /* pin_credential = NAME reads this (systemd's LoadCredential=). */
    setenv("CREDENTIALS_DIRECTORY", "/run/credentials/p11jwt-agent.service", 0);
    exch_config_parser_init(&ps, "fuzz.conf", NULL, "");
    ps.names = &names;
    ps.nnames = &n;
    rc = exch_ini_parse(&ps.ini, (const char *)data, size);
    if (rc != P11JWT_OK)
        FUZZ_CHECK(strchr(p11jwt_errmsg(), '\n') == NULL);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(names[i][0] != '\0');
        if (i < 4)
            one_profile((const char *)data, size, names[i]);
    }
    p11jwt_config_profiles_free(names, n);
    /* A name no section has. */
    one_profile((const char *)data, size, "p");
    return 0;
}
