/*
 * upstream_tools.c - YAML-declared tools that call the upstream with the
 * caller's own key. See upstream_tools.h.
 *
 * The YAML file is read with libyaml's document loader and turned into
 * json-c values (plain scalars true/false/null/integers typed, everything
 * else a string; nesting capped), so an input_schema is checked by the
 * registry's own JSON Schema code.
 */
#include "upstream_tools.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "config.h"
#include "crypto.h"
#include "limit.h"
#include "log.h"
#include "principal.h"
#include "session.h"
#include "tools.h"
#include "upstream.h"

/* Deepest YAML nesting accepted in the tools file. */
#define UPSTREAM_TOOLS_DEPTH 32
/* Longest upstream answer put into a tool result. */
#define UPSTREAM_TOOLS_TEXT_MAX (256 * 1024)

struct upstream_tool {
	char *method;
	char *path;
	struct json_object *query; /* array of argument names */
	struct json_object *body;  /* array of argument names */
};

static struct tool_def ut_defs[UPSTREAM_TOOLS_MAX];
static struct upstream_tool ut_specs[UPSTREAM_TOOLS_MAX];
static size_t ut_n;
static const struct crypto_key *ut_key;

/* YAML node → json-c value; NULL on error (depth, aliases to nowhere). */
static struct json_object *
ut_node(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	struct json_object *o = NULL;
	yaml_node_item_t *it;
	yaml_node_pair_t *p;

	if (n == NULL || depth > UPSTREAM_TOOLS_DEPTH)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *v = (const char *)n->data.scalar.value;
		char *end;
		long long ll;

		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			return json_object_new_string_len(
			    v, (int)n->data.scalar.length);
		if (strcmp(v, "true") == 0)
			return json_object_new_boolean(1);
		if (strcmp(v, "false") == 0)
			return json_object_new_boolean(0);
		errno = 0;
		ll = strtoll(v, &end, 10);
		if (*v != '\0' && *end == '\0' && errno == 0)
			return json_object_new_int64(ll);
		return json_object_new_string_len(
		    v, (int)n->data.scalar.length);
	}
	case YAML_SEQUENCE_NODE:
		if ((o = json_object_new_array()) == NULL)
			return NULL;
		for (it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			struct json_object *v = ut_node(
			    doc, yaml_document_get_node(doc, *it), depth + 1);

			if (v == NULL) {
				json_object_put(o);
				return NULL;
			}
			json_object_array_add(o, v);
		}
		return o;
	case YAML_MAPPING_NODE:
		if ((o = json_object_new_object()) == NULL)
			return NULL;
		for (p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			struct json_object *v = ut_node(doc,
			    yaml_document_get_node(doc, p->value), depth + 1);

			if (k == NULL || k->type != YAML_SCALAR_NODE ||
			    v == NULL) {
				json_object_put(v);
				json_object_put(o);
				return NULL;
			}
			json_object_object_add(
			    o, (const char *)k->data.scalar.value, v);
		}
		return o;
	case YAML_NO_NODE: break;
	}
	return NULL;
}

/* The string at key of o, or NULL. */
static const char *
ut_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static bool
ut_name_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] < 'a' || s[0] > 'z')
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= 64 ||
		    !((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* A list of argument names (or absent → empty array). */
static struct json_object *
ut_names(struct json_object *o, const char *key, bool *ok)
{
	struct json_object *v;
	size_t i;

	*ok = true;
	if (!json_object_object_get_ex(o, key, &v))
		return json_object_new_array();
	if (!json_object_is_type(v, json_type_array)) {
		*ok = false;
		return NULL;
	}
	for (i = 0; i < json_object_array_length(v); i++)
		if (!json_object_is_type(
		        json_object_array_get_idx(v, i), json_type_string)) {
			*ok = false;
			return NULL;
		}
	return json_object_get(v);
}

/* Checks and stores tool t (a JSON object) as number ut_n. */
static berr
ut_add(struct json_object *t, size_t idx, char *why, size_t whysize)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "PATCH",
		"DELETE" };
	const char *name = ut_str(t, "name"), *desc = ut_str(t, "description");
	const char *method = ut_str(t, "method"), *path = ut_str(t, "path");
	const char *title = ut_str(t, "title");
	struct json_object *schema;
	struct tool_def *d = &ut_defs[ut_n];
	struct upstream_tool *s = &ut_specs[ut_n];
	size_t i;
	bool ok = false;

	if (!ut_name_ok(name)) {
		snprintf(why, whysize,
		    "tools[%zu].name: expected [a-z][a-z0-9_]{0,63}", idx);
		return ERR_CONFIG;
	}
	for (i = 0; i < ut_n; i++)
		if (strcmp(ut_defs[i].name, name) == 0) {
			snprintf(why, whysize, "tools[%zu].name: %s twice", idx,
			    name);
			return ERR_CONFIG;
		}
	if (desc == NULL || desc[0] == '\0') {
		snprintf(
		    why, whysize, "tool %s: description is required", name);
		return ERR_CONFIG;
	}
	if (method == NULL)
		method = "GET";
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(method, methods[i]) == 0)
			ok = true;
	if (!ok) {
		snprintf(why, whysize,
		    "tool %s: method must be GET, POST, PUT, PATCH or DELETE",
		    name);
		return ERR_CONFIG;
	}
	if (path == NULL || path[0] != '/' || strpbrk(path, " \r\n?#")) {
		snprintf(why, whysize,
		    "tool %s: path must start with / (no spaces, ? or #)",
		    name);
		return ERR_CONFIG;
	}
	if (!json_object_object_get_ex(t, "input_schema", &schema))
		schema = NULL;
	if (schema != NULL && !json_object_is_type(schema, json_type_object)) {
		snprintf(why, whysize,
		    "tool %s: input_schema must be a mapping", name);
		return ERR_CONFIG;
	}
	memset(d, 0, sizeof(*d));
	memset(s, 0, sizeof(*s));
	d->name = strdup(name);
	d->title = strdup(title ? title : name);
	d->description = strdup(desc);
	d->input_schema = strdup(schema != NULL
	        ? json_object_to_json_string_ext(schema, JSON_C_TO_STRING_PLAIN)
	        : "{\"type\":\"object\",\"properties\":{}}");
	d->perm = PERM_TOOLS_CALL;
	s->method = strdup(method);
	s->path = strdup(path);
	s->query = ut_names(t, "query", &ok);
	if (ok)
		s->body = ut_names(t, "body", &ok);
	ut_n++; /* freed by upstream_tools_free() whatever happens next */
	if (!ok) {
		snprintf(why, whysize,
		    "tool %s: query and body must be lists of argument names",
		    name);
		return ERR_CONFIG;
	}
	if (d->name == NULL || d->title == NULL || d->description == NULL ||
	    d->input_schema == NULL || s->method == NULL || s->path == NULL ||
	    s->query == NULL || s->body == NULL)
		return ERR_NOMEM;
	return OK;
}

static berr ut_call(const struct tool_call_ctx *ctx, struct json_object *args,
    struct json_object **result);

berr
upstream_tools_load(
    const char *path, const struct crypto_key *key, char *why, size_t whysize)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct json_object *root = NULL, *list;
	FILE *f;
	size_t i;
	berr rc = ERR_CONFIG;

	why[0] = '\0';
	upstream_tools_free();
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(why, whysize, "%s: %s", path, strerror(errno));
		return ERR_IO;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return ERR_NOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(why, whysize, "%s:%zu: %s", path,
		    parser.problem_mark.line + 1,
		    parser.problem ? parser.problem : "YAML error");
		yaml_parser_delete(&parser);
		fclose(f);
		return ERR_CONFIG;
	}
	root = ut_node(&doc, yaml_document_get_root_node(&doc), 0);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (root == NULL || !json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "tools", &list) ||
	    !json_object_is_type(list, json_type_array)) {
		snprintf(why, whysize,
		    "%s: expected a mapping with a list under tools:", path);
		goto out;
	}
	if (json_object_array_length(list) > UPSTREAM_TOOLS_MAX) {
		snprintf(why, whysize, "%s: more than %d tools", path,
		    UPSTREAM_TOOLS_MAX);
		goto out;
	}
	for (i = 0; i < json_object_array_length(list); i++) {
		struct json_object *t = json_object_array_get_idx(list, i);

		if (!json_object_is_type(t, json_type_object)) {
			snprintf(why, whysize,
			    "%s: tools[%zu] is not a mapping", path, i);
			goto out;
		}
		if ((rc = ut_add(t, i, why, whysize)) != OK)
			goto out;
		ut_defs[ut_n - 1].fn = ut_call;
	}
	ut_key = key;
	tools_set_provider(ut_defs, ut_n);
	rc = OK;
out:
	json_object_put(root);
	if (rc != OK)
		upstream_tools_free();
	return rc;
}

berr
upstream_tools_setup(const struct config *cfg, struct crypto_key *key,
    struct crypto_key *old, char *why, size_t whysize)
{
	char buf[512];
	const char *w = NULL;
	berr rc;

	if (cfg->upstream.tools_file[0] == '\0')
		return OK;
	if (!upstream_configured(cfg)) {
		snprintf(why, whysize,
		    "upstream.tools_file needs "
		    "upstream.base_url");
		return ERR_CONFIG;
	}
	if ((rc = crypto_key_load(cfg, key, buf, sizeof(buf), &w)) != OK) {
		snprintf(why, whysize, "%s", w ? w : err_str(rc));
		return ERR_CONFIG;
	}
	rc = crypto_key_load_old(cfg, old, buf, sizeof(buf), &w);
	if (rc == OK) {
		key->previous = old;
	} else if (rc != ERR_NOT_FOUND) {
		snprintf(why, whysize, "old key: %s", w ? w : err_str(rc));
		return ERR_CONFIG;
	}
	return upstream_tools_load(cfg->upstream.tools_file, key, why, whysize);
}

void
upstream_tools_free(void)
{
	size_t i;

	tools_set_provider(NULL, 0);
	for (i = 0; i < ut_n; i++) {
		free((char *)ut_defs[i].name);
		free((char *)ut_defs[i].title);
		free((char *)ut_defs[i].description);
		free((char *)ut_defs[i].input_schema);
		free(ut_specs[i].method);
		free(ut_specs[i].path);
		json_object_put(ut_specs[i].query);
		json_object_put(ut_specs[i].body);
	}
	memset(ut_defs, 0, sizeof(ut_defs));
	memset(ut_specs, 0, sizeof(ut_specs));
	ut_n = 0;
	ut_key = NULL;
}

/* A CallToolResult with one text item. */
static berr
ut_result(const char *text, size_t len, bool is_error,
    struct json_object *structured, struct json_object **result)
{
	struct json_object *r = json_object_new_object(), *content, *item;

	if (r == NULL || (content = json_object_new_array()) == NULL ||
	    (item = json_object_new_object()) == NULL) {
		json_object_put(r);
		json_object_put(structured);
		return ERR_NOMEM;
	}
	json_object_object_add(item, "type", json_object_new_string("text"));
	json_object_object_add(
	    item, "text", json_object_new_string_len(text, (int)len));
	json_object_array_add(content, item);
	json_object_object_add(r, "content", content);
	if (structured != NULL)
		json_object_object_add(r, "structuredContent", structured);
	json_object_object_add(r, "isError", json_object_new_boolean(is_error));
	*result = r;
	return OK;
}

static berr
ut_error(const char *text, struct json_object **result)
{
	return ut_result(text, strlen(text), true, NULL, result);
}

/* An argument's value as text for a URL ("" when absent). */
static const char *
ut_arg_text(struct json_object *args, const char *name)
{
	struct json_object *v;

	if (args == NULL || !json_object_object_get_ex(args, name, &v) ||
	    v == NULL)
		return NULL;
	return json_object_get_string(v);
}

/* Appends s (len n) to the growing buffer *b. false when out of memory or
 * over the cap. */
static bool
ut_append(char **b, size_t *len, const char *s, size_t n)
{
	char *p;

	if (*len + n + 1 > 8192 || (p = realloc(*b, *len + n + 1)) == NULL)
		return false;
	memcpy(p + *len, s, n);
	*len += n;
	p[*len] = '\0';
	*b = p;
	return true;
}

/* Appends the URL-escaped form of s. */
static bool
ut_append_escaped(char **b, size_t *len, const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	bool ok = e != NULL && ut_append(b, len, e, strlen(e));

	curl_free(e);
	return ok;
}

/* The request path: the template with {arg} replaced, plus the query. */
static char *
ut_build_path(const struct upstream_tool *s, struct json_object *args)
{
	const char *p = s->path, *close, *v;
	char *b = NULL, name[128];
	size_t len = 0, i, n, nq = 0;

	if (!ut_append(&b, &len, "", 0))
		return NULL;
	while (*p != '\0') {
		if (*p == '{' && (close = strchr(p, '}')) != NULL &&
		    (size_t)(close - p - 1) < sizeof(name)) {
			n = (size_t)(close - p - 1);
			memcpy(name, p + 1, n);
			name[n] = '\0';
			if ((v = ut_arg_text(args, name)) == NULL)
				v = "";
			if (!ut_append_escaped(&b, &len, v))
				goto fail;
			p = close + 1;
			continue;
		}
		if (!ut_append(&b, &len, p, 1))
			goto fail;
		p++;
	}
	for (i = 0; i < json_object_array_length(s->query); i++) {
		const char *q = json_object_get_string(
		    json_object_array_get_idx(s->query, i));

		if ((v = ut_arg_text(args, q)) == NULL)
			continue;
		if (!ut_append(&b, &len, nq++ ? "&" : "?", 1) ||
		    !ut_append_escaped(&b, &len, q) ||
		    !ut_append(&b, &len, "=", 1) ||
		    !ut_append_escaped(&b, &len, v))
			goto fail;
	}
	return b;
fail:
	free(b);
	return NULL;
}

static berr
ut_call(const struct tool_call_ctx *ctx, struct json_object *args,
    struct json_object **result)
{
	const struct upstream_tool *s = NULL;
	struct json_object *body = NULL, *v, *structured = NULL;
	char *apikey = NULL, *path = NULL, *resp = NULL, detail[160], msg[400];
	const char *body_text = NULL;
	enum upstream_fail f;
	long long session_id = 0;
	size_t i, resp_len = 0;
	long status = 0;
	berr rc;

	*result = NULL;
	for (i = 0; i < ut_n && ctx->tool != NULL; i++)
		if (strcmp(ut_defs[i].name, ctx->tool->name) == 0)
			s = &ut_specs[i];
	if (s == NULL || ctx->principal == NULL || ut_key == NULL)
		return ERR_INTERNAL;
	if (ctx->principal->method == AUTH_SESSION)
		session_id = strtoll(ctx->principal->token_id, NULL, 10);
	rc = session_upstream_key(ctx->db, ut_key, ctx->principal->user_id,
	    session_id, ctx->cfg->upstream.name, &apikey);
	if (rc == ERR_NOT_FOUND)
		return ut_error("no upstream key is stored for you: run `berth "
		                "login` to sign in through the upstream",
		    result);
	if (rc == ERR_DENIED)
		return ut_error("your stored upstream key cannot be read: run "
		                "`berth login` again",
		    result);
	if (rc != OK)
		return rc;
	if ((path = ut_build_path(s, args)) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (json_object_array_length(s->body) > 0) {
		if ((body = json_object_new_object()) == NULL) {
			rc = ERR_NOMEM;
			goto out;
		}
		for (i = 0; i < json_object_array_length(s->body); i++) {
			const char *k = json_object_get_string(
			    json_object_array_get_idx(s->body, i));

			if (args != NULL &&
			    json_object_object_get_ex(args, k, &v))
				json_object_object_add(
				    body, k, json_object_get(v));
		}
		body_text = json_object_to_json_string_ext(
		    body, JSON_C_TO_STRING_PLAIN);
	}
	f = upstream_call(ctx->cfg, s->method, path, apikey, body_text, &status,
	    &resp, &resp_len, detail, sizeof(detail));
	if (f == UPSTREAM_REFUSED) {
		rc =
		    ut_error("the upstream refused your key: run `berth login` "
		             "again",
		        result);
		goto out;
	}
	if (f != UPSTREAM_OK) {
		log_warn("upstream tool %s for %s: %s (%s)", ctx->tool->name,
		    ctx->principal->username, upstream_fail_str(f), detail);
		rc = ut_error(upstream_fail_str(f), result);
		goto out;
	}
	if (resp_len > UPSTREAM_TOOLS_TEXT_MAX)
		resp_len = UPSTREAM_TOOLS_TEXT_MAX;
	if (status < 200 || status > 299) {
		snprintf(msg, sizeof(msg),
		    "the upstream answered HTTP %ld: %.300s", status, resp);
		rc = ut_error(msg, result);
		goto out;
	}
	structured = json_tokener_parse(resp);
	if (structured != NULL &&
	    !json_object_is_type(structured, json_type_object)) {
		json_object_put(structured);
		structured = NULL;
	}
	rc = ut_result(resp, resp_len, false, structured, result);
out:
	if (apikey != NULL) {
		OPENSSL_cleanse(apikey, strlen(apikey));
		free(apikey);
	}
	json_object_put(body);
	free(path);
	free(resp);
	return rc;
}
