/* PLACEHOLDER: replaced by its owner. */
#include "mcp_endpoint.h"
berr mcp_endpoint_init(struct worker_ctx *ctx) { (void)ctx; return OK; }
void mcp_endpoint_handle(struct worker_ctx *ctx, struct request *req) { (void)ctx; request_reply_error(req, 501, "not_implemented", "not implemented", NULL); }
