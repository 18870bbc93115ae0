/*
 * dialect_jwt_bearer.c — the JWT bearer grant (RFC 7523 §2.1), the request
 * of dt, neowit and rfc7523: a form POST of grant_type=jwt-bearer, the
 * signed assertion and the scope when the profile names one.
 */
#include "exchange/exchange_int.h"

#define GRANT_JWT_BEARER "urn:ietf:params:oauth:grant-type:jwt-bearer"

p11jwt_rc exch_build_jwt_bearer(const p11jwt_profile *p, const exch_inputs *in,
                                exch_built *b)
{
    exch_form f = { 0 };

    exch_form_add(&f, "grant_type", GRANT_JWT_BEARER);
    exch_form_add(&f, "assertion", in->assertion);
    if (p->scope != NULL)
        exch_form_add(&f, "scope", p->scope);
    return exch_form_finish(b, &f);
}
