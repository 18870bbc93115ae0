/*
 * fuzz_keyring.c — the keyring as read from the token: the state's JSON
 * (src/keyring/state.c), read strictly, and the labels of the CKO_DATA
 * objects that hold it (src/pkcs11/store.c, "p11jwt-keyring:NAME:
 * VERSION:NONCE"). A state that is read must write back to JSON that
 * reads as the same state; a label that parses must give a version from 1
 * to the largest p11jwt writes and an id that is its own text.
 */
#include "fuzz.h"

#include "keyring/keyring.h"

static void same_key(const kr_key *a, const kr_key *b)
{
    FUZZ_CHECK((a->kid == NULL) == (b->kid == NULL));
    if (a->kid == NULL)
        return;
    FUZZ_CHECK(strcmp(a->kid, b->kid) == 0);
    FUZZ_CHECK(a->since == b->since);
    FUZZ_CHECK(a->alg == b->alg || p11jwt_alg_name(a->alg) == NULL);
}

static void state(const char *s, size_t n)
{
    kr_state kr, again;
    json_t *o;
    char *text;

    memset(&kr, 0, sizeof kr);
    memset(&again, 0, sizeof again);
    if (kr_state_parse(s, n, &kr) != P11JWT_OK) {
        FUZZ_CHECK(kr.active.kid == NULL && kr.prev == NULL);
        FUZZ_CHECK(strchr(p11jwt_errmsg(), '\n') == NULL);
        return;
    }
    FUZZ_CHECK(kr.active.kid != NULL && kr.active.kid[0] != '\0');
    FUZZ_CHECK(kr_state_check(s, n) == P11JWT_OK);
    o = kr_state_json("prod", &kr, "stage");
    FUZZ_CHECK(o != NULL);
    text = json_dumps(o, JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    FUZZ_CHECK(kr_state_parse(text, strlen(text), &again) == P11JWT_OK);
    same_key(&kr.active, &again.active);
    same_key(&kr.next, &again.next);
    FUZZ_CHECK(kr.nprev == again.nprev);
    for (size_t i = 0; i < kr.nprev; i++)
        same_key(&kr.prev[i], &again.prev[i]);
    FUZZ_CHECK(kr_state_fallback(&kr) == NULL ||
               kr_state_fallback(&kr)->kid != NULL);
    free(text);
    json_decref(o);
    kr_state_clear(&again);
    kr_state_clear(&kr);
}

static void label(const char *s, size_t n)
{
    static const char *const names[] = { "prod", "p", "" };
    char id[P11_STORE_ID_LEN + 1];

    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        uint64_t v = 0;
        const char *why = NULL;
        int r = p11_store_label_parse(s, n, names[k], &v, id, &why);

        FUZZ_CHECK(r >= -1 && r <= 1);
        FUZZ_CHECK((r == -1) == (why != NULL));
        if (r == 1) {
            FUZZ_CHECK(v >= 1 && v <= (uint64_t)INT64_MAX);
            FUZZ_CHECK(strlen(id) == P11_STORE_ID_LEN);
            FUZZ_CHECK(strtoull(id, NULL, 10) == v);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    state((const char *)data, size);
    label((const char *)data, size);
    return 0;
}
