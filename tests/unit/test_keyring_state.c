/*
 * test_keyring_state.c — the two parsers of the keyring store, pure
 * functions of their bytes: labels (p11_store_label_parse: exactly 20
 * digits, 1 to INT64_MAX, then 32 lower-case hex digits, for the right
 * keyring name) and the state JSON (exch_keyring_state_check: an object
 * with an active key, kids that are text).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "exchange/exchange_int.h"
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
        assert_int_equal(exch_keyring_state_check(good[i], strlen(good[i])), P11JWT_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(exch_keyring_state_check(bad[i], strlen(bad[i])), P11JWT_ERR_JSON);
    /* bytes after a NUL count */
    assert_int_equal(exch_keyring_state_check(good[0], strlen(good[0]) + 1), P11JWT_ERR_JSON);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(labels), cmocka_unit_test(states) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
