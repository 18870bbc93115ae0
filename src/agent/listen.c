/*
 * listen.c — the agent's one listening socket, a Unix stream socket (there
 * is never a TCP listener).
 *
 * Under systemd socket activation the socket comes from LISTEN_FDS and
 * systemd owns its path and mode. Otherwise the agent makes it: the
 * directory if missing (0750), then the socket with the requested mode
 * (0660 by default), bound under a umask that never lets it exist with a
 * wider mode. A socket file already there is replaced only when nothing
 * answers on it (a previous agent that died); a live agent is never
 * displaced.
 */
#include "agent/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

static int fill_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path)
        return -1;
    memcpy(sa->sun_path, path, strlen(path));
    return 0;
}

/* 1 when an agent answers at path, 0 when the file is a dead socket. */
static int someone_listens(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

    if (fd < 0)
        return 1; /* cannot tell: do not take the path */
    r = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 || errno != ECONNREFUSED;
    close(fd);
    return r;
}

static int make_dir(const char *path, char *err, size_t errcap)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char *slash;
    struct stat st;

    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : (snprintf(err, errcap, "%s is not a directory", dir), -1);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errcap, "cannot make the socket's directory %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int agent_listen(const char *path, unsigned mode, int *activated, char *err, size_t errcap)
{
    struct sockaddr_un sa;
    struct stat st;
    mode_t old;
    int n = sd_listen_fds(1), fd, e;

    *activated = 0;
    if (n < 0) {
        snprintf(err, errcap, "LISTEN_FDS: %s", strerror(-n));
        return -1;
    }
    if (n > 1) {
        snprintf(err, errcap, "systemd passed %d sockets; the agent listens on one", n);
        return -1;
    }
    if (n == 1) {
        if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0) {
            snprintf(err, errcap, "the socket systemd passed is not a listening Unix stream "
                                  "socket (ListenStream=/PATH in the .socket unit)");
            return -1;
        }
        *activated = 1;
        return SD_LISTEN_FDS_START;
    }

    if (fill_addr(path, &sa) != 0) {
        snprintf(err, errcap, "socket path '%s' is longer than %zu bytes", path,
                 sizeof sa.sun_path - 1);
        return -1;
    }
    if (make_dir(path, err, errcap) != 0)
        return -1;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errcap, "%s exists and is not a socket: not replacing it", path);
            return -1;
        }
        if (someone_listens(&sa)) {
            snprintf(err, errcap, "an agent already answers on %s", path);
            return -1;
        }
        if (unlink(path) != 0 && errno != ENOENT) {
            snprintf(err, errcap, "cannot remove the stale socket %s: %s", path,
                     strerror(errno));
            return -1;
        }
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errcap, "socket: %s", strerror(errno));
        return -1;
    }
    old = umask(0177); /* exists as 0600 until chmod gives it its mode */
    e = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : errno;
    umask(old);
    if (e == 0 && chmod(path, (mode_t)mode) != 0)
        e = errno;
    if (e == 0 && listen(fd, SOMAXCONN) != 0)
        e = errno;
    if (e != 0) {
        snprintf(err, errcap, "cannot listen on %s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    return fd;
}
