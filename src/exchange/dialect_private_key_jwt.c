/*
 * dialect_private_key_jwt.c — client authentication with a signed JWT
 * (RFC 7523 §2.2, OpenID Connect's private_key_jwt): a client credentials
 * form with client_assertion_type jwt-bearer and the signed assertion, iss
 * and sub both the client_id (the dialect table says so to the signer).
 * What Keycloak, Okta, Entra ID and Auth0 accept.
 */
#include "exchange/exchange_int.h"

#define ASSERTION_TYPE_JWT "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

p11jwt_rc exch_build_private_key_jwt(const p11jwt_profile *p,
                                     const exch_inputs *in, exch_built *b)
{
    exch_form f = { 0 };

    exch_form_add(&f, "grant_type", "client_credentials");
    exch_form_add(&f, "client_id", p->client_id);
    exch_form_add(&f, "client_assertion_type", ASSERTION_TYPE_JWT);
    exch_form_add(&f, "client_assertion", in->assertion);
    if (p->scope != NULL)
        exch_form_add(&f, "scope", p->scope);
    return exch_form_finish(b, &f);
}
