/*
 * http1.c — HTTP/1.1 over the agent's Unix socket, as little of it as the
 * agent speaks: requests with an optional JSON body, answers framed by
 * Content-Length (or by the end of the connection), keep-alive.
 *
 * The head parser is a pure function over the bytes read so far; the I/O
 * around it reads with one deadline for the whole exchange (poll, never a
 * spin), and refuses heads over 8 KiB and bodies over 1 MiB.
 */
#include "token-client/ptc.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void ptc_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (p != NULL && n-- > 0)
        *v++ = 0;
}

/* ---- the head parser ------------------------------------------------------ */

static const char *find_crlfcrlf(const char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return buf + i;
    return NULL;
}

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Does the comma-separated list v[0..n) hold token `tok` (any case)? */
static int list_has(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0;

    while (i < n) {
        size_t s, e;

        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        s = i;
        while (i < n && v[i] != ',')
            i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return 1;
    }
    return 0;
}

static int parse_header(const char *line, size_t n, ptc_head *out)
{
    const char *colon = memchr(line, ':', n), *v;
    size_t nl, vl;

    if (colon == NULL || colon == line)
        return -1;
    nl = (size_t)(colon - line);
    for (size_t i = 0; i < nl; i++)
        if (!is_tchar((unsigned char)line[i]))
            return -1;
    v = colon + 1;
    vl = n - nl - 1;
    for (size_t i = 0; i < vl; i++)
        if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
            return -1;
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
        long long cl = 0;

        if (vl == 0 || vl > 18)
            return -1;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return -1;
            cl = cl * 10 + (v[i] - '0');
        }
        if (out->content_length >= 0 && out->content_length != cl)
            return -1;
        out->content_length = cl;
    } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
        return -1;
    } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
        if (list_has(v, vl, "close"))
            out->close = 1;
    }
    return 0;
}

int ptc_http_parse_head(const char *buf, size_t len, ptc_head *out)
{
    size_t limit = len < PTC_MAX_HEAD ? len : PTC_MAX_HEAD, pos;
    const char *end = find_crlfcrlf(buf, limit);
    int status = 0;

    memset(out, 0, sizeof *out);
    out->content_length = -1;
    if (end == NULL)
        return len >= PTC_MAX_HEAD ? -1 : 0;
    out->head_len = (size_t)(end - buf) + 4;
    /* "HTTP/1.x SSS[ reason]\r\n" */
    if (out->head_len < 16 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
        buf[8] != ' ')
        return -1;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
        status = status * 10 + (buf[i] - '0');
    }
    if (status < 100 || status > 599 || (buf[12] != ' ' && buf[12] != '\r'))
        return -1;
    out->status = status;
    for (pos = 12; buf[pos] != '\r'; pos++)
        if ((unsigned char)buf[pos] < 0x20 && buf[pos] != '\t')
            return -1;
    if (buf[pos + 1] != '\n')
        return -1;
    pos += 2;
    /* Header lines up to the blank one (at head_len - 2). */
    while (pos < out->head_len - 2) {
        size_t e = pos;

        while (buf[e] != '\r')
            e++;
        if (buf[e + 1] != '\n' || parse_header(buf + pos, e - pos, out) != 0)
            return -1;
        pos = e + 2;
    }
    return 1;
}

long ptc_url_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            if (o + 1 >= cap)
                return -1;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= cap)
                return -1;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (cap == 0)
        return -1;
    out[o] = '\0';
    return (long)o;
}

/* ---- I/O ---------------------------------------------------------------- */

static void say(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ptc_connect(ptc_conn *c, const char *path, char *err, size_t errcap)
{
    struct sockaddr_un sa;
    int e;

    c->fd = -1;
    c->path = strdup(path);
    if (c->path == NULL) {
        say(err, errcap, "out of memory");
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        say(err, errcap, "socket path '%s' is too long", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path));
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        say(err, errcap, "socket: %s", strerror(errno));
        return -1;
    }
    while ((e = connect(c->fd, (struct sockaddr *)&sa, sizeof sa)) != 0 && errno == EINTR)
        ;
    if (e != 0) {
        e = errno;
        say(err, errcap, "cannot reach the agent at %s: %s%s", path, strerror(e),
            e == ENOENT || e == ECONNREFUSED ? " (is 'p11jwt agent' running?)" : "");
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

void ptc_close(ptc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->path);
    c->path = NULL;
}

void ptc_reply_clear(ptc_reply *r)
{
    if (r->body != NULL) {
        ptc_wipe(r->body, r->body_len);
        free(r->body);
    }
    memset(r, 0, sizeof *r);
}

static int send_all(ptc_conn *c, const char *p, size_t n, long long deadline, char *err,
                    size_t cap)
{
    while (n > 0) {
        /* Try first: a request fits the socket's buffer, so the usual
         * case is one send and no poll; wait only when it is full. */
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = { c->fd, POLLOUT, 0 };
            long long left = deadline - now_ms();

            if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
                say(err, cap, "the agent at %s did not take the request in time", c->path);
                return -1;
            }
            continue;
        }
        if (w <= 0) {
            say(err, cap, "writing to the agent at %s: %s", c->path, strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads what is there into buf[*have..cap); 0 at end of stream, -1 on an
 * error or the deadline (message set). */
static ssize_t recv_some(ptc_conn *c, char *buf, size_t cap, size_t *have, long long deadline,
                         char *err, size_t errcap)
{
    for (;;) {
        struct pollfd pfd = { c->fd, POLLIN, 0 };
        long long left = deadline - now_ms();
        ssize_t r;

        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            say(err, errcap, "no answer from the agent at %s in time", c->path);
            return -1;
        }
        r = recv(c->fd, buf + *have, cap - *have, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0) {
            say(err, errcap, "reading from the agent at %s: %s", c->path, strerror(errno));
            return -1;
        }
        *have += (size_t)r;
        return r;
    }
}

int ptc_request(ptc_conn *c, const char *method, const char *target, const char *body,
                size_t body_len, int keep_alive, int timeout_ms, ptc_reply *r, char *err,
                size_t errcap)
{
    char req[1024 + 64], head[PTC_MAX_HEAD];
    long long deadline = now_ms() + timeout_ms;
    size_t have = 0, extra;
    ptc_head h;
    int n, rc = -1, ph = 0;

    memset(r, 0, sizeof *r);
    n = snprintf(req, sizeof req,
                 "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: p11jwt-token\r\n"
                 "Accept: application/json\r\n%s",
                 method, target, keep_alive ? "" : "Connection: close\r\n");
    if (n < 0 || (size_t)n >= sizeof req - 64) {
        say(err, errcap, "request target too long");
        return -1;
    }
    if (body != NULL)
        n += snprintf(req + n, sizeof req - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    if (send_all(c, req, (size_t)n, deadline, err, errcap) != 0 ||
        (body != NULL && send_all(c, body, body_len, deadline, err, errcap) != 0))
        return -1;

    while ((ph = ptc_http_parse_head(head, have, &h)) == 0) {
        ssize_t got = recv_some(c, head, sizeof head, &have, deadline, err, errcap);

        if (got < 0)
            goto out;
        if (got == 0) {
            say(err, errcap, "the agent at %s closed the connection without answering",
                c->path);
            goto out;
        }
    }
    if (ph < 0) {
        say(err, errcap, "the agent at %s sent a malformed answer", c->path);
        goto out;
    }
    if (h.content_length > PTC_MAX_BODY) {
        say(err, errcap, "the agent's answer is larger than %d bytes", PTC_MAX_BODY);
        goto out;
    }
    if (h.status == 204 || h.status == 304 || h.status < 200)
        h.content_length = 0; /* no body, whatever the head says (RFC 9112 6.3) */
    if (h.content_length < 0 && !h.close) {
        say(err, errcap, "the agent's answer has no length");
        goto out;
    }
    extra = have - h.head_len;
    if (h.content_length >= 0 && extra > (size_t)h.content_length) {
        say(err, errcap, "the agent sent more than it announced");
        goto out;
    }
    r->status = h.status;
    r->close = h.close || !keep_alive;
    {
        size_t want = h.content_length >= 0 ? (size_t)h.content_length : PTC_MAX_BODY;

        r->body = malloc(want + 1);
        if (r->body == NULL) {
            say(err, errcap, "out of memory");
            goto out;
        }
        memcpy(r->body, head + h.head_len, extra);
        r->body_len = extra;
        while (r->body_len < want) {
            ssize_t got = recv_some(c, r->body, want, &r->body_len, deadline, err, errcap);

            if (got < 0)
                goto out;
            if (got == 0) {
                if (h.content_length < 0)
                    break;
                say(err, errcap, "the agent at %s closed the connection mid-answer", c->path);
                goto out;
            }
        }
        if (h.content_length < 0 && r->body_len == want) {
            say(err, errcap, "the agent's answer is larger than %d bytes", PTC_MAX_BODY);
            goto out;
        }
        r->body[r->body_len] = '\0';
    }
    rc = 0;
out:
    ptc_wipe(head, have);
    if (rc != 0)
        ptc_reply_clear(r);
    return rc;
}

/* Copies s[0..n) to out, control characters (and DEL) as '?'. */
static void printable(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 1 < cap; i++)
        out[o++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (cap > 0)
        out[o] = '\0';
}

void ptc_reply_message(const ptc_reply *r, char *out, size_t cap)
{
    static const char *const keys[] = { "message", "error" };
    char buf[1024];

    for (size_t k = 0; k < 2 && r->body != NULL; k++) {
        ptc_json_type t;
        const char *v;
        size_t vl;
        long n;

        if (ptc_json_find(r->body, r->body_len, keys[k], &t, &v, &vl) == 1 &&
            t == PTC_JSON_STRING && (n = ptc_json_unescape(v, vl, buf, sizeof buf)) > 0) {
            printable(buf, (size_t)n, out, cap);
            return;
        }
    }
    snprintf(out, cap, "the agent answered HTTP %d", r->status);
}
