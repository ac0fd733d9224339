/*
 * upstream_tools.h - MCP tools that call the upstream API as the caller,
 * declared in YAML (upstream.tools_file) and served on /mcp through the
 * tool registry (tools_set_provider()).
 *
 * The file holds a list under "tools:", each item:
 *   name: upstream_me              # [a-z][a-z0-9_]{0,63}
 *   title: Who am I upstream       # optional
 *   description: ...               # required
 *   method: GET                    # GET POST PUT PATCH DELETE
 *   path: /api/items/{id}          # {arg} replaced by the URL-escaped arg
 *   input_schema: {type: object, properties: {...}}   # a JSON Schema
 *   query: [limit]                 # args sent as ?name=value
 *   body: [title, text]            # args sent as a JSON object body
 * A call decrypts the caller's own upstream key (session.h), sends it in
 * upstream.api_key_header, and answers with the upstream's body as text
 * (and structuredContent when it is a JSON object); a non-2xx answer is an
 * isError result. A caller without a stored key gets an isError telling
 * them to run `berth login`. The client's bearer token is never sent.
 *
 * The loaded tools are process-wide (read-only after start-up): load them
 * once in main(), before workers fork.
 */
#ifndef BERTH_UPSTREAM_TOOLS_H
#define BERTH_UPSTREAM_TOOLS_H

#include <stddef.h>

#include "err.h"

struct config;
struct crypto_key;

/* Most tools one file declares. */
#define UPSTREAM_TOOLS_MAX 64

/*
 * Loads path (a YAML file as above) and registers its tools with the tool
 * registry; key (borrowed, must outlive the process's requests) opens the
 * callers' upstream keys. OK; ERR_CONFIG with why (size >= 1) naming the
 * tool and field; ERR_IO; ERR_NOMEM.
 */
berr upstream_tools_load(const char *path, const struct crypto_key *key,
    char *why, size_t whysize) __attribute__((warn_unused_result));

/*
 * For a process that runs tools for principals but does not serve logins
 * (berthd's run workers, `berth run work`): when upstream.tools_file is
 * set, loads the master key into *key (and the previous one during a
 * rotation into *old; both caller-owned, outliving every tool call) and
 * the tools, so an agent's upstream tool call uses the key of the user who
 * queued the run, as on /mcp. OK (also with no tools file); ERR_CONFIG
 * with why (no upstream.base_url, no usable master key), or what
 * upstream_tools_load() returns.
 */
berr upstream_tools_setup(const struct config *cfg, struct crypto_key *key,
    struct crypto_key *old, char *why, size_t whysize)
    __attribute__((warn_unused_result));

/* Unregisters and frees what upstream_tools_load() made. */
void upstream_tools_free(void);

#endif
