/*
 * test_mcp.c - CUnit suite for shared/mcp.c and shared/tools.c.
 *
 * mcp_handle() is driven directly with an in-memory fake struct mcp_store
 * (sessions bound to the principal's user id); tools run against the real,
 * migrated PostgreSQL in DATABASE_URL (tests/unit/test_mcp.sh), because
 * station_status and the run tools read it and every call is audited.
 * Without DATABASE_URL the program exits 77 ("skipped").
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <json-c/json.h>

#include "agent_tools.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "mcp.h"
#include "principal.h"
#include "runner.h"
#include "tools.h"
#include "unit.h"

/* ---------------------------------------------------------------------
 * Fake session store.
 */

#define FAKE_MAX 64

struct fake_sess {
	bool used;
	long long user_id;
	struct mcp_session s;
};

static struct fake_sess fake[FAKE_MAX];
static int fake_seq;
static berr fake_fail; /* non-OK: every call fails with it */

static berr
fake_create(void *arg, const struct principal *p, const char *env,
    const char *version, const char *info, const char *caps,
    struct mcp_session *out)
{
	int i;

	(void)arg;
	(void)info;
	(void)caps;
	if (fake_fail != OK)
		return fake_fail;
	for (i = 0; i < FAKE_MAX && fake[i].used; i++)
		;
	if (i == FAKE_MAX)
		return ERR_DB;
	memset(&fake[i], 0, sizeof(fake[i]));
	fake[i].used = true;
	fake[i].user_id = p->user_id;
	snprintf(fake[i].s.id, sizeof(fake[i].s.id), "sess-%08d-abcdefgh",
	    ++fake_seq);
	snprintf(fake[i].s.protocol_version, sizeof(fake[i].s.protocol_version),
	    "%s", version);
	snprintf(fake[i].s.log_level, sizeof(fake[i].s.log_level), "info");
	snprintf(fake[i].s.environment, sizeof(fake[i].s.environment), "%s",
	    env != NULL ? env : "");
	*out = fake[i].s;
	return OK;
}

static struct fake_sess *
fake_find(const struct principal *p, const char *id)
{
	int i;

	for (i = 0; i < FAKE_MAX; i++)
		if (fake[i].used && strcmp(fake[i].s.id, id) == 0 &&
		    fake[i].user_id == p->user_id)
			return &fake[i];
	return NULL;
}

static berr
fake_load(void *arg, const struct principal *p, const char *id,
    struct mcp_session *out)
{
	struct fake_sess *f;

	(void)arg;
	if (fake_fail != OK)
		return fake_fail;
	if ((f = fake_find(p, id)) == NULL)
		return ERR_NOT_FOUND;
	*out = f->s;
	return OK;
}

static berr
fake_level(
    void *arg, const struct principal *p, const char *id, const char *level)
{
	struct fake_sess *f;

	(void)arg;
	if ((f = fake_find(p, id)) == NULL)
		return ERR_NOT_FOUND;
	snprintf(f->s.log_level, sizeof(f->s.log_level), "%s", level);
	return OK;
}

static berr
fake_remove(void *arg, const struct principal *p, const char *id)
{
	struct fake_sess *f;

	(void)arg;
	if ((f = fake_find(p, id)) == NULL)
		return ERR_NOT_FOUND;
	f->used = false;
	return OK;
}

static berr
fake_cancel(void *arg, const char *id, const char *key)
{
	(void)arg;
	(void)id;
	(void)key;
	return OK;
}

/* Only request id "cancel-me" is ever cancelled. */
static berr
fake_cancelled(void *arg, const char *id, const char *key, bool *yes)
{
	(void)arg;
	(void)id;
	*yes = strcmp(key, "\"cancel-me\"") == 0;
	return OK;
}

static const struct mcp_store fake_store = { NULL, fake_create, fake_load,
	fake_level, fake_remove, fake_cancel, fake_cancelled, NULL, NULL, NULL,
	NULL, NULL };

/* A streaming transport that records what it was given. */
static struct {
	int slots; /* free slots */
	bool opened;
	int events, comments;
	char text[8192];
} fake_sse;

static bool
fake_acquire(void *arg)
{
	(void)arg;
	if (fake_sse.slots == 0)
		return false;
	fake_sse.slots--;
	return true;
}

static void
fake_release(void *arg)
{
	(void)arg;
	fake_sse.slots++;
}

static berr
fake_open(void *arg)
{
	(void)arg;
	fake_sse.opened = true;
	return OK;
}

static berr
fake_event(void *arg, const char *json, size_t len)
{
	size_t have = strlen(fake_sse.text);

	(void)arg;
	fake_sse.events++;
	snprintf(fake_sse.text + have, sizeof(fake_sse.text) - have, "%.*s\n",
	    (int)len, json);
	return OK;
}

static berr
fake_comment(void *arg)
{
	(void)arg;
	fake_sse.comments++;
	return OK;
}

static const struct mcp_stream_ops fake_ops = { NULL, fake_acquire,
	fake_release, fake_open, fake_event, fake_comment };

/* ---------------------------------------------------------------------
 * Fixtures.
 */

static struct config *test_cfg;
static struct db *test_db;
static struct principal dev, viewer, other;
static struct mcp_ctx test_ctx;

static void
test_principal(
    struct principal *p, long long uid, const char *name, const char *role)
{
	memset(p, 0, sizeof(*p));
	p->user_id = uid;
	snprintf(p->username, sizeof(p->username), "%s", name);
	p->method = AUTH_API_KEY;
	p->nroles = 1;
	snprintf(p->roles[0].environment, sizeof(p->roles[0].environment), "*");
	snprintf(p->roles[0].role, sizeof(p->roles[0].role), "%s", role);
}

/* One answer, parsed. */
struct ans {
	struct mcp_response rs;
	struct json_object *j; /* NULL when no body */
};

static void
ans_free(struct ans *a)
{
	mcp_response_free(&a->rs);
	json_object_put(a->j);
	memset(a, 0, sizeof(*a));
}

struct req {
	const char *method; /* HTTP; default POST */
	const char *version;
	const char *session;
	const char *mcp_method;
	const char *mcp_name;
	const char *ctype; /* default application/json */
	bool no_ctype;
	const char *accept; /* default both */
	bool no_accept;
};

static struct ans
call_as(const struct principal *p, const struct req *r, const char *body)
{
	struct mcp_request rq = { 0 };
	struct ans a;

	memset(&a, 0, sizeof(a));
	rq.http_method = r->method != NULL ? r->method : "POST";
	rq.content_type = r->no_ctype ? NULL
	    : r->ctype != NULL        ? r->ctype
	                              : "application/json";
	rq.accept = r->no_accept ? NULL
	    : r->accept != NULL  ? r->accept
	                         : "application/json, text/event-stream";
	rq.protocol_version = r->version;
	rq.session_id = r->session;
	rq.mcp_method = r->mcp_method;
	rq.mcp_name = r->mcp_name;
	rq.body = body;
	rq.body_len = body != NULL ? strlen(body) : 0;
	rq.client_ip = "127.0.0.1";
	rq.request_id = "test-req";
	CU_ASSERT_EQUAL_FATAL(mcp_handle(&test_ctx, p, &rq, &a.rs), OK);
	if (a.rs.body != NULL) {
		a.j = json_tokener_parse(a.rs.body);
		CU_ASSERT_PTR_NOT_NULL(a.j);
	}
	return a;
}

static struct ans
call(const struct req *r, const char *body)
{
	return call_as(&dev, r, body);
}

/* j at a dotted path ("error.code", "result.tools.0.name"); NULL if none. */
static struct json_object *
at(struct json_object *j, const char *path)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok != NULL && j != NULL;
	     tok = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(j, json_type_array))
			j = json_object_array_get_idx(j, (size_t)atoi(tok));
		else if (!json_object_object_get_ex(j, tok, &j))
			j = NULL;
	}
	return j;
}

static int
at_int(struct json_object *j, const char *path)
{
	struct json_object *v = at(j, path);

	return v != NULL ? json_object_get_int(v) : -999999;
}

static const char *
at_str(struct json_object *j, const char *path)
{
	struct json_object *v = at(j, path);

	return v != NULL ? json_object_get_string(v) : "";
}

/* Initializes a legacy session at version; its id into sid. */
static void
init_session(
    const struct principal *p, const char *version, char *sid, size_t n)
{
	struct req r = { 0 };
	char body[512];
	struct ans a;

	snprintf(body, sizeof(body),
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"%s\",\"capabilities\":{},"
	    "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
	    version);
	a = call_as(p, &r, body);
	CU_ASSERT_EQUAL(a.rs.status, 200);
	CU_ASSERT_STRING_NOT_EQUAL(a.rs.session_id, "");
	snprintf(sid, n, "%s", a.rs.session_id);
	ans_free(&a);
}

#define META26                                                              \
	"\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":"           \
	"\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{}," \
	"\"io.modelcontextprotocol/clientInfo\":{\"name\":\"t\","           \
	"\"version\":\"1\"}}"

/* A 2026 request of method with extra params (may be ""). */
static struct ans
call26(const char *method, const char *name, const char *extra)
{
	struct req r = { 0 };
	char body[1024];

	r.version = "2026-07-28";
	r.mcp_method = method;
	r.mcp_name = name;
	snprintf(body, sizeof(body),
	    "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"%s\","
	    "\"params\":{%s%s" META26 "}}",
	    method, extra, extra[0] ? "," : "");
	return call(&r, body);
}

/* ---------------------------------------------------------------------
 * Legacy era.
 */

static void
test_initialize(void)
{
	struct req r = { 0 };
	struct ans a;
	char sid[129];

	/* Supported version: echoed. */
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"2025-06-18\","
	    "\"capabilities\":{},\"clientInfo\":{\"name\":\"c\","
	    "\"version\":\"1\"}}}");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	CU_ASSERT_STRING_EQUAL(a.rs.content_type, "application/json");
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.protocolVersion"), "2025-06-18");
	CU_ASSERT_STRING_EQUAL(at_str(a.j, "result.serverInfo.name"), "berth");
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.serverInfo.version"));
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.capabilities.tools"));
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.capabilities.logging"));
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.capabilities.completions"));
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.instructions"));
	CU_ASSERT_EQUAL(at_int(a.j, "id"), 1);
	CU_ASSERT_STRING_NOT_EQUAL(a.rs.session_id, "");
	ans_free(&a);
	/* Unsupported: the latest legacy version. */
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"1999-01-01\","
	    "\"capabilities\":{},\"clientInfo\":{}}}");
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.protocolVersion"), "2025-11-25");
	ans_free(&a);
	/* 2026 has no initialize: also the latest legacy. */
	init_session(&dev, "2026-07-28", sid, sizeof(sid));
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"2025-03-26\"}}");
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.protocolVersion"), "2025-03-26");
	ans_free(&a);
	/* protocolVersion missing or of the wrong type: -32602 naming it. */
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":5}}");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32602);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(at_str(a.j, "error.message"), "params.protocolVersion"));
	CU_ASSERT_STRING_EQUAL(a.rs.session_id, "");
	ans_free(&a);
	/* The store down: 503, no internals. */
	fake_fail = ERR_DB_DOWN;
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"2025-03-26\"}}");
	CU_ASSERT_EQUAL(a.rs.status, 503);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32603);
	fake_fail = OK;
	ans_free(&a);
}

static void
test_legacy_methods(void)
{
	static const char *const versions[] = { "2025-03-26", "2025-06-18",
		"2025-11-25" };
	struct req r = { 0 };
	struct ans a;
	char sid[129];
	size_t i;

	for (i = 0; i < 3; i++) {
		init_session(&dev, versions[i], sid, sizeof(sid));
		r.session = sid;
		/* Pre-2025-06-18 clients send no header. */
		r.version = i == 0 ? NULL : versions[i];
		a = call(&r,
		    "{\"jsonrpc\":\"2.0\",\"method\":"
		    "\"notifications/initialized\"}");
		CU_ASSERT_EQUAL(a.rs.status, 202);
		CU_ASSERT_PTR_NULL(a.rs.body);
		ans_free(&a);
		a = call(&r,
		    "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}");
		CU_ASSERT_EQUAL(a.rs.status, 200);
		CU_ASSERT_STRING_EQUAL(at_str(a.j, "id"), "p");
		CU_ASSERT_TRUE(
		    json_object_is_type(at(a.j, "result"), json_type_object));
		CU_ASSERT_EQUAL(
		    json_object_object_length(at(a.j, "result")), 0);
		ans_free(&a);
		a = call(&r,
		    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
		    "\"prompts/list\"}");
		CU_ASSERT_EQUAL(
		    json_object_array_length(at(a.j, "result.prompts")), 0);
		CU_ASSERT_PTR_NULL(at(a.j, "result.resultType"));
		ans_free(&a);
		a = call(&r,
		    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":"
		    "\"resources/list\"}");
		CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.resources"));
		ans_free(&a);
		a = call(&r,
		    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":"
		    "\"resources/templates/list\"}");
		CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.resourceTemplates"));
		ans_free(&a);
		a = call(&r,
		    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":"
		    "\"logging/setLevel\",\"params\":{\"level\":"
		    "\"warning\"}}");
		CU_ASSERT_EQUAL(a.rs.status, 200);
		CU_ASSERT_PTR_NOT_NULL(at(a.j, "result"));
		CU_ASSERT_STRING_EQUAL(
		    fake_find(&dev, sid)->s.log_level, "warning");
		ans_free(&a);
		a = call(&r,
		    "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":"
		    "\"logging/setLevel\",\"params\":{\"level\":"
		    "\"loud\"}}");
		CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32602);
		CU_ASSERT_PTR_NOT_NULL(
		    strstr(at_str(a.j, "error.message"), "params.level"));
		ans_free(&a);
		a = call(&r,
		    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":"
		    "\"completion/complete\",\"params\":{\"ref\":{"
		    "\"type\":\"ref/prompt\",\"name\":\"x\"},"
		    "\"argument\":{\"name\":\"a\",\"value\":\"b\"}}}");
		CU_ASSERT_EQUAL(json_object_array_length(
		                    at(a.j, "result.completion.values")),
		    0);
		CU_ASSERT_FALSE(json_object_get_boolean(
		    at(a.j, "result.completion.hasMore")));
		ans_free(&a);
		a = call(&r,
		    "{\"jsonrpc\":\"2.0\",\"method\":"
		    "\"notifications/cancelled\",\"params\":{"
		    "\"requestId\":3}}");
		CU_ASSERT_EQUAL(a.rs.status, 202);
		ans_free(&a);
		/* Unknown method: -32601 in a 200 answer in this era. */
		a = call(&r,
		    "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":"
		    "\"server/discover\"}");
		CU_ASSERT_EQUAL(a.rs.status, 200);
		CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32601);
		ans_free(&a);
		/* A response posted by the client: 202. */
		a = call(&r, "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}");
		CU_ASSERT_EQUAL(a.rs.status, 202);
		ans_free(&a);
		/* An older supported header on a newer session is fine. */
		r.version = "2025-03-26";
		a = call(
		    &r, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"ping\"}");
		CU_ASSERT_EQUAL(a.rs.status, 200);
		ans_free(&a);
		memset(&r, 0, sizeof(r));
	}
}

static void
test_sessions(void)
{
	struct req r = { 0 };
	struct ans a;
	char sid[129];
	static const char ping[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";

	init_session(&dev, "2025-11-25", sid, sizeof(sid));
	/* Missing: 400. */
	r.version = "2025-11-25";
	a = call(&r, ping);
	CU_ASSERT_EQUAL(a.rs.status, 400);
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "error"));
	ans_free(&a);
	/* Notifications need it too. */
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	ans_free(&a);
	/* Unknown: 404. */
	r.session = "sess-unknown-0000000000";
	a = call(&r, ping);
	CU_ASSERT_EQUAL(a.rs.status, 404);
	ans_free(&a);
	/* Malformed (control characters): 404, the store is not asked. */
	r.session = "bad\r\nid";
	a = call(&r, ping);
	CU_ASSERT_EQUAL(a.rs.status, 404);
	ans_free(&a);
	/* Another principal's: 404. */
	r.session = sid;
	a = call_as(&other, &r, ping);
	CU_ASSERT_EQUAL(a.rs.status, 404);
	ans_free(&a);
	a = call(&r, ping);
	CU_ASSERT_EQUAL(a.rs.status, 200);
	ans_free(&a);
	/* DELETE by another: 404; by the owner: 204; afterwards: 404. */
	r.method = "DELETE";
	a = call_as(&other, &r, NULL);
	CU_ASSERT_EQUAL(a.rs.status, 404);
	ans_free(&a);
	a = call(&r, NULL);
	CU_ASSERT_EQUAL(a.rs.status, 204);
	CU_ASSERT_PTR_NULL(a.rs.body);
	ans_free(&a);
	a = call(&r, NULL);
	CU_ASSERT_EQUAL(a.rs.status, 404);
	ans_free(&a);
	r.method = NULL;
	a = call(&r, ping);
	CU_ASSERT_EQUAL(a.rs.status, 404);
	ans_free(&a);
	/* DELETE without a session: 400. */
	r.method = "DELETE";
	r.session = NULL;
	a = call(&r, NULL);
	CU_ASSERT_EQUAL(a.rs.status, 400);
	ans_free(&a);
	/* GET: 405 with Allow. */
	r.method = "GET";
	a = call(&r, NULL);
	CU_ASSERT_EQUAL(a.rs.status, 405);
	CU_ASSERT_PTR_NOT_NULL(a.rs.allow);
	CU_ASSERT_PTR_NOT_NULL(strstr(a.rs.allow, "POST"));
	ans_free(&a);
	/* The store down on load: 503. */
	r.method = NULL;
	r.session = sid;
	fake_fail = ERR_DB_DOWN;
	a = call(&r, ping);
	CU_ASSERT_EQUAL(a.rs.status, 503);
	fake_fail = OK;
	ans_free(&a);
}

static void
test_versions(void)
{
	struct req r = { 0 };
	struct ans a;
	char sid[129];

	init_session(&dev, "2025-06-18", sid, sizeof(sid));
	r.session = sid;
	/* Unsupported header: 400, -32022, data {supported, requested}. */
	r.version = "1900-01-01";
	a = call(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32022);
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "error.data.requested"), "1900-01-01");
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "error.data.supported.0"), "2026-07-28");
	CU_ASSERT_EQUAL(
	    json_object_array_length(at(a.j, "error.data.supported")), 4);
	CU_ASSERT_EQUAL(at_int(a.j, "id"), 1);
	ans_free(&a);
	/* Same for a modern request. */
	r.session = NULL;
	r.mcp_method = "tools/list";
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
	    "\"params\":{\"_meta\":{\"io.modelcontextprotocol/"
	    "protocolVersion\":\"1900-01-01\"}}}");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32022);
	ans_free(&a);
	/* No header, modern body: the required header is missing. */
	r.version = NULL;
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
	    "\"params\":{" META26 "}}");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32020);
	ans_free(&a);
	/* No header, legacy body: 2025-03-26, which needs a session. */
	a = call(
	    &r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	ans_free(&a);
	/* Legacy header with a different body version: mismatch. */
	r.version = "2025-06-18";
	r.session = sid;
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
	    "\"params\":{" META26 "}}");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32020);
	ans_free(&a);
}

/* ---------------------------------------------------------------------
 * Prompts, resources, environments.
 */

static void
test_prompts_resources(void)
{
	struct req r = { 0 };
	struct ans a;
	char sid[129];

	init_session(&dev, "2025-11-25", sid, sizeof(sid));
	r.session = sid;
	r.version = "2025-11-25";
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\","
	    "\"params\":{\"name\":\"nope\"}}");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32602);
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"prompts/get\","
	    "\"params\":{}}");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32602);
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/read\","
	    "\"params\":{\"uri\":\"test://static-text\"}}");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32002);
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "error.data.uri"), "test://static-text");
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"resources/read\","
	    "\"params\":{\"uri\":7}}");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32602);
	ans_free(&a);
	/* The fake store keeps no subscriptions: neither method nor
	 * capability. */
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":"
	    "\"resources/subscribe\",\"params\":{\"uri\":\"x\"}}");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32601);
	ans_free(&a);

	/* The fixtures, test-only. */
	test_cfg->mcp.conformance_fixtures = true;
	a = call(
	    &r, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"prompts/list\"}");
	CU_ASSERT_EQUAL(json_object_array_length(at(a.j, "result.prompts")), 4);
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.prompts.1.arguments.0.name"), "arg1");
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"prompts/get\","
	    "\"params\":{\"name\":\"test_prompt_with_arguments\","
	    "\"arguments\":{\"arg1\":\"A\",\"arg2\":\"B\"}}}");
	CU_ASSERT_STRING_EQUAL(at_str(a.j, "result.messages.0.content.text"),
	    "Prompt with arguments: arg1='A', arg2='B'");
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"prompts/get\","
	    "\"params\":{\"name\":\"test_prompt_with_arguments\","
	    "\"arguments\":{\"arg1\":\"A\"}}}");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32602);
	CU_ASSERT_PTR_NOT_NULL(strstr(at_str(a.j, "error.message"), "arg2"));
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"resources/read\","
	    "\"params\":{\"uri\":\"test://static-binary\"}}");
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.contents.0.mimeType"), "image/png");
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.contents.0.blob"));
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"resources/read\","
	    "\"params\":{\"uri\":\"test://template/123/data\"}}");
	CU_ASSERT_STRING_EQUAL(at_str(a.j, "result.contents.0.text"),
	    "{\"id\":\"123\",\"templateTest\":true,"
	    "\"data\":\"Data for ID: 123\"}");
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"resources/read\","
	    "\"params\":{\"uri\":\"test://template//data\"}}");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32002);
	ans_free(&a);
	test_cfg->mcp.conformance_fixtures = false;

	/* A session is bound to its environment: 404 in another. */
	test_ctx.environment = "production";
	a = call(&r, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"ping\"}");
	CU_ASSERT_EQUAL(a.rs.status, 404);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32001);
	ans_free(&a);
	test_ctx.environment = "default";
	a = call(&r, "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"ping\"}");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	ans_free(&a);
}

/* ---------------------------------------------------------------------
 * Modern era.
 */

static void
test_modern(void)
{
	struct req r = { 0 };
	struct ans a;

	a = call26("server/discover", NULL, "");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	CU_ASSERT_STRING_EQUAL(a.rs.session_id, "");
	CU_ASSERT_STRING_EQUAL(at_str(a.j, "result.resultType"), "complete");
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.supportedVersions.0"), "2026-07-28");
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.capabilities.tools"));
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.ttlMs"));
	CU_ASSERT_STRING_EQUAL(at_str(a.j, "result.cacheScope"), "public");
	CU_ASSERT_PTR_NOT_NULL(json_object_object_get(
	    at(a.j, "result._meta"), "io.modelcontextprotocol/serverInfo"));
	ans_free(&a);
	a = call26("tools/list", NULL, "");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	CU_ASSERT_EQUAL(json_object_array_length(at(a.j, "result.tools")), 4);
	CU_ASSERT_STRING_EQUAL(at_str(a.j, "result.cacheScope"), "private");
	ans_free(&a);
	a = call26("prompts/list", NULL, "");
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.prompts"));
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.ttlMs"));
	ans_free(&a);
	a = call26("resources/list", NULL, "");
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.resources"));
	ans_free(&a);
	a = call26("resources/templates/list", NULL, "");
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.resourceTemplates"));
	ans_free(&a);
	a = call26("completion/complete", NULL,
	    "\"ref\":{\"type\":\"ref/prompt\",\"name\":\"x\"},"
	    "\"argument\":{\"name\":\"a\",\"value\":\"\"}");
	CU_ASSERT_PTR_NOT_NULL(at(a.j, "result.completion.values"));
	CU_ASSERT_STRING_EQUAL(at_str(a.j, "result.resultType"), "complete");
	ans_free(&a);
	a = call26(
	    "tools/call", "station_status", "\"name\":\"station_status\"");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	CU_ASSERT_FALSE(json_object_get_boolean(at(a.j, "result.isError")));
	CU_ASSERT_STRING_EQUAL(at_str(a.j, "result.resultType"), "complete");
	ans_free(&a);
	/* Mcp-Name in the Base64 sentinel form. */
	a = call26("tools/call",
	    "=?base64?c3RhdGlvbl9zdGF0dXM=?=", "\"name\":\"station_status\"");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	ans_free(&a);
	/* Removed in 2026-07-28, and legacy-only: 404 + -32601. */
	a = call26("ping", NULL, "");
	CU_ASSERT_EQUAL(a.rs.status, 404);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32601);
	ans_free(&a);
	a = call26("initialize", NULL, "\"protocolVersion\":\"2025-11-25\"");
	CU_ASSERT_EQUAL(a.rs.status, 404);
	CU_ASSERT_STRING_EQUAL(a.rs.session_id, "");
	ans_free(&a);
	a = call26("no/such", NULL, "");
	CU_ASSERT_EQUAL(a.rs.status, 404);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32601);
	ans_free(&a);
	/* A notification: 202, no headers required. */
	r.version = "2026-07-28";
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
	    "\"params\":{\"requestId\":1}}");
	CU_ASSERT_EQUAL(a.rs.status, 202);
	CU_ASSERT_PTR_NULL(a.rs.body);
	ans_free(&a);
	/* A response: clients must not send them. */
	a = call(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32600);
	ans_free(&a);
	/* A session id is ignored, never minted. */
	r.session = "whatever-session-id-123";
	r.mcp_method = "server/discover";
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	    "\"server/discover\",\"params\":{" META26 "}}");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	CU_ASSERT_STRING_EQUAL(a.rs.session_id, "");
	ans_free(&a);
}

static void
test_modern_headers(void)
{
	struct req r = { 0 };
	struct ans a;

	r.version = "2026-07-28";
	/* Mcp-Method missing. */
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
	    "\"params\":{" META26 "}}");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32020);
	CU_ASSERT_EQUAL(at_int(a.j, "id"), 1);
	ans_free(&a);
	/* Mcp-Method differs. */
	r.mcp_method = "prompts/list";
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
	    "\"params\":{" META26 "}}");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32020);
	ans_free(&a);
	/* _meta missing. */
	r.mcp_method = "tools/list";
	a = call(
	    &r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32020);
	ans_free(&a);
	/* Body version differs from the header. */
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
	    "\"params\":{\"_meta\":{\"io.modelcontextprotocol/"
	    "protocolVersion\":\"2025-11-25\"}}}");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32020);
	ans_free(&a);
	/* Mcp-Name missing, different, bad Base64, control characters. */
	a = call26("tools/call", NULL, "\"name\":\"station_status\"");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32020);
	ans_free(&a);
	a = call26("tools/call", "get_run", "\"name\":\"station_status\"");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32020);
	ans_free(&a);
	a = call26(
	    "tools/call", "=?base64?!!!?=", "\"name\":\"station_status\"");
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32020);
	ans_free(&a);
	a = call26(
	    "tools/call", "station\r\nstatus", "\"name\":\"station_status\"");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32020);
	ans_free(&a);
}

/* ---------------------------------------------------------------------
 * JSON-RPC faults.
 */

struct bad {
	const char *body;
	int code;
	int status;
};

static void
test_jsonrpc_errors(void)
{
	static const struct bad cases[] = {
		{ "{", -32700, 400 },
		{ "", -32700, 400 },
		{ "nul", -32700, 400 },
		{ "{\"jsonrpc\":\"2.0\"} trailing", -32700, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",}", -32700,
		    400 },
		{ "42", -32600, 400 },
		{ "\"str\"", -32600, 400 },
		{ "null", -32600, 400 },
		{ "{}", -32600, 400 },
		{ "{\"id\":1,\"method\":\"ping\"}", -32600, 400 },
		{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", -32600,
		    400 },
		{ "{\"jsonrpc\":2,\"id\":1,\"method\":\"ping\"}", -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
		    -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",
		    -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1e3,\"method\":\"ping\"}",
		    -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}",
		    -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}",
		    -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", -32600,
		    400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":9007199254740992,\"method\":"
		  "\"ping\"}",
		    -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":"
		  "123456789012345678901234567890,\"method\":\"ping\"}",
		    -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", -32600,
		    400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}", -32600,
		    400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\","
		  "\"params\":[]}",
		    -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\","
		  "\"params\":\"x\"}",
		    -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1}", -32600, 400 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		  "\"params\":{\"name\":7}}",
		    -32602, 200 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		  "\"params\":{\"name\":\"get_run\",\"arguments\":[]}}",
		    -32602, 200 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
		  "\"params\":{\"cursor\":5}}",
		    -32602, 200 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
		  "\"params\":{\"cursor\":\"forged\"}}",
		    -32602, 200 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}", -32601,
		    200 },
	};
	struct req r = { 0 };
	struct ans a;
	char sid[129], *deep;
	size_t i;

	init_session(&dev, "2025-11-25", sid, sizeof(sid));
	r.session = sid;
	r.version = "2025-11-25";
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		a = call(&r, cases[i].body);
		if (at_int(a.j, "error.code") != cases[i].code ||
		    a.rs.status != cases[i].status)
			fprintf(stderr, "case %zu (%s): %d/%d\n", i,
			    cases[i].body, at_int(a.j, "error.code"),
			    a.rs.status);
		CU_ASSERT_EQUAL(at_int(a.j, "error.code"), cases[i].code);
		CU_ASSERT_EQUAL(a.rs.status, cases[i].status);
		CU_ASSERT_STRING_EQUAL(at_str(a.j, "jsonrpc"), "2.0");
		ans_free(&a);
	}
	/* Deep nesting: a parse error, not a crash. */
	deep = malloc(200001);
	CU_ASSERT_PTR_NOT_NULL_FATAL(deep);
	memset(deep, '[', 100000);
	memset(deep + 100000, ']', 100000);
	deep[200000] = '\0';
	a = call(&r, deep);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32700);
	CU_ASSERT_EQUAL(a.rs.status, 400);
	ans_free(&a);
	free(deep);
	/* Content type. */
	r.ctype = "text/plain";
	a = call(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
	CU_ASSERT_EQUAL(a.rs.status, 415);
	ans_free(&a);
	r.ctype = "application/json; charset=utf-8";
	a = call(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	ans_free(&a);
	r.ctype = "application/jsonx";
	a = call(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
	CU_ASSERT_EQUAL(a.rs.status, 415);
	ans_free(&a);
}

static void
test_batches(void)
{
	struct req r = { 0 };
	struct ans a;
	char sid[129];

	/* 2025-03-26 allows them. */
	init_session(&dev, "2025-03-26", sid, sizeof(sid));
	r.session = sid;
	a = call(&r,
	    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"},"
	    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"2025-03-26\"}}]");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	CU_ASSERT_TRUE(json_object_is_type(a.j, json_type_array));
	CU_ASSERT_EQUAL(json_object_array_length(a.j), 3);
	CU_ASSERT_EQUAL(at_int(a.j, "0.id"), 1);
	CU_ASSERT_EQUAL(at_int(a.j, "1.error.code"), -32601);
	CU_ASSERT_EQUAL(at_int(a.j, "2.error.code"), -32600);
	ans_free(&a);
	a = call(&r,
	    "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}]");
	CU_ASSERT_EQUAL(a.rs.status, 202);
	CU_ASSERT_PTR_NULL(a.rs.body);
	ans_free(&a);
	a = call(&r, "[]");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32600);
	ans_free(&a);
	/* Later versions do not. */
	init_session(&dev, "2025-06-18", sid, sizeof(sid));
	r.version = "2025-06-18";
	a = call(&r, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	CU_ASSERT_EQUAL(at_int(a.j, "error.code"), -32600);
	ans_free(&a);
	r.version = "2026-07-28";
	r.session = NULL;
	r.mcp_method = "ping";
	a = call(&r, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]");
	CU_ASSERT_EQUAL(a.rs.status, 400);
	ans_free(&a);
}

/* ---------------------------------------------------------------------
 * Tools.
 */

static void
test_tools_list_pages(void)
{
	struct tool_call_ctx t = { test_cfg, test_db, &dev, "default", "r",
		"127.0.0.1" };
	struct json_object *tools = NULL, *all = json_object_new_array();
	char *next = NULL, *cur = NULL;
	int pages = 0;

	do {
		CU_ASSERT_EQUAL_FATAL(
		    tools_list(&t, cur, 1, &tools, &next), OK);
		CU_ASSERT_EQUAL(json_object_array_length(tools), 1);
		json_object_array_add(
		    all, json_object_get(json_object_array_get_idx(tools, 0)));
		json_object_put(tools);
		free(cur);
		cur = next;
		pages++;
	} while (cur != NULL && pages < 10);
	CU_ASSERT_EQUAL(pages, 4);
	CU_ASSERT_STRING_EQUAL(at_str(all, "0.name"), "station_status");
	CU_ASSERT_STRING_EQUAL(at_str(all, "3.name"), "get_run");
	CU_ASSERT_PTR_NOT_NULL(at(all, "0.description"));
	CU_ASSERT_STRING_EQUAL(at_str(all, "0.inputSchema.type"), "object");
	json_object_put(all);
	/* Forged cursors. */
	CU_ASSERT_EQUAL(
	    tools_list(&t, "t1AAAA", 1, &tools, &next), ERR_INVALID);
	CU_ASSERT_EQUAL(tools_list(&t, "", 1, &tools, &next), ERR_INVALID);
	CU_ASSERT_EQUAL(tools_list(&t, "t1!!", 1, &tools, &next), ERR_INVALID);
	/* A viewer may call nothing, so sees nothing. */
	t.principal = &viewer;
	CU_ASSERT_EQUAL(tools_list(&t, NULL, 50, &tools, &next), OK);
	CU_ASSERT_EQUAL(json_object_array_length(tools), 0);
	CU_ASSERT_PTR_NULL(next);
	json_object_put(tools);
}

/*
 * tools_list()'s page cache: the same page for the same permission set is
 * the very same array (kept), another permission set gets its own page,
 * and a provider registered later empties the cache, so its tools show at
 * once.
 */
static berr
test_extra_fn(const struct tool_call_ctx *ctx, struct json_object *args,
    struct json_object **result)
{
	(void)ctx;
	(void)args;
	*result = tools_result("extra", NULL, false);
	return *result != NULL ? OK : ERR_NOMEM;
}

static void
test_tools_list_kept(void)
{
	static const struct tool_def extra[] = { { "extra_tool", NULL,
	    "An extra tool.", "{\"type\":\"object\"}", PERM_RUNS_READ,
	    test_extra_fn, NULL } };
	struct tool_call_ctx t = { test_cfg, test_db, &dev, "default", "r",
		"127.0.0.1" };
	struct json_object *a = NULL, *b = NULL, *v = NULL;
	char *next = NULL;

	CU_ASSERT_EQUAL_FATAL(tools_list(&t, NULL, 50, &a, &next), OK);
	CU_ASSERT_EQUAL(json_object_array_length(a), 4);
	t.principal = &viewer;
	CU_ASSERT_EQUAL_FATAL(tools_list(&t, NULL, 50, &v, &next), OK);
	CU_ASSERT_EQUAL(json_object_array_length(v), 0);
	t.principal = &dev;
	CU_ASSERT_EQUAL_FATAL(tools_list(&t, NULL, 50, &b, &next), OK);
	CU_ASSERT_PTR_EQUAL(a, b); /* kept, not built again */
	CU_ASSERT_STRING_EQUAL(
	    json_object_to_json_string(a), json_object_to_json_string(b));
	json_object_put(b);
	/* Another page size is another page, with its cursor. */
	CU_ASSERT_EQUAL_FATAL(tools_list(&t, NULL, 3, &b, &next), OK);
	CU_ASSERT_EQUAL(json_object_array_length(b), 3);
	CU_ASSERT_PTR_NOT_NULL(next);
	json_object_put(b);
	free(next);
	next = NULL;
	CU_ASSERT_EQUAL_FATAL(tools_list(&t, NULL, 3, &b, &next), OK);
	CU_ASSERT_PTR_NOT_NULL(next); /* the kept page keeps its cursor */
	json_object_put(b);
	free(next);
	next = NULL;
	/* A provider's tools show on the very next listing. */
	tools_set_provider(extra, 1);
	CU_ASSERT_EQUAL_FATAL(tools_list(&t, NULL, 50, &b, &next), OK);
	CU_ASSERT_EQUAL(json_object_array_length(b), 5);
	CU_ASSERT_STRING_EQUAL(at_str(b, "4.name"), "extra_tool");
	json_object_put(b);
	tools_set_provider(NULL, 0);
	CU_ASSERT_EQUAL_FATAL(tools_list(&t, NULL, 50, &b, &next), OK);
	CU_ASSERT_EQUAL(json_object_array_length(b), 4);
	json_object_put(b);
	json_object_put(a);
	json_object_put(v);
	tools_forget_pages();
}

/* The answer's body is exactly what json-c renders of it (mcp_send()'s
 * flags): mcp.c writes a kept result's answer around its text itself. */
static void
assert_json_c_text(const struct ans *a)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(a->j);
	CU_ASSERT_STRING_EQUAL(a->rs.body,
	    json_object_to_json_string_ext(
	        a->j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	CU_ASSERT_EQUAL(a->rs.body_len, strlen(a->rs.body));
}

/*
 * mcp.c's kept tools/list results: the same listing in the same era is the
 * same text, another era has its own result (no 2026 fields in 2025), the
 * request's own id still goes around it, and a provider change shows on
 * the very next listing.
 */
static void
test_tools_list_results_kept(void)
{
	static const struct tool_def extra[] = { { "extra_tool", NULL,
	    "An extra tool.", "{\"type\":\"object\"}", PERM_RUNS_READ,
	    test_extra_fn, NULL } };
	struct req r = { 0 };
	struct ans a, b;
	char sid[129];

	a = call26("tools/list", NULL, "");
	b = call26("tools/list", NULL, "");
	CU_ASSERT_EQUAL(b.rs.status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.rs.body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b.rs.body);
	CU_ASSERT_STRING_EQUAL(a.rs.body, b.rs.body);
	assert_json_c_text(&b);
	CU_ASSERT_STRING_EQUAL(at_str(b.j, "result.resultType"), "complete");
	CU_ASSERT_STRING_EQUAL(at_str(b.j, "result.cacheScope"), "private");
	CU_ASSERT_EQUAL(json_object_array_length(at(b.j, "result.tools")), 4);
	ans_free(&b);
	/* The 2025 era: the same tools, none of the 2026 fields; its id. */
	init_session(&dev, "2025-11-25", sid, sizeof(sid));
	r.session = sid;
	r.version = "2025-11-25";
	for (int i = 0; i < 2; i++) {
		b = call(&r,
		    i == 0 ? "{\"jsonrpc\":\"2.0\",\"id\":7,"
		             "\"method\":\"tools/list\"}"
		           : "{\"jsonrpc\":\"2.0\",\"id\":\"q\\\"r\","
		             "\"method\":\"tools/list\"}");
		CU_ASSERT_EQUAL(b.rs.status, 200);
		CU_ASSERT_EQUAL(
		    json_object_array_length(at(b.j, "result.tools")), 4);
		CU_ASSERT_PTR_NULL(at(b.j, "result.resultType"));
		CU_ASSERT_PTR_NULL(at(b.j, "result._meta"));
		assert_json_c_text(&b);
		if (i == 0)
			CU_ASSERT_EQUAL(at_int(b.j, "id"), 7);
		if (i == 1)
			CU_ASSERT_STRING_EQUAL(at_str(b.j, "id"), "q\"r");
		ans_free(&b);
	}
	/* A provider's tool shows on the very next listing, and leaves. */
	tools_set_provider(extra, 1);
	b = call26("tools/list", NULL, "");
	CU_ASSERT_EQUAL(json_object_array_length(at(b.j, "result.tools")), 5);
	CU_ASSERT_STRING_EQUAL(
	    at_str(b.j, "result.tools.4.name"), "extra_tool");
	CU_ASSERT_STRING_EQUAL(at_str(b.j, "result.resultType"), "complete");
	ans_free(&b);
	tools_set_provider(NULL, 0);
	b = call26("tools/list", NULL, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(b.rs.body);
	CU_ASSERT_STRING_EQUAL(a.rs.body, b.rs.body);
	ans_free(&b);
	ans_free(&a);
	tools_forget_pages();
}

/* The names of every tool p sees in "default", paged by limit; *pages. */
static char *
list_names(const struct principal *p, size_t limit, int *pages)
{
	struct tool_call_ctx t = { test_cfg, test_db, p, "default", "r",
		"127.0.0.1" };
	struct json_object *tools = NULL;
	char *next = NULL, *cur = NULL, names[512] = "";
	size_t i;

	*pages = 0;
	do {
		if (tools_list(&t, cur, limit, &tools, &next) != OK)
			break;
		for (i = 0; i < json_object_array_length(tools); i++)
			snprintf(names + strlen(names),
			    sizeof(names) - strlen(names), "%s%s",
			    names[0] ? "," : "",
			    at_str(
			        json_object_array_get_idx(tools, i), "name"));
		json_object_put(tools);
		free(cur);
		cur = next;
		(*pages)++;
	} while (cur != NULL && *pages < 20);
	free(cur);
	return strdup(names);
}

/* Calls tool name with args (JSON text) as p: the result, NULL for
 * ERR_NOT_FOUND. */
static struct json_object *
call_tool(
    const struct principal *p, const char *name, const char *args, berr *rc)
{
	struct tool_call_ctx t = { test_cfg, test_db, p, "default", "r",
		"127.0.0.1" };
	struct json_object *a = json_tokener_parse(args), *r = NULL;

	*rc = tools_call(&t, name, a, &r);
	json_object_put(a);
	return r;
}

static void
test_agent_tools(void)
{
	static const char want[] = "station_status,list_agents,list_runs,"
	                           "get_run,agent_alpha,agent_helper,agent_zed";
	struct json_object *r;
	PGresult *res = NULL;
	char *names, st[16];
	long long id = 0;
	int pages;
	berr rc;

	CU_ASSERT_EQUAL_FATAL(db_exec_sql(test_db,
	                          "INSERT INTO agents (environment, name, "
	                          "description, template) VALUES "
	                          "('default', 'zed', '', 't'), "
	                          "('default', 'alpha', 'first', 't'), "
	                          "('default', 'bad name', 'x', 't')",
	                          0, NULL, NULL),
	    OK);
	/* Not registered: no agent tools. */
	names = list_names(&dev, 50, &pages);
	CU_ASSERT_STRING_EQUAL(names,
	    "station_status,list_agents,list_runs,"
	    "get_run");
	free(names);
	CU_ASSERT_FALSE(tools_call_waits(test_cfg, "agent_helper", NULL));
	agent_tools_register();
	CU_ASSERT_TRUE(tools_call_waits(test_cfg, "agent_helper", NULL));
	CU_ASSERT_FALSE(tools_call_waits(test_cfg, "agent_", NULL));
	/* The cursor runs across the boundary, whatever the page size. */
	names = list_names(&dev, 50, &pages);
	CU_ASSERT_STRING_EQUAL(names, want);
	CU_ASSERT_EQUAL(pages, 1);
	free(names);
	names = list_names(&dev, 1, &pages);
	CU_ASSERT_STRING_EQUAL(names, want);
	CU_ASSERT_EQUAL(pages, 7);
	free(names);
	names = list_names(&dev, 3, &pages);
	CU_ASSERT_STRING_EQUAL(names, want);
	CU_ASSERT_EQUAL(pages, 3);
	free(names);
	names = list_names(&dev, 4, &pages);
	CU_ASSERT_STRING_EQUAL(names, want);
	CU_ASSERT_EQUAL(pages, 2);
	free(names);
	names = list_names(&viewer, 1, &pages);
	CU_ASSERT_STRING_EQUAL(names, "");
	free(names);
	/* station_status counts them too. */
	r = call_tool(&dev, "station_status", "{}", &rc);
	CU_ASSERT_EQUAL(rc, OK);
	CU_ASSERT_EQUAL(at_int(r, "structuredContent.tools"), 7);
	json_object_put(r);
	/* Calls that never reach a run. */
	r = call_tool(&dev, "agent_nosuch", "{\"input\":\"x\"}", &rc);
	CU_ASSERT_EQUAL(rc, ERR_NOT_FOUND);
	CU_ASSERT_PTR_NULL(r);
	r = call_tool(&dev, "agent_bad name", "{\"input\":\"x\"}", &rc);
	CU_ASSERT_EQUAL(rc, ERR_NOT_FOUND);
	r = call_tool(&dev, "agent_helper", "{\"input\":5}", &rc);
	CU_ASSERT_EQUAL(rc, OK);
	CU_ASSERT_TRUE(json_object_get_boolean(at(r, "isError")));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(at_str(r, "content.0.text"), "arguments.input"));
	json_object_put(r);
	/* A viewer may not run agents: forbidden, known name or not. */
	r = call_tool(&viewer, "agent_nosuch", "{\"input\":\"x\"}", &rc);
	CU_ASSERT_EQUAL(rc, OK);
	CU_ASSERT_TRUE(json_object_get_boolean(at(r, "isError")));
	json_object_put(r);
	agent_tools_unregister();
	r = call_tool(&dev, "agent_helper", "{\"input\":\"x\"}", &rc);
	CU_ASSERT_EQUAL(rc, ERR_NOT_FOUND);
	/* runner_cancel: a queued run ends at once, with its event. */
	CU_ASSERT_EQUAL_FATAL(db_exec_sql(test_db,
	                          "INSERT INTO runs (agent_name, environment, "
	                          "source) VALUES ('zed', 'default', 'mcp') "
	                          "RETURNING id",
	                          0, NULL, &res),
	    OK);
	id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	CU_ASSERT_EQUAL(runner_cancel(test_db, test_cfg, id, st), OK);
	CU_ASSERT_STRING_EQUAL(st, "cancelled");
	CU_ASSERT_EQUAL(runner_cancel(test_db, test_cfg, id, st), OK);
	CU_ASSERT_STRING_EQUAL(st, "");
	CU_ASSERT_EQUAL_FATAL(
	    db_exec_sql(test_db,
	        "SELECT r.status || ' ' || r.error || ' ' || e.kind || ' ' || "
	        "(e.payload->>'status') FROM runs r JOIN run_events e ON "
	        "e.run_id = r.id WHERE r.id = (SELECT max(id) FROM runs)",
	        0, NULL, &res),
	    OK);
	CU_ASSERT_EQUAL(PQntuples(res), 1);
	if (PQntuples(res) == 1)
		CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0),
		    "cancelled cancelled on request finished cancelled");
	PQclear(res);
	CU_ASSERT_EQUAL(db_exec_sql(test_db,
	                    "DELETE FROM agents WHERE name IN ('zed', "
	                    "'alpha', 'bad name')",
	                    0, NULL, NULL),
	    OK);
}

static long long
audit_count(const char *resource, const char *success)
{
	const char *v[2] = { resource, success };
	PGresult *res = NULL;
	long long n = -1;

	if (db_exec_sql(test_db,
	        "SELECT count(*) FROM audit_log WHERE action = 'tool.call' "
	        "AND resource = $1 AND success = $2::boolean",
	        2, v, &res) == OK)
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n;
}

static void
test_tools_call(void)
{
	struct req r = { 0 };
	struct ans a;
	char sid[129];
	long long before;

	init_session(&dev, "2025-11-25", sid, sizeof(sid));
	r.session = sid;
	r.version = "2025-11-25";
	/* station_status, never connected. */
	before = audit_count("tool:station_status", "true");
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"station_status\"}}");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	CU_ASSERT_FALSE(json_object_get_boolean(at(a.j, "result.isError")));
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.structuredContent.lighthouse.state"),
	    "not connected");
	CU_ASSERT_EQUAL(at_int(a.j, "result.structuredContent.tools"), 4);
	CU_ASSERT_EQUAL(at_int(a.j, "result.structuredContent.agents"), 1);
	CU_ASSERT_STRING_EQUAL(at_str(a.j, "result.content.0.type"), "text");
	ans_free(&a);
	CU_ASSERT_EQUAL(audit_count("tool:station_status", "true"), before + 1);
	/* Connected. */
	CU_ASSERT_EQUAL(db_exec_sql(test_db,
	                    "INSERT INTO station_status (name, connected, "
	                    "org_id, last_heartbeat) VALUES ('st1', true, "
	                    "'org-1', now())",
	                    0, NULL, NULL),
	    OK);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"station_status\",\"arguments\":{}}}");
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.structuredContent.lighthouse.state"),
	    "connected");
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.structuredContent.lighthouse.station"), "st1");
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.structuredContent.lighthouse.org_id"), "org-1");
	ans_free(&a);
	/* list_agents, list_runs, get_run. */
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"list_agents\"}}");
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.structuredContent.agents.0.name"), "helper");
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"list_runs\",\"arguments\":{"
	    "\"limit\":5,\"status\":\"queued\"}}}");
	CU_ASSERT_FALSE(json_object_get_boolean(at(a.j, "result.isError")));
	CU_ASSERT_EQUAL(
	    json_object_array_length(at(a.j, "result.structuredContent.runs")),
	    1);
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"get_run\",\"arguments\":{"
	    "\"run_id\":999999}}}");
	CU_ASSERT_TRUE(json_object_get_boolean(at(a.j, "result.isError")));
	ans_free(&a);
	/* Bad arguments: isError naming the parameter. */
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"list_runs\",\"arguments\":{"
	    "\"limit\":500}}}");
	CU_ASSERT_TRUE(json_object_get_boolean(at(a.j, "result.isError")));
	CU_ASSERT_STRING_EQUAL(at_str(a.j, "result.content.0.text"),
	    "arguments.limit: must be an integer between 1 and 100");
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"list_runs\",\"arguments\":{"
	    "\"status\":\"odd\",\"token\":\"sk-secret\"}}}");
	CU_ASSERT_TRUE(json_object_get_boolean(at(a.j, "result.isError")));
	ans_free(&a);
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"get_run\",\"arguments\":{}}}");
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "result.content.0.text"), "arguments.run_id: required");
	ans_free(&a);
	/* Unknown tool: the protocol error -32602 every era's tools page
	 * shows ("Unknown tool: NAME"), still audited. */
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"no_such_tool\"}}");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	CU_ASSERT_EQUAL(json_object_get_int(at(a.j, "error.code")), -32602);
	CU_ASSERT_STRING_EQUAL(
	    at_str(a.j, "error.message"), "Unknown tool: no_such_tool");
	ans_free(&a);
	CU_ASSERT_EQUAL(audit_count("tool:no_such_tool", "false"), 1);
	/* Forbidden: a viewer may not call. */
	init_session(&viewer, "2025-11-25", sid, sizeof(sid));
	a = call_as(&viewer, &r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"station_status\"}}");
	CU_ASSERT_TRUE(json_object_get_boolean(at(a.j, "result.isError")));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(at_str(a.j, "result.content.0.text"), "tools.call"));
	ans_free(&a);
	/* The audit details hold argument names, never values. */
	{
		PGresult *res = NULL;

		CU_ASSERT_EQUAL(db_exec_sql(test_db,
		                    "SELECT count(*) FROM audit_log WHERE "
		                    "details::text LIKE '%sk-secret%'",
		                    0, NULL, &res),
		    OK);
		if (res != NULL)
			CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), "0");
		PQclear(res);
	}
}

static void
test_accept(void)
{
	static const struct {
		const char *accept;
		int status;
	} cases[] = {
		{ "application/json", 406 },
		{ "text/event-stream", 406 },
		{ "application/json;q=0, text/event-stream", 406 },
		{ "application/json, text/event-stream; q=0.000", 406 },
		{ "application/jsonx, text/event-streams", 406 },
		{ "", 406 },
		{ ",,,;;;", 406 },
		{ "application/json, text/event-stream", 200 },
		{ "*/*", 200 },
		{ "application/*, text/*", 200 },
		{ "text/event-stream;q=0.1, application/json;q=0.9", 200 },
		{ "Application/JSON,Text/Event-Stream", 200 },
		{ "application/json;q=0.5;foo=bar, text/event-stream", 200 },
	};
	struct req r = { 0 };
	struct ans a;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r.accept = cases[i].accept;
		a = call(&r,
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
		    "\"initialize\",\"params\":{\"protocolVersion\":"
		    "\"2025-11-25\"}}");
		CU_ASSERT_EQUAL(a.rs.status, cases[i].status);
		if (a.rs.status != cases[i].status)
			fprintf(stderr, "Accept '%s': %d\n", cases[i].accept,
			    a.rs.status);
		if (cases[i].status == 406)
			CU_ASSERT_EQUAL(
			    json_object_get_int(at(a.j, "error.code")), -32000);
		ans_free(&a);
	}
	/* No Accept at all: anything is acceptable (RFC 9110). */
	r.accept = NULL;
	r.no_accept = true;
	a = call(&r,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"2025-11-25\"}}");
	CU_ASSERT_EQUAL(a.rs.status, 200);
	ans_free(&a);
}

/* A long get_run on a streaming transport: events, then the answer. */
static void
test_streaming(void)
{
	struct req r = { 0 };
	struct ans a;
	char sid[129], body[512];
	PGresult *res = NULL;
	const char *run;

	CU_ASSERT_EQUAL_FATAL(db_exec_sql(test_db,
	                          "INSERT INTO runs (agent_name, environment, "
	                          "status, source, started_at, claimed_by) "
	                          "VALUES ('s', 'default', 'running', "
	                          "'cli', now(), 'x') RETURNING id",
	                          0, NULL, &res),
	    OK);
	run = PQgetvalue(res, 0, 0);
	init_session(&dev, "2025-11-25", sid, sizeof(sid));
	r.session = sid;
	r.version = "2025-11-25";
	test_ctx.stream = &fake_ops;
	test_ctx.keepalive_ms = 100;
	memset(&fake_sse, 0, sizeof(fake_sse));
	fake_sse.slots = 1;
	snprintf(body, sizeof(body),
	    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"get_run\",\"arguments\":{\"run_id\":%s,"
	    "\"wait_seconds\":1},\"_meta\":{\"progressToken\":\"pt\"}}}",
	    run);
	a = call(&r, body);
	CU_ASSERT_TRUE(a.rs.streamed);
	CU_ASSERT_PTR_NULL(a.rs.body);
	CU_ASSERT_TRUE(fake_sse.opened);
	CU_ASSERT_EQUAL(fake_sse.slots, 1); /* given back */
	CU_ASSERT_PTR_NOT_NULL(strstr(fake_sse.text,
	    "\"method\":\"notifications/progress\",\"params\":{"
	    "\"progressToken\":\"pt\""));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(fake_sse.text, "\"method\":\"notifications/message\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(fake_sse.text, "\"id\":5,\"result\""));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(fake_sse.text, "\"wait_timed_out\":true"));
	CU_ASSERT_TRUE(fake_sse.comments >= 1);
	if (fake_sse.comments < 1)
		fprintf(stderr, "stream: %s\n", fake_sse.text);
	ans_free(&a);
	/* At the cap: 503. */
	fake_sse.slots = 0;
	a = call(&r, body);
	CU_ASSERT_EQUAL(a.rs.status, 503);
	CU_ASSERT_EQUAL(json_object_get_int(at(a.j, "error.code")), -32000);
	ans_free(&a);
	/* Cancelled (the store has a marker for "cancel-me"): no answer. */
	fake_sse.slots = 1;
	fake_sse.text[0] = '\0';
	snprintf(body, sizeof(body),
	    "{\"jsonrpc\":\"2.0\",\"id\":\"cancel-me\",\"method\":"
	    "\"tools/call\",\"params\":{\"name\":\"get_run\",\"arguments\":"
	    "{\"run_id\":%s,\"wait_seconds\":30}}}",
	    run);
	a = call(&r, body);
	CU_ASSERT_TRUE(a.rs.streamed);
	CU_ASSERT_PTR_NULL(strstr(fake_sse.text, "\"result\""));
	ans_free(&a);
	/* A bad progress token: -32602, nothing opened. */
	fake_sse.opened = false;
	snprintf(body, sizeof(body),
	    "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"get_run\",\"arguments\":{\"run_id\":%s,"
	    "\"wait_seconds\":1},\"_meta\":{\"progressToken\":1.5}}}",
	    run);
	a = call(&r, body);
	CU_ASSERT_EQUAL(json_object_get_int(at(a.j, "error.code")), -32602);
	CU_ASSERT_FALSE(fake_sse.opened);
	ans_free(&a);
	test_ctx.stream = NULL;
	PQclear(res);
}

static void
test_check_args(void)
{
	static const char schema[] =
	    "{\"type\":\"object\",\"properties\":{"
	    "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100},"
	    "\"s\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":3},"
	    "\"b\":{\"type\":\"boolean\"},"
	    "\"a\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}},"
	    "\"e\":{\"enum\":[\"x\",\"y\"]}},"
	    "\"required\":[\"n\"],\"additionalProperties\":false}";
	static const struct {
		const char *args;
		berr rc;
		const char *why;
	} cases[] = {
		{ "{\"n\":1}", OK, "" },
		{ "{\"n\":100,\"s\":\"\xc3\xa9t\xc3\xa9\",\"b\":true,"
		  "\"a\":[1,2.5],\"e\":\"y\"}",
		    OK, "" },
		{ "{\"n\":2.0}", OK, "" },
		{ "{}", ERR_INVALID, "arguments.n: required" },
		{ "{\"n\":0}", ERR_INVALID,
		    "arguments.n: must be an integer between 1 and 100" },
		{ "{\"n\":\"5\"}", ERR_INVALID,
		    "arguments.n: must be an integer between 1 and 100" },
		{ "{\"n\":1.5}", ERR_INVALID,
		    "arguments.n: must be an integer between 1 and 100" },
		{ "{\"n\":1,\"s\":\"a\"}", ERR_INVALID,
		    "arguments.s: must be at least 2 characters" },
		{ "{\"n\":1,\"s\":\"abcd\"}", ERR_INVALID,
		    "arguments.s: must be at most 3 characters" },
		{ "{\"n\":1,\"b\":1}", ERR_INVALID,
		    "arguments.b: must be a boolean" },
		{ "{\"n\":1,\"a\":[1,\"x\"]}", ERR_INVALID,
		    "arguments.a[1]: must be a number" },
		{ "{\"n\":1,\"e\":\"z\"}", ERR_INVALID,
		    "arguments.e: must be one of x, y" },
		{ "{\"n\":1,\"zz\":1}", ERR_INVALID,
		    "arguments.zz: unknown parameter" },
		{ "[]", ERR_INVALID, "arguments: must be an object" },
	};
	char why[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *a = json_tokener_parse(cases[i].args);
		berr rc = tools_check_args(schema, a, why, sizeof(why));

		if (rc != cases[i].rc || strcmp(why, cases[i].why) != 0)
			fprintf(
			    stderr, "check_args %zu: %d '%s'\n", i, rc, why);
		CU_ASSERT_EQUAL(rc, cases[i].rc);
		CU_ASSERT_STRING_EQUAL(why, cases[i].why);
		json_object_put(a);
	}
	/* NULL args = {}. */
	CU_ASSERT_EQUAL(
	    tools_check_args("{\"type\":\"object\"}", NULL, why, sizeof(why)),
	    OK);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "mcp", "initialize", test_initialize },
		{ "mcp", "legacy methods", test_legacy_methods },
		{ "mcp", "sessions", test_sessions },
		{ "mcp", "versions", test_versions },
		{ "mcp", "modern", test_modern },
		{ "mcp", "modern headers", test_modern_headers },
		{ "mcp", "jsonrpc errors", test_jsonrpc_errors },
		{ "mcp", "batches", test_batches },
		{ "mcp", "tools_list pages", test_tools_list_pages },
		{ "mcp", "tools_list pages kept", test_tools_list_kept },
		{ "mcp", "tools/call", test_tools_call },
		{ "mcp", "tools_list results kept",
		    test_tools_list_results_kept },
		{ "mcp", "agent tools", test_agent_tools },
		{ "mcp", "tools_check_args", test_check_args },
		{ "mcp", "accept", test_accept },
		{ "mcp", "streaming", test_streaming },
		{ "mcp", "prompts and resources", test_prompts_resources },
	};
	static const char yaml[] = "environments: [default, production]\n";
	static const char *const setup[] = {
		"TRUNCATE station_status",
		"DELETE FROM runs",
		"DELETE FROM agents",
		"INSERT INTO agents (environment, name, description, template) "
		"VALUES ('default', 'helper', 'helps', 't'), "
		"('production', 'prod-only', 'p', 't')",
		"INSERT INTO runs (agent_name, environment, source) VALUES "
		"('helper', 'default', 'cli'), ('prod-only', 'production', "
		"'cli')",
	};
	size_t i;
	const char *url = getenv("DATABASE_URL");
	int status;

	if (url == NULL || url[0] == '\0') {
		fprintf(stderr, "test_mcp: DATABASE_URL not set, skipping\n");
		return 77;
	}
	log_init("test_mcp", LOG_LVL_WARN);
	if (config_load_buffer(
	        "test", yaml, sizeof(yaml) - 1, &test_cfg, NULL) != OK)
		return 1;
	if ((test_db = db_new(url, 5)) == NULL || db_connect(test_db) != OK)
		return 1;
	for (i = 0; i < sizeof(setup) / sizeof(setup[0]); i++)
		if (db_exec_sql(test_db, setup[i], 0, NULL, NULL) != OK)
			return 1;
	test_principal(&dev, 1, "dev", "developer");
	test_principal(&viewer, 2, "viewer", "viewer");
	test_principal(&other, 3, "other", "developer");
	test_ctx.cfg = test_cfg;
	test_ctx.db = test_db;
	test_ctx.store = &fake_store;
	test_ctx.environment = "default";

	status = unit_run(tests, UNIT_COUNT(tests));
	db_free(test_db);
	config_free(test_cfg);
	return status;
}
