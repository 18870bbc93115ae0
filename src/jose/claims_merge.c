/*
 * claims_merge.c — extra claims given once (the CLI's --claim and
 * --claims-file) merged with each assertion's own (a batch line), the
 * line's members winning: what jansson's object update gives, without
 * building a tree per line.
 *
 * The decision: the shared claims are parsed once, with jansson, and kept
 * as their compact members' text with an index of their names. A line goes
 * through the one-pass check and copy (claims_extra.c), which says where
 * each of its top-level members landed; since a name it takes has no
 * escapes and jansson escapes only what such a name cannot hold, a line's
 * member text is byte for byte what jansson would write for it, so the
 * merge is copying: the shared members (one the line names replaced by the
 * line's), then the line's others. A line the one pass leaves goes to
 * jansson — parsed, refused with its reason, or updated into a copy of the
 * shared object and dumped — so the two paths write the same bytes
 * (tests/unit/test_claims_extra.c and tests/fuzz target claims hold them
 * side by side).
 */
#include "jose/jose.h"

#include "base/base.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct shared_member {
    const char *name;           /* decoded, borrowed from obj */
    size_t name_len;
    size_t off, len;            /* "name":value in text */
};

struct jose_extras {
    json_t *obj;                /* NULL when there are none */
    char *text;                 /* the members, compact, no braces */
    size_t len, n;
    struct shared_member *m;
};

p11jwt_rc jose_extras_parse(const char *text, size_t len, json_t **obj)
{
    json_error_t jerr;
    const char *name;
    json_t *value;

    *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    /* Where, as the text has it: a batch's line is one line (the caller
     * names its number), so only a column; a claims text of several
     * lines gets its own line too. */
    if (*obj == NULL && jerr.line <= 1)
        return err_set(P11JWT_ERR_JSON, "extra claims are not valid JSON: %s (column %d)",
                       ESC(jerr.text), jerr.column);
    if (*obj == NULL)
        return err_set(P11JWT_ERR_JSON,
                       "extra claims are not valid JSON: %s (their line %d, column %d)",
                       ESC(jerr.text), jerr.line, jerr.column);
    if (!json_is_object(*obj)) {
        json_decref(*obj);
        *obj = NULL;
        return err_set(P11JWT_ERR_JSON, "extra claims must be a JSON object");
    }
    json_object_foreach(*obj, name, value) {
        if (jose_claim_reserved(name, strlen(name))) {
            p11jwt_rc rc = err_set(P11JWT_ERR_ARG,
                                   "extra claim '%s' would redefine a claim p11jwt sets "
                                   "(use the matching option instead)",
                                   name);

            json_decref(*obj);
            *obj = NULL;
            return rc;
        }
    }
    return P11JWT_OK;
}

void jose_extras_free(jose_extras *x)
{
    if (x == NULL)
        return;
    json_decref(x->obj);
    free(x->text);
    free(x->m);
    free(x);
}

/* Makes *buf hold at least need bytes. */
static p11jwt_rc reserve(char **buf, size_t *cap, size_t need)
{
    size_t c = *cap ? *cap : 256;
    char *n;

    if (need <= *cap)
        return P11JWT_OK;
    while (c < need)
        c *= 2;
    n = realloc(*buf, c);
    if (n == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    *buf = n;
    *cap = c;
    return P11JWT_OK;
}

/* One member's compact text, "name":value: a one-member object dumped,
 * its braces cut. Caller frees. */
static char *member_text(const char *name, json_t *value)
{
    json_t *one = json_object();
    char *text = NULL;
    size_t n;

    if (one != NULL && json_object_set(one, name, value) == 0)
        text = json_dumps(one, JSON_COMPACT);
    json_decref(one);
    if (text != NULL) {
        n = strlen(text);
        memmove(text, text + 1, n - 2);
        text[n - 2] = '\0';
    }
    return text;
}

p11jwt_rc jose_extras_new(const char *json, jose_extras **out)
{
    jose_extras *x = calloc(1, sizeof *x);
    const char *name;
    json_t *value;
    size_t cap = 0;
    p11jwt_rc rc;

    *out = NULL;
    if (x == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (json == NULL || json[0] == '\0') {
        *out = x;
        return P11JWT_OK;
    }
    rc = jose_extras_parse(json, strlen(json), &x->obj);
    if (rc != P11JWT_OK) {
        jose_extras_free(x);
        return rc;
    }
    if (json_object_size(x->obj) == 0) {
        json_decref(x->obj);
        x->obj = NULL;
        *out = x;
        return P11JWT_OK;
    }
    x->m = calloc(json_object_size(x->obj), sizeof *x->m);
    if (x->m == NULL) {
        jose_extras_free(x);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    json_object_foreach(x->obj, name, value) {
        char *t = member_text(name, value);
        size_t n = t != NULL ? strlen(t) : 0;

        if (t == NULL || reserve(&x->text, &cap, x->len + n + 2) != P11JWT_OK) {
            free(t);
            jose_extras_free(x);
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        }
        if (x->n > 0)
            x->text[x->len++] = ',';
        memcpy(x->text + x->len, t, n);
        x->m[x->n].name = name;
        x->m[x->n].name_len = strlen(name);
        x->m[x->n].off = x->len;
        x->m[x->n].len = n;
        x->len += n;
        x->n++;
        free(t);
    }
    x->text[x->len] = '\0';
    *out = x;
    return P11JWT_OK;
}

/* What the one pass leaves: jansson reads the line (and refuses it with
 * its reason) and updates a copy of the shared object with it. */
static p11jwt_rc append_slow(const jose_extras *x, const char *line, size_t line_len, char **buf,
                             size_t *cap, size_t *len)
{
    json_t *obj, *merged;
    char *text;
    size_t n;
    p11jwt_rc rc = jose_extras_parse(line, line_len, &obj);

    if (rc != P11JWT_OK)
        return rc;
    merged = obj;
    if (x->obj != NULL) {
        merged = json_deep_copy(x->obj);
        if (merged == NULL || json_object_update(merged, obj) != 0) {
            json_decref(merged);
            json_decref(obj);
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        }
        json_decref(obj);
    }
    text = json_dumps(merged, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(merged);
    if (text == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    n = strlen(text);
    if (n > 2 && (rc = reserve(buf, cap, *len + n)) == P11JWT_OK) {
        (*buf)[*len] = ',';
        memcpy(*buf + *len + 1, text + 1, n - 2);
        *len += n - 1;
        (*buf)[*len] = '\0';
    }
    free(text);
    return rc;
}

/* The shared member named as line member lm (its text at s), or -1. */
static long shared_find(const jose_extras *x, const char *s, const jose_member *lm)
{
    const char *name = s + lm->off + 1;

    for (size_t k = 0; k < x->n; k++)
        if (x->m[k].name_len == lm->name_len && memcmp(x->m[k].name, name, lm->name_len) == 0)
            return (long)k;
    return -1;
}

p11jwt_rc jose_extras_append(const jose_extras *shared, const char *line, size_t line_len,
                             char **buf, size_t *cap, size_t *len)
{
    static const jose_extras none;
    const jose_extras *x = shared != NULL ? shared : &none;
    jose_member lm[JOSE_MAX_MEMBERS];
    uint64_t taken = 0; /* line members that replace a shared one's value */
    size_t start = *len, at, copied, nl, w0, w;
    char *s;
    p11jwt_rc rc;

    /* ",shared,line", then room to write the merge after it when the line
     * names a shared member; the line's copy is never longer than the line. */
    rc = reserve(buf, cap, start + 2 * (x->len + line_len + 2) + 1);
    if (rc != P11JWT_OK)
        return rc;
    s = *buf;
    at = start + 1 + (x->len > 0 ? x->len + 1 : 0);
    if (!jose_claims_extra_scan(line, line_len, s + at, &copied, lm, &nl))
        return append_slow(x, line, line_len, buf, cap, len);
    for (size_t j = 0; x->n > 0 && j < nl; j++)
        if (shared_find(x, s + at, &lm[j]) >= 0)
            taken |= (uint64_t)1 << j;
    if (x->len == 0 && copied == 0)
        return P11JWT_OK;
    s[start] = ',';
    if (x->len == 0) {
        *len = at + copied;
    } else if (copied == 0) {
        memcpy(s + start + 1, x->text, x->len);
        *len = start + 1 + x->len;
    } else if (taken == 0) {
        memcpy(s + start + 1, x->text, x->len);
        s[at - 1] = ',';
        *len = at + copied;
    } else {
        /* The merge, written after the line's copy, then moved in place. */
        w0 = w = at + copied;
        for (size_t k = 0; k < x->n; k++) {
            const char *from = x->text + x->m[k].off;
            size_t n = x->m[k].len;

            for (size_t j = 0; j < nl; j++) {
                if ((taken >> j & 1) && x->m[k].name_len == lm[j].name_len &&
                    memcmp(x->m[k].name, s + at + lm[j].off + 1, lm[j].name_len) == 0) {
                    from = s + at + lm[j].off;
                    n = lm[j].len;
                    break;
                }
            }
            if (w > w0)
                s[w++] = ',';
            memcpy(s + w, from, n);
            w += n;
        }
        for (size_t j = 0; j < nl; j++) {
            if (taken >> j & 1)
                continue;
            s[w++] = ',';
            memcpy(s + w, s + at + lm[j].off, lm[j].len);
            w += lm[j].len;
        }
        memmove(s + start + 1, s + w0, w - w0);
        *len = start + 1 + (w - w0);
    }
    s[*len] = '\0';
    return P11JWT_OK;
}
