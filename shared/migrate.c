/*
 * migrate.c - see migrate.h.
 *
 * A run reads and checks every file first (names, duplicates, size, SHA-256)
 * so that a bad folder is refused before the database is touched. Then, under
 * a session-level advisory lock, it compares the files with
 * schema_migrations: an applied file must still have its checksum, and a
 * pending file must not be older than the newest applied one (it would be
 * applied out of order on some hosts and in order on others). Each pending
 * file then runs in its own transaction together with its INSERT into
 * schema_migrations, so a file is either wholly applied and recorded or not
 * at all.
 *
 * The lock is held by the session, and db.c silently replaces a lost
 * session outside transactions; so each file's transaction first checks that
 * it runs on the very backend that took the lock.
 */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "file.h"
#include "limit.h"
#include "log.h"
#include "parse.h"

/*
 * pg_advisory_lock(int, int) keys: the first is Berth's namespace ("Bert" in
 * ASCII), the second the lock within it. Other Berth locks use other second
 * keys; 1 is the migrator's.
 */
#define MIGRATE_LOCK_NS "1113944692"
#define MIGRATE_LOCK_ID "1"
/* Most digits in a version: it must fit an int. */
#define MIGRATE_VERSION_DIGITS 9

/* The migrator's SQL, in one place. */
static const char migrate_sql_lock[] =
    "SELECT pg_advisory_lock($1::int, $2::int)";
static const char migrate_sql_unlock[] =
    "SELECT pg_advisory_unlock($1::int, $2::int)";
static const char migrate_sql_create[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ( version int PRIMARY KEY, "
    "name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT "
    "NULL DEFAULT now())";
static const char migrate_sql_present[] =
    "SELECT to_regclass('schema_migrations') IS NOT NULL AS present";
static const char migrate_sql_applied[] =
    "SELECT version, checksum FROM schema_migrations ORDER BY version";
static const char migrate_sql_record[] =
    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, "
    "$3)";

struct migrate_file {
	int version;
	char *file; /* "001_schema.sql" */
	char *text; /* the file, NUL-terminated */
	size_t len;
	char sum[65]; /* SHA-256 of text, lowercase hex */
	bool applied;
};

struct migrate_set {
	struct migrate_file *v;
	size_t n;
	size_t cap;
};

/* The arguments of one file's transaction. */
struct migrate_tx {
	const struct migrate_file *m;
	int pid; /* backend that holds the advisory lock */
	char *msg;
	size_t size;
};

const char *
migrate_default_dir(void)
{
	const char *dir = getenv("BERTH_SQL_DIR");

	if (dir != NULL && *dir != '\0')
		return dir;
	return BERTH_PKGDATADIR "/sql";
}

static void __attribute__((format(printf, 3, 4)))
migrate_msg(char *msg, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
}

static void
migrate_free(struct migrate_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		free(set->v[i].file);
		free(set->v[i].text);
	}
	free(set->v);
	memset(set, 0, sizeof(*set));
}

static bool
migrate_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * Parses "NNN_words.sql": 1 to 9 digits (not all zero), '_', then letters,
 * digits, '_' or '-'. Returns the version, or 0 when the name is bad.
 */
static int
migrate_parse_name(const char *name)
{
	const char *p = name, *words;
	long v = 0;
	int digits = 0;

	while (*p >= '0' && *p <= '9') {
		if (++digits > MIGRATE_VERSION_DIGITS)
			return 0;
		v = v * 10 + (*p - '0');
		p++;
	}
	if (digits == 0 || *p != '_')
		return 0;
	words = ++p;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
	    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')
		p++;
	if (p == words || strcmp(p, ".sql") != 0)
		return 0;
	return (int)v;
}

/*
 * Reads dir/file into m, capped at LIMIT_MIGRATION_BYTES, and checksums it.
 * On error m->text is NULL and msg says why.
 */
static berr
migrate_read(const char *dir, struct migrate_file *m, char *msg, size_t size)
{
	char path[PATH_MAX];
	size_t len = 0;
	char *buf = NULL;
	int err = 0;
	berr rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, m->file) >=
	    sizeof(path)) {
		migrate_msg(msg, size, "%s/%s: path too long", dir, m->file);
		return ERR_INVALID;
	}
	rc = file_read(
	    path, FILE_REGULAR, LIMIT_MIGRATION_BYTES, &buf, &len, &err);
	if (rc == ERR_IO)
		migrate_msg(msg, size, "%s: %s", path, strerror(err));
	else if (rc == ERR_INVALID)
		migrate_msg(msg, size, "%s: not a regular file", path);
	else if (rc == ERR_TOO_BIG)
		migrate_msg(msg, size, "%s: larger than %d bytes", path,
		    LIMIT_MIGRATION_BYTES);
	if (rc != OK)
		goto out;
	/* libpq takes a C string: a NUL would silently cut the file short. */
	if (memchr(buf, '\0', len) != NULL) {
		migrate_msg(msg, size, "%s: contains a NUL byte", path);
		rc = ERR_INVALID;
		goto out;
	}
	if (!digest_sha256_hex(buf, len, m->sum)) {
		migrate_msg(msg, size, "%s: SHA-256 failed", path);
		rc = ERR_INTERNAL;
		goto out;
	}
	m->text = buf;
	m->len = len;
	buf = NULL;
out:
	free(buf);
	return rc;
}

static int
migrate_cmp(const void *a, const void *b)
{
	const struct migrate_file *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/*
 * Lists, reads and sorts the migrations of dir. Hidden files and files not
 * ending in ".sql" are ignored (editor backups, a README); a ".sql" file
 * with a bad name is an error, since it was surely meant to run.
 */
static berr
migrate_load_dir(
    const char *dir, struct migrate_set *set, char *msg, size_t size)
{
	DIR *d = NULL;
	struct dirent *de;
	struct migrate_file *grown, *m;
	size_t i, cap;
	berr rc = OK;
	int v;

	if ((d = opendir(dir)) == NULL) {
		migrate_msg(msg, size, "%s: %s", dir, strerror(errno));
		rc = ERR_IO;
		goto out;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    !migrate_has_suffix(de->d_name, ".sql"))
			continue;
		if ((v = migrate_parse_name(de->d_name)) <= 0) {
			migrate_msg(msg, size,
			    "%s/%s: bad migration file name (expected "
			    "NNN_name.sql, NNN > 0)",
			    dir, de->d_name);
			rc = ERR_INVALID;
			goto out;
		}
		if (set->n == set->cap) {
			cap = set->cap != 0 ? set->cap * 2 : 8;
			if ((grown = realloc(set->v, cap * sizeof(*grown))) ==
			    NULL) {
				rc = ERR_NOMEM;
				goto out;
			}
			set->v = grown;
			set->cap = cap;
		}
		m = &set->v[set->n];
		memset(m, 0, sizeof(*m));
		if ((m->file = strdup(de->d_name)) == NULL) {
			rc = ERR_NOMEM;
			goto out;
		}
		m->version = v;
		set->n++;
	}
	if (errno != 0) {
		migrate_msg(msg, size, "%s: %s", dir, strerror(errno));
		rc = ERR_IO;
		goto out;
	}
	if (set->n > 1)
		qsort(set->v, set->n, sizeof(*set->v), migrate_cmp);
	for (i = 1; i < set->n; i++) {
		if (set->v[i].version == set->v[i - 1].version) {
			migrate_msg(msg, size,
			    "%s: %s and %s have the same version %d", dir,
			    set->v[i - 1].file, set->v[i].file,
			    set->v[i].version);
			rc = ERR_INVALID;
			goto out;
		}
	}
	for (i = 0; i < set->n; i++)
		if ((rc = migrate_read(dir, &set->v[i], msg, size)) != OK)
			goto out;
out:
	if (d != NULL)
		closedir(d);
	return rc;
}

/* The message for a failed read of schema_migrations (db.c logged it). */
static void
migrate_msg_db(struct db *db, berr rc, char *msg, size_t size)
{
	migrate_msg(msg, size, "cannot read schema_migrations: %s%s%s",
	    err_str(rc), *db_sqlstate(db) != '\0' ? ", SQLSTATE " : "",
	    db_sqlstate(db));
}

/*
 * Marks the files of set that schema_migrations records, and checks them
 * against it. With must_exist false, a missing table means "nothing
 * applied" (migrate_pending() must not create it).
 */
static berr
migrate_load_applied(struct db *db, struct migrate_set *set, bool must_exist,
    char *msg, size_t size)
{
	PGresult *res = NULL;
	const char *dbsum;
	int fv, fs, row, rows, version, newest = 0;
	size_t i;
	bool found;
	berr rc;

	if (!must_exist) {
		if ((rc = db_exec_sql(
		         db, migrate_sql_present, 0, NULL, &res)) != OK) {
			migrate_msg_db(db, rc, msg, size);
			goto out;
		}
		if (strcmp(PQgetvalue(res, 0, PQfnumber(res, "present")),
		        "t") != 0)
			goto out;
		PQclear(res);
		res = NULL;
	}
	if ((rc = db_exec_sql(db, migrate_sql_applied, 0, NULL, &res)) != OK) {
		migrate_msg_db(db, rc, msg, size);
		goto out;
	}
	fv = PQfnumber(res, "version");
	fs = PQfnumber(res, "checksum");
	rows = PQntuples(res);
	for (row = 0; row < rows; row++) {
		if (parse_int(PQgetvalue(res, row, fv), 0, INT_MAX, &version) !=
		    OK) {
			migrate_msg(msg, size,
			    "schema_migrations holds a version that is not a "
			    "number");
			rc = ERR_DB;
			goto out;
		}
		dbsum = PQgetvalue(res, row, fs);
		if (version > newest)
			newest = version;
		/* A version with no file here: a newer berth applied it. */
		for (i = 0, found = false; i < set->n && !found; i++) {
			if (set->v[i].version != version)
				continue;
			found = true;
			if (strcmp(set->v[i].sum, dbsum) != 0) {
				migrate_msg(msg, size,
				    "%s: changed since it was applied "
				    "(checksum %.12s…, applied %.12s…); "
				    "applied migrations are never edited: add "
				    "a new one",
				    set->v[i].file, set->v[i].sum, dbsum);
				rc = ERR_CONFLICT;
				goto out;
			}
			set->v[i].applied = true;
		}
	}
	for (i = 0; i < set->n; i++) {
		if (!set->v[i].applied && set->v[i].version < newest) {
			migrate_msg(msg, size,
			    "%s: not applied but older than applied version "
			    "%d; give it a number above %d",
			    set->v[i].file, newest, newest);
			rc = ERR_CONFLICT;
			goto out;
		}
	}
	rc = OK;
out:
	PQclear(res);
	return rc;
}

/* The 1-based line of the 1-based character position pos in text. */
static int
migrate_line(const char *text, long pos)
{
	const unsigned char *p = (const unsigned char *)text;
	long chars = 0;
	int line = 1;

	for (; *p != '\0'; p++) {
		/* Positions count characters: skip UTF-8 continuation bytes. */
		if ((*p & 0xC0) == 0x80)
			continue;
		if (++chars >= pos)
			break;
		if (*p == '\n')
			line++;
	}
	return line;
}

/*
 * Classifies the result of a migration's PQexec and, on failure, writes
 * "FILE:LINE: SQLSTATE S: message" into the message.
 */
static berr
migrate_result(PGconn *conn, PGresult *res, const struct migrate_tx *tx)
{
	const char *state, *text, *pos;
	PGresult *more;
	char where[32] = "";
	long pos_n;

	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY: return OK;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		/* Leave COPY so the session can roll back; then refuse. */
		(void)PQputCopyEnd(conn, "COPY is not supported in migrations");
		while ((more = PQgetResult(conn)) != NULL)
			PQclear(more);
		migrate_msg(tx->msg, tx->size,
		    "%s: COPY is not supported in migrations", tx->m->file);
		return ERR_INVALID;
	default: break;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	text = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	if (text == NULL)
		text = PQerrorMessage(conn);
	if (parse_long(pos, 1, LONG_MAX, &pos_n) == OK)
		snprintf(where, sizeof(where), ":%d",
		    migrate_line(tx->m->text, pos_n));
	migrate_msg(tx->msg, tx->size, "%s%s: SQLSTATE %s: %s", tx->m->file,
	    where, state != NULL ? state : "none", text);
	/* Strip libpq's trailing newline from a client-side message. */
	tx->msg[strcspn(tx->msg, "\n")] = '\0';
	if (PQstatus(conn) != CONNECTION_OK)
		return ERR_DB_DOWN;
	if (state != NULL &&
	    (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
	        strncmp(state, "57P", 3) == 0))
		return ERR_DB_DOWN;
	return ERR_DB;
}

/*
 * One file's transaction (run by db_tx): the file's statements, then its
 * row in schema_migrations. The body may hold many statements, which only
 * the simple query protocol (PQexec) accepts; it has no parameters.
 */
static berr
migrate_apply(struct db *db, void *arg)
{
	struct migrate_tx *tx = arg;
	const struct migrate_file *m = tx->m;
	PGconn *conn = db_conn(db);
	PGresult *res = NULL;
	const char *vals[3];
	char ver[16];
	berr rc;

	if (conn == NULL || PQbackendPID(conn) != tx->pid) {
		migrate_msg(tx->msg, tx->size,
		    "%s: not applied: the connection holding the migration "
		    "lock was lost",
		    m->file);
		rc = ERR_DB_DOWN;
		goto out;
	}
	res = PQexec(conn, m->text);
	if ((rc = migrate_result(conn, res, tx)) != OK)
		goto out;
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
		migrate_msg(tx->msg, tx->size,
		    "%s: ends the transaction it runs in (COMMIT or ROLLBACK "
		    "in the file); remove it",
		    m->file);
		rc = ERR_INVALID;
		goto out;
	}
	snprintf(ver, sizeof(ver), "%d", m->version);
	vals[0] = ver;
	vals[1] = m->file;
	vals[2] = m->sum;
	if ((rc = db_exec_sql(db, migrate_sql_record, 3, vals, NULL)) != OK) {
		migrate_msg(tx->msg, tx->size,
		    "%s: cannot record it: %s, SQLSTATE %s", m->file,
		    err_str(rc), db_sqlstate(db));
		goto out;
	}
out:
	PQclear(res);
	return rc;
}

/* Takes the migration lock; waits while another runner holds it. */
static berr
migrate_lock(struct db *db, int *pid, char *msg, size_t size)
{
	const char *vals[2] = { MIGRATE_LOCK_NS, MIGRATE_LOCK_ID };
	PGconn *conn;
	berr rc;

	if ((rc = db_exec_sql(db, migrate_sql_lock, 2, vals, NULL)) != OK) {
		migrate_msg(msg, size, "cannot take the migration lock: %s",
		    err_str(rc));
		return rc;
	}
	if ((conn = db_conn(db)) == NULL) {
		migrate_msg(msg, size, "connection lost after taking the lock");
		return ERR_DB_DOWN;
	}
	*pid = PQbackendPID(conn);
	return OK;
}

/* Releases the lock if the session that took it is still ours. */
static void
migrate_unlock(struct db *db, int pid)
{
	const char *vals[2] = { MIGRATE_LOCK_NS, MIGRATE_LOCK_ID };
	PGconn *conn = db_conn(db);

	/* A lost session took its lock with it. */
	if (conn == NULL || PQbackendPID(conn) != pid)
		return;
	if (db_exec_sql(db, migrate_sql_unlock, 2, vals, NULL) != OK)
		log_warn("migrate: could not release the migration lock; it "
		         "goes with the session");
}

berr
migrate_run(
    struct db *db, const char *dir, int *applied, char *err, size_t errlen)
{
	struct migrate_set set = { 0 };
	struct migrate_tx tx;
	char msg[1024] = "";
	int pid = 0, count = 0;
	bool locked = false;
	size_t i;
	berr rc;

	if (applied != NULL)
		*applied = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = migrate_load_dir(dir, &set, msg, sizeof(msg))) != OK)
		goto out;
	if ((rc = db_connect(db)) != OK) {
		migrate_msg(msg, sizeof(msg), "database unreachable");
		goto out;
	}
	if ((rc = migrate_lock(db, &pid, msg, sizeof(msg))) != OK)
		goto out;
	locked = true;
	/*
	 * Created under the lock: two concurrent CREATE TABLE IF NOT EXISTS
	 * can both pass the check and one then fails on the catalog.
	 */
	if ((rc = db_exec_sql(db, migrate_sql_create, 0, NULL, NULL)) != OK) {
		migrate_msg(msg, sizeof(msg),
		    "cannot create schema_migrations: %s, SQLSTATE %s",
		    err_str(rc), db_sqlstate(db));
		goto out;
	}
	if ((rc = migrate_load_applied(db, &set, true, msg, sizeof(msg))) != OK)
		goto out;
	for (i = 0; i < set.n; i++) {
		if (set.v[i].applied)
			continue;
		tx.m = &set.v[i];
		tx.pid = pid;
		tx.msg = msg;
		tx.size = sizeof(msg);
		msg[0] = '\0';
		if ((rc = db_tx(db, migrate_apply, &tx)) != OK) {
			if (msg[0] == '\0')
				migrate_msg(msg, sizeof(msg),
				    "%s: not applied: %s", set.v[i].file,
				    err_str(rc));
			goto out;
		}
		count++;
		log_info("migrate: applied %s", set.v[i].file);
	}
out:
	if (locked)
		migrate_unlock(db, pid);
	if (applied != NULL)
		*applied = count;
	if (rc != OK) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s", msg);
		else
			log_error("migrate: %s", msg);
	}
	migrate_free(&set);
	return rc;
}

int
migrate_pending(struct db *db, const char *dir)
{
	struct migrate_set set = { 0 };
	char msg[1024] = "";
	size_t i;
	int pending = -1;
	berr rc;

	if ((rc = migrate_load_dir(dir, &set, msg, sizeof(msg))) != OK)
		goto out;
	if ((rc = db_connect(db)) != OK) {
		migrate_msg(msg, sizeof(msg), "database unreachable");
		goto out;
	}
	if ((rc = migrate_load_applied(db, &set, false, msg, sizeof(msg))) !=
	    OK)
		goto out;
	for (i = 0, pending = 0; i < set.n; i++)
		if (!set.v[i].applied)
			pending++;
out:
	/* No other channel for the reason: this is where it is decided. */
	if (rc != OK)
		log_error("migrate: %s", msg);
	migrate_free(&set);
	return pending;
}
