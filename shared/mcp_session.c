/* PLACEHOLDER: replaced by its owner. */
#include "mcp_session.h"
void mcp_session_store(struct mcp_session_backend *b, struct mcp_store *s) { (void)b; (void)s; }
berr mcp_session_prepare(struct db *db) { (void)db; return OK; }
