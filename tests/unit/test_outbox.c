/*
 * test_outbox.c - CUnit suite for shared/outbox.c: a run finished and its
 * report enqueued in one transaction, taking due rows, acknowledging,
 * refusals, re-arming after a reconnect.
 *
 * Needs a migrated PostgreSQL database in DATABASE_URL
 * (tests/unit/test_outbox.sh starts a private one and runs `berth migrate`);
 * without it the program exits 77, "skipped" to automake.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "db.h"
#include "log.h"
#include "outbox.h"
#include "unit.h"

static struct db *test_db;

/* The first column of the first row of sql as text ("" on error), static. */
static const char *
test_str(const char *sql)
{
	static char buf[256];
	PGresult *res = NULL;

	buf[0] = '\0';
	if (db_exec_sql(test_db, sql, 0, NULL, &res) == OK &&
	    PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		snprintf(buf, sizeof(buf), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return buf;
}

/* A new queued run; its id in id (size 24). */
static void
test_new_run(char *id)
{
	snprintf(id, 24, "%s",
	    test_str("INSERT INTO runs (agent_name, environment, source) "
	             "VALUES ('a', 'default', 'cli') RETURNING id"));
	CU_ASSERT_NOT_EQUAL(id[0], '\0');
}

static void
test_finish(void)
{
	char id[24], sql[256];

	test_new_run(id);
	CU_ASSERT_EQUAL(
	    outbox_finish_run(test_db, id, "succeeded", "done", NULL), OK);
	snprintf(sql, sizeof(sql),
	    "SELECT r.status || '|' || (r.finished_at IS NOT NULL) || '|' || "
	    "count(o.id) || '|' || bool_and(o.payload->>'run_id' ~ "
	    "'^[0-9a-f-]{36}$') "
	    "FROM runs r JOIN lighthouse_outbox o ON o.run_id = r.id "
	    "WHERE r.id = %s GROUP BY r.id",
	    id);
	CU_ASSERT_STRING_EQUAL(test_str(sql), "succeeded|true|1|true");
	/* Twice: the run is already finished, nothing changes. */
	CU_ASSERT_EQUAL(
	    outbox_finish_run(test_db, id, "failed", NULL, "x"), ERR_CONFLICT);
	CU_ASSERT_EQUAL(
	    outbox_finish_run(test_db, "999999999", "succeeded", NULL, NULL),
	    ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(
	    outbox_finish_run(test_db, id, "running", NULL, NULL), ERR_INVALID);
	CU_ASSERT_EQUAL(
	    outbox_finish_run(test_db, id, "failed", NULL, NULL), ERR_INVALID);
}

/* No report without its run (foreign key), and none for a queued run. */
static void
test_atomic(void)
{
	char id[24], sql[256];

	test_new_run(id);
	CU_ASSERT_NOT_EQUAL(outbox_enqueue(test_db, "888888888"), OK);
	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM lighthouse_outbox WHERE run_id = %s", id);
	CU_ASSERT_STRING_EQUAL(test_str(sql), "0");
}

static void
test_take_ack(void)
{
	PGresult *res = NULL;
	char id[24], oid[24];
	int i;

	CU_ASSERT_EQUAL(db_exec_sql(test_db,
	                    "UPDATE lighthouse_outbox SET acked_at = now(), "
	                    "attempts = 1 WHERE acked_at IS NULL",
	                    0, NULL, NULL),
	    OK);
	test_new_run(id);
	CU_ASSERT_EQUAL(
	    outbox_finish_run(test_db, id, "failed", NULL, "boom"), OK);
	CU_ASSERT_EQUAL(outbox_take_due(test_db, 10, 60, &res), OK);
	CU_ASSERT_EQUAL(PQntuples(res), 1);
	if (PQntuples(res) == 1) {
		snprintf(oid, sizeof(oid), "%s",
		    PQgetvalue(res, 0, PQfnumber(res, "outbox_id")));
		CU_ASSERT_STRING_EQUAL(
		    PQgetvalue(res, 0, PQfnumber(res, "status")), "failed");
		CU_ASSERT_STRING_EQUAL(
		    PQgetvalue(res, 0, PQfnumber(res, "error")), "boom");
		CU_ASSERT_STRING_EQUAL(
		    PQgetvalue(res, 0, PQfnumber(res, "attempts")), "1");
	} else {
		oid[0] = '\0';
	}
	PQclear(res);
	/* Not due again before retry_s... */
	CU_ASSERT_EQUAL(outbox_take_due(test_db, 10, 60, &res), OK);
	CU_ASSERT_EQUAL(PQntuples(res), 0);
	PQclear(res);
	/* ...but at once after a re-arm, with the same run id. */
	CU_ASSERT_EQUAL(outbox_rearm(test_db), OK);
	for (i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(outbox_take_due(test_db, 10, 60, &res), OK);
		CU_ASSERT_EQUAL(PQntuples(res), i == 0 ? 1 : 0);
		PQclear(res);
	}
	CU_ASSERT_EQUAL(outbox_refused(test_db, oid, "nope", 0), OK);
	CU_ASSERT_STRING_EQUAL(
	    test_str("SELECT last_error FROM lighthouse_outbox "
	             "WHERE acked_at IS NULL"),
	    "nope");
	CU_ASSERT_EQUAL(outbox_ack(test_db, oid), OK);
	CU_ASSERT_EQUAL(outbox_ack(test_db, oid), ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(outbox_take_due(test_db, 10, 0, &res), OK);
	CU_ASSERT_EQUAL(PQntuples(res), 0);
	PQclear(res);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "outbox", "finish a run and enqueue its report",
		    test_finish },
		{ "outbox", "no report without its run", test_atomic },
		{ "outbox", "take, retry delay, re-arm, refuse, acknowledge",
		    test_take_ack },
	};
	const char *url = getenv("DATABASE_URL");
	int status;

	if (url == NULL || *url == '\0') {
		fprintf(stderr, "test_outbox: DATABASE_URL not set; skipped\n");
		return 77;
	}
	log_init("test_outbox", LOG_LVL_ERROR);
	if ((test_db = db_new(url, 5)) == NULL || db_connect(test_db) != OK) {
		fprintf(
		    stderr, "test_outbox: cannot connect to DATABASE_URL\n");
		db_free(test_db);
		return 1;
	}
	status = unit_run(tests, UNIT_COUNT(tests));
	db_free(test_db);
	return status;
}
