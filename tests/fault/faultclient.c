/*
 * faultclient.c — the library under faults, through the public API only
 * (p11jwt.h), in one long-lived process as a service would use it. Driven
 * by client.sh, which owns the token, the STS and the fault module; this
 * program writes the module's control file ($P11FAULT_FILE) itself, at the
 * moment a phase needs it, so no timing is guessed from outside.
 *
 *   faultclient client CONFIG PROFILE warm|cold RULES THREADS ROUNDS
 *       warm: one token first (the cache is warm), then RULES go into the
 *       control file; cold: RULES first. Then THREADS threads each ROUNDS
 *       times drop the token they last saw (what they would do after a 401)
 *       and ask for one: every such round is an exchange, so a signature.
 *       Prints ok=, failed=, ms_max= (the slowest call), token= (the last
 *       good one) and error= lines (each distinct message once).
 *   faultclient keys URI PIN-FILE KID1 KID2 AUD
 *       two keys on one token: KID2's signature recovers from
 *       CKR_OBJECT_HANDLE_INVALID (every cached key handle is then stale),
 *       then KID1's re-find of its handle meets a lost session, then
 *       KID2's next re-find meets the login gone: each must recover.
 *       Prints the three JWS.
 *
 * Exit 0 when every call did what the mode asks of it (client: always 0 if
 * the program ran; the shell judges the counts), 1 otherwise.
 */
#include <p11jwt.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 64
#define MAX_ERRORS 8

static p11jwt_client *client;
static int rounds;
static pthread_barrier_t barrier;
static atomic_int n_ok, n_failed;
static atomic_long ms_max;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char *errors[MAX_ERRORS];
static int n_errors;
static char *last_token;

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The fault module's control file, written whole (temp + rename). */
static int set_rules(const char *rules)
{
    const char *path = getenv("P11FAULT_FILE");
    char tmp[4096];
    FILE *f;

    if (path == NULL) {
        fprintf(stderr, "faultclient: P11FAULT_FILE is not set\n");
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%s\n", rules) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        perror("faultclient: control file");
        return -1;
    }
    return 0;
}

static void note_error(const char *msg)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n_errors; i++)
        if (strcmp(errors[i], msg) == 0) {
            pthread_mutex_unlock(&mu);
            return;
        }
    if (n_errors < MAX_ERRORS)
        errors[n_errors++] = strdup(msg);
    pthread_mutex_unlock(&mu);
}

static void note_token(const char *v)
{
    pthread_mutex_lock(&mu);
    free(last_token);
    last_token = strdup(v);
    pthread_mutex_unlock(&mu);
}

/* One call; returns 0 with *t filled, -1 with the error noted. */
static int get(p11jwt_access_token *t)
{
    long t0 = now_ms(), el;
    p11jwt_rc rc = p11jwt_client_token(client, t);

    el = now_ms() - t0;
    for (long m = atomic_load(&ms_max); el > m && !atomic_compare_exchange_weak(&ms_max, &m, el);)
        ;
    if (rc != P11JWT_OK) {
        atomic_fetch_add(&n_failed, 1);
        note_error(p11jwt_errmsg());
        return -1;
    }
    atomic_fetch_add(&n_ok, 1);
    note_token(t->value);
    return 0;
}

static void *worker(void *arg)
{
    char *seen = NULL;

    (void)arg;
    pthread_barrier_wait(&barrier);
    for (int r = 0; r < rounds; r++) {
        p11jwt_access_token t;

        /* Drop what we saw (after a 401 we would), or whatever the cache
         * holds when we saw nothing yet: each round is a fresh exchange. */
        pthread_mutex_lock(&mu);
        if (seen == NULL && last_token != NULL)
            seen = strdup(last_token);
        pthread_mutex_unlock(&mu);
        if (seen != NULL)
            p11jwt_client_invalidate(client, seen);
        if (get(&t) == 0) {
            free(seen);
            seen = strdup(t.value);
            p11jwt_access_token_clear(&t);
        }
    }
    free(seen);
    return NULL;
}

static int mode_client(int argc, char **argv)
{
    p11jwt_profile *prof = NULL;
    pthread_t tids[MAX_THREADS];
    int warm, n;

    if (argc != 8)
        return 2;
    warm = strcmp(argv[4], "warm") == 0;
    n = atoi(argv[6]);
    rounds = atoi(argv[7]);
    if (n < 1 || n > MAX_THREADS || rounds < 1)
        return 2;
    if (p11jwt_profile_load(argv[2], argv[3], &prof) != P11JWT_OK ||
        p11jwt_client_new(prof, &client) != P11JWT_OK) {
        fprintf(stderr, "faultclient: %s\n", p11jwt_errmsg());
        return 1;
    }
    if (warm) {
        p11jwt_access_token t;

        if (get(&t) != 0) {
            fprintf(stderr, "faultclient: the warm-up failed: %s\n", errors[0]);
            return 1;
        }
        p11jwt_access_token_clear(&t);
        atomic_store(&n_ok, 0);
        atomic_store(&ms_max, 0);
    }
    if (set_rules(argv[5]) != 0)
        return 1;
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    for (int i = 0; i < n; i++)
        if (pthread_create(&tids[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "faultclient: pthread_create failed\n");
            return 1;
        }
    for (int i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    pthread_barrier_destroy(&barrier);

    printf("ok=%d\nfailed=%d\nms_max=%ld\ntoken=%s\n", atomic_load(&n_ok),
           atomic_load(&n_failed), atomic_load(&ms_max), last_token ? last_token : "");
    for (int i = 0; i < n_errors; i++) {
        printf("error=%s\n", errors[i]);
        free(errors[i]);
    }
    free(last_token);
    p11jwt_client_free(client);
    return 0;
}

static int sign_one(p11jwt_key *k, const char *aud)
{
    p11jwt_claims_params cp = { .iss = "faultclient", .aud = aud, .ttl = 300 };
    char *jws = NULL;

    if (p11jwt_assertion_sign(k, &cp, &jws) != P11JWT_OK) {
        fprintf(stderr, "faultclient: %s: %s\n", p11jwt_key_kid(k), p11jwt_errmsg());
        return -1;
    }
    printf("%s\n", jws);
    p11jwt_free(jws);
    return 0;
}

static int mode_keys(int argc, char **argv)
{
    p11jwt_token *t = p11jwt_token_new();
    p11jwt_key *k1 = NULL, *k2 = NULL;
    int r = 1;

    if (argc != 7 || t == NULL)
        return 2;
    if (set_rules("") != 0)
        goto out;
    if (p11jwt_token_set_pin_file(t, argv[3]) != P11JWT_OK ||
        p11jwt_token_open(t, argv[2]) != P11JWT_OK ||
        p11jwt_key_open(t, argv[4], &k1) != P11JWT_OK ||
        p11jwt_key_open(t, argv[5], &k2) != P11JWT_OK) {
        fprintf(stderr, "faultclient: %s\n", p11jwt_errmsg());
        goto out;
    }
    /* k2 recovers from a stale handle: every key's handle is re-found. */
    if (set_rules("C_SignInit@1=CKR_OBJECT_HANDLE_INVALID") != 0 || sign_one(k2, argv[6]) != 0)
        goto out;
    /* k1's re-find, its first call, meets a session the token dropped. */
    if (set_rules("C_FindObjectsInit@1=CKR_SESSION_HANDLE_INVALID") != 0 ||
        sign_one(k1, argv[6]) != 0)
        goto out;
    /* That made k2's handle stale again; its re-find meets the login gone
     * (the module logs the token out with CKR_USER_NOT_LOGGED_IN). */
    if (set_rules("C_FindObjectsInit@1=CKR_USER_NOT_LOGGED_IN") != 0 ||
        sign_one(k2, argv[6]) != 0)
        goto out;
    r = 0;
out:
    p11jwt_key_free(k1);
    p11jwt_key_free(k2);
    p11jwt_token_free(t);
    return r;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "client") == 0)
        return mode_client(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "keys") == 0)
        return mode_keys(argc, argv);
    fprintf(stderr, "usage: faultclient client CONFIG PROFILE warm|cold RULES THREADS ROUNDS\n"
                    "       faultclient keys URI PIN-FILE KID1 KID2 AUD\n");
    return 2;
}
