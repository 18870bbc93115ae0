/*
 * ini.c — the lexer of p11jwt's config file: `[section]` headers and
 * `key = value` lines, `#` or `;` comments, blank lines. It knows nothing
 * of profiles: it hands each section's name and each key to its reader
 * (profile.c) and says where a line is wrong.
 *
 * The decision: text only. A NUL byte or a control character (a tab, and
 * a CR before the newline, are fine) is an error naming its column, and a
 * line longer than the buffer is refused rather than cut; whitespace
 * around keys and values goes, and a value in "double quotes" keeps its
 * spaces (the quotes go).
 */
#include "exchange/exchange_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

p11jwt_rc exch_ini_error(const exch_ini *ini, const char *key, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (key != NULL)
        return err_set(P11JWT_ERR_CONFIG, "%s:%d: %s: %s", ESC(ini->path), ini->line, ESC(key),
                       msg);
    return err_set(P11JWT_ERR_CONFIG, "%s:%d: %s", ESC(ini->path), ini->line, msg);
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

/* Copies the line at data (up to its '\n' or the end) into buf, refusing
 * what text cannot hold. *next is where the next line starts. */
static p11jwt_rc take_line(const exch_ini *ini, const char *data, size_t len, char *buf,
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
            return exch_ini_error(ini, NULL, "a NUL byte at column %zu: not a text file?", i + 1);
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return exch_ini_error(ini, NULL, "a control character (\\x%02x) at column %zu", c,
                                  i + 1);
    }
    if (n >= cap)
        return exch_ini_error(ini, NULL, "line longer than %zu bytes", cap - 1);
    memcpy(buf, data, n);
    buf[n] = '\0';
    return P11JWT_OK;
}

p11jwt_rc exch_ini_parse(exch_ini *ini, const char *data, size_t len)
{
    char buf[EXCH_INI_LINE_MAX];
    int in_section = 0;
    size_t pos = 0, next;

    for (; pos < len; pos += next) {
        char *line, *eq, *key, *value;
        size_t vl;
        p11jwt_rc rc;

        ini->line++;
        rc = take_line(ini, data + pos, len - pos, buf, sizeof buf, &next);
        if (rc != P11JWT_OK)
            return rc;
        line = trim(buf);
        if (line[0] == '\0' || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            char *end = strchr(line, ']');

            if (end == NULL || end[1] != '\0')
                return exch_ini_error(ini, NULL, "section header must be '%s'",
                                      ini->section_form);
            *end = '\0';
            rc = ini->on_section(ini, trim(line + 1), ini->ud);
            if (rc != P11JWT_OK)
                return rc;
            in_section = 1;
            continue;
        }
        eq = strchr(line, '=');
        if (eq == NULL)
            return exch_ini_error(ini, NULL, "expected 'key = value', '%s' or a comment",
                                  ini->section_form);
        *eq = '\0';
        key = trim(line);
        value = trim(eq + 1);
        vl = strlen(value);
        if (key[0] == '\0')
            return exch_ini_error(ini, NULL, "missing key before '='");
        if (!in_section)
            return exch_ini_error(ini, key, "key outside a %s section", ini->section_form);
        /* "quoted values" keep their spaces; the quotes go. */
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        rc = ini->on_key(ini, key, value, ini->ud);
        if (rc != P11JWT_OK)
            return rc;
    }
    return P11JWT_OK;
}
