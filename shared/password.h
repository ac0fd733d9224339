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

#define PASSWORD_SALT_LEN 16
#define PASSWORD_KEY_LEN  32

/* Parameters of new hashes: N = 2^15, r = 8, p = 1 (32 MiB and some tens
 * of milliseconds per hash). OWASP's password cheat sheet suggests
 * N = 2^17: raise N here when logins may take longer; old hashes keep
 * verifying with the parameters stored in them. */
#define PASSWORD_SCRYPT_N 32768
#define PASSWORD_SCRYPT_R 8
#define PASSWORD_SCRYPT_P 1

/* Bounds accepted in a stored hash: N a power of two in [2^10, 2^20], r in
 * 1..32, p in 1..16, and never more memory than PASSWORD_SCRYPT_MAXMEM (a
 * stored string must not make a responder allocate gigabytes). */
#define PASSWORD_SCRYPT_N_MIN  1024
#define PASSWORD_SCRYPT_N_MAX  1048576
#define PASSWORD_SCRYPT_R_MAX  32
#define PASSWORD_SCRYPT_P_MAX  16
#define PASSWORD_SCRYPT_MAXMEM (256ULL * 1024 * 1024)

/* Hashes password into out (size >= PASSWORD_HASH_MAX) with the current
 * parameters and a fresh random salt. ERR_INVALID for a NULL, empty or
 * over-long password; ERR_INTERNAL when out is too small or OpenSSL
 * fails. out is "" on error. */
berr password_hash(const char *password, char *out, size_t size)
    __attribute__((warn_unused_result));

/* OK when password matches stored; ERR_DENIED when not (a NULL, empty or
 * over-long password never matches); ERR_INVALID when stored is NULL,
 * malformed or its parameters are out of bounds (checked before any
 * hashing); ERR_INTERNAL when OpenSSL fails. The final comparison is
 * constant-time (CRYPTO_memcmp). */
berr password_verify(const char *password, const char *stored)
    __attribute__((warn_unused_result));

#endif
