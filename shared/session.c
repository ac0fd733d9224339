/*
 * session.c - login sessions. See session.h.
 */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "apikey.h"
#include "digest.h"
#include "hex.h"
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
session_digest(const char *token, unsigned char d[32])
{
	/* Fails only without memory: zeroes match no stored digest. */
	(void)!digest_sha256(token, strlen(token), d);
}

void
session_digest_hex(const char *token, char hex[65])
{
	unsigned char d[DIGEST_SHA256_LEN];

	session_digest(token, d);
	hex_encode_to(d, sizeof(d), hex);
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
		if ((ct_hex = hex_encode(sec->ct, sec->ctlen)) == NULL ||
		    (iv_hex = hex_encode(sec->iv, CRYPTO_IV_LEN)) == NULL) {
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

static const char session_sql_reseal_batch[] =
    "SELECT id, user_id, upstream_name, encode(upstream_key_ciphertext,"
    " 'hex') AS ct, encode(upstream_key_iv, 'hex') AS iv FROM sessions"
    " WHERE upstream_key_id = $1 AND id > $2::bigint ORDER BY id"
    " LIMIT $3::int";

static const char session_sql_reseal_row[] =
    "UPDATE sessions SET upstream_key_ciphertext = decode($3, 'hex'),"
    " upstream_key_iv = decode($4, 'hex'), upstream_key_id = $5"
    " WHERE id = $1::bigint AND upstream_key_id = $2 RETURNING id";

/* Re-seals one row (its ct/iv in hex). OK, ERR_DENIED (does not open). */
static berr
session_reseal_row(struct db *db, const struct crypto_key *key, const char *id,
    long long user_id, const char *upstream, const char *ct_hex,
    const char *iv_hex)
{
	unsigned char *ct = NULL, *iv = NULL, *pt = NULL, *nct = NULL;
	unsigned char ad[CRYPTO_AD_MAX], niv[CRYPTO_IV_LEN];
	size_t ctlen = 0, ivlen = 0, ptlen = 0, nctlen = 0, adlen;
	char *nct_hex = NULL, *niv_hex = NULL;
	const char *values[5];
	berr rc = ERR_DENIED;

	if ((ct = hex_decode(ct_hex, &ctlen)) == NULL ||
	    (iv = hex_decode(iv_hex, &ivlen)) == NULL ||
	    ivlen != CRYPTO_IV_LEN ||
	    (adlen = crypto_ad(user_id, upstream, ad, sizeof(ad))) == 0 ||
	    crypto_open(key, key->previous->id, iv, ct, ctlen, ad, adlen, &pt,
	        &ptlen) != OK)
		goto out;
	if ((rc = crypto_seal(key, pt, ptlen, ad, adlen, niv, &nct, &nctlen)) !=
	    OK)
		goto out;
	if ((nct_hex = hex_encode(nct, nctlen)) == NULL ||
	    (niv_hex = hex_encode(niv, CRYPTO_IV_LEN)) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	values[0] = id;
	values[1] = key->previous->id;
	values[2] = nct_hex;
	values[3] = niv_hex;
	values[4] = key->id;
	if ((rc = db_prepare(
	         db, "session_reseal_row", session_sql_reseal_row, 5)) == OK)
		rc = db_exec(db, "session_reseal_row", 5, values, NULL);
out:
	if (pt != NULL) {
		OPENSSL_cleanse(pt, ptlen);
		free(pt);
	}
	free(ct);
	free(iv);
	free(nct);
	free(nct_hex);
	free(niv_hex);
	return rc;
}

berr
session_reseal(struct db *db, const struct crypto_key *key, int limit,
    long long *after, long long *seen, long long *done, long long *failed)
{
	char after_s[24], limit_s[16];
	const char *values[3];
	PGresult *res = NULL;
	int i, c_id, c_user, c_up, c_ct, c_iv;
	berr rc;

	*seen = 0;
	if (key->previous == NULL)
		return ERR_INVALID;
	snprintf(after_s, sizeof(after_s), "%lld", *after);
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	values[0] = key->previous->id;
	values[1] = after_s;
	values[2] = limit_s;
	if ((rc = db_prepare(db, "session_reseal_batch",
	         session_sql_reseal_batch, 3)) != OK ||
	    (rc = db_exec(db, "session_reseal_batch", 3, values, &res)) != OK)
		goto out;
	if ((c_id = PQfnumber(res, "id")) < 0 ||
	    (c_user = PQfnumber(res, "user_id")) < 0 ||
	    (c_up = PQfnumber(res, "upstream_name")) < 0 ||
	    (c_ct = PQfnumber(res, "ct")) < 0 ||
	    (c_iv = PQfnumber(res, "iv")) < 0) {
		rc = ERR_DB;
		goto out;
	}
	for (i = 0; i < PQntuples(res); i++) {
		const char *id = PQgetvalue(res, i, c_id);
		long long uid = strtoll(PQgetvalue(res, i, c_user), NULL, 10);

		*after = strtoll(id, NULL, 10);
		(*seen)++;
		rc = session_reseal_row(db, key, id, uid,
		    PQgetvalue(res, i, c_up), PQgetvalue(res, i, c_ct),
		    PQgetvalue(res, i, c_iv));
		if (rc == OK) {
			(*done)++;
		} else if (rc == ERR_DENIED) {
			log_error("session %s (user %lld): its upstream key "
			          "does not open under key %s; left as it is",
			    id, uid, key->previous->id);
			(*failed)++;
		} else {
			goto out;
		}
	}
	rc = OK;
out:
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
	    (ct = hex_decode(
	         PQgetvalue(res, 0, PQfnumber(res, "ct")), &ctlen)) == NULL ||
	    (iv = hex_decode(
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
