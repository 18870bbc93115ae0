/*
 * test_keyring.c — the keyring's pure logic: the store's labels
 * (p11_store_label_parse: exactly 20 digits, 1 to INT64_MAX, then 32
 * lower-case hex digits, for the right keyring name), the winner rule
 * every reader applies (higher version, then smaller nonce), the state
 * JSON (kr_state_check: an object with an active key, kids that are text;
 * what kr_state_json writes reads back), and the fallback choice (the next
 * key, else the newest previous one, else none).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "keyring/keyring.h"
#include "pkcs11/pkcs11_int.h"

#define NONCE "00112233445566778899aabbccddeeff"

static int label(const char *l, const char *name, uint64_t *v)
{
    char id[P11_STORE_ID_LEN + 1];
    const char *why;

    return p11_store_label_parse(l, strlen(l), name, v, id, &why);
}

static void labels(void **state)
{
    uint64_t v = 0;

    (void)state;
    assert_int_equal(label("p11jwt-keyring:rot:00000000000000000007:" NONCE, "rot", &v), 1);
    assert_int_equal(v, 7);
    assert_int_equal(label("p11jwt-keyring:rot:09223372036854775807:" NONCE, "rot", &v), 1);
    assert_int_equal(v, INT64_MAX);
    /* another keyring, or not ours at all */
    assert_int_equal(label("p11jwt-keyring:rot:00000000000000000007:" NONCE, "ro", &v), 0);
    assert_int_equal(label("p11jwt-keyring:rotx:00000000000000000007:" NONCE, "rot", &v), 0);
    assert_int_equal(label("something else", "rot", &v), 0);
    /* ours, malformed */
    assert_int_equal(label("p11jwt-keyring:rot:-0000000000000000001:" NONCE, "rot", &v), -1);
    assert_int_equal(label("p11jwt-keyring:rot:+0000000000000000001:" NONCE, "rot", &v), -1);
    assert_int_equal(label("p11jwt-keyring:rot: 0000000000000000001:" NONCE, "rot", &v), -1);
    assert_int_equal(label("p11jwt-keyring:rot:09223372036854775808:" NONCE, "rot", &v), -1);
    assert_int_equal(label("p11jwt-keyring:rot:99999999999999999999:" NONCE, "rot", &v), -1);
    assert_int_equal(label("p11jwt-keyring:rot:00000000000000000000:" NONCE, "rot", &v), -1);
    assert_int_equal(label("p11jwt-keyring:rot:0000000000000000007:" NONCE, "rot", &v), -1);
    assert_int_equal(label("p11jwt-keyring:rot:00000000000000000007:" NONCE "0", "rot", &v), -1);
    assert_int_equal(label("p11jwt-keyring:rot:00000000000000000007:00112233445566778899AABBCCDDEEFF",
                           "rot", &v), -1);
    assert_int_equal(label("p11jwt-keyring:rot:", "rot", &v), -1);
}

static void states(void **state)
{
    static const char *const good[] = {
        "{\"active\":{\"kid\":\"a\",\"alg\":\"ES384\",\"since\":1}}",
        "{\"active\":{\"kid\":\"a\",\"alg\":\"HS256\"},\"next\":{\"kid\":\"b\",\"alg\":\"HS256\"},"
        "\"previous\":[{\"kid\":\"c\",\"alg\":\"HS256\",\"since\":-9223372036854775808}]}",
    };
    static const char *const bad[] = {
        "", "[]", "{}", "{\"active\":{\"kid\":\"a\"}}", "{\"active\":{\"kid\":\"\",\"alg\":\"ES256\"}}",
        "{\"active\":{\"kid\":\"a\\u001b\",\"alg\":\"ES256\"}}",
        "{\"active\":{\"kid\":\"a\",\"alg\":\"ES256\"},\"previous\":[1]}",
        "{\"active\":{\"kid\":\"a\",\"alg\":\"ES256\"},\"active\":{\"kid\":\"b\",\"alg\":\"ES256\"}}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(kr_state_check(good[i], strlen(good[i])), P11JWT_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(kr_state_check(bad[i], strlen(bad[i])), P11JWT_ERR_JSON);
    /* bytes after a NUL count */
    assert_int_equal(kr_state_check(good[0], strlen(good[0]) + 1), P11JWT_ERR_JSON);
}

static void winner(void **state)
{
    const char *a = "00000000000000000007:" NONCE;
    const char *b = "00000000000000000007:ffff2233445566778899aabbccddeeff";
    const char *c = "00000000000000000008:ffffffffffffffffffffffffffffffff";

    (void)state;
    /* the higher version, whatever the nonce */
    assert_true(p11_store_wins(8, c, 7, a));
    assert_false(p11_store_wins(7, a, 8, c));
    /* the same version: the smaller nonce, and never both */
    assert_true(p11_store_wins(7, a, 7, b));
    assert_false(p11_store_wins(7, b, 7, a));
    assert_false(p11_store_wins(7, a, 7, a));
    /* the largest version is still ordered */
    assert_true(p11_store_wins(P11_STORE_MAX_VERSION, b, P11_STORE_MAX_VERSION - 1, a));
}

static void parse_state(const char *json, kr_state *kr)
{
    memset(kr, 0, sizeof *kr);
    assert_int_equal(kr_state_parse(json, strlen(json), kr), P11JWT_OK);
}

static void fallback(void **state)
{
    kr_state kr;
    const kr_key *fb;

    (void)state;
    parse_state("{\"active\":{\"kid\":\"a\",\"alg\":\"ES256\"}}", &kr);
    assert_null(kr_state_fallback(&kr));
    kr_state_clear(&kr);
    parse_state("{\"active\":{\"kid\":\"a\",\"alg\":\"ES256\"},\"next\":null,"
                "\"previous\":[{\"kid\":\"p1\",\"alg\":\"ES256\"},"
                "{\"kid\":\"p0\",\"alg\":\"ES256\"}]}",
                &kr);
    fb = kr_state_fallback(&kr);
    assert_non_null(fb);
    assert_string_equal(fb->kid, "p1"); /* the newest previous */
    kr_state_clear(&kr);
    parse_state("{\"active\":{\"kid\":\"a\",\"alg\":\"HS256\"},"
                "\"next\":{\"kid\":\"n\",\"alg\":\"HS256\",\"since\":5},"
                "\"previous\":[{\"kid\":\"p\",\"alg\":\"HS256\"}]}",
                &kr);
    fb = kr_state_fallback(&kr);
    assert_string_equal(fb->kid, "n"); /* next wins over previous */
    assert_int_equal(fb->since, 5);
    assert_int_equal(kr.active.alg, P11JWT_HS256);
    kr_state_clear(&kr);
}

/* What is stored reads back as it was. */
static void round_trip(void **state)
{
    kr_state kr, back;
    json_t *o;
    char *json;

    (void)state;
    parse_state("{\"active\":{\"kid\":\"a\",\"alg\":\"ES384\",\"since\":1},"
                "\"next\":{\"kid\":\"n\",\"alg\":\"ES384\",\"since\":2},"
                "\"previous\":[{\"kid\":\"p\",\"alg\":\"ES384\",\"since\":3}]}",
                &kr);
    kr.version = 9;
    o = kr_state_json("ring", &kr, "stage");
    assert_string_equal(json_string_value(json_object_get(o, "keyring")), "ring");
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 9);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "last_change"),
                                                          "op")),
                        "stage");
    json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    parse_state(json, &back);
    free(json);
    assert_string_equal(back.active.kid, "a");
    assert_int_equal(back.active.alg, P11JWT_ES384);
    assert_int_equal(back.active.since, 1);
    assert_string_equal(back.next.kid, "n");
    assert_int_equal(back.nprev, 1);
    assert_string_equal(back.prev[0].kid, "p");
    assert_int_equal(back.prev[0].since, 3);
    kr_state_clear(&back);
    kr_state_clear(&kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(labels),   cmocka_unit_test(winner),     cmocka_unit_test(states),
        cmocka_unit_test(fallback), cmocka_unit_test(round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
