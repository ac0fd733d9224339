/*
 * audit.c - the append-only, tamper-evident audit log.
 *
 * Canonical encoding (version 1). The hash of a row covers exactly what
 * PostgreSQL stores, in a form a verifier can rebuild from the stored row
 * alone:
 *
 *   row_hash = SHA-256(P || "berth-audit-v1" || F(ts) || F(user_id)
 *                      || F(username) || F(action) || F(resource)
 *                      || F(environment) || F(ip_address) || F(success)
 *                      || F(details))
 *
 *   P        the 32 bytes of prev_hash, or 32 zero bytes when it is NULL
 *            (the first row ever written);
 *   F(NULL)  the 4 bytes FF FF FF FF;
 *   F(text)  its length in bytes as 4 bytes big-endian, then the bytes.
 *
 * Field texts: ts is the decimal number of microseconds since the Unix epoch
 * in UTC (timestamptz keeps microseconds exactly; the time is made here and
 * inserted explicitly, not left to DEFAULT now(), so the hash covers the
 * stored value); user_id decimal, NULL when none; ip_address as PostgreSQL's
 * text(inet) prints it ("192.0.2.1/32", "2001:db8::1/128"); success "t" or
 * "f"; details as jsonb's own text output (details::text), which is the same
 * for equal jsonb values whatever the JSON sent. ip_address and details are
 * normalised by PostgreSQL before hashing (SELECT $1::inet::text,
 * $2::jsonb::text), so append and verify hash the same bytes. Fields are
 * length-prefixed, so no two different rows encode alike.
 *
 * Appends are serialised by the transaction-level advisory lock (1113944692,
 * 2): the writer that holds it reads the last row_hash and inserts after it;
 * the unique index on prev_hash is the backstop. Since sql/008 the lock, the
 * read, the hash and the insert run inside the server, in the function
 * berth_audit_append() (one statement, one round trip per row); this file
 * still hashes in C to verify, so the two encodings are checked against
 * each other by every audit_verify(). Retention deletes the
 * oldest rows: the verifier takes the first remaining row as the anchor.
 */
#include "audit.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "digest.h"
#include "hex.h"
#include "log.h"
#include "parse.h"

/* Berth's advisory lock namespace; key 1 is the migrator's. */
#define AUDIT_LOCK_NS  "1113944692"
#define AUDIT_LOCK_KEY "2"
/* Rows read per round trip by audit_verify(). */
#define AUDIT_VERIFY_BATCH "1000"
#define AUDIT_HASH_LEN     32
#define AUDIT_ACTION_MAX   64
#define AUDIT_DOMAIN       "berth-audit-v1"

/*
 * One statement, one round trip: berth_audit_append() (sql/008) takes the
 * chain lock, reads the last row_hash after it, computes this row's hash by
 * the encoding above and inserts. $1 ts, $2 the same instant in
 * microseconds (decimal), $3..$10 the fields.
 */
static const char audit_sql_append[] =
    "SELECT berth_audit_append($1::timestamptz, $2::text, $3::bigint, $4, "
    "$5, $6, $7, $8, $9::boolean, $10)";
/* Keyset pagination: never more than a batch of rows in memory. */
static const char audit_sql_page[] =
    "SELECT id, to_char(ts AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD HH24:MI:SS.US') AS ts, user_id, username, action, resource, "
    "environment, ip_address::text AS ip_address, success, "
    "details::text AS details, encode(prev_hash, 'hex') AS prev_hash, "
    "encode(row_hash, 'hex') AS row_hash FROM audit_log WHERE id > $1 "
    "ORDER BY id LIMIT " AUDIT_VERIFY_BATCH;

/* The stored texts of one row, NULL for SQL NULL. */
struct audit_row {
	const char *ts_us; /* decimal microseconds since the epoch, UTC */
	const char *user_id;
	const char *username;
	const char *action;
	const char *resource;
	const char *environment;
	const char *ip_address;
	const char *success; /* "t" or "f" */
	const char *details;
};

/* ^[a-z][a-z0-9_.]{0,63}$, as the table's CHECK says. */
static bool
audit_action_ok(const char *a)
{
	size_t i;

	if (a == NULL || !(a[0] >= 'a' && a[0] <= 'z'))
		return false;
	for (i = 1; a[i] != '\0'; i++) {
		if (i >= AUDIT_ACTION_MAX)
			return false;
		if (!((a[i] >= 'a' && a[i] <= 'z') ||
		        (a[i] >= '0' && a[i] <= '9') || a[i] == '_' ||
		        a[i] == '.'))
			return false;
	}
	return true;
}

/* A plain IPv4 or IPv6 address (no prefix length, no zone). */
static bool
audit_ip_ok(const char *ip)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, ip, buf) == 1 ||
	    inet_pton(AF_INET6, ip, buf) == 1;
}

/* Feeds F(s) (see the top of the file) into the digest. */
static int
audit_field(EVP_MD_CTX *md, const char *s)
{
	unsigned char len[4];
	size_t n;

	if (s == NULL) {
		memset(len, 0xff, sizeof(len));
		return EVP_DigestUpdate(md, len, sizeof(len));
	}
	n = strlen(s);
	if (n >= 0xffffffffu)
		return 0;
	len[0] = (unsigned char)(n >> 24);
	len[1] = (unsigned char)(n >> 16);
	len[2] = (unsigned char)(n >> 8);
	len[3] = (unsigned char)n;
	return EVP_DigestUpdate(md, len, sizeof(len)) &&
	    EVP_DigestUpdate(md, s, n);
}

/*
 * The row hash of r after prev (NULL: none). ERR_INTERNAL when OpenSSL
 * fails; out is then undefined.
 */
static berr
audit_hash(const unsigned char *prev, const struct audit_row *r,
    unsigned char out[AUDIT_HASH_LEN])
{
	static const unsigned char zero[AUDIT_HASH_LEN];
	EVP_MD_CTX *md;
	unsigned int len = 0;
	berr rc = ERR_INTERNAL;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return ERR_NOMEM;
	if (EVP_DigestInit_ex(md, digest_sha256_md(), NULL) != 1 ||
	    EVP_DigestUpdate(md, prev != NULL ? prev : zero, AUDIT_HASH_LEN) !=
	        1 ||
	    EVP_DigestUpdate(md, AUDIT_DOMAIN, strlen(AUDIT_DOMAIN)) != 1 ||
	    !audit_field(md, r->ts_us) || !audit_field(md, r->user_id) ||
	    !audit_field(md, r->username) || !audit_field(md, r->action) ||
	    !audit_field(md, r->resource) || !audit_field(md, r->environment) ||
	    !audit_field(md, r->ip_address) || !audit_field(md, r->success) ||
	    !audit_field(md, r->details) ||
	    EVP_DigestFinal_ex(md, out, &len) != 1 || len != AUDIT_HASH_LEN)
		goto out;
	rc = OK;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

/*
 * Converts "YYYY-MM-DD HH:MM:SS.ffffff" (UTC, as audit_sql_page prints it)
 * to decimal microseconds since the epoch in out. False when ts has any
 * other shape.
 */
static bool
audit_ts_us(const char *ts, char *out, size_t size)
{
	struct tm tm;
	const char *p = ts;
	int us;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (parse_digits(&p, 4, &tm.tm_year) != OK || *p++ != '-' ||
	    parse_digits(&p, 2, &tm.tm_mon) != OK || *p++ != '-' ||
	    parse_digits(&p, 2, &tm.tm_mday) != OK || *p++ != ' ' ||
	    parse_digits(&p, 2, &tm.tm_hour) != OK || *p++ != ':' ||
	    parse_digits(&p, 2, &tm.tm_min) != OK || *p++ != ':' ||
	    parse_digits(&p, 2, &tm.tm_sec) != OK || *p++ != '.' ||
	    parse_digits(&p, 6, &us) != OK || *p != '\0')
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	snprintf(out, size, "%lld", (long long)t * 1000000 + us);
	return true;
}

static berr
audit_prepare(struct db *db)
{
	berr rc;

	if ((rc = db_prepare(db, "audit_append", audit_sql_append, 10)) != OK ||
	    (rc = db_prepare(db, "audit_page", audit_sql_page, 1)) != OK)
		return rc;
	return OK;
}

/*
 * Validates ev, then appends it in one statement (audit_sql_append). When
 * the caller is inside db_tx() the row joins that transaction (and the
 * audit lock is held until it ends, so keep such transactions short);
 * otherwise the statement is a transaction of its own.
 */
berr
audit_append(struct db *db, const struct audit_event *ev)
{
	struct timespec now;
	struct tm tm;
	char ts_sql[64], ts_us[32], user_id[32];
	const char *details = "{}", *params[10];
	berr rc;

	if (ev == NULL || !audit_action_ok(ev->action)) {
		log_warn("audit: invalid action name");
		return ERR_INVALID;
	}
	if (ev->ip_address != NULL && !audit_ip_ok(ev->ip_address)) {
		log_warn("audit: %s: invalid address", ev->action);
		return ERR_INVALID;
	}
	if (ev->user_id < 0) {
		log_warn("audit: %s: negative user id", ev->action);
		return ERR_INVALID;
	}
	if (ev->details != NULL) {
		if (!json_object_is_type(ev->details, json_type_object)) {
			log_warn(
			    "audit: %s: details is not an object", ev->action);
			return ERR_INVALID;
		}
		/* Owned by ev->details; lives as long as the object. */
		details = json_object_to_json_string_ext(
		    ev->details, JSON_C_TO_STRING_PLAIN);
		if (details == NULL)
			return ERR_NOMEM;
	}
	if ((rc = audit_prepare(db)) != OK)
		return rc;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts_sql, sizeof(ts_sql),
	    "%04d-%02d-%02d %02d:%02d:%02d.%06ld+00", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    now.tv_nsec / 1000);
	snprintf(ts_us, sizeof(ts_us), "%lld",
	    (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000);
	snprintf(user_id, sizeof(user_id), "%lld", ev->user_id);

	params[0] = ts_sql;
	params[1] = ts_us;
	params[2] = ev->user_id > 0 ? user_id : NULL;
	params[3] = ev->username;
	params[4] = ev->action;
	params[5] = ev->resource;
	params[6] = ev->environment;
	params[7] = ev->ip_address;
	params[8] = ev->success ? "t" : "f";
	params[9] = details;
	return db_exec(db, "audit_append", 10, params, NULL);
}

/* The text of column name in row i, NULL for SQL NULL. */
static const char *
audit_col(const PGresult *res, int i, const char *name)
{
	int c = PQfnumber(res, name);

	return PQgetisnull(res, i, c) ? NULL : PQgetvalue(res, i, c);
}

/*
 * Checks one row of a page against the previous row's row_hash (prev; NULL
 * for the anchor). On OK, cur holds this row's stored row_hash. ERR_CONFLICT
 * when the row or its link is broken.
 */
static berr
audit_verify_row(const PGresult *res, int i, const unsigned char *prev,
    unsigned char cur[AUDIT_HASH_LEN])
{
	unsigned char stored_prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
	char ts_us[32];
	struct audit_row r;
	bool has_prev;
	const char *ts;
	berr rc;

	ts = audit_col(res, i, "ts");
	if (ts == NULL || !audit_ts_us(ts, ts_us, sizeof(ts_us)))
		return ERR_CONFLICT;
	r.ts_us = ts_us;
	r.user_id = audit_col(res, i, "user_id");
	r.username = audit_col(res, i, "username");
	r.action = audit_col(res, i, "action");
	r.resource = audit_col(res, i, "resource");
	r.environment = audit_col(res, i, "environment");
	r.ip_address = audit_col(res, i, "ip_address");
	r.success = audit_col(res, i, "success");
	r.details = audit_col(res, i, "details");
	has_prev = audit_col(res, i, "prev_hash") != NULL;
	if (has_prev &&
	    !hex_decode_to(
	        audit_col(res, i, "prev_hash"), stored_prev, AUDIT_HASH_LEN))
		return ERR_CONFLICT;
	if (!hex_decode_to(audit_col(res, i, "row_hash"), cur, AUDIT_HASH_LEN))
		return ERR_CONFLICT;
	/* The anchor may point at a deleted row; any later row must link. */
	if (prev != NULL &&
	    (!has_prev || memcmp(prev, stored_prev, AUDIT_HASH_LEN) != 0))
		return ERR_CONFLICT;
	if ((rc = audit_hash(has_prev ? stored_prev : NULL, &r, hash)) != OK)
		return rc;
	if (memcmp(hash, cur, AUDIT_HASH_LEN) != 0)
		return ERR_CONFLICT;
	return OK;
}

/* What audit_verify_tx() reports back. */
struct audit_verify_arg {
	long long checked;
	long long first_bad;
};

/*
 * The walk itself. In a snapshot of its own (REPEATABLE READ) when it runs
 * in a transaction of its own: retention deleting old rows meanwhile must
 * not look like a gap in the middle.
 */
static berr
audit_verify_tx(struct db *db, void *arg)
{
	struct audit_verify_arg *va = arg;
	unsigned char prev[AUDIT_HASH_LEN], cur[AUDIT_HASH_LEN];
	char after[32] = "0";
	const char *params[1];
	PGresult *res = NULL;
	bool have_prev = false;
	int i, rows, fid;
	long long id;
	berr rc;

	va->checked = 0;
	va->first_bad = 0;
	if ((rc = db_exec_sql(db,
	         "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
	         0, NULL, NULL)) != OK)
		goto out;
	for (;;) {
		params[0] = after;
		if ((rc = db_exec(db, "audit_page", 1, params, &res)) != OK)
			goto out;
		if ((rows = PQntuples(res)) == 0)
			break;
		fid = PQfnumber(res, "id");
		for (i = 0; i < rows; i++) {
			id = strtoll(PQgetvalue(res, i, fid), NULL, 10);
			rc = audit_verify_row(
			    res, i, have_prev ? prev : NULL, cur);
			if (rc == ERR_CONFLICT) {
				va->first_bad = id;
				log_warn("audit: chain broken at row %lld", id);
				goto out;
			}
			if (rc != OK)
				goto out;
			memcpy(prev, cur, sizeof(prev));
			have_prev = true;
			va->checked++;
		}
		snprintf(
		    after, sizeof(after), "%s", PQgetvalue(res, rows - 1, fid));
		PQclear(res);
		res = NULL;
	}
	rc = OK;
out:
	PQclear(res);
	return rc;
}

berr
audit_verify(struct db *db, long long *checked, long long *first_bad)
{
	struct audit_verify_arg va = { 0, 0 };
	berr rc;

	*checked = 0;
	*first_bad = 0;
	if ((rc = audit_prepare(db)) != OK)
		return rc;
	/* Read-only: ERR_CONFLICT from the walk just ends the transaction. */
	rc = db_tx(db, audit_verify_tx, &va);
	*checked = va.checked;
	*first_bad = va.first_bad;
	return rc;
}
