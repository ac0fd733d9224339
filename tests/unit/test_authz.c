/*
 * test_authz.c - CUnit suite for shared/authz.c and shared/validate.c.
 *
 * The authorization matrix is data: tests/fixtures/authz/users.tsv names
 * the principals and their per-environment roles, matrix.tsv says for
 * every user, environment and permission whether access is allowed, and
 * config.yaml defines the environments and the custom role. The suite
 * checks that matrix.tsv covers every role x permission x environment.
 * Fixtures are found through $BERTH_SRCDIR (set by make check; "."
 * otherwise).
 */
#include <CUnit/CUnit.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "config.h"
#include "principal.h"
#include "validate.h"
#include "unit.h"

/* The roles matrix.tsv must cover: the built-ins and config.yaml's one. */
static const char *const test_roles[] = { "admin", "developer", "viewer",
	"none", "auditor" };
#define TEST_NROLES (sizeof(test_roles) / sizeof(test_roles[0]))
static const char *const test_envs[] = { "development", "staging",
	"production" };
#define TEST_NENVS     (sizeof(test_envs) / sizeof(test_envs[0]))
#define TEST_MAX_USERS 32

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

/* $BERTH_SRCDIR/tests/fixtures/authz/name; caller frees. */
static char *
test_fixture(const char *name)
{
	const char *src = getenv("BERTH_SRCDIR");
	char *p;

	if (src == NULL || *src == '\0')
		src = ".";
	if ((p = malloc(strlen(src) + strlen(name) + 32)) == NULL)
		abort();
	sprintf(p, "%s/tests/fixtures/authz/%s", src, name);
	return p;
}

/* The whole fixture file; caller frees. Aborts when unreadable. */
static char *
test_read(const char *name)
{
	char *path = test_fixture(name), *buf;
	FILE *f = fopen(path, "rb");
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
	free(path);
	return buf;
}

/* config.yaml of the fixtures; aborts when it does not load. */
static struct config *
test_config(void)
{
	char *path = test_fixture("config.yaml"), *diag = NULL;
	struct config *cfg = NULL;

	if (config_load(path, &cfg, &diag) != OK) {
		fprintf(stderr, "%s: %s\n", path, diag ? diag : "");
		abort();
	}
	free(diag);
	free(path);
	return cfg;
}

/* Adds the row environment=role to p. */
static void
test_grant(struct principal *p, const char *environment, const char *role)
{
	struct principal_role *r = &p->roles[p->nroles++];

	snprintf(r->environment, sizeof(r->environment), "%s", environment);
	snprintf(r->role, sizeof(r->role), "%s", role);
}

/* Splits line at tabs into at most max fields; returns how many. */
static int
test_fields(char *line, char **f, int max)
{
	int n = 0;

	while (n < max) {
		f[n++] = line;
		if ((line = strchr(line, '\t')) == NULL)
			break;
		*line++ = '\0';
	}
	return n;
}

/* users.tsv into users; returns how many. */
static size_t
test_users(struct principal *users, size_t max)
{
	char *text = test_read("users.tsv"), *line, *next, *f[2], *grant, *eq;
	size_t n = 0;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '#' || *line == '\0')
			continue;
		if (test_fields(line, f, 2) != 2 || n == max) {
			CHECK(false, "users.tsv: bad line \"%s\"", line);
			continue;
		}
		memset(&users[n], 0, sizeof(users[n]));
		users[n].user_id = (long long)n + 1;
		snprintf(
		    users[n].username, sizeof(users[n].username), "%s", f[0]);
		users[n].method = AUTH_API_KEY;
		for (grant = strtok(f[1], ","); grant != NULL;
		     grant = strtok(NULL, ",")) {
			if (strcmp(grant, "-") == 0)
				continue;
			if ((eq = strchr(grant, '=')) == NULL) {
				CHECK(false, "users.tsv: bad grant \"%s\"",
				    grant);
				continue;
			}
			*eq = '\0';
			test_grant(&users[n], grant, eq + 1);
		}
		n++;
	}
	free(text);
	return n;
}

static int
test_index(const char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return (int)i;
	return -1;
}

/* --- the matrix --------------------------------------------------------- */

/*
 * matrix.tsv: USER, ENVIRONMENT, PERMISSION, ROLE, allow|deny. Every row
 * is decided; a denial must give the exact reason; and the rows together
 * must cover every role x permission x environment.
 */
static void
test_matrix(void)
{
	struct principal users[TEST_MAX_USERS];
	bool seen[TEST_NROLES][PERM__COUNT][TEST_NENVS];
	struct config *cfg = test_config();
	char *text = test_read("matrix.tsv"), *line, *next, *f[5];
	char why[256], want[256];
	size_t nusers = test_users(users, TEST_MAX_USERS), i, j, k;
	int u, r, e, nrows = 0, nallow = 0;
	enum perm perm;
	unsigned mask;
	bool allow;
	berr rc;

	memset(seen, 0, sizeof(seen));
	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '#' || *line == '\0')
			continue;
		u = -1;
		if (test_fields(line, f, 5) != 5 ||
		    authz_perm_parse(f[2], &perm) != OK ||
		    (strcmp(f[4], "allow") != 0 && strcmp(f[4], "deny") != 0)) {
			CHECK(false, "matrix.tsv: bad line \"%s\"", line);
			continue;
		}
		for (i = 0; i < nusers; i++)
			if (strcmp(users[i].username, f[0]) == 0)
				u = (int)i;
		if (u < 0) {
			CHECK(
			    false, "matrix.tsv: no user %s in users.tsv", f[0]);
			continue;
		}
		allow = strcmp(f[4], "allow") == 0;
		nrows++;
		nallow += allow;
		memset(why, 'X', sizeof(why));
		rc = authz_may(cfg, &users[u], perm, f[1], why, sizeof(why));
		if (allow) {
			CHECK(rc == OK, "%s %s %s (%s): want allow, got %d: %s",
			    f[0], f[1], f[2], f[3], rc, why);
			CHECK(why[0] == '\0', "%s %s %s: why \"%s\" on allow",
			    f[0], f[1], f[2], why);
		} else {
			snprintf(want, sizeof(want),
			    "missing permission %s in environment %s (role %s)",
			    f[2], f[1], f[3]);
			CHECK(rc == ERR_DENIED && strcmp(why, want) == 0,
			    "%s %s %s: want deny \"%s\", got %d \"%s\"", f[0],
			    f[1], f[2], want, rc, why);
		}
		/* Without a why buffer the answer is the same. */
		CHECK(authz_may(cfg, &users[u], perm, f[1], NULL, 0) == rc,
		    "%s %s %s: why NULL changes the answer", f[0], f[1], f[2]);
		/* And authz_mask() (tools/list) says the same. */
		mask = 0xdead;
		CHECK(authz_mask(cfg, &users[u], f[1], &mask) == OK &&
		        ((mask & AUTHZ_BIT(perm)) != 0) == allow,
		    "%s %s %s: authz_mask gives %#x", f[0], f[1], f[2], mask);
		r = test_index(test_roles, TEST_NROLES, f[3]);
		e = test_index(test_envs, TEST_NENVS, f[1]);
		if (r >= 0 && e >= 0)
			seen[r][perm][e] = true;
	}
	for (i = 0; i < TEST_NROLES; i++)
		for (j = 0; j < PERM__COUNT; j++)
			for (k = 0; k < TEST_NENVS; k++)
				CHECK(seen[i][j][k],
				    "matrix.tsv: no row for role %s, "
				    "permission %s, environment %s",
				    test_roles[i],
				    authz_perm_name((enum perm)j),
				    test_envs[k]);
	CHECK(nrows >= (int)(TEST_NROLES * PERM__COUNT * TEST_NENVS),
	    "matrix.tsv has only %d rows", nrows);
	CHECK(nallow > 0 && nallow < nrows, "matrix.tsv: %d of %d allowed",
	    nallow, nrows);
	free(text);
	config_free(cfg);
}

/* --- the pieces --------------------------------------------------------- */

static void
test_perm_names(void)
{
	static const char *const bad[] = { "", "tools", "Tools.List",
		"tools.list ", " tools.list", "tools.list\n", "tools_list", "*",
		"admin" };
	enum perm p, q;
	size_t i;
	int n = 0;

	for (p = PERM_TOOLS_LIST; p < PERM__COUNT; p++) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(authz_perm_name(p));
		CU_ASSERT_EQUAL(authz_perm_parse(authz_perm_name(p), &q), OK);
		CU_ASSERT_EQUAL(q, p);
		n++;
	}
	CU_ASSERT_EQUAL(n, 7);
	CU_ASSERT_STRING_EQUAL(authz_perm_name(PERM_TOOLS_LIST), "tools.list");
	CU_ASSERT_STRING_EQUAL(authz_perm_name(PERM_TOOLS_CALL), "tools.call");
	CU_ASSERT_STRING_EQUAL(authz_perm_name(PERM_AGENTS_RUN), "agents.run");
	CU_ASSERT_STRING_EQUAL(authz_perm_name(PERM_RUNS_READ), "runs.read");
	CU_ASSERT_STRING_EQUAL(
	    authz_perm_name(PERM_AGENTS_MANAGE), "agents.manage");
	CU_ASSERT_STRING_EQUAL(
	    authz_perm_name(PERM_USERS_MANAGE), "users.manage");
	CU_ASSERT_STRING_EQUAL(authz_perm_name(PERM_AUDIT_READ), "audit.read");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		q = PERM_AUDIT_READ;
		CHECK(authz_perm_parse(bad[i], &q) == ERR_INVALID,
		    "\"%s\" parsed", bad[i]);
		CU_ASSERT_EQUAL(q, PERM_AUDIT_READ); /* untouched */
	}
	CU_ASSERT_EQUAL(authz_perm_parse(NULL, &q), ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(authz_perm_name(PERM__COUNT));
	CU_ASSERT_PTR_NOT_NULL(authz_perm_name((enum perm) - 1));
}

#define B(p) (1u << (p))

static void
test_role_perms(void)
{
	static const struct {
		const char *role;
		unsigned mask;
	} cases[] = {
		{ "admin", 0x7f },
		{ "developer",
		    B(PERM_TOOLS_LIST) | B(PERM_TOOLS_CALL) |
		        B(PERM_AGENTS_RUN) | B(PERM_RUNS_READ) |
		        B(PERM_AGENTS_MANAGE) },
		{ "viewer", B(PERM_TOOLS_LIST) | B(PERM_RUNS_READ) },
		{ "none", 0 },
		{ "auditor", B(PERM_AUDIT_READ) | B(PERM_RUNS_READ) },
	};
	static const char *const unknown[] = { "ghost", "", "Admin", "*",
		"admin ", "viewer\n" };
	struct config *cfg = test_config();
	unsigned mask;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mask = 0xdead;
		CHECK(authz_role_perms(cfg, cases[i].role, &mask) == OK &&
		        mask == cases[i].mask,
		    "%s: mask %#x, want %#x", cases[i].role, mask,
		    cases[i].mask);
		CU_ASSERT_TRUE(authz_role_exists(cfg, cases[i].role));
	}
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		mask = 0xdead;
		CHECK(
		    authz_role_perms(cfg, unknown[i], &mask) == ERR_NOT_FOUND &&
		        mask == 0,
		    "\"%s\": found, mask %#x", unknown[i], mask);
		CU_ASSERT_FALSE(authz_role_exists(cfg, unknown[i]));
	}
	CU_ASSERT_EQUAL(authz_role_perms(cfg, NULL, &mask), ERR_NOT_FOUND);
	/* Without a config: the built-ins only (config.c asks this way). */
	CU_ASSERT_EQUAL(authz_role_perms(NULL, "developer", &mask), OK);
	CU_ASSERT_EQUAL(mask, cases[1].mask);
	CU_ASSERT_EQUAL(
	    authz_role_perms(NULL, "auditor", &mask), ERR_NOT_FOUND);
	CU_ASSERT_TRUE(authz_role_exists(NULL, "none"));
	CU_ASSERT_FALSE(authz_role_exists(NULL, "auditor"));
	config_free(cfg);
}

static void
test_environments(void)
{
	static const char *const bad[] = { "", "qa", "Production", "prod",
		"production ", "**", "dev*" };
	struct config *cfg = test_config();
	size_t i;

	CU_ASSERT_TRUE(authz_environment_exists(cfg, "*"));
	for (i = 0; i < TEST_NENVS; i++)
		CU_ASSERT_TRUE(authz_environment_exists(cfg, test_envs[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!authz_environment_exists(cfg, bad[i]), "\"%s\" exists",
		    bad[i]);
	CU_ASSERT_FALSE(authz_environment_exists(cfg, NULL));
	CU_ASSERT_TRUE(authz_environment_exists(NULL, "*"));
	CU_ASSERT_FALSE(authz_environment_exists(NULL, "production"));
	config_free(cfg);
}

/* An environment the config does not name is the caller's error. */
static void
test_unknown_environment(void)
{
	static const char *const bad[] = { "qa", "", "Production", "*" };
	struct config *cfg = test_config();
	struct principal p;
	char why[128], want[128];
	unsigned mask;
	size_t i;

	memset(&p, 0, sizeof(p));
	test_grant(&p, "*", "admin");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(authz_may(cfg, &p, PERM_TOOLS_LIST, bad[i], why,
		                    sizeof(why)),
		    ERR_INVALID);
		mask = ~0u;
		CU_ASSERT_EQUAL(
		    authz_mask(cfg, &p, bad[i], &mask), ERR_INVALID);
		CU_ASSERT_EQUAL(mask, 0);
		snprintf(want, sizeof(want), "unknown environment %s", bad[i]);
		CHECK(strcmp(why, want) == 0, "why \"%s\", want \"%s\"", why,
		    want);
	}
	CU_ASSERT_EQUAL(
	    authz_may(cfg, &p, PERM_TOOLS_LIST, NULL, why, sizeof(why)),
	    ERR_INVALID);
	CU_ASSERT_EQUAL(
	    authz_may(cfg, &p, PERM__COUNT, "production", why, sizeof(why)),
	    ERR_INVALID);
	CU_ASSERT_EQUAL(authz_may(cfg, NULL, PERM_TOOLS_LIST, "production", why,
	                    sizeof(why)),
	    ERR_INVALID);
	mask = ~0u;
	CU_ASSERT_EQUAL(authz_mask(cfg, &p, NULL, &mask), ERR_INVALID);
	CU_ASSERT_EQUAL(mask, 0);
	mask = ~0u;
	CU_ASSERT_EQUAL(
	    authz_mask(cfg, NULL, "production", &mask), ERR_INVALID);
	CU_ASSERT_EQUAL(mask, 0);
	config_free(cfg);
}

/*
 * A role the config does not define (never did, or was removed) grants
 * nothing, and the denial says why.
 */
static void
test_undefined_role(void)
{
	static const char yaml[] = "environments: [production]\n";
	struct config *cfg = test_config(), *bare = NULL;
	struct principal p;
	char why[256], want[256];
	enum perm perm;
	unsigned mask;

	memset(&p, 0, sizeof(p));
	test_grant(&p, "production", "ghost");
	test_grant(&p, "*", "admin"); /* must not leak through */
	for (perm = PERM_TOOLS_LIST; perm < PERM__COUNT; perm++) {
		CU_ASSERT_EQUAL(
		    authz_may(cfg, &p, perm, "production", why, sizeof(why)),
		    ERR_DENIED);
		snprintf(want, sizeof(want),
		    "missing permission %s in environment production (role "
		    "ghost is not defined)",
		    authz_perm_name(perm));
		CHECK(strcmp(why, want) == 0, "why \"%s\", want \"%s\"", why,
		    want);
		CU_ASSERT_EQUAL(
		    authz_may(cfg, &p, perm, "staging", why, sizeof(why)), OK);
	}
	/* authz_mask(): nothing, not admin's set through "*". */
	mask = ~0u;
	CU_ASSERT_EQUAL(authz_mask(cfg, &p, "production", &mask), OK);
	CU_ASSERT_EQUAL(mask, 0);
	/* auditor, once its definition is gone from config.yaml. */
	CU_ASSERT_EQUAL_FATAL(
	    config_load_buffer("bare", yaml, strlen(yaml), &bare, NULL), OK);
	memset(&p, 0, sizeof(p));
	test_grant(&p, "*", "auditor");
	CU_ASSERT_EQUAL(
	    authz_may(cfg, &p, PERM_AUDIT_READ, "production", why, sizeof(why)),
	    OK);
	CU_ASSERT_EQUAL(authz_may(bare, &p, PERM_AUDIT_READ, "production", why,
	                    sizeof(why)),
	    ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(why,
	    "missing permission audit.read in environment production (role "
	    "auditor is not defined)");
	config_free(bare);
	config_free(cfg);
}

/* Principals are values filled from the database: read them in bounds. */
static void
test_principal_bounds(void)
{
	struct config *cfg = test_config();
	struct principal p;
	char why[16];
	size_t i;

	/* Unterminated fields match nothing and are never overread. */
	memset(&p, 'x', sizeof(p));
	p.nroles = PRINCIPAL_MAX_ROLES;
	CU_ASSERT_EQUAL(
	    authz_may(cfg, &p, PERM_TOOLS_LIST, "production", NULL, 0),
	    ERR_DENIED);
	/* nroles past the array is clamped; the rows beyond are not read. */
	memset(&p, 0, sizeof(p));
	for (i = 0; i < PRINCIPAL_MAX_ROLES; i++)
		test_grant(&p, "staging", "viewer");
	p.nroles = (size_t)-1;
	CU_ASSERT_EQUAL(
	    authz_may(cfg, &p, PERM_TOOLS_LIST, "staging", NULL, 0), OK);
	/* The first exact row wins over later ones. */
	memset(&p, 0, sizeof(p));
	test_grant(&p, "staging", "viewer");
	test_grant(&p, "staging", "admin");
	CU_ASSERT_EQUAL(authz_may(cfg, &p, PERM_TOOLS_CALL, "staging", NULL, 0),
	    ERR_DENIED);
	/* A short why buffer is cut and terminated. */
	memset(why, 'X', sizeof(why));
	CU_ASSERT_EQUAL(
	    authz_may(cfg, &p, PERM_TOOLS_CALL, "staging", why, sizeof(why)),
	    ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(why, "missing permiss");
	CU_ASSERT_EQUAL(
	    authz_may(cfg, &p, PERM_TOOLS_CALL, "staging", why, 0), ERR_DENIED);
	config_free(cfg);
}

/* --- validate ----------------------------------------------------------- */

/* n copies of unit into a new string; caller frees. */
static char *
test_repeat(const char *unit, size_t n)
{
	size_t len = strlen(unit), i;
	char *s;

	if ((s = malloc(len * n + 1)) == NULL)
		abort();
	for (i = 0; i < n; i++)
		memcpy(s + i * len, unit, len);
	s[len * n] = '\0';
	return s;
}

enum { V_NAME, V_DESCRIPTION, V_TASK };

/* One validate case: which function, unit repeated n times, result. */
struct vcase {
	int fn;
	const char *unit;
	size_t n;
	const char *want; /* NULL: OK; else the exact why */
};

static const struct vcase vcases[] = {
	/* Lengths in code points, at the boundaries, 1 to 4 bytes each. */
	{ V_NAME, "a", 0, "name: must be 1 to 100 characters (got 0)" },
	{ V_NAME, "a", 1, NULL },
	{ V_NAME, "a", 100, NULL },
	{ V_NAME, "a", 101, "name: must be 1 to 100 characters (got 101)" },
	{ V_NAME, "\xc3\xa9", 1, NULL },
	{ V_NAME, "\xc3\xa9", 100, NULL },
	{ V_NAME, "\xc3\xa9", 101,
	    "name: must be 1 to 100 characters (got 101)" },
	{ V_NAME, "\xe2\x82\xac", 100, NULL },
	{ V_NAME, "\xe2\x82\xac", 101,
	    "name: must be 1 to 100 characters (got 101)" },
	{ V_NAME, "\xf0\x9f\x98\x80", 100, NULL },
	{ V_NAME, "\xf0\x9f\x98\x80", 101,
	    "name: must be 1 to 100 characters (got 101)" },
	{ V_NAME, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 25, NULL },
	{ V_NAME, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 26,
	    "name: must be 1 to 100 characters (got 104)" },
	{ V_DESCRIPTION, "d", 0,
	    "description: must be 1 to 500 characters (got 0)" },
	{ V_DESCRIPTION, "\xc3\xa9", 500, NULL },
	{ V_DESCRIPTION, "\xc3\xa9", 501,
	    "description: must be 1 to 500 characters (got 501)" },
	{ V_TASK, "t", 0, "task: must be 1 to 2000 characters (got 0)" },
	{ V_TASK, "\xe2\x82\xac", 2000, NULL },
	{ V_TASK, "\xe2\x82\xac", 2001,
	    "task: must be 1 to 2000 characters (got 2001)" },
	/* Edges of the code space that are valid. */
	{ V_NAME, "\x7e", 1, NULL },
	{ V_NAME, "\xc2\xa0", 1, NULL },         /* U+00A0, after C1 */
	{ V_NAME, "\xdf\xbf", 1, NULL },         /* U+07FF */
	{ V_NAME, "\xe0\xa0\x80", 1, NULL },     /* U+0800 */
	{ V_NAME, "\xed\x9f\xbf", 1, NULL },     /* U+D7FF */
	{ V_NAME, "\xee\x80\x80", 1, NULL },     /* U+E000 */
	{ V_NAME, "\xef\xbf\xbf", 1, NULL },     /* U+FFFF */
	{ V_NAME, "\xf0\x90\x80\x80", 1, NULL }, /* U+10000 */
	{ V_NAME, "\xf4\x8f\xbf\xbf", 1, NULL }, /* U+10FFFF */
	/* Bad UTF-8, reported before the length. */
	{ V_NAME, "\x80", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xbf", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xc3", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xc3(", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xc0\xaf", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xc1\xbf", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xe0\x80\xaf", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xe0\x9f\xbf", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xe2\x82", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xed\xa0\x80", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xed\xbf\xbf", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xf0\x80\x80\xaf", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xf0\x8f\xbf\xbf", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xf0\x9f\x98", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xf4\x90\x80\x80", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xf5\x80\x80\x80", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xf8\x88\x80\x80\x80", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xfe", 1, "name: is not valid UTF-8" },
	{ V_NAME, "\xff", 200, "name: is not valid UTF-8" },
	{ V_TASK, "ok \xed\xa0\x80", 1, "task: is not valid UTF-8" },
	/* Control characters; tab and newline only in multi-line fields. */
	{ V_NAME, "a\tb", 1, "name: contains a control character" },
	{ V_NAME, "a\nb", 1, "name: contains a control character" },
	{ V_NAME, "a\rb", 1, "name: contains a control character" },
	{ V_NAME, "\x1b[31m", 1, "name: contains a control character" },
	{ V_NAME, "\x7f", 1, "name: contains a control character" },
	{ V_NAME, "\xc2\x85", 1, "name: contains a control character" },
	{ V_NAME, "\xc2\x9f", 1, "name: contains a control character" },
	{ V_NAME, "\x01", 200, "name: contains a control character" },
	{ V_DESCRIPTION, "line\tone\n", 1, NULL },
	{ V_DESCRIPTION, "a\rb", 1,
	    "description: contains a control character" },
	{ V_TASK, "step 1\n\tstep 2\n", 1, NULL },
	{ V_TASK, "bell\a", 1, "task: contains a control character" },
	{ V_TASK, "\n", 2000, NULL },
	{ V_TASK, "\n", 2001, "task: must be 1 to 2000 characters (got 2001)" },
};

static void
test_validate(void)
{
	char *value, why[128];
	size_t i;
	berr rc;

	for (i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++) {
		value = test_repeat(vcases[i].unit, vcases[i].n);
		memset(why, 'X', sizeof(why));
		switch (vcases[i].fn) {
		case V_NAME:
			rc = validate_name("name", value, why, sizeof(why));
			break;
		case V_DESCRIPTION:
			rc = validate_description(value, why, sizeof(why));
			break;
		default: rc = validate_task(value, why, sizeof(why)); break;
		}
		if (vcases[i].want == NULL)
			CHECK(rc == OK && why[0] == '\0',
			    "case %zu: want OK, got %d \"%s\"", i, rc, why);
		else
			CHECK(rc == ERR_INVALID &&
			        strcmp(why, vcases[i].want) == 0,
			    "case %zu: want \"%s\", got %d \"%s\"", i,
			    vcases[i].want, rc, why);
		/* The answer does not depend on the why buffer. */
		CU_ASSERT_EQUAL(vcases[i].fn == V_NAME
		        ? validate_name("name", value, NULL, 0)
		        : vcases[i].fn == V_DESCRIPTION
		        ? validate_description(value, NULL, 0)
		        : validate_task(value, NULL, 0),
		    rc);
		free(value);
	}
}

static void
test_validate_field(void)
{
	char why[128];

	CU_ASSERT_EQUAL(
	    validate_name("agent name", "", why, sizeof(why)), ERR_INVALID);
	CU_ASSERT_STRING_EQUAL(
	    why, "agent name: must be 1 to 100 characters (got 0)");
	CU_ASSERT_EQUAL(
	    validate_name("key name", "a\tb", why, sizeof(why)), ERR_INVALID);
	CU_ASSERT_STRING_EQUAL(why, "key name: contains a control character");
	/* A missing value is an empty one. */
	CU_ASSERT_EQUAL(validate_task(NULL, why, sizeof(why)), ERR_INVALID);
	CU_ASSERT_STRING_EQUAL(
	    why, "task: must be 1 to 2000 characters (got 0)");
	/* validate_text with its own bounds. */
	CU_ASSERT_EQUAL(
	    validate_text("tag", "", 0, 3, 1, why, sizeof(why)), OK);
	CU_ASSERT_EQUAL(validate_text("tag", "\xc3\xa9\xc3\xa9\xc3\xa9", 0, 3,
	                    1, why, sizeof(why)),
	    OK);
	CU_ASSERT_EQUAL(validate_text("tag", "abcd", 2, 3, 1, why, sizeof(why)),
	    ERR_INVALID);
	CU_ASSERT_STRING_EQUAL(why, "tag: must be 2 to 3 characters (got 4)");
	CU_ASSERT_EQUAL(
	    validate_text("tag", "a\nb", 0, 3, 0, why, sizeof(why)), OK);
	/* A short buffer is cut and terminated. */
	CU_ASSERT_EQUAL(validate_name("name", "", why, 5), ERR_INVALID);
	CU_ASSERT_STRING_EQUAL(why, "name");
	CU_ASSERT_EQUAL(VALIDATE_NAME_MAX, 100);
	CU_ASSERT_EQUAL(VALIDATE_DESCRIPTION_MAX, 500);
	CU_ASSERT_EQUAL(VALIDATE_TASK_MAX, 2000);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "authz", "matrix.tsv: role x permission x environment",
		    test_matrix },
		{ "authz", "permission names round trip", test_perm_names },
		{ "authz", "role permission sets", test_role_perms },
		{ "authz", "environments", test_environments },
		{ "authz", "unknown environment", test_unknown_environment },
		{ "authz", "undefined role grants nothing",
		    test_undefined_role },
		{ "authz", "principal read in bounds", test_principal_bounds },
		{ "authz", "validate: lengths, UTF-8, control characters",
		    test_validate },
		{ "authz", "validate: field names and bounds",
		    test_validate_field },
	};
	return unit_run(tests, UNIT_COUNT(tests));
}
