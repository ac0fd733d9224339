/*
 * cmd_migrate.c - `berth migrate [--sql-dir DIR] [--status]`.
 *
 * Applies the pending migrations of DIR (default: migrate_default_dir()) to
 * the database named by the configuration, or with --status lists each
 * migration as applied or pending without changing anything. Safe to run
 * on several hosts at once: the migrator serialises them.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "db.h"
#include "migrate.h"
#include "parse.h"

static const char cmd_migrate_sql_present[] =
    "SELECT to_regclass('schema_migrations') IS NOT NULL AS present";
static const char cmd_migrate_sql_version[] =
    "SELECT coalesce(max(version), 0) AS version FROM schema_migrations";
static const char cmd_migrate_sql_list[] =
    "SELECT version, name, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD "
    "HH24:MI:SS') AS applied_at FROM schema_migrations ORDER BY version";

/* One line of --status: a file, a row of schema_migrations, or both. */
struct cmd_migrate_row {
	long version;
	char name[256];
	char applied_at[64]; /* "" = pending */
	int has_file;
};

static void
cmd_migrate_usage(FILE *out)
{
	fprintf(out, "usage: berth migrate [--sql-dir DIR] [--status]\n");
}

/* The newest version recorded, 0 when none or the table does not exist. */
static berr
cmd_migrate_version(struct db *db, int *version)
{
	PGresult *res = NULL;
	berr rc;

	*version = 0;
	/* Two steps: a query naming a missing table fails as it is parsed. */
	if ((rc = db_exec_sql(db, cmd_migrate_sql_present, 0, NULL, &res)) !=
	    OK)
		goto out;
	if (strcmp(PQgetvalue(res, 0, PQfnumber(res, "present")), "t") != 0)
		goto out;
	PQclear(res);
	res = NULL;
	if ((rc = db_exec_sql(db, cmd_migrate_sql_version, 0, NULL, &res)) !=
	    OK)
		goto out;
	if (parse_int(PQgetvalue(res, 0, PQfnumber(res, "version")), 0, INT_MAX,
	        version) != OK) {
		fprintf(stderr,
		    "berth: migrate: schema_migrations holds a "
		    "version that is not a number\n");
		rc = ERR_DB;
	}
out:
	PQclear(res);
	return rc;
}

static int
cmd_migrate_row_cmp(const void *a, const void *b)
{
	const struct cmd_migrate_row *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/* Finds or adds the line of version in *lines (grown as needed). */
static struct cmd_migrate_row *
cmd_migrate_row(
    struct cmd_migrate_row **lines, size_t *n, size_t *cap, long version)
{
	struct cmd_migrate_row *grown;
	size_t i;

	for (i = 0; i < *n; i++)
		if ((*lines)[i].version == version)
			return &(*lines)[i];
	if (*n == *cap) {
		*cap = *cap != 0 ? *cap * 2 : 16;
		if ((grown = realloc(*lines, *cap * sizeof(*grown))) == NULL)
			return NULL;
		*lines = grown;
	}
	memset(&(*lines)[*n], 0, sizeof(**lines));
	(*lines)[*n].version = version;
	return &(*lines)[(*n)++];
}

/*
 * --status: migrate_pending() first, which validates the folder and the
 * checksums and logs what is wrong; then the listing, from the folder and
 * from schema_migrations.
 */
static int
cmd_migrate_status(struct db *db, const char *dir)
{
	struct cmd_migrate_row *lines = NULL, *l;
	size_t n = 0, cap = 0, i;
	PGresult *res = NULL;
	DIR *d = NULL;
	struct dirent *de;
	const char *name;
	int pending, version, status = 1, fv, fn, fa, row;
	long row_version;
	size_t len;

	if ((pending = migrate_pending(db, dir)) < 0) {
		fprintf(stderr,
		    "berth: migrate: cannot compare %s with the database (see "
		    "above)\n",
		    dir);
		goto out;
	}
	if (cmd_migrate_version(db, &version) != OK)
		goto out;
	if (version > 0) {
		if (db_exec_sql(db, cmd_migrate_sql_list, 0, NULL, &res) != OK)
			goto out;
		fv = PQfnumber(res, "version");
		fn = PQfnumber(res, "name");
		fa = PQfnumber(res, "applied_at");
		for (row = 0; row < PQntuples(res); row++) {
			if (parse_long(PQgetvalue(res, row, fv), 0, LONG_MAX,
			        &row_version) != OK) {
				fprintf(stderr,
				    "berth: migrate: schema_migrations holds "
				    "a version that is not a number\n");
				goto out;
			}
			l = cmd_migrate_row(&lines, &n, &cap, row_version);
			if (l == NULL) {
				fprintf(
				    stderr, "berth: migrate: out of memory\n");
				goto out;
			}
			snprintf(l->name, sizeof(l->name), "%s",
			    PQgetvalue(res, row, fn));
			snprintf(l->applied_at, sizeof(l->applied_at), "%s UTC",
			    PQgetvalue(res, row, fa));
		}
	}
	/* migrate_pending() accepted the folder: every .sql name is sound. */
	if ((d = opendir(dir)) == NULL) {
		fprintf(
		    stderr, "berth: migrate: %s: %s\n", dir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		name = de->d_name;
		len = strlen(name);
		if (name[0] == '.' || len < 4 ||
		    strcmp(name + len - 4, ".sql") != 0)
			continue;
		l = cmd_migrate_row(&lines, &n, &cap, strtol(name, NULL, 10));
		if (l == NULL) {
			fprintf(stderr, "berth: migrate: out of memory\n");
			goto out;
		}
		snprintf(l->name, sizeof(l->name), "%s", name);
		l->has_file = 1;
	}
	if (n > 1)
		qsort(lines, n, sizeof(*lines), cmd_migrate_row_cmp);
	printf("migrations in %s; schema at version %d\n", dir, version);
	for (i = 0; i < n; i++) {
		l = &lines[i];
		if (l->applied_at[0] == '\0')
			printf("  pending  %s\n", l->name);
		else
			printf("  applied  %-32s %s%s\n", l->name,
			    l->applied_at,
			    l->has_file ? "" : " (no file here)");
	}
	printf("%d pending\n", pending);
	status = 0;
out:
	if (d != NULL)
		closedir(d);
	PQclear(res);
	free(lines);
	return status;
}

static int
cmd_migrate_apply(struct db *db, const char *dir)
{
	char err[1024];
	int applied = 0, version = 0;

	if (migrate_run(db, dir, &applied, err, sizeof(err)) != OK) {
		fprintf(stderr, "berth: migrate: %s\n", err);
		if (applied > 0)
			fprintf(stderr,
			    "berth: migrate: %d migration(s) applied before "
			    "the error stay applied\n",
			    applied);
		return 1;
	}
	if (cmd_migrate_version(db, &version) != OK)
		return 1;
	if (applied > 0)
		printf("applied %d migration(s); schema at version %d\n",
		    applied, version);
	else
		printf("nothing to apply; schema at version %d\n", version);
	return 0;
}

int
cmd_migrate(int argc, char **argv, const char *config_path)
{
	struct config *cfg = NULL;
	struct db *db = NULL;
	const char *dir = NULL, *url;
	char *diag = NULL;
	int i, status = 1, want_status = 0, timeout;
	berr rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--status") == 0) {
			want_status = 1;
		} else if (strcmp(argv[i], "--sql-dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (strncmp(argv[i], "--sql-dir=", 10) == 0) {
			dir = argv[i] + 10;
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			cmd_migrate_usage(stdout);
			return 0;
		} else {
			fprintf(stderr,
			    "berth: migrate: unexpected argument %s\n",
			    argv[i]);
			cmd_migrate_usage(stderr);
			return 2;
		}
	}
	if (dir == NULL || *dir == '\0')
		dir = migrate_default_dir();

	rc = config_load(config_path, &cfg, &diag);
	if (diag != NULL && *diag != '\0')
		fprintf(stderr, "%s%s", diag,
		    diag[strlen(diag) - 1] == '\n' ? "" : "\n");
	if (rc != OK) {
		fprintf(stderr,
		    "berth: migrate: cannot load the configuration: %s\n",
		    err_str(rc));
		goto out;
	}
	url = cfg->database.url;
	timeout = cfg->database.connect_timeout;
	if (url == NULL || *url == '\0') {
		fprintf(stderr,
		    "berth: migrate: no database: set database.url in the "
		    "configuration or DATABASE_URL\n");
		goto out;
	}
	if ((db = db_new(url, timeout)) == NULL) {
		fprintf(stderr, "berth: migrate: out of memory\n");
		goto out;
	}
	/* The database layer has logged why it is unreachable. */
	if (db_connect(db) != OK) {
		fprintf(stderr, "berth: migrate: database unreachable\n");
		goto out;
	}
	status = want_status ? cmd_migrate_status(db, dir)
	                     : cmd_migrate_apply(db, dir);
out:
	db_free(db);
	config_free(cfg);
	free(diag);
	return status;
}
