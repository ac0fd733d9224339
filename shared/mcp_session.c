/*
 * mcp_session.c - 2025-era MCP sessions in PostgreSQL. See mcp_session.h.
 *
 * Every operation is one prepared statement, one round trip, and every one
 * carries the principal in its WHERE clause: a session id alone never finds
 * a row. An id that cannot be one of ours (wrong length, bytes outside
 * visible ASCII, as the table's CHECK says) is "not found" without asking
 * the database, so hostile ids cost nothing and never reach SQL.
 */
#include "mcp_session.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "authcache.h"
#include "clock.h"
#include "config.h"
#include "limit.h"
#include "log.h"
#include "parse.h"
#include "principal.h"

/* Random bytes in an id: 256 bits, unguessable. */
#define MCP_SESSION_RANDOM_BYTES 32
/* The table's CHECK: id ~ '^[!-~]{16,128}$'. */
#define MCP_SESSION_ID_MIN 16
#define MCP_SESSION_ID_MAX 128
/*
 * Largest clientInfo or capabilities text kept per session. A client's
 * self-description is small; a larger one is stored as {} rather than
 * letting every session row grow with the request body (LIMIT_BODY_BYTES).
 * Belongs in limit.h (LIMIT_MCP_SESSION_JSON_BYTES) once that file is ours.
 */
#define MCP_SESSION_JSON_MAX (16 * 1024)
/* Upper bound of the last_used_at write throttle, seconds (see below). */
#define MCP_SESSION_TOUCH_MAX 60

static const char mcp_session_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * $1 id, $2 user_id (NULL for AUTH_NONE), $3 auth_method, $4 token_id,
 * $5 protocol_version, $6 client_info, $7 capabilities, $8 absolute timeout
 * in seconds, $9 environment. The expiry is computed from the server's clock, like every
 * other timestamp here, so responders with skewed clocks agree.
 */
static const char mcp_session_sql_create[] =
    "INSERT INTO mcp_sessions (id, user_id, auth_method, token_id,"
    " protocol_version, client_info, capabilities, expires_at, environment)"
    " VALUES ($1, $2::bigint, $3, $4, $5, $6::jsonb, $7::jsonb,"
    " now() + make_interval(secs => $8::int), $9)"
    " RETURNING id, protocol_version, log_level,"
    " coalesce(client_info->>'name', '') AS client_name,"
    " coalesce(environment, '') AS environment";

/*
 * $1 id, $2 user_id, $3 auth_method, $4 idle timeout, $5 touch interval
 * (seconds). The row only when it is this principal's and alive; the
 * last_used_at write is folded in as a data-modifying CTE (run exactly
 * once) and throttled to one write per $5 seconds, so a busy session costs
 * one row write per interval, not one per request. Two responders racing
 * on it both wait for the row lock; the loser re-checks the condition and
 * writes nothing.
 */
static const char mcp_session_sql_load[] =
    "WITH s AS ("
    " SELECT id, protocol_version, log_level,"
    " coalesce(client_info->>'name', '') AS client_name,"
    " coalesce(environment, '') AS environment,"
    " least(floor(extract(epoch FROM expires_at - now())), 86400)::int"
    " AS expires_in, least(floor(extract(epoch FROM last_used_at"
    " + make_interval(secs => $5::int) - now())), 86400)::int AS touch_in"
    " FROM mcp_sessions"
    " WHERE id = $1 AND user_id IS NOT DISTINCT FROM $2::bigint"
    " AND auth_method = $3 AND expires_at > now()"
    " AND last_used_at > now() - make_interval(secs => $4::int)"
    "), touch AS ("
    " UPDATE mcp_sessions t SET last_used_at = now() FROM s"
    " WHERE t.id = s.id"
    " AND t.last_used_at < now() - make_interval(secs => $5::int)"
    " RETURNING t.id"
    ") "
    "SELECT id, protocol_version, log_level, client_name, environment,"
    " expires_in, touch_in, (SELECT count(*) FROM touch) AS touched"
    " FROM s";

/* $1 id, $2 user_id, $3 auth_method, $4 idle timeout, $5 level. */
static const char mcp_session_sql_level[] =
    "UPDATE mcp_sessions SET log_level = $5, last_used_at = now()"
    " WHERE id = $1 AND user_id IS NOT DISTINCT FROM $2::bigint"
    " AND auth_method = $3 AND expires_at > now()"
    " AND last_used_at > now() - make_interval(secs => $4::int)"
    " RETURNING id";

/*
 * $1 id, $2 user_id, $3 auth_method, $4 idle timeout. An expired session of
 * this principal is deleted too (it is garbage anyway) but reported as not
 * found, like any expired session.
 */
static const char mcp_session_sql_remove[] =
    "DELETE FROM mcp_sessions"
    " WHERE id = $1 AND user_id IS NOT DISTINCT FROM $2::bigint"
    " AND auth_method = $3"
    " RETURNING (expires_at > now() AND last_used_at > now()"
    " - make_interval(secs => $4::int)) AS live";

/*
 * Cancel markers (sql/005_mcp.sql). $1 session id, $2 request id as JSON
 * text. The insert first drops the session's markers older than ten
 * minutes and adds nothing once the session holds 100: a client cancelling
 * in a loop cannot grow the table. The caller has loaded the session for
 * its principal in this request.
 */
static const char mcp_session_sql_cancel[] =
    "WITH old AS (DELETE FROM mcp_cancels WHERE session_id = $1"
    " AND created_at < now() - interval '10 minutes')"
    " INSERT INTO mcp_cancels (session_id, request_id)"
    " SELECT $1, $2 WHERE (SELECT count(*) FROM mcp_cancels"
    " WHERE session_id = $1) < 100"
    " ON CONFLICT DO NOTHING";

static const char mcp_session_sql_cancelled[] =
    "SELECT 1 FROM mcp_cancels WHERE session_id = $1 AND request_id = $2";

/*
 * Subscriptions (sql/007_mcp_subscriptions.sql). $1 session id, $2 uri,
 * $3 the cap. Idempotent; the row count says whether it is there (a
 * repeat finds it through the second branch). The caller has loaded the
 * session for its principal in this request.
 */
static const char mcp_session_sql_subscribe[] =
    "WITH ins AS (INSERT INTO mcp_subscriptions (session_id, uri)"
    " SELECT $1, $2 WHERE (SELECT count(*) FROM mcp_subscriptions"
    " WHERE session_id = $1) < $3::int"
    " ON CONFLICT DO NOTHING RETURNING uri)"
    " SELECT uri FROM ins UNION ALL"
    " SELECT uri FROM mcp_subscriptions WHERE session_id = $1 AND uri = $2";

static const char mcp_session_sql_unsubscribe[] =
    "DELETE FROM mcp_subscriptions WHERE session_id = $1 AND uri = $2";

/*
 * Server-to-client requests (sql/007). $1 session id, $2 request id as
 * JSON text, $3 the capability the client must have declared (ask), $3
 * the response JSON text (answer).
 */
static const char mcp_session_sql_ask[] =
    "WITH old AS (DELETE FROM mcp_server_requests WHERE session_id = $1"
    " AND created_at < now() - interval '10 minutes')"
    " INSERT INTO mcp_server_requests (session_id, request_id)"
    " SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM mcp_sessions"
    " WHERE id = $1 AND capabilities ? $3)"
    " AND (SELECT count(*) FROM mcp_server_requests"
    " WHERE session_id = $1) < 100"
    " ON CONFLICT DO NOTHING RETURNING 1";

static const char mcp_session_sql_answer[] =
    "UPDATE mcp_server_requests SET response = $3::jsonb"
    " WHERE session_id = $1 AND request_id = $2 AND response IS NULL"
    " RETURNING 1";

static const char mcp_session_sql_answered[] =
    "DELETE FROM mcp_server_requests"
    " WHERE session_id = $1 AND request_id = $2 AND response IS NOT NULL"
    " RETURNING response::text";

/* The log levels of logging/setLevel (the table's CHECK). */
static const char *const mcp_session_levels[] = { "debug", "info", "notice",
	"warning", "error", "critical", "alert", "emergency", NULL };

berr
mcp_session_prepare(struct db *db)
{
	berr rc;

	if ((rc = db_prepare(
	         db, "mcp_session_create", mcp_session_sql_create, 9)) != OK)
		return rc;
	if ((rc = db_prepare(
	         db, "mcp_session_load", mcp_session_sql_load, 5)) != OK)
		return rc;
	if ((rc = db_prepare(
	         db, "mcp_session_level", mcp_session_sql_level, 5)) != OK)
		return rc;
	if ((rc = db_prepare(
	         db, "mcp_session_remove", mcp_session_sql_remove, 4)) != OK)
		return rc;
	if ((rc = db_prepare(
	         db, "mcp_session_cancel", mcp_session_sql_cancel, 2)) != OK)
		return rc;
	if ((rc = db_prepare(db, "mcp_session_cancelled",
	         mcp_session_sql_cancelled, 2)) != OK)
		return rc;
	if ((rc = db_prepare(db, "mcp_session_subscribe",
	         mcp_session_sql_subscribe, 3)) != OK)
		return rc;
	if ((rc = db_prepare(db, "mcp_session_unsubscribe",
	         mcp_session_sql_unsubscribe, 2)) != OK)
		return rc;
	if ((rc = db_prepare(db, "mcp_session_ask", mcp_session_sql_ask, 3)) !=
	    OK)
		return rc;
	if ((rc = db_prepare(
	         db, "mcp_session_answer", mcp_session_sql_answer, 3)) != OK)
		return rc;
	return db_prepare(
	    db, "mcp_session_answered", mcp_session_sql_answered, 2);
}

/* Unpadded base64url of in (n bytes) into out, room for (4n+2)/3 + 1. */
static void
mcp_session_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = mcp_session_b64url[(v >> 18) & 63];
		out[o++] = mcp_session_b64url[(v >> 12) & 63];
		out[o++] = mcp_session_b64url[(v >> 6) & 63];
		out[o++] = mcp_session_b64url[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)in[i] << 16;
		out[o++] = mcp_session_b64url[(v >> 18) & 63];
		out[o++] = mcp_session_b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = mcp_session_b64url[(v >> 18) & 63];
		out[o++] = mcp_session_b64url[(v >> 12) & 63];
		out[o++] = mcp_session_b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
}

bool
mcp_session_id_well_formed(const char *id)
{
	size_t n;

	if (id == NULL)
		return false;
	for (n = 0; id[n] != '\0'; n++)
		if (n >= MCP_SESSION_ID_MAX || id[n] < '!' || id[n] > '~')
			return false;
	return n >= MCP_SESSION_ID_MIN;
}

/* Copies src into dst (size bytes) when it fits; false when not. */
static bool
mcp_session_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/*
 * Fills out from row 0 of res (columns by name). ERR_DB when a column is
 * missing or a value does not fit (a broken schema, not the client's
 * fault); client_name, which the client chose, is cut instead.
 */
static berr
mcp_session_from_row(const PGresult *res, struct mcp_session *out)
{
	int cid = PQfnumber(res, "id"),
	    cpv = PQfnumber(res, "protocol_version"),
	    clv = PQfnumber(res, "log_level"),
	    ccn = PQfnumber(res, "client_name"),
	    cenv = PQfnumber(res, "environment");

	memset(out, 0, sizeof(*out));
	if (cid < 0 || cpv < 0 || clv < 0 || ccn < 0 || cenv < 0)
		return ERR_DB;
	if (!mcp_session_copy(
	        out->id, sizeof(out->id), PQgetvalue(res, 0, cid)) ||
	    !mcp_session_copy(out->protocol_version,
	        sizeof(out->protocol_version), PQgetvalue(res, 0, cpv)) ||
	    !mcp_session_copy(out->log_level, sizeof(out->log_level),
	        PQgetvalue(res, 0, clv)) ||
	    !mcp_session_copy(out->environment, sizeof(out->environment),
	        PQgetvalue(res, 0, cenv)))
		return ERR_DB;
	snprintf(out->client_name, sizeof(out->client_name), "%s",
	    PQgetvalue(res, 0, ccn));
	return OK;
}

/*
 * The principal's columns: user_id as text into buf (NULL for no user, the
 * local_mode principal) and the auth method's name.
 */
static const char *
mcp_session_user(const struct principal *p, char *buf, size_t size)
{
	if (p->user_id <= 0)
		return NULL;
	snprintf(buf, size, "%lld", p->user_id);
	return buf;
}

/* Seconds of the idle timeout, as text. */
static void
mcp_session_idle(const struct config *cfg, char *buf, size_t size)
{
	snprintf(buf, size, "%d", cfg->sessions.mcp_idle_timeout);
}

/*
 * JSON text fit for a jsonb object column: text itself when it parses as
 * an object, is not too big, and has no \u0000 (which jsonb refuses);
 * "{}" otherwise. What the client described itself with is informational,
 * never a reason to refuse its session.
 */
static const char *
mcp_session_json_object(const char *text)
{
	struct json_tokener *tok = NULL;
	struct json_object *o = NULL;
	const char *r = "{}";
	size_t n;

	if (text == NULL || (n = strlen(text)) == 0 ||
	    n > MCP_SESSION_JSON_MAX || strstr(text, "\\u0000") != NULL)
		goto out;
	if ((tok = json_tokener_new()) == NULL)
		goto out;
	o = json_tokener_parse_ex(tok, text, (int)n);
	if (o != NULL && json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_is_type(o, json_type_object) &&
	    json_tokener_get_parse_end(tok) == n)
		r = text;
out:
	json_object_put(o);
	if (tok != NULL)
		json_tokener_free(tok);
	return r;
}

/*
 * Sessions this worker has loaded, answered from memory while
 * authcache_valid() holds for the mark they were read under (authcache.h:
 * a trigger on mcp_sessions announces every delete and log level change,
 * and remove()/set_log_level() wait in its barrier, so another responder's
 * DELETE or logging/setLevel reaches the very next request here) and until
 * the next last_used_at write falls due or the session expires. Matched by
 * id and principal (user and credential kind), as the statements match.
 */
#define MCP_SESSION_CACHED 32
static struct {
	bool used;
	unsigned long mark;
	long long user_id; /* <= 0: none */
	enum auth_method method;
	int64_t until, last_use; /* CLOCK_MONOTONIC ms */
	struct mcp_session s;
} mcp_session_cache[MCP_SESSION_CACHED];

/* The cache slot of (p, id), or -1. */
static int
mcp_session_cache_find(const struct principal *p, const char *id)
{
	size_t n = strlen(id), i;

	for (i = 0; i < MCP_SESSION_CACHED; i++) {
		const char *c = mcp_session_cache[i].s.id;

		if (mcp_session_cache[i].used &&
		    mcp_session_cache[i].method == p->method &&
		    (mcp_session_cache[i].user_id > 0
		            ? p->user_id == mcp_session_cache[i].user_id
		            : p->user_id <= 0) &&
		    strlen(c) == n && CRYPTO_memcmp(c, id, n) == 0)
			return (int)i;
	}
	return -1;
}

/* Forgets (p, id) here; the trigger tells the other workers. */
static void
mcp_session_cache_drop(const struct principal *p, const char *id)
{
	int i = mcp_session_cache_find(p, id);

	if (i >= 0)
		mcp_session_cache[i].used = false;
}

/* Keeps s, read after mark, for ttl_s seconds at most. */
static void
mcp_session_cache_put(struct db *db, const struct principal *p,
    const struct mcp_session *s, int ttl_s, unsigned long mark)
{
	int64_t now = clock_ms();
	int i = mcp_session_cache_find(p, s->id);
	size_t j;

	if (ttl_s <= 0 || !authcache_valid(db, mark))
		return;
	/* The same session, a free or stale slot, else the least recently
	 * used. */
	for (j = 0; i < 0 && j < MCP_SESSION_CACHED; j++)
		if (!mcp_session_cache[j].used ||
		    !authcache_valid(db, mcp_session_cache[j].mark) ||
		    now >= mcp_session_cache[j].until)
			i = (int)j;
	if (i < 0) {
		i = 0;
		for (j = 1; j < MCP_SESSION_CACHED; j++)
			if (mcp_session_cache[j].last_use <
			    mcp_session_cache[i].last_use)
				i = (int)j;
	}
	mcp_session_cache[i].used = true;
	mcp_session_cache[i].mark = mark;
	mcp_session_cache[i].user_id = p->user_id > 0 ? p->user_id : 0;
	mcp_session_cache[i].method = p->method;
	/* Counted as if read at the mark: 0.5 s off for the round trip. */
	mcp_session_cache[i].until = now + (int64_t)ttl_s * 1000 - 500;
	mcp_session_cache[i].last_use = now;
	mcp_session_cache[i].s = *s;
}

/* The cached session of (p, id) into *out; false when none may be used. */
static bool
mcp_session_cache_get(struct db *db, const struct principal *p, const char *id,
    struct mcp_session *out)
{
	int64_t now = clock_ms();
	int i = mcp_session_cache_find(p, id);

	if (i < 0)
		return false;
	if (!authcache_valid(db, mcp_session_cache[i].mark) ||
	    now >= mcp_session_cache[i].until) {
		mcp_session_cache[i].used = false;
		return false;
	}
	mcp_session_cache[i].last_use = now;
	*out = mcp_session_cache[i].s;
	return true;
}

/* Seconds between two last_used_at writes of a session (see load()). */
static int
mcp_session_touch_every(const struct config *cfg)
{
	/*
	 * A throttled touch lets a session look up to `every` seconds older
	 * than it is, so the idle timeout may end it that much early: keep
	 * the interval a tenth of the idle timeout at most, and never above
	 * MCP_SESSION_TOUCH_MAX or the API keys' touch interval.
	 */
	int every = cfg->sessions.mcp_idle_timeout / 10;

	if (every > MCP_SESSION_TOUCH_MAX)
		every = MCP_SESSION_TOUCH_MAX;
	if (every > cfg->auth.key_touch_interval)
		every = cfg->auth.key_touch_interval;
	return every < 0 ? 0 : every;
}

/* The int in column name of row 0 of res; fallback when NULL or absent. */
static int
mcp_session_int_col(const PGresult *res, const char *name, int fallback)
{
	int c = PQfnumber(res, name), v;

	if (c < 0 || PQgetisnull(res, 0, c) ||
	    parse_int(PQgetvalue(res, 0, c), INT_MIN, INT_MAX, &v) != OK)
		return fallback;
	return v;
}

/*
 * create(): a fresh id, one INSERT. OK with *out filled; ERR_INVALID for a
 * protocol version of the wrong shape; ERR_INTERNAL when the random
 * generator fails; ERR_DB_DOWN, ERR_DB.
 */
static berr
mcp_session_create(void *arg, const struct principal *p,
    const char *environment, const char *protocol_version,
    const char *client_info, const char *capabilities, struct mcp_session *out)
{
	struct mcp_session_backend *b = arg;
	unsigned char raw[MCP_SESSION_RANDOM_BYTES];
	char id[(4 * MCP_SESSION_RANDOM_BYTES + 2) / 3 + 1], user[24],
	    absolute[16];
	const char *values[9];
	PGresult *res = NULL;
	unsigned long mark;
	int ttl;
	berr rc;

	if (protocol_version == NULL || strlen(protocol_version) != 10 ||
	    (environment != NULL &&
	        strlen(environment) >= sizeof(out->environment))) {
		rc = ERR_INVALID;
		goto out;
	}
	/* RAND_bytes() draws from the OS's CSPRNG through OpenSSL's DRBG. */
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		log_error("mcp session: the random generator failed");
		rc = ERR_INTERNAL;
		goto out;
	}
	mcp_session_b64url_encode(raw, sizeof(raw), id);
	snprintf(absolute, sizeof(absolute), "%d",
	    b->cfg->sessions.mcp_absolute_timeout);
	values[0] = id;
	values[1] = mcp_session_user(p, user, sizeof(user));
	values[2] = principal_method_name(p->method);
	values[3] = p->token_id[0] != '\0' ? p->token_id : NULL;
	values[4] = protocol_version;
	values[5] = mcp_session_json_object(client_info);
	values[6] = mcp_session_json_object(capabilities);
	values[7] = absolute;
	values[8] = environment;
	mark = authcache_mark();
	if ((rc = db_exec(b->db, "mcp_session_create", 9, values, &res)) != OK)
		goto out;
	if (PQntuples(res) != 1) {
		rc = ERR_DB;
		goto out;
	}
	if ((rc = mcp_session_from_row(res, out)) == OK) {
		ttl = mcp_session_touch_every(b->cfg);
		if (ttl > b->cfg->sessions.mcp_absolute_timeout)
			ttl = b->cfg->sessions.mcp_absolute_timeout;
		mcp_session_cache_put(b->db, p, out, ttl, mark);
	}
out:
	PQclear(res);
	return rc;
}

/*
 * load(): the session when it is p's and alive, touching last_used_at
 * (throttled) in the same statement. ERR_NOT_FOUND otherwise.
 */
static berr
mcp_session_load(void *arg, const struct principal *p, const char *id,
    struct mcp_session *out)
{
	struct mcp_session_backend *b = arg;
	char user[24], idle[16], touch[16];
	const char *values[5];
	PGresult *res = NULL;
	unsigned long mark;
	int every, ttl, left;
	berr rc;

	if (!mcp_session_id_well_formed(id)) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	if (mcp_session_cache_get(b->db, p, id, out))
		return OK;
	mark = authcache_mark();
	every = mcp_session_touch_every(b->cfg);
	mcp_session_idle(b->cfg, idle, sizeof(idle));
	snprintf(touch, sizeof(touch), "%d", every);
	values[0] = id;
	values[1] = mcp_session_user(p, user, sizeof(user));
	values[2] = principal_method_name(p->method);
	values[3] = idle;
	values[4] = touch;
	if ((rc = db_exec(b->db, "mcp_session_load", 5, values, &res)) != OK)
		goto out;
	if (PQntuples(res) != 1) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	if ((rc = mcp_session_from_row(res, out)) != OK)
		goto out;
	/* Kept until the next write is due (a whole interval when this load
	 * wrote it) and never past the absolute timeout. Within that the idle
	 * timeout cannot pass: the interval is a tenth of it at most. */
	ttl = mcp_session_int_col(res, "touched", 0) > 0
	    ? every
	    : mcp_session_int_col(res, "touch_in", 0);
	left = mcp_session_int_col(res, "expires_in", 0);
	mcp_session_cache_put(b->db, p, out, left < ttl ? left : ttl, mark);
out:
	PQclear(res);
	return rc;
}

/* set_log_level(): ERR_INVALID for a level MCP does not define. */
static berr
mcp_session_set_log_level(
    void *arg, const struct principal *p, const char *id, const char *level)
{
	struct mcp_session_backend *b = arg;
	char user[24], idle[16];
	const char *values[5];
	PGresult *res = NULL;
	size_t i;
	berr rc;

	if (!mcp_session_id_well_formed(id)) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	for (i = 0; mcp_session_levels[i] != NULL; i++)
		if (level != NULL && strcmp(level, mcp_session_levels[i]) == 0)
			break;
	if (mcp_session_levels[i] == NULL) {
		rc = ERR_INVALID;
		goto out;
	}
	mcp_session_idle(b->cfg, idle, sizeof(idle));
	values[0] = id;
	values[1] = mcp_session_user(p, user, sizeof(user));
	values[2] = principal_method_name(p->method);
	values[3] = idle;
	values[4] = mcp_session_levels[i];
	mcp_session_cache_drop(p, id);
	if ((rc = db_exec(b->db, "mcp_session_level", 5, values, &res)) != OK)
		goto out;
	rc = PQntuples(res) == 1 ? OK : ERR_NOT_FOUND;
	/* Every responder's next request of this session has the level. */
	if (rc == OK && authcache_barrier(b->db) != OK)
		log_warn("mcp session: log level set, but not every responder "
		         "confirmed it");
out:
	PQclear(res);
	return rc;
}

/* remove(): deletes p's session; ERR_NOT_FOUND when there was no live one. */
static berr
mcp_session_remove(void *arg, const struct principal *p, const char *id)
{
	struct mcp_session_backend *b = arg;
	char user[24], idle[16];
	const char *values[4];
	PGresult *res = NULL;
	int c;
	berr rc;

	if (!mcp_session_id_well_formed(id)) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	mcp_session_idle(b->cfg, idle, sizeof(idle));
	values[0] = id;
	values[1] = mcp_session_user(p, user, sizeof(user));
	values[2] = principal_method_name(p->method);
	values[3] = idle;
	mcp_session_cache_drop(p, id);
	if ((rc = db_exec(b->db, "mcp_session_remove", 4, values, &res)) != OK)
		goto out;
	/* A deleted session is 404 on every responder's next request. */
	if (PQntuples(res) == 1 && authcache_barrier(b->db) != OK)
		log_warn("mcp session: deleted, but not every responder "
		         "confirmed it");
	if (PQntuples(res) != 1 || (c = PQfnumber(res, "live")) < 0 ||
	    strcmp(PQgetvalue(res, 0, c), "t") != 0) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	rc = OK;
out:
	PQclear(res);
	return rc;
}

/* cancel(): leaves the marker for request_key of session id. */
static berr
mcp_session_cancel(void *arg, const char *id, const char *request_key)
{
	struct mcp_session_backend *b = arg;
	const char *values[2] = { id, request_key };
	size_t n = request_key != NULL ? strlen(request_key) : 0;

	if (!mcp_session_id_well_formed(id) || n == 0 || n > 200)
		return ERR_INVALID;
	return db_exec(b->db, "mcp_session_cancel", 2, values, NULL);
}

/* cancelled(): is there a marker for request_key of session id? */
static berr
mcp_session_cancelled(
    void *arg, const char *id, const char *request_key, bool *yes)
{
	struct mcp_session_backend *b = arg;
	const char *values[2] = { id, request_key };
	PGresult *res = NULL;
	berr rc;

	*yes = false;
	if (!mcp_session_id_well_formed(id) || request_key == NULL)
		return ERR_INVALID;
	if ((rc = db_exec(b->db, "mcp_session_cancelled", 2, values, &res)) ==
	    OK)
		*yes = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

/* subscribe(): ERR_TOO_BIG when the session holds LIMIT_MCP_SUBSCRIPTIONS. */
static berr
mcp_session_subscribe(void *arg, const char *id, const char *uri)
{
	struct mcp_session_backend *b = arg;
	char cap[16];
	const char *values[3] = { id, uri, cap };
	PGresult *res = NULL;
	berr rc;

	if (!mcp_session_id_well_formed(id) || uri == NULL ||
	    strlen(uri) > LIMIT_MCP_URI)
		return ERR_INVALID;
	snprintf(cap, sizeof(cap), "%d", LIMIT_MCP_SUBSCRIPTIONS);
	if ((rc = db_exec(b->db, "mcp_session_subscribe", 3, values, &res)) ==
	        OK &&
	    PQntuples(res) == 0)
		rc = ERR_TOO_BIG;
	PQclear(res);
	return rc;
}

/* unsubscribe(): OK whether or not it was there. */
static berr
mcp_session_unsubscribe(void *arg, const char *id, const char *uri)
{
	struct mcp_session_backend *b = arg;
	const char *values[2] = { id, uri };

	if (!mcp_session_id_well_formed(id) || uri == NULL)
		return ERR_INVALID;
	return db_exec(b->db, "mcp_session_unsubscribe", 2, values, NULL);
}

/* ask(): ERR_DENIED when the client lacks capability, or at the cap. */
static berr
mcp_session_ask(
    void *arg, const char *id, const char *request_key, const char *capability)
{
	struct mcp_session_backend *b = arg;
	const char *values[3] = { id, request_key, capability };
	PGresult *res = NULL;
	size_t n = request_key != NULL ? strlen(request_key) : 0;
	berr rc;

	if (!mcp_session_id_well_formed(id) || n == 0 || n > 200 ||
	    capability == NULL)
		return ERR_INVALID;
	if ((rc = db_exec(b->db, "mcp_session_ask", 3, values, &res)) == OK &&
	    PQntuples(res) != 1)
		rc = ERR_DENIED;
	PQclear(res);
	return rc;
}

/* answer(): ERR_NOT_FOUND when nothing is pending under request_key. */
static berr
mcp_session_answer(
    void *arg, const char *id, const char *request_key, const char *response)
{
	struct mcp_session_backend *b = arg;
	const char *values[3] = { id, request_key, response };
	PGresult *res = NULL;
	size_t n = request_key != NULL ? strlen(request_key) : 0;
	berr rc;

	if (!mcp_session_id_well_formed(id) || n == 0 || n > 200 ||
	    response == NULL)
		return ERR_INVALID;
	if ((rc = db_exec(b->db, "mcp_session_answer", 3, values, &res)) ==
	        OK &&
	    PQntuples(res) != 1)
		rc = ERR_NOT_FOUND;
	PQclear(res);
	return rc;
}

/* answered(): takes the response, *response NULL while there is none. */
static berr
mcp_session_answered(
    void *arg, const char *id, const char *request_key, char **response)
{
	struct mcp_session_backend *b = arg;
	const char *values[2] = { id, request_key };
	PGresult *res = NULL;
	berr rc;

	*response = NULL;
	if (!mcp_session_id_well_formed(id) || request_key == NULL)
		return ERR_INVALID;
	if ((rc = db_exec(b->db, "mcp_session_answered", 2, values, &res)) ==
	        OK &&
	    PQntuples(res) == 1 &&
	    (*response = strdup(PQgetvalue(res, 0, 0))) == NULL)
		rc = ERR_NOMEM;
	PQclear(res);
	return rc;
}

void
mcp_session_store(struct mcp_session_backend *backend, struct mcp_store *store)
{
	store->arg = backend;
	store->create = mcp_session_create;
	store->load = mcp_session_load;
	store->set_log_level = mcp_session_set_log_level;
	store->remove = mcp_session_remove;
	store->cancel = mcp_session_cancel;
	store->cancelled = mcp_session_cancelled;
	store->subscribe = mcp_session_subscribe;
	store->unsubscribe = mcp_session_unsubscribe;
	store->ask = mcp_session_ask;
	store->answer = mcp_session_answer;
	store->answered = mcp_session_answered;
}
