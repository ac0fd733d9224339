/*
 * test_audit.c - CUnit suite for shared/audit.c: the hash chain.
 *
 * Needs a migrated PostgreSQL database in DATABASE_URL
 * (tests/unit/test_audit.sh starts a private one and runs `berth migrate`);
 * without it the program exits 77, "skipped" to automake. The tests share
 * the one audit_log table and run in order; each starts from an empty log.
 * The hash of a row is recomputed here from the stored row with an
 * independent implementation of the encoding documented in audit.c.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "audit.h"
#include "db.h"
#include "log.h"
#include "unit.h"

#define TEST_CHILD_APPENDS 100

static const char *test_url;
static struct db *test_db;

/* Runs sql (no result wanted); CUnit-fails when it fails. */
static void
test_sql(const char *sql)
{
	berr rc = db_exec_sql(test_db, sql, 0, NULL, NULL);

	CU_ASSERT_EQUAL(rc, OK);
	if (rc != OK)
		fprintf(stderr, "test_audit: failed: %s\n", sql);
}

/* The first column of the first row of sql as a long long; -1 on error. */
static long long
test_ll(const char *sql, int n, const char *const *vals)
{
	PGresult *res = NULL;
	long long v = -1;

	if (db_exec_sql(test_db, sql, n, vals, &res) == OK &&
	    PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

static long long
test_count(void)
{
	return test_ll("SELECT count(*) FROM audit_log", 0, NULL);
}

/* The id of the n-th row (1-based) in id order; -1 when none. */
static long long
test_nth_id(int n)
{
	char off[16];
	const char *v[1] = { off };

	snprintf(off, sizeof(off), "%d", n - 1);
	return test_ll("SELECT id FROM audit_log ORDER BY id OFFSET $1::int "
	               "LIMIT 1",
	    1, v);
}

static berr
test_append(const char *action, const char *ip, bool success)
{
	struct audit_event ev = { 0 };
	struct json_object *d = json_object_new_object();
	berr rc;

	json_object_object_add(d, "zeta", json_object_new_int(1));
	json_object_object_add(d, "alpha", json_object_new_string("a\"b"));
	ev.user_id = 42;
	ev.username = "alice";
	ev.action = action;
	ev.resource = "tool:echo";
	ev.environment = "development";
	ev.ip_address = ip;
	ev.success = success;
	ev.details = d;
	rc = audit_append(test_db, &ev);
	json_object_put(d);
	return rc;
}

static void
test_verify(berr want_rc, long long want_bad)
{
	long long checked = -1, bad = -1;
	berr rc = audit_verify(test_db, &checked, &bad);

	CU_ASSERT_EQUAL(rc, want_rc);
	if (want_rc == OK) {
		CU_ASSERT_EQUAL(bad, 0);
		CU_ASSERT_EQUAL(checked, test_count());
	} else {
		CU_ASSERT_EQUAL(bad, want_bad);
		if (bad != want_bad)
			fprintf(stderr, "test_audit: bad %lld, wanted %lld\n",
			    bad, want_bad);
	}
}

static void
test_reset(void)
{
	test_sql("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only");
	test_sql("DELETE FROM audit_log");
}

/* F(s) of the documented encoding. */
static void
test_field(EVP_MD_CTX *md, const PGresult *res, int row, const char *col)
{
	int c = PQfnumber(res, col);
	unsigned char len[4] = { 0xff, 0xff, 0xff, 0xff };
	uint32_t n;

	CU_ASSERT_FATAL(c >= 0);
	if (PQgetisnull(res, row, c)) {
		EVP_DigestUpdate(md, len, 4);
		return;
	}
	n = (uint32_t)strlen(PQgetvalue(res, row, c));
	len[0] = (unsigned char)(n >> 24);
	len[1] = (unsigned char)(n >> 16);
	len[2] = (unsigned char)(n >> 8);
	len[3] = (unsigned char)n;
	EVP_DigestUpdate(md, len, 4);
	EVP_DigestUpdate(md, PQgetvalue(res, row, c), n);
}

/*
 * Every stored row: the hash recomputed from the documented encoding
 * matches, and each prev_hash is the row_hash before it.
 */
static void
test_recompute_all(void)
{
	static const unsigned char zero[32];
	PGresult *res = NULL;
	unsigned char md_out[32];
	char hex[65];
	unsigned int len;
	EVP_MD_CTX *md;
	int i, j;

	CU_ASSERT_EQUAL_FATAL(
	    db_exec_sql(test_db,
	        "SELECT (extract(epoch FROM ts) * 1000000)::bigint::text AS "
	        "ts, "
	        "user_id::text AS user_id, username, action, resource, "
	        "environment, ip_address::text AS ip_address, "
	        "CASE WHEN success THEN 't' ELSE 'f' END AS success, "
	        "details::text AS details, prev_hash, "
	        "encode(row_hash, 'hex') AS row_hash, "
	        "encode(lag(row_hash) OVER (ORDER BY id), 'hex') AS lagged, "
	        "encode(prev_hash, 'hex') AS prev_hex "
	        "FROM audit_log ORDER BY id",
	        0, NULL, &res),
	    OK);
	md = EVP_MD_CTX_new();
	for (i = 0; i < PQntuples(res); i++) {
		size_t plen = 0;
		unsigned char *prev = NULL;

		if (!PQgetisnull(res, i, PQfnumber(res, "prev_hash")))
			prev = PQunescapeBytea(
			    (const unsigned char *)PQgetvalue(
			        res, i, PQfnumber(res, "prev_hash")),
			    &plen);
		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		EVP_DigestUpdate(md, prev != NULL ? prev : zero, 32);
		EVP_DigestUpdate(md, "berth-audit-v1", 14);
		test_field(md, res, i, "ts");
		test_field(md, res, i, "user_id");
		test_field(md, res, i, "username");
		test_field(md, res, i, "action");
		test_field(md, res, i, "resource");
		test_field(md, res, i, "environment");
		test_field(md, res, i, "ip_address");
		test_field(md, res, i, "success");
		test_field(md, res, i, "details");
		EVP_DigestFinal_ex(md, md_out, &len);
		PQfreemem(prev);
		for (j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", md_out[j]);
		CU_ASSERT_STRING_EQUAL(
		    hex, PQgetvalue(res, i, PQfnumber(res, "row_hash")));
		if (i > 0)
			CU_ASSERT_STRING_EQUAL(
			    PQgetvalue(res, i, PQfnumber(res, "prev_hex")),
			    PQgetvalue(res, i, PQfnumber(res, "lagged")));
	}
	EVP_MD_CTX_free(md);
	PQclear(res);
}

static void
test_chain(void)
{
	struct audit_event ev = { 0 };

	test_reset();
	test_verify(OK, 0);
	CU_ASSERT_EQUAL(test_append("login", "192.0.2.7", true), OK);
	CU_ASSERT_EQUAL(test_append("tool.call", "2001:DB8::0:1", false), OK);
	CU_ASSERT_EQUAL(test_append("apikey.create", NULL, true), OK);
	/* Every optional field absent, details NULL. */
	ev.action = "logout";
	CU_ASSERT_EQUAL(audit_append(test_db, &ev), OK);
	CU_ASSERT_EQUAL(test_count(), 4);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM audit_log WHERE "
	                        "prev_hash IS NULL",
	                    0, NULL),
	    1);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM audit_log a JOIN "
	                        "audit_log b ON b.prev_hash = a.row_hash",
	                    0, NULL),
	    3);
	/* PostgreSQL's normalised texts are what is stored and hashed. */
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM audit_log WHERE "
	                        "ip_address = '2001:db8::1' AND NOT success",
	                    0, NULL),
	    1);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM audit_log WHERE "
	                        "user_id IS NULL AND details = '{}'",
	                    0, NULL),
	    1);
	test_recompute_all();
	test_verify(OK, 0);
}

static berr
test_tx_append_rollback(struct db *db, void *arg)
{
	berr rc;

	(void)db;
	(void)arg;
	if ((rc = test_append("user.grant", NULL, true)) != OK)
		return rc;
	return ERR_CONFLICT; /* roll back */
}

static berr
test_tx_append_commit(struct db *db, void *arg)
{
	(void)db;
	(void)arg;
	return test_append("user.create", "10.1.2.3", true);
}

/* Inside the caller's transaction the row commits or rolls back with it. */
static void
test_in_tx(void)
{
	long long before;

	test_reset();
	CU_ASSERT_EQUAL(test_append("login", NULL, true), OK);
	before = test_count();
	CU_ASSERT_EQUAL(
	    db_tx(test_db, test_tx_append_rollback, NULL), ERR_CONFLICT);
	CU_ASSERT_EQUAL(test_count(), before);
	CU_ASSERT_EQUAL(db_tx(test_db, test_tx_append_commit, NULL), OK);
	CU_ASSERT_EQUAL(test_count(), before + 1);
	test_verify(OK, 0);
}

/* Two processes append at once: one unbroken chain. */
static void
test_concurrent(void)
{
	pid_t pids[2];
	int i, j, status;

	test_reset();
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		CU_ASSERT_FATAL(pids[i] >= 0);
		if (pids[i] == 0) {
			struct db *db = db_new(test_url, 5);
			struct audit_event ev = { 0 };
			int bad = 0;

			ev.action = i == 0 ? "child.one" : "child.two";
			ev.ip_address = "127.0.0.1";
			ev.success = true;
			for (j = 0; j < TEST_CHILD_APPENDS; j++) {
				ev.user_id = j + 1;
				if (audit_append(db, &ev) != OK)
					bad++;
			}
			db_free(db);
			_exit(bad == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(waitpid(pids[i], &status, 0), pids[i]);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CU_ASSERT_EQUAL(test_count(), 2 * TEST_CHILD_APPENDS);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM audit_log a JOIN "
	                        "audit_log b ON b.prev_hash = a.row_hash",
	                    0, NULL),
	    2 * TEST_CHILD_APPENDS - 1);
	/* The two writers really interleaved, or the test proves little. */
	CU_ASSERT(test_ll("SELECT count(*) FROM (SELECT action <> lag(action) "
	                  "OVER (ORDER BY id) AS sw FROM audit_log) s WHERE sw",
	              0, NULL) >= 1);
	test_recompute_all();
	test_verify(OK, 0);
}

/*
 * Edits one column of the 3rd row behind the trigger's back: verify names
 * that row; putting the value back heals the chain.
 */
static void
test_tamper_column(const char *edit, const char *undo)
{
	long long id = test_nth_id(3);
	char idtext[32];
	const char *v[1] = { idtext };

	snprintf(idtext, sizeof(idtext), "%lld", id);
	test_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only");
	CU_ASSERT_EQUAL(db_exec_sql(test_db, edit, 1, v, NULL), OK);
	test_verify(ERR_CONFLICT, id);
	CU_ASSERT_EQUAL(db_exec_sql(test_db, undo, 1, v, NULL), OK);
	test_sql("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only");
	test_verify(OK, 0);
}

static void
test_tamper(void)
{
	int i;

	test_reset();
	for (i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(test_append("login", "198.51.100.1", true), OK);
	test_verify(OK, 0);
	/* The trigger refuses an UPDATE outright. */
	CU_ASSERT_EQUAL(
	    db_exec_sql(
	        test_db, "UPDATE audit_log SET success = false", 0, NULL, NULL),
	    ERR_DB);
	test_tamper_column("UPDATE audit_log SET details = details || "
	                   "'{\"alpha\": \"x\"}' WHERE id = $1::bigint",
	    "UPDATE audit_log SET details = details || '{\"alpha\": "
	    "\"a\\\"b\"}' "
	    "WHERE id = $1::bigint");
	test_tamper_column(
	    "UPDATE audit_log SET success = false WHERE id = $1::bigint",
	    "UPDATE audit_log SET success = true WHERE id = $1::bigint");
	test_tamper_column(
	    "UPDATE audit_log SET action = 'logout' WHERE id = $1::bigint",
	    "UPDATE audit_log SET action = 'login' WHERE id = $1::bigint");
	test_tamper_column("UPDATE audit_log SET ts = ts + interval '1 "
	                   "microsecond' WHERE id = $1::bigint",
	    "UPDATE audit_log SET ts = ts - interval '1 microsecond' WHERE id "
	    "= $1::bigint");
	test_tamper_column("UPDATE audit_log SET ip_address = '198.51.100.2' "
	                   "WHERE id = $1::bigint",
	    "UPDATE audit_log SET ip_address = '198.51.100.1' WHERE id = "
	    "$1::bigint");
	test_tamper_column(
	    "UPDATE audit_log SET username = NULL WHERE id = $1::bigint",
	    "UPDATE audit_log SET username = 'alice' WHERE id = $1::bigint");
	/* A row whose stored hash was replaced fails its own check. */
	test_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only");
	{
		long long id3 = test_nth_id(3);
		char t[32];
		const char *v[1] = { t };

		snprintf(t, sizeof(t), "%lld", id3);
		CU_ASSERT_EQUAL(db_exec_sql(test_db,
		                    "UPDATE audit_log SET row_hash = "
		                    "sha256(row_hash) WHERE id = $1::bigint",
		                    1, v, NULL),
		    OK);
		test_verify(ERR_CONFLICT, id3);
	}
	test_reset();
}

static void
test_delete(void)
{
	long long id3, id4;
	char t[32];
	const char *v[1] = { t };
	int i;

	test_reset();
	for (i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(test_append("tool.call", NULL, true), OK);
	/* Retention: the oldest rows go, the first remaining is the anchor. */
	test_sql("DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log "
	         "ORDER BY id LIMIT 2)");
	test_verify(OK, 0);
	CU_ASSERT_EQUAL(test_count(), 4);
	/* Appending after retention continues the chain. */
	CU_ASSERT_EQUAL(test_append("tool.call", NULL, true), OK);
	test_verify(OK, 0);
	/* A row removed from the middle: reported at the row after it. */
	id3 = test_nth_id(2);
	id4 = test_nth_id(3);
	snprintf(t, sizeof(t), "%lld", id3);
	CU_ASSERT_EQUAL(
	    db_exec_sql(test_db, "DELETE FROM audit_log WHERE id = $1::bigint",
	        1, v, NULL),
	    OK);
	test_verify(ERR_CONFLICT, id4);
	/* The newest row removed as well: still the same first break. */
	test_sql("DELETE FROM audit_log WHERE id = (SELECT max(id) FROM "
	         "audit_log)");
	test_verify(ERR_CONFLICT, id4);
	test_reset();
	test_verify(OK, 0);
}

/* More rows than one verify batch: pagination keeps the links. */
static void
test_many(void)
{
	int i;

	test_reset();
	for (i = 0; i < 2345; i++)
		if (test_append("tool.call", "127.0.0.1", i % 2 == 0) != OK) {
			CU_FAIL("append");
			break;
		}
	test_verify(OK, 0);
	test_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only");
	{
		long long id = test_nth_id(2001);
		char t[32];
		const char *v[1] = { t };

		snprintf(t, sizeof(t), "%lld", id);
		CU_ASSERT_EQUAL(db_exec_sql(test_db,
		                    "UPDATE audit_log SET resource = 'x' "
		                    "WHERE id = $1::bigint",
		                    1, v, NULL),
		    OK);
		test_verify(ERR_CONFLICT, id);
	}
	test_reset();
}

static void
test_invalid(void)
{
	static const char *const bad_actions[] = { "", "Login", "1login",
		"log in", "user-create", "_x", ".x", "login\n", "l\xc3\xa9",
		"a1234567890123456789012345678901234567890123456789012345678901"
		"234",
		NULL };
	static const char *const bad_ips[] = { "", "1.2.3", "1.2.3.4.5",
		"256.1.1.1", "10.0.0.0/8", "::g", "fe80::1%eth0", "localhost",
		" 1.2.3.4", NULL };
	struct audit_event ev = { 0 };
	struct json_object *arr;
	int i;

	test_reset();
	for (i = 0; bad_actions[i] != NULL; i++)
		CU_ASSERT_EQUAL(
		    test_append(bad_actions[i], NULL, true), ERR_INVALID);
	ev.action = NULL;
	CU_ASSERT_EQUAL(audit_append(test_db, &ev), ERR_INVALID);
	for (i = 0; bad_ips[i] != NULL; i++)
		CU_ASSERT_EQUAL(
		    test_append("login", bad_ips[i], true), ERR_INVALID);
	ev.action = "login";
	ev.user_id = -1;
	CU_ASSERT_EQUAL(audit_append(test_db, &ev), ERR_INVALID);
	ev.user_id = 0;
	arr = json_object_new_array();
	ev.details = arr;
	CU_ASSERT_EQUAL(audit_append(test_db, &ev), ERR_INVALID);
	json_object_put(arr);
	CU_ASSERT_EQUAL(test_count(), 0);
	/* 64 characters is the longest name; IPv4-mapped IPv6 is fine. */
	CU_ASSERT_EQUAL(test_append("a12345678901234567890123456789012345678"
	                            "9012345678901234567890123",
	                    "::ffff:192.0.2.1", true),
	    OK);
	CU_ASSERT_EQUAL(test_count(), 1);
	test_verify(OK, 0);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "audit", "appends link and hash as documented", test_chain },
		{ "audit", "append joins the caller's transaction",
		    test_in_tx },
		{ "audit", "two processes appending keep one chain",
		    test_concurrent },
		{ "audit", "an edited row is reported", test_tamper },
		{ "audit", "deleted rows: retention ok, middle reported",
		    test_delete },
		{ "audit", "verify pages through many rows", test_many },
		{ "audit", "bad action, address, details refused",
		    test_invalid },
	};
	int status;

	if ((test_url = getenv("DATABASE_URL")) == NULL || *test_url == '\0') {
		fprintf(stderr, "test_audit: DATABASE_URL not set; skipped\n");
		return 77;
	}
	/* Verify failures are logged at WARN on purpose; keep output quiet. */
	log_init("test_audit", LOG_LVL_ERROR);
	if ((test_db = db_new(test_url, 5)) == NULL ||
	    db_connect(test_db) != OK) {
		fprintf(stderr, "test_audit: cannot connect to DATABASE_URL\n");
		db_free(test_db);
		return 1;
	}
	status = unit_run(tests, UNIT_COUNT(tests));
	db_free(test_db);
	return status;
}
