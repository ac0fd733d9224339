/*
 * dotprompt.c - see dotprompt.h.
 *
 * The front matter goes through libyaml twice: an event pass that refuses
 * aliases (a few bytes of anchors expand to gigabytes) and nesting deeper
 * than LIMIT_CONFIG_DEPTH, then a document load walked by key. The body is
 * checked at parse time by the same walker that renders it, so a file that
 * loads also renders.
 */
#include "dotprompt.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "limit.h"
#include "validate.h"

#define DP_MAX_STEPS_DEFAULT 5
#define DP_MAX_STEPS_MAX     1000
#define DP_TOOL_NAME_MAX     128
#define DP_MODEL_MAX         200
#define DP_MAX_TOOLS         256
#define DP_MAX_FIELDS        100
#define DP_MAX_RENDERED      (DOTPROMPT_MAX_BYTES * 4)

static void __attribute__((format(printf, 3, 4)))
dp_fail(struct dotprompt_error *err, int line, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* ---- YAML helpers ------------------------------------------------------ */

static int
dp_node_line(const yaml_node_t *n, int base)
{
	return base + (int)n->start_mark.line;
}

static const char *
dp_scalar(const yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE
	    ? (const char *)n->data.scalar.value
	    : NULL;
}

/* A plain scalar that YAML 1.2's core schema reads as null. */
static bool
dp_is_null(const yaml_node_t *n)
{
	const char *s = dp_scalar(n);

	if (s == NULL)
		return false;
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	        strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0);
}

/*
 * Refuses aliases and deep nesting before the document is built. Returns
 * OK or ERR_INVALID (err filled) or ERR_NOMEM.
 */
static berr
dp_prescan(const char *text, size_t len, int base, struct dotprompt_error *err)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0;
	berr rc = OK;

	if (!yaml_parser_initialize(&p))
		return ERR_NOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			if (p.error == YAML_MEMORY_ERROR) {
				rc = ERR_NOMEM;
			} else {
				dp_fail(err, base + (int)p.problem_mark.line,
				    "front matter: %.120s",
				    p.problem ? p.problem : "bad YAML");
				rc = ERR_INVALID;
			}
			break;
		}
		if (ev.type == YAML_ALIAS_EVENT) {
			dp_fail(err, base + (int)ev.start_mark.line,
			    "front matter: aliases are not allowed");
			rc = ERR_INVALID;
		} else if (ev.type == YAML_MAPPING_START_EVENT ||
		    ev.type == YAML_SEQUENCE_START_EVENT) {
			if (++depth > LIMIT_CONFIG_DEPTH) {
				dp_fail(err, base + (int)ev.start_mark.line,
				    "front matter: nested deeper than %d "
				    "levels",
				    LIMIT_CONFIG_DEPTH);
				rc = ERR_INVALID;
			}
		} else if (ev.type == YAML_MAPPING_END_EVENT ||
		    ev.type == YAML_SEQUENCE_END_EVENT) {
			depth--;
		} else if (ev.type == YAML_DOCUMENT_START_EVENT &&
		    ev.start_mark.index > 0) {
			dp_fail(err, base + (int)ev.start_mark.line,
			    "front matter: more than one YAML document");
			rc = ERR_INVALID;
		}
		if (ev.type == YAML_STREAM_END_EVENT || rc != OK) {
			yaml_event_delete(&ev);
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

/*
 * Converts a YAML node to JSON: plain scalars that read as null, booleans
 * or numbers become those, everything else strings. Mapping keys must be
 * scalars. *out is new (NULL for JSON null). OK, ERR_INVALID, ERR_NOMEM.
 */
static berr
dp_to_json(yaml_document_t *doc, yaml_node_t *n, int base,
    struct json_object **out, struct dotprompt_error *err)
{
	yaml_node_pair_t *pair;
	yaml_node_item_t *it;
	struct json_object *o = NULL, *v;
	const char *s;
	char *end;
	long long ll;
	double d;
	berr rc;

	*out = NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		s = dp_scalar(n);
		if (dp_is_null(n))
			return OK;
		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
			if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
				o = json_object_new_boolean(*s == 't');
				goto scalar_done;
			}
			ll = strtoll(s, &end, 10);
			if (*s != '\0' && *end == '\0' && end - s < 19) {
				o = json_object_new_int64(ll);
				goto scalar_done;
			}
			d = strtod(s, &end);
			if (*s != '\0' && *end == '\0' && d == d &&
			    strspn(s, "0123456789+-.eE") == strlen(s)) {
				o = json_object_new_double(d);
				goto scalar_done;
			}
		}
		o = json_object_new_string_len(s, (int)n->data.scalar.length);
	scalar_done:
		if (o == NULL)
			return ERR_NOMEM;
		*out = o;
		return OK;
	case YAML_SEQUENCE_NODE:
		if ((o = json_object_new_array()) == NULL)
			return ERR_NOMEM;
		for (it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			rc = dp_to_json(doc, yaml_document_get_node(doc, *it),
			    base, &v, err);
			if (rc == OK && json_object_array_add(o, v) != 0) {
				json_object_put(v);
				rc = ERR_NOMEM;
			}
			if (rc != OK) {
				json_object_put(o);
				return rc;
			}
		}
		*out = o;
		return OK;
	case YAML_MAPPING_NODE:
		if ((o = json_object_new_object()) == NULL)
			return ERR_NOMEM;
		for (pair = n->data.mapping.pairs.start;
		     pair < n->data.mapping.pairs.top; pair++) {
			yaml_node_t *kn =
			    yaml_document_get_node(doc, pair->key);

			if ((s = dp_scalar(kn)) == NULL) {
				dp_fail(err, dp_node_line(kn, base),
				    "front matter: keys must be plain text");
				json_object_put(o);
				return ERR_INVALID;
			}
			rc = dp_to_json(doc,
			    yaml_document_get_node(doc, pair->value), base, &v,
			    err);
			if (rc == OK && json_object_object_add(o, s, v) != 0) {
				json_object_put(v);
				rc = ERR_NOMEM;
			}
			if (rc != OK) {
				json_object_put(o);
				return rc;
			}
		}
		*out = o;
		return OK;
	default: return OK;
	}
}

/* Finds key in mapping map (NULL when absent or map is not a mapping). */
static yaml_node_t *
dp_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *pair;
	const char *s;

	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		s = dp_scalar(yaml_document_get_node(doc, pair->key));
		if (s != NULL && strcmp(s, key) == 0)
			return yaml_document_get_node(doc, pair->value);
	}
	return NULL;
}

/* ERR_INVALID when a mapping repeats a key (libyaml keeps both). */
static berr
dp_no_duplicates(yaml_document_t *doc, yaml_node_t *map, int base,
    const char *where, struct dotprompt_error *err)
{
	yaml_node_pair_t *a, *b;
	const char *sa, *sb;

	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return OK;
	for (a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
	     a++) {
		sa = dp_scalar(yaml_document_get_node(doc, a->key));
		for (b = a + 1; sa != NULL && b < map->data.mapping.pairs.top;
		     b++) {
			yaml_node_t *kb = yaml_document_get_node(doc, b->key);

			sb = dp_scalar(kb);
			if (sb != NULL && strcmp(sa, sb) == 0) {
				dp_fail(err, dp_node_line(kb, base),
				    "%s%.60s: key given twice", where, sa);
				return ERR_INVALID;
			}
		}
	}
	return OK;
}

/*
 * A string field: scalar, checked with validate_text(). *out is a new copy,
 * or untouched when the key is absent or null.
 */
static berr
dp_string(yaml_document_t *doc, yaml_node_t *n, int base, const char *key,
    size_t min, size_t max, int single_line, char **out,
    struct dotprompt_error *err)
{
	char why[160];
	const char *s;

	if (n == NULL || dp_is_null(n))
		return OK;
	if ((s = dp_scalar(n)) == NULL) {
		dp_fail(err, dp_node_line(n, base), "%s: must be text", key);
		return ERR_INVALID;
	}
	if (strlen(s) != n->data.scalar.length) {
		dp_fail(err, dp_node_line(n, base), "%s: contains NUL", key);
		return ERR_INVALID;
	}
	if (validate_text(key, s, min, max, single_line, why, sizeof(why)) !=
	    OK) {
		dp_fail(err, dp_node_line(n, base), "%s", why);
		return ERR_INVALID;
	}
	(void)doc;
	free(*out);
	if ((*out = strdup(s)) == NULL)
		return ERR_NOMEM;
	return OK;
}

/* A tool name: 1..128 bytes of [A-Za-z0-9_.:/-]. */
static bool
dp_tool_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= DP_TOOL_NAME_MAX &&
	    strspn(s,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789_.:/-") == n;
}

/* A list of tool names; *out a new array, untouched when n is absent. */
static berr
dp_tool_list(yaml_document_t *doc, yaml_node_t *n, int base, const char *key,
    struct json_object **out, struct dotprompt_error *err)
{
	yaml_node_item_t *it;
	struct json_object *a, *v;
	const char *s;
	size_t count = 0;

	if (n == NULL || dp_is_null(n))
		return OK;
	if (n->type != YAML_SEQUENCE_NODE) {
		dp_fail(err, dp_node_line(n, base), "%s: must be a list", key);
		return ERR_INVALID;
	}
	if ((a = json_object_new_array()) == NULL)
		return ERR_NOMEM;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *in = yaml_document_get_node(doc, *it);

		s = dp_scalar(in);
		if (s == NULL || !dp_tool_name_ok(s)) {
			dp_fail(err, dp_node_line(in, base),
			    "%s: each entry must be a tool name (1 to %d "
			    "characters of A-Z a-z 0-9 _ . : / -)",
			    key, DP_TOOL_NAME_MAX);
			json_object_put(a);
			return ERR_INVALID;
		}
		if (++count > DP_MAX_TOOLS) {
			dp_fail(err, dp_node_line(in, base),
			    "%s: more than %d entries", key, DP_MAX_TOOLS);
			json_object_put(a);
			return ERR_INVALID;
		}
		if ((v = json_object_new_string(s)) == NULL ||
		    json_object_array_add(a, v) != 0) {
			json_object_put(v);
			json_object_put(a);
			return ERR_NOMEM;
		}
	}
	json_object_put(*out);
	*out = a;
	return OK;
}

/* ---- Picoschema -------------------------------------------------------- */

static bool
dp_scalar_type_ok(const char *t)
{
	static const char *const types[] = { "string", "number", "integer",
		"boolean", "null", "any", NULL };
	size_t i;

	for (i = 0; types[i] != NULL; i++)
		if (strcmp(t, types[i]) == 0)
			return true;
	return false;
}

/*
 * "type" or "type, description" → {"type": ..., "description": ...};
 * "any" gives {} (no constraint). New object in *out.
 */
static berr
dp_pico_scalar(const char *spec, int line, struct json_object **out,
    struct dotprompt_error *err)
{
	struct json_object *o;
	const char *comma = strchr(spec, ',');
	char type[16];
	size_t tlen = comma ? (size_t)(comma - spec) : strlen(spec);

	while (tlen > 0 && spec[tlen - 1] == ' ')
		tlen--;
	if (tlen == 0 || tlen >= sizeof(type)) {
		dp_fail(err, line, "input.schema: unknown type");
		return ERR_INVALID;
	}
	memcpy(type, spec, tlen);
	type[tlen] = '\0';
	if (!dp_scalar_type_ok(type)) {
		dp_fail(err, line,
		    "input.schema: unknown type \"%.15s\" (string, number, "
		    "integer, boolean, null, any)",
		    type);
		return ERR_INVALID;
	}
	if ((o = json_object_new_object()) == NULL)
		return ERR_NOMEM;
	if (strcmp(type, "any") != 0 &&
	    json_object_object_add(o, "type", json_object_new_string(type)) !=
	        0)
		goto nomem;
	if (comma != NULL) {
		const char *d = comma + 1;

		while (*d == ' ')
			d++;
		if (*d != '\0' &&
		    json_object_object_add(
		        o, "description", json_object_new_string(d)) != 0)
			goto nomem;
	}
	*out = o;
	return OK;
nomem:
	json_object_put(o);
	return ERR_NOMEM;
}

static berr dp_pico_object(yaml_document_t *doc, yaml_node_t *map, int base,
    int depth, struct json_object **out, struct dotprompt_error *err);

/*
 * One Picoschema field: key "name", "name?", "name(kind)" or
 * "name(kind, description)"; value per kind. Adds it to props (and to
 * required unless optional).
 */
static berr
dp_pico_field(yaml_document_t *doc, yaml_node_t *kn, yaml_node_t *vn, int base,
    int depth, struct json_object *props, struct json_object *req,
    struct dotprompt_error *err)
{
	const char *key = dp_scalar(kn), *paren, *s;
	char name[65], kind[16] = "", desc[256] = "";
	struct json_object *schema = NULL, *items = NULL, *en;
	bool optional = false;
	size_t nlen;
	int line = dp_node_line(kn, base);
	berr rc;

	if (key == NULL) {
		dp_fail(err, line, "input.schema: keys must be plain text");
		return ERR_INVALID;
	}
	paren = strchr(key, '(');
	nlen = paren ? (size_t)(paren - key) : strlen(key);
	if (nlen > 0 && key[nlen - 1] == '?') {
		optional = true;
		nlen--;
	}
	if (nlen == 0 || nlen >= sizeof(name) ||
	    strspn(key,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789_-") < nlen) {
		dp_fail(err, line,
		    "input.schema: field names are 1 to 64 characters of "
		    "A-Z a-z 0-9 _ -");
		return ERR_INVALID;
	}
	memcpy(name, key, nlen);
	name[nlen] = '\0';
	if (paren != NULL) {
		const char *close = strchr(paren, ')');
		const char *comma = strchr(paren, ',');
		size_t klen;

		if (close == NULL || close[1] != '\0') {
			dp_fail(err, line, "input.schema: %s: unbalanced '('",
			    name);
			return ERR_INVALID;
		}
		klen = (size_t)((comma && comma < close ? comma : close) -
		    (paren + 1));
		if (klen >= sizeof(kind))
			klen = sizeof(kind) - 1;
		memcpy(kind, paren + 1, klen);
		kind[klen] = '\0';
		if (comma != NULL && comma < close) {
			s = comma + 1;
			while (*s == ' ')
				s++;
			snprintf(
			    desc, sizeof(desc), "%.*s", (int)(close - s), s);
		}
	}
	if (json_object_object_get_ex(props, name, NULL)) {
		dp_fail(err, line, "input.schema: %s: given twice", name);
		return ERR_INVALID;
	}
	if (*kind == '\0') {
		if ((s = dp_scalar(vn)) == NULL) {
			if (vn->type == YAML_MAPPING_NODE) {
				/* a nested object without "(object)" */
				rc = dp_pico_object(
				    doc, vn, base, depth + 1, &schema, err);
				if (rc != OK)
					return rc;
				goto add;
			}
			dp_fail(err, dp_node_line(vn, base),
			    "input.schema: %s: the type must be text", name);
			return ERR_INVALID;
		}
		if ((rc = dp_pico_scalar(
		         s, dp_node_line(vn, base), &schema, err)) != OK)
			return rc;
	} else if (strcmp(kind, "array") == 0) {
		if ((s = dp_scalar(vn)) != NULL)
			rc = dp_pico_scalar(
			    s, dp_node_line(vn, base), &items, err);
		else if (vn->type == YAML_MAPPING_NODE)
			rc = dp_pico_object(
			    doc, vn, base, depth + 1, &items, err);
		else {
			dp_fail(err, dp_node_line(vn, base),
			    "input.schema: %s: an array needs an item type",
			    name);
			rc = ERR_INVALID;
		}
		if (rc != OK)
			return rc;
		if ((schema = json_object_new_object()) == NULL ||
		    json_object_object_add(
		        schema, "type", json_object_new_string("array")) != 0 ||
		    json_object_object_add(schema, "items", items) != 0) {
			json_object_put(items);
			json_object_put(schema);
			return ERR_NOMEM;
		}
	} else if (strcmp(kind, "object") == 0) {
		if (vn->type != YAML_MAPPING_NODE) {
			dp_fail(err, dp_node_line(vn, base),
			    "input.schema: %s: an object needs fields", name);
			return ERR_INVALID;
		}
		if ((rc = dp_pico_object(
		         doc, vn, base, depth + 1, &schema, err)) != OK)
			return rc;
	} else if (strcmp(kind, "enum") == 0) {
		if (vn->type != YAML_SEQUENCE_NODE) {
			dp_fail(err, dp_node_line(vn, base),
			    "input.schema: %s: an enum needs a list", name);
			return ERR_INVALID;
		}
		if ((rc = dp_to_json(doc, vn, base, &en, err)) != OK)
			return rc;
		if ((schema = json_object_new_object()) == NULL ||
		    json_object_object_add(schema, "enum", en) != 0) {
			json_object_put(en);
			json_object_put(schema);
			return ERR_NOMEM;
		}
	} else {
		dp_fail(err, line,
		    "input.schema: %s: unknown kind \"%.15s\" (array, "
		    "object, enum)",
		    name, kind);
		return ERR_INVALID;
	}
	if (*desc != '\0' &&
	    json_object_object_add(
	        schema, "description", json_object_new_string(desc)) != 0) {
		json_object_put(schema);
		return ERR_NOMEM;
	}
add:
	if (json_object_object_add(props, name, schema) != 0) {
		json_object_put(schema);
		return ERR_NOMEM;
	}
	if (!optional &&
	    json_object_array_add(req, json_object_new_string(name)) != 0)
		return ERR_NOMEM;
	return OK;
}

/* A Picoschema mapping → {"type":"object","properties":..,"required":..}. */
static berr
dp_pico_object(yaml_document_t *doc, yaml_node_t *map, int base, int depth,
    struct json_object **out, struct dotprompt_error *err)
{
	struct json_object *o, *props, *req;
	yaml_node_pair_t *pair;
	size_t count = 0;
	berr rc = OK;

	*out = NULL;
	if (depth > 8) {
		dp_fail(err, dp_node_line(map, base),
		    "input.schema: nested deeper than 8 objects");
		return ERR_INVALID;
	}
	o = json_object_new_object();
	props = json_object_new_object();
	req = json_object_new_array();
	if (o == NULL || props == NULL || req == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(doc, pair->key);

		if (++count > DP_MAX_FIELDS) {
			dp_fail(err, dp_node_line(kn, base),
			    "input.schema: more than %d fields", DP_MAX_FIELDS);
			rc = ERR_INVALID;
			goto out;
		}
		rc = dp_pico_field(doc, kn,
		    yaml_document_get_node(doc, pair->value), base, depth,
		    props, req, err);
		if (rc != OK)
			goto out;
	}
	if (json_object_object_add(o, "type", json_object_new_string("object")))
		rc = ERR_NOMEM;
	else if (json_object_object_add(o, "properties", props) != 0)
		rc = ERR_NOMEM;
	else
		props = NULL;
	if (rc == OK && json_object_array_length(req) > 0) {
		if (json_object_object_add(o, "required", req) != 0)
			rc = ERR_NOMEM;
		else
			req = NULL;
	}
out:
	json_object_put(props);
	json_object_put(req);
	if (rc != OK)
		json_object_put(o);
	else
		*out = o;
	return rc;
}

/*
 * input.schema: a JSON Schema object (a "type" and "properties") taken as
 * written, else Picoschema. Without one, *out keeps the caller's default
 * {"type": "object"}.
 */
static berr
dp_input_schema(yaml_document_t *doc, yaml_node_t *input, int base,
    struct json_object **out, struct dotprompt_error *err)
{
	yaml_node_t *schema = dp_get(doc, input, "schema");
	struct json_object *o, *t;
	berr rc;

	if (input != NULL && !dp_is_null(input) &&
	    input->type != YAML_MAPPING_NODE) {
		dp_fail(
		    err, dp_node_line(input, base), "input: must be a mapping");
		return ERR_INVALID;
	}
	if (schema == NULL || dp_is_null(schema))
		return OK; /* the caller's default stays */
	if (schema->type != YAML_MAPPING_NODE) {
		dp_fail(err, dp_node_line(schema, base),
		    "input.schema: must be a mapping");
		return ERR_INVALID;
	}
	if ((rc = dp_no_duplicates(doc, schema, base, "input.schema.", err)) !=
	    OK)
		return rc;
	if (dp_get(doc, schema, "type") != NULL &&
	    dp_scalar(dp_get(doc, schema, "type")) != NULL &&
	    dp_get(doc, schema, "properties") != NULL) {
		if ((rc = dp_to_json(doc, schema, base, &o, err)) != OK)
			return rc;
		if (!json_object_object_get_ex(o, "type", &t) ||
		    !json_object_is_type(t, json_type_string) ||
		    strcmp(json_object_get_string(t), "object") != 0) {
			json_object_put(o);
			dp_fail(err, dp_node_line(schema, base),
			    "input.schema: a JSON Schema here must have "
			    "type: object");
			return ERR_INVALID;
		}
	} else if ((rc = dp_pico_object(doc, schema, base, 0, &o, err)) != OK) {
		return rc;
	}
	json_object_put(*out);
	*out = o;
	return OK;
}

/* ---- the template walker ---------------------------------------------- */

struct dp_out {
	struct json_object *messages; /* NULL: check only */
	char role[16];
	char *buf;
	size_t len, cap, total;
};

static berr
dp_put(struct dp_out *o, const char *s, size_t n)
{
	char *nb;
	size_t cap;

	if (o->messages == NULL || n == 0)
		return OK;
	if (n > DP_MAX_RENDERED - o->total)
		return ERR_TOO_BIG;
	if (o->len + n + 1 > o->cap) {
		cap = o->cap ? o->cap : 256;
		while (cap < o->len + n + 1)
			cap *= 2;
		if ((nb = realloc(o->buf, cap)) == NULL)
			return ERR_NOMEM;
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->total += n;
	o->buf[o->len] = '\0';
	return OK;
}

/* Ends the current message: appended unless only white space. */
static berr
dp_flush(struct dp_out *o)
{
	struct json_object *m;
	size_t a = 0, b = o->len;

	if (o->messages == NULL)
		return OK;
	while (a < b && strchr(" \t\r\n", o->buf[a]) != NULL)
		a++;
	while (b > a && strchr(" \t\r\n", o->buf[b - 1]) != NULL)
		b--;
	if (b > a) {
		if ((m = json_object_new_object()) == NULL)
			return ERR_NOMEM;
		if (json_object_object_add(
		        m, "role", json_object_new_string(o->role)) != 0 ||
		    json_object_object_add(m, "content",
		        json_object_new_string_len(o->buf + a, (int)(b - a))) !=
		        0 ||
		    json_object_array_add(o->messages, m) != 0) {
			json_object_put(m);
			return ERR_NOMEM;
		}
	}
	o->len = 0;
	return OK;
}

/* Looks a dotted path up in vars; NULL when absent. */
static struct json_object *
dp_lookup(struct json_object *vars, const char *path, size_t n)
{
	struct json_object *cur = vars, *next;
	char part[65];
	size_t i = 0, j;

	while (cur != NULL && i < n) {
		j = i;
		while (j < n && path[j] != '.')
			j++;
		if (j - i == 0 || j - i >= sizeof(part) ||
		    !json_object_is_type(cur, json_type_object))
			return NULL;
		memcpy(part, path + i, j - i);
		part[j - i] = '\0';
		if (!json_object_object_get_ex(cur, part, &next))
			return NULL;
		cur = next;
		i = j + 1;
	}
	return cur;
}

static bool
dp_ident_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    (!first && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
}

/*
 * One tag's inside (between the braces, trimmed). Writes the variable or
 * switches the role. line is for errors.
 */
static berr
dp_tag(struct dp_out *o, struct json_object *vars, const char *s, size_t n,
    int line, struct dotprompt_error *err)
{
	struct json_object *v;
	const char *txt;
	size_t i;
	berr rc;

	if (n >= 4 && strncmp(s, "role", 4) == 0 && (n == 4 || s[4] == ' ')) {
		static const char *const roles[] = { "system", "user", "model",
			"assistant", NULL };
		const char *r = s + 4;
		size_t rn;
		char q;
		int k;

		while (r < s + n && *r == ' ')
			r++;
		rn = (size_t)(s + n - r);
		q = rn >= 2 ? *r : '\0';
		if ((q != '"' && q != '\'') || r[rn - 1] != q) {
			dp_fail(err, line,
			    "template: role needs a quoted name, e.g. "
			    "{{role \"system\"}}");
			return ERR_INVALID;
		}
		for (k = 0; roles[k] != NULL; k++)
			if (strlen(roles[k]) == rn - 2 &&
			    strncmp(r + 1, roles[k], rn - 2) == 0)
				break;
		if (roles[k] == NULL) {
			dp_fail(err, line,
			    "template: unknown role (system, user, model, "
			    "assistant)");
			return ERR_INVALID;
		}
		if ((rc = dp_flush(o)) != OK)
			return rc;
		snprintf(o->role, sizeof(o->role), "%s",
		    strcmp(roles[k], "assistant") == 0 ? "model" : roles[k]);
		return OK;
	}
	if (n > 0 && *s == '.') { /* Station's Go-template {{ .VAR }} */
		s++;
		n--;
	}
	for (i = 0; i < n; i++)
		if (!dp_ident_char(s[i], i == 0))
			break;
	if (n == 0 || i < n || n > 128) {
		dp_fail(err, line,
		    "template: only {{variable}} and {{role \"...\"}} are "
		    "supported here");
		return ERR_INVALID;
	}
	if (o->messages == NULL || (v = dp_lookup(vars, s, n)) == NULL)
		return OK;
	if (json_object_is_type(v, json_type_string))
		txt = json_object_get_string(v);
	else
		txt = json_object_to_json_string_ext(
		    v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	return txt ? dp_put(o, txt, strlen(txt)) : ERR_NOMEM;
}

/*
 * Walks template (base = line of its first line), checking every tag and,
 * when o->messages is set, rendering into it.
 */
static berr
dp_walk(const char *t, int base, struct json_object *vars, struct dp_out *o,
    struct dotprompt_error *err)
{
	const char *p = t, *open, *close, *a, *b, *end;
	int line = base;
	bool triple, strip_next = false;
	berr rc;

	for (;;) {
		/* "~}}" before: the text that follows loses its leading
		 * white space (Handlebars' whitespace control). */
		while (strip_next && *p != '\0' && strchr(" \t\r\n", *p)) {
			line += *p == '\n';
			p++;
		}
		strip_next = false;
		if ((open = strstr(p, "{{")) == NULL)
			break;
		if (open > p && open[-1] == '\\') { /* \{{ is literal */
			if ((rc = dp_put(o, p, (size_t)(open - 1 - p))) != OK ||
			    (rc = dp_put(o, "{{", 2)) != OK)
				return rc;
			for (a = p; a < open; a++)
				line += *a == '\n';
			p = open + 2;
			continue;
		}
		triple = open[2] == '{';
		a = open + (triple ? 3 : 2);
		/* "{{~": the text before loses its trailing white space. */
		end = open;
		if (*a == '~')
			while (end > p && strchr(" \t\r\n", end[-1]) != NULL)
				end--;
		if ((rc = dp_put(o, p, (size_t)(end - p))) != OK)
			return rc;
		for (b = p; b < open; b++)
			line += *b == '\n';
		if (*a == '~')
			a++;
		if (a[0] == '!') { /* comment: {{! .. }} or {{!-- .. --}} */
			close = strncmp(a, "!--", 3) == 0 ? strstr(a, "--}}")
			                                  : strstr(a, "}}");
			if (close == NULL) {
				dp_fail(
				    err, line, "template: comment not closed");
				return ERR_INVALID;
			}
			strip_next = close > a && close[-1] == '~';
			close += *close == '-' ? 4 : 2;
			for (b = open; b < close; b++)
				line += *b == '\n';
			p = close;
			continue;
		}
		close = strstr(a, triple ? "}}}" : "}}");
		if (close == NULL || memchr(a, '\n', (size_t)(close - a))) {
			dp_fail(err, line,
			    "template: \"{{\" not closed on its line");
			return ERR_INVALID;
		}
		b = close;
		if (b > a && b[-1] == '~') {
			strip_next = true;
			b--;
		}
		while (a < b && *a == ' ')
			a++;
		while (b > a && b[-1] == ' ')
			b--;
		if (triple && b > a && *a == '.') {
			dp_fail(err, line, "template: bad {{{...}}}");
			return ERR_INVALID;
		}
		if ((rc = dp_tag(o, vars, a, (size_t)(b - a), line, err)) != OK)
			return rc;
		p = close + (triple ? 3 : 2);
	}
	return dp_put(o, p, strlen(p));
}

/* ---- public ------------------------------------------------------------ */

void
dotprompt_free(struct dotprompt *dp)
{
	if (dp == NULL)
		return;
	free(dp->name);
	free(dp->description);
	free(dp->model);
	json_object_put(dp->tools);
	json_object_put(dp->allowed_tools);
	json_object_put(dp->denied_tools);
	json_object_put(dp->input_schema);
	free(dp->template);
	memset(dp, 0, sizeof(*dp));
}

/*
 * Copies text with CRLF turned into LF; refuses NUL. *out is new.
 */
static berr
dp_normalize(const char *text, size_t len, char **out, size_t *outlen,
    struct dotprompt_error *err)
{
	char *s;
	size_t i, j = 0;

	if (memchr(text, '\0', len) != NULL) {
		dp_fail(err, 0, "the file contains a NUL byte");
		return ERR_INVALID;
	}
	if ((s = calloc(1, len + 1)) == NULL)
		return ERR_NOMEM;
	i = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
	for (; i < len; i++)
		if (!(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n'))
			s[j++] = text[i];
	s[j] = '\0';
	*out = s;
	*outlen = j;
	return OK;
}

/* A line that is exactly "---" (trailing blanks allowed). */
static bool
dp_is_fence(const char *line, const char *end)
{
	if (end - line < 3 || strncmp(line, "---", 3) != 0)
		return false;
	for (line += 3; line < end; line++)
		if (*line != ' ' && *line != '\t')
			return false;
	return true;
}

static berr
dp_front(yaml_document_t *doc, int base, const char *fallback,
    struct dotprompt *dp, struct dotprompt_error *err)
{
	yaml_node_t *root = doc ? yaml_document_get_root_node(doc) : NULL;
	yaml_node_t *meta, *n;
	char why[160];
	berr rc;

	if (root == NULL || dp_is_null(root))
		goto name;
	if (root->type != YAML_MAPPING_NODE) {
		dp_fail(err, dp_node_line(root, base),
		    "front matter: must be a mapping of keys");
		return ERR_INVALID;
	}
	if ((rc = dp_no_duplicates(doc, root, base, "", err)) != OK)
		return rc;
	meta = dp_get(doc, root, "metadata");
	if (meta != NULL && !dp_is_null(meta) &&
	    meta->type != YAML_MAPPING_NODE) {
		dp_fail(err, dp_node_line(meta, base),
		    "metadata: must be a mapping");
		return ERR_INVALID;
	}
	if ((rc = dp_no_duplicates(doc, meta, base, "metadata.", err)) != OK)
		return rc;
	/* The flat spelling first, metadata.* wins when both are there. */
	if ((rc = dp_string(doc, dp_get(doc, root, "name"), base, "name", 1,
	         VALIDATE_NAME_MAX, 1, &dp->name, err)) != OK ||
	    (rc = dp_string(doc, dp_get(doc, meta, "name"), base,
	         "metadata.name", 1, VALIDATE_NAME_MAX, 1, &dp->name, err)) !=
	        OK ||
	    (rc = dp_string(doc, dp_get(doc, root, "description"), base,
	         "description", 0, VALIDATE_DESCRIPTION_MAX, 0,
	         &dp->description, err)) != OK ||
	    (rc = dp_string(doc, dp_get(doc, meta, "description"), base,
	         "metadata.description", 0, VALIDATE_DESCRIPTION_MAX, 0,
	         &dp->description, err)) != OK ||
	    (rc = dp_string(doc, dp_get(doc, root, "model"), base, "model", 1,
	         DP_MODEL_MAX, 1, &dp->model, err)) != OK ||
	    (rc = dp_tool_list(doc, dp_get(doc, root, "tools"), base, "tools",
	         &dp->tools, err)) != OK ||
	    (rc = dp_tool_list(doc, dp_get(doc, root, "allowed_tools"), base,
	         "allowed_tools", &dp->allowed_tools, err)) != OK ||
	    (rc = dp_tool_list(doc, dp_get(doc, root, "denied_tools"), base,
	         "denied_tools", &dp->denied_tools, err)) != OK ||
	    (rc = dp_input_schema(doc, dp_get(doc, root, "input"), base,
	         &dp->input_schema, err)) != OK)
		return rc;
	if ((n = dp_get(doc, root, "max_steps")) != NULL && !dp_is_null(n)) {
		const char *s = dp_scalar(n);
		char *end = NULL;
		long v = s ? strtol(s, &end, 10) : 0;

		if (s == NULL || *s == '\0' || *end != '\0' || v < 1 ||
		    v > DP_MAX_STEPS_MAX) {
			dp_fail(err, dp_node_line(n, base),
			    "max_steps: must be a whole number from 1 to %d",
			    DP_MAX_STEPS_MAX);
			return ERR_INVALID;
		}
		dp->max_steps = (int)v;
	}
name:
	if (dp->name == NULL) {
		if (fallback == NULL ||
		    validate_name("name", fallback, why, sizeof(why)) != OK) {
			dp_fail(err, 1, "no agent name (metadata.name)");
			return ERR_INVALID;
		}
		if ((dp->name = strdup(fallback)) == NULL)
			return ERR_NOMEM;
	}
	return OK;
}

berr
dotprompt_parse(const char *text, size_t len, const char *fallback_name,
    struct dotprompt *out, struct dotprompt_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct dp_out check = { 0 };
	char *s = NULL, why[160];
	const char *fm = NULL, *body, *eol;
	size_t n, fmlen = 0;
	int body_line = 1;
	bool have_doc = false, have_parser = false;
	berr rc;

	memset(out, 0, sizeof(*out));
	if (err != NULL) {
		err->line = 0;
		err->msg[0] = '\0';
	}
	if (len > DOTPROMPT_MAX_BYTES) {
		dp_fail(err, 0, "larger than %d bytes", DOTPROMPT_MAX_BYTES);
		return ERR_TOO_BIG;
	}
	if ((rc = dp_normalize(text, len, &s, &n, err)) != OK)
		return rc;
	out->max_steps = DP_MAX_STEPS_DEFAULT;
	body = s;
	eol = strchr(s, '\n');
	if (dp_is_fence(s, eol ? eol : s + n)) {
		const char *line = eol ? eol + 1 : s + n;

		fm = line;
		body_line = 2;
		for (;;) {
			if (line >= s + n) {
				dp_fail(err, 1,
				    "front matter: no closing \"---\" line");
				rc = ERR_INVALID;
				goto out;
			}
			eol = strchr(line, '\n');
			if (dp_is_fence(line, eol ? eol : s + n))
				break;
			body_line++;
			line = eol ? eol + 1 : s + n;
		}
		fmlen = (size_t)(line - fm);
		body = eol ? eol + 1 : s + n;
		body_line++;
	}
	if (validate_text("template", body, 0, DOTPROMPT_MAX_BYTES, 0, why,
	        sizeof(why)) != OK) {
		dp_fail(err, body_line, "%s", why);
		rc = ERR_INVALID;
		goto out;
	}
	if ((out->tools = json_object_new_array()) == NULL ||
	    (out->input_schema = json_object_new_object()) == NULL ||
	    json_object_object_add(out->input_schema, "type",
	        json_object_new_string("object")) != 0 ||
	    (out->description = strdup("")) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (fm != NULL && fmlen > 0) {
		if ((rc = dp_prescan(fm, fmlen, 2, err)) != OK)
			goto out;
		if (!yaml_parser_initialize(&parser)) {
			rc = ERR_NOMEM;
			goto out;
		}
		have_parser = true;
		yaml_parser_set_input_string(
		    &parser, (const unsigned char *)fm, fmlen);
		if (!yaml_parser_load(&parser, &doc)) {
			dp_fail(err, 2 + (int)parser.problem_mark.line,
			    "front matter: %.120s",
			    parser.problem ? parser.problem : "bad YAML");
			rc = parser.error == YAML_MEMORY_ERROR ? ERR_NOMEM
			                                       : ERR_INVALID;
			goto out;
		}
		have_doc = true;
	}
	rc = dp_front(have_doc ? &doc : NULL, 2, fallback_name, out, err);
	if (rc != OK)
		goto out;
	/* The body must render: check every tag now, with its line. */
	if ((rc = dp_walk(body, body_line, NULL, &check, err)) != OK)
		goto out;
	if ((out->template = strdup(body)) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	out->body_line = body_line;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	free(s);
	if (rc != OK)
		dotprompt_free(out);
	return rc;
}

berr
dotprompt_render(const char *template, struct json_object *vars,
    struct json_object **messages, struct dotprompt_error *err)
{
	struct dp_out o = { 0 };
	berr rc;

	*messages = NULL;
	if (err != NULL) {
		err->line = 0;
		err->msg[0] = '\0';
	}
	if ((o.messages = json_object_new_array()) == NULL)
		return ERR_NOMEM;
	snprintf(o.role, sizeof(o.role), "user");
	if ((rc = dp_walk(template, 1, vars, &o, err)) == OK)
		rc = dp_flush(&o);
	free(o.buf);
	if (rc != OK) {
		if (rc == ERR_TOO_BIG)
			dp_fail(err, 0, "rendered prompt larger than %d bytes",
			    DP_MAX_RENDERED);
		json_object_put(o.messages);
		return rc;
	}
	*messages = o.messages;
	return OK;
}
