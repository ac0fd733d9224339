/*
 * mcpconfig.h - finds a Berth server's URL in the MCP client configs a
 * user already has, for `berth login|logout|proxy [SERVER]`.
 *
 * Read in this order, each when present: ~/.claude.json (its top-level
 * mcpServers and every projects.*.mcpServers), ~/.claude/mcp.json,
 * ./.mcp.json, and Claude Desktop's $XDG_CONFIG_HOME/Claude/
 * claude_desktop_config.json (~/.config/Claude/ without XDG_CONFIG_HOME).
 * A server entry counts when it has an http(s) "url" (Claude Code's http
 * and sse servers), or runs `berth proxy URL` (a command whose args hold
 * "proxy" and then a URL). The server URL is that URL without a trailing
 * "/mcp" or "/".
 */
#ifndef BERTH_CLI_MCPCONFIG_H
#define BERTH_CLI_MCPCONFIG_H

#include <stddef.h>

#include "err.h"

/*
 * Resolves arg into a server URL in url (size >= 1024): an http(s) URL is
 * taken as it is (normalised), a name is looked up among the configured
 * servers, and no arg (NULL) picks the only configured server. OK;
 * ERR_NOT_FOUND (no such name, or nothing configured) or ERR_CONFLICT
 * (several servers and no name): why (size >= 1) then says what to do,
 * naming the servers found.
 */
berr mcpconfig_resolve(const char *arg, char *url, size_t size, char *why,
    size_t whysize) __attribute__((warn_unused_result));

/* Normalises an http(s) URL in place (trailing "/mcp" and "/" removed).
 * ERR_INVALID when it is not http:// or https://. */
berr mcpconfig_normalise(char *url) __attribute__((warn_unused_result));

#endif
