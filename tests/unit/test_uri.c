/*
 * test_uri.c — what p11jwt_token_open makes of a token URI before and while
 * it reaches a module: malformed URIs, a missing module, a pin-source of the
 * wrong kind, object=/id= as the kid, and a token label that is not there.
 * Runs SoftHSM on an empty token directory of its own (no key is made).
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

static char tmpdir[] = "/tmp/p11jwt-test-uri.XXXXXX";

static int setup(void **state)
{
    char path[256];
    FILE *f;

    (void)state;
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/softhsm2.conf", tmpdir);
    f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
            tmpdir);
    fclose(f);
    setenv("SOFTHSM2_CONF", path, 1);
    return 0;
}

static int teardown(void **state)
{
    char path[256];

    (void)state;
    snprintf(path, sizeof path, "%s/softhsm2.conf", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return 0;
}

static p11jwt_rc open_uri(const char *uri)
{
    p11jwt_token *t = p11jwt_token_new();
    p11jwt_rc rc;

    assert_non_null(t);
    rc = p11jwt_token_open(t, uri);
    p11jwt_token_free(t);
    return rc;
}

static int module_available(void)
{
    return access(P11JWT_TEST_MODULE, R_OK) == 0;
}

static void not_a_pkcs11_uri(void **state)
{
    (void)state;
    assert_int_equal(open_uri("notauri"), P11JWT_ERR_URI);
    assert_non_null(strstr(p11jwt_errmsg(), "pkcs11:"));
    assert_int_equal(open_uri("token=x"), P11JWT_ERR_URI);
}

static void bad_percent_encoding(void **state)
{
    (void)state;
    assert_int_equal(open_uri("pkcs11:token=%zz"), P11JWT_ERR_URI);
    assert_non_null(strstr(p11jwt_errmsg(), "malformed"));
}

static void pin_source_must_be_a_file(void **state)
{
    (void)state;
    assert_int_equal(open_uri("pkcs11:token=x?pin-source=https://example.invalid/pin"),
                     P11JWT_ERR_URI);
    assert_non_null(strstr(p11jwt_errmsg(), "pin-source"));
}

static void missing_module(void **state)
{
    (void)state;
    assert_int_equal(open_uri("pkcs11:token=x?module-path=/nonexistent/libnothing.so"),
                     P11JWT_ERR_MODULE);
    assert_non_null(strstr(p11jwt_errmsg(), "/nonexistent/libnothing.so"));
}

/* A PIN never comes from a URI: refused before any module is loaded,
 * never echoed, and the message says where a PIN comes from instead. */
static void pin_value_refused(void **state)
{
    static const char *const uris[] = {
        "pkcs11:token=x?module-path=/nonexistent/lib.so&pin-value=S3cr3tPIN",
        "pkcs11:token=x?pin-value=S3cr3tPIN",
        "pkcs11:token=x?PIN-Value=S3cr3tPIN",
        "pkcs11:token=x;pin-value=S3cr3tPIN",
        "pkcs11:pin-value=S3cr3tPIN",
    };

    (void)state;
    for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
        assert_int_equal(open_uri(uris[i]), P11JWT_ERR_URI);
        assert_null(strstr(p11jwt_errmsg(), "S3cr3tPIN"));
        assert_non_null(strstr(p11jwt_errmsg(), "pin-source="));
        assert_non_null(strstr(p11jwt_errmsg(), "--pin-file"));
        assert_non_null(strstr(p11jwt_errmsg(), "--pin-env"));
    }
    /* the text in a label is not the attribute */
    assert_int_equal(open_uri("pkcs11:token=x;object=my-pin-value-key?module-path=/nonexistent/l.so"),
                     P11JWT_ERR_MODULE);
}

/* p11-kit ignores unknown attributes and query attributes in the path;
 * p11jwt refuses them, showing the URI as it should be (issue 17.5). */
static void misplaced_and_unknown_refused(void **state)
{
    (void)state;
    assert_int_equal(open_uri("pkcs11:token=X;module-path=/opt/vendor/lib/libpkcs11.so"),
                     P11JWT_ERR_URI);
    assert_non_null(strstr(p11jwt_errmsg(),
                           "write it pkcs11:token=X?module-path=/opt/vendor/lib/libpkcs11.so"));
    assert_int_equal(open_uri("pkcs11:object=k;pin-source=/p?token=X&module-path=/m.so"),
                     P11JWT_ERR_URI);
    assert_non_null(strstr(p11jwt_errmsg(),
                           "write it pkcs11:object=k;token=X?pin-source=/p&module-path=/m.so"));
    /* An unknown attribute: the URI shown has the known name it is
     * closest to, in its part, or goes without it. */
    assert_int_equal(open_uri("pkcs11:tokn=X"), P11JWT_ERR_URI);
    assert_non_null(strstr(p11jwt_errmsg(), "unknown attribute 'tokn' (token?)"));
    assert_non_null(strstr(p11jwt_errmsg(), "write it pkcs11:token=X"));
    assert_int_equal(open_uri("pkcs11:token=X?foo=bar"), P11JWT_ERR_URI);
    assert_non_null(strstr(p11jwt_errmsg(), "unknown attribute 'foo'"));
    assert_non_null(strstr(p11jwt_errmsg(), "write it pkcs11:token=X"));
    assert_null(strstr(p11jwt_errmsg(), "bar"));
    assert_int_equal(open_uri("pkcs11:token=X;modul-path=/m.so"), P11JWT_ERR_URI);
    assert_non_null(strstr(p11jwt_errmsg(), "write it pkcs11:token=X?module-path=/m.so"));
    /* Never pin-value: a misspelt one's value is not echoed. */
    assert_int_equal(open_uri("pkcs11:token=X?pin-valu=s3cr3t"), P11JWT_ERR_URI);
    assert_null(strstr(p11jwt_errmsg(), "s3cr3t"));
    assert_non_null(strstr(p11jwt_errmsg(), "write it pkcs11:token=X"));
    assert_int_equal(open_uri("pkcs11:tokn=X;objct=k"), P11JWT_ERR_URI);
    assert_non_null(strstr(p11jwt_errmsg(), "unknown attributes 'tokn' (token?) and 'objct'"));
    /* Well placed: on to the module (absent here). */
    assert_int_equal(open_uri("pkcs11:token=X;serial=1;object=k;id=%41"
                              "?module-path=/nonexistent/l.so&pin-source=/p"),
                     P11JWT_ERR_MODULE);
}

static void token_label_not_found(void **state)
{
    char uri[256];

    (void)state;
    if (!module_available())
        skip();
    snprintf(uri, sizeof uri, "pkcs11:token=no-such-token?module-path=%s", P11JWT_TEST_MODULE);
    assert_int_equal(open_uri(uri), P11JWT_ERR_TOKEN_NOT_FOUND);
    assert_non_null(strstr(p11jwt_errmsg(), "no token matches"));
}

static void object_and_id_give_the_kid(void **state)
{
    p11jwt_token *t = p11jwt_token_new();
    char uri[256];

    (void)state;
    if (!module_available())
        skip();
    /* The open fails (no such token) after the URI is parsed: the kid it
     * names is known either way. */
    snprintf(uri, sizeof uri, "pkcs11:token=none;object=my-label?module-path=%s",
             P11JWT_TEST_MODULE);
    p11jwt_token_open(t, uri);
    assert_string_equal(p11jwt_token_uri_kid(t), "my-label");
    p11jwt_token_free(t);

    t = p11jwt_token_new();
    snprintf(uri, sizeof uri, "pkcs11:token=none;object=lbl;id=%%6b%%31?module-path=%s",
             P11JWT_TEST_MODULE);
    p11jwt_token_open(t, uri);
    assert_string_equal(p11jwt_token_uri_kid(t), "k1");
    p11jwt_token_free(t);
}

/* Found by fuzz_pkcs11_uri: a %00 in object= cut the kid short, so that
 * "k1%00x" named the key k1 (and "%00..." named no key at all). */
static void nul_in_kid_refused(void **state)
{
    p11jwt_token *t = p11jwt_token_new();
    char uri[256];

    (void)state;
    if (!module_available())
        skip();
    snprintf(uri, sizeof uri, "pkcs11:token=none;object=k1%%00x?module-path=%s",
             P11JWT_TEST_MODULE);
    assert_int_equal(p11jwt_token_open(t, uri), P11JWT_ERR_URI);
    assert_non_null(strstr(p11jwt_errmsg(), "NUL byte"));
    assert_null(p11jwt_token_uri_kid(t));
    p11jwt_token_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(not_a_pkcs11_uri),
        cmocka_unit_test(bad_percent_encoding),
        cmocka_unit_test(pin_source_must_be_a_file),
        cmocka_unit_test(missing_module),
        cmocka_unit_test(pin_value_refused),
        cmocka_unit_test(misplaced_and_unknown_refused),
        cmocka_unit_test(token_label_not_found),
        cmocka_unit_test(object_and_id_give_the_kid),
        cmocka_unit_test(nul_in_kid_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
