/*
 * config.c — profiles from an INI file: `[profile NAME]` sections of
 * `key = value` lines, `#` or `;` comments.
 *
 * The whole file is checked for syntax, but only the requested profile is
 * interpreted; inside it every key must be known (a typo is an error, not a
 * silently ignored setting) and appear once. Every message names the file
 * and line, and the key when there is one.
 */
#include "exchange/exchange_int.h"

#include "base/base.h"
#include "pkcs11/pkcs11.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stddef.h>
#include <unistd.h>

/* A config file is text of a few kilobytes; this bounds what is read. */
#define CONFIG_MAX (1024 * 1024)

static const struct {
    exch_dialect_id id;
    const char *name;
} dialects[] = {
    { EXCH_DT, "dt" },
    { EXCH_NEOWIT, "neowit" },
    { EXCH_NOA, "noa" },
    { EXCH_JSA, "jsa" },
    { EXCH_RFC7523, "rfc7523" },
    { EXCH_CLIENT_CREDENTIALS, "client-credentials" },
    { EXCH_PRIVATE_KEY_JWT, "private-key-jwt" },
};

const char *exch_dialect_name(exch_dialect_id d)
{
    for (size_t i = 0; i < sizeof dialects / sizeof dialects[0]; i++)
        if (dialects[i].id == d)
            return dialects[i].name;
    return "?";
}

int exch_dialect_signs(exch_dialect_id d)
{
    return d != EXCH_JSA && d != EXCH_CLIENT_CREDENTIALS;
}

void p11jwt_profile_free(p11jwt_profile *p)
{
    if (p == NULL)
        return;
    char **strs[] = { &p->name, &p->path, &p->token, &p->pin_file, &p->pin_env, &p->module_args, &p->kid,
                      &p->token_url, &p->iss, &p->sub, &p->aud, &p->scope, &p->client_id,
                      &p->client_secret_file, &p->client_secret_env, &p->resource_auth,
                      &p->ca_file, &p->client_cert, &p->client_key, &p->keyring,
                      &p->publish_command, &p->audit, &p->allow, &p->pin_credential };
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

const char *p11jwt_profile_name(const p11jwt_profile *p)
{
    return p->name;
}

const char *p11jwt_profile_path(const p11jwt_profile *p)
{
    return p->path;
}

/* ---- the parser ---------------------------------------------------------- */

struct parser {
    const char *path;
    int line;
    p11jwt_profile *p;
    int seen[64];               /* per entry of keys[]: the line that set it */
    char ***names;              /* non-NULL: collect every section's name */
    size_t *nnames;
};

static p11jwt_rc add_name(struct parser *ps, const char *name);

static p11jwt_rc cfg_err(const struct parser *ps, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static p11jwt_rc cfg_err(const struct parser *ps, const char *key, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (key != NULL)
        return err_set(P11JWT_ERR_CONFIG, "%s:%d: %s: %s", ESC(ps->path), ps->line, ESC(key),
                       msg);
    return err_set(P11JWT_ERR_CONFIG, "%s:%d: %s", ESC(ps->path), ps->line, msg);
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* "90", "90s", "15m", "12h", "90d" → seconds, at most
 * P11JWT_MAX_DURATION (10 years): every time sum stays far from overflow. */
static int parse_duration(const char *v, int64_t *out)
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
    if (n > P11JWT_MAX_DURATION / mult)
        return -1;
    *out = n * mult;
    return 0;
}

static int parse_seconds_real(const char *v, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(v, &end);
    return end == v || *end != '\0' || errno != 0 || *out < 0 || *out > 86400 ? -1 : 0;
}

enum kind { K_STR, K_DURATION, K_INT, K_REAL, K_DIALECT, K_AUTH, K_RESAUTH };

struct key_def {
    const char *name;
    enum kind kind;
    size_t off;
};

#define F(field) offsetof(struct p11jwt_profile, field)
static const struct key_def keys[] = {
    { "dialect", K_DIALECT, F(dialect) },
    { "token", K_STR, F(token) },
    { "pin_file", K_STR, F(pin_file) },
    { "pin_env", K_STR, F(pin_env) },
    { "module_args", K_STR, F(module_args) },
    { "kid", K_STR, F(kid) },
    { "token_url", K_STR, F(token_url) },
    { "iss", K_STR, F(iss) },
    { "sub", K_STR, F(sub) },
    { "aud", K_STR, F(aud) },
    { "ttl", K_DURATION, F(ttl) },
    { "scope", K_STR, F(scope) },
    { "client_id", K_STR, F(client_id) },
    { "client_secret_file", K_STR, F(client_secret_file) },
    { "client_secret_env", K_STR, F(client_secret_env) },
    { "auth_method", K_AUTH, F(auth_method) },
    { "resource_auth", K_RESAUTH, F(resource_auth) },
    { "ca_file", K_STR, F(ca_file) },
    { "client_cert", K_STR, F(client_cert) },
    { "client_key", K_STR, F(client_key) },
    { "default_lifetime", K_DURATION, F(default_lifetime) },
    { "refresh_ahead", K_DURATION, F(refresh_ahead) },
    { "timeout", K_DURATION, F(timeout) },
    { "connect_timeout", K_DURATION, F(connect_timeout) },
    { "max_retries", K_INT, F(max_retries) },
    { "retry_base", K_REAL, F(retry_base) },
    { "retry_max_delay", K_REAL, F(retry_max_delay) },
    { "iat_backdate", K_DURATION, F(iat_backdate) },
    { "keyring", K_STR, F(keyring) },
    { "rotate_after", K_DURATION, F(rotate_after) },
    { "overlap", K_DURATION, F(overlap) },
    { "grace", K_DURATION, F(grace) },
    { "publish_command", K_STR, F(publish_command) },
    { "audit", K_STR, F(audit) },
    { "allow", K_STR, F(allow) },
    { "pin_credential", K_STR, F(pin_credential) },
};
#undef F

static p11jwt_rc add_kv(struct parser *ps, const char *key, struct exch_kv **arr, size_t *n,
                        const char *name, const char *value)
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

static p11jwt_rc set_key(struct parser *ps, const char *key, const char *value)
{
    p11jwt_profile *p = ps->p;
    const struct key_def *k = NULL;
    char *base = (char *)p;
    size_t i;

    if (strncmp(key, "claim.", 6) == 0)
        return add_kv(ps, key, &p->claims, &p->nclaims, key + 6, value);
    if (strncmp(key, "header.", 7) == 0)
        return add_kv(ps, key, &p->headers, &p->nheaders, key + 7, value);
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i].name, key) == 0) {
            k = &keys[i];
            break;
        }
    if (k == NULL)
        return cfg_err(ps, key, "unknown key (see docs/exchange.md for the list)");
    if (ps->seen[i] != 0)
        return cfg_err(ps, key, "set twice in this profile (first on line %d)", ps->seen[i]);
    ps->seen[i] = ps->line;

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
        if (parse_duration(value, (int64_t *)(base + k->off)) != 0)
            return cfg_err(ps, key,
                           "'%s' is not a duration of at most 10 years (e.g. 300, 90s, 15m, "
                           "12h, 90d; at most 3650d)",
                           ESC(value));
        return P11JWT_OK;
    case K_INT: {
        char *end;
        long v = strtol(value, &end, 10);

        if (end == value || *end != '\0' || v < 0 || v > 20)
            return cfg_err(ps, key, "'%s' is not a whole number from 0 to 20", ESC(value));
        *(int *)(base + k->off) = (int)v;
        return P11JWT_OK;
    }
    case K_REAL:
        if (parse_seconds_real(value, (double *)(base + k->off)) != 0)
            return cfg_err(ps, key, "'%s' is not a number of seconds", ESC(value));
        return P11JWT_OK;
    case K_DIALECT:
        for (size_t d = 0; d < sizeof dialects / sizeof dialects[0]; d++)
            if (strcmp(dialects[d].name, value) == 0) {
                p->dialect = dialects[d].id;
                return P11JWT_OK;
            }
        return cfg_err(ps, key,
                       "unknown dialect '%s' (dt, neowit, noa, jsa, rfc7523, "
                       "client-credentials, private-key-jwt)",
                       value);
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
static void at_key(struct parser *ps, const char *key)
{
    ps->line = ps->p->line;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i].name, key) == 0 && ps->seen[i] != 0)
            ps->line = ps->seen[i];
}

static p11jwt_rc finish_pin_credential(struct parser *ps);

/* Checks what the dialect needs and fills in its defaults. */
static p11jwt_rc finish(struct parser *ps)
{
    p11jwt_profile *p = ps->p;
    int dialect_set = ps->seen[0] != 0; /* keys[0] is "dialect" */
    p11jwt_rc rc;

    ps->line = p->line;
#define NEED(field, key)                                                          \
    do {                                                                          \
        if (p->field == NULL)                                                     \
            return cfg_err(ps, NULL, "profile '%s' (dialect %s) needs key '%s'",  \
                           ESC(p->name), exch_dialect_name(p->dialect), key);          \
    } while (0)
    if (!dialect_set)
        return cfg_err(ps, NULL, "profile '%s' needs key 'dialect'", ESC(p->name));
    NEED(token_url, "token_url");
    rc = exch_url_check(p->token_url, "token_url", P11JWT_ERR_CONFIG);
    if (rc != P11JWT_OK) {
        at_key(ps, "token_url");
        return err_wrap(rc, "%s:%d: profile '%s'", ESC(ps->path), ps->line, ESC(p->name));
    }

    if (exch_dialect_signs(p->dialect)) {
        NEED(token, "token");
        NEED(kid, "kid");
        if (p->dialect == EXCH_PRIVATE_KEY_JWT) {
            NEED(client_id, "client_id");
        } else {
            NEED(iss, "iss");
        }
    } else {
        NEED(client_id, "client_id");
        if (p->client_secret_file == NULL && p->client_secret_env == NULL)
            return cfg_err(ps, NULL,
                           "profile '%s' (dialect %s) needs client_secret_file or "
                           "client_secret_env",
                           ESC(p->name), exch_dialect_name(p->dialect));
    }
#undef NEED
    at_key(ps, "token");
    if (p11_uri_refuse_pin_value(p->token, P11JWT_ERR_CONFIG, "the token URI") != P11JWT_OK)
        return err_wrap(P11JWT_ERR_CONFIG, "%s:%d: token", ESC(ps->path), ps->line);
    at_key(ps, "client_key");
    if (p11_uri_refuse_pin_value(p->client_key, P11JWT_ERR_CONFIG, "the URI") != P11JWT_OK)
        return err_wrap(P11JWT_ERR_CONFIG, "%s:%d: client_key", ESC(ps->path), ps->line);
    at_key(ps, p->client_cert != NULL ? "client_cert" : "client_key");
    if (p->client_cert != NULL && p->client_key == NULL)
        return cfg_err(ps, NULL, "profile '%s': client_cert needs client_key", ESC(p->name));
    if (p->client_key != NULL && p->client_cert == NULL)
        return cfg_err(ps, NULL, "profile '%s': client_key needs client_cert", ESC(p->name));

    /* Dialect presets; anything the file sets wins. */
    if (p->aud == NULL && p->dialect != EXCH_NOA && (p->aud = strdup(p->token_url)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (p->resource_auth == NULL &&
        (p->resource_auth = strdup(p->dialect == EXCH_NOA ? "JWT" : "Bearer")) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (p->dialect == EXCH_NOA) {
        int has_accept = 0;

        for (size_t i = 0; i < p->nheaders; i++)
            has_accept |= strcasecmp(p->headers[i].name, "Accept") == 0;
        if (!has_accept &&
            (rc = add_kv(ps, "header.Accept", &p->headers, &p->nheaders, "Accept",
                         "application/json; version=1.0")) != P11JWT_OK)
            return rc;
    }
    if (p->auth_method == EXCH_AUTH_DEFAULT)
        p->auth_method = p->dialect == EXCH_JSA ? EXCH_AUTH_GET_QUERY : EXCH_AUTH_BASIC;
    at_key(ps, "ttl");
    if (p->ttl == 0)
        return cfg_err(ps, "ttl", "must be at least 1 second");
    if (p->dialect == EXCH_DT && p->ttl > 3600)
        return cfg_err(ps, "ttl", "dt refuses assertions with exp - iat over 3600 s");
    if (p->keyring == NULL && (p->keyring = strdup(p->name)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    at_key(ps, "audit");
    if (p->audit != NULL && strcmp(p->audit, "off") != 0 && strcmp(p->audit, "syslog") != 0 &&
        (strncmp(p->audit, "file:", 5) != 0 || p->audit[5] != '/'))
        return cfg_err(ps, "audit", "'%s' is not off, syslog or file:/ABSOLUTE/PATH",
                       ESC(p->audit));
    at_key(ps, p->timeout == 0 ? "timeout" : "connect_timeout");
    if (p->timeout == 0 || p->connect_timeout == 0)
        return cfg_err(ps, p->timeout == 0 ? "timeout" : "connect_timeout",
                       "must be at least 1 second");
    return finish_pin_credential(ps);
}

/* Copies the line at data (up to its '\n' or the end) into buf, refusing
 * what text cannot hold: NUL bytes and control characters (a tab, and a CR
 * before the newline, are fine). *next is where the next line starts. */
static p11jwt_rc take_line(struct parser *ps, const char *data, size_t len, char *buf,
                           size_t cap, size_t *next)
{
    const char *nl = memchr(data, '\n', len);
    size_t n = nl != NULL ? (size_t)(nl - data) : len;

    *next = nl != NULL ? n + 1 : len;
    if (n > 0 && data[n - 1] == '\r')
        n--;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];

        if (c == '\0')
            return cfg_err(ps, NULL, "a NUL byte at column %zu: not a text file?", i + 1);
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return cfg_err(ps, NULL, "a control character (\\x%02x) at column %zu", c, i + 1);
    }
    if (n >= cap)
        return cfg_err(ps, NULL, "line longer than %zu bytes", cap - 1);
    memcpy(buf, data, n);
    buf[n] = '\0';
    return P11JWT_OK;
}

static p11jwt_rc parse(struct parser *ps, const char *data, size_t len, const char *want,
                       int *found)
{
    char buf[4096];
    int in_section = 0, in_profile = 0;
    size_t pos = 0, next;

    for (; pos < len; pos += next) {
        char *line, *eq;
        p11jwt_rc rc;

        ps->line++;
        rc = take_line(ps, data + pos, len - pos, buf, sizeof buf, &next);
        if (rc != P11JWT_OK)
            return rc;
        line = trim(buf);
        if (line[0] == '\0' || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            char *end = strchr(line, ']'), *name;

            if (end == NULL || end[1] != '\0')
                return cfg_err(ps, NULL, "section header must be '[profile NAME]'");
            *end = '\0';
            name = trim(line + 1);
            if (strncmp(name, "profile", 7) != 0 || !isspace((unsigned char)name[7]))
                return cfg_err(ps, NULL, "unknown section '[%s]' (expected '[profile NAME]')",
                               ESC(name));
            name = trim(name + 8);
            if (name[0] == '\0')
                return cfg_err(ps, NULL, "profile section without a name");
            if (ps->names != NULL && (rc = add_name(ps, name)) != P11JWT_OK)
                return rc;
            in_section = 1;
            in_profile = strcmp(name, want) == 0;
            if (in_profile) {
                if (*found)
                    return cfg_err(ps, NULL, "profile '%s' defined twice (first on line %d)",
                                   ESC(want), ps->p->line);
                *found = 1;
                ps->p->line = ps->line;
            }
            continue;
        }
        eq = strchr(line, '=');
        if (eq == NULL)
            return cfg_err(ps, NULL, "expected 'key = value', '[profile NAME]' or a comment");
        *eq = '\0';
        {
            char *key = trim(line), *value = trim(eq + 1);
            size_t vl = strlen(value);

            if (key[0] == '\0')
                return cfg_err(ps, NULL, "missing key before '='");
            if (!in_section)
                return cfg_err(ps, key, "key outside a [profile NAME] section");
            /* "quoted values" keep their spaces; the quotes go. */
            if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
                value[vl - 1] = '\0';
                value++;
            }
            if (in_profile && (rc = set_key(ps, key, value)) != P11JWT_OK)
                return rc;
        }
    }
    return P11JWT_OK;
}

/* The first of $P11JWT_CONFIG, ~/.config/p11jwt/config, /etc/p11jwt/config
 * that exists; $P11JWT_CONFIG is taken as given even when missing. */
static p11jwt_rc default_path(char **out)
{
    const char *env = getenv("P11JWT_CONFIG");
    const char *home = getenv("HOME");
    char buf[4096];

    if (env != NULL && env[0] != '\0')
        return (*out = strdup(env)) ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (home != NULL && home[0] != '\0') {
        snprintf(buf, sizeof buf, "%s/.config/p11jwt/config", home);
        if (access(buf, F_OK) == 0)
            return (*out = strdup(buf)) ? P11JWT_OK
                                        : err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    if (access("/etc/p11jwt/config", F_OK) == 0)
        return (*out = strdup("/etc/p11jwt/config")) ? P11JWT_OK
                                                     : err_set(P11JWT_ERR_NOMEM, "out of memory");
    return err_set(P11JWT_ERR_CONFIG,
                   "no config file: give --config PATH or set P11JWT_CONFIG (also searched: "
                   "~/.config/p11jwt/config, /etc/p11jwt/config)");
}

/* Reads the whole config file (at most CONFIG_MAX bytes) into *data. */
static p11jwt_rc read_config(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t n = 0;
    p11jwt_rc rc = P11JWT_OK;

    *data = NULL;
    *len = 0;
    if (f == NULL)
        return err_set(P11JWT_ERR_CONFIG, "cannot read config %s: %s", ESC(path),
                       strerror(errno));
    buf = malloc(CONFIG_MAX + 1);
    if (buf == NULL)
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    else
        n = fread(buf, 1, CONFIG_MAX + 1, f);
    if (rc == P11JWT_OK && ferror(f))
        rc = err_set(P11JWT_ERR_CONFIG, "%s: read error", ESC(path));
    else if (rc == P11JWT_OK && n > CONFIG_MAX)
        rc = err_set(P11JWT_ERR_CONFIG, "%s is larger than %d bytes: not a config file?",
                     ESC(path), CONFIG_MAX);
    fclose(f);
    if (rc != P11JWT_OK) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = n;
    return P11JWT_OK;
}

p11jwt_rc exch_profile_parse(const char *data, size_t len, const char *path, const char *name,
                             p11jwt_profile **out)
{
    struct parser ps = { 0 };
    p11jwt_profile *p;
    p11jwt_rc rc;
    int found = 0;

    *out = NULL;
    if (name == NULL || name[0] == '\0')
        return err_set(P11JWT_ERR_ARG, "no profile name given");
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    p->ttl = 300;
    p->default_lifetime = 3600;
    p->refresh_ahead = -1;
    p->timeout = 30;
    p->connect_timeout = 10;
    p->max_retries = 3;
    p->retry_base = 0.5;
    p->retry_max_delay = 30;
    p->rotate_after = 90 * 86400;
    p->overlap = 86400;
    p->grace = 7 * 86400;
    p->name = strdup(name);
    p->path = strdup(path);
    if (p->name == NULL || p->path == NULL) {
        p11jwt_profile_free(p);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    ps.path = p->path;
    ps.p = p;
    rc = parse(&ps, data, len, name, &found);
    if (rc == P11JWT_OK && !found)
        rc = err_set(P11JWT_ERR_CONFIG, "%s: no [profile %s] section", ESC(p->path),
                     ESC(name));
    if (rc == P11JWT_OK)
        rc = finish(&ps);
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
    rc = path != NULL ? ((file = strdup(path)) ? P11JWT_OK
                                                : err_set(P11JWT_ERR_NOMEM, "out of memory"))
                      : default_path(&file);
    if (rc == P11JWT_OK)
        rc = read_config(file, &data, &len);
    if (rc == P11JWT_OK)
        rc = exch_profile_parse(data, len, file, name, out);
    free(data);
    free(file);
    return rc;
}

/* ==== for the host agent (docs/agent.md) ====================================
 * The profile keys only the agent reads (allow, pin_credential), the list of
 * a file's profiles, and the comparison a reload uses to keep unchanged
 * profiles' clients (and their cached tokens).
 */

/* pin_credential = NAME: the PIN is the systemd credential NAME, i.e. the
 * file $CREDENTIALS_DIRECTORY/NAME (LoadCredential= in the unit). */
static p11jwt_rc finish_pin_credential(struct parser *ps)
{
    p11jwt_profile *p = ps->p;
    const char *dir = getenv("CREDENTIALS_DIRECTORY"), *name = p->pin_credential;
    size_t n;

    if (name == NULL)
        return P11JWT_OK;
    at_key(ps, "pin_credential");
    if (p->pin_file != NULL || p->pin_env != NULL)
        return cfg_err(ps, "pin_credential", "give one of pin_credential, pin_file, pin_env");
    if (strchr(name, '/') != NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return cfg_err(ps, "pin_credential", "'%s' is a path; give the credential's name", name);
    if (dir == NULL || dir[0] != '/')
        return cfg_err(ps, "pin_credential",
                       "'%s' needs $CREDENTIALS_DIRECTORY, which systemd sets for a unit with "
                       "LoadCredential=%s:/PATH/TO/PIN",
                       name, name);
    n = strlen(dir) + 1 + strlen(name) + 1;
    if ((p->pin_file = malloc(n)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    snprintf(p->pin_file, n, "%s/%s", dir, name);
    return P11JWT_OK;
}

void p11jwt_config_profiles_free(char **names, size_t count)
{
    for (size_t i = 0; names != NULL && i < count; i++)
        free(names[i]);
    free(names);
}

/* Appends a section's name to the parser's list, refusing a repeat. */
static p11jwt_rc add_name(struct parser *ps, const char *name)
{
    char **nn;

    for (size_t i = 0; i < *ps->nnames; i++)
        if (strcmp((*ps->names)[i], name) == 0)
            return cfg_err(ps, NULL, "profile '%s' defined twice", ESC(name));
    nn = realloc(*ps->names, (*ps->nnames + 1) * sizeof *nn);
    if (nn == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    *ps->names = nn;
    if ((nn[*ps->nnames] = strdup(name)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    (*ps->nnames)++;
    return P11JWT_OK;
}

p11jwt_rc p11jwt_config_profiles(const char *path, char **path_out, char ***names,
                                 size_t *count)
{
    struct parser ps = { 0 };
    char *resolved = NULL, *data = NULL;
    size_t len = 0;
    p11jwt_rc rc;
    int found = 0;

    err_clear();
    *names = NULL;
    *count = 0;
    if (path_out != NULL)
        *path_out = NULL;
    rc = path != NULL ? ((resolved = strdup(path)) ? P11JWT_OK
                                                   : err_set(P11JWT_ERR_NOMEM, "out of memory"))
                      : default_path(&resolved);
    if (rc == P11JWT_OK)
        rc = read_config(resolved, &data, &len);
    if (rc == P11JWT_OK) {
        ps.path = resolved;
        ps.names = names;
        ps.nnames = count;
        rc = parse(&ps, data, len, "", &found); /* syntax only: no profile is called "" */
    }
    free(data);
    if (rc != P11JWT_OK) {
        p11jwt_config_profiles_free(*names, *count);
        *names = NULL;
        *count = 0;
    } else if (path_out != NULL) {
        *path_out = resolved;
        resolved = NULL;
    }
    free(resolved);
    return rc;
}

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
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t off = keys[i].off;

        switch (keys[i].kind) {
        case K_STR:
        case K_RESAUTH:
            if (!same_str(*(char *const *)(pa + off), *(char *const *)(pb + off)))
                return 0;
            break;
        case K_DURATION:
            if (*(const int64_t *)(pa + off) != *(const int64_t *)(pb + off))
                return 0;
            break;
        case K_INT:
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
        }
    }
    return 1;
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
