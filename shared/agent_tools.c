/*
 * agent_tools.c - agent_<name> tools on /mcp. See agent_tools.h.
 *
 * The wait is the registry's (tools_wait_run(), the code get_run waits
 * with); this module only says what each look at the run means to the
 * client: new run_events rows become progress notifications, and the
 * finished row becomes the result.
 */
#include "agent_tools.h"

#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "authcache.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "parse.h"
#include "principal.h"
#include "runner.h"
#include "tools.h"
#include "validate.h"

/* How often a waiting call looks at its run, milliseconds. */
#define AGENT_TOOLS_POLL_MS 500
/* Most run_events rows turned into notifications per look. */
#define AGENT_TOOLS_EVENTS 64
/* Agents listed per environment (the table holds a workspace's files). */
#define AGENT_TOOLS_MAX "1000"

/* The names MCP allows for tools (2025-11-25 server/tools: A-Z, a-z, 0-9,
 * _, - and .); other agents are not served as tools. */
#define AGENT_TOOLS_NAME_RE "'^[A-Za-z0-9_.-]{1,100}$'"

static const char agent_tools_sql_list[] =
    "SELECT coalesce(json_agg(json_build_object('name', $2::text || name, "
    "'description', CASE WHEN description = '' THEN 'Runs the agent ' || "
    "name || '.' ELSE description END) ORDER BY name), '[]')::text FROM "
    "(SELECT name, description FROM agents WHERE environment = $1::text "
    "AND name ~ " AGENT_TOOLS_NAME_RE " ORDER BY name LIMIT " AGENT_TOOLS_MAX
    ") a";
static const char agent_tools_sql_exists[] =
    "SELECT 1 FROM agents WHERE environment = $1::text AND name = $2::text "
    "AND name ~ " AGENT_TOOLS_NAME_RE;
static const char agent_tools_sql_events[] =
    "SELECT seq, kind, payload::text AS payload FROM run_events "
    "WHERE run_id = $1::bigint AND seq >= $2::int ORDER BY seq LIMIT $3::int";

static berr agent_tools_call(const struct tool_call_ctx *ctx,
    struct json_object *args, struct json_object **result);
static bool agent_tools_waits(struct json_object *args);

/* The template every agent tool shares (tools.h, struct tools_dynamic). */
static const struct tool_def agent_tools_tmpl = { AGENT_TOOLS_PREFIX, NULL,
	"Runs an agent of this environment.",
	"{\"type\":\"object\",\"properties\":{"
	"\"input\":{\"type\":\"string\",\"minLength\":1,\"description\":"
	"\"The task for the agent: what you want it to do.\"},"
	"\"variables\":{\"type\":\"object\",\"description\":\"Values for "
	"the variables of the agent's prompt template, by name.\"}},"
	"\"required\":[\"input\"]}",
	PERM_AGENTS_RUN, agent_tools_call, agent_tools_waits };

static bool
agent_tools_waits(struct json_object *args)
{
	(void)args;
	return true; /* a run takes as long as its model */
}

/*
 * The listing of each environment, kept while authcache_agents_gen() stays
 * the same: a trigger on agents notifies every change (authcache.h), so
 * tools/list costs no query of its own here. Not a permission: who may see
 * agent tools is still decided per request from the principal.
 */
#define AGENT_TOOLS_CACHED 8
static struct {
	char environment[65];
	unsigned long gen; /* 0: empty */
	struct json_object *tools;
} agent_tools_cache[AGENT_TOOLS_CACHED];

/* The cached listing of env as a new reference, NULL when there is none. */
static struct json_object *
agent_tools_cached(const char *env, unsigned long gen)
{
	size_t i;

	if (gen == 0)
		return NULL;
	for (i = 0; i < AGENT_TOOLS_CACHED; i++)
		if (agent_tools_cache[i].gen == gen &&
		    strcmp(agent_tools_cache[i].environment, env) == 0)
			return json_object_get(agent_tools_cache[i].tools);
	return NULL;
}

/* Keeps tools (a new reference is taken) as env's listing of gen. */
static void
agent_tools_keep(const char *env, unsigned long gen, struct json_object *tools)
{
	size_t i, slot = 0;

	if (gen == 0 || strlen(env) >= sizeof(agent_tools_cache[0].environment))
		return;
	for (i = 0; i < AGENT_TOOLS_CACHED; i++) {
		if (agent_tools_cache[i].gen != gen ||
		    strcmp(agent_tools_cache[i].environment, env) == 0) {
			slot = i;
			break;
		}
	}
	json_object_put(agent_tools_cache[slot].tools);
	snprintf(agent_tools_cache[slot].environment,
	    sizeof(agent_tools_cache[slot].environment), "%s", env);
	agent_tools_cache[slot].gen = gen;
	agent_tools_cache[slot].tools = json_object_get(tools);
}

static berr
agent_tools_list(const struct tool_call_ctx *ctx, struct json_object **tools)
{
	const char *v[2] = { ctx->environment, AGENT_TOOLS_PREFIX };
	unsigned long gen = authcache_agents_gen();
	PGresult *res = NULL;
	berr rc;

	if ((*tools = agent_tools_cached(ctx->environment, gen)) != NULL)
		return OK;
	if ((rc = db_prepare(
	         ctx->db, "agent_tools_list", agent_tools_sql_list, 2)) != OK ||
	    (rc = db_exec(ctx->db, "agent_tools_list", 2, v, &res)) != OK)
		goto out;
	if (PQntuples(res) != 1 ||
	    (*tools = json_tokener_parse(PQgetvalue(res, 0, 0))) == NULL)
		rc = ERR_DB;
	else if (gen == authcache_agents_gen())
		agent_tools_keep(ctx->environment, gen, *tools);
out:
	PQclear(res);
	return rc;
}

static berr
agent_tools_exists(const struct tool_call_ctx *ctx, const char *name)
{
	const char *v[2] = { ctx->environment,
		name + strlen(AGENT_TOOLS_PREFIX) };
	PGresult *res = NULL;
	berr rc;

	if ((rc = db_prepare(ctx->db, "agent_tools_exists",
	         agent_tools_sql_exists, 2)) != OK ||
	    (rc = db_exec(ctx->db, "agent_tools_exists", 2, v, &res)) != OK)
		goto out;
	rc = PQntuples(res) == 1 ? OK : ERR_NOT_FOUND;
out:
	PQclear(res);
	return rc;
}

static const struct tools_dynamic agent_tools_provider = {
	&agent_tools_tmpl,
	agent_tools_list,
	agent_tools_exists,
};

void
agent_tools_register(void)
{
	tools_set_dynamic(&agent_tools_provider);
}

void
agent_tools_unregister(void)
{
	tools_set_dynamic(NULL);
}

/* ---------------------------------------------------------------------
 * The wait: progress from run_events.
 */

/* What a waiting call remembers between looks. */
struct agent_tools_wait {
	long long run_id;
	int next_seq;    /* the first run_events seq not yet reported */
	double progress; /* the last progress value sent (they increase) */
	char status[16]; /* the last status reported */
};

/* Sends msg as the next progress notification and an info log message. */
static void
agent_tools_say(
    const struct tool_call_ctx *ctx, struct agent_tools_wait *w, char *msg)
{
	w->progress += 1;
	tools_progress(ctx, w->progress, 0, msg);
	tools_log(ctx, "info", msg);
}

/* A member of payload as an integer, or 0. */
static int64_t
agent_tools_int(struct json_object *payload, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(payload, key, &v)
	    ? json_object_get_int64(v)
	    : 0;
}

/* A member of payload as a string (borrowed), or "". */
static const char *
agent_tools_str(struct json_object *payload, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(payload, key, &v) &&
	        json_object_is_type(v, json_type_string)
	    ? json_object_get_string(v)
	    : "";
}

/* One run_events row in words, into msg. */
static void
agent_tools_event_text(
    const char *kind, struct json_object *payload, char *msg, size_t size)
{
	int64_t step = agent_tools_int(payload, "step");

	if (strcmp(kind, "llm_call") == 0) {
		int64_t n = agent_tools_int(payload, "tool_calls");

		if (n > 0)
			snprintf(msg, size,
			    "step %" PRId64 ": the model asked for %" PRId64
			    " tool call(s)",
			    step, n);
		else
			snprintf(msg, size,
			    "step %" PRId64 ": the model answered", step);
	} else if (strcmp(kind, "tool_call") == 0) {
		struct json_object *ok = NULL;

		json_object_object_get_ex(payload, "success", &ok);
		snprintf(msg, size,
		    "step %" PRId64 ": tool %.64s %s (%" PRId64 " ms)", step,
		    agent_tools_str(payload, "name"),
		    json_object_get_boolean(ok) ? "succeeded" : "failed",
		    agent_tools_int(payload, "duration_ms"));
	} else if (strcmp(kind, "tool_unavailable") == 0) {
		snprintf(msg, size, "tool %.64s is not available to the agent",
		    agent_tools_str(payload, "tool"));
	} else if (strcmp(kind, "finished") == 0) {
		snprintf(msg, size, "finished: %.15s after %" PRId64 " step(s)",
		    agent_tools_str(payload, "status"),
		    agent_tools_int(payload, "steps"));
	} else {
		snprintf(msg, size, "%.32s", kind);
	}
}

/* The run's events since the last look, as notifications. A failure only
 * costs notifications: the wait goes on (the next look tries again). */
static void
agent_tools_events(const struct tool_call_ctx *ctx, struct agent_tools_wait *w)
{
	char id[24], seq[16], lim[16], msg[256];
	const char *v[3] = { id, seq, lim };
	PGresult *res = NULL;
	int i, s;

	snprintf(id, sizeof(id), "%lld", w->run_id);
	snprintf(seq, sizeof(seq), "%d", w->next_seq);
	snprintf(lim, sizeof(lim), "%d", AGENT_TOOLS_EVENTS);
	if (db_prepare(ctx->db, "agent_tools_events", agent_tools_sql_events,
	        3) != OK ||
	    db_exec(ctx->db, "agent_tools_events", 3, v, &res) != OK)
		goto out;
	for (i = 0; i < PQntuples(res); i++) {
		struct json_object *payload = json_tokener_parse(
		    PQgetvalue(res, i, PQfnumber(res, "payload")));

		if (parse_int(PQgetvalue(res, i, PQfnumber(res, "seq")), 0,
		        INT_MAX - 1, &s) != OK) {
			json_object_put(payload);
			break;
		}
		w->next_seq = s + 1;
		agent_tools_event_text(
		    PQgetvalue(res, i, PQfnumber(res, "kind")), payload, msg,
		    sizeof(msg));
		json_object_put(payload);
		agent_tools_say(ctx, w, msg);
	}
out:
	PQclear(res);
}

/* tools_wait_tick: a status change and the new events, as notifications;
 * nothing to do (no query) when nobody listens. */
static void
agent_tools_tick(const struct tool_call_ctx *ctx, void *arg,
    struct json_object *run, bool done, double waited_ms)
{
	struct agent_tools_wait *w = arg;
	const char *status = agent_tools_str(run, "status");
	char msg[96];

	(void)done;
	(void)waited_ms;
	if (ctx->stream == NULL)
		return;
	if (strcmp(status, w->status) != 0 && strcmp(status, "running") == 0) {
		snprintf(msg, sizeof(msg), "run %lld is running", w->run_id);
		agent_tools_say(ctx, w, msg);
	}
	snprintf(w->status, sizeof(w->status), "%.15s", status);
	agent_tools_events(ctx, w);
}

/* ---------------------------------------------------------------------
 * The call.
 */

/* The members of the run row (as get_run shows it) a result carries. */
static const char *const agent_tools_keys[] = { "environment", "status",
	"steps", "tool_call_count", "input_tokens", "output_tokens",
	"total_tokens", "model", "final_response", "error", "created_at",
	"started_at", "finished_at", NULL };

/* structuredContent for run (borrowed): {run_id, agent, ...}. NULL when
 * out of memory. */
static struct json_object *
agent_tools_structured(
    long long run_id, const char *agent, struct json_object *run)
{
	struct json_object *o = json_object_new_object(), *v;
	size_t i;

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "run_id", json_object_new_int64(run_id));
	json_object_object_add(o, "agent", json_object_new_string(agent));
	for (i = 0; agent_tools_keys[i] != NULL; i++)
		if (json_object_object_get_ex(run, agent_tools_keys[i], &v))
			json_object_object_add(
			    o, agent_tools_keys[i], json_object_get(v));
	return o;
}

/* *result for a run the wait saw finish, or still going at the end. */
static berr
agent_tools_answer(const struct tool_call_ctx *ctx, long long run_id,
    const char *agent, struct json_object *run, bool timed_out,
    struct json_object **result)
{
	struct json_object *st = agent_tools_structured(run_id, agent, run);
	const char *status = agent_tools_str(run, "status"), *t;
	char msg[640];

	if (st == NULL)
		return ERR_NOMEM;
	if (timed_out) {
		json_object_object_add(
		    st, "wait_timed_out", json_object_new_boolean(true));
		snprintf(msg, sizeof(msg),
		    "Run %lld of agent %s is still %s after %d s. Follow it "
		    "with the get_run tool: {\"run_id\": %lld, "
		    "\"wait_seconds\": 60}.",
		    run_id, agent, status, ctx->cfg->mcp.agent_wait_seconds,
		    run_id);
		*result = tools_result(msg, st, false);
	} else if (strcmp(status, "succeeded") == 0) {
		/* The final response as it is (any length the row holds). */
		t = agent_tools_str(run, "final_response");
		*result = tools_result(
		    *t ? t : "(the agent gave no text)", st, false);
	} else {
		t = agent_tools_str(run, "error");
		snprintf(msg, sizeof(msg), "Run %lld of agent %s %s: %.400s",
		    run_id, agent,
		    strcmp(status, "cancelled") == 0 ? "was cancelled"
		                                     : "failed",
		    *t ? t : "no reason recorded");
		*result = tools_result(msg, st, true);
	}
	return *result == NULL ? ERR_NOMEM : OK;
}

/* An isError result saying msg. */
static berr
agent_tools_refuse(const char *msg, struct json_object **result)
{
	*result = tools_result(msg, NULL, true);
	return *result == NULL ? ERR_NOMEM : OK;
}

static berr
agent_tools_call(const struct tool_call_ctx *ctx, struct json_object *args,
    struct json_object **result)
{
	struct agent_tools_wait w = { 0 };
	struct json_object *input = NULL, *vars = NULL, *run = NULL;
	enum tools_wait_end end;
	const char *agent;
	char why[256], msg[320], status[16];
	long long id = 0;
	berr rc;

	if (ctx->tool_name == NULL ||
	    strncmp(ctx->tool_name, AGENT_TOOLS_PREFIX,
	        strlen(AGENT_TOOLS_PREFIX)) != 0)
		return ERR_INTERNAL;
	agent = ctx->tool_name + strlen(AGENT_TOOLS_PREFIX);
	if (ctx->principal == NULL || ctx->principal->user_id == 0)
		return agent_tools_refuse(
		    "agent runs act as the Berth user who asks for them; "
		    "this request has no user (local mode): use an API key "
		    "or a session token",
		    result);
	/* The schema was checked: input is a string, variables an object. */
	if (args == NULL || !json_object_object_get_ex(args, "input", &input))
		return ERR_INVALID;
	json_object_object_get_ex(args, "variables", &vars);
	if (validate_task(json_object_get_string(input), why, sizeof(why)) !=
	    OK) {
		snprintf(msg, sizeof(msg), "arguments.input: %s", why);
		return agent_tools_refuse(msg, result);
	}
	rc = runner_enqueue(ctx->db, agent, ctx->environment,
	    ctx->principal->user_id, "mcp", json_object_get_string(input), vars,
	    &id);
	if (rc == ERR_INVALID)
		return agent_tools_refuse(
		    "the run could not be queued: invalid arguments", result);
	if (rc != OK)
		return rc;
	log_info("mcp: %s queued run %lld of agent %s (environment %s, "
	         "request %s)",
	    ctx->principal->username, id, agent, ctx->environment,
	    ctx->request_id != NULL ? ctx->request_id : "-");
	w.run_id = id;
	snprintf(msg, sizeof(msg), "run %lld queued", id);
	agent_tools_say(ctx, &w, msg);
	rc = tools_wait_run(ctx, id, ctx->cfg->mcp.agent_wait_seconds * 1000,
	    AGENT_TOOLS_POLL_MS, agent_tools_tick, &w, &run, &end);
	if (rc != OK)
		goto out;
	if (end == TOOLS_WAIT_CANCELLED) {
		/* The client left or cancelled: so does the run. */
		if ((rc = runner_cancel(ctx->db, ctx->cfg, id, status)) != OK) {
			log_warn(
			    "mcp: run %lld not cancelled: %s", id, err_str(rc));
			goto out;
		}
		log_info("mcp: run %lld cancelled by its client (%s)", id,
		    *status ? status : "already finished");
		snprintf(msg, sizeof(msg),
		    "cancelled by the client: run %lld %s", id,
		    strcmp(status, "running") == 0
		        ? "stops before its next step"
		        : "is cancelled");
		rc = agent_tools_refuse(msg, result);
		goto out;
	}
	rc = agent_tools_answer(
	    ctx, id, agent, run, end == TOOLS_WAIT_TIMEOUT, result);
out:
	json_object_put(run);
	return rc;
}
