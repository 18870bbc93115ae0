/*
 * engine.h — pointing libp11's OpenSSL engine (the signer of mTLS
 * handshakes whose client key is in a token) at the token's own module.
 */
#ifndef P11JWT_TOKEN_ENGINE_H
#define P11JWT_TOKEN_ENGINE_H

#include "p11jwt.h"

/* Configures the "pkcs11" engine, before libcurl asks for it by id, with
 * the module (and module arguments) of the open token tok: libcurl's
 * ENGINE_by_id then finds this configured engine instead of loading one
 * that reaches every module registered with p11-kit through its proxy.
 * The engine serves one module per process: another is refused. */
p11jwt_rc tok_engine_use_token(const p11jwt_token *tok);

#endif
