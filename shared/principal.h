/*
 * principal.h - who is making this request: one function, used by every
 * endpoint, from the Authorization header to a principal or a refusal.
 *
 * Today a principal comes from a Station-compatible API key ("Bearer sk-…").
 * The session tokens of /auth/login (issue 5) and OAuth access tokens
 * (issue 6) plug into principal_resolve() as further branches; callers do
 * not change. The hot path is one prepared statement: key digest → key,
 * user and every per-environment role in one round trip, with the
 * last_used_at write folded into the same statement and throttled.
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

struct principal {
	long long user_id;
	char username[101];
	char email[321];
	char org_id[129];
	enum auth_method method;
	char token_id[65]; /* api_keys.id, sessions.id, or token digest hex */
	size_t nroles;
	struct principal_role roles[PRINCIPAL_MAX_ROLES];
};

/* "api_key", "session", "oauth", "none". */
const char *principal_method_name(enum auth_method m);

/* Registers the prepared statements on db. Call once per connection owner. */
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
 *   ERR_DB_DOWN   the database is unreachable (answer 503).
 * The caller answers 401 with WWW-Authenticate for ERR_DENIED/ERR_TOO_BIG.
 */
berr principal_resolve(struct db *db, const struct config *cfg,
    const char *authorization, struct principal *out, const char **why)
    __attribute__((warn_unused_result));

/* The role of p in environment (exact match, else "*", else "none"). */
const char *principal_role_in(
    const struct principal *p, const char *environment);

#endif
