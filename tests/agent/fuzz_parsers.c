/*
 * fuzz_parsers.c — one fuzz target for every parser that reads bytes a
 * peer sends: the agent's request targets and allow rules, and (in
 * p11jwt-token and the CLI) the agent's answers: HTTP heads, JSON members,
 * JSON string escapes. The first byte picks the parser. Besides not
 * crashing, each checks what it promises: spans inside the input, results
 * NUL-terminated and bounded, and names the client escapes coming back out
 * of the agent's decoder unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "token-client/ptc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)          \
    do {                  \
        if (!(c))         \
            abort();      \
    } while (0)

static int no_one(const char *name, int is_group, unsigned *id)
{
    (void)is_group;
    *id = 1000;
    return name[0] == 'x' ? -1 : 0;
}

static void route(const char *s, size_t n)
{
    agent_route r;

    agent_route_parse(s, n, &r);
    CHECK(memchr(r.profile, '\0', sizeof r.profile) != NULL);
    if (r.status == 0) {
        CHECK(r.ep > EP_NONE && r.ep < EP_COUNT);
        for (const char *p = r.profile; *p; p++)
            CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
        CHECK(r.min_valid >= -1 && r.min_valid <= AGENT_MAX_MIN_VALID);
    } else {
        CHECK((r.status == 400 || r.status == 404) && r.error != NULL && r.ep == EP_NONE);
    }
}

static void json(const char *s, size_t n)
{
    static const char *const keys[] = { "access_token", "a", "message", "" };
    char out[256];

    for (size_t k = 0; k < 4; k++) {
        ptc_json_type t;
        const char *v = NULL;
        size_t vl = 0;
        int r = ptc_json_find(s, n, keys[k], &t, &v, &vl);

        CHECK(r >= -1 && r <= 1);
        if (r != 1)
            continue;
        CHECK(v >= s && v + vl <= s + n);
        if (t == PTC_JSON_STRING) {
            long u = ptc_json_unescape(v, vl, out, sizeof out);

            CHECK(u >= -1 && u < (long)sizeof out);
            if (u >= 0)
                CHECK(out[u] == '\0');
        }
    }
    {
        long u = ptc_json_unescape(s, n, out, sizeof out);

        CHECK(u >= -1 && u < (long)sizeof out);
    }
}

static void head(const char *s, size_t n)
{
    ptc_head h;
    int r = ptc_http_parse_head(s, n, &h);

    CHECK(r >= -1 && r <= 1);
    if (r == 1) {
        CHECK(h.head_len <= n && h.head_len <= PTC_MAX_HEAD);
        CHECK(h.status >= 100 && h.status <= 599);
        CHECK(h.content_length >= -1);
    }
}

static void allow_and_escape(const char *s, size_t n)
{
    char *z = malloc(n + 1), esc[3 * 300 + 1], target[1024];
    agent_allow a;
    char err[256];

    if (z == NULL)
        return;
    memcpy(z, s, n);
    z[n] = '\0';
    if (agent_allow_parse(z, no_one, &a, err, sizeof err) == 0) {
        CHECK(a.nuids + a.ngids > 0);
        agent_allow_clear(&a);
    }
    /* A name the client escapes is the name the agent decodes. */
    if (strlen(z) > 0 && strlen(z) <= 255 && ptc_url_escape(z, esc, sizeof esc) >= 0) {
        agent_route r;
        int plain = 1;

        for (const char *p = z; *p; p++)
            plain &= (unsigned char)*p >= 0x20 && *p != 0x7f;
        snprintf(target, sizeof target, "/v1/token/%s", esc);
        agent_route_parse(target, strlen(target), &r);
        if (plain)
            CHECK(r.status == 0 && r.ep == EP_TOKEN && strcmp(r.profile, z) == 0);
        else
            CHECK(r.status == 400);
    }
    free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data + 1;

    if (size == 0)
        return 0;
    switch (data[0] % 4) {
    case 0: route(s, size - 1); break;
    case 1: json(s, size - 1); break;
    case 2: head(s, size - 1); break;
    default: allow_and_escape(s, size - 1); break;
    }
    return 0;
}
