/*
 * fuzz_claims.c — extra claims (src/jose/claims.c), as given by
 * --claims-file, a --batch line or p11jwt_claims_params.extra_json: the
 * JSON is read, may not redefine iss/aud/sub/iat/exp/jti, and is appended
 * to the claims p11jwt writes. Whatever is accepted must make a claims set
 * that is one JSON object with our six claims as we set them.
 */
#include "fuzz.h"

#include "jose/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *extra = fuzz_strndup(data, size), *out = NULL;
    p11jwt_claims_params cp = { "svc@example.com", "https://sts.example.com/token", "svc",
                                300, 1700000000, 0, NULL };
    json_t *o;

    if (extra == NULL)
        return 0;
    cp.extra_json = extra;
    if (jose_claims_json(&cp, &out) == P11JWT_OK) {
        o = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(json_is_object(o));
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(o, "iss")), cp.iss) == 0);
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(o, "aud")), cp.aud) == 0);
        FUZZ_CHECK(json_integer_value(json_object_get(o, "exp")) == 1700000300);
        FUZZ_CHECK(json_string_length(json_object_get(o, "jti")) == 22);
        json_decref(o);
        free(out);
    } else {
        FUZZ_CHECK(out == NULL);
        FUZZ_CHECK(strchr(p11jwt_errmsg(), '\n') == NULL);
    }
    free(extra);
    return 0;
}
