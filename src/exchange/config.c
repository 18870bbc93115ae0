/*
 * config.c — the config file: where it is ($P11JWT_CONFIG, then
 * ~/.config/p11jwt/config, then /etc/p11jwt/config), reading it whole, and
 * its `[profile NAME]` sections (the INI lexer is ini.c). The whole file
 * is checked for syntax, but only the requested profile is interpreted
 * (profile.c), so a typo in another profile is that profile's problem.
 */
#include "exchange/exchange_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A config file is text of a few kilobytes; this bounds what is read. */
#define CONFIG_MAX (1024 * 1024)
#define SECTION_FORM "[profile NAME]"

#define cfg_err(ps, key, ...) exch_ini_error(&(ps)->ini, (key), __VA_ARGS__)

/* Appends a section's name to the parser's list, refusing a repeat. */
static p11jwt_rc add_name(exch_profile_parser *ps, const char *name)
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

/* A section header: "profile NAME", the one kind of section there is. */
static p11jwt_rc on_section(exch_ini *ini, char *name, void *ud)
{
    exch_profile_parser *ps = ud;
    p11jwt_rc rc;

    if (strncmp(name, "profile", 7) != 0 || !isspace((unsigned char)name[7]))
        return cfg_err(ps, NULL, "unknown section '[%s]' (expected '" SECTION_FORM "')",
                       ESC(name));
    name += 8;
    while (isspace((unsigned char)*name))
        name++;
    if (name[0] == '\0')
        return cfg_err(ps, NULL, "profile section without a name");
    if (ps->names != NULL && (rc = add_name(ps, name)) != P11JWT_OK)
        return rc;
    ps->in_profile = strcmp(name, ps->want) == 0;
    if (ps->in_profile) {
        if (ps->found)
            return cfg_err(ps, NULL, "profile '%s' defined twice (first on line %d)",
                           ESC(ps->want), ps->p->line);
        ps->found = 1;
        ps->p->line = ini->line;
    }
    return P11JWT_OK;
}

static p11jwt_rc on_key(exch_ini *ini, const char *key, const char *value, void *ud)
{
    exch_profile_parser *ps = ud;

    (void)ini;
    return ps->in_profile ? exch_profile_set(ps, key, value) : P11JWT_OK;
}

void exch_config_parser_init(exch_profile_parser *ps, const char *path, p11jwt_profile *p,
                             const char *want)
{
    memset(ps, 0, sizeof *ps);
    ps->ini.path = path;
    ps->ini.section_form = SECTION_FORM;
    ps->ini.on_section = on_section;
    ps->ini.on_key = on_key;
    ps->ini.ud = ps;
    ps->p = p;
    ps->want = want;
}

/* ---- files ---------------------------------------------------------------------- */

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

/* path, or the default search's answer, in a new string. */
static p11jwt_rc resolve_path(const char *path, char **out)
{
    if (path == NULL)
        return default_path(out);
    *out = strdup(path);
    return *out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

p11jwt_rc exch_config_read(const char *path, char **path_out, char **data, size_t *len)
{
    p11jwt_rc rc = resolve_path(path, path_out);

    *data = NULL;
    *len = 0;
    if (rc == P11JWT_OK)
        rc = read_config(*path_out, data, len);
    if (rc != P11JWT_OK) {
        free(*path_out);
        *path_out = NULL;
    }
    return rc;
}

/* ---- for the host agent (docs/agent.md): the list of a file's profiles ---------- */

void p11jwt_config_profiles_free(char **names, size_t count)
{
    for (size_t i = 0; names != NULL && i < count; i++)
        free(names[i]);
    free(names);
}

p11jwt_rc p11jwt_config_profiles(const char *path, char **path_out, char ***names,
                                 size_t *count)
{
    exch_profile_parser ps;
    char *resolved = NULL, *data = NULL;
    size_t len = 0;
    p11jwt_rc rc;

    err_clear();
    *names = NULL;
    *count = 0;
    if (path_out != NULL)
        *path_out = NULL;
    rc = exch_config_read(path, &resolved, &data, &len);
    if (rc == P11JWT_OK) {
        /* Syntax only: no profile is called "". */
        exch_config_parser_init(&ps, resolved, NULL, "");
        ps.names = names;
        ps.nnames = count;
        rc = exch_ini_parse(&ps.ini, data, len);
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

