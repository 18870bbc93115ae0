/*
 * secret.c — secrets the library handles itself: read from a file (a PIN
 * file, a client secret, an HMAC secret), and wiped before their memory
 * is given back. A buffer that grows is copied and the old copy wiped,
 * never realloc'd, so no copy is left behind in freed memory; every
 * free of a secret goes through base_secret_free or base_secret_free_n.
 */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void base_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

void base_secret_free_n(void *p, size_t n)
{
    if (p == NULL)
        return;
    base_wipe(p, n);
    free(p);
}

void base_secret_free(char *s)
{
    if (s != NULL)
        base_secret_free_n(s, strlen(s));
}

/* Grows buf to hold at least need bytes without leaving copies of the old
 * contents behind in freed memory. */
static int grow_wiped(unsigned char **buf, size_t *cap, size_t used, size_t need)
{
    size_t ncap = *cap ? *cap : 256;
    unsigned char *nbuf;

    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    if (ncap == *cap)
        return 0;
    nbuf = malloc(ncap);
    if (nbuf == NULL)
        return -1;
    if (*buf != NULL) {
        memcpy(nbuf, *buf, used);
        base_secret_free_n(*buf, *cap);
    }
    *buf = nbuf;
    *cap = ncap;
    return 0;
}

p11jwt_rc base_secret_read_file(const char *path, size_t max, unsigned char **out,
                                size_t *out_len)
{
    int fd;
    unsigned char *buf = NULL;
    size_t cap = 0, used = 0;
    p11jwt_rc rc = P11JWT_OK;
    const char *name = strcmp(path, "-") == 0 ? "standard input" : path;

    *out = NULL;
    *out_len = 0;
    fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(P11JWT_ERR_IO, "cannot read %s: %s", ESC(name), strerror(errno));

    for (;;) {
        ssize_t n;

        if (grow_wiped(&buf, &cap, used, used + 1) != 0) {
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory reading %s", ESC(name));
            goto out;
        }
        n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(P11JWT_ERR_IO, "cannot read %s: %s", ESC(name), strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        used += (size_t)n;
        /* used > max + 1, without the + 1 (max may be SIZE_MAX): one more
         * byte than max may be the newline that is stripped. */
        if (used - 1 > max) {
            rc = err_set(P11JWT_ERR_IO, "%s is larger than %zu bytes", ESC(name), max);
            goto out;
        }
    }
    if (used > 0 && buf[used - 1] == '\n')
        used--;
    if (used > max) {
        rc = err_set(P11JWT_ERR_IO, "%s is larger than %zu bytes", ESC(name), max);
        goto out;
    }
    /* Callers may treat text input (a JWS, a JWKS) as a C string. */
    if (grow_wiped(&buf, &cap, used, used + 1) != 0) {
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory reading %s", ESC(name));
        goto out;
    }
    buf[used] = '\0';
    *out = buf;
    *out_len = used;
    buf = NULL;
out:
    base_secret_free_n(buf, cap);
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}

p11jwt_rc p11jwt_secret_read_file(const char *path, size_t max, unsigned char **out,
                                  size_t *out_len)
{
    err_clear();
    return base_secret_read_file(path, max, out, out_len);
}

void p11jwt_secret_free(unsigned char *secret, size_t len)
{
    base_secret_free_n(secret, len);
}
