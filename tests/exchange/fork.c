/*
 * fork.c — a client used before and after fork(): the child must not send
 * its requests on the parent's kept-alive connection (the STS records the
 * client port of each request; the script compares them), and both
 * processes still get tokens.
 *
 * Usage: fork CONFIG PROFILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p11jwt.h"

static int one_token(p11jwt_client *c, const char *who)
{
    p11jwt_access_token t;

    p11jwt_client_invalidate(c, NULL);      /* force an exchange */
    if (p11jwt_client_token(c, &t) != P11JWT_OK) {
        fprintf(stderr, "%s: %s\n", who, p11jwt_errmsg());
        return 1;
    }
    p11jwt_access_token_clear(&t);
    return 0;
}

int main(int argc, char **argv)
{
    p11jwt_profile *p = NULL;
    p11jwt_client *c = NULL;
    int status = 0;
    pid_t pid;

    if (argc != 3) {
        fprintf(stderr, "usage: fork CONFIG PROFILE\n");
        return 2;
    }
    if (p11jwt_profile_load(argv[1], argv[2], &p) != P11JWT_OK ||
        p11jwt_client_new(p, &c) != P11JWT_OK) {
        fprintf(stderr, "set-up: %s\n", p11jwt_errmsg());
        return 1;
    }
    if (one_token(c, "parent, before fork") != 0)  /* opens a kept-alive connection */
        return 1;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        int r = one_token(c, "child");

        p11jwt_client_free(c);
        _exit(r);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "the child failed (status %d)\n", status);
        return 1;
    }
    if (one_token(c, "parent, after fork") != 0)
        return 1;
    p11jwt_client_free(c);
    printf("fork ok\n");
    return 0;
}
