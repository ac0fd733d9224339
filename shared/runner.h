/*
 * runner.h - runs queued agent runs: claim, render, model ↔ tools loop,
 * record, finish.
 *
 * Whoever asks (a /mcp call, Lighthouse execute_agent, `berth agent run`)
 * inserts a runs row with status 'queued' (runner_enqueue()). A worker
 * (berthd's run workers, or `berth run work --once` from cron or a test)
 * calls runner_run_one(): it claims the oldest queued run with
 * SELECT ... FOR UPDATE SKIP LOCKED (any number of workers and daemons can
 * share the queue), renders the agent's prompt with the run's task and
 * variables, then loops model call → tool calls → model call up to the
 * agent's max_steps. Tools are the registry tools the agent names, minus
 * denied_tools, limited to allowed_tools when given, called through
 * tools_call() with the permissions of the principal who queued the run
 * (runs from Lighthouse act as the station's principal, see runner.c).
 * Every step and tool call is a run_events row followed by a NOTIFY on
 * channel "berth_run" with payload "<run id>:<seq>"; the run's heartbeat
 * is kept fresh; a cancel_requested flag stops the run at the next step.
 * The finished run (succeeded, failed with its reason, or cancelled) is
 * written in one transaction together with its Lighthouse outbox row when
 * cloudship is enabled, so no report is ever lost.
 *
 * The provider's credential is chosen per run in Station's order
 * (runner.c runner_provider(), docs/SECURITY.md): STN_AI_AUTH_TYPE=api_key
 * forces the API key; for Anthropic the stored tokens of `berth auth
 * anthropic login` (aicred.h, refreshed first when near expiry), then
 * Claude Code's ~/.claude/.credentials.json, then ANTHROPIC_API_KEY.
 *
 * Owns nothing between calls; the caller owns db and cfg.
 */
#ifndef BERTH_RUNNER_H
#define BERTH_RUNNER_H

#include <stdbool.h>

#include <json-c/json.h>

#include "db.h"
#include "err.h"

struct config;

/* What one runner_run_one() did, for logs and tests. */
struct runner_outcome {
	long long run_id; /* 0 when the queue was empty */
	char status[16];  /* "succeeded", "failed", "cancelled" */
	int steps;
	char error[256]; /* why a run failed, "" otherwise */
};

/*
 * Queues a run of agent `agent` in environment for user_id (0 = none:
 * Lighthouse or the CLI) from source ("mcp", "lighthouse", "cli"), with
 * input {"task": task, "variables": variables (may be NULL)}. The agent
 * need not exist: such a run fails when claimed, with its reason.
 * *run_id set. OK, ERR_INVALID (bad task/agent name/source), ERR_DB_DOWN,
 * ERR_DB, ERR_NOMEM.
 */
berr runner_enqueue(struct db *db, const char *agent, const char *environment,
    long long user_id, const char *source, const char *task,
    struct json_object *variables, long long *run_id)
    __attribute__((warn_unused_result));

/*
 * Asks run run_id to stop (its client went away): a queued run is
 * cancelled at once (status, error "cancelled on request", a "finished"
 * event with its NOTIFY, and its outbox row when cloudship is enabled, in
 * one transaction); a running one gets cancel_requested and its worker
 * ends it 'cancelled' before its next model call. *status (may be NULL;
 * size >= 16) receives the run's status afterwards ("" when the run was
 * already finished or does not exist, which is not an error). OK,
 * ERR_DB_DOWN, ERR_DB.
 */
berr runner_cancel(struct db *db, const struct config *cfg, long long run_id,
    char *status) __attribute__((warn_unused_result));

/*
 * Claims and runs one queued run to its end as worker worker_id
 * ("host:pid:n"). OK with out->run_id == 0 when nothing was queued; OK
 * with the run's final status otherwise (a failed run is not an error
 * here: its reason is in the row and out->error). ERR_DB_DOWN / ERR_DB when
 * the database failed; a run claimed before such a failure stays
 * 'running' with a stale heartbeat for runner_reap() to find.
 */
berr runner_run_one(struct db *db, const struct config *cfg,
    const char *worker_id, struct runner_outcome *out)
    __attribute__((warn_unused_result));

/*
 * Fails runs whose worker stopped heart-beating for stale_s seconds (a
 * killed daemon), with error "worker lost", and writes their outbox rows.
 * *reaped (may be NULL) counts them. For berthd's start and housekeeping.
 */
berr runner_reap(struct db *db, const struct config *cfg, int stale_s,
    int *reaped) __attribute__((warn_unused_result));

#endif
