/*
 * fuzz_claims.c — extra claims (src/jose/claims.c), as given by
 * --claims-file, a --batch line or p11jwt_claims_params.extra_json: the
 * JSON is read, may not redefine iss/aud/sub/iat/exp/jti, and is appended
 * to the claims p11jwt writes. Whatever is accepted must make a claims set
 * that is one JSON object with our six claims as we set them.
 *
 * The same bytes, as a batch line (exactly size bytes, NULs and all),
 * merged with claims given once on the command line (claims_merge.c: the
 * one pass and the index of the shared members): accepted exactly when
 * jansson accepts the line, and then the same bytes as jansson's update
 * of the shared object with the line, dumped.
 */
#include "fuzz.h"

#include "jose/jose.h"

/* Shared claims with what the one pass leaves (an escaped name, a real)
 * and names lines in the corpus and dictionary use. */
static const char shared_json[] =
    "{\"org\":\"o-1\",\"n\":1,\"ctx\":{\"a\":[1.5]},\"q\\\"x\":\"y\",\"\xc3\xa9\":null,\"a\":[]}";

/* jansson's merge of shared_json and the line: 1 and its compact text
 * (braces cut) in *want, or 0 when jansson refuses the line. */
static int jansson_merge(const uint8_t *data, size_t size, char **want)
{
    json_t *shared = json_loads(shared_json, 0, NULL), *line;
    const char *name;
    json_t *v;
    char *text;
    size_t n;
    int ok;

    *want = NULL;
    FUZZ_CHECK(shared != NULL);
    line = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    ok = json_is_object(line);
    if (ok) {
        json_object_foreach(line, name, v)
            if (jose_claim_reserved(name, strlen(name)))
                ok = 0;
    }
    if (ok) {
        FUZZ_CHECK(json_object_update(shared, line) == 0);
        text = json_dumps(shared, JSON_COMPACT | JSON_PRESERVE_ORDER);
        FUZZ_CHECK(text != NULL);
        n = strlen(text);
        memmove(text, text + 1, n - 2);
        text[n - 2] = '\0';
        *want = text;
    }
    json_decref(line);
    json_decref(shared);
    return ok;
}

static void merged(const uint8_t *data, size_t size)
{
    static jose_extras *shared;
    static const char head[] = "{\"iss\":\"i\",\"iat\":1700000000,\"exp\":1700000300";
    /* One buffer for every input, as a batch keeps it, and with it the
     * start of the claims (iss), written once. */
    static char *buf;
    static size_t cap, kept;
    p11jwt_claims_params cp = { "i", NULL, NULL, 300, 1700000000, 1, NULL };
    char *want, *line;
    size_t len = 12345;
    p11jwt_rc rc;
    int ok;

    if (shared == NULL)
        FUZZ_CHECK(jose_extras_new(shared_json, &shared) == P11JWT_OK);
    /* A copy of exactly size bytes: reading past them is ASan's to see. */
    line = malloc(size ? size : 1);
    FUZZ_CHECK(line != NULL);
    memcpy(line, data, size);
    rc = jose_claims_write_merged(&cp, shared, line, size, &buf, &cap, &len, &kept);
    ok = jansson_merge(data, size, &want);
    FUZZ_CHECK((rc == P11JWT_OK) == ok);
    if (ok) {
        size_t hl = sizeof head - 1, wl = strlen(want);

        FUZZ_CHECK(len == hl + (wl ? 1 + wl : 0) + 1);
        FUZZ_CHECK(memcmp(buf, head, hl) == 0);
        FUZZ_CHECK(wl == 0 || (buf[hl] == ',' && memcmp(buf + hl + 1, want, wl) == 0));
        FUZZ_CHECK(buf[len - 1] == '}' && buf[len] == '\0');
    } else {
        FUZZ_CHECK(len == 0);
        FUZZ_CHECK(strchr(p11jwt_errmsg(), '\n') == NULL);
    }
    free(want);
    free(line);
}

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
    merged(data, size);
    return 0;
}
