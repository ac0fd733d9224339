/*
 * oauth.c - OAuth access tokens: the shared cache, RFC 7662 introspection,
 * the checks, and the mapping to Berth users. See oauth.h.
 *
 * The hot path is one prepared statement: the address lockout, the cached
 * answer for the token's digest, the user it maps to with every role, and
 * the station's organization, in one round trip. Only a miss asks the
 * authorization server; its answer is written back to token_cache so that
 * every responder on every host profits from it.
 */
#include "oauth.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "apikey.h"
#include "audit.h"
#include "config.h"
#include "hex.h"
#include "http.h"
#include "limit.h"
#include "log.h"
#include "parse.h"

static const char oauth_why_invalid[] = "invalid token";
static const char oauth_why_refused[] = "invalid or expired credentials";
static const char oauth_why_scope[] = "the token lacks a required scope";
static const char oauth_why_down[] =
    "the authorization server cannot be reached; try again shortly";

/* Introspection requests made by this process. */
static unsigned long oauth_calls;

/*
 * The hot path. $1: hex SHA-256 of the token; $2: the station's name
 * (cloudship.name, "" = any); $3: the client address (NULL when unknown).
 * Always one row: hit false on a miss (or an expired entry); otherwise the
 * cached answer, and when it maps to a user, that user with every role as
 * {env: role}. station_org is the organization the daemon learned from
 * Lighthouse (NULL when none is known yet).
 */
static const char oauth_sql_lookup[] =
    "WITH lock AS ("
    " SELECT ceil(extract(epoch FROM max(f.locked_until) - now()))::int"
    " AS locked_for FROM auth_failures f"
    " WHERE f.scope = 'address' AND f.subject = $3::text"
    " AND f.locked_until > now()"
    "), c AS ("
    " SELECT t.active, t.claims::text AS claims, t.user_id,"
    " coalesce(t.claims ? 'pending', false) AS pending"
    " FROM token_cache t WHERE t.token_digest = decode($1::text, 'hex')"
    " AND t.expires_at > now()"
    "), s AS ("
    " SELECT st.org_id FROM station_status st"
    " WHERE coalesce(st.org_id, '') <> ''"
    " AND ($2::text = '' OR st.name = $2::text)"
    " ORDER BY st.updated_at DESC LIMIT 1"
    ") "
    "SELECT lock.locked_for, (SELECT s.org_id FROM s) AS station_org,"
    " c.active IS NOT NULL AS hit, c.pending, c.active, c.claims,"
    " u.id AS user_id, u.username, u.disabled,"
    " (SELECT coalesce(json_object_agg(r.environment, r.role"
    " ORDER BY r.environment), '{}'::json)"
    " FROM user_roles r WHERE r.user_id = u.id) AS roles "
    "FROM lock LEFT JOIN c ON true LEFT JOIN users u ON u.id = c.user_id";

/*
 * Writes an answer to the cache. $1 digest hex; $2 active; $3 claims (JSON
 * text or NULL); $4 user id or NULL; $5 seconds to keep it; $6 the token's
 * exp (Unix time) or NULL: the entry never outlives it. Times are the
 * database's, as everywhere else (001_schema.sql).
 */
static const char oauth_sql_put[] =
    "INSERT INTO token_cache (token_digest, active, claims, user_id,"
    " cached_at, expires_at) VALUES (decode($1::text, 'hex'),"
    " $2::boolean, $3::jsonb, $4::bigint, now(),"
    " least(now() + make_interval(secs => $5::int),"
    " coalesce(to_timestamp($6::double precision), 'infinity')))"
    " ON CONFLICT (token_digest) DO UPDATE SET active = EXCLUDED.active,"
    " claims = EXCLUDED.claims, user_id = EXCLUDED.user_id,"
    " cached_at = EXCLUDED.cached_at, expires_at = EXCLUDED.expires_at";

/*
 * The Berth user of an OAuth subject, created on first sight with the
 * default role in every environment. $1 username, $2 email, $3 org, $4 the
 * subject, $5 the role. One row (id, created) when the user exists or was
 * made; none when $1 is taken by another user (the caller retries with
 * another name). Two responders racing: the loser's insert does nothing,
 * and its retry finds the winner's row.
 */
static const char oauth_sql_user[] =
    "WITH ins AS ("
    " INSERT INTO users (username, email, org_id, auth_source, external_id)"
    " VALUES ($1::text, $2::text, $3::text, 'oauth', $4::text)"
    " ON CONFLICT DO NOTHING RETURNING id"
    "), role AS ("
    " INSERT INTO user_roles (user_id, environment, role)"
    " SELECT id, '*', $5::text FROM ins"
    ") "
    "SELECT id, true AS created FROM ins "
    "UNION ALL "
    "SELECT id, false FROM users"
    " WHERE auth_source = 'oauth' AND external_id = $4::text";

/*
 * Single flight across responders: before introspecting a token nobody has
 * cached, a responder claims it with a placeholder row (inactive, claims
 * {"pending": true}, living the introspection timeout plus a second). Others
 * that find the placeholder wait for the answer instead of asking too. $1
 * digest hex, $2 seconds. One row when the claim is ours; none when another
 * responder's claim or answer is there. A row, not an advisory lock, so
 * that it works through a transaction-mode pooler and dies by itself.
 */
static const char oauth_sql_claim[] =
    "INSERT INTO token_cache (token_digest, active, claims, cached_at,"
    " expires_at) VALUES (decode($1::text, 'hex'), false,"
    " '{\"pending\": true}', now(), now() + make_interval(secs => $2::int))"
    " ON CONFLICT (token_digest) DO UPDATE SET active = false,"
    " claims = EXCLUDED.claims, user_id = NULL, cached_at = now(),"
    " expires_at = EXCLUDED.expires_at"
    " WHERE token_cache.expires_at <= now() RETURNING true";

/* Drops our placeholder when no answer replaced it ($1 digest hex). */
static const char oauth_sql_release[] =
    "DELETE FROM token_cache WHERE token_digest = decode($1::text, 'hex')"
    " AND claims ? 'pending'";

bool
oauth_active(const struct config *cfg)
{
	return cfg != NULL && cfg->cloudship.oauth.enabled && !cfg->local_mode;
}

/* snprintf into buf; ERR_TOO_BIG (and "") when it does not fit. */
static berr
oauth_fmt(char *buf, size_t size, const char *a, const char *b)
{
	int n = snprintf(buf, size, "%s%s", a, b);

	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			buf[0] = '\0';
		return ERR_TOO_BIG;
	}
	return OK;
}

berr
oauth_resource_url(const struct config *cfg, char *buf, size_t size)
{
	return oauth_fmt(buf, size, cfg->http.public_url, "/mcp");
}

berr
oauth_metadata_url(const struct config *cfg, char *buf, size_t size)
{
	return oauth_fmt(buf, size, cfg->http.public_url,
	    "/.well-known/oauth-protected-resource/mcp");
}

berr
oauth_issuer(const struct config *cfg, char *buf, size_t size)
{
	const char *i = cfg->cloudship.oauth.issuer;

	return oauth_fmt(
	    buf, size, *i != '\0' ? i : cfg->cloudship.base_url, "");
}

berr
oauth_introspect_url(const struct config *cfg, char *buf, size_t size)
{
	const char *u = cfg->cloudship.oauth.introspect_url;

	if (*u != '\0')
		return oauth_fmt(buf, size, u, "");
	return oauth_fmt(
	    buf, size, cfg->cloudship.base_url, "/oauth/introspect");
}

berr
oauth_scope_string(const struct config *cfg, char *buf, size_t size)
{
	const struct strlist *l = &cfg->cloudship.oauth.scopes;
	size_t i, off = 0;
	int n;

	if (size == 0)
		return ERR_TOO_BIG;
	buf[0] = '\0';
	for (i = 0; i < l->n; i++) {
		n = snprintf(
		    buf + off, size - off, "%s%s", i ? " " : "", l->v[i]);
		if (n < 0 || (size_t)n >= size - off) {
			buf[0] = '\0';
			return ERR_TOO_BIG;
		}
		off += (size_t)n;
	}
	return OK;
}

unsigned long
oauth_introspection_count(void)
{
	return oauth_calls;
}

berr
oauth_prepare(struct db *db)
{
	berr rc;

	if ((rc = db_prepare(db, "oauth_lookup", oauth_sql_lookup, 3)) != OK ||
	    (rc = db_prepare(db, "oauth_put", oauth_sql_put, 6)) != OK ||
	    (rc = db_prepare(db, "oauth_claim", oauth_sql_claim, 2)) != OK ||
	    (rc = db_prepare(db, "oauth_release", oauth_sql_release, 1)) != OK)
		return rc;
	return db_prepare(db, "oauth_user", oauth_sql_user, 5);
}

/* RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
 * "/" ) *"=". The header cap (limit.h) bounds its length. */
static bool
oauth_token_well_formed(const char *t)
{
	size_t n = strspn(t,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._~+/");

	if (n == 0)
		return false;
	n += strspn(t + n, "=");
	return t[n] == '\0';
}

/* Copies src into dst (size bytes) when it fits; false when not. */
static bool
oauth_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* --- introspection ------------------------------------------------------ */

struct oauth_buf {
	char *p;
	size_t n;
	bool too_big;
};

/* libcurl's write callback: keeps at most LIMIT_INTROSPECT_BYTES; more
 * aborts the transfer (a 10 MB answer is a broken server, not a token). */
static size_t
oauth_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct oauth_buf *b = arg;
	size_t len = size * nmemb;
	char *p;

	if (len > LIMIT_INTROSPECT_BYTES - b->n) {
		b->too_big = true;
		return 0;
	}
	if ((p = realloc(b->p, b->n + len + 1)) == NULL)
		return 0;
	b->p = p;
	memcpy(b->p + b->n, data, len);
	b->n += len;
	b->p[b->n] = '\0';
	return len;
}

/*
 * "Authorization: Basic base64(urlencode(id) ":" urlencode(secret))" as
 * RFC 6749 2.3.1 wants it, into a new curl_slist entry of *hdrs.
 */
static berr
oauth_basic_header(CURL *c, const struct config *cfg, struct curl_slist **hdrs)
{
	char *id = curl_easy_escape(c, cfg->cloudship.oauth.client_id, 0);
	char *sec = curl_easy_escape(c, cfg->cloudship.oauth.client_secret, 0);
	unsigned char *pair = NULL;
	char *line = NULL;
	struct curl_slist *l;
	size_t n, m;
	berr rc = ERR_NOMEM;

	if (id == NULL || sec == NULL)
		goto out;
	n = strlen(id) + 1 + strlen(sec);
	m = 4 * ((n + 2) / 3) + 1;
	if ((pair = malloc(n + 1)) == NULL ||
	    (line = malloc(sizeof("Authorization: Basic ") + m)) == NULL)
		goto out;
	snprintf((char *)pair, n + 1, "%s:%s", id, sec);
	memcpy(line, "Authorization: Basic ", sizeof("Authorization: Basic "));
	EVP_EncodeBlock(
	    (unsigned char *)line + sizeof("Authorization: Basic ") - 1, pair,
	    (int)n);
	if ((l = curl_slist_append(*hdrs, line)) == NULL)
		goto out;
	*hdrs = l;
	rc = OK;
out:
	if (pair != NULL)
		OPENSSL_cleanse(pair, n + 1);
	if (line != NULL)
		OPENSSL_cleanse(line, strlen(line));
	free(pair);
	free(line);
	curl_free(id);
	curl_free(sec);
	return rc;
}

/*
 * Asks the authorization server about token. OK with *answer (caller puts
 * it) a JSON object whose "active" is a boolean; ERR_IO when the server
 * could not be asked or answered anything else (err says what, for the
 * log and the audit log); ERR_NOMEM.
 */
static berr
oauth_introspect(const struct config *cfg, const char *token,
    struct json_object **answer, char *err, size_t errlen)
{
	char url[2048], *tok = NULL, *id = NULL, *form = NULL;
	struct curl_slist *hdrs = NULL;
	struct oauth_buf b = { 0 };
	struct json_tokener *jt = NULL;
	struct json_object *o = NULL, *a;
	bool secret = cfg->cloudship.oauth.client_secret[0] != '\0';
	long status = 0;
	size_t flen;
	CURLcode cc;
	CURL *c = NULL;
	berr rc = ERR_NOMEM;

	*answer = NULL;
	err[0] = '\0';
	if (oauth_introspect_url(cfg, url, sizeof(url)) != OK) {
		snprintf(err, errlen, "introspection URL too long");
		rc = ERR_IO;
		goto out;
	}
	if ((c = http_easy(&(struct http_opts){ .url = url,
	         .timeout_ms = (long)cfg->cloudship.oauth.timeout * 1000L,
	         .connect_timeout_ms =
	             (long)cfg->cloudship.oauth.timeout * 1000L,
	         .user_agent = "berth-oauth" })) == NULL ||
	    (tok = curl_easy_escape(c, token, 0)) == NULL ||
	    (id = curl_easy_escape(c, cfg->cloudship.oauth.client_id, 0)) ==
	        NULL)
		goto out;
	flen = strlen(tok) + strlen(id) + 64;
	if ((form = malloc(flen)) == NULL)
		goto out;
	/* client_secret_basic when there is a secret, else the client_id
	 * parameter (a public client, RFC 6749 2.3). */
	snprintf(form, flen, "token=%s&token_type_hint=access_token%s%s", tok,
	    secret || *id == '\0' ? "" : "&client_id=", secret ? "" : id);
	if ((hdrs = curl_slist_append(NULL, "Accept: application/json")) ==
	    NULL)
		goto out;
	if (secret && oauth_basic_header(c, cfg, &hdrs) != OK)
		goto out;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, oauth_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	oauth_calls++;
	cc = curl_easy_perform(c);
	rc = ERR_IO;
	if (b.too_big) {
		snprintf(err, errlen, "answer larger than %d bytes",
		    LIMIT_INTROSPECT_BYTES);
		goto out;
	}
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(err, errlen, "HTTP status %ld", status);
		goto out;
	}
	if ((jt = json_tokener_new_ex(LIMIT_JSON_DEPTH)) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	o = b.p != NULL ? json_tokener_parse_ex(jt, b.p, (int)b.n) : NULL;
	if (o == NULL || json_tokener_get_error(jt) != json_tokener_success ||
	    jt->char_offset != (int)b.n ||
	    !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "active", &a) ||
	    !json_object_is_type(a, json_type_boolean)) {
		snprintf(err, errlen,
		    "not an RFC 7662 answer (%zu bytes, no boolean active)",
		    b.n);
		goto out;
	}
	*answer = o;
	o = NULL;
	rc = OK;
out:
	if (rc == ERR_NOMEM && err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	json_object_put(o);
	if (jt != NULL)
		json_tokener_free(jt);
	curl_slist_free_all(hdrs);
	if (form != NULL)
		OPENSSL_cleanse(form, strlen(form));
	free(form);
	curl_free(tok);
	curl_free(id);
	if (c != NULL)
		curl_easy_cleanup(c);
	free(b.p);
	return rc;
}

/* --- the checks --------------------------------------------------------- */

/* The string member key of o, or NULL. */
static const char *
oauth_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* exp of o: true and *exp set when present and numeric. */
static bool
oauth_exp(struct json_object *o, double *exp)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, "exp", &v) ||
	    !(json_object_is_type(v, json_type_int) ||
	        json_object_is_type(v, json_type_double)))
		return false;
	*exp = json_object_get_double(v);
	return isfinite(*exp);
}

/* True when the space-separated list has word. */
static bool
oauth_has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word)) != NULL) {
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

/*
 * The audience check (RFC 8707): when the answer names an audience (a
 * string or an array of them), this server's resource URL must be one.
 */
static bool
oauth_audience_ok(const struct config *cfg, struct json_object *o)
{
	struct json_object *aud, *e;
	char res[2048];
	size_t i, n;

	if (!json_object_object_get_ex(o, "aud", &aud))
		return true;
	if (oauth_resource_url(cfg, res, sizeof(res)) != OK)
		return false;
	if (json_object_is_type(aud, json_type_string))
		return strcmp(json_object_get_string(aud), res) == 0;
	if (!json_object_is_type(aud, json_type_array))
		return false;
	n = json_object_array_length(aud);
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(aud, i);
		if (json_object_is_type(e, json_type_string) &&
		    strcmp(json_object_get_string(e), res) == 0)
			return true;
	}
	return false;
}

/*
 * Checks an active answer o against this server's policy; fills email,
 * org_id and scopes of out. NULL when it passes, else the reason:
 * "expired", "audience", "org", "scope", "limits", or "no_org" (org scoping
 * is on and the station's organization is unknown: a server-side fault).
 */
static const char *
oauth_check(const struct config *cfg, const char *station_org,
    struct json_object *o, struct principal *out)
{
	const char *sub = oauth_str(o, "sub"), *org = oauth_str(o, "org_id");
	const char *scope = oauth_str(o, "scope"),
	           *email = oauth_str(o, "email");
	const struct strlist *need = &cfg->cloudship.oauth.scopes;
	double exp;
	size_t i;

	if (oauth_exp(o, &exp) && exp <= (double)time(NULL))
		return "expired";
	if (!oauth_audience_ok(cfg, o))
		return "audience";
	if (cfg->cloudship.oauth.org_scoping) {
		if (station_org == NULL || *station_org == '\0')
			station_org = cfg->cloudship.org_id;
		if (*station_org == '\0')
			return "no_org";
		if (org == NULL || strcmp(org, station_org) != 0)
			return "org";
	}
	if (scope == NULL)
		scope = "";
	for (i = 0; i < need->n; i++)
		if (!oauth_has_word(scope, need->v[i]))
			return "scope";
	if (sub == NULL || *sub == '\0' || strlen(sub) > 255 ||
	    !oauth_copy(out->scopes, sizeof(out->scopes), scope) ||
	    (org != NULL && !oauth_copy(out->org_id, sizeof(out->org_id), org)))
		return "limits";
	if (email != NULL && strlen(email) >= 3 &&
	    !oauth_copy(out->email, sizeof(out->email), email))
		out->email[0] = '\0';
	return NULL;
}

/* --- the cache and the users --------------------------------------------- */

/* The value of column name of row 0, or NULL when missing or SQL NULL. */
static const char *
oauth_col(const PGresult *res, const char *name)
{
	int c = PQfnumber(res, name);

	if (c < 0 || PQgetisnull(res, 0, c))
		return NULL;
	return PQgetvalue(res, 0, c);
}

/* Fills out->roles from {env: role, ...}; false when it does not fit. */
static bool
oauth_parse_roles(const char *text, struct principal *out)
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
		if (!oauth_copy(r->environment, sizeof(r->environment), env) ||
		    !oauth_copy(
		        r->role, sizeof(r->role), json_object_get_string(val)))
			goto out;
	}
	ok = true;
out:
	json_object_put(o);
	return ok;
}

/*
 * Writes an answer to token_cache. Best effort: a failed write costs one
 * more introspection later, not this request (logged).
 */
static void
oauth_cache_put(struct db *db, const char *hex, bool active,
    struct json_object *claims, long long user_id, int secs)
{
	char uid[32], s[16], e[32];
	const char *v[6];
	double exp;
	berr rc;

	if (secs <= 0)
		return;
	snprintf(uid, sizeof(uid), "%lld", user_id);
	snprintf(s, sizeof(s), "%d", secs);
	v[0] = hex;
	v[1] = active ? "true" : "false";
	v[2] = claims != NULL
	    ? json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN)
	    : NULL;
	v[3] = user_id > 0 ? uid : NULL;
	v[4] = s;
	v[5] = NULL;
	if (claims != NULL && oauth_exp(claims, &exp)) {
		snprintf(e, sizeof(e), "%.0f", exp);
		v[5] = e;
	}
	if ((rc = db_exec(db, "oauth_put", 6, v, NULL)) != OK)
		log_warn("oauth: caching an answer failed (%s)", err_str(rc));
}

/*
 * The Berth user of the subject of o, made on first sight. Username
 * "oauth:<sub>" when that fits the users table and is free, else
 * "oauth:<first 40 hex digits of SHA-256(sub)>" (a local user who took the
 * name, or a subject too long or with blanks). OK with *user_id set.
 */
static berr
oauth_user(struct db *db, const struct config *cfg, struct json_object *o,
    long long *user_id)
{
	const char *sub = oauth_str(o, "sub"), *email = oauth_str(o, "email");
	const char *org = oauth_str(o, "org_id"), *v[5];
	unsigned char d[APIKEY_DIGEST_LEN];
	char name[128], hex[2 * APIKEY_DIGEST_LEN + 1];
	struct audit_event ev = { 0 };
	struct json_object *det = NULL;
	PGresult *res = NULL;
	bool plain;
	int attempt;
	size_t i;
	berr rc = OK;

	*user_id = 0;
	plain = strlen(sub) <= 94 && strpbrk(sub, " \t\r\n\v\f") == NULL;
	for (i = 0; sub[i] != '\0' && plain; i++)
		if ((unsigned char)sub[i] < 0x20 || sub[i] == 0x7f)
			plain = false;
	apikey_digest(sub, d);
	hex_encode_to(d, 20, hex);
	if (email != NULL && (strlen(email) < 3 || strlen(email) > 320))
		email = NULL;
	for (attempt = plain ? 0 : 1; attempt < 2; attempt++) {
		snprintf(name, sizeof(name), "oauth:%s", attempt ? hex : sub);
		v[0] = name;
		v[1] = email;
		v[2] = org;
		v[3] = sub;
		v[4] = cfg->auth.default_role;
		PQclear(res);
		res = NULL;
		if ((rc = db_exec(db, "oauth_user", 5, v, &res)) != OK)
			goto out;
		if (PQntuples(res) >= 1)
			break;
	}
	if (res == NULL || PQntuples(res) < 1) {
		log_error(
		    "oauth: no user for subject %.6s...: name taken", sub);
		rc = ERR_DB;
		goto out;
	}
	*user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (*PQgetvalue(res, 0, 1) == 't') {
		log_info("oauth: user %s (id %lld) created on first sight, "
		         "role %s",
		    name, *user_id, cfg->auth.default_role);
		det = json_object_new_object();
		if (det != NULL) {
			json_object_object_add(det, "auth_source",
			    json_object_new_string("oauth"));
			json_object_object_add(det, "role",
			    json_object_new_string(cfg->auth.default_role));
		}
		ev.user_id = *user_id;
		ev.username = name;
		ev.action = "user.create";
		ev.resource = name;
		ev.success = true;
		ev.details = det;
		if (audit_append(db, &ev) != OK)
			log_warn(
			    "oauth: audit of user %s creation failed", name);
	}
out:
	json_object_put(det);
	PQclear(res);
	return rc;
}

/* Audits a failed introspection (best effort). */
static void
oauth_audit_failure(struct db *db, const char *hex, const char *err)
{
	struct json_object *d = json_object_new_object();
	struct audit_event ev = { 0 };
	char id[20];

	snprintf(id, sizeof(id), "%.16s", hex);
	if (d != NULL) {
		json_object_object_add(d, "error", json_object_new_string(err));
		json_object_object_add(
		    d, "token_digest_prefix", json_object_new_string(id));
	}
	ev.action = "oauth.introspect";
	ev.resource = "introspection";
	ev.success = false;
	ev.details = d;
	if (audit_append(db, &ev) != OK)
		log_warn("oauth: audit of an introspection failure failed");
	json_object_put(d);
}

/* Runs the lookup statement into *res (one row). */
static berr
oauth_lookup(struct db *db, const struct config *cfg, const char *hex,
    const char *address, PGresult **res)
{
	const char *v[3];
	berr rc;

	v[0] = hex;
	v[1] = cfg->cloudship.name;
	v[2] = address;
	*res = NULL;
	if ((rc = oauth_prepare(db)) != OK)
		return rc;
	if ((rc = db_exec(db, "oauth_lookup", 3, v, res)) != OK)
		return rc;
	if (PQntuples(*res) != 1)
		return ERR_DB;
	return OK;
}

/*
 * Fills the user part of out from a lookup row that maps to a user. NULL
 * when done, else the refusal's reason ("disabled", "limits").
 */
static const char *
oauth_fill_user(const PGresult *res, struct principal *out)
{
	const char *v;

	if ((v = oauth_col(res, "user_id")) == NULL)
		return "limits";
	out->user_id = strtoll(v, NULL, 10);
	if ((v = oauth_col(res, "username")) == NULL ||
	    !oauth_copy(out->username, sizeof(out->username), v))
		return "limits";
	if ((v = oauth_col(res, "disabled")) == NULL || *v != 'f')
		return "disabled";
	if ((v = oauth_col(res, "roles")) == NULL || !oauth_parse_roles(v, out))
		return "limits";
	return NULL;
}

/* Poll interval while another responder introspects the same token. */
#define OAUTH_WAIT_MS 50

static void
oauth_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Claims the introspection of a token (oauth_sql_claim). True when it is
 * ours, or when the claim could not be made at all (a database error: then
 * introspect anyway, the placeholder is an optimisation).
 */
static bool
oauth_claim(struct db *db, const struct config *cfg, const char *hex)
{
	char secs[16];
	const char *v[2];
	PGresult *res = NULL;
	bool ours;

	snprintf(secs, sizeof(secs), "%d", cfg->cloudship.oauth.timeout + 1);
	v[0] = hex;
	v[1] = secs;
	if (db_exec(db, "oauth_claim", 2, v, &res) != OK)
		return true;
	ours = PQntuples(res) == 1;
	PQclear(res);
	return ours;
}

/* Drops our placeholder if no answer replaced it (best effort). */
static void
oauth_release(struct db *db, const char *hex)
{
	const char *v[1] = { hex };

	if (db_exec(db, "oauth_release", 1, v, NULL) != OK)
		log_warn("oauth: dropping an introspection claim failed");
}

berr
oauth_resolve(struct db *db, const struct config *cfg, const char *token,
    const char *address, struct principal *out, const char **why)
{
	unsigned char d[APIKEY_DIGEST_LEN];
	char hex[2 * APIKEY_DIGEST_LEN + 1], shown[16], err[160];
	char station[129] = "";
	struct json_object *o = NULL, *a = NULL;
	const char *v, *reason = NULL;
	PGresult *res = NULL;
	bool hit = false, pending = false, claimed = false;
	long long uid = 0;
	int waited;
	int wait_max = (cfg->cloudship.oauth.timeout + 1) * 1000;
	berr rc = OK;

	log_secret_prefix(token, shown, sizeof(shown));
	if (!oauth_token_well_formed(token)) {
		reason = "malformed";
		goto out;
	}
	apikey_digest(token, d);
	hex_encode_to(d, sizeof(d), hex);
	out->method = AUTH_OAUTH;
	memcpy(out->token_id, hex, sizeof(hex));
	/* The cache; on a miss, claim the introspection or wait for the
	 * responder that did (bounded by the introspection timeout). */
	for (waited = 0;; waited += OAUTH_WAIT_MS) {
		PQclear(res);
		if ((rc = oauth_lookup(db, cfg, hex, address, &res)) != OK)
			goto out;
		if ((v = oauth_col(res, "locked_for")) != NULL) {
			if (parse_int(v, 1, INT_MAX, &out->retry_after) != OK)
				out->retry_after = 1;
			reason = "locked";
			goto out;
		}
		hit = (v = oauth_col(res, "hit")) != NULL && *v == 't';
		pending = (v = oauth_col(res, "pending")) != NULL && *v == 't';
		if (hit && !pending)
			break;
		if (!hit && oauth_claim(db, cfg, hex))
			break; /* ours: introspect */
		if (waited >= wait_max) {
			hit = false; /* the other responder is stuck: ask */
			break;
		}
		oauth_sleep_ms(OAUTH_WAIT_MS);
	}
	claimed = !hit;
	if ((v = oauth_col(res, "station_org")) != NULL)
		snprintf(station, sizeof(station), "%s", v);
	if (hit) {
		/* A cached answer: no introspection, the checks again (the
		 * config may have changed since). */
		if ((v = oauth_col(res, "active")) == NULL || *v != 't') {
			reason = "inactive";
			goto out;
		}
		if ((v = oauth_col(res, "claims")) == NULL ||
		    (o = json_tokener_parse(v)) == NULL) {
			reason = "inactive";
			goto out;
		}
		if ((reason = oauth_check(cfg, station, o, out)) != NULL)
			goto out;
		if (oauth_col(res, "user_id") != NULL) {
			reason = oauth_fill_user(res, out);
			goto out;
		}
		/* Accepted but never mapped (the config changed): map it. */
	} else {
		if ((rc = oauth_introspect(cfg, token, &o, err, sizeof(err))) !=
		    OK) {
			log_error("oauth: introspection #%lu of token %s "
			          "failed: %s",
			    oauth_calls, shown, err);
			oauth_audit_failure(db, hex, err);
			if (rc == ERR_IO)
				*why = oauth_why_down;
			goto out;
		}
		log_info("oauth: introspection #%lu by this process (token %s)",
		    oauth_calls, shown);
		if (!json_object_object_get_ex(o, "active", &a) ||
		    !json_object_get_boolean(a)) {
			oauth_cache_put(db, hex, false, NULL, 0,
			    cfg->cloudship.oauth.negative_cache_seconds);
			reason = "inactive";
			goto out;
		}
		if ((reason = oauth_check(cfg, station, o, out)) != NULL) {
			/* Expired or not ours: refused for a while, without
			 * asking again. */
			if (strcmp(reason, "no_org") != 0)
				oauth_cache_put(db, hex,
				    strcmp(reason, "expired") != 0,
				    strcmp(reason, "expired") != 0 ? o : NULL,
				    0,
				    cfg->cloudship.oauth.negative_cache_seconds);
			goto out;
		}
	}
	if ((rc = oauth_user(db, cfg, o, &uid)) != OK)
		goto out;
	/* The database caps the entry at the token's exp (oauth_sql_put). */
	oauth_cache_put(
	    db, hex, true, o, uid, cfg->cloudship.oauth.cache_seconds);
	PQclear(res);
	res = NULL;
	if ((rc = oauth_lookup(db, cfg, hex, address, &res)) != OK)
		goto out;
	if (oauth_col(res, "user_id") == NULL) {
		/* Expired since it was introspected, or the cache write was
		 * lost (logged): without the row there are no roles. */
		reason = "expired";
		goto out;
	}
	reason = oauth_fill_user(res, out);
out:
	if (rc == OK && reason != NULL && strcmp(reason, "no_org") == 0) {
		log_error("oauth: org scoping is on but the station's "
		          "organization is unknown (no station_status.org_id, "
		          "no cloudship.org_id): token %s refused",
		    shown);
		*why = oauth_why_down;
		rc = ERR_IO;
	} else if (rc == OK && reason != NULL) {
		if (strcmp(reason, "locked") == 0)
			log_info("oauth: token %s from locked address %s "
			         "refused (%d s left)",
			    shown, address ? address : "?", out->retry_after);
		else
			log_info("oauth: token %s refused: %s%s", shown, reason,
			    hit ? " (cached)" : "");
		snprintf(out->reason, sizeof(out->reason), "%s", reason);
		if (strcmp(reason, "scope") == 0)
			*why = oauth_why_scope;
		else
			*why = strcmp(reason, "malformed") == 0
			    ? oauth_why_invalid
			    : oauth_why_refused;
		if (strcmp(reason, "disabled") != 0 &&
		    strcmp(reason, "scope") != 0) {
			out->user_id = 0;
			out->username[0] = '\0';
		}
		out->nroles = 0;
		out->email[0] = out->org_id[0] = out->scopes[0] = '\0';
		rc = ERR_DENIED;
	} else if (rc == OK) {
		log_debug("auth: oauth token %s is %s%s", shown, out->username,
		    hit ? " (cached)" : "");
	} else if (rc != ERR_IO) {
		*why = "authentication is unavailable";
	}
	if (claimed)
		oauth_release(db, hex);
	json_object_put(o);
	PQclear(res);
	return rc;
}
