/*
 * test_claims_merge.c — claims given once merged with each line's own
 * (src/jose/claims_merge.c) against jansson's object update, the path it
 * stands in for: the same bytes whichever path a line takes (one pass or
 * jansson), the line's value in the shared member's place, the same
 * refusals with the same messages, and a seeded mutation loop of lines
 * that name shared members.
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

#define HEAD "{\"iss\":\"i\""

/* jansson's answer: 1 and shared updated with line, dumped compact with its
 * braces cut, in *want; 0 when it refuses the line (or a name is ours). */
static int jansson_merge(const char *shared, const char *line, size_t len, char **want)
{
    json_t *s = shared != NULL ? json_loads(shared, 0, NULL) : json_object();
    json_t *l = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    const char *name;
    json_t *v;
    char *text;
    size_t n;
    int ok = json_is_object(l);

    *want = NULL;
    assert_non_null(s);
    if (ok) {
        json_object_foreach(l, name, v)
            if (jose_claim_reserved(name, strlen(name)))
                ok = 0;
    }
    if (ok) {
        assert_int_equal(json_object_update(s, l), 0);
        text = json_dumps(s, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_non_null(text);
        n = strlen(text);
        memmove(text, text + 1, n - 2);
        text[n - 2] = '\0';
        *want = text;
    }
    json_decref(s);
    json_decref(l);
    return ok;
}

/* Appends line (exactly len bytes) to HEAD through x, from a buffer with
 * room bytes free after HEAD, and holds the result against jansson's.
 * Returns whether it was taken. */
static int merge_checked(const jose_extras *x, const char *shared, const char *in, size_t len,
                         size_t room)
{
    size_t cap = strlen(HEAD) + room, used = strlen(HEAD), wl;
    char *line = malloc(len ? len : 1), *buf = malloc(cap), *want;
    p11jwt_rc rc;
    int ok;

    assert_non_null(line);
    assert_non_null(buf);
    memcpy(line, in, len);
    memcpy(buf, HEAD, used);
    rc = jose_extras_append(x, line, len, &buf, &cap, &used);
    ok = jansson_merge(shared, in, len, &want);
    if (ok != (rc == P11JWT_OK))
        fail_msg("'%.*s' on %s: merge says %d, jansson %d (%s)", (int)len, in,
                 shared ? shared : "nothing", rc, ok, p11jwt_errmsg());
    if (ok) {
        wl = strlen(want);
        assert_int_equal(used, strlen(HEAD) + (wl ? wl + 1 : 0));
        if (wl > 0 && (buf[strlen(HEAD)] != ',' || memcmp(buf + strlen(HEAD) + 1, want, wl) != 0))
            fail_msg("'%.*s' on %s: merged '%.*s', jansson '%s'", (int)len, in, shared,
                     (int)(used - strlen(HEAD)), buf + strlen(HEAD), want);
    } else {
        assert_int_equal(used, strlen(HEAD));
    }
    assert_memory_equal(buf, HEAD, strlen(HEAD));
    free(want);
    free(buf);
    free(line);
    return ok;
}

static const char *const shareds[] = {
    NULL,
    "{}",
    "{\"fixed\":\"cli\"}",
    "{\"org\":\"o-1\",\"n\":1}",
    /* what the one pass leaves: an escaped name, a real */
    "{\"a\":1,\"b\":[1.5],\"c\\\"q\":\"x\",\"\xc3\xa9\":{\"n\":null},\"z\":\"\\t\"}",
};

static const char *const lines[] = {
    "{}", " { } ", "{\"fixed\":\"line\"}", "{\"n\":1,\"fixed\":\"o\"}",
    "{\"b\":2,\"a\":{\"x\":1},\"new\":3}", "{\"new\":1,\"a\":2}", "{\"c\\\"q\":1}",
    "{\"\xc3\xa9\":1}", "{\"\\u00e9\":2}", "{\"a\":1.5}", "{\"org\":\"o-2\",\"seq\":7}",
    "{\"n\":[1,{\"org\":2}],\"org\":{}}", "{\"z\":\"\\u0001\"}",
    /* refused, with or without shared claims */
    "{\"iss\":1}", "{\"a\":1,\"a\":2}", "{\"n\":1,\"exp\":2}", "[1]", "{\"a\":", "",
    "{\"a\":\"\xc3\"}", "{\"a\":1}x",
};

static void merges_as_jansson_updates(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof shareds / sizeof shareds[0]; s++) {
        jose_extras *x;

        assert_int_equal(jose_extras_new(shareds[s], &x), P11JWT_OK);
        for (size_t l = 0; l < sizeof lines / sizeof lines[0]; l++) {
            merge_checked(x, shareds[s], lines[l], strlen(lines[l]), 1);
            merge_checked(x, shareds[s], lines[l], strlen(lines[l]), 4096);
        }
        jose_extras_free(x);
    }
}

static void the_line_wins_in_the_shared_place(void **state)
{
    jose_extras *x;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    const char *line = "{\"d\":4,\"b\":\"x\",\"a\":[]}";

    (void)state;
    assert_int_equal(jose_extras_new("{\"a\":1,\"b\":2,\"c\":3}", &x), P11JWT_OK);
    assert_int_equal(jose_extras_append(x, line, strlen(line), &buf, &cap, &len), P11JWT_OK);
    assert_string_equal(buf, ",\"a\":[],\"b\":\"x\",\"c\":3,\"d\":4");
    /* No line: the shared ones; nothing at all: nothing. */
    len = 0;
    assert_int_equal(jose_extras_append(x, "{}", 2, &buf, &cap, &len), P11JWT_OK);
    assert_string_equal(buf, ",\"a\":1,\"b\":2,\"c\":3");
    jose_extras_free(x);
    len = 0;
    assert_int_equal(jose_extras_append(NULL, "{ }", 3, &buf, &cap, &len), P11JWT_OK);
    assert_int_equal(len, 0);
    free(buf);
}

static void the_64th_member_can_win(void **state)
{
    char line[2048];
    size_t o = 0;
    jose_extras *x;

    (void)state;
    assert_int_equal(jose_extras_new("{\"m63\":\"shared\",\"m0\":0,\"s\":1}", &x), P11JWT_OK);
    line[o++] = '{';
    for (int i = 0; i < 64; i++)
        o += (size_t)snprintf(line + o, sizeof line - o, "%s\"m%d\":%d", i ? "," : "", i, i);
    line[o++] = '}';
    line[o] = '\0';
    assert_true(merge_checked(x, "{\"m63\":\"shared\",\"m0\":0,\"s\":1}", line, o, 1));
    jose_extras_free(x);
}

static void shared_claims_are_checked_once(void **state)
{
    static const struct {
        const char *json;
        p11jwt_rc rc;
        const char *msg;
    } bad[] = {
        { "{\"iss\":\"evil\"}", P11JWT_ERR_ARG, "extra claim 'iss' would redefine" },
        { "{\"a\":1,\"jti\":\"x\"}", P11JWT_ERR_ARG, "extra claim 'jti' would redefine" },
        { "[1]", P11JWT_ERR_JSON, "extra claims must be a JSON object" },
        { "{\"a\":", P11JWT_ERR_JSON, "extra claims are not valid JSON" },
        { "{\"a\":1,\"a\":2}", P11JWT_ERR_JSON, "duplicate object key" },
    };
    jose_extras *x = (jose_extras *)1;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(jose_extras_new(bad[i].json, &x), bad[i].rc);
        assert_null(x);
        if (strstr(p11jwt_errmsg(), bad[i].msg) == NULL)
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].json, p11jwt_errmsg(), bad[i].msg);
    }
    jose_extras_free(NULL);
}

/* The whole claims set: the standard claims, then the merge. */
static void claims_write_merged_writes_one_object(void **state)
{
    p11jwt_claims_params p = { .iss = "client-1", .aud = "https://sts.example/token",
                               .ttl = 300, .now = 1700000000, .no_jti = 1,
                               .extra_json = "{\"ignored\":1}" };
    const char *line = "{\"v\":3,\"n\":1}";
    const char *want2 = "{\"iss\":\"client-1\",\"aud\":\"https://sts.example/token\","
                        "\"iat\":1700000000,\"exp\":1700000300,\"org\":\"o\",\"v\":2}";
    const char *want3 = "{\"iss\":\"client-1\",\"aud\":\"https://sts.example/token\","
                        "\"iat\":1700000000,\"exp\":1700000300,\"org\":\"o\",\"v\":3,"
                        "\"n\":1}";
    jose_extras *x;
    char *buf = NULL;
    size_t cap = 0, len, kept = 0;

    (void)state;
    assert_int_equal(jose_extras_new("{\"org\":\"o\",\"v\":2}", &x), P11JWT_OK);
    assert_int_equal(jose_claims_write_merged(&p, x, line, strlen(line), &buf, &cap, &len, NULL),
                     P11JWT_OK);
    assert_string_equal(buf, want3);
    assert_int_equal(len, strlen(buf));
    /* The start kept from call to call: written once, the same claims. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(jose_claims_write_merged(&p, x, NULL, 0, &buf, &cap, &len, &kept),
                         P11JWT_OK);
        assert_int_equal(kept, strlen("{\"iss\":\"client-1\",\"aud\":\"https://sts.example/token\""));
        assert_string_equal(buf, want2);
        assert_int_equal(jose_claims_write_merged(&p, x, "{\"sub\":1}", 9, &buf, &cap, &len, &kept),
                         P11JWT_ERR_ARG);
        assert_int_equal(len, 0);
        assert_int_equal(jose_claims_write_merged(&p, x, line, strlen(line), &buf, &cap, &len,
                                                  &kept),
                         P11JWT_OK);
        assert_string_equal(buf, want3);
    }
    /* Nothing kept from parameters that fail. */
    p.iss = "\xc3";
    kept = 0;
    assert_int_equal(jose_claims_write_merged(&p, x, NULL, 0, &buf, &cap, &len, &kept),
                     P11JWT_ERR_ARG);
    assert_int_equal(kept, 0);
    jose_extras_free(x);
    free(buf);
}

/* ---- mutations of lines that name shared members ----------------------- */

static uint64_t rng = 0x2545f4914f6cdd1du;

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
        "{\"org\":\"6f1c2d3e\",\"seq\":1000000,\"roles\":[\"reader\"],\"ctx\":{\"t\":2}}",
        "{\"a\":\"x\",\"new\":1,\"org\":null,\"b\":[true]}",
        "{\"\xc3\xa9\":\"\\u00e9\",\"n\":-7,\"c\\\"q\":1}",
    };
    static const char *const pieces[] = {
        "\"", "\\", "\\u", "{", "}", "[", "]", ",", ":", " ", "\xc3\xa9", "0", "-", "1",
        ".", "e", "null", "\"org\"", "\"a\"", "\"n\"", "\"iss\"", "\"a\":1,", "\"org\":2,",
    };
    const char *shared = "{\"org\":\"o-1\",\"n\":1,\"a\":[],\"\xc3\xa9\":0,\"q\":1.5}";
    jose_extras *x;
    char buf[512];
    unsigned taken = 0, total = 0;

    (void)state;
    assert_int_equal(jose_extras_new(shared, &x), P11JWT_OK);
    for (int iter = 0; iter < 50000; iter++) {
        const char *seed = seeds[next_rand() % (sizeof seeds / sizeof seeds[0])];
        size_t len = strlen(seed);
        int edits = (int)(next_rand() % 3);

        memcpy(buf, seed, len);
        for (int e = 0; e < edits; e++) {
            size_t at = len ? next_rand() % (len + 1) : 0;

            if (next_rand() % 3 == 0) {
                if (at < len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
            } else {
                const char *piece = pieces[next_rand() % (sizeof pieces / sizeof pieces[0])];
                size_t pl = strlen(piece);

                if (len + pl < sizeof buf) {
                    memmove(buf + at + pl, buf + at, len - at);
                    memcpy(buf + at, piece, pl);
                    len += pl;
                }
            }
        }
        total++;
        taken += (unsigned)merge_checked(x, shared, buf, len, 1 + next_rand() % 600);
    }
    jose_extras_free(x);
    assert_true(taken > total / 10);
    assert_true(taken < total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(merges_as_jansson_updates),
        cmocka_unit_test(the_line_wins_in_the_shared_place),
        cmocka_unit_test(the_64th_member_can_win),
        cmocka_unit_test(shared_claims_are_checked_once),
        cmocka_unit_test(claims_write_merged_writes_one_object),
        cmocka_unit_test(mutations_agree_with_jansson),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
