/*
 * refresh_schedule.c — when a cached token is refreshed, and when a
 * refresh that failed is tried again: pure arithmetic on times, kept apart
 * from the cache's threads and locks so that unit tests can pin it down.
 *
 * The decision: jitter everywhere a fleet could synchronise (hosts started
 * together, an STS outage ending for all at once), and a floor of a second
 * between background tries, so a refresher never hammers an STS that
 * answers at once.
 */
#include "exchange/exchange_int.h"

#include <math.h>
#include <openssl/rand.h>
#include <time.h>

double exch_random_unit(void)
{
    uint32_t r = 0;

    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint32_t)clock();
    return (double)r / 4294967296.0;
}

int64_t exch_refresh_time(int64_t refresh_ahead, int64_t now, int64_t expires_at,
                          double jitter)
{
    int64_t life = expires_at - now, at;

    if (life <= 0)
        return now;
    if (refresh_ahead >= 0)
        return expires_at - refresh_ahead;
    at = expires_at - 300;
    if (now + life * 8 / 10 < at)
        at = now + life * 8 / 10;
    return at - (int64_t)(jitter * (double)life * 0.05);
}

double exch_refresh_retry_at(double now, int64_t expires_at, double base, double max_delay,
                             int failures, double jitter)
{
    double cap = base, at, last = (double)expires_at - 1;

    for (int i = 1; i < failures && cap < max_delay; i++)
        cap *= 2;
    if (cap > max_delay)
        cap = max_delay;
    at = now + cap * (0.5 + 0.5 * jitter);
    if (at < now + 1)
        at = now + 1;
    if (at > last)
        at = last;
    return at > now ? at : INFINITY;
}
