/*
 * store.c — the versioned data store the keyring keeps its state in (the
 * state's meaning is src/keyring's): in the token, next to the keys, so
 * every host using the token agrees on the active kid.
 *
 * PKCS#11 has no transactions and no compare-and-swap, so the state is
 * never changed in place. Each change is a new, unmodifiable data object
 * (CKO_DATA, private, CKA_APPLICATION "p11jwt-keyring") labelled
 * "p11jwt-keyring:NAME:VERSION:NONCE": the version its writer read plus
 * one (20 digits), and 16 random bytes in hex. (Data objects have no
 * CKA_ID, and the label is the one string attribute every token keeps.) Every reader picks the same
 * object: the highest version, and among equal versions the smallest
 * nonce. A writer creates its object, then reads again: if its object is
 * not the one readers pick (another host wrote the same or a later
 * version), it destroys it and reports a conflict, and the caller starts
 * over from the new state. Readers therefore always see exactly one state,
 * whatever the interleaving; the three newest versions are kept, older
 * ones are destroyed by the winning writer.
 *
 * Labels are read strictly (exactly 20 digits, 32 hex digits): an object
 * that carries the keyring's name but not such a label is ignored and named
 * in a warning, so a stray or planted object can neither be picked nor
 * freeze the keyring; and a state at the largest version is the last.
 * Searches run until the token has no more objects: any number of other
 * keyrings may share the token.
 *
 * What this cannot give without a lock in the token: a writer that checked
 * and found itself the winner can still be overtaken by a writer that read
 * the same base and creates its object within those few milliseconds with
 * a smaller nonce. Readers stay consistent (one state, one active kid);
 * the overtaken change is simply not in effect, as `rotate status` shows.
 * Within one process the store's operations are serialised (a mutex), and
 * the rotation steps serialise the processes of one host (rotation/lock.c), so
 * that window is only ever open between hosts.
 */
#include "pkcs11/pkcs11_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APP "p11jwt-keyring"
#define KEEP_VERSIONS 3
#define ID_LEN P11_STORE_ID_LEN  /* "%020" PRIu64 ":" 32 hex digits */
#define MAX_NAME 100
#define FIND_BATCH 64

/* One keyring operation at a time in this process: threads racing
 * read-modify-write would otherwise overtake each other (see above), and
 * SoftHSM fails (CKR_GENERAL_ERROR) when one thread destroys an object
 * another is creating or reading in the same token. */
static pthread_mutex_t store_mu = PTHREAD_MUTEX_INITIALIZER;

struct state_obj {
    CK_OBJECT_HANDLE h;
    char id[ID_LEN + 1];
    uint64_t version;
};

/* The states of one keyring, all of them (a token may hold any number of
 * other objects of the same application). */
struct states {
    struct state_obj *o;
    size_t n, cap;
    int best;                   /* the winner's index, -1 when none */
};

static const CK_OBJECT_CLASS data_class = CKO_DATA;
static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static void make_label(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%s", APP, name);
}

/* The winner rule every reader applies: "a wins over b" when its version
 * is higher, or, at the same version, its nonce is smaller (ids are
 * "VERSION:NONCE", so they compare so). */
UNITTEST int p11_store_wins(uint64_t va, const char *ida, uint64_t vb, const char *idb)
{
    if (va != vb)
        return va > vb;
    return strcmp(ida, idb) < 0;
}

int p11_store_label_parse(const char *label, size_t len, const char *name, uint64_t *version,
                          char id[P11_STORE_ID_LEN + 1], const char **why)
{
    static const char max[] = "09223372036854775807"; /* P11_STORE_MAX_VERSION */
    size_t nlen = strlen(name), plen = sizeof APP - 1 + 1 + nlen + 1;
    const char *v;
    uint64_t n = 0;

    *why = NULL;
    /* Another keyring's states share the application: the name must match
     * exactly, and then come "VERSION:NONCE". */
    if (len < plen || memcmp(label, APP ":", sizeof APP) != 0 ||
        memcmp(label + sizeof APP, name, nlen) != 0 || label[plen - 1] != ':')
        return 0;
    v = label + plen;
    if (len != plen + P11_STORE_ID_LEN) {
        *why = "not VERSION:NONCE (20 digits, ':', 32 hex digits)";
        return -1;
    }
    for (size_t i = 0; i < 20; i++)
        if (v[i] < '0' || v[i] > '9') {
            *why = "its version is not 20 decimal digits";
            return -1;
        }
    if (v[20] != ':') {
        *why = "not VERSION:NONCE (20 digits, ':', 32 hex digits)";
        return -1;
    }
    for (size_t i = 21; i < P11_STORE_ID_LEN; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f'))) {
            *why = "its nonce is not 32 lower-case hex digits";
            return -1;
        }
    /* 20 digits: compare as text against the largest version we write. */
    if (memcmp(v, max, 20) > 0) {
        *why = "its version is past the largest one p11jwt writes";
        return -1;
    }
    for (size_t i = 0; i < 20; i++)
        n = n * 10 + (uint64_t)(v[i] - '0');
    if (n == 0) {
        *why = "version 0 is never written";
        return -1;
    }
    *version = n;
    memcpy(id, v, P11_STORE_ID_LEN);
    id[P11_STORE_ID_LEN] = '\0';
    return 1;
}

static p11jwt_rc states_add(struct states *st, CK_OBJECT_HANDLE h, uint64_t version,
                            const char *id)
{
    struct state_obj *o;

    if (st->n == st->cap) {
        size_t ncap = st->cap ? 2 * st->cap : 8;
        struct state_obj *no_ = realloc(st->o, ncap * sizeof *no_);

        if (no_ == NULL)
            return err_set(P11JWT_ERR_NOMEM, "out of memory");
        st->o = no_;
        st->cap = ncap;
    }
    o = &st->o[st->n];
    o->h = h;
    o->version = version;
    memcpy(o->id, id, sizeof o->id);
    if (st->best < 0 ||
        p11_store_wins(o->version, o->id, st->o[st->best].version, st->o[st->best].id))
        st->best = (int)st->n;
    st->n++;
    return P11JWT_OK;
}

static void states_free(struct states *st)
{
    free(st->o);
    memset(st, 0, sizeof *st);
    st->best = -1;
}

/* Every object of the application, searched until the token has no more. */
static CK_RV find_app_objects(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE **out,
                              size_t *n)
{
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, (void *)&data_class, sizeof data_class },
        { CKA_APPLICATION, (void *)APP, sizeof APP - 1 },
    };
    CK_OBJECT_HANDLE *all = NULL;
    size_t cap = 0;
    CK_ULONG got;
    CK_RV rv, rv2;

    *out = NULL;
    *n = 0;
    rv = P11_CALL(t->fl, C_FindObjectsInit, s, tmpl, 2);
    if (rv != CKR_OK)
        return rv;
    do {
        if (*n + FIND_BATCH > cap) {
            CK_OBJECT_HANDLE *na = realloc(all, (cap + FIND_BATCH * 4) * sizeof *na);

            if (na == NULL) {
                rv = CKR_HOST_MEMORY;
                break;
            }
            all = na;
            cap += FIND_BATCH * 4;
        }
        rv = P11_CALL(t->fl, C_FindObjects, s, all + *n, FIND_BATCH, &got);
        if (rv == CKR_OK)
            *n += got;
    } while (rv == CKR_OK && got == FIND_BATCH);
    rv2 = P11_CALL(t->fl, C_FindObjectsFinal, s);
    if (rv == CKR_OK)
        rv = rv2;
    if (rv != CKR_OK) {
        free(all);
        *n = 0;
        return rv;
    }
    *out = all;
    return CKR_OK;
}

/* Lists the state objects of keyring `name` into *st (all of them, and the
 * winner). Objects that carry the keyring's name but not a label p11jwt
 * writes are ignored, each named in a warning: one stray object must not
 * freeze the keyring. */
static p11jwt_rc list_states(p11jwt_token *t, CK_SESSION_HANDLE s, const char *name,
                             struct states *st)
{
    CK_OBJECT_HANDLE *found = NULL;
    size_t count = 0;
    p11jwt_rc rc = P11JWT_OK;
    CK_RV rv;

    states_free(st);
    rv = find_app_objects(t, s, &found, &count);
    if (rv != CKR_OK)
        return p11_fail(P11JWT_ERR_PKCS11, rv, "cannot search the token for the keyring");
    for (size_t i = 0; i < count && rc == P11JWT_OK; i++) {
        unsigned char *label;
        size_t len;
        uint64_t version;
        char id[ID_LEN + 1];
        const char *why;
        int r;

        if (p11_object_attr(t, s, found[i], CKA_LABEL, &label, &len) != CKR_OK)
            continue;
        r = p11_store_label_parse((const char *)label, len, name, &version, id, &why);
        if (r > 0)
            rc = states_add(st, found[i], version, id);
        else if (r < 0)
            base_log(P11JWT_LOG_WARNING,
                     "keyring '%s' in token '%s': ignoring the data object labelled '%s': %s",
                     ESC(name), t->label, ESCN(label, len), why);
        free(label);
    }
    free(found);
    return rc;
}

static p11jwt_rc read_value(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
                            char **json)
{
    unsigned char *v;
    size_t len;
    CK_RV rv = p11_object_attr(t, s, h, CKA_VALUE, &v, &len);

    *json = NULL;
    if (rv != CKR_OK)
        return p11_fail(P11JWT_ERR_PKCS11, rv, "cannot read the keyring state");
    /* Handed out as a C string: a NUL inside would cut it short unseen. */
    if (memchr(v, '\0', len) != NULL) {
        free(v);
        return err_set(P11JWT_ERR_JSON, "the keyring state in token '%s' holds a NUL byte",
                       t->label);
    }
    *json = (char *)v; /* p11_object_attr NUL-terminates */
    return P11JWT_OK;
}

static p11jwt_rc keyring_read(p11jwt_token *t, const char *name, char **json_out,
                              uint64_t *version)
{
    struct states st = { .best = -1 };
    CK_SESSION_HANDLE s;
    p11jwt_rc rc;

    err_clear();
    *json_out = NULL;
    *version = 0;
    if (name == NULL || name[0] == '\0' || strlen(name) > MAX_NAME)
        return err_set(P11JWT_ERR_ARG, "a keyring name of 1 to 100 characters is needed");
    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    rc = list_states(t, s, name, &st);
    if (rc == P11JWT_OK && st.best >= 0) {
        rc = read_value(t, s, st.o[st.best].h, json_out);
        *version = rc == P11JWT_OK ? st.o[st.best].version : 0;
    }
    p11_session_put(t, s);
    states_free(&st);
    return rc;
}

static p11jwt_rc keyring_write(p11jwt_token *t, const char *name, uint64_t base_version,
                               const char *json)
{
    struct states st = { .best = -1 };
    unsigned char nonce[16];
    char label[MAX_NAME + sizeof APP + 2 + ID_LEN + 1], id[ID_LEN + 1];
    CK_OBJECT_HANDLE mine = CK_INVALID_HANDLE;
    CK_SESSION_HANDLE s;
    uint64_t now_at;
    CK_RV rv;
    p11jwt_rc rc;

    err_clear();
    if (name == NULL || name[0] == '\0' || strlen(name) > MAX_NAME)
        return err_set(P11JWT_ERR_ARG, "a keyring name of 1 to 100 characters is needed");
    /* Past the largest version a reader accepts, a state would be ignored:
     * say so rather than write it. */
    if (base_version >= P11_STORE_MAX_VERSION)
        return err_set(P11JWT_ERR_ARG,
                       "keyring '%s' is at version %" PRIu64 ", the largest there is: no "
                       "further state can be stored (use a new keyring name)",
                       ESC(name), base_version);
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        return err_set(P11JWT_ERR_CRYPTO, "OpenSSL's RAND_bytes failed");
    snprintf(id, sizeof id, "%020" PRIu64 ":", base_version + 1);
    for (size_t i = 0; i < sizeof nonce; i++)
        snprintf(id + 21 + 2 * i, 3, "%02x", nonce[i]);
    make_label(name, label, sizeof label);
    strcat(label, ":");
    strcat(label, id);

    rc = p11_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    /* Refuse at once when the base is already stale: the common race ends
     * here, before anything is written. */
    rc = list_states(t, s, name, &st);
    if (rc != P11JWT_OK)
        goto out;
    now_at = st.best < 0 ? 0 : st.o[st.best].version;
    if (now_at != base_version) {
        rc = err_set(P11JWT_ERR_CONFLICT,
                     "keyring '%s' is at version %" PRIu64 ", not %" PRIu64
                     " as read: someone else changed it; nothing was changed here",
                     ESC(name), now_at, base_version);
        goto out;
    }
    {
        CK_ATTRIBUTE tmpl[] = {
            { CKA_CLASS, (void *)&data_class, sizeof data_class },
            { CKA_TOKEN, (void *)&yes, sizeof yes },
            { CKA_PRIVATE, (void *)&yes, sizeof yes },
            { CKA_MODIFIABLE, (void *)&no, sizeof no },
            { CKA_APPLICATION, (void *)APP, sizeof APP - 1 },
            { CKA_LABEL, label, strlen(label) },
            { CKA_VALUE, (void *)json, strlen(json) },
        };

        rv = P11_RAISE(P11JWT_ERR_PKCS11, "cannot write the keyring state", t->fl,
                       C_CreateObject, s, tmpl, sizeof tmpl / sizeof tmpl[0], &mine);
    }
    if (rv != CKR_OK) {
        rc = P11JWT_ERR_PKCS11;
        goto out;
    }
    /* Did this write win? Only the object every reader picks counts. */
    rc = list_states(t, s, name, &st);
    if (rc != P11JWT_OK)
        goto out;
    if (st.best < 0 || strcmp(st.o[st.best].id, id) != 0) {
        P11_CALL(t->fl, C_DestroyObject, s, mine);
        rc = err_set(P11JWT_ERR_CONFLICT,
                     "keyring '%s' was changed by someone else at the same time (now version "
                     "%" PRIu64 "); nothing was changed here",
                     ESC(name), st.best >= 0 ? st.o[st.best].version : 0);
        goto out;
    }
    /* History: keep the newest KEEP_VERSIONS; failure is harmless. */
    for (size_t i = 0; base_version + 1 > KEEP_VERSIONS && i < st.n; i++)
        if (st.o[i].version <= base_version + 1 - KEEP_VERSIONS)
            P11_CALL(t->fl, C_DestroyObject, s, st.o[i].h);
out:
    p11_session_put(t, s);
    states_free(&st);
    return rc;
}

p11jwt_rc p11_store_read(p11jwt_token *t, const char *name, char **json_out, uint64_t *version)
{
    p11jwt_rc rc;

    pthread_mutex_lock(&store_mu);
    rc = keyring_read(t, name, json_out, version);
    pthread_mutex_unlock(&store_mu);
    return rc;
}

p11jwt_rc p11_store_write(p11jwt_token *t, const char *name, uint64_t base_version,
                          const char *json)
{
    p11jwt_rc rc;

    pthread_mutex_lock(&store_mu);
    rc = keyring_write(t, name, base_version, json);
    pthread_mutex_unlock(&store_mu);
    return rc;
}
