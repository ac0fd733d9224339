/*
 * runner.c - see runner.h.
 *
 * Runs queued by Lighthouse or the CLI have no Berth user behind them; they
 * act as a principal named "station" with role RUNNER_STATION_ROLE in
 * every environment, so an agent started remotely can call the tools an
 * agent's developer could, and no more (docs/SECURITY.md).
 */
#include "runner.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ai.h"
#include "aicred.h"
#include "config.h"
#include "crypto.h"
#include "dotprompt.h"
#include "log.h"
#include "outbox.h"
#include "parse.h"
#include "principal.h"
#include "tools.h"
#include "validate.h"

#define RUNNER_STATION_ROLE   "developer"
#define RUNNER_TOOL_TEXT_MAX  (16 * 1024) /* a tool result given to the model */
#define RUNNER_TOOL_KEEP_MAX  4096        /* a tool result kept in the row */
#define RUNNER_CRED_FILE_MAX  (64 * 1024)
#define RUNNER_MAX_TOOL_CALLS 256 /* per run, recorded */

/* Workers LISTEN on berth_run_queued (daemon/workers.c). */
static const char runner_sql_enqueue[] =
    "WITH ins AS (INSERT INTO runs (agent_id, agent_name, environment, "
    "input, requested_by, source) VALUES ((SELECT id FROM agents WHERE "
    "environment = $2 AND name = $1), $1, $2, $3::jsonb, "
    "nullif($4::bigint, 0), $5) RETURNING id) "
    "SELECT id, pg_notify('berth_run_queued', id::text) FROM ins";
static const char runner_sql_claim[] =
    "UPDATE runs r SET status = 'running', claimed_by = $1, "
    "claimed_at = now(), heartbeat_at = now(), started_at = now() "
    "FROM (SELECT id FROM runs WHERE status = 'queued' "
    "ORDER BY created_at, id FOR UPDATE SKIP LOCKED LIMIT 1) q "
    "WHERE r.id = q.id RETURNING r.id, r.agent_name, r.environment, "
    "r.input::text AS input, coalesce(r.requested_by, 0) AS requested_by";
static const char runner_sql_agent[] =
    "SELECT name, model, max_steps, tools::text AS tools, "
    "allowed_tools::text AS allowed_tools, denied_tools::text AS "
    "denied_tools, template FROM agents WHERE environment = $1 AND name = $2";
static const char runner_sql_user[] =
    "SELECT u.username, coalesce(u.email, '') AS email, u.disabled, "
    "(SELECT coalesce(json_object_agg(r.environment, r.role), '{}'::json) "
    "FROM user_roles r WHERE r.user_id = u.id)::text AS roles "
    "FROM users u WHERE u.id = $1::bigint";
static const char runner_sql_event[] =
    "WITH e AS (INSERT INTO run_events (run_id, seq, kind, payload) "
    "VALUES ($1::bigint, $2::int, $3, $4::jsonb) RETURNING run_id, seq) "
    "SELECT pg_notify('berth_run', run_id || ':' || seq) FROM e";
static const char runner_sql_beat[] =
    "UPDATE runs SET heartbeat_at = now(), steps = $2::int "
    "WHERE id = $1::bigint RETURNING cancel_requested";
static const char runner_sql_finish[] =
    "UPDATE runs SET status = $2, finished_at = now(), "
    "final_response = $3, error = $4, steps = greatest(steps, $5::int), "
    "tool_calls = CASE WHEN jsonb_array_length($6::jsonb) > 0 "
    "THEN $6::jsonb ELSE tool_calls END, input_tokens = $7::int, "
    "output_tokens = $8::int, total_tokens = $7::int + $8::int, "
    "model = coalesce($9, model) WHERE id = $1::bigint AND status = 'running'";
/* A queued run is cancelled here (no worker holds it); a running one is
 * flagged for its worker. RETURNING gives the status afterwards. */
static const char runner_sql_cancel[] =
    "UPDATE runs SET cancel_requested = true, "
    "status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, "
    "finished_at = CASE WHEN status = 'queued' THEN now() "
    "ELSE finished_at END, "
    "error = CASE WHEN status = 'queued' THEN 'cancelled on request' "
    "ELSE error END "
    "WHERE id = $1::bigint AND status IN ('queued', 'running') "
    "RETURNING status";
/* The "finished" event of a run cancelled before any worker saw it. */
static const char runner_sql_cancel_event[] =
    "WITH e AS (INSERT INTO run_events (run_id, seq, kind, payload) "
    "SELECT $1::bigint, coalesce(max(seq) + 1, 0), 'finished', "
    "'{\"status\":\"cancelled\",\"steps\":0,"
    "\"error\":\"cancelled on request\"}'::jsonb "
    "FROM run_events WHERE run_id = $1::bigint RETURNING run_id, seq) "
    "SELECT pg_notify('berth_run', run_id || ':' || seq) FROM e";
static const char runner_sql_stale[] =
    "SELECT id FROM runs WHERE status = 'running' AND heartbeat_at < "
    "now() - make_interval(secs => $1::int) ORDER BY id LIMIT 100";

/* One run being worked on. */
struct runner_run {
	const struct config *cfg;
	struct db *db;
	long long id;
	char id_s[24];
	char environment[65];
	char agent_name[101];
	long long user_id;
	struct json_object *input; /* the row's input */
	struct principal principal;
	struct json_object *tool_calls; /* the record */
	struct json_object *tools;      /* neutral tool list for the model */
	int seq, steps;
	long long in_tokens, out_tokens;
	char model[201];
	char status[16];
	char *final_response;
	char error[256];
};

static berr
runner_prepare(struct db *db)
{
	berr rc;

	if ((rc = db_prepare(db, "runner_enqueue", runner_sql_enqueue, 5)) !=
	        OK ||
	    (rc = db_prepare(db, "runner_claim", runner_sql_claim, 1)) != OK ||
	    (rc = db_prepare(db, "runner_agent", runner_sql_agent, 2)) != OK ||
	    (rc = db_prepare(db, "runner_user", runner_sql_user, 1)) != OK ||
	    (rc = db_prepare(db, "runner_event", runner_sql_event, 4)) != OK ||
	    (rc = db_prepare(db, "runner_beat", runner_sql_beat, 2)) != OK ||
	    (rc = db_prepare(db, "runner_finish", runner_sql_finish, 9)) !=
	        OK ||
	    (rc = db_prepare(db, "runner_cancel", runner_sql_cancel, 1)) !=
	        OK ||
	    (rc = db_prepare(
	         db, "runner_cancel_event", runner_sql_cancel_event, 1)) != OK)
		return rc;
	return db_prepare(db, "runner_stale", runner_sql_stale, 1);
}

berr
runner_enqueue(struct db *db, const char *agent, const char *environment,
    long long user_id, const char *source, const char *task,
    struct json_object *variables, long long *run_id)
{
	struct json_object *input = NULL;
	PGresult *res = NULL;
	char uid[24], why[160];
	const char *v[5];
	long id = 0;
	berr rc;

	*run_id = 0;
	if (source == NULL ||
	    (strcmp(source, "mcp") != 0 && strcmp(source, "lighthouse") != 0 &&
	        strcmp(source, "cli") != 0) ||
	    validate_name("agent", agent, why, sizeof(why)) != OK ||
	    validate_task(task, why, sizeof(why)) != OK ||
	    (variables != NULL &&
	        !json_object_is_type(variables, json_type_object)))
		return ERR_INVALID;
	if ((rc = runner_prepare(db)) != OK)
		return rc;
	if ((input = json_object_new_object()) == NULL ||
	    json_object_object_add(
	        input, "task", json_object_new_string(task)) ||
	    json_object_object_add(input, "variables",
	        variables ? json_object_get(variables)
	                  : json_object_new_object())) {
		json_object_put(input);
		return ERR_NOMEM;
	}
	snprintf(uid, sizeof(uid), "%lld", user_id);
	v[0] = agent;
	v[1] = environment;
	v[2] = json_object_to_json_string_ext(input, JSON_C_TO_STRING_PLAIN);
	v[3] = uid;
	v[4] = source;
	rc = db_exec(db, "runner_enqueue", 5, v, &res);
	if (rc == OK &&
	    (PQntuples(res) != 1 ||
	        parse_long(PQgetvalue(res, 0, 0), 1, LONG_MAX, &id) != OK))
		rc = ERR_DB;
	else if (rc == OK)
		*run_id = id;
	PQclear(res);
	json_object_put(input);
	return rc;
}

/* runner_cancel()'s transaction. */
struct runner_cancel_tx {
	const struct config *cfg;
	char id[24];
	char status[16];
};

static berr
runner_cancel_tx(struct db *db, void *arg)
{
	struct runner_cancel_tx *c = arg;
	PGresult *res = NULL;
	const char *v[1] = { c->id };
	berr rc;

	c->status[0] = '\0';
	if ((rc = db_exec(db, "runner_cancel", 1, v, &res)) != OK)
		return rc;
	if (PQntuples(res) == 1)
		snprintf(
		    c->status, sizeof(c->status), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (strcmp(c->status, "cancelled") != 0)
		return OK;
	if ((rc = db_exec(db, "runner_cancel_event", 1, v, NULL)) != OK)
		return rc;
	if (c->cfg != NULL && c->cfg->cloudship.enabled)
		return outbox_enqueue(db, c->id);
	return OK;
}

berr
runner_cancel(
    struct db *db, const struct config *cfg, long long run_id, char *status)
{
	struct runner_cancel_tx c = { 0 };
	berr rc;

	c.cfg = cfg;
	snprintf(c.id, sizeof(c.id), "%lld", run_id);
	if (status != NULL)
		status[0] = '\0';
	if ((rc = runner_prepare(db)) != OK)
		return rc;
	if ((rc = db_tx(db, runner_cancel_tx, &c)) != OK)
		return rc;
	if (status != NULL)
		snprintf(status, 16, "%s", c.status);
	return OK;
}

/* Appends a run_events row and NOTIFYs; payload taken (put). */
static berr
runner_event(
    struct runner_run *r, const char *kind, struct json_object *payload)
{
	char seq[16];
	const char *v[4];
	berr rc;

	if (payload == NULL)
		return ERR_NOMEM;
	snprintf(seq, sizeof(seq), "%d", r->seq++);
	v[0] = r->id_s;
	v[1] = seq;
	v[2] = kind;
	v[3] = json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN);
	rc = db_exec(r->db, "runner_event", 4, v, NULL);
	json_object_put(payload);
	return rc;
}

/* Heartbeat; *cancel set when someone asked the run to stop. */
static berr
runner_beat(struct runner_run *r, bool *cancel)
{
	PGresult *res = NULL;
	char steps[16];
	const char *v[2] = { r->id_s, steps };
	berr rc;

	snprintf(steps, sizeof(steps), "%d", r->steps);
	if ((rc = db_exec(r->db, "runner_beat", 2, v, &res)) != OK)
		return rc;
	*cancel =
	    PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return OK;
}

/*
 * The principal the run's tools act as: the user who queued it, or the
 * station for Lighthouse and CLI runs. ERR_DENIED for a disabled or
 * deleted user (the run fails: its requester lost the right).
 */
static berr
runner_principal(struct runner_run *r)
{
	struct principal *p = &r->principal;
	PGresult *res = NULL;
	bool ok;
	char uid[24];
	const char *v[1] = { uid };
	berr rc;

	memset(p, 0, sizeof(*p));
	p->method = AUTH_NONE;
	if (r->user_id == 0) {
		snprintf(p->username, sizeof(p->username), "station");
		snprintf(p->roles[0].environment,
		    sizeof(p->roles[0].environment), "*");
		snprintf(p->roles[0].role, sizeof(p->roles[0].role), "%s",
		    RUNNER_STATION_ROLE);
		p->nroles = 1;
		return OK;
	}
	snprintf(uid, sizeof(uid), "%lld", r->user_id);
	if ((rc = db_exec(r->db, "runner_user", 1, v, &res)) != OK)
		return rc;
	if (PQntuples(res) != 1 ||
	    strcmp(PQgetvalue(res, 0, PQfnumber(res, "disabled")), "t") == 0) {
		PQclear(res);
		return ERR_DENIED;
	}
	p->user_id = r->user_id;
	snprintf(p->username, sizeof(p->username), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "username")));
	snprintf(p->email, sizeof(p->email), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "email")));
	/* Like principal_resolve(): a role list that does not fit is a
	 * refusal, never a cut list. */
	ok = principal_parse_roles(
	    PQgetvalue(res, 0, PQfnumber(res, "roles")), p);
	PQclear(res);
	return ok ? OK : ERR_DENIED;
}

static bool
runner_in_list(struct json_object *list, const char *name)
{
	size_t i;

	for (i = 0; list != NULL && i < json_object_array_length(list); i++)
		if (strcmp(json_object_get_string(
		               json_object_array_get_idx(list, i)),
		        name) == 0)
			return true;
	return false;
}

/*
 * The registry tools this agent may use, in the model's neutral format:
 * named in tools, not denied, allowed when an allow list exists, and
 * visible to the run's principal. Names the registry lacks are logged as
 * an event and left out.
 */
static berr
runner_tools(struct runner_run *r, const struct tool_call_ctx *ctx,
    struct json_object *want, struct json_object *allowed,
    struct json_object *denied)
{
	struct json_object *all = NULL, *t, *o, *schema, *d;
	char *next = NULL;
	const char *name;
	size_t i;
	berr rc;

	if ((r->tools = json_object_new_array()) == NULL)
		return ERR_NOMEM;
	if (want == NULL || json_object_array_length(want) == 0)
		return OK;
	if ((rc = tools_list(ctx, NULL, 1000, &all, &next)) != OK)
		return rc;
	free(next);
	for (i = 0; i < json_object_array_length(want); i++) {
		size_t j;
		bool found = false;

		name =
		    json_object_get_string(json_object_array_get_idx(want, i));
		if (runner_in_list(denied, name) ||
		    (allowed != NULL && !runner_in_list(allowed, name)))
			continue;
		for (j = 0; j < json_object_array_length(all); j++) {
			t = json_object_array_get_idx(all, j);
			if (!json_object_object_get_ex(t, "name", &o) ||
			    strcmp(json_object_get_string(o), name) != 0)
				continue;
			found = true;
			schema = NULL;
			d = NULL;
			json_object_object_get_ex(t, "inputSchema", &schema);
			json_object_object_get_ex(t, "description", &d);
			o = json_object_new_object();
			if (o == NULL ||
			    json_object_object_add(
			        o, "name", json_object_new_string(name)) ||
			    json_object_object_add(o, "description",
			        json_object_new_string(
			            d ? json_object_get_string(d) : "")) ||
			    json_object_object_add(o, "input_schema",
			        schema ? json_object_get(schema)
			               : json_object_new_object()) ||
			    json_object_array_add(r->tools, o)) {
				json_object_put(o);
				json_object_put(all);
				return ERR_NOMEM;
			}
			break;
		}
		if (!found) {
			d = json_object_new_object();
			if (d != NULL)
				json_object_object_add(
				    d, "tool", json_object_new_string(name));
			if ((rc = runner_event(r, "tool_unavailable", d)) !=
			    OK) {
				json_object_put(all);
				return rc;
			}
		}
	}
	json_object_put(all);
	return OK;
}

/* The text of a CallToolResult (text items joined), capped; new string. */
static char *
runner_result_text(struct json_object *result, size_t cap)
{
	struct json_object *content, *item, *v;
	const char *s;
	char *out;
	size_t i, len = 0, n;

	if ((out = calloc(1, cap + 1)) == NULL)
		return NULL;
	if (json_object_object_get_ex(result, "content", &content) &&
	    json_object_is_type(content, json_type_array)) {
		for (i = 0; i < json_object_array_length(content); i++) {
			item = json_object_array_get_idx(content, i);
			if (!json_object_object_get_ex(item, "text", &v))
				continue;
			s = json_object_get_string(v);
			n = strlen(s);
			if (len > 0 && len < cap)
				out[len++] = '\n';
			if (n > cap - len)
				n = cap - len;
			memcpy(out + len, s, n);
			len += n;
		}
	}
	if (len == 0) {
		s = json_object_to_json_string_ext(
		    result, JSON_C_TO_STRING_PLAIN);
		snprintf(out, cap + 1, "%s", s ? s : "");
	}
	return out;
}

/* Milliseconds on the monotonic clock since *t0. */
static long long
runner_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000LL +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* One tool call of the model: run it, record it, answer the model. */
static berr
runner_call_tool(struct runner_run *r, const struct tool_call_ctx *ctx,
    struct json_object *call, struct json_object *messages)
{
	struct json_object *args = NULL, *result = NULL, *rec, *msg, *v;
	const char *name = "", *id = "";
	char *text = NULL, *keep = NULL;
	struct timespec t0, wall;
	long long ms;
	double at;
	bool ok = false;
	berr rc = OK;

	if (json_object_object_get_ex(call, "name", &v))
		name = json_object_get_string(v);
	if (json_object_object_get_ex(call, "id", &v))
		id = json_object_get_string(v);
	json_object_object_get_ex(call, "arguments", &args);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_REALTIME, &wall);
	at = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
	if (json_object_array_length(r->tools) == 0) {
		text = strdup("error: this agent has no tools");
	} else {
		size_t i;
		bool offered = false;

		for (i = 0; i < json_object_array_length(r->tools); i++) {
			json_object_object_get_ex(
			    json_object_array_get_idx(r->tools, i), "name", &v);
			if (strcmp(json_object_get_string(v), name) == 0)
				offered = true;
		}
		if (!offered)
			text =
			    strdup("error: this tool is not available to the "
			           "agent");
	}
	if (text == NULL && args == NULL)
		text = strdup("error: the arguments were not a JSON object");
	if (text == NULL) {
		if ((rc = tools_call(ctx, name, args, &result)) != OK)
			goto out;
		ok = !(json_object_object_get_ex(result, "isError", &v) &&
		    json_object_get_boolean(v));
		text = runner_result_text(result, RUNNER_TOOL_TEXT_MAX);
	}
	ms = runner_ms_since(&t0);
	if (text == NULL ||
	    (keep = strndup(text, RUNNER_TOOL_KEEP_MAX)) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	rec = json_object_new_object();
	if (rec == NULL ||
	    json_object_object_add(rec, "name", json_object_new_string(name)) ||
	    json_object_object_add(
	        rec, "parameters", args ? json_object_get(args) : NULL) ||
	    json_object_object_add(
	        rec, "result", json_object_new_string(keep)) ||
	    json_object_object_add(
	        rec, "duration_ms", json_object_new_int64(ms)) ||
	    json_object_object_add(
	        rec, "success", json_object_new_boolean(ok)) ||
	    json_object_object_add(
	        rec, "step", json_object_new_int(r->steps)) ||
	    json_object_object_add(rec, "at", json_object_new_double(at))) {
		json_object_put(rec);
		rc = ERR_NOMEM;
		goto out;
	}
	if (json_object_array_length(r->tool_calls) < RUNNER_MAX_TOOL_CALLS)
		json_object_array_add(r->tool_calls, json_object_get(rec));
	if ((rc = runner_event(r, "tool_call", rec)) != OK)
		goto out;
	msg = json_object_new_object();
	if (msg == NULL ||
	    json_object_object_add(
	        msg, "role", json_object_new_string("tool")) ||
	    json_object_object_add(
	        msg, "tool_call_id", json_object_new_string(id)) ||
	    json_object_object_add(
	        msg, "content", json_object_new_string(text)) ||
	    json_object_array_add(messages, msg)) {
		json_object_put(msg);
		rc = ERR_NOMEM;
	}
out:
	free(text);
	free(keep);
	json_object_put(result);
	return rc;
}

/*
 * Anthropic's OAuth token from Claude Code's ~/.claude/.credentials.json
 * (claudeAiOauth.accessToken, unexpired), into buf. false when none.
 */
static bool
runner_claude_token(char *buf, size_t size)
{
	const char *home = getenv("HOME");
	struct json_object *root = NULL, *o, *tok, *exp;
	char path[PATH_MAX], data[RUNNER_CRED_FILE_MAX + 1];
	ssize_t n;
	bool ok = false;
	int fd;

	if (home == NULL ||
	    (size_t)snprintf(path, sizeof(path), "%s/.claude/.credentials.json",
	        home) >= sizeof(path))
		return false;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return false;
	n = read(fd, data, RUNNER_CRED_FILE_MAX);
	close(fd);
	if (n <= 0)
		return false;
	data[n] = '\0';
	root = json_tokener_parse(data);
	if (json_object_object_get_ex(root, "claudeAiOauth", &o) &&
	    json_object_object_get_ex(o, "accessToken", &tok) &&
	    json_object_is_type(tok, json_type_string) &&
	    (!json_object_object_get_ex(o, "expiresAt", &exp) ||
	        json_object_get_int64(exp) / 1000 >
	            (long long)time(NULL) + 60) &&
	    strlen(json_object_get_string(tok)) < size) {
		snprintf(buf, size, "%s", json_object_get_string(tok));
		ok = true;
	}
	json_object_put(root);
	OPENSSL_cleanse(data, sizeof(data));
	return ok;
}

/*
 * The tokens of `berth auth anthropic login` from the database, refreshed
 * when close to expiry (aicred_get()). 1 when key holds a token, 0 when
 * none is stored (the caller tries the next source), -1 with why set when
 * some are stored but cannot be used (the run fails: falling back to
 * another credential behind the operator's back would hide the fault).
 */
static int
runner_stored_token(
    struct runner_run *r, char *key, size_t keysize, char *why, size_t whylen)
{
	struct crypto_key mk, old;
	struct aicred_tokens t;
	char buf[256];
	const char *kwhy;
	bool have = false;
	int out = -1;
	berr rc;

	memset(&mk, 0, sizeof(mk));
	memset(&old, 0, sizeof(old));
	if (crypto_key_load(r->cfg, &mk, buf, sizeof(buf), &kwhy) == OK) {
		have = true;
		if (crypto_key_load_old(
		        r->cfg, &old, buf, sizeof(buf), &kwhy) == OK)
			mk.previous = &old;
	}
	rc = aicred_get(
	    r->db, r->cfg, have ? &mk : NULL, "anthropic", &t, why, whylen);
	if (rc == ERR_NOT_FOUND) {
		out = 0;
	} else if (rc == OK && strlen(t.access) < keysize) {
		snprintf(key, keysize, "%s", t.access);
		out = 1;
	} else if (rc == OK) {
		snprintf(why, whylen, "the stored anthropic token is too long");
	}
	aicred_tokens_wipe(&t);
	crypto_key_wipe(&mk);
	crypto_key_wipe(&old);
	return out;
}

/*
 * The provider from the config and its credential, in Station's order:
 * STN_AI_AUTH_TYPE=api_key forces the API key; otherwise, for Anthropic,
 * the tokens of `berth auth anthropic login` (database), then Claude
 * Code's ~/.claude/.credentials.json, then ANTHROPIC_API_KEY; OpenAI and
 * Gemini take OPENAI_API_KEY / GEMINI_API_KEY.
 */
static bool
runner_provider(struct runner_run *r, struct ai_provider *p, char *key,
    size_t keysize, char *why, size_t whylen)
{
	const struct config *cfg = r->cfg;
	const char *name = cfg->ai_provider, *env = NULL, *force;
	bool keys_only;

	memset(p, 0, sizeof(*p));
	if (!ai_kind_from_name(name, &p->kind)) {
		snprintf(why, whylen,
		    "ai_provider %s is not supported by the "
		    "runner yet",
		    name);
		return false;
	}
	p->base_url = cfg->ai_base_url && *cfg->ai_base_url ? cfg->ai_base_url
	    : strcmp(name, "ollama") == 0 ? "http://localhost:11434/v1"
	                                  : ai_default_base_url(p->kind);
	p->timeout_s = cfg->ai_timeout;
	p->max_retries = cfg->ai_max_retries;
	p->api_key = key;
	force = getenv("STN_AI_AUTH_TYPE");
	keys_only = force != NULL && strcmp(force, "api_key") == 0;
	if (p->kind == AI_ANTHROPIC) {
		if (!keys_only) {
			switch (
			    runner_stored_token(r, key, keysize, why, whylen)) {
			case 1: p->auth = AI_AUTH_OAUTH; return true;
			case 0: break;
			default: return false;
			}
			if (runner_claude_token(key, keysize)) {
				p->auth = AI_AUTH_OAUTH;
				return true;
			}
		}
		env = getenv("ANTHROPIC_API_KEY");
	} else if (p->kind == AI_GEMINI) {
		env = getenv("GEMINI_API_KEY");
	} else {
		env = getenv("OPENAI_API_KEY");
		if ((env == NULL || *env == '\0') &&
		    (strcmp(name, "ollama") == 0 ||
		        strcmp(name, "openai-compatible") == 0))
			env = "none"; /* local servers often take no key */
	}
	if (env == NULL || *env == '\0' || strlen(env) >= keysize) {
		snprintf(why, whylen, "no API key for %s (set %s)", name,
		    p->kind == AI_ANTHROPIC    ? "ANTHROPIC_API_KEY"
		        : p->kind == AI_GEMINI ? "GEMINI_API_KEY"
		                               : "OPENAI_API_KEY");
		return false;
	}
	snprintf(key, keysize, "%s", env);
	return true;
}

/* The messages for the first model call, from the template. */
static berr
runner_messages(
    struct runner_run *r, const char *template, struct json_object **messages)
{
	struct json_object *vars, *v, *task = NULL, *m, *role;
	struct dotprompt_error err;
	size_t i;
	bool user = false;
	berr rc;

	json_object_object_get_ex(r->input, "task", &task);
	vars = json_object_new_object();
	if (vars == NULL)
		return ERR_NOMEM;
	if (json_object_object_get_ex(r->input, "variables", &v) &&
	    json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, val)
		{
			json_object_object_add(vars, k, json_object_get(val));
		}
	}
	if (!json_object_object_get_ex(vars, "userInput", NULL))
		json_object_object_add(
		    vars, "userInput", json_object_get(task));
	if (!json_object_object_get_ex(vars, "task", NULL))
		json_object_object_add(vars, "task", json_object_get(task));
	rc = dotprompt_render(template, vars, messages, &err);
	json_object_put(vars);
	if (rc != OK) {
		snprintf(r->error, sizeof(r->error),
		    "the prompt does not render: %s", err.msg);
		return rc;
	}
	/* dotprompt says "model"; the providers say "assistant". */
	for (i = 0; i < json_object_array_length(*messages); i++) {
		m = json_object_array_get_idx(*messages, i);
		if (json_object_object_get_ex(m, "role", &role)) {
			if (strcmp(json_object_get_string(role), "model") == 0)
				json_object_object_add(m, "role",
				    json_object_new_string("assistant"));
			else if (strcmp(json_object_get_string(role), "user") ==
			    0)
				user = true;
		}
	}
	if (!user) {
		m = json_object_new_object();
		if (m == NULL ||
		    json_object_object_add(
		        m, "role", json_object_new_string("user")) ||
		    json_object_object_add(
		        m, "content", json_object_get(task)) ||
		    json_object_array_add(*messages, m)) {
			json_object_put(m);
			return ERR_NOMEM;
		}
	}
	return OK;
}

/* Model ↔ tools until a final answer, max_steps, cancel or failure. */
static berr
runner_loop(struct runner_run *r, PGresult *agent)
{
	struct tool_call_ctx ctx = { 0 };
	struct json_object *messages = NULL, *want, *allowed, *denied, *a, *ev;
	struct ai_provider prov;
	struct ai_result res = { 0 };
	struct timespec t0;
	char key[4096] = "", why[256] = "";
	const char *model;
	int max_steps = 5;
	size_t i;
	bool cancel = false;
	berr rc = OK;

	want =
	    json_tokener_parse(PQgetvalue(agent, 0, PQfnumber(agent, "tools")));
	allowed = PQgetisnull(agent, 0, PQfnumber(agent, "allowed_tools"))
	    ? NULL
	    : json_tokener_parse(
	          PQgetvalue(agent, 0, PQfnumber(agent, "allowed_tools")));
	denied = PQgetisnull(agent, 0, PQfnumber(agent, "denied_tools"))
	    ? NULL
	    : json_tokener_parse(
	          PQgetvalue(agent, 0, PQfnumber(agent, "denied_tools")));
	if (parse_int(PQgetvalue(agent, 0, PQfnumber(agent, "max_steps")), 1,
	        1000, &max_steps) != OK)
		max_steps = 5;
	model = PQgetisnull(agent, 0, PQfnumber(agent, "model"))
	    ? r->cfg->ai_model
	    : PQgetvalue(agent, 0, PQfnumber(agent, "model"));
	snprintf(r->model, sizeof(r->model), "%s", model);
	ctx.cfg = r->cfg;
	ctx.db = r->db;
	ctx.principal = &r->principal;
	ctx.environment = r->environment;
	ctx.request_id = r->id_s;
	ctx.client_ip = NULL;
	if ((rc = runner_tools(r, &ctx, want, allowed, denied)) != OK)
		goto out;
	if ((rc = runner_messages(r,
	         PQgetvalue(agent, 0, PQfnumber(agent, "template")),
	         &messages)) != OK) {
		if (rc == ERR_INVALID || rc == ERR_TOO_BIG) {
			snprintf(r->status, sizeof(r->status), "failed");
			rc = OK;
		}
		goto out;
	}
	if (!runner_provider(
	        r, &prov, key, sizeof(key), r->error, sizeof(r->error))) {
		snprintf(r->status, sizeof(r->status), "failed");
		goto out;
	}
	for (r->steps = 1; r->steps <= max_steps; r->steps++) {
		if ((rc = runner_beat(r, &cancel)) != OK)
			goto out;
		if (cancel) {
			snprintf(r->status, sizeof(r->status), "cancelled");
			snprintf(
			    r->error, sizeof(r->error), "cancelled on request");
			r->steps--;
			goto out;
		}
		ai_result_free(&res);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (ai_complete(&prov, r->model, messages, r->tools, 0, &res,
		        why, sizeof(why)) != OK) {
			snprintf(r->status, sizeof(r->status), "failed");
			snprintf(r->error, sizeof(r->error), "step %d: %s",
			    r->steps, why);
			goto out;
		}
		r->in_tokens += res.prompt_tokens;
		r->out_tokens += res.completion_tokens;
		ev = json_object_new_object();
		if (ev != NULL) {
			json_object_object_add(
			    ev, "step", json_object_new_int(r->steps));
			json_object_object_add(ev, "stop_reason",
			    json_object_new_string(res.stop_reason));
			json_object_object_add(ev, "tool_calls",
			    json_object_new_int(
			        (int)json_object_array_length(res.tool_calls)));
			json_object_object_add(ev, "prompt_tokens",
			    json_object_new_int64(res.prompt_tokens));
			json_object_object_add(ev, "completion_tokens",
			    json_object_new_int64(res.completion_tokens));
			json_object_object_add(ev, "duration_ms",
			    json_object_new_int64(runner_ms_since(&t0)));
		}
		if ((rc = runner_event(r, "llm_call", ev)) != OK)
			goto out;
		if (json_object_array_length(res.tool_calls) == 0) {
			snprintf(r->status, sizeof(r->status), "succeeded");
			if ((r->final_response = strdup(res.text)) == NULL)
				rc = ERR_NOMEM;
			goto out;
		}
		a = json_object_new_object();
		if (a == NULL ||
		    json_object_object_add(
		        a, "role", json_object_new_string("assistant")) ||
		    json_object_object_add(
		        a, "content", json_object_new_string(res.text)) ||
		    json_object_object_add(
		        a, "tool_calls", json_object_get(res.tool_calls)) ||
		    json_object_array_add(messages, a)) {
			json_object_put(a);
			rc = ERR_NOMEM;
			goto out;
		}
		for (i = 0; i < json_object_array_length(res.tool_calls); i++)
			if ((rc = runner_call_tool(r, &ctx,
			         json_object_array_get_idx(res.tool_calls, i),
			         messages)) != OK)
				goto out;
	}
	r->steps = max_steps;
	snprintf(r->status, sizeof(r->status), "failed");
	snprintf(r->error, sizeof(r->error),
	    "no final answer within max_steps (%d)", max_steps);
out:
	OPENSSL_cleanse(key, sizeof(key));
	ai_result_free(&res);
	json_object_put(messages);
	json_object_put(want);
	json_object_put(allowed);
	json_object_put(denied);
	return rc;
}

static berr
runner_finish_tx(struct db *db, void *arg)
{
	struct runner_run *r = arg;
	char steps[16], in[24], outt[24];
	const char *v[9];
	berr rc;

	snprintf(steps, sizeof(steps), "%d", r->steps < 0 ? 0 : r->steps);
	snprintf(in, sizeof(in), "%lld",
	    r->in_tokens > INT_MAX / 2 ? INT_MAX / 2 : r->in_tokens);
	snprintf(outt, sizeof(outt), "%lld",
	    r->out_tokens > INT_MAX / 2 ? INT_MAX / 2 : r->out_tokens);
	v[0] = r->id_s;
	v[1] = r->status;
	v[2] = r->final_response;
	v[3] = strcmp(r->status, "succeeded") == 0 ? NULL : r->error;
	v[4] = steps;
	v[5] = json_object_to_json_string_ext(
	    r->tool_calls, JSON_C_TO_STRING_PLAIN);
	v[6] = in;
	v[7] = outt;
	v[8] = *r->model ? r->model : NULL;
	if ((rc = db_exec(db, "runner_finish", 9, v, NULL)) != OK)
		return rc;
	if (r->cfg->cloudship.enabled &&
	    (rc = outbox_enqueue(db, r->id_s)) != OK)
		return rc;
	return OK;
}

/* Writes the final state (and the outbox row) in one transaction. */
static berr
runner_finish(struct runner_run *r)
{
	struct json_object *ev;
	berr rc;

	if ((rc = db_tx(r->db, runner_finish_tx, r)) != OK)
		return rc;
	ev = json_object_new_object();
	if (ev != NULL) {
		json_object_object_add(
		    ev, "status", json_object_new_string(r->status));
		json_object_object_add(
		    ev, "steps", json_object_new_int(r->steps));
		if (*r->error)
			json_object_object_add(
			    ev, "error", json_object_new_string(r->error));
	}
	return runner_event(r, "finished", ev);
}

berr
runner_run_one(struct db *db, const struct config *cfg, const char *worker_id,
    struct runner_outcome *out)
{
	struct runner_run r;
	PGresult *res = NULL, *agent = NULL;
	const char *v[2];
	long lv = 0;
	berr rc;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.db = db;
	if ((rc = runner_prepare(db)) != OK)
		return rc;
	v[0] = worker_id;
	if ((rc = db_exec(db, "runner_claim", 1, v, &res)) != OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return OK;
	}
	snprintf(r.id_s, sizeof(r.id_s), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "id")));
	if (parse_long(r.id_s, 1, LONG_MAX, &lv) == OK)
		r.id = lv;
	snprintf(r.agent_name, sizeof(r.agent_name), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "agent_name")));
	snprintf(r.environment, sizeof(r.environment), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "environment")));
	if (parse_long(PQgetvalue(res, 0, PQfnumber(res, "requested_by")), 0,
	        LONG_MAX, &lv) == OK)
		r.user_id = lv;
	r.input =
	    json_tokener_parse(PQgetvalue(res, 0, PQfnumber(res, "input")));
	PQclear(res);
	res = NULL;
	out->run_id = r.id;
	log_info("run %s: claimed by %s (agent %s, environment %s)", r.id_s,
	    worker_id, r.agent_name, r.environment);
	if ((r.tool_calls = json_object_new_array()) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	v[0] = r.environment;
	v[1] = r.agent_name;
	if ((rc = db_exec(db, "runner_agent", 2, v, &agent)) != OK)
		goto out;
	rc = runner_principal(&r);
	if (rc == ERR_DENIED) {
		snprintf(r.status, sizeof(r.status), "failed");
		snprintf(r.error, sizeof(r.error),
		    "the user who queued the run is disabled, gone, or has "
		    "more roles than a principal holds");
	} else if (rc != OK) {
		goto out;
	} else if (PQntuples(agent) != 1) {
		snprintf(r.status, sizeof(r.status), "failed");
		snprintf(r.error, sizeof(r.error),
		    "AGENT_NOT_FOUND: no agent %s in environment %s",
		    r.agent_name, r.environment);
	} else if ((rc = runner_loop(&r, agent)) != OK) {
		goto out;
	}
	if ((rc = runner_finish(&r)) != OK)
		goto out;
	snprintf(out->status, sizeof(out->status), "%s", r.status);
	snprintf(out->error, sizeof(out->error), "%s", r.error);
	out->steps = r.steps;
	log_info("run %s: %s after %d step(s)%s%s", r.id_s, r.status, r.steps,
	    *r.error ? ": " : "", r.error);
out:
	PQclear(agent);
	json_object_put(r.input);
	json_object_put(r.tool_calls);
	json_object_put(r.tools);
	free(r.final_response);
	return rc;
}

berr
runner_reap(struct db *db, const struct config *cfg, int stale_s, int *reaped)
{
	struct runner_run r;
	PGresult *res = NULL;
	char s[16];
	const char *v[1] = { s };
	int i, n = 0;
	berr rc;

	if (reaped != NULL)
		*reaped = 0;
	if ((rc = runner_prepare(db)) != OK)
		return rc;
	snprintf(s, sizeof(s), "%d", stale_s);
	if ((rc = db_exec(db, "runner_stale", 1, v, &res)) != OK)
		return rc;
	for (i = 0; i < PQntuples(res); i++) {
		memset(&r, 0, sizeof(r));
		r.cfg = cfg;
		r.db = db;
		snprintf(r.id_s, sizeof(r.id_s), "%s", PQgetvalue(res, i, 0));
		snprintf(r.status, sizeof(r.status), "failed");
		snprintf(r.error, sizeof(r.error),
		    "worker lost (no heartbeat for %d s)", stale_s);
		if ((r.tool_calls = json_object_new_array()) == NULL) {
			rc = ERR_NOMEM;
			break;
		}
		rc = runner_finish(&r);
		json_object_put(r.tool_calls);
		if (rc != OK)
			break;
		n++;
	}
	PQclear(res);
	if (reaped != NULL)
		*reaped = n;
	return rc;
}
