/*
 * module_args.c — a PKCS#11 module is initialised once per process, with
 * one set of C_Initialize arguments: a second token handle on the same
 * module asking for other arguments is refused with a clear error (never
 * silently given the first one's), and one asking for the same is served.
 *
 *   module_args TOKEN-URI PIN-FILE ARGS OTHER-ARGS
 *
 * The first handle opens with ARGS ("" for none); the second with
 * OTHER-ARGS must fail, a third with ARGS again must open, and after every
 * handle is freed OTHER-ARGS may initialise the module anew (reported, not
 * required to succeed: the module may refuse those arguments).
 * Exit 0 when all held; 1 with "module_args: FAIL: ..." otherwise.
 */
#include <stdio.h>
#include <string.h>

#include "p11jwt.h"

static int fail(const char *what)
{
    fprintf(stderr, "module_args: FAIL: %s (%s)\n", what, p11jwt_errmsg());
    return 1;
}

static p11jwt_rc open_with(const char *uri, const char *pin_file, const char *args,
                           p11jwt_token **out)
{
    p11jwt_token *t = p11jwt_token_new();
    p11jwt_rc rc;

    *out = NULL;
    if (t == NULL)
        return P11JWT_ERR_NOMEM;
    p11jwt_token_set_pin_prompt(t, 0);
    rc = p11jwt_token_set_pin_file(t, pin_file);
    if (rc == P11JWT_OK)
        rc = p11jwt_token_set_module_args(t, args);
    if (rc == P11JWT_OK)
        rc = p11jwt_token_open(t, uri);
    if (rc == P11JWT_OK && p11jwt_token_set_module_args(t, args) != P11JWT_ERR_ARG) {
        fprintf(stderr, "module_args: FAIL: module arguments accepted after open\n");
        rc = P11JWT_ERR_ARG;
    }
    if (rc != P11JWT_OK)
        p11jwt_token_free(t);
    else
        *out = t;
    return rc;
}

int main(int argc, char *argv[])
{
    p11jwt_token *a = NULL, *b = NULL, *c = NULL;
    p11jwt_rc rc;
    int r = 0;

    if (argc != 5) {
        fprintf(stderr, "usage: module_args TOKEN-URI PIN-FILE ARGS OTHER-ARGS\n");
        return 2;
    }
    if (open_with(argv[1], argv[2], argv[3], &a) != P11JWT_OK)
        return fail("the first handle does not open");
    rc = open_with(argv[1], argv[2], argv[4], &b);
    if (rc == P11JWT_OK)
        r = fail("a second handle with other module arguments was opened");
    else if (rc != P11JWT_ERR_MODULE || strstr(p11jwt_errmsg(), "already initialised") == NULL)
        r = fail("the second handle failed, but not for its module arguments");
    else
        printf("ok - other arguments refused: %s\n", p11jwt_errmsg());
    if (r == 0 && open_with(argv[1], argv[2], argv[3], &c) != P11JWT_OK)
        r = fail("a third handle with the same arguments does not open");
    else if (r == 0)
        printf("ok - the same arguments share the module\n");
    p11jwt_token_free(c);
    p11jwt_token_free(b);
    p11jwt_token_free(a);
    if (r == 0) {
        rc = open_with(argv[1], argv[2], argv[4], &b);
        printf("ok - after every handle was freed, other arguments reach C_Initialize: %s\n",
               rc == P11JWT_OK ? "opened" : p11jwt_errmsg());
        p11jwt_token_free(b);
    }
    return r;
}
