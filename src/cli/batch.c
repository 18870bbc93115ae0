/*
 * batch.c — `p11jwt sign --batch [--threads N]`: one JSON object of extra
 * claims per input line, one JWS per output line, in input order.
 *
 * Lines are read in chunks of up to 512, in large blocks into one buffer
 * where they are cut in place; N threads (the main one included) take the
 * chunk's lines one at a time from a shared counter (a thread the machine
 * holds back takes fewer, rather than the chunk waiting for its share) and
 * sign each into a result slot, then the main thread copies the chunk out
 * in order into one output buffer, written in large blocks and wiped.
 * Each thread signs through its own p11jwt_assertion_batch, which merged
 * the command line's claims once, before the first line, and checks and
 * copies a line's own in one pass; each slot keeps its JWS buffer from
 * chunk to chunk (wiped once written out): no allocation per line. The
 * main thread, which signs too, ticks the progress line every few lines.
 */
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 512
#define IO_BLOCK (256 * 1024)
#define TICK_LINES 16 /* the main thread ticks the progress line this often */

struct batch {
    const char *cmd;
    int nthreads;               /* signing threads, the main one included */
    cli_progress *progress;     /* NULL: none */
    uint64_t lines_before;      /* lines of the chunks before this one */
    uint64_t bytes_before;      /* and the input bytes they took */

    /* Chunk hand-off: the main thread bumps gen; each worker signs its
     * slice of that chunk and counts pending down. */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen;
    int pending;
    int quit;

    /* Input: lines are cut in place in one buffer (a NUL for each newline). */
    char *in;
    size_t in_cap, in_len, in_off; /* in_off: where the next chunk starts */
    int in_eof, in_error;
    uint64_t in_total;          /* bytes read */

    /* The current chunk. */
    size_t n;
    atomic_size_t next;         /* the next line a signing thread takes */
    char *line[CHUNK];
    size_t len[CHUNK];
    char *jws[CHUNK];           /* line i's JWS, in a buffer the slot keeps */
    size_t jws_cap[CHUNK], jws_len[CHUNK];
    char *err[CHUNK];           /* the failure message of line i, or NULL */

    /* Output: whole chunks of JWS, written in large blocks. */
    char *out;
    size_t out_len;
};

/* A signing thread: the batch and its own signer. */
struct signer {
    struct batch *b;
    p11jwt_assertion_batch *sig;
    int main;                   /* the main thread: ticks the progress line */
};

static void sign_slice(struct signer *t)
{
    struct batch *b = t->b;
    unsigned tick = 0;
    size_t i;

    while ((i = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed)) < b->n) {
        const char *nul = memchr(b->line[i], '\0', b->len[i]);

        b->err[i] = NULL;
        /* Never JSON; said here with its offset, which jansson's reason
         * would not give. */
        if (nul != NULL) {
            char msg[64];

            snprintf(msg, sizeof msg, "a NUL byte at offset %zu", (size_t)(nul - b->line[i]));
            b->err[i] = strdup(msg);
            continue;
        }
        if (p11jwt_assertion_batch_sign(t->sig, b->line[i], b->len[i], &b->jws[i],
                                        &b->jws_cap[i], &b->jws_len[i]) != P11JWT_OK) {
            b->jws_len[i] = 0;
            b->err[i] = strdup(p11jwt_errmsg());
        }
        if (t->main && b->progress != NULL && ++tick % TICK_LINES == 0)
            cli_progress_tick(b->progress, b->lines_before + i + 1,
                              b->bytes_before + (uint64_t)(b->line[i] + b->len[i] - b->line[0]));
    }
}

static void *worker(void *arg)
{
    struct signer *t = arg;
    struct batch *b = t->b;
    unsigned long seen = 0;

    for (;;) {
        pthread_mutex_lock(&b->mu);
        while (b->gen == seen && !b->quit)
            pthread_cond_wait(&b->go, &b->mu);
        if (b->quit) {
            pthread_mutex_unlock(&b->mu);
            return NULL;
        }
        seen = b->gen;
        pthread_mutex_unlock(&b->mu);
        sign_slice(t);
        pthread_mutex_lock(&b->mu);
        if (--b->pending == 0)
            pthread_cond_signal(&b->done);
        pthread_mutex_unlock(&b->mu);
    }
}

/* Signs the current chunk with every thread and waits for all of them. */
static void sign_chunk(struct signer *main)
{
    struct batch *b = main->b;

    atomic_store(&b->next, 0);
    pthread_mutex_lock(&b->mu);
    b->gen++;
    b->pending = b->nthreads - 1;
    pthread_cond_broadcast(&b->go);
    pthread_mutex_unlock(&b->mu);
    sign_slice(main);
    pthread_mutex_lock(&b->mu);
    while (b->pending > 0)
        pthread_cond_wait(&b->done, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

/* Reads more input after what the buffer holds, growing it when full; 0
 * at the end of input or on an error (in_error set), else 1. The buffer
 * always keeps a byte free for a last line's NUL. */
static int read_more(struct batch *b)
{
    ssize_t got;

    if (b->in_eof)
        return 0;
    if (b->in_cap - b->in_len < IO_BLOCK / 4) {
        size_t cap = b->in_cap ? b->in_cap * 2 : IO_BLOCK;
        char *n = realloc(b->in, cap);

        if (n == NULL) {
            b->in_error = ENOMEM;
            return 0;
        }
        b->in = n;
        b->in_cap = cap;
    }
    do
        got = read(STDIN_FILENO, b->in + b->in_len, b->in_cap - b->in_len - 1);
    while (got < 0 && errno == EINTR);
    if (got <= 0) {
        b->in_eof = 1;
        b->in_error = got < 0 ? errno : 0;
        return 0;
    }
    b->in_len += (size_t)got;
    b->in_total += (uint64_t)got;
    return 1;
}

/* Cuts up to CHUNK lines out of the input into the slots; returns how
 * many. A line keeps no trailing newline (nor the CRs before it); the last
 * line needs none. Offsets first, pointers last: the buffer may move while
 * a long line is read. */
static size_t read_chunk(struct batch *b)
{
    size_t off[CHUNK], n = 0, scan;

    /* What the last chunk left (a part line) goes to the front. */
    if (b->in_off > 0)
        memmove(b->in, b->in + b->in_off, b->in_len - b->in_off);
    b->in_len -= b->in_off;
    b->in_off = 0;
    scan = 0;
    while (n < CHUNK) {
        char *nl = memchr(b->in + scan, '\n', b->in_len - scan);
        size_t end;

        if (nl == NULL) {
            scan = b->in_len;
            if (read_more(b))
                continue;
            if (b->in_off == b->in_len || b->in_error != 0)
                break;              /* no last line, or cut short by an error */
            end = b->in_len;
        } else {
            end = (size_t)(nl - b->in);
        }
        off[n] = b->in_off;
        b->in[end] = '\0';
        b->in_off = end < b->in_len ? end + 1 : end;
        scan = b->in_off;
        while (end > off[n] && b->in[end - 1] == '\r')
            b->in[--end] = '\0';
        b->len[n] = end - off[n];
        n++;
    }
    for (size_t i = 0; i < n; i++)
        b->line[i] = b->in + off[i];
    return n;
}

/* Writes the output buffer out and wipes it (it held credentials). */
static int flush_out(struct batch *b)
{
    size_t done = 0;
    int r;

    while (done < b->out_len) {
        ssize_t w = write(STDOUT_FILENO, b->out + done, b->out_len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    r = done == b->out_len ? 0 : -1;
    explicit_bzero(b->out, b->out_len);
    b->out_len = 0;
    return r;
}

/* Appends one JWS (n bytes) and its newline to the output, writing it out
 * first when full; -1 when standard output fails. */
static int put_jws(struct batch *b, const char *jws, size_t n)
{
    if (b->out_len + n + 1 > IO_BLOCK && flush_out(b) != 0)
        return -1;
    if (n + 1 > IO_BLOCK) { /* never with JWS of a line's claims, but safe */
        if (write(STDOUT_FILENO, jws, n) != (ssize_t)n || write(STDOUT_FILENO, "\n", 1) != 1)
            return -1;
        return 0;
    }
    memcpy(b->out + b->out_len, jws, n);
    b->out[b->out_len + n] = '\n';
    b->out_len += n + 1;
    return 0;
}

/* Takes the progress line down (a newline after it when it was drawn)
 * before a message is printed under it. */
static void progress_stop(struct batch *b, uint64_t lines)
{
    cli_progress_end(b->progress, lines, 0);
    b->progress = NULL;
}

/* The claims every line carries (the command line's), as JSON text: NULL
 * when there are none; "" when they could not be written. */
static char *base_text(const json_t *base)
{
    char *t;

    if (json_object_size(base) == 0)
        return NULL;
    t = json_dumps(base, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return t != NULL ? t : strdup("");
}

int cli_sign_batch(const char *cmd, p11jwt_key *key, const p11jwt_claims_params *params,
                   const json_t *base, int nthreads, p11jwt_audit *audit, int no_progress)
{
    struct batch *b = calloc(1, sizeof *b);
    pthread_t th[CLI_BATCH_MAX_THREADS];
    struct signer sg[CLI_BATCH_MAX_THREADS];
    p11jwt_claims_params p = *params;
    char *shared = base_text(base);
    uint64_t lineno = 0;
    int started = 0, r = 0;
    p11jwt_rc rc = P11JWT_OK;

    memset(sg, 0, sizeof sg);
    if (b == NULL || (b->in = malloc(IO_BLOCK)) == NULL || (b->out = malloc(IO_BLOCK)) == NULL ||
        (shared != NULL && shared[0] == '\0')) {
        if (b != NULL) {
            free(b->in);
            free(b);
        }
        free(shared);
        return cli_error(cmd, "out of memory");
    }
    b->in_cap = IO_BLOCK;
    b->cmd = cmd;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->go, NULL);
    pthread_cond_init(&b->done, NULL);
    /* The command line's claims are checked and merged once, here, by each
     * thread's signer: before a line is read. */
    p.extra_json = shared;
    for (int k = 0; k < nthreads && rc == P11JWT_OK; k++) {
        sg[k].b = b;
        sg[k].main = k == 0;
        rc = p11jwt_assertion_batch_new(key, &p, &sg[k].sig);
    }
    if (rc != P11JWT_OK)
        r = cli_fail(cmd, rc);
    for (int k = 1; k < nthreads && r == 0; k++) {
        if (pthread_create(&th[k], NULL, worker, &sg[k]) != 0) {
            r = cli_error(cmd, "cannot start signing thread %d of %d", k + 1, nthreads);
            break;
        }
        started++;
    }
    b->nthreads = started + 1;
    if (r == 0 && !no_progress)
        b->progress = cli_progress_new("sign --batch", STDIN_FILENO);

    while (r == 0 && (b->n = read_chunk(b)) > 0) {
        sign_chunk(&sg[0]);
        for (size_t i = 0; i < b->n; i++) {
            lineno++;
            if (r == 0 && (b->err[i] != NULL || b->jws_len[i] == 0)) {
                progress_stop(b, lineno - 1);
                r = cli_error(cmd, "line %llu: %s (stopped there; the lines before it were "
                              "signed and written)",
                              (unsigned long long)lineno,
                              b->err[i] != NULL ? b->err[i] : "out of memory");
            } else if (r == 0 && audit != NULL &&
                       p11jwt_audit_signature(audit, b->jws[i]) != P11JWT_OK) {
                /* Never an assertion out without its record. */
                progress_stop(b, lineno - 1);
                r = cli_error(cmd, "line %llu: %s (stopped there, that line not output)",
                              (unsigned long long)lineno, p11jwt_errmsg());
            } else if (r == 0 && put_jws(b, b->jws[i], b->jws_len[i]) != 0) {
                progress_stop(b, lineno - 1);
                r = cli_error(cmd, "cannot write to standard output");
            }
            /* Credentials until they expire: wiped; the buffer stays the slot's. */
            if (b->jws_len[i] > 0)
                explicit_bzero(b->jws[i], b->jws_len[i]);
            b->jws_len[i] = 0;
            free(b->err[i]);
        }
        b->lines_before = lineno;
        b->bytes_before = b->in_total - (b->in_len - b->in_off);
    }
    /* What was signed before a failure is still written out. */
    if (flush_out(b) != 0 && r == 0) {
        progress_stop(b, lineno);
        r = cli_error(cmd, "cannot write to standard output");
    }
    if (b->in_error != 0 && r == 0) {
        progress_stop(b, lineno);
        r = b->in_error == ENOMEM
                ? cli_error(cmd, "out of memory reading a line")
                : cli_error(cmd, "cannot read standard input: %s", strerror(b->in_error));
    }
    cli_progress_end(b->progress, lineno, r == 0);

    pthread_mutex_lock(&b->mu);
    b->quit = 1;
    pthread_cond_broadcast(&b->go);
    pthread_mutex_unlock(&b->mu);
    for (int k = 1; k <= started; k++)
        pthread_join(th[k], NULL);
    for (int k = 0; k < nthreads; k++)
        p11jwt_assertion_batch_free(sg[k].sig);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->go);
    pthread_cond_destroy(&b->done);
    for (size_t i = 0; i < CHUNK; i++)
        p11jwt_secret_free((unsigned char *)b->jws[i], b->jws_cap[i]);
    explicit_bzero(b->in, b->in_cap); /* the JSON of the lines */
    free(b->in);
    free(b->out);
    free(b);
    free(shared);
    return r;
}
