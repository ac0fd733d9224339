/*
 * principal.c - from an Authorization header to a principal. See
 * principal.h.
 *
 * Everything before the database is syntax, checked with bounded reads so
 * a hostile header costs nothing: size, scheme, token shape. The API-key
 * branch then asks the worker's cache (authcache.h), and on a miss makes
 * one prepared read-only statement, one round trip: the key by its digest,
 * its owner, the owner's roles and the address lockout; the throttled
 * last_used_at write is a second statement, sent at most once per interval
 * per key (auth.key_touch_interval). A success is cached until that write
 * falls due or the key expires, whichever is first.
 */
#include "principal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "apikey.h"
#include "authcache.h"
#include "config.h"
#include "hex.h"
#include "limit.h"
#include "log.h"
#include "oauth.h"
#include "parse.h"
#include "session.h"

/* What a client is told; the precise reason goes to the log only, so a
 * caller cannot learn whether a stolen key was revoked or never existed. */
static const char principal_why_missing[] = "missing credentials";
static const char principal_why_big[] = "authorization header too long";
static const char principal_why_scheme[] =
    "unsupported authorization scheme: use Bearer";
static const char principal_why_invalid[] = "invalid token";
static const char principal_why_refused[] = "invalid or expired credentials";

/*
 * The hot path, a plain SELECT. $1: hex SHA-256 of the key; $2: seconds
 * between two last_used_at writes; $3: the client address (NULL when
 * unknown). Always one row: key_id NULL means an unknown key; otherwise
 * the key, its owner, the flags that refuse it, and every role as a JSON
 * object {env: role}. locked_for is the seconds left on a lockout of the
 * address (NULL when none), so the lockout check costs no round trip of
 * its own. stale says last_used_at is older than $2 (or was never set).
 *
 * The last_used_at write is a statement of its own (principal_sql_key_touch),
 * sent only for a usable, stale key from an address that is not locked: a
 * busy key costs one extra round trip per interval, and every other request
 * a read-only statement (no data-modifying CTE to plan and run each time).
 * Two responders racing on the write both see the row lock, and the loser
 * re-checks the condition and writes nothing.
 */
static const char principal_sql_key[] =
    "SELECT (SELECT ceil(extract(epoch FROM max(f.locked_until) - now()))"
    "::int FROM auth_failures f"
    " WHERE f.scope = 'address' AND f.subject = $3::text"
    " AND f.locked_until > now()) AS locked_for,"
    " k.key_id, k.user_id, k.username, k.email, k.org_id, k.revoked,"
    " k.expired, k.disabled, k.stale, k.expires_in,"
    " k.touch_in,"
    " (SELECT coalesce(json_object_agg(r.environment, r.role"
    " ORDER BY r.environment), '{}'::json)"
    " FROM user_roles r WHERE r.user_id = k.user_id) AS roles "
    "FROM (SELECT 1) one LEFT JOIN ("
    " SELECT a.id AS key_id, a.revoked_at IS NOT NULL AS revoked,"
    " (a.expires_at IS NOT NULL AND a.expires_at <= now()) AS expired,"
    " least(floor(extract(epoch FROM a.expires_at - now())), 86400)::int"
    " AS expires_in, least(floor(extract(epoch FROM a.last_used_at"
    " + make_interval(secs => $2::int) - now())), 86400)::int AS touch_in,"
    " (a.last_used_at IS NULL"
    " OR a.last_used_at < now() - make_interval(secs => $2::int)) AS stale,"
    " u.id AS user_id, u.username, coalesce(u.email, '') AS email,"
    " coalesce(u.org_id, '') AS org_id, u.disabled"
    " FROM api_keys a JOIN users u ON u.id = a.user_id"
    " WHERE a.key_digest = decode($1::text, 'hex')"
    ") k ON true";
/* $1: the key's id; $2: the interval, re-checked under the row lock. */
static const char principal_sql_key_touch[] =
    "UPDATE api_keys SET last_used_at = now() WHERE id = $1::bigint"
    " AND (last_used_at IS NULL"
    " OR last_used_at < now() - make_interval(secs => $2::int))";

/*
 * issue 5: the session-token branch, kept apart from the API-key one.
 * $1: hex SHA-256 of the token; $2: seconds between two last_used_at
 * writes; $3: the client address. Same shape and rules as
 * principal_sql_key (one read-only statement, lockout read in, the
 * throttled write apart); a session is never "revoked": logout deletes it.
 */
static const char principal_sql_session[] =
    "SELECT (SELECT ceil(extract(epoch FROM max(f.locked_until) - now()))"
    "::int FROM auth_failures f"
    " WHERE f.scope = 'address' AND f.subject = $3::text"
    " AND f.locked_until > now()) AS locked_for,"
    " s.session_id, s.user_id, s.username, s.email, s.org_id, s.expired,"
    " s.disabled, s.stale, s.expires_in,"
    " s.touch_in,"
    " (SELECT coalesce(json_object_agg(r.environment, r.role"
    " ORDER BY r.environment), '{}'::json)"
    " FROM user_roles r WHERE r.user_id = s.user_id) AS roles "
    "FROM (SELECT 1) one LEFT JOIN ("
    " SELECT x.id AS session_id, x.expires_at <= now() AS expired,"
    " least(floor(extract(epoch FROM x.expires_at - now())), 86400)::int"
    " AS expires_in, least(floor(extract(epoch FROM x.last_used_at"
    " + make_interval(secs => $2::int) - now())), 86400)::int AS touch_in,"
    " x.last_used_at < now() - make_interval(secs => $2::int) AS stale,"
    " u.id AS user_id, u.username, coalesce(u.email, '') AS email,"
    " coalesce(u.org_id, '') AS org_id, u.disabled"
    " FROM sessions x JOIN users u ON u.id = x.user_id"
    " WHERE x.token_digest = decode($1::text, 'hex')"
    ") s ON true";
static const char principal_sql_session_touch[] =
    "UPDATE sessions SET last_used_at = now() WHERE id = $1::bigint"
    " AND last_used_at < now() - make_interval(secs => $2::int)";

const char *
principal_method_name(enum auth_method m)
{
	switch (m) {
	case AUTH_API_KEY: return "api_key";
	case AUTH_SESSION: return "session";
	case AUTH_OAUTH: return "oauth";
	case AUTH_NONE: break;
	}
	return "none";
}

berr
principal_prepare(struct db *db)
{
	berr rc;

	if ((rc = db_prepare(db, "principal_key", principal_sql_key, 3)) !=
	        OK ||
	    (rc = db_prepare(db, "principal_key_touch", principal_sql_key_touch,
	         2)) != OK ||
	    (rc = db_prepare(
	         db, "principal_session", principal_sql_session, 3)) != OK)
		return rc;
	return db_prepare(
	    db, "principal_session_touch", principal_sql_session_touch, 2);
}

/*
 * Writes last_used_at of the key or session id (stmt, one of the touch
 * statements) after a successful authentication that found it stale. Best
 * effort: the request is authenticated either way, so a failure is logged,
 * not answered.
 */
static void
principal_touch(
    struct db *db, const char *stmt, const char *id, const char *interval)
{
	const char *values[2] = { id, interval };
	berr rc;

	if ((rc = db_exec(db, stmt, 2, values, NULL)) != OK)
		log_warn("auth: last_used_at of %s not written (%s)", id,
		    err_str(rc));
}

/* Copies src into dst (size bytes) when it fits; false when not. */
static bool
principal_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* The value of column name of row 0, or NULL when the column is missing. */
static const char *
principal_col(const PGresult *res, const char *name)
{
	int c = PQfnumber(res, name);

	return c < 0 ? NULL : PQgetvalue(res, 0, c);
}

bool
principal_parse_roles(const char *text, struct principal *out)
{
	struct json_object *o = json_tokener_parse(text);
	bool ok = false;

	out->nroles = 0;
	if (o == NULL || !json_object_is_type(o, json_type_object))
		goto out;
	json_object_object_foreach(o, env, val)
	{
		struct principal_role *r;

		if (out->nroles >= PRINCIPAL_MAX_ROLES ||
		    !json_object_is_type(val, json_type_string))
			goto out;
		r = &out->roles[out->nroles++];
		if (!principal_copy(
		        r->environment, sizeof(r->environment), env) ||
		    !principal_copy(
		        r->role, sizeof(r->role), json_object_get_string(val)))
			goto out;
	}
	ok = true;
out:
	json_object_put(o);
	return ok;
}

/* Seconds between two last_used_at writes (0: every use). Without a
 * config (tools, tests), the config's default. */
static int
principal_touch_interval(const struct config *cfg)
{
	return cfg != NULL ? cfg->auth.key_touch_interval : 60;
}

/*
 * How long a successful lookup may be answered from the worker's cache
 * (authcache.h): until the next last_used_at write is due (column
 * touch_in, seconds; when the lookup wrote it, stale says so and a whole
 * interval is left), and never past the credential's expiry (expires_in;
 * NULL: none). So last_used_at is as fresh as without the cache.
 */
static int
principal_cache_ttl(const struct config *cfg, const PGresult *res)
{
	const char *stale = principal_col(res, "stale"),
	           *touch = principal_col(res, "touch_in"),
	           *expires = principal_col(res, "expires_in");
	int ttl = principal_touch_interval(cfg), left;

	if (stale == NULL || touch == NULL || expires == NULL)
		return 0;
	/* A lookup that wrote last_used_at has a whole interval ahead. */
	if (*stale != 't' && *touch != '\0') {
		if (parse_int(touch, INT_MIN, INT_MAX, &left) != OK)
			return 0;
		if (left < ttl)
			ttl = left;
	}
	if (*expires != '\0') {
		if (parse_int(expires, INT_MIN, INT_MAX, &left) != OK)
			return 0;
		if (left < ttl)
			ttl = left;
	}
	return ttl;
}

/* What differs between the two kinds of credential looked up here. */
struct principal_kind {
	enum auth_method method;
	const char *stmt;    /* principal_key, principal_session */
	const char *id_col;  /* key_id, session_id */
	const char *touch;   /* its last_used_at write */
	bool may_be_revoked; /* keys are revoked; sessions are deleted */
};

static const struct principal_kind principal_kind_key = { AUTH_API_KEY,
	"principal_key", "key_id", "principal_key_touch", true };
static const struct principal_kind principal_kind_session = { AUTH_SESSION,
	"principal_session", "session_id", "principal_session_touch", false };

/*
 * A credential of kind k by its digest d (raw) and hex (the statement's
 * $1): from the worker's cache, else one statement. OK with *out filled
 * and *reason NULL; OK with *reason a refusal's code ("locked", "unknown",
 * "revoked", "expired", "disabled", "limits": the caller logs it and
 * refuses; for a known credential the owner fields are set, so that the
 * refusal can be audited as his); ERR_DB_DOWN, ERR_DB.
 */
static berr
principal_lookup(struct db *db, const struct config *cfg,
    const struct principal_kind *k, const unsigned char *d, const char *hex,
    const char *address, struct principal *out, const char **reason)
{
	char interval[16];
	const char *values[3], *v;
	PGresult *res = NULL;
	unsigned long mark;
	berr rc;

	*reason = NULL;
	if (authcache_get(db, k->method, d, address, out))
		return OK;
	mark = authcache_mark();
	snprintf(
	    interval, sizeof(interval), "%d", principal_touch_interval(cfg));
	values[0] = hex;
	values[1] = interval;
	values[2] = address;
	if ((rc = principal_prepare(db)) != OK ||
	    (rc = db_exec(db, k->stmt, 3, values, &res)) != OK)
		goto out;
	if (PQntuples(res) != 1) {
		rc = ERR_DB;
		goto out;
	}
	if ((v = principal_col(res, "locked_for")) != NULL && *v != '\0') {
		/* Under a second (or unreadable) is still locked: 1 s. */
		if (parse_int(v, 1, INT_MAX, &out->retry_after) != OK)
			out->retry_after = 1;
		*reason = "locked";
		goto out;
	}
	if ((v = principal_col(res, k->id_col)) == NULL || *v == '\0') {
		*reason = "unknown";
		goto out;
	}
	/* The owner first, so that a refusal can still be audited as his. */
	out->method = k->method;
	if (!principal_copy(out->token_id, sizeof(out->token_id), v) ||
	    (v = principal_col(res, "user_id")) == NULL) {
		rc = ERR_DB;
		goto out;
	}
	out->user_id = strtoll(v, NULL, 10);
	if ((v = principal_col(res, "username")) == NULL ||
	    !principal_copy(out->username, sizeof(out->username), v))
		*reason = "limits";
	else if (k->may_be_revoked &&
	    ((v = principal_col(res, "revoked")) == NULL || *v != 'f'))
		*reason = "revoked";
	else if ((v = principal_col(res, "expired")) == NULL || *v != 'f')
		*reason = "expired";
	else if ((v = principal_col(res, "disabled")) == NULL || *v != 'f')
		*reason = "disabled";
	else if ((v = principal_col(res, "email")) == NULL ||
	    !principal_copy(out->email, sizeof(out->email), v) ||
	    (v = principal_col(res, "org_id")) == NULL ||
	    !principal_copy(out->org_id, sizeof(out->org_id), v) ||
	    (v = principal_col(res, "roles")) == NULL ||
	    !principal_parse_roles(v, out))
		*reason = "limits";
	else if ((v = principal_col(res, "stale")) != NULL && *v == 't')
		principal_touch(db, k->touch, out->token_id, interval);
	if (*reason == NULL)
		authcache_put(db, k->method, d, address, out,
		    principal_cache_ttl(cfg, res), mark);
out:
	PQclear(res);
	return rc;
}

/* After a refusal: only the reason and the owner fields stay. */
static berr
principal_refused(struct principal *out, const char *reason, const char **why)
{
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
	out->nroles = 0;
	out->email[0] = out->org_id[0] = '\0';
	*why = principal_why_refused;
	return ERR_DENIED;
}

/*
 * The API-key branch: key is well formed. OK with *out filled, ERR_DENIED
 * (logged here with the key's first 6 characters), ERR_DB_DOWN, ERR_DB.
 */
static berr
principal_from_key(struct db *db, const struct config *cfg, const char *key,
    const char *address, struct principal *out, const char **why)
{
	unsigned char d[APIKEY_DIGEST_LEN];
	char hex[2 * APIKEY_DIGEST_LEN + 1], shown[16];
	const char *reason;
	berr rc;

	apikey_digest(key, d);
	hex_encode_to(d, sizeof(d), hex);
	rc = principal_lookup(
	    db, cfg, &principal_kind_key, d, hex, address, out, &reason);
	if (rc != OK || reason == NULL)
		return rc;
	log_secret_prefix(key, shown, sizeof(shown));
	if (strcmp(reason, "locked") == 0)
		log_info("auth: api key %s from locked address %s refused (%d "
		         "s left)",
		    shown, address ? address : "?", out->retry_after);
	else if (strcmp(reason, "limits") == 0)
		log_error("auth: api key %s (key %s, user %lld) refused: its "
		          "user does not fit a principal (name, org or more "
		          "than %d roles)",
		    shown, out->token_id, out->user_id, PRINCIPAL_MAX_ROLES);
	else
		log_info("auth: api key %s refused: %s%s%s%s", shown, reason,
		    out->token_id[0] ? " (key " : "", out->token_id,
		    out->token_id[0] ? ")" : "");
	return principal_refused(out, reason, why);
}

/*
 * A session token (well formed): as principal_from_key(), for sessions.
 * OK, ERR_DENIED (logged with the token's first 6 characters),
 * ERR_DB_DOWN, ERR_DB.
 */
static berr
principal_from_session(struct db *db, const struct config *cfg,
    const char *token, const char *address, struct principal *out,
    const char **why)
{
	unsigned char d[32];
	char hex[65], shown[16];
	const char *reason;
	berr rc;

	session_digest(token, d);
	hex_encode_to(d, sizeof(d), hex);
	rc = principal_lookup(
	    db, cfg, &principal_kind_session, d, hex, address, out, &reason);
	if (rc != OK || reason == NULL)
		return rc;
	log_info("auth: session token %s refused: %s%s%s%s",
	    log_secret_prefix(token, shown, sizeof(shown)), reason,
	    out->token_id[0] ? " (session " : "", out->token_id,
	    out->token_id[0] ? ")" : "");
	return principal_refused(out, reason, why);
}

bool
principal_has_bearer(const char *authorization)
{
	return authorization != NULL &&
	    strncasecmp(authorization, "Bearer ", 7) == 0 &&
	    authorization[7] != '\0';
}

berr
principal_resolve(struct db *db, const struct config *cfg,
    const char *authorization, const char *address, struct principal *out,
    const char **why)
{
	const char *token, *reason, *w;
	char shown[16];
	berr rc;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (authorization == NULL || *authorization == '\0') {
		reason = "missing";
		w = principal_why_missing;
		rc = ERR_DENIED;
		goto refuse;
	}
	/* Before anything else looks at it: a 4 KiB cap, read no further. */
	if (strnlen(authorization, LIMIT_AUTH_HEADER_BYTES + 1) >
	    LIMIT_AUTH_HEADER_BYTES) {
		reason = "too_big";
		w = principal_why_big;
		rc = ERR_TOO_BIG;
		goto refuse;
	}
	/* RFC 6750: "Bearer" (case-insensitive), one space, the token. */
	if (strncasecmp(authorization, "Bearer", 6) != 0 ||
	    (authorization[6] != ' ' && authorization[6] != '\0')) {
		reason = "scheme";
		w = principal_why_scheme;
		rc = ERR_DENIED;
		goto refuse;
	}
	token = authorization[6] == ' ' ? authorization + 7 : "";
	if (*token == '\0') {
		reason = "missing";
		w = principal_why_missing;
		rc = ERR_DENIED;
		goto refuse;
	}

	/* Station-compatible API key: "sk-" + 32..128 of [A-Za-z0-9_-]. */
	if (strncmp(token, APIKEY_PREFIX, strlen(APIKEY_PREFIX)) == 0 &&
	    apikey_well_formed(token)) {
		rc = principal_from_key(db, cfg, token, address, out, why);
		/* The prefix is worked out only when it will be logged. */
		if (rc == OK && log_get_level() >= LOG_LVL_DEBUG)
			log_debug("auth: api key %s (key %s) is %s",
			    log_secret_prefix(token, shown, sizeof(shown)),
			    out->token_id, out->username);
		else if (rc != ERR_DENIED)
			*why = "authentication is unavailable";
		return rc;
	}

	/* issue 5: session tokens of /auth/login ("bst_" + 43). */
	if (session_well_formed(token)) {
		rc = principal_from_session(db, cfg, token, address, out, why);
		if (rc != OK && rc != ERR_DENIED)
			*why = "authentication is unavailable";
		return rc;
	}

	/*
	 * ---- Further token kinds plug in here, before the refusal: ----
	 * issue 6: OAuth access tokens (token_cache, then introspection,
	 *          AUTH_OAUTH).
	 */
	if (oauth_active(cfg) &&
	    strncmp(token, APIKEY_PREFIX, strlen(APIKEY_PREFIX)) != 0)
		return oauth_resolve(db, cfg, token, address, out, why);

	log_info("auth: malformed bearer token %s refused",
	    log_secret_prefix(token, shown, sizeof(shown)));
	reason = "malformed";
	w = principal_why_invalid;
	rc = ERR_DENIED;
refuse:
	if (strcmp(reason, "malformed") != 0)
		log_debug("auth: refused: %s", reason);
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
	*why = w;
	return rc;
}
