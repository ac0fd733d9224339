/*
 * apikey.h - Station-compatible local API keys.
 *
 * Format: "sk-" followed by 43 base64url characters (32 random bytes from
 * OpenSSL's RAND_bytes, 256 bits). Keys of other Station-compatible shapes
 * ("sk-" + 32..128 of [A-Za-z0-9_-]) are accepted on input. A key is shown
 * once at creation and stored only as its SHA-256 digest, with its first 7
 * characters for listings.
 */
#ifndef BERTH_APIKEY_H
#define BERTH_APIKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "err.h"

#define APIKEY_PREFIX           "sk-"
#define APIKEY_RANDOM_BYTES     32
#define APIKEY_LEN              (3 + 43) /* generated keys */
#define APIKEY_MIN_LEN          (3 + 32) /* accepted keys */
#define APIKEY_MAX_LEN          (3 + 128)
#define APIKEY_DIGEST_LEN       32
#define APIKEY_SHOWN_PREFIX_LEN 7 /* "sk-AbCd" */

/* Writes a fresh key into out (size > APIKEY_LEN). ERR_INTERNAL when the
 * random generator fails. */
berr apikey_generate(char *out, size_t size)
    __attribute__((warn_unused_result));

/* True when s has the shape of an API key (see above). */
bool apikey_well_formed(const char *s);

/* SHA-256 of the whole key string. */
void apikey_digest(const char *key, unsigned char out[APIKEY_DIGEST_LEN]);

/*
 * Creates a key for user_id named name (NULL = ""), expiring after
 * expires_in seconds (0 = never). key_out (size > APIKEY_LEN) receives the
 * key, to be shown once; *id_out its id. ERR_NOT_FOUND when the user does
 * not exist; ERR_INVALID for a name over 100 bytes, a negative expiry or
 * one over 100 years; ERR_DB/ERR_DB_DOWN. On error key_out is wiped.
 * Works without a prior prepare phase (registers its statement itself).
 */
berr apikey_create(struct db *db, long long user_id, const char *name,
    long long expires_in, char *key_out, size_t key_size, long long *id_out)
    __attribute__((warn_unused_result));

/* Revokes key id (idempotent: an already revoked key keeps its first
 * revocation time). ERR_NOT_FOUND when no such key. */
berr apikey_revoke(struct db *db, long long id)
    __attribute__((warn_unused_result));

#endif
