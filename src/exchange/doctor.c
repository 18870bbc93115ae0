/*
 * doctor.c — p11jwt_doctor, what `p11jwt doctor` runs: why a profile (or a
 * token and key) does not work, one check at a time, in the order a
 * request depends on them: the config, the module, the token, the PIN, the
 * key, the keyring (doctor_token.c), the STS, the clock, and on request
 * one real exchange. Each outcome goes to the caller's function as it is
 * known, with what to do about it.
 *
 * The decision: the doctor diagnoses with the very code that fails in
 * production (the profile parser, the token open and login, the HTTP
 * options a profile gives), never a re-implementation, and its STS probe
 * sends no credential: a GET of the token URL, whatever the answer,
 * proves DNS, TCP, TLS (verified as an exchange verifies it) and the Date
 * the STS keeps. Nothing it reports holds a PIN, a secret or a token.
 */
#include "exchange/exchange_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How far the clock may be from the STS's, and how soon the STS's
 * certificate may expire, before a warning. */
#define CLOCK_SKEW_MAX 30
#define CERT_WARN_DAYS 14

void exch_doctor_report(exch_doctor *d, const char *name, p11jwt_check_result r, p11jwt_rc rc,
                        const char *fix, const char *fmt, ...)
{
    char raw[1024], detail[1024], fixed[512];
    p11jwt_check c = { name, r, detail, "" };
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* Values were escaped as they went in; the whole is one line. */
    p11jwt_escape(detail, sizeof detail, raw, strlen(raw), P11JWT_ESCAPE_MESSAGE);
    if (fix != NULL && r != P11JWT_CHECK_OK) {
        p11jwt_escape(fixed, sizeof fixed, fix, strlen(fix), P11JWT_ESCAPE_MESSAGE);
        c.fix = fixed;
    }
    if (r == P11JWT_CHECK_FAIL && d->first.rc == P11JWT_OK) {
        err_set(rc != P11JWT_OK ? rc : P11JWT_ERR_ARG, "%s: %s", name, detail);
        err_save(&d->first, rc != P11JWT_OK ? rc : P11JWT_ERR_ARG);
    }
    d->fn(&c, d->ud);
}

void exch_doctor_skip(exch_doctor *d, const char *name)
{
    exch_doctor_report(d, name, P11JWT_CHECK_SKIPPED, P11JWT_OK, NULL, "not checked: %s",
                       d->skip != NULL ? d->skip : "an earlier check failed");
}

/* A fix for a failure to reach the STS, from what went wrong. */
static const char *sts_fix(const char *msg, const p11jwt_profile *p)
{
    if (strstr(msg, "expired") != NULL)
        return "the STS's TLS certificate has expired (or this host's clock is wrong): the "
               "STS's operator must renew it";
    if (strstr(msg, "not trusted") != NULL || strstr(msg, "certificate") != NULL)
        return p->ca_file != NULL ? "ca_file does not hold the CA that issued the STS's "
                                    "certificate: point it at that CA"
                                  : "set ca_file to the CA that issued the STS's certificate";
    if (strstr(msg, "timeout") != NULL)
        return "the STS did not answer in time: check the network path (firewall, proxy) or "
               "raise timeout";
    return "check token_url, that the STS is up, and the network path (DNS, firewall, proxy)";
}

/* The STS answers (TLS verified), and the clock against its Date. */
static void check_sts(exch_doctor *d)
{
    const p11jwt_profile *p = d->p;
    exch_http h;
    exch_http_opts o;
    exch_request rq = { .method = "GET", .url = p->token_url, .fresh = 1 };
    exch_response rs = { .retry_after = -1 };
    exch_url url;
    char tls[512] = "", shown[EXCH_URL_SHOWN];
    int retryable, warn = 0;
    int64_t now, days = 0;
    p11jwt_rc rc;

    if (exch_url_parse(p->token_url, "token_url", P11JWT_ERR_CONFIG, &url) != P11JWT_OK) {
        exch_doctor_report(d, "sts", P11JWT_CHECK_FAIL, P11JWT_ERR_CONFIG, NULL, "%s",
                           p11jwt_errmsg());
        exch_url_free(&url);
        d->skip = "the STS was not reached";
        exch_doctor_skip(d, "clock");
        return;
    }
    snprintf(shown, sizeof shown, "%s", url.shown);
    exch_url_free(&url);
    exch_http_opts_of(p, 1, NULL, &o);
    /* No PIN here: a token-held TLS client key is for --exchange. */
    if (o.client_key != NULL && strncmp(o.client_key, "pkcs11:", 7) == 0)
        o.client_cert = o.client_key = NULL;
    o.certinfo = 1;
    exch_http_init(&h);
    rc = exch_curl_load();
    if (rc == P11JWT_OK)
        rc = exch_http_perform(&h, &o, &rq, &rs, &retryable);
    now = (int64_t)time(NULL);
    if (rc != P11JWT_OK) {
        exch_doctor_report(d, "sts", P11JWT_CHECK_FAIL, rc, sts_fix(p11jwt_errmsg(), p), "%s",
                           p11jwt_errmsg());
        d->skip = "the STS was not reached";
        exch_doctor_skip(d, "clock");
        goto out;
    }
    if (strncmp(shown, "https:", 6) == 0) {
        char until[32] = "";

        if (rs.cert_expires > 0) {
            time_t t = (time_t)rs.cert_expires;
            struct tm tm;

            gmtime_r(&t, &tm);
            strftime(until, sizeof until, "%Y-%m-%d %H:%M UTC", &tm);
            days = (rs.cert_expires - now) / 86400;
            warn = rs.cert_expires - now < (int64_t)CERT_WARN_DAYS * 86400;
        }
        snprintf(tls, sizeof tls, "; TLS verified against %s%s%s%s%s",
                 p->ca_file != NULL ? "ca_file " : "the system's CA certificates",
                 p->ca_file != NULL ? ESC(p->ca_file) : "", until[0] ? "; certificate valid until " : "",
                 until, until[0] && warn ? " (soon)" : "");
    } else {
        snprintf(tls, sizeof tls, "; plain http (allowed to loopback only)");
    }
    if (rs.status >= 500)
        exch_doctor_report(d, "sts", P11JWT_CHECK_WARN, P11JWT_OK,
                           "the STS (or a proxy in front of it) reports trouble: ask its operator",
                           "%s answered HTTP %ld to a GET%s", shown, rs.status, tls);
    else if (warn)
        exch_doctor_report(d, "sts", P11JWT_CHECK_WARN, P11JWT_OK,
                           "the STS's certificate expires soon: its operator must renew it",
                           "%s answered HTTP %ld to a GET%s: %lld day(s) left", shown, rs.status,
                           tls, (long long)days);
    else
        exch_doctor_report(d, "sts", P11JWT_CHECK_OK, P11JWT_OK, NULL,
                           "%s answered HTTP %ld to a GET%s", shown, rs.status, tls);

    if (rs.date == 0) {
        exch_doctor_report(d, "clock", P11JWT_CHECK_WARN, P11JWT_OK,
                           "compare this host's clock with a time source (chronyc tracking, "
                           "timedatectl)",
                           "the STS sent no Date header to compare the clock with");
    } else {
        int64_t skew = now - rs.date;
        int64_t abs_skew = skew < 0 ? -skew : skew;

        if (abs_skew > CLOCK_SKEW_MAX)
            exch_doctor_report(d, "clock", P11JWT_CHECK_WARN, P11JWT_OK,
                               "synchronise this host's clock (timedatectl set-ntp true; "
                               "chronyc tracking): a skew is the usual cause of dt's 'timing' "
                               "refusal (iat in the future, exp in the past)",
                               "this host's clock is %lld s %s the STS's (its Date header); "
                               "more than %d s",
                               (long long)abs_skew, skew > 0 ? "ahead of" : "behind",
                               CLOCK_SKEW_MAX);
        else
            exch_doctor_report(d, "clock", P11JWT_CHECK_OK, P11JWT_OK, NULL,
                               "within %lld s of the STS's Date header", (long long)abs_skew);
    }
out:
    exch_response_clear(&rs);
    exch_http_cleanup(&h);
}

/* One real exchange with a client of its own. */
static void check_exchange(exch_doctor *d)
{
    const p11jwt_doctor_params *q = d->params;
    p11jwt_profile *p = NULL;
    p11jwt_client *c = NULL;
    p11jwt_access_token t = { 0 };
    p11jwt_rc rc = p11jwt_profile_load(q->config, q->profile, &p);

    if (rc == P11JWT_OK)
        rc = p11jwt_client_new(p, &c);
    if (rc == P11JWT_OK)
        rc = p11jwt_client_token(c, &t);
    if (rc != P11JWT_OK)
        exch_doctor_report(d, "exchange", P11JWT_CHECK_FAIL, rc,
                           rc == P11JWT_ERR_OAUTH
                               ? "the STS refused the request: the message says why (is the "
                                 "key registered there? iss, aud, sub as the STS expects?)"
                               : NULL,
                           "%s", p11jwt_errmsg());
    else
        exch_doctor_report(d, "exchange", P11JWT_CHECK_OK, P11JWT_OK, NULL,
                           "got a %s token valid for %lld s%s%s%s", ESC(t.type),
                           (long long)(t.expires_at - (int64_t)time(NULL)),
                           t.scope != NULL ? " (scope '" : "", t.scope != NULL ? ESC(t.scope) : "",
                           t.scope != NULL ? "')" : "");
    p11jwt_access_token_clear(&t);
    p11jwt_client_free(c);
}

p11jwt_rc p11jwt_doctor(const p11jwt_doctor_params *q, p11jwt_check_fn fn, void *ud)
{
    exch_doctor d = { .params = q, .fn = fn, .ud = ud };
    p11jwt_profile *p = NULL;
    p11jwt_rc rc;

    err_clear();
    if (q == NULL || fn == NULL || (q->profile == NULL && q->token_uri == NULL))
        return err_set(P11JWT_ERR_ARG, "doctor: a profile, or a token URI, is required");
    d.first.rc = P11JWT_OK;
    if (q->profile == NULL) {
        exch_doctor_token(&d, q->token_uri, q->kid);
        goto out;
    }
    rc = p11jwt_profile_load(q->config, q->profile, &p);
    if (rc != P11JWT_OK) {
        exch_doctor_report(&d, "config", P11JWT_CHECK_FAIL, rc,
                           rc == P11JWT_ERR_IO || strstr(p11jwt_errmsg(), "no [profile") != NULL
                               ? "give --config, or write the profile (p11jwt.conf(5))"
                               : "correct the line the message names (p11jwt.conf(5))",
                           "%s", p11jwt_errmsg());
        d.skip = "the config did not load";
        exch_doctor_token(&d, NULL, NULL);
        exch_doctor_skip(&d, "sts");
        exch_doctor_skip(&d, "clock");
        if (q->exchange)
            exch_doctor_skip(&d, "exchange");
        goto out;
    }
    d.p = p;
    exch_doctor_report(&d, "config", P11JWT_CHECK_OK, P11JWT_OK, NULL,
                       "%s: profile '%s', dialect %s", ESC(p->path), ESC(p->name),
                       exch_dialect_name(p->dialect));
    if (exch_dialect_signs(p->dialect)) {
        exch_doctor_token(&d, p->token, NULL);
    } else {
        exch_doctor_secret(&d);
    }
    d.skip = NULL;
    check_sts(&d);
    if (q->exchange) {
        if (d.first.rc != P11JWT_OK) {
            d.skip = "an earlier check failed";
            exch_doctor_skip(&d, "exchange");
        } else {
            check_exchange(&d);
        }
    }
out:
    p11jwt_token_free(d.tok);
    p11jwt_profile_free(p);
    if (d.first.rc != P11JWT_OK)
        return err_restore(&d.first);
    err_clear();
    return P11JWT_OK;
}
