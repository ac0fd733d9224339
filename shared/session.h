/*
 * session.h - login sessions of /auth/login (table sessions): the token,
 * its digest, creation with the user's encrypted upstream key, revocation,
 * and reading that key back for the user.
 *
 * Token format: "bst_" followed by 43 base64url characters (32 bytes from
 * RAND_bytes, 256 bits). It is returned once by session_create() and stored
 * only as its SHA-256 digest. The prefix tells it apart from an API key
 * ("sk-") and an OAuth access token before any lookup, and lets secret
 * scanners recognise a leaked one.
 */
#ifndef BERTH_SESSION_H
#define BERTH_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto.h"
#include "db.h"
#include "err.h"

#define SESSION_TOKEN_PREFIX "bst_"
#define SESSION_TOKEN_LEN    (4 + 43)
/* Room for an ISO 8601 timestamp with zone as PostgreSQL prints it. */
#define SESSION_TIME_MAX 40

/* True when s has the exact shape of a session token. */
bool session_well_formed(const char *s);

/* SHA-256 of token into d (32 bytes): what sessions.token_digest holds. */
void session_digest(const char *token, unsigned char d[32]);

/* The same as lowercase hex into hex (65 bytes). */
void session_digest_hex(const char *token, char hex[65]);

/* What to store about the user's upstream key; all borrowed. */
struct session_secret {
	const char *upstream; /* upstream.name */
	const unsigned char *ct;
	size_t ctlen;
	const unsigned char *iv; /* CRYPTO_IV_LEN bytes */
	const char *key_id;
};

/*
 * Creates a session for user_id lasting ttl_days, from client_ip (NULL =
 * unknown; must be an IP address when set), with sec (NULL = no upstream
 * key). token (size > SESSION_TOKEN_LEN) receives the token to show once;
 * *id the row id; expires_at (size >= SESSION_TIME_MAX) the expiry in ISO
 * 8601 UTC. Joins the caller's db_tx() when called inside one. ERR_DB,
 * ERR_DB_DOWN, ERR_INTERNAL (random generator); token is wiped on error.
 */
berr session_create(struct db *db, long long user_id, int ttl_days,
    const char *client_ip, const struct session_secret *sec, char *token,
    size_t token_size, long long *id, char *expires_at)
    __attribute__((warn_unused_result));

/* Deletes session id. ERR_NOT_FOUND when there is none. */
berr session_delete(struct db *db, long long id)
    __attribute__((warn_unused_result));

/*
 * The upstream API key of user_id for upstream, decrypted with key: from
 * session session_id when it is > 0 and holds one, else from the user's
 * newest unexpired session that holds one. On OK *api_key is malloc'ed;
 * the caller wipes (OPENSSL_cleanse) and frees it. ERR_NOT_FOUND when the
 * user has no stored key (tell them to log in); ERR_DENIED when a row
 * exists but does not open (another key id, or tampered: logged);
 * ERR_DB/ERR_DB_DOWN.
 */
berr session_upstream_key(struct db *db, const struct crypto_key *key,
    long long user_id, long long session_id, const char *upstream,
    char **api_key) __attribute__((warn_unused_result));

/*
 * Key rotation: re-seals, under key, the upstream keys sealed under
 * key->previous, at most limit rows with id > *after, in id order; each
 * row is its own UPDATE (guarded by its old key id, so a concurrent login
 * or a second rotation is never overwritten). *after advances past the
 * rows seen; *done counts rows re-sealed, *failed rows that did not open
 * (left as they are, logged). *seen = rows looked at (0: finished).
 * ERR_INVALID without key->previous; ERR_DB/ERR_DB_DOWN.
 */
berr session_reseal(struct db *db, const struct crypto_key *key, int limit,
    long long *after, long long *seen, long long *done, long long *failed)
    __attribute__((warn_unused_result));

#endif
