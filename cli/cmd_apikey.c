/*
 * cmd_apikey.c - `berth apikey create|list|revoke`.
 *
 * Admin commands against PostgreSQL directly (database.url, DATABASE_URL
 * overrides it). A new key is printed once, on stdout alone, so that
 * `KEY=$(berth apikey create alice)` captures exactly the key; everything
 * else goes to stderr. It is never written anywhere else: the audit row
 * (apikey.create, in the same transaction as the key) carries its id and
 * prefix, listings show the prefix only.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "apikey.h"
#include "cmd.h"
#include "config.h"
#include "db.h"
#include "validate.h"

/* --expires: at most 100 years, as apikey_create() allows. */
#define CMD_APIKEY_MAX_EXPIRES (100LL * 366 * 24 * 3600)

struct cmd_apikey_args {
	const char *user;
	const char *name;
	long long expires_in; /* seconds, 0 = never */
	long long id;
	char key[APIKEY_LEN + 1];
	char prefix[32];
	char expires_at[64];
	bool was_revoked;
};

static const char cmd_apikey_sql_user[] =
    "SELECT id, disabled FROM users WHERE username = $1";
static const char cmd_apikey_sql_created[] =
    "SELECT key_prefix, coalesce(to_char(expires_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') AS expires_at "
    "FROM api_keys WHERE id = $1::bigint";
static const char cmd_apikey_sql_key[] =
    "SELECT k.id, u.username, k.user_id, k.name, k.key_prefix, "
    "k.revoked_at IS NOT NULL AS revoked "
    "FROM api_keys k JOIN users u ON u.id = k.user_id "
    "WHERE k.id = $1::bigint";
static const char cmd_apikey_sql_list[] =
    "SELECT k.id, u.username, k.name, k.key_prefix, "
    "to_char(k.created_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at, "
    "coalesce(to_char(k.expires_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'never') AS expires_at, "
    "coalesce(to_char(k.last_used_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'never') AS last_used_at, "
    "CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked' "
    "WHEN k.expires_at <= now() THEN 'expired' ELSE 'active' END AS state "
    "FROM api_keys k JOIN users u ON u.id = k.user_id "
    "WHERE $1::text IS NULL OR u.username = $1 ORDER BY k.id";

static void
cmd_apikey_usage(FILE *out)
{
	fprintf(out,
	    "usage: berth apikey create USER [--name N] "
	    "[--expires 30d|12h|90m|3600s]\n"
	    "       berth apikey list [USER]\n"
	    "       berth apikey revoke ID\n");
}

/*
 * Parses "30d", "12h", "90m", "3600s" into seconds: digits then one unit,
 * nothing else. false when malformed, zero or over 100 years.
 */
static bool
cmd_apikey_parse_expires(const char *s, long long *out)
{
	long long n = 0, unit;
	const char *p = s;

	if (*p < '1' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		if (n > CMD_APIKEY_MAX_EXPIRES)
			return false;
	}
	switch (*p) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: return false;
	}
	if (p[1] != '\0' || n > CMD_APIKEY_MAX_EXPIRES / unit)
		return false;
	*out = n * unit;
	return true;
}

/* Appends action about key id; takes ownership of details. */
static berr
cmd_apikey_audit(struct db *db, const char *action, long long id,
    struct json_object *details)
{
	char resource[64];

	snprintf(resource, sizeof(resource), "apikey:%lld", id);
	return cmd_common_audit(db, action, resource, NULL, details);
}

/*
 * The key and its audit row in one transaction: a key nobody audited never
 * exists. ERR_NOT_FOUND (no user), ERR_CONFLICT (user disabled).
 */
static berr
cmd_apikey_create_tx(struct db *db, void *arg)
{
	struct cmd_apikey_args *a = arg;
	struct json_object *d;
	PGresult *res = NULL;
	const char *v[1];
	long long uid;
	char id[32];
	berr rc;

	v[0] = a->user;
	if ((rc = db_exec_sql(db, cmd_apikey_sql_user, 1, v, &res)) != OK)
		goto out;
	if (PQntuples(res) == 0) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, PQfnumber(res, "disabled")), "t") == 0) {
		rc = ERR_CONFLICT;
		goto out;
	}
	uid = strtoll(PQgetvalue(res, 0, PQfnumber(res, "id")), NULL, 10);
	PQclear(res);
	res = NULL;
	if ((rc = apikey_create(db, uid, a->name, a->expires_in, a->key,
	         sizeof(a->key), &a->id)) != OK)
		goto out;
	snprintf(id, sizeof(id), "%lld", a->id);
	v[0] = id;
	if ((rc = db_exec_sql(db, cmd_apikey_sql_created, 1, v, &res)) != OK)
		goto out;
	snprintf(a->prefix, sizeof(a->prefix), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "key_prefix")));
	snprintf(a->expires_at, sizeof(a->expires_at), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "expires_at")));
	if ((d = json_object_new_object()) != NULL) {
		json_object_object_add(
		    d, "key_id", json_object_new_int64(a->id));
		json_object_object_add(
		    d, "user_id", json_object_new_int64(uid));
		json_object_object_add(
		    d, "user", json_object_new_string(a->user));
		json_object_object_add(
		    d, "prefix", json_object_new_string(a->prefix));
		json_object_object_add(d, "name",
		    json_object_new_string(a->name != NULL ? a->name : ""));
		json_object_object_add(d, "expires_at",
		    a->expires_at[0] != '\0'
		        ? json_object_new_string(a->expires_at)
		        : NULL);
	}
	rc = cmd_apikey_audit(db, "apikey.create", a->id, d);
out:
	PQclear(res);
	return rc;
}

/* The arguments of create into *a: 0, or the exit status after printing
 * why. */
static int
cmd_apikey_parse_create(int argc, char **argv, struct cmd_apikey_args *a)
{
	char why[256];
	int i;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			a->name = argv[++i];
		} else if (strncmp(argv[i], "--name=", 7) == 0) {
			a->name = argv[i] + 7;
		} else if ((strcmp(argv[i], "--expires") == 0 &&
		               i + 1 < argc) ||
		    strncmp(argv[i], "--expires=", 10) == 0) {
			const char *v =
			    argv[i][9] == '=' ? argv[i] + 10 : argv[++i];

			if (!cmd_apikey_parse_expires(v, &a->expires_in)) {
				fprintf(stderr,
				    "berth: apikey create: --expires %s: want "
				    "a positive number and a unit s, m, h or "
				    "d (30d, 12h, 90m, 3600s), at most 100 "
				    "years\n",
				    v);
				return 2;
			}
		} else if (argv[i][0] == '-' || a->user != NULL) {
			fprintf(stderr,
			    "berth: apikey create: unexpected argument %s\n",
			    argv[i]);
			cmd_apikey_usage(stderr);
			return 2;
		} else {
			a->user = argv[i];
		}
	}
	if (a->user == NULL) {
		fprintf(stderr, "berth: apikey create: USER is missing\n");
		cmd_apikey_usage(stderr);
		return 2;
	}
	if (a->name != NULL && *a->name != '\0' &&
	    validate_name("name", a->name, why, sizeof(why)) != OK) {
		fprintf(stderr, "berth: apikey create: %s\n", why);
		return 1;
	}
	return 0;
}

/* Creates the key of a (parsed) and prints it once. */
static int
cmd_apikey_create(struct db *db, struct cmd_apikey_args *a)
{
	int st = 1;
	berr rc;

	rc = db_tx(db, cmd_apikey_create_tx, a);
	if (rc == ERR_NOT_FOUND)
		fprintf(stderr, "berth: apikey create: no user %s\n", a->user);
	else if (rc == ERR_CONFLICT)
		fprintf(stderr,
		    "berth: apikey create: user %s is disabled (berth user "
		    "revoke); no key created\n",
		    a->user);
	else if (rc != OK)
		fprintf(stderr, "berth: apikey create: %s\n", err_str(rc));
	if (rc != OK)
		goto out;
	/* Only now, after COMMIT: a key printed must be a key that works. */
	printf("%s\n", a->key);
	fflush(stdout);
	fprintf(stderr,
	    "berth: created API key %lld (%s) for %s, %s%s; it is shown "
	    "only this once\n",
	    a->id, a->prefix, a->user,
	    a->expires_at[0] != '\0' ? "expires " : "never expires",
	    a->expires_at);
	st = 0;
out:
	OPENSSL_cleanse(a->key, sizeof(a->key));
	return st;
}

static int
cmd_apikey_list(struct db *db, const char *user)
{
	const char *v[1] = { user };
	PGresult *res = NULL;
	char b1[128], b2[128];
	int i, st = 1;

	if (db_exec_sql(db, cmd_apikey_sql_list, 1, v, &res) != OK)
		goto out;
	if (user != NULL && PQntuples(res) == 0) {
		/* No keys, or no such user: tell them apart. */
		PQclear(res);
		res = NULL;
		if (db_exec_sql(db, cmd_apikey_sql_user, 1, v, &res) != OK)
			goto out;
		if (PQntuples(res) == 0) {
			fprintf(
			    stderr, "berth: apikey list: no user %s\n", user);
			goto out;
		}
		PQclear(res);
		res = NULL;
		if (db_exec_sql(db, cmd_apikey_sql_list, 1, v, &res) != OK)
			goto out;
	}
	printf("%-6s %-16s %-20s %-8s %-20s %-20s %-20s %s\n", "ID", "USER",
	    "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "STATE");
	for (i = 0; i < PQntuples(res); i++)
		printf("%-6s %-16s %-20s %-8s %-20s %-20s %-20s %s\n",
		    PQgetvalue(res, i, PQfnumber(res, "id")),
		    cmd_common_clean(
		        PQgetvalue(res, i, PQfnumber(res, "username")), b1,
		        sizeof(b1)),
		    cmd_common_clean(PQgetvalue(res, i, PQfnumber(res, "name")),
		        b2, sizeof(b2)),
		    PQgetvalue(res, i, PQfnumber(res, "key_prefix")),
		    PQgetvalue(res, i, PQfnumber(res, "created_at")),
		    PQgetvalue(res, i, PQfnumber(res, "expires_at")),
		    PQgetvalue(res, i, PQfnumber(res, "last_used_at")),
		    PQgetvalue(res, i, PQfnumber(res, "state")));
	st = 0;
out:
	PQclear(res);
	return st;
}

static berr
cmd_apikey_revoke_tx(struct db *db, void *arg)
{
	struct cmd_apikey_args *a = arg;
	struct json_object *d;
	PGresult *res = NULL;
	const char *v[1];
	char id[32];
	berr rc;

	snprintf(id, sizeof(id), "%lld", a->id);
	v[0] = id;
	if ((rc = db_exec_sql(db, cmd_apikey_sql_key, 1, v, &res)) != OK)
		goto out;
	if (PQntuples(res) == 0) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	a->was_revoked =
	    strcmp(PQgetvalue(res, 0, PQfnumber(res, "revoked")), "t") == 0;
	snprintf(a->prefix, sizeof(a->prefix), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "key_prefix")));
	if ((rc = apikey_revoke(db, a->id)) != OK)
		goto out;
	if ((d = json_object_new_object()) != NULL) {
		json_object_object_add(
		    d, "key_id", json_object_new_int64(a->id));
		json_object_object_add(d, "user_id",
		    json_object_new_int64(
		        strtoll(PQgetvalue(res, 0, PQfnumber(res, "user_id")),
		            NULL, 10)));
		json_object_object_add(d, "user",
		    json_object_new_string(
		        PQgetvalue(res, 0, PQfnumber(res, "username"))));
		json_object_object_add(
		    d, "prefix", json_object_new_string(a->prefix));
		json_object_object_add(d, "name",
		    json_object_new_string(
		        PQgetvalue(res, 0, PQfnumber(res, "name"))));
		json_object_object_add(
		    d, "was_revoked", json_object_new_boolean(a->was_revoked));
	}
	rc = cmd_apikey_audit(db, "apikey.revoke", a->id, d);
out:
	PQclear(res);
	return rc;
}

static int
cmd_apikey_revoke(struct db *db, const char *arg)
{
	struct cmd_apikey_args a;
	berr rc;

	memset(&a, 0, sizeof(a));
	a.id = strtoll(arg, NULL, 10);
	rc = db_tx(db, cmd_apikey_revoke_tx, &a);
	if (rc == OK)
		cmd_common_barrier(db, "apikey revoke");
	if (rc == ERR_NOT_FOUND) {
		fprintf(stderr, "berth: apikey revoke: no key %s\n", arg);
		return 1;
	}
	if (rc != OK) {
		fprintf(stderr, "berth: apikey revoke: %s\n", err_str(rc));
		return 1;
	}
	printf("revoked API key %lld (%s)%s\n", a.id, a.prefix,
	    a.was_revoked ? "; it was already revoked" : "");
	return 0;
}

/* A key id: 1 to 18 digits, nothing else. */
static bool
cmd_apikey_id_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < '0' || s[i] > '9' || i >= 18)
			return false;
	return i > 0 && strtoll(s, NULL, 10) > 0;
}

int
cmd_apikey(int argc, char **argv, const char *config_path)
{
	struct cmd_apikey_args a;
	struct config *cfg = NULL;
	struct db *db = NULL;
	const char *sub;
	int st = 1;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		cmd_apikey_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	if ((strcmp(sub, "list") == 0 &&
	        (argc > 3 || (argc == 3 && argv[2][0] == '-'))) ||
	    (strcmp(sub, "revoke") == 0 && argc != 3)) {
		cmd_apikey_usage(stderr);
		return 2;
	}
	if (strcmp(sub, "revoke") == 0 && !cmd_apikey_id_ok(argv[2])) {
		fprintf(stderr, "berth: apikey revoke: %s is not a key id\n",
		    argv[2]);
		return 2;
	}
	if (strcmp(sub, "create") != 0 && strcmp(sub, "list") != 0 &&
	    strcmp(sub, "revoke") != 0) {
		fprintf(stderr, "berth: apikey: unknown subcommand %s\n", sub);
		cmd_apikey_usage(stderr);
		return 2;
	}
	memset(&a, 0, sizeof(a));
	if (strcmp(sub, "create") == 0 &&
	    (st = cmd_apikey_parse_create(argc, argv, &a)) != 0)
		goto out;
	if ((st = cmd_common_open("apikey", config_path, &cfg, &db)) != 0)
		goto out;
	if (strcmp(sub, "create") == 0)
		st = cmd_apikey_create(db, &a);
	else if (strcmp(sub, "list") == 0)
		st = cmd_apikey_list(db, argc == 3 ? argv[2] : NULL);
	else
		st = cmd_apikey_revoke(db, argv[2]);
out:
	db_free(db);
	config_free(cfg);
	return st;
}
