/*
 * cmd_audit.c - `berth audit`, `berth audit export`, `berth audit verify`.
 *
 * Reads audit_log directly (database.url, DATABASE_URL overrides it).
 * Rows are printed in Station's security-guide format: timestamp, user_id,
 * username, action, resource, environment, ip_address, success, details;
 * with --json (and always for export) one JSON object per line. export
 * streams every matching row in id order, a page at a time, so a large log
 * never sits in memory. --since is parsed strictly: "N{s,m,h,d,w} ago"
 * (relative to the database's clock) or an ISO-8601 date or date-time
 * (UTC unless it carries an offset); anything else is a usage error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "cmd.h"
#include "config.h"
#include "db.h"
#include "parse.h"

#define CMD_AUDIT_DEFAULT_LIMIT 100
#define CMD_AUDIT_MAX_LIMIT     100000
#define CMD_AUDIT_EXPORT_PAGE   "1000"
/* "N ago" goes back at most this far (100 years), so N * unit never
 * overflows and PostgreSQL's interval arithmetic stays in range. */
#define CMD_AUDIT_MAX_AGO_S (100LL * 366 * 24 * 3600)

/* The filters of a listing or an export, as SQL parameters (NULL = none). */
struct cmd_audit_filter {
	const char *since;  /* an absolute timestamptz literal */
	long long ago_s;    /* -1: --since was absolute or absent */
	const char *user;   /* username */
	const char *action; /* exact action */
	char prefix[72];    /* "user." from --action user.* ("" = none) */
	bool json;
	bool export;
	long limit;
	char since_buf[64];
};

/* The columns every query below returns, in the security guide's order. */
#define CMD_AUDIT_COLUMNS                                                    \
	"SELECT id, to_char(ts AT TIME ZONE 'UTC', "                         \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS timestamp, user_id, "       \
	"username, action, resource, environment, "                          \
	"host(ip_address) AS ip_address, success, details::text AS details " \
	"FROM audit_log "
#define CMD_AUDIT_WHERE                                             \
	"WHERE ($1::timestamptz IS NULL OR ts >= $1::timestamptz) " \
	"AND ($2::text IS NULL OR username = $2) "                  \
	"AND ($3::text IS NULL OR action = $3) "                    \
	"AND ($4::text IS NULL OR left(action, length($4)) = $4) "

/* The newest LIMIT rows, newest first (printed oldest first). */
static const char cmd_audit_sql_list[] =
    CMD_AUDIT_COLUMNS CMD_AUDIT_WHERE "ORDER BY id DESC LIMIT $5::bigint";
/* A page of an export: keyset pagination on id. */
static const char cmd_audit_sql_page[] = CMD_AUDIT_COLUMNS CMD_AUDIT_WHERE
    "AND id > $5::bigint ORDER BY id LIMIT " CMD_AUDIT_EXPORT_PAGE;
/* "N ago" against the database's clock, turned into an absolute time once
 * so that every page of an export uses the same bound. */
static const char cmd_audit_sql_ago[] =
    "SELECT to_char((now() - $1::bigint * interval '1 second') "
    "AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS since";

static void
cmd_audit_usage(FILE *out)
{
	fprintf(out,
	    "usage: berth audit [--since WHEN] [--user U] [--action A] "
	    "[--json] [--limit N]\n"
	    "       berth audit export [--since WHEN] [--user U] "
	    "[--action A]\n"
	    "       berth audit verify\n"
	    "WHEN: \"N{s,m,h,d,w} ago\" (\"1h ago\", \"30m ago\", \"2d ago\") "
	    "or an ISO-8601 time\n"
	    "      (2026-01-31, 2026-01-31T12:00:00Z, "
	    "2026-01-31T12:00:00+01:00; UTC without an offset).\n"
	    "A: an action (user.create) or a family (user.*).\n");
}

/* Reads exactly n digits at *p into *out, advancing *p. */
static bool
cmd_audit_digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static int
cmd_audit_mdays(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/*
 * Parses an ISO-8601 date or date-time into a timestamptz literal in out:
 * YYYY-MM-DD[(T| )HH:MM[:SS[.F{1,6}]]][Z|(+|-)HH[:]MM]. false on anything
 * else, including impossible dates.
 */
static bool
cmd_audit_parse_iso(const char *s, char *out, size_t size)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, us = 0, n;
	char frac[7] = "000000", sign = '+';
	const char *p = s;

	if (!cmd_audit_digits(&p, 4, &y) || *p++ != '-' ||
	    !cmd_audit_digits(&p, 2, &mo) || *p++ != '-' ||
	    !cmd_audit_digits(&p, 2, &d))
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > cmd_audit_mdays(y, mo))
		return false;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!cmd_audit_digits(&p, 2, &h) || *p++ != ':' ||
		    !cmd_audit_digits(&p, 2, &mi))
			return false;
		if (*p == ':') {
			p++;
			if (!cmd_audit_digits(&p, 2, &sec))
				return false;
			if (*p == '.' || *p == ',') {
				p++;
				for (n = 0; p[n] >= '0' && p[n] <= '9'; n++)
					if (n < 6)
						frac[n] = p[n];
				if (n < 1 || n > 6)
					return false;
				p += n;
			}
		}
		if (h > 23 || mi > 59 || sec > 59)
			return false;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p++;
			if (!cmd_audit_digits(&p, 2, &oh))
				return false;
			if (*p == ':')
				p++;
			if (!cmd_audit_digits(&p, 2, &om) || oh > 23 || om > 59)
				return false;
		}
	}
	if (*p != '\0' || parse_int(frac, 0, 999999, &us) != OK)
		return false;
	snprintf(out, size, "%04d-%02d-%02d %02d:%02d:%02d.%06d%c%02d:%02d", y,
	    mo, d, h, mi, sec, us, sign, oh, om);
	return true;
}

/*
 * Parses "N<unit> ago" or "N <unit> ago" (unit s, m, h, d, w or their
 * words) into seconds. false on anything else.
 */
static bool
cmd_audit_parse_ago(const char *s, long long *secs)
{
	static const struct {
		const char *name;
		long long secs;
	} units[] = { { "s", 1 }, { "sec", 1 }, { "second", 1 },
		{ "seconds", 1 }, { "m", 60 }, { "min", 60 }, { "minute", 60 },
		{ "minutes", 60 }, { "h", 3600 }, { "hour", 3600 },
		{ "hours", 3600 }, { "d", 86400 }, { "day", 86400 },
		{ "days", 86400 }, { "w", 604800 }, { "week", 604800 },
		{ "weeks", 604800 } };
	const char *p = s, *u;
	long long n = 0;
	size_t i, len;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		if (n > CMD_AUDIT_MAX_AGO_S)
			return false;
	}
	if (*p == ' ')
		p++;
	u = p;
	while (*p >= 'a' && *p <= 'z')
		p++;
	len = (size_t)(p - u);
	if (strcmp(p, " ago") != 0)
		return false;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].name) == len &&
		    strncmp(units[i].name, u, len) == 0) {
			if (n > CMD_AUDIT_MAX_AGO_S / units[i].secs)
				return false;
			*secs = n * units[i].secs;
			return true;
		}
	return false;
}

/* An action name or family: [a-z][a-z0-9_.]{0,63}, or that plus ".*". */
static bool
cmd_audit_parse_action(const char *a, struct cmd_audit_filter *f)
{
	size_t n = strlen(a), i;

	if (n >= 3 && strcmp(a + n - 2, ".*") == 0) {
		if (n - 1 >= sizeof(f->prefix))
			return false;
		memcpy(f->prefix, a, n - 1);
		f->prefix[n - 1] = '\0';
		n -= 2;
	} else {
		f->action = a;
	}
	if (n < 1 || n > 64 || a[0] < 'a' || a[0] > 'z')
		return false;
	for (i = 1; i < n; i++)
		if (!((a[i] >= 'a' && a[i] <= 'z') ||
		        (a[i] >= '0' && a[i] <= '9') || a[i] == '_' ||
		        a[i] == '.'))
			return false;
	return true;
}

/* Is opt (its first olen bytes: the part before any "=") option name? */
static bool
cmd_audit_is(const char *opt, size_t olen, const char *name)
{
	return olen == strlen(name) && strncmp(opt, name, olen) == 0;
}

/*
 * Parses the options after argv[first]. 0, or 2 after printing why.
 */
static int
cmd_audit_parse(int argc, char **argv, int first, struct cmd_audit_filter *f)
{
	const char *v;
	char *end;
	int i;

	for (i = first; i < argc; i++) {
		const char *opt = argv[i];
		const char *eq = strchr(opt, '=');
		size_t olen = eq != NULL && opt[0] == '-' ? (size_t)(eq - opt)
		                                          : strlen(opt);

		if (cmd_audit_is(opt, olen, "--json") && eq == NULL) {
			f->json = true;
			continue;
		}
		if (!cmd_audit_is(opt, olen, "--since") &&
		    !cmd_audit_is(opt, olen, "--user") &&
		    !(cmd_audit_is(opt, olen, "--limit") && !f->export) &&
		    !cmd_audit_is(opt, olen, "--action")) {
			fprintf(stderr,
			    "berth: audit: unexpected argument %s\n", opt);
			cmd_audit_usage(stderr);
			return 2;
		}
		if (eq != NULL) {
			v = eq + 1;
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			fprintf(
			    stderr, "berth: audit: %s needs a value\n", opt);
			return 2;
		}
		if (cmd_audit_is(opt, olen, "--since")) {
			f->ago_s = -1;
			f->since = NULL;
			if (cmd_audit_parse_iso(
			        v, f->since_buf, sizeof(f->since_buf)))
				f->since = f->since_buf;
			else if (!cmd_audit_parse_ago(v, &f->ago_s)) {
				fprintf(stderr,
				    "berth: audit: --since \"%s\": want \"N "
				    "ago\" with a unit s, m, h, d or w "
				    "(\"1h ago\", \"30m ago\", \"2d ago\") or "
				    "an ISO-8601 time (2026-01-31T12:00:00Z)\n",
				    v);
				return 2;
			}
		} else if (cmd_audit_is(opt, olen, "--user")) {
			if (*v == '\0') {
				fprintf(stderr, "berth: audit: empty --user\n");
				return 2;
			}
			f->user = v;
		} else if (cmd_audit_is(opt, olen, "--action")) {
			f->action = NULL;
			f->prefix[0] = '\0';
			if (!cmd_audit_parse_action(v, f)) {
				fprintf(stderr,
				    "berth: audit: --action \"%s\": want an "
				    "action name (user.create) or a family "
				    "(user.*)\n",
				    v);
				return 2;
			}
		} else {
			f->limit = strtol(v, &end, 10);
			if (*v < '0' || *v > '9' || *end != '\0' ||
			    f->limit < 1 || f->limit > CMD_AUDIT_MAX_LIMIT) {
				fprintf(stderr,
				    "berth: audit: --limit %s: want 1 to %d "
				    "(berth audit export has no limit)\n",
				    v, CMD_AUDIT_MAX_LIMIT);
				return 2;
			}
		}
	}
	return 0;
}

/* The text of column name in row i, NULL for SQL NULL. */
static const char *
cmd_audit_col(const PGresult *res, int i, const char *name)
{
	int c = PQfnumber(res, name);

	return PQgetisnull(res, i, c) ? NULL : PQgetvalue(res, i, c);
}

static struct json_object *
cmd_audit_jstr(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

/* Prints row i as one JSON object on one line. */
static void
cmd_audit_print_json(const PGresult *res, int i)
{
	struct json_object *o = json_object_new_object(), *details;
	const char *v;

	if (o == NULL)
		return;
	json_object_object_add(o, "id",
	    json_object_new_int64(
	        strtoll(cmd_audit_col(res, i, "id"), NULL, 10)));
	json_object_object_add(
	    o, "timestamp", cmd_audit_jstr(cmd_audit_col(res, i, "timestamp")));
	v = cmd_audit_col(res, i, "user_id");
	json_object_object_add(o, "user_id",
	    v != NULL ? json_object_new_int64(strtoll(v, NULL, 10)) : NULL);
	json_object_object_add(
	    o, "username", cmd_audit_jstr(cmd_audit_col(res, i, "username")));
	json_object_object_add(
	    o, "action", cmd_audit_jstr(cmd_audit_col(res, i, "action")));
	json_object_object_add(
	    o, "resource", cmd_audit_jstr(cmd_audit_col(res, i, "resource")));
	json_object_object_add(o, "environment",
	    cmd_audit_jstr(cmd_audit_col(res, i, "environment")));
	json_object_object_add(o, "ip_address",
	    cmd_audit_jstr(cmd_audit_col(res, i, "ip_address")));
	json_object_object_add(o, "success",
	    json_object_new_boolean(
	        strcmp(cmd_audit_col(res, i, "success"), "t") == 0));
	v = cmd_audit_col(res, i, "details");
	/* jsonb's text is valid JSON; keep it as an object, not a string. */
	details = json_tokener_parse(v);
	json_object_object_add(o, "details",
	    details != NULL ? details : json_object_new_string(v));
	printf("%s\n",
	    json_object_to_json_string_ext(
	        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void
cmd_audit_print_header(void)
{
	printf("%-6s %-27s %-16s %-18s %-20s %-12s %-16s %-3s %s\n", "ID",
	    "TIMESTAMP", "USER", "ACTION", "RESOURCE", "ENVIRONMENT", "IP",
	    "OK", "DETAILS");
}

static void
cmd_audit_print_row(const PGresult *res, int i)
{
	char user[128], resource[256], env[80], details[4096];
	const char *v;

	v = cmd_audit_col(res, i, "username");
	if (v == NULL)
		v = cmd_audit_col(res, i, "user_id");
	cmd_common_clean(v != NULL ? v : "-", user, sizeof(user));
	v = cmd_audit_col(res, i, "resource");
	cmd_common_clean(v != NULL ? v : "-", resource, sizeof(resource));
	v = cmd_audit_col(res, i, "environment");
	cmd_common_clean(v != NULL ? v : "-", env, sizeof(env));
	cmd_common_clean(
	    cmd_audit_col(res, i, "details"), details, sizeof(details));
	v = cmd_audit_col(res, i, "ip_address");
	printf("%-6s %-27s %-16s %-18s %-20s %-12s %-16s %-3s %s\n",
	    cmd_audit_col(res, i, "id"), cmd_audit_col(res, i, "timestamp"),
	    user, cmd_audit_col(res, i, "action"), resource, env,
	    v != NULL ? v : "-",
	    strcmp(cmd_audit_col(res, i, "success"), "t") == 0 ? "yes" : "no",
	    details);
}

/* Resolves "N ago" to an absolute bound with the database's clock. */
static berr
cmd_audit_resolve(struct db *db, struct cmd_audit_filter *f)
{
	char secs[32];
	const char *v[1] = { secs };
	PGresult *res = NULL;
	berr rc;

	if (f->ago_s < 0)
		return OK;
	snprintf(secs, sizeof(secs), "%lld", f->ago_s);
	if ((rc = db_exec_sql(db, cmd_audit_sql_ago, 1, v, &res)) != OK)
		goto out;
	snprintf(f->since_buf, sizeof(f->since_buf), "%s",
	    cmd_audit_col(res, 0, "since"));
	f->since = f->since_buf;
out:
	PQclear(res);
	return rc;
}

static int
cmd_audit_list(struct db *db, struct cmd_audit_filter *f)
{
	const char *v[5];
	PGresult *res = NULL;
	char limit[32];
	int i;

	snprintf(limit, sizeof(limit), "%ld", f->limit);
	v[0] = f->since;
	v[1] = f->user;
	v[2] = f->action;
	v[3] = f->prefix[0] != '\0' ? f->prefix : NULL;
	v[4] = limit;
	if (db_exec_sql(db, cmd_audit_sql_list, 5, v, &res) != OK)
		return 1;
	if (!f->json)
		cmd_audit_print_header();
	for (i = PQntuples(res) - 1; i >= 0; i--) {
		if (f->json)
			cmd_audit_print_json(res, i);
		else
			cmd_audit_print_row(res, i);
	}
	PQclear(res);
	return 0;
}

static int
cmd_audit_export(struct db *db, struct cmd_audit_filter *f)
{
	const char *v[5];
	PGresult *res = NULL;
	char after[32] = "0";
	int i, n;

	v[0] = f->since;
	v[1] = f->user;
	v[2] = f->action;
	v[3] = f->prefix[0] != '\0' ? f->prefix : NULL;
	v[4] = after;
	for (;;) {
		if (db_exec_sql(db, cmd_audit_sql_page, 5, v, &res) != OK)
			return 1;
		if ((n = PQntuples(res)) == 0)
			break;
		for (i = 0; i < n; i++)
			cmd_audit_print_json(res, i);
		snprintf(after, sizeof(after), "%s",
		    cmd_audit_col(res, n - 1, "id"));
		PQclear(res);
		res = NULL;
		if (ferror(stdout))
			return 1;
	}
	PQclear(res);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

static int
cmd_audit_verify(struct db *db)
{
	long long checked = 0, bad = 0;
	berr rc = audit_verify(db, &checked, &bad);

	if (rc == OK) {
		printf("audit chain intact: %lld rows\n", checked);
		return 0;
	}
	if (rc == ERR_CONFLICT) {
		printf("audit chain broken at row %lld (%lld rows before it "
		       "verified)\n",
		    bad, checked);
		return 1;
	}
	fprintf(stderr, "berth: audit verify: %s\n", err_str(rc));
	return 1;
}

int
cmd_audit(int argc, char **argv, const char *config_path)
{
	struct cmd_audit_filter f;
	struct config *cfg = NULL;
	struct db *db = NULL;
	bool verify = false;
	int first = 1, st;

	memset(&f, 0, sizeof(f));
	f.ago_s = -1;
	f.limit = CMD_AUDIT_DEFAULT_LIMIT;
	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cmd_audit_usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
		if (argc != 2) {
			cmd_audit_usage(stderr);
			return 2;
		}
		verify = true;
	} else if (argc >= 2 && strcmp(argv[1], "export") == 0) {
		f.export = true;
		first = 2;
	}
	if (!verify && (st = cmd_audit_parse(argc, argv, first, &f)) != 0)
		return st;
	if ((st = cmd_common_open("audit", config_path, &cfg, &db)) != 0)
		goto out;
	if (verify)
		st = cmd_audit_verify(db);
	else if (cmd_audit_resolve(db, &f) != OK)
		st = 1;
	else if (f.export)
		st = cmd_audit_export(db, &f);
	else
		st = cmd_audit_list(db, &f);
out:
	db_free(db);
	config_free(cfg);
	return st;
}
