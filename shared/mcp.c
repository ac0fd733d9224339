/* PLACEHOLDER: replaced by its owner. */
#include <stdlib.h>
#include "mcp.h"
const char *const mcp_versions[] = { "2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", NULL };
berr mcp_handle(const struct mcp_ctx *ctx, const struct principal *p, const struct mcp_request *rq, struct mcp_response *rs) { (void)ctx; (void)p; (void)rq; rs->status = 501; rs->content_type = NULL; rs->body = NULL; rs->body_len = 0; rs->session_id[0] = 0; rs->allow = NULL; return OK; }
void mcp_response_free(struct mcp_response *rs) { free(rs->body); rs->body = NULL; }
