/*
 * cache_memory.c — the token cache's memory backend: one entry in this
 * process, the shared copy behind the per-thread ones (cache.c). The
 * cache calls it under its own lock, so it keeps no lock of its own; a
 * backend that leaves the process (a fleet's Redis) implements the same
 * operations (exchange_int.h) and nothing in the cache changes.
 */
#include "exchange/exchange_int.h"

#include <stdlib.h>
#include <string.h>

struct memory {
    exch_cache_entry e;         /* e.tok.value NULL: none */
};

static const exch_cache_entry *memory_get(void *be)
{
    struct memory *m = be;

    return m->e.tok.value != NULL ? &m->e : NULL;
}

static p11jwt_rc memory_put(void *be, exch_cache_entry *e)
{
    struct memory *m = be;

    p11jwt_access_token_clear(&m->e.tok);
    m->e = *e;
    memset(e, 0, sizeof *e);
    return P11JWT_OK;
}

static void memory_reschedule(void *be, int64_t refresh_at)
{
    struct memory *m = be;

    m->e.refresh_at = refresh_at;
}

static int memory_drop(void *be, const char *value)
{
    struct memory *m = be;

    if (m->e.tok.value == NULL || (value != NULL && strcmp(m->e.tok.value, value) != 0))
        return 0;
    p11jwt_access_token_clear(&m->e.tok);
    return 1;
}

static void memory_free(void *be)
{
    struct memory *m = be;

    if (m == NULL)
        return;
    p11jwt_access_token_clear(&m->e.tok);
    free(m);
}

const exch_cache_backend exch_cache_memory = {
    "memory", memory_get, memory_put, memory_reschedule, memory_drop, memory_free,
};

void *exch_cache_memory_new(void)
{
    return calloc(1, sizeof(struct memory));
}
