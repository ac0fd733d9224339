/*
 * cmd_user.c - `berth user create|list|show|revoke|grant`.
 *
 * Admin commands: they talk to PostgreSQL directly with the configuration's
 * database.url (DATABASE_URL overrides it), no web server involved. Every
 * change runs in one transaction together with its audit row (user.create,
 * user.revoke, user.grant), so a change is never left unaudited. The audit
 * row has no Berth user as actor (the CLI has none); its details name the
 * operating-system user who ran the command. Passwords never reach the
 * details, the terminal or the logs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "authz.h"
#include "cmd.h"
#include "config.h"
#include "db.h"
#include "password.h"
#include "validate.h"

/* Most ENV=ROLE pairs one command takes (more environments than any
 * config names). */
#define CMD_USER_MAX_ROLES 64
/* Environment and role names: the user_roles CHECKs allow 64 bytes. */
#define CMD_USER_NAME_MAX  64
#define CMD_USER_EMAIL_MIN 3
#define CMD_USER_EMAIL_MAX 320

struct cmd_user_role {
	char env[CMD_USER_NAME_MAX + 1];
	char role[CMD_USER_NAME_MAX + 1];
};

/* The parsed arguments of create and grant, and what the transaction
 * reports back. */
struct cmd_user_args {
	const char *name;
	const char *email;
	bool password_stdin;
	char password_hash[PASSWORD_HASH_MAX];
	struct cmd_user_role roles[CMD_USER_MAX_ROLES];
	size_t nroles;
	long long id;
	/* revoke's counts */
	long long keys, sessions, mcp_sessions, cached_tokens;
	bool was_disabled;
};

static const char cmd_user_sql_id[] =
    "SELECT id, disabled FROM users WHERE username = $1";
static const char cmd_user_sql_insert[] =
    "INSERT INTO users (username, email, password_hash) "
    "VALUES ($1, $2, $3) RETURNING id";
/* An upsert that also says what the role was before ("" when none). */
static const char cmd_user_sql_grant[] =
    "WITH old AS (SELECT role FROM user_roles WHERE user_id = $1::bigint "
    "AND environment = $2) "
    "INSERT INTO user_roles (user_id, environment, role) "
    "VALUES ($1::bigint, $2, $3) ON CONFLICT (user_id, environment) "
    "DO UPDATE SET role = EXCLUDED.role, granted_at = now() "
    "RETURNING coalesce((SELECT role FROM old), '') AS previous";
static const char cmd_user_sql_list[] =
    "SELECT u.id, u.username, u.disabled, "
    "coalesce(string_agg(r.environment || '=' || r.role, ',' "
    "ORDER BY r.environment), '') AS roles "
    "FROM users u LEFT JOIN user_roles r ON r.user_id = u.id "
    "GROUP BY u.id ORDER BY u.username";
static const char cmd_user_sql_show[] =
    "SELECT id, username, coalesce(email, '') AS email, auth_source, "
    "password_hash IS NOT NULL AS has_password, disabled, "
    "coalesce(to_char(disabled_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') AS disabled_at, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
    "AS created_at, "
    "(SELECT count(*) FROM sessions s WHERE s.user_id = u.id "
    "AND s.expires_at > now()) AS sessions, "
    "(SELECT count(*) FROM mcp_sessions m WHERE m.user_id = u.id "
    "AND m.expires_at > now()) AS mcp_sessions "
    "FROM users u WHERE username = $1";
static const char cmd_user_sql_roles[] =
    "SELECT environment, role FROM user_roles WHERE user_id = $1::bigint "
    "ORDER BY environment <> '*', environment";
static const char cmd_user_sql_keys[] =
    "SELECT id, name, key_prefix, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
    "AS created_at, "
    "coalesce(to_char(expires_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'never') AS expires_at, "
    "coalesce(to_char(last_used_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'never') AS last_used_at, "
    "coalesce(to_char(revoked_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-') AS revoked_at "
    "FROM api_keys WHERE user_id = $1::bigint ORDER BY id";
/* Each step of `user revoke`, counted. */
static const char cmd_user_sql_disable[] =
    "UPDATE users SET disabled = true, "
    "disabled_at = coalesce(disabled_at, now()) WHERE id = $1::bigint";
static const char cmd_user_sql_revoke_keys[] =
    "WITH r AS (UPDATE api_keys SET revoked_at = now() "
    "WHERE user_id = $1::bigint AND revoked_at IS NULL RETURNING 1) "
    "SELECT count(*) AS n FROM r";
static const char cmd_user_sql_drop_sessions[] =
    "WITH d AS (DELETE FROM sessions WHERE user_id = $1::bigint "
    "RETURNING 1) SELECT count(*) AS n FROM d";
static const char cmd_user_sql_drop_mcp[] =
    "WITH d AS (DELETE FROM mcp_sessions WHERE user_id = $1::bigint "
    "RETURNING 1) SELECT count(*) AS n FROM d";
/* OAuth introspection results mapped to the user: a cached "active" must
 * not outlive the revocation. */
static const char cmd_user_sql_drop_tokens[] =
    "WITH d AS (DELETE FROM token_cache WHERE user_id = $1::bigint "
    "RETURNING 1) SELECT count(*) AS n FROM d";

static void
cmd_user_usage(FILE *out)
{
	fprintf(out,
	    "usage: berth user create NAME [--role R] [--env ENV=ROLE ...] "
	    "[--email E] [--password-stdin]\n"
	    "       berth user list\n"
	    "       berth user show NAME\n"
	    "       berth user revoke NAME\n"
	    "       berth user grant NAME --env ENV=ROLE [...]\n");
}

/*
 * Appends an audit row for a change to user name; takes ownership of
 * details (freed here). env: the environment when the change concerns
 * exactly one, else NULL.
 */
static berr
cmd_user_audit(struct db *db, const char *action, const char *name,
    const char *env, struct json_object *details)
{
	char resource[160];

	snprintf(resource, sizeof(resource), "user:%s", name);
	return cmd_common_audit(db, action, resource, env, details);
}

/* *id of user name; ERR_NOT_FOUND when there is none. */
static berr
cmd_user_lookup(struct db *db, const char *name, long long *id, bool *disabled)
{
	const char *v[1] = { name };
	PGresult *res = NULL;
	berr rc;

	if ((rc = db_exec_sql(db, cmd_user_sql_id, 1, v, &res)) != OK)
		goto out;
	if (PQntuples(res) == 0) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	*id = strtoll(PQgetvalue(res, 0, PQfnumber(res, "id")), NULL, 10);
	if (disabled != NULL)
		*disabled =
		    strcmp(PQgetvalue(res, 0, PQfnumber(res, "disabled")),
		        "t") == 0;
out:
	PQclear(res);
	return rc;
}

/* A count column "n" of a one-row result. */
static berr
cmd_user_count(struct db *db, const char *sql, const char *id, long long *n)
{
	const char *v[1] = { id };
	PGresult *res = NULL;
	berr rc;

	if ((rc = db_exec_sql(db, sql, 1, v, &res)) != OK)
		goto out;
	*n = strtoll(PQgetvalue(res, 0, PQfnumber(res, "n")), NULL, 10);
out:
	PQclear(res);
	return rc;
}

/*
 * Parses "ENV=ROLE" into a->roles, checking both names against cfg. 0 on
 * success, else the exit status after printing why (2: malformed, 1:
 * unknown name).
 */
static int
cmd_user_add_role(const struct config *cfg, struct cmd_user_args *a,
    const char *env, size_t envlen, const char *role)
{
	struct cmd_user_role *r;
	size_t i;

	if (envlen == 0 || envlen > CMD_USER_NAME_MAX || *role == '\0' ||
	    strlen(role) > CMD_USER_NAME_MAX) {
		fprintf(stderr,
		    "berth: user: expected ENV=ROLE, each 1 to %d "
		    "characters\n",
		    CMD_USER_NAME_MAX);
		return 2;
	}
	if (a->nroles == CMD_USER_MAX_ROLES) {
		fprintf(stderr, "berth: user: more than %d roles\n",
		    CMD_USER_MAX_ROLES);
		return 2;
	}
	r = &a->roles[a->nroles];
	memcpy(r->env, env, envlen);
	r->env[envlen] = '\0';
	snprintf(r->role, sizeof(r->role), "%s", role);
	for (i = 0; i < a->nroles; i++)
		if (strcmp(a->roles[i].env, r->env) == 0) {
			fprintf(stderr,
			    "berth: user: environment %s given twice\n",
			    r->env);
			return 2;
		}
	if (!authz_environment_exists(cfg, r->env)) {
		fprintf(stderr,
		    "berth: user: unknown environment %s (the configuration's "
		    "environments: key names them)\n",
		    r->env);
		return 1;
	}
	if (!authz_role_exists(cfg, r->role)) {
		fprintf(stderr,
		    "berth: user: unknown role %s (admin, developer, viewer, "
		    "none, or a custom role of the configuration)\n",
		    r->role);
		return 1;
	}
	a->nroles++;
	return 0;
}

/*
 * Takes the value of option opt at argv[*i] ("--opt V" or "--opt=V").
 * NULL when argv[*i] is not that option; *missing set when it is but has
 * no value.
 */
static const char *
cmd_user_opt(int argc, char **argv, int *i, const char *opt, bool *missing)
{
	size_t n = strlen(opt);

	if (strncmp(argv[*i], opt, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	/* argv[argc] is NULL: the second test says so to the analyzer, so
	 * that *i moves only when a value is returned. */
	if (*i + 1 >= argc || argv[*i + 1] == NULL) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

/*
 * Parses the arguments of create (allow_create) or grant: NAME and the
 * options. 0 or the exit status after printing why.
 */
static int
cmd_user_parse(const struct config *cfg, int argc, char **argv,
    bool allow_create, struct cmd_user_args *a)
{
	const char *v, *eq;
	bool missing = false;
	int i, st;

	for (i = 2; i < argc; i++) {
		if ((v = cmd_user_opt(argc, argv, &i, "--env", &missing)) !=
		    NULL) {
			if ((eq = strchr(v, '=')) == NULL) {
				fprintf(stderr,
				    "berth: user: --env wants ENV=ROLE, not "
				    "%s\n",
				    v);
				return 2;
			}
			if ((st = cmd_user_add_role(
			         cfg, a, v, (size_t)(eq - v), eq + 1)) != 0)
				return st;
		} else if ((v = cmd_user_opt(
		                argc, argv, &i, "--role", &missing)) != NULL) {
			/* One role for every environment not listed. */
			if ((st = cmd_user_add_role(cfg, a, "*", 1, v)) != 0)
				return st;
		} else if (allow_create &&
		    (v = cmd_user_opt(argc, argv, &i, "--email", &missing)) !=
		        NULL) {
			a->email = v;
		} else if (allow_create &&
		    strcmp(argv[i], "--password-stdin") == 0) {
			a->password_stdin = true;
		} else if (missing) {
			fprintf(
			    stderr, "berth: user: %s needs a value\n", argv[i]);
			return 2;
		} else if (argv[i][0] == '-' || a->name != NULL) {
			fprintf(stderr,
			    "berth: user %s: unexpected argument %s\n", argv[1],
			    argv[i]);
			cmd_user_usage(stderr);
			return 2;
		} else {
			a->name = argv[i];
		}
	}
	if (a->name == NULL) {
		fprintf(stderr, "berth: user %s: NAME is missing\n", argv[1]);
		cmd_user_usage(stderr);
		return 2;
	}
	return 0;
}

/* The checks the users table would make, with messages naming the field. */
static int
cmd_user_check_create(const struct cmd_user_args *a)
{
	char why[256];
	const char *p;
	size_t n;

	if (validate_name("username", a->name, why, sizeof(why)) != OK) {
		fprintf(stderr, "berth: user create: %s\n", why);
		return 1;
	}
	for (p = a->name; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			fprintf(stderr,
			    "berth: user create: username: must not contain "
			    "spaces\n");
			return 1;
		}
	if (a->email != NULL) {
		n = strlen(a->email);
		if (n < CMD_USER_EMAIL_MIN || n > CMD_USER_EMAIL_MAX ||
		    strchr(a->email, '@') == NULL ||
		    validate_text("email", a->email, CMD_USER_EMAIL_MIN,
		        CMD_USER_EMAIL_MAX, 1, why, sizeof(why)) != OK) {
			fprintf(stderr,
			    "berth: user create: email: must be an address "
			    "of 3 to 320 characters\n");
			return 1;
		}
	}
	return 0;
}

/*
 * Reads one line from stdin (without echo on a terminal) into buf (size >
 * PASSWORD_MAX_LEN + 2) and strips the line end. 0, or 1 after printing
 * why (nothing read, too long).
 */
static int
cmd_user_read_password(char *buf, size_t size)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	size_t n;
	int st = 1;
	int c;

	if (tty) {
		fprintf(stderr, "password: ");
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (fgets(buf, (int)size, stdin) == NULL) {
		fprintf(stderr, "berth: user create: no password on stdin\n");
		goto out;
	}
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (n == size - 1) {
		/* Drain the rest of the line so nothing is left behind. */
		while ((c = getchar()) != EOF && c != '\n')
			;
		fprintf(stderr,
		    "berth: user create: password longer than %d bytes\n",
		    PASSWORD_MAX_LEN);
		goto out;
	}
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	if (n == 0) {
		fprintf(stderr, "berth: user create: empty password\n");
		goto out;
	}
	if (n > PASSWORD_MAX_LEN) {
		fprintf(stderr,
		    "berth: user create: password longer than %d bytes\n",
		    PASSWORD_MAX_LEN);
		goto out;
	}
	st = 0;
out:
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	return st;
}

/* {"ENV": "ROLE", ...} of a's roles. */
static struct json_object *
cmd_user_roles_json(const struct cmd_user_args *a)
{
	struct json_object *o = json_object_new_object();
	size_t i;

	for (i = 0; o != NULL && i < a->nroles; i++)
		json_object_object_add(o, a->roles[i].env,
		    json_object_new_string(a->roles[i].role));
	return o;
}

static berr
cmd_user_create_tx(struct db *db, void *arg)
{
	struct cmd_user_args *a = arg;
	struct json_object *d;
	const char *v[3];
	PGresult *res = NULL;
	char id[32];
	size_t i;
	berr rc;

	v[0] = a->name;
	v[1] = a->email;
	v[2] = a->password_hash[0] != '\0' ? a->password_hash : NULL;
	rc = db_exec_sql(db, cmd_user_sql_insert, 3, v, &res);
	if (rc == ERR_DB && strcmp(db_sqlstate(db), "23505") == 0)
		rc = ERR_CONFLICT; /* lost a race with another create */
	if (rc != OK)
		goto out;
	a->id = strtoll(PQgetvalue(res, 0, PQfnumber(res, "id")), NULL, 10);
	snprintf(id, sizeof(id), "%lld", a->id);
	for (i = 0; i < a->nroles; i++) {
		v[0] = id;
		v[1] = a->roles[i].env;
		v[2] = a->roles[i].role;
		if ((rc = db_exec_sql(db, cmd_user_sql_grant, 3, v, NULL)) !=
		    OK)
			goto out;
	}
	if ((d = json_object_new_object()) != NULL) {
		json_object_object_add(
		    d, "user_id", json_object_new_int64(a->id));
		json_object_object_add(d, "roles", cmd_user_roles_json(a));
		json_object_object_add(
		    d, "email_set", json_object_new_boolean(a->email != NULL));
		json_object_object_add(d, "password_set",
		    json_object_new_boolean(a->password_hash[0] != '\0'));
	}
	rc = cmd_user_audit(db, "user.create", a->name,
	    a->nroles == 1 && strcmp(a->roles[0].env, "*") != 0
	        ? a->roles[0].env
	        : NULL,
	    d);
out:
	PQclear(res);
	return rc;
}

static int
cmd_user_create(struct db *db, struct cmd_user_args *a)
{
	char pw[PASSWORD_MAX_LEN + 3] = "";
	long long id;
	int st = 1;
	berr rc;

	if (cmd_user_check_create(a) != 0)
		return 1;
	/* Asked first, so "already exists" comes before a password prompt. */
	if ((rc = cmd_user_lookup(db, a->name, &id, NULL)) == OK) {
		fprintf(stderr, "berth: user create: user %s already exists\n",
		    a->name);
		return 1;
	}
	if (rc != ERR_NOT_FOUND)
		return 1;
	if (a->password_stdin) {
		if (cmd_user_read_password(pw, sizeof(pw)) != 0)
			goto out;
		if ((rc = password_hash(pw, a->password_hash,
		         sizeof(a->password_hash))) != OK) {
			fprintf(stderr,
			    "berth: user create: cannot hash the password: "
			    "%s\n",
			    err_str(rc));
			goto out;
		}
	}
	rc = db_tx(db, cmd_user_create_tx, a);
	if (rc == ERR_CONFLICT) {
		fprintf(stderr, "berth: user create: user %s already exists\n",
		    a->name);
		goto out;
	}
	if (rc != OK) {
		fprintf(stderr, "berth: user create: %s: %s\n", a->name,
		    err_str(rc));
		goto out;
	}
	printf("created user %s (id %lld)\n", a->name, a->id);
	st = 0;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	OPENSSL_cleanse(a->password_hash, sizeof(a->password_hash));
	return st;
}

static int
cmd_user_list(struct db *db)
{
	PGresult *res = NULL;
	char b1[128], b2[512];
	int i, fid, fname, fdis, froles;

	if (db_exec_sql(db, cmd_user_sql_list, 0, NULL, &res) != OK)
		return 1;
	fid = PQfnumber(res, "id");
	fname = PQfnumber(res, "username");
	fdis = PQfnumber(res, "disabled");
	froles = PQfnumber(res, "roles");
	printf("%-6s %-24s %-8s %s\n", "ID", "USERNAME", "DISABLED", "ROLES");
	for (i = 0; i < PQntuples(res); i++)
		printf("%-6s %-24s %-8s %s\n", PQgetvalue(res, i, fid),
		    cmd_common_clean(PQgetvalue(res, i, fname), b1, sizeof(b1)),
		    strcmp(PQgetvalue(res, i, fdis), "t") == 0 ? "yes" : "no",
		    cmd_common_clean(
		        PQgetvalue(res, i, froles), b2, sizeof(b2)));
	PQclear(res);
	return 0;
}

/* The text of column col in row; "" for SQL NULL (as libpq gives it). */
static const char *
cmd_user_val(const PGresult *res, int row, const char *col)
{
	return PQgetvalue(res, row, PQfnumber(res, col));
}

static int
cmd_user_show(struct db *db, const char *name)
{
	PGresult *user = NULL, *res = NULL;
	const char *v[1];
	char b[512], id[32];
	int i, st = 1;

	v[0] = name;
	if (db_exec_sql(db, cmd_user_sql_show, 1, v, &user) != OK)
		goto out;
	if (PQntuples(user) == 0) {
		fprintf(stderr, "berth: user show: no user %s\n", name);
		goto out;
	}
	snprintf(id, sizeof(id), "%s", cmd_user_val(user, 0, "id"));
	printf("user %s (id %s)\n",
	    cmd_common_clean(cmd_user_val(user, 0, "username"), b, sizeof(b)),
	    id);
	printf("  email:     %s\n",
	    cmd_user_val(user, 0, "email")[0] != '\0'
	        ? cmd_common_clean(cmd_user_val(user, 0, "email"), b, sizeof(b))
	        : "-");
	printf("  source:    %s\n", cmd_user_val(user, 0, "auth_source"));
	printf("  password:  %s\n",
	    strcmp(cmd_user_val(user, 0, "has_password"), "t") == 0 ? "set"
	                                                            : "none");
	if (strcmp(cmd_user_val(user, 0, "disabled"), "t") == 0)
		printf("  disabled:  yes, since %s\n",
		    cmd_user_val(user, 0, "disabled_at"));
	else
		printf("  disabled:  no\n");
	printf("  created:   %s\n", cmd_user_val(user, 0, "created_at"));

	v[0] = id;
	if (db_exec_sql(db, cmd_user_sql_roles, 1, v, &res) != OK)
		goto out;
	printf("roles:%s\n", PQntuples(res) == 0 ? " none" : "");
	for (i = 0; i < PQntuples(res); i++)
		printf("  %-20s %s\n",
		    cmd_common_clean(
		        cmd_user_val(res, i, "environment"), b, sizeof(b)),
		    cmd_user_val(res, i, "role"));
	PQclear(res);
	res = NULL;

	if (db_exec_sql(db, cmd_user_sql_keys, 1, v, &res) != OK)
		goto out;
	printf("api keys:%s\n", PQntuples(res) == 0 ? " none" : "");
	if (PQntuples(res) > 0)
		printf("  %-6s %-20s %-8s %-20s %-20s %-20s %s\n", "ID", "NAME",
		    "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED");
	for (i = 0; i < PQntuples(res); i++)
		printf("  %-6s %-20s %-8s %-20s %-20s %-20s %s\n",
		    cmd_user_val(res, i, "id"),
		    cmd_common_clean(
		        cmd_user_val(res, i, "name"), b, sizeof(b)),
		    cmd_user_val(res, i, "key_prefix"),
		    cmd_user_val(res, i, "created_at"),
		    cmd_user_val(res, i, "expires_at"),
		    cmd_user_val(res, i, "last_used_at"),
		    cmd_user_val(res, i, "revoked_at"));
	printf("sessions: %s active login session(s), %s MCP session(s)\n",
	    cmd_user_val(user, 0, "sessions"),
	    cmd_user_val(user, 0, "mcp_sessions"));
	st = 0;
out:
	PQclear(user);
	PQclear(res);
	return st;
}

static berr
cmd_user_revoke_tx(struct db *db, void *arg)
{
	struct cmd_user_args *a = arg;
	struct json_object *d;
	char id[32];
	const char *v[1] = { id };
	berr rc;

	if ((rc = cmd_user_lookup(db, a->name, &a->id, &a->was_disabled)) != OK)
		return rc;
	snprintf(id, sizeof(id), "%lld", a->id);
	if ((rc = db_exec_sql(db, cmd_user_sql_disable, 1, v, NULL)) != OK ||
	    (rc = cmd_user_count(db, cmd_user_sql_revoke_keys, id, &a->keys)) !=
	        OK ||
	    (rc = cmd_user_count(
	         db, cmd_user_sql_drop_sessions, id, &a->sessions)) != OK ||
	    (rc = cmd_user_count(
	         db, cmd_user_sql_drop_mcp, id, &a->mcp_sessions)) != OK ||
	    (rc = cmd_user_count(
	         db, cmd_user_sql_drop_tokens, id, &a->cached_tokens)) != OK)
		return rc;
	if ((d = json_object_new_object()) != NULL) {
		json_object_object_add(
		    d, "user_id", json_object_new_int64(a->id));
		json_object_object_add(d, "was_disabled",
		    json_object_new_boolean(a->was_disabled));
		json_object_object_add(
		    d, "keys_revoked", json_object_new_int64(a->keys));
		json_object_object_add(
		    d, "sessions_deleted", json_object_new_int64(a->sessions));
		json_object_object_add(d, "mcp_sessions_deleted",
		    json_object_new_int64(a->mcp_sessions));
		json_object_object_add(d, "cached_tokens_deleted",
		    json_object_new_int64(a->cached_tokens));
	}
	return cmd_user_audit(db, "user.revoke", a->name, NULL, d);
}

static int
cmd_user_revoke(struct db *db, struct cmd_user_args *a)
{
	berr rc = db_tx(db, cmd_user_revoke_tx, a);

	if (rc == OK)
		cmd_common_barrier(db, "user revoke");
	if (rc == ERR_NOT_FOUND) {
		fprintf(stderr, "berth: user revoke: no user %s\n", a->name);
		return 1;
	}
	if (rc != OK) {
		fprintf(stderr, "berth: user revoke: %s: %s\n", a->name,
		    err_str(rc));
		return 1;
	}
	printf("revoked user %s (id %lld)%s: %lld key(s) revoked, %lld "
	       "session(s), %lld MCP session(s) and %lld cached token(s) "
	       "deleted\n",
	    a->name, a->id, a->was_disabled ? " (already disabled)" : "",
	    a->keys, a->sessions, a->mcp_sessions, a->cached_tokens);
	return 0;
}

static berr
cmd_user_grant_tx(struct db *db, void *arg)
{
	struct cmd_user_args *a = arg;
	struct json_object *d, *prev;
	PGresult *res = NULL;
	const char *v[3];
	char id[32];
	size_t i;
	berr rc;

	if ((rc = cmd_user_lookup(db, a->name, &a->id, NULL)) != OK)
		return rc;
	snprintf(id, sizeof(id), "%lld", a->id);
	if ((d = json_object_new_object()) == NULL)
		return ERR_NOMEM;
	prev = json_object_new_object();
	for (i = 0; i < a->nroles; i++) {
		v[0] = id;
		v[1] = a->roles[i].env;
		v[2] = a->roles[i].role;
		if ((rc = db_exec_sql(db, cmd_user_sql_grant, 3, v, &res)) !=
		    OK)
			goto out;
		json_object_object_add(prev, a->roles[i].env,
		    json_object_new_string(cmd_user_val(res, 0, "previous")));
		PQclear(res);
		res = NULL;
	}
	json_object_object_add(d, "user_id", json_object_new_int64(a->id));
	json_object_object_add(d, "roles", cmd_user_roles_json(a));
	json_object_object_add(d, "previous", prev);
	prev = NULL;
	rc = cmd_user_audit(db, "user.grant", a->name,
	    a->nroles == 1 && strcmp(a->roles[0].env, "*") != 0
	        ? a->roles[0].env
	        : NULL,
	    d);
	d = NULL;
out:
	PQclear(res);
	json_object_put(prev);
	json_object_put(d);
	return rc;
}

static int
cmd_user_grant(struct db *db, struct cmd_user_args *a)
{
	size_t i;
	berr rc;

	if (a->nroles == 0) {
		fprintf(stderr,
		    "berth: user grant: give at least one --env "
		    "ENV=ROLE\n");
		return 2;
	}
	rc = db_tx(db, cmd_user_grant_tx, a);
	if (rc == OK)
		cmd_common_barrier(db, "user grant");
	if (rc == ERR_NOT_FOUND) {
		fprintf(stderr, "berth: user grant: no user %s\n", a->name);
		return 1;
	}
	if (rc != OK) {
		fprintf(stderr, "berth: user grant: %s: %s\n", a->name,
		    err_str(rc));
		return 1;
	}
	for (i = 0; i < a->nroles; i++)
		printf("granted %s: %s=%s\n", a->name, a->roles[i].env,
		    a->roles[i].role);
	return 0;
}

int
cmd_user(int argc, char **argv, const char *config_path)
{
	struct cmd_user_args *a = NULL;
	struct config *cfg = NULL;
	struct db *db = NULL;
	const char *sub;
	bool create, grant;
	int st = 1;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		cmd_user_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	/* Decided once: cmd_user_parse() sets a->name for these two, and the
	 * dispatch below must take the same branch. */
	create = strcmp(sub, "create") == 0;
	grant = strcmp(sub, "grant") == 0;
	if (!create && !grant && strcmp(sub, "list") != 0 &&
	    strcmp(sub, "show") != 0 && strcmp(sub, "revoke") != 0) {
		fprintf(stderr, "berth: user: unknown subcommand %s\n", sub);
		cmd_user_usage(stderr);
		return 2;
	}
	if (strcmp(sub, "list") == 0 && argc != 2) {
		cmd_user_usage(stderr);
		return 2;
	}
	if ((strcmp(sub, "show") == 0 || strcmp(sub, "revoke") == 0) &&
	    (argc != 3 || argv[2][0] == '-')) {
		cmd_user_usage(stderr);
		return 2;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		fprintf(stderr, "berth: user: out of memory\n");
		return 1;
	}
	/* The roles and environments to check live in the configuration. */
	if ((st = cmd_common_config("user", config_path, &cfg)) != 0)
		goto out;
	if (create || grant) {
		if ((st = cmd_user_parse(cfg, argc, argv, create, a)) != 0)
			goto out;
	} else if (argc == 3) {
		a->name = argv[2];
	}
	if ((st = cmd_common_connect("user", cfg, &db)) != 0)
		goto out;
	if (create)
		st = cmd_user_create(db, a);
	else if (strcmp(sub, "list") == 0)
		st = cmd_user_list(db);
	else if (strcmp(sub, "show") == 0)
		st = cmd_user_show(db, a->name);
	else if (grant)
		st = cmd_user_grant(db, a);
	else
		st = cmd_user_revoke(db, a);
out:
	db_free(db);
	config_free(cfg);
	free(a);
	return st;
}
