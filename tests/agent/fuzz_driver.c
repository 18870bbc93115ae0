/*
 * fuzz_driver.c — runs fuzz_parsers.c's target without libFuzzer, so that
 * ctest (and the ASan/UBSan build) exercises it on every run: the seeds
 * below, then N mutations of them (byte flips, insertions, deletions,
 * splices, truncations) from a fixed seed, so a failure reproduces.
 * `fuzz_agent_smoke N [SEED]`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const seeds[] = {
    "\x00/v1/token/dt?min_valid=300",
    "\x00/v1/token/my%20profile/invalidate",
    "\x00/v1/assertion/a%2Fb",
    "\x00/v1/health",
    "\x01{\"access_token\":\"ab\\u00e9\\ud83d\\ude00\",\"token_type\":\"Bearer\",\"expires_at\":1,"
    "\"scope\":null,\"headers\":{\"X\":\"y\"},\"a\":[1,2.5e-3,true,false,{}]}",
    "\x01{\"error\":\"forbidden\",\"message\":\"profile 'dt' does not allow uid 65534\"}",
    "\x02HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n"
    "Connection: close\r\n\r\n{\"a\":\"b\"}",
    "\x02HTTP/1.0 204 No Content\r\nCache-Control: no-store\r\n\r\n",
    "\x03uid:0 user:alice gid:10 group:wheel",
    "\x03noa prod/eu \xc3\xa9%",
};

static uint64_t rng;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

int main(int argc, char *argv[])
{
    const size_t nseeds = sizeof seeds / sizeof seeds[0];
    long runs = argc > 1 ? atol(argv[1]) : 100000;
    uint8_t buf[4096];

    rng = argc > 2 ? strtoull(argv[2], NULL, 10) : 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < nseeds; i++)
        LLVMFuzzerTestOneInput((const uint8_t *)seeds[i], strlen(seeds[i] + 1) + 1);
    for (long r = 0; r < runs; r++) {
        const char *s = seeds[next() % nseeds];
        size_t n = strlen(s + 1) + 1, ops = 1 + next() % 8;

        memcpy(buf, s, n);
        for (size_t k = 0; k < ops; k++) {
            size_t at = n > 1 ? 1 + next() % (n - 1) : 1;

            switch (next() % 6) {
            case 0: /* flip a byte */
                if (at < n)
                    buf[at] = (uint8_t)next();
                break;
            case 1: /* insert an interesting byte */
                if (n < sizeof buf) {
                    static const uint8_t interesting[] = { 0, '\\', '"', '%', '\r', '\n', '{',
                                                           '[', ':', ',', 'u', 0x7f, 0xff };
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
            case 4: { /* splice in a piece of another seed */
                const char *o = seeds[next() % nseeds] + 1;
                size_t ol = strlen(o), from = ol ? next() % ol : 0, len = ol ? next() % (ol - from + 1) : 0;

                if (n + len <= sizeof buf) {
                    memmove(buf + at + len, buf + at, n - at);
                    memcpy(buf + at, o + from, len);
                    n += len;
                }
                break;
            }
            default: /* repeat a byte many times (deep nesting, long names) */
                if (at < n) {
                    size_t rep = next() % 300;

                    if (n + rep <= sizeof buf) {
                        memmove(buf + at + rep, buf + at, n - at);
                        memset(buf + at, buf[at], rep);
                        n += rep;
                    }
                }
                break;
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz_agent_smoke: %zu seeds and %ld mutations, all checks held\n", nseeds, runs);
    return 0;
}
