/*
 * audit.c — audit records of signatures and key rotations, one compact
 * JSON object per line, to a file or to syslog (LOG_AUTHPRIV): a profile's
 * (exch_audit), and an application's own for offline signing
 * (p11jwt_audit_*, what `p11jwt sign --audit` writes). The file is opened
 * O_APPEND (lines from several processes never interleave) and O_NOFOLLOW,
 * and must be a regular file of this user's that only this user may write.
 * An audit record never holds a token, a PIN or a secret: the signature is
 * identified by its jti and the SHA-256 of its signing input.
 *
 * The decision: a profile's record that cannot be written is a warning
 * through the logger, never an error of the exchange or step it records;
 * an offline signer's is an error (P11JWT_ERR_IO), so that its caller can
 * withhold the signature — there the record is the point. For the same
 * reason the offline syslog target speaks to /dev/log itself (syslog(3)
 * drops a line silently when no daemon listens).
 */
#include "exchange/exchange_int.h"

#include "jose/jose.h"


#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define SYSLOG_PATH "/dev/log"

/* Opens the audit file for appending, or sets why not (P11JWT_ERR_IO) and
 * returns -1: never through a symlink (another user's link would make us
 * append to whatever it points at), only a regular file of this user's
 * that no one else may write (or a line could be forged in between). */
static int open_audit_file(const char *path)
{
    /* O_NONBLOCK: a FIFO with no reader must not hang us (refused below). */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                  0600);
    const char *why = NULL;
    struct stat st;

    if (fd < 0) {
        err_set(P11JWT_ERR_IO, "audit: cannot append to %s: %s%s", ESC(path), strerror(errno),
                errno == ELOOP ? " (a symbolic link: refused)" : "");
        return -1;
    }
    if (fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_uid != geteuid())
        why = "it belongs to another user";
    else if (st.st_mode & 022)
        why = "others may write to it (chmod go-w)";
    if (why == NULL)
        return fd;
    err_set(P11JWT_ERR_IO, "audit: refusing to append to %s: %s", ESC(path), why);
    close(fd);
    return -1;
}

/* Writes line (len bytes, with room for one more) and a newline in one
 * write(2): O_APPEND keeps lines whole. */
static p11jwt_rc append_line(int fd, const char *path, char *line, size_t len)
{
    ssize_t n;

    line[len] = '\n';
    n = write(fd, line, len + 1);
    line[len] = '\0';
    if (n == (ssize_t)(len + 1))
        return P11JWT_OK;
    return err_set(P11JWT_ERR_IO, "audit: cannot append to %s: %s", ESC(path),
                   n < 0 ? strerror(errno) : "short write (disk full?)");
}

void exch_audit(const p11jwt_profile *p, json_t *obj)
{
    char *line = NULL;

    if (p->audit == NULL || strcmp(p->audit, "off") == 0 || obj == NULL) {
        json_decref(obj);
        return;
    }
    json_object_set_new(obj, "profile", json_string(p->name));
    line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (line == NULL)
        return;
    if (strcmp(p->audit, "syslog") == 0) {
        syslog(LOG_AUTHPRIV | LOG_INFO, "p11jwt audit: %s", line);
    } else {
        /* A failure here is the logger's, not the caller's message. */
        const char *path = p->audit + 5;
        err_saved saved;
        int fd;

        err_save(&saved, P11JWT_OK);
        fd = open_audit_file(path);
        if (fd < 0 || append_line(fd, path, line, strlen(line)) != P11JWT_OK)
            base_log(P11JWT_LOG_WARNING, "%s", p11jwt_errmsg());
        if (fd >= 0)
            close(fd);
        err_restore(&saved);
    }
    free(line);
}

json_t *exch_audit_event(const char *event)
{
    struct timespec ts;
    char when[40];
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s, s:s}", "time", when, "event", event);
}

/* The record of one signature: time, event "sign", kid (NULL: the JWS
 * header's), alg, jti, aud, sha256 of the signing input. NULL when jws is
 * not a compact JWS or memory ran out (*rc and the message set). */
static json_t *signature_record(const char *kid, const char *jws, p11jwt_rc *rc)
{
    jose_jws_parts parts;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    json_t *obj, *claims = NULL, *header = NULL;

    if (jose_jws_split(jws, strlen(jws), &parts) < 3) {
        *rc = err_set(P11JWT_ERR_JWS_MALFORMED, "audit: not a compact JWS");
        return NULL;
    }
    SHA256((const unsigned char *)jws, parts.header_len + 1 + parts.payload_len, digest);
    for (size_t i = 0; i < sizeof digest; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    jose_jws_peek(jws, &header, &claims);
    obj = exch_audit_event("sign");
    if (obj != NULL) {
        if (kid != NULL)
            json_object_set_new(obj, "kid", json_string(kid));
        else
            json_object_set(obj, "kid", json_object_get(header, "kid"));
        json_object_set(obj, "alg", json_object_get(header, "alg"));
        json_object_set(obj, "jti", json_object_get(claims, "jti"));
        json_object_set(obj, "aud", json_object_get(claims, "aud"));
        json_object_set_new(obj, "sha256", json_string(hex));
    } else {
        *rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    json_decref(claims);
    json_decref(header);
    return obj;
}

void exch_audit_signature(const p11jwt_profile *p, const char *kid, const char *jws)
{
    p11jwt_rc rc;

    if (p->audit == NULL || strcmp(p->audit, "off") == 0)
        return;
    exch_audit(p, signature_record(kid, jws, &rc));
}

/* ---- an application's audit of offline signatures ------------------------ */

struct p11jwt_audit {
    int fd;                     /* the file, or the socket to /dev/log */
    int syslog;
    char *path;                 /* the file; NULL for syslog */
};

/* A datagram socket connected to the syslog daemon, or -1 (message set). */
static int open_syslog(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    memcpy(sa.sun_path, SYSLOG_PATH, sizeof SYSLOG_PATH);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    err_set(P11JWT_ERR_IO, "audit: no syslog daemon listens at %s: %s", SYSLOG_PATH,
            strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

p11jwt_rc p11jwt_audit_open(const char *target, p11jwt_audit **out)
{
    p11jwt_audit *a;
    p11jwt_rc rc = P11JWT_OK;

    err_clear();
    *out = NULL;
    if (target == NULL ||
        (strcmp(target, "syslog") != 0 && (strncmp(target, "file:", 5) != 0 || !target[5])))
        return err_set(P11JWT_ERR_ARG, "audit target '%s' is not file:PATH or syslog",
                       target != NULL ? ESC(target) : "(none)");
    a = calloc(1, sizeof *a);
    if (a == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    a->syslog = target[0] == 's';
    if (a->syslog) {
        a->fd = open_syslog();
    } else if ((a->path = strdup(target + 5)) == NULL) {
        a->fd = -1;
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    } else {
        a->fd = open_audit_file(a->path);
    }
    if (rc == P11JWT_OK && a->fd < 0)
        rc = P11JWT_ERR_IO;
    if (rc != P11JWT_OK) {
        p11jwt_audit_free(a);
        return rc;
    }
    *out = a;
    return P11JWT_OK;
}

/* One record to the syslog daemon as syslog(3) would send it (RFC 3164
 * without the host), but told when it was not taken. */
static p11jwt_rc send_syslog(int fd, const char *line)
{
    time_t now = time(NULL);
    char stamp[32], *msg;
    size_t cap = strlen(line) + 96;
    struct tm tm;
    int n;
    p11jwt_rc rc = P11JWT_OK;

    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
    if ((msg = malloc(cap)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    n = snprintf(msg, cap, "<%d>%s p11jwt[%ld]: p11jwt audit: %s", LOG_AUTHPRIV | LOG_INFO,
                 stamp, (long)getpid(), line);
    if (send(fd, msg, (size_t)n, MSG_NOSIGNAL) != n)
        rc = err_set(P11JWT_ERR_IO, "audit: the syslog daemon at %s did not take the record: %s",
                     SYSLOG_PATH, strerror(errno));
    free(msg);
    return rc;
}

p11jwt_rc p11jwt_audit_signature(p11jwt_audit *a, const char *jws)
{
    json_t *obj;
    char *line;
    p11jwt_rc rc;

    err_clear();
    if (a == NULL || jws == NULL)
        return err_set(P11JWT_ERR_ARG, "audit: no audit or no JWS");
    obj = signature_record(NULL, jws, &rc);
    if (obj == NULL)
        return rc;
    line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (line == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    rc = a->syslog ? send_syslog(a->fd, line) : append_line(a->fd, a->path, line, strlen(line));
    free(line);
    return rc;
}

void p11jwt_audit_free(p11jwt_audit *a)
{
    if (a == NULL)
        return;
    if (a->fd >= 0)
        close(a->fd);
    free(a->path);
    free(a);
}
