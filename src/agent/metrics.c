/*
 * metrics.c — the agent's counters and their Prometheus text exposition
 * (GET /metrics).
 *
 * Counters are relaxed atomics bumped once per request, in the profile
 * they concern (kept across reloads with the unchanged profile), so the
 * hand-out path shares no lock with anything. Exchange counts, failures
 * and the token's expiry come from the library client at render time.
 */
#include "agent/agent.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

agent_global_counters agent_global;

static const int codes[AGENT_CODES - 1] = { 200, 204, 400, 403, 404, 405, 413, 500, 502, 503 };

/* Upper bounds of the signature-latency buckets, in microseconds. */
static const int64_t sign_bounds[8] = { 100, 250, 500, 1000, 2500, 5000, 10000, 50000 };

int agent_code_index(int status)
{
    for (int i = 0; i < AGENT_CODES - 1; i++)
        if (codes[i] == status)
            return i;
    return AGENT_CODES - 1;
}

void agent_metrics_request(agent_profile *p, agent_endpoint ep, int status)
{
    atomic_uint_fast64_t *row = p != NULL ? p->counters.requests[ep] : agent_global.requests[ep];

    atomic_fetch_add_explicit(&row[agent_code_index(status)], 1, memory_order_relaxed);
}

void agent_metrics_sign(agent_profile *p, int64_t micros)
{
    int b = 0;

    while (b < 8 && micros > sign_bounds[b])
        b++;
    if (b < 8)
        atomic_fetch_add_explicit(&p->counters.sign_buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->counters.sign_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->counters.sign_micros, (uint_fast64_t)micros,
                              memory_order_relaxed);
}

/* A label value with \, " and newline escaped. */
static void label(FILE *f, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

static void help(FILE *f, const char *name, const char *type, const char *text)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void request_rows(FILE *f, const char *profile, atomic_uint_fast64_t (*req)[AGENT_CODES])
{
    for (int ep = 1; ep < EP_COUNT; ep++)
        for (int k = 0; k < AGENT_CODES; k++) {
            uint64_t v = atomic_load_explicit(&req[ep][k], memory_order_relaxed);
            char code[8];

            if (v == 0)
                continue;
            snprintf(code, sizeof code, "%d", k < AGENT_CODES - 1 ? codes[k] : 0);
            fputs("p11jwt_agent_requests_total{profile=\"", f);
            label(f, profile);
            fprintf(f, "\",endpoint=\"%s\",code=\"%s\"} %llu\n", agent_endpoint_name(ep),
                    k < AGENT_CODES - 1 ? code : "other", (unsigned long long)v);
        }
}

static void per_profile(FILE *f, const char *metric, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void per_profile(FILE *f, const char *metric, const char *name, const char *fmt, ...)
{
    va_list ap;

    fprintf(f, "%s{profile=\"", metric);
    label(f, name);
    fputs("\"} ", f);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

char *agent_metrics_render(const agent_set *s, size_t *len)
{
    static const char *const states[] = { "none", "valid", "refreshing", "error" };
    p11jwt_client_status *st;
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    int64_t now = (int64_t)time(NULL);

    if (f == NULL)
        return NULL;
    help(f, "p11jwt_agent_requests_total", "counter",
         "Requests answered, by profile (\"\" for none), endpoint and status.");
    request_rows(f, "", agent_global.requests);
    for (size_t i = 0; i < s->n; i++)
        request_rows(f, s->v[i]->name, s->v[i]->counters.requests);

    help(f, "p11jwt_agent_cache_hits_total", "counter",
         "Tokens handed out while no exchange with the STS took place.");
    for (size_t i = 0; i < s->n; i++)
        per_profile(f, "p11jwt_agent_cache_hits_total", s->v[i]->name, "%llu",
                    (unsigned long long)atomic_load(&s->v[i]->counters.cache_hits));

    if ((st = calloc(s->n + 1, sizeof *st)) != NULL) {
        for (size_t i = 0; i < s->n; i++)
            p11jwt_client_get_status(s->v[i]->client, &st[i]);
        help(f, "p11jwt_agent_exchanges_total", "counter",
             "Token requests sent to the STS (retries included).");
        for (size_t i = 0; i < s->n; i++)
            per_profile(f, "p11jwt_agent_exchanges_total", s->v[i]->name, "%llu",
                        (unsigned long long)st[i].exchanges);
        help(f, "p11jwt_agent_exchange_failures_total", "counter",
             "Exchanges (with their retries) that ended in an error.");
        for (size_t i = 0; i < s->n; i++)
            per_profile(f, "p11jwt_agent_exchange_failures_total", s->v[i]->name, "%llu",
                        (unsigned long long)st[i].failures);
        help(f, "p11jwt_agent_fleet_hits_total", "counter",
             "Tokens taken from the fleet's Redis instead of an exchange (docs/fleet.md).");
        for (size_t i = 0; i < s->n; i++)
            per_profile(f, "p11jwt_agent_fleet_hits_total", s->v[i]->name, "%llu",
                        (unsigned long long)st[i].fleet_hits);
        help(f, "p11jwt_agent_fleet_errors_total", "counter",
             "Redis failures and refused Redis values; each ended in a local exchange.");
        for (size_t i = 0; i < s->n; i++)
            per_profile(f, "p11jwt_agent_fleet_errors_total", s->v[i]->name, "%llu",
                        (unsigned long long)st[i].fleet_errors);
        help(f, "p11jwt_agent_token_expiry_seconds", "gauge",
             "Seconds until the cached token expires (absent when there is none).");
        for (size_t i = 0; i < s->n; i++)
            if (st[i].expires_at != 0)
                per_profile(f, "p11jwt_agent_token_expiry_seconds", s->v[i]->name, "%lld",
                            (long long)(st[i].expires_at - now));
        help(f, "p11jwt_agent_token_state", "gauge",
             "1 for the state the profile's token is in: none, valid, refreshing, error.");
        for (size_t i = 0; i < s->n; i++)
            for (int k = 0; k < 4; k++) {
                fputs("p11jwt_agent_token_state{profile=\"", f);
                label(f, s->v[i]->name);
                fprintf(f, "\",state=\"%s\"} %d\n", states[k], (int)st[i].state == k);
            }
        free(st);
    }

    help(f, "p11jwt_agent_signature_seconds", "histogram",
         "Time to sign the assertions the agent hands out (POST /v1/assertion).");
    for (size_t i = 0; i < s->n; i++) {
        const agent_counters *c = &s->v[i]->counters;
        uint64_t cum = 0;

        for (int b = 0; b <= 8; b++) {
            fputs("p11jwt_agent_signature_seconds_bucket{profile=\"", f);
            label(f, s->v[i]->name);
            if (b < 8) {
                cum += atomic_load(&c->sign_buckets[b]);
                fprintf(f, "\",le=\"%g\"} %llu\n", (double)sign_bounds[b] / 1e6,
                        (unsigned long long)cum);
            } else {
                fprintf(f, "\",le=\"+Inf\"} %llu\n",
                        (unsigned long long)atomic_load(&c->sign_count));
            }
        }
        per_profile(f, "p11jwt_agent_signature_seconds_sum", s->v[i]->name, "%.6f",
                    (double)atomic_load(&c->sign_micros) / 1e6);
        per_profile(f, "p11jwt_agent_signature_seconds_count", s->v[i]->name, "%llu",
                    (unsigned long long)atomic_load(&c->sign_count));
    }

    help(f, "p11jwt_agent_connections", "gauge", "Open connections.");
    fprintf(f, "p11jwt_agent_connections %u\n", agent_conns_count());
    help(f, "p11jwt_agent_connections_refused_total", "counter",
         "Connections closed at once: their uid was at its cap.");
    fprintf(f, "p11jwt_agent_connections_refused_total %llu\n",
            (unsigned long long)atomic_load(&agent_global.conns_refused));
    help(f, "p11jwt_agent_connections_dropped_total", "counter",
         "Connections closed because a request did not arrive in time.");
    fprintf(f, "p11jwt_agent_connections_dropped_total %llu\n",
            (unsigned long long)atomic_load(&agent_global.conns_dropped));
    help(f, "p11jwt_agent_reloads_total", "counter", "Config reloads (SIGHUP), by result.");
    fprintf(f, "p11jwt_agent_reloads_total{result=\"ok\"} %llu\n",
            (unsigned long long)atomic_load(&agent_global.reloads_ok));
    fprintf(f, "p11jwt_agent_reloads_total{result=\"refused\"} %llu\n",
            (unsigned long long)atomic_load(&agent_global.reloads_failed));
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
