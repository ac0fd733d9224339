/*
 * tools.h - the tool registry behind tools/list and tools/call.
 *
 * Providers contribute tools: built-in station tools (station_status,
 * list_agents, list_runs, get_run), upstream tools (issue 5,
 * tools_set_provider()) and agent tools (agent_<name>, issue 8, looked up
 * per request: tools_set_dynamic()). Each tool has a name, a description, a
 * JSON Schema inputSchema, the permission it needs (authz.h), and a
 * handler. tools/list shows only what the principal may call in the
 * environment; arguments are checked against the schema before a handler
 * runs; a failing or forbidden call is a result with isError, never a
 * JSON-RPC error; every call is audited (principal, tool, environment,
 * success, duration).
 */
#ifndef BERTH_TOOLS_H
#define BERTH_TOOLS_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "authz.h"
#include "err.h"

struct config;
struct db;
struct principal;

/*
 * How a tool that takes time talks to its caller while it works: the
 * transport (mcp.c over an SSE response) fills it, a tool only calls
 * tools_progress(), tools_log() and tools_cancelled(), which do nothing
 * (or say "not cancelled") when there is no stream. Borrowed.
 *
 *   progress   a notifications/progress (when the request had a
 *              progressToken); total <= 0 means unknown; message may be
 *              NULL.
 *   log        a notifications/message at level (an RFC 5424 name MCP
 *              uses), sent only when the client asked for that level or
 *              a lower one.
 *   cancelled  true once the client has gone (its stream broke) or sent
 *              notifications/cancelled for this request; also where
 *              keep-alives are written, so a tool that waits must call it
 *              at least every second or so.
 *   request    a server-to-client request (sampling/createMessage,
 *              elicitation/create; 2025 era) sent on the stream; waits
 *              for the client's response, which may reach any responder
 *              (mcp.h, mcp_store ask/answer). params is taken. OK with
 *              *result (the response's result object, owned); ERR_DENIED
 *              when the client did not declare capability or answered
 *              with an error; ERR_NOT_FOUND when there is no stream to
 *              ask on; ERR_IO when the client left, cancelled, or did not
 *              answer in time. May be NULL (as ERR_NOT_FOUND).
 */
struct tool_stream {
	void *arg;
	void (*progress)(
	    void *arg, double progress, double total, const char *message);
	void (*log)(void *arg, const char *level, const char *message);
	bool (*cancelled)(void *arg);
	berr (*request)(void *arg, const char *method, const char *capability,
	    struct json_object *params, struct json_object **result);
};

/* What a tool handler gets. Borrowed. */
struct tool_call_ctx {
	const struct config *cfg;
	struct db *db;
	const struct principal *principal;
	const char *environment;
	const char *request_id;
	const char *client_ip;
	const struct tool_stream *stream; /* NULL: a plain JSON answer */
	const char *tool_name; /* set by tools_call() for the handler */
	/* The tool being called: set by tools_call() for the handler (one
	 * handler may serve several tools, e.g. upstream tools). */
	const struct tool_def *tool;
};

/*
 * A handler fills *result with an MCP CallToolResult object (owned by the
 * caller afterwards: content array, optional structuredContent, isError).
 * Returns OK, or an error the registry turns into an isError result
 * (ERR_DB_DOWN included: the text says the database is unreachable).
 */
typedef berr (*tool_fn)(const struct tool_call_ctx *ctx,
    struct json_object *args, struct json_object **result);

/*
 * Does a call with these (schema-checked or not) arguments possibly take
 * long (wait for something)? Such calls take a streaming slot and are
 * answered on an SSE stream when the client accepts one. NULL: never.
 */
typedef bool (*tool_waits_fn)(struct json_object *args);

struct tool_def {
	const char *name;
	const char *title;
	const char *description;
	const char *input_schema; /* JSON text of a JSON Schema object */
	enum perm perm;
	tool_fn fn;
	tool_waits_fn waits;
};

/*
 * The tools visible to p in environment, in a stable order, as a JSON array
 * of MCP Tool objects, paged: start at cursor (NULL = first page; an opaque
 * string this module made), at most limit tools; *next_cursor (malloc'ed,
 * caller frees) set when more follow, else NULL. ERR_INVALID for a cursor
 * this module did not make.
 *
 * The array is a new reference the caller puts, but it may be shared with
 * this module's page cache (a few pages per process, for the same
 * permissions, environment, offset, limit and dynamic listing; its text is
 * rendered once): the caller must not change it.
 */
berr tools_list(const struct tool_call_ctx *ctx, const char *cursor,
    size_t limit, struct json_object **tools, char **next_cursor)
    __attribute__((warn_unused_result));

/*
 * Renders o to JSON text once (mcp_send()'s flags) and keeps the text with
 * it: every later serialisation of o copies it. For objects kept across
 * requests, which must not change afterwards. false, o left as it was
 * (serialised each time), when o is NULL or there is no memory.
 */
bool tools_render_once(struct json_object *o);

/* The text tools_render_once() kept with o (borrowed, lives as long as o),
 * or NULL when o is NULL or was not rendered so. */
const char *tools_rendered_text(struct json_object *o);

/* Is page one tools_list() keeps in its page cache (so it will return the
 * very same array for the same listing)? */
bool tools_page_kept(const struct json_object *page);

/* Empties tools_list()'s page cache (the registry does so itself when a
 * provider changes; for a clean exit under valgrind). */
void tools_forget_pages(void);

/*
 * Calls tool name with args (a JSON object, may be NULL = {}) and audits
 * the call. Returns OK with *result a CallToolResult (isError true for a
 * forbidden tool, arguments that do not match the schema, a failing
 * handler, or a call that could not be audited); ERR_NOT_FOUND with
 * *result NULL for a tool that does not exist (the caller answers the
 * JSON-RPC error -32602 the specification asks for; the attempt is
 * audited); or ERR_NOMEM.
 */
berr tools_call(const struct tool_call_ctx *ctx, const char *name,
    struct json_object *args, struct json_object **result)
    __attribute__((warn_unused_result));

/*
 * True when calling tool name (as cfg's registry has it) with args may
 * take long or streams (tool_waits_fn); false for unknown tools and quick
 * calls. Never touches the database.
 */
bool tools_call_waits(
    const struct config *cfg, const char *name, struct json_object *args);

/* The streaming calls a tool makes; see struct tool_stream. Safe with
 * ctx->stream NULL. message is copied by the time they return. */
void tools_progress(const struct tool_call_ctx *ctx, double progress,
    double total, const char *message);
void tools_log(
    const struct tool_call_ctx *ctx, const char *level, const char *message);
bool tools_cancelled(const struct tool_call_ctx *ctx);
berr tools_request(const struct tool_call_ctx *ctx, const char *method,
    const char *capability, struct json_object *params,
    struct json_object **result) __attribute__((warn_unused_result));

/*
 * issue 5: registers n more tools (upstream tools, upstream_tools.h),
 * listed and callable after the built-in ones. defs must outlive every
 * call; call once at start-up, before any request (not thread-safe).
 */
void tools_set_provider(const struct tool_def *defs, size_t n);

/*
 * issue 8: a provider whose tools live in the database and are looked up
 * per request (agent tools, agent_tools.h), listed after every other tool.
 * All its tools share tmpl's input schema, permission, handler and waits;
 * a tool's name is tmpl->name (a prefix such as "agent_") followed by a
 * name the provider knows, its description comes from the provider, and
 * the handler finds the full name in ctx->tool_name. tools/list asks the
 * provider only when the principal may call tmpl (the provider may answer
 * from its own cache: agent_tools.c does); tools/call asks exists() only after the
 * permission check, so a principal who may not call tmpl learns nothing
 * of which names exist. Borrowed: must outlive every call.
 */
struct tools_dynamic {
	const struct tool_def *tmpl;
	/*
	 * The provider's tools for ctx (its environment), in a stable order:
	 * *tools (caller puts) a JSON array of {"name": full tool name,
	 * "description": text}. OK, ERR_DB_DOWN, ERR_DB, ERR_NOMEM.
	 */
	berr (*list)(
	    const struct tool_call_ctx *ctx, struct json_object **tools);
	/* Does tool name (it starts with tmpl->name) exist for ctx? OK,
	 * ERR_NOT_FOUND, ERR_DB_DOWN, ERR_DB. */
	berr (*exists)(const struct tool_call_ctx *ctx, const char *name);
};

/* Registers dyn (NULL: none). Call at start-up, before any request. */
void tools_set_dynamic(const struct tools_dynamic *dyn);

/*
 * A CallToolResult with one text item, structured (taken; may be NULL) as
 * structuredContent, and isError. NULL when out of memory (structured is
 * put then too). For handlers outside this module.
 */
struct json_object *tools_result(
    const char *text, struct json_object *structured, bool is_error);

/* How tools_wait_run() ended. */
enum tools_wait_end {
	TOOLS_WAIT_DONE,      /* the run finished (any final status) */
	TOOLS_WAIT_TIMEOUT,   /* the time was up first (or wait_ms was 0) */
	TOOLS_WAIT_CANCELLED, /* tools_cancelled(): the client went away */
};

/*
 * Called at each look at the run while tools_wait_run() waits: run is the
 * row as get_run shows it (borrowed), done whether it has finished,
 * waited_ms since the wait began. Sends progress or log notifications.
 */
typedef void (*tools_wait_tick)(const struct tool_call_ctx *ctx, void *arg,
    struct json_object *run, bool done, double waited_ms);

/*
 * The wait of get_run, for every tool that waits on a run: looks at run
 * run_id of ctx->environment now and then every poll_ms until it has
 * finished or wait_ms have passed, calling tick (may be NULL) at each
 * look, and between looks calls tools_cancelled() every 200 ms or so
 * (keep-alives, client gone). It polls rather than LISTENs: a responder's
 * connection may sit behind a transaction-mode pooler. OK with *run (the
 * last look, as get_run shows it; the caller puts it) and *end;
 * ERR_NOT_FOUND (no such run in this environment; *run NULL);
 * ERR_DB_DOWN, ERR_DB, ERR_INTERNAL.
 */
berr tools_wait_run(const struct tool_call_ctx *ctx, long long run_id,
    int wait_ms, int poll_ms, tools_wait_tick tick, void *arg,
    struct json_object **run, enum tools_wait_end *end)
    __attribute__((warn_unused_result));

/*
 * Checks args against a JSON Schema object (the subset Berth's schemas use:
 * type object/string/integer/number/boolean/array, properties, required,
 * additionalProperties false, enum, minimum/maximum, minLength/maxLength,
 * items). OK, or ERR_INVALID with why naming the parameter.
 */
berr tools_check_args(const char *schema_json, struct json_object *args,
    char *why, size_t whylen) __attribute__((warn_unused_result));

/*
 * The i-th tool of the registry (0-based), whatever the principal, or NULL
 * past the end: for berthd, which reports the tool names to Lighthouse.
 * Static; do not free.
 */
const struct tool_def *tools_builtin_at(size_t i);

#endif
