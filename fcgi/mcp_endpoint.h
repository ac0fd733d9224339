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
 */
#ifndef BERTH_FCGI_MCP_ENDPOINT_H
#define BERTH_FCGI_MCP_ENDPOINT_H

#include "router.h"

berr mcp_endpoint_init(struct worker_ctx *ctx)
    __attribute__((warn_unused_result));
void mcp_endpoint_handle(struct worker_ctx *ctx, struct request *req);

#endif
