/*
 * engine.c — libp11's OpenSSL engine, given the module of the mTLS key.
 *
 * libcurl signs a TLS client handshake with a token key through the engine
 * named by CURLOPT_SSLENGINE, which it looks up with ENGINE_by_id. OpenSSL
 * keeps an engine it loaded dynamically in its engine list, so an engine
 * we load and configure first (MODULE_PATH, INIT_ARGS) is the very one
 * libcurl gets. Left alone, libp11 loads p11-kit's proxy, which loads every
 * module registered on the host: one broken module there (or one that
 * needs arguments, like NSS) and mTLS fails for a reason that has nothing
 * to do with our token. The design decision: this process holds one
 * functional reference for its whole life, so the engine is never finished
 * between requests (libcurl finishes its own reference on every request,
 * and libp11 then calls C_Finalize on a module our token handles use).
 */
/* The ENGINE API is deprecated in OpenSSL 3 but is the only way libcurl
 * 7.88 and libp11 0.4.12 meet. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "pkcs11/pkcs11_int.h"

#include <openssl/engine.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ENGINE_ID "pkcs11"

static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static ENGINE *engine;          /* our functional reference, kept */
static char *engine_module;     /* the module it was given */
static char *engine_args;

static int same(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static p11jwt_rc configure(const char *path, const char *args)
{
    ENGINE *e;
    p11jwt_rc rc = P11JWT_OK;

    ERR_clear_error();
    e = ENGINE_by_id(ENGINE_ID);
    if (e == NULL)
        return err_set(P11JWT_ERR_MODULE, "OpenSSL cannot load libp11's engine '%s' "
                                          "(libengine-pkcs11-openssl)", ENGINE_ID);
    if (ENGINE_ctrl_cmd_string(e, "MODULE_PATH", path, 0) != 1 ||
        (args != NULL && ENGINE_ctrl_cmd_string(e, "INIT_ARGS", args, 0) != 1))
        rc = err_set(P11JWT_ERR_MODULE, "libp11's engine refused module %s", path);
    else if (ENGINE_init(e) != 1)
        rc = err_set(P11JWT_ERR_MODULE, "libp11's engine did not start with module %s", path);
    ENGINE_free(e);     /* the structural reference; the functional one stays */
    if (rc == P11JWT_OK)
        engine = e;
    ERR_clear_error();
    return rc;
}

p11jwt_rc p11_engine_use_token(const p11jwt_token *t)
{
    const char *path = p11_module_path(t->mod);
    const char *args = p11_module_args(t->mod);
    p11jwt_rc rc = P11JWT_OK;

    pthread_mutex_lock(&engine_lock);
    if (engine != NULL) {
        if (strcmp(engine_module, path) != 0 || !same(engine_args, args))
            rc = err_set(P11JWT_ERR_MODULE,
                         "libp11's engine already serves module %s in this process: a TLS "
                         "client key on module %s (or with other module arguments) cannot "
                         "be used alongside it", engine_module, path);
        goto out;
    }
    engine_module = strdup(path);
    engine_args = args != NULL ? strdup(args) : NULL;
    if (engine_module == NULL || (args != NULL && engine_args == NULL))
        rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
    else
        rc = configure(path, args);
    if (rc != P11JWT_OK) {
        free(engine_module);
        free(engine_args);
        engine_module = engine_args = NULL;
    }
out:
    pthread_mutex_unlock(&engine_lock);
    return rc;
}
