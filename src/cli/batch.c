/*
 * batch.c — `p11jwt sign --batch [--threads N]`: one JSON object of extra
 * claims per input line, one JWS per output line, in input order.
 *
 * The decision: N symmetric signing threads (the main one included) and no
 * reader or writer thread, no barrier. Each thread, in a loop, takes a
 * chunk of up to 32 lines under the input lock (reading standard input in
 * large blocks when the buffer runs low; the lines are copied into the
 * chunk, so the shared buffer may move) with a ticket, signs them through
 * its own p11jwt_assertion_batch (which merged the command line's claims
 * once, before the first line, and checks and copies a line's own in one
 * pass), then hands the chunk in under the output lock; the thread whose
 * chunk is next in ticket order writes it out — audit records, JWS into one
 * buffer written in large blocks and wiped — and every chunk after it that
 * is already done. So no thread waits for another while there are free
 * chunks (a pool of 4 a thread), a thread the machine holds back delays
 * the output, not the signing, and the only wake-ups are for a free chunk.
 * Near the end of input the chunks shrink (a share of what is left), so
 * the threads finish together (with one thread they need not). Chunks keep their buffers (lines, each
 * slot's JWS, wiped once written out): no allocation per line.
 *
 * The first bad line stops the batch: the chunks are written out in order,
 * the lines before it were written, it is named, nothing after it is.
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

#define CHUNK 32                 /* lines a thread takes at a time, at most */
#define POOL_PER_THREAD 4        /* chunks in flight per thread */
#define IO_BLOCK (256 * 1024)

struct chunk {
    struct chunk *next_free;
    uint64_t ticket;
    size_t n;                   /* lines */
    uint64_t bytes;             /* input bytes they took, newlines included */
    char *in;                   /* their text, cut in place (a NUL each) */
    size_t in_cap;
    size_t off[CHUNK], len[CHUNK];
    char *jws[CHUNK];           /* line i's JWS, in a buffer the slot keeps */
    size_t jws_cap[CHUNK], jws_len[CHUNK];
    char *err[CHUNK];           /* the failure message of line i, or NULL */
};

struct batch {
    const char *cmd;
    int nthreads;               /* signing threads, the main one included */
    atomic_int stop;            /* a line failed (or output did): take no more */

    /* Input, under in_mu: one buffer read in large blocks; in_lines
     * complete lines wait after in_off. */
    pthread_mutex_t in_mu;
    char *in;
    size_t in_cap, in_len, in_off, in_lines;
    int in_eof, in_error;
    uint64_t next_ticket;

    /* Output, under out_mu: the chunks, those done waiting by ticket. */
    pthread_mutex_t out_mu;
    pthread_cond_t freed;
    struct chunk *chunks;       /* the pool */
    size_t npool;
    struct chunk *free_list;
    struct chunk **done;        /* [ticket % npool]: done, not yet written */
    uint64_t out_ticket;        /* the next chunk to write out */
    uint64_t lineno;            /* lines written out or refused */
    uint64_t bytes;             /* and the input bytes they took */
    cli_progress *progress;     /* NULL: none */
    p11jwt_audit *audit;
    int r;                      /* the exit code so far */
    char *out;                  /* JWS waiting to be written, in order */
    size_t out_len;
};

/* A signing thread: the batch and its own signer. */
struct signer {
    struct batch *b;
    p11jwt_assertion_batch *sig;
};

/* ---- input ----------------------------------------------------------------- */

/* Reads more input after what the buffer holds (moving what is left to the
 * front, or growing the buffer when a long line fills it) and counts the
 * complete lines it brought; 0 at the end of input or on an error
 * (in_error set), else 1. The buffer always keeps a byte free. */
static int read_more(struct batch *b)
{
    ssize_t got;
    const char *p, *end;

    if (b->in_eof)
        return 0;
    if (b->in_cap - b->in_len < IO_BLOCK / 4 && b->in_off > 0) {
        memmove(b->in, b->in + b->in_off, b->in_len - b->in_off);
        b->in_len -= b->in_off;
        b->in_off = 0;
    }
    if (b->in_cap - b->in_len < IO_BLOCK / 4) {
        size_t cap = b->in_cap * 2;
        char *n = realloc(b->in, cap);

        if (n == NULL) {
            b->in_eof = 1;
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
    p = b->in + b->in_len;
    end = p + got;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        b->in_lines++;
        p++;
    }
    b->in_len += (size_t)got;
    return 1;
}

/* Grows a chunk's text buffer to need bytes. */
static int chunk_room(struct chunk *c, size_t need)
{
    size_t cap = c->in_cap ? c->in_cap : 4096;
    char *n;

    if (need <= c->in_cap)
        return 0;
    while (cap < need)
        cap *= 2;
    n = realloc(c->in, cap);
    if (n == NULL)
        return -1;
    c->in = n;
    c->in_cap = cap;
    return 0;
}

/* Under in_mu: moves the next lines into c (a full chunk while input
 * flows; at the end a share of what is left, so that the threads finish
 * together) and gives it the next ticket. 0 lines at the end of input, on
 * a read error (in_error) or when the lines' memory is short (in_error
 * ENOMEM, the rest of the input dropped). A line keeps no newline; the last needs none. */
static size_t take_lines(struct batch *b, struct chunk *c)
{
    size_t want, n = 0, at, end;

    while (!b->in_eof && b->in_lines < (size_t)CHUNK * 2 * (size_t)b->nthreads)
        read_more(b);
    want = CHUNK;
    if (b->in_eof && b->nthreads > 1) {
        size_t share = b->in_lines / (2 * (size_t)b->nthreads);

        want = share < 1 ? 1 : share < CHUNK ? share : CHUNK;
    }
    at = b->in_off;
    while (n < want && b->in_lines > 0) {
        const char *nl = memchr(b->in + at, '\n', b->in_len - at);

        c->off[n] = at - b->in_off;
        c->len[n] = (size_t)(nl - (b->in + at));
        at = (size_t)(nl - b->in) + 1;
        b->in_lines--;
        n++;
    }
    /* The last line, without a newline: not when the input was cut short. */
    if (n == 0 && b->in_off < b->in_len && b->in_error == 0) {
        c->off[0] = 0;
        c->len[0] = b->in_len - b->in_off;
        at = b->in_len;
        n = 1;
    }
    if (n == 0)
        return 0;
    end = at;
    if (chunk_room(c, end - b->in_off + 1) != 0) {
        /* Said once the lines before these are out; none after them. */
        b->in_eof = 1;
        b->in_error = ENOMEM;
        b->in_lines = 0;
        b->in_off = b->in_len;
        return 0;
    }
    memcpy(c->in, b->in + b->in_off, end - b->in_off);
    c->in[end - b->in_off] = '\0';
    c->bytes = end - b->in_off;
    b->in_off = end;
    c->n = n;
    c->ticket = b->next_ticket++;
    return n;
}

/* ---- output ---------------------------------------------------------------- */

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

/* Under out_mu, in ticket order: c's lines written out, each after its
 * audit record, until the first that failed, which stops the batch. Every
 * JWS is wiped; the slots keep their buffers. */
static void write_chunk(struct batch *b, struct chunk *c)
{
    for (size_t i = 0; i < c->n; i++) {
        uint64_t lineno = ++b->lineno;

        if (b->r == 0 && (c->err[i] != NULL || c->jws_len[i] == 0)) {
            progress_stop(b, lineno - 1);
            b->r = cli_error(b->cmd, "line %llu: %s (stopped there; the lines before it were "
                             "signed and written)",
                             (unsigned long long)lineno,
                             c->err[i] != NULL ? c->err[i] : "out of memory");
        } else if (b->r == 0 && b->audit != NULL &&
                   p11jwt_audit_signature(b->audit, c->jws[i]) != P11JWT_OK) {
            /* Never an assertion out without its record. */
            progress_stop(b, lineno - 1);
            b->r = cli_error(b->cmd, "line %llu: %s (stopped there, that line not output)",
                             (unsigned long long)lineno, p11jwt_errmsg());
        } else if (b->r == 0 && put_jws(b, c->jws[i], c->jws_len[i]) != 0) {
            progress_stop(b, lineno - 1);
            b->r = cli_error(b->cmd, "cannot write to standard output");
        }
        if (b->r != 0)
            atomic_store(&b->stop, 1);
    }
    b->bytes += c->bytes;
    if (b->r == 0)
        cli_progress_tick(b->progress, b->lineno, b->bytes);
}

/* Credentials until they expire: wiped; the buffers stay the chunk's. */
static void chunk_wipe(struct chunk *c)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->jws_len[i] > 0)
            explicit_bzero(c->jws[i], c->jws_len[i]);
        c->jws_len[i] = 0;
        free(c->err[i]);
        c->err[i] = NULL;
    }
    if (c->n > 0)
        explicit_bzero(c->in, c->bytes); /* the lines' JSON */
    c->n = 0;
}

/* Under out_mu. */
static void chunk_free(struct batch *b, struct chunk *c)
{
    chunk_wipe(c);
    c->next_free = b->free_list;
    b->free_list = c;
    pthread_cond_signal(&b->freed);
}

/* A free chunk, waiting for one while every chunk is in flight; NULL once
 * the batch stopped. */
static struct chunk *chunk_get(struct batch *b)
{
    struct chunk *c;

    pthread_mutex_lock(&b->out_mu);
    while (b->free_list == NULL && !atomic_load(&b->stop))
        pthread_cond_wait(&b->freed, &b->out_mu);
    c = atomic_load(&b->stop) ? NULL : b->free_list;
    if (c != NULL)
        b->free_list = c->next_free;
    pthread_mutex_unlock(&b->out_mu);
    return c;
}

/* Hands in a signed chunk: written out now when it is next in order, with
 * the done ones after it; kept for the thread whose chunk comes first
 * otherwise. */
static void chunk_done(struct batch *b, struct chunk *c)
{
    pthread_mutex_lock(&b->out_mu);
    if (atomic_load(&b->stop)) {
        chunk_free(b, c);
    } else {
        b->done[c->ticket % b->npool] = c;
        while ((c = b->done[b->out_ticket % b->npool]) != NULL && c->ticket == b->out_ticket) {
            b->done[b->out_ticket % b->npool] = NULL;
            b->out_ticket++;
            if (b->r == 0)
                write_chunk(b, c);
            chunk_free(b, c);
        }
        if (atomic_load(&b->stop)) {
            /* Nothing after the failure is written: what waits is dropped,
             * and threads waiting for a chunk give up. */
            for (size_t k = 0; k < b->npool; k++) {
                if (b->done[k] != NULL) {
                    chunk_free(b, b->done[k]);
                    b->done[k] = NULL;
                }
            }
            pthread_cond_broadcast(&b->freed);
        }
    }
    pthread_mutex_unlock(&b->out_mu);
}

/* ---- signing --------------------------------------------------------------- */

/* Cuts c's lines in place (no newline, nor the CRs before it) and signs
 * them, each failure kept for its line (the chunk is signed whole, as one
 * thread alone does it; what follows a failure is never written). */
static void sign_chunk(struct signer *t, struct chunk *c)
{
    for (size_t i = 0; i < c->n; i++) {
        char *line = c->in + c->off[i];
        size_t len = c->len[i];
        const char *nul;

        line[len] = '\0';
        while (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        /* Never JSON; said here with its offset, which jansson's reason
         * would not give. */
        nul = memchr(line, '\0', len);
        if (nul != NULL) {
            char msg[64];

            snprintf(msg, sizeof msg, "a NUL byte at offset %zu", (size_t)(nul - line));
            c->err[i] = strdup(msg);
            c->jws_len[i] = 0;
            continue;
        }
        if (p11jwt_assertion_batch_sign(t->sig, line, len, &c->jws[i], &c->jws_cap[i],
                                        &c->jws_len[i]) != P11JWT_OK) {
            c->jws_len[i] = 0;
            c->err[i] = strdup(p11jwt_errmsg());
        }
    }
}

/* A signing thread's loop, the main one's too: until the input ends or the
 * batch stops. */
static void *signer_main(void *arg)
{
    struct signer *t = arg;
    struct batch *b = t->b;
    struct chunk *c;

    while ((c = chunk_get(b)) != NULL) {
        size_t n = 0;

        pthread_mutex_lock(&b->in_mu);
        if (!atomic_load(&b->stop))
            n = take_lines(b, c);
        pthread_mutex_unlock(&b->in_mu);
        if (n == 0) {
            pthread_mutex_lock(&b->out_mu);
            chunk_free(b, c);
            pthread_mutex_unlock(&b->out_mu);
            break;
        }
        sign_chunk(t, c);
        chunk_done(b, c);
    }
    return NULL;
}

/* ---- the command ----------------------------------------------------------- */

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

static void batch_free(struct batch *b)
{
    if (b == NULL)
        return;
    for (size_t k = 0; b->chunks != NULL && k < b->npool; k++) {
        struct chunk *c = &b->chunks[k];

        chunk_wipe(c);
        for (size_t i = 0; i < CHUNK; i++)
            p11jwt_secret_free((unsigned char *)c->jws[i], c->jws_cap[i]);
        free(c->in);
    }
    free(b->chunks);
    free(b->done);
    if (b->in != NULL)
        explicit_bzero(b->in, b->in_cap); /* the JSON of the lines */
    free(b->in);
    free(b->out);
    free(b);
}

int cli_sign_batch(const char *cmd, p11jwt_key *key, const p11jwt_claims_params *params,
                   const json_t *base, int nthreads, p11jwt_audit *audit, int no_progress)
{
    struct batch *b = calloc(1, sizeof *b);
    pthread_t th[CLI_BATCH_MAX_THREADS];
    struct signer sg[CLI_BATCH_MAX_THREADS];
    p11jwt_claims_params p = *params;
    char *shared = base_text(base);
    int started = 0, r = 0;
    p11jwt_rc rc = P11JWT_OK;

    memset(sg, 0, sizeof sg);
    if (b != NULL) {
        b->npool = (size_t)nthreads * POOL_PER_THREAD;
        b->chunks = calloc(b->npool, sizeof *b->chunks);
        b->done = calloc(b->npool, sizeof *b->done);
        b->in = malloc(IO_BLOCK);
        b->out = malloc(IO_BLOCK);
    }
    if (b == NULL || b->chunks == NULL || b->done == NULL || b->in == NULL || b->out == NULL ||
        (shared != NULL && shared[0] == '\0')) {
        batch_free(b);
        free(shared);
        return cli_error(cmd, "out of memory");
    }
    b->in_cap = IO_BLOCK;
    b->cmd = cmd;
    b->audit = audit;
    for (size_t k = 0; k < b->npool; k++) {
        b->chunks[k].next_free = b->free_list;
        b->free_list = &b->chunks[k];
    }
    pthread_mutex_init(&b->in_mu, NULL);
    pthread_mutex_init(&b->out_mu, NULL);
    pthread_cond_init(&b->freed, NULL);
    /* The command line's claims are checked and merged once, here, by each
     * thread's signer: before a line is read. */
    p.extra_json = shared;
    for (int k = 0; k < nthreads && rc == P11JWT_OK; k++) {
        sg[k].b = b;
        rc = p11jwt_assertion_batch_new(key, &p, &sg[k].sig);
    }
    if (rc != P11JWT_OK)
        r = cli_fail(cmd, rc);
    /* The threads' count is known before any reads input: the chunks'
     * share at the end of input counts on it. */
    b->nthreads = nthreads;
    if (r == 0 && !no_progress)
        b->progress = cli_progress_new("sign --batch", STDIN_FILENO);
    /* No thread takes a line before all have started: when one cannot,
     * those started stop at once and nothing is written. */
    pthread_mutex_lock(&b->in_mu);
    for (int k = 1; k < nthreads && r == 0; k++) {
        if (pthread_create(&th[k], NULL, signer_main, &sg[k]) != 0) {
            atomic_store(&b->stop, 1);
            r = cli_error(cmd, "cannot start signing thread %d of %d", k + 1, nthreads);
            break;
        }
        started++;
    }
    pthread_mutex_unlock(&b->in_mu);
    if (r == 0)
        signer_main(&sg[0]);
    for (int k = 1; k <= started; k++)
        pthread_join(th[k], NULL);
    if (r == 0)
        r = b->r;

    /* What was signed before a failure is still written out. */
    if (flush_out(b) != 0 && r == 0) {
        progress_stop(b, b->lineno);
        r = cli_error(cmd, "cannot write to standard output");
    }
    if (b->in_error != 0 && r == 0) {
        progress_stop(b, b->lineno);
        r = b->in_error == ENOMEM
                ? cli_error(cmd, "out of memory reading a line")
                : cli_error(cmd, "cannot read standard input: %s", strerror(b->in_error));
    }
    cli_progress_end(b->progress, b->lineno, r == 0);

    for (int k = 0; k < nthreads; k++)
        p11jwt_assertion_batch_free(sg[k].sig);
    pthread_mutex_destroy(&b->in_mu);
    pthread_mutex_destroy(&b->out_mu);
    pthread_cond_destroy(&b->freed);
    batch_free(b);
    free(shared);
    return r;
}
