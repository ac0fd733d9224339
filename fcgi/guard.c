/*
 * guard.c - the authentication gate of protected endpoints. See guard.h.
 *
 * The address lockout is checked inside principal_resolve()'s one
 * statement, so a request with a good key costs one round trip in all; a
 * request that never reaches the database (no or malformed token) learns of
 * the lock when its failure is recorded. A failure is recorded once per
 * request. Audit writes are best effort on this path: an audit outage must not
 * turn every refusal into a 500, so its failure is logged, not answered.
 */
#include "guard.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "authcache.h"
#include "authfail.h"
#include "config.h"
#include "log.h"
#include "oauth.h"

/* Seconds a client is asked to wait when the database is unreachable. */
#define GUARD_DB_RETRY_AFTER 5

berr
guard_init(struct worker_ctx *ctx)
{
	berr rc;

	if ((rc = principal_prepare(ctx->db)) != OK ||
	    (rc = oauth_prepare(ctx->db)) != OK)
		return rc;
	return authfail_prepare(ctx->db);
}

/* The client address when it is an IP address (audit_log.ip_address is
 * inet), else NULL: a unix-socket front end may pass something else. */
static const char *
guard_ip(const struct request *req)
{
	unsigned char buf[sizeof(struct in6_addr)];
	const char *a = req->remote_addr;

	if (a == NULL || *a == '\0')
		return NULL;
	if (inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1)
		return a;
	return NULL;
}

/*
 * Appends one audit row about this request (best effort, see above). p may
 * be NULL or hold only what a refusal left in it (a known key's owner).
 */
static void
guard_audit(struct worker_ctx *ctx, struct request *req, const char *action,
    const struct principal *p, const char *reason, int retry_after)
{
	struct json_object *d = json_object_new_object();
	struct audit_event ev = { 0 };
	berr rc;

	if (d != NULL) {
		if (reason != NULL && *reason != '\0')
			json_object_object_add(
			    d, "reason", json_object_new_string(reason));
		if (p != NULL && p->method != AUTH_NONE) {
			json_object_object_add(d, "auth_method",
			    json_object_new_string(
			        principal_method_name(p->method)));
			if (p->token_id[0] != '\0')
				json_object_object_add(d, "token_id",
				    json_object_new_string(p->token_id));
		}
		if (retry_after > 0)
			json_object_object_add(
			    d, "retry_after", json_object_new_int(retry_after));
		json_object_object_add(
		    d, "request_id", json_object_new_string(req->request_id));
		json_object_object_add(
		    d, "path", json_object_new_string(req->path));
	}
	ev.user_id = p != NULL ? p->user_id : 0;
	ev.username = p != NULL && p->username[0] != '\0' ? p->username : NULL;
	ev.action = action;
	ev.resource = req->path;
	ev.ip_address = guard_ip(req);
	ev.success = false;
	ev.details = d;
	if ((rc = audit_append(ctx->db, &ev)) != OK)
		log_warn("auth: audit of %s failed (%s); request %s from %s",
		    action, err_str(rc), req->request_id,
		    req->remote_addr[0] ? req->remote_addr : "?");
	json_object_put(d);
}

/* 429 with Retry-After: the address is locked. */
static void
guard_reply_locked(struct request *req, int retry_after)
{
	char hdr[64], msg[128];

	snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", retry_after);
	snprintf(msg, sizeof(msg),
	    "too many failed authentication attempts; retry in %d seconds",
	    retry_after);
	request_reply_error(req, 429, "too_many_requests", msg, hdr);
}

/* 503 with Retry-After: the database (and so every credential) is out of
 * reach; the client should come back, not give up its key. */
static void
guard_reply_down(struct request *req)
{
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", GUARD_DB_RETRY_AFTER);
	request_reply_error(req, 503, "service_unavailable",
	    "the database is unreachable; try again shortly", hdr);
}

/*
 * The WWW-Authenticate line of a 401 (status 401) or 403 into buf. With
 * OAuth on (oauth.h), RFC 9728 section 5.1: resource_metadata points the
 * client at the metadata of /mcp, scope names what a token needs;
 * error="invalid_token" only when a token was presented (RFC 6750 3.1),
 * error="insufficient_scope" for a 403.
 */
static void
guard_www_authenticate(const struct worker_ctx *ctx, int status, bool presented,
    char *buf, size_t size)
{
	char meta[1024], scope[512];
	const char *err = status == 403 ? ", error=\"insufficient_scope\""
	    : presented                 ? ", error=\"invalid_token\""
	                                : "";
	int n;

	if (!oauth_active(ctx->cfg) ||
	    oauth_metadata_url(ctx->cfg, meta, sizeof(meta)) != OK ||
	    oauth_scope_string(ctx->cfg, scope, sizeof(scope)) != OK) {
		snprintf(buf, size,
		    "WWW-Authenticate: Bearer realm=\"berth\"%s\r\n", err);
		return;
	}
	n = snprintf(buf, size,
	    "WWW-Authenticate: Bearer resource_metadata=\"%s\"%s%s%s%s\r\n",
	    meta, *scope ? ", scope=\"" : "", scope, *scope ? "\"" : "", err);
	if (n < 0 || (size_t)n >= size)
		snprintf(buf, size,
		    "WWW-Authenticate: Bearer realm=\"berth\"%s\r\n", err);
}

/* 503 with Retry-After: an OAuth token could not be checked (the
 * authorization server is down, slow or broken): fail closed. */
static void
guard_reply_oauth_down(struct request *req, const char *why)
{
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", GUARD_DB_RETRY_AFTER);
	request_reply_error(req, 503, "service_unavailable",
	    why != NULL ? why : "the authorization server cannot be reached",
	    hdr);
}

berr
guard_principal(
    struct worker_ctx *ctx, struct request *req, struct principal *p)
{
	const char *addr = req->remote_addr[0] ? req->remote_addr : NULL;
	const char *auth = request_param(req, REQ_AUTHORIZATION);
	const char *why = NULL;
	char www[1536];
	int retry = 0;
	berr rc, lrc;

	rc = principal_resolve(ctx->db, ctx->cfg, auth, addr, p, &why);
	if (rc == OK)
		return OK;
	if (rc != ERR_DENIED && rc != ERR_TOO_BIG)
		goto fail;
	if (strcmp(p->reason, "scope") == 0) {
		/* Authenticated, not enough: 403, not a guess to count. */
		log_info("auth: request %s: token of %s lacks a scope",
		    req->request_id, p->username);
		guard_audit(ctx, req, "auth_failed", p, p->reason, 0);
		guard_www_authenticate(ctx, 403, true, www, sizeof(www));
		request_reply_error(req, 403, "insufficient_scope", why, www);
		return ERR_DENIED;
	}
	if (strcmp(p->reason, "locked") == 0) {
		retry = p->retry_after;
		log_info("auth: %s locked (%d s left); request %s refused",
		    addr ? addr : "?", retry, req->request_id);
		guard_audit(
		    ctx, req, "auth.locked", NULL, "address_locked", retry);
		guard_reply_locked(req, retry);
		return ERR_DENIED;
	}

	/* A refusal: count it against the address, audit it, answer. */
	/* No credentials at all is not a guess (MCP clients start that way,
	 * then follow the 401): counting it would let anyone lock out every
	 * user behind one address (NAT, proxy). */
	lrc = strcmp(p->reason, "missing") == 0
	    ? OK
	    : authfail_record(ctx->db, ctx->cfg, NULL, addr, &retry);
	if (lrc != OK && lrc != ERR_DENIED)
		log_warn("auth: could not count the failure from %s (%s)",
		    addr ? addr : "?", err_str(lrc));
	/* A lock that may have just started: from the answer on, no worker
	 * may accept a credential from this address out of its cache. */
	if (lrc == ERR_DENIED && authcache_barrier(ctx->db) != OK)
		log_warn("auth: lock of %s not confirmed by every responder",
		    addr ? addr : "?");
	/* principal_resolve() logged the precise reason already. */
	log_debug("auth: request %s from %s refused: %s", req->request_id,
	    addr ? addr : "?", p->reason);
	/* issue 5: an expired login session has an action of its own. */
	guard_audit(ctx, req,
	    p->method == AUTH_SESSION && strcmp(p->reason, "expired") == 0
	        ? "session_expired"
	        : "auth_failed",
	    p, p->reason, lrc == ERR_DENIED ? retry : 0);
	if (lrc == ERR_DENIED) {
		guard_reply_locked(req, retry);
		return ERR_DENIED;
	}
	guard_www_authenticate(
	    ctx, 401, principal_has_bearer(auth), www, sizeof(www));
	request_reply_error(req, 401, "unauthorized", why, www);
	return rc;
fail:
	if (rc == ERR_IO) {
		guard_reply_oauth_down(req, why);
	} else if (rc == ERR_DB_DOWN) {
		guard_reply_down(req);
	} else {
		log_error("auth: request %s: %s", req->request_id, err_str(rc));
		request_reply_error(req, 500, "internal_error",
		    "authentication failed on the server side", NULL);
	}
	return rc;
}
