/*
 * mgmt.c - one function per management request; each builds its answer in
 * an arena (pbutil.h) and hands it to ctx->send.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "config.h"
#include "db.h"
#include "limit.h"
#include "log.h"
#include "mgmt.h"
#include "outbox.h"
#include "tools.h"

typedef Lighthouse__V1__ManagementMessage MMsg;

#define MM(x) LIGHTHOUSE__V1__MANAGEMENT_MESSAGE__MESSAGE_##x
#define EC(x) LIGHTHOUSE__V1__ERROR_CODE__##x
#define ES(x) LIGHTHOUSE__V1__EXECUTION_STATUS__EXECUTION_##x

/* Columns every agent query returns, in this order. */
#define AGENT_COLS                                                        \
	"id::text AS id, name, description, template, "                   \
	"coalesce(model, '') AS model, max_steps, tools::text AS tools, " \
	"environment, extract(epoch FROM created_at)::text AS created, "  \
	"extract(epoch FROM updated_at)::text AS updated"

/*
 * One agent by id (digits) or by name, in environment $2 when given. The
 * CASE keeps a name from ever being cast to bigint.
 */
#define SQL_AGENT_ONE                                               \
	"SELECT " AGENT_COLS " FROM agents WHERE "                  \
	"(id = CASE WHEN $1 ~ '^[0-9]{1,18}$' THEN $1::bigint END " \
	" OR name = $1) AND ($2 = '' OR environment = $2) "         \
	"ORDER BY (id::text = $1) DESC, environment LIMIT 1"

const char *
mgmt_default_env(const struct config *cfg)
{
	return cfg->environments.n > 0 ? cfg->environments.v[0] : "default";
}

/*
 * req's request_id for a log line: at most 64 printable ASCII characters
 * (Lighthouse's text must not forge log lines). Static buffer: berthd is
 * single-threaded.
 */
static const char *
mgmt_rid(const MMsg *req)
{
	static char buf[65];
	const char *p = req->request_id ? req->request_id : "";
	size_t i = 0;

	for (; *p && i < sizeof(buf) - 1; p++)
		buf[i++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	buf[i] = '\0';
	return buf;
}

static void
mgmt_reply_init(MMsg *m, const MMsg *req, bool success)
{
	lighthouse__v1__management_message__init(m);
	m->request_id = req->request_id;
	m->is_response = true;
	m->success = success;
}

/* Answers req with ManagementError code/message. */
static void
mgmt_error(const struct mgmt_ctx *ctx, const MMsg *req,
    Lighthouse__V1__ErrorCode code, const char *message)
{
	Lighthouse__V1__ManagementError err;
	MMsg m;

	lighthouse__v1__management_error__init(&err);
	err.code = code;
	err.message = (char *)message;
	mgmt_reply_init(&m, req, false);
	m.message_case = MM(ERROR);
	m.error = &err;
	ctx->send(ctx->send_arg, &m);
}

/*
 * Sends m, its answer case already set, as the successful answer to req;
 * or an "out of memory" error instead when building it in a failed.
 * Frees a either way.
 */
static void
mgmt_answer(const struct mgmt_ctx *ctx, const MMsg *req, struct pbutil_arena *a,
    MMsg *m)
{
	if (pbutil_arena_failed(a)) {
		mgmt_error(ctx, req, EC(UNKNOWN_ERROR), "out of memory");
	} else {
		m->request_id = req->request_id;
		m->is_response = true;
		m->success = true;
		ctx->send(ctx->send_arg, m);
	}
	pbutil_arena_free(a);
}

/* The strings of a JSON array text ("[\"a\",\"b\"]"), in a. */
static char **
mgmt_json_strs(struct pbutil_arena *a, const char *text, size_t *n)
{
	struct json_object *arr;
	char **out = NULL;
	size_t i, len;

	*n = 0;
	if (text == NULL || (arr = json_tokener_parse(text)) == NULL)
		return NULL;
	if (json_object_is_type(arr, json_type_array) &&
	    (len = json_object_array_length(arr)) > 0 &&
	    (out = (char **)pbutil_ptrs(a, len)) != NULL) {
		for (i = 0; i < len && i < LIMIT_LH_LIST; i++) {
			struct json_object *v =
			    json_object_array_get_idx(arr, i);
			if (json_object_is_type(v, json_type_string))
				out[(*n)++] =
				    pbutil_strdup(a, json_object_get_string(v));
		}
	}
	json_object_put(arr);
	return out;
}

static const char *
mgmt_col(const PGresult *res, int row, const char *name)
{
	int c = PQfnumber(res, name);

	return c < 0 || PQgetisnull(res, row, c) ? "" : PQgetvalue(res, row, c);
}

static Lighthouse__V1__AgentInfo *
mgmt_agent_info(struct pbutil_arena *a, const PGresult *res, int row)
{
	Lighthouse__V1__AgentInfo *ai = pbutil_alloc(a, sizeof(*ai));

	if (ai == NULL)
		return NULL;
	lighthouse__v1__agent_info__init(ai);
	ai->id = pbutil_strdup(a, mgmt_col(res, row, "id"));
	ai->name = pbutil_strdup(a, mgmt_col(res, row, "name"));
	ai->description = pbutil_strdup(a, mgmt_col(res, row, "description"));
	ai->prompt = pbutil_strdup(a, mgmt_col(res, row, "template"));
	ai->model_name = pbutil_strdup(a, mgmt_col(res, row, "model"));
	ai->max_steps = (int)pbutil_ll(mgmt_col(res, row, "max_steps"));
	ai->assigned_tools = mgmt_json_strs(
	    a, mgmt_col(res, row, "tools"), &ai->n_assigned_tools);
	ai->environment_name =
	    pbutil_strdup(a, mgmt_col(res, row, "environment"));
	ai->created_at = pbutil_ts_epoch(a, mgmt_col(res, row, "created"));
	ai->updated_at = pbutil_ts_epoch(a, mgmt_col(res, row, "updated"));
	ai->status = LIGHTHOUSE__V1__AGENT_STATUS__AGENT_STATUS_ACTIVE;
	return ai;
}

static Lighthouse__V1__AgentConfig *
mgmt_agent_config(struct pbutil_arena *a, const PGresult *res, int row)
{
	Lighthouse__V1__AgentConfig *ac = pbutil_alloc(a, sizeof(*ac));

	if (ac == NULL)
		return NULL;
	lighthouse__v1__agent_config__init(ac);
	ac->id = pbutil_strdup(a, mgmt_col(res, row, "id"));
	ac->name = pbutil_strdup(a, mgmt_col(res, row, "name"));
	ac->description = pbutil_strdup(a, mgmt_col(res, row, "description"));
	ac->prompt_template = pbutil_strdup(a, mgmt_col(res, row, "template"));
	ac->model_name = pbutil_strdup(a, mgmt_col(res, row, "model"));
	ac->max_steps = (int)pbutil_ll(mgmt_col(res, row, "max_steps"));
	ac->tools =
	    mgmt_json_strs(a, mgmt_col(res, row, "tools"), &ac->n_tools);
	ac->created_at = pbutil_ts_epoch(a, mgmt_col(res, row, "created"));
	ac->updated_at = pbutil_ts_epoch(a, mgmt_col(res, row, "updated"));
	return ac;
}

/* Agents of environment env ("" = all), capped; NULL *res on error. */
static berr
mgmt_agents(const struct mgmt_ctx *ctx, const char *env, PGresult **res)
{
	char lim[16];
	const char *v[2] = { env, lim };

	snprintf(lim, sizeof(lim), "%d", LIMIT_LH_LIST);
	return db_exec_sql(ctx->db,
	    "SELECT " AGENT_COLS " FROM agents WHERE ($1 = '' OR "
	    "environment = $1) ORDER BY environment, name LIMIT $2::int",
	    2, v, res);
}

static Lighthouse__V1__AgentInfo **
mgmt_agent_list(struct pbutil_arena *a, const PGresult *res, size_t *n)
{
	Lighthouse__V1__AgentInfo **out;
	int i, rows = PQntuples(res);

	*n = 0;
	if (rows == 0 ||
	    (out = (Lighthouse__V1__AgentInfo **)pbutil_ptrs(a, rows)) == NULL)
		return NULL;
	for (i = 0; i < rows; i++)
		if ((out[*n] = mgmt_agent_info(a, res, i)) != NULL)
			(*n)++;
	return out;
}

static Lighthouse__V1__ToolInfo **
mgmt_tool_list(struct pbutil_arena *a, size_t *n)
{
	Lighthouse__V1__ToolInfo **out;
	const struct tool_def *t;
	size_t i, count = 0;

	*n = 0;
	while (tools_builtin_at(count) != NULL && count < LIMIT_LH_LIST)
		count++;
	if (count == 0 ||
	    (out = (Lighthouse__V1__ToolInfo **)pbutil_ptrs(a, count)) == NULL)
		return NULL;
	for (i = 0; i < count; i++) {
		Lighthouse__V1__ToolInfo *ti = pbutil_alloc(a, sizeof(*ti));
		t = tools_builtin_at(i);
		if (ti == NULL)
			break;
		lighthouse__v1__tool_info__init(ti);
		ti->name = pbutil_strdup(a, t->name);
		ti->description = pbutil_strdup(a, t->description);
		ti->mcp_server = pbutil_strdup(a, "berth");
		out[(*n)++] = ti;
	}
	return out;
}

void
mgmt_fill_auth(const struct mgmt_ctx *ctx, struct pbutil_arena *a,
    Lighthouse__V1__StationAuth *auth)
{
	PGresult *res = NULL;

	if (mgmt_agents(ctx, "", &res) == OK) {
		auth->agents = mgmt_agent_list(a, res, &auth->n_agents);
		PQclear(res);
	} else {
		log_warn("registering without the agent list: database error");
	}
	auth->tools = mgmt_tool_list(a, &auth->n_tools);
}

static void
mgmt_list_agents(const struct mgmt_ctx *ctx, const MMsg *req)
{
	Lighthouse__V1__ListAgentsManagementResponse r;
	const char *env = req->list_agents_request->environment;
	struct pbutil_arena a = { 0 };
	PGresult *res = NULL;
	MMsg m;

	if (mgmt_agents(ctx, env ? env : "", &res) != OK) {
		mgmt_error(ctx, req, EC(UNKNOWN_ERROR), "database unavailable");
		return;
	}
	lighthouse__v1__list_agents_management_response__init(&r);
	r.agents = mgmt_agent_list(&a, res, &r.n_agents);
	r.total_agents = (int32_t)r.n_agents;
	PQclear(res);
	lighthouse__v1__management_message__init(&m);
	m.message_case = MM(LIST_AGENTS_RESPONSE);
	m.list_agents_response = &r;
	mgmt_answer(ctx, req, &a, &m);
}

static void
mgmt_list_tools(const struct mgmt_ctx *ctx, const MMsg *req)
{
	Lighthouse__V1__ListToolsManagementResponse r;
	const char *env = req->list_tools_request->environment;
	struct pbutil_arena a = { 0 };
	MMsg m;

	lighthouse__v1__list_tools_management_response__init(&r);
	r.tools = mgmt_tool_list(&a, &r.n_tools);
	r.total_tools = (int32_t)r.n_tools;
	r.environment_name =
	    pbutil_strdup(&a, env && *env ? env : mgmt_default_env(ctx->cfg));
	lighthouse__v1__management_message__init(&m);
	m.message_case = MM(LIST_TOOLS_RESPONSE);
	m.list_tools_response = &r;
	mgmt_answer(ctx, req, &a, &m);
}

static void
mgmt_get_environments(const struct mgmt_ctx *ctx, const MMsg *req)
{
	Lighthouse__V1__GetEnvironmentsResponse r;
	const struct strlist *envs = &ctx->cfg->environments;
	struct pbutil_arena a = { 0 };
	PGresult *res = NULL;
	size_t i, ntools = 0;
	int row;
	MMsg m;

	if (db_exec_sql(ctx->db,
	        "SELECT environment, count(*)::int AS n FROM agents "
	        "GROUP BY environment",
	        0, NULL, &res) != OK) {
		mgmt_error(ctx, req, EC(UNKNOWN_ERROR), "database unavailable");
		return;
	}
	while (tools_builtin_at(ntools) != NULL)
		ntools++;
	lighthouse__v1__get_environments_response__init(&r);
	r.environments =
	    (Lighthouse__V1__EnvironmentInfo **)pbutil_ptrs(&a, envs->n);
	for (i = 0; r.environments != NULL && i < envs->n; i++) {
		Lighthouse__V1__EnvironmentInfo *e =
		    pbutil_alloc(&a, sizeof(*e));
		if (e == NULL)
			break;
		lighthouse__v1__environment_info__init(e);
		e->name = pbutil_strdup(&a, envs->v[i]);
		for (row = 0; row < PQntuples(res); row++)
			if (strcmp(mgmt_col(res, row, "environment"),
			        envs->v[i]) == 0)
				e->agent_count =
				    (int)pbutil_ll(mgmt_col(res, row, "n"));
		e->tool_count = (int32_t)ntools;
		e->is_default = i == 0;
		r.environments[r.n_environments++] = e;
	}
	PQclear(res);
	lighthouse__v1__management_message__init(&m);
	m.message_case = MM(GET_ENVIRONMENTS_RESPONSE);
	m.get_environments_response = &r;
	mgmt_answer(ctx, req, &a, &m);
}

/* Looks one agent up; OK with *res holding 0 or 1 row. */
static berr
mgmt_agent_one(
    const struct mgmt_ctx *ctx, const char *id, const char *env, PGresult **res)
{
	const char *v[2] = { id ? id : "", env ? env : "" };

	return db_exec_sql(ctx->db, SQL_AGENT_ONE, 2, v, res);
}

static void
mgmt_get_agent_details(const struct mgmt_ctx *ctx, const MMsg *req)
{
	const Lighthouse__V1__GetAgentDetailsRequest *q =
	    req->get_agent_details_request;
	Lighthouse__V1__GetAgentDetailsResponse r;
	struct pbutil_arena a = { 0 };
	PGresult *res = NULL;
	MMsg m;

	if (mgmt_agent_one(ctx, q->agent_id, q->environment, &res) != OK) {
		mgmt_error(ctx, req, EC(UNKNOWN_ERROR), "database unavailable");
		return;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		mgmt_error(ctx, req, EC(AGENT_NOT_FOUND), "agent not found");
		return;
	}
	lighthouse__v1__get_agent_details_response__init(&r);
	r.agent = mgmt_agent_config(&a, res, 0);
	PQclear(res);
	lighthouse__v1__management_message__init(&m);
	m.message_case = MM(GET_AGENT_DETAILS_RESPONSE);
	m.get_agent_details_response = &r;
	mgmt_answer(ctx, req, &a, &m);
}

static void
mgmt_audit_prompt(const struct mgmt_ctx *ctx, const MMsg *req,
    const char *agent, const char *env, bool ok)
{
	struct json_object *d = json_object_new_object();
	struct audit_event ev = { 0 };

	if (d != NULL) {
		json_object_object_add(
		    d, "source", json_object_new_string("lighthouse"));
		json_object_object_add(
		    d, "request_id", json_object_new_string(req->request_id));
	}
	ev.username = "lighthouse";
	ev.action = "agent.prompt_update";
	ev.resource = agent;
	ev.environment = env && *env ? env : NULL;
	ev.success = ok;
	ev.details = d;
	if (audit_append(ctx->db, &ev) != OK)
		log_warn("request %s: audit of the prompt update failed",
		    mgmt_rid(req));
	json_object_put(d);
}

static void
mgmt_update_agent_prompt(const struct mgmt_ctx *ctx, const MMsg *req)
{
	const Lighthouse__V1__UpdateAgentPromptRequest *q =
	    req->update_agent_prompt_request;
	Lighthouse__V1__UpdateAgentPromptResponse r;
	struct pbutil_arena a = { 0 };
	PGresult *res = NULL, *upd = NULL;
	const char *v[2];
	char agent_env[80];
	MMsg m;

	if (q->new_prompt == NULL || *q->new_prompt == '\0' ||
	    strlen(q->new_prompt) > LIMIT_LH_PROMPT_BYTES) {
		mgmt_error(ctx, req, EC(EXECUTION_ERROR),
		    "new_prompt must be 1 to 262144 bytes");
		return;
	}
	if (mgmt_agent_one(ctx, q->agent_id, q->environment, &res) != OK) {
		mgmt_error(ctx, req, EC(UNKNOWN_ERROR), "database unavailable");
		return;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		mgmt_error(ctx, req, EC(AGENT_NOT_FOUND), "agent not found");
		return;
	}
	v[0] = mgmt_col(res, 0, "id");
	v[1] = q->new_prompt;
	snprintf(agent_env, sizeof(agent_env), "%s",
	    mgmt_col(res, 0, "environment"));
	if (db_exec_sql(ctx->db,
	        "UPDATE agents SET template = $2 WHERE id = $1::bigint "
	        "RETURNING " AGENT_COLS,
	        2, v, &upd) != OK ||
	    PQntuples(upd) == 0) {
		mgmt_audit_prompt(
		    ctx, req, mgmt_col(res, 0, "name"), agent_env, false);
		PQclear(res);
		PQclear(upd);
		mgmt_error(ctx, req, EC(UNKNOWN_ERROR), "update failed");
		return;
	}
	mgmt_audit_prompt(ctx, req, mgmt_col(res, 0, "name"), agent_env, true);
	PQclear(res);
	lighthouse__v1__update_agent_prompt_response__init(&r);
	r.success = true;
	r.message = (char *)"prompt updated";
	r.updated_agent = mgmt_agent_config(&a, upd, 0);
	PQclear(upd);
	log_info("request %s: prompt of agent %s updated by Lighthouse",
	    mgmt_rid(req), r.updated_agent ? r.updated_agent->name : "?");
	lighthouse__v1__management_message__init(&m);
	m.message_case = MM(UPDATE_AGENT_PROMPT_RESPONSE);
	m.update_agent_prompt_response = &r;
	mgmt_answer(ctx, req, &a, &m);
}

/* What an unknown-agent run needs inside its transaction. */
struct mgmt_failed_run {
	const char *const *v; /* name, env, input, lh run id, request id, err */
	char run_id[24];
};

static berr
mgmt_failed_run_tx(struct db *db, void *arg)
{
	struct mgmt_failed_run *f = arg;
	PGresult *res = NULL;
	berr rc;

	rc = db_exec_sql(db,
	    "INSERT INTO runs (agent_name, environment, input, source, "
	    "status, error, finished_at, lighthouse_run_id, "
	    "lighthouse_request_id) VALUES ($1, $2, $3::jsonb, "
	    "'lighthouse', 'failed', $6, now(), nullif($4, ''), $5) "
	    "ON CONFLICT (lighthouse_run_id) DO UPDATE SET "
	    "lighthouse_request_id = EXCLUDED.lighthouse_request_id "
	    "RETURNING id::text",
	    6, f->v, &res);
	if (rc != OK)
		return rc;
	snprintf(f->run_id, sizeof(f->run_id), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return outbox_enqueue(db, f->run_id);
}

/* The run's input: {"task", "variables", "timeout_seconds"}; malloc'ed. */
static char *
mgmt_run_input(const Lighthouse__V1__ExecuteAgentManagementRequest *q)
{
	struct json_object *o = json_object_new_object(), *vars;
	char *out = NULL;
	size_t i;

	if (o == NULL)
		return NULL;
	vars = json_object_new_object();
	for (i = 0; vars != NULL && i < q->n_variables; i++)
		json_object_object_add(vars, q->variables[i]->key,
		    json_object_new_string(q->variables[i]->value));
	json_object_object_add(
	    o, "task", json_object_new_string(q->task ? q->task : ""));
	json_object_object_add(o, "variables", vars);
	json_object_object_add(
	    o, "timeout_seconds", json_object_new_int(q->timeout_seconds));
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return out;
}

void
mgmt_run_update(const struct mgmt_ctx *ctx, const char *request_id,
    const char *execution_id, Lighthouse__V1__ExecutionStatus st, int step,
    const char *desc, const char *text, bool success)
{
	Lighthouse__V1__ExecuteAgentManagementResponse r;
	struct pbutil_arena a = { 0 };
	char step_desc[32];
	MMsg m;

	lighthouse__v1__execute_agent_management_response__init(&r);
	r.execution_id = (char *)execution_id;
	r.status = st;
	r.partial_response = (char *)(text ? text : "");
	if (step > 0) {
		snprintf(step_desc, sizeof(step_desc), "step %d", step);
		r.step_number = step;
		r.step_description = (char *)(desc ? desc : step_desc);
	}
	r.timestamp = pbutil_ts_now(&a);
	lighthouse__v1__management_message__init(&m);
	m.request_id = (char *)request_id;
	m.is_response = true;
	m.success = success;
	m.message_case = MM(EXECUTE_AGENT_RESPONSE);
	m.execute_agent_response = &r;
	ctx->send(ctx->send_arg, &m);
	pbutil_arena_free(&a);
}

static void
mgmt_exec_update(const struct mgmt_ctx *ctx, const MMsg *req,
    const char *execution_id, Lighthouse__V1__ExecutionStatus st,
    const char *text, bool success)
{
	mgmt_run_update(
	    ctx, req->request_id, execution_id, st, 0, NULL, text, success);
}

static bool
mgmt_valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	const unsigned char *p;

	if (n == 0 || n > 100)
		return false;
	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static bool
mgmt_valid_env(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	const char *p;

	if (n == 0 || n > 64)
		return false;
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		        (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
		        *p == '-'))
			return false;
	return true;
}

static void
mgmt_execute_agent(const struct mgmt_ctx *ctx, const MMsg *req)
{
	const Lighthouse__V1__ExecuteAgentManagementRequest *q =
	    req->execute_agent_request;
	const char *exec_id =
	    q->run_id && *q->run_id ? q->run_id : req->request_id;
	const char *env = q->environment;
	PGresult *agent = NULL, *res = NULL;
	char *input = NULL, why[256];
	berr rc;

	if (!mgmt_valid_name(q->agent_id)) {
		mgmt_error(ctx, req, EC(AGENT_NOT_FOUND),
		    "agent_id must be 1 to 100 printable characters");
		return;
	}
	if (env != NULL && *env != '\0' && !mgmt_valid_env(env)) {
		mgmt_error(ctx, req, EC(ENVIRONMENT_NOT_FOUND),
		    "invalid environment name");
		return;
	}
	if (strlen(exec_id) > 200 || strlen(req->request_id) > 200 ||
	    (input = mgmt_run_input(q)) == NULL) {
		mgmt_error(ctx, req, EC(EXECUTION_ERROR), "invalid request");
		free(input);
		return;
	}
	if (mgmt_agent_one(ctx, q->agent_id, env, &agent) != OK) {
		mgmt_error(
		    ctx, req, EC(EXECUTION_ERROR), "database unavailable");
		goto out;
	}
	if (PQntuples(agent) == 0) {
		struct mgmt_failed_run f = { 0 };
		const char *v[6];
		snprintf(why, sizeof(why),
		    "AGENT_NOT_FOUND: no agent '%.100s' in environment '%.64s'",
		    q->agent_id,
		    env && *env ? env : mgmt_default_env(ctx->cfg));
		v[0] = q->agent_id;
		v[1] = env && *env ? env : mgmt_default_env(ctx->cfg);
		v[2] = input;
		v[3] = q->run_id ? q->run_id : "";
		v[4] = req->request_id;
		v[5] = why;
		f.v = v;
		if ((rc = db_tx(ctx->db, mgmt_failed_run_tx, &f)) != OK) {
			mgmt_error(ctx, req, EC(EXECUTION_ERROR), err_str(rc));
			goto out;
		}
		log_info("request %s: execute_agent of unknown agent "
		         "%.100s: run %s failed",
		    mgmt_rid(req), q->agent_id, f.run_id);
		mgmt_exec_update(ctx, req, exec_id, ES(QUEUED), NULL, true);
		mgmt_exec_update(ctx, req, exec_id, ES(FAILED), why, false);
		goto out;
	} else {
		const char *v[7] = { mgmt_col(agent, 0, "id"),
			mgmt_col(agent, 0, "name"),
			mgmt_col(agent, 0, "environment"), input,
			q->run_id ? q->run_id : "", req->request_id };
		rc = db_exec_sql(ctx->db,
		    "INSERT INTO runs (agent_id, agent_name, environment, "
		    "input, source, lighthouse_run_id, lighthouse_request_id) "
		    "VALUES ($1::bigint, $2, $3, $4::jsonb, 'lighthouse', "
		    "nullif($5, ''), $6) ON CONFLICT (lighthouse_run_id) DO "
		    "UPDATE SET lighthouse_request_id = "
		    "EXCLUDED.lighthouse_request_id RETURNING id::text",
		    6, v, &res);
		if (rc != OK) {
			mgmt_error(ctx, req, EC(EXECUTION_ERROR), err_str(rc));
			goto out;
		}
		log_info("request %s: execute_agent %s: run %s queued",
		    mgmt_rid(req), mgmt_col(agent, 0, "name"),
		    PQgetvalue(res, 0, 0));
		mgmt_exec_update(ctx, req, exec_id, ES(QUEUED), NULL, true);
	}
out:
	PQclear(agent);
	PQclear(res);
	free(input);
}

void
mgmt_handle(const struct mgmt_ctx *ctx, const MMsg *req)
{
	char what[64];

	if (req->is_response) {
		log_debug("request %s: unexpected response (field %d) "
		          "ignored",
		    mgmt_rid(req), (int)req->message_case);
		return;
	}
	switch (req->message_case) {
	case MM(LIST_AGENTS_REQUEST): mgmt_list_agents(ctx, req); return;
	case MM(LIST_TOOLS_REQUEST): mgmt_list_tools(ctx, req); return;
	case MM(GET_ENVIRONMENTS_REQUEST):
		mgmt_get_environments(ctx, req);
		return;
	case MM(GET_AGENT_DETAILS_REQUEST):
		mgmt_get_agent_details(ctx, req);
		return;
	case MM(UPDATE_AGENT_PROMPT_REQUEST):
		mgmt_update_agent_prompt(ctx, req);
		return;
	case MM(EXECUTE_AGENT_REQUEST): mgmt_execute_agent(ctx, req); return;
	default: break;
	}
	if (req->message_case == MM(_NOT_SET))
		snprintf(what, sizeof(what), "request type not supported");
	else
		snprintf(what, sizeof(what),
		    "request type %d not supported by this station",
		    (int)req->message_case);
	log_info("request %s: %s: answered UNKNOWN_ERROR", mgmt_rid(req), what);
	mgmt_error(ctx, req, EC(UNKNOWN_ERROR), what);
}
