/*
 * mcpconfig.c - server URLs from MCP client configs. See mcpconfig.h.
 */
#include "mcpconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#define MCPCONFIG_MAX 64

struct mcpconfig_server {
	char name[128];
	char url[1024];
	char file[256];
};

struct mcpconfig_found {
	struct mcpconfig_server v[MCPCONFIG_MAX];
	size_t n;
};

static bool
mcpconfig_is_http(const char *s)
{
	return strncasecmp(s, "http://", 7) == 0 ||
	    strncasecmp(s, "https://", 8) == 0;
}

berr
mcpconfig_normalise(char *url)
{
	size_t n;

	if (!mcpconfig_is_http(url))
		return ERR_INVALID;
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	if (n >= 4 && strcmp(url + n - 4, "/mcp") == 0)
		url[n -= 4] = '\0';
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	return n > 8 ? OK : ERR_INVALID;
}

/* The URL of one server entry, or NULL. */
static const char *
mcpconfig_entry_url(struct json_object *e)
{
	struct json_object *v, *a;
	size_t i, n;
	bool proxy = false;

	if (json_object_object_get_ex(e, "url", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    mcpconfig_is_http(json_object_get_string(v)))
		return json_object_get_string(v);
	/* {"command": "berth", "args": ["proxy", "https://..."]} */
	if (!json_object_object_get_ex(e, "args", &a) ||
	    !json_object_is_type(a, json_type_array))
		return NULL;
	n = json_object_array_length(a);
	for (i = 0; i < n; i++) {
		const char *s;

		v = json_object_array_get_idx(a, i);
		if (!json_object_is_type(v, json_type_string))
			continue;
		s = json_object_get_string(v);
		if (strcmp(s, "proxy") == 0)
			proxy = true;
		else if (proxy && mcpconfig_is_http(s))
			return s;
	}
	return NULL;
}

/* Adds the servers of an mcpServers object. */
static void
mcpconfig_add(
    struct json_object *servers, const char *file, struct mcpconfig_found *f)
{
	const char *u;
	size_t i;
	bool dup;

	if (servers == NULL || !json_object_is_type(servers, json_type_object))
		return;
	json_object_object_foreach(servers, name, e)
	{
		struct mcpconfig_server *s;

		if (f->n >= MCPCONFIG_MAX ||
		    !json_object_is_type(e, json_type_object) ||
		    (u = mcpconfig_entry_url(e)) == NULL)
			continue;
		s = &f->v[f->n];
		snprintf(s->name, sizeof(s->name), "%s", name);
		snprintf(s->url, sizeof(s->url), "%s", u);
		snprintf(s->file, sizeof(s->file), "%s", file);
		if (mcpconfig_normalise(s->url) != OK)
			continue;
		/* The same name and URL in two files counts once. */
		for (i = 0, dup = false; i < f->n; i++)
			if (strcmp(f->v[i].name, s->name) == 0 &&
			    strcmp(f->v[i].url, s->url) == 0)
				dup = true;
		if (!dup)
			f->n++;
	}
}

/* Reads one config file (silently skipped when absent or not JSON). */
static void
mcpconfig_file(const char *path, bool projects, struct mcpconfig_found *f)
{
	struct json_object *o = json_object_from_file(path), *s, *p;

	if (o == NULL)
		return;
	if (json_object_is_type(o, json_type_object)) {
		if (json_object_object_get_ex(o, "mcpServers", &s))
			mcpconfig_add(s, path, f);
		if (projects && json_object_object_get_ex(o, "projects", &p) &&
		    json_object_is_type(p, json_type_object)) {
			json_object_object_foreach(p, dir, proj)
			{
				(void)dir;
				if (json_object_is_type(
				        proj, json_type_object) &&
				    json_object_object_get_ex(
				        proj, "mcpServers", &s))
					mcpconfig_add(s, path, f);
			}
		}
	}
	json_object_put(o);
}

static void
mcpconfig_scan(struct mcpconfig_found *f)
{
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char path[4096];

	f->n = 0;
	if (home != NULL) {
		snprintf(path, sizeof(path), "%s/.claude.json", home);
		mcpconfig_file(path, true, f);
		snprintf(path, sizeof(path), "%s/.claude/mcp.json", home);
		mcpconfig_file(path, false, f);
	}
	mcpconfig_file(".mcp.json", false, f);
	if (xdg != NULL && xdg[0] == '/')
		snprintf(path, sizeof(path),
		    "%s/Claude/claude_desktop_config.json", xdg);
	else
		snprintf(path, sizeof(path),
		    "%s/.config/Claude/claude_desktop_config.json",
		    home ? home : ".");
	mcpconfig_file(path, false, f);
}

/* "name (url), ..." of the servers found, into buf. */
static void
mcpconfig_names(const struct mcpconfig_found *f, char *buf, size_t size)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < f->n && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s (%s)",
		    i ? ", " : "", f->v[i].name, f->v[i].url);
}

berr
mcpconfig_resolve(
    const char *arg, char *url, size_t size, char *why, size_t whysize)
{
	static struct mcpconfig_found f;
	char names[1024];
	size_t i, hit = 0, nhits = 0;

	why[0] = '\0';
	if (arg != NULL && mcpconfig_is_http(arg)) {
		snprintf(url, size, "%s", arg);
		if (mcpconfig_normalise(url) != OK) {
			snprintf(why, whysize, "%s is not a server URL", arg);
			return ERR_INVALID;
		}
		return OK;
	}
	mcpconfig_scan(&f);
	mcpconfig_names(&f, names, sizeof(names));
	for (i = 0; i < f.n; i++)
		if (arg == NULL || strcmp(f.v[i].name, arg) == 0) {
			if (nhits == 0 || strcmp(f.v[hit].url, f.v[i].url) != 0)
				nhits++;
			hit = i;
		}
	if (nhits == 1) {
		snprintf(url, size, "%s", f.v[hit].url);
		return OK;
	}
	if (nhits == 0 && arg != NULL) {
		snprintf(why, whysize,
		    "no MCP server named %s in ~/.claude.json, "
		    "~/.claude/mcp.json, .mcp.json or Claude Desktop's "
		    "config%s%s",
		    arg, f.n ? "; found: " : "", names);
		return ERR_NOT_FOUND;
	}
	if (nhits == 0) {
		snprintf(why, whysize,
		    "no MCP server with a URL is configured; give one: "
		    "berth login https://berth.example.com");
		return ERR_NOT_FOUND;
	}
	snprintf(why, whysize,
	    "several MCP servers are configured; name one: %s", names);
	return ERR_CONFLICT;
}
