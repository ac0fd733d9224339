/*
 * mcp_endpoint.h - POST/GET/DELETE /mcp: the FastCGI side of MCP Streamable
 * HTTP. Checks Origin and Host against the configuration (403 with a
 * JSON-RPC error body), authenticates with guard_principal(), reads the body
 * within the caps, and hands the request to mcp_handle() with the
 * PostgreSQL session store. Long tool calls take a streaming slot
 * (server_stream_acquire(), mcp.max_streams) and, when the client names
 * text/event-stream, are answered as SSE: events flushed through libfcgi,
 * "X-Accel-Buffering: no", the client's leaving seen as a failed write or
 * a closed connection.
 *
 * Environment: /mcp?environment=NAME addresses environment NAME (one of
 * the config's `environments`, compared exactly); without the parameter,
 * the first configured one. Checked after authentication: an unknown name
 * is 404, a repeated or empty parameter 400, both with a JSON-RPC error
 * body. tools/list, authorization (roles are per environment) and the
 * 2025-era session binding use it; a session used with another
 * environment is 404 (mcp.c, mcp_load_session). A query parameter rather
 * than /mcp/NAME because the shipped nginx and Apache configurations pass
 * the query string of /mcp unchanged, while a path would need new
 * locations there.
 */
#ifndef BERTH_FCGI_MCP_ENDPOINT_H
#define BERTH_FCGI_MCP_ENDPOINT_H

#include "router.h"

berr mcp_endpoint_init(struct worker_ctx *ctx)
    __attribute__((warn_unused_result));
void mcp_endpoint_handle(struct worker_ctx *ctx, struct request *req);

#endif
