/*
 * auth_session.c - POST /auth/logout, GET /auth/status. See
 * auth_session.h.
 */
#include "auth_session.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "authcache.h"
#include "config.h"
#include "guard.h"
#include "log.h"
#include "session.h"

static const char auth_session_sql_info[] =
    "SELECT to_char(expires_at AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS expires_at,"
    " to_char(created_at AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at,"
    " coalesce(upstream_name, '') AS upstream_name "
    "FROM sessions WHERE id = $1::bigint";

/* The configured station's row first, else the most recently updated. */
static const char auth_session_sql_station[] =
    "SELECT name, connected, coalesce(station_id, '') AS station_id,"
    " coalesce(org_id, '') AS org_id,"
    " coalesce(to_char(last_heartbeat AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') AS last_heartbeat "
    "FROM station_status ORDER BY (name = $1) DESC, updated_at DESC "
    "LIMIT 1";

berr
auth_session_init(struct worker_ctx *ctx)
{
	berr rc;

	if ((rc = guard_init(ctx)) != OK ||
	    (rc = db_prepare(
	         ctx->db, "auth_session_info", auth_session_sql_info, 1)) != OK)
		return rc;
	return db_prepare(
	    ctx->db, "auth_session_station", auth_session_sql_station, 1);
}

/* The client address when it is an IP address, else NULL. */
static const char *
auth_session_ip(const struct request *req)
{
	unsigned char buf[sizeof(struct in6_addr)];
	const char *a = req->remote_addr;

	if (a == NULL || *a == '\0')
		return NULL;
	if (inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1)
		return a;
	return NULL;
}

static struct json_object *
auth_session_str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_object_new_string(s) : NULL;
}

static void
auth_session_reply_db(struct request *req, berr rc)
{
	if (rc == ERR_DB_DOWN)
		request_reply_error(req, 503, "service_unavailable",
		    "the database is unreachable; try again shortly",
		    "Retry-After: 5\r\n");
	else
		request_reply_error(req, 500, "internal_error",
		    "the request failed on the server side", NULL);
}

void
auth_session_logout(struct worker_ctx *ctx, struct request *req)
{
	struct json_object *d = NULL, *o = NULL;
	struct audit_event ev = { 0 };
	struct principal p;
	long long id;
	berr rc;

	if (guard_principal(ctx, req, &p) != OK)
		return; /* answered */
	if (p.method != AUTH_SESSION) {
		request_reply_error(req, 400, "not_a_session",
		    "logout ends a login session: send its session token, not "
		    "an API key",
		    NULL);
		return;
	}
	id = strtoll(p.token_id, NULL, 10);
	rc = session_delete(ctx->db, id);
	if (rc != OK && rc != ERR_NOT_FOUND) {
		auth_session_reply_db(req, rc);
		return;
	}
	/* Answered only once no responder can still accept the token from
	 * its cache (authcache.h). */
	if (rc == OK && authcache_barrier(ctx->db) != OK)
		log_warn("logout: session %lld ended, but the responders' "
		         "caches were not confirmed empty; request %s",
		    id, req->request_id);
	if ((d = json_object_new_object()) != NULL) {
		json_object_object_add(
		    d, "session_id", json_object_new_int64(id));
		json_object_object_add(
		    d, "request_id", json_object_new_string(req->request_id));
	}
	ev.user_id = p.user_id;
	ev.username = p.username;
	ev.action = "logout";
	ev.resource = "/auth/logout";
	ev.ip_address = auth_session_ip(req);
	ev.success = true;
	ev.details = d;
	if ((rc = audit_append(ctx->db, &ev)) != OK)
		log_warn("logout: audit failed (%s); request %s", err_str(rc),
		    req->request_id);
	json_object_put(d);
	log_info("logout: %s ended session %lld", p.username, id);
	if ((o = json_object_new_object()) != NULL)
		json_object_object_add(
		    o, "logged_out", json_object_new_boolean(1));
	request_reply_json(req, 200, o, NULL);
	json_object_put(o);
}

/* {"connected", "station", "station_id", "org_id", "last_heartbeat"}, or
 * connected false with nulls when the daemon never wrote a row. */
static berr
auth_session_station(struct worker_ctx *ctx, struct json_object *o)
{
	const char *values[1] = { ctx->cfg->cloudship.name };
	struct json_object *c = json_object_new_object();
	PGresult *res = NULL;
	berr rc;

	if (c == NULL)
		return ERR_NOMEM;
	json_object_object_add(o, "cloudship", c);
	json_object_object_add(
	    c, "enabled", json_object_new_boolean(ctx->cfg->cloudship.enabled));
	if ((rc = db_exec(ctx->db, "auth_session_station", 1, values, &res)) !=
	    OK)
		return rc;
	if (PQntuples(res) == 1 && PQfnumber(res, "name") >= 0 &&
	    PQfnumber(res, "connected") >= 0 &&
	    PQfnumber(res, "station_id") >= 0 &&
	    PQfnumber(res, "org_id") >= 0 &&
	    PQfnumber(res, "last_heartbeat") >= 0) {
		json_object_object_add(c, "connected",
		    json_object_new_boolean(
		        *PQgetvalue(res, 0, PQfnumber(res, "connected")) ==
		        't'));
		json_object_object_add(c, "station",
		    auth_session_str_or_null(
		        PQgetvalue(res, 0, PQfnumber(res, "name"))));
		json_object_object_add(c, "station_id",
		    auth_session_str_or_null(
		        PQgetvalue(res, 0, PQfnumber(res, "station_id"))));
		json_object_object_add(c, "org_id",
		    auth_session_str_or_null(
		        PQgetvalue(res, 0, PQfnumber(res, "org_id"))));
		json_object_object_add(c, "last_heartbeat",
		    auth_session_str_or_null(
		        PQgetvalue(res, 0, PQfnumber(res, "last_heartbeat"))));
	} else {
		json_object_object_add(
		    c, "connected", json_object_new_boolean(0));
		json_object_object_add(c, "station",
		    auth_session_str_or_null(ctx->cfg->cloudship.name));
		json_object_object_add(c, "station_id", NULL);
		json_object_object_add(c, "org_id", NULL);
		json_object_object_add(c, "last_heartbeat", NULL);
	}
	PQclear(res);
	return OK;
}

void
auth_session_status(struct worker_ctx *ctx, struct request *req)
{
	struct json_object *o = NULL, *u;
	const char *values[1];
	PGresult *res = NULL;
	struct principal p;
	berr rc = ERR_NOMEM;

	if (guard_principal(ctx, req, &p) != OK)
		return; /* answered */
	if ((o = json_object_new_object()) == NULL ||
	    (u = json_object_new_object()) == NULL)
		goto fail;
	json_object_object_add(o, "valid", json_object_new_boolean(1));
	json_object_object_add(o, "auth_method",
	    json_object_new_string(principal_method_name(p.method)));
	json_object_object_add(o, "user", u);
	json_object_object_add(u, "id", json_object_new_int64(p.user_id));
	json_object_object_add(
	    u, "username", json_object_new_string(p.username));
	json_object_object_add(u, "email", auth_session_str_or_null(p.email));
	json_object_object_add(u, "org_id", auth_session_str_or_null(p.org_id));
	if (p.method == AUTH_SESSION) {
		values[0] = p.token_id;
		if ((rc = db_exec(
		         ctx->db, "auth_session_info", 1, values, &res)) != OK)
			goto fail;
		if (PQntuples(res) == 1) {
			const char *up =
			    PQgetvalue(res, 0, PQfnumber(res, "upstream_name"));

			json_object_object_add(o, "expires_at",
			    json_object_new_string(PQgetvalue(
			        res, 0, PQfnumber(res, "expires_at"))));
			json_object_object_add(o, "created_at",
			    json_object_new_string(PQgetvalue(
			        res, 0, PQfnumber(res, "created_at"))));
			json_object_object_add(
			    o, "upstream", auth_session_str_or_null(up));
			json_object_object_add(o, "upstream_key_stored",
			    json_object_new_boolean(up[0] != '\0'));
		}
	} else {
		json_object_object_add(o, "expires_at", NULL);
	}
	if ((rc = auth_session_station(ctx, o)) != OK)
		goto fail;
	request_reply_json(req, 200, o, NULL);
	PQclear(res);
	json_object_put(o);
	return;
fail:
	PQclear(res);
	json_object_put(o);
	auth_session_reply_db(req, rc);
}
