/*
 * ai.c - see ai.h.
 *
 * One function per direction and provider: *_body() turns the neutral
 * messages into the provider's request, *_parse() its answer into a struct
 * ai_result. The transfer loop (ai_complete) is shared: libcurl with
 * timeouts and a capped body, retries with backoff for 429/5xx.
 */
#include "ai.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "http.h"
#include "log.h"

#define AI_RETRY_AFTER_MAX_S 30
#define AI_URL_MAX           2048

struct ai_buf {
	char *data;
	size_t len, cap;
	bool too_big;
};

static void __attribute__((format(printf, 3, 4)))
ai_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static size_t
ai_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct ai_buf *b = userdata;
	size_t n = size * nmemb, cap;
	char *nd;

	if (n > AI_MAX_RESPONSE_BYTES - b->len) {
		b->too_big = true;
		return 0; /* libcurl aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 16384;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((nd = realloc(b->data, cap)) == NULL)
			return 0;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Captures Retry-After (delta-seconds form only). */
static size_t
ai_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	long *retry_after = userdata;
	size_t n = size * nitems;
	char tmp[64];

	if (n > 12 && n < sizeof(tmp) &&
	    strncasecmp(buf, "retry-after:", 12) == 0) {
		char *end;
		long v;

		memcpy(tmp, buf + 12, n - 12);
		tmp[n - 12] = '\0';
		v = strtol(tmp, &end, 10);
		while (*end == ' ' || *end == '\r' || *end == '\n')
			end++;
		if (*end == '\0' && v >= 0)
			*retry_after = v;
	}
	return n;
}

bool
ai_kind_from_name(const char *name, enum ai_kind *out)
{
	if (name == NULL)
		return false;
	if (strcasecmp(name, "openai") == 0 ||
	    strcasecmp(name, "openai-compatible") == 0 ||
	    strcasecmp(name, "ollama") == 0) {
		*out = AI_OPENAI;
		return true;
	}
	if (strcasecmp(name, "gemini") == 0) {
		*out = AI_GEMINI;
		return true;
	}
	if (strcasecmp(name, "anthropic") == 0 ||
	    strcasecmp(name, "claude") == 0) {
		*out = AI_ANTHROPIC;
		return true;
	}
	return false;
}

const char *
ai_default_base_url(enum ai_kind kind)
{
	if (kind == AI_GEMINI)
		return "https://generativelanguage.googleapis.com/v1beta";
	return kind == AI_ANTHROPIC ? "https://api.anthropic.com"
	                            : "https://api.openai.com/v1";
}

void
ai_result_free(struct ai_result *r)
{
	if (r == NULL)
		return;
	free(r->text);
	json_object_put(r->tool_calls);
	free(r->stop_reason);
	free(r->model);
	memset(r, 0, sizeof(*r));
}

static const char *
ai_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *
ai_get(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, t))
		return NULL;
	return v;
}

static long long
ai_int(struct json_object *o, const char *key)
{
	struct json_object *v = ai_get(o, key, json_type_int);

	return v ? json_object_get_int64(v) : 0;
}

/* Adds key: value, taking value (put on failure). false when out of memory. */
static bool
ai_add(struct json_object *o, const char *key, struct json_object *v)
{
	if (v == NULL || json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

static bool
ai_push(struct json_object *a, struct json_object *v)
{
	if (v == NULL || json_object_array_add(a, v) != 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

/* A neutral tool's input_schema (borrowed), or NULL. */
static struct json_object *
ai_tool_schema(struct json_object *tool)
{
	struct json_object *schema = NULL;

	json_object_object_get_ex(tool, "input_schema", &schema);
	return schema;
}

/*
 * A provider's declaration of a neutral tool: {"name", "description",
 * schema_key: schema} (schema taken over, freed on failure). NULL when
 * out of memory or the tool has no name.
 */
static struct json_object *
ai_tool_decl(struct json_object *tool, const char *schema_key,
    struct json_object *schema)
{
	const char *desc = ai_str(tool, "description");
	struct json_object *d = json_object_new_object();

	if (d == NULL || ai_str(tool, "name") == NULL ||
	    !ai_add(d, "name", json_object_new_string(ai_str(tool, "name"))) ||
	    !ai_add(
	        d, "description", json_object_new_string(desc ? desc : ""))) {
		json_object_put(schema);
		json_object_put(d);
		return NULL;
	}
	if (!ai_add(d, schema_key, schema)) { /* ai_add() freed schema */
		json_object_put(d);
		return NULL;
	}
	return d;
}

/* Checks one neutral message; returns its role or NULL. */
static const char *
ai_msg_role(struct json_object *m)
{
	const char *role = ai_str(m, "role");

	if (role == NULL)
		return NULL;
	if (strcmp(role, "system") == 0 || strcmp(role, "user") == 0 ||
	    strcmp(role, "assistant") == 0)
		return role;
	if (strcmp(role, "tool") == 0 && ai_str(m, "tool_call_id") != NULL)
		return role;
	return NULL;
}

static const char *
ai_content(struct json_object *m)
{
	const char *c = ai_str(m, "content");

	return c ? c : "";
}

/* ---- OpenAI Chat Completions ----------------------------------------- */

static struct json_object *
ai_openai_body(const struct ai_provider *p, const char *model,
    struct json_object *messages, struct json_object *tools, int max_tokens)
{
	struct json_object *body = json_object_new_object(), *msgs, *m, *o;
	struct json_object *calls, *c, *fn, *tc, *args, *t;
	size_t i, j, n = json_object_array_length(messages);
	const char *role;
	bool ok;

	msgs = json_object_new_array();
	ok = body != NULL && msgs != NULL &&
	    ai_add(body, "model", json_object_new_string(model));
	for (i = 0; ok && i < n; i++) {
		m = json_object_array_get_idx(messages, i);
		if ((role = ai_msg_role(m)) == NULL) {
			ok = false;
			break;
		}
		o = json_object_new_object();
		ok = o != NULL &&
		    ai_add(o, "role", json_object_new_string(role));
		calls = ai_get(m, "tool_calls", json_type_array);
		if (ok && strcmp(role, "assistant") == 0 && calls != NULL &&
		    json_object_array_length(calls) > 0) {
			ok = *ai_content(m) == '\0'
			    ? json_object_object_add(o, "content", NULL) == 0
			    : ai_add(o, "content",
			          json_object_new_string(ai_content(m)));
			tc = json_object_new_array();
			for (j = 0; ok && tc != NULL &&
			     j < json_object_array_length(calls);
			     j++) {
				c = json_object_array_get_idx(calls, j);
				args = NULL;
				json_object_object_get_ex(
				    c, "arguments", &args);
				fn = json_object_new_object();
				ok = fn != NULL &&
				    ai_add(fn, "name",
				        json_object_new_string(ai_str(c, "name")
				                ? ai_str(c, "name")
				                : "")) &&
				    ai_add(fn, "arguments",
				        json_object_new_string(args
				                ? json_object_to_json_string_ext(
				                      args,
				                      JSON_C_TO_STRING_PLAIN)
				                : "{}"));
				t = json_object_new_object();
				ok = ok && t != NULL &&
				    ai_add(t, "id",
				        json_object_new_string(ai_str(c, "id")
				                ? ai_str(c, "id")
				                : "")) &&
				    ai_add(t, "type",
				        json_object_new_string("function")) &&
				    ai_add(t, "function", fn);
				if (!ok) {
					json_object_put(t);
					break;
				}
				fn = NULL;
				ok = ai_push(tc, t);
			}
			ok = ok && ai_add(o, "tool_calls", tc);
		} else if (ok) {
			ok = ai_add(o, "content",
			    json_object_new_string(ai_content(m)));
			if (ok && strcmp(role, "tool") == 0)
				ok = ai_add(o, "tool_call_id",
				    json_object_new_string(
				        ai_str(m, "tool_call_id")));
		}
		if (!ok) {
			json_object_put(o);
			break;
		}
		ok = ai_push(msgs, o);
	}
	if (ok) {
		ok = ai_add(body, "messages", msgs);
		msgs = NULL; /* body owns it now, or ai_add() put it */
	}
	if (ok && tools != NULL && json_object_array_length(tools) > 0) {
		struct json_object *ta = json_object_new_array();

		for (i = 0;
		     ok && ta != NULL && i < json_object_array_length(tools);
		     i++) {
			struct json_object *tool =
			    json_object_array_get_idx(tools, i);
			struct json_object *schema = ai_tool_schema(tool);

			fn = ai_tool_decl(tool, "parameters",
			    schema ? json_object_get(schema)
			           : json_object_new_object());
			t = fn ? json_object_new_object() : NULL;
			ok = t != NULL &&
			    ai_add(
			        t, "type", json_object_new_string("function"));
			if (!ok) {
				json_object_put(fn);
				json_object_put(t);
				break;
			}
			if (!ai_add(t, "function", fn)) { /* freed fn */
				json_object_put(t);
				ok = false;
				break;
			}
			ok = ai_push(ta, t);
		}
		ok = ok && ta != NULL && ai_add(body, "tools", ta);
	}
	/* api.openai.com's newer models refuse max_tokens; compatible servers
	 * (vLLM, Ollama, LiteLLM) know only max_tokens. */
	if (ok)
		ok = ai_add(body,
		    strstr(p->base_url, "api.openai.com")
		        ? "max_completion_tokens"
		        : "max_tokens",
		    json_object_new_int(max_tokens));
	if (!ok) {
		json_object_put(msgs);
		json_object_put(body);
		return NULL;
	}
	return body;
}

/* One tool call of an answer, into the neutral format. */
static bool
ai_neutral_call(struct json_object *calls, const char *id, const char *name,
    struct json_object *args, const char *raw)
{
	struct json_object *c = json_object_new_object();

	if (c == NULL || !ai_add(c, "id", json_object_new_string(id)) ||
	    !ai_add(c, "name", json_object_new_string(name))) {
		json_object_put(c);
		return false;
	}
	if (args != NULL) {
		if (!ai_add(c, "arguments", json_object_get(args))) {
			json_object_put(c);
			return false;
		}
	} else if (json_object_object_add(c, "arguments", NULL) != 0 ||
	    !ai_add(
	        c, "arguments_raw", json_object_new_string(raw ? raw : ""))) {
		json_object_put(c);
		return false;
	}
	return ai_push(calls, c);
}

static berr
ai_openai_parse(
    struct json_object *root, struct ai_result *out, char *why, size_t whylen)
{
	struct json_object *choices, *choice, *msg, *calls, *usage, *c, *fn;
	const char *content;
	size_t i;

	choices = ai_get(root, "choices", json_type_array);
	if (choices == NULL || json_object_array_length(choices) == 0 ||
	    (choice = json_object_array_get_idx(choices, 0)) == NULL ||
	    (msg = ai_get(choice, "message", json_type_object)) == NULL) {
		ai_why(why, whylen,
		    "the provider's answer has no choices[0].message");
		return ERR_INVALID;
	}
	content = ai_str(msg, "content");
	out->text = strdup(content ? content : "");
	out->stop_reason = strdup(ai_str(choice, "finish_reason")
	        ? ai_str(choice, "finish_reason")
	        : "");
	out->model = strdup(ai_str(root, "model") ? ai_str(root, "model") : "");
	out->tool_calls = json_object_new_array();
	if (out->text == NULL || out->stop_reason == NULL ||
	    out->model == NULL || out->tool_calls == NULL)
		return ERR_NOMEM;
	calls = ai_get(msg, "tool_calls", json_type_array);
	for (i = 0; calls != NULL && i < json_object_array_length(calls); i++) {
		struct json_object *args;
		const char *raw, *id, *name;

		c = json_object_array_get_idx(calls, i);
		fn = ai_get(c, "function", json_type_object);
		id = ai_str(c, "id");
		name = ai_str(fn, "name");
		raw = ai_str(fn, "arguments");
		if (id == NULL || name == NULL) {
			ai_why(why, whylen,
			    "the provider's tool call %zu has no id or name",
			    i);
			return ERR_INVALID;
		}
		args = raw ? json_tokener_parse(raw) : NULL;
		if (args != NULL &&
		    !json_object_is_type(args, json_type_object)) {
			json_object_put(args);
			args = NULL;
		}
		if (!ai_neutral_call(out->tool_calls, id, name, args, raw)) {
			json_object_put(args);
			return ERR_NOMEM;
		}
		json_object_put(args);
	}
	usage = ai_get(root, "usage", json_type_object);
	out->prompt_tokens = ai_int(usage, "prompt_tokens");
	out->completion_tokens = ai_int(usage, "completion_tokens");
	return OK;
}

/* ---- Anthropic Messages ----------------------------------------------- */

/* Appends blocks to the last message when it has role, else a new one. */
static bool
ai_anthropic_append(
    struct json_object *msgs, const char *role, struct json_object *block)
{
	size_t n = json_object_array_length(msgs);
	struct json_object *last =
	    n ? json_object_array_get_idx(msgs, n - 1) : NULL;
	struct json_object *content, *m;

	if (block == NULL)
		return false;
	if (last != NULL && ai_str(last, "role") != NULL &&
	    strcmp(ai_str(last, "role"), role) == 0 &&
	    (content = ai_get(last, "content", json_type_array)) != NULL)
		return ai_push(content, block);
	m = json_object_new_object();
	content = json_object_new_array();
	if (m == NULL || content == NULL || !ai_push(content, block) ||
	    !ai_add(m, "role", json_object_new_string(role)) ||
	    !ai_add(m, "content", content)) {
		json_object_put(m);
		return false;
	}
	return ai_push(msgs, m);
}

static struct json_object *
ai_text_block(const char *text)
{
	struct json_object *b = json_object_new_object();

	if (b == NULL || !ai_add(b, "type", json_object_new_string("text")) ||
	    !ai_add(b, "text", json_object_new_string(text))) {
		json_object_put(b);
		return NULL;
	}
	return b;
}

static struct json_object *
ai_anthropic_body(const char *model, struct json_object *messages,
    struct json_object *tools, int max_tokens)
{
	struct json_object *body = json_object_new_object();
	struct json_object *msgs = json_object_new_array(), *m, *calls, *c, *b;
	struct json_object *args;
	char *system = NULL, *ns;
	size_t i, j, n = json_object_array_length(messages), slen = 0;
	const char *role, *text;
	bool ok = body != NULL && msgs != NULL;

	for (i = 0; ok && i < n; i++) {
		m = json_object_array_get_idx(messages, i);
		if ((role = ai_msg_role(m)) == NULL) {
			ok = false;
			break;
		}
		text = ai_content(m);
		if (strcmp(role, "system") == 0) {
			size_t tl = strlen(text);

			if ((ns = realloc(system, slen + tl + 3)) == NULL) {
				ok = false;
				break;
			}
			system = ns;
			if (slen > 0) {
				system[slen++] = '\n';
				system[slen++] = '\n';
			}
			memcpy(system + slen, text, tl + 1);
			slen += tl;
		} else if (strcmp(role, "user") == 0) {
			ok = ai_anthropic_append(
			    msgs, "user", ai_text_block(text));
		} else if (strcmp(role, "tool") == 0) {
			b = json_object_new_object();
			ok = b != NULL &&
			    ai_add(b, "type",
			        json_object_new_string("tool_result")) &&
			    ai_add(b, "tool_use_id",
			        json_object_new_string(
			            ai_str(m, "tool_call_id"))) &&
			    ai_add(b, "content", json_object_new_string(text));
			if (!ok) {
				json_object_put(b);
				break;
			}
			ok = ai_anthropic_append(msgs, "user", b);
		} else {
			if (*text != '\0')
				ok = ai_anthropic_append(
				    msgs, "assistant", ai_text_block(text));
			calls = ai_get(m, "tool_calls", json_type_array);
			for (j = 0; ok && calls != NULL &&
			     j < json_object_array_length(calls);
			     j++) {
				c = json_object_array_get_idx(calls, j);
				args = ai_get(c, "arguments", json_type_object);
				b = json_object_new_object();
				ok = b != NULL &&
				    ai_add(b, "type",
				        json_object_new_string("tool_use")) &&
				    ai_add(b, "id",
				        json_object_new_string(ai_str(c, "id")
				                ? ai_str(c, "id")
				                : "")) &&
				    ai_add(b, "name",
				        json_object_new_string(ai_str(c, "name")
				                ? ai_str(c, "name")
				                : "")) &&
				    ai_add(b, "input",
				        args ? json_object_get(args)
				             : json_object_new_object());
				if (!ok) {
					json_object_put(b);
					break;
				}
				ok = ai_anthropic_append(msgs, "assistant", b);
			}
		}
	}
	ok = ok && ai_add(body, "model", json_object_new_string(model)) &&
	    ai_add(body, "max_tokens", json_object_new_int(max_tokens));
	if (ok && system != NULL)
		ok = ai_add(body, "system", json_object_new_string(system));
	if (ok) {
		ok = ai_add(body, "messages", msgs);
		msgs = NULL; /* body owns it now, or ai_add() put it */
	}
	if (ok && tools != NULL && json_object_array_length(tools) > 0) {
		struct json_object *ta = json_object_new_array(), *t, *schema;

		for (i = 0;
		     ok && ta != NULL && i < json_object_array_length(tools);
		     i++) {
			struct json_object *tool =
			    json_object_array_get_idx(tools, i);

			schema = ai_tool_schema(tool);
			t = ai_tool_decl(tool, "input_schema",
			    schema ? json_object_get(schema)
			           : json_object_new_object());
			ok = t != NULL && ai_push(ta, t);
		}
		ok = ok && ta != NULL && ai_add(body, "tools", ta);
	}
	free(system);
	json_object_put(msgs);
	if (!ok) {
		json_object_put(body);
		return NULL;
	}
	return body;
}

static berr
ai_anthropic_parse(
    struct json_object *root, struct ai_result *out, char *why, size_t whylen)
{
	struct json_object *content, *b, *usage, *input;
	const char *type;
	size_t i, tlen = 0, bl;
	char *text, *nt;

	if ((content = ai_get(root, "content", json_type_array)) == NULL) {
		ai_why(
		    why, whylen, "the provider's answer has no content list");
		return ERR_INVALID;
	}
	if ((text = strdup("")) == NULL)
		return ERR_NOMEM;
	out->text = text;
	out->tool_calls = json_object_new_array();
	out->stop_reason = strdup(
	    ai_str(root, "stop_reason") ? ai_str(root, "stop_reason") : "");
	out->model = strdup(ai_str(root, "model") ? ai_str(root, "model") : "");
	if (out->tool_calls == NULL || out->stop_reason == NULL ||
	    out->model == NULL)
		return ERR_NOMEM;
	for (i = 0; i < json_object_array_length(content); i++) {
		b = json_object_array_get_idx(content, i);
		type = ai_str(b, "type");
		if (type != NULL && strcmp(type, "text") == 0 &&
		    ai_str(b, "text") != NULL) {
			bl = strlen(ai_str(b, "text"));
			if ((nt = realloc(out->text, tlen + bl + 1)) == NULL)
				return ERR_NOMEM;
			out->text = nt;
			memcpy(out->text + tlen, ai_str(b, "text"), bl + 1);
			tlen += bl;
		} else if (type != NULL && strcmp(type, "tool_use") == 0) {
			input = ai_get(b, "input", json_type_object);
			if (ai_str(b, "id") == NULL ||
			    ai_str(b, "name") == NULL) {
				ai_why(why, whylen,
				    "the provider's tool_use block %zu has no "
				    "id or "
				    "name",
				    i);
				return ERR_INVALID;
			}
			if (!ai_neutral_call(out->tool_calls, ai_str(b, "id"),
			        ai_str(b, "name"), input,
			        "(input not an object)"))
				return ERR_NOMEM;
		}
		/* thinking and other blocks: not part of the answer */
	}
	usage = ai_get(root, "usage", json_type_object);
	out->prompt_tokens = ai_int(usage, "input_tokens");
	out->completion_tokens = ai_int(usage, "output_tokens");
	return OK;
}

/* As ai_anthropic_append(), for Gemini's {"role", "parts"}. */
static bool
ai_anthropic_append_parts(
    struct json_object *msgs, const char *role, struct json_object *part)
{
	size_t n = json_object_array_length(msgs);
	struct json_object *last =
	    n ? json_object_array_get_idx(msgs, n - 1) : NULL;
	struct json_object *parts, *m;

	if (part == NULL)
		return false;
	if (last != NULL && ai_str(last, "role") != NULL &&
	    strcmp(ai_str(last, "role"), role) == 0 &&
	    (parts = ai_get(last, "parts", json_type_array)) != NULL)
		return ai_push(parts, part);
	m = json_object_new_object();
	parts = json_object_new_array();
	if (m == NULL || parts == NULL || !ai_push(parts, part) ||
	    !ai_add(m, "role", json_object_new_string(role)) ||
	    !ai_add(m, "parts", parts)) {
		json_object_put(m);
		return false;
	}
	return ai_push(msgs, m);
}

/* ---- Gemini generateContent ------------------------------------------- */

/*
 * Gemini takes an OpenAPI subset of JSON Schema: keep the keys it knows,
 * types upper-cased. New object, NULL when out of memory.
 */
static struct json_object *
ai_gemini_schema(struct json_object *in, int depth)
{
	static const char *const keep[] = { "description", "enum", "format",
		"nullable", "minimum", "maximum", "minItems", "maxItems",
		"required", NULL };
	struct json_object *out = json_object_new_object(), *v, *props, *np;
	char type[16];
	size_t i;

	if (out == NULL || in == NULL ||
	    !json_object_is_type(in, json_type_object) || depth > 16)
		return out;
	if (json_object_object_get_ex(in, "type", &v) &&
	    json_object_is_type(v, json_type_string)) {
		snprintf(type, sizeof(type), "%s", json_object_get_string(v));
		for (i = 0; type[i] != '\0'; i++)
			type[i] = (char)toupper((unsigned char)type[i]);
		if (!ai_add(out, "type", json_object_new_string(type)))
			goto nomem;
	}
	for (i = 0; keep[i] != NULL; i++)
		if (json_object_object_get_ex(in, keep[i], &v) &&
		    !ai_add(out, keep[i], json_object_get(v)))
			goto nomem;
	if (json_object_object_get_ex(in, "items", &v) &&
	    !ai_add(out, "items", ai_gemini_schema(v, depth + 1)))
		goto nomem;
	if (json_object_object_get_ex(in, "properties", &props) &&
	    json_object_is_type(props, json_type_object)) {
		if ((np = json_object_new_object()) == NULL)
			goto nomem;
		json_object_object_foreach(props, k, pv)
		{
			if (!ai_add(np, k, ai_gemini_schema(pv, depth + 1))) {
				json_object_put(np);
				goto nomem;
			}
		}
		if (json_object_object_length(np) == 0)
			json_object_put(np);
		else if (!ai_add(out, "properties", np))
			goto nomem;
	}
	return out;
nomem:
	json_object_put(out);
	return NULL;
}

/* The name of the call tool_call_id answers (Gemini matches by name). */
static const char *
ai_gemini_call_name(struct json_object *messages, size_t upto, const char *id)
{
	struct json_object *m, *calls, *c;
	size_t i, j;

	for (i = upto; i-- > 0;) {
		m = json_object_array_get_idx(messages, i);
		calls = ai_get(m, "tool_calls", json_type_array);
		for (j = 0;
		     calls != NULL && j < json_object_array_length(calls);
		     j++) {
			c = json_object_array_get_idx(calls, j);
			if (ai_str(c, "id") && strcmp(ai_str(c, "id"), id) == 0)
				return ai_str(c, "name");
		}
	}
	return NULL;
}

static struct json_object *
ai_gemini_part_text(const char *text)
{
	struct json_object *p = json_object_new_object();

	if (p == NULL || !ai_add(p, "text", json_object_new_string(text))) {
		json_object_put(p);
		return NULL;
	}
	return p;
}

static struct json_object *
ai_gemini_body(
    struct json_object *messages, struct json_object *tools, int max_tokens)
{
	struct json_object *body = json_object_new_object();
	struct json_object *contents = json_object_new_array();
	struct json_object *sys = NULL, *m, *part, *inner, *calls, *c, *args;
	size_t i, j, n = json_object_array_length(messages);
	const char *role, *name;
	bool ok = body != NULL && contents != NULL;

	for (i = 0; ok && i < n; i++) {
		m = json_object_array_get_idx(messages, i);
		if ((role = ai_msg_role(m)) == NULL) {
			ok = false;
			break;
		}
		if (strcmp(role, "system") == 0) {
			if (sys == NULL &&
			    (sys = json_object_new_array()) == NULL) {
				ok = false;
				break;
			}
			ok = ai_push(sys, ai_gemini_part_text(ai_content(m)));
		} else if (strcmp(role, "user") == 0) {
			ok = ai_anthropic_append_parts(contents, "user",
			    ai_gemini_part_text(ai_content(m)));
		} else if (strcmp(role, "tool") == 0) {
			name = ai_gemini_call_name(
			    messages, i, ai_str(m, "tool_call_id"));
			part = json_object_new_object();
			inner = json_object_new_object();
			c = json_object_new_object();
			ok = part != NULL && inner != NULL && c != NULL &&
			    ai_add(inner, "name",
			        json_object_new_string(
			            name ? name : "unknown")) &&
			    ai_add(c, "content",
			        json_object_new_string(ai_content(m))) &&
			    ai_add(inner, "response", c) &&
			    ai_add(part, "functionResponse", inner);
			if (!ok) {
				json_object_put(part);
				break;
			}
			ok = ai_anthropic_append_parts(contents, "user", part);
		} else {
			if (*ai_content(m) != '\0')
				ok =
				    ai_anthropic_append_parts(contents, "model",
				        ai_gemini_part_text(ai_content(m)));
			calls = ai_get(m, "tool_calls", json_type_array);
			for (j = 0; ok && calls != NULL &&
			     j < json_object_array_length(calls);
			     j++) {
				c = json_object_array_get_idx(calls, j);
				args = ai_get(c, "arguments", json_type_object);
				part = json_object_new_object();
				inner = json_object_new_object();
				ok = part != NULL && inner != NULL &&
				    ai_add(inner, "name",
				        json_object_new_string(ai_str(c, "name")
				                ? ai_str(c, "name")
				                : "")) &&
				    ai_add(inner, "args",
				        args ? json_object_get(args)
				             : json_object_new_object()) &&
				    ai_add(part, "functionCall", inner);
				if (!ok) {
					json_object_put(part);
					break;
				}
				ok = ai_anthropic_append_parts(
				    contents, "model", part);
			}
		}
	}
	if (ok) {
		ok = ai_add(body, "contents", contents);
		contents = NULL;
	}
	if (ok && sys != NULL) {
		inner = json_object_new_object();
		ok = inner != NULL && ai_add(inner, "parts", sys);
		sys = NULL;
		ok = ok && ai_add(body, "systemInstruction", inner);
	}
	if (ok && tools != NULL && json_object_array_length(tools) > 0) {
		struct json_object *decls = json_object_new_array(), *d,
		                   *schema;

		for (i = 0;
		     ok && decls != NULL && i < json_object_array_length(tools);
		     i++) {
			struct json_object *tool =
			    json_object_array_get_idx(tools, i);

			schema = ai_tool_schema(tool);
			d = ai_tool_decl(
			    tool, "parameters", ai_gemini_schema(schema, 0));
			ok = d != NULL && ai_push(decls, d);
		}
		inner = json_object_new_object();
		c = json_object_new_array();
		ok = ok && decls != NULL && inner != NULL && c != NULL &&
		    ai_add(inner, "functionDeclarations", decls);
		if (ok)
			decls = NULL;
		ok = ok && ai_push(c, inner);
		if (ok)
			inner = NULL;
		ok = ok && ai_add(body, "tools", c);
		if (ok)
			c = NULL;
		json_object_put(decls);
		json_object_put(inner);
		json_object_put(c);
	}
	if (ok) {
		inner = json_object_new_object();
		ok = inner != NULL &&
		    ai_add(inner, "maxOutputTokens",
		        json_object_new_int(max_tokens)) &&
		    ai_add(body, "generationConfig", inner);
	}
	json_object_put(contents);
	json_object_put(sys);
	if (!ok) {
		json_object_put(body);
		return NULL;
	}
	return body;
}

static berr
ai_gemini_parse(
    struct json_object *root, struct ai_result *out, char *why, size_t whylen)
{
	struct json_object *cands, *cand, *content, *parts, *p, *fc, *usage,
	    *args;
	size_t i, tlen = 0, bl;
	char *nt, id[96];
	const char *t;

	cands = ai_get(root, "candidates", json_type_array);
	if (cands == NULL || json_object_array_length(cands) == 0 ||
	    (cand = json_object_array_get_idx(cands, 0)) == NULL ||
	    (content = ai_get(cand, "content", json_type_object)) == NULL ||
	    (parts = ai_get(content, "parts", json_type_array)) == NULL) {
		ai_why(why, whylen,
		    "the provider's answer has no candidates[0].content.parts");
		return ERR_INVALID;
	}
	out->text = strdup("");
	out->tool_calls = json_object_new_array();
	out->stop_reason = strdup(
	    ai_str(cand, "finishReason") ? ai_str(cand, "finishReason") : "");
	out->model = strdup(
	    ai_str(root, "modelVersion") ? ai_str(root, "modelVersion") : "");
	if (out->text == NULL || out->tool_calls == NULL ||
	    out->stop_reason == NULL || out->model == NULL)
		return ERR_NOMEM;
	for (i = 0; i < json_object_array_length(parts); i++) {
		p = json_object_array_get_idx(parts, i);
		if ((t = ai_str(p, "text")) != NULL) {
			bl = strlen(t);
			if ((nt = realloc(out->text, tlen + bl + 1)) == NULL)
				return ERR_NOMEM;
			out->text = nt;
			memcpy(out->text + tlen, t, bl + 1);
			tlen += bl;
		} else if ((fc = ai_get(p, "functionCall", json_type_object)) !=
		    NULL) {
			if (ai_str(fc, "name") == NULL) {
				ai_why(why, whylen,
				    "the provider's functionCall %zu has no "
				    "name",
				    i);
				return ERR_INVALID;
			}
			/* Gemini gives no ids: make one per position. */
			snprintf(id, sizeof(id), "gemini_%zu_%.64s", i,
			    ai_str(fc, "name"));
			args = ai_get(fc, "args", json_type_object);
			if (!ai_neutral_call(out->tool_calls, id,
			        ai_str(fc, "name"), args,
			        "(args not an object)"))
				return ERR_NOMEM;
		}
	}
	usage = ai_get(root, "usageMetadata", json_type_object);
	out->prompt_tokens = ai_int(usage, "promptTokenCount");
	out->completion_tokens = ai_int(usage, "candidatesTokenCount");
	return OK;
}

/* ---- transfer --------------------------------------------------------- */

static bool
ai_retryable_status(long status)
{
	return status == 429 || status == 500 || status == 502 ||
	    status == 503 || status == 504 || status == 529;
}

static bool
ai_retryable_curl(CURLcode cc)
{
	return cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT ||
	    cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
	    cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE ||
	    cc == CURLE_COULDNT_RESOLVE_HOST;
}

static void
ai_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The provider's own error message, printable, short; "" when none. */
static void
ai_provider_message(const struct ai_buf *b, char *out, size_t size)
{
	struct json_object *root, *err;
	const char *m = NULL;
	size_t i;

	out[0] = '\0';
	if (b->data == NULL || (root = json_tokener_parse(b->data)) == NULL)
		return;
	err = ai_get(root, "error", json_type_object);
	m = ai_str(err, "message");
	if (m == NULL)
		m = ai_str(root, "message");
	if (m != NULL) {
		for (i = 0; m[i] != '\0' && i + 1 < size; i++)
			out[i] = isprint((unsigned char)m[i]) ? m[i] : '?';
		out[i] = '\0';
	}
	json_object_put(root);
}

berr
ai_complete(const struct ai_provider *p, const char *model,
    struct json_object *messages, struct json_object *tools, int max_tokens,
    struct ai_result *out, char *why, size_t whylen)
{
	struct json_object *body = NULL, *root = NULL;
	struct curl_slist *hdrs = NULL;
	struct ai_buf buf = { 0 };
	char url[AI_URL_MAX], auth[4096], pmsg[161];
	const char *payload, *base;
	size_t blen;
	CURL *curl = NULL;
	CURLcode cc = CURLE_OK;
	long status = 0, retry_after, wait;
	int max_retries, attempt;
	berr rc = OK;

	memset(out, 0, sizeof(*out));
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (p == NULL || model == NULL || *model == '\0' || messages == NULL ||
	    !json_object_is_type(messages, json_type_array) ||
	    p->api_key == NULL || *p->api_key == '\0') {
		ai_why(why, whylen,
		    model == NULL || *model == '\0'
		        ? "no model configured"
		        : "no API key for the provider");
		return ERR_INVALID;
	}
	if (strcspn(p->api_key, "\r\n") != strlen(p->api_key) ||
	    strlen(p->api_key) > 2048) {
		ai_why(why, whylen, "the provider API key is malformed");
		return ERR_INVALID;
	}
	if (max_tokens <= 0)
		max_tokens = 4096;
	max_retries = p->max_retries < 0 ? 3 : p->max_retries;
	base = p->base_url && *p->base_url ? p->base_url
	                                   : ai_default_base_url(p->kind);
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	if (p->kind == AI_GEMINI &&
	    strspn(model,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789._-") != strlen(model)) {
		ai_why(why, whylen,
		    "the model name has characters a URL "
		    "cannot carry");
		return ERR_INVALID;
	}
	if ((size_t)snprintf(url, sizeof(url), "%.*s%s%s%s", (int)blen, base,
	        p->kind == AI_ANTHROPIC    ? "/v1/messages"
	            : p->kind == AI_GEMINI ? "/models/"
	                                   : "/chat/completions",
	        p->kind == AI_GEMINI ? model : "",
	        p->kind == AI_GEMINI ? ":generateContent" : "") >=
	    sizeof(url)) {
		ai_why(why, whylen, "provider base URL too long");
		return ERR_INVALID;
	}
	if (p->kind == AI_GEMINI) {
		body = ai_gemini_body(messages, tools, max_tokens);
		snprintf(auth, sizeof(auth), "x-goog-api-key: %s", p->api_key);
	} else if (p->kind == AI_ANTHROPIC) {
		body = ai_anthropic_body(model, messages, tools, max_tokens);
		hdrs = curl_slist_append(hdrs, "anthropic-version: 2023-06-01");
		if (p->auth == AI_AUTH_OAUTH) {
			snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			    p->api_key);
			hdrs = curl_slist_append(
			    hdrs, "anthropic-beta: oauth-2025-04-20");
		} else {
			snprintf(
			    auth, sizeof(auth), "x-api-key: %s", p->api_key);
		}
	} else {
		struct ai_provider q = *p;

		q.base_url = base;
		body = ai_openai_body(&q, model, messages, tools, max_tokens);
		snprintf(
		    auth, sizeof(auth), "Authorization: Bearer %s", p->api_key);
	}
	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (body == NULL) {
		ai_why(why, whylen,
		    "bad messages (each needs role system, user, assistant or "
		    "tool with tool_call_id)");
		rc = ERR_INVALID;
		goto out;
	}
	if (hdrs == NULL ||
	    (curl = http_easy(&(struct http_opts){ .url = url,
	         .timeout_ms = 1000L * (p->timeout_s > 0 ? p->timeout_s : 120),
	         .connect_timeout_ms = 1000L *
	             (p->connect_timeout_s > 0 ? p->connect_timeout_s : 10),
	         .max_bytes = AI_MAX_RESPONSE_BYTES })) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	payload = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(
	    curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ai_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ai_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &retry_after);
	for (attempt = 0;; attempt++) {
		buf.len = 0;
		buf.too_big = false;
		retry_after = -1;
		status = 0;
		cc = curl_easy_perform(curl);
		out->attempts = attempt + 1;
		if (cc == CURLE_OK)
			curl_easy_getinfo(
			    curl, CURLINFO_RESPONSE_CODE, &status);
		out->http_status = status;
		if (buf.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
			ai_why(why, whylen,
			    "the provider's answer is larger than %d bytes",
			    AI_MAX_RESPONSE_BYTES);
			rc = ERR_TOO_BIG;
			goto out;
		}
		if (!(cc == CURLE_OK ? ai_retryable_status(status)
		                     : ai_retryable_curl(cc)) ||
		    attempt >= max_retries)
			break;
		wait = (p->backoff_ms > 0 ? p->backoff_ms : 1000) << attempt;
		if (retry_after >= 0 && retry_after * 1000 > wait)
			wait = retry_after * 1000;
		if (wait > AI_RETRY_AFTER_MAX_S * 1000L)
			wait = AI_RETRY_AFTER_MAX_S * 1000L;
		log_info("ai: %s from %s, retry %d of %d in %ld ms",
		    cc == CURLE_OK ? "HTTP error" : curl_easy_strerror(cc), url,
		    attempt + 1, max_retries, wait);
		ai_sleep_ms(wait);
	}
	if (cc != CURLE_OK) {
		ai_why(why, whylen,
		    "provider unreachable after %d attempt(s): %s",
		    out->attempts, curl_easy_strerror(cc));
		rc = ERR_IO;
		goto out;
	}
	if (status == 401 || status == 403) {
		ai_why(why, whylen,
		    "the provider refused the credentials (HTTP %ld)", status);
		rc = ERR_DENIED;
		goto out;
	}
	if (status < 200 || status > 299) {
		ai_provider_message(&buf, pmsg, sizeof(pmsg));
		ai_why(why, whylen, "the provider answered HTTP %ld%s%s%s",
		    status, ai_retryable_status(status) ? " after retries" : "",
		    *pmsg ? ": " : "", pmsg);
		rc = ai_retryable_status(status) ? ERR_IO : ERR_CONFLICT;
		goto out;
	}
	if (buf.data == NULL || (root = json_tokener_parse(buf.data)) == NULL ||
	    !json_object_is_type(root, json_type_object)) {
		ai_why(
		    why, whylen, "the provider's answer is not a JSON object");
		rc = ERR_INVALID;
		goto out;
	}
	if (p->kind == AI_GEMINI)
		rc = ai_gemini_parse(root, out, why, whylen);
	else if (p->kind == AI_ANTHROPIC)
		rc = ai_anthropic_parse(root, out, why, whylen);
	else
		rc = ai_openai_parse(root, out, why, whylen);
out:
	if (curl != NULL)
		curl_easy_cleanup(curl);
	curl_slist_free_all(hdrs);
	json_object_put(body);
	json_object_put(root);
	free(buf.data);
	OPENSSL_cleanse(auth, sizeof(auth));
	if (rc != OK) {
		long keep_status = out->http_status;
		int keep_attempts = out->attempts;

		ai_result_free(out);
		out->http_status = keep_status;
		out->attempts = keep_attempts;
	}
	return rc;
}
