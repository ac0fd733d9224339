/*
 * fuzz_mcp.c - the MCP protocol core: mcp_handle() on any body, under the
 * header sets of both eras (chosen by the first input byte), with an
 * in-memory session store and a database that is unreachable (tool calls
 * then take their "database down" path instead of needing a server).
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "fuzz.h"
#include "log.h"
#include "mcp.h"
#include "principal.h"

#define FUZZ_SID "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuz"

static berr
fz_create(void *arg, const struct principal *p, const char *env, const char *v,
    const char *info, const char *caps, struct mcp_session *out)
{
	(void)arg;
	(void)p;
	(void)env;
	(void)info;
	(void)caps;
	memset(out, 0, sizeof(*out));
	strcpy(out->id, FUZZ_SID);
	strncpy(out->protocol_version, v, sizeof(out->protocol_version) - 1);
	strcpy(out->log_level, "info");
	strcpy(out->environment, "development");
	return OK;
}

static berr
fz_load(void *arg, const struct principal *p, const char *id,
    struct mcp_session *out)
{
	struct mcp_session s;

	if (strcmp(id, FUZZ_SID) != 0)
		return ERR_NOT_FOUND;
	(void)!fz_create(arg, p, "development", "2025-11-25", "{}", "{}", &s);
	*out = s;
	return OK;
}

static berr
fz_level(void *arg, const struct principal *p, const char *id, const char *l)
{
	(void)arg;
	(void)p;
	(void)l;
	return strcmp(id, FUZZ_SID) == 0 ? OK : ERR_NOT_FOUND;
}

static berr
fz_remove(void *arg, const struct principal *p, const char *id)
{
	(void)arg;
	(void)p;
	return strcmp(id, FUZZ_SID) == 0 ? OK : ERR_NOT_FOUND;
}

/* Cancel markers: remembered for nothing, found for one request key. */
static berr
fz_cancel(void *arg, const char *id, const char *key)
{
	(void)arg;
	(void)id;
	(void)key;
	return OK;
}

static berr
fz_cancelled(void *arg, const char *id, const char *key, bool *yes)
{
	(void)arg;
	(void)id;
	*yes = strcmp(key, "\"cancel-me\"") == 0;
	return OK;
}

/* A stream that takes every event and discards it; every other acquire
 * is refused, so both the cap and the stream paths run. */
static bool
fz_acquire(void *arg)
{
	static unsigned n;

	(void)arg;
	return (n++ & 1) == 0;
}

static void
fz_release(void *arg)
{
	(void)arg;
}

static berr
fz_open(void *arg)
{
	(void)arg;
	return OK;
}

static berr
fz_event(void *arg, const char *json, size_t len)
{
	(void)arg;
	(void)json;
	return len > 0 ? OK : ERR_IO;
}

static berr
fz_comment(void *arg)
{
	(void)arg;
	return OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config *cfg;
	static struct db *db;
	static const struct mcp_store store = { NULL, fz_create, fz_load,
		fz_level, fz_remove, fz_cancel, fz_cancelled, NULL, NULL, NULL,
		NULL, NULL };
	static const struct mcp_stream_ops ops = { NULL, fz_acquire, fz_release,
		fz_open, fz_event, fz_comment };
	struct mcp_request rq = { 0 };
	struct mcp_response rs = { 0 };
	struct principal p = { 0 };
	struct mcp_ctx ctx = { 0 };
	char *body;

	log_set_level(LOG_LVL_ERROR);
	if (cfg == NULL && config_load_buffer("fuzz", "", 0, &cfg, NULL) != OK)
		abort();
	if (db == NULL &&
	    (db = db_new("host=/nonexistent dbname=x", 1)) == NULL)
		abort();
	if (size < 1)
		return 0;
	if ((body = malloc(size)) == NULL)
		return 0;
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';

	p.user_id = 1;
	strcpy(p.username, "fuzz");
	p.method = AUTH_API_KEY;
	strcpy(p.token_id, "1");
	p.nroles = 1;
	strcpy(p.roles[0].environment, "*");
	strcpy(p.roles[0].role, (data[0] & 0x10) ? "viewer" : "admin");

	rq.http_method = (data[0] & 0x20) ? "DELETE" : "POST";
	rq.content_type = "application/json";
	/* 0x40: an Accept without SSE (406); 0x80: a streaming transport. */
	rq.accept = (data[0] & 0x40) ? "application/json"
	                             : "application/json, text/event-stream";
	rq.body = body;
	rq.body_len = size - 1;
	rq.client_ip = "127.0.0.1";
	rq.request_id = "fuzz";
	switch (data[0] & 0x03) {
	case 0: /* 2025 era, before a session */ break;
	case 1: /* 2025 era, in a session */
		rq.protocol_version = "2025-11-25";
		rq.session_id = FUZZ_SID;
		break;
	case 2: /* 2026 era */
		rq.protocol_version = "2026-07-28";
		rq.mcp_method = (data[0] & 0x04) ? "tools/call" : "tools/list";
		rq.mcp_name = (data[0] & 0x08) ? "station_status" : NULL;
		break;
	default: /* an unsupported version */
		rq.protocol_version = "1999-01-01";
		break;
	}
	ctx.cfg = cfg;
	ctx.db = db;
	ctx.store = &store;
	ctx.environment = "development";
	ctx.stream = (data[0] & 0x80) ? &ops : NULL;
	ctx.keepalive_ms = 1;
	if (mcp_handle(&ctx, &p, &rq, &rs) == OK && rs.status == 0)
		abort(); /* every answer has a status */
	mcp_response_free(&rs);
	free(body);
	return 0;
}
