/*
 * agent.c — the agent's life: start, serve, reload, drain, stop.
 *
 * Start-up does everything that can fail before the socket exists — load
 * every profile, log in to each token once (a wrong PIN ends the start
 * with the library's message; it is not retried), then listen — so that
 * a socket that answers is an agent that works. The main thread then only
 * waits for signals (blocked in every thread, taken with sigtimedwait):
 * SIGHUP reloads, SIGTERM/SIGINT drain, and the 1-second timeout is the
 * housekeeping tick that closes connections whose request is overdue.
 * Core dumps are off and the process is not dumpable (no ptrace by other
 * processes of the same user): its memory holds the token sessions and
 * the access tokens.
 */
#include "agent/agent.h"

#include "token-client/ptc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

static void no_core_dumps(void)
{
    struct rlimit rl = { 0, 0 };

    if (setrlimit(RLIMIT_CORE, &rl) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        agent_log(AGENT_WARNING, "could not disable core dumps: %s", strerror(errno));
}

/* Room for every connection a flood can open before the caps close them:
 * the soft descriptor limit up to the hard one (libmicrohttpd polls, so
 * descriptors past 1024 are fine). */
static void raise_nofile(void)
{
    struct rlimit rl;

    rlim_t want;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    want = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int start_error(const char *msg)
{
    fprintf(stderr, "p11jwt: agent: %s\n", msg);
    sd_notifyf(0, "STATUS=failed: %s", msg);
    return 1;
}

/* Serves until SIGTERM or SIGINT. */
static void serve(sigset_t *sigs)
{
    for (;;) {
        struct timespec tick = { 1, 0 };
        int sig = sigtimedwait(sigs, NULL, &tick);

        if (sig < 0) {
            if (errno == EAGAIN)
                agent_conns_sweep();
            continue;
        }
        if (sig != SIGHUP)
            return;
        sd_notify(0, "RELOADING=1");
        agent_log(AGENT_INFO, "SIGHUP: reloading the configuration");
        agent_registry_reload();
        sd_notify(0, "READY=1");
    }
}

int agent_run(const agent_opts *o)
{
    char path[256], err[1024] = "", serving[1400];
    struct stat st = { 0 };
    sigset_t sigs;
    int fd, activated = 0;
    unsigned left;

    no_core_dumps();
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    /* Before any thread exists, so that every thread inherits the mask. */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    agent_log_init();
    agent_conns_init(o->max_per_uid, o->request_timeout);

    if (o->socket_path != NULL ? snprintf(path, sizeof path, "%s", o->socket_path) >=
                                     (int)sizeof path
                               : ptc_socket_path(1, path, sizeof path) != 0)
        return start_error("the socket path is too long");
    if (agent_registry_start(o, serving, sizeof serving, err, sizeof err) != 0)
        return start_error(err);
    fd = agent_listen(path, o->socket_mode, &activated, err, sizeof err);
    if (fd < 0) {
        agent_registry_stop();
        return start_error(err);
    }
    if (!activated)
        lstat(path, &st);
    if (agent_server_start(fd, o, err, sizeof err) != 0) {
        close(fd);
        agent_registry_stop();
        return start_error(err);
    }
    agent_log(AGENT_INFO, "serving %s", serving);
    if (activated)
        agent_log(AGENT_INFO, "listening on the socket systemd passed (pid %d)", (int)getpid());
    else
        agent_log(AGENT_INFO, "listening on %s (mode %04o, pid %d)", path, o->socket_mode,
                  (int)getpid());
    sd_notifyf(0, "READY=1\nSTATUS=serving tokens%s%s", activated ? "" : " on ",
               activated ? "" : path);

    serve(&sigs);

    sd_notify(0, "STOPPING=1");
    agent_log(AGENT_INFO, "stopping: finishing the requests in flight (at most %d s)",
              AGENT_DRAIN_SECONDS);
    agent_server_quiesce();
    if (!activated) {
        struct stat now;

        /* Only our own socket: another agent may have taken the path. */
        if (lstat(path, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev)
            unlink(path);
    }
    left = agent_conns_drain(agent_now_ms() + AGENT_DRAIN_SECONDS * 1000);
    if (left > 0) {
        agent_log(AGENT_WARNING, "%u request(s) still unanswered after %d s: exiting anyway",
                  left, AGENT_DRAIN_SECONDS);
        _exit(0);
    }
    agent_server_stop();
    agent_registry_stop();
    agent_log(AGENT_INFO, "stopped");
    return 0;
}
