/*
 * rules.h — the fault rules of the p11fault module: what they mean and the
 * strict parser that reads them (README.md has the grammar).
 */
#ifndef P11FAULT_RULES_H
#define P11FAULT_RULES_H

#include <p11-kit/pkcs11.h>
#include <stddef.h>

#include "functions.h"

#define P11F_MAX_RULES 64
#define P11F_MAX_DELAY_MS 600000UL
#define P11F_MAX_COUNT 1000000000UL

enum p11f_scope {
    P11F_ONLY,      /* @N   the Nth call only */
    P11F_FROM,      /* @N+  the Nth call and every later call of the function */
    P11F_GONE,      /* @N!  from the Nth call on, every call of every device
                     *      function: the device is gone for good */
};

enum p11f_action {
    P11F_FAIL,      /* =RV   return RV */
    P11F_DELAY,     /* ~Dms  sleep D ms, then forward */
};

struct p11f_rule {
    enum p11f_fn fn;
    unsigned long n;            /* 1-based, counted from `base` */
    enum p11f_scope scope;
    enum p11f_action action;
    CK_RV rv;
    unsigned long delay_ms;
    unsigned long base;         /* calls of fn before the rule was loaded */
};

struct p11f_ruleset {
    struct p11f_rule rule[P11F_MAX_RULES];
    size_t n;
};

/* Parses rules separated by ';' or newlines; with comments, '#' starts a
 * comment that runs to the end of the line (the control file). Blank
 * rules are skipped. On a bad rule returns -1 with the reason in err (the
 * rule quoted, its number); set is then empty. */
int p11f_parse(const char *text, int comments, struct p11f_ruleset *set, char *err,
               size_t errlen);

/* "C_Sign" for FN_C_Sign. */
const char *p11f_fn_name(enum p11f_fn fn);

/* "CKR_DEVICE_REMOVED", or NULL for a value without a name here. */
const char *p11f_rv_name(CK_RV rv);

#endif
