/*
 * session.c - login sessions. See session.h.
 */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "apikey.h"
#include "log.h"

static const char session_sql_create[] =
    "INSERT INTO sessions (token_digest, user_id, expires_at, client_ip,"
    " upstream_name, upstream_key_ciphertext, upstream_key_iv,"
    " upstream_key_id) "
    "VALUES (decode($1::text, 'hex'), $2::bigint,"
    " now() + make_interval(days => $3::int), $4::inet, $5,"
    " decode($6::text, 'hex'), decode($7::text, 'hex'), $8) "
    "RETURNING id, to_char(expires_at AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS expires_at";

static const char session_sql_delete[] =
    "DELETE FROM sessions WHERE id = $1::bigint RETURNING id";

/* $1 user, $2 session (0 = any), $3 upstream name. */
static const char session_sql_key[] =
    "SELECT encode(upstream_key_ciphertext, 'hex') AS ct,"
    " encode(upstream_key_iv, 'hex') AS iv, upstream_key_id AS key_id "
    "FROM sessions WHERE user_id = $1::bigint AND upstream_name = $3"
    " AND upstream_key_ciphertext IS NOT NULL AND expires_at > now()"
    " AND ($2::bigint = 0 OR id = $2::bigint) "
    "ORDER BY created_at DESC, id DESC LIMIT 1";

bool
session_well_formed(const char *s)
{
	size_t i, n = strlen(SESSION_TOKEN_PREFIX);

	if (s == NULL || strncmp(s, SESSION_TOKEN_PREFIX, n) != 0)
		return false;
	for (i = n; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= SESSION_TOKEN_LEN ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return i == SESSION_TOKEN_LEN;
}

void
session_digest_hex(const char *token, char hex[65])
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	size_t i;

	SHA256((const unsigned char *)token, strlen(token), d);
	for (i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* Lowercase hex of n bytes into a malloc'ed string, or NULL. */
static char *
session_hex(const unsigned char *p, size_t n)
{
	char *h = malloc(2 * n + 1);
	size_t i;

	if (h == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		snprintf(h + 2 * i, 3, "%02x", p[i]);
	h[2 * n] = '\0';
	return h;
}

/* The value of one hex digit, or -1. */
static int
session_xdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex (even length) into a malloc'ed buffer; NULL when bad. */
static unsigned char *
session_unhex(const char *h, size_t *n)
{
	size_t len = strlen(h), i;
	unsigned char *p;
	int hi, lo;

	if (len % 2 != 0 || (p = malloc(len / 2 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len / 2; i++) {
		if ((hi = session_xdigit(h[2 * i])) < 0 ||
		    (lo = session_xdigit(h[2 * i + 1])) < 0) {
			free(p);
			return NULL;
		}
		p[i] = (unsigned char)(hi * 16 + lo);
	}
	*n = len / 2;
	return p;
}

berr
session_create(struct db *db, long long user_id, int ttl_days,
    const char *client_ip, const struct session_secret *sec, char *token,
    size_t token_size, long long *id, char *expires_at)
{
	char raw[APIKEY_LEN + 1], digest[65], uid[24], ttl[16];
	char *ct_hex = NULL, *iv_hex = NULL;
	const char *values[8];
	PGresult *res = NULL;
	berr rc;

	*id = 0;
	expires_at[0] = '\0';
	if (token_size <= SESSION_TOKEN_LEN)
		return ERR_INTERNAL;
	/* An API key's 43 random base64url characters, under our prefix. */
	if ((rc = apikey_generate(raw, sizeof(raw))) != OK)
		goto out;
	snprintf(token, token_size, "%s%s", SESSION_TOKEN_PREFIX,
	    raw + strlen(APIKEY_PREFIX));
	session_digest_hex(token, digest);
	snprintf(uid, sizeof(uid), "%lld", user_id);
	snprintf(ttl, sizeof(ttl), "%d", ttl_days);
	values[0] = digest;
	values[1] = uid;
	values[2] = ttl;
	values[3] = client_ip;
	values[4] = values[5] = values[6] = values[7] = NULL;
	if (sec != NULL) {
		if ((ct_hex = session_hex(sec->ct, sec->ctlen)) == NULL ||
		    (iv_hex = session_hex(sec->iv, CRYPTO_IV_LEN)) == NULL) {
			rc = ERR_NOMEM;
			goto out;
		}
		values[4] = sec->upstream;
		values[5] = ct_hex;
		values[6] = iv_hex;
		values[7] = sec->key_id;
	}
	if ((rc = db_prepare(db, "session_create", session_sql_create, 8)) !=
	        OK ||
	    (rc = db_exec(db, "session_create", 8, values, &res)) != OK)
		goto out;
	if (PQntuples(res) != 1 || PQfnumber(res, "id") < 0 ||
	    PQfnumber(res, "expires_at") < 0) {
		rc = ERR_DB;
		goto out;
	}
	*id = strtoll(PQgetvalue(res, 0, PQfnumber(res, "id")), NULL, 10);
	snprintf(expires_at, SESSION_TIME_MAX, "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "expires_at")));
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	if (rc != OK)
		OPENSSL_cleanse(token, token_size);
	free(ct_hex);
	free(iv_hex);
	PQclear(res);
	return rc;
}

berr
session_delete(struct db *db, long long id)
{
	char idb[24];
	const char *values[1] = { idb };
	PGresult *res = NULL;
	berr rc;

	snprintf(idb, sizeof(idb), "%lld", id);
	if ((rc = db_prepare(db, "session_delete", session_sql_delete, 1)) !=
	        OK ||
	    (rc = db_exec(db, "session_delete", 1, values, &res)) != OK)
		goto out;
	rc = PQntuples(res) == 1 ? OK : ERR_NOT_FOUND;
out:
	PQclear(res);
	return rc;
}

berr
session_upstream_key(struct db *db, const struct crypto_key *key,
    long long user_id, long long session_id, const char *upstream,
    char **api_key)
{
	char uid[24], sid[24];
	const char *values[3] = { uid, sid, upstream };
	unsigned char *ct = NULL, *iv = NULL, *pt = NULL;
	unsigned char ad[CRYPTO_AD_MAX];
	size_t ctlen = 0, ivlen = 0, ptlen = 0, adlen;
	PGresult *res = NULL;
	berr rc;

	*api_key = NULL;
	snprintf(uid, sizeof(uid), "%lld", user_id);
	snprintf(sid, sizeof(sid), "%lld", session_id > 0 ? session_id : 0);
	if ((rc = db_prepare(db, "session_key", session_sql_key, 3)) != OK ||
	    (rc = db_exec(db, "session_key", 3, values, &res)) != OK)
		goto out;
	if (PQntuples(res) != 1) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	if (PQfnumber(res, "ct") < 0 || PQfnumber(res, "iv") < 0 ||
	    PQfnumber(res, "key_id") < 0 ||
	    (ct = session_unhex(
	         PQgetvalue(res, 0, PQfnumber(res, "ct")), &ctlen)) == NULL ||
	    (iv = session_unhex(
	         PQgetvalue(res, 0, PQfnumber(res, "iv")), &ivlen)) == NULL ||
	    ivlen != CRYPTO_IV_LEN) {
		rc = ERR_DB;
		goto out;
	}
	if ((adlen = crypto_ad(user_id, upstream, ad, sizeof(ad))) == 0) {
		rc = ERR_INVALID;
		goto out;
	}
	rc = crypto_open(key, PQgetvalue(res, 0, PQfnumber(res, "key_id")), iv,
	    ct, ctlen, ad, adlen, &pt, &ptlen);
	if (rc != OK) {
		log_error("session: the upstream key of user %lld does not "
		          "open (%s): wrong master key or a tampered row",
		    user_id, err_str(rc));
		rc = rc == ERR_NOMEM ? ERR_NOMEM : ERR_DENIED;
		goto out;
	}
	*api_key = (char *)pt;
	pt = NULL;
out:
	free(ct);
	free(iv);
	PQclear(res);
	return rc;
}
