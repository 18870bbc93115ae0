/*
 * keyring.c — the keyring in the token: p11jwt_keyring_read and
 * p11jwt_keyring_write, the versioned store of the PKCS#11 floor
 * (pkcs11/store.c) under the keyring's name.
 */
#include "keyring/keyring.h"

p11jwt_rc p11jwt_keyring_read(p11jwt_token *t, const char *name, char **json_out,
                              uint64_t *version)
{
    return p11_store_read(t, name, json_out, version);
}

p11jwt_rc p11jwt_keyring_write(p11jwt_token *t, const char *name, uint64_t base_version,
                               const char *json)
{
    return p11_store_write(t, name, base_version, json);
}
