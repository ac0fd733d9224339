/*
 * maintenance.c - housekeeping in batches. See maintenance.h.
 *
 * Batches. Each step repeats one statement that picks at most MAINT_BATCH
 * rows through an index (oldest first) with FOR UPDATE SKIP LOCKED and
 * deletes them by ctid (a row locked by this statement cannot move; a TID
 * scan spares a second index lookup per row, 40% of a batch's time), until
 * a batch comes back short. Each batch is its own transaction, about 50 ms
 * for 5000 sessions: a responder touching a session (last_used_at) never
 * waits for the deletion, and the deletion never waits for it (a row
 * locked right now is simply left for the next pass).
 *
 * The lock. maintenance_run() takes the session advisory lock (1113944692,
 * 3) with pg_try_advisory_lock (keys 1 and 2 are the migrator's and the
 * audit log's). Every batch transaction first checks, in pg_locks, that its
 * own backend still holds it: db.c reconnects between transactions after a
 * lost connection, and the lock dies with the old one. A batch on a new
 * connection stops the pass instead of running beside another runner.
 *
 * Expired login sessions are audited one row per batch, not per session: a
 * million expiries would otherwise append a million rows to the hash chain,
 * each one serialised on the audit lock, and the log would be mostly this.
 * The row (action session_expired, in the transaction of the deletion, so
 * the deletion and its record commit together) says how many, which session
 * ids (first and last), how many users and the first 50 user ids. An
 * expiry is the planned end of a credential, not a decision anyone made;
 * the login and logout that bound it are audited one by one elsewhere.
 *
 * Audit retention deletes only a prefix of the chain in id order: rows up
 * to, not including, the first row that is still within the retention
 * period, and never the newest row. The first remaining row's prev_hash
 * then points at a deleted row; audit_verify() takes it as the anchor and
 * checks every link after it. Deleting from the middle (a row older than
 * the cutoff behind a younger one, which clock skew between hosts can
 * produce) would break the chain, so such a row waits until the rows before
 * it go. The newest row stays so the next append links to it instead of
 * starting a second chain. A pass that removed audit rows appends one
 * audit.retention row saying how many and where the chain now starts.
 */
#include "maintenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "audit.h"
#include "clock.h"
#include "config.h"
#include "log.h"

/* Rows per statement (sessions, token cache, MCP sessions, auth failures,
 * audit log). */
#define MAINT_BATCH "5000"
/* Runs per transaction: each drags its run_events along. */
#define MAINT_RUN_BATCH "500"
/* User ids named in one session_expired audit row. */
#define MAINT_AUDIT_USERS "50"

#define MAINT_LOCK_NS  "1113944692"
#define MAINT_LOCK_KEY "3"

static const char maint_sql_lock[] =
    "SELECT pg_try_advisory_lock(" MAINT_LOCK_NS ", " MAINT_LOCK_KEY
    ") AS locked";
static const char maint_sql_unlock[] =
    "SELECT pg_advisory_unlock(" MAINT_LOCK_NS ", " MAINT_LOCK_KEY ")";
/* A two-key advisory lock shows as classid, objid and objsubid 2. */
static const char maint_sql_held[] =
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
    " AND classid = " MAINT_LOCK_NS " AND objid = " MAINT_LOCK_KEY
    " AND objsubid = 2 AND pid = pg_backend_pid() AND granted) AS held";

/* Every deletion returns n, the rows it deleted. */
static const char maint_sql_sessions[] =
    "WITH d AS (DELETE FROM sessions WHERE ctid = ANY(ARRAY(SELECT ctid FROM"
    " sessions WHERE expires_at < now() ORDER BY expires_at LIMIT " MAINT_BATCH
    " FOR UPDATE SKIP LOCKED)) RETURNING id, user_id)"
    " SELECT count(*) AS n, jsonb_build_object('count', count(*),"
    " 'first_id', min(id), 'last_id', max(id),"
    " 'users', count(DISTINCT user_id),"
    " 'user_ids', to_jsonb((array_agg(DISTINCT user_id))[1:" MAINT_AUDIT_USERS
    "]), 'by', 'maintenance')::text AS details FROM d";
static const char maint_sql_token_cache[] =
    "WITH d AS (DELETE FROM token_cache WHERE ctid = ANY(ARRAY(SELECT ctid"
    " FROM token_cache WHERE expires_at < now() ORDER BY expires_at"
    " LIMIT " MAINT_BATCH " FOR UPDATE SKIP LOCKED)) RETURNING 1)"
    " SELECT count(*) AS n FROM d";
static const char maint_sql_mcp_absolute[] =
    "WITH d AS (DELETE FROM mcp_sessions WHERE ctid = ANY(ARRAY(SELECT ctid"
    " FROM mcp_sessions WHERE expires_at < now() ORDER BY expires_at"
    " LIMIT " MAINT_BATCH " FOR UPDATE SKIP LOCKED)) RETURNING 1)"
    " SELECT count(*) AS n FROM d";
/* $1 sessions.mcp_idle_timeout: load() refuses these already. */
static const char maint_sql_mcp_idle[] =
    "WITH d AS (DELETE FROM mcp_sessions WHERE ctid = ANY(ARRAY(SELECT ctid"
    " FROM mcp_sessions WHERE last_used_at < now() - make_interval(secs =>"
    " $1::int) ORDER BY last_used_at LIMIT " MAINT_BATCH
    " FOR UPDATE SKIP LOCKED)) RETURNING 1) SELECT count(*) AS n FROM d";
/* $1 auth.lockout_window: a row past its window counts nothing. */
static const char maint_sql_auth_failures[] =
    "WITH d AS (DELETE FROM auth_failures WHERE ctid = ANY(ARRAY(SELECT"
    " ctid FROM auth_failures WHERE window_start < now() -"
    " make_interval(secs => $1::int) AND (locked_until IS NULL OR"
    " locked_until <= now()) ORDER BY window_start LIMIT " MAINT_BATCH
    " FOR UPDATE SKIP LOCKED)) RETURNING 1) SELECT count(*) AS n FROM d";
/*
 * $1 retention.runs_days. The runs of one batch: finished, old enough, and
 * with no report Lighthouse has yet to acknowledge. Locked, so no report
 * can be enqueued for them before they go.
 */
static const char maint_sql_runs_pick[] =
    "SELECT count(*) AS n, coalesce(array_agg(id), '{}')::text AS ids FROM"
    " (SELECT r.id FROM runs r WHERE r.created_at < now() -"
    " make_interval(days => $1::int) AND r.status IN ('succeeded',"
    " 'failed', 'cancelled') AND NOT EXISTS (SELECT 1 FROM"
    " lighthouse_outbox o WHERE o.run_id = r.id AND o.acked_at IS NULL)"
    " ORDER BY r.created_at LIMIT " MAINT_RUN_BATCH
    " FOR UPDATE OF r SKIP LOCKED) s";
/* $1 the ids. The outbox first: its foreign key RESTRICTs the runs. */
static const char maint_sql_runs_outbox[] =
    "WITH d AS (DELETE FROM lighthouse_outbox WHERE run_id ="
    " ANY($1::bigint[]) AND acked_at IS NOT NULL RETURNING 1)"
    " SELECT count(*) AS n FROM d";
static const char maint_sql_runs_events[] =
    "WITH d AS (DELETE FROM run_events WHERE run_id = ANY($1::bigint[])"
    " RETURNING 1) SELECT count(*) AS n FROM d";
static const char maint_sql_runs[] =
    "WITH d AS (DELETE FROM runs WHERE id = ANY($1::bigint[])"
    " RETURNING 1) SELECT count(*) AS n FROM d";
/*
 * $1 retention.audit_days. A prefix of the chain (see the top of the
 * file): of the oldest batch of rows, those before the first young one and
 * before the newest row of the table. last is the id the chain now starts
 * after.
 */
static const char maint_sql_audit[] =
    "WITH head AS (SELECT id, ts FROM audit_log ORDER BY id LIMIT " MAINT_BATCH
    "), stop AS (SELECT least((SELECT min(id) FROM head WHERE ts >= now() -"
    " make_interval(days => $1::int)), (SELECT max(id) FROM audit_log))"
    " AS id), d AS (DELETE FROM audit_log a USING head, stop WHERE"
    " a.id = head.id AND head.id < stop.id RETURNING a.id)"
    " SELECT count(*) AS n, coalesce(max(id), 0) AS last FROM d";

/* The dry run: $1 idle timeout, $2 lockout window, $3 runs_days,
 * $4 audit_days. */
static const char maint_sql_count[] =
    "WITH old_runs AS (SELECT r.id FROM runs r WHERE r.created_at < now() -"
    " make_interval(days => $3::int) AND r.status IN ('succeeded',"
    " 'failed', 'cancelled') AND NOT EXISTS (SELECT 1 FROM"
    " lighthouse_outbox o WHERE o.run_id = r.id AND o.acked_at IS NULL))"
    " SELECT (SELECT count(*) FROM sessions WHERE expires_at < now())"
    " AS sessions,"
    " (SELECT count(*) FROM token_cache WHERE expires_at < now())"
    " AS token_cache,"
    " (SELECT count(*) FROM mcp_sessions WHERE expires_at < now() OR"
    " last_used_at < now() - make_interval(secs => $1::int))"
    " AS mcp_sessions,"
    " (SELECT count(*) FROM auth_failures WHERE window_start < now() -"
    " make_interval(secs => $2::int) AND (locked_until IS NULL OR"
    " locked_until <= now())) AS auth_failures,"
    " (SELECT count(*) FROM old_runs) AS runs,"
    " (SELECT count(*) FROM run_events WHERE run_id IN"
    " (SELECT id FROM old_runs)) AS run_events,"
    " (SELECT count(*) FROM lighthouse_outbox WHERE acked_at IS NOT NULL"
    " AND run_id IN (SELECT id FROM old_runs)) AS outbox,"
    " (SELECT count(*) FROM audit_log WHERE id < least((SELECT id FROM"
    " audit_log WHERE ts >= now() - make_interval(days => $4::int)"
    " ORDER BY id LIMIT 1), (SELECT max(id) FROM audit_log))) AS audit";

/* One batch step: the statement, its parameter, what it reports. */
struct maint_batch {
	const char *stmt;
	const char *param; /* $1, or NULL for none */
	long long n;       /* rows deleted */
	long long events;  /* runs: run_events deleted with them */
	long long outbox;  /* runs: acknowledged reports deleted */
	long long last;    /* audit: the id the chain now starts after */
	struct maintenance_stats *stats;
};

static berr
maint_prepare(struct db *db)
{
	static const struct {
		const char *name, *sql;
		int nparams;
	} stmts[] = {
		{ "maint_lock", maint_sql_lock, 0 },
		{ "maint_unlock", maint_sql_unlock, 0 },
		{ "maint_held", maint_sql_held, 0 },
		{ "maint_sessions", maint_sql_sessions, 0 },
		{ "maint_token_cache", maint_sql_token_cache, 0 },
		{ "maint_mcp_absolute", maint_sql_mcp_absolute, 0 },
		{ "maint_mcp_idle", maint_sql_mcp_idle, 1 },
		{ "maint_auth_failures", maint_sql_auth_failures, 1 },
		{ "maint_runs_pick", maint_sql_runs_pick, 1 },
		{ "maint_runs_outbox", maint_sql_runs_outbox, 1 },
		{ "maint_runs_events", maint_sql_runs_events, 1 },
		{ "maint_runs", maint_sql_runs, 1 },
		{ "maint_audit", maint_sql_audit, 1 },
		{ "maint_count", maint_sql_count, 4 },
	};
	size_t i;
	berr rc;

	for (i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
		if ((rc = db_prepare(db, stmts[i].name, stmts[i].sql,
		         stmts[i].nparams)) != OK)
			return rc;
	return OK;
}

/* Column name of row 0 as a number (0 for NULL). */
static long long
maint_ll(const PGresult *res, const char *name)
{
	int c = PQfnumber(res, name);

	if (c < 0 || PQntuples(res) < 1 || PQgetisnull(res, 0, c))
		return 0;
	return strtoll(PQgetvalue(res, 0, c), NULL, 10);
}

/* Runs a one-parameter (or parameterless) statement; *n = its column n. */
static berr
maint_exec_n(struct db *db, const char *stmt, const char *param, long long *n)
{
	const char *values[1] = { param };
	PGresult *res = NULL;
	berr rc;

	*n = 0;
	if ((rc = db_exec(db, stmt, param != NULL ? 1 : 0,
	         param != NULL ? values : NULL, &res)) != OK)
		return rc;
	*n = maint_ll(res, "n");
	PQclear(res);
	return OK;
}

/*
 * First statement of every batch transaction: is the lock still ours on
 * this connection? ERR_CONFLICT when not (the connection was replaced).
 */
static berr
maint_check_lock(struct db *db)
{
	PGresult *res = NULL;
	bool held;
	berr rc;

	if ((rc = db_exec(db, "maint_held", 0, NULL, &res)) != OK)
		return rc;
	held = strcmp(PQgetvalue(res, 0, PQfnumber(res, "held")), "t") == 0;
	PQclear(res);
	if (!held) {
		log_warn("maintenance: the connection was replaced and the "
		         "lock lost with it; stopping this pass");
		return ERR_CONFLICT;
	}
	return OK;
}

/* A plain batch: the lock check, then one deletion. */
static berr
maint_batch_tx(struct db *db, void *arg)
{
	struct maint_batch *b = arg;
	berr rc;

	if ((rc = maint_check_lock(db)) != OK)
		return rc;
	return maint_exec_n(db, b->stmt, b->param, &b->n);
}

/* A batch of expired login sessions and its session_expired audit row. */
static berr
maint_sessions_tx(struct db *db, void *arg)
{
	struct maint_batch *b = arg;
	struct audit_event ev = { 0 };
	struct json_object *details = NULL;
	PGresult *res = NULL;
	berr rc;

	b->n = 0;
	if ((rc = maint_check_lock(db)) != OK)
		goto out;
	if ((rc = db_exec(db, "maint_sessions", 0, NULL, &res)) != OK)
		goto out;
	if ((b->n = maint_ll(res, "n")) == 0)
		goto out;
	details =
	    json_tokener_parse(PQgetvalue(res, 0, PQfnumber(res, "details")));
	if (details == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	ev.action = "session_expired";
	ev.resource = "sessions";
	ev.success = true;
	ev.details = details;
	rc = audit_append(db, &ev);
out:
	json_object_put(details);
	PQclear(res);
	return rc;
}

/* A batch of old runs with their events and acknowledged reports. */
static berr
maint_runs_tx(struct db *db, void *arg)
{
	struct maint_batch *b = arg;
	const char *values[1];
	PGresult *res = NULL;
	berr rc;

	/* Set, not added: db_tx() may run this again after a deadlock. */
	b->n = 0;
	b->events = 0;
	b->outbox = 0;
	if ((rc = maint_check_lock(db)) != OK)
		goto out;
	values[0] = b->param;
	if ((rc = db_exec(db, "maint_runs_pick", 1, values, &res)) != OK)
		goto out;
	if (maint_ll(res, "n") == 0)
		goto out;
	values[0] = PQgetvalue(res, 0, PQfnumber(res, "ids"));
	if ((rc = maint_exec_n(
	         db, "maint_runs_outbox", values[0], &b->outbox)) != OK)
		goto out;
	if ((rc = maint_exec_n(
	         db, "maint_runs_events", values[0], &b->events)) != OK)
		goto out;
	if ((rc = maint_exec_n(db, "maint_runs", values[0], &b->n)) != OK)
		goto out;
out:
	PQclear(res);
	return rc;
}

/* A batch of the audit log's oldest rows (see the top of the file). */
static berr
maint_audit_tx(struct db *db, void *arg)
{
	struct maint_batch *b = arg;
	const char *values[1] = { b->param };
	PGresult *res = NULL;
	berr rc;

	b->n = 0;
	if ((rc = maint_check_lock(db)) != OK)
		return rc;
	if ((rc = db_exec(db, "maint_audit", 1, values, &res)) != OK)
		return rc;
	b->n = maint_ll(res, "n");
	if (b->n > 0)
		b->last = maint_ll(res, "last");
	PQclear(res);
	return OK;
}

/*
 * Repeats fn (one batch transaction) until a batch comes back short of
 * full, adding its rows to *count (and the events and reports of runs to
 * the stats) once the transaction has committed.
 */
static berr
maint_step(struct db *db, berr (*fn)(struct db *, void *),
    struct maint_batch *b, long long full, long long *count)
{
	berr rc;

	do {
		b->n = 0;
		b->events = 0;
		b->outbox = 0;
		if ((rc = db_tx(db, fn, b)) != OK)
			return rc;
		/* Counted once committed. */
		*count += b->n;
		b->stats->run_events += b->events;
		b->stats->outbox += b->outbox;
		if (b->n > 0)
			b->stats->batches++;
	} while (b->n >= full);
	return OK;
}

/* Records that retention removed n audit rows; the chain starts after
 * last (its first row's prev_hash is that row's hash). */
static berr
maint_audit_record(struct db *db, long long n, long long last)
{
	struct audit_event ev = { 0 };
	struct json_object *details;
	berr rc;

	if ((details = json_object_new_object()) == NULL)
		return ERR_NOMEM;
	json_object_object_add(details, "deleted", json_object_new_int64(n));
	json_object_object_add(
	    details, "anchor_after_id", json_object_new_int64(last));
	json_object_object_add(
	    details, "by", json_object_new_string("maintenance"));
	ev.action = "audit.retention";
	ev.resource = "audit_log";
	ev.success = true;
	ev.details = details;
	rc = audit_append(db, &ev);
	json_object_put(details);
	return rc;
}

/* Every step in turn; stops at the first error. */
static berr
maint_steps(struct db *db, const struct config *cfg,
    struct maintenance_stats *out, long long *audit_last)
{
	char idle[16], window[16], runs_days[16], audit_days[16];
	struct maint_batch b = { 0 };
	const long long batch = strtoll(MAINT_BATCH, NULL, 10);
	const long long run_batch = strtoll(MAINT_RUN_BATCH, NULL, 10);
	berr rc;

	snprintf(idle, sizeof(idle), "%d", cfg->sessions.mcp_idle_timeout);
	snprintf(window, sizeof(window), "%d", cfg->auth.lockout_window);
	snprintf(runs_days, sizeof(runs_days), "%d", cfg->retention.runs_days);
	snprintf(
	    audit_days, sizeof(audit_days), "%d", cfg->retention.audit_days);
	b.stats = out;

	if ((rc = maint_step(
	         db, maint_sessions_tx, &b, batch, &out->sessions)) != OK)
		return rc;
	b.stmt = "maint_token_cache";
	if ((rc = maint_step(
	         db, maint_batch_tx, &b, batch, &out->token_cache)) != OK)
		return rc;
	b.stmt = "maint_mcp_absolute";
	if ((rc = maint_step(
	         db, maint_batch_tx, &b, batch, &out->mcp_sessions)) != OK)
		return rc;
	b.stmt = "maint_mcp_idle";
	b.param = idle;
	if ((rc = maint_step(
	         db, maint_batch_tx, &b, batch, &out->mcp_sessions)) != OK)
		return rc;
	b.stmt = "maint_auth_failures";
	b.param = window;
	if ((rc = maint_step(
	         db, maint_batch_tx, &b, batch, &out->auth_failures)) != OK)
		return rc;
	b.param = runs_days;
	if ((rc = maint_step(db, maint_runs_tx, &b, run_batch, &out->runs)) !=
	    OK)
		return rc;
	b.param = audit_days;
	b.last = 0;
	if ((rc = maint_step(db, maint_audit_tx, &b, batch, &out->audit)) != OK)
		return rc;
	*audit_last = b.last;
	return OK;
}

/* The one log line of a pass. */
static void
maint_log(const struct maintenance_stats *s, berr rc)
{
	void (*logf)(const char *, ...) = log_debug;

	if (rc == ERR_CONFLICT) /* the lock lost: the next pass resumes */
		logf = log_warn;
	else if (rc != OK)
		logf = log_error;
	else if (s->sessions + s->token_cache + s->mcp_sessions +
	        s->auth_failures + s->runs + s->run_events + s->outbox +
	        s->audit >
	    0)
		logf = log_info;
	logf("maintenance: %s%s: deleted sessions=%lld token_cache=%lld "
	     "mcp_sessions=%lld auth_failures=%lld runs=%lld run_events=%lld "
	     "outbox=%lld audit=%lld in %lld batches, %.3f s",
	    rc == OK ? "done" : "stopped: ", rc == OK ? "" : err_str(rc),
	    s->sessions, s->token_cache, s->mcp_sessions, s->auth_failures,
	    s->runs, s->run_events, s->outbox, s->audit, s->batches,
	    s->seconds);
}

berr
maintenance_run(
    struct db *db, const struct config *cfg, struct maintenance_stats *out)
{
	double t0 = clock_ms_frac();
	PGresult *res = NULL;
	long long audit_last = 0;
	bool locked;
	berr rc;

	memset(out, 0, sizeof(*out));
	if ((rc = maint_prepare(db)) != OK)
		return rc;
	/* db.c has logged why. */
	if ((rc = db_exec(db, "maint_lock", 0, NULL, &res)) != OK)
		return rc;
	locked = strcmp(PQgetvalue(res, 0, PQfnumber(res, "locked")), "t") == 0;
	PQclear(res);
	if (!locked) {
		out->skipped = true;
		out->seconds = (clock_ms_frac() - t0) / 1000.0;
		log_info("maintenance: skipped: another runner holds the lock");
		return OK;
	}
	rc = maint_steps(db, cfg, out, &audit_last);
	if (rc == OK && out->audit > 0)
		rc = maint_audit_record(db, out->audit, audit_last);
	/* After a lost connection the lock is gone already: nothing to do. */
	if (db_exec(db, "maint_unlock", 0, NULL, NULL) != OK)
		log_debug("maintenance: unlock failed (connection gone)");
	out->seconds = (clock_ms_frac() - t0) / 1000.0;
	maint_log(out, rc);
	return rc;
}

berr
maintenance_count(
    struct db *db, const struct config *cfg, struct maintenance_stats *out)
{
	char idle[16], window[16], runs_days[16], audit_days[16];
	const char *values[4] = { idle, window, runs_days, audit_days };
	double t0 = clock_ms_frac();
	PGresult *res = NULL;
	berr rc;

	memset(out, 0, sizeof(*out));
	if ((rc = maint_prepare(db)) != OK)
		return rc;
	snprintf(idle, sizeof(idle), "%d", cfg->sessions.mcp_idle_timeout);
	snprintf(window, sizeof(window), "%d", cfg->auth.lockout_window);
	snprintf(runs_days, sizeof(runs_days), "%d", cfg->retention.runs_days);
	snprintf(
	    audit_days, sizeof(audit_days), "%d", cfg->retention.audit_days);
	if ((rc = db_exec(db, "maint_count", 4, values, &res)) != OK)
		return rc;
	out->sessions = maint_ll(res, "sessions");
	out->token_cache = maint_ll(res, "token_cache");
	out->mcp_sessions = maint_ll(res, "mcp_sessions");
	out->auth_failures = maint_ll(res, "auth_failures");
	out->runs = maint_ll(res, "runs");
	out->run_events = maint_ll(res, "run_events");
	out->outbox = maint_ll(res, "outbox");
	out->audit = maint_ll(res, "audit");
	PQclear(res);
	out->seconds = (clock_ms_frac() - t0) / 1000.0;
	return OK;
}
