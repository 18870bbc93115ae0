/*
 * test_escape.c — p11jwt_escape, the one way untrusted text is shown:
 * control characters, bytes that are not UTF-8 and invisible controls are
 * escaped; text (ASCII or not) is kept; backslashes are doubled except in
 * message mode; what does not fit is cut between pieces and ends in "...".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

static const char *esc(const char *s, size_t n, size_t cap, unsigned flags)
{
    static char buf[512];

    p11jwt_escape(buf, cap, s, n, flags);
    return buf;
}

#define E(s) esc((s), sizeof(s) - 1, 512, 0)

static void text_is_kept(void **state)
{
    (void)state;
    assert_string_equal(E("plain kid-1_x.y"), "plain kid-1_x.y");
    assert_string_equal(E("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x94\x91"),
                        "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x94\x91");
}

static void controls_are_escaped(void **state)
{
    (void)state;
    assert_string_equal(E("a\nb\rc\td"), "a\\nb\\rc\\td");
    assert_string_equal(E("\x1b[31mred\x07\x7f"), "\\x1b[31mred\\x07\\x7f");
    assert_string_equal(E("nul\0here"), "nul\\x00here");
    /* C1 controls, line separator, bidi override, BOM */
    assert_string_equal(E("\xc2\x9b" "2J \xe2\x80\xa8 \xe2\x80\xae \xef\xbb\xbf"),
                        "\\u009b2J \\u2028 \\u202e \\ufeff");
}

static void bad_utf8_is_escaped(void **state)
{
    (void)state;
    assert_string_equal(E("\xff\xfe"), "\\xff\\xfe");
    assert_string_equal(E("\xc0\xaf"), "\\xc0\\xaf");          /* overlong '/' */
    assert_string_equal(E("\xed\xa0\x80"), "\\xed\\xa0\\x80");  /* surrogate */
    assert_string_equal(E("cut \xe2\x82"), "cut \\xe2\\x82");
}

static void backslashes(void **state)
{
    (void)state;
    assert_string_equal(E("a\\x1b"), "a\\\\x1b");
    assert_string_equal(esc("a\\x1b\n", 6, 512, P11JWT_ESCAPE_MESSAGE), "a\\x1b\\n");
    assert_string_equal(esc(NULL, 0, 512, 0), "(null)");
}

static void long_values_are_cut(void **state)
{
    char buf[8];

    (void)state;
    assert_int_equal(p11jwt_escape(buf, sizeof buf, "abcdefghij", 10, 0), 7);
    assert_string_equal(buf, "abcd...");
    assert_string_equal(esc("abcdefg", 7, 8, 0), "abcdefg");
    /* never inside an escape or a UTF-8 sequence */
    assert_string_equal(esc("ab\x1b\x1b", 4, 9, 0), "ab...");
    assert_string_equal(esc("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 9, 9, 0),
                        "\xe2\x82\xac...");
    assert_int_equal(p11jwt_escape(buf, 1, "abc", 3, 0), 0);
    assert_string_equal(buf, "");
}

static void esc_macro(void **state)
{
    char out[64];

    (void)state;
    snprintf(out, sizeof out, "'%s' '%s'", ESC("a\nb"), ESCN("c\0d", 3));
    assert_string_equal(out, "'a\\nb' 'c\\x00d'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_is_kept),     cmocka_unit_test(controls_are_escaped),
        cmocka_unit_test(bad_utf8_is_escaped), cmocka_unit_test(backslashes),
        cmocka_unit_test(long_values_are_cut), cmocka_unit_test(esc_macro),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
