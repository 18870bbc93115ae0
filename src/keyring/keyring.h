/*
 * keyring.h — floor 3, the keyring: the state a profile's rotation keeps
 * in the token (active, next and previous keys), read and written through
 * the PKCS#11 floor's versioned store, and the choice of the kid to sign
 * with and the one to fall back to, which the exchange reads.
 */
#ifndef P11JWT_KEYRING_H
#define P11JWT_KEYRING_H

#include "pkcs11/pkcs11.h"

#endif
