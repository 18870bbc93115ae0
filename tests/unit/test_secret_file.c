/*
 * test_secret_file.c — p11jwt_secret_read_file's limits: any max (SIZE_MAX
 * included) is taken as given, one trailing newline is stripped and may
 * be the one byte past max, a file larger than max is refused.
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

#include "p11jwt.h"

static char path[] = "/tmp/p11jwt-test-secret-XXXXXX";

static void write_file(const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void limits(void **state)
{
    unsigned char *s = NULL;
    size_t len = 0;

    (void)state;
    write_file("0123456789\n", 11);
    assert_int_equal(p11jwt_secret_read_file(path, SIZE_MAX, &s, &len), P11JWT_OK);
    assert_int_equal(len, 10);
    assert_memory_equal(s, "0123456789", 10);
    p11jwt_secret_free(s, len);
    assert_int_equal(p11jwt_secret_read_file(path, SIZE_MAX - 1, &s, &len), P11JWT_OK);
    p11jwt_secret_free(s, len);
    assert_int_equal(p11jwt_secret_read_file(path, 10, &s, &len), P11JWT_OK);
    p11jwt_secret_free(s, len);
    assert_int_equal(p11jwt_secret_read_file(path, 9, &s, &len), P11JWT_ERR_IO);
    assert_null(s);
    assert_non_null(strstr(p11jwt_errmsg(), "larger than 9 bytes"));
    write_file("", 0);
    assert_int_equal(p11jwt_secret_read_file(path, 0, &s, &len), P11JWT_OK);
    assert_int_equal(len, 0);
    p11jwt_secret_free(s, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(limits) };
    int fd = mkstemp(path), r;

    if (fd < 0)
        return 1;
    close(fd);
    r = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    return r;
}
