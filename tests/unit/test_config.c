/*
 * test_config.c - CUnit suite for shared/config.c.
 *
 * Fixtures live in tests/fixtures/config/, found through $BERTH_SRCDIR (set
 * by make check; "." otherwise). The table-driven cases are data files:
 * values.tsv (one key and value per line), mask.tsv (database URLs as
 * config_show prints them) and errors/ (one bad file each, with the
 * expected diagnostics in its comments). The suite runs with HOME set to
 * /home/tester and the override variables unset, so results do not depend
 * on who runs it.
 */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "limit.h"
#include "unit.h"

/* Every variable that config_load() reads besides ${} references. */
static const char *const test_vars[] = { "CLOUDSHIP_REGISTRATION_KEY",
	"CLOUDSHIP_ENDPOINT", "CLOUDSHIP_STATION_NAME", "DATABASE_URL",
	"TS_MCP_SESSION_TTL_DAYS", "BERTH_CONFIG", NULL };

/* A failed check with a message saying which case, kept by CUnit. */
static void test_check(bool ok, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
test_check(bool ok, int line, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, msg,
	    __FILE__, "", CU_FALSE);
}

#define CHECK(ok, ...) test_check((ok), __LINE__, __VA_ARGS__)

/* $BERTH_SRCDIR/tests/fixtures/config/name; caller frees. */
static char *
test_fixture(const char *name)
{
	const char *src = getenv("BERTH_SRCDIR");
	char *p;

	if (src == NULL || *src == '\0')
		src = ".";
	if ((p = malloc(strlen(src) + strlen(name) + 32)) == NULL)
		abort();
	sprintf(p, "%s/tests/fixtures/config/%s", src, name);
	return p;
}

/* The whole file; caller frees. Aborts when unreadable: a broken tree. */
static char *
test_read(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "cannot read fixture %s\n", path);
		abort();
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* config_show() output; caller frees. */
static char *
test_show(const struct config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&text, &len)) == NULL)
		abort();
	config_show(cfg, f);
	fclose(f);
	return text;
}

static void
test_append(char *buf, size_t size, const char *s, size_t n)
{
	size_t have = strlen(buf);

	if (have + n + 1 <= size) {
		memcpy(buf + have, s, n);
		buf[have + n] = '\0';
	}
}

/*
 * The value config_show() printed for the dotted key, in buf: the text
 * after "leaf: ", or for a list in block form its items as ["a", "b"].
 * NULL when the key is not there.
 */
static const char *
test_shown(const char *text, const char *key, char *buf, size_t size)
{
	char stack[8][64], path[256];
	const char *line, *eol, *c, *colon, *rest;
	bool in_list = false, first = true;
	size_t indent, depth, i;

	buf[0] = '\0';
	for (line = text; *line != '\0'; line = *eol ? eol + 1 : eol) {
		if ((eol = strchr(line, '\n')) == NULL)
			eol = line + strlen(line);
		if (eol == line || line[0] == '#')
			continue;
		indent = strspn(line, " ");
		c = line + indent;
		if (c[0] == '-' && c[1] == ' ') {
			if (in_list) {
				test_append(buf, size, first ? "" : ", ",
				    first ? 0 : 2);
				test_append(
				    buf, size, c + 2, (size_t)(eol - c - 2));
				first = false;
			}
			continue;
		}
		if (in_list)
			break;
		if ((colon = memchr(c, ':', (size_t)(eol - c))) == NULL)
			continue;
		depth = indent / 2;
		if (depth >= 8 || (size_t)(colon - c) >= 64)
			continue;
		snprintf(stack[depth], 64, "%.*s", (int)(colon - c), c);
		path[0] = '\0';
		for (i = 0; i <= depth; i++) {
			if (i > 0)
				test_append(path, sizeof(path), ".", 1);
			test_append(
			    path, sizeof(path), stack[i], strlen(stack[i]));
		}
		if (strcmp(path, key) != 0)
			continue;
		rest = colon + 1;
		if (rest == eol) {
			in_list = true;
			test_append(buf, size, "[", 1);
			continue;
		}
		rest += *rest == ' ';
		snprintf(buf, size, "%.*s", (int)(eol - rest), rest);
		return buf;
	}
	if (!in_list)
		return NULL;
	test_append(buf, size, "]", 1);
	return buf;
}

/* Lines of text starting with prefix. */
static int
test_count_lines(const char *text, const char *prefix)
{
	const char *p;
	int n = 0;

	for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p += !!p)
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

static void
test_strlist_is(const struct strlist *l, const char *const *want, int line)
{
	size_t n = 0, i;

	while (want[n] != NULL)
		n++;
	test_check(l->n == n, line, "list has %zu items, want %zu", l->n, n);
	for (i = 0; i < n && i < l->n; i++)
		test_check(strcmp(l->v[i], want[i]) == 0, line,
		    "item %zu is \"%s\", want \"%s\"", i, l->v[i], want[i]);
}

#define LIST_IS(l, ...)                                             \
	do {                                                        \
		static const char *const want_[] = { __VA_ARGS__ }; \
		test_strlist_is(&(l), want_, __LINE__);             \
	} while (0)
#define NO_ITEMS NULL

/* --- defaults and every key from a file --------------------------------- */

static void
test_defaults(void)
{
	struct config *cfg = NULL;
	char *diag = NULL;

	CU_ASSERT_EQUAL_FATAL(
	    config_load_buffer("defaults.yaml", "", 0, &cfg, &diag), OK);
	CU_ASSERT_PTR_NULL(diag);
	CU_ASSERT_STRING_EQUAL(cfg->path, "defaults.yaml");
	CU_ASSERT_STRING_EQUAL(cfg->workspace, "/home/tester/.config/station");
	CU_ASSERT_STRING_EQUAL(cfg->ai_provider, "openai");
	CU_ASSERT_STRING_EQUAL(cfg->ai_model, "gpt-4o");
	CU_ASSERT_FALSE(cfg->debug);
	CU_ASSERT_TRUE(cfg->local_mode);
	CU_ASSERT_FALSE(cfg->cloudship.enabled);
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.registration_key, "");
	CU_ASSERT_STRING_EQUAL(
	    cfg->cloudship.endpoint, "lighthouse.cloudshipai.com:443");
	CU_ASSERT_TRUE(cfg->cloudship.use_tls);
	CU_ASSERT_FALSE(cfg->cloudship.skip_tls_verify);
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.name, "");
	LIST_IS(cfg->cloudship.tags, NO_ITEMS);
	CU_ASSERT_STRING_EQUAL(
	    cfg->cloudship.base_url, "https://app.cloudshipai.com");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.org_id, "");
	CU_ASSERT_FALSE(cfg->cloudship.oauth.enabled);
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.oauth.client_id, "");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.oauth.client_secret, "");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.oauth.auth_url, "");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.oauth.token_url, "");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.oauth.introspect_url, "");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.oauth.redirect_uri, "");
	LIST_IS(cfg->cloudship.oauth.scopes, NO_ITEMS);
	CU_ASSERT_STRING_EQUAL(cfg->database.url, "postgresql:///berth");
	CU_ASSERT_EQUAL(cfg->database.connect_timeout, 5);
	CU_ASSERT_STRING_EQUAL(cfg->http.public_url, "http://localhost:8080");
	LIST_IS(cfg->http.allowed_origins, NO_ITEMS);
	LIST_IS(cfg->http.allowed_hosts, NO_ITEMS);
	CU_ASSERT_STRING_EQUAL(cfg->fcgi.listen, "");
	CU_ASSERT_EQUAL(cfg->fcgi.workers, 4);
	CU_ASSERT_EQUAL(cfg->sessions.ttl_days, 30);
	CU_ASSERT_EQUAL(cfg->sessions.mcp_idle_timeout, 3600);
	CU_ASSERT_EQUAL(cfg->sessions.mcp_absolute_timeout, 86400);
	CU_ASSERT_EQUAL(cfg->retention.audit_days, 365);
	CU_ASSERT_EQUAL(cfg->retention.runs_days, 90);
	CU_ASSERT_STRING_EQUAL(cfg->upstream.base_url, "");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.login_path, "/api/auth");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.login_method, "POST");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.username_field, "username");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.password_field, "password");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.api_key_field, "api_key");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.api_key_header, "X-API-Key");
	CU_ASSERT_EQUAL(cfg->upstream.timeout, 10);
	CU_ASSERT_STRING_EQUAL(
	    cfg->agents_dir, "/home/tester/.config/station/environments");
	LIST_IS(
	    cfg->environments, "development", "staging", "production", NULL);
	CU_ASSERT_EQUAL(cfg->roles.n, 0);
	CU_ASSERT_PTR_NULL(cfg->roles.v);
	CU_ASSERT_EQUAL(cfg->auth.lockout_failures, 5);
	CU_ASSERT_EQUAL(cfg->auth.lockout_address_failures, 20);
	CU_ASSERT_EQUAL(cfg->auth.lockout_window, 900);
	CU_ASSERT_EQUAL(cfg->auth.key_touch_interval, 60);
	CU_ASSERT_STRING_EQUAL(cfg->auth.default_role, "viewer");
	config_free(cfg);
}

/*
 * Asserts every field has the value full.yaml gives it, but for the
 * secrets (masked by config_show) and the keys the environment overrides.
 */
static void
test_is_full(const struct config *cfg)
{
	CU_ASSERT_STRING_EQUAL(cfg->workspace, "/srv/station");
	CU_ASSERT_STRING_EQUAL(cfg->ai_provider, "anthropic");
	CU_ASSERT_STRING_EQUAL(cfg->ai_model, "claude-sonnet-4");
	CU_ASSERT_TRUE(cfg->debug);
	CU_ASSERT_FALSE(cfg->local_mode);
	CU_ASSERT_TRUE(cfg->cloudship.enabled);
	CU_ASSERT_STRING_EQUAL(
	    cfg->cloudship.endpoint, "lighthouse.example.com:8443");
	CU_ASSERT_FALSE(cfg->cloudship.use_tls);
	CU_ASSERT_TRUE(cfg->cloudship.skip_tls_verify);
	LIST_IS(cfg->cloudship.tags, "prod", "eu-west", NULL);
	CU_ASSERT_STRING_EQUAL(
	    cfg->cloudship.base_url, "https://cloudship.example.com");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.org_id, "org-42");
	CU_ASSERT_TRUE(cfg->cloudship.oauth.enabled);
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.oauth.client_id, "client-full");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.oauth.auth_url,
	    "https://auth.example.com/authorize");
	CU_ASSERT_STRING_EQUAL(
	    cfg->cloudship.oauth.token_url, "https://auth.example.com/token");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.oauth.introspect_url,
	    "https://auth.example.com/introspect");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.oauth.redirect_uri,
	    "https://berth.example.com/oauth/callback");
	LIST_IS(cfg->cloudship.oauth.scopes, "openid", "mcp", NULL);
	CU_ASSERT_EQUAL(cfg->database.connect_timeout, 12);
	CU_ASSERT_STRING_EQUAL(
	    cfg->http.public_url, "https://berth.example.com");
	LIST_IS(cfg->http.allowed_origins, "https://berth.example.com",
	    "http://localhost:3000", NULL);
	LIST_IS(cfg->http.allowed_hosts, "berth.example.com", "localhost:8080",
	    NULL);
	CU_ASSERT_STRING_EQUAL(cfg->fcgi.listen, "unix:/run/berth/fcgi.sock");
	CU_ASSERT_EQUAL(cfg->fcgi.workers, 16);
	CU_ASSERT_EQUAL(cfg->sessions.mcp_idle_timeout, 600);
	CU_ASSERT_EQUAL(cfg->sessions.mcp_absolute_timeout, 7200);
	CU_ASSERT_EQUAL(cfg->retention.audit_days, 730);
	CU_ASSERT_EQUAL(cfg->retention.runs_days, 30);
	CU_ASSERT_STRING_EQUAL(
	    cfg->upstream.base_url, "https://api.example.com");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.login_path, "/v1/login");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.login_method, "PUT");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.username_field, "user");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.password_field, "pass");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.api_key_field, "data.token");
	CU_ASSERT_STRING_EQUAL(cfg->upstream.api_key_header, "Authorization");
	CU_ASSERT_EQUAL(cfg->upstream.timeout, 30);
	CU_ASSERT_STRING_EQUAL(cfg->agents_dir, "/srv/agents");
	LIST_IS(cfg->environments, "dev", "qa", "prod", NULL);
	CU_ASSERT_EQUAL_FATAL(cfg->roles.n, 3);
	CU_ASSERT_STRING_EQUAL(cfg->roles.v[0].name, "auditor");
	LIST_IS(cfg->roles.v[0].perms, "audit.read", "runs.read", NULL);
	CU_ASSERT_STRING_EQUAL(cfg->roles.v[1].name, "ops.on-call_2");
	LIST_IS(cfg->roles.v[1].perms, "tools.list", "tools.call", "runs.read",
	    NULL);
	CU_ASSERT_STRING_EQUAL(cfg->roles.v[2].name, "nobody");
	LIST_IS(cfg->roles.v[2].perms, NO_ITEMS);
	CU_ASSERT_EQUAL(cfg->auth.lockout_failures, 3);
	CU_ASSERT_EQUAL(cfg->auth.lockout_address_failures, 50);
	CU_ASSERT_EQUAL(cfg->auth.lockout_window, 600);
	CU_ASSERT_EQUAL(cfg->auth.key_touch_interval, 0);
	CU_ASSERT_STRING_EQUAL(cfg->auth.default_role, "auditor");
}

static void
test_full(void)
{
	char *path = test_fixture("full.yaml"), *diag = NULL;
	struct config *cfg = NULL;

	CU_ASSERT_EQUAL_FATAL(config_load(path, &cfg, &diag), OK);
	CU_ASSERT_PTR_NULL(diag);
	CU_ASSERT_STRING_EQUAL(cfg->path, path);
	test_is_full(cfg);
	/* The keys the environment can override, from the file this time. */
	CU_ASSERT_STRING_EQUAL(
	    cfg->cloudship.registration_key, "rk-full-0123456789abcdef");
	CU_ASSERT_STRING_EQUAL(
	    cfg->cloudship.oauth.client_secret, "cs-full-0123456789abcdef");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.name, "berth-full");
	CU_ASSERT_STRING_EQUAL(cfg->database.url,
	    "postgresql://berth@db.example.com:5433/berth_full");
	CU_ASSERT_EQUAL(cfg->sessions.ttl_days, 7);
	config_free(cfg);
	free(diag);
	free(path);
}

static void
test_empty_file(void)
{
	char *path = test_fixture("empty.yaml"), *diag = NULL;
	struct config *cfg = NULL;

	CU_ASSERT_EQUAL_FATAL(config_load(path, &cfg, &diag), OK);
	CU_ASSERT_PTR_NULL(diag);
	CU_ASSERT_STRING_EQUAL(cfg->path, path);
	CU_ASSERT_STRING_EQUAL(cfg->ai_model, "gpt-4o");
	CU_ASSERT_EQUAL(cfg->fcgi.workers, 4);
	config_free(cfg);
	free(path);
	/* A lone "---" or a null document is empty too. */
	CU_ASSERT_EQUAL(
	    config_load_buffer("dashes", "---\n", 4, &cfg, NULL), OK);
	config_free(cfg);
	CU_ASSERT_EQUAL(config_load_buffer("null", "~\n", 2, &cfg, NULL), OK);
	config_free(cfg);
}

/* A Station config loads, each key Berth ignores named in a warning. */
static void
test_station(void)
{
	static const struct {
		int line;
		const char *key;
	} ignored[] = { { 3, "encryption_key" }, { 8, "api_port" },
		{ 9, "mcp_port" }, { 10, "ssh_port" }, { 11, "admin_username" },
		{ 14, "telemetry_enabled" },
		{ 21, "cloudship.bundle_registry_url" }, { 22, "coding" } };
	char *path = test_fixture("station.yaml"), *diag = NULL, want[512];
	struct config *cfg = NULL;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(config_load(path, &cfg, &diag), OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(diag);
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		snprintf(want, sizeof(want),
		    "warning: %s:%d: %s: unknown key, ignored\n", path,
		    ignored[i].line, ignored[i].key);
		CHECK(strstr(diag, want) != NULL, "missing \"%s\" in:\n%s",
		    want, diag);
	}
	CU_ASSERT_EQUAL(test_count_lines(diag, "warning: "),
	    (int)(sizeof(ignored) / sizeof(ignored[0])));
	CU_ASSERT_EQUAL(test_count_lines(diag, "error: "), 0);
	CU_ASSERT_STRING_EQUAL(cfg->workspace, "/home/station/.config/station");
	/* Station's ai_base_url is Berth's too (OpenAI-compatible servers). */
	CU_ASSERT_STRING_EQUAL(cfg->ai_base_url, "");
	CU_ASSERT_TRUE(cfg->cloudship.enabled);
	CU_ASSERT_STRING_EQUAL(
	    cfg->cloudship.registration_key, "reg-station-0123456789");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.name, "station-one");
	config_free(cfg);
	free(diag);
	free(path);
}

/* --- ${} expansion and environment overrides ---------------------------- */

static void
test_expand(void)
{
	char *path = test_fixture("expand.yaml"), *diag = NULL;
	struct config *cfg = NULL;

	setenv("BERTH_T_MODEL", "m1", 1);
	setenv("BERTH_T_DIR", "/data", 1);
	setenv("BERTH_T_BOOL", "yes", 1);
	setenv("BERTH_T_NUM", "42", 1);
	setenv("BERTH_T_EMPTY", "", 1);
	unsetenv("BERTH_T_UNSET");
	CU_ASSERT_EQUAL(config_load(path, &cfg, &diag), OK);
	CHECK(diag == NULL, "diagnostics: %s", diag ? diag : "");
	if (cfg != NULL) {
		CU_ASSERT_STRING_EQUAL(cfg->ai_model, "m1");
		CU_ASSERT_STRING_EQUAL(cfg->workspace, "/data/ws");
		CU_ASSERT_TRUE(cfg->debug);
		CU_ASSERT_STRING_EQUAL(cfg->cloudship.name, "fallback-name");
		CU_ASSERT_STRING_EQUAL(
		    cfg->cloudship.org_id, "empty-takes-default");
		CU_ASSERT_STRING_EQUAL(cfg->cloudship.registration_key, "");
		LIST_IS(cfg->cloudship.tags, "m1", "plain", "x--y", NULL);
		CU_ASSERT_EQUAL(cfg->database.connect_timeout, 42);
		CU_ASSERT_STRING_EQUAL(cfg->fcgi.listen, "127.0.0.1:9000");
		CU_ASSERT_STRING_EQUAL(
		    cfg->upstream.username_field, "cost $5, m1$m1, $HOME, $");
		CU_ASSERT_STRING_EQUAL(
		    cfg->upstream.password_field, "${BERTH_T_MODEL}");
		CU_ASSERT_STRING_EQUAL(cfg->upstream.api_key_field, "m1m1");
	}
	config_free(cfg);
	free(diag);
	/* The expanded value is what gets type-checked. */
	setenv("BERTH_T_NUM", "many", 1);
	CU_ASSERT_EQUAL(config_load(path, &cfg, &diag), ERR_CONFIG);
	CU_ASSERT_PTR_NULL(cfg);
	CHECK(diag != NULL &&
	        strstr(diag,
	            ":13: database.connect_timeout: expected an integer, got "
	            "\"many\"") != NULL,
	    "diag: %s", diag ? diag : "");
	free(diag);
	unsetenv("BERTH_T_MODEL");
	CU_ASSERT_EQUAL(config_load(path, &cfg, &diag), ERR_CONFIG);
	CHECK(diag != NULL &&
	        strstr(diag, ":4: ai_model: ${BERTH_T_MODEL} is not set") !=
	            NULL,
	    "diag: %s", diag ? diag : "");
	free(diag);
	unsetenv("BERTH_T_DIR");
	unsetenv("BERTH_T_BOOL");
	unsetenv("BERTH_T_NUM");
	unsetenv("BERTH_T_EMPTY");
	free(path);
}

static void
test_env_overrides(void)
{
	char *path = test_fixture("full.yaml"), *diag = NULL;
	struct config *cfg = NULL;

	setenv("CLOUDSHIP_REGISTRATION_KEY", "rk-from-env-0123456789", 1);
	setenv("CLOUDSHIP_ENDPOINT", "env.example.com:9443", 1);
	setenv("CLOUDSHIP_STATION_NAME", "name-from-env", 1);
	setenv("DATABASE_URL", "postgresql://env@envdb/berth_env", 1);
	setenv("TS_MCP_SESSION_TTL_DAYS", "12", 1);
	CU_ASSERT_EQUAL_FATAL(config_load(path, &cfg, &diag), OK);
	CU_ASSERT_PTR_NULL(diag);
	CU_ASSERT_STRING_EQUAL(
	    cfg->cloudship.registration_key, "rk-from-env-0123456789");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.endpoint, "env.example.com:9443");
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.name, "name-from-env");
	CU_ASSERT_STRING_EQUAL(
	    cfg->database.url, "postgresql://env@envdb/berth_env");
	CU_ASSERT_EQUAL(cfg->sessions.ttl_days, 12);
	/* Everything else still comes from the file. */
	CU_ASSERT_STRING_EQUAL(cfg->ai_model, "claude-sonnet-4");
	config_free(cfg);

	/* Over defaults too, with no file at all. */
	CU_ASSERT_EQUAL_FATAL(
	    config_load_buffer("none", "", 0, &cfg, NULL), OK);
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.endpoint, "env.example.com:9443");
	CU_ASSERT_EQUAL(cfg->sessions.ttl_days, 12);
	config_free(cfg);

	/* An empty variable is no override. */
	setenv("CLOUDSHIP_STATION_NAME", "", 1);
	setenv("DATABASE_URL", "", 1);
	CU_ASSERT_EQUAL_FATAL(config_load(path, &cfg, NULL), OK);
	CU_ASSERT_STRING_EQUAL(cfg->cloudship.name, "berth-full");
	CU_ASSERT_STRING_EQUAL(cfg->database.url,
	    "postgresql://berth@db.example.com:5433/berth_full");
	config_free(cfg);

	/* A bad override is an error naming the variable. */
	setenv("DATABASE_URL", "host=db bogus=1", 1);
	CU_ASSERT_EQUAL(config_load(path, &cfg, &diag), ERR_CONFIG);
	CHECK(diag != NULL &&
	        strstr(diag,
	            "error: environment DATABASE_URL: database.url: not a "
	            "valid PostgreSQL connection string") != NULL,
	    "diag: %s", diag ? diag : "");
	CHECK(diag == NULL || strstr(diag, "bogus") == NULL,
	    "the URL must not be echoed: %s", diag ? diag : "");
	free(diag);
	setenv("TS_MCP_SESSION_TTL_DAYS", "0", 1);
	unsetenv("DATABASE_URL");
	CU_ASSERT_EQUAL(config_load(path, &cfg, &diag), ERR_CONFIG);
	CHECK(diag != NULL &&
	        strstr(diag,
	            "error: environment TS_MCP_SESSION_TTL_DAYS: "
	            "sessions.ttl_days: must be between 1 and 3650, got "
	            "\"0\"") != NULL,
	    "diag: %s", diag ? diag : "");
	free(diag);
	unsetenv("CLOUDSHIP_REGISTRATION_KEY");
	unsetenv("CLOUDSHIP_ENDPOINT");
	unsetenv("CLOUDSHIP_STATION_NAME");
	unsetenv("TS_MCP_SESSION_TTL_DAYS");
	free(path);
}

/* --- table-driven cases ------------------------------------------------- */

static int
test_count_char(const char *s, char c)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == c;
	return n;
}

/* The YAML that sets dotted key to value: one nested mapping per dot. */
static void
test_yaml_for(const char *key, const char *value, char *buf, size_t size)
{
	const char *dot;
	int depth = 0;

	buf[0] = '\0';
	while ((dot = strchr(key, '.')) != NULL) {
		snprintf(buf + strlen(buf), size - strlen(buf), "%*s%.*s:\n",
		    depth * 2, "", (int)(dot - key), key);
		key = dot + 1;
		depth++;
	}
	snprintf(buf + strlen(buf), size - strlen(buf), "%*s%s: %s\n",
	    depth * 2, "", key, value);
}

/* values.tsv: KEY, YAML value, =SHOWN or !MESSAGE. */
static void
test_values(void)
{
	char *path = test_fixture("values.tsv"), *text = test_read(path);
	char *line, *next, *key, *value, *want, *diag, *shown, yaml[1024];
	char got[1024], needle[1024];
	struct config *cfg;
	int n = 0;
	berr rc;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '#' || *line == '\0')
			continue;
		key = line;
		if ((value = strchr(key, '\t')) == NULL ||
		    (want = strchr(value + 1, '\t')) == NULL) {
			CHECK(false, "values.tsv: bad line \"%s\"", line);
			continue;
		}
		*value++ = '\0';
		*want++ = '\0';
		test_yaml_for(key, value, yaml, sizeof(yaml));
		cfg = NULL;
		diag = NULL;
		rc = config_load_buffer(
		    "values.yaml", yaml, strlen(yaml), &cfg, &diag);
		n++;
		if (*want == '=') {
			CHECK(rc == OK, "%s: %s: load failed (%d): %s", key,
			    value, rc, diag ? diag : "");
			if (rc == OK) {
				shown = test_show(cfg);
				CHECK(test_shown(shown, key, got,
				          sizeof(got)) != NULL &&
				        strcmp(got, want + 1) == 0,
				    "%s: %s: shown as %s, want %s", key, value,
				    got, want + 1);
				free(shown);
			}
		} else {
			/* The value sits on line 1 + the number of dots. */
			snprintf(needle, sizeof(needle),
			    "error: values.yaml:%d: %s: %s",
			    1 + test_count_char(key, '.'), key, want + 1);
			CHECK(rc == ERR_CONFIG && cfg == NULL && diag != NULL &&
			        strstr(diag, needle) != NULL,
			    "%s: %s: want \"%s\", got (%d) %s", key, value,
			    needle, rc, diag ? diag : "");
		}
		config_free(cfg);
		free(diag);
	}
	CHECK(n > 100, "values.tsv has only %d cases", n);
	free(text);
	free(path);
}

/* Replaces every {FILE} in tmpl by file, into buf. */
static void
test_subst(const char *tmpl, const char *file, char *buf, size_t size)
{
	const char *p;

	buf[0] = '\0';
	while ((p = strstr(tmpl, "{FILE}")) != NULL) {
		test_append(buf, size, tmpl, (size_t)(p - tmpl));
		test_append(buf, size, file, strlen(file));
		tmpl = p + 6;
	}
	test_append(buf, size, tmpl, strlen(tmpl));
}

/*
 * One errors/ fixture: sets its "# env:" variables, loads it, and checks
 * its "# expect:" errors and "# warn:" warnings are in the diagnostics and
 * that the number of errors is right ("# errors: N", else the expects).
 */
static void
test_error_case(const char *dir, const char *name)
{
	char path[1024], want[2048], *text, *p, *eq, *diag = NULL;
	char *lines[512], *vars[8];
	struct config *cfg = NULL;
	int nlines = 0, nexpect = 0, nerrors = -1, nvars = 0, i;
	bool warn;
	berr rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	text = test_read(path);
	for (p = text; p != NULL && *p != '\0' && nlines < 512;) {
		lines[nlines++] = p;
		if ((p = strchr(p, '\n')) != NULL)
			*p++ = '\0';
	}
	for (i = 0; i < nlines; i++) {
		if (strncmp(lines[i], "# env: ", 7) == 0 && nvars < 8 &&
		    (eq = strchr(lines[i] + 7, '=')) != NULL) {
			*eq = '\0';
			setenv(lines[i] + 7, eq + 1, 1);
			vars[nvars++] = lines[i] + 7;
		}
	}
	rc = config_load(path, &cfg, &diag);
	CHECK(rc == ERR_CONFIG && cfg == NULL, "%s: got %d, want ERR_CONFIG",
	    name, rc);
	for (i = 0; i < nlines; i++) {
		if (strncmp(lines[i], "# errors: ", 10) == 0) {
			nerrors = atoi(lines[i] + 10);
			continue;
		}
		if (strncmp(lines[i], "# expect: ", 10) == 0)
			warn = false;
		else if (strncmp(lines[i], "# warn: ", 8) == 0)
			warn = true;
		else
			continue;
		strcpy(want, warn ? "warning: " : "error: ");
		test_subst(lines[i] + (warn ? 8 : 10), path,
		    want + strlen(want), sizeof(want) - strlen(want));
		CHECK(diag != NULL && strstr(diag, want) != NULL,
		    "%s: missing \"%s\" in:\n%s", name, want,
		    diag ? diag : "(no diagnostics)");
		nexpect += !warn;
	}
	if (nerrors < 0)
		nerrors = nexpect;
	CHECK(nexpect > 0, "%s: no \"# expect:\" line", name);
	CHECK(test_count_lines(diag, "error: ") == nerrors,
	    "%s: %d errors, want %d:\n%s", name,
	    test_count_lines(diag, "error: "), nerrors, diag ? diag : "");
	for (i = 0; i < nvars; i++)
		unsetenv(vars[i]);
	config_free(cfg);
	free(diag);
	free(text);
}

static int
test_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every .yaml file in errors/, in name order. */
static void
test_errors(void)
{
	char *dir = test_fixture("errors"), *names[256];
	struct dirent *de;
	size_t n = 0, len, i;
	DIR *d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d = opendir(dir));
	while ((de = readdir(d)) != NULL && n < 256) {
		len = strlen(de->d_name);
		if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0)
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), test_cmp_names);
	CHECK(n >= 20, "only %zu error fixtures in %s", n, dir);
	for (i = 0; i < n; i++) {
		test_error_case(dir, names[i]);
		free(names[i]);
	}
	free(dir);
}

/* Diagnostics stop growing past 20 of a kind; the rest are counted. */
static void
test_diag_cap(void)
{
	char text[4096], *diag = NULL;
	struct config *cfg = NULL;
	int i;

	strcpy(text, "a: &x 1\nb: [");
	for (i = 0; i < 30; i++)
		strcat(text, i ? ", *x" : "*x");
	strcat(text, "]\n");
	CU_ASSERT_EQUAL(
	    config_load_buffer("cap.yaml", text, strlen(text), &cfg, &diag),
	    ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL_FATAL(diag);
	CU_ASSERT_EQUAL(
	    test_count_lines(
	        diag, "error: cap.yaml:2: b: aliases (*x) are not allowed"),
	    20);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(diag, "error: cap.yaml: 10 more errors not shown\n"));
	free(diag);

	text[0] = '\0';
	for (i = 0; i < 25; i++)
		sprintf(text + strlen(text), "unknown_%d: %d\n", i, i);
	CU_ASSERT_EQUAL(
	    config_load_buffer("cap.yaml", text, strlen(text), &cfg, &diag),
	    OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(diag);
	/* 20 warnings and the line that counts the others */
	CU_ASSERT_EQUAL(test_count_lines(diag, "warning: cap.yaml:"), 21);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(diag, "warning: cap.yaml: 5 more warnings not shown\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
	    diag, "warning: cap.yaml:1: unknown_0: unknown key, ignored\n"));
	config_free(cfg);
	free(diag);
}

/* --- files: missing, default, too big ------------------------------------ */

static void
test_missing_explicit(void)
{
	const char *path = "/nonexistent-berth-dir/config.yaml";
	struct config *cfg = NULL;
	char *diag = NULL;

	CU_ASSERT_EQUAL(config_load(path, &cfg, &diag), ERR_IO);
	CU_ASSERT_PTR_NULL(cfg);
	CHECK(diag != NULL &&
	        strcmp(diag,
	            "error: /nonexistent-berth-dir/config.yaml: cannot read: "
	            "No such file or directory\n") == 0,
	    "diag: %s", diag ? diag : "");
	free(diag);
	/* A folder is not a config file. */
	path = getenv("BERTH_SRCDIR") ? getenv("BERTH_SRCDIR") : ".";
	CU_ASSERT_EQUAL(config_load(path, &cfg, &diag), ERR_IO);
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_PTR_NOT_NULL(diag ? strstr(diag, "Is a directory") : NULL);
	free(diag);
}

static void
test_missing_default(void)
{
	const char *path = "/nonexistent-berth-dir/default.yaml";
	struct config *cfg = NULL;
	char *diag = NULL;

	CU_ASSERT_STRING_EQUAL(config_default_path(), "/etc/berth/config.yaml");
	/* The built-in default path: absent is fine, and says nothing. */
	if (access("/etc/berth/config.yaml", F_OK) != 0) {
		CU_ASSERT_EQUAL_FATAL(config_load(NULL, &cfg, &diag), OK);
		CU_ASSERT_STRING_EQUAL(cfg->path, "");
		CU_ASSERT_PTR_NULL(diag);
		config_free(cfg);
	}
	/* A default named by BERTH_CONFIG: absent is fine, but warned. */
	setenv("BERTH_CONFIG", path, 1);
	CU_ASSERT_STRING_EQUAL(config_default_path(), path);
	CU_ASSERT_EQUAL_FATAL(config_load(NULL, &cfg, &diag), OK);
	CU_ASSERT_STRING_EQUAL(cfg->path, "");
	CU_ASSERT_STRING_EQUAL(cfg->ai_model, "gpt-4o");
	CHECK(diag != NULL &&
	        strcmp(diag,
	            "warning: /nonexistent-berth-dir/default.yaml: not found, "
	            "using built-in defaults\n") == 0,
	    "diag: %s", diag ? diag : "");
	config_free(cfg);
	free(diag);
	/* ... and when it exists it is the one loaded. */
	path = test_fixture("full.yaml");
	setenv("BERTH_CONFIG", path, 1);
	CU_ASSERT_EQUAL_FATAL(config_load(NULL, &cfg, NULL), OK);
	CU_ASSERT_STRING_EQUAL(cfg->path, path);
	CU_ASSERT_EQUAL(cfg->fcgi.workers, 16);
	config_free(cfg);
	free((char *)path);
	setenv("BERTH_CONFIG", "", 1);
	CU_ASSERT_STRING_EQUAL(config_default_path(), "/etc/berth/config.yaml");
	unsetenv("BERTH_CONFIG");
}

/* Writes a comment of exactly size bytes to path. */
static void
test_write_comment(const char *path, size_t size)
{
	FILE *f = fopen(path, "wb");
	size_t i;

	if (f == NULL)
		abort();
	fputs("# ", f);
	for (i = 2; i + 1 < size; i++)
		fputc('x', f);
	fputc('\n', f);
	fclose(f);
}

static void
test_too_big(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], path[600], *diag = NULL, *buf;
	struct config *cfg = NULL;

	snprintf(dir, sizeof(dir), "%s/berth-test-config.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big.yaml", dir);

	test_write_comment(path, LIMIT_CONFIG_BYTES);
	CU_ASSERT_EQUAL(config_load(path, &cfg, &diag), OK);
	CU_ASSERT_PTR_NULL(diag);
	config_free(cfg);

	test_write_comment(path, LIMIT_CONFIG_BYTES + 1);
	CU_ASSERT_EQUAL(config_load(path, &cfg, &diag), ERR_TOO_BIG);
	CU_ASSERT_PTR_NULL(cfg);
	CHECK(diag != NULL &&
	        strstr(diag, "big.yaml: larger than 1048576 bytes\n") != NULL,
	    "diag: %s", diag ? diag : "");
	free(diag);
	unlink(path);
	rmdir(dir);

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf = calloc(1, LIMIT_CONFIG_BYTES + 1));
	memset(buf, '\n', LIMIT_CONFIG_BYTES + 1);
	CU_ASSERT_EQUAL(config_load_buffer("buf.yaml", buf,
	                    LIMIT_CONFIG_BYTES + 1, &cfg, &diag),
	    ERR_TOO_BIG);
	CU_ASSERT_PTR_NULL(cfg);
	free(diag);
	free(buf);
}

/* --- config_show -------------------------------------------------------- */

static void
test_show_masks(void)
{
	char *path = test_fixture("secrets.yaml"), *text, got[256];
	struct config *cfg = NULL;

	CU_ASSERT_EQUAL_FATAL(config_load(path, &cfg, NULL), OK);
	text = test_show(cfg);
	CHECK(strstr(text, "SECRETVALUE") == NULL, "a secret shows:\n%s", text);
	test_shown(text, "cloudship.registration_key", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "\"rk-liv…\"");
	test_shown(text, "cloudship.oauth.client_secret", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "\"cs-liv…\"");
	test_shown(text, "database.url", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(
	    got, "\"postgresql://berth:…@db.example.com/berth\"");
	test_shown(text, "upstream.username_field", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "\"not-a-secret\"");
	free(text);
	config_free(cfg);

	/* Short secrets show nothing of themselves; empty ones stay "". */
	setenv("CLOUDSHIP_REGISTRATION_KEY", "short-key", 1);
	CU_ASSERT_EQUAL_FATAL(config_load_buffer("s", "", 0, &cfg, NULL), OK);
	text = test_show(cfg);
	CU_ASSERT_PTR_NULL(strstr(text, "short"));
	test_shown(text, "cloudship.registration_key", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "\"…\"");
	test_shown(text, "cloudship.oauth.client_secret", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "\"\"");
	free(text);
	config_free(cfg);
	unsetenv("CLOUDSHIP_REGISTRATION_KEY");
	free(path);
}

/* mask.tsv: DATABASE_URL, and database.url as shown. */
static void
test_show_dburl(void)
{
	char *path = test_fixture("mask.tsv"), *text = test_read(path);
	char *line, *next, *want, *shown, *diag, got[1024], quoted[1024];
	struct config *cfg;
	int n = 0;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '#' || *line == '\0')
			continue;
		if ((want = strchr(line, '\t')) == NULL) {
			CHECK(false, "mask.tsv: bad line \"%s\"", line);
			continue;
		}
		*want++ = '\0';
		setenv("DATABASE_URL", line, 1);
		cfg = NULL;
		diag = NULL;
		n++;
		if (config_load_buffer("m", "", 0, &cfg, &diag) != OK) {
			CHECK(false, "%s: %s", line, diag ? diag : "");
			free(diag);
			continue;
		}
		shown = test_show(cfg);
		snprintf(quoted, sizeof(quoted), "\"%s\"", want);
		CHECK(test_shown(shown, "database.url", got, sizeof(got)) !=
		            NULL &&
		        strcmp(got, quoted) == 0,
		    "%s: shown as %s, want %s", line, got, quoted);
		CHECK(strstr(shown, "hunter2") == NULL &&
		        strstr(shown, "ter\\'2") == NULL,
		    "%s: password shows", line);
		free(shown);
		config_free(cfg);
	}
	unsetenv("DATABASE_URL");
	CHECK(n >= 10, "mask.tsv has only %d cases", n);
	free(text);
	free(path);
}

/*
 * What config_show prints loads back to the same configuration (secrets
 * aside: they are masked), tricky strings included.
 */
static void
test_show_roundtrip(void)
{
	static const char tricky[] =
	    "cloudship:\n"
	    "  name: \"q\\\"uote b\\\\slash $$ $${X} $${ $$$$\"\n"
	    "  org_id: \"tab\\t nl\\n é ${BERTH_T_UNSET:-}$\"\n"
	    "  tags: [\"$$\", \"a: b\", \"#c\", \"- d\", \"\"]\n";
	const char *inputs[2] = { NULL, tricky };
	char *path = test_fixture("full.yaml"), *text, *one, *two, *a, *b;
	struct config *cfg = NULL, *back = NULL;
	char *diag = NULL;
	int i;

	text = test_read(path);
	inputs[0] = text;
	for (i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL_FATAL(config_load_buffer("in", inputs[i],
		                          strlen(inputs[i]), &cfg, NULL),
		    OK);
		one = test_show(cfg);
		CU_ASSERT_EQUAL(
		    config_load_buffer("out", one, strlen(one), &back, &diag),
		    OK);
		CHECK(diag == NULL, "show output loads with: %s",
		    diag ? diag : "");
		free(diag);
		diag = NULL;
		if (back == NULL) {
			config_free(cfg);
			free(one);
			continue;
		}
		two = test_show(back);
		/* Line by line, skipping comments and the two secrets. */
		for (a = one, b = two; *a != '\0' && *b != '\0';) {
			size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");

			if (*a != '#' && !strstr(a, "registration_key:") &&
			    strncmp(a, "    client_secret:", 18) != 0)
				CHECK(la == lb && strncmp(a, b, la) == 0,
				    "round trip: \"%.*s\" became \"%.*s\"",
				    (int)la, a, (int)lb, b);
			a += la + (a[la] != '\0');
			b += lb + (b[lb] != '\0');
		}
		CU_ASSERT(*a == '\0' && *b == '\0');
		if (i == 0) {
			test_is_full(back);
		} else {
			CU_ASSERT_STRING_EQUAL(cfg->cloudship.name,
			    "q\"uote b\\slash $ ${X} ${ $$");
			CU_ASSERT_STRING_EQUAL(
			    back->cloudship.name, cfg->cloudship.name);
			CU_ASSERT_STRING_EQUAL(
			    back->cloudship.org_id, "tab\t nl\n é $");
			LIST_IS(back->cloudship.tags, "$", "a: b", "#c", "- d",
			    "", NULL);
		}
		free(one);
		free(two);
		config_free(cfg);
		config_free(back);
	}
	free(text);
	free(path);
}

/*
 * roles: as config_show prints it: a mapping of quoted names, "{}" when
 * empty, "[]" for a role without permissions, and it loads back the same.
 */
static void
test_show_roles(void)
{
	static const char yaml[] = "roles:\n"
	                           "  b.2: [agents.run]\n"
	                           "  a-1:\n"
	                           "  c_3: []\n"
	                           "auth: {default_role: a-1}\n";
	static const char want[] = "roles:\n"
	                           "  \"b.2\":\n"
	                           "    - \"agents.run\"\n"
	                           "  \"a-1\": []\n"
	                           "  \"c_3\": []\n"
	                           "auth:\n";
	struct config *cfg = NULL, *back = NULL;
	char *text, *diag = NULL;

	CU_ASSERT_EQUAL_FATAL(
	    config_load_buffer("r", yaml, strlen(yaml), &cfg, &diag), OK);
	CHECK(diag == NULL, "diag: %s", diag ? diag : "");
	CU_ASSERT_EQUAL_FATAL(cfg->roles.n, 3);
	/* File order is kept; "a-1:" alone is a role without permissions. */
	CU_ASSERT_STRING_EQUAL(cfg->roles.v[0].name, "b.2");
	CU_ASSERT_STRING_EQUAL(cfg->roles.v[1].name, "a-1");
	LIST_IS(cfg->roles.v[1].perms, NO_ITEMS);
	CU_ASSERT_STRING_EQUAL(cfg->auth.default_role, "a-1");
	text = test_show(cfg);
	CHECK(strstr(text, want) != NULL, "want:\n%s\nin:\n%s", want, text);
	CU_ASSERT_EQUAL(
	    config_load_buffer("back", text, strlen(text), &back, NULL), OK);
	if (back != NULL) {
		CU_ASSERT_EQUAL(back->roles.n, 3);
		CU_ASSERT_PTR_NULL(config_static_change(cfg, back));
	}
	free(text);
	config_free(back);
	config_free(cfg);

	CU_ASSERT_EQUAL_FATAL(config_load_buffer("e", "", 0, &cfg, NULL), OK);
	text = test_show(cfg);
	CHECK(strstr(text, "\nroles: {}\n") != NULL, "%s", text);
	free(text);
	config_free(cfg);
}

/* Only keys a running program cannot take on the fly ask for a restart. */
static void
test_static_change(void)
{
	static const struct {
		const char *yaml;
		const char *key; /* NULL: can be applied in place */
	} cases[] = {
		{ "", NULL },
		{ "debug: true\nsessions: {ttl_days: 9}\n", NULL },
		{ "http: {allowed_origins: [\"https://a.example\"]}\n", NULL },
		{ "upstream: {base_url: https://api.example.com}\n", NULL },
		{ "database: {url: \"postgresql:///other\"}\n",
		    "database.url" },
		{ "fcgi: {workers: 8}\n", "fcgi.workers" },
		{ "environments: [dev]\n", "environments" },
		{ "cloudship: {tags: [x]}\n", "cloudship.tags" },
		{ "local_mode: false\n", "local_mode" },
		/* Roles and auth: are read at every decision. */
		{ "roles: {ops: [tools.list]}\n", NULL },
		{ "auth: {lockout_failures: 9, default_role: none}\n", NULL },
	};
	struct config *base = NULL, *cfg = NULL;
	const char *got;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(config_load_buffer("a", "", 0, &base, NULL), OK);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(config_load_buffer("b", cases[i].yaml,
		                          strlen(cases[i].yaml), &cfg, NULL),
		    OK);
		got = config_static_change(base, cfg);
		CHECK(cases[i].key == NULL
		        ? got == NULL
		        : got != NULL && strcmp(got, cases[i].key) == 0,
		    "%s: got %s, want %s", cases[i].yaml, got ? got : "NULL",
		    cases[i].key ? cases[i].key : "NULL");
		config_free(cfg);
	}
	config_free(base);
	config_free(NULL);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "config", "defaults", test_defaults },
		{ "config", "every key from a file", test_full },
		{ "config", "empty file", test_empty_file },
		{ "config", "Station config, unknown keys warned",
		    test_station },
		{ "config", "${} expansion", test_expand },
		{ "config", "environment overrides", test_env_overrides },
		{ "config", "values.tsv", test_values },
		{ "config", "errors/*.yaml", test_errors },
		{ "config", "diagnostics capped", test_diag_cap },
		{ "config", "missing explicit file", test_missing_explicit },
		{ "config", "missing default file", test_missing_default },
		{ "config", "file too big", test_too_big },
		{ "config", "show masks secrets", test_show_masks },
		{ "config", "show masks database passwords", test_show_dburl },
		{ "config", "show round trip", test_show_roundtrip },
		{ "config", "show roles", test_show_roles },
		{ "config", "static change", test_static_change },
	};
	size_t i;

	/* Results must not depend on who runs the suite, or where. */
	setenv("HOME", "/home/tester", 1);
	for (i = 0; test_vars[i] != NULL; i++)
		unsetenv(test_vars[i]);

	return unit_run(tests, UNIT_COUNT(tests));
}
