/*
 * lock.c — the host-local lock that makes rotation steps on one keyring
 * run one at a time on this host. The versioned state keeps hosts
 * consistent, but SoftHSM's file store fails (CKR_GENERAL_ERROR) when one
 * process reads a token another is rewriting, so local steps are simply
 * taken one at a time.
 *
 * The decision: a lock file in a directory only this user can write, one
 * that every process of the same user on the host finds, and a bounded
 * wait. A predictable name in /tmp let another local user create and hold
 * the file, and flock waited for ever; a lock in /tmp was not shared under
 * systemd's PrivateTmp=. The directory is, in order, $RUNTIME_DIRECTORY
 * (systemd's RuntimeDirectory=), the system's /run/p11jwt/lock when it
 * exists and is this user's (the units make it: the timer, the agent and
 * an operator running `sudo -u p11jwt p11jwt rotate ...` then share it;
 * root is refused there rather than given a lock of its own),
 * $XDG_RUNTIME_DIR/p11jwt (which a user's own agent shares, at 0750), or
 * /tmp/p11jwt-UID; the last two are made 0700 if missing. Each is checked
 * with lstat: a directory, not a symlink, owned by this user, and neither
 * group- nor other-writable; otherwise refused. The file is opened
 * O_NOFOLLOW, mode 0600, and must be a regular file of this user. The wait
 * polls flock(LOCK_NB) for at most $P11JWT_LOCK_TIMEOUT seconds (default
 * 30), then fails naming the file.
 */
#include "rotation/rotation_int.h"

#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef P11JWT_SYSTEM_LOCK_DIR
#define P11JWT_SYSTEM_LOCK_DIR "/run/p11jwt/lock"
#endif
#define LOCK_TIMEOUT_DEFAULT 30
#define LOCK_TIMEOUT_MAX 3600

/* Checks that dir is a directory of ours that nobody else can write in. */
static p11jwt_rc check_dir(const char *dir)
{
    struct stat st;

    if (lstat(dir, &st) != 0)
        return err_set(P11JWT_ERR_IO, "lock directory %s: %s", ESC(dir), strerror(errno));
    if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode))
        return err_set(P11JWT_ERR_IO, "lock directory %s is %s, not a directory: refused",
                       ESC(dir), S_ISLNK(st.st_mode) ? "a symbolic link" : "a file");
    if (st.st_uid != geteuid())
        return err_set(P11JWT_ERR_IO,
                       "lock directory %s belongs to uid %lu, not to this user (%lu): refused",
                       ESC(dir), (unsigned long)st.st_uid, (unsigned long)geteuid());
    if ((st.st_mode & 022) != 0)
        return err_set(P11JWT_ERR_IO,
                       "lock directory %s has mode %04o (%s may write in it): refused", ESC(dir),
                       (unsigned)(st.st_mode & 07777),
                       (st.st_mode & 002) != 0 ? "others" : "its group");
    return P11JWT_OK;
}

/* Makes dir (0700) unless it exists, then checks it. */
static p11jwt_rc own_dir(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return err_set(P11JWT_ERR_IO, "cannot make lock directory %s: %s", ESC(dir),
                       strerror(errno));
    return check_dir(dir);
}

UNITTEST p11jwt_rc rot_lock_dir_pick(const char *rd, const char *sysdir, const char *xdg,
                                     char *out, size_t cap)
{
    struct stat st;
    int n;

    if (rd != NULL && rd[0] == '/') {
        /* systemd lists several directories separated by ':'; the first. */
        n = snprintf(out, cap, "%.*s", (int)strcspn(rd, ":"), rd);
        if (n < 0 || (size_t)n >= cap)
            return err_set(P11JWT_ERR_IO, "$RUNTIME_DIRECTORY is too long");
        return check_dir(out);
    }
    /* The system's directory, when this user's: the units' steps and an
     * operator running as the units' user meet there. Another user's is
     * not ours to use (nor to refuse a step for), except for root: root
     * reaches the units' token, so a lock of its own would let a step by
     * hand run beside the timer's. Root is sent to the units' user. */
    if (sysdir != NULL && lstat(sysdir, &st) == 0 && st.st_uid != geteuid() &&
        geteuid() == 0)
        return err_set(P11JWT_ERR_IO,
                       "lock directory %s belongs to uid %lu (the units' user), so a step run "
                       "as root would not wait for the timer's: run it as that user "
                       "(sudo -u p11jwt p11jwt rotate ...), or set RUNTIME_DIRECTORY to a "
                       "directory of root's if this keyring is not the units'",
                       ESC(sysdir), (unsigned long)st.st_uid);
    if (sysdir != NULL && lstat(sysdir, &st) == 0 && st.st_uid == geteuid()) {
        n = snprintf(out, cap, "%s", sysdir);
        if (n < 0 || (size_t)n >= cap)
            return err_set(P11JWT_ERR_IO, "the lock directory's name is too long");
        return check_dir(out);
    }
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, cap, "%s/p11jwt", xdg);
    else
        n = snprintf(out, cap, "/tmp/p11jwt-%lu", (unsigned long)geteuid());
    if (n < 0 || (size_t)n >= cap)
        return err_set(P11JWT_ERR_IO, "$XDG_RUNTIME_DIR is too long");
    return own_dir(out);
}

p11jwt_rc rot_lock_dir(char *out, size_t cap)
{
    return rot_lock_dir_pick(getenv("RUNTIME_DIRECTORY"), P11JWT_SYSTEM_LOCK_DIR,
                             getenv("XDG_RUNTIME_DIR"), out, cap);
}

static int64_t lock_timeout(void)
{
    const char *v = getenv("P11JWT_LOCK_TIMEOUT");
    char *end;
    long long t;

    if (v == NULL || v[0] == '\0')
        return LOCK_TIMEOUT_DEFAULT;
    t = strtoll(v, &end, 10);
    if (*end != '\0' || t < 0 || t > LOCK_TIMEOUT_MAX)
        return LOCK_TIMEOUT_DEFAULT;
    return t;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

p11jwt_rc rot_lock_acquire(const char *token, const char *keyring, int *fd_out)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over token URI and name */
    char dir[384], path[512];
    struct stat st;
    int64_t timeout = lock_timeout(), start;
    p11jwt_rc rc;
    int fd;

    *fd_out = -1;
    for (const char *s = token ? token : ""; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    h = (h ^ '\n') * 1099511628211ULL;
    for (const char *s = keyring; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    rc = rot_lock_dir(dir, sizeof dir);
    if (rc != P11JWT_OK)
        return err_wrap(rc, "keyring '%s': cannot take this host's lock", ESC(keyring));
    snprintf(path, sizeof path, "%s/keyring-%016" PRIx64 ".lock", dir, h);
    fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(P11JWT_ERR_IO, "keyring '%s': cannot open the lock file %s: %s%s",
                       ESC(keyring), ESC(path), strerror(errno),
                       errno == ELOOP ? " (a symbolic link: refused)" : "");
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return err_set(P11JWT_ERR_IO,
                       "keyring '%s': the lock file %s is not a regular file of this user: "
                       "refused",
                       ESC(keyring), ESC(path));
    }
    start = now_ms();
    for (;;) {
        struct timespec pause = { 0, 50 * 1000 * 1000 };

        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            rc = err_set(P11JWT_ERR_IO, "keyring '%s': cannot lock %s: %s", ESC(keyring),
                         ESC(path), strerror(errno));
            close(fd);
            return rc;
        }
        if (now_ms() - start >= timeout * 1000) {
            close(fd);
            return err_set(P11JWT_ERR_CONFLICT,
                           "keyring '%s': another process on this host has held the lock file "
                           "%s for %" PRId64 " s; nothing was done (try again later; "
                           "P11JWT_LOCK_TIMEOUT sets the wait)",
                           ESC(keyring), ESC(path), timeout);
        }
        nanosleep(&pause, NULL);
    }
    *fd_out = fd;
    return P11JWT_OK;
}

void rot_lock_release(int fd)
{
    if (fd >= 0)
        close(fd);
}
