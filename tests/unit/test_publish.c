/*
 * test_publish.c — publish_command: the JWKS reaches its standard input;
 * a command that stops reading, exits non-zero or is killed is an error
 * that says which (and p11jwt is not killed by SIGPIPE, now or later); the
 * command's environment holds none of the profile's secrets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rotation/rotation_int.h"

static char dir[] = "/tmp/p11jwt-test-publish-XXXXXX";

static p11jwt_profile *profile(const char *fmt, ...)
{
    static char cmd[1024];
    static char name[] = "pub", pin_env[] = "MY_PIN", secret_env[] = "MY_SECRET";
    static p11jwt_profile p;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    memset(&p, 0, sizeof p);
    p.name = name;
    p.pin_env = pin_env;
    p.client_secret_env = secret_env;
    p.publish_command = cmd;
    return &p;
}

static char *slurp(const char *path)
{
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void data_reaches_stdin(void **state)
{
    char out[128];

    (void)state;
    snprintf(out, sizeof out, "%s/out", dir);
    assert_int_equal(rot_publish(profile("cat > %s", out), "{\"keys\":[]}\n", 12), P11JWT_OK);
    assert_string_equal(slurp(out), "{\"keys\":[]}\n");
}

/* 1 MiB into a command that closes its input unread: the write must fail
 * with EPIPE, not kill us, and leave no SIGPIPE pending. */
static void stops_reading_is_an_error_not_a_signal(void **state)
{
    size_t len = 1 << 20;
    char *big = malloc(len);
    sigset_t pending;

    (void)state;
    assert_non_null(big);
    memset(big, 'k', len);
    signal(SIGPIPE, SIG_DFL);
    assert_int_equal(rot_publish(profile("exec 0<&-; exit 0"), big, len), P11JWT_ERR_IO);
    assert_non_null(strstr(p11jwt_errmsg(), "stopped reading the JWKS"));
    assert_non_null(strstr(p11jwt_errmsg(), "stored in the token"));
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGPIPE));
    free(big);
}

static void exit_status_and_signal(void **state)
{
    (void)state;
    assert_int_equal(rot_publish(profile("cat >/dev/null; exit 3 # HiddenCmd"), "x", 1),
                     P11JWT_ERR_IO);
    assert_non_null(strstr(p11jwt_errmsg(), "exited with status 3"));
    assert_null(strstr(p11jwt_errmsg(), "HiddenCmd")); /* the command is not echoed */
    assert_int_equal(rot_publish(profile("kill -TERM $$"), "x", 1), P11JWT_ERR_IO);
    assert_non_null(strstr(p11jwt_errmsg(), "killed by signal 15"));
}

static void no_secrets_in_its_environment(void **state)
{
    char out[128];
    const char *env;

    (void)state;
    setenv("MY_PIN", "pin-1234-VALUE", 1);
    setenv("MY_SECRET", "client-SECRET-value", 1);
    setenv("P11JWT_TEST_PIN", "test-PIN-value", 1);
    setenv("P11JWT_HSM_PASSWORD", "hsm-PASS-value", 1);
    setenv("KEEP_ME", "kept", 1);
    snprintf(out, sizeof out, "%s/env", dir);
    assert_int_equal(rot_publish(profile("env > %s", out), "", 0), P11JWT_OK);
    env = slurp(out);
    assert_null(strstr(env, "VALUE"));
    assert_null(strstr(env, "value"));
    assert_non_null(strstr(env, "KEEP_ME=kept"));
    assert_non_null(strstr(env, "PATH="));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(data_reaches_stdin),
        cmocka_unit_test(stops_reading_is_an_error_not_a_signal),
        cmocka_unit_test(exit_status_and_signal),
        cmocka_unit_test(no_secrets_in_its_environment),
    };
    char cmd[128];
    int r;

    if (mkdtemp(dir) == NULL)
        return 1;
    r = cmocka_run_group_tests(tests, NULL, NULL);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        r = 1;
    return r;
}
