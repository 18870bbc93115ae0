/*
 * alg.c — the JWS algorithms p11jwt signs with, by name. Exact,
 * case-sensitive names only: "none" and look-alikes are never an alg.
 */
#include "p11jwt.h"

#include <string.h>

static const struct {
    p11jwt_alg alg;
    const char *name;
    size_t sig_len;
} algs[] = {
    { P11JWT_ES256, "ES256", 64 },  { P11JWT_ES384, "ES384", 96 },
    { P11JWT_ES512, "ES512", 132 }, { P11JWT_HS256, "HS256", 32 },
    { P11JWT_HS384, "HS384", 48 },  { P11JWT_HS512, "HS512", 64 },
};

const char *p11jwt_alg_name(p11jwt_alg alg)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (algs[i].alg == alg)
            return algs[i].name;
    return NULL;
}

p11jwt_alg p11jwt_alg_from_name(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(algs[i].name, name) == 0)
            return algs[i].alg;
    return P11JWT_ALG_UNKNOWN;
}

int p11jwt_alg_is_ec(p11jwt_alg alg)
{
    return alg == P11JWT_ES256 || alg == P11JWT_ES384 || alg == P11JWT_ES512;
}

size_t p11jwt_alg_sig_len(p11jwt_alg alg)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (algs[i].alg == alg)
            return algs[i].sig_len;
    return 0;
}
