/*
 * mgmt.h - berthd's answers to Lighthouse's management requests.
 *
 * Every request (a ManagementMessage with is_response false that is not
 * auth, disconnect or a send_run response) gets an answer with the same
 * request_id, is_response true: the matching response, or a
 * ManagementError (UNKNOWN_ERROR for what Berth does not support: fields
 * 14, 24, 31 and anything newer). Never dropped. Answers come from the
 * database (agents, runs) and the tool registry, synchronously: each is a
 * few bounded queries, well inside Lighthouse's 30 s.
 *
 * execute_agent inserts a runs row (source 'lighthouse') and answers
 * QUEUED at once. A run of an agent that does not exist is finished as
 * failed in the same step (its report enqueued in the outbox) and a FAILED
 * update with AGENT_NOT_FOUND follows; a run of a known agent stays queued
 * for the runner (issue 8). The runner only updates its runs row: the link
 * (link.c) watches the rows of Lighthouse's runs and their events and
 * streams RUNNING (one update per model call and tool call, and with the
 * step count), COMPLETED, FAILED or CANCELLED with mgmt_run_update().
 */
#ifndef BERTH_MGMT_H
#define BERTH_MGMT_H

#include "lighthouse.pb-c.h"
#include "pbutil.h"

struct config;
struct db;

/* Sends one message on the stream; errors are the callee's to log. */
typedef void (*mgmt_send_fn)(
    void *arg, const Lighthouse__V1__ManagementMessage *m);

struct mgmt_ctx {
	const struct config *cfg; /* borrowed */
	struct db *db;            /* borrowed */
	mgmt_send_fn send;
	void *send_arg;
};

/* Answers req (borrowed) through ctx->send, once or more. */
void mgmt_handle(
    const struct mgmt_ctx *ctx, const Lighthouse__V1__ManagementMessage *req);

/*
 * Fills auth->agents and auth->tools (allocated in a) from the agents table
 * and the tool registry, for StationAuth. A database error leaves the
 * agents list empty (logged), so the station still registers.
 */
void mgmt_fill_auth(const struct mgmt_ctx *ctx, struct pbutil_arena *a,
    Lighthouse__V1__StationAuth *auth);

/*
 * Sends one execute_agent_response status update for a run Lighthouse
 * asked for (request_id, execution_id as in the request; step > 0 adds
 * step_number and step_description: desc, or "step N" when desc is NULL).
 */
void mgmt_run_update(const struct mgmt_ctx *ctx, const char *request_id,
    const char *execution_id, Lighthouse__V1__ExecutionStatus st, int step,
    const char *desc, const char *text, bool success);

/* The default environment: the first of environments: in the config. */
const char *mgmt_default_env(const struct config *cfg);

#endif
