/*
 * batch.c — `p11jwt sign --batch [--threads N]`: one JSON object of extra
 * claims per input line, one JWS per output line, in input order.
 *
 * Lines are read in chunks; N threads (the main one included) sign the
 * chunk's lines interleaved (line i by thread i mod N) into a result slot
 * each, then the main thread writes the chunk out in order. Per line the
 * only work beyond the library's is merging the line with the command
 * line's claims, and even that is skipped when there are none: the line
 * goes to the library as it is.
 */
#include "cli.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 512

struct batch {
    const char *cmd;
    p11jwt_key *key;
    const p11jwt_claims_params *params;
    const json_t *base;         /* claims from the command line (may be empty) */
    int nthreads;               /* signing threads, the main one included */

    /* Chunk hand-off: the main thread bumps gen; each worker signs its
     * slice of that chunk and counts pending down. */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen;
    int pending;
    int quit;

    /* The current chunk. */
    size_t n;
    char *line[CHUNK];
    size_t cap[CHUNK];
    size_t len[CHUNK];
    char *jws[CHUNK];
    char *err[CHUNK];           /* the failure message of line i, or NULL */
};

/* The extra claims of one line as JSON text: the line itself when the
 * command line added none (the library checks it is an object), else the
 * merge of both with the line's members winning. */
static char *line_claims(const struct batch *b, size_t i, char **owned, char **err)
{
    json_error_t jerr;
    json_t *obj, *merged;
    char *out;

    *owned = NULL;
    if (json_object_size(b->base) == 0)
        return b->line[i];
    obj = json_loadb(b->line[i], b->len[i], JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL || !json_is_object(obj)) {
        *err = strdup(obj == NULL ? jerr.text : "claims JSON must be an object");
        json_decref(obj);
        return NULL;
    }
    merged = json_deep_copy(b->base);
    out = merged != NULL && json_object_update(merged, obj) == 0
              ? json_dumps(merged, JSON_COMPACT | JSON_PRESERVE_ORDER)
              : NULL;
    json_decref(merged);
    json_decref(obj);
    if (out == NULL)
        *err = strdup("out of memory");
    return *owned = out;
}

static void sign_slice(struct batch *b, int k)
{
    p11jwt_claims_params p = *b->params;

    for (size_t i = (size_t)k; i < b->n; i += (size_t)b->nthreads) {
        const char *nul = memchr(b->line[i], '\0', b->len[i]);
        char *owned = NULL;

        b->jws[i] = NULL;
        b->err[i] = NULL;
        /* The library reads the claims as a C string: what follows a NUL
         * would be dropped without a word. */
        if (nul != NULL) {
            char msg[64];

            snprintf(msg, sizeof msg, "a NUL byte at offset %zu", (size_t)(nul - b->line[i]));
            b->err[i] = strdup(msg);
            continue;
        }
        p.extra_json = line_claims(b, i, &owned, &b->err[i]);
        if (p.extra_json != NULL && p11jwt_assertion_sign(b->key, &p, &b->jws[i]) != P11JWT_OK)
            b->err[i] = strdup(p11jwt_errmsg());
        free(owned);
    }
}

static void *worker(void *arg)
{
    struct batch *b = ((void **)arg)[0];
    int k = (int)(intptr_t)((void **)arg)[1];
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
        sign_slice(b, k);
        pthread_mutex_lock(&b->mu);
        if (--b->pending == 0)
            pthread_cond_signal(&b->done);
        pthread_mutex_unlock(&b->mu);
    }
}

/* Signs the current chunk with every thread and waits for all of them. */
static void sign_chunk(struct batch *b)
{
    pthread_mutex_lock(&b->mu);
    b->gen++;
    b->pending = b->nthreads - 1;
    pthread_cond_broadcast(&b->go);
    pthread_mutex_unlock(&b->mu);
    sign_slice(b, 0);
    pthread_mutex_lock(&b->mu);
    while (b->pending > 0)
        pthread_cond_wait(&b->done, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

/* Reads up to CHUNK lines into the slots; returns how many. A line keeps
 * no trailing newline. */
static size_t read_chunk(struct batch *b)
{
    size_t n = 0;

    while (n < CHUNK) {
        ssize_t len = getline(&b->line[n], &b->cap[n], stdin);

        if (len < 0)
            break;
        while (len > 0 && (b->line[n][len - 1] == '\n' || b->line[n][len - 1] == '\r'))
            b->line[n][--len] = '\0';
        b->len[n++] = (size_t)len;
    }
    return n;
}

int cli_sign_batch(const char *cmd, p11jwt_key *key, const p11jwt_claims_params *params,
                   const json_t *base, int nthreads, p11jwt_audit *audit)
{
    static char outbuf[1 << 16];
    struct batch *b = calloc(1, sizeof *b);
    pthread_t th[CLI_BATCH_MAX_THREADS];
    void *args[CLI_BATCH_MAX_THREADS][2];
    unsigned long lineno = 0;
    int started = 0, r = 0;

    if (b == NULL)
        return cli_error(cmd, "out of memory");
    b->cmd = cmd;
    b->key = key;
    b->params = params;
    b->base = base;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->go, NULL);
    pthread_cond_init(&b->done, NULL);
    for (int k = 1; k < nthreads; k++) {
        args[k][0] = b;
        args[k][1] = (void *)(intptr_t)k;
        if (pthread_create(&th[k], NULL, worker, args[k]) != 0) {
            r = cli_error(cmd, "cannot start signing thread %d of %d", k + 1, nthreads);
            break;
        }
        started++;
    }
    b->nthreads = started + 1;

    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    while (r == 0 && (b->n = read_chunk(b)) > 0) {
        sign_chunk(b);
        for (size_t i = 0; i < b->n; i++) {
            lineno++;
            if (r == 0 && (b->err[i] != NULL || b->jws[i] == NULL)) {
                r = cli_error(cmd, "line %lu: %s (stopped there; %lu line%s before it signed)",
                              lineno, b->err[i] != NULL ? b->err[i] : "out of memory",
                              lineno - 1, lineno == 2 ? "" : "s");
            } else if (r == 0 && audit != NULL &&
                       p11jwt_audit_signature(audit, b->jws[i]) != P11JWT_OK) {
                /* Never an assertion out without its record. */
                r = cli_error(cmd, "line %lu: %s (stopped there, that line not output)", lineno,
                              p11jwt_errmsg());
            } else if (r == 0 && (fputs(b->jws[i], stdout) == EOF || putchar('\n') == EOF)) {
                r = cli_error(cmd, "cannot write to standard output");
            }
            if (b->jws[i] != NULL) /* credentials until they expire: wiped */
                p11jwt_secret_free((unsigned char *)b->jws[i], strlen(b->jws[i]));
            free(b->err[i]);
        }
    }
    if (ferror(stdin) && r == 0)
        r = cli_error(cmd, "cannot read standard input");
    if (fflush(stdout) != 0 && r == 0)
        r = cli_error(cmd, "cannot write to standard output");

    pthread_mutex_lock(&b->mu);
    b->quit = 1;
    pthread_cond_broadcast(&b->go);
    pthread_mutex_unlock(&b->mu);
    for (int k = 1; k <= started; k++)
        pthread_join(th[k], NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->go);
    pthread_cond_destroy(&b->done);
    for (size_t i = 0; i < CHUNK; i++)
        free(b->line[i]);
    free(b);
    return r;
}
