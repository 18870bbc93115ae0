/*
 * server.c — HTTP/1.1 on the agent's socket, served by libmicrohttpd.
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION, poll): a
 * handler may wait for an exchange with the STS, and a slow or hostile
 * client only ever holds its own thread. Connections are capped in total
 * (MHD), per uid and in time (conns.c); request heads are bounded by the
 * connection's memory pool (libmicrohttpd answers an oversized head
 * itself, with 431) and bodies here (413).
 *
 * The request target is taken raw from the URI callback and parsed by
 * route.c; each connection's agent_conn (made when it opens) carries the
 * peer's credentials and the request under way. Every answer says
 * Cache-Control: no-store; while the agent drains for SIGTERM it also says
 * Connection: close.
 */
#include "agent/agent.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

atomic_int agent_stopping;
static struct MHD_Daemon *mhd;
static agent_ratelimit mhd_rl = { .per_second = 5 };

static void reset_request(agent_conn *c)
{
    if (c->body != NULL) {
        explicit_bzero(c->body, c->body_len);
        free(c->body);
    }
    c->body = NULL;
    c->body_len = 0;
    c->body_too_big = 0;
    c->started = 0;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

        *socket_context = ci != NULL ? agent_conn_open(ci->connect_fd) : NULL;
    } else {
        agent_conn_close(*socket_context);
        *socket_context = NULL;
    }
}

/* Called with the request line's target, before the headers: the one
 * place that sees it as sent. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    agent_conn *c = ci != NULL ? ci->socket_context : NULL;

    (void)cls;
    if (c == NULL)
        return NULL;
    reset_request(c);
    agent_route_parse(uri, strlen(uri), &c->route);
    return c;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    agent_conn *c = *req_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (c == NULL)
        return;
    reset_request(c);
    agent_conn_done(c);
}

static void wipe_free(void *body)
{
    explicit_bzero(body, strlen(body));
    free(body);
}

static enum MHD_Result queue(struct MHD_Connection *conn, agent_reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (r->body != NULL) {
        resp = MHD_create_response_from_buffer_with_free_callback(r->len, r->body, wipe_free);
        if (resp == NULL)
            agent_reply_free(r);
        r->body = NULL; /* the response owns it now */
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (resp == NULL)
        return MHD_NO;
    if (r->content_type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (atomic_load(&agent_stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result answer(agent_conn *c, struct MHD_Connection *conn, const char *method)
{
    agent_reply r;

    agent_conn_busy(c);
    agent_handle(c, method, &r);
    return queue(conn, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    agent_conn *c = *req_cls;
    size_t n = *upload_data_size;

    (void)cls;
    (void)url;
    (void)version;
    if (c == NULL || atomic_load(&c->refused))
        return MHD_NO;
    if (!c->started) {
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

        c->started = 1;
        if (cl != NULL && (strlen(cl) > 9 || strtoul(cl, NULL, 10) > AGENT_MAX_BODY)) {
            c->body_too_big = 1; /* said before reading any of it */
            return answer(c, conn, method);
        }
        return MHD_YES;
    }
    if (n > 0) {
        *upload_data_size = 0;
        if (c->body_too_big)
            return MHD_YES;
        if (c->body_len + n > AGENT_MAX_BODY) {
            /* Said when the body ends (libmicrohttpd takes no answer in
             * the middle of one); the rest is read and dropped, within
             * the request deadline. */
            c->body_too_big = 1;
            explicit_bzero(c->body, c->body_len);
            free(c->body);
            c->body = NULL;
            c->body_len = 0;
            return MHD_YES;
        }
        {
            char *nb = malloc(c->body_len + n + 1);

            if (nb == NULL)
                return MHD_NO;
            if (c->body != NULL) {
                memcpy(nb, c->body, c->body_len);
                explicit_bzero(c->body, c->body_len);
                free(c->body);
            }
            memcpy(nb + c->body_len, upload_data, n);
            c->body = nb;
            c->body_len += n;
            c->body[c->body_len] = '\0';
        }
        return MHD_YES;
    }
    if (c->body_too_big && c->busy)
        return MHD_YES; /* answered already, from the headers */
    return answer(c, conn, method);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    agent_log_limited(&mhd_rl, AGENT_NOTICE, "http: %s", msg);
}

int agent_server_start(int listen_fd, const agent_opts *o, char *err, size_t errcap)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;

    /* The logger first: options before it would log through MHD's own. */
    mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
                           MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                           MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
                           MHD_OPTION_CONNECTION_LIMIT, (unsigned int)o->max_connections,
                           MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)o->request_timeout,
                           MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
                           MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                           MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                           MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
                           MHD_OPTION_END);
    if (mhd == NULL) {
        snprintf(err, errcap, "libmicrohttpd could not start on the socket");
        return -1;
    }
    return 0;
}

void agent_server_quiesce(void)
{
    MHD_socket fd;

    atomic_store(&agent_stopping, 1);
    if (mhd != NULL && (fd = MHD_quiesce_daemon(mhd)) != MHD_INVALID_SOCKET)
        close(fd);
}

void agent_server_stop(void)
{
    if (mhd != NULL)
        MHD_stop_daemon(mhd);
    mhd = NULL;
}
