/*
 * password.h - local passwords hashed with scrypt (OpenSSL EVP_PBE_scrypt).
 *
 * Stored form: "scrypt$N$r$p$SALT$HASH" (SALT 16 bytes, HASH 32 bytes, both
 * base64), so the parameters live with each hash and can be raised later
 * without invalidating old hashes. Verification compares in constant time.
 */
#ifndef BERTH_PASSWORD_H
#define BERTH_PASSWORD_H

#include <stddef.h>

#include "err.h"

#define PASSWORD_MAX_LEN  1024 /* longer passwords are refused, not cut */
#define PASSWORD_HASH_MAX 160  /* room for the stored form */

/* Hashes password into out (size >= PASSWORD_HASH_MAX) with the current
 * parameters. ERR_INVALID for an empty or over-long password. */
berr password_hash(const char *password, char *out, size_t size)
    __attribute__((warn_unused_result));

/* OK when password matches stored; ERR_DENIED when not; ERR_INVALID when
 * stored is malformed or its parameters are out of bounds. */
berr password_verify(const char *password, const char *stored)
    __attribute__((warn_unused_result));

#endif
