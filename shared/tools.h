/*
 * tools.h - the tool registry behind tools/list and tools/call.
 *
 * Providers contribute tools: built-in station tools now (station_status,
 * list_agents, list_runs, get_run), agent tools (agent_<name>, issue 8) and
 * upstream tools (issue 5) later. Each tool has a name, a description, a
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

/* What a tool handler gets. Borrowed. */
struct tool_call_ctx {
	const struct config *cfg;
	struct db *db;
	const struct principal *principal;
	const char *environment;
	const char *request_id;
	const char *client_ip;
};

/*
 * A handler fills *result with an MCP CallToolResult object (owned by the
 * caller afterwards: content array, optional structuredContent, isError).
 * Returns OK, or an error the registry turns into an isError result
 * (ERR_DB_DOWN included: the text says the database is unreachable).
 */
typedef berr (*tool_fn)(const struct tool_call_ctx *ctx,
    struct json_object *args, struct json_object **result);

struct tool_def {
	const char *name;
	const char *title;
	const char *description;
	const char *input_schema; /* JSON text of a JSON Schema object */
	enum perm perm;
	tool_fn fn;
};

/*
 * The tools visible to p in environment, in a stable order, as a JSON array
 * of MCP Tool objects, paged: start at cursor (NULL = first page; an opaque
 * string this module made), at most limit tools; *next_cursor (malloc'ed,
 * caller frees) set when more follow, else NULL. ERR_INVALID for a cursor
 * this module did not make.
 */
berr tools_list(const struct tool_call_ctx *ctx, const char *cursor,
    size_t limit, struct json_object **tools, char **next_cursor)
    __attribute__((warn_unused_result));

/*
 * Calls tool name with args (a JSON object, may be NULL = {}). Always sets
 * *result to a CallToolResult (isError true for an unknown or forbidden tool,
 * arguments that do not match the schema, or a failing handler) and
 * audits the call. Returns OK, or ERR_NOMEM.
 */
berr tools_call(const struct tool_call_ctx *ctx, const char *name,
    struct json_object *args, struct json_object **result)
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
