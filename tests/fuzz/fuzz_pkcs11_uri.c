/*
 * fuzz_pkcs11_uri.c — RFC 7512 pkcs11: URIs (src/pkcs11/uri.c): p11jwt's
 * own pin-value= check (on attribute names, done before p11-kit reads the
 * URI and wherever a config names one) and the token URI's reading (p11-kit
 * parses; we take the kid of id=/object=, a pin-source file and the module
 * to load). Checks: a URI p11-kit reads a PIN from is always caught by our
 * own check, so a config's client_key (which only that check sees) can
 * never carry one either; an accepted URI names a module and, when it
 * names a kid, a non-empty one. A module-name= lookup (p11-kit loads every
 * registered module) is left out: it reads the system, not the input.
 */
#include "fuzz.h"

#include "pkcs11/pkcs11_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size), *path = NULL, *args = NULL;
    P11KitUri *pk;
    p11jwt_token *t;
    int has = 0, seen_pin = 0, by_name = 0;
    p11jwt_rc rc;

    if (s == NULL)
        return 0;
    has = p11_uri_has_pin_value(s);
    FUZZ_CHECK((p11_uri_refuse_pin_value(s, P11JWT_ERR_URI, "the URI") != P11JWT_OK) == has);
    pk = p11_kit_uri_new();
    if (pk != NULL && p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, pk) == P11_KIT_URI_OK) {
        seen_pin = p11_kit_uri_get_pin_value(pk) != NULL;
        by_name = p11_kit_uri_get_module_name(pk) != NULL &&
                  p11_kit_uri_get_module_path(pk) == NULL;
    }
    if (pk != NULL)
        p11_kit_uri_free(pk);
    FUZZ_CHECK(!seen_pin || has);
    t = p11jwt_token_new();
    if (t != NULL && !by_name) {
        rc = p11_uri_parse(t, s, &path, &args);
        if (rc == P11JWT_OK) {
            FUZZ_CHECK(!has && !seen_pin);
            FUZZ_CHECK(path != NULL && path[0] != '\0');
            FUZZ_CHECK(t->uri_kid == NULL || t->uri_kid[0] != '\0');
        } else {
            FUZZ_CHECK(strchr(p11jwt_errmsg(), '\n') == NULL);
        }
        free(path);
        free(args);
    }
    p11jwt_token_free(t);
    free(s);
    return 0;
}
