/*
 * principal.h - who is making this request: one function, used by every
 * endpoint, from the Authorization header to a principal or a refusal.
 *
 * Today a principal comes from a Station-compatible API key ("Bearer sk-…").
 * The session tokens of /auth/login (issue 5) and OAuth access tokens
 * (issue 6) plug into principal_resolve() as further branches; callers do
 * not change. A lookup is one prepared read-only statement: key digest →
 * key, user and every per-environment role in one round trip; the
 * throttled last_used_at write is a second statement, sent only when the
 * stored value is older than auth.key_touch_interval. In berth-fcgi a
 * successful API-key or session lookup is then kept by authcache.h (this
 * module decides what and for how long; that one owns the cache and the
 * rules that keep a revoked key refused on its very next request).
 *
 * A struct principal is a plain value (fixed-size arrays, no pointers): the
 * caller owns it, copies it freely, frees nothing.
 */
#ifndef BERTH_PRINCIPAL_H
#define BERTH_PRINCIPAL_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "err.h"

struct config;

enum auth_method {
	AUTH_NONE = 0, /* no credentials (local_mode only) */
	AUTH_API_KEY,  /* Bearer sk-… */
	AUTH_SESSION,  /* Bearer session token of /auth/login (issue 5) */
	AUTH_OAUTH,    /* Bearer OAuth access token (issue 6) */
};

#define PRINCIPAL_MAX_ROLES 32

/* A user's role in one environment; environment "*" means every one. */
struct principal_role {
	char environment[65];
	char role[65];
};

/*
 * username and email are sized for the schema's limits in characters (100
 * and 320) at 4 bytes each: UTF-8 names must not be cut. A value that does
 * not fit (org_id over 128 bytes, more than PRINCIPAL_MAX_ROLES roles) makes
 * principal_resolve() refuse, never truncate: a cut role list could change
 * what the principal may do.
 */
struct principal {
	long long user_id; /* 0 = none */
	char username[401];
	char email[1281]; /* "" when none */
	char org_id[129]; /* "" when none */
	enum auth_method method;
	char token_id[65]; /* api_keys.id, sessions.id, or token digest hex */
	char scopes[512];  /* OAuth: the token's scopes, space separated */
	size_t nroles;
	struct principal_role roles[PRINCIPAL_MAX_ROLES];
	/*
	 * After a refusal only: a short code of the precise reason, for logs
	 * and the audit log, never for the client: "missing", "scheme",
	 * "too_big", "malformed", "unknown", "revoked", "expired",
	 * "disabled", "limits", "locked"; OAuth (oauth.h) adds "inactive",
	 * "audience", "org", "scope" (answered 403 insufficient_scope). For
	 * a known key (revoked, expired, disabled) user_id, username, method
	 * and token_id are also set, so the refusal can be audited against
	 * its owner. "" after a success.
	 */
	char reason[16];
	/* reason "locked": seconds until the client address may try again. */
	int retry_after;
};

/* "api_key", "session", "oauth", "none". */
const char *principal_method_name(enum auth_method m);

/* Registers the prepared statements on db. Call once per connection owner
 * (principal_resolve() also registers them itself when needed). */
berr principal_prepare(struct db *db) __attribute__((warn_unused_result));

/*
 * Resolves authorization (the raw Authorization header value; NULL or ""
 * when absent) into *out. Returns:
 *   OK            *out filled;
 *   ERR_DENIED    no, malformed, unknown, revoked or expired credentials, or
 *                 a disabled user: *why (static string, safe to send to the
 *                 client, never says which of unknown/revoked/expired) set;
 *                 the precise reason is logged with the token's first 6
 *                 characters only;
 *   ERR_TOO_BIG   header longer than LIMIT_AUTH_HEADER_BYTES (*why set);
 *   ERR_DENIED with out->reason "locked" and out->retry_after set: address
 *                 (the client's, may be NULL) is locked out by authfail.h;
 *                 checked in the same statement as the key, so a request
 *                 with a good key costs one round trip in all. Requests
 *                 that never reach the database (no or malformed token)
 *                 learn of the lock from authfail_record() instead.
 *   ERR_IO        an OAuth token could not be checked: the authorization
 *                 server is unreachable or answered garbage (answer 503;
 *                 fail closed, see oauth.h);
 *   ERR_DB_DOWN   the database is unreachable (answer 503);
 *   ERR_DB        the statement failed (a bug or a broken schema: 500).
 * *out is zeroed first; on refusal only out->reason (and, for a known key,
 * the owner fields, see above) are set.
 * The caller answers 401 with WWW-Authenticate for ERR_DENIED/ERR_TOO_BIG.
 */
berr principal_resolve(struct db *db, const struct config *cfg,
    const char *authorization, const char *address, struct principal *out,
    const char **why) __attribute__((warn_unused_result));

/*
 * True when authorization presents a bearer token: scheme "Bearer" (any
 * case), one space, something after it. RFC 6750 wants error="invalid_token"
 * in WWW-Authenticate only then, not for a request without credentials.
 * Reads at most LIMIT_AUTH_HEADER_BYTES + 1 bytes.
 */
bool principal_has_bearer(const char *authorization);

/*
 * Fills out->roles from a JSON object {environment: role, ...} (as the
 * statements here aggregate user_roles). false when it is not such an
 * object or does not fit the principal: callers refuse then, never use a
 * cut role list. Also used by runner.c for the user who queued a run.
 */
bool principal_parse_roles(const char *text, struct principal *out);

/* The role of p in an environment is decided by authz.h alone
 * (authz_may()), the one place that reads roles[]. */

#endif
