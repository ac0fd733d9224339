/*
 * outbox.h - the durable outbox of run reports for Lighthouse
 * (table lighthouse_outbox).
 *
 * Every finished run, remote or local, gets one 'send_run' row, written in
 * the transaction that finishes the run (outbox_finish_run(), or
 * outbox_enqueue() inside the caller's own db_tx()), so a report is never
 * lost when berthd or Lighthouse dies. berthd takes due rows
 * (outbox_take_due()), sends them as send_run_request and marks a row
 * acknowledged only when Lighthouse answers send_run_response
 * (outbox_ack()). Until then the row is due again after a delay, and at
 * once after every (re)connect (outbox_rearm()). Every send of a row
 * carries the same run id: the run's lighthouse_run_id for a remote run,
 * else a UUID drawn when the row was enqueued (payload.run_id), so
 * Lighthouse dedupes.
 *
 * Used by berthd (issue 7) and the agent runner (issue 8); PGresults
 * returned are the caller's to PQclear().
 */
#ifndef BERTH_OUTBOX_H
#define BERTH_OUTBOX_H

#include <libpq-fe.h>

#include "db.h"
#include "err.h"

/*
 * Enqueues the report of run run_id (a decimal id). Joins the caller's
 * transaction when called inside db_tx(). Enqueueing twice is harmless (the
 * second does nothing). ERR_DB (no such run), ERR_DB_DOWN.
 */
berr outbox_enqueue(struct db *db, const char *run_id)
    __attribute__((warn_unused_result));

/*
 * In one transaction: finishes run run_id (status "succeeded", "failed" or
 * "cancelled"; final_response and error may be NULL, error is required for
 * "failed") and enqueues its report. ERR_CONFLICT when the run is already
 * finished, ERR_NOT_FOUND when there is no such run, ERR_INVALID for
 * another status, ERR_DB/ERR_DB_DOWN.
 */
berr outbox_finish_run(struct db *db, const char *run_id, const char *status,
    const char *final_response, const char *error)
    __attribute__((warn_unused_result));

/*
 * Takes at most limit due rows (unacknowledged, next attempt passed),
 * counts the attempt, and makes them due again only after retry_s seconds.
 * *res has one row per report with the columns outbox_id, attempts,
 * report_run_id, run_id, agent_id, agent_name, environment, status, task,
 * final_response, error, model, steps, input_tokens, output_tokens,
 * total_tokens, started_epoch, finished_epoch, duration_ms, source,
 * tool_calls (the run's JSON array of recorded calls) and step_events (a JSON
 * array of its llm_call and tool_call events: seq, kind, payload, at).
 * Rows another process holds are skipped. ERR_DB/ERR_DB_DOWN.
 */
berr outbox_take_due(struct db *db, int limit, int retry_s, PGresult **res)
    __attribute__((warn_unused_result));

/* Marks row outbox_id acknowledged. ERR_NOT_FOUND when no such open row. */
berr outbox_ack(struct db *db, const char *outbox_id)
    __attribute__((warn_unused_result));

/*
 * Records why Lighthouse refused row outbox_id (err, cut to 500 bytes) and
 * makes it due again after retry_s seconds.
 */
berr outbox_refused(struct db *db, const char *outbox_id, const char *err,
    int retry_s) __attribute__((warn_unused_result));

/* Makes every unacknowledged row due now (after a (re)connect). */
berr outbox_rearm(struct db *db) __attribute__((warn_unused_result));

#endif
