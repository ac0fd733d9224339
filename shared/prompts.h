/*
 * prompts.h - the prompt and resource registry behind prompts/list,
 * prompts/get, resources/list, resources/templates/list and
 * resources/read (MCP server/prompts and server/resources).
 *
 * Who owns what: this module owns the definitions (static tables); every
 * function takes borrowed inputs and hands the caller a fresh json-c
 * object it then owns (json_object_put). Nothing here touches the
 * database or the network, nothing is cached between calls.
 *
 * What is in it: a station has no prompts or resources of its own yet
 * (lists are empty). With the test-only mcp.conformance_fixtures switch
 * (as for the fixture tools of tools.c), the official conformance suite's
 * fixtures: prompts test_simple_prompt, test_prompt_with_arguments,
 * test_prompt_with_embedded_resource, test_prompt_with_image; resources
 * test://static-text, test://static-binary, test://watched-resource; the
 * template test://template/{id}/data. Fixtures are shown to, and served
 * for, a principal with tools.list in the environment (authz.h), like the
 * fixture tools; to anyone else they do not exist (ERR_NOT_FOUND, so an
 * unauthorised caller learns nothing more than from an unknown name).
 *
 * Errors: ERR_NOT_FOUND (no such prompt or resource for this caller),
 * ERR_INVALID (prompts_get: an argument missing or not a string; why
 * names it), ERR_NOMEM.
 */
#ifndef BERTH_PROMPTS_H
#define BERTH_PROMPTS_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "err.h"

struct config;
struct principal;

/* Who asks, where. Borrowed. */
struct prompts_ctx {
	const struct config *cfg;
	const struct principal *principal;
	const char *environment;
};

/* *out: the Prompt objects (name, description, arguments) as an array. */
berr prompts_list(const struct prompts_ctx *ctx, struct json_object **out)
    __attribute__((warn_unused_result));

/*
 * *result: a GetPromptResult ({description, messages}) for prompt name
 * with arguments args (an object of strings, or NULL). ERR_INVALID with
 * why (cut to whylen) for a required argument that is missing or any
 * argument that is not a string.
 */
berr prompts_get(const struct prompts_ctx *ctx, const char *name,
    struct json_object *args, struct json_object **result, char *why,
    size_t whylen) __attribute__((warn_unused_result));

/* *out: the Resource objects (uri, name, description, mimeType). */
berr resources_list(const struct prompts_ctx *ctx, struct json_object **out)
    __attribute__((warn_unused_result));

/* *out: the ResourceTemplate objects (uriTemplate, name, ...). */
berr resources_templates_list(const struct prompts_ctx *ctx,
    struct json_object **out) __attribute__((warn_unused_result));

/* *result: a ReadResourceResult ({contents: [...]}) for uri. */
berr resources_read(const struct prompts_ctx *ctx, const char *uri,
    struct json_object **result) __attribute__((warn_unused_result));

/* True when uri names a resource (direct or from a template) this caller
 * could read: what resources/subscribe accepts. */
bool resources_exists(const struct prompts_ctx *ctx, const char *uri);

#endif
