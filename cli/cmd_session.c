/*
 * cmd_session.c - the client side of login sessions: berth login, berth
 * logout, berth status. They talk to a Berth server over HTTP
 * (client.h), keep the session token in the keychain or a 0600 file
 * (tokenstore.h), and find the server in MCP client configs
 * (mcpconfig.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "client.h"
#include "cmd.h"
#include "config.h"
#include "mcpconfig.h"
#include "password.h"
#include "tokenstore.h"

#define CMD_SESSION_TIMEOUT 30

/* The message of a JSON error body, or the body's first bytes. */
static const char *
cmd_session_error(const struct client_resp *r, char *buf, size_t size)
{
	struct json_object *o = json_tokener_parse(r->body), *m;

	if (o != NULL && json_object_object_get_ex(o, "message", &m) &&
	    json_object_is_type(m, json_type_string))
		snprintf(buf, size, "%s", json_object_get_string(m));
	else
		snprintf(buf, size, "%.200s", r->body);
	json_object_put(o);
	return buf;
}

/* The string at key of o, or "". */
static const char *
cmd_session_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return "";
}

/*
 * The server for logout/proxy: arg resolved through the MCP configs;
 * without arg, the only stored session's server also does.
 */
int
cmd_session_resolve(const char *who, const char *arg, char *url, size_t size)
{
	struct tokenstore_entry *v = NULL;
	char why[1400];
	size_t n = 0;

	if (mcpconfig_resolve(arg, url, size, why, sizeof(why)) == OK)
		return 0;
	if (arg == NULL && tokenstore_list(&v, &n) == OK && n == 1) {
		snprintf(url, size, "%s", v[0].server);
		free(v);
		return 0;
	}
	free(v);
	fprintf(stderr, "berth %s: %s\n", who, why);
	return 1;
}

int
cmd_login(int argc, char **argv, const char *config_path)
{
	const char *server = NULL, *username = NULL, *where;
	char url[1024], why[1400], user[512], pw[PASSWORD_MAX_LEN + 2];
	char endpoint[1100], msg[256];
	static const char *const hdrs[] = { "Content-Type: application/json",
		"Accept: application/json", NULL };
	struct json_object *req = NULL, *ans = NULL, *u;
	struct client_resp r = { 0 };
	bool from_stdin = false;
	const char *body;
	int i, status = 1;
	berr rc;

	(void)config_path;
	pw[0] = '\0';
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--password-stdin") == 0)
			from_stdin = true;
		else if (strcmp(argv[i], "--username") == 0 && i + 1 < argc)
			username = argv[++i];
		else if (argv[i][0] != '-' && server == NULL)
			server = argv[i];
		else {
			fprintf(stderr,
			    "usage: berth login [SERVER] [--username U] "
			    "[--password-stdin]\n");
			return 2;
		}
	}
	if (mcpconfig_resolve(server, url, sizeof(url), why, sizeof(why)) !=
	    OK) {
		fprintf(stderr, "berth login: %s\n", why);
		return 1;
	}
	if (username == NULL) {
		if (!cmd_common_prompt(
		        "Username: ", false, user, sizeof(user)) ||
		    user[0] == '\0') {
			fprintf(stderr,
			    "berth login: no terminal to ask for "
			    "the username: give --username\n");
			return 2;
		}
		username = user;
	}
	if (from_stdin
	        ? !cmd_common_line(stdin, pw, sizeof(pw))
	        : !cmd_common_prompt("Password: ", true, pw, sizeof(pw))) {
		fprintf(stderr, "berth login: no password read%s\n",
		    from_stdin ? " from stdin"
		               : " (no terminal: use --password-stdin)");
		goto out;
	}
	if ((req = json_object_new_object()) == NULL)
		goto out;
	json_object_object_add(
	    req, "username", json_object_new_string(username));
	json_object_object_add(req, "password", json_object_new_string(pw));
	body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	snprintf(endpoint, sizeof(endpoint), "%s/auth/login", url);
	rc = client_request("POST", endpoint, NULL, hdrs, body,
	    CMD_SESSION_TIMEOUT, &r, why, sizeof(why));
	OPENSSL_cleanse((void *)body, strlen(body));
	if (rc != OK) {
		fprintf(stderr, "berth login: %s: %s\n", url, why);
		goto out;
	}
	if (r.status != 200) {
		fprintf(stderr, "berth login: %s refused (HTTP %ld): %s\n", url,
		    r.status, cmd_session_error(&r, msg, sizeof(msg)));
		goto out;
	}
	if ((ans = json_tokener_parse(r.body)) == NULL ||
	    cmd_session_str(ans, "session_token")[0] == '\0') {
		fprintf(
		    stderr, "berth login: %s answered no session token\n", url);
		goto out;
	}
	if (!json_object_object_get_ex(ans, "user", &u))
		u = NULL;
	if (tokenstore_save(url, cmd_session_str(ans, "session_token"),
	        cmd_session_str(u, "username"),
	        cmd_session_str(ans, "expires_at"), &where) != OK) {
		fprintf(stderr, "berth login: could not store the token\n");
		goto out;
	}
	printf("Logged in to %s as %s (session until %s, token kept in the "
	       "%s)\n",
	    url, cmd_session_str(u, "username"),
	    cmd_session_str(ans, "expires_at"), where);
	status = 0;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	if (r.body != NULL)
		OPENSSL_cleanse(r.body, r.len);
	client_resp_free(&r);
	json_object_put(req);
	json_object_put(ans);
	return status;
}

int
cmd_logout(int argc, char **argv, const char *config_path)
{
	char url[1024], endpoint[1100], why[512], msg[256];
	struct client_resp r = { 0 };
	char *token = NULL;
	int status = 1;
	berr rc;

	(void)config_path;
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: berth logout [SERVER]\n");
		return 2;
	}
	if (cmd_session_resolve(
	        "logout", argc == 2 ? argv[1] : NULL, url, sizeof(url)) != 0)
		return 1;
	if ((rc = tokenstore_load(url, &token)) != OK) {
		fprintf(
		    stderr, "berth logout: no session stored for %s\n", url);
		return rc == ERR_NOT_FOUND ? 0 : 1;
	}
	snprintf(endpoint, sizeof(endpoint), "%s/auth/logout", url);
	rc = client_request("POST", endpoint, token, NULL, NULL,
	    CMD_SESSION_TIMEOUT, &r, why, sizeof(why));
	if (rc != OK)
		fprintf(stderr,
		    "berth logout: %s: %s; the session could not be revoked "
		    "on the server (it ends when it expires)\n",
		    url, why);
	else if (r.status != 200 && r.status != 401)
		fprintf(stderr, "berth logout: %s answered HTTP %ld: %s\n", url,
		    r.status, cmd_session_error(&r, msg, sizeof(msg)));
	else
		status = 0;
	if (tokenstore_remove(url) != OK) {
		fprintf(stderr,
		    "berth logout: could not remove the local "
		    "token\n");
		status = 1;
	} else {
		printf(
		    "Logged out of %s%s\n", url, status == 0 ? "" : " locally");
	}
	if (token != NULL) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	client_resp_free(&r);
	return status;
}

/* Asks the server about one stored session and prints what it says. */
static void
cmd_status_one(const struct tokenstore_entry *e)
{
	char endpoint[1100], why[512], msg[256];
	struct json_object *o = NULL, *c;
	struct client_resp r = { 0 };
	char *token = NULL;

	printf("  %s\n", e->server);
	printf("    user:       %s\n", e->username[0] ? e->username : "?");
	printf("    expires:    %s\n", e->expires_at[0] ? e->expires_at : "?");
	printf("    token in:   %s\n", e->store[0] ? e->store : "?");
	if (tokenstore_load(e->server, &token) != OK) {
		printf("    status:     no token found (run berth login)\n");
		return;
	}
	snprintf(endpoint, sizeof(endpoint), "%s/auth/status", e->server);
	if (client_request("GET", endpoint, token, NULL, NULL, 10, &r, why,
	        sizeof(why)) != OK) {
		printf("    status:     unreachable (%s)\n", why);
		goto out;
	}
	if (r.status == 401) {
		printf(
		    "    status:     expired or revoked (run berth login)\n");
		goto out;
	}
	if (r.status != 200 || (o = json_tokener_parse(r.body)) == NULL) {
		printf("    status:     HTTP %ld: %s\n", r.status,
		    cmd_session_error(&r, msg, sizeof(msg)));
		goto out;
	}
	printf("    status:     valid\n");
	if (json_object_object_get_ex(o, "cloudship", &c)) {
		struct json_object *v;
		bool connected =
		    json_object_object_get_ex(c, "connected", &v) &&
		    json_object_get_boolean(v);
		const char *st = cmd_session_str(c, "station");

		printf("    cloudship:  %s%s%s%s%s%s%s\n",
		    connected ? "connected" : "not connected",
		    st[0] ? ", station " : "", st,
		    cmd_session_str(c, "org_id")[0] ? ", org " : "",
		    cmd_session_str(c, "org_id"),
		    cmd_session_str(c, "last_heartbeat")[0]
		        ? ", last heartbeat "
		        : "",
		    cmd_session_str(c, "last_heartbeat"));
	}
out:
	json_object_put(o);
	client_resp_free(&r);
	if (token != NULL) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
}

int
cmd_status(int argc, char **argv, const char *config_path)
{
	struct tokenstore_entry *v = NULL;
	const char *path = config_path ? config_path : config_default_path();
	char file[4200];
	size_t n = 0, i;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: berth status\n");
		return 2;
	}
	if (tokenstore_list(&v, &n) != OK)
		return 1;
	printf("Cloud sessions (%s):\n", tokenstore_path(file, sizeof(file)));
	if (n == 0)
		printf("  none: run berth login [SERVER]\n");
	for (i = 0; i < n; i++)
		cmd_status_one(&v[i]);
	free(v);
	printf("Local configuration:\n");
	printf("  config file:  %s (%s)\n", path,
	    access(path, R_OK) == 0 ? "readable"
	        : errno == ENOENT   ? "not found"
	                            : "not readable");
	return 0;
}
