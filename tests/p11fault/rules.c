/*
 * rules.c — parsing the fault rules, strictly.
 *
 * A test that mistypes a rule must not pass because the fault it meant
 * never fired: every part of a rule is checked (a known function, a count
 * of at least 1, a known CKR_ name or a 0x number, a delay with its unit)
 * and anything else is an error that names the rule.
 */
#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const fn_names[P11F_NFUNCS] = {
#define P11F_NAME_LIB(name) [FN_##name] = #name,
#define P11F_NAME_FWD(name, first, ends, params, args) [FN_##name] = #name,
    P11F_LIBRARY(P11F_NAME_LIB) P11F_FORWARDED(P11F_NAME_FWD)
#undef P11F_NAME_LIB
#undef P11F_NAME_FWD
};

const char *p11f_fn_name(enum p11f_fn fn)
{
    return (unsigned)fn < P11F_NFUNCS ? fn_names[fn] : "?";
}

#define RV(n) { #n, n }
static const struct {
    const char *name;
    CK_RV rv;
} rv_names[] = {
    RV(CKR_OK), RV(CKR_CANCEL), RV(CKR_HOST_MEMORY), RV(CKR_SLOT_ID_INVALID),
    RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED), RV(CKR_ARGUMENTS_BAD),
    RV(CKR_CANT_LOCK), RV(CKR_ATTRIBUTE_SENSITIVE), RV(CKR_ATTRIBUTE_TYPE_INVALID),
    RV(CKR_ATTRIBUTE_VALUE_INVALID), RV(CKR_DATA_INVALID), RV(CKR_DATA_LEN_RANGE),
    RV(CKR_DEVICE_ERROR), RV(CKR_DEVICE_MEMORY), RV(CKR_DEVICE_REMOVED),
    RV(CKR_FUNCTION_CANCELED), RV(CKR_FUNCTION_NOT_SUPPORTED), RV(CKR_KEY_HANDLE_INVALID),
    RV(CKR_KEY_TYPE_INCONSISTENT), RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
    RV(CKR_MECHANISM_INVALID), RV(CKR_MECHANISM_PARAM_INVALID),
    RV(CKR_OBJECT_HANDLE_INVALID), RV(CKR_OPERATION_ACTIVE),
    RV(CKR_OPERATION_NOT_INITIALIZED), RV(CKR_PIN_INCORRECT), RV(CKR_PIN_INVALID),
    RV(CKR_PIN_LEN_RANGE), RV(CKR_PIN_EXPIRED), RV(CKR_PIN_LOCKED), RV(CKR_SESSION_CLOSED),
    RV(CKR_SESSION_COUNT), RV(CKR_SESSION_HANDLE_INVALID), RV(CKR_SESSION_READ_ONLY),
    RV(CKR_SIGNATURE_INVALID), RV(CKR_SIGNATURE_LEN_RANGE), RV(CKR_TEMPLATE_INCOMPLETE),
    RV(CKR_TEMPLATE_INCONSISTENT), RV(CKR_TOKEN_NOT_PRESENT), RV(CKR_TOKEN_NOT_RECOGNIZED),
    RV(CKR_TOKEN_WRITE_PROTECTED), RV(CKR_USER_ALREADY_LOGGED_IN),
    RV(CKR_USER_NOT_LOGGED_IN), RV(CKR_USER_PIN_NOT_INITIALIZED), RV(CKR_USER_TYPE_INVALID),
    RV(CKR_BUFFER_TOO_SMALL), RV(CKR_CRYPTOKI_NOT_INITIALIZED),
    RV(CKR_CRYPTOKI_ALREADY_INITIALIZED), RV(CKR_FUNCTION_REJECTED),
};
#undef RV

const char *p11f_rv_name(CK_RV rv)
{
    for (size_t i = 0; i < sizeof rv_names / sizeof rv_names[0]; i++)
        if (rv_names[i].rv == rv)
            return rv_names[i].name;
    return NULL;
}

__attribute__((format(printf, 5, 6))) static int bad(char *err, size_t errlen, size_t no,
                                                     const char *rule, const char *fmt, ...)
{
    char why[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "rule %zu '%.80s': %s", no, rule, why);
    return -1;
}

/* A decimal number of 1..max, all of s[0..len). */
static int parse_count(const char *s, size_t len, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;

    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < 1 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_rv(const char *s, CK_RV *out)
{
    if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0) {
        size_t n = strlen(s + 2);
        char *end;

        if (n == 0 || n > 16 || strspn(s + 2, "0123456789abcdefABCDEF") != n)
            return -1;
        errno = 0;
        *out = (CK_RV)strtoull(s + 2, &end, 16);
        return errno == 0 && *end == '\0' ? 0 : -1;
    }
    for (size_t i = 0; i < sizeof rv_names / sizeof rv_names[0]; i++)
        if (strcmp(s, rv_names[i].name) == 0) {
            *out = rv_names[i].rv;
            return 0;
        }
    return -1;
}

/* One rule, already trimmed and NUL-terminated. */
static int parse_rule(const char *rule, size_t no, struct p11f_rule *r, char *err,
                      size_t errlen)
{
    const char *at = strchr(rule, '@'), *p, *action;
    size_t i;

    memset(r, 0, sizeof *r);
    if (at == NULL)
        return bad(err, errlen, no, rule, "expected FUNCTION@N=CKR_... or FUNCTION@N~Dms");
    for (i = 0; i < P11F_NFUNCS; i++)
        if (strlen(fn_names[i]) == (size_t)(at - rule) &&
            strncmp(rule, fn_names[i], (size_t)(at - rule)) == 0)
            break;
    if (i == P11F_NFUNCS)
        return bad(err, errlen, no, rule, "unknown function '%.*s' (PKCS#11 2.40 names, e.g. C_Sign)",
                   (int)(at - rule), rule);
    if (i == FN_C_GetFunctionList)
        return bad(err, errlen, no, rule, "C_GetFunctionList cannot be faulted");
    r->fn = (enum p11f_fn)i;

    p = at + 1;
    action = p + strspn(p, "0123456789");
    if (parse_count(p, (size_t)(action - p), P11F_MAX_COUNT, &r->n) != 0)
        return bad(err, errlen, no, rule, "the call number after '@' must be 1 to %lu",
                   P11F_MAX_COUNT);
    r->scope = P11F_ONLY;
    if (*action == '+') {
        r->scope = P11F_FROM;
        action++;
    } else if (*action == '!') {
        r->scope = P11F_GONE;
        action++;
    }

    if (*action == '=') {
        r->action = P11F_FAIL;
        if (parse_rv(action + 1, &r->rv) != 0)
            return bad(err, errlen, no, rule,
                       "'%s' is not a CK_RV (a CKR_ name, e.g. CKR_DEVICE_REMOVED, or 0x...)",
                       action + 1);
        if (r->rv == CKR_OK)
            return bad(err, errlen, no, rule, "CKR_OK is not a fault");
    } else if (*action == '~') {
        const char *d = action + 1, *unit = d + strspn(d, "0123456789");

        r->action = P11F_DELAY;
        if (strcmp(unit, "ms") != 0 ||
            parse_count(d, (size_t)(unit - d), P11F_MAX_DELAY_MS, &r->delay_ms) != 0)
            return bad(err, errlen, no, rule, "a delay is ~Dms with D from 1 to %lu",
                       P11F_MAX_DELAY_MS);
        if (r->scope == P11F_GONE)
            return bad(err, errlen, no, rule, "'!' (device gone) needs =CKR_..., not a delay");
    } else {
        return bad(err, errlen, no, rule, "expected '=CKR_...' or '~Dms' after the call number");
    }
    if (r->scope == P11F_GONE &&
        (r->fn == FN_C_Initialize || r->fn == FN_C_Finalize || r->fn == FN_C_GetInfo))
        return bad(err, errlen, no, rule, "'!' (device gone) is for device functions, not %s",
                   fn_names[r->fn]);
    return 0;
}

int p11f_parse(const char *text, int comments, struct p11f_ruleset *set, char *err,
               size_t errlen)
{
    char *copy = strdup(text), *s, *next;
    size_t no = 0;
    int rc = 0;

    set->n = 0;
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (s = copy; s != NULL && rc == 0; s = next) {
        char *end;

        next = s + strcspn(s, ";\n");
        if (*next == '\0') {
            next = NULL;
        } else {
            *next++ = '\0';
        }
        if (comments && (end = strchr(s, '#')) != NULL)
            *end = '\0';
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            *--end = '\0';
        if (*s == '\0')
            continue;
        no++;
        if (set->n == P11F_MAX_RULES) {
            rc = bad(err, errlen, no, s, "more than %d rules", P11F_MAX_RULES);
            break;
        }
        rc = parse_rule(s, no, &set->rule[set->n], err, errlen);
        if (rc == 0)
            set->n++;
    }
    free(copy);
    if (rc != 0)
        set->n = 0;
    return rc;
}
