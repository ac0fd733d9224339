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
 */
#ifndef BERTH_MCP_SESSION_H
#define BERTH_MCP_SESSION_H

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

/* Registers the prepared statements. */
berr mcp_session_prepare(struct db *db) __attribute__((warn_unused_result));

#endif
