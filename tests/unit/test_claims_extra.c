/*
 * test_claims_extra.c — the one-pass check and copy of extra claims
 * (src/jose/claims_extra.c) against jansson, the path it stands in for:
 * what it takes it must write byte for byte as jansson's compact dump of
 * the parsed object; what it leaves (hostile, malformed, reserved, repeated,
 * escaped names, reals, deep nesting) must reach jansson, so the claims
 * writer refuses it with jansson's message or re-encodes it. A seeded
 * mutation loop holds the two side by side on many more inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose.h"

/* jansson's answer for the same text: 1 and its members (outer braces
 * cut) in *want when it takes the object and no name is reserved. */
static int jansson_members(const char *in, size_t len, char **want)
{
    json_error_t jerr;
    json_t *obj = json_loadb(in, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *name;
    json_t *v;
    char *text;
    size_t n;

    *want = NULL;
    if (obj == NULL)
        return 0;
    if (!json_is_object(obj)) {
        json_decref(obj);
        return 0;
    }
    json_object_foreach(obj, name, v) {
        if (jose_claim_reserved(name, strlen(name))) {
            json_decref(obj);
            return 0;
        }
    }
    text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    assert_non_null(text);
    n = strlen(text);
    memmove(text, text + 1, n - 2);
    text[n - 2] = '\0';
    *want = text;
    return 1;
}

/* Runs the fast path on exactly len bytes (an output buffer of len bytes
 * with guards after it) and, when it takes the text, checks it against
 * jansson. Returns whether it took it. */
static int fast_checked(const char *in, size_t len)
{
    char *src = malloc(len + 1), *out = malloc(len + 16), *want;
    size_t out_len = 12345;
    int took;

    assert_non_null(src);
    assert_non_null(out);
    memcpy(src, in, len);
    memset(out, 0x5a, len + 16);
    took = jose_claims_extra_copy(src, len, out, &out_len);
    for (size_t i = len; i < len + 16; i++)
        assert_int_equal((unsigned char)out[i], 0x5a);
    if (took) {
        assert_true(out_len <= len);
        if (!jansson_members(src, len, &want))
            fail_msg("fast path took what jansson refuses: '%.*s'", (int)len, in);
        if (strlen(want) != out_len || memcmp(want, out, out_len) != 0)
            fail_msg("'%.*s': fast path wrote '%.*s', jansson '%s'", (int)len, in,
                     (int)out_len, out, want);
        free(want);
    } else {
        assert_int_equal(out_len, 0);
    }
    free(src);
    free(out);
    return took;
}

static int fast(const char *s)
{
    return fast_checked(s, strlen(s));
}

/* ---- what the one pass takes ------------------------------------------- */

static void takes_realistic_lines(void **state)
{
    static const char *const ok[] = {
        "{}",
        " { } ",
        "\t{\r\n}\n",
        "{\"n\":1}",
        "{\"org\":\"6f1c2d3e-4b5a-4c6d-8e7f-8091a2b3c4d5\",\"seq\":1000000,"
        "\"roles\":[\"reader\",\"admin\"],\"ctx\":{\"tenant\":\"t-0042\",\"tier\":2}}",
        "{ \"a\" : [ 1 , -2 , 0 , true , false , null , [ ] , { } ] , \"b\" : { \"c\" : { } } }",
        "{\"\":\"\"}",
        "{\"nbf\":-123456789012345678,\"max\":999999999999999999}",
        "{\"s\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 \x7f\"}",
        "{\"esc\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"}",
        "{\"u\":\"\\u0041\\u00e9\\u20AC\\ud83d\\udd11\\u0001\\u001F\\u007f\"}",
        "{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}",
        "{\"ISS\":1,\"iss2\":2,\"is\":3,\"sub_\":4}",
        "{\"nested\":{\"iss\":\"fine below the top\",\"exp\":1}}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!fast(ok[i]))
            fail_msg("the fast path left '%s' to jansson", ok[i]);
}

static void re_encodes_escapes_as_jansson(void **state)
{
    char out[64];
    size_t n;
    const char *in = "{\"u\":\"\\u00e9\\/\\u000a\\u0001\"}";

    (void)state;
    assert_int_equal(jose_claims_extra_copy(in, strlen(in), out, &n), 1);
    assert_int_equal(n, strlen("\"u\":\"\xc3\xa9/\\n\\u0001\""));
    assert_memory_equal(out, "\"u\":\"\xc3\xa9/\\n\\u0001\"", n);
}

/* ---- what it leaves to jansson ---------------------------------------- */

static void leaves_hostile_input_to_jansson(void **state)
{
    static const char *const left[] = {
        "", " ", "{", "}", "[]", "[{}]", "\"{}\"", "1", "null", "{}{}", "{} x", "{},",
        "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}", "{,\"a\":1}", "{\"a\":1 \"b\":2}",
        "{a:1}", "{'a':1}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\":[1 2]}", "{\"a\":[}",
        "{\"a\":01}", "{\"a\":-}", "{\"a\":-0}", "{\"a\":+1}", "{\"a\":1.5}", "{\"a\":1e3}",
        "{\"a\":1E3}", "{\"a\":.5}", "{\"a\":0x10}", "{\"a\":1234567890123456789}",
        "{\"a\":tru}", "{\"a\":nul}", "{\"a\":True}", "{\"a\":truex}", "{\"a\":NaN}",
        "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12G4\"}",
        "{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\\ud800x\"}", "{\"a\":\"\\ud800\\udbff\"}",
        "{\"a\":\"tab\there\"}", "{\"a\":\"nl\nhere\"}", "{\"a\":\"\x01\"}",
        "{\"a\":\"\xc3\"}", "{\"a\":\"\xc0\x80\"}", "{\"a\":\"\xe0\x80\x80\"}",
        "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xff\"}",
        "{\"a\":\"\x80\"}", "{\"\xc3\":1}", "{\"a\":1}\xc3\xa9",
        "{\"a\":1,\"a\":2}", "{\"a\":1,\"b\":2,\"a\":3}", "{\"o\":{\"x\":1,\"x\":1}}",
        "{\"\\u0061\":1}", "{\"a\\\"b\":1}", "{\"iss\":\"x\"}", "{\"aud\":1}", "{\"sub\":1}",
        "{\"iat\":1}", "{\"exp\":1}", "{\"jti\":\"x\"}", "{\"a\":1,\"jti\":\"x\"}",
        "\xef\xbb\xbf{}", "{\"a\":1}\f", "\v{}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof left / sizeof left[0]; i++)
        if (fast(left[i]))
            fail_msg("the fast path took '%s'", left[i]);
}

static void leaves_nul_bytes_to_jansson(void **state)
{
    static const char in[] = "{\"a\":\"x\0y\"}";
    static const char after[] = "{\"a\":1}\0{\"b\":2}";

    (void)state;
    assert_false(fast_checked(in, sizeof in - 1));
    assert_false(fast_checked(after, sizeof after - 1));
}

static void leaves_deep_and_wide_objects_to_jansson(void **state)
{
    char buf[4096];
    size_t o = 0;

    (void)state;
    /* 16 levels: taken; 17: left. */
    for (int depth = 16; depth <= 17; depth++) {
        o = 0;
        for (int i = 0; i < depth; i++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "{\"a\":");
        o--; /* the innermost object is {"a"} so far: give it a value */
        o += (size_t)snprintf(buf + o, sizeof buf - o, ":1");
        for (int i = 0; i < depth; i++)
            buf[o++] = '}';
        buf[o] = '\0';
        assert_int_equal(fast(buf), depth == 16);
    }
    o = (size_t)snprintf(buf, sizeof buf, "{\"x\":");
    for (int i = 0; i < 16; i++)
        buf[o++] = '[';
    buf[o++] = '1';
    for (int i = 0; i < 16; i++)
        buf[o++] = ']';
    buf[o++] = '}';
    buf[o] = '\0';
    assert_false(fast(buf)); /* 17 levels with the claims object */
    /* 64 members: taken; 65: left (jansson checks for repeats in a table). */
    for (int members = 64; members <= 65; members++) {
        o = 0;
        buf[o++] = '{';
        for (int i = 0; i < members; i++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"m%d\":%d", i ? "," : "", i, i);
        buf[o++] = '}';
        buf[o] = '\0';
        assert_int_equal(fast(buf), members == 64);
    }
}

/* ---- the claims writer: one output whichever path a line takes --------- */

static char *claims_of(const char *extra)
{
    p11jwt_claims_params p = { .iss = "client-1", .aud = "https://sts.example/token",
                               .ttl = 300, .now = 1700000000, .no_jti = 1,
                               .extra_json = extra };
    char *c = NULL;

    assert_int_equal(jose_claims_json(&p, &c), P11JWT_OK);
    return c;
}

static void both_paths_write_the_same_claims(void **state)
{
    /* Each pair is one object: the first text takes the fast path, the
     * second (an escaped name) must go through jansson. */
    static const char *const pairs[][2] = {
        { "{\"org\":\"o-1\",\"n\":[1,2],\"ctx\":{\"t\":\"\\u00e9\"}}",
          "{\"\\u006frg\":\"o-1\",\"n\":[1,2],\"ctx\":{\"t\":\"\xc3\xa9\"}}" },
        { "{ \"a\" : \"\\u0001\\n\\/\" }", "{\"\\u0061\":\"\\u0001\\u000a/\"}" },
    };
    const char *base = "{\"iss\":\"client-1\",\"aud\":\"https://sts.example/token\","
                       "\"iat\":1700000000,\"exp\":1700000300";

    (void)state;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char *a = claims_of(pairs[i][0]), *b = claims_of(pairs[i][1]);

        assert_true(fast(pairs[i][0]));
        assert_false(fast(pairs[i][1]));
        assert_int_equal(strncmp(a, base, strlen(base)), 0);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
}

static void refusals_keep_their_messages(void **state)
{
    static const struct {
        const char *extra;
        p11jwt_rc rc;
        const char *msg;
    } cases[] = {
        { "{\"iss\":\"x\"}", P11JWT_ERR_ARG, "extra claim 'iss' would redefine" },
        { "{\"a\":1,\"jti\":\"x\"}", P11JWT_ERR_ARG, "extra claim 'jti' would redefine" },
        { "{\"a\":1,\"a\":2}", P11JWT_ERR_JSON, "duplicate object key" },
        { "{\"a\":1", P11JWT_ERR_JSON, "extra claims are not valid JSON" },
        { "[1]", P11JWT_ERR_JSON, "extra claims must be a JSON object" },
        { "{\"a\":\"\xc3\"}", P11JWT_ERR_JSON, "unable to decode byte 0xc3" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        p11jwt_claims_params p = { .iss = "i", .ttl = 300, .now = 1, .no_jti = 1,
                                   .extra_json = cases[i].extra };
        char *c = NULL;

        assert_int_equal(jose_claims_json(&p, &c), cases[i].rc);
        assert_null(c);
        if (strstr(p11jwt_errmsg(), cases[i].msg) == NULL)
            fail_msg("'%s': message '%s' lacks '%s'", cases[i].extra, p11jwt_errmsg(),
                     cases[i].msg);
    }
}

/* ---- mutations: the fast path never takes what jansson would not write
 * the same way ---------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static void mutations_agree_with_jansson(void **state)
{
    static const char *const seeds[] = {
        "{\"org\":\"6f1c2d3e-4b5a-4c6d-8e7f-8091a2b3c4d5\",\"seq\":1000000,"
        "\"roles\":[\"reader\",\"admin\"],\"ctx\":{\"tenant\":\"t-0042\",\"tier\":2}}",
        "{\"u\":\"\\u00e9\\ud83d\\udd11\",\"e\":\"\\n\\t\\\"\",\"a\":[true,false,null,-7]}",
        "{\"a\":{\"b\":{\"c\":[[],{}]}},\"\":\"\xe2\x82\xac\"}",
    };
    static const char *const pieces[] = {
        "\"", "\\", "\\u", "\\ud800", "\\udc00", "\\u0000", "{", "}", "[", "]", ",", ":",
        " ", "\n", "\x01", "\xc3", "\xc3\xa9", "\xed\xa0\x80", "\xf4\x90\x80\x80", "0", "-",
        "1", ".", "e", "true", "null", "\"iss\"", "\"a\"", "\0",
    };
    char buf[512];
    unsigned taken = 0, total = 0;

    (void)state;
    for (int iter = 0; iter < 200000; iter++) {
        const char *seed = seeds[next_rand() % (sizeof seeds / sizeof seeds[0])];
        size_t len = strlen(seed);
        int edits = 1 + (int)(next_rand() % 3);

        memcpy(buf, seed, len);
        for (int e = 0; e < edits; e++) {
            size_t at = len ? next_rand() % (len + 1) : 0;

            switch (next_rand() % 4) {
            case 0: /* delete a byte */
                if (at < len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
                break;
            case 1: /* replace a byte */
                if (at < len)
                    buf[at] = (char)(next_rand() & 0xff);
                break;
            default: { /* insert a piece */
                const char *piece = pieces[next_rand() % (sizeof pieces / sizeof pieces[0])];
                size_t pl = piece[0] == '\0' ? 1 : strlen(piece);

                if (len + pl < sizeof buf) {
                    memmove(buf + at + pl, buf + at, len - at);
                    memcpy(buf + at, piece, pl);
                    len += pl;
                }
            }
            }
        }
        total++;
        taken += (unsigned)fast_checked(buf, len);
    }
    /* Both branches were exercised. */
    assert_true(taken > total / 50);
    assert_true(taken < total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(takes_realistic_lines),
        cmocka_unit_test(re_encodes_escapes_as_jansson),
        cmocka_unit_test(leaves_hostile_input_to_jansson),
        cmocka_unit_test(leaves_nul_bytes_to_jansson),
        cmocka_unit_test(leaves_deep_and_wide_objects_to_jansson),
        cmocka_unit_test(both_paths_write_the_same_claims),
        cmocka_unit_test(refusals_keep_their_messages),
        cmocka_unit_test(mutations_agree_with_jansson),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
