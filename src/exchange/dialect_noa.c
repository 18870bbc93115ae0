/*
 * dialect_noa.c — noa's request: a JSON POST {"assertion": "..."}; its
 * answer is {"jwt": ...} (the dialect table's token key) and its resources
 * take "Authorization: JWT ..." with an Accept of version 1.0 (presets).
 * noa's assertion has no aud.
 */
#include "exchange/exchange_int.h"

#include <jansson.h>

p11jwt_rc exch_build_noa(const p11jwt_profile *p, const exch_inputs *in,
                         exch_built *b)
{
    json_t *o = json_pack("{s:s}", "assertion", in->assertion);

    (void)p;
    /* jansson's copy of the assertion is wiped before it is released; what
     * its serialiser keeps in its own scratch buffers cannot be reached
     * (docs/architecture.md). */
    if (o == NULL || (b->body = json_dumps(o, JSON_COMPACT)) == NULL) {
        exch_json_wipe_member(o, "assertion");
        json_decref(o);
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    }
    exch_json_wipe_member(o, "assertion");
    json_decref(o);
    b->method = "POST";
    return exch_built_header(b, "Content-Type: application/json");
}
