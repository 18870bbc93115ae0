/*
 * replay.c — a target's main() without libFuzzer, so that every build
 * (gcc, the ASan/UBSan one) runs the fuzz targets in ctest: each corpus
 * file once (the regression inputs among them), then N mutations of them
 * (byte flips, insertions, deletions, splices, truncations, repeats) from
 * a fixed seed, so a failure reproduces. scripts/fuzz.sh is the real
 * fuzzer (clang, libFuzzer); this only keeps its findings fixed.
 *
 *   fuzz_replay_NAME [-n MUTATIONS] [-s SEED] FILE|DIR...
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPLAY_MAX 65536

struct input {
    uint8_t *d;
    size_t n;
};

static struct input *inputs;
static size_t ninputs;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

/* The input being run, shown (escaped) when a check or a sanitizer aborts,
 * so that it can be added to the corpus. */
static const uint8_t *current;
static size_t current_len;

static void show_input(int sig)
{
    static const char hex[] = "0123456789abcdef";
    static const char head[] = "replay: the input that failed, escaped:\n";
    char out[4];

    (void)!write(2, head, sizeof head - 1);
    for (size_t i = 0; current != NULL && i < current_len; i++) {
        uint8_t c = current[i];
        size_t n = 0;

        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[n++] = (char)c;
        } else {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
        (void)!write(2, out, n);
    }
    (void)!write(2, "\n", 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void run(const uint8_t *d, size_t n)
{
    /* An exact-size copy, so that ASan sees a read past the end. */
    uint8_t *copy = malloc(n ? n : 1);

    memcpy(copy, d, n);
    current = copy;
    current_len = n;
    LLVMFuzzerTestOneInput(copy, n);
    current = NULL;
    free(copy);
}

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static int add_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *d = malloc(REPLAY_MAX);
    struct input *ni;
    size_t n;

    if (f == NULL || d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        if (f != NULL)
            fclose(f);
        free(d);
        return -1;
    }
    n = fread(d, 1, REPLAY_MAX, f);
    fclose(f);
    ni = realloc(inputs, (ninputs + 1) * sizeof *inputs);
    if (ni == NULL) {
        free(d);
        return -1;
    }
    inputs = ni;
    inputs[ninputs].d = d;
    inputs[ninputs++].n = n;
    return 0;
}

static int add_path(const char *path)
{
    struct stat st;
    DIR *dir;
    struct dirent *e;
    char sub[4096];
    int rc = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return add_file(path);
    if ((dir = opendir(path)) == NULL)
        return -1;
    while (rc == 0 && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rc = add_path(sub);
    }
    closedir(dir);
    return rc;
}

/* One mutation of a corpus input into buf; returns its length. */
static size_t mutate(uint8_t *buf, size_t cap)
{
    static const uint8_t interesting[] = { 0,   '\\', '"', '%', '\r', '\n', '{', '}', '[',
                                           ']', ':',  ',', '.', '=',  ';',  '?', '&', '-',
                                           'u', 0x7f, 0x80, 0xc3, 0xff, '0', '9' };
    const struct input *in = &inputs[next() % ninputs];
    size_t n = in->n < cap ? in->n : cap, ops = 1 + next() % 8;

    memcpy(buf, in->d, n);
    for (size_t k = 0; k < ops; k++) {
        size_t at = n > 0 ? next() % (n + 1) : 0;

        switch (next() % 6) {
        case 0: /* replace a byte */
            if (at < n)
                buf[at] = (uint8_t)next();
            break;
        case 1: /* insert an interesting byte */
            if (n < cap) {
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = interesting[next() % sizeof interesting];
                n++;
            }
            break;
        case 2: /* delete */
            if (at < n) {
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
            }
            break;
        case 3: /* truncate */
            n = at;
            break;
        case 4: { /* splice in a piece of another input */
            const struct input *o = &inputs[next() % ninputs];
            size_t from = o->n ? next() % o->n : 0;
            size_t len = o->n ? next() % (o->n - from + 1) : 0;

            if (n + len <= cap) {
                memmove(buf + at + len, buf + at, n - at);
                memcpy(buf + at, o->d + from, len);
                n += len;
            }
            break;
        }
        default: /* repeat a byte (deep nesting, long names) */
            if (at < n) {
                size_t rep = next() % 300;

                if (n + rep <= cap) {
                    memmove(buf + at + rep, buf + at, n - at);
                    memset(buf + at, buf[at], rep);
                    n += rep;
                }
            }
            break;
        }
    }
    return n;
}

int main(int argc, char *argv[])
{
    long runs = 0;
    int i = 1;
    uint8_t *buf;

    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-n") == 0)
            runs = atol(argv[i + 1]);
        else if (strcmp(argv[i], "-s") == 0)
            rng = strtoull(argv[i + 1], NULL, 10) | 1;
        else
            break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: %s [-n MUTATIONS] [-s SEED] FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (; i < argc; i++)
        if (add_path(argv[i]) != 0)
            return 1;
    if (ninputs == 0) {
        fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    signal(SIGABRT, show_input);
    signal(SIGSEGV, show_input);
    for (size_t k = 0; k < ninputs; k++)
        run(inputs[k].d, inputs[k].n);
    buf = malloc(REPLAY_MAX);
    for (long r = 0; buf != NULL && r < runs; r++)
        run(buf, mutate(buf, REPLAY_MAX));
    free(buf);
    for (size_t k = 0; k < ninputs; k++)
        free(inputs[k].d);
    free(inputs);
    printf("%s: %zu inputs and %ld mutations, all checks held\n", argv[0], ninputs, runs);
    return 0;
}
