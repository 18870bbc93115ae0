/*
 * functions.h — every PKCS#11 2.40 function, once, as X-macro lists: the
 * shim's names, indices, forwarding wrappers and function table all come
 * from here, so no function can be forgotten in one of them.
 *
 * P11F_LIBRARY(X): the four library-level functions the shim writes by hand
 *   X(name)
 * P11F_FORWARDED(X): the 64 others, forwarded by one generated wrapper each
 *   X(name, first, ends, params, args)
 *     first  what the first argument is: SESSION, SLOT or NONE (decides the
 *            side effects a fault can have; see README.md)
 *     ends   1 when the call ends an operation or releases something (the
 *            single-part and Final calls, C_CloseSession...): a fault on it
 *            is returned AFTER forwarding, so the real module's state ends
 *            the way the caller is told it did
 */
#ifndef P11FAULT_FUNCTIONS_H
#define P11FAULT_FUNCTIONS_H

#define P11F_LIBRARY(X)                                                         \
    X(C_Initialize)                                                             \
    X(C_Finalize)                                                               \
    X(C_GetInfo)                                                                \
    X(C_GetFunctionList)

#define P11F_FORWARDED(X)                                                       \
    X(C_GetSlotList, NONE, 0,                                                   \
      (CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count),              \
      (present, list, count))                                                   \
    X(C_GetSlotInfo, SLOT, 0, (CK_SLOT_ID slot, CK_SLOT_INFO_PTR info),         \
      (slot, info))                                                             \
    X(C_GetTokenInfo, SLOT, 0, (CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info),       \
      (slot, info))                                                             \
    X(C_GetMechanismList, SLOT, 0,                                              \
      (CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count),        \
      (slot, list, count))                                                      \
    X(C_GetMechanismInfo, SLOT, 0,                                              \
      (CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info),    \
      (slot, type, info))                                                       \
    X(C_InitToken, SLOT, 0,                                                     \
      (CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len,                  \
       CK_UTF8CHAR_PTR label),                                                  \
      (slot, pin, pin_len, label))                                              \
    X(C_InitPIN, SESSION, 0,                                                    \
      (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len),             \
      (s, pin, pin_len))                                                        \
    X(C_SetPIN, SESSION, 0,                                                     \
      (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old_pin, CK_ULONG old_len,          \
       CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len),                              \
      (s, old_pin, old_len, new_pin, new_len))                                  \
    X(C_OpenSession, SLOT, 0,                                                   \
      (CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,      \
       CK_SESSION_HANDLE_PTR s),                                                \
      (slot, flags, app, notify, s))                                            \
    X(C_CloseSession, SESSION, 1, (CK_SESSION_HANDLE s), (s))                   \
    X(C_CloseAllSessions, SLOT, 1, (CK_SLOT_ID slot), (slot))                   \
    X(C_GetSessionInfo, SESSION, 0,                                             \
      (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info), (s, info))               \
    X(C_GetOperationState, SESSION, 0,                                          \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG_PTR len),               \
      (s, state, len))                                                          \
    X(C_SetOperationState, SESSION, 0,                                          \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG len,                    \
       CK_OBJECT_HANDLE enc_key, CK_OBJECT_HANDLE auth_key),                    \
      (s, state, len, enc_key, auth_key))                                       \
    X(C_Login, SESSION, 0,                                                      \
      (CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,             \
       CK_ULONG pin_len),                                                       \
      (s, user, pin, pin_len))                                                  \
    X(C_Logout, SESSION, 1, (CK_SESSION_HANDLE s), (s))                         \
    X(C_CreateObject, SESSION, 0,                                               \
      (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,                  \
       CK_OBJECT_HANDLE_PTR o),                                                 \
      (s, tmpl, n, o))                                                          \
    X(C_CopyObject, SESSION, 0,                                                 \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl,          \
       CK_ULONG n, CK_OBJECT_HANDLE_PTR no),                                    \
      (s, o, tmpl, n, no))                                                      \
    X(C_DestroyObject, SESSION, 0, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o),   \
      (s, o))                                                                   \
    X(C_GetObjectSize, SESSION, 0,                                              \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ULONG_PTR size),             \
      (s, o, size))                                                             \
    X(C_GetAttributeValue, SESSION, 0,                                          \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl,          \
       CK_ULONG n),                                                             \
      (s, o, tmpl, n))                                                          \
    X(C_SetAttributeValue, SESSION, 0,                                          \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl,          \
       CK_ULONG n),                                                             \
      (s, o, tmpl, n))                                                          \
    X(C_FindObjectsInit, SESSION, 0,                                            \
      (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n), (s, tmpl, n))   \
    X(C_FindObjects, SESSION, 0,                                                \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR o, CK_ULONG max,               \
       CK_ULONG_PTR n),                                                         \
      (s, o, max, n))                                                           \
    X(C_FindObjectsFinal, SESSION, 1, (CK_SESSION_HANDLE s), (s))               \
    X(C_EncryptInit, SESSION, 0,                                                \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k)) \
    X(C_Encrypt, SESSION, 1,                                                    \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,   \
       CK_ULONG_PTR out_len),                                                   \
      (s, in, in_len, out, out_len))                                            \
    X(C_EncryptUpdate, SESSION, 0,                                              \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,   \
       CK_ULONG_PTR out_len),                                                   \
      (s, in, in_len, out, out_len))                                            \
    X(C_EncryptFinal, SESSION, 1,                                               \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len),              \
      (s, out, out_len))                                                        \
    X(C_DecryptInit, SESSION, 0,                                                \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k)) \
    X(C_Decrypt, SESSION, 1,                                                    \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,   \
       CK_ULONG_PTR out_len),                                                   \
      (s, in, in_len, out, out_len))                                            \
    X(C_DecryptUpdate, SESSION, 0,                                              \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,   \
       CK_ULONG_PTR out_len),                                                   \
      (s, in, in_len, out, out_len))                                            \
    X(C_DecryptFinal, SESSION, 1,                                               \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len),              \
      (s, out, out_len))                                                        \
    X(C_DigestInit, SESSION, 0, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m),      \
      (s, m))                                                                   \
    X(C_Digest, SESSION, 1,                                                     \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,   \
       CK_ULONG_PTR out_len),                                                   \
      (s, in, in_len, out, out_len))                                            \
    X(C_DigestUpdate, SESSION, 0,                                               \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len), (s, in, in_len))  \
    X(C_DigestKey, SESSION, 0, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k),       \
      (s, k))                                                                   \
    X(C_DigestFinal, SESSION, 1,                                                \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len),              \
      (s, out, out_len))                                                        \
    X(C_SignInit, SESSION, 0,                                                   \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k)) \
    X(C_Sign, SESSION, 1,                                                       \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,   \
       CK_ULONG_PTR out_len),                                                   \
      (s, in, in_len, out, out_len))                                            \
    X(C_SignUpdate, SESSION, 0,                                                 \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len), (s, in, in_len))  \
    X(C_SignFinal, SESSION, 1,                                                  \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len),              \
      (s, out, out_len))                                                        \
    X(C_SignRecoverInit, SESSION, 0,                                            \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k)) \
    X(C_SignRecover, SESSION, 1,                                                \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,   \
       CK_ULONG_PTR out_len),                                                   \
      (s, in, in_len, out, out_len))                                            \
    X(C_VerifyInit, SESSION, 0,                                                 \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k)) \
    X(C_Verify, SESSION, 1,                                                     \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR sig,   \
       CK_ULONG sig_len),                                                       \
      (s, in, in_len, sig, sig_len))                                            \
    X(C_VerifyUpdate, SESSION, 0,                                               \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len), (s, in, in_len))  \
    X(C_VerifyFinal, SESSION, 1,                                                \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG sig_len),                 \
      (s, sig, sig_len))                                                        \
    X(C_VerifyRecoverInit, SESSION, 0,                                          \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k)) \
    X(C_VerifyRecover, SESSION, 1,                                              \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG sig_len, CK_BYTE_PTR out, \
       CK_ULONG_PTR out_len),                                                   \
      (s, sig, sig_len, out, out_len))                                          \
    X(C_DigestEncryptUpdate, SESSION, 0,                                        \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,   \
       CK_ULONG_PTR out_len),                                                   \
      (s, in, in_len, out, out_len))                                            \
    X(C_DecryptDigestUpdate, SESSION, 0,                                        \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,   \
       CK_ULONG_PTR out_len),                                                   \
      (s, in, in_len, out, out_len))                                            \
    X(C_SignEncryptUpdate, SESSION, 0,                                          \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,   \
       CK_ULONG_PTR out_len),                                                   \
      (s, in, in_len, out, out_len))                                            \
    X(C_DecryptVerifyUpdate, SESSION, 0,                                        \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,   \
       CK_ULONG_PTR out_len),                                                   \
      (s, in, in_len, out, out_len))                                            \
    X(C_GenerateKey, SESSION, 0,                                                \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR tmpl,          \
       CK_ULONG n, CK_OBJECT_HANDLE_PTR k),                                     \
      (s, m, tmpl, n, k))                                                       \
    X(C_GenerateKeyPair, SESSION, 0,                                            \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pub_tmpl,      \
       CK_ULONG pub_n, CK_ATTRIBUTE_PTR priv_tmpl, CK_ULONG priv_n,             \
       CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv),                    \
      (s, m, pub_tmpl, pub_n, priv_tmpl, priv_n, pub, priv))                    \
    X(C_WrapKey, SESSION, 0,                                                    \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wk,            \
       CK_OBJECT_HANDLE k, CK_BYTE_PTR out, CK_ULONG_PTR out_len),              \
      (s, m, wk, k, out, out_len))                                              \
    X(C_UnwrapKey, SESSION, 0,                                                  \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE uk,            \
       CK_BYTE_PTR in, CK_ULONG in_len, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,      \
       CK_OBJECT_HANDLE_PTR k),                                                 \
      (s, m, uk, in, in_len, tmpl, n, k))                                       \
    X(C_DeriveKey, SESSION, 0,                                                  \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE base,          \
       CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR k),              \
      (s, m, base, tmpl, n, k))                                                 \
    X(C_SeedRandom, SESSION, 0,                                                 \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR seed, CK_ULONG len), (s, seed, len))    \
    X(C_GenerateRandom, SESSION, 0,                                             \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG len), (s, out, len))      \
    X(C_GetFunctionStatus, SESSION, 0, (CK_SESSION_HANDLE s), (s))              \
    X(C_CancelFunction, SESSION, 0, (CK_SESSION_HANDLE s), (s))                 \
    X(C_WaitForSlotEvent, NONE, 0,                                              \
      (CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved),              \
      (flags, slot, reserved))

/* Indices: the library functions first, then the forwarded ones. */
enum p11f_fn {
#define P11F_ENUM_LIB(name) FN_##name,
#define P11F_ENUM_FWD(name, first, ends, params, args) FN_##name,
    P11F_LIBRARY(P11F_ENUM_LIB) P11F_FORWARDED(P11F_ENUM_FWD)
#undef P11F_ENUM_LIB
#undef P11F_ENUM_FWD
    P11F_NFUNCS
};

#endif
