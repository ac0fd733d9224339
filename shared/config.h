/*
 * config.h - the one configuration of every Berth program.
 *
 * One config.yaml, Station-compatible where Station has the key (workspace,
 * ai_provider, ai_model, debug, local_mode, cloudship: with oauth:), plus
 * Berth's own sections. A single table in config.c (key, type, default,
 * bounds, environment override, secret, reloadable) drives parsing,
 * validation, defaults and config_show(); add a key there and here only.
 *
 * Ownership: config_load() returns a struct config the caller owns and frees
 * with config_free(); every string and list inside it belongs to it. Strings
 * are never NULL after a successful load (an unset string is "").
 */
#ifndef BERTH_CONFIG_H
#define BERTH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

/* A list of strings (YAML sequence of scalars). Owned by its struct config. */
struct strlist {
	char **v;
	size_t n;
};

/* A custom role: a name and the permission names it grants. */
struct config_role {
	char *name;
	struct strlist perms;
};

/* The custom roles of roles:, in file order. Owned by its struct config. */
struct config_roles {
	struct config_role *v;
	size_t n;
};

struct config_oauth {
	bool enabled;
	char *client_id;
	char *client_secret; /* secret */
	char *auth_url;
	char *token_url;
	char *introspect_url;
	char *redirect_uri;
	/* Every token must carry all of these; also scopes_supported. */
	struct strlist scopes;
	/* Berth (issue 6, oauth.h): the authorization server named in the
	 * RFC 9728 metadata ("" = cloudship.base_url); whether a token's
	 * org_id must be the station's; introspection timeout (seconds);
	 * seconds an accepted and a refused answer are cached. */
	char *issuer;
	bool org_scoping;
	int timeout;
	int cache_seconds;
	int negative_cache_seconds;
};

struct config_cloudship {
	bool enabled;
	char *registration_key; /* secret; env CLOUDSHIP_REGISTRATION_KEY */
	char *endpoint;         /* env CLOUDSHIP_ENDPOINT */
	bool use_tls;
	bool skip_tls_verify;
	char *name; /* env CLOUDSHIP_STATION_NAME */
	struct strlist tags;
	char *base_url;
	char *org_id; /* Berth: org for OAuth scoping when known */
	struct config_oauth oauth;
};

struct config {
	char *path; /* file loaded, or "" when only defaults and env applied */

	/* Station's top-level keys. */
	char *workspace;
	char *ai_provider;
	char *ai_model;
	char *ai_base_url;  /* "" = the provider's public API */
	int ai_timeout;     /* seconds per model call */
	int ai_max_retries; /* on 429/5xx */
	bool debug;
	bool local_mode;
	struct config_cloudship cloudship;

	/* Berth's own keys. */
	struct {
		char *url; /* secret (may hold a password); env DATABASE_URL */
		int connect_timeout; /* seconds */
	} database;
	struct {
		char *public_url; /* the public base URL, no trailing / */
		struct strlist allowed_origins;
		struct strlist allowed_hosts;
	} http;
	struct {
		char *listen; /* unix:PATH or HOST:PORT; "" = inherited socket */
		int workers;
	} fcgi;
	struct {
		int ttl_days;             /* env TS_MCP_SESSION_TTL_DAYS */
		int mcp_idle_timeout;     /* seconds */
		int mcp_absolute_timeout; /* seconds */
	} sessions;
	struct {
		/* Long tools/calls (SSE streams) in flight, all workers. */
		int max_streams;
		int keepalive_seconds; /* ":" comment on a quiet stream */
		/* How long an agent_<name> call waits for its run before it
		 * answers with the run id (follow it with get_run). */
		int agent_wait_seconds;
		bool conformance_fixtures; /* test-only fixture tools */
	} mcp;
	struct {
		int audit_days;
		int runs_days;
	} retention;
	struct {
		int workers; /* berthd's run worker processes; 0 = none */
	} runner;
	/* `berth auth anthropic login` (aicred.h): Claude's public values by
	 * default. */
	struct {
		char *authorize_url;
		char *token_url; /* https, or http to a loopback address */
		char *client_id;
		char *redirect_uri;
		struct strlist scopes;
		int timeout;        /* seconds per token request */
		int refresh_margin; /* refresh when this many seconds are left */
	} ai_oauth;
	struct {
		char *name; /* bound into the encryption of stored keys */
		char *base_url;
		char *login_path;
		char *login_method;
		char *username_field;
		char *password_field;
		char *api_key_field;  /* dotted path into the JSON response */
		char *api_key_header; /* header that carries the key upstream */
		int timeout;          /* seconds */
		char *tools_file; /* YAML of upstream tools (upstream_tools.h) */
	} upstream;
	struct {
		/* 0600 file with the base64 master key (crypto.h); "" = only
		 * $BERTH_ENCRYPTION_KEY / $TS_MCP_ENCRYPTION_KEY. */
		char *key_file;
		/* The previous key during a rotation; "" = only
		 * $BERTH_ENCRYPTION_KEY_OLD. */
		char *old_key_file;
	} encryption;
	char *agents_dir; /* "" = <workspace>/environments */
	struct strlist environments;

	/*
	 * Custom roles (roles:): names unique, of [A-Za-z0-9_.-]{1,64} and
	 * never a built-in's; every permission one authz_perm_parse() takes.
	 */
	struct config_roles roles;
	/* Brute-force protection (authfail.h) and API key bookkeeping. */
	struct {
		int lockout_failures;         /* per account, in the window */
		int lockout_address_failures; /* per client address */
		int lockout_window;           /* seconds */
		/* Seconds between last_used writes of a key; 0 = every use. */
		int key_touch_interval;
		/* Seconds a responder's credential cache may live without
		 * hearing from PostgreSQL (authcache.h); 0 = no cache. */
		int cache_lease;
		char *default_role; /* built-in or a key of roles: */
		/* Environment of the role given to users created on first
		 * upstream login ("*" = every environment). */
		char *default_environment;
	} auth;
};

/*
 * Where the config lives when no path is given: $BERTH_CONFIG, else
 * /etc/berth/config.yaml. Static string or getenv() pointer; do not free.
 */
const char *config_default_path(void);

/*
 * Loads path (or config_default_path() when path is NULL; a missing default
 * file is not an error, a missing explicit file is; when $BERTH_CONFIG named
 * the missing default, *diag gets a warning), expands ${VAR} and
 * ${VAR:-default} in scalars, applies defaults and environment overrides and
 * validates every key. On OK *out is set. *diag, when diag is not NULL,
 * receives a malloc'ed text the caller frees (or NULL when there is nothing
 * to say): one line per problem, "FILE:LINE: KEY: message", errors prefixed
 * "error: " and warnings (unknown keys) "warning: ". On error *out is NULL
 * and the return is ERR_CONFIG (bad file), ERR_IO (unreadable), ERR_TOO_BIG
 * or ERR_NOMEM.
 */
berr config_load(const char *path, struct config **out, char **diag)
    __attribute__((warn_unused_result));

/* As config_load(), from a buffer; name is for messages and cfg->path. */
berr config_load_buffer(const char *name, const char *text, size_t len,
    struct config **out, char **diag) __attribute__((warn_unused_result));

/*
 * For a reload: the first key whose new value a running program cannot
 * apply (a restart is needed) and that differs between old and next, or NULL
 * when next can replace old in place. Static string; do not free.
 */
const char *config_static_change(
    const struct config *old, const struct config *next);

/* Frees cfg and everything it owns. NULL is fine. */
void config_free(struct config *cfg);

/*
 * Prints the effective configuration as YAML to out, secrets masked as their
 * first 6 characters at most ("sk-abc…"), the database URL's password masked.
 */
void config_show(const struct config *cfg, FILE *out);

#endif
