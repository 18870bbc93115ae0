/*
 * claims_check.c — the claims of a verified JWS that make an assertion
 * acceptable: exp (RFC 7523 requires it), nbf and iat against the clock
 * with a leeway, aud (a string or an array) and iss. Times are compared
 * so that no claim's value, whatever a JSON integer holds, can overflow.
 */
#include "jose/jose.h"

#include "base/base.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A NumericDate claim (RFC 7519 §2): *present = 0 when absent. */
static p11jwt_rc numeric_date(const json_t *payload, const char *name, int *present,
                              int64_t *out)
{
    const json_t *v = json_object_get(payload, name);

    *present = v != NULL;
    if (v == NULL)
        return P11JWT_OK;
    if (json_is_integer(v))
        *out = (int64_t)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) > -9e18 && json_real_value(v) < 9e18)
        *out = (int64_t)json_real_value(v);
    else
        return err_set(P11JWT_ERR_CLAIMS, "claim \"%s\" is not a NumericDate", name);
    return P11JWT_OK;
}

static int aud_matches(const json_t *aud, const char *want)
{
    const json_t *item;
    size_t i;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    json_array_foreach(aud, i, item)
        if (json_is_string(item) && strcmp(json_string_value(item), want) == 0)
            return 1;
    return 0;
}

/* a - b, or the nearest int64_t when it does not fit: a claim's value may
 * be anything a JSON integer holds. */
static int64_t diff(int64_t a, int64_t b)
{
    int64_t d;

    if (__builtin_sub_overflow(a, b, &d))
        return a < b ? INT64_MIN : INT64_MAX;
    return d;
}

p11jwt_rc jose_claims_check(const jose_jws *j, const p11jwt_verify_params *p)
{
    int64_t now = p->now != 0 ? p->now : (int64_t)time(NULL);
    int64_t exp = 0, nbf = 0, iat = 0;
    int has_exp, has_nbf, has_iat;
    p11jwt_rc rc;

    /* now and leeway bounded: now - leeway and now + leeway cannot
     * overflow; differences with a claim go through diff(). */
    if (p->leeway < 0 || p->leeway > P11JWT_MAX_DURATION)
        return err_set(P11JWT_ERR_ARG, "leeway must be from 0 to %lld seconds (10 years)",
                       (long long)P11JWT_MAX_DURATION);
    if (now < 0 || now > P11JWT_MAX_TIME)
        return err_set(P11JWT_ERR_ARG, "the time %lld is not between 1970 and 9999",
                       (long long)now);
    if ((rc = numeric_date(j->payload, "exp", &has_exp, &exp)) != P11JWT_OK ||
        (rc = numeric_date(j->payload, "nbf", &has_nbf, &nbf)) != P11JWT_OK ||
        (rc = numeric_date(j->payload, "iat", &has_iat, &iat)) != P11JWT_OK)
        return rc;
    /* RFC 7523 §3: an assertion MUST carry exp. */
    if (!has_exp)
        return err_set(P11JWT_ERR_CLAIMS, "no \"exp\" claim (RFC 7523 requires one)");
    if (now - p->leeway >= exp)
        return err_set(P11JWT_ERR_CLAIMS,
                       "expired: exp %lld is %lld s in the past (leeway %lld s)",
                       (long long)exp, (long long)diff(now, exp), (long long)p->leeway);
    if (has_nbf && nbf > now + p->leeway)
        return err_set(P11JWT_ERR_CLAIMS, "not yet valid: nbf is %lld s in the future",
                       (long long)diff(nbf, now));
    if (has_iat && iat > now + p->leeway)
        return err_set(P11JWT_ERR_CLAIMS,
                       "issued in the future: iat is %lld s ahead (check the clocks)",
                       (long long)diff(iat, now));
    if (p->aud != NULL && !aud_matches(json_object_get(j->payload, "aud"), p->aud))
        return err_set(P11JWT_ERR_CLAIMS, "audience mismatch: \"aud\" does not contain '%s'",
                       ESC(p->aud));
    if (p->iss != NULL) {
        const char *iss = json_string_value(json_object_get(j->payload, "iss"));

        if (iss == NULL || strcmp(iss, p->iss) != 0)
            return err_set(P11JWT_ERR_CLAIMS, "issuer mismatch: \"iss\" is '%s', expected '%s'",
                           iss != NULL ? ESC(iss) : "(none)", ESC(p->iss));
    }
    return P11JWT_OK;
}
