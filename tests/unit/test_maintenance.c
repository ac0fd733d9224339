/*
 * test_maintenance.c - CUnit suite for shared/maintenance.c: the cases the
 * integration test (tests/integration/test_maintenance.sh, a million rows
 * under load) does not reach: audit retention when every row is old and
 * when clock skew puts an old row behind a young one, the runner that finds
 * the lock taken, an unreachable database, runs that must stay.
 *
 * Needs a migrated PostgreSQL database in DATABASE_URL
 * (tests/unit/test_maintenance.sh starts a private one and runs `berth
 * migrate`); without it the program exits 77, "skipped" to automake. Each
 * test starts from empty tables. Old audit rows are written by SQL that
 * hashes them as shared/audit.c documents ("berth-audit-v1"), so the chain
 * is genuine and `audit_verify()` must accept it before and after.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "audit.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "maintenance.h"
#include "unit.h"

static const char *test_url;
static struct db *test_db;
static struct config *test_cfg;

/*
 * Appends a row dated $1 (an interval) ago, hashed as audit.c does: F(x)
 * is the 4-byte big-endian length and the bytes, or FF FF FF FF for NULL;
 * ts in microseconds since the epoch.
 */
static const char test_sql_row[] =
    "WITH p AS (SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1),"
    " v AS (SELECT date_trunc('milliseconds', now() - $1::interval) AS ts),"
    " f AS (SELECT v.ts, convert_to((extract(epoch FROM v.ts) * 1000000)"
    "::bigint::text, 'UTF8') AS us FROM v)"
    " INSERT INTO audit_log (ts, username, action, success, details,"
    " prev_hash, row_hash)"
    " SELECT f.ts, 'u', 'test.row', true, '{}', (SELECT row_hash FROM p),"
    " sha256(coalesce((SELECT row_hash FROM p), decode(repeat('00', 32),"
    " 'hex')) || convert_to('berth-audit-v1', 'UTF8')"
    " || int4send(length(f.us)) || f.us || '\\xffffffff'::bytea"
    " || int4send(1) || convert_to('u', 'UTF8')"
    " || int4send(8) || convert_to('test.row', 'UTF8')"
    " || '\\xffffffffffffffffffffffff'::bytea"
    " || int4send(1) || convert_to('t', 'UTF8')"
    " || int4send(2) || convert_to('{}', 'UTF8')) FROM f";

/* Runs sql (no result wanted); CUnit-fails when it fails. */
static void
test_sql(const char *sql)
{
	berr rc = db_exec_sql(test_db, sql, 0, NULL, NULL);

	CU_ASSERT_EQUAL(rc, OK);
	if (rc != OK)
		fprintf(stderr, "test_maintenance: failed: %s\n", sql);
}

/* The first column of the first row of sql as a long long; -1 on error. */
static long long
test_ll(const char *sql)
{
	PGresult *res = NULL;
	long long v = -1;

	if (db_exec_sql(test_db, sql, 0, NULL, &res) == OK &&
	    PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

/* Appends a hashed audit row dated ago ("400 days", "1 hour") ago. */
static void
test_row(const char *ago)
{
	const char *v[1] = { ago };

	CU_ASSERT_EQUAL(db_exec_sql(test_db, test_sql_row, 1, v, NULL), OK);
}

static void
test_reset(void)
{
	test_sql("DELETE FROM audit_log");
	test_sql("DELETE FROM lighthouse_outbox");
	test_sql("DELETE FROM runs");
	test_sql("DELETE FROM sessions");
	test_sql("DELETE FROM users");
}

static void
test_verify_ok(void)
{
	long long checked = -1, bad = -1;

	CU_ASSERT_EQUAL(audit_verify(test_db, &checked, &bad), OK);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(checked, test_ll("SELECT count(*) FROM audit_log"));
}

/* Nothing to do: OK, every count 0, not skipped, lock released. */
static void
test_empty(void)
{
	struct maintenance_stats st;

	test_reset();
	CU_ASSERT_EQUAL(maintenance_run(test_db, test_cfg, &st), OK);
	CU_ASSERT_FALSE(st.skipped);
	CU_ASSERT_EQUAL(st.sessions + st.token_cache + st.mcp_sessions +
	        st.auth_failures + st.runs + st.run_events + st.outbox +
	        st.audit,
	    0);
	CU_ASSERT_EQUAL(st.batches, 0);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM pg_locks WHERE "
	                        "locktype = 'advisory' AND classid = "
	                        "1113944692 AND objid = 3"),
	    0);
}

/* Every row old: all go but the newest, which the next append links to. */
static void
test_audit_all_old(void)
{
	struct maintenance_stats st;
	long long newest;
	int i;

	test_reset();
	for (i = 0; i < 5; i++)
		test_row("400 days");
	test_verify_ok();
	newest = test_ll("SELECT max(id) FROM audit_log");
	CU_ASSERT_EQUAL(maintenance_run(test_db, test_cfg, &st), OK);
	CU_ASSERT_EQUAL(st.audit, 4);
	/* The survivor, then the audit.retention row linked to it. */
	CU_ASSERT_EQUAL(test_ll("SELECT min(id) FROM audit_log"), newest);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM audit_log WHERE action "
	                        "= 'audit.retention' AND details->>'deleted' "
	                        "= '4'"),
	    1);
	test_verify_ok();
}

/*
 * Clock skew: old, old, young, old, young. Only the prefix before the
 * first young row goes; the old row behind it waits.
 */
static void
test_audit_skew(void)
{
	struct maintenance_stats st;

	test_reset();
	test_row("400 days");
	test_row("399 days");
	test_row("1 hour");
	test_row("398 days");
	test_row("1 minute");
	test_verify_ok();
	CU_ASSERT_EQUAL(maintenance_run(test_db, test_cfg, &st), OK);
	CU_ASSERT_EQUAL(st.audit, 2);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM audit_log WHERE ts < "
	                        "now() - interval '365 days'"),
	    1);
	test_verify_ok();
	/* A second pass changes nothing. */
	CU_ASSERT_EQUAL(maintenance_run(test_db, test_cfg, &st), OK);
	CU_ASSERT_EQUAL(st.audit, 0);
	test_verify_ok();
}

/* Another session holds the lock: skipped, nothing deleted. */
static void
test_skipped(void)
{
	struct maintenance_stats st;
	struct db *other;

	test_reset();
	test_sql("INSERT INTO users (username) VALUES ('m')");
	test_sql("INSERT INTO sessions (token_digest, user_id, created_at, "
	         "expires_at) SELECT sha256(int8send(g)), (SELECT id FROM "
	         "users), now() - interval '2 days', now() - interval '1 day' "
	         "FROM generate_series(1, 10) g");
	other = db_new(test_url, 5);
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	CU_ASSERT_EQUAL(
	    db_exec_sql(
	        other, "SELECT pg_advisory_lock(1113944692, 3)", 0, NULL, NULL),
	    OK);
	CU_ASSERT_EQUAL(maintenance_run(test_db, test_cfg, &st), OK);
	CU_ASSERT_TRUE(st.skipped);
	CU_ASSERT_EQUAL(st.sessions, 0);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM sessions"), 10);
	CU_ASSERT_EQUAL(
	    db_exec_sql(other, "SELECT pg_advisory_unlock(1113944692, 3)", 0,
	        NULL, NULL),
	    OK);
	db_free(other);
	CU_ASSERT_EQUAL(maintenance_run(test_db, test_cfg, &st), OK);
	CU_ASSERT_FALSE(st.skipped);
	CU_ASSERT_EQUAL(st.sessions, 10);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM audit_log WHERE action "
	                        "= 'session_expired' AND details->>'count' = "
	                        "'10'"),
	    1);
	test_verify_ok();
}

/*
 * The lock lost between two batches (as when db.c reconnects after a lost
 * connection): a trigger releases it during the first batch of sessions;
 * the second batch sees it gone and stops the pass with ERR_CONFLICT.
 */
static void
test_lock_lost(void)
{
	struct maintenance_stats st;

	test_reset();
	test_sql("CREATE FUNCTION test_maint_unlock() RETURNS trigger "
	         "LANGUAGE plpgsql AS $$ BEGIN PERFORM "
	         "pg_advisory_unlock(1113944692, 3); RETURN NULL; END $$");
	test_sql("CREATE TRIGGER test_maint_unlock AFTER DELETE ON sessions "
	         "FOR EACH STATEMENT EXECUTE FUNCTION test_maint_unlock()");
	test_sql("INSERT INTO users (username) VALUES ('m')");
	test_sql("INSERT INTO sessions (token_digest, user_id, created_at, "
	         "expires_at) SELECT sha256(int8send(g)), (SELECT id FROM "
	         "users), now() - interval '2 days', now() - interval '1 day' "
	         "FROM generate_series(1, 6000) g");
	CU_ASSERT_EQUAL(maintenance_run(test_db, test_cfg, &st), ERR_CONFLICT);
	CU_ASSERT_EQUAL(st.sessions, 5000);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM sessions"), 1000);
	test_sql("DROP TRIGGER test_maint_unlock ON sessions");
	test_sql("DROP FUNCTION test_maint_unlock()");
	CU_ASSERT_EQUAL(maintenance_run(test_db, test_cfg, &st), OK);
	CU_ASSERT_EQUAL(st.sessions, 1000);
	test_verify_ok();
}

/* Unreachable database: ERR_DB_DOWN at once, nothing claimed. */
static void
test_down(void)
{
	struct maintenance_stats st;
	struct db *down = db_new("postgresql://127.0.0.1:1/none", 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(down);
	CU_ASSERT_EQUAL(maintenance_run(down, test_cfg, &st), ERR_DB_DOWN);
	CU_ASSERT_FALSE(st.skipped);
	CU_ASSERT_EQUAL(st.sessions, 0);
	CU_ASSERT_EQUAL(maintenance_count(down, test_cfg, &st), ERR_DB_DOWN);
	db_free(down);
}

/*
 * Old runs: a finished one goes (with its acknowledged report); one still
 * running, one queued and one whose report is unacknowledged stay.
 */
static void
test_runs(void)
{
	struct maintenance_stats st, dry;

	test_reset();
	test_sql("INSERT INTO runs (agent_name, environment, status, source, "
	         "created_at, finished_at) VALUES ('done', 'dev', 'cancelled', "
	         "'cli', now() - interval '91 days', now() - interval '91 "
	         "days')");
	test_sql("INSERT INTO lighthouse_outbox (run_id, attempts, acked_at) "
	         "SELECT id, 1, now() FROM runs WHERE agent_name = 'done'");
	test_sql("INSERT INTO runs (agent_name, environment, status, source, "
	         "created_at, claimed_by, started_at) VALUES ('busy', 'dev', "
	         "'running', 'cli', now() - interval '91 days', 'h:1:1', now() "
	         "- interval '91 days')");
	test_sql("INSERT INTO runs (agent_name, environment, source, "
	         "created_at) VALUES ('waiting', 'dev', 'cli', now() - "
	         "interval '91 days')");
	test_sql("INSERT INTO runs (agent_name, environment, status, source, "
	         "created_at, finished_at) VALUES ('unsent', 'dev', "
	         "'succeeded', 'lighthouse', now() - interval '91 days', now() "
	         "- interval '91 days')");
	test_sql("INSERT INTO lighthouse_outbox (run_id, attempts) SELECT id, "
	         "2 FROM runs WHERE agent_name = 'unsent'");
	test_sql("INSERT INTO run_events (run_id, seq, kind) SELECT id, 0, "
	         "'step' FROM runs");
	CU_ASSERT_EQUAL(maintenance_count(test_db, test_cfg, &dry), OK);
	CU_ASSERT_EQUAL(maintenance_run(test_db, test_cfg, &st), OK);
	CU_ASSERT_EQUAL(st.runs, 1);
	CU_ASSERT_EQUAL(st.run_events, 1);
	CU_ASSERT_EQUAL(st.outbox, 1);
	CU_ASSERT_EQUAL(dry.runs, st.runs);
	CU_ASSERT_EQUAL(dry.run_events, st.run_events);
	CU_ASSERT_EQUAL(dry.outbox, st.outbox);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM runs WHERE agent_name "
	                        "IN ('busy', 'waiting', 'unsent')"),
	    3);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM run_events"), 3);
	CU_ASSERT_EQUAL(test_ll("SELECT count(*) FROM lighthouse_outbox"), 1);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "maintenance", "nothing to do", test_empty },
		{ "maintenance", "audit: all old, the newest row stays",
		    test_audit_all_old },
		{ "maintenance", "audit: clock skew, only the prefix goes",
		    test_audit_skew },
		{ "maintenance", "lock held elsewhere: skipped", test_skipped },
		{ "maintenance", "lock lost between batches: the pass stops",
		    test_lock_lost },
		{ "maintenance", "database down", test_down },
		{ "maintenance", "runs: only finished and acknowledged ones go",
		    test_runs },
	};
	int status;

	if ((test_url = getenv("DATABASE_URL")) == NULL || *test_url == '\0') {
		fprintf(stderr,
		    "test_maintenance: DATABASE_URL not set; skipped\n");
		return 77;
	}
	log_init("test_maintenance", LOG_LVL_ERROR);
	if (config_load_buffer("defaults", "", 0, &test_cfg, NULL) != OK) {
		fprintf(stderr, "test_maintenance: default config failed\n");
		return 1;
	}
	if ((test_db = db_new(test_url, 5)) == NULL ||
	    db_connect(test_db) != OK) {
		fprintf(stderr,
		    "test_maintenance: cannot connect to DATABASE_URL\n");
		db_free(test_db);
		config_free(test_cfg);
		return 1;
	}
	status = unit_run(tests, UNIT_COUNT(tests));
	db_free(test_db);
	config_free(test_cfg);
	return status;
}
