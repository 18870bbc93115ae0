/*
 * keyring.c — where a profile's keyring state lives: in the token, next to
 * its keys, so every host using the token agrees on the active kid.
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
 * What this cannot give without a lock in the token: a writer that checked
 * and found itself the winner can still be overtaken by a writer that read
 * the same base and creates its object within those few milliseconds with
 * a smaller nonce. Readers stay consistent (one state, one active kid);
 * the overtaken change is simply not in effect, as `rotate status` shows.
 * Within one process the store's operations are serialised (a mutex), and
 * the rotation steps serialise the processes of one host (rotate.c), so
 * that window is only ever open between hosts.
 */
#include "token/tok.h"

#include <inttypes.h>
#include <pthread.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APP "p11jwt-keyring"
#define KEEP_VERSIONS 3
#define MAX_STATES 64
#define ID_LEN (20 + 1 + 32)    /* "%020" PRIu64 ":" 32 hex digits */
#define MAX_NAME 100

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

static const CK_OBJECT_CLASS data_class = CKO_DATA;
static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static void make_label(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%s", APP, name);
}

/* "a wins over b": higher version, then smaller nonce (the ids compare so). */
static int wins(const struct state_obj *a, const struct state_obj *b)
{
    if (a->version != b->version)
        return a->version > b->version;
    return strcmp(a->id, b->id) < 0;
}

/* Lists the state objects of keyring `name`; *n of them, the winner's
 * index in *best (-1 when none). */
static p11jwt_rc list_states(p11jwt_token *t, CK_SESSION_HANDLE s, const char *name,
                             struct state_obj *objs, size_t *n, int *best)
{
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, (void *)&data_class, sizeof data_class },
        { CKA_APPLICATION, (void *)APP, sizeof APP - 1 },
    };
    CK_OBJECT_HANDLE found[MAX_STATES * 4];
    char prefix[MAX_NAME + sizeof APP + 2];
    size_t plen;
    CK_ULONG count = 0;
    CK_RV rv;

    *n = 0;
    *best = -1;
    make_label(name, prefix, sizeof prefix);
    strcat(prefix, ":");
    plen = strlen(prefix);
    rv = P11(t->fl, C_FindObjectsInit, s, tmpl, 2);
    if (rv == CKR_OK) {
        rv = P11(t->fl, C_FindObjects, s, found, MAX_STATES * 4, &count);
        P11(t->fl, C_FindObjectsFinal, s);
    }
    if (rv != CKR_OK)
        return tok_fail(P11JWT_ERR_PKCS11, rv, "cannot search the token for the keyring");
    for (CK_ULONG i = 0; i < count && *n < MAX_STATES; i++) {
        unsigned char *label;
        size_t len;
        struct state_obj *o = &objs[*n];

        if (tok_get_attr(t, s, found[i], CKA_LABEL, &label, &len) != CKR_OK)
            continue;
        /* Another keyring's states share the application: match the name
         * exactly, then "VERSION:NONCE". */
        if (len == plen + ID_LEN && memcmp(label, prefix, plen) == 0 &&
            label[plen + 20] == ':' &&
            sscanf((const char *)label + plen, "%20" SCNu64, &o->version) == 1) {
            memcpy(o->id, label + plen, ID_LEN);
            o->id[ID_LEN] = '\0';
            o->h = found[i];
            if (*best < 0 || wins(o, &objs[*best]))
                *best = (int)*n;
            (*n)++;
        }
        free(label);
    }
    return P11JWT_OK;
}

static p11jwt_rc read_value(p11jwt_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
                            char **json)
{
    unsigned char *v;
    size_t len;
    CK_RV rv = tok_get_attr(t, s, h, CKA_VALUE, &v, &len);
    char *out;

    if (rv != CKR_OK)
        return tok_fail(P11JWT_ERR_PKCS11, rv, "cannot read the keyring state");
    out = malloc(len + 1);
    if (out != NULL) {
        memcpy(out, v, len);
        out[len] = '\0';
    }
    free(v);
    *json = out;
    return out != NULL ? P11JWT_OK : err_set(P11JWT_ERR_NOMEM, "out of memory");
}

static p11jwt_rc keyring_read(p11jwt_token *t, const char *name, char **json_out,
                              uint64_t *version)
{
    struct state_obj objs[MAX_STATES];
    CK_SESSION_HANDLE s;
    size_t n;
    int best;
    p11jwt_rc rc;

    err_clear();
    *json_out = NULL;
    *version = 0;
    if (name == NULL || name[0] == '\0' || strlen(name) > MAX_NAME)
        return err_set(P11JWT_ERR_ARG, "a keyring name of 1 to 100 characters is needed");
    rc = tok_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    rc = list_states(t, s, name, objs, &n, &best);
    if (rc == P11JWT_OK && best >= 0) {
        rc = read_value(t, s, objs[best].h, json_out);
        *version = objs[best].version;
    }
    tok_session_put(t, s);
    return rc;
}

static p11jwt_rc keyring_write(p11jwt_token *t, const char *name, uint64_t base_version,
                               const char *json)
{
    struct state_obj objs[MAX_STATES];
    unsigned char nonce[16];
    char label[MAX_NAME + sizeof APP + 2 + ID_LEN + 1], id[ID_LEN + 1];
    CK_OBJECT_HANDLE mine = CK_INVALID_HANDLE;
    CK_SESSION_HANDLE s;
    size_t n;
    int best;
    CK_RV rv;
    p11jwt_rc rc;

    err_clear();
    if (name == NULL || name[0] == '\0' || strlen(name) > MAX_NAME)
        return err_set(P11JWT_ERR_ARG, "a keyring name of 1 to 100 characters is needed");
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        return err_set(P11JWT_ERR_CRYPTO, "OpenSSL's RAND_bytes failed");
    snprintf(id, sizeof id, "%020" PRIu64 ":", base_version + 1);
    for (size_t i = 0; i < sizeof nonce; i++)
        snprintf(id + 21 + 2 * i, 3, "%02x", nonce[i]);
    make_label(name, label, sizeof label);
    strcat(label, ":");
    strcat(label, id);

    rc = tok_session_get(t, 1, &s);
    if (rc != P11JWT_OK)
        return rc;
    /* Refuse at once when the base is already stale: the common race ends
     * here, before anything is written. */
    rc = list_states(t, s, name, objs, &n, &best);
    if (rc != P11JWT_OK)
        goto out;
    if ((best < 0 ? 0 : objs[best].version) != base_version) {
        rc = err_set(P11JWT_ERR_CONFLICT,
                     "keyring '%s' is at version %" PRIu64 ", not %" PRIu64
                     " as read: someone else changed it; nothing was changed here",
                     ESC(name), best < 0 ? 0 : objs[best].version, base_version);
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

        rv = P11(t->fl, C_CreateObject, s, tmpl, sizeof tmpl / sizeof tmpl[0], &mine);
    }
    if (rv != CKR_OK) {
        rc = tok_fail(P11JWT_ERR_PKCS11, rv, "cannot write the keyring state");
        goto out;
    }
    /* Did this write win? Only the object every reader picks counts. */
    rc = list_states(t, s, name, objs, &n, &best);
    if (rc != P11JWT_OK)
        goto out;
    if (best < 0 || strcmp(objs[best].id, id) != 0) {
        P11(t->fl, C_DestroyObject, s, mine);
        rc = err_set(P11JWT_ERR_CONFLICT,
                     "keyring '%s' was changed by someone else at the same time (now version "
                     "%" PRIu64 "); nothing was changed here",
                     ESC(name), best >= 0 ? objs[best].version : 0);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (objs[i].version + KEEP_VERSIONS <= base_version + 1)
            P11(t->fl, C_DestroyObject, s, objs[i].h); /* history; failure is harmless */
out:
    tok_session_put(t, s);
    return rc;
}

p11jwt_rc p11jwt_keyring_read(p11jwt_token *t, const char *name, char **json_out,
                              uint64_t *version)
{
    p11jwt_rc rc;

    pthread_mutex_lock(&store_mu);
    rc = keyring_read(t, name, json_out, version);
    pthread_mutex_unlock(&store_mu);
    return rc;
}

p11jwt_rc p11jwt_keyring_write(p11jwt_token *t, const char *name, uint64_t base_version,
                               const char *json)
{
    p11jwt_rc rc;

    pthread_mutex_lock(&store_mu);
    rc = keyring_write(t, name, base_version, json);
    pthread_mutex_unlock(&store_mu);
    return rc;
}
