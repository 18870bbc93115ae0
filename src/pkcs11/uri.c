/*
 * uri.c — what a pkcs11: URI may not carry: a PIN (pin-value=). A URI is
 * an argument or a config value, seen by every user of the machine (ps),
 * kept in shell history and in logs; p11jwt takes a PIN from a file, an
 * environment variable or a prompt only. p11-kit would parse pin-value and
 * log in with it, so it is refused before anything else reads the URI, in
 * the token layer and where the config names a URI.
 *
 * Decided on attribute names, not substrings: an object label may well
 * contain the text "pin-value".
 */
#include "base/base.h"

#include <string.h>
#include <strings.h>

int core_uri_has_pin_value(const char *uri)
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

p11jwt_rc core_uri_refuse_pin_value(const char *uri, p11jwt_rc rc, const char *what)
{
    if (!core_uri_has_pin_value(uri))
        return P11JWT_OK;
    return err_set(rc,
                   "%s carries a PIN (pin-value=), which is refused: a URI is seen in the "
                   "process list, shell history and logs; give the PIN with pin-source=FILE "
                   "in the URI, --pin-file or --pin-env (in a profile: pin_file or pin_env)",
                   what);
}
