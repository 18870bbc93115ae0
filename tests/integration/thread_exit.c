/*
 * thread_exit.c — the library's per-thread state (the claims buffer of
 * p11jwt_assertion_sign, the token copies of p11jwt_client_token_peek) is
 * freed at thread exit; a thread-exit destructor that runs after the
 * library's (an application's own pthread key, created later) and signs or
 * asks for a token again must not find a dangling pointer. Run it under
 * AddressSanitizer to see a use after free; in any build it checks that the
 * late calls work.
 *
 * Usage: thread_exit TOKEN_URI PIN_FILE KID CONFIG PROFILE
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11jwt.h"

static p11jwt_key *key;
static p11jwt_client *client;
static pthread_key_t late_key;
static int late_signed, late_peeked;

static int sign_once(void)
{
    p11jwt_claims_params cp = { .iss = "thread-exit", .aud = "a", .ttl = 60 };
    char *jws = NULL;
    p11jwt_rc rc = p11jwt_assertion_sign(key, &cp, &jws);

    p11jwt_free(jws);
    return rc == P11JWT_OK;
}

static int peek_once(void)
{
    const p11jwt_access_token *t;

    /* No STS: fails, but only after this thread's token copies exist. */
    return p11jwt_client_token_peek(client, &t) != P11JWT_ERR_NOMEM;
}

/* Runs after the library's own destructors (its keys were made first). */
static void late_destructor(void *p)
{
    (void)p;
    late_signed = sign_once();
    late_peeked = peek_once();
}

static void *worker(void *arg)
{
    (void)arg;
    if (!sign_once() || !peek_once())
        return (void *)1;
    /* A key created now is after the library's: destroyed after them. */
    if (pthread_key_create(&late_key, late_destructor) != 0 ||
        pthread_setspecific(late_key, &late_key) != 0)
        return (void *)1;
    return NULL;
}

int main(int argc, char **argv)
{
    p11jwt_token *tok = p11jwt_token_new();
    p11jwt_profile *prof = NULL;
    pthread_t th;
    void *res = (void *)1;

    if (argc != 6) {
        fprintf(stderr, "usage: thread_exit TOKEN_URI PIN_FILE KID CONFIG PROFILE\n");
        return 2;
    }
    if (tok == NULL || p11jwt_token_set_pin_file(tok, argv[2]) != P11JWT_OK ||
        p11jwt_token_open(tok, argv[1]) != P11JWT_OK ||
        p11jwt_key_open(tok, argv[3], &key) != P11JWT_OK ||
        p11jwt_profile_load(argv[4], argv[5], &prof) != P11JWT_OK ||
        p11jwt_client_new(prof, &client) != P11JWT_OK) {
        fprintf(stderr, "set-up failed: %s\n", p11jwt_errmsg());
        return 1;
    }
    if (pthread_create(&th, NULL, worker, NULL) != 0 || pthread_join(th, &res) != 0 ||
        res != NULL) {
        fprintf(stderr, "the worker failed: %s\n", p11jwt_errmsg());
        return 1;
    }
    if (!late_signed || !late_peeked) {
        fprintf(stderr, "after thread exit: signed %d, peeked %d\n", late_signed, late_peeked);
        return 1;
    }
    pthread_key_delete(late_key);
    p11jwt_client_free(client);
    p11jwt_key_free(key);
    p11jwt_token_free(tok);
    printf("thread exit ok\n");
    return 0;
}
