/*
 * cmd_auth.c - berth auth anthropic login|status|logout: the Anthropic
 * OAuth tokens berthd's run workers use (aicred.h).
 *
 * An admin command like `berth user`: it needs the database
 * (DATABASE_URL) and, for login, the master key (BERTH_ENCRYPTION_KEY or
 * encryption.key_file), since the tokens are stored sealed in table
 * ai_credentials where every worker on every host finds them. Login and
 * logout are audited ("ai_auth.login", "ai_auth.logout", resource
 * "ai_provider:anthropic"), failed logins too. No token, code or verifier
 * is ever printed or logged.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "aicred.h"
#include "cmd.h"
#include "config.h"
#include "crypto.h"
#include "db.h"

#define CMD_AUTH_PROVIDER "anthropic"
#define CMD_AUTH_RESOURCE "ai_provider:anthropic"
/* A pasted CODE#STATE longer than this is not one. */
#define CMD_AUTH_PASTE_MAX 2048

static int
cmd_auth_usage(void)
{
	fprintf(stderr,
	    "usage: berth auth anthropic login [--code-stdin]\n"
	    "       berth auth anthropic status\n"
	    "       berth auth anthropic logout\n");
	return 2;
}

/* "2026-11-24 10:00:00 UTC" of t into buf. */
static const char *
cmd_auth_time(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "%lld", t);
	return buf;
}

/* Audits a failed login with its reason (never a secret). */
static void
cmd_auth_audit_fail(struct db *db, const char *reason)
{
	struct json_object *d = json_object_new_object();

	if (d != NULL)
		json_object_object_add(
		    d, "reason", json_object_new_string(reason));
	if (cmd_common_audit_result(
	        db, "ai_auth.login", CMD_AUTH_RESOURCE, NULL, d, false) != OK)
		fprintf(stderr, "berth auth: the audit log write failed\n");
}

/* The store-and-audit transaction of a login. */
struct cmd_auth_store {
	const struct crypto_key *key;
	const struct aicred_tokens *t;
};

static berr
cmd_auth_store_tx(struct db *db, void *arg)
{
	struct cmd_auth_store *s = arg;
	struct json_object *d;
	char when[64];
	berr rc;

	if ((rc = aicred_store(db, s->key, CMD_AUTH_PROVIDER, s->t)) != OK)
		return rc;
	if ((d = json_object_new_object()) != NULL) {
		json_object_object_add(d, "expires_at",
		    s->t->expires_at
		        ? json_object_new_string(cmd_auth_time(
		              s->t->expires_at, when, sizeof(when)))
		        : NULL);
		json_object_object_add(d, "refreshable",
		    json_object_new_boolean(s->t->refresh[0] != '\0'));
		json_object_object_add(
		    d, "key_id", json_object_new_string(s->key->id));
	}
	return cmd_common_audit(
	    db, "ai_auth.login", CMD_AUTH_RESOURCE, NULL, d);
}

static int
cmd_auth_login(struct db *db, const struct config *cfg, bool code_stdin)
{
	struct crypto_key key;
	struct aicred_pkce p;
	struct aicred_tokens t;
	struct aicred_info info;
	struct cmd_auth_store st;
	char buf[512], pasted[CMD_AUTH_PASTE_MAX + 2],
	    code[CMD_AUTH_PASTE_MAX + 1], why[512], when[64];
	const char *kwhy, *pwhy;
	char *url = NULL;
	int status = 1;
	berr rc;

	memset(&key, 0, sizeof(key));
	memset(&p, 0, sizeof(p));
	memset(&t, 0, sizeof(t));
	/* Everything that could refuse the result is checked before the
	 * user goes through the browser. */
	if (crypto_key_load(cfg, &key, buf, sizeof(buf), &kwhy) != OK) {
		fprintf(stderr,
		    "berth auth anthropic login: the tokens are stored "
		    "encrypted and there is no usable master key: %s\n",
		    kwhy);
		goto out;
	}
	rc = aicred_status(db, CMD_AUTH_PROVIDER, &info);
	if (rc != OK && rc != ERR_NOT_FOUND) {
		fprintf(stderr,
		    "berth auth anthropic login: cannot read table "
		    "ai_credentials (%s): has `berth migrate` run?\n",
		    err_str(rc));
		goto out;
	}
	if (aicred_pkce_new(&p) != OK ||
	    aicred_authorize_url(cfg, &p, &url) != OK) {
		fprintf(stderr,
		    "berth auth anthropic login: cannot make the "
		    "authorization request\n");
		goto out;
	}
	printf("Open this URL in a browser, sign in and authorize Berth:\n\n"
	       "%s\n\n"
	       "Then paste the code the page shows (CODE#STATE).\n",
	    url);
	fflush(stdout);
	if (code_stdin ? !cmd_common_line(stdin, pasted, sizeof(pasted))
	               : !cmd_common_prompt(
	                     "Paste the code (CODE#STATE; not echoed): ", true,
	                     pasted, sizeof(pasted))) {
		fprintf(stderr, "berth auth anthropic login: no code read%s\n",
		    code_stdin ? " from stdin"
		               : " (no terminal: use --code-stdin)");
		cmd_auth_audit_fail(db, "no code");
		goto out;
	}
	if (aicred_parse_code(pasted, &p, code, sizeof(code), &pwhy) != OK) {
		fprintf(stderr, "berth auth anthropic login: %s\n", pwhy);
		cmd_auth_audit_fail(db, pwhy);
		goto out;
	}
	if (aicred_exchange(cfg, code, &p, &t, why, sizeof(why)) != OK) {
		fprintf(stderr,
		    "berth auth anthropic login: %s; nothing stored\n", why);
		cmd_auth_audit_fail(db, why);
		goto out;
	}
	st.key = &key;
	st.t = &t;
	if ((rc = db_tx(db, cmd_auth_store_tx, &st)) != OK) {
		fprintf(stderr,
		    "berth auth anthropic login: storing the tokens failed: "
		    "%s\n",
		    err_str(rc));
		goto out;
	}
	printf("Logged in to Anthropic: tokens stored encrypted under master "
	       "key %s; %s%s; refresh %s.\n",
	    key.id, t.expires_at ? "valid until " : "no expiry given",
	    t.expires_at ? cmd_auth_time(t.expires_at, when, sizeof(when)) : "",
	    t.refresh[0] ? "possible" : "not possible (no refresh token)");
	status = 0;
out:
	crypto_key_wipe(&key);
	aicred_tokens_wipe(&t);
	OPENSSL_cleanse(&p, sizeof(p));
	OPENSSL_cleanse(pasted, sizeof(pasted));
	OPENSSL_cleanse(code, sizeof(code));
	free(url);
	return status;
}

static int
cmd_auth_status(struct db *db, const struct config *cfg)
{
	struct aicred_info info;
	struct aicred_tokens t;
	struct crypto_key key, old;
	char buf[512], when[64];
	const char *kwhy, *force = getenv("STN_AI_AUTH_TYPE");
	long long left;
	berr rc;

	memset(&key, 0, sizeof(key));
	memset(&old, 0, sizeof(old));
	rc = aicred_status(db, CMD_AUTH_PROVIDER, &info);
	if (rc == ERR_NOT_FOUND) {
		printf("anthropic: not logged in (berth auth anthropic "
		       "login)\n");
		return 1;
	}
	if (rc != OK) {
		fprintf(stderr,
		    "berth auth anthropic status: cannot read table "
		    "ai_credentials (%s): has `berth migrate` run?\n",
		    err_str(rc));
		return 1;
	}
	printf("anthropic: logged in (OAuth tokens stored encrypted under "
	       "master key %s)\n",
	    info.key_id);
	if (info.expires_at == 0) {
		printf("  expires:   no expiry given\n");
	} else {
		left = info.expires_at - (long long)time(NULL);
		printf("  expires:   %s (%s%lld min)\n",
		    cmd_auth_time(info.expires_at, when, sizeof(when)),
		    left > 0 ? "in " : "expired ",
		    (left > 0 ? left : -left) / 60);
	}
	printf("  refresh:   %s\n",
	    info.refreshable ? "possible (refresh token stored)"
	                     : "not possible (no refresh token)");
	if (info.scopes[0])
		printf("  scopes:    %s\n",
		    cmd_common_clean(info.scopes, buf, sizeof(buf)));
	printf("  stored:    %s\n", info.updated_at);
	printf("  refreshed: %s\n",
	    info.refreshed_at[0] ? info.refreshed_at : "never");
	if (crypto_key_load(cfg, &key, buf, sizeof(buf), &kwhy) == OK) {
		if (crypto_key_load_old(cfg, &old, buf, sizeof(buf), &kwhy) ==
		    OK)
			key.previous = &old;
		rc = aicred_open(db, &key, CMD_AUTH_PROVIDER, &t);
		aicred_tokens_wipe(&t);
		printf("  key:       %s\n",
		    rc == OK ? "opens with this master key"
		             : "does NOT open with this master key (log in "
		               "again)");
	}
	if (force != NULL && strcmp(force, "api_key") == 0)
		printf("  note:      STN_AI_AUTH_TYPE=api_key is set here: a "
		       "runner with it uses ANTHROPIC_API_KEY instead\n");
	crypto_key_wipe(&key);
	crypto_key_wipe(&old);
	return 0;
}

static berr
cmd_auth_logout_tx(struct db *db, void *arg)
{
	struct json_object *d;
	berr rc;

	(void)arg;
	if ((rc = aicred_delete(db, CMD_AUTH_PROVIDER)) != OK)
		return rc;
	d = json_object_new_object();
	return cmd_common_audit(
	    db, "ai_auth.logout", CMD_AUTH_RESOURCE, NULL, d);
}

static int
cmd_auth_logout(struct db *db)
{
	berr rc = db_tx(db, cmd_auth_logout_tx, NULL);

	if (rc == ERR_NOT_FOUND) {
		printf("anthropic: was not logged in\n");
		return 0;
	}
	if (rc != OK) {
		fprintf(
		    stderr, "berth auth anthropic logout: %s\n", err_str(rc));
		return 1;
	}
	printf("anthropic: logged out; the stored tokens are deleted\n");
	return 0;
}

int
cmd_auth(int argc, char **argv, const char *config_path)
{
	struct config *cfg = NULL;
	struct db *db = NULL;
	bool code_stdin = false;
	int status = 1, i;

	if (argc < 3 || strcmp(argv[1], CMD_AUTH_PROVIDER) != 0)
		return cmd_auth_usage();
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[2], "login") == 0 &&
		    strcmp(argv[i], "--code-stdin") == 0)
			code_stdin = true;
		else
			return cmd_auth_usage();
	}
	if (strcmp(argv[2], "login") != 0 && strcmp(argv[2], "status") != 0 &&
	    strcmp(argv[2], "logout") != 0)
		return cmd_auth_usage();
	if (cmd_common_open("auth", config_path, &cfg, &db) != 0)
		goto out;
	if (aicred_prepare(db) != OK) {
		fprintf(stderr, "berth auth: out of memory\n");
		goto out;
	}
	if (strcmp(argv[2], "login") == 0)
		status = cmd_auth_login(db, cfg, code_stdin);
	else if (strcmp(argv[2], "status") == 0)
		status = cmd_auth_status(db, cfg);
	else
		status = cmd_auth_logout(db);
out:
	db_free(db);
	config_free(cfg);
	return status;
}
