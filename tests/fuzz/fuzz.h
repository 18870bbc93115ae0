/*
 * fuzz.h — what every fuzz target shares: the libFuzzer entry point, and
 * FUZZ_CHECK, which aborts (a crash libFuzzer and the replay driver both
 * report) when a parser breaks a promise it makes, not only when it
 * crashes.
 */
#ifndef P11JWT_FUZZ_H
#define P11JWT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(c)                                                              \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* The input as a NUL-terminated string (a copy; caller frees). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s != NULL) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

#endif
