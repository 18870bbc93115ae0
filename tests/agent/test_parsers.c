/*
 * test_parsers.c — the agent's and p11jwt-token's pure parsers on known
 * inputs: request targets (route.c), allow rules (peer.c), the JSON member
 * finder and unescaper, the HTTP head parser and the path escaper
 * (src/token-client). fuzz_parsers.c throws everything else at them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "token-client/ptc.h"

static void route(const char *target, agent_route *r)
{
    agent_route_parse(target, strlen(target), r);
}

static void routes(void **state)
{
    agent_route r;

    (void)state;
    route("/v1/token/dt", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.ep, EP_TOKEN);
    assert_string_equal(r.profile, "dt");
    assert_int_equal(r.min_valid, -1);
    route("/v1/token/my%20profile%2Fx?min_valid=300", &r);
    assert_int_equal(r.ep, EP_TOKEN);
    assert_string_equal(r.profile, "my profile/x");
    assert_int_equal(r.min_valid, 300);
    route("/v1/token/dt/invalidate", &r);
    assert_int_equal(r.ep, EP_INVALIDATE);
    assert_string_equal(r.profile, "dt");
    route("/v1/assertion/a.b-c_d", &r);
    assert_int_equal(r.ep, EP_ASSERTION);
    route("/v1/jwks/x", &r);
    assert_int_equal(r.ep, EP_JWKS);
    route("/v1/health", &r);
    assert_int_equal(r.ep, EP_HEALTH);
    route("/metrics", &r);
    assert_int_equal(r.ep, EP_METRICS);
    route("/v1/token/dt?", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.has_scope, 0);
    /* ?scope=: form-encoded, with min_valid in either order */
    route("/v1/token/dt?scope=read+write%20a%3Ab", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.has_scope, 1);
    assert_string_equal(r.scope, "read write a:b");
    assert_int_equal(r.min_valid, -1);
    route("/v1/token/dt?scope=b+a&min_valid=60", &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.scope, "b a");
    assert_int_equal(r.min_valid, 60);
    route("/v1/token/dt?min_valid=5&scope=x", &r);
    assert_int_equal(r.min_valid, 5);
    assert_string_equal(r.scope, "x");
    /* the syntax is the library's to judge: an empty scope or a '"' pass */
    route("/v1/token/dt?scope=", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.has_scope, 1);
    assert_string_equal(r.scope, "");
    route("/v1/token/dt?scope=a%22b", &r);
    assert_string_equal(r.scope, "a\"b");
    assert_string_equal(agent_endpoint_method(EP_INVALIDATE), "POST");
    assert_string_equal(agent_endpoint_method(EP_TOKEN), "GET");
}

static void bad_routes(void **state)
{
    static const struct { const char *target; int status; } cases[] = {
        { "", 400 },
        { "v1/health", 400 },
        { "/", 404 },
        { "/v1/health/", 404 },
        { "/v1/healthz", 404 },
        { "/v1/token", 404 },
        { "/v1/token/", 400 },
        { "/v1/token/a/b", 404 },
        { "/v1/token/a/invalidatex", 404 },
        { "/v1/assertion/a/invalidate", 404 },
        { "/v1/token/%", 400 },
        { "/v1/token/%4", 400 },
        { "/v1/token/%zz", 400 },
        { "/v1/token/a%00b", 400 },
        { "/v1/token/a%0Ab", 400 },
        { "/v1/token/a%7Fb", 400 },
        { "/v1/token/a#frag", 400 },
        { "/v1/token/a?min_valid", 400 },
        { "/v1/token/a?min_valid=", 400 },
        { "/v1/token/a?min_valid=-1", 400 },
        { "/v1/token/a?min_valid=1e3", 400 },
        { "/v1/token/a?min_valid=31622401", 400 },
        { "/v1/token/a?min_valid=1234567890", 400 },
        { "/v1/token/a?min_valid=1&x=2", 400 },
        { "/v1/token/a?x=1", 400 },
        { "/v1/token/a?scope=a&scope=b", 400 },
        { "/v1/token/a?scope=a&min_valid=1&min_valid=2", 400 },
        { "/v1/token/a?scope=a%00b", 400 },
        { "/v1/token/a?scope=a%2", 400 },
        { "/v1/token/a?scope=a%zz", 400 },
        { "/v1/token/a?scope=a&", 400 },
        { "/v1/token/a?scopes=a", 400 },
        { "/v1/token/a/invalidate?scope=a", 400 },
        { "/v1/assertion/a?scope=a", 400 },
        { "/v1/assertion/a?min_valid=1", 400 },
        { "/v1/health?", 0 },
        { "/metrics?x", 400 },
    };
    char longq[64 + AGENT_SCOPE_MAX + 2];
    agent_route r;

    (void)state;
    /* a scope of AGENT_SCOPE_MAX bytes is taken, one more is not */
    snprintf(longq, sizeof longq, "/v1/token/a?scope=");
    memset(longq + strlen(longq), 'x', AGENT_SCOPE_MAX + 1);
    longq[18 + AGENT_SCOPE_MAX + 1] = '\0';
    route(longq, &r);
    assert_int_equal(r.status, 400);
    longq[18 + AGENT_SCOPE_MAX] = '\0';
    route(longq, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(strlen(r.scope), AGENT_SCOPE_MAX);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        route(cases[i].target, &r);
        if (r.status != cases[i].status)
            fail_msg("'%s': status %d, expected %d", cases[i].target, r.status, cases[i].status);
        if (r.status != 0) {
            assert_int_equal(r.ep, EP_NONE);
            assert_non_null(r.error);
        }
    }
}

static void long_names(void **state)
{
    char target[1200];
    agent_route r;

    (void)state;
    strcpy(target, "/v1/token/");
    memset(target + 10, 'a', 255);
    target[265] = '\0';
    route(target, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(strlen(r.profile), 255);
    strcat(target, "a");
    route(target, &r);
    assert_int_equal(r.status, 400);
}

/* A resolver that knows two names. */
static int fake_nss(const char *name, int is_group, unsigned *id)
{
    if (!is_group && strcmp(name, "alice") == 0)
        return *id = 1000, 0;
    if (is_group && strcmp(name, "svc") == 0)
        return *id = 2000, 0;
    return -1;
}

static void allow_rules(void **state)
{
    agent_allow a;
    agent_peer p = { 0 };
    gid_t groups[] = { 7, 2000 };
    char err[256];

    (void)state;
    assert_int_equal(agent_allow_parse(" uid:5  user:alice\tgid:9 group:svc ", fake_nss, &a, err,
                                       sizeof err), 0);
    assert_int_equal(a.nuids, 2);
    assert_int_equal(a.ngids, 2);
    p.uid = 5;
    p.gid = 1;
    assert_true(agent_allow_check(&a, &p));
    p.uid = 1000;
    assert_true(agent_allow_check(&a, &p));
    p.uid = 1001;
    assert_false(agent_allow_check(&a, &p));
    p.gid = 9;
    assert_true(agent_allow_check(&a, &p));
    p.gid = 1;
    p.groups = groups;
    p.ngroups = 2;
    assert_true(agent_allow_check(&a, &p)); /* supplementary group svc */
    p.ngroups = 1;
    assert_false(agent_allow_check(&a, &p));
    agent_allow_clear(&a);

    /* none given: the agent's own uid only */
    assert_int_equal(agent_allow_parse(NULL, fake_nss, &a, err, sizeof err), 0);
    p.uid = getuid();
    p.ngroups = 0;
    assert_true(agent_allow_check(&a, &p));
    p.uid = getuid() + 1;
    assert_false(agent_allow_check(&a, &p));
    agent_allow_clear(&a);
}

static void bad_allow_rules(void **state)
{
    static const char *const bad[] = {
        "", "   ", "alice", "uid:", "uid:x", "uid:-1", "uid:4294967295", "uid:99999999999",
        "user:bob", "group:nope", "gid:1:2", "usr:alice", "UID:1", "uid :1", "user:",
    };
    agent_allow a;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (agent_allow_parse(bad[i], fake_nss, &a, err, sizeof err) == 0)
            fail_msg("allow '%s' was accepted", bad[i]);
        assert_true(strncmp(err, "allow: ", 7) == 0);
        assert_null(a.uids);
        assert_null(a.gids);
    }
}

static int find(const char *json, const char *key, ptc_json_type *t, char *out, size_t cap)
{
    const char *v;
    size_t vl;
    int r = ptc_json_find(json, strlen(json), key, t, &v, &vl);

    if (r == 1) {
        assert_true(v >= json && v + vl <= json + strlen(json));
        if (vl + 1 > cap)
            return -2;
        memcpy(out, v, vl);
        out[vl] = '\0';
    }
    return r;
}

static void json_members(void **state)
{
    const char *doc = " {\"a\": 1, \"access_token\":\"x\\\"y\", \"n\":null, \"o\":{\"access_token\":2},"
                      "\"arr\":[1,[2,{}],\"s\"], \"t\": true, \"f\": false, \"e\": -1.5e+3 } ";
    ptc_json_type t;
    char buf[64], out[64];

    (void)state;
    assert_int_equal(find(doc, "access_token", &t, buf, sizeof buf), 1);
    assert_int_equal(t, PTC_JSON_STRING);
    assert_string_equal(buf, "x\\\"y");
    assert_int_equal(ptc_json_unescape(buf, strlen(buf), out, sizeof out), 3);
    assert_string_equal(out, "x\"y");
    assert_int_equal(find(doc, "a", &t, buf, sizeof buf), 1);
    assert_int_equal(t, PTC_JSON_NUMBER);
    assert_string_equal(buf, "1");
    assert_int_equal(find(doc, "o", &t, buf, sizeof buf), 1);
    assert_int_equal(t, PTC_JSON_OBJECT);
    assert_string_equal(buf, "{\"access_token\":2}");
    assert_int_equal(find(doc, "n", &t, buf, sizeof buf), 1);
    assert_int_equal(t, PTC_JSON_NULL);
    assert_int_equal(find(doc, "e", &t, buf, sizeof buf), 1);
    assert_string_equal(buf, "-1.5e+3");
    assert_int_equal(find(doc, "missing", &t, buf, sizeof buf), 0);
    assert_int_equal(find("{}", "a", &t, buf, sizeof buf), 0);
    /* escaped member names are compared unescaped */
    assert_int_equal(find("{\"acc\\u0065ss\":\"v\"}", "access", &t, buf, sizeof buf), 1);
}

static void json_refused(void **state)
{
    static const char *const bad[] = {
        "", "[]", "\"s\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1 \"b\":2}",
        "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":tru}",
        "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\x01\"}", "{\"a\":\"unterminated}",
        "{\"a\":1} x", "{\"a\":[1,]}", "{\"a\":1,\"a\":2}", "{'a':1}", "{\"a\":NaN}",
    };
    ptc_json_type t;
    char buf[64];
    char deep[200];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (find(bad[i], "a", &t, buf, sizeof buf) != -1)
            fail_msg("'%s' was not refused", bad[i]);
    /* nesting deeper than PTC_JSON_MAX_DEPTH */
    strcpy(deep, "{\"a\":");
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    assert_int_equal(find(deep, "a", &t, buf, sizeof buf), -1);
}

static void json_unescape(void **state)
{
    char out[32];

    (void)state;
    assert_int_equal(ptc_json_unescape("a\\n\\t\\/\\\\", 9, out, sizeof out), 5);
    assert_memory_equal(out, "a\n\t/\\", 6);
    assert_int_equal(ptc_json_unescape("\\u00e9\\u20ac", 12, out, sizeof out), 5);
    assert_string_equal(out, "\xc3\xa9\xe2\x82\xac");
    assert_int_equal(ptc_json_unescape("\\ud83d\\ude00", 12, out, sizeof out), 4);
    assert_string_equal(out, "\xf0\x9f\x98\x80");
    assert_int_equal(ptc_json_unescape("\\ud83d", 6, out, sizeof out), -1);
    assert_int_equal(ptc_json_unescape("\\ude00", 6, out, sizeof out), -1);
    assert_int_equal(ptc_json_unescape("\\u0000", 6, out, sizeof out), -1);
    assert_int_equal(ptc_json_unescape("abcd", 4, out, 4), -1); /* no room for the NUL */
    assert_int_equal(ptc_json_unescape("abc", 3, out, 4), 3);
}

static void http_heads(void **state)
{
    ptc_head h;
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: 12\r\nConnection: keep-alive, Close\r\n\r\n{\"a\":1}";

    (void)state;
    assert_int_equal(ptc_http_parse_head(ok, strlen(ok), &h), 1);
    assert_int_equal(h.status, 200);
    assert_int_equal(h.content_length, 12);
    assert_int_equal(h.close, 1);
    assert_int_equal(h.head_len, strlen(ok) - 7);
    for (size_t n = 0; n < h.head_len; n++)
        assert_int_equal(ptc_http_parse_head(ok, n, &h), 0);
    assert_int_equal(ptc_http_parse_head("HTTP/1.0 204\r\n\r\n", 16, &h), 1);
    assert_int_equal(h.status, 204);
    assert_int_equal(h.content_length, -1);
}

static void http_bad_heads(void **state)
{
    static const char *const bad[] = {
        "HTTP/2.0 200 OK\r\n\r\n",       "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 099 X\r\n\r\n",         "HTTP/1.1 600 X\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",         "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: x\r\n\r\n", "HTTP/1.1 200 OK\r\nA B: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\nb\r\n\r\n", "HTTP/1.1 200 OK\nX: y\r\n\r\n",
    };
    ptc_head h;
    char *big;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ptc_http_parse_head(bad[i], strlen(bad[i]), &h) != -1)
            fail_msg("head %zu was not refused", i);
    big = malloc(PTC_MAX_HEAD + 10);
    assert_non_null(big);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'a', PTC_MAX_HEAD - 10);
    assert_int_equal(ptc_http_parse_head(big, PTC_MAX_HEAD + 10, &h), -1);
    free(big);
}

static void url_escapes(void **state)
{
    char out[64], target[128];
    agent_route r;

    (void)state;
    assert_int_equal(ptc_url_escape("a b/c%d~e", out, sizeof out), 15);
    assert_string_equal(out, "a%20b%2Fc%25d~e");
    assert_int_equal(ptc_url_escape("abc", out, 3), -1);
    /* what the client escapes, the agent decodes back */
    ptc_url_escape("noa prod/eu \xc3\xa9", out, sizeof out);
    snprintf(target, sizeof target, "/v1/token/%s", out);
    agent_route_parse(target, strlen(target), &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.profile, "noa prod/eu \xc3\xa9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes),        cmocka_unit_test(bad_routes),
        cmocka_unit_test(long_names),    cmocka_unit_test(allow_rules),
        cmocka_unit_test(bad_allow_rules), cmocka_unit_test(json_members),
        cmocka_unit_test(json_refused),  cmocka_unit_test(json_unescape),
        cmocka_unit_test(http_heads),    cmocka_unit_test(http_bad_heads),
        cmocka_unit_test(url_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
