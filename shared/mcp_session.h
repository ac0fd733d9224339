/*
 * mcp_session.h - 2025-era MCP sessions in PostgreSQL (table mcp_sessions):
 * the struct mcp_store of mcp.h, so a session created through one responder
 * is served by any other on any host.
 *
 * Ids are 32 random bytes, base64url (43 characters). A session is bound to
 * the principal that created it (user and credential kind); loading it with
 * another principal, after its idle timeout (sessions.mcp_idle_timeout) or
 * its absolute timeout (sessions.mcp_absolute_timeout) reports
 * ERR_NOT_FOUND, exactly like an unknown id. The store holds only borrowed
 * pointers (db, cfg) in its arg.
 *
 * The principal a session is bound to is (user_id, auth method): another
 * user, or the same user with another kind of credential (an API key's
 * session presented with an OAuth token), does not find it. The creating
 * credential (token_id) is recorded, not matched, so a user may rotate a
 * key without losing a live session; revoking the key still cuts the
 * session off, because every request is authenticated before its session
 * is looked up.
 *
 * Every operation is one prepared statement (one round trip); load()
 * touches last_used_at in the same statement, at most once per
 * min(60 s, idle timeout / 10, auth.key_touch_interval). In berth-fcgi,
 * this module also keeps the sessions create() and load() returned (32 per
 * worker) and answers load() from them while authcache.h says the worker's
 * cache holds, until that write falls due or the absolute timeout;
 * remove() and set_log_level() wait in authcache_barrier(), so another
 * responder's next request sees them. Expired rows are
 * not purged here (load ignores them; remove deletes this principal's).
 *
 * Cancel markers (notifications/cancelled, table mcp_cancels of
 * sql/005_mcp.sql): cancel() stores one for (session, request id as JSON
 * text), dropping the session's markers older than ten minutes and adding
 * none once it holds 100; cancelled() looks one up. Both are one prepared
 * statement and return ERR_INVALID for a malformed session id or key.
 *
 * Subscriptions (resources/subscribe, table mcp_subscriptions of
 * sql/007_mcp_subscriptions.sql): subscribe() stores (session, uri),
 * idempotent, ERR_TOO_BIG once the session holds LIMIT_MCP_SUBSCRIPTIONS;
 * unsubscribe() deletes it. One prepared statement each; the caller has
 * loaded the session for its principal. A session records the environment
 * it was created in (mcp_sessions.environment), returned by load().
 *
 * Errors of the store functions: ERR_NOT_FOUND (also for an id that is not
 * 16..128 visible ASCII characters, without a database round trip),
 * ERR_INVALID (create: protocol version not YYYY-MM-DD; set_log_level: a
 * level MCP does not define), ERR_INTERNAL (create: the random generator
 * failed), ERR_DB_DOWN, ERR_DB. A client_info or capabilities text that is
 * not a JSON object of at most 16 KiB is stored as {}.
 */
#ifndef BERTH_MCP_SESSION_H
#define BERTH_MCP_SESSION_H

#include <stdbool.h>

#include "db.h"
#include "mcp.h"

struct config;

/* What mcp_session_store() points its arg at; the caller keeps it alive. */
struct mcp_session_backend {
	struct db *db;
	const struct config *cfg;
};

/* Fills *store with the PostgreSQL implementation over backend. */
void mcp_session_store(
    struct mcp_session_backend *backend, struct mcp_store *store);

/* True when id has the shape the table allows: 16..128 characters of
 * visible ASCII ('!'..'~'). Reads at most 129 bytes of id (may be NULL). */
bool mcp_session_id_well_formed(const char *id);

/* Registers the prepared statements. */
berr mcp_session_prepare(struct db *db) __attribute__((warn_unused_result));

#endif
