/*
 * profile.c — a profile's keys: one table that says each key's type,
 * bounds and default (Redis' static_configs[] is the model), and what a
 * read profile must hold. Reading a key, the defaults, the checks once
 * the section is read and the comparison a reload uses all walk the same
 * table; config.c finds the section in the file.
 *
 * Every key must be known (a typo is an error, not a silently ignored
 * setting) and appear once; every message names the file and line, and
 * the key when there is one. What each dialect needs and presets comes
 * from the dialect table (dialect.c).
 */
#include "exchange/exchange_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* Every string member of a profile, for free and dup to walk alike. */
#define PROFILE_STRS(p)                                                                      \
    { &(p)->name, &(p)->path, &(p)->token, &(p)->pin_file, &(p)->pin_env, &(p)->module_args, \
      &(p)->kid, &(p)->token_url, &(p)->iss, &(p)->sub, &(p)->aud, &(p)->scope,            \
      &(p)->client_id, &(p)->client_secret_file, &(p)->client_secret_env,                  \
      &(p)->resource_auth, &(p)->ca_file, &(p)->client_cert, &(p)->client_key,             \
      &(p)->keyring, &(p)->publish_command, &(p)->audit, &(p)->allow,                      \
      &(p)->pin_credential, &(p)->cache, &(p)->cache_password_file,                        \
      &(p)->cache_prefix, &(p)->cache_key, &(p)->revocation_url, &(p)->cert }

void p11jwt_profile_free(p11jwt_profile *p)
{
    if (p == NULL)
        return;
    char **strs[] = PROFILE_STRS(p);
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    for (size_t i = 0; i < p->nclaims; i++) {
        free(p->claims[i].name);
        free(p->claims[i].value);
    }
    for (size_t i = 0; i < p->nheaders; i++) {
        free(p->headers[i].name);
        free(p->headers[i].value);
    }
    free(p->claims);
    free(p->headers);
    free(p);
}

static int dup_kvs(const struct exch_kv *src, size_t n, struct exch_kv **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    if ((*out = calloc(n, sizeof **out)) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (((*out)[i].name = strdup(src[i].name)) == NULL ||
            ((*out)[i].value = strdup(src[i].value)) == NULL)
            return -1;
    return 0;
}

p11jwt_profile *exch_profile_dup(const p11jwt_profile *src)
{
    p11jwt_profile *p = malloc(sizeof *p);
    int bad = 0;

    if (p == NULL)
        return NULL;
    *p = *src;
    {
        char **strs[] = PROFILE_STRS(p);

        for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
            if (*strs[i] != NULL && (*strs[i] = strdup(*strs[i])) == NULL) {
                /* The rest still point at src's: cut them off before freeing. */
                for (size_t j = i; j < sizeof strs / sizeof strs[0]; j++)
                    *strs[j] = NULL;
                bad = 1;
                break;
            }
    }
    p->claims = NULL;
    p->headers = NULL;
    p->nclaims = p->nheaders = 0;
    if (!bad && dup_kvs(src->claims, src->nclaims, &p->claims) != 0)
        bad = 1;
    p->nclaims = p->claims != NULL ? src->nclaims : 0;
    if (!bad && dup_kvs(src->headers, src->nheaders, &p->headers) != 0)
        bad = 1;
    p->nheaders = p->headers != NULL ? src->nheaders : 0;
    if (bad) {
        p11jwt_profile_free(p);
        return NULL;
    }
    return p;
}

const char *p11jwt_profile_name(const p11jwt_profile *p)
{
    return p->name;
}

const char *p11jwt_profile_path(const p11jwt_profile *p)
{
    return p->path;
}

const char *p11jwt_profile_allow(const p11jwt_profile *p)
{
    return p->allow;
}

int p11jwt_profile_header(const p11jwt_profile *p, size_t i, const char **name,
                          const char **value)
{
    if (i >= p->nheaders)
        return 0;
    *name = p->headers[i].name;
    *value = p->headers[i].value;
    return 1;
}

/* ---- the key table ----------------------------------------------------------- */

enum kind { K_STR, K_DURATION, K_INT, K_REAL, K_DIALECT, K_AUTH, K_RESAUTH, K_MS, K_BOOL, K_ALG };

struct key_def {
    const char *name;
    enum kind kind;
    size_t off;
    /* K_INT, K_REAL: the bounds a value must be within. K_DURATION: at
     * most max when read (never negative); min is checked once the whole
     * profile is read, so that a file's other errors come first. */
    int64_t min, max;
    union {
        int64_t i;
        double d;
    } def;                      /* the default; strings have none */
};

#define F(field) offsetof(struct p11jwt_profile, field)
#define STR(n, f) { n, K_STR, F(f), 0, 0, { 0 } }
#define ENUM(n, k, f) { n, k, F(f), 0, 0, { 0 } }
#define DURATION(n, f, lo, dflt) { n, K_DURATION, F(f), lo, P11JWT_MAX_DURATION, { .i = dflt } }
#define INT(n, f, lo, hi, dflt) { n, K_INT, F(f), lo, hi, { .i = dflt } }
#define REAL(n, f, lo, hi, dflt) { n, K_REAL, F(f), lo, hi, { .d = dflt } }
#define MS(n, f, lo, hi, dflt) { n, K_MS, F(f), lo, hi, { .i = dflt } }
#define BOOL(n, f) { n, K_BOOL, F(f), 0, 1, { .i = 0 } }
static const struct key_def keys[] = {
    ENUM("dialect", K_DIALECT, dialect),
    STR("token", token),
    STR("pin_file", pin_file),
    STR("pin_env", pin_env),
    STR("module_args", module_args),
    STR("kid", kid),
    ENUM("alg", K_ALG, alg),
    STR("token_url", token_url),
    STR("revocation_url", revocation_url),
    STR("iss", iss),
    STR("sub", sub),
    STR("aud", aud),
    DURATION("ttl", ttl, 1, 300),
    STR("scope", scope),
    STR("client_id", client_id),
    STR("client_secret_file", client_secret_file),
    STR("client_secret_env", client_secret_env),
    ENUM("auth_method", K_AUTH, auth_method),
    ENUM("resource_auth", K_RESAUTH, resource_auth),
    STR("ca_file", ca_file),
    STR("client_cert", client_cert),
    STR("client_key", client_key),
    DURATION("default_lifetime", default_lifetime, 0, 3600),
    DURATION("refresh_ahead", refresh_ahead, 0, -1), /* -1: automatic */
    DURATION("timeout", timeout, 1, 30),
    DURATION("connect_timeout", connect_timeout, 1, 10),
    INT("max_retries", max_retries, 0, 20, 3),
    REAL("retry_base", retry_base, 0, 86400, 0.5),
    REAL("retry_max_delay", retry_max_delay, 0, 86400, 30),
    DURATION("iat_backdate", iat_backdate, 0, 0),
    STR("keyring", keyring),
    DURATION("rotate_after", rotate_after, 0, 90 * 86400),
    DURATION("overlap", overlap, 0, 86400),
    DURATION("grace", grace, 0, 7 * 86400),
    STR("publish_command", publish_command),
    STR("audit", audit),
    STR("cert", cert),
    BOOL("x5t", x5t),
    BOOL("x5t_s256", x5t_s256),
    STR("allow", allow),
    STR("pin_credential", pin_credential),
    STR("cache", cache),
    STR("cache_password_file", cache_password_file),
    STR("cache_prefix", cache_prefix),
    STR("cache_key", cache_key),
    MS("cache_timeout", cache_timeout_ms, 1, 60000, 250),
    DURATION("cache_lock", cache_lock, 1, 30),
    BOOL("cache_plaintext", cache_plaintext),
};
#undef BOOL
#undef MS
#undef REAL
#undef INT
#undef DURATION
#undef ENUM
#undef STR
#undef F
#define NKEYS (sizeof keys / sizeof keys[0])

static const struct key_def *find_key(const char *name, size_t *index)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0) {
            if (index != NULL)
                *index = i;
            return &keys[i];
        }
    return NULL;
}

void exch_profile_defaults(p11jwt_profile *p)
{
    char *base = (char *)p;

    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].kind == K_DURATION || keys[i].kind == K_MS)
            *(int64_t *)(base + keys[i].off) = keys[i].def.i;
        else if (keys[i].kind == K_INT)
            *(int *)(base + keys[i].off) = (int)keys[i].def.i;
        else if (keys[i].kind == K_REAL)
            *(double *)(base + keys[i].off) = keys[i].def.d;
    }
}

/* "90", "90s", "15m", "12h", "90d" → seconds, at most max (10 years):
 * every time sum stays far from overflow. */
UNITTEST int exch_parse_duration(const char *v, int64_t max, int64_t *out)
{
    char *end;
    long long n;
    int64_t mult = 1;

    errno = 0;
    n = strtoll(v, &end, 10);
    if (end == v || errno != 0 || n < 0)
        return -1;
    if (*end != '\0') {
        switch (*end) {
        case 's': mult = 1; break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        default: return -1;
        }
        if (end[1] != '\0')
            return -1;
    }
    if (n > max / mult)
        return -1;
    *out = n * mult;
    return 0;
}

/* "250" or "250ms" (milliseconds), "1s" or "1.5s" (seconds) → whole
 * milliseconds within [lo, hi]. */
UNITTEST int exch_parse_millis(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (end == v || errno != 0 || !(d >= 0) || (v[0] < '0' || v[0] > '9'))
        return -1;
    if (strcmp(end, "s") == 0)
        d *= 1000;
    else if (*end != '\0' && strcmp(end, "ms") != 0)
        return -1;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d)
        return -1;
    *out = (int64_t)d;
    return 0;
}

p11jwt_rc p11jwt_duration_parse(const char *text, int64_t max, int64_t *seconds)
{
    if (max > P11JWT_MAX_DURATION || max < 0)
        max = P11JWT_MAX_DURATION;
    if (text == NULL || exch_parse_duration(text, max, seconds) != 0)
        return err_set(P11JWT_ERR_ARG,
                       "'%s' is not a duration of at most %lld s (e.g. 300, 90s, 15m, 12h, 1d)",
                       ESC(text != NULL ? text : ""), (long long)max);
    return P11JWT_OK;
}

/* A number of seconds within [lo, hi]; NaN is within no bounds. */
UNITTEST int exch_parse_seconds(const char *v, double lo, double hi, double *out)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !(d >= lo && d <= hi))
        return -1;
    *out = d;
    return 0;
}

/* ---- reading a profile's keys ------------------------------------------------------ */

_Static_assert(NKEYS <= EXCH_PROFILE_KEYS_MAX, "exch_profile_parser.seen is too small");

#define cfg_err(ps, key, ...) exch_ini_error(&(ps)->ini, (key), __VA_ARGS__)

p11jwt_rc exch_profile_add_kv(exch_profile_parser *ps, const char *key, struct exch_kv **arr,
                              size_t *n, const char *name, const char *value)
{
    struct exch_kv *na;

    if (name[0] == '\0')
        return cfg_err(ps, key, "a name is needed after the dot");
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*arr)[i].name, name) == 0)
            return cfg_err(ps, key, "set twice in this profile");
    na = realloc(*arr, (*n + 1) * sizeof *na);
    if (na == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    *arr = na;
    na[*n].name = strdup(name);
    na[*n].value = strdup(value);
    if (na[*n].name == NULL || na[*n].value == NULL) {
        free(na[*n].name);
        free(na[*n].value);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    (*n)++;
    return P11JWT_OK;
}

p11jwt_rc exch_profile_set(exch_profile_parser *ps, const char *key, const char *value)
{
    p11jwt_profile *p = ps->p;
    char *base = (char *)p;
    const struct key_def *k;
    const struct exch_dialect *d;
    size_t i;

    if (strncmp(key, "claim.", 6) == 0)
        return exch_profile_add_kv(ps, key, &p->claims, &p->nclaims, key + 6, value);
    if (strncmp(key, "header.", 7) == 0)
        return exch_profile_add_kv(ps, key, &p->headers, &p->nheaders, key + 7, value);
    if ((k = find_key(key, &i)) == NULL)
        return cfg_err(ps, key, "unknown key (see docs/exchange.md for the list)");
    if (ps->seen[i] != 0)
        return cfg_err(ps, key, "set twice in this profile (first on line %d)", ps->seen[i]);
    ps->seen[i] = ps->ini.line;

    switch (k->kind) {
    case K_STR: {
        char **dst = (char **)(base + k->off);

        if (value[0] == '\0')
            return cfg_err(ps, key, "empty value");
        if ((*dst = strdup(value)) == NULL)
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        return P11JWT_OK;
    }
    case K_DURATION:
        if (exch_parse_duration(value, k->max, (int64_t *)(base + k->off)) != 0)
            return cfg_err(ps, key,
                           "'%s' is not a duration of at most 10 years (e.g. 300, 90s, 15m, "
                           "12h, 90d; at most 3650d)",
                           ESC(value));
        return P11JWT_OK;
    case K_INT: {
        char *end;
        long v = strtol(value, &end, 10);

        if (end == value || *end != '\0' || v < k->min || v > k->max)
            return cfg_err(ps, key, "'%s' is not a whole number from %lld to %lld", ESC(value),
                           (long long)k->min, (long long)k->max);
        *(int *)(base + k->off) = (int)v;
        return P11JWT_OK;
    }
    case K_REAL:
        if (exch_parse_seconds(value, (double)k->min, (double)k->max,
                               (double *)(base + k->off)) != 0)
            return cfg_err(ps, key, "'%s' is not a number of seconds", ESC(value));
        return P11JWT_OK;
    case K_MS:
        if (exch_parse_millis(value, k->min, k->max, (int64_t *)(base + k->off)) != 0)
            return cfg_err(ps, key,
                           "'%s' is not a time from %lld ms to %lld s (e.g. 250, 250ms, 1s)",
                           ESC(value), (long long)k->min, (long long)k->max / 1000);
        return P11JWT_OK;
    case K_BOOL:
        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            *(int *)(base + k->off) = 1;
        else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
                 strcmp(value, "0") == 0)
            *(int *)(base + k->off) = 0;
        else
            return cfg_err(ps, key, "'%s' is not yes or no", ESC(value));
        return P11JWT_OK;
    case K_DIALECT:
        if ((d = exch_dialect_by_name(value)) != NULL) {
            p->dialect = d->id;
            return P11JWT_OK;
        }
        {
            char known[256];

            exch_dialect_names(known, sizeof known);
            return cfg_err(ps, key, "unknown dialect '%s' (%s)", value, known);
        }
    case K_AUTH:
        if (strcmp(value, "get-query") == 0)
            p->auth_method = EXCH_AUTH_GET_QUERY;
        else if (strcmp(value, "basic") == 0)
            p->auth_method = EXCH_AUTH_BASIC;
        else if (strcmp(value, "post-form") == 0)
            p->auth_method = EXCH_AUTH_POST_FORM;
        else
            return cfg_err(ps, key, "'%s' is not get-query, basic or post-form", ESC(value));
        return P11JWT_OK;
    case K_ALG:
        /* Exact and case-sensitive, as the JWS header will carry it. */
        if ((p->alg = p11jwt_alg_from_name(value)) == P11JWT_ALG_UNKNOWN)
            return cfg_err(ps, key, "unknown alg '%s' (ES256, ES384, ES512, HS256, HS384, "
                                    "HS512, RS256, RS384, RS512, PS256, PS384, PS512, "
                                    "EdDSA)",
                           ESC(value));
        return P11JWT_OK;
    case K_RESAUTH:
        if (strcasecmp(value, "bearer") == 0)
            value = "Bearer";
        else if (strcasecmp(value, "jwt") == 0)
            value = "JWT";
        else
            return cfg_err(ps, key, "'%s' is not Bearer or JWT", ESC(value));
        if ((p->resource_auth = strdup(value)) == NULL)
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        return P11JWT_OK;
    }
    return cfg_err(ps, key, "internal: unhandled key kind");
}

/* Points the parser at the line that set key (the profile's header line
 * when the key was not set), for messages about its value. */
int exch_profile_key_seen(const exch_profile_parser *ps, const char *key)
{
    size_t i;

    return find_key(key, &i) != NULL ? ps->seen[i] : 0;
}

void exch_profile_at_key(exch_profile_parser *ps, const char *key)
{
    size_t i;

    ps->ini.line = ps->p->line;
    if (find_key(key, &i) != NULL && ps->seen[i] != 0)
        ps->ini.line = ps->seen[i];
}

/* A duration below its table minimum is refused, at the line that set it. */
p11jwt_rc exch_profile_check_min(exch_profile_parser *ps, const char *key)
{
    const struct key_def *k = find_key(key, NULL);
    int64_t v = *(const int64_t *)((const char *)ps->p + k->off);

    exch_profile_at_key(ps, key);
    if (v >= k->min)
        return P11JWT_OK;
    return cfg_err(ps, key, "must be at least %lld second%s", (long long)k->min,
                   k->min == 1 ? "" : "s");
}

/* ---- a profile out of a config file ------------------------------------------------ */

p11jwt_rc exch_profile_parse(const char *data, size_t len, const char *path, const char *name,
                             p11jwt_profile **out)
{
    exch_profile_parser ps;
    p11jwt_profile *p;
    p11jwt_rc rc;

    *out = NULL;
    if (name == NULL || name[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "no profile name given");
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    exch_profile_defaults(p);
    p->name = strdup(name);
    p->path = strdup(path);
    if (p->name == NULL || p->path == NULL) {
        p11jwt_profile_free(p);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    exch_config_parser_init(&ps, p->path, p, name);
    rc = exch_ini_parse(&ps.ini, data, len);
    if (rc == P11JWT_OK && !ps.found)
        rc = err_set(P11JWT_ERR_CONFIG, "%s: no [profile %s] section", ESC(p->path),
                     ESC(name));
    if (rc == P11JWT_OK)
        rc = exch_profile_finish(&ps);
    if (rc != P11JWT_OK) {
        p11jwt_profile_free(p);
        return rc;
    }
    *out = p;
    return P11JWT_OK;
}

p11jwt_rc p11jwt_profile_load(const char *path, const char *name, p11jwt_profile **out)
{
    char *file = NULL, *data = NULL;
    size_t len = 0;
    p11jwt_rc rc;

    err_clear();
    *out = NULL;
    if (name == NULL || name[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "no profile name given");
    rc = exch_config_read(path, &file, &data, &len);
    if (rc == P11JWT_OK)
        rc = exch_profile_parse(data, len, file, name, out);
    free(data);
    free(file);
    return rc;
}

/* ---- for the host agent: a reload keeps unchanged profiles' clients ------------ */

static int same_str(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static int same_kvs(const struct exch_kv *a, size_t na, const struct exch_kv *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].name, b[i].name) != 0 || strcmp(a[i].value, b[i].value) != 0)
            return 0;
    return 1;
}

int p11jwt_profile_same(const p11jwt_profile *a, const p11jwt_profile *b)
{
    const char *pa = (const char *)a, *pb = (const char *)b;

    if (!same_str(a->name, b->name) || !same_str(a->pin_file, b->pin_file) ||
        !same_str(a->aud, b->aud) || !same_str(a->keyring, b->keyring) ||
        !same_kvs(a->claims, a->nclaims, b->claims, b->nclaims) ||
        !same_kvs(a->headers, a->nheaders, b->headers, b->nheaders))
        return 0;
    /* Every key as the parser stored it (defaults included); the line a
     * section starts on is not a setting. */
    for (size_t i = 0; i < NKEYS; i++) {
        size_t off = keys[i].off;

        switch (keys[i].kind) {
        case K_STR:
        case K_RESAUTH:
            if (!same_str(*(char *const *)(pa + off), *(char *const *)(pb + off)))
                return 0;
            break;
        case K_DURATION:
        case K_MS:
            if (*(const int64_t *)(pa + off) != *(const int64_t *)(pb + off))
                return 0;
            break;
        case K_INT:
        case K_BOOL:
            if (*(const int *)(pa + off) != *(const int *)(pb + off))
                return 0;
            break;
        case K_REAL:
            if (*(const double *)(pa + off) != *(const double *)(pb + off))
                return 0;
            break;
        case K_DIALECT:
            if (a->dialect != b->dialect)
                return 0;
            break;
        case K_AUTH:
            if (a->auth_method != b->auth_method)
                return 0;
            break;
        case K_ALG:
            if (a->alg != b->alg)
                return 0;
            break;
        }
    }
    return 1;
}
