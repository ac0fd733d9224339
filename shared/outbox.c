/*
 * outbox.c - lighthouse_outbox rows: enqueue, take, acknowledge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox.h"

#define SQL_ENQUEUE                                               \
	"INSERT INTO lighthouse_outbox (run_id, kind, payload) "  \
	"VALUES ($1::bigint, 'send_run', "                        \
	"jsonb_build_object('run_id', gen_random_uuid()::text)) " \
	"ON CONFLICT (run_id, kind) DO NOTHING"

#define SQL_FINISH                                                       \
	"UPDATE runs SET status = $2, final_response = $3, error = $4, " \
	"finished_at = greatest(now(), started_at) "                     \
	"WHERE id = $1::bigint AND finished_at IS NULL RETURNING id"

#define SQL_TAKE                                                               \
	"WITH due AS (SELECT id FROM lighthouse_outbox "                       \
	" WHERE acked_at IS NULL AND kind = 'send_run' "                       \
	" AND next_attempt_at <= now() ORDER BY id LIMIT $1::int "             \
	" FOR UPDATE SKIP LOCKED) "                                            \
	"UPDATE lighthouse_outbox o SET attempts = o.attempts + 1, "           \
	" sent_at = now(), "                                                   \
	" next_attempt_at = now() + make_interval(secs => $2::int) "           \
	"FROM due, runs r WHERE o.id = due.id AND r.id = o.run_id "            \
	"RETURNING o.id AS outbox_id, o.attempts, "                            \
	" coalesce(r.lighthouse_run_id, o.payload->>'run_id', "                \
	"  'berth-run-' || r.id) AS report_run_id, "                           \
	" r.id AS run_id, r.agent_id, r.agent_name, r.environment, r.status, " \
	" coalesce(r.input->>'task', '') AS task, r.final_response, "          \
	" r.error, r.model, r.steps, r.input_tokens, r.output_tokens, "        \
	" r.total_tokens, extract(epoch FROM r.started_at) AS started_epoch, " \
	" extract(epoch FROM r.finished_at) AS finished_epoch, "               \
	" coalesce((extract(epoch FROM r.finished_at - r.started_at) "         \
	"  * 1000)::bigint, 0) AS duration_ms, r.source, "                     \
	" r.tool_calls::text AS tool_calls, "                                  \
	" (SELECT coalesce(json_agg(json_build_object('seq', e.seq, "          \
	"  'kind', e.kind, 'payload', e.payload, "                             \
	"  'at', extract(epoch FROM e.at)) ORDER BY e.seq), '[]')::text "      \
	"  FROM (SELECT * FROM run_events WHERE run_id = r.id "                \
	"   AND kind IN ('llm_call', 'tool_call') ORDER BY seq LIMIT 512) e) " \
	"  AS step_events"

struct outbox_finish {
	const char *run_id, *status, *final_response, *error;
};

berr
outbox_enqueue(struct db *db, const char *run_id)
{
	const char *v[1] = { run_id };

	return db_exec_sql(db, SQL_ENQUEUE, 1, v, NULL);
}

static berr
outbox_finish_tx(struct db *db, void *arg)
{
	struct outbox_finish *f = arg;
	const char *v[4] = { f->run_id, f->status, f->final_response,
		f->error };
	const char *one[1] = { f->run_id };
	PGresult *res = NULL;
	berr rc;

	if ((rc = db_exec_sql(db, SQL_FINISH, 4, v, &res)) != OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		res = NULL;
		rc = db_exec_sql(db, "SELECT 1 FROM runs WHERE id = $1::bigint",
		    1, one, &res);
		if (rc == OK)
			rc = PQntuples(res) > 0 ? ERR_CONFLICT : ERR_NOT_FOUND;
		PQclear(res);
		return rc;
	}
	PQclear(res);
	return outbox_enqueue(db, f->run_id);
}

berr
outbox_finish_run(struct db *db, const char *run_id, const char *status,
    const char *final_response, const char *error)
{
	struct outbox_finish f = { run_id, status, final_response, error };

	if (status == NULL ||
	    (strcmp(status, "succeeded") != 0 &&
	        strcmp(status, "failed") != 0 &&
	        strcmp(status, "cancelled") != 0))
		return ERR_INVALID;
	if (strcmp(status, "failed") == 0 && error == NULL)
		return ERR_INVALID;
	return db_tx(db, outbox_finish_tx, &f);
}

berr
outbox_take_due(struct db *db, int limit, int retry_s, PGresult **res)
{
	char lim[16], retry[16];
	const char *v[2] = { lim, retry };

	snprintf(lim, sizeof(lim), "%d", limit);
	snprintf(retry, sizeof(retry), "%d", retry_s);
	return db_exec_sql(db, SQL_TAKE, 2, v, res);
}

berr
outbox_ack(struct db *db, const char *outbox_id)
{
	const char *v[1] = { outbox_id };
	PGresult *res = NULL;
	berr rc;

	rc = db_exec_sql(db,
	    "UPDATE lighthouse_outbox SET acked_at = now(), last_error = NULL "
	    "WHERE id = $1::bigint AND acked_at IS NULL AND attempts > 0 "
	    "RETURNING id",
	    1, v, &res);
	if (rc == OK && PQntuples(res) == 0)
		rc = ERR_NOT_FOUND;
	PQclear(res);
	return rc;
}

berr
outbox_refused(
    struct db *db, const char *outbox_id, const char *err, int retry_s)
{
	char retry[16];
	const char *v[3] = { outbox_id, err, retry };

	snprintf(retry, sizeof(retry), "%d", retry_s);
	return db_exec_sql(db,
	    "UPDATE lighthouse_outbox SET last_error = left($2, 500), "
	    "next_attempt_at = now() + make_interval(secs => $3::int) "
	    "WHERE id = $1::bigint AND acked_at IS NULL",
	    3, v, NULL);
}

berr
outbox_rearm(struct db *db)
{
	return db_exec_sql(db,
	    "UPDATE lighthouse_outbox SET next_attempt_at = now() "
	    "WHERE acked_at IS NULL AND next_attempt_at > now()",
	    0, NULL, NULL);
}
