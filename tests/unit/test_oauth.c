/*
 * test_oauth.c - CUnit suite for the parts of shared/oauth.c that need no
 * database and no authorization server: when OAuth is on, the URLs the
 * metadata and WWW-Authenticate name (and their defaults), the scope
 * string, the new config keys' bounds, and the syntax refusal that must
 * happen before any lookup. The rest (cache, introspection, checks, user
 * mapping) runs against PostgreSQL and oidc-provider in
 * tests/integration/test_oauth.sh.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "oauth.h"
#include "principal.h"
#include "unit.h"

/* A config from YAML text; fails the test when it does not load. */
static struct config *
test_cfg(const char *yaml)
{
	struct config *cfg = NULL;
	char *diag = NULL;
	berr rc = config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &diag);

	free(diag);
	CU_ASSERT_EQUAL(rc, OK);
	return rc == OK ? cfg : NULL;
}

static void
test_active(void)
{
	struct config *c;

	CU_ASSERT_FALSE(oauth_active(NULL));
	c = test_cfg("local_mode: true\ncloudship: {oauth: {enabled: true}}\n");
	CU_ASSERT_FALSE(oauth_active(c)); /* local mode: never */
	config_free(c);
	c = test_cfg("local_mode: false\n");
	CU_ASSERT_FALSE(oauth_active(c)); /* not enabled (the default) */
	config_free(c);
	c = test_cfg(
	    "local_mode: false\ncloudship: {oauth: {enabled: true}}\n");
	CU_ASSERT_TRUE(oauth_active(c));
	CU_ASSERT_TRUE(c->cloudship.oauth.org_scoping); /* default on */
	CU_ASSERT_EQUAL(c->cloudship.oauth.timeout, 5);
	CU_ASSERT_EQUAL(c->cloudship.oauth.cache_seconds, 300);
	CU_ASSERT_EQUAL(c->cloudship.oauth.negative_cache_seconds, 30);
	config_free(c);
}

static void
test_urls(void)
{
	char buf[256];
	struct config *c = test_cfg("http: {public_url: 'https://b.example/'}\n"
	                            "cloudship: {base_url: "
	                            "'https://cs.example/'}\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(oauth_resource_url(c, buf, sizeof(buf)), OK);
	CU_ASSERT_STRING_EQUAL(buf, "https://b.example/mcp");
	CU_ASSERT_EQUAL(oauth_metadata_url(c, buf, sizeof(buf)), OK);
	CU_ASSERT_STRING_EQUAL(
	    buf, "https://b.example/.well-known/oauth-protected-resource/mcp");
	/* Defaults derived from base_url. */
	CU_ASSERT_EQUAL(oauth_issuer(c, buf, sizeof(buf)), OK);
	CU_ASSERT_STRING_EQUAL(buf, "https://cs.example");
	CU_ASSERT_EQUAL(oauth_introspect_url(c, buf, sizeof(buf)), OK);
	CU_ASSERT_STRING_EQUAL(buf, "https://cs.example/oauth/introspect");
	/* Too small a buffer: ERR_TOO_BIG and "", never a cut URL. */
	CU_ASSERT_EQUAL(oauth_resource_url(c, buf, 10), ERR_TOO_BIG);
	CU_ASSERT_STRING_EQUAL(buf, "");
	config_free(c);

	c = test_cfg("cloudship:\n  oauth:\n    issuer: https://as.example\n"
	             "    introspect_url: https://as.example/i\n");
	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(oauth_issuer(c, buf, sizeof(buf)), OK);
	CU_ASSERT_STRING_EQUAL(buf, "https://as.example");
	CU_ASSERT_EQUAL(oauth_introspect_url(c, buf, sizeof(buf)), OK);
	CU_ASSERT_STRING_EQUAL(buf, "https://as.example/i");
	config_free(c);
}

static void
test_scopes(void)
{
	char buf[64];
	struct config *c = test_cfg("cloudship: {oauth: {scopes: [mcp, "
	                            "'station:read']}}\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(oauth_scope_string(c, buf, sizeof(buf)), OK);
	CU_ASSERT_STRING_EQUAL(buf, "mcp station:read");
	CU_ASSERT_EQUAL(oauth_scope_string(c, buf, 8), ERR_TOO_BIG);
	CU_ASSERT_STRING_EQUAL(buf, "");
	config_free(c);
	c = test_cfg("");
	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(oauth_scope_string(c, buf, sizeof(buf)), OK);
	CU_ASSERT_STRING_EQUAL(buf, "");
	config_free(c);
}

/* The bounds of the new keys: the table refuses what the schema would. */
static void
test_bounds(void)
{
	static const char *bad[] = {
		"cloudship: {oauth: {cache_seconds: 301}}\n",
		"cloudship: {oauth: {cache_seconds: 0}}\n",
		"cloudship: {oauth: {timeout: 0}}\n",
		"cloudship: {oauth: {timeout: 61}}\n",
		"cloudship: {oauth: {negative_cache_seconds: -1}}\n",
		"cloudship: {oauth: {issuer: 'ftp://x'}}\n",
	};
	struct config *c = NULL;
	char *diag = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(config_load_buffer("t.yaml", bad[i],
		                    strlen(bad[i]), &c, &diag),
		    ERR_CONFIG);
		free(diag);
		diag = NULL;
		config_free(c);
		c = NULL;
	}
}

/* Not an RFC 6750 b64token: refused before the database (db is NULL). */
static void
test_malformed(void)
{
	static const char *tokens[] = { "a b", "abc\"", "=abc", "abc=d",
		"tok\xc3\xa9", "{}", "a,b" };
	struct config *c = test_cfg(
	    "local_mode: false\ncloudship: {oauth: {enabled: true}}\n");
	struct principal p;
	const char *why;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		memset(&p, 0, sizeof(p));
		why = NULL;
		CU_ASSERT_EQUAL(
		    oauth_resolve(NULL, c, tokens[i], NULL, &p, &why),
		    ERR_DENIED);
		CU_ASSERT_STRING_EQUAL(p.reason, "malformed");
		CU_ASSERT_PTR_NOT_NULL(why);
	}
	CU_ASSERT_EQUAL(oauth_introspection_count(), 0);
	config_free(c);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "oauth", "active: enabled and not local_mode", test_active },
		{ "oauth", "resource, metadata, issuer, introspection URLs",
		    test_urls },
		{ "oauth", "scope string", test_scopes },
		{ "oauth", "config bounds", test_bounds },
		{ "oauth", "malformed tokens refused before any lookup",
		    test_malformed },
	};

	log_init("test_oauth", LOG_LVL_ERROR);
	return unit_run(tests, UNIT_COUNT(tests));
}
