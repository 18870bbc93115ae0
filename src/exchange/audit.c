/*
 * audit.c — audit records of signatures and key rotations, one compact
 * JSON object per line, to a file or to syslog (LOG_AUTHPRIV). The file is
 * opened O_APPEND (lines from several processes never interleave) and
 * O_NOFOLLOW, and must be a regular file of this user's that only this user
 * may write. A record that cannot be written is a warning through the
 * logger, never an error of the signature or step it records. An audit
 * record never holds a token, a PIN or a secret: the signature is
 * identified by its jti and the SHA-256 of its signing input.
 */
#include "exchange/exchange_int.h"

#include "jose/jose.h"


#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Opens the audit file for appending, or logs why not and returns -1:
 * never through a symlink (another user's link would make us append to
 * whatever it points at), only a regular file of this user's that no one
 * else may write (or a line could be forged in between). */
static int open_audit_file(const char *path)
{
    /* O_NONBLOCK: a FIFO with no reader must not hang us (refused below). */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                  0600);
    const char *why = NULL;
    struct stat st;

    if (fd < 0) {
        base_log(P11JWT_LOG_WARNING, "audit: cannot append to %s: %s%s", ESC(path),
                 strerror(errno), errno == ELOOP ? " (a symbolic link: refused)" : "");
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
    base_log(P11JWT_LOG_WARNING, "audit: refusing to append to %s: %s", ESC(path), why);
    close(fd);
    return -1;
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
        const char *path = p->audit + 5;
        size_t len = strlen(line);
        int fd = open_audit_file(path);

        /* One write of the whole line: O_APPEND keeps lines whole. */
        line[len] = '\n';
        if (fd >= 0 && write(fd, line, len + 1) != (ssize_t)(len + 1))
            base_log(P11JWT_LOG_WARNING, "audit: cannot append to %s: %s", ESC(path),
                     strerror(errno));
        line[len] = '\0';
        if (fd >= 0)
            close(fd);
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

void exch_audit_signature(const p11jwt_profile *p, const char *kid, const char *jws)
{
    jose_jws_parts parts;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    json_t *obj, *claims = NULL, *header = NULL;

    if (p->audit == NULL || strcmp(p->audit, "off") == 0)
        return;
    if (jose_jws_split(jws, strlen(jws), &parts) < 3)
        return;
    SHA256((const unsigned char *)jws, parts.header_len + 1 + parts.payload_len, digest);
    for (size_t i = 0; i < sizeof digest; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    jose_jws_peek(jws, &header, &claims);
    obj = exch_audit_event("sign");
    if (obj != NULL) {
        json_object_set_new(obj, "kid", json_string(kid));
        json_object_set(obj, "alg", json_object_get(header, "alg"));
        json_object_set(obj, "jti", json_object_get(claims, "jti"));
        json_object_set(obj, "aud", json_object_get(claims, "aud"));
        json_object_set_new(obj, "sha256", json_string(hex));
    }
    exch_audit(p, obj);
    json_decref(claims);
    json_decref(header);
}
