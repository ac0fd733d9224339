/*
 * wellknown.h - GET /.well-known/oauth-protected-resource[/mcp]: RFC 9728
 * protected resource metadata (issue 6).
 *
 * Both paths answer the same document about the one protected resource,
 * /mcp: resource (this server's /mcp URL), authorization_servers,
 * scopes_supported and bearer_methods_supported ["header"]. Public: no
 * authentication, cacheable for 5 minutes, readable cross-origin (browser
 * MCP clients fetch it). 404 when OAuth is off (oauth_active() false), so
 * clients are not sent into a discovery that leads nowhere.
 */
#ifndef BERTH_FCGI_WELLKNOWN_H
#define BERTH_FCGI_WELLKNOWN_H

#include "router.h"

void wellknown_handle(struct worker_ctx *ctx, struct request *req);

#endif
