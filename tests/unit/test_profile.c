/*
 * test_profile.c — the config parser, a pure function of the file's bytes
 * (exch_profile_parse): every kind of key of the table (text, duration,
 * whole number, seconds, milliseconds, yes/no, dialect, auth_method,
 * resource_auth, alg, claim.NAME, header.NAME) with its bounds and
 * defaults, the dialects' needs and presets, the INI lexer's refusals,
 * and each error's form:
 * "FILE:LINE: KEY: message", or "FILE:LINE: message" without a key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchange/exchange_int.h"

/* A dt profile with everything it needs, then `extra` (lines). */
#define HEAD "[profile t]\n"
#define DT                                                                      \
    HEAD "dialect = dt\ntoken = pkcs11:token=x\nkid = k\niss = i\n"                 \
         "token_url = https://sts.example/token\n"
#define CC                                                                      \
    HEAD "dialect = client-credentials\nclient_id = c\nclient_secret_env = S\n"       \
         "token_url = https://sts.example/t\n"

static p11jwt_profile *parse_ok(const char *text)
{
    p11jwt_profile *p = NULL;
    p11jwt_rc rc = exch_profile_parse(text, strlen(text), "cfg", "t", &p);

    if (rc != P11JWT_OK)
        fail_msg("parse failed: %s\n%s", p11jwt_errmsg(), text);
    return p;
}

/* Parses text expecting a refusal whose message is exactly want. */
static void refused(const char *text, const char *want)
{
    p11jwt_profile *p = NULL;
    p11jwt_rc rc = exch_profile_parse(text, strlen(text), "cfg", "t", &p);

    if (rc != P11JWT_ERR_CONFIG || p != NULL || strcmp(p11jwt_errmsg(), want) != 0)
        fail_msg("for:\n%s\nwant rc %d \"%s\"\ngot  rc %d \"%s\"", text, P11JWT_ERR_CONFIG, want,
                 rc, p11jwt_errmsg());
}

static void defaults(void **state)
{
    p11jwt_profile *p = parse_ok(DT);

    (void)state;
    assert_int_equal(p->dialect, EXCH_DT);
    assert_int_equal(p->ttl, 300);
    assert_int_equal(p->default_lifetime, 3600);
    assert_int_equal(p->refresh_ahead, -1);
    assert_int_equal(p->timeout, 30);
    assert_int_equal(p->connect_timeout, 10);
    assert_int_equal(p->max_retries, 3);
    assert_true(p->retry_base == 0.5);
    assert_true(p->retry_max_delay == 30);
    assert_int_equal(p->iat_backdate, 0);
    assert_int_equal(p->rotate_after, 90 * 86400);
    assert_int_equal(p->overlap, 86400);
    assert_int_equal(p->grace, 7 * 86400);
    assert_string_equal(p->keyring, "t");
    assert_null(p->audit);
    assert_int_equal(p->line, 1);
    p11jwt_profile_free(p);
}

static void text_keys(void **state)
{
    p11jwt_profile *p = parse_ok(DT "scope = \"  a b  \"\nsub = s\naud = A\nca_file = /ca\n"
                                    "claim.org = uuid\nclaim.n = 1\nheader.X-A = v\n"
                                    "keyring = ring\naudit = syslog\npublish_command = true\n"
                                    "allow = uid:1\n");

    (void)state;
    assert_string_equal(p->scope, "  a b  "); /* quotes keep the spaces */
    assert_string_equal(p->sub, "s");
    assert_string_equal(p->aud, "A");
    assert_string_equal(p->ca_file, "/ca");
    assert_int_equal(p->nclaims, 2);
    assert_string_equal(p->claims[0].name, "org");
    assert_string_equal(p->claims[0].value, "uuid");
    assert_int_equal(p->nheaders, 1);
    assert_string_equal(p->headers[0].name, "X-A");
    assert_string_equal(p->keyring, "ring");
    assert_string_equal(p11jwt_profile_allow(p), "uid:1");
    p11jwt_profile_free(p);
    refused(DT "sub =\n", "cfg:7: sub: empty value");
    refused(DT "claim. = x\n", "cfg:7: claim.: a name is needed after the dot");
    refused(DT "claim.a = 1\nclaim.a = 2\n", "cfg:8: claim.a: set twice in this profile");
    refused(DT "header.X = 1\nheader.X = 2\n", "cfg:8: header.X: set twice in this profile");
    refused(DT "sub = a\nsub = b\n", "cfg:8: sub: set twice in this profile (first on line 7)");
    refused(DT "frobnicate = 1\n",
            "cfg:7: frobnicate: unknown key (see docs/exchange.md for the list)");
}

static void durations(void **state)
{
    static const struct {
        const char *v;
        int64_t want;
    } good[] = {
        { "0", 0 }, { "90", 90 }, { "90s", 90 }, { "15m", 900 }, { "12h", 43200 },
        { "90d", 90 * 86400 }, { "3650d", P11JWT_MAX_DURATION },
        { "315360000", P11JWT_MAX_DURATION }, { "87600h", P11JWT_MAX_DURATION },
    };
    static const char *const bad[] = { "", "-1", "1w", "1.5", "10ss", "3651d",
                                       "315360001", "99999999999999999999", "1 d", "d" };
    int64_t v;
    char text[512], want[512];
    p11jwt_profile *p;

    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(exch_parse_duration(good[i].v, P11JWT_MAX_DURATION, &v), 0);
        assert_int_equal(v, good[i].want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (exch_parse_duration(bad[i], P11JWT_MAX_DURATION, &v) == 0)
            fail_msg("duration '%s' was taken", bad[i]);
    /* Through the file, each duration key. */
    p = parse_ok(DT "ttl = 5m\ndefault_lifetime = 2h\nrefresh_ahead = 0\niat_backdate = 30s\n"
                    "rotate_after = 30d\noverlap = 1h\ngrace = 2d\ntimeout = 5\n"
                    "connect_timeout = 1\n");
    assert_int_equal(p->ttl, 300);
    assert_int_equal(p->default_lifetime, 7200);
    assert_int_equal(p->refresh_ahead, 0);
    assert_int_equal(p->iat_backdate, 30);
    assert_int_equal(p->rotate_after, 30 * 86400);
    assert_int_equal(p->timeout, 5);
    assert_int_equal(p->connect_timeout, 1);
    p11jwt_profile_free(p);
    snprintf(text, sizeof text, DT "grace = 3651d\n");
    snprintf(want, sizeof want,
             "cfg:7: grace: '3651d' is not a duration of at most 10 years (e.g. 300, 90s, 15m, "
             "12h, 90d; at most 3650d)");
    refused(text, want);
    /* The minimums, at the line that set the key (the header's when unset). */
    refused(DT "ttl = 0\n", "cfg:7: ttl: must be at least 1 second");
    refused(DT "timeout = 0\n", "cfg:7: timeout: must be at least 1 second");
    refused(DT "\nconnect_timeout = 0s\n", "cfg:8: connect_timeout: must be at least 1 second");
    refused(DT "ttl = 3601\n", "cfg:7: ttl: dt refuses assertions with exp - iat over 3600 s");
    p = parse_ok(DT "ttl = 3600\n");
    p11jwt_profile_free(p);
}

static void whole_numbers(void **state)
{
    p11jwt_profile *p;

    (void)state;
    p = parse_ok(DT "max_retries = 0\n");
    assert_int_equal(p->max_retries, 0);
    p11jwt_profile_free(p);
    p = parse_ok(DT "max_retries = 20\n");
    assert_int_equal(p->max_retries, 20);
    p11jwt_profile_free(p);
    refused(DT "max_retries = 21\n", "cfg:7: max_retries: '21' is not a whole number from 0 to 20");
    refused(DT "max_retries = -1\n", "cfg:7: max_retries: '-1' is not a whole number from 0 to 20");
    refused(DT "max_retries = 2x\n", "cfg:7: max_retries: '2x' is not a whole number from 0 to 20");
}

/* Regression: strtod takes "nan" (and NaN is within no bounds), so
 * retry_base and retry_max_delay took it and the backoff slept NaN. */
static void seconds(void **state)
{
    static const char *const bad[] = { "nan", "NAN", "-nan", "inf", "-inf", "infinity", "-0.1",
                                       "86400.5", "1e9", "0x", "", "1 s", "0.5s" };
    p11jwt_profile *p;
    double d;

    (void)state;
    assert_int_equal(exch_parse_seconds("0", 0, 86400, &d), 0);
    assert_true(d == 0);
    assert_int_equal(exch_parse_seconds("86400", 0, 86400, &d), 0);
    assert_int_equal(exch_parse_seconds("0.25", 0, 86400, &d), 0);
    assert_true(d == 0.25);
    assert_int_equal(exch_parse_seconds("1e2", 0, 86400, &d), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (exch_parse_seconds(bad[i], 0, 86400, &d) == 0)
            fail_msg("seconds '%s' were taken (%g)", bad[i], d);
    p = parse_ok(DT "retry_base = 0.1\nretry_max_delay = 2.5\n");
    assert_true(p->retry_base == 0.1);
    assert_true(p->retry_max_delay == 2.5);
    p11jwt_profile_free(p);
    refused(DT "retry_base = nan\n", "cfg:7: retry_base: 'nan' is not a number of seconds");
    refused(DT "retry_max_delay = NaN\n",
            "cfg:7: retry_max_delay: 'NaN' is not a number of seconds");
    refused(DT "retry_max_delay = inf\n",
            "cfg:7: retry_max_delay: 'inf' is not a number of seconds");
}

/* The two kinds the fleet and the certificate header brought: yes/no
 * switches and milliseconds, with their defaults and refusals. */
static void switches_and_millis(void **state)
{
    static const char *const yes[] = { "yes", "true", "1" }, *const no[] = { "no", "false", "0" };
    char text[512];
    p11jwt_profile *p;

    (void)state;
    p = parse_ok(DT);
    assert_int_equal(p->x5t, 0);
    assert_int_equal(p->x5t_s256, 0);
    assert_int_equal(p->cache_plaintext, 0);
    assert_int_equal(p->cache_timeout_ms, 250);
    assert_int_equal(p->cache_lock, 30);
    p11jwt_profile_free(p);
    for (size_t i = 0; i < 3; i++) {
        snprintf(text, sizeof text, DT "cert = /c.pem\nx5t = %s\nx5t_s256 = %s\n", yes[i], no[i]);
        p = parse_ok(text);
        assert_int_equal(p->x5t, 1);
        assert_int_equal(p->x5t_s256, 0);
        p11jwt_profile_free(p);
        snprintf(text, sizeof text, DT "cert = /c.pem\nx5t = %s\nx5t_s256 = %s\n", no[i], yes[i]);
        p = parse_ok(text);
        assert_int_equal(p->x5t, 0);
        assert_int_equal(p->x5t_s256, 1);
        p11jwt_profile_free(p);
    }
    refused(DT "x5t = maybe\n", "cfg:7: x5t: 'maybe' is not yes or no");
    refused(DT "x5t_s256 = YES\n", "cfg:7: x5t_s256: 'YES' is not yes or no");
    refused(DT "cert = /c.pem\n", "cfg:7: cert: needs x5t = yes or x5t_s256 = yes (the header "
                                  "names the certificate by its thumbprints)");
    refused(DT "cache_plaintext = yes\n",
            "cfg:7: cache_plaintext: needs cache = redis://... or redis+unix:///...");

    p = parse_ok(DT "cache_timeout = 2s\ncache_lock = 5\n");
    assert_int_equal(p->cache_timeout_ms, 2000);
    assert_int_equal(p->cache_lock, 5);
    p11jwt_profile_free(p);
    refused(DT "cache = redis://127.0.0.1:6379\ncache_plaintext = yes\ncache_lock = 0\n",
            "cfg:9: cache_lock: must be at least 1 second");
    p = parse_ok(DT "cache_timeout = 1\n");
    assert_int_equal(p->cache_timeout_ms, 1);
    p11jwt_profile_free(p);
    p = parse_ok(DT "cache_timeout = 60s\n");
    assert_int_equal(p->cache_timeout_ms, 60000);
    p11jwt_profile_free(p);
    refused(DT "cache_timeout = 0\n",
            "cfg:7: cache_timeout: '0' is not a time from 1 ms to 60 s (e.g. 250, 250ms, 1s)");
    refused(DT "cache_timeout = 61s\n",
            "cfg:7: cache_timeout: '61s' is not a time from 1 ms to 60 s (e.g. 250, 250ms, 1s)");
}

static void enums(void **state)
{
    p11jwt_profile *p;

    (void)state;
    p = parse_ok(CC "auth_method = post-form\nresource_auth = jwt\n");
    assert_int_equal(p->auth_method, EXCH_AUTH_POST_FORM);
    assert_string_equal(p->resource_auth, "JWT");
    p11jwt_profile_free(p);
    p = parse_ok(CC "auth_method = get-query\nresource_auth = BEARER\n");
    assert_int_equal(p->auth_method, EXCH_AUTH_GET_QUERY);
    assert_string_equal(p->resource_auth, "Bearer");
    p11jwt_profile_free(p);
    refused(CC "auth_method = digest\n",
            "cfg:6: auth_method: 'digest' is not get-query, basic or post-form");
    refused(CC "resource_auth = Basic\n", "cfg:6: resource_auth: 'Basic' is not Bearer or JWT");
    refused(HEAD "dialect = okta\n",
            "cfg:2: dialect: unknown dialect 'okta' (dt, neowit, noa, jsa, rfc7523, "
            "client-credentials, private-key-jwt)");
    /* alg: exact JWS names; unset is the key's own. */
    p = parse_ok(DT);
    assert_int_equal(p->alg, P11JWT_ALG_UNKNOWN);
    p11jwt_profile_free(p);
    p = parse_ok(DT "alg = HS384\n");
    assert_int_equal(p->alg, P11JWT_HS384);
    p11jwt_profile_free(p);
    refused(DT "alg = hs256\n",
            "cfg:7: alg: unknown alg 'hs256' (ES256, ES384, ES512, HS256, HS384, HS512, "
            "RS256, RS384, RS512, PS256, PS384, PS512, EdDSA)");
    refused(DT "alg = none\n",
            "cfg:7: alg: unknown alg 'none' (ES256, ES384, ES512, HS256, HS384, HS512, "
            "RS256, RS384, RS512, PS256, PS384, PS512, EdDSA)");
}

/* What each dialect needs, and what it presets when the file says nothing. */
static void dialects(void **state)
{
    p11jwt_profile *p;

    (void)state;
    refused(HEAD "token_url = https://x/\n", "cfg:1: profile 't' needs key 'dialect'");
    refused(HEAD "dialect = dt\n", "cfg:1: profile 't' (dialect dt) needs key 'token_url'");
    refused(HEAD "dialect = dt\ntoken_url = https://x/\n",
            "cfg:1: profile 't' (dialect dt) needs key 'token'");
    refused(HEAD "dialect = dt\ntoken_url = https://x/\ntoken = pkcs11:\n",
            "cfg:1: profile 't' (dialect dt) needs key 'kid'");
    refused(HEAD "dialect = dt\ntoken_url = https://x/\ntoken = pkcs11:\nkid = k\n",
            "cfg:1: profile 't' (dialect dt) needs key 'iss'");
    refused(HEAD "dialect = private-key-jwt\ntoken_url = https://x/\ntoken = pkcs11:\nkid = k\n",
            "cfg:1: profile 't' (dialect private-key-jwt) needs key 'client_id'");
    refused(HEAD "dialect = jsa\ntoken_url = https://x/\n",
            "cfg:1: profile 't' (dialect jsa) needs key 'client_id'");
    refused(HEAD "dialect = jsa\ntoken_url = https://x/\nclient_id = c\n",
            "cfg:1: profile 't' (dialect jsa) needs client_secret_file or client_secret_env");
    refused(DT "client_cert = /c\n", "cfg:7: profile 't': client_cert needs client_key");
    refused(DT "client_key = /k\n", "cfg:7: profile 't': client_key needs client_cert");
    refused(DT "audit = file:rel\n",
            "cfg:7: audit: 'file:rel' is not off, syslog or file:/ABSOLUTE/PATH");

    p = parse_ok(DT);
    assert_string_equal(p->aud, "https://sts.example/token");
    assert_string_equal(p->resource_auth, "Bearer");
    assert_int_equal(p->nheaders, 0);
    assert_int_equal(p->auth_method, EXCH_AUTH_BASIC);
    p11jwt_profile_free(p);
    p = parse_ok(HEAD "dialect = noa\ntoken = pkcs11:\nkid = k\niss = i\n"
                      "token_url = https://noa/t\nclaim.organization = o\n");
    assert_null(p->aud);
    assert_string_equal(p->resource_auth, "JWT");
    assert_int_equal(p->nheaders, 1);
    assert_string_equal(p->headers[0].name, "Accept");
    assert_string_equal(p->headers[0].value, "application/json; version=1.0");
    p11jwt_profile_free(p);
    p = parse_ok(HEAD "dialect = noa\ntoken = pkcs11:\nkid = k\niss = i\n"
                      "token_url = https://noa/t\nheader.accept = text/plain\n"
                      "claim.organization = o\n");
    assert_int_equal(p->nheaders, 1); /* the file's Accept wins, any case */
    p11jwt_profile_free(p);
    p = parse_ok(HEAD "dialect = jsa\ntoken_url = https://x/\nclient_id = c\n"
                      "client_secret_file = /s\n");
    assert_int_equal(p->auth_method, EXCH_AUTH_GET_QUERY);
    p11jwt_profile_free(p);
    p = parse_ok(HEAD "dialect = neowit\ntoken = pkcs11:\nkid = k\niss = i\n"
                      "token_url = https://x/\nttl = 1h\n");
    assert_int_equal(p->ttl, 3600);
    p11jwt_profile_free(p);
}

/* Comments are whole lines only: a '#' after a value is the value's (the
 * --help, the man page and docs/exchange.md say so). */
static void no_trailing_comments(void **state)
{
    p11jwt_profile *p = parse_ok(DT "  # a comment\n; another\nscope = a b # not a comment\n");

    (void)state;
    assert_string_equal(p->scope, "a b # not a comment");
    p11jwt_profile_free(p);
    refused(HEAD "dialect = dt   # note\n", "cfg:2: dialect: unknown dialect 'dt   # note' (dt, "
                                            "neowit, noa, jsa, rfc7523, client-credentials, "
                                            "private-key-jwt)");
}

/* The providers' limits, checked when the profile loads (issue 17.8), and
 * one PIN source (17.7). */
static void dialect_limits(void **state)
{
    p11jwt_profile *p;

    (void)state;
    refused(HEAD "dialect = noa\ntoken = pkcs11:\nkid = k\niss = i\n"
                 "token_url = https://noa/t\n",
            "cfg:1: profile 't' (dialect noa) needs key 'claim.organization'");
    refused(HEAD "dialect = noa\ntoken = pkcs11:\nkid = k\niss = i\n"
                 "token_url = https://noa/t\nclaim.organization = o\nttl = 601\n",
            "cfg:8: ttl: noa refuses assertions with exp - iat over 600 s");
    p = parse_ok(HEAD "dialect = noa\ntoken = pkcs11:\nkid = k\niss = i\n"
                      "token_url = https://noa/t\nclaim.organization = o\nttl = 10m\n");
    assert_int_equal(p->ttl, 600);
    p11jwt_profile_free(p);
    refused(HEAD "dialect = neowit\ntoken = pkcs11:\nkid = k\niss = i\n"
                 "token_url = https://x/\nttl = 3601\n",
            "cfg:7: ttl: neowit refuses assertions with exp - iat over 3600 s");
    refused(DT "ttl = 61m\n", "cfg:7: ttl: dt refuses assertions with exp - iat over 3600 s");
    p = parse_ok(DT "ttl = 1h\n");
    assert_int_equal(p->ttl, 3600);
    p11jwt_profile_free(p);
    refused(DT "pin_file = /p\npin_env = P\n", "cfg:8: pin_env: give pin_file or pin_env, not both");
}

static void uris(void **state)
{
    (void)state;
    refused(HEAD "dialect = dt\ntoken = pkcs11:token=x\nkid = k\niss = i\n"
                 "token_url = http://sts.example/token\n",
            "cfg:6: profile 't': token_url http://sts.example/token: plain http is refused "
            "for non-loopback host 'sts.example'; use https");
    refused(HEAD "dialect = dt\ntoken = pkcs11:token=x;pin-value=1\nkid = k\niss = i\n"
                 "token_url = https://x/\n",
            "cfg:3: token: the token URI carries a PIN (pin-value=), which is refused: a URI is "
            "seen in the process list, shell history and logs; give the PIN with "
            "pin-source=FILE in the URI, --pin-file or --pin-env (in a profile: pin_file or "
            "pin_env)");
    /* p11-kit drops spaces anywhere in a URI: this is pin-value= to it
     * (found by tests/fuzz/fuzz_pkcs11_uri.c). */
    refused(HEAD "dialect = dt\ntoken = pkcs11:token=x?pin-val ue=1\nkid = k\niss = i\n"
                 "token_url = https://x/\n",
            "cfg:3: token: the token URI carries a PIN (pin-value=), which is refused: a URI is "
            "seen in the process list, shell history and logs; give the PIN with "
            "pin-source=FILE in the URI, --pin-file or --pin-env (in a profile: pin_file or "
            "pin_env)");
}

/* The lexer: what is not text, or not a line it knows. */
static void lexer(void **state)
{
    char longline[EXCH_INI_LINE_MAX + 64];
    p11jwt_profile *p = NULL;

    (void)state;
    refused("[profile t\n", "cfg:1: section header must be '[profile NAME]'");
    refused("[profile t] x\n", "cfg:1: section header must be '[profile NAME]'");
    refused("[t]\n", "cfg:1: unknown section '[t]' (expected '[profile NAME]')");
    refused("[profile   ]\n", "cfg:1: unknown section '[profile]' (expected '[profile NAME]')");
    refused("a = b\n", "cfg:1: a: key outside a [profile NAME] section");
    refused("[profile t]\n= b\n", "cfg:2: missing key before '='");
    refused("[profile t]\njust words\n",
            "cfg:2: expected 'key = value', '[profile NAME]' or a comment");
    refused("[profile t]\nsub = a\x01\n", "cfg:2: a control character (\\x01) at column 8");
    refused(DT HEAD, "cfg:7: profile 't' defined twice (first on line 1)");
    snprintf(longline, sizeof longline, "[profile t]\n# %0*d\n", EXCH_INI_LINE_MAX, 0);
    refused(longline, "cfg:2: line longer than 4095 bytes");
    /* A NUL byte is not text. */
    assert_int_equal(exch_profile_parse("[profile t]\n\0\n", 15, "cfg", "t", &p),
                     P11JWT_ERR_CONFIG);
    assert_string_equal(p11jwt_errmsg(), "cfg:2: a NUL byte at column 1: not a text file?");
    /* Comments, blank lines, CRLF, tabs, and other profiles (not read). */
    p = parse_ok("# c\n; c\n\n[profile other]\nfrob = 1\n[profile t]\r\n"
                 "dialect\t=\tdt\r\ntoken = pkcs11:token=x\nkid = k\niss = i\n"
                 "token_url = https://sts.example/token\n");
    assert_int_equal(p->line, 6);
    p11jwt_profile_free(p);
    refused("[profile other]\n", "cfg: no [profile t] section");
}

/* A reload keeps a client whose profile is the same, wherever it is. */
static void same(void **state)
{
    p11jwt_profile *a = parse_ok(DT "claim.o = 1\n"), *b = parse_ok("\n\n" DT "claim.o = 1\n");
    p11jwt_profile *c = parse_ok(DT "claim.o = 2\n"), *d = parse_ok(DT "claim.o = 1\nttl = 301\n");

    (void)state;
    assert_true(p11jwt_profile_same(a, b));
    assert_false(p11jwt_profile_same(a, c));
    assert_false(p11jwt_profile_same(a, d));
    p11jwt_profile_free(a);
    p11jwt_profile_free(b);
    p11jwt_profile_free(c);
    p11jwt_profile_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults), cmocka_unit_test(text_keys),
        cmocka_unit_test(durations), cmocka_unit_test(whole_numbers),
        cmocka_unit_test(seconds),  cmocka_unit_test(enums),
        cmocka_unit_test(switches_and_millis),
        cmocka_unit_test(dialects), cmocka_unit_test(uris),
        cmocka_unit_test(lexer),    cmocka_unit_test(same),
        cmocka_unit_test(dialect_limits), cmocka_unit_test(no_trailing_comments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
