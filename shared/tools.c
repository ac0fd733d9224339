/*
 * tools.c - the tool registry behind tools/list and tools/call.
 *
 * The registry is one static table (tools_builtin[]); later providers
 * (upstream tools, then the agent tools of the request's environment, read
 * from the database per request) append in a fixed order, so the listing
 * order is stable and a cursor, an offset into what the principal may see,
 * stays meaningful between pages (an agent added or removed between two
 * pages shifts the rest by one, as a changed role would).
 *
 * Who sees and calls what (authz.h): a tool is listed when the principal
 * holds tools.list, tools.call and the tool's own permission in the
 * environment (the issue: "tools/list shows only what the principal may
 * call"); a call needs tools.call and the tool's permission. So a viewer
 * (tools.list, runs.read, no tools.call) sees no tools and any call is
 * refused with an isError result.
 *
 * Station tools and their permission:
 *   station_status  tools.list  the Lighthouse link and counts;
 *   list_agents     tools.list  agents are what tools/list exposes anyway
 *                               (agent_<name> tools, issue 8), so seeing
 *                               their names needs no more than that;
 *   list_runs       runs.read   run history;
 *   get_run         runs.read   one run.
 * Run and agent queries are scoped to the call's environment.
 *
 * Cursor: "t1" + base64url("tools:v1:<offset>"), checked on the way back;
 * anything else is ERR_INVALID (the caller answers -32602).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "audit.h"
#include "authcache.h"
#include "authz.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "principal.h"
#include "tools.h"

/* Longest tool name echoed into texts and the audit resource. */
#define TOOLS_NAME_ECHO 128
/* Deepest schema nesting tools_check_args() follows. */
#define TOOLS_SCHEMA_DEPTH 16

static berr tool_station_status(const struct tool_call_ctx *ctx,
    struct json_object *args, struct json_object **result);
static berr tool_list_agents(const struct tool_call_ctx *ctx,
    struct json_object *args, struct json_object **result);
static berr tool_list_runs(const struct tool_call_ctx *ctx,
    struct json_object *args, struct json_object **result);
static berr tool_get_run(const struct tool_call_ctx *ctx,
    struct json_object *args, struct json_object **result);
static bool tool_get_run_waits(struct json_object *args);
static berr tool_fixture(const struct tool_call_ctx *ctx,
    struct json_object *args, struct json_object **result);
static bool tool_fixture_waits(struct json_object *args);
static berr tool_fixture_ask(const struct tool_call_ctx *ctx,
    struct json_object *args, struct json_object **result);

static const struct tool_def tools_builtin[] = {
	{ "station_status", "Station status",
	    "Reports this Berth station: whether it is connected to "
	    "CloudShip Lighthouse (station name, org id, last heartbeat, "
	    "last error), and how many agents and tools the caller can see "
	    "in this environment.",
	    "{\"type\":\"object\",\"properties\":{},"
	    "\"additionalProperties\":false}",
	    PERM_TOOLS_LIST, tool_station_status, NULL },
	{ "list_agents", "List agents",
	    "Lists the agents defined in this environment: name and "
	    "description.",
	    "{\"type\":\"object\",\"properties\":{},"
	    "\"additionalProperties\":false}",
	    PERM_TOOLS_LIST, tool_list_agents, NULL },
	{ "list_runs", "List recent runs",
	    "Lists the most recent agent runs in this environment, newest "
	    "first, optionally only those with a given status.",
	    "{\"type\":\"object\",\"properties\":{"
	    "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,"
	    "\"description\":\"How many runs (1-100, default 20).\"},"
	    "\"status\":{\"type\":\"string\",\"enum\":[\"queued\","
	    "\"running\",\"succeeded\",\"failed\",\"cancelled\"],"
	    "\"description\":\"Only runs in this state.\"}},"
	    "\"additionalProperties\":false}",
	    PERM_RUNS_READ, tool_list_runs, NULL },
	{ "get_run", "Get a run",
	    "Shows one agent run of this environment: status, steps, "
	    "tokens, final response or error. With wait_seconds, waits up "
	    "to that long for a queued or running run to finish, reporting "
	    "progress while it waits.",
	    "{\"type\":\"object\",\"properties\":{"
	    "\"run_id\":{\"type\":\"integer\",\"minimum\":1,"
	    "\"description\":\"The run's id.\"},"
	    "\"wait_seconds\":{\"type\":\"integer\",\"minimum\":0,"
	    "\"maximum\":300,\"description\":\"Wait up to this many "
	    "seconds (0-300, default 0) for the run to finish.\"}},"
	    "\"required\":[\"run_id\"],\"additionalProperties\":false}",
	    PERM_RUNS_READ, tool_get_run, tool_get_run_waits },
};

#define TOOLS_NBUILTIN (sizeof(tools_builtin) / sizeof(tools_builtin[0]))

#define TOOLS_FIXTURE_SCHEMA "{\"type\":\"object\",\"properties\":{}}"

/*
 * The official conformance suite's fixture tools (fixed names, fixed kinds
 * of content), listed only when mcp.conformance_fixtures is true: a
 * test-only configuration (tests/integration/test_conformance.sh), off by
 * default and never meant for a station. They touch nothing: no database,
 * no files; progress and logging ones stream through struct tool_stream.
 */
static const struct tool_def tools_fixture[] = {
	{ "test_simple_text", NULL, "Conformance fixture: one text item.",
	    TOOLS_FIXTURE_SCHEMA, PERM_TOOLS_LIST, tool_fixture, NULL },
	{ "test_image_content", NULL, "Conformance fixture: one image item.",
	    TOOLS_FIXTURE_SCHEMA, PERM_TOOLS_LIST, tool_fixture, NULL },
	{ "test_audio_content", NULL, "Conformance fixture: one audio item.",
	    TOOLS_FIXTURE_SCHEMA, PERM_TOOLS_LIST, tool_fixture, NULL },
	{ "test_embedded_resource", NULL,
	    "Conformance fixture: one embedded resource.", TOOLS_FIXTURE_SCHEMA,
	    PERM_TOOLS_LIST, tool_fixture, NULL },
	{ "test_multiple_content_types", NULL,
	    "Conformance fixture: text, image and resource.",
	    TOOLS_FIXTURE_SCHEMA, PERM_TOOLS_LIST, tool_fixture, NULL },
	{ "test_error_handling", NULL,
	    "Conformance fixture: always an isError result.",
	    TOOLS_FIXTURE_SCHEMA, PERM_TOOLS_LIST, tool_fixture, NULL },
	{ "test_tool_with_logging", NULL,
	    "Conformance fixture: three log notifications.",
	    TOOLS_FIXTURE_SCHEMA, PERM_TOOLS_LIST, tool_fixture,
	    tool_fixture_waits },
	{ "test_tool_with_progress", NULL,
	    "Conformance fixture: three progress notifications.",
	    TOOLS_FIXTURE_SCHEMA, PERM_TOOLS_LIST, tool_fixture,
	    tool_fixture_waits },
	/* Server-to-client requests (tool_fixture_ask). */
	{ "test_sampling", NULL,
	    "Conformance fixture: asks the client for sampling/createMessage.",
	    "{\"type\":\"object\",\"properties\":{\"prompt\":{\"type\":"
	    "\"string\"}},\"required\":[\"prompt\"]}",
	    PERM_TOOLS_LIST, tool_fixture_ask, tool_fixture_waits },
	{ "test_elicitation", NULL,
	    "Conformance fixture: asks the client for elicitation/create.",
	    "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":"
	    "\"string\"}},\"required\":[\"message\"]}",
	    PERM_TOOLS_LIST, tool_fixture_ask, tool_fixture_waits },
	{ "test_elicitation_sep1034_defaults", NULL,
	    "Conformance fixture: elicitation with default values.",
	    TOOLS_FIXTURE_SCHEMA, PERM_TOOLS_LIST, tool_fixture_ask,
	    tool_fixture_waits },
	{ "test_elicitation_sep1330_enums", NULL,
	    "Conformance fixture: elicitation with the five enum forms.",
	    TOOLS_FIXTURE_SCHEMA, PERM_TOOLS_LIST, tool_fixture_ask,
	    tool_fixture_waits },
};

#define TOOLS_NFIXTURE (sizeof(tools_fixture) / sizeof(tools_fixture[0]))
#define TOOLS_NALL     (TOOLS_NBUILTIN + TOOLS_NFIXTURE)

/* The i-th tool of the registry under cfg: built-in, then the fixtures
 * (only when enabled), then a provider's; NULL past the end. */
/* issue 5: a provider's tools (upstream tools), after the others. */
static const struct tool_def *tools_extra;
static size_t tools_nextra;
/* The schema and Tool-object caches (below) for a provider's tools. */
static struct json_object **tools_extra_schemas, **tools_extra_described;

void
tools_set_provider(const struct tool_def *defs, size_t n)
{
	size_t i;

	for (i = 0; i < tools_nextra; i++) {
		if (tools_extra_schemas != NULL)
			json_object_put(tools_extra_schemas[i]);
		if (tools_extra_described != NULL)
			json_object_put(tools_extra_described[i]);
	}
	free(tools_extra_schemas);
	free(tools_extra_described);
	tools_extra_schemas = tools_extra_described = NULL;
	tools_forget_pages();
	tools_extra = defs;
	tools_nextra = defs != NULL ? n : 0;
	if (tools_nextra == 0)
		return;
	tools_extra_schemas =
	    calloc(tools_nextra, sizeof(struct json_object *));
	tools_extra_described =
	    calloc(tools_nextra, sizeof(struct json_object *));
	if (tools_extra_schemas == NULL || tools_extra_described == NULL) {
		log_error("tools: out of memory; provider tools not served");
		free(tools_extra_schemas);
		free(tools_extra_described);
		tools_extra_schemas = tools_extra_described = NULL;
		tools_extra = NULL;
		tools_nextra = 0;
	}
}

/* issue 8: the provider of tools looked up per request (agent tools), and
 * the schema and Tool-object cache cells of its template. */
static const struct tools_dynamic *tools_dyn;
static struct json_object *tools_dyn_schema, *tools_dyn_described;

void
tools_set_dynamic(const struct tools_dynamic *dyn)
{
	json_object_put(tools_dyn_schema);
	json_object_put(tools_dyn_described);
	tools_dyn_schema = tools_dyn_described = NULL;
	tools_forget_pages();
	tools_dyn = dyn != NULL && dyn->tmpl != NULL && dyn->list != NULL &&
	        dyn->exists != NULL
	    ? dyn
	    : NULL;
}

/* Is name one of the dynamic provider's (it has the template's prefix)? */
static bool
tools_dyn_owns(const char *name)
{
	size_t n;

	if (tools_dyn == NULL)
		return false;
	n = strlen(tools_dyn->tmpl->name);
	return strncmp(name, tools_dyn->tmpl->name, n) == 0 && name[n] != '\0';
}

/* Does cfg serve the conformance fixtures (they follow the built-ins)? */
static bool
tools_fixtures(const struct config *cfg)
{
	return cfg != NULL && cfg->mcp.conformance_fixtures;
}

static const struct tool_def *
tools_at(const struct config *cfg, size_t i)
{
	if (i < TOOLS_NBUILTIN)
		return &tools_builtin[i];
	i -= TOOLS_NBUILTIN;
	if (tools_fixtures(cfg)) {
		if (i < TOOLS_NFIXTURE)
			return &tools_fixture[i];
		i -= TOOLS_NFIXTURE;
	}
	return i < tools_nextra ? &tools_extra[i] : NULL;
}

/* The cache slot of t (see tools_schema()), or TOOLS_NALL for none. */
static size_t
tools_slot(const struct tool_def *t)
{
	if (t >= tools_builtin && t < tools_builtin + TOOLS_NBUILTIN)
		return (size_t)(t - tools_builtin);
	if (t >= tools_fixture && t < tools_fixture + TOOLS_NFIXTURE)
		return TOOLS_NBUILTIN + (size_t)(t - tools_fixture);
	return TOOLS_NALL;
}

/* May ctx's principal call t (tools.call + t's permission)? why on refusal. */
static berr
tools_may_call(const struct tool_call_ctx *ctx, const struct tool_def *t,
    char *why, size_t whylen)
{
	berr rc;

	if ((rc = authz_may(ctx->cfg, ctx->principal, PERM_TOOLS_CALL,
	         ctx->environment, why, whylen)) != OK)
		return rc;
	return authz_may(
	    ctx->cfg, ctx->principal, t->perm, ctx->environment, why, whylen);
}

/* ctx's permissions (authz_mask()) for tools_visible(); 0 when ctx's
 * environment or principal cannot be judged. */
static unsigned
tools_perms(const struct tool_call_ctx *ctx)
{
	unsigned mask;

	if (authz_mask(ctx->cfg, ctx->principal, ctx->environment, &mask) != OK)
		return 0;
	return mask;
}

/* Listed, for a caller with permissions perms (tools_perms()): tools.list
 * and callable (tools.call and t's own permission): what
 * tools_may_call() decides, checked once per listing. */
static bool
tools_visible(unsigned perms, const struct tool_def *t)
{
	unsigned need = AUTHZ_BIT(PERM_TOOLS_LIST) | AUTHZ_BIT(PERM_TOOLS_CALL);

	if ((unsigned)t->perm >= PERM__COUNT)
		return false;
	need |= AUTHZ_BIT(t->perm);
	return (perms & need) == need;
}

/* ---------------------------------------------------------------------
 * Cursor.
 */

static const char tools_cursor_tag[] = "tools:v1:";

/* New cursor for offset; NULL when out of memory. */
static char *
tools_cursor_make(size_t offset)
{
	char plain[64];
	unsigned char enc[128];
	int n, i;
	char *out;

	n = snprintf(plain, sizeof(plain), "%s%zu", tools_cursor_tag, offset);
	n = EVP_EncodeBlock(enc, (const unsigned char *)plain, n);
	/* base64url, unpadded: opaque, and safe in any JSON or URL. */
	while (n > 0 && enc[n - 1] == '=')
		n--;
	if ((out = malloc((size_t)n + 3)) == NULL)
		return NULL;
	out[0] = 't';
	out[1] = '1';
	for (i = 0; i < n; i++)
		out[i + 2] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
	out[n + 2] = '\0';
	return out;
}

/* Offset of a cursor tools_cursor_make() made; ERR_INVALID otherwise. */
static berr
tools_cursor_parse(const char *cursor, size_t *offset)
{
	unsigned char in[96], out[96];
	size_t len, i;
	int n;
	char *end;
	unsigned long long v;

	len = strlen(cursor);
	if (len < 3 || len > 64 || cursor[0] != 't' || cursor[1] != '1')
		return ERR_INVALID;
	for (i = 2; i < len; i++) {
		char c = cursor[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		             (c >= '0' && c <= '9')))
			return ERR_INVALID;
		in[i - 2] = (unsigned char)c;
	}
	len -= 2;
	while (len % 4 != 0)
		in[len++] = '=';
	if ((n = EVP_DecodeBlock(out, in, (int)len)) < 0)
		return ERR_INVALID;
	/* EVP_DecodeBlock counts the padding as zero bytes: drop them. */
	while (n > 0 && out[n - 1] == '\0')
		n--;
	out[n] = '\0';
	if (strncmp((char *)out, tools_cursor_tag,
	        sizeof(tools_cursor_tag) - 1) != 0)
		return ERR_INVALID;
	end = (char *)out + sizeof(tools_cursor_tag) - 1;
	if (*end < '0' || *end > '9')
		return ERR_INVALID;
	errno = 0;
	v = strtoull(end, &end, 10);
	if (errno != 0 || *end != '\0' || v > 1000000)
		return ERR_INVALID;
	*offset = (size_t)v;
	return OK;
}

/* ---------------------------------------------------------------------
 * tools/list.
 */

/*
 * Parsed once per process (a worker keeps them for its life, never freed):
 * each built-in tool's input schema and its MCP Tool object. tools/list
 * and every tools/call used to parse the schema text again; now a listing
 * takes a reference to the cached object (json_object_get), which costs
 * nothing, and serialising it is a copy of its text, rendered once
 * (tools_describe()).
 */
static struct json_object *tools_schemas[TOOLS_NALL];
static struct json_object *tools_described[TOOLS_NALL];

/* t's two cache cells, or false when t is no tool of the registry. */
static bool
tools_cache(const struct tool_def *t, struct json_object ***schema,
    struct json_object ***described)
{
	size_t i = tools_slot(t);

	if (i < TOOLS_NALL) {
		*schema = &tools_schemas[i];
		*described = &tools_described[i];
		return true;
	}
	if (tools_extra != NULL && tools_extra_schemas != NULL &&
	    t >= tools_extra && t < tools_extra + tools_nextra) {
		i = (size_t)(t - tools_extra);
		*schema = &tools_extra_schemas[i];
		*described = &tools_extra_described[i];
		return true;
	}
	if (tools_dyn != NULL && t == tools_dyn->tmpl) {
		*schema = &tools_dyn_schema;
		*described = &tools_dyn_described;
		return true;
	}
	return false;
}

bool
tools_render_once(struct json_object *o)
{
	const char *text;
	char *copy;

	if (o == NULL ||
	    (text = json_object_to_json_string_ext(
	         o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) ==
	        NULL ||
	    (copy = strdup(text)) == NULL)
		return false;
	json_object_set_serializer(o, json_object_userdata_to_json_string, copy,
	    json_object_free_userdata);
	return true;
}

const char *
tools_rendered_text(struct json_object *o)
{
	/* Berth sets an object's userdata nowhere else. */
	return o != NULL ? json_object_get_userdata(o) : NULL;
}

/* The parsed schema of t (borrowed), or NULL for a schema that does not
 * parse (a bug, logged) or no memory. */
static struct json_object *
tools_schema(const struct tool_def *t)
{
	struct json_object **schema, **described;

	if (!tools_cache(t, &schema, &described))
		return NULL;
	if (*schema == NULL &&
	    (*schema = json_tokener_parse(t->input_schema)) == NULL)
		log_error("tools: input schema of %s does not parse", t->name);
	return *schema;
}

/* The MCP Tool object of t (a new reference; the caller puts it); NULL
 * when out of memory or a bad schema (bug). */
static struct json_object *
tools_describe(const struct tool_def *t)
{
	struct json_object *o, *schema, **cschema, **described;

	if (!tools_cache(t, &cschema, &described))
		return NULL;
	if (*described != NULL)
		return json_object_get(*described);
	if ((schema = tools_schema(t)) == NULL)
		return NULL;
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "name", json_object_new_string(t->name));
	if (t->title != NULL)
		json_object_object_add(
		    o, "title", json_object_new_string(t->title));
	json_object_object_add(
	    o, "description", json_object_new_string(t->description));
	json_object_object_add(o, "inputSchema", json_object_get(schema));
	/* Every later serialisation of this Tool object (each tools/list)
	 * copies its text instead of walking the schema again; without memory
	 * for the text it is simply serialised each time. */
	(void)tools_render_once(o);
	*described = o;
	return json_object_get(o);
}

/* One page of tools/list being filled: visible tools are counted (seen),
 * skipped up to offset, added up to limit; the one after a full page makes
 * the next cursor (full). */
struct tools_page {
	struct json_object *arr;
	size_t offset, seen, limit;
	char **next_cursor;
	bool full;
};

/* Offers the next visible tool, described by o (taken; NULL: no memory). */
static berr
tools_page_add(struct tools_page *pg, struct json_object *o)
{
	if (pg->seen++ < pg->offset) {
		json_object_put(o);
		return OK;
	}
	if (json_object_array_length(pg->arr) == pg->limit) {
		json_object_put(o);
		pg->full = true;
		if ((*pg->next_cursor = tools_cursor_make(pg->seen - 1)) ==
		    NULL)
			return ERR_NOMEM;
		return OK;
	}
	if (o == NULL)
		return ERR_INTERNAL;
	json_object_array_add(pg->arr, o);
	return OK;
}

/* The Tool object of dynamic tool name with description (new reference;
 * NULL when out of memory or the template's schema is bad). */
static struct json_object *
tools_describe_dyn(const char *name, const char *description)
{
	struct json_object *o, *schema = tools_schema(tools_dyn->tmpl);

	if (schema == NULL || (o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(
	    o, "description", json_object_new_string(description));
	json_object_object_add(o, "inputSchema", json_object_get(schema));
	return o;
}

/* The dynamic provider's tools of list (its listing), after the others
 * (tools_list()). */
static berr
tools_list_dyn(struct json_object *list, struct tools_page *pg)
{
	struct json_object *item, *n, *d;
	size_t i;
	berr rc = OK;

	for (i = 0; !pg->full && i < json_object_array_length(list); i++) {
		item = json_object_array_get_idx(list, i);
		if (!json_object_object_get_ex(item, "name", &n) ||
		    !json_object_object_get_ex(item, "description", &d))
			continue;
		/* Described only when it makes the page. */
		if ((rc = tools_page_add(pg,
		         pg->seen < pg->offset ||
		                 json_object_array_length(pg->arr) == pg->limit
		             ? NULL
		             : tools_describe_dyn(json_object_get_string(n),
		                   json_object_get_string(d)))) != OK)
			break;
	}
	return rc;
}

/*
 * Pages of tools/list, kept per process. A page depends only on what its
 * key holds: the caller's permissions (not who the caller is), the
 * environment, offset and limit, whether the config serves the conformance
 * fixtures (tools_at(): nothing else of the config counts), the registry
 * (emptied by tools_set_provider() and tools_set_dynamic()) and the dynamic
 * provider's listing. That listing is matched by identity and held by
 * reference, so no other listing can take its address while the page is
 * kept; a provider that makes a new listing for each call (its own cache
 * off) simply never hits. The page is kept as its array, its text rendered
 * once (json_object_set_serializer), so a hit costs neither building nor
 * rendering it. Not a permission: tools_perms() is still asked per request.
 */
#define TOOLS_PAGES 8
static struct tools_kept {
	bool fixtures;
	unsigned perms;
	char environment[65];
	size_t offset, limit;
	struct json_object *dyn;  /* listing it was made of (held), or NULL */
	struct json_object *page; /* the array; NULL: free slot */
	char *next_cursor;        /* or NULL */
} tools_kept[TOOLS_PAGES];
static size_t tools_kept_next;

static void
tools_kept_clear(struct tools_kept *k)
{
	json_object_put(k->dyn);
	json_object_put(k->page);
	free(k->next_cursor);
	memset(k, 0, sizeof(*k));
}

void
tools_forget_pages(void)
{
	size_t i;

	for (i = 0; i < TOOLS_PAGES; i++)
		tools_kept_clear(&tools_kept[i]);
}

bool
tools_page_kept(const struct json_object *page)
{
	size_t i;

	if (page == NULL)
		return false;
	for (i = 0; i < TOOLS_PAGES; i++)
		if (tools_kept[i].page == page)
			return true;
	return false;
}

static struct tools_kept *
tools_kept_find(const struct tool_call_ctx *ctx, unsigned perms, size_t offset,
    size_t limit, struct json_object *dyn)
{
	struct tools_kept *k;
	size_t i;

	for (i = 0; i < TOOLS_PAGES; i++) {
		k = &tools_kept[i];
		if (k->page != NULL &&
		    k->fixtures == tools_fixtures(ctx->cfg) &&
		    k->perms == perms && k->offset == offset &&
		    k->limit == limit && k->dyn == dyn &&
		    strcmp(k->environment, ctx->environment) == 0)
			return k;
	}
	return NULL;
}

/* Keeps page (a reference is taken) with its rendered text; a page that
 * cannot be rendered or an environment too long is simply not kept. */
static void
tools_kept_add(const struct tool_call_ctx *ctx, unsigned perms, size_t offset,
    size_t limit, struct json_object *dyn, struct json_object *page,
    const char *next_cursor)
{
	struct tools_kept *k = &tools_kept[tools_kept_next];

	if (strlen(ctx->environment) >= sizeof(k->environment) ||
	    !tools_render_once(page))
		return;
	tools_kept_clear(k); /* a free slot until it is filled below */
	if (next_cursor != NULL &&
	    (k->next_cursor = strdup(next_cursor)) == NULL)
		return;
	k->fixtures = tools_fixtures(ctx->cfg);
	k->perms = perms;
	memcpy(k->environment, ctx->environment, strlen(ctx->environment) + 1);
	k->offset = offset;
	k->limit = limit;
	k->dyn = json_object_get(dyn);
	k->page = json_object_get(page);
	tools_kept_next = (tools_kept_next + 1) % TOOLS_PAGES;
}

berr
tools_list(const struct tool_call_ctx *ctx, const char *cursor, size_t limit,
    struct json_object **tools, char **next_cursor)
{
	struct tools_page pg = { 0 };
	struct json_object *dyn = NULL;
	struct tools_kept *kept;
	const struct tool_def *t;
	unsigned perms;
	size_t i;
	berr rc = OK;

	*tools = NULL;
	*next_cursor = NULL;
	pg.next_cursor = next_cursor;
	pg.limit = limit == 0 ? 1 : limit;
	if (cursor != NULL &&
	    (rc = tools_cursor_parse(cursor, &pg.offset)) != OK)
		goto out;
	perms = tools_perms(ctx);
	if (tools_dyn != NULL && tools_visible(perms, tools_dyn->tmpl) &&
	    (rc = tools_dyn->list(ctx, &dyn)) != OK)
		goto out;
	if ((kept = tools_kept_find(ctx, perms, pg.offset, pg.limit, dyn)) !=
	    NULL) {
		if (kept->next_cursor != NULL &&
		    (*next_cursor = strdup(kept->next_cursor)) == NULL) {
			rc = ERR_NOMEM;
			goto out;
		}
		*tools = json_object_get(kept->page);
		goto out;
	}
	if ((pg.arr = json_object_new_array()) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (i = 0; !pg.full && (t = tools_at(ctx->cfg, i)) != NULL; i++) {
		if (!tools_visible(perms, t))
			continue;
		if ((rc = tools_page_add(&pg,
		         pg.seen < pg.offset ||
		                 json_object_array_length(pg.arr) == pg.limit
		             ? NULL
		             : tools_describe(t))) != OK)
			goto out;
	}
	if (!pg.full && dyn != NULL && (rc = tools_list_dyn(dyn, &pg)) != OK)
		goto out;
	tools_kept_add(
	    ctx, perms, pg.offset, pg.limit, dyn, pg.arr, *next_cursor);
	*tools = pg.arr;
	pg.arr = NULL;
out:
	if (rc != OK) {
		free(*next_cursor);
		*next_cursor = NULL;
	}
	json_object_put(pg.arr);
	json_object_put(dyn);
	return rc;
}

/* ---------------------------------------------------------------------
 * Results.
 */

/* A CallToolResult with one text item; structured may be NULL (taken). */
struct json_object *
tools_result(const char *text, struct json_object *structured, bool is_error)
{
	struct json_object *r, *content, *item;

	r = json_object_new_object();
	content = json_object_new_array();
	item = json_object_new_object();
	if (r == NULL || content == NULL || item == NULL) {
		json_object_put(r);
		json_object_put(content);
		json_object_put(item);
		json_object_put(structured);
		return NULL;
	}
	json_object_object_add(item, "type", json_object_new_string("text"));
	json_object_object_add(item, "text", json_object_new_string(text));
	json_object_array_add(content, item);
	json_object_object_add(r, "content", content);
	if (structured != NULL)
		json_object_object_add(r, "structuredContent", structured);
	json_object_object_add(r, "isError", json_object_new_boolean(is_error));
	return r;
}

/* Success: structured (taken) as structuredContent and as JSON text. */
static berr
tools_ok(struct json_object *structured, struct json_object **result)
{
	const char *text = json_object_to_json_string_ext(structured,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	if (text == NULL ||
	    (*result = tools_result(text, structured, false)) == NULL)
		return ERR_NOMEM;
	return OK;
}

/*
 * Runs the statement name (sql, registered on first use: db_prepare() is
 * idempotent and cheap, so each tool names its own statement and no
 * module has to prepare them in advance) that builds one JSON text in the
 * first column of the first row, and parses it into *out. ERR_NOT_FOUND
 * when there is no row or it is NULL.
 */
static berr
tools_query_json(struct db *db, const char *name, const char *sql, int n,
    const char *const *vals, struct json_object **out)
{
	PGresult *res = NULL;
	berr rc;

	*out = NULL;
	if ((rc = db_prepare(db, name, sql, n)) != OK)
		goto out;
	if ((rc = db_exec(db, name, n, vals, &res)) != OK)
		goto out;
	if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0)) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	if ((*out = json_tokener_parse(PQgetvalue(res, 0, 0))) == NULL)
		rc = ERR_INTERNAL;
out:
	PQclear(res);
	return rc;
}

/* ---------------------------------------------------------------------
 * Streaming helpers (struct tool_stream).
 */

void
tools_progress(const struct tool_call_ctx *ctx, double progress, double total,
    const char *message)
{
	if (ctx->stream != NULL && ctx->stream->progress != NULL)
		ctx->stream->progress(
		    ctx->stream->arg, progress, total, message);
}

void
tools_log(
    const struct tool_call_ctx *ctx, const char *level, const char *message)
{
	if (ctx->stream != NULL && ctx->stream->log != NULL)
		ctx->stream->log(ctx->stream->arg, level, message);
}

bool
tools_cancelled(const struct tool_call_ctx *ctx)
{
	return ctx->stream != NULL && ctx->stream->cancelled != NULL &&
	    ctx->stream->cancelled(ctx->stream->arg);
}

berr
tools_request(const struct tool_call_ctx *ctx, const char *method,
    const char *capability, struct json_object *params,
    struct json_object **result)
{
	*result = NULL;
	if (ctx->stream == NULL || ctx->stream->request == NULL) {
		json_object_put(params);
		return ERR_NOT_FOUND;
	}
	return ctx->stream->request(
	    ctx->stream->arg, method, capability, params, result);
}

/* ---------------------------------------------------------------------
 * Station tools.
 */

/*
 * One statement, one round trip: the agent count of this environment and
 * the newest station_status row (one row per station name; the newest is
 * the one in use), NULL when the station never connected.
 */
static const char tools_sql_status[] =
    "SELECT json_build_object("
    "'agents', (SELECT count(*) FROM agents WHERE environment = $1::text),"
    "'lighthouse', (SELECT json_build_object('connected', connected,"
    " 'station', name, 'org_id', org_id, 'last_heartbeat', last_heartbeat,"
    " 'last_error', last_error, 'replaced', replaced)"
    " FROM station_status ORDER BY updated_at DESC LIMIT 1))::text";

static berr
tool_station_status(const struct tool_call_ctx *ctx, struct json_object *args,
    struct json_object **result)
{
	const char *vals[1] = { ctx->environment };
	struct json_object *st = NULL, *link = NULL, *c;
	const struct tool_def *t;
	struct json_object *dyn = NULL;
	size_t i, ntools = 0;
	unsigned perms;
	bool up;
	berr rc;

	(void)args;
	rc = tools_query_json(
	    ctx->db, "tools_station_status", tools_sql_status, 1, vals, &st);
	if (rc != OK)
		goto out;
	if (!json_object_object_get_ex(st, "lighthouse", &link) ||
	    !json_object_is_type(link, json_type_object)) {
		/* Never connected: say so rather than fail. */
		if ((link = json_object_new_object()) == NULL) {
			rc = ERR_NOMEM;
			goto out;
		}
		json_object_object_add(st, "lighthouse", link);
	}
	up = json_object_object_get_ex(link, "connected", &c) &&
	    json_object_get_boolean(c);
	if (!up)
		json_object_object_add(
		    link, "connected", json_object_new_boolean(false));
	json_object_object_add(link, "state",
	    json_object_new_string(up ? "connected" : "not connected"));
	perms = tools_perms(ctx);
	for (i = 0; (t = tools_at(ctx->cfg, i)) != NULL; i++)
		if (tools_visible(perms, t))
			ntools++;
	/* And the agent tools tools/list would show (one more query, only
	 * for those who may run agents). */
	if (tools_dyn != NULL && tools_visible(perms, tools_dyn->tmpl)) {
		if ((rc = tools_dyn->list(ctx, &dyn)) != OK)
			goto out;
		ntools += json_object_array_length(dyn);
		json_object_put(dyn);
	}
	json_object_object_add(
	    st, "tools", json_object_new_int64((int64_t)ntools));
	json_object_object_add(
	    st, "environment", json_object_new_string(ctx->environment));
	rc = tools_ok(st, result);
	st = NULL;
out:
	json_object_put(st);
	return rc;
}

static const char tools_sql_agents[] =
    "SELECT coalesce(json_agg(a ORDER BY a.name), '[]')::text FROM "
    "(SELECT environment, name, description FROM agents "
    "WHERE environment = $1::text ORDER BY name LIMIT 1000) a";

static berr
tool_list_agents(const struct tool_call_ctx *ctx, struct json_object *args,
    struct json_object **result)
{
	const char *vals[1] = { ctx->environment };
	struct json_object *agents = NULL, *st;
	berr rc;

	(void)args;
	/* Capped: the table holds what a workspace defines, not input. */
	rc = tools_query_json(
	    ctx->db, "tools_list_agents", tools_sql_agents, 1, vals, &agents);
	if (rc != OK)
		return rc;
	if ((st = json_object_new_object()) == NULL) {
		json_object_put(agents);
		return ERR_NOMEM;
	}
	json_object_object_add(st, "agents", agents);
	return tools_ok(st, result);
}

static const char tools_sql_runs[] =
    "SELECT coalesce(json_agg(r ORDER BY r.id DESC), '[]')::text FROM "
    "(SELECT id, agent_name, environment, status, source, steps, "
    "total_tokens, created_at, started_at, finished_at, error "
    "FROM runs WHERE environment = $1::text "
    "AND ($2::text IS NULL OR status = $2::text) "
    "ORDER BY id DESC LIMIT $3::int) r";

static berr
tool_list_runs(const struct tool_call_ctx *ctx, struct json_object *args,
    struct json_object **result)
{
	struct json_object *v, *runs = NULL, *st;
	char limit[24] = "20";
	const char *vals[3] = { ctx->environment, NULL, limit };
	berr rc;

	if (args != NULL && json_object_object_get_ex(args, "limit", &v))
		snprintf(
		    limit, sizeof(limit), "%" PRId64, json_object_get_int64(v));
	if (args != NULL && json_object_object_get_ex(args, "status", &v))
		vals[1] = json_object_get_string(v);
	rc = tools_query_json(
	    ctx->db, "tools_list_runs", tools_sql_runs, 3, vals, &runs);
	if (rc != OK)
		return rc;
	if ((st = json_object_new_object()) == NULL) {
		json_object_put(runs);
		return ERR_NOMEM;
	}
	json_object_object_add(st, "runs", runs);
	return tools_ok(st, result);
}

/*
 * Not the input or the tool calls' parameters and results: they may hold
 * what a user pasted, secrets included; their count is enough.
 */
static const char tools_sql_run[] =
    "SELECT row_to_json(r)::text FROM (SELECT id, agent_name, "
    "environment, status, source, steps, "
    "jsonb_array_length(tool_calls) AS tool_call_count, input_tokens, "
    "output_tokens, total_tokens, model, final_response, error, "
    "created_at, started_at, finished_at FROM runs "
    "WHERE id = $1::bigint AND environment = $2::text) r";

/* How often a waiting get_run looks at the run again, milliseconds. */
#define TOOLS_RUN_POLL_MS 1000
/* How long it sleeps between checks for a cancellation, milliseconds. */
#define TOOLS_RUN_SLICE_MS 200

static bool
tool_get_run_waits(struct json_object *args)
{
	struct json_object *v;

	return args != NULL && json_object_is_type(args, json_type_object) &&
	    json_object_object_get_ex(args, "wait_seconds", &v) &&
	    json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) > 0;
}

/* The run's status member, or "". */
static const char *
tools_run_status(struct json_object *run)
{
	struct json_object *v;

	if (!json_object_object_get_ex(run, "status", &v) ||
	    !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static bool
tools_run_done(const char *status)
{
	return !strcmp(status, "succeeded") || !strcmp(status, "failed") ||
	    !strcmp(status, "cancelled");
}

berr
tools_wait_run(const struct tool_call_ctx *ctx, long long run_id, int wait_ms,
    int poll_ms, tools_wait_tick tick, void *arg, struct json_object **run,
    enum tools_wait_end *end)
{
	char id[24];
	const char *vals[2] = { id, ctx->environment };
	double t0 = clock_ms_frac(), deadline, next;
	bool done;
	berr rc;

	*run = NULL;
	*end = TOOLS_WAIT_TIMEOUT;
	snprintf(id, sizeof(id), "%lld", run_id);
	deadline = t0 + (double)(wait_ms > 0 ? wait_ms : 0);
	if (poll_ms < TOOLS_RUN_SLICE_MS)
		poll_ms = TOOLS_RUN_SLICE_MS;
	for (;;) {
		json_object_put(*run);
		*run = NULL;
		if ((rc = tools_query_json(ctx->db, "tools_get_run",
		         tools_sql_run, 2, vals, run)) != OK)
			return rc;
		done = tools_run_done(tools_run_status(*run));
		if (tick != NULL)
			tick(ctx, arg, *run, done, clock_ms_frac() - t0);
		if (done) {
			*end = TOOLS_WAIT_DONE;
			return OK;
		}
		if (clock_ms_frac() >= deadline)
			return OK;
		next = clock_ms_frac() + poll_ms;
		while (clock_ms_frac() < next && clock_ms_frac() < deadline) {
			struct timespec ts = { 0,
				TOOLS_RUN_SLICE_MS * 1000000L };

			if (tools_cancelled(ctx)) {
				*end = TOOLS_WAIT_CANCELLED;
				return OK;
			}
			/* A long wait still acknowledges revocations, so
			 * that no revoker waits out this worker's lease. */
			authcache_sync(ctx->db);
			nanosleep(&ts, NULL);
		}
	}
}

/* What get_run's wait remembers between looks. */
struct tools_get_run_wait {
	const char *id;
	int64_t wait; /* seconds */
	char last[16];
};

/* get_run's tick: a log message when the status changes, and progress
 * (seconds waited of wait_seconds) while the run is unfinished. */
static void
tools_get_run_tick(const struct tool_call_ctx *ctx, void *arg,
    struct json_object *run, bool done, double waited_ms)
{
	struct tools_get_run_wait *w = arg;
	const char *status = tools_run_status(run);
	char msg[160];

	if (done || w->wait == 0)
		return;
	if (strcmp(status, w->last) != 0) {
		snprintf(msg, sizeof(msg), "run %s is %s", w->id, status);
		tools_log(ctx, "info", msg);
		snprintf(w->last, sizeof(w->last), "%.15s", status);
	}
	if (waited_ms >= (double)w->wait * 1000.0)
		return;
	snprintf(msg, sizeof(msg), "waiting for run %s (%s)", w->id, status);
	tools_progress(ctx, waited_ms / 1000.0, (double)w->wait, msg);
}

/*
 * get_run. With wait_seconds > 0 and a run still queued or running, waits
 * (tools_wait_run(), looking every TOOLS_RUN_POLL_MS) until it finishes or
 * the time is up, sending a progress notification (seconds waited of
 * wait_seconds) at each look and a log message when the status changes. A
 * caller that goes away or cancels ends the wait at once (an isError
 * result nobody reads, but the audit row says so).
 */
static berr
tool_get_run(const struct tool_call_ctx *ctx, struct json_object *args,
    struct json_object **result)
{
	struct tools_get_run_wait w = { 0 };
	struct json_object *v, *run = NULL;
	enum tools_wait_end end;
	char id[24], msg[160];
	long long run_id;
	double t0 = clock_ms_frac();
	berr rc;

	if (args == NULL || !json_object_object_get_ex(args, "run_id", &v))
		return ERR_INVALID;
	run_id = (long long)json_object_get_int64(v);
	snprintf(id, sizeof(id), "%lld", run_id);
	if (json_object_object_get_ex(args, "wait_seconds", &v))
		w.wait = json_object_get_int64(v);
	if (w.wait < 0 || w.wait > 300)
		return ERR_INVALID; /* the schema said so already */
	w.id = id;
	rc = tools_wait_run(ctx, run_id, (int)w.wait * 1000, TOOLS_RUN_POLL_MS,
	    tools_get_run_tick, &w, &run, &end);
	if (rc == ERR_NOT_FOUND) {
		snprintf(msg, sizeof(msg), "run %s not found", id);
		*result = tools_result(msg, NULL, true);
		return *result == NULL ? ERR_NOMEM : OK;
	}
	if (rc != OK)
		return rc;
	if (end == TOOLS_WAIT_CANCELLED) {
		json_object_put(run);
		snprintf(msg, sizeof(msg),
		    "waiting for run %s cancelled by the client", id);
		*result = tools_result(msg, NULL, true);
		return *result == NULL ? ERR_NOMEM : OK;
	}
	if (w.wait > 0) {
		json_object_object_add(run, "wait_timed_out",
		    json_object_new_boolean(end == TOOLS_WAIT_TIMEOUT));
		json_object_object_add(run, "waited_ms",
		    json_object_new_int64((int64_t)(clock_ms_frac() - t0)));
	}
	return tools_ok(run, result);
}

/* ---------------------------------------------------------------------
 * Conformance fixtures (tools_fixture[]; test-only).
 */

/* A 1x1 transparent PNG and a WAV header with no samples. */
static const char tools_fixture_png[] =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
    "60e6kgAAAABJRU5ErkJggg==";
static const char tools_fixture_wav[] =
    "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";

static bool
tool_fixture_waits(struct json_object *args)
{
	(void)args;
	return true; /* streams its notifications */
}

/* {"type": type, <k1>: v1, <k2>: v2} with string values. */
static struct json_object *
tools_item(const char *type, const char *k1, const char *v1, const char *k2,
    const char *v2)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, k1, json_object_new_string(v1));
	if (k2 != NULL)
		json_object_object_add(o, k2, json_object_new_string(v2));
	return o;
}

static struct json_object *
tools_fixture_resource(void)
{
	struct json_object *o = json_object_new_object();
	struct json_object *r = tools_item("resource", "uri",
	    "test://embedded-resource", "mimeType", "text/plain");

	if (o == NULL || r == NULL) {
		json_object_put(o);
		json_object_put(r);
		return NULL;
	}
	json_object_object_del(r, "type");
	json_object_object_add(r, "text",
	    json_object_new_string("This is an embedded resource content."));
	json_object_object_add(o, "type", json_object_new_string("resource"));
	json_object_object_add(o, "resource", r);
	return o;
}

static berr
tool_fixture(const struct tool_call_ctx *ctx, struct json_object *args,
    struct json_object **result)
{
	struct json_object *r, *content;
	const char *name = ctx->tool_name != NULL ? ctx->tool_name : "";
	bool is_error = false;
	int i;

	(void)args;
	if ((r = json_object_new_object()) == NULL ||
	    (content = json_object_new_array()) == NULL) {
		json_object_put(r);
		return ERR_NOMEM;
	}
	json_object_object_add(r, "content", content);
	if (!strcmp(name, "test_image_content") ||
	    !strcmp(name, "test_multiple_content_types"))
		json_object_array_add(content,
		    tools_item("image", "data", tools_fixture_png, "mimeType",
		        "image/png"));
	if (!strcmp(name, "test_audio_content"))
		json_object_array_add(content,
		    tools_item("audio", "data", tools_fixture_wav, "mimeType",
		        "audio/wav"));
	if (!strcmp(name, "test_embedded_resource") ||
	    !strcmp(name, "test_multiple_content_types"))
		json_object_array_add(content, tools_fixture_resource());
	if (!strcmp(name, "test_tool_with_logging"))
		for (i = 1; i <= 3; i++) {
			char msg[48];

			snprintf(msg, sizeof(msg), "fixture log message %d", i);
			tools_log(ctx, "info", msg);
		}
	if (!strcmp(name, "test_tool_with_progress"))
		for (i = 1; i <= 3; i++)
			tools_progress(ctx, (double)i, 3.0, NULL);
	if (!strcmp(name, "test_error_handling")) {
		is_error = true;
		json_object_array_add(content,
		    tools_item("text", "text",
		        "This tool intentionally returns an error for testing",
		        NULL, NULL));
	} else if (strcmp(name, "test_image_content") != 0 &&
	    strcmp(name, "test_audio_content") != 0 &&
	    strcmp(name, "test_embedded_resource") != 0) {
		json_object_array_add(content,
		    tools_item("text", "text",
		        "This is a simple text response for testing.", NULL,
		        NULL));
	}
	json_object_object_add(r, "isError", json_object_new_boolean(is_error));
	*result = r;
	return OK;
}

/* The requestedSchema of each elicitation fixture (conformance 0.1.16). */
static const char tools_ask_user_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"username\":{\"type\":\"string\",\"description\":\"User's response\"},"
    "\"email\":{\"type\":\"string\",\"description\":\"User's email "
    "address\"}},\"required\":[\"username\",\"email\"]}";
static const char tools_ask_defaults_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\",\"default\":\"John Doe\"},"
    "\"age\":{\"type\":\"integer\",\"default\":30},"
    "\"score\":{\"type\":\"number\",\"default\":95.5},"
    "\"status\":{\"type\":\"string\",\"enum\":[\"active\",\"inactive\","
    "\"pending\"],\"default\":\"active\"},"
    "\"verified\":{\"type\":\"boolean\",\"default\":true}}}";
static const char tools_ask_enums_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"untitledSingle\":{\"type\":\"string\",\"enum\":[\"option1\","
    "\"option2\",\"option3\"]},"
    "\"titledSingle\":{\"type\":\"string\",\"oneOf\":["
    "{\"const\":\"value1\",\"title\":\"First Option\"},"
    "{\"const\":\"value2\",\"title\":\"Second Option\"},"
    "{\"const\":\"value3\",\"title\":\"Third Option\"}]},"
    "\"legacyEnum\":{\"type\":\"string\",\"enum\":[\"opt1\",\"opt2\","
    "\"opt3\"],\"enumNames\":[\"Option One\",\"Option Two\","
    "\"Option Three\"]},"
    "\"untitledMulti\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
    "\"enum\":[\"option1\",\"option2\",\"option3\"]}},"
    "\"titledMulti\":{\"type\":\"array\",\"items\":{\"anyOf\":["
    "{\"const\":\"value1\",\"title\":\"First Choice\"},"
    "{\"const\":\"value2\",\"title\":\"Second Choice\"},"
    "{\"const\":\"value3\",\"title\":\"Third Choice\"}]}}}}";

/* args.name as a string ("" when absent; the schema made it a string). */
static const char *
tools_arg_str(struct json_object *args, const char *name)
{
	struct json_object *v;

	if (args == NULL || !json_object_object_get_ex(args, name, &v))
		return "";
	return json_object_get_string(v);
}

/*
 * The fixtures that make a server-to-client request through
 * tools_request() and report what the client answered: test_sampling
 * (sampling/createMessage), test_elicitation and the two SEP fixtures
 * (elicitation/create). A client without the capability, or a call without
 * a stream to ask on, gets an isError result saying so.
 */
static berr
tool_fixture_ask(const struct tool_call_ctx *ctx, struct json_object *args,
    struct json_object **result)
{
	const char *name = ctx->tool_name != NULL ? ctx->tool_name : "";
	bool sampling = strcmp(name, "test_sampling") == 0;
	struct json_object *params, *answer = NULL, *r, *content, *v, *msg;
	const char *schema = tools_ask_user_schema, *message = NULL;
	char text[2048]; /* the client's answer, cut */
	berr rc;

	if ((params = json_object_new_object()) == NULL)
		return ERR_NOMEM;
	if (sampling) {
		msg = json_object_new_object();
		content = tools_item(
		    "text", "text", tools_arg_str(args, "prompt"), NULL, NULL);
		v = json_object_new_array();
		if (msg == NULL || content == NULL || v == NULL) {
			json_object_put(msg);
			json_object_put(content);
			json_object_put(v);
			json_object_put(params);
			return ERR_NOMEM;
		}
		json_object_object_add(
		    msg, "role", json_object_new_string("user"));
		json_object_object_add(msg, "content", content);
		json_object_array_add(v, msg);
		json_object_object_add(params, "messages", v);
		json_object_object_add(
		    params, "maxTokens", json_object_new_int(100));
	} else {
		if (strcmp(name, "test_elicitation_sep1034_defaults") == 0) {
			schema = tools_ask_defaults_schema;
			message = "Please review and update the form fields "
			          "with defaults";
		} else if (strcmp(name, "test_elicitation_sep1330_enums") ==
		    0) {
			schema = tools_ask_enums_schema;
			message = "Please select options from the enum fields";
		} else {
			message = tools_arg_str(args, "message");
		}
		json_object_object_add(
		    params, "message", json_object_new_string(message));
		json_object_object_add(
		    params, "requestedSchema", json_tokener_parse(schema));
	}
	rc = tools_request(ctx,
	    sampling ? "sampling/createMessage" : "elicitation/create",
	    sampling ? "sampling" : "elicitation", params, &answer);
	if (rc == ERR_NOMEM)
		return rc;
	if ((r = json_object_new_object()) == NULL ||
	    (content = json_object_new_array()) == NULL) {
		json_object_put(r);
		json_object_put(answer);
		return ERR_NOMEM;
	}
	json_object_object_add(r, "content", content);
	if (rc != OK) {
		json_object_array_add(content,
		    tools_item("text", "text",
		        rc == ERR_DENIED
		            ? "The client did not grant the request (no such "
		              "capability declared, or it answered with an "
		              "error)."
		            : rc == ERR_NOT_FOUND
		            ? "This call has no stream to ask the client on "
		              "(2025-era session and an Accept naming "
		              "text/event-stream are needed)."
		            : "The client did not answer.",
		        NULL, NULL));
		json_object_object_add(
		    r, "isError", json_object_new_boolean(1));
		*result = r;
		return OK;
	}
	if (sampling) {
		v = NULL;
		if (json_object_object_get_ex(answer, "content", &v))
			json_object_object_get_ex(v, "text", &v);
		snprintf(text, sizeof(text), "LLM response: %s",
		    v != NULL && json_object_is_type(v, json_type_string)
		        ? json_object_get_string(v)
		        : "");
	} else {
		struct json_object *action = NULL, *got = NULL;

		json_object_object_get_ex(answer, "action", &action);
		json_object_object_get_ex(answer, "content", &got);
		snprintf(text, sizeof(text), "%s: action=%s, content=%s",
		    strcmp(name, "test_elicitation") == 0
		        ? "User response"
		        : "Elicitation completed",
		    action != NULL ? json_object_get_string(action) : "",
		    got != NULL ? json_object_to_json_string_ext(
		                      got, JSON_C_TO_STRING_PLAIN)
		                : "{}");
	}
	json_object_array_add(
	    content, tools_item("text", "text", text, NULL, NULL));
	json_object_put(answer);
	json_object_object_add(r, "isError", json_object_new_boolean(0));
	*result = r;
	return OK;
}

/* ---------------------------------------------------------------------
 * Argument checking: the subset of JSON Schema Berth's schemas use.
 */

/* Number of UTF-8 code points in s. */
static size_t
tools_utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* Is v an integer (an int, or a double without a fraction)? */
static bool
tools_is_integer(struct json_object *v, double *out)
{
	double d;

	if (json_object_is_type(v, json_type_int)) {
		*out = (double)json_object_get_int64(v);
		return true;
	}
	if (!json_object_is_type(v, json_type_double))
		return false;
	d = json_object_get_double(v);
	if (d != d || d > 9007199254740991.0 || d < -9007199254740991.0 ||
	    d != (double)(int64_t)d)
		return false;
	*out = d;
	return true;
}

static bool
tools_type_is(struct json_object *v, const char *type, double *num)
{
	if (strcmp(type, "object") == 0)
		return json_object_is_type(v, json_type_object);
	if (strcmp(type, "array") == 0)
		return json_object_is_type(v, json_type_array);
	if (strcmp(type, "string") == 0)
		return json_object_is_type(v, json_type_string);
	if (strcmp(type, "boolean") == 0)
		return json_object_is_type(v, json_type_boolean);
	if (strcmp(type, "null") == 0)
		return v == NULL;
	if (strcmp(type, "integer") == 0)
		return tools_is_integer(v, num);
	if (strcmp(type, "number") == 0) {
		if (!json_object_is_type(v, json_type_int) &&
		    !json_object_is_type(v, json_type_double))
			return false;
		*num = json_object_get_double(v);
		return true;
	}
	return false;
}

/* "must be an integer between 1 and 100" and the like, into why. */
static void
tools_why_type(struct json_object *schema, const char *type, const char *path,
    char *why, size_t whylen)
{
	struct json_object *mn = NULL, *mx = NULL;
	const char *art =
	    (type[0] == 'a' || type[0] == 'i' || type[0] == 'o') ? "an" : "a";

	json_object_object_get_ex(schema, "minimum", &mn);
	json_object_object_get_ex(schema, "maximum", &mx);
	if (mn != NULL && mx != NULL)
		snprintf(why, whylen, "%s: must be %s %s between %s and %s",
		    path, art, type, json_object_get_string(mn),
		    json_object_get_string(mx));
	else if (mn != NULL)
		snprintf(why, whylen, "%s: must be %s %s of at least %s", path,
		    art, type, json_object_get_string(mn));
	else if (mx != NULL)
		snprintf(why, whylen, "%s: must be %s %s of at most %s", path,
		    art, type, json_object_get_string(mx));
	else
		snprintf(why, whylen, "%s: must be %s %s", path, art, type);
}

static berr tools_check(struct json_object *schema, struct json_object *v,
    const char *path, int depth, char *why, size_t whylen);

static berr
tools_check_object(struct json_object *schema, struct json_object *v,
    const char *path, int depth, char *why, size_t whylen)
{
	struct json_object *props = NULL, *req = NULL, *addl = NULL, *sub;
	char sub_path[256];
	size_t i;
	berr rc;

	json_object_object_get_ex(schema, "properties", &props);
	json_object_object_get_ex(schema, "required", &req);
	json_object_object_get_ex(schema, "additionalProperties", &addl);
	if (req != NULL && json_object_is_type(req, json_type_array)) {
		for (i = 0; i < json_object_array_length(req); i++) {
			const char *name = json_object_get_string(
			    json_object_array_get_idx(req, i));

			if (!json_object_object_get_ex(v, name, NULL)) {
				snprintf(
				    why, whylen, "%s.%s: required", path, name);
				return ERR_INVALID;
			}
		}
	}
	json_object_object_foreach(v, key, val)
	{
		snprintf(sub_path, sizeof(sub_path), "%s.%.64s", path, key);
		if (props != NULL &&
		    json_object_object_get_ex(props, key, &sub)) {
			if ((rc = tools_check(sub, val, sub_path, depth + 1,
			         why, whylen)) != OK)
				return rc;
			continue;
		}
		if (addl != NULL &&
		    json_object_is_type(addl, json_type_boolean) &&
		    !json_object_get_boolean(addl)) {
			snprintf(
			    why, whylen, "%s: unknown parameter", sub_path);
			return ERR_INVALID;
		}
	}
	return OK;
}

/* Checks v (NULL = JSON null) against schema at path. */
static berr
tools_check(struct json_object *schema, struct json_object *v, const char *path,
    int depth, char *why, size_t whylen)
{
	struct json_object *type = NULL, *en = NULL, *x = NULL;
	const char *t = NULL;
	double num = 0;
	size_t i;

	if (depth > TOOLS_SCHEMA_DEPTH) {
		snprintf(why, whylen, "%s: nested too deeply", path);
		return ERR_INVALID;
	}
	if (!json_object_is_type(schema, json_type_object))
		return OK; /* true / {}-like: anything goes */
	if (json_object_object_get_ex(schema, "type", &type) &&
	    json_object_is_type(type, json_type_string)) {
		t = json_object_get_string(type);
		if (!tools_type_is(v, t, &num)) {
			tools_why_type(schema, t, path, why, whylen);
			return ERR_INVALID;
		}
	}
	if (json_object_object_get_ex(schema, "enum", &en) &&
	    json_object_is_type(en, json_type_array)) {
		bool hit = false;
		char list[160] = "";

		for (i = 0; i < json_object_array_length(en); i++) {
			struct json_object *e =
			    json_object_array_get_idx(en, i);

			if (json_object_equal(e, v))
				hit = true;
			snprintf(list + strlen(list),
			    sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			    json_object_get_string(e));
		}
		if (!hit) {
			snprintf(
			    why, whylen, "%s: must be one of %s", path, list);
			return ERR_INVALID;
		}
	}
	if (t != NULL && (!strcmp(t, "integer") || !strcmp(t, "number"))) {
		if ((json_object_object_get_ex(schema, "minimum", &x) &&
		        num < json_object_get_double(x)) ||
		    (json_object_object_get_ex(schema, "maximum", &x) &&
		        num > json_object_get_double(x))) {
			tools_why_type(schema, t, path, why, whylen);
			return ERR_INVALID;
		}
	}
	if (json_object_is_type(v, json_type_string)) {
		size_t n = tools_utf8_len(json_object_get_string(v));

		if (json_object_object_get_ex(schema, "minLength", &x) &&
		    n < (size_t)json_object_get_int64(x)) {
			snprintf(why, whylen,
			    "%s: must be at least %s characters", path,
			    json_object_get_string(x));
			return ERR_INVALID;
		}
		if (json_object_object_get_ex(schema, "maxLength", &x) &&
		    n > (size_t)json_object_get_int64(x)) {
			snprintf(why, whylen,
			    "%s: must be at most %s characters", path,
			    json_object_get_string(x));
			return ERR_INVALID;
		}
	}
	if (json_object_is_type(v, json_type_array) &&
	    json_object_object_get_ex(schema, "items", &x)) {
		char sub[256];

		for (i = 0; i < json_object_array_length(v); i++) {
			berr rc;

			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if ((rc = tools_check(x,
			         json_object_array_get_idx(v, i), sub,
			         depth + 1, why, whylen)) != OK)
				return rc;
		}
	}
	if (json_object_is_type(v, json_type_object))
		return tools_check_object(schema, v, path, depth, why, whylen);
	return OK;
}

/* tools_check_args() over a parsed schema (borrowed). */
static berr
tools_check_args_obj(struct json_object *schema, struct json_object *args,
    char *why, size_t whylen)
{
	struct json_object *empty = NULL;
	berr rc;

	why[0] = '\0';
	if (args == NULL && (args = empty = json_object_new_object()) == NULL)
		return ERR_NOMEM;
	rc = tools_check(schema, args, "arguments", 0, why, whylen);
	json_object_put(empty);
	return rc;
}

berr
tools_check_args(
    const char *schema_json, struct json_object *args, char *why, size_t whylen)
{
	struct json_object *schema;
	char scratch[2];
	berr rc;

	if (why == NULL || whylen == 0) {
		why = scratch;
		whylen = sizeof(scratch);
	}
	why[0] = '\0';
	if ((schema = json_tokener_parse(schema_json)) == NULL) {
		snprintf(
		    why, whylen, "arguments: the tool's schema is invalid");
		return ERR_INVALID;
	}
	rc = tools_check_args_obj(schema, args, why, whylen);
	json_object_put(schema);
	return rc;
}

/* ---------------------------------------------------------------------
 * tools/call.
 */

const struct tool_def *
tools_builtin_at(size_t i)
{
	return i < TOOLS_NBUILTIN ? &tools_builtin[i] : NULL;
}

static const struct tool_def *
tools_find(const struct config *cfg, const char *name)
{
	const struct tool_def *t;
	size_t i;

	for (i = 0; (t = tools_at(cfg, i)) != NULL; i++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/* Runs t's handler as tool name (a dynamic tool's full name, else
 * t->name): ctx names both (tool_name and tool). */
static berr
tools_run(const struct tool_call_ctx *ctx, const struct tool_def *t,
    const char *name, struct json_object *args, struct json_object **r)
{
	struct tool_call_ctx c = *ctx;

	c.tool_name = name;
	c.tool = t;
	return t->fn(&c, args, r);
}

bool
tools_call_waits(
    const struct config *cfg, const char *name, struct json_object *args)
{
	const struct tool_def *t = name != NULL ? tools_find(cfg, name) : NULL;

	/* A dynamic tool is taken to exist here (no database): an unknown
	 * one costs a streaming slot, then ends as an unknown tool. */
	if (t == NULL && name != NULL && tools_dyn_owns(name))
		t = tools_dyn->tmpl;
	return t != NULL && t->waits != NULL && t->waits(args);
}

/*
 * Audits one call: argument names only, never their values (a value may
 * be a secret the user pasted). An audit row that cannot be written is an
 * error for the caller: an unaudited call must not look like a success.
 */
static berr
tools_audit(const struct tool_call_ctx *ctx, const char *name,
    struct json_object *args, bool success, const char *error, double ms)
{
	struct audit_event ev = { 0 };
	struct json_object *d, *names;
	char resource[TOOLS_NAME_ECHO + 8];
	berr rc;

	if ((d = json_object_new_object()) == NULL ||
	    (names = json_object_new_array()) == NULL) {
		json_object_put(d);
		return ERR_NOMEM;
	}
	if (args != NULL && json_object_is_type(args, json_type_object)) {
		json_object_object_foreach(args, key, val)
		{
			(void)val;
			json_object_array_add(names,
			    json_object_new_string_len(
			        key, (int)strnlen(key, TOOLS_NAME_ECHO)));
		}
	}
	json_object_object_add(
	    d, "duration_ms", json_object_new_int64((int64_t)ms));
	if (ctx->request_id != NULL)
		json_object_object_add(
		    d, "request_id", json_object_new_string(ctx->request_id));
	json_object_object_add(d, "arguments", names);
	if (error != NULL)
		json_object_object_add(
		    d, "error", json_object_new_string(error));
	snprintf(
	    resource, sizeof(resource), "tool:%.*s", TOOLS_NAME_ECHO, name);
	ev.user_id = ctx->principal != NULL ? ctx->principal->user_id : 0;
	ev.username = ctx->principal != NULL ? ctx->principal->username : NULL;
	ev.action = "tool.call";
	ev.resource = resource;
	ev.environment = ctx->environment;
	ev.ip_address = ctx->client_ip;
	ev.success = success;
	ev.details = d;
	rc = audit_append(ctx->db, &ev);
	json_object_put(d);
	return rc;
}

berr
tools_call(const struct tool_call_ctx *ctx, const char *name,
    struct json_object *args, struct json_object **result)
{
	const struct tool_def *t;
	struct json_object *r = NULL, *v;
	char why[256] = "";
	const char *error = NULL;
	double t0 = clock_ms_frac();
	bool success = false, dyn = false;
	berr rc = OK, arc;

	*result = NULL;
	if ((t = tools_find(ctx->cfg, name)) == NULL && tools_dyn_owns(name)) {
		t = tools_dyn->tmpl;
		dyn = true;
	}
	if (t == NULL) {
		snprintf(why, sizeof(why), "unknown tool: %.*s",
		    TOOLS_NAME_ECHO, name);
		error = "unknown tool";
	} else if (tools_may_call(ctx, t, why, sizeof(why)) != OK) {
		error = "forbidden";
	} else if (dyn && (rc = tools_dyn->exists(ctx, name)) != OK) {
		if (rc == ERR_NOT_FOUND) {
			t = NULL;
			snprintf(why, sizeof(why), "unknown tool: %.*s",
			    TOOLS_NAME_ECHO, name);
			error = "unknown tool";
		} else {
			snprintf(why, sizeof(why), "%.*s failed: %s",
			    TOOLS_NAME_ECHO, name,
			    rc == ERR_DB_DOWN ? "the database is unreachable"
			                      : err_str(rc));
			error = err_str(rc);
		}
		rc = OK;
	} else if (args != NULL &&
	    !json_object_is_type(args, json_type_object)) {
		snprintf(why, sizeof(why), "arguments: must be an object");
		error = "invalid arguments";
	} else if (tools_schema(t) == NULL) {
		snprintf(why, sizeof(why),
		    "arguments: the tool's schema is invalid");
		error = "invalid schema";
	} else if ((rc = tools_check_args_obj(
	                tools_schema(t), args, why, sizeof(why))) != OK) {
		if (rc == ERR_NOMEM)
			goto out;
		rc = OK;
		error = "invalid arguments";
	} else if ((rc = tools_run(ctx, t, name, args, &r)) != OK) {
		if (rc == ERR_NOMEM)
			goto out;
		/* What the client may learn: the kind, never the detail. */
		snprintf(why, sizeof(why), "%.*s failed: %s", TOOLS_NAME_ECHO,
		    name,
		    rc == ERR_DB_DOWN ? "the database is unreachable"
		                      : err_str(rc));
		error = err_str(rc);
		rc = OK;
	} else {
		success = !(json_object_object_get_ex(r, "isError", &v) &&
		    json_object_get_boolean(v));
		if (!success)
			error = "tool reported an error";
	}
	arc =
	    tools_audit(ctx, name, args, success, error, clock_ms_frac() - t0);
	if (arc != OK) {
		log_error("tools: call of %.*s by %s not audited: %s",
		    TOOLS_NAME_ECHO, name,
		    ctx->principal != NULL ? ctx->principal->username : "-",
		    err_str(arc));
		json_object_put(r);
		r = NULL;
		snprintf(why, sizeof(why),
		    "the call could not be recorded in the audit log");
	}
	if (t == NULL && arc == OK) {
		/* Unknown: a protocol error for the caller (tools.h). */
		rc = ERR_NOT_FOUND;
		goto out;
	}
	if (r == NULL && (r = tools_result(why, NULL, true)) == NULL)
		rc = ERR_NOMEM;
out:
	if (rc != OK) {
		json_object_put(r);
		r = NULL;
	}
	*result = r;
	return rc;
}
