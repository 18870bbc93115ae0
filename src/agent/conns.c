/*
 * conns.c — the agent's live connections, so that no client can hold more
 * than its share.
 *
 * libmicrohttpd caps the total (--max-connections) and gives each
 * connection its own thread, so a slow client stalls nobody else. Two
 * bounds it lacks are kept here: connections per peer uid (one user's 1,000
 * idle sockets must not lock out another user), and a deadline for a
 * request to arrive — its idle timeout is reset by every byte, so a client
 * trickling one byte a second would otherwise hold its slot forever. The
 * deadline runs from a connection's start, or the end of its previous
 * request, until the request's headers and body are in; the 1-second tick
 * (agent.c) shuts down the late ones. The list's lock is also what keeps a
 * shut-down fd from being one libmicrohttpd has already closed and reused:
 * a connection leaves the list (agent_conn_close) before its fd is closed.
 */
#include "agent/agent.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cv; /* on CLOCK_MONOTONIC: see agent_conns_init */
static agent_conn *head;
static unsigned count, busy_count, max_per_uid = 64;
static int64_t timeout_ms = 30000;
static agent_ratelimit refused_rl = { .per_second = 5 };
static agent_ratelimit dropped_rl = { .per_second = 5 };

int64_t agent_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void agent_conns_init(unsigned per_uid, unsigned request_timeout)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&idle_cv, &ca);
    pthread_condattr_destroy(&ca);
    max_per_uid = per_uid;
    timeout_ms = (int64_t)request_timeout * 1000;
}

agent_conn *agent_conn_open(int fd)
{
    agent_conn *c = calloc(1, sizeof *c), *p;
    unsigned same = 0;

    if (c == NULL) {
        shutdown(fd, SHUT_RDWR);
        return NULL;
    }
    c->fd = fd;
    c->peer_ok = agent_peer_get(fd, &c->peer) == 0;
    c->waiting_since_ms = agent_now_ms();
    pthread_mutex_lock(&mu);
    for (p = head; p != NULL && c->peer_ok; p = p->next)
        same += p->peer_ok && !atomic_load(&p->refused) && p->peer.uid == c->peer.uid;
    if (!c->peer_ok || same >= max_per_uid) {
        atomic_store(&c->refused, 1);
        shutdown(fd, SHUT_RDWR);
        atomic_fetch_add(&agent_global.conns_refused, 1);
    }
    c->next = head;
    if (head != NULL)
        head->prev = c;
    head = c;
    count++;
    pthread_mutex_unlock(&mu);
    if (atomic_load(&c->refused) && c->peer_ok)
        agent_log_limited(&refused_rl, AGENT_WARNING,
                          "connection refused: uid %u already has %u connections (the cap "
                          "per uid; pid %d)",
                          (unsigned)c->peer.uid, max_per_uid, (int)c->peer.pid);
    else if (atomic_load(&c->refused))
        agent_log_limited(&refused_rl, AGENT_WARNING,
                          "connection refused: the peer's credentials are unknown");
    return c;
}

void agent_conn_close(agent_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&mu);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    count--;
    if (c->busy) {
        busy_count--;
        pthread_cond_broadcast(&idle_cv);
    }
    pthread_mutex_unlock(&mu);
    agent_peer_clear(&c->peer);
    if (c->body != NULL) {
        memset(c->body, 0, c->body_len);
        free(c->body);
    }
    free(c);
}

void agent_conn_busy(agent_conn *c)
{
    pthread_mutex_lock(&mu);
    if (!c->busy) {
        c->busy = 1;
        busy_count++;
    }
    pthread_mutex_unlock(&mu);
}

void agent_conn_done(agent_conn *c)
{
    pthread_mutex_lock(&mu);
    if (c->busy) {
        c->busy = 0;
        busy_count--;
        pthread_cond_broadcast(&idle_cv);
    }
    c->waiting_since_ms = agent_now_ms();
    pthread_mutex_unlock(&mu);
}

void agent_conns_sweep(void)
{
    int64_t now = agent_now_ms();
    unsigned dropped = 0;
    uid_t uid = 0;

    pthread_mutex_lock(&mu);
    for (agent_conn *c = head; c != NULL; c = c->next)
        if (!c->busy && !atomic_load(&c->refused) && now - c->waiting_since_ms > timeout_ms) {
            atomic_store(&c->refused, 1); /* once */
            shutdown(c->fd, SHUT_RDWR);
            uid = c->peer.uid;
            dropped++;
        }
    pthread_mutex_unlock(&mu);
    if (dropped > 0) {
        atomic_fetch_add(&agent_global.conns_dropped, dropped);
        agent_log_limited(&dropped_rl, AGENT_NOTICE,
                          "closed %u connection(s) whose request did not arrive within %lld s "
                          "(last: uid %u)",
                          dropped, (long long)(timeout_ms / 1000), (unsigned)uid);
    }
}

unsigned agent_conns_drain(int64_t deadline_ms)
{
    unsigned left;

    pthread_mutex_lock(&mu);
    while (busy_count > 0 && agent_now_ms() < deadline_ms) {
        struct timespec ts = { (time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000L };

        pthread_cond_timedwait(&idle_cv, &mu, &ts);
    }
    left = busy_count;
    pthread_mutex_unlock(&mu);
    return left;
}

unsigned agent_conns_count(void)
{
    unsigned n;

    pthread_mutex_lock(&mu);
    n = count;
    pthread_mutex_unlock(&mu);
    return n;
}
