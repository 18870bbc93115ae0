/*
 * fuzz_agent_request.c — what the agent parses of a request (src/agent):
 * the request target (endpoint, escaped profile name, query) and a
 * profile's allow rule. Besides not crashing, each checks what it
 * promises: a profile name NUL-terminated, printable and bounded; errors
 * are 400 or 404; a name (or a ?scope=) p11jwt-token escapes comes back
 * out of the agent's decoder unchanged.
 */
#include "fuzz.h"

#include "agent/agent.h"
#include "token-client/ptc.h"

static int fake_names(const char *name, int is_group, unsigned *id)
{
    (void)is_group;
    *id = 1000;
    return name[0] == 'x' ? -1 : 0;
}

static void route(const char *s, size_t n)
{
    agent_route r;

    agent_route_parse(s, n, &r);
    FUZZ_CHECK(memchr(r.profile, '\0', sizeof r.profile) != NULL);
    if (r.status == 0) {
        FUZZ_CHECK(r.ep > EP_NONE && r.ep < EP_COUNT);
        for (const char *p = r.profile; *p; p++)
            FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
        FUZZ_CHECK(r.min_valid >= -1 && r.min_valid <= AGENT_MAX_MIN_VALID);
        /* ?scope=: the token endpoint's only, NUL-terminated and bounded */
        FUZZ_CHECK(!r.has_scope || r.ep == EP_TOKEN);
        FUZZ_CHECK(strlen(r.scope) <= AGENT_SCOPE_MAX && (r.has_scope || r.scope[0] == '\0'));
    } else {
        FUZZ_CHECK((r.status == 400 || r.status == 404) && r.error != NULL && r.ep == EP_NONE);
    }
}

static void allow_and_escape(const char *z)
{
    char esc[3 * 300 + 1], target[1024], err[256];
    agent_allow a;

    if (agent_allow_parse(z, fake_names, &a, err, sizeof err) == 0) {
        FUZZ_CHECK(a.nuids + a.ngids > 0);
        agent_allow_clear(&a);
    } else {
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
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
            FUZZ_CHECK(r.status == 0 && r.ep == EP_TOKEN && strcmp(r.profile, z) == 0);
        else
            FUZZ_CHECK(r.status == 400);
        /* A scope the client escapes is the scope the agent decodes. */
        if (strlen(z) <= AGENT_SCOPE_MAX) {
            snprintf(target, sizeof target, "/v1/token/p?min_valid=1&scope=%s", esc);
            agent_route_parse(target, strlen(target), &r);
            FUZZ_CHECK(r.status == 0 && r.has_scope && strcmp(r.scope, z) == 0 &&
                       r.min_valid == 1);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *z = fuzz_strndup(data, size);

    if (z == NULL)
        return 0;
    route(z, size);
    allow_and_escape(z);
    free(z);
    return 0;
}
