/*
 * dotprompt.h - Station's agent files (".prompt", GenKit dotprompt): YAML
 * front matter between two "---" lines, then a template body.
 *
 * Front matter read here (Station's keys; both the nested and the flat
 * spellings Station has used):
 *   metadata.name | name           agent name (else the file's base name)
 *   metadata.description | description
 *   model, max_steps, tools (list of tool names),
 *   allowed_tools, denied_tools    (lists; Station's per-agent security)
 *   input.schema                   Picoschema ("var: type, description",
 *                                  "var?: type" optional, "var(array): type",
 *                                  "var(object): {...}", "var(enum): [..]")
 *                                  or a JSON Schema object given as is.
 * Other keys (config, output, metadata.tags, ...) are accepted and ignored,
 * so any file Station reads loads here.
 *
 * The body is Handlebars as dotprompt uses it, without HTML escaping:
 * {{var}}, {{ var }}, {{{var}}}, Station's Go-style {{ .VAR }}, comments
 * {{! .. }} and {{!-- .. --}}, whitespace control ({{~ trims the template
 * text before a tag, ~}} the text after), and {{role "system"}} /
 * {{role "user"}} markers that split the prompt into messages. Anything else in braces ({{#if}}, partials, helpers) is
 * refused at parse time with its line, not passed to the model as text.
 *
 * Ownership: dotprompt_parse() fills a struct dotprompt the caller frees
 * with dotprompt_free() (also after a failure: it is then empty). Nothing
 * here touches the database or the file system.
 */
#ifndef BERTH_DOTPROMPT_H
#define BERTH_DOTPROMPT_H

#include <stddef.h>

#include <json-c/json.h>

#include "err.h"

/* The largest .prompt file read (front matter plus body). */
#define DOTPROMPT_MAX_BYTES (256 * 1024)

struct dotprompt {
	char *name;                        /* never NULL after success */
	char *description;                 /* "" when absent */
	char *model;                       /* NULL when absent */
	int max_steps;                     /* 5 when absent */
	struct json_object *tools;         /* array of strings, maybe empty */
	struct json_object *allowed_tools; /* NULL or array of strings */
	struct json_object *denied_tools;  /* NULL or array of strings */
	struct json_object *input_schema;  /* JSON Schema, type object */
	char *template;                    /* the body, as written */
	int body_line;                     /* line of the body's first line */
};

/* Where and why a file was refused. */
struct dotprompt_error {
	int line; /* 1-based; 0 when the whole file is at fault */
	char msg[200];
};

/*
 * Parses text (len bytes, need not be NUL-terminated). fallback_name (may
 * be NULL) names the agent when the front matter does not. Returns OK;
 * ERR_INVALID with *err filled (line and message, printable ASCII, no
 * text from the file but key names); ERR_TOO_BIG over DOTPROMPT_MAX_BYTES;
 * ERR_NOMEM.
 */
berr dotprompt_parse(const char *text, size_t len, const char *fallback_name,
    struct dotprompt *out, struct dotprompt_error *err)
    __attribute__((warn_unused_result));

void dotprompt_free(struct dotprompt *dp);

/*
 * Renders template with vars (an object; NULL = none) into *messages: a new
 * array of {"role": "system"|"user"|"model", "content": "..."}, in order,
 * empty messages dropped. Text before the first role marker is a "user"
 * message unless it is only white space. A variable that is absent renders
 * as "" (Handlebars); strings render as themselves, other JSON values as
 * their JSON text. The output is capped at DOTPROMPT_MAX_BYTES * 4.
 * Returns OK (caller owns *messages, put with json_object_put()),
 * ERR_INVALID (template the parser would refuse; err filled), ERR_TOO_BIG,
 * ERR_NOMEM.
 */
berr dotprompt_render(const char *template, struct json_object *vars,
    struct json_object **messages, struct dotprompt_error *err)
    __attribute__((warn_unused_result));

#endif
