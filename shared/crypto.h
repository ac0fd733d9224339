/*
 * crypto.h - AES-256-GCM for secrets Berth must read back (users' upstream
 * API keys), under a master key that is never in the database.
 *
 * The master key is 32 bytes, given as base64 in $BERTH_ENCRYPTION_KEY
 * ($TS_MCP_ENCRYPTION_KEY as an alias) or in the file named by
 * encryption.key_file, which must be mode 0600 or stricter. Its id is
 * derived from the key itself (crypto_key_load() fills it), so a row always
 * names the key that sealed it and rotation needs no bookkeeping.
 *
 * A sealed secret is: a fresh random 96-bit IV (RAND_bytes, never reused
 * with the same key in practice: 2^-32 collision odds only after 2^32
 * seals), the ciphertext with the 16-byte GCM tag appended, and the key id.
 * The additional data binds it to its owner: crypto_ad() builds it from the
 * user id and the upstream name, so a row copied to another user, or to
 * another upstream, fails to open.
 *
 * A struct crypto_key is a plain value owned by the caller; wipe it with
 * crypto_key_wipe() when done.
 */
#ifndef BERTH_CRYPTO_H
#define BERTH_CRYPTO_H

#include <stddef.h>

#include "err.h"

#define CRYPTO_KEY_LEN    32
#define CRYPTO_IV_LEN     12
#define CRYPTO_TAG_LEN    16
#define CRYPTO_KEY_ID_LEN 16 /* hex characters */
/* Largest secret sealed or opened (an upstream API key is far smaller). */
#define CRYPTO_MAX_PLAINTEXT 4096
/* Room for crypto_ad()'s output. */
#define CRYPTO_AD_MAX 512

struct config;

struct crypto_key {
	unsigned char key[CRYPTO_KEY_LEN];
	char id[CRYPTO_KEY_ID_LEN + 1]; /* 16 lowercase hex */
	/*
	 * During a rotation (berth keys rotate): the previous master key,
	 * accepted by crypto_open() for secrets sealed under its id, never
	 * used to seal. Borrowed; NULL otherwise.
	 */
	const struct crypto_key *previous;
};

/*
 * Decodes base64 text (surrounding whitespace ignored) into *out and derives
 * its id. ERR_INVALID when the text is not base64 of exactly 32 bytes; *out
 * is then wiped.
 */
berr crypto_key_from_base64(const char *text, struct crypto_key *out)
    __attribute__((warn_unused_result));

/*
 * The master key from the environment ($BERTH_ENCRYPTION_KEY, else
 * $TS_MCP_ENCRYPTION_KEY), else from cfg->encryption.key_file. Returns OK;
 * ERR_NOT_FOUND when none is configured; ERR_CONFIG when one is configured
 * but malformed, or the file is unreadable, not a regular file, or readable
 * by group or others. *why (static or into buf, never NULL on error) says
 * which, without the key.
 */
berr crypto_key_load(const struct config *cfg, struct crypto_key *out,
    char *buf, size_t bufsize, const char **why)
    __attribute__((warn_unused_result));

/*
 * The previous master key during a rotation, from
 * $BERTH_ENCRYPTION_KEY_OLD ($TS_MCP_ENCRYPTION_KEY_OLD) or
 * encryption.old_key_file (0600), with crypto_key_load()'s rules and
 * results (ERR_NOT_FOUND when none is configured).
 */
berr crypto_key_load_old(const struct config *cfg, struct crypto_key *out,
    char *buf, size_t bufsize, const char **why)
    __attribute__((warn_unused_result));

/* Overwrites the key material. */
void crypto_key_wipe(struct crypto_key *k);

/*
 * The additional data of an upstream key: "berth-upstream-key-v1",
 * user_id and upstream name, length-prefixed so no two pairs collide.
 * Writes into buf (size >= CRYPTO_AD_MAX) and returns its length, or 0
 * when it does not fit.
 */
size_t crypto_ad(
    long long user_id, const char *upstream, unsigned char *buf, size_t size);

/*
 * Seals pt (len 1..CRYPTO_MAX_PLAINTEXT) under k with additional data ad.
 * iv receives a fresh IV; *ct a malloc'ed ciphertext+tag the caller frees,
 * *ctlen = len + CRYPTO_TAG_LEN. ERR_INVALID for a bad length, ERR_NOMEM,
 * ERR_INTERNAL when OpenSSL fails. On error *ct is NULL.
 */
berr crypto_seal(const struct crypto_key *k, const unsigned char *pt,
    size_t len, const unsigned char *ad, size_t adlen,
    unsigned char iv[CRYPTO_IV_LEN], unsigned char **ct, size_t *ctlen)
    __attribute__((warn_unused_result));

/*
 * Opens what crypto_seal() made. key_id must equal k->id or
 * k->previous->id (ERR_NOT_FOUND otherwise: the secret was sealed under
 * another key). ERR_DENIED when the
 * tag does not verify (tampered ciphertext, IV or additional data);
 * ERR_INVALID for impossible lengths. On OK *pt is malloc'ed, NUL-terminated
 * (not counted in *ptlen), and the caller wipes (OPENSSL_cleanse) and frees
 * it. On error *pt is NULL.
 */
berr crypto_open(const struct crypto_key *k, const char *key_id,
    const unsigned char iv[CRYPTO_IV_LEN], const unsigned char *ct,
    size_t ctlen, const unsigned char *ad, size_t adlen, unsigned char **pt,
    size_t *ptlen) __attribute__((warn_unused_result));

#endif
