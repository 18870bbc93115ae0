/*
 * keyring_store.c — the versioned keyring store on a real token, through
 * the public API: a state written from a stale version is refused and
 * changes nothing; readers always get the newest; concurrent writers in
 * one process (threads racing read-modify-write) never make a reader see
 * a version go backwards, and every write either is what readers see next
 * or reports a conflict; and a keyring is found among more objects of the
 * same application than one search returns (hundreds of other keyrings).
 *
 * Usage: keyring_store TOKEN_URI PIN_FILE
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11jwt.h"

static int failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static p11jwt_token *tok;

#define THREADS 4
#define WRITES 8

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg, done = 0;
    uint64_t last_seen = 0;

    while (done < WRITES) {
        char *json = NULL, buf[64];
        uint64_t v;
        p11jwt_rc rc = p11jwt_keyring_read(tok, "race", &json, &v);

        if (rc != P11JWT_OK) {
            CHECK(0, "thread %d: read failed: %s", id, p11jwt_errmsg());
            return NULL;
        }
        CHECK(v >= last_seen, "thread %d: version went back from %" PRIu64 " to %" PRIu64, id,
              last_seen, v);
        last_seen = v;
        p11jwt_free(json);
        snprintf(buf, sizeof buf, "{\"writer\":%d,\"n\":%d}", id, done);
        rc = p11jwt_keyring_write(tok, "race", v, buf);
        if (rc == P11JWT_OK)
            done++;
        else
            CHECK(rc == P11JWT_ERR_CONFLICT, "thread %d: write failed: %s", id, p11jwt_errmsg());
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t th[THREADS];
    char *json = NULL;
    uint64_t v = 99;

    if (argc != 3) {
        fprintf(stderr, "usage: keyring_store TOKEN_URI PIN_FILE\n");
        return 2;
    }
    tok = p11jwt_token_new();
    if (tok == NULL || p11jwt_token_set_pin_file(tok, argv[2]) != P11JWT_OK ||
        p11jwt_token_open(tok, argv[1]) != P11JWT_OK) {
        fprintf(stderr, "cannot open %s: %s\n", argv[1], p11jwt_errmsg());
        return 1;
    }

    /* Empty, then one state. */
    CHECK(p11jwt_keyring_read(tok, "k", &json, &v) == P11JWT_OK && json == NULL && v == 0,
          "fresh keyring: json %s version %" PRIu64, json ? json : "(null)", v);
    CHECK(p11jwt_keyring_write(tok, "k", 0, "{\"s\":1}") == P11JWT_OK, "first write: %s",
          p11jwt_errmsg());
    CHECK(p11jwt_keyring_read(tok, "k", &json, &v) == P11JWT_OK && v == 1 &&
              strcmp(json, "{\"s\":1}") == 0,
          "after one write: %s v%" PRIu64, json ? json : "(null)", v);
    p11jwt_free(json);

    /* A writer that read version 0 is too late now. */
    CHECK(p11jwt_keyring_write(tok, "k", 0, "{\"s\":\"stale\"}") == P11JWT_ERR_CONFLICT,
          "stale write was not refused");
    CHECK(strstr(p11jwt_errmsg(), "someone else") != NULL, "message: %s", p11jwt_errmsg());
    CHECK(p11jwt_keyring_read(tok, "k", &json, &v) == P11JWT_OK && v == 1 &&
              strcmp(json, "{\"s\":1}") == 0,
          "stale write changed the state: %s v%" PRIu64, json ? json : "(null)", v);
    p11jwt_free(json);

    /* Another keyring's name is another keyring. */
    CHECK(p11jwt_keyring_read(tok, "k2", &json, &v) == P11JWT_OK && json == NULL && v == 0,
          "keyrings are not separate");

    /* Threads racing read-modify-write. */
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(p11jwt_keyring_read(tok, "race", &json, &v) == P11JWT_OK && json != NULL,
          "no state after the race");
    /* Each success moved the version by one: within a process no write
     * is overtaken, so none is lost. */
    CHECK(v == THREADS * WRITES, "final version %" PRIu64 ", expected %d: writes were lost", v,
          THREADS * WRITES);
    printf("race: %d threads x %d successful writes, final version %" PRIu64 " (%s)\n",
           THREADS, WRITES, v, json ? json : "");
    p11jwt_free(json);

    /* Many keyrings in one token: 260 other states (one search batch held 256), then two more writes
     * of "k" that land after them. A search that stops at its first batch
     * would miss the new state (and make its own writer see a conflict). */
    for (int i = 0; i < 260; i++) {
        char name[32];

        snprintf(name, sizeof name, "other-%03d", i);
        CHECK(p11jwt_keyring_write(tok, name, 0, "{}") == P11JWT_OK, "write %s: %s", name,
              p11jwt_errmsg());
    }
    for (uint64_t base = 1; base <= 2; base++) {
        CHECK(p11jwt_keyring_write(tok, "k", base, "{\"s\":\"late\"}") == P11JWT_OK,
              "write of k from version %" PRIu64 " among 260 other keyrings: %s", base,
              p11jwt_errmsg());
        CHECK(p11jwt_keyring_read(tok, "k", &json, &v) == P11JWT_OK && v == base + 1 &&
                  json != NULL && strcmp(json, "{\"s\":\"late\"}") == 0,
              "k after the write among 260 others: %s v%" PRIu64, json ? json : "(null)", v);
        p11jwt_free(json);
    }

    p11jwt_token_free(tok);
    if (failures == 0)
        printf("keyring store ok\n");
    return failures == 0 ? 0 : 1;
}
