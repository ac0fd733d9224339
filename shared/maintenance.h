/*
 * maintenance.h - housekeeping: expiry and retention, in batches.
 *
 * One pass deletes what Berth no longer needs:
 *   sessions       login sessions past expires_at (audited: one
 *                  session_expired row per batch, see maintenance.c);
 *   token_cache    OAuth introspection results past expires_at;
 *   mcp_sessions   past their absolute timeout (expires_at) or idle longer
 *                  than sessions.mcp_idle_timeout (last_used_at), exactly
 *                  the rows mcp_session.c's load() already refuses;
 *   auth_failures  counters whose window (auth.lockout_window) has passed
 *                  and whose lock has ended;
 *   runs           finished runs created more than retention.runs_days
 *                  ago, with their run_events and their acknowledged
 *                  lighthouse_outbox rows (a run whose report Lighthouse has
 *                  not acknowledged is kept);
 *   audit_log      rows older than retention.audit_days, oldest first and
 *                  only as a prefix of the chain, never the newest row, so
 *                  `berth audit verify` still passes (the first remaining
 *                  row is the anchor).
 *
 * Every statement touches at most a batch of rows (MAINT_BATCH, fewer for
 * runs) in a short transaction of its own, and skips rows another
 * transaction holds (SKIP LOCKED): a million expired rows never lock a table
 * for long, and requests interleave with the deletion.
 *
 * The daemon calls maintenance_run() every minute; `berth maintenance
 * --once` calls the same function (for cron). One runner at a time: the
 * session advisory lock (1113944692, 3) is held for the pass, and every
 * batch checks it is still held on its connection.
 */
#ifndef BERTH_MAINTENANCE_H
#define BERTH_MAINTENANCE_H

#include <stdbool.h>

#include "db.h"
#include "err.h"

struct config;

/* What one pass deleted (or, for maintenance_count(), would delete). */
struct maintenance_stats {
	long long sessions;
	long long token_cache;
	long long mcp_sessions;
	long long auth_failures;
	long long runs;
	long long run_events;
	long long outbox;  /* acknowledged lighthouse_outbox rows */
	long long audit;   /* audit_log rows removed by retention */
	long long batches; /* statements that deleted rows */
	double seconds;    /* wall time of the pass */
	bool skipped;      /* another runner holds the lock: nothing done */
};

/*
 * One housekeeping pass over db with the timeouts and retention of cfg
 * (both borrowed). *out is always filled (zeroed first); counts are what
 * was deleted before an error, if any. Returns OK (also when skipped:
 * out->skipped is then true), ERR_DB_DOWN, ERR_DB, ERR_CONFLICT (the
 * connection was lost mid-pass and with it the lock: the pass stops, the
 * next one resumes), ERR_NOMEM. Logs one line per pass with every count
 * and the time taken (INFO when rows were deleted, DEBUG otherwise); errors
 * are logged where they happen. Must not be called inside db_tx(); leaves
 * no transaction open and the lock released. A pass with nothing to do
 * costs a dozen short statements; with a backlog it runs for seconds (a
 * million expired sessions: about 10 s on a 2-core machine), one batch
 * transaction after another on db, so a caller with other work on the same
 * connection waits that long (db.h is not thread-safe: a thread of its own
 * needs a struct db of its own).
 */
berr maintenance_run(struct db *db, const struct config *cfg,
    struct maintenance_stats *out) __attribute__((warn_unused_result));

/*
 * Dry run: counts what maintenance_run() would delete now, without deleting
 * or taking the lock (out->skipped is false, out->batches 0). Returns OK,
 * ERR_DB_DOWN, ERR_DB.
 */
berr maintenance_count(struct db *db, const struct config *cfg,
    struct maintenance_stats *out) __attribute__((warn_unused_result));

#endif
