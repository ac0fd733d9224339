/*
 * oauth.h - Berth as an OAuth 2.1 protected resource (issue 6): what the
 * RFC 9728 metadata says, and from an OAuth access token to a principal.
 *
 * A token is checked by RFC 7662 introspection at the authorization server
 * (CloudShip, or the configured issuer), and the answer is shared by every
 * responder through the token_cache table, keyed by the token's SHA-256:
 * an accepted answer lives at most cloudship.oauth.cache_seconds (<= 300)
 * and never past the token's exp, a refused one negative_cache_seconds.
 * When the authorization server cannot be asked, cached answers are still
 * honoured until they expire and everything else is refused (ERR_IO: the
 * caller answers 503). docs/SECURITY.md ("OAuth") gives every decision and
 * its reason.
 *
 * Nothing here keeps a pointer to its arguments; the principal is the
 * caller's plain value (principal.h).
 */
#ifndef BERTH_OAUTH_H
#define BERTH_OAUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "err.h"
#include "principal.h"

struct config;

/* True when OAuth bearer tokens are accepted: cloudship.oauth.enabled and
 * not local_mode. cfg may be NULL (false). */
bool oauth_active(const struct config *cfg);

/*
 * Writes into buf (size bytes) this server's resource URL
 * ("<http.public_url>/mcp"), the authorization server named in the metadata
 * (cloudship.oauth.issuer, else cloudship.base_url), the introspection
 * endpoint (cloudship.oauth.introspect_url, else
 * "<cloudship.base_url>/oauth/introspect"), or the metadata URL of /mcp
 * ("<http.public_url>/.well-known/oauth-protected-resource/mcp").
 * ERR_TOO_BIG when it does not fit (buf then holds "").
 */
berr oauth_resource_url(const struct config *cfg, char *buf, size_t size)
    __attribute__((warn_unused_result));
berr oauth_issuer(const struct config *cfg, char *buf, size_t size)
    __attribute__((warn_unused_result));
berr oauth_introspect_url(const struct config *cfg, char *buf, size_t size)
    __attribute__((warn_unused_result));
berr oauth_metadata_url(const struct config *cfg, char *buf, size_t size)
    __attribute__((warn_unused_result));

/*
 * The scopes every token must carry (cloudship.oauth.scopes), space
 * separated, into buf; "" when none are configured. ERR_TOO_BIG when they
 * do not fit.
 */
berr oauth_scope_string(const struct config *cfg, char *buf, size_t size)
    __attribute__((warn_unused_result));

/* Registers the prepared statements on db. */
berr oauth_prepare(struct db *db) __attribute__((warn_unused_result));

/*
 * The OAuth branch of principal_resolve(): token (the bearer token, not an
 * sk- key) to *out (zeroed by the caller). Returns:
 *   OK           *out filled: method AUTH_OAUTH, the Berth user the token's
 *                subject maps to (created on first sight with
 *                auth.default_role), email, org_id, scopes, token_id (the
 *                digest, hex);
 *   ERR_DENIED   out->reason says why: "malformed" (not an RFC 6750
 *                token), "inactive" (unknown, revoked or expired at the
 *                authorization server), "expired", "audience" (issued for
 *                another resource), "org" (another organization), "scope"
 *                (the caller answers 403 insufficient_scope), "disabled",
 *                "locked" (out->retry_after set), "limits"; *why set
 *                (static, safe to send);
 *   ERR_IO       the authorization server is unreachable, slow, or
 *                answered garbage, or the station's organization is
 *                unknown while org scoping is on: answer 503 (audited);
 *   ERR_DB_DOWN, ERR_DB as principal_resolve().
 * The token is never logged (its first 6 characters at most) nor stored.
 */
berr oauth_resolve(struct db *db, const struct config *cfg, const char *token,
    const char *address, struct principal *out, const char **why)
    __attribute__((warn_unused_result));

/* Introspection requests this process has made (for logs and tests). */
unsigned long oauth_introspection_count(void);

#endif
