/*
 * auth_login.c - POST /auth/login. See auth_login.h.
 *
 * Order of work: cheap syntax (Content-Type, size, JSON shape) before any
 * database access; the lockout check before any password hashing, so a
 * locked account costs no scrypt; then exactly one scrypt verification
 * whatever the user's state (a dummy hash stands in for a user who has
 * none), so the answer's timing does not tell whether a user exists.
 */
#include "auth_login.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "audit.h"
#include "authfail.h"
#include "config.h"
#include "crypto.h"
#include "limit.h"
#include "log.h"
#include "password.h"
#include "session.h"
#include "upstream.h"
#include "validate.h"

/* A valid scrypt hash of a password nobody knows, with the parameters of
 * new hashes: verified when the user has no hash of its own, so that
 * unknown users cost the same time as known ones. */
static const char auth_login_dummy_hash[] =
    "scrypt$32768$8$1$Pk/QDjAYqtYovYJ7SWn4cw==$"
    "yxnk9dLTeYnUKqSqeydxK3f1Yd2ZIPOFdrnTU/9u1Ww=";

static const char auth_login_refused[] = "invalid username or password";

static const char auth_login_sql_user[] =
    "SELECT id, password_hash, disabled FROM users WHERE username = $1";

/* Creates the user on first upstream login (or finds them), with the
 * default role in the default environment for a new one. $1 username,
 * $2 environment, $3 role. */
static const char auth_login_sql_upsert[] =
    "WITH ins AS ("
    " INSERT INTO users (username, auth_source) VALUES ($1, 'upstream')"
    " ON CONFLICT (username) DO NOTHING RETURNING id"
    "), role AS ("
    " INSERT INTO user_roles (user_id, environment, role)"
    " SELECT id, $2, $3 FROM ins RETURNING user_id"
    ") "
    "SELECT id, false AS disabled, true AS created FROM ins "
    "UNION ALL "
    "SELECT id, disabled, false FROM users WHERE username = $1"
    " AND NOT EXISTS (SELECT 1 FROM ins)";

berr
auth_login_init(struct worker_ctx *ctx)
{
	berr rc;

	if ((rc = db_prepare(
	         ctx->db, "auth_login_user", auth_login_sql_user, 1)) != OK ||
	    (rc = db_prepare(
	         ctx->db, "auth_login_upsert", auth_login_sql_upsert, 3)) != OK)
		return rc;
	return authfail_prepare(ctx->db);
}

/* The client address when it is an IP address, else NULL. */
static const char *
auth_login_ip(const struct request *req)
{
	unsigned char buf[sizeof(struct in6_addr)];
	const char *a = req->remote_addr;

	if (a == NULL || *a == '\0')
		return NULL;
	if (inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1)
		return a;
	return NULL;
}

/* One audit row (best effort: logged, not answered, when it fails). */
static void
auth_login_audit(struct worker_ctx *ctx, struct request *req,
    const char *action, long long user_id, const char *username, bool ok,
    const char *reason, const char *method, long long session_id)
{
	struct json_object *d = json_object_new_object();
	struct audit_event ev = { 0 };
	berr rc;

	if (d != NULL) {
		if (reason != NULL)
			json_object_object_add(
			    d, "reason", json_object_new_string(reason));
		if (method != NULL)
			json_object_object_add(
			    d, "method", json_object_new_string(method));
		if (session_id > 0)
			json_object_object_add(
			    d, "session_id", json_object_new_int64(session_id));
		json_object_object_add(
		    d, "request_id", json_object_new_string(req->request_id));
	}
	ev.user_id = user_id;
	ev.username = username;
	ev.action = action;
	ev.resource = "/auth/login";
	ev.ip_address = auth_login_ip(req);
	ev.success = ok;
	ev.details = d;
	if ((rc = audit_append(ctx->db, &ev)) != OK)
		log_warn("login: audit of %s failed (%s); request %s", action,
		    err_str(rc), req->request_id);
	json_object_put(d);
}

static void
auth_login_reply_locked(struct request *req, int retry_after)
{
	char hdr[64], msg[128];

	snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", retry_after);
	snprintf(msg, sizeof(msg),
	    "too many failed login attempts; retry in %d seconds", retry_after);
	request_reply_error(req, 429, "too_many_requests", msg, hdr);
}

static void
auth_login_reply_db(struct request *req, berr rc)
{
	if (rc == ERR_DB_DOWN)
		request_reply_error(req, 503, "service_unavailable",
		    "the database is unreachable; try again shortly",
		    "Retry-After: 5\r\n");
	else
		request_reply_error(req, 500, "internal_error",
		    "login failed on the server side", NULL);
}

/*
 * True when the Content-Type is application/json (parameters such as
 * charset allowed).
 */
static bool
auth_login_is_json(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/*
 * Reads field name of o as a string of 1..max bytes without NUL. OK with
 * *out borrowed from o; otherwise *why says what is wrong with it.
 */
static berr
auth_login_field(struct json_object *o, const char *name, size_t max,
    const char **out, char *why, size_t whylen)
{
	struct json_object *v;
	size_t len;

	if (!json_object_object_get_ex(o, name, &v) || v == NULL) {
		snprintf(why, whylen, "%s is required", name);
		return ERR_INVALID;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(why, whylen, "%s must be a string", name);
		return ERR_INVALID;
	}
	*out = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > max || strlen(*out) != len) {
		snprintf(why, whylen,
		    "%s must be 1 to %zu bytes without NUL characters", name,
		    max);
		return ERR_INVALID;
	}
	return OK;
}

/*
 * Parses the body: a JSON object with string username and password. OK
 * with *obj owned by the caller; else a 400 was answered.
 */
static berr
auth_login_parse(struct request *req, struct json_object **obj,
    const char **username, const char **password)
{
	struct json_tokener *tok = json_tokener_new_ex(LIMIT_JSON_DEPTH);
	struct json_object *o = NULL;
	char why[160];
	size_t i;
	berr rc = ERR_INVALID;

	*obj = NULL;
	if (tok == NULL) {
		request_reply_error(
		    req, 500, "internal_error", "out of memory", NULL);
		return ERR_NOMEM;
	}
	o = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		request_reply_error(req, 400, "invalid_json",
		    "the body is not valid JSON", NULL);
		goto out;
	}
	/* Only whitespace may follow the object. */
	for (i = json_tokener_get_parse_end(tok); i < req->body_len; i++)
		if (strchr(" \t\r\n", req->body[i]) == NULL) {
			request_reply_error(req, 400, "invalid_json",
			    "trailing data after the JSON object", NULL);
			goto out;
		}
	if (!json_object_is_type(o, json_type_object)) {
		request_reply_error(req, 400, "invalid_request",
		    "the body must be a JSON object {\"username\", "
		    "\"password\"}",
		    NULL);
		goto out;
	}
	if (auth_login_field(o, "username", 4 * VALIDATE_NAME_MAX, username,
	        why, sizeof(why)) != OK ||
	    auth_login_field(o, "password", PASSWORD_MAX_LEN, password, why,
	        sizeof(why)) != OK) {
		request_reply_error(req, 400, "invalid_request", why, NULL);
		goto out;
	}
	/* A username is a name (1-100 characters, UTF-8, no controls) and
	 * has no spaces (the users table's rule). */
	if (validate_name("username", *username, why, sizeof(why)) != OK) {
		request_reply_error(req, 400, "invalid_request", why, NULL);
		goto out;
	}
	if (strpbrk(*username, " \t\r\n\v\f") != NULL) {
		request_reply_error(req, 400, "invalid_request",
		    "username must not contain spaces", NULL);
		goto out;
	}
	*obj = o;
	o = NULL;
	rc = OK;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

/* What the database says about username. */
struct auth_login_user {
	bool found, disabled;
	long long id;
	char hash[PASSWORD_HASH_MAX];
};

static berr
auth_login_lookup(
    struct worker_ctx *ctx, const char *username, struct auth_login_user *u)
{
	const char *values[1] = { username };
	PGresult *res = NULL;
	berr rc;

	memset(u, 0, sizeof(*u));
	if ((rc = auth_login_init(ctx)) != OK ||
	    (rc = db_exec(ctx->db, "auth_login_user", 1, values, &res)) != OK)
		goto out;
	if (PQntuples(res) == 1 && PQfnumber(res, "id") >= 0 &&
	    PQfnumber(res, "password_hash") >= 0 &&
	    PQfnumber(res, "disabled") >= 0) {
		u->found = true;
		u->id =
		    strtoll(PQgetvalue(res, 0, PQfnumber(res, "id")), NULL, 10);
		u->disabled =
		    *PQgetvalue(res, 0, PQfnumber(res, "disabled")) == 't';
		if (!PQgetisnull(res, 0, PQfnumber(res, "password_hash")))
			snprintf(u->hash, sizeof(u->hash), "%s",
			    PQgetvalue(
			        res, 0, PQfnumber(res, "password_hash")));
	}
out:
	PQclear(res);
	return rc;
}

/* What the transaction of a successful login needs and gives back. */
struct auth_login_tx {
	const struct config *cfg;
	const struct crypto_key *key;
	const char *username;
	const char *client_ip;
	long long user_id;  /* in: a local user; out: the user */
	const char *apikey; /* NULL: local login, no secret */
	bool created, disabled;
	char token[SESSION_TOKEN_LEN + 1];
	char expires_at[SESSION_TIME_MAX];
	long long session_id;
};

/*
 * The write half of a login, in one transaction: the user (created on a
 * first upstream login), the sealed upstream key, the session. Safe to run
 * again (db_tx retries serialisation failures).
 */
static berr
auth_login_tx_fn(struct db *db, void *arg)
{
	struct auth_login_tx *t = arg;
	const char *values[3];
	unsigned char ad[CRYPTO_AD_MAX], iv[CRYPTO_IV_LEN], *ct = NULL;
	size_t adlen, ctlen = 0;
	struct session_secret sec;
	PGresult *res = NULL;
	berr rc = OK;

	t->created = t->disabled = false;
	if (t->apikey != NULL) {
		values[0] = t->username;
		values[1] = t->cfg->auth.default_environment;
		values[2] = t->cfg->auth.default_role;
		if ((rc = db_exec(db, "auth_login_upsert", 3, values, &res)) !=
		    OK)
			goto out;
		if (PQntuples(res) != 1 || PQfnumber(res, "id") < 0 ||
		    PQfnumber(res, "disabled") < 0 ||
		    PQfnumber(res, "created") < 0) {
			rc = ERR_DB;
			goto out;
		}
		t->user_id =
		    strtoll(PQgetvalue(res, 0, PQfnumber(res, "id")), NULL, 10);
		t->disabled =
		    *PQgetvalue(res, 0, PQfnumber(res, "disabled")) == 't';
		t->created =
		    *PQgetvalue(res, 0, PQfnumber(res, "created")) == 't';
		if (t->disabled) {
			rc = ERR_DENIED;
			goto out;
		}
		if ((adlen = crypto_ad(t->user_id, t->cfg->upstream.name, ad,
		         sizeof(ad))) == 0) {
			rc = ERR_INVALID;
			goto out;
		}
		if ((rc = crypto_seal(t->key, (const unsigned char *)t->apikey,
		         strlen(t->apikey), ad, adlen, iv, &ct, &ctlen)) != OK)
			goto out;
		sec.upstream = t->cfg->upstream.name;
		sec.ct = ct;
		sec.ctlen = ctlen;
		sec.iv = iv;
		sec.key_id = t->key->id;
	}
	rc = session_create(db, t->user_id, t->cfg->sessions.ttl_days,
	    t->client_ip, t->apikey != NULL ? &sec : NULL, t->token,
	    sizeof(t->token), &t->session_id, t->expires_at);
out:
	free(ct);
	PQclear(res);
	return rc;
}

/* 200 {"session_token", "expires_at", "user"}. */
static void
auth_login_reply_ok(struct request *req, const struct auth_login_tx *t)
{
	struct json_object *o = json_object_new_object(), *u;

	if (o == NULL || (u = json_object_new_object()) == NULL) {
		json_object_put(o);
		request_reply_error(
		    req, 500, "internal_error", "out of memory", NULL);
		return;
	}
	json_object_object_add(
	    o, "session_token", json_object_new_string(t->token));
	json_object_object_add(
	    o, "expires_at", json_object_new_string(t->expires_at));
	json_object_object_add(o, "user", u);
	json_object_object_add(u, "id", json_object_new_int64(t->user_id));
	json_object_object_add(
	    u, "username", json_object_new_string(t->username));
	json_object_object_add(u, "source",
	    json_object_new_string(t->apikey != NULL ? "upstream" : "local"));
	request_reply_json(req, 200, o, NULL);
	/* The serialised token lives in o until freed: wipe it. */
	{
		struct json_object *tok;

		if (json_object_object_get_ex(o, "session_token", &tok))
			OPENSSL_cleanse((void *)json_object_get_string(tok),
			    (size_t)json_object_get_string_len(tok));
	}
	json_object_put(o);
}

/*
 * A refused login: counts it (account and address), audits it, answers
 * 401, or 429 when this failure locked a subject.
 */
static void
auth_login_refuse(struct worker_ctx *ctx, struct request *req,
    const char *username, long long user_id, const char *reason)
{
	const char *addr = auth_login_ip(req);
	int retry = 0;
	berr rc;

	rc = authfail_record(ctx->db, ctx->cfg, username, addr, &retry);
	if (rc != OK && rc != ERR_DENIED)
		log_warn("login: could not count the failure of %s (%s)",
		    req->request_id, err_str(rc));
	log_info("login: request %s from %s refused: %s", req->request_id,
	    addr ? addr : "?", reason);
	auth_login_audit(
	    ctx, req, "auth_failed", user_id, username, false, reason, NULL, 0);
	if (rc == ERR_DENIED)
		auth_login_reply_locked(req, retry);
	else
		request_reply_error(
		    req, 401, "unauthorized", auth_login_refused, NULL);
}

/* Upstream trouble: 502 or 504, audited, not counted as a guess. */
static void
auth_login_upstream_error(struct worker_ctx *ctx, struct request *req,
    const char *username, enum upstream_fail f, const char *detail)
{
	static const char *const reasons[] = {
		[UPSTREAM_DOWN] = "upstream_down",
		[UPSTREAM_TIMEOUT] = "upstream_timeout",
		[UPSTREAM_TOO_BIG] = "upstream_too_big",
		[UPSTREAM_GARBAGE] = "upstream_garbage",
		[UPSTREAM_INTERNAL] = "upstream_internal",
	};
	const char *reason = (size_t)f < sizeof(reasons) / sizeof(reasons[0]) &&
	        reasons[f] != NULL
	    ? reasons[f]
	    : "upstream_internal";

	log_warn("login: request %s: upstream: %s (%s)", req->request_id,
	    upstream_fail_str(f), detail);
	auth_login_audit(
	    ctx, req, "auth_failed", 0, username, false, reason, NULL, 0);
	if (f == UPSTREAM_TIMEOUT)
		request_reply_error(
		    req, 504, "upstream_timeout", upstream_fail_str(f), NULL);
	else if (f == UPSTREAM_INTERNAL)
		request_reply_error(
		    req, 500, "internal_error", upstream_fail_str(f), NULL);
	else
		request_reply_error(
		    req, 502, "upstream_error", upstream_fail_str(f), NULL);
}

void
auth_login_handle(struct worker_ctx *ctx, struct request *req)
{
	struct json_object *body = NULL;
	const char *username = NULL, *password = NULL;
	const char *addr = auth_login_ip(req);
	struct auth_login_user u;
	struct auth_login_tx t;
	enum upstream_fail f;
	char *apikey = NULL, detail[160];
	int retry = 0;
	berr rc, vrc;

	memset(&t, 0, sizeof(t));
	if (!auth_login_is_json(request_param(req, REQ_CONTENT_TYPE))) {
		request_reply_error(req, 415, "unsupported_media_type",
		    "send the credentials as application/json", NULL);
		return;
	}
	if (request_read_body(req, LIMIT_LOGIN_BODY_BYTES) != OK)
		return; /* answered */
	if (auth_login_parse(req, &body, &username, &password) != OK)
		return; /* answered */

	/* Locked account or address: no hashing, no upstream call. */
	rc = authfail_check(ctx->db, username, addr, &retry);
	if (rc == ERR_DENIED) {
		log_info("login: request %s: %s or %s locked (%d s)",
		    req->request_id, username, addr ? addr : "?", retry);
		auth_login_audit(ctx, req, "auth.locked", 0, username, false,
		    "locked", NULL, 0);
		auth_login_reply_locked(req, retry);
		goto out;
	}
	if (rc != OK || (rc = auth_login_lookup(ctx, username, &u)) != OK) {
		auth_login_reply_db(req, rc);
		goto out;
	}

	t.cfg = ctx->cfg;
	t.key = ctx->key;
	t.username = username;
	t.client_ip = addr;
	if (u.found && u.hash[0] != '\0') {
		/* A local password decides; the upstream is not asked. */
		vrc = password_verify(password, u.hash);
		if (vrc != OK || u.disabled) {
			auth_login_refuse(ctx, req, username, u.id,
			    vrc == ERR_INVALID ? "bad_stored_hash"
			        : u.disabled   ? "disabled"
			                       : "bad_password");
			goto out;
		}
		t.user_id = u.id;
	} else if (!upstream_configured(ctx->cfg) || ctx->key == NULL ||
	    (u.found && u.disabled)) {
		/* The same scrypt work as a real check, then the same 401. */
		(void)!password_verify(password, auth_login_dummy_hash);
		auth_login_refuse(ctx, req, username, u.found ? u.id : 0,
		    !u.found         ? "unknown_user"
		        : u.disabled ? "disabled"
		                     : "no_password");
		goto out;
	} else {
		/* Equal time with the local path: the scrypt work first. */
		(void)!password_verify(password, auth_login_dummy_hash);
		f = upstream_login(ctx->cfg, username, password, &apikey,
		    detail, sizeof(detail));
		if (f == UPSTREAM_REFUSED) {
			auth_login_refuse(ctx, req, username,
			    u.found ? u.id : 0, "upstream_refused");
			goto out;
		}
		if (f != UPSTREAM_OK) {
			auth_login_upstream_error(
			    ctx, req, username, f, detail);
			goto out;
		}
		t.apikey = apikey;
	}

	rc = db_tx(ctx->db, auth_login_tx_fn, &t);
	if (rc == ERR_DENIED) { /* disabled, seen inside the transaction */
		auth_login_refuse(ctx, req, username, t.user_id, "disabled");
		goto out;
	}
	if (rc != OK) {
		log_error("login: request %s: storing the session failed (%s)",
		    req->request_id, err_str(rc));
		auth_login_reply_db(req, rc);
		goto out;
	}
	if ((rc = authfail_clear(ctx->db, username)) != OK)
		log_warn("login: could not clear the failures of %s (%s)",
		    username, err_str(rc));
	log_info("login: %s (user %lld) logged in via %s, session %lld%s",
	    username, t.user_id, t.apikey != NULL ? "upstream" : "password",
	    t.session_id, t.created ? " (new user)" : "");
	auth_login_audit(ctx, req, "login", t.user_id, username, true, NULL,
	    t.apikey != NULL ? "upstream" : "password", t.session_id);
	if (t.created)
		auth_login_audit(ctx, req, "user.create", t.user_id, username,
		    true, "first_upstream_login", "upstream", 0);
	auth_login_reply_ok(req, &t);
out:
	OPENSSL_cleanse(t.token, sizeof(t.token));
	if (apikey != NULL) {
		OPENSSL_cleanse(apikey, strlen(apikey));
		free(apikey);
	}
	if (password != NULL)
		OPENSSL_cleanse((void *)password, strlen(password));
	/* The raw body holds the password too. */
	if (req->body != NULL)
		OPENSSL_cleanse(req->body, req->body_len);
	json_object_put(body);
}
