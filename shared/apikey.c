/*
 * apikey.c - Station-compatible local API keys. See apikey.h.
 *
 * The key itself never reaches the database or a log: the database gets
 * its SHA-256 (as hex text, decoded to bytea by the statement, so the one
 * text-parameter db_exec() interface is enough) and its first 7 characters;
 * logs get at most the first 6.
 */
#include "apikey.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "digest.h"
#include "hex.h"
#include "log.h"

/* Longest expiry accepted: 100 years. Beyond it the timestamp arithmetic
 * could overflow, and nobody means it. */
#define APIKEY_MAX_EXPIRES_IN (100LL * 366 * 24 * 3600)
/* Longest key name (api_keys.name CHECK). */
#define APIKEY_MAX_NAME 100

static const char apikey_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * Unpadded base64url of in (n bytes) into out, which must have room for
 * (4 * n + 2) / 3 characters and the NUL.
 */
static void
apikey_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = apikey_b64url[(v >> 18) & 63];
		out[o++] = apikey_b64url[(v >> 12) & 63];
		out[o++] = apikey_b64url[(v >> 6) & 63];
		out[o++] = apikey_b64url[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)in[i] << 16;
		out[o++] = apikey_b64url[(v >> 18) & 63];
		out[o++] = apikey_b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = apikey_b64url[(v >> 18) & 63];
		out[o++] = apikey_b64url[(v >> 12) & 63];
		out[o++] = apikey_b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
}

berr
apikey_generate(char *out, size_t size)
{
	unsigned char raw[APIKEY_RANDOM_BYTES];
	size_t plen = strlen(APIKEY_PREFIX);

	if (out == NULL || size <= APIKEY_LEN)
		return ERR_INTERNAL;
	/* RAND_bytes() draws from the OS's CSPRNG through OpenSSL's DRBG; a
	 * failure means no entropy, and no key is better than a weak one. */
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		log_error("apikey: the random generator failed");
		out[0] = '\0';
		return ERR_INTERNAL;
	}
	memcpy(out, APIKEY_PREFIX, plen);
	apikey_b64url_encode(raw, sizeof(raw), out + plen);
	OPENSSL_cleanse(raw, sizeof(raw));
	return OK;
}

bool
apikey_well_formed(const char *s)
{
	size_t plen = strlen(APIKEY_PREFIX), n, i;

	if (s == NULL || strncmp(s, APIKEY_PREFIX, plen) != 0)
		return false;
	/* Bounded: a hostile header is never walked past the cap. */
	n = strnlen(s, APIKEY_MAX_LEN + 1);
	if (n < APIKEY_MIN_LEN || n > APIKEY_MAX_LEN)
		return false;
	for (i = plen; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

void
apikey_digest(const char *key, unsigned char out[APIKEY_DIGEST_LEN])
{
	/* SHA-256 fails only without memory; the zeroes it leaves then match
	 * no stored digest (all are real SHA-256). */
	(void)!digest_sha256(key, strlen(key), out);
}

/* Lower-case hex of the digest of key into hex (2 * 32 + 1 bytes). */
static void
apikey_digest_hex(const char *key, char hex[2 * APIKEY_DIGEST_LEN + 1])
{
	unsigned char d[APIKEY_DIGEST_LEN];

	apikey_digest(key, d);
	hex_encode_to(d, sizeof(d), hex);
}

/*
 * The statements are registered on each call: the CLI has no prepare phase,
 * and db_prepare() is a no-op for a name already registered with this SQL.
 */
static const char apikey_sql_create[] =
    "INSERT INTO api_keys (user_id, name, key_digest, key_prefix, "
    "expires_at) "
    "VALUES ($1::bigint, $2::text, decode($3::text, 'hex'), $4::text, "
    "CASE WHEN $5::bigint > 0 THEN now() + make_interval(secs => "
    "$5::bigint) END) "
    "RETURNING id";

static const char apikey_sql_revoke[] =
    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
    "WHERE id = $1::bigint RETURNING id";

berr
apikey_create(struct db *db, long long user_id, const char *name,
    long long expires_in, char *key_out, size_t key_size, long long *id_out)
{
	char uid[24], exp[24], hex[2 * APIKEY_DIGEST_LEN + 1];
	char prefix[APIKEY_SHOWN_PREFIX_LEN + 1];
	const char *values[5];
	PGresult *res = NULL;
	int col;
	berr rc;

	if (key_out == NULL || key_size <= APIKEY_LEN || id_out == NULL)
		return ERR_INTERNAL;
	key_out[0] = '\0';
	if (name == NULL)
		name = "";
	if (user_id <= 0 || expires_in < 0 ||
	    expires_in > APIKEY_MAX_EXPIRES_IN ||
	    strnlen(name, APIKEY_MAX_NAME + 1) > APIKEY_MAX_NAME) {
		rc = ERR_INVALID;
		goto out;
	}
	if ((rc = db_prepare(db, "apikey_create", apikey_sql_create, 5)) != OK)
		goto out;
	if ((rc = apikey_generate(key_out, key_size)) != OK)
		goto out;
	apikey_digest_hex(key_out, hex);
	memcpy(prefix, key_out, APIKEY_SHOWN_PREFIX_LEN);
	prefix[APIKEY_SHOWN_PREFIX_LEN] = '\0';
	snprintf(uid, sizeof(uid), "%lld", user_id);
	snprintf(exp, sizeof(exp), "%lld", expires_in);
	values[0] = uid;
	values[1] = name;
	values[2] = hex;
	values[3] = prefix;
	values[4] = exp;
	rc = db_exec(db, "apikey_create", 5, values, &res);
	if (rc == ERR_DB && strcmp(db_sqlstate(db), "23503") == 0) {
		/* foreign_key_violation: no such user. */
		rc = ERR_NOT_FOUND;
		goto out;
	}
	if (rc != OK)
		goto out;
	if (PQntuples(res) != 1 || (col = PQfnumber(res, "id")) < 0) {
		rc = ERR_INTERNAL;
		goto out;
	}
	*id_out = strtoll(PQgetvalue(res, 0, col), NULL, 10);
out:
	PQclear(res);
	if (rc != OK && key_out != NULL && key_size > 0)
		OPENSSL_cleanse(key_out, key_size);
	return rc;
}

berr
apikey_revoke(struct db *db, long long id)
{
	const char *values[1];
	PGresult *res = NULL;
	char sid[24];
	berr rc;

	if (id <= 0)
		return ERR_NOT_FOUND;
	if ((rc = db_prepare(db, "apikey_revoke", apikey_sql_revoke, 1)) != OK)
		goto out;
	snprintf(sid, sizeof(sid), "%lld", id);
	values[0] = sid;
	if ((rc = db_exec(db, "apikey_revoke", 1, values, &res)) != OK)
		goto out;
	if (PQntuples(res) == 0)
		rc = ERR_NOT_FOUND;
out:
	PQclear(res);
	return rc;
}
