/*
 * prompts.c - prompts and resources for /mcp. See prompts.h.
 *
 * The fixtures follow the conformance suite's scenario descriptions
 * (@modelcontextprotocol/conformance 0.1.16, prompts-get-*,
 * resources-read-*, resources-templates-read, resources-subscribe): the
 * same names, URIs, MIME types and texts.
 */
#include "prompts.h"

#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "config.h"
#include "principal.h"

/* A template variable ({id}): 1..64 of [A-Za-z0-9_-]. */
#define PROMPTS_ID_MAX 64

/* A 1x1 transparent PNG (as the fixture tools of tools.c). */
static const char prompts_png[] =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
    "60e6kgAAAABJRU5ErkJggg==";

struct prompt_arg {
	const char *name;
	const char *description;
};

struct prompt_def {
	const char *name;
	const char *description;
	struct prompt_arg args[2]; /* required arguments; name NULL = none */
};

static const struct prompt_def prompts_fixture[] = {
	{ "test_simple_prompt", "Conformance fixture: one text message.",
	    { { NULL, NULL } } },
	{ "test_prompt_with_arguments",
	    "Conformance fixture: a text message naming both arguments.",
	    { { "arg1", "First test argument" },
	        { "arg2", "Second test argument" } } },
	{ "test_prompt_with_embedded_resource",
	    "Conformance fixture: an embedded resource and a text message.",
	    { { "resourceUri", "URI of the resource to embed" } } },
	{ "test_prompt_with_image",
	    "Conformance fixture: an image and a text message.",
	    { { NULL, NULL } } },
};
#define PROMPTS_NFIXTURE (sizeof(prompts_fixture) / sizeof(prompts_fixture[0]))

struct resource_def {
	const char *uri;
	const char *name;
	const char *description;
	const char *mime_type;
	const char *text; /* NULL: blob (the PNG) */
};

static const struct resource_def resources_fixture[] = {
	{ "test://static-text", "static-text",
	    "Conformance fixture: a static text resource.", "text/plain",
	    "This is the content of the static text resource." },
	{ "test://static-binary", "static-binary",
	    "Conformance fixture: a static binary resource (PNG).", "image/png",
	    NULL },
	{ "test://watched-resource", "watched-resource",
	    "Conformance fixture: a resource to subscribe to (never changes).",
	    "text/plain", "This resource does not change." },
};
#define RESOURCES_NFIXTURE \
	(sizeof(resources_fixture) / sizeof(resources_fixture[0]))

#define TEMPLATE_PREFIX "test://template/"
#define TEMPLATE_SUFFIX "/data"

/* Are the fixtures there for this caller? */
static bool
prompts_fixtures_visible(const struct prompts_ctx *ctx)
{
	if (ctx->cfg == NULL || !ctx->cfg->mcp.conformance_fixtures)
		return false;
	return authz_may(ctx->cfg, ctx->principal, PERM_TOOLS_LIST,
	           ctx->environment, NULL, 0) == OK;
}

static void
prompts_add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

berr
prompts_list(const struct prompts_ctx *ctx, struct json_object **out)
{
	struct json_object *a, *o, *args, *arg;
	size_t i, j;

	if ((*out = a = json_object_new_array()) == NULL)
		return ERR_NOMEM;
	if (!prompts_fixtures_visible(ctx))
		return OK;
	for (i = 0; i < PROMPTS_NFIXTURE; i++) {
		const struct prompt_def *d = &prompts_fixture[i];

		if ((o = json_object_new_object()) == NULL ||
		    (args = json_object_new_array()) == NULL) {
			json_object_put(o);
			goto nomem;
		}
		prompts_add_str(o, "name", d->name);
		prompts_add_str(o, "description", d->description);
		for (j = 0; j < 2 && d->args[j].name != NULL; j++) {
			if ((arg = json_object_new_object()) == NULL) {
				json_object_put(args);
				json_object_put(o);
				goto nomem;
			}
			prompts_add_str(arg, "name", d->args[j].name);
			prompts_add_str(
			    arg, "description", d->args[j].description);
			json_object_object_add(
			    arg, "required", json_object_new_boolean(1));
			json_object_array_add(args, arg);
		}
		json_object_object_add(o, "arguments", args);
		json_object_array_add(a, o);
	}
	return OK;
nomem:
	json_object_put(a);
	*out = NULL;
	return ERR_NOMEM;
}

/* {"role": "user", "content": content (taken)}; NULL when out of memory. */
static struct json_object *
prompts_message(struct json_object *content)
{
	struct json_object *m;

	if (content == NULL || (m = json_object_new_object()) == NULL) {
		json_object_put(content);
		return NULL;
	}
	prompts_add_str(m, "role", "user");
	json_object_object_add(m, "content", content);
	return m;
}

/* {"type": "text", "text": text}. */
static struct json_object *
prompts_text(const char *text)
{
	struct json_object *c = json_object_new_object();

	if (c == NULL)
		return NULL;
	prompts_add_str(c, "type", "text");
	prompts_add_str(c, "text", text);
	return c;
}

/* The argument name of args as a string, or NULL (checked before). */
static const char *
prompts_arg(struct json_object *args, const char *name)
{
	struct json_object *v;

	if (args == NULL || !json_object_object_get_ex(args, name, &v))
		return NULL;
	return json_object_get_string(v);
}

/* Checks args against d: every value a string, every required one there. */
static bool
prompts_check_args(const struct prompt_def *d, struct json_object *args,
    char *why, size_t whylen)
{
	struct json_object *v;
	size_t j;

	if (args != NULL) {
		json_object_object_foreach(args, k, val)
		{
			if (!json_object_is_type(val, json_type_string)) {
				snprintf(why, whylen,
				    "params.arguments.%.64s must be a string",
				    k);
				return false;
			}
		}
	}
	for (j = 0; j < 2 && d->args[j].name != NULL; j++)
		if (args == NULL ||
		    !json_object_object_get_ex(args, d->args[j].name, &v)) {
			snprintf(why, whylen,
			    "missing required argument params.arguments.%s",
			    d->args[j].name);
			return false;
		}
	return true;
}

berr
prompts_get(const struct prompts_ctx *ctx, const char *name,
    struct json_object *args, struct json_object **result, char *why,
    size_t whylen)
{
	const struct prompt_def *d = NULL;
	struct json_object *r, *msgs, *c, *res;
	char text[512];
	size_t i;

	*result = NULL;
	if (whylen > 0)
		why[0] = '\0';
	if (prompts_fixtures_visible(ctx))
		for (i = 0; i < PROMPTS_NFIXTURE; i++)
			if (strcmp(prompts_fixture[i].name, name) == 0)
				d = &prompts_fixture[i];
	if (d == NULL)
		return ERR_NOT_FOUND;
	if (!prompts_check_args(d, args, why, whylen))
		return ERR_INVALID;
	if ((r = json_object_new_object()) == NULL ||
	    (msgs = json_object_new_array()) == NULL) {
		json_object_put(r);
		return ERR_NOMEM;
	}
	prompts_add_str(r, "description", d->description);
	json_object_object_add(r, "messages", msgs);
	if (strcmp(d->name, "test_simple_prompt") == 0) {
		json_object_array_add(msgs,
		    prompts_message(
		        prompts_text("This is a simple prompt for testing.")));
	} else if (strcmp(d->name, "test_prompt_with_arguments") == 0) {
		snprintf(text, sizeof(text),
		    "Prompt with arguments: arg1='%.200s', arg2='%.200s'",
		    prompts_arg(args, "arg1"), prompts_arg(args, "arg2"));
		json_object_array_add(
		    msgs, prompts_message(prompts_text(text)));
	} else if (strcmp(d->name, "test_prompt_with_embedded_resource") == 0) {
		c = json_object_new_object();
		res = json_object_new_object();
		if (c == NULL || res == NULL) {
			json_object_put(c);
			json_object_put(res);
			json_object_put(r);
			return ERR_NOMEM;
		}
		/* The URI is the caller's own text, echoed as a value. */
		prompts_add_str(res, "uri", prompts_arg(args, "resourceUri"));
		prompts_add_str(res, "mimeType", "text/plain");
		prompts_add_str(
		    res, "text", "Embedded resource content for testing.");
		prompts_add_str(c, "type", "resource");
		json_object_object_add(c, "resource", res);
		json_object_array_add(msgs, prompts_message(c));
		json_object_array_add(msgs,
		    prompts_message(prompts_text(
		        "Please process the embedded resource above.")));
	} else {
		if ((c = json_object_new_object()) == NULL) {
			json_object_put(r);
			return ERR_NOMEM;
		}
		prompts_add_str(c, "type", "image");
		prompts_add_str(c, "data", prompts_png);
		prompts_add_str(c, "mimeType", "image/png");
		json_object_array_add(msgs, prompts_message(c));
		json_object_array_add(msgs,
		    prompts_message(
		        prompts_text("Please analyze the image above.")));
	}
	*result = r;
	return OK;
}

berr
resources_list(const struct prompts_ctx *ctx, struct json_object **out)
{
	struct json_object *a, *o;
	size_t i;

	if ((*out = a = json_object_new_array()) == NULL)
		return ERR_NOMEM;
	if (!prompts_fixtures_visible(ctx))
		return OK;
	for (i = 0; i < RESOURCES_NFIXTURE; i++) {
		const struct resource_def *d = &resources_fixture[i];

		if ((o = json_object_new_object()) == NULL) {
			json_object_put(a);
			*out = NULL;
			return ERR_NOMEM;
		}
		prompts_add_str(o, "uri", d->uri);
		prompts_add_str(o, "name", d->name);
		prompts_add_str(o, "description", d->description);
		prompts_add_str(o, "mimeType", d->mime_type);
		json_object_array_add(a, o);
	}
	return OK;
}

berr
resources_templates_list(
    const struct prompts_ctx *ctx, struct json_object **out)
{
	struct json_object *a, *o;

	if ((*out = a = json_object_new_array()) == NULL)
		return ERR_NOMEM;
	if (!prompts_fixtures_visible(ctx))
		return OK;
	if ((o = json_object_new_object()) == NULL) {
		json_object_put(a);
		*out = NULL;
		return ERR_NOMEM;
	}
	prompts_add_str(
	    o, "uriTemplate", TEMPLATE_PREFIX "{id}" TEMPLATE_SUFFIX);
	prompts_add_str(o, "name", "template-data");
	prompts_add_str(o, "description",
	    "Conformance fixture: JSON data for the id in the URI.");
	prompts_add_str(o, "mimeType", "application/json");
	json_object_array_add(a, o);
	return OK;
}

/*
 * The {id} of a template URI test://template/{id}/data into id, or false:
 * 1..PROMPTS_ID_MAX characters of [A-Za-z0-9_-] (nothing that needs
 * escaping in the JSON text or could be another path).
 */
static bool
prompts_template_id(const char *uri, char id[PROMPTS_ID_MAX + 1])
{
	size_t pre = strlen(TEMPLATE_PREFIX), suf = strlen(TEMPLATE_SUFFIX);
	size_t n = strnlen(uri, pre + PROMPTS_ID_MAX + suf + 1), i, len;

	if (n <= pre + suf || n > pre + PROMPTS_ID_MAX + suf ||
	    strncmp(uri, TEMPLATE_PREFIX, pre) != 0 ||
	    strcmp(uri + n - suf, TEMPLATE_SUFFIX) != 0)
		return false;
	len = n - pre - suf;
	for (i = 0; i < len; i++) {
		char ch = uri[pre + i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		        (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
		id[i] = ch;
	}
	id[len] = '\0';
	return true;
}

/* The direct fixture resource named uri, or NULL. */
static const struct resource_def *
prompts_resource(const char *uri)
{
	size_t i;

	for (i = 0; i < RESOURCES_NFIXTURE; i++)
		if (strcmp(resources_fixture[i].uri, uri) == 0)
			return &resources_fixture[i];
	return NULL;
}

bool
resources_exists(const struct prompts_ctx *ctx, const char *uri)
{
	char id[PROMPTS_ID_MAX + 1];

	if (uri == NULL || !prompts_fixtures_visible(ctx))
		return false;
	return prompts_resource(uri) != NULL || prompts_template_id(uri, id);
}

berr
resources_read(
    const struct prompts_ctx *ctx, const char *uri, struct json_object **result)
{
	const struct resource_def *d;
	struct json_object *r, *contents, *c;
	char id[PROMPTS_ID_MAX + 1], text[256];

	*result = NULL;
	if (!resources_exists(ctx, uri))
		return ERR_NOT_FOUND;
	if ((r = json_object_new_object()) == NULL ||
	    (contents = json_object_new_array()) == NULL) {
		json_object_put(r);
		return ERR_NOMEM;
	}
	json_object_object_add(r, "contents", contents);
	if ((c = json_object_new_object()) == NULL) {
		json_object_put(r);
		return ERR_NOMEM;
	}
	json_object_array_add(contents, c);
	prompts_add_str(c, "uri", uri);
	if ((d = prompts_resource(uri)) != NULL) {
		prompts_add_str(c, "mimeType", d->mime_type);
		prompts_add_str(c, d->text != NULL ? "text" : "blob",
		    d->text != NULL ? d->text : prompts_png);
	} else if (prompts_template_id(uri, id)) {
		snprintf(text, sizeof(text),
		    "{\"id\":\"%s\",\"templateTest\":true,"
		    "\"data\":\"Data for ID: %s\"}",
		    id, id);
		prompts_add_str(c, "mimeType", "application/json");
		prompts_add_str(c, "text", text);
	}
	*result = r;
	return OK;
}
