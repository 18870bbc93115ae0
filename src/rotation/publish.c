/*
 * publish.c — running a profile's publish_command with the new JWKS on its
 * standard input, after a rotation step was stored in the token.
 *
 * The decisions: the command gets an environment without the secrets
 * p11jwt knows of (the variables pin_env and client_secret_env name, and
 * any P11JWT_* variable whose name says PIN, SECRET or PASS), so a script
 * that logs its environment leaks nothing; and writing to it can never
 * kill p11jwt: SIGPIPE is blocked in this thread while writing (a signal
 * our own write raised is consumed before the mask is restored), so a
 * command that exits without reading is an error that says so, with its
 * exit status, not a silent death after the state was stored. The command
 * itself is never echoed: it may carry credentials of its own.
 */
#include "rotation/rotation_int.h"

#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Whether the variable NAME=VALUE at e holds a secret of the profile's. */
static int secret_var(const p11jwt_profile *p, const char *e)
{
    size_t n = strcspn(e, "=");
    const char *names[] = { p->pin_env, p->client_secret_env };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i] != NULL && strlen(names[i]) == n && strncmp(e, names[i], n) == 0)
            return 1;
    if (strncmp(e, "P11JWT_", 7) == 0) {
        static const char *const words[] = { "PIN", "SECRET", "PASS" };

        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
            size_t w = strlen(words[i]);

            for (size_t k = 7; k + w <= n; k++)
                if (strncmp(e + k, words[i], w) == 0)
                    return 1;
        }
    }
    return 0;
}

/* The environment for the command: ours less the secrets (pointers into
 * environ; free only the array). */
static char **publish_env(const p11jwt_profile *p)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ != NULL && environ[n] != NULL)
        n++;
    env = calloc(n + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!secret_var(p, environ[i]))
            env[k++] = environ[i];
    return env;
}

/* Writes all len bytes to fd with SIGPIPE blocked in this thread; 0 or the
 * errno of the failed write (EPIPE: the command stopped reading). */
static int write_all_nosigpipe(int fd, const char *data, size_t len)
{
    sigset_t pipe_set, old, pending;
    int was_pending, err = 0;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE);
    while (len > 0) {
        ssize_t w = write(fd, data, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            err = errno;
            break;
        }
        data += w;
        len -= (size_t)w;
    }
    /* The SIGPIPE our write raised is ours: take it before unblocking, or
     * it would be delivered (and kill the process) right after. */
    if (err == EPIPE && !was_pending) {
        const struct timespec zero = { 0, 0 };

        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

p11jwt_rc rot_publish(const p11jwt_profile *p, const char *data, size_t len)
{
    char sh[] = "sh", dash_c[] = "-c";
    char *argv[] = { sh, dash_c, p->publish_command, NULL };
    posix_spawn_file_actions_t fa;
    char **env = publish_env(p);
    int fds[2] = { -1, -1 }, status = 0, werr, serr;
    pid_t pid;

    if (env == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (pipe(fds) != 0 || fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
        serr = errno;
        if (fds[0] >= 0) {
            close(fds[0]);
            close(fds[1]);
        }
        free(env);
        return err_set(P11JWT_ERR_IO, "publish_command: cannot make a pipe: %s", strerror(serr));
    }
    /* The read end becomes its standard input; every other descriptor of
     * ours that is close-on-exec stays ours. */
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
    serr = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(fds[0]);
    if (serr != 0) {
        close(fds[1]);
        return err_set(P11JWT_ERR_IO,
                       "the change is stored in the token, but publish_command of profile '%s' "
                       "could not start (%s): publish 'p11jwt jwks --profile %s' by hand",
                       ESC(p->name), strerror(serr), ESC(p->name));
    }
    werr = write_all_nosigpipe(fds[1], data, len);
    close(fds[1]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            status = -1;
            break;
        }
    if (werr == 0 && status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return P11JWT_OK;
    {
        char what[160];

        if (status == -1)
            snprintf(what, sizeof what, "its exit status is unknown");
        else if (WIFSIGNALED(status))
            snprintf(what, sizeof what, "it was killed by signal %d (%s)", WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
        else
            snprintf(what, sizeof what, "it exited with status %d", WEXITSTATUS(status));
        return err_set(P11JWT_ERR_IO,
                       "the change is stored in the token, but publish_command of profile '%s' "
                       "failed: %s%s%s%s: publish 'p11jwt jwks --profile %s' by hand",
                       ESC(p->name), werr == EPIPE ? "it stopped reading the JWKS, and " : "",
                       werr != 0 && werr != EPIPE ? strerror(werr) : "",
                       werr != 0 && werr != EPIPE ? " writing the JWKS, and " : "", what,
                       ESC(p->name));
    }
}
