/*
 * test_lock.c — where rotation's host lock lives (rotation/lock.c): the
 * order $RUNTIME_DIRECTORY, the system's directory when it is this user's,
 * $XDG_RUNTIME_DIR/p11jwt, and the rule each must meet — a directory of
 * this user's that neither group nor others can write in (a user's own
 * agent makes $XDG_RUNTIME_DIR/p11jwt 0750: accepted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rotation/rotation_int.h"

static char root[] = "/tmp/p11jwt-test-lock-XXXXXX";

static const char *path(const char *leaf)
{
    static char buf[4][256];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", root, leaf);
    return buf[i];
}

static void mkdir_mode(const char *leaf, mode_t mode)
{
    assert_int_equal(mkdir(path(leaf), 0700), 0);
    assert_int_equal(chmod(path(leaf), mode), 0);
}

static void runtime_directory_first(void **state)
{
    char out[256];

    (void)state;
    mkdir_mode("rd", 0700);
    mkdir_mode("sys", 0700);
    assert_int_equal(rot_lock_dir_pick(path("rd"), path("sys"), root, out, sizeof out),
                     P11JWT_OK);
    assert_string_equal(out, path("rd"));
}

static void system_directory_when_ours(void **state)
{
    char out[256];

    (void)state;
    mkdir_mode("sys2", 0700);
    assert_int_equal(rot_lock_dir_pick(NULL, path("sys2"), root, out, sizeof out), P11JWT_OK);
    assert_string_equal(out, path("sys2"));
    /* Missing: the user's runtime directory, made 0700. */
    mkdir_mode("xdg", 0700);
    assert_int_equal(rot_lock_dir_pick(NULL, path("nonesuch"), path("xdg"), out, sizeof out),
                     P11JWT_OK);
    assert_string_equal(out, path("xdg/p11jwt"));
    {
        struct stat st;

        assert_int_equal(stat(out, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
    }
}

/* Root reaches the units' token: a lock of its own would let a step by
 * hand run beside the timer's, so it is refused and sent to that user. */
static void system_directory_of_another_user_refuses_root(void **state)
{
    char out[256];

    (void)state;
    if (geteuid() != 0)
        skip();
    mkdir_mode("sys3", 0700);
    assert_int_equal(chown(path("sys3"), 65534, 65534), 0);
    mkdir_mode("xdg3", 0700);
    assert_int_equal(rot_lock_dir_pick(NULL, path("sys3"), path("xdg3"), out, sizeof out),
                     P11JWT_ERR_IO);
    assert_non_null(strstr(p11jwt_errmsg(), "belongs to uid 65534 (the units' user)"));
    assert_non_null(strstr(p11jwt_errmsg(), "sudo -u p11jwt p11jwt rotate"));
    /* $RUNTIME_DIRECTORY still decides first. */
    assert_int_equal(rot_lock_dir_pick(path("xdg3"), path("sys3"), NULL, out, sizeof out),
                     P11JWT_OK);
    assert_string_equal(out, path("xdg3"));
}

static void agent_directory_0750_is_accepted(void **state)
{
    char out[256];

    (void)state;
    /* What `p11jwt agent` makes for its socket in $XDG_RUNTIME_DIR. */
    mkdir_mode("xdg4", 0700);
    mkdir_mode("xdg4/p11jwt", 0750);
    assert_int_equal(rot_lock_dir_pick(NULL, NULL, path("xdg4"), out, sizeof out), P11JWT_OK);
    assert_string_equal(out, path("xdg4/p11jwt"));
}

static void writable_by_group_or_others_is_refused(void **state)
{
    char out[256];

    (void)state;
    mkdir_mode("xdg5", 0700);
    mkdir_mode("xdg5/p11jwt", 0770);
    assert_int_equal(rot_lock_dir_pick(NULL, NULL, path("xdg5"), out, sizeof out),
                     P11JWT_ERR_IO);
    assert_non_null(strstr(p11jwt_errmsg(), "its group may write"));
    mkdir_mode("sys6", 0703);
    assert_int_equal(rot_lock_dir_pick(NULL, path("sys6"), NULL, out, sizeof out),
                     P11JWT_ERR_IO);
    assert_non_null(strstr(p11jwt_errmsg(), "others may write"));
    mkdir_mode("rd7", 0720);
    assert_int_equal(rot_lock_dir_pick(path("rd7"), NULL, NULL, out, sizeof out),
                     P11JWT_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runtime_directory_first),
        cmocka_unit_test(system_directory_when_ours),
        cmocka_unit_test(system_directory_of_another_user_refuses_root),
        cmocka_unit_test(agent_directory_0750_is_accepted),
        cmocka_unit_test(writable_by_group_or_others_is_refused),
    };
    char cmd[128];
    int r;

    if (mkdtemp(root) == NULL)
        return 1;
    r = cmocka_run_group_tests(tests, NULL, NULL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        r = 1;
    return r;
}
