/*
 * uri.c — RFC 7512 pkcs11: URIs: which module a token URI names (and with
 * which C_Initialize arguments), the kid its object=/id= names, its
 * pin-source, and what it may not carry: a PIN (pin-value=).
 *
 * p11-kit parses the URI (token attributes, object=/id=, module-path=,
 * module-name=, pin-source=); we only decide which module to load. A URI
 * is an argument or a config value, seen by every user of the machine
 * (ps), kept in shell history and in logs; p11jwt takes a PIN from a file,
 * an environment variable or a prompt only. p11-kit would parse pin-value
 * and log in with it, so it is refused before anything else reads the
 * URI, here and where the config names a URI. That refusal is decided on
 * attribute names, not substrings: an object label may well contain the
 * text "pin-value".
 */
#include "pkcs11/pkcs11_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What p11-kit drops wherever it appears in a URI before reading it
 * (P11_URL_WHITESPACE): "pin-val ue=" is pin-value= to p11-kit. */
#define URI_SPACE " \n\r\v"

int p11_uri_has_pin_value(const char *uri)
{
    static const char name[] = "pin-value";
    char *s, *d;
    const char *p;
    int found = 0;

    if (uri == NULL)
        return 0;
    /* Read as p11-kit reads it: without its whitespace. On out of memory,
     * assume the worst. */
    if ((s = strdup(uri)) == NULL)
        return 1;
    for (p = d = s; *p != '\0'; p++)
        if (strchr(URI_SPACE, *p) == NULL)
            *d++ = *p;
    *d = '\0';
    /* Path attributes (;-separated) and query attributes (&-separated,
     * after '?'): each one starts after a separator. */
    if (strncasecmp(s, "pkcs11:", 7) == 0)
        for (p = s + 7; *p != '\0' && !found; p += strcspn(p, ";?&"), p += *p != '\0') {
            size_t n = strcspn(p, "=;?&");

            found = n == sizeof name - 1 && strncasecmp(p, name, n) == 0;
        }
    free(s);
    return found;
}

p11jwt_rc p11_uri_refuse_pin_value(const char *uri, p11jwt_rc rc, const char *what)
{
    if (!p11_uri_has_pin_value(uri))
        return P11JWT_OK;
    return err_set(rc,
                   "%s carries a PIN (pin-value=), which is refused: a URI is seen in the "
                   "process list, shell history and logs; give the PIN with pin-source=FILE "
                   "in the URI, --pin-file or --pin-env (in a profile: pin_file or pin_env)",
                   what);
}

/* RFC 7512's attributes: those of the path (';'-separated) and those of
 * the query ('&'-separated, after '?'). p11-kit ignores an unknown one,
 * and a query attribute in the path, without a word: so do not we. */
static const char *const path_attrs[] = {
    "token", "manufacturer", "serial", "model", "library-manufacturer",
    "library-description", "library-version", "object", "id", "type",
    "slot-description", "slot-manufacturer", "slot-id", NULL,
};
static const char *const query_attrs[] = { "module-path", "module-name", "pin-source",
                                           "pin-value", NULL };

static int in_list(const char *const *l, const char *s, size_t n)
{
    for (; *l != NULL; l++)
        if (strlen(*l) == n && strncasecmp(*l, s, n) == 0)
            return 1;
    return 0;
}

/* Levenshtein distance of a (n bytes) and b, case-insensitive; names are
 * short (any longer than 31 bytes counts as far from everything). */
static size_t name_distance(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b), row[32], prev, cur;

    if (n >= sizeof row || m >= sizeof row)
        return (size_t)-1;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t best = prev + (strncasecmp(a + i - 1, b + j - 1, 1) != 0);

            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            cur = row[j];
            row[j] = best;
            prev = cur;
        }
    }
    return row[m];
}

/* The known attribute an unknown name was most likely meant to be (at
 * most two edits away), or NULL; *query says which part it belongs to.
 * Never pin-value: its value would be echoed in the URI shown. */
static const char *nearest_attr(const char *s, size_t n, int *query)
{
    const char *best = NULL;
    size_t best_d = 3;

    if (n == 0)
        return NULL;
    for (int part = 0; part < 2; part++)
        for (const char *const *l = part == 0 ? path_attrs : query_attrs; *l != NULL; l++) {
            size_t d = name_distance(s, n, *l);

            if (d < best_d && strcmp(*l, "pin-value") != 0) {
                best = *l;
                best_d = d;
                *query = part;
            }
        }
    return best;
}

/* Appends n bytes of s to buf (cap) after sep when buf has something past
 * its start. */
static void add_attr(char *buf, size_t cap, size_t start, char sep, const char *s, size_t n)
{
    size_t len = strlen(buf);

    if (len > start && len + 1 < cap)
        buf[len++] = sep, buf[len] = '\0';
    snprintf(buf + len, cap - len, "%.*s", (int)n, s);
}

p11jwt_rc p11_uri_check(const char *uri, p11jwt_rc rc, const char *what)
{
    char path[1024] = "", query[1024] = "", unknown[ESC_CAP + 96] = "";
    const char *p, *q, *end;
    int moved = 0;

    if (uri == NULL || strncasecmp(uri, "pkcs11:", 7) != 0)
        return P11JWT_OK;
    q = strchr(uri + 7, '?');
    end = q != NULL ? q : uri + strlen(uri);
    for (int part = 0; part < 2; part++) {
        const char *s = part == 0 ? uri + 7 : (q != NULL ? q + 1 : end);
        const char *stop = part == 0 ? end : s + strlen(s);

        for (p = s; p < stop; p += strcspn(p, part == 0 ? ";?" : "&"), p += p < stop) {
            size_t len = part == 0 ? strcspn(p, ";?") : strcspn(p, "&");
            size_t n = strcspn(p, part == 0 ? "=;?" : "=&");

            if (len == 0)
                continue;
            if (n > len)
                n = len;
            if (in_list(path_attrs, p, n)) {
                add_attr(path, sizeof path, 0, ';', p, len);
                moved |= part == 1;
            } else if (in_list(query_attrs, p, n)) {
                add_attr(query, sizeof query, 0, '&', p, len);
                moved |= part == 0;
            } else if (unknown[0] == '\0') {
                /* The URI shown has the nearest known name instead (in its
                 * part), or goes without the attribute. */
                int in_query = 0;
                const char *near = nearest_attr(p, n, &in_query);

                if (near != NULL) {
                    char fixed_attr[1024];

                    snprintf(fixed_attr, sizeof fixed_attr, "%s%.*s", near, (int)(len - n),
                             p + n);
                    add_attr(in_query ? query : path, sizeof path, 0, in_query ? '&' : ';',
                             fixed_attr, strlen(fixed_attr));
                    snprintf(unknown, sizeof unknown, "'%s' (%s?)", ESCN(p, n), near);
                } else {
                    snprintf(unknown, sizeof unknown, "'%s'", ESCN(p, n));
                }
            } else {
                return err_set(rc,
                               "%s has unknown attributes %s and '%s' (RFC 7512: token, "
                               "serial, manufacturer, model, object, id, type, slot-id, ... in "
                               "the path; module-path, module-name, pin-source after '?')",
                               what, unknown, ESCN(p, n));
            }
        }
    }
    if (unknown[0] != '\0') {
        char fixed[2100];

        snprintf(fixed, sizeof fixed, "pkcs11:%s%s%s", path, query[0] ? "?" : "", query);
        return err_set(rc,
                       "%s has an unknown attribute %s (RFC 7512: token, serial, manufacturer, "
                       "model, object, id, type, slot-id, ... in the path; module-path, "
                       "module-name, pin-source after '?'); write it %s",
                       what, unknown, ESC(fixed));
    }
    if (moved) {
        char fixed[2100];

        snprintf(fixed, sizeof fixed, "pkcs11:%s%s%s", path, query[0] ? "?" : "", query);
        return err_set(rc,
                       "%s has an attribute in the wrong part: the path (';') holds token, "
                       "object, id, ...; the query ('?', then '&') holds module-path, "
                       "module-name, pin-source; write it %s",
                       what, ESC(fixed));
    }
    return P11JWT_OK;
}

/* Finds the path of a module registered with p11-kit under this name, and
 * its config's x-init-reserved (the arguments p11-kit itself would pass). */
static p11jwt_rc module_for_name(const char *name, char **path, char **init_reserved)
{
    CK_FUNCTION_LIST **mods = p11_kit_modules_load(NULL, P11_KIT_MODULE_UNMANAGED);
    p11jwt_rc rc = err_set(P11JWT_ERR_MODULE,
                           "no PKCS#11 module named '%s' is registered with p11-kit",
                           ESC(name));

    *path = NULL;
    *init_reserved = NULL;
    for (size_t i = 0; mods != NULL && mods[i] != NULL; i++) {
        char *mname = p11_kit_module_get_name(mods[i]);

        if (mname != NULL && strcmp(mname, name) == 0) {
            *path = p11_kit_module_get_filename(mods[i]);
            *init_reserved = p11_kit_config_option(mods[i], "x-init-reserved");
            rc = *path != NULL ? P11JWT_OK
                               : err_set(P11JWT_ERR_MODULE, "module '%s' has no file name",
                                         ESC(name));
        }
        free(mname);
        if (*path != NULL)
            break;
    }
    if (mods != NULL)
        p11_kit_modules_release(mods);
    return rc;
}

/* The kid an URI names through id= (when it is text) or object=. */
static p11jwt_rc uri_kid(p11jwt_token *t)
{
    CK_ATTRIBUTE *id = p11_kit_uri_get_attribute(t->uri, CKA_ID);
    CK_ATTRIBUTE *label = p11_kit_uri_get_attribute(t->uri, CKA_LABEL);
    const CK_ATTRIBUTE *use = NULL;

    if (id != NULL && p11_kid_is_text(id->pValue, id->ulValueLen))
        use = id;
    if (use == NULL && label != NULL && label->ulValueLen > 0)
        use = label;
    if (use == NULL)
        return P11JWT_OK;
    /* A kid is text: a %00 in it would cut it short, and "k1%00x" would
     * name the key k1. */
    if (memchr(use->pValue, '\0', use->ulValueLen) != NULL)
        return err_set(P11JWT_ERR_URI, "the URI's %s= holds a NUL byte (%%00): a kid is text",
                       use == id ? "id" : "object");
    t->uri_kid = strndup(use->pValue, use->ulValueLen);
    return t->uri_kid != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

/* The C_Initialize arguments: the caller's, else $P11JWT_MODULE_ARGS, else
 * (module-name= only) the module's p11-kit x-init-reserved. "" is none. */
static p11jwt_rc choose_args(const p11jwt_token *t, char *init_reserved, char **args)
{
    const char *s = t->module_args != NULL ? t->module_args : getenv("P11JWT_MODULE_ARGS");

    *args = NULL;
    if (s == NULL) {
        *args = init_reserved;  /* taken over */
        return P11JWT_OK;
    }
    free(init_reserved);
    if (s[0] != '\0' && (*args = strdup(s)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    return P11JWT_OK;
}

p11jwt_rc p11_uri_parse(p11jwt_token *t, const char *uri, char **module_path,
                        char **module_args)
{
    int r;
    const char *s;
    char *init_reserved = NULL;
    p11jwt_rc rc;

    *module_path = NULL;
    *module_args = NULL;
    if (strncmp(uri, "pkcs11:", 7) != 0)
        return err_set(P11JWT_ERR_URI, "token URI must start with 'pkcs11:' (RFC 7512)");
    if (p11_uri_refuse_pin_value(uri, P11JWT_ERR_URI, "the token URI") != P11JWT_OK ||
        p11_uri_check(uri, P11JWT_ERR_URI, "the token URI") != P11JWT_OK)
        return P11JWT_ERR_URI;
    t->uri = p11_kit_uri_new();
    if (t->uri == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    r = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, t->uri);
    if (r != P11_KIT_URI_OK)
        return err_set(P11JWT_ERR_URI, "malformed token URI: %s", p11_kit_uri_message(r));

    s = p11_kit_uri_get_pin_source(t->uri);
    if (s != NULL && t->pin.file == NULL && t->pin.env == NULL) {
        if (strncmp(s, "file://", 7) == 0)
            s += 7;
        else if (strncmp(s, "file:", 5) == 0)
            s += 5;
        else if (strchr(s, ':') != NULL)
            return err_set(P11JWT_ERR_URI, "pin-source must be a file path or a file: URI");
        if (p11_token_set_string(&t->pin.file, s) != P11JWT_OK)
            return P11JWT_ERR_NOMEM;
    }
    /* Whatever spelling got past the check above, p11-kit's view decides. */
    if (p11_kit_uri_get_pin_value(t->uri) != NULL)
        return p11_uri_refuse_pin_value("pkcs11:pin-value=", P11JWT_ERR_URI, "the token URI");
    rc = uri_kid(t);
    if (rc != P11JWT_OK)
        return rc;

    s = p11_kit_uri_get_module_path(t->uri);
    if (s == NULL && p11_kit_uri_get_module_name(t->uri) != NULL) {
        rc = module_for_name(p11_kit_uri_get_module_name(t->uri), module_path, &init_reserved);
        if (rc != P11JWT_OK) {
            free(init_reserved);
            return rc;
        }
        return choose_args(t, init_reserved, module_args);
    }
    if (s == NULL)
        s = t->default_module;
    if (s == NULL)
        s = getenv("P11JWT_MODULE");
    if (s == NULL || s[0] == '\0')
        s = P11JWT_DEFAULT_MODULE;
    if ((*module_path = strdup(s)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    return choose_args(t, NULL, module_args);
}
