/*
 * state.c — the keyring state as data: its JSON (what is stored in the
 * token and shown by `rotate status`), read strictly, and the rule that
 * picks the key to fall back to. Pure functions of their input: the token
 * is keyring.c's.
 *
 * Read strictly because the state comes from a token others write to: an
 * entry without kid or alg, an empty kid, or a kid with a control
 * character (it goes into headers and messages) makes the whole state
 * unusable rather than half read.
 */
#include "keyring/keyring.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void kr_key_clear(kr_key *k)
{
    free(k->kid);
    memset(k, 0, sizeof *k);
}

void kr_state_clear(kr_state *kr)
{
    kr_key_clear(&kr->active);
    kr_key_clear(&kr->next);
    for (size_t i = 0; i < kr->nprev; i++)
        kr_key_clear(&kr->prev[i]);
    free(kr->prev);
    memset(kr, 0, sizeof *kr);
}

static p11jwt_rc key_from_json(const json_t *o, kr_key *k)
{
    const char *kid = json_string_value(json_object_get(o, "kid"));
    const char *alg = json_string_value(json_object_get(o, "alg"));

    if (kid == NULL || alg == NULL)
        return err_set(P11JWT_ERR_JSON, "keyring state: an entry lacks kid or alg");
    /* A kid goes into headers and messages: text, never empty. */
    if (kid[0] == '\0')
        return err_set(P11JWT_ERR_JSON, "keyring state: an entry has an empty kid");
    for (const char *s = kid; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return err_set(P11JWT_ERR_JSON, "keyring state: kid '%s' holds a control character",
                           ESC(kid));
    k->kid = strdup(kid);
    k->alg = p11jwt_alg_from_name(alg);
    k->since = (int64_t)json_integer_value(json_object_get(o, "since"));
    return k->kid != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

static json_t *key_to_json(const kr_key *k)
{
    return json_pack("{s:s, s:s, s:I}", "kid", k->kid, "alg",
                     p11jwt_alg_name(k->alg) ? p11jwt_alg_name(k->alg) : "unknown", "since",
                     (json_int_t)k->since);
}

p11jwt_rc kr_state_parse(const char *json, size_t len, kr_state *kr)
{
    json_t *o, *prev;
    json_error_t jerr;
    p11jwt_rc rc;

    o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return err_set(P11JWT_ERR_JSON, "the state is not a JSON object");
    }
    rc = key_from_json(json_object_get(o, "active"), &kr->active);
    if (rc == P11JWT_OK && json_is_object(json_object_get(o, "next")))
        rc = key_from_json(json_object_get(o, "next"), &kr->next);
    prev = json_object_get(o, "previous");
    if (rc == P11JWT_OK && json_array_size(prev) > 0) {
        kr->prev = calloc(json_array_size(prev), sizeof *kr->prev);
        if (kr->prev == NULL)
            rc = err_set(P11JWT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; rc == P11JWT_OK && i < json_array_size(prev); i++, kr->nprev++)
            rc = key_from_json(json_array_get(prev, i), &kr->prev[i]);
    }
    json_decref(o);
    if (rc != P11JWT_OK)
        kr_state_clear(kr);
    return rc;
}

p11jwt_rc kr_state_check(const char *json, size_t len)
{
    kr_state kr;
    p11jwt_rc rc;

    memset(&kr, 0, sizeof kr);
    rc = kr_state_parse(json, len, &kr);
    kr_state_clear(&kr);
    return rc;
}

json_t *kr_state_json(const char *name, const kr_state *kr, const char *op)
{
    json_t *o = json_object(), *prev = json_array();
    char host[256] = "";

    gethostname(host, sizeof host - 1);
    for (size_t i = 0; i < kr->nprev; i++)
        json_array_append_new(prev, key_to_json(&kr->prev[i]));
    json_object_set_new(o, "keyring", json_string(name));
    json_object_set_new(o, "version", json_integer((json_int_t)kr->version));
    json_object_set_new(o, "active", key_to_json(&kr->active));
    json_object_set_new(o, "next", kr->next.kid ? key_to_json(&kr->next) : json_null());
    json_object_set_new(o, "previous", prev);
    json_object_set_new(o, "last_change",
                        json_pack("{s:s, s:I, s:s}", "op", op, "time", (json_int_t)time(NULL),
                                  "host", host));
    return o;
}

const kr_key *kr_state_fallback(const kr_state *kr)
{
    if (kr->next.kid != NULL)
        return &kr->next;
    if (kr->nprev > 0)
        return &kr->prev[0]; /* the newest previous */
    return NULL;
}
