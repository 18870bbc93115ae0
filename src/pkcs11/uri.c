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

int p11_uri_has_pin_value(const char *uri)
{
    static const char name[] = "pin-value";
    const char *p;

    if (uri == NULL || strncasecmp(uri, "pkcs11:", 7) != 0)
        return 0;
    /* Path attributes (;-separated) and query attributes (&-separated,
     * after '?'): each one starts after a separator. */
    for (p = uri + 7; *p != '\0'; p += strcspn(p, ";?&"), p += *p != '\0') {
        size_t n = strcspn(p, "=;?&");

        if (n == sizeof name - 1 && strncasecmp(p, name, n) == 0)
            return 1;
    }
    return 0;
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
    if (p11_uri_refuse_pin_value(uri, P11JWT_ERR_URI, "the token URI") != P11JWT_OK)
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
    if (uri_kid(t) != P11JWT_OK)
        return P11JWT_ERR_NOMEM;

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
