/*
 * ckrv.c — the one table that turns a CK_RV into words: its macro name
 * and a short explanation. Every message about a PKCS#11 failure takes
 * its words from here (p11_fail, call.c), so the wording is the same
 * whichever call failed.
 */
#include "pkcs11/pkcs11_int.h"

#include <stdio.h>

struct ckr_entry {
    CK_RV rv;
    const char *name;
    const char *text;
};

#define E(n, t) { n, #n, t }
static const struct ckr_entry ckr_table[] = {
    E(CKR_OK, ""),
    E(CKR_CANCEL, "cancelled"),
    E(CKR_HOST_MEMORY, "the module ran out of memory"),
    E(CKR_SLOT_ID_INVALID, "no such slot"),
    E(CKR_GENERAL_ERROR, "the module failed unrecoverably"),
    E(CKR_FUNCTION_FAILED, "the function failed"),
    E(CKR_ARGUMENTS_BAD, "bad arguments"),
    E(CKR_NO_EVENT, ""),
    E(CKR_NEED_TO_CREATE_THREADS, "the module needs to create threads"),
    E(CKR_CANT_LOCK, "the module cannot do the locking asked of it"),
    E(CKR_ATTRIBUTE_READ_ONLY, "attribute is read-only"),
    E(CKR_ATTRIBUTE_SENSITIVE, "attribute is sensitive and cannot be read"),
    E(CKR_ATTRIBUTE_TYPE_INVALID, "attribute not valid for this object"),
    E(CKR_ATTRIBUTE_VALUE_INVALID, "attribute value invalid"),
    E(CKR_ACTION_PROHIBITED, "action prohibited"),
    E(CKR_DATA_INVALID, "data invalid"),
    E(CKR_DATA_LEN_RANGE, "data length out of range"),
    E(CKR_DEVICE_ERROR, "the device reported an error"),
    E(CKR_DEVICE_MEMORY, "the token is out of memory"),
    E(CKR_DEVICE_REMOVED, "the token was removed"),
    E(CKR_ENCRYPTED_DATA_INVALID, "encrypted data invalid"),
    E(CKR_ENCRYPTED_DATA_LEN_RANGE, "encrypted data length out of range"),
    E(CKR_FUNCTION_CANCELED, "function cancelled"),
    E(CKR_FUNCTION_NOT_PARALLEL, "function not parallel"),
    E(CKR_FUNCTION_NOT_SUPPORTED, "the module does not support this function"),
    E(CKR_KEY_HANDLE_INVALID, "key handle invalid"),
    E(CKR_KEY_SIZE_RANGE, "key size out of the range the token allows"),
    E(CKR_KEY_TYPE_INCONSISTENT, "key type does not fit the mechanism"),
    E(CKR_KEY_NOT_NEEDED, "key not needed"),
    E(CKR_KEY_CHANGED, "key changed"),
    E(CKR_KEY_NEEDED, "key needed"),
    E(CKR_KEY_INDIGESTIBLE, "key indigestible"),
    E(CKR_KEY_FUNCTION_NOT_PERMITTED, "the key's attributes do not allow this use"),
    E(CKR_KEY_NOT_WRAPPABLE, "key not wrappable"),
    E(CKR_KEY_UNEXTRACTABLE, "key is not extractable"),
    E(CKR_MECHANISM_INVALID, "the token does not support this mechanism (or the key does not allow it)"),
    E(CKR_MECHANISM_PARAM_INVALID, "mechanism parameter invalid"),
    E(CKR_OBJECT_HANDLE_INVALID, "object handle invalid"),
    E(CKR_OPERATION_ACTIVE, "another operation is active on this session"),
    E(CKR_OPERATION_NOT_INITIALIZED, "operation not initialised"),
    E(CKR_PIN_INCORRECT, "PIN incorrect"),
    E(CKR_PIN_INVALID, "PIN has invalid characters"),
    E(CKR_PIN_LEN_RANGE, "PIN too long or too short"),
    E(CKR_PIN_EXPIRED, "PIN expired: set a new one"),
    E(CKR_PIN_LOCKED, "PIN locked: unlock it with the SO PIN"),
    E(CKR_SESSION_CLOSED, "session closed"),
    E(CKR_SESSION_COUNT, "the token has no more sessions to give"),
    E(CKR_SESSION_HANDLE_INVALID, "session handle invalid"),
    E(CKR_SESSION_PARALLEL_NOT_SUPPORTED, "parallel sessions not supported"),
    E(CKR_SESSION_READ_ONLY, "session is read-only"),
    E(CKR_SESSION_EXISTS, "a session exists"),
    E(CKR_SESSION_READ_ONLY_EXISTS, "a read-only session exists"),
    E(CKR_SESSION_READ_WRITE_SO_EXISTS, "an SO session exists"),
    E(CKR_SIGNATURE_INVALID, "signature invalid"),
    E(CKR_SIGNATURE_LEN_RANGE, "signature length out of range"),
    E(CKR_TEMPLATE_INCOMPLETE, "template incomplete"),
    E(CKR_TEMPLATE_INCONSISTENT, "template inconsistent"),
    E(CKR_TOKEN_NOT_PRESENT, "the token is not present"),
    E(CKR_TOKEN_NOT_RECOGNIZED, "the token is not recognised"),
    E(CKR_TOKEN_WRITE_PROTECTED, "the token is write-protected"),
    E(CKR_UNWRAPPING_KEY_HANDLE_INVALID, "unwrapping key handle invalid"),
    E(CKR_UNWRAPPING_KEY_SIZE_RANGE, "unwrapping key size out of range"),
    E(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, "unwrapping key type inconsistent"),
    E(CKR_USER_ALREADY_LOGGED_IN, "already logged in"),
    E(CKR_USER_NOT_LOGGED_IN, "not logged in"),
    E(CKR_USER_PIN_NOT_INITIALIZED, "the token's user PIN is not initialised"),
    E(CKR_USER_TYPE_INVALID, "user type invalid"),
    E(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "another user is logged in"),
    E(CKR_USER_TOO_MANY_TYPES, "too many user types logged in"),
    E(CKR_WRAPPED_KEY_INVALID, "wrapped key invalid"),
    E(CKR_WRAPPED_KEY_LEN_RANGE, "wrapped key length out of range"),
    E(CKR_WRAPPING_KEY_HANDLE_INVALID, "wrapping key handle invalid"),
    E(CKR_WRAPPING_KEY_SIZE_RANGE, "wrapping key size out of range"),
    E(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, "wrapping key type inconsistent"),
    E(CKR_RANDOM_SEED_NOT_SUPPORTED, "random seed not supported"),
    E(CKR_RANDOM_NO_RNG, "the token has no random number generator"),
    E(CKR_DOMAIN_PARAMS_INVALID, "domain parameters invalid"),
    E(CKR_CURVE_NOT_SUPPORTED, "the token does not support this curve"),
    E(CKR_BUFFER_TOO_SMALL, "buffer too small"),
    E(CKR_SAVED_STATE_INVALID, "saved state invalid"),
    E(CKR_INFORMATION_SENSITIVE, "information sensitive"),
    E(CKR_STATE_UNSAVEABLE, "state unsaveable"),
    E(CKR_CRYPTOKI_NOT_INITIALIZED, "the module is not initialised"),
    E(CKR_CRYPTOKI_ALREADY_INITIALIZED, "the module is already initialised"),
    E(CKR_MUTEX_BAD, "mutex bad"),
    E(CKR_MUTEX_NOT_LOCKED, "mutex not locked"),
    E(CKR_FUNCTION_REJECTED, "function rejected"),
};
#undef E

static const struct ckr_entry *ckr_lookup(CK_RV rv)
{
    for (size_t i = 0; i < sizeof ckr_table / sizeof ckr_table[0]; i++)
        if (ckr_table[i].rv == rv)
            return &ckr_table[i];
    return NULL;
}

const char *p11_ckr_name(CK_RV rv)
{
    static _Thread_local char unknown[32];
    const struct ckr_entry *e = ckr_lookup(rv);

    if (e != NULL)
        return e->name;
    snprintf(unknown, sizeof unknown, "CKR_0x%lx", (unsigned long)rv);
    return unknown;
}

const char *p11_ckr_text(CK_RV rv)
{
    const struct ckr_entry *e = ckr_lookup(rv);

    return e != NULL ? e->text : "";
}
