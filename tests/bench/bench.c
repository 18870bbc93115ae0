/*
 * bench.c — p11jwt-bench: how close complete assertions through the library
 * come to what the token itself can sign, and how fast the exchange hands
 * out a cached access token.
 *
 * In one process, on one token, for ES256, ES384, ES512 and HS256, at 1 and
 * 2 threads:
 *
 *   raw     the token's ceiling: C_SignInit + C_Sign in a loop on one open,
 *           logged-in session per thread with a found key handle; ES* hash
 *           the input on the host first (a pre-fetched EVP_MD, a reused
 *           EVP_MD_CTX) and sign the digest with CKM_ECDSA, HS256 runs
 *           CKM_SHA256_HMAC over the input in the token. The input is the
 *           signing input of a real assertion from the library, so both
 *           paths hash and sign the same number of bytes.
 *   p11jwt  p11jwt_assertion_sign (iss, aud, ttl; iat/exp/jti, claims JSON,
 *           base64url, hash, sign, compact form) on one p11jwt_key shared by
 *           all threads. With --extras FILE, each assertion also carries the
 *           extra claims of the file's next line (one JSON object a line, as
 *           `p11jwt sign --batch` reads them; each thread cycles through the
 *           lines), and the raw input is an assertion with the first line.
 *   raw{}   only with --extras: the raw loop over the signing input of an
 *           assertion without extra claims (what a batch line of `{}`
 *           signs): how much of what longer claims cost is the token's own
 *           (SoftHSM's HMAC hashes more blocks; ES* hash on the host).
 *   cache   p11jwt_client_token + p11jwt_access_token_clear on a warm cache:
 *           a loopback HTTP responder in this process answers the one
 *           exchange that fills it; no STS call happens while measuring.
 *
 * The raw path reaches the same module instance the library uses (dlopen of
 * the same file returns the same handle): C_Initialize answering
 * CKR_CRYPTOKI_ALREADY_INITIALIZED and C_Login answering
 * CKR_USER_ALREADY_LOGGED_IN are expected.
 *
 * Measuring: every row warms up briefly, then each thread runs its own loop
 * for the same duration, reading the clock once per chunk of operations
 * (not per operation) and counting in a local variable; the counts go to a
 * per-thread, cache-line-aligned slot only at the end. A row's rate is the
 * sum of the threads' own ops / elapsed. The raw and p11jwt rows (and raw{})
 * of one alg and thread count are measured in alternating slices (--slices,
 * default 10: raw p11jwt raw{} | raw{} p11jwt raw | ...), so that background
 * load on a shared machine, which comes and goes, weighs on all sides of the
 * ratios alike.
 *
 * Output: one row per measurement (raw{}: its ratio is raw{}/raw), then one line
 *   summary: es256=R es384=R es512=R hs256=R es512_t2=R hs256_t2=R
 *            cache_mops=N cache_t2_scaling=S
 * (on one line; R = p11jwt/raw at the same thread count).
 */
#include "p11jwt.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 2
#define SIGN_CHUNK 4          /* sign operations between clock reads */
#define CACHE_CHUNK 1024      /* cache hand-outs between clock reads */
#define SECRET_ENV "P11JWT_BENCH_CLIENT_SECRET"

/* ---- small helpers ---------------------------------------------------------- */

static const char *progname = "p11jwt-bench";

static void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* A usage error: exit status 2. */
static void die_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", progname);
    exit(2);
}

static void die_p11jwt(const char *what, p11jwt_rc rc)
{
    die("%s: %s: %s", what, p11jwt_strerror(rc), p11jwt_errmsg());
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- what is measured ------------------------------------------------------- */

typedef struct alg_spec {
    p11jwt_alg alg;
    const char *name;         /* "ES256" */
    const char *key;          /* "es256": summary key, --kid ALG=, --only */
    CK_MECHANISM_TYPE mech;
    const char *md;           /* host-side hash (ES), NULL when the token hashes */
    CK_OBJECT_CLASS cls;
} alg_spec;

static const alg_spec algs[] = {
    { P11JWT_ES256, "ES256", "es256", CKM_ECDSA, "SHA256", CKO_PRIVATE_KEY },
    { P11JWT_ES384, "ES384", "es384", CKM_ECDSA, "SHA384", CKO_PRIVATE_KEY },
    { P11JWT_ES512, "ES512", "es512", CKM_ECDSA, "SHA512", CKO_PRIVATE_KEY },
    { P11JWT_HS256, "HS256", "hs256", CKM_SHA256_HMAC, NULL, CKO_SECRET_KEY },
};
#define NALGS (sizeof algs / sizeof algs[0])

/* Claims of every assertion measured (and of `p11jwt sign --batch` in
 * scripts/bench.sh, which passes the same values). */
#define BENCH_ISS "bench-client"
#define BENCH_AUD "https://sts.example.com/oauth2/token"
#define BENCH_TTL 300

/* ---- the raw PKCS#11 path --------------------------------------------------- */

static CK_FUNCTION_LIST *raw_fl;
static CK_SLOT_ID raw_slot;
static int raw_we_initialized;

static const char *ckr(CK_RV rv)
{
    static char buf[32];

    switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_OPERATION_ACTIVE: return "CKR_OPERATION_ACTIVE";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
    default:
        snprintf(buf, sizeof buf, "CKR 0x%lx", (unsigned long)rv);
        return buf;
    }
}

static void raw_open_module(const char *module, const char *label)
{
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS args;
    CK_SLOT_ID slots[64];
    CK_ULONG nslots = 64;
    void *dl;
    CK_RV rv;
    char want[32];
    size_t n = strlen(label);

    dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL)
        die("dlopen %s: %s", module, dlerror());
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    if (get == NULL)
        die("%s has no C_GetFunctionList", module);
    rv = get(&raw_fl);
    if (rv != CKR_OK)
        die("C_GetFunctionList: %s", ckr(rv));
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = raw_fl->C_Initialize(&args);
    if (rv == CKR_OK)
        raw_we_initialized = 1;    /* not the library's instance after all */
    else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        die("C_Initialize: %s", ckr(rv));

    /* CK_TOKEN_INFO.label: 32 bytes, blank padded. */
    if (n > sizeof want)
        die("token label '%s' is longer than 32 bytes", label);
    memset(want, ' ', sizeof want);
    memcpy(want, label, n);
    rv = raw_fl->C_GetSlotList(CK_TRUE, slots, &nslots);
    if (rv != CKR_OK)
        die("C_GetSlotList: %s", ckr(rv));
    for (CK_ULONG i = 0; i < nslots; i++) {
        CK_TOKEN_INFO ti;

        if (raw_fl->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
            memcmp(ti.label, want, sizeof want) == 0) {
            raw_slot = slots[i];
            return;
        }
    }
    die("no token labelled '%s' in %s", label, module);
}

static void raw_close_module(void)
{
    if (raw_we_initialized)
        raw_fl->C_Finalize(NULL);
}

/* A logged-in session of its own and the key's handle in it. */
static void raw_session(const alg_spec *a, const char *kid, const unsigned char *pin,
                        size_t pin_len, CK_SESSION_HANDLE *s, CK_OBJECT_HANDLE *h)
{
    CK_OBJECT_CLASS cls = a->cls;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof cls },
        { CKA_ID, (void *)kid, strlen(kid) },
    };
    CK_ULONG found = 0;
    CK_RV rv;

    rv = raw_fl->C_OpenSession(raw_slot, CKF_SERIAL_SESSION, NULL, NULL, s);
    if (rv != CKR_OK)
        die("C_OpenSession: %s", ckr(rv));
    rv = raw_fl->C_Login(*s, CKU_USER, (CK_UTF8CHAR_PTR)pin, pin_len);
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
        die("C_Login: %s", ckr(rv));
    rv = raw_fl->C_FindObjectsInit(*s, tmpl, 2);
    if (rv == CKR_OK)
        rv = raw_fl->C_FindObjects(*s, h, 1, &found);
    raw_fl->C_FindObjectsFinal(*s);
    if (rv != CKR_OK || found != 1)
        die("no %s key with CKA_ID '%s' (%s)", a->name, kid, ckr(rv));
}

/* ---- workers ---------------------------------------------------------------- */

typedef struct run run;

typedef struct worker {
    _Alignas(64) run *r;
    /* raw */
    CK_SESSION_HANDLE sess;
    CK_OBJECT_HANDLE key;
    EVP_MD_CTX *mdctx;
    /* p11jwt: the next --extras line this thread signs */
    size_t next;
    /* results */
    uint64_t ops;
    double elapsed;
    char err[256];
    pthread_t th;
} worker;

/* Does n operations; 0 on success, else fills w->err. */
typedef int (*op_fn)(worker *w, unsigned n);

struct run {
    op_fn op;
    unsigned chunk;
    double seconds, warmup;
    pthread_barrier_t start;
    /* shared inputs */
    const alg_spec *a;
    const EVP_MD *md;
    const unsigned char *input;
    size_t input_len;
    const unsigned char *input0; /* raw{}: the signing input without extras */
    size_t input0_len;
    p11jwt_key *key;
    p11jwt_claims_params params;
    char **extras;            /* --extras lines, or NULL */
    size_t nextras;
    p11jwt_client *client;
};

static int raw_loop(worker *w, unsigned n, const unsigned char *input, size_t input_len)
{
    const run *r = w->r;
    CK_FUNCTION_LIST *fl = raw_fl;
    CK_MECHANISM mech = { r->a->mech, NULL, 0 };
    unsigned char digest[EVP_MAX_MD_SIZE], sig[256];

    for (unsigned i = 0; i < n; i++) {
        const unsigned char *in = input;
        CK_ULONG in_len = input_len, sig_len = sizeof sig;
        CK_RV rv;

        if (r->md != NULL) {
            unsigned dlen = 0;

            if (EVP_DigestInit_ex2(w->mdctx, r->md, NULL) != 1 ||
                EVP_DigestUpdate(w->mdctx, input, input_len) != 1 ||
                EVP_DigestFinal_ex(w->mdctx, digest, &dlen) != 1) {
                snprintf(w->err, sizeof w->err, "EVP digest failed");
                return -1;
            }
            in = digest;
            in_len = dlen;
        }
        rv = fl->C_SignInit(w->sess, &mech, w->key);
        if (rv == CKR_OK)
            rv = fl->C_Sign(w->sess, (CK_BYTE_PTR)in, in_len, sig, &sig_len);
        if (rv != CKR_OK) {
            snprintf(w->err, sizeof w->err, "C_SignInit/C_Sign: %s", ckr(rv));
            return -1;
        }
    }
    return 0;
}

static int op_raw(worker *w, unsigned n)
{
    return raw_loop(w, n, w->r->input, w->r->input_len);
}

static int op_raw0(worker *w, unsigned n)
{
    return raw_loop(w, n, w->r->input0, w->r->input0_len);
}

static int op_p11jwt(worker *w, unsigned n)
{
    const run *r = w->r;
    p11jwt_claims_params p = r->params;

    for (unsigned i = 0; i < n; i++) {
        char *jws;
        p11jwt_rc rc;

        if (r->nextras > 0) {
            p.extra_json = r->extras[w->next];
            w->next = w->next + 1 < r->nextras ? w->next + 1 : 0;
        }
        rc = p11jwt_assertion_sign(r->key, &p, &jws);

        if (rc != P11JWT_OK) {
            snprintf(w->err, sizeof w->err, "p11jwt_assertion_sign: %s: %s",
                     p11jwt_strerror(rc), p11jwt_errmsg());
            return -1;
        }
        p11jwt_free(jws);
    }
    return 0;
}

static int op_cache(worker *w, unsigned n)
{
    p11jwt_client *c = w->r->client;

    for (unsigned i = 0; i < n; i++) {
        p11jwt_access_token t;
        p11jwt_rc rc = p11jwt_client_token(c, &t);

        if (rc != P11JWT_OK) {
            snprintf(w->err, sizeof w->err, "p11jwt_client_token: %s: %s",
                     p11jwt_strerror(rc), p11jwt_errmsg());
            return -1;
        }
        p11jwt_access_token_clear(&t);
    }
    return 0;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    const op_fn op = r->op;
    const unsigned chunk = r->chunk;
    uint64_t n = 0;
    double t, start, end;

    pthread_barrier_wait(&r->start);
    end = now_s() + r->warmup;
    do {
        if (op(w, chunk) != 0)
            return NULL;
    } while (now_s() < end);

    start = now_s();
    end = start + r->seconds;
    do {
        if (op(w, chunk) != 0)
            return NULL;
        n += chunk;
        t = now_s();
    } while (t < end);
    w->ops = n;
    w->elapsed = t - start;
    return NULL;
}

/* Runs r->op on nthreads threads; ops/s summed over the threads. */
static double run_threads(run *r, worker *ws, int nthreads)
{
    double rate = 0;

    pthread_barrier_init(&r->start, NULL, (unsigned)nthreads);
    for (int i = 0; i < nthreads; i++) {
        ws[i].r = r;
        ws[i].ops = 0;
        ws[i].elapsed = 0;
        ws[i].err[0] = '\0';
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
            die("cannot start a thread");
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(ws[i].th, NULL);
    pthread_barrier_destroy(&r->start);
    for (int i = 0; i < nthreads; i++) {
        if (ws[i].err[0] != '\0')
            die("%s", ws[i].err);
        if (ws[i].elapsed > 0)
            rate += (double)ws[i].ops / ws[i].elapsed;
    }
    return rate;
}

static double warmup_for(double seconds)
{
    double w = seconds * 0.1;

    return w < 0.1 ? 0.1 : w > 0.5 ? 0.5 : w;
}

/* Measures raw, p11jwt and raw{} (any may be skipped: do[k] 0) in
 * alternating slices, raw p11jwt raw{} | raw{} p11jwt raw | ..., so that a
 * change in the machine's background load hits every path alike and none
 * always goes first. Each path gets r->seconds in all; the first slice of
 * each warms up for r->warmup, later ones only run a chunk first. The rate
 * of a path (rate[k]) is the sum over threads of that thread's ops /
 * elapsed over all slices. */
#define NPATHS 3
static void measure_paths(run *r, worker *ws, int nthreads, int slices, const int do_[NPATHS],
                          double rate[NPATHS])
{
    static const op_fn ops_of[NPATHS] = { op_raw, op_p11jwt, op_raw0 };
    uint64_t ops[NPATHS][MAX_THREADS] = { { 0 } };
    double el[NPATHS][MAX_THREADS] = { { 0 } };
    const double seconds = r->seconds, warmup = r->warmup;

    r->seconds = seconds / slices;
    for (int i = 0; i < slices; i++) {
        for (int j = 0; j < NPATHS; j++) {
            int which = i % 2 == 0 ? j : NPATHS - 1 - j;

            if (!do_[which])
                continue;
            r->op = ops_of[which];
            r->warmup = i == 0 ? warmup : 0;
            run_threads(r, ws, nthreads);
            for (int t = 0; t < nthreads; t++) {
                ops[which][t] += ws[t].ops;
                el[which][t] += ws[t].elapsed;
            }
        }
    }
    r->seconds = seconds;
    r->warmup = warmup;
    for (int which = 0; which < NPATHS; which++) {
        rate[which] = 0;
        for (int t = 0; t < nthreads; t++)
            if (el[which][t] > 0)
                rate[which] += (double)ops[which][t] / el[which][t];
    }
}

/* The lines of an --extras file (newline cut off; empty lines skipped). */
static char **read_extras(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    char **lines = NULL, *line = NULL;
    size_t cap = 0, lcap = 0;
    ssize_t len;

    *n = 0;
    if (f == NULL)
        die("cannot open %s: %s", path, strerror(errno));
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            if ((lines = realloc(lines, cap * sizeof *lines)) == NULL)
                die("out of memory");
        }
        if ((lines[(*n)++] = strdup(line)) == NULL)
            die("out of memory");
    }
    free(line);
    if (ferror(f) || fclose(f) != 0)
        die("cannot read %s", path);
    if (*n == 0)
        die("%s has no lines", path);
    return lines;
}

/* ---- output ----------------------------------------------------------------- */

static void print_row(const char *what, const char *path, int threads, double rate,
                      double ratio)
{
    if (ratio > 0)
        printf("%-6s  %-7s  %7d  %14.1f  %10.3f\n", what, path, threads, rate, ratio);
    else
        printf("%-6s  %-7s  %7d  %14.1f  %10s\n", what, path, threads, rate, "-");
    fflush(stdout);
}

/* ---- the loopback STS --------------------------------------------------------- */

typedef struct responder {
    int fd;
    int port;
    atomic_int stop;
    atomic_uint served;
    pthread_t th;
} responder;

static const char sts_answer[] =
    "{\"access_token\":\"bench-access-token-0123456789abcdefghijklmnopqrstuvwxyz\","
    "\"token_type\":\"Bearer\",\"expires_in\":3600}";

/* Reads one request (headers, then Content-Length bytes of body) and answers
 * it with sts_answer; the connection is then closed. */
static void serve_one(int c)
{
    char buf[65536], head[512];
    size_t have = 0, need = 0;
    char *eoh = NULL;
    int n;

    for (;;) {
        ssize_t got;

        if (have == sizeof buf - 1)
            return;
        got = recv(c, buf + have, sizeof buf - 1 - have, 0);
        if (got <= 0)
            return;
        have += (size_t)got;
        buf[have] = '\0';
        if (eoh == NULL && (eoh = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *p = buf;

            while ((p = strchr(p, '\n')) != NULL && p < eoh) {
                p++;
                if (strncasecmp(p, "Content-Length:", 15) == 0)
                    need = strtoul(p + 15, NULL, 10);
            }
            need += (size_t)(eoh + 4 - buf);
        }
        if (eoh != NULL && have >= need)
            break;
    }
    n = snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                 "Connection: close\r\n\r\n",
                 sizeof sts_answer - 1);
    if (send(c, head, (size_t)n, MSG_NOSIGNAL) == n)
        (void)send(c, sts_answer, sizeof sts_answer - 1, MSG_NOSIGNAL);
}

static void *responder_main(void *arg)
{
    responder *rs = arg;

    while (!atomic_load(&rs->stop)) {
        struct pollfd pfd = { rs->fd, POLLIN, 0 };
        int c;

        if (poll(&pfd, 1, 100) <= 0)
            continue;
        c = accept(rs->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve_one(c);
        atomic_fetch_add(&rs->served, 1);
        close(c);
    }
    return NULL;
}

static void responder_start(responder *rs)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;

    memset(rs, 0, sizeof *rs);
    rs->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rs->fd < 0)
        die("socket: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(rs->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(rs->fd, 8) != 0 ||
        getsockname(rs->fd, (struct sockaddr *)&sa, &len) != 0)
        die("loopback responder: %s", strerror(errno));
    rs->port = ntohs(sa.sin_port);
    if (pthread_create(&rs->th, NULL, responder_main, rs) != 0)
        die("cannot start the responder thread");
}

static void responder_stop(responder *rs)
{
    atomic_store(&rs->stop, 1);
    pthread_join(rs->th, NULL);
    close(rs->fd);
}

/* A profile on the loopback STS: written to a temp file, loaded, removed. */
static p11jwt_client *cache_client(int port)
{
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    p11jwt_profile *prof;
    p11jwt_client *c;
    p11jwt_rc rc;
    FILE *f;
    int fd;

    snprintf(path, sizeof path, "%s/p11jwt-bench-config.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    fd = mkstemp(path);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
        die("cannot create a temp config file %s: %s", path, strerror(errno));
    fprintf(f,
            "[profile bench]\n"
            "dialect = client-credentials\n"
            "token_url = http://127.0.0.1:%d/token\n"
            "client_id = bench\n"
            "client_secret_env = " SECRET_ENV "\n"
            "max_retries = 0\n",
            port);
    if (fclose(f) != 0)
        die("cannot write %s", path);
    setenv(SECRET_ENV, "bench-client-secret", 1);
    /* libcurl honours http_proxy: the loopback STS must not go through one. */
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    setenv("no_proxy", "127.0.0.1,localhost", 1);

    rc = p11jwt_profile_load(path, "bench", &prof);
    unlink(path);
    if (rc != P11JWT_OK)
        die_p11jwt("loading the bench profile", rc);
    rc = p11jwt_client_new(prof, &c);
    if (rc != P11JWT_OK)
        die_p11jwt("p11jwt_client_new", rc);
    return c;
}

/* ---- arguments -------------------------------------------------------------- */

static const char usage[] =
    "Usage: p11jwt-bench --token-label LABEL --pin-file PATH [--module PATH]\n"
    "                    [--seconds N] [--kid ALG=KID]... [--only LIST]\n"
    "                    [--path raw|p11jwt] [--threads 1|2] [--slices K]\n"
    "                    [--extras FILE]\n\n"
    "Measures, on a token nobody else uses, the token's raw C_SignInit+C_Sign\n"
    "rate against complete assertions through libp11jwt (ES256, ES384, ES512,\n"
    "HS256; 1 and 2 threads), and the exchange's cached-token hand-out.\n\n"
    "  --module PATH        PKCS#11 module ($P11JWT_MODULE, else SoftHSM's)\n"
    "  --token-label LABEL  the token ($P11JWT_BENCH_TOKEN)\n"
    "  --pin-file PATH      its user PIN ($P11JWT_BENCH_PIN_FILE)\n"
    "  --seconds N          length of each measurement (default 3)\n"
    "  --kid ALG=KID        use this existing key for ALG (es256, es384, es512,\n"
    "                       hs256); keys not named are generated in the token\n"
    "  --only LIST          comma-separated subset of es256,es384,es512,hs256,cache\n"
    "  --path raw|p11jwt    measure only that path of the sign rows (for profiling;\n"
    "                       no ratios then)\n"
    "  --threads 1|2        only that thread count (default: both)\n"
    "  --slices K           split each sign row into K slices, alternating raw,\n"
    "                       p11jwt (and raw{}) (default 10; the total time per path\n"
    "                       stays N s)\n"
    "  --extras FILE        extra claims for the sign rows: one JSON object a line,\n"
    "                       each assertion the next line (as `p11jwt sign --batch`);\n"
    "                       adds a raw{} row: the raw loop over an assertion's\n"
    "                       signing input without them (ratio raw{}/raw)\n";

static int only_has(const char *only, const char *what)
{
    size_t n = strlen(what);
    const char *p = only;

    if (only == NULL)
        return 1;
    while ((p = strstr(p, what)) != NULL) {
        if ((p == only || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
        p += n;
    }
    return 0;
}

/* pkcs11:token=LABEL, the label percent-encoded (RFC 7512 §2.3). */
static void token_uri(const char *label, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = (size_t)snprintf(out, cap, "pkcs11:token=");

    for (const unsigned char *p = (const unsigned char *)label; *p && o + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

static const char *fmt_ratio(char *buf, size_t cap, double v)
{
    if (v > 0)
        snprintf(buf, cap, "%.2f", v);
    else
        snprintf(buf, cap, "na");
    return buf;
}

int main(int argc, char **argv)
{
    const char *module = getenv("P11JWT_MODULE");
    const char *label = getenv("P11JWT_BENCH_TOKEN");
    const char *pin_file = getenv("P11JWT_BENCH_PIN_FILE");
    const char *only = NULL, *path = NULL;
    char **extras = NULL;
    size_t nextras = 0;
    const char *kids[NALGS] = { 0 };
    char *owned_kids[NALGS] = { 0 };
    double seconds = 3;
    int slices = 10;
    int tmin = 1, tmax = MAX_THREADS;
    double ratio1[NALGS] = { 0 }, ratio2[NALGS] = { 0 };
    double cache1 = 0, cache2 = 0;
    unsigned char *pin = NULL;
    size_t pin_len = 0;
    char uri[512];
    p11jwt_token *tok;
    p11jwt_rc rc;
    worker *ws;

    if (module == NULL || module[0] == '\0')
        module = "/usr/lib/softhsm/libsofthsm2.so";
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (v == NULL)
            die_usage("option '%s' is unknown or needs a value", o);
        i++;
        if (strcmp(o, "--module") == 0) {
            module = v;
        } else if (strcmp(o, "--token-label") == 0) {
            label = v;
        } else if (strcmp(o, "--pin-file") == 0) {
            pin_file = v;
        } else if (strcmp(o, "--seconds") == 0) {
            char *end;
            seconds = strtod(v, &end);
            if (*end != '\0' || !(seconds > 0 && seconds <= 3600))
                die_usage("--seconds wants a number of seconds in (0, 3600], not '%s'", v);
        } else if (strcmp(o, "--threads") == 0) {
            if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0)
                die_usage("--threads wants 1 or 2, not '%s'", v);
            tmin = tmax = v[0] - '0';
        } else if (strcmp(o, "--slices") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end != '\0' || n < 1 || n > 100)
                die_usage("--slices wants a whole number from 1 to 100, not '%s'", v);
            slices = (int)n;
        } else if (strcmp(o, "--extras") == 0) {
            for (size_t j = 0; j < nextras; j++)
                free(extras[j]);
            free(extras);
            extras = read_extras(v, &nextras);
        } else if (strcmp(o, "--only") == 0) {
            only = v;
        } else if (strcmp(o, "--path") == 0) {
            if (strcmp(v, "raw") != 0 && strcmp(v, "p11jwt") != 0)
                die_usage("--path wants raw or p11jwt, not '%s'", v);
            path = v;
        } else if (strcmp(o, "--kid") == 0) {
            const char *eq = strchr(v, '=');
            size_t k;

            for (k = 0; k < NALGS; k++)
                if (eq != NULL && (size_t)(eq - v) == strlen(algs[k].key) &&
                    strncasecmp(v, algs[k].key, (size_t)(eq - v)) == 0)
                    break;
            if (k == NALGS || eq[1] == '\0')
                die_usage("--kid wants ALG=KID with ALG one of es256, es384, es512, hs256");
            kids[k] = eq + 1;
        } else {
            die_usage("unknown option '%s'", o);
        }
    }
    if (label == NULL || label[0] == '\0' || pin_file == NULL || pin_file[0] == '\0')
        die_usage("--token-label and --pin-file are required");

    /* The library's token, logged in. */
    tok = p11jwt_token_new();
    if (tok == NULL)
        die("out of memory");
    p11jwt_token_set_pin_prompt(tok, 0);
    if ((rc = p11jwt_token_set_default_module(tok, module)) != P11JWT_OK ||
        (rc = p11jwt_token_set_pin_file(tok, pin_file)) != P11JWT_OK)
        die_p11jwt("token options", rc);
    token_uri(label, uri, sizeof uri);
    if ((rc = p11jwt_token_open(tok, uri)) != P11JWT_OK)
        die_p11jwt(uri, rc);
    if ((rc = p11jwt_token_login(tok)) != P11JWT_OK)
        die_p11jwt("login", rc);
    if ((rc = p11jwt_secret_read_file(pin_file, 256, &pin, &pin_len)) != P11JWT_OK)
        die_p11jwt("reading the PIN", rc);

    /* The raw path: the same module, its own sessions. */
    raw_open_module(module, label);

    ws = aligned_alloc(64, MAX_THREADS * sizeof *ws);
    if (ws == NULL)
        die("out of memory");
    memset(ws, 0, MAX_THREADS * sizeof *ws);

    printf("# p11jwt-bench: module %s, token '%s', %.3g s per row (+%.2g s warm-up), "
           "raw and p11jwt%s alternating in %d slices\n",
           module, label, seconds, warmup_for(seconds), nextras > 0 ? " and raw{}" : "", slices);
    printf("%-6s  %-7s  %7s  %14s  %10s\n", "#what", "path", "threads", "ops/s",
           "p11jwt/raw");
    fflush(stdout);

    for (size_t k = 0; k < NALGS; k++) {
        const alg_spec *a = &algs[k];
        run r;
        p11jwt_key *key;
        char *jws, *jws0;
        const char *dot;
        EVP_MD *md = NULL;

        if (!only_has(only, a->key))
            continue;
        if (kids[k] == NULL) {
            char lbl[64];

            snprintf(lbl, sizeof lbl, "p11jwt-bench-%s", a->key);
            rc = p11jwt_key_generate(tok, a->alg, NULL, lbl, &owned_kids[k]);
            if (rc != P11JWT_OK)
                die_p11jwt("generating a key", rc);
            kids[k] = owned_kids[k];
        }
        if ((rc = p11jwt_key_open(tok, kids[k], &key)) != P11JWT_OK ||
            (rc = p11jwt_key_check_alg(key, a->alg)) != P11JWT_OK)
            die_p11jwt(kids[k], rc);

        memset(&r, 0, sizeof r);
        r.a = a;
        r.key = key;
        r.params.iss = BENCH_ISS;
        r.params.aud = BENCH_AUD;
        r.params.ttl = BENCH_TTL;
        r.extras = extras;
        r.nextras = nextras;
        r.seconds = seconds;
        r.warmup = warmup_for(seconds);
        r.chunk = SIGN_CHUNK;

        /* The raw input: the signing input of one of our assertions (with
         * the first --extras line, so that both paths sign as many bytes);
         * raw{}'s: one without extras. */
        r.params.extra_json = nextras > 0 ? extras[0] : NULL;
        rc = p11jwt_assertion_sign(key, &r.params, &jws);
        r.params.extra_json = NULL;
        if (rc == P11JWT_OK)
            rc = p11jwt_assertion_sign(key, &r.params, &jws0);
        if (rc != P11JWT_OK)
            die_p11jwt("p11jwt_assertion_sign", rc);
        dot = strrchr(jws, '.');
        r.input = (const unsigned char *)jws;
        r.input_len = (size_t)(dot - jws);
        dot = strrchr(jws0, '.');
        r.input0 = (const unsigned char *)jws0;
        r.input0_len = (size_t)(dot - jws0);
        if (a->md != NULL && (md = EVP_MD_fetch(NULL, a->md, NULL)) == NULL)
            die("EVP_MD_fetch %s failed", a->md);
        r.md = md;
        for (int t = 0; t < MAX_THREADS; t++) {
            raw_session(a, kids[k], pin, pin_len, &ws[t].sess, &ws[t].key);
            if ((ws[t].mdctx = EVP_MD_CTX_new()) == NULL)
                die("out of memory");
        }

        for (int nt = tmin; nt <= tmax; nt++) {
            int do_raw = path == NULL || strcmp(path, "raw") == 0;
            int do_[NPATHS] = { do_raw, path == NULL || strcmp(path, "p11jwt") == 0,
                                do_raw && nextras > 0 };
            double rate[NPATHS], raw, lib;

            measure_paths(&r, ws, nt, slices, do_, rate);
            raw = rate[0];
            lib = rate[1];
            if (do_[0])
                print_row(a->name, "raw", nt, raw, 0);
            if (do_[1])
                print_row(a->name, "p11jwt", nt, lib, raw > 0 ? lib / raw : 0);
            if (do_[2])
                print_row(a->name, "raw{}", nt, rate[2], raw > 0 ? rate[2] / raw : 0);
            (nt == 1 ? ratio1 : ratio2)[k] = raw > 0 ? lib / raw : 0;
        }

        for (int t = 0; t < MAX_THREADS; t++) {
            raw_fl->C_CloseSession(ws[t].sess);
            EVP_MD_CTX_free(ws[t].mdctx);
        }
        EVP_MD_free(md);
        p11jwt_free(jws);
        p11jwt_free(jws0);
        p11jwt_key_free(key);
    }

    if (only_has(only, "cache")) {
        responder rs;
        p11jwt_client *c;
        p11jwt_access_token t;
        p11jwt_client_stats st;
        run r;

        responder_start(&rs);
        c = cache_client(rs.port);
        if ((rc = p11jwt_client_token(c, &t)) != P11JWT_OK)
            die_p11jwt("warming the cache (one exchange with the loopback STS)", rc);
        p11jwt_access_token_clear(&t);

        memset(&r, 0, sizeof r);
        r.op = op_cache;
        r.chunk = CACHE_CHUNK;
        r.client = c;
        r.seconds = seconds;
        r.warmup = warmup_for(seconds);
        if (tmin == 1) {
            cache1 = run_threads(&r, ws, 1);
            print_row("cache", "p11jwt", 1, cache1, 0);
        }
        if (tmax == 2) {
            cache2 = run_threads(&r, ws, 2);
            print_row("cache", "p11jwt", 2, cache2, 0);
        }

        p11jwt_client_get_stats(c, &st);
        if (st.exchanges != 1)
            die("the cache went to the STS %llu times while measured (want 1)",
                (unsigned long long)st.exchanges);
        p11jwt_client_free(c);
        responder_stop(&rs);
    }

    {
        char b[8][16];

        printf("summary: es256=%s es384=%s es512=%s hs256=%s es512_t2=%s hs256_t2=%s "
               "cache_mops=%s cache_t2_scaling=%s\n",
               fmt_ratio(b[0], 16, ratio1[0]), fmt_ratio(b[1], 16, ratio1[1]),
               fmt_ratio(b[2], 16, ratio1[2]), fmt_ratio(b[3], 16, ratio1[3]),
               fmt_ratio(b[4], 16, ratio2[2]), fmt_ratio(b[5], 16, ratio2[3]),
               fmt_ratio(b[6], 16, cache1 / 1e6),
               fmt_ratio(b[7], 16, cache1 > 0 ? cache2 / cache1 : 0));
    }

    for (size_t k = 0; k < NALGS; k++)
        p11jwt_free(owned_kids[k]);
    for (size_t j = 0; j < nextras; j++)
        free(extras[j]);
    free(extras);
    free(ws);
    p11jwt_secret_free(pin, pin_len);
    raw_close_module();
    p11jwt_token_free(tok);
    return fflush(stdout) == 0 ? 0 : 1;
}
