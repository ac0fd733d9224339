/*
 * healthz.c - see healthz.h.
 */
#include "healthz.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "autoconf.h"

#include <json-c/json.h>

#include "config.h"
#include "db.h"

berr
healthz_init(struct worker_ctx *ctx)
{
	return db_prepare(ctx->db, "healthz_ping", "SELECT 1", 0);
}

static double
healthz_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

void
healthz_handle(struct worker_ctx *ctx, struct request *req)
{
	struct json_object *o = json_object_new_object();
	PGresult *res = NULL;
	struct timespec t0;
	char ms[32];
	berr rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = db_exec(ctx->db, "healthz_ping", 0, NULL, &res);
	PQclear(res);
	if (o == NULL) {
		request_reply_error(
		    req, 500, "internal_error", "out of memory", NULL);
		return;
	}
	json_object_object_add(o, "service", json_object_new_string("berth"));
	json_object_object_add(
	    o, "version", json_object_new_string(PACKAGE_VERSION));
	if (rc == OK) {
		json_object_object_add(
		    o, "status", json_object_new_string("ok"));
		json_object_object_add(
		    o, "database", json_object_new_string("ok"));
		snprintf(ms, sizeof(ms), "%.3f", healthz_ms_since(&t0));
		json_object_object_add(o, "database_ms",
		    json_object_new_double_s(strtod(ms, NULL), ms));
		request_reply_json(req, 200, o, NULL);
	} else {
		json_object_object_add(
		    o, "status", json_object_new_string("unavailable"));
		json_object_object_add(o, "database",
		    json_object_new_string(
		        rc == ERR_DB_DOWN ? "unreachable" : "error"));
		json_object_object_add(
		    o, "request_id", json_object_new_string(req->request_id));
		request_reply_json(req, 503, o, "Retry-After: 5\r\n");
	}
	json_object_put(o);
}
