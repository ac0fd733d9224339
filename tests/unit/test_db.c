/*
 * test_db.c - CUnit suites for shared/db.c and shared/migrate.c.
 *
 * Needs a PostgreSQL server: DATABASE_URL names one where the user may
 * create databases (tests/unit/test_db.sh starts a private one). Without it
 * the program exits 77, "skipped" to automake. Each test that changes a
 * schema works in a database of its own, created here and dropped at the
 * end, so tests neither see each other nor anything already there.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <dirent.h>

#include <CUnit/CUnit.h>

#include "db.h"
#include "limit.h"
#include "log.h"
#include "migrate.h"
#include "unit.h"

/* The tables the architecture lists; 001_schema.sql must create each. */
static const char *const test_tables[] = { "users", "user_roles", "api_keys",
	"sessions", "mcp_sessions", "token_cache", "agents", "runs",
	"run_events", "lighthouse_outbox", "station_status", "audit_log",
	"schema_migrations", NULL };

static const char *test_admin_url; /* DATABASE_URL */
static struct db *test_admin;      /* creates and drops the test databases */
static char test_dbs[32][64];      /* databases created, dropped at exit */
static int test_ndbs;

static double
test_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends key='value' to buf, quoted as libpq's key=value syntax wants. */
static void
test_append_kv(char *buf, size_t size, const char *key, const char *val)
{
	size_t n = strlen(buf);
	const char *p;

	n += (size_t)snprintf(
	    buf + n, n < size ? size - n : 0, "%s%s='", n > 0 ? " " : "", key);
	for (p = val; *p != '\0' && n + 3 < size; p++) {
		if (*p == '\'' || *p == '\\')
			buf[n++] = '\\';
		buf[n++] = *p;
	}
	if (n + 2 < size) {
		buf[n++] = '\'';
		buf[n] = '\0';
	}
}

/* The admin connection string with another database: a malloc'ed string. */
static char *
test_url_for(const char *dbname)
{
	PQconninfoOption *opts, *o;
	char *buf, *perr = NULL;
	size_t size = 4096;

	if ((opts = PQconninfoParse(test_admin_url, &perr)) == NULL) {
		PQfreemem(perr);
		return NULL;
	}
	if ((buf = calloc(1, size)) == NULL)
		goto out;
	for (o = opts; o->keyword != NULL; o++)
		if (o->val != NULL && strcmp(o->keyword, "dbname") != 0)
			test_append_kv(buf, size, o->keyword, o->val);
	test_append_kv(buf, size, "dbname", dbname);
out:
	PQconninfoFree(opts);
	return buf;
}

/*
 * Creates an empty database and returns its connection string (malloc'ed).
 * The name is made here of a fixed prefix and digits: identifiers cannot be
 * parameters, so this is the one SQL built by hand, from no input.
 */
static char *
test_fresh_db(void)
{
	char sql[128], *name;

	if (test_ndbs >= (int)(sizeof(test_dbs) / sizeof(test_dbs[0])))
		return NULL;
	name = test_dbs[test_ndbs];
	snprintf(name, sizeof(test_dbs[0]), "berth_test_%d_%d", (int)getpid(),
	    test_ndbs);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	if (db_exec_sql(test_admin, sql, 0, NULL, NULL) != OK)
		return NULL;
	test_ndbs++;
	return test_url_for(name);
}

static void
test_drop_dbs(void)
{
	char sql[128];
	int i;

	for (i = 0; i < test_ndbs; i++) {
		snprintf(sql, sizeof(sql),
		    "DROP DATABASE IF EXISTS %.63s WITH (FORCE)", test_dbs[i]);
		if (db_exec_sql(test_admin, sql, 0, NULL, NULL) != OK)
			fprintf(stderr, "test_db: could not drop %s\n",
			    test_dbs[i]);
	}
	test_ndbs = 0;
}

/* A connection to a new empty database; CUnit-fails when impossible. */
static struct db *
test_db_fresh(void)
{
	struct db *db = NULL;
	char *url = test_fresh_db();

	if (url != NULL)
		db = db_new(url, 5);
	free(url);
	return db;
}

/* The first column of the first row of sql, as a long; -1 on error. */
static long
test_long(struct db *db, const char *sql, int n, const char *const *vals)
{
	PGresult *res = NULL;
	long v = -1;

	if (db_exec_sql(db, sql, n, vals, &res) == OK && PQntuples(res) > 0)
		v = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static bool
test_table_exists(struct db *db, const char *table)
{
	const char *vals[1] = { table };

	return test_long(db, "SELECT (to_regclass($1) IS NOT NULL)::int", 1,
	           vals) == 1;
}

static bool
test_write(const char *dir, const char *name, const char *text, size_t len)
{
	char path[512];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		return false;
	ok = fwrite(text, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

static bool
test_writes(const char *dir, const char *name, const char *text)
{
	return test_write(dir, name, text, strlen(text));
}

/* A new empty folder under /tmp; dir must hold 64 bytes. */
static bool
test_mkdtemp(char *dir)
{
	snprintf(dir, 64, "/tmp/berth-test-db.XXXXXX");
	return mkdtemp(dir) != NULL;
}

/* Removes a folder made by test_mkdtemp and the files in it. */
static void
test_rmdir(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Copies the .sql files of the real migrations into dir; returns count. */
static int
test_copy_sql(const char *dir)
{
	const char *src = migrate_default_dir();
	char path[512], *buf;
	struct dirent *de;
	DIR *d;
	FILE *f;
	long len;
	int n = 0;

	if ((d = opendir(src)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strstr(de->d_name, ".sql") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", src, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		rewind(f);
		if (len >= 0 && (buf = malloc((size_t)len + 1)) != NULL) {
			if (fread(buf, 1, (size_t)len, f) == (size_t)len &&
			    test_write(dir, de->d_name, buf, (size_t)len))
				n++;
			free(buf);
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* How many migrations the real folder holds. */
static int
test_count_sql(void)
{
	struct dirent *de;
	DIR *d;
	size_t len;
	int n = 0;

	if ((d = opendir(migrate_default_dir())) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] != '.' && len > 4 &&
		    strcmp(de->d_name + len - 4, ".sql") == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* ---- db.c -------------------------------------------------------------- */

static void
test_prepared(void)
{
	struct db *db = test_db_fresh();
	const char *vals[2] = { "2", "40" };
	const char *nullv[1] = { NULL };
	PGresult *res = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(
	    db_prepare(db, "add", "SELECT $1::int + $2::int AS sum", 2), OK);
	CU_ASSERT_EQUAL(db_prepare(db, "isnull",
	                    "SELECT ($1::text IS NULL)::int AS isnull", 1),
	    OK);
	/* Registered twice with the same SQL: fine (every worker's init). */
	CU_ASSERT_EQUAL(
	    db_prepare(db, "add", "SELECT $1::int + $2::int AS sum", 2), OK);
	CU_ASSERT_EQUAL(db_prepare(db, "add", "SELECT 1", 0), ERR_CONFLICT);

	CU_ASSERT_EQUAL(db_exec(db, "add", 2, vals, &res), OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, PQfnumber(res, "sum")), "42");
	PQclear(res);
	/* Runs again on the same connection, already prepared. */
	vals[0] = "-2";
	CU_ASSERT_EQUAL(db_exec(db, "add", 2, vals, &res), OK);
	CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), "38");
	PQclear(res);
	CU_ASSERT_EQUAL(db_exec(db, "isnull", 1, nullv, &res), OK);
	CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), "1");
	PQclear(res);

	res = (PGresult *)1;
	CU_ASSERT_EQUAL(db_exec(db, "no_such", 0, NULL, &res), ERR_NOT_FOUND);
	CU_ASSERT_PTR_NULL(res);
	CU_ASSERT_EQUAL(db_exec(db, "add", 1, vals, &res), ERR_INTERNAL);
	CU_ASSERT_PTR_NULL(res);
	CU_ASSERT_PTR_NOT_NULL(db_conn(db));
	db_free(db);
}

static void
test_sql_error(void)
{
	struct db *db = test_db_fresh();
	const char *vals[1] = { "x" };
	PGresult *res = (PGresult *)1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(
	    db_exec_sql(db, "SELECT * FROM no_such_table", 0, NULL, &res),
	    ERR_DB);
	CU_ASSERT_PTR_NULL(res);
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "42P01");
	/* A bad prepared statement fails at preparation, the same way. */
	CU_ASSERT_EQUAL(db_prepare(db, "bad", "SELEC 1", 0), OK);
	CU_ASSERT_EQUAL(db_exec(db, "bad", 0, NULL, &res), ERR_DB);
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "42601");
	CU_ASSERT_EQUAL(
	    db_exec_sql(db, "SELECT $1::int", 1, vals, NULL), ERR_DB);
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "22P02");
	/* "Out of disk" is the server unable to serve: 503, not 500. */
	CU_ASSERT_EQUAL(db_exec_sql(db,
	                    "DO $$ BEGIN RAISE EXCEPTION 'full' USING ERRCODE "
	                    "= '53100'; END $$",
	                    0, NULL, NULL),
	    ERR_DB_DOWN);
	/* The connection is still fine after all that. */
	CU_ASSERT_EQUAL(test_long(db, "SELECT 7", 0, NULL), 7);
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "");
	db_free(db);
}

struct test_tx {
	int calls;
	int fail_until; /* raise 40001 on calls before this one */
	berr ret;       /* returned by the callback */
	bool swallow;   /* run a failing statement, ignore its error */
	pid_t kill_pid; /* terminate this backend before the INSERT */
	const char *value;
};

static berr
test_tx_fn(struct db *db, void *arg)
{
	struct test_tx *t = arg;
	const char *vals[1] = { t->value };
	char pid[16];
	const char *pv[1] = { pid };
	berr rc;

	t->calls++;
	if (t->calls < t->fail_until &&
	    (rc = db_exec_sql(db,
	         "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = "
	         "'40001'; END $$",
	         0, NULL, NULL)) != OK)
		return rc;
	if (t->kill_pid != 0) {
		snprintf(pid, sizeof(pid), "%d", (int)t->kill_pid);
		if (test_long(test_admin,
		        "SELECT pg_terminate_backend($1::int)::int", 1,
		        pv) != 1)
			return ERR_INTERNAL;
		usleep(200 * 1000);
	}
	if ((rc = db_exec(db, "ins", 1, vals, NULL)) != OK)
		return rc;
	if (t->swallow)
		(void)!db_exec_sql(db, "SELECT 1/0", 0, NULL, NULL);
	return t->ret;
}

static void
test_tx(void)
{
	struct db *db = test_db_fresh();
	struct test_tx t;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL_FATAL(
	    db_exec_sql(db, "CREATE TABLE t (v text)", 0, NULL, NULL), OK);
	CU_ASSERT_EQUAL_FATAL(
	    db_prepare(db, "ins", "INSERT INTO t VALUES ($1)", 1), OK);

	memset(&t, 0, sizeof(t));
	t.value = "committed";
	CU_ASSERT_EQUAL(db_tx(db, test_tx_fn, &t), OK);
	CU_ASSERT_EQUAL(test_long(db, "SELECT count(*) FROM t", 0, NULL), 1);

	/* The callback's error rolls back and comes back unchanged. */
	memset(&t, 0, sizeof(t));
	t.value = "rolled back";
	t.ret = ERR_INVALID;
	CU_ASSERT_EQUAL(db_tx(db, test_tx_fn, &t), ERR_INVALID);
	CU_ASSERT_EQUAL(t.calls, 1);
	CU_ASSERT_EQUAL(test_long(db, "SELECT count(*) FROM t", 0, NULL), 1);

	/* An SQL error the callback ignored still aborts the transaction. */
	memset(&t, 0, sizeof(t));
	t.value = "swallowed";
	t.swallow = true;
	CU_ASSERT_EQUAL(db_tx(db, test_tx_fn, &t), ERR_DB);
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "25P02");
	CU_ASSERT_EQUAL(test_long(db, "SELECT count(*) FROM t", 0, NULL), 1);

	/* Serialization failures are retried: third time lucky. */
	memset(&t, 0, sizeof(t));
	t.value = "retried";
	t.fail_until = 3;
	CU_ASSERT_EQUAL(db_tx(db, test_tx_fn, &t), OK);
	CU_ASSERT_EQUAL(t.calls, 3);
	CU_ASSERT_EQUAL(test_long(db, "SELECT count(*) FROM t", 0, NULL), 2);

	/* ... but not forever: one try and three retries. */
	memset(&t, 0, sizeof(t));
	t.value = "never";
	t.fail_until = 100;
	CU_ASSERT_EQUAL(db_tx(db, test_tx_fn, &t), ERR_DB);
	CU_ASSERT_EQUAL(t.calls, 4);
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "40001");
	CU_ASSERT_EQUAL(test_long(db, "SELECT count(*) FROM t", 0, NULL), 2);
	db_free(db);
}

static berr
test_nested_fn(struct db *db, void *arg)
{
	struct test_tx *t = arg;

	return db_tx(db, test_tx_fn, t);
}

static void
test_tx_nested(void)
{
	struct db *db = test_db_fresh();
	struct test_tx t;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	memset(&t, 0, sizeof(t));
	CU_ASSERT_EQUAL(db_tx(db, test_nested_fn, &t), ERR_INTERNAL);
	CU_ASSERT_EQUAL(t.calls, 0);
	db_free(db);
}

static int
test_backend_pid(struct db *db)
{
	return (int)test_long(db, "SELECT pg_backend_pid()", 0, NULL);
}

/* Terminates a backend from the admin connection and waits until it is gone. */
static void
test_kill_backend(int pid)
{
	char buf[16];
	const char *vals[1] = { buf };
	int i;

	snprintf(buf, sizeof(buf), "%d", pid);
	CU_ASSERT_EQUAL(
	    test_long(test_admin, "SELECT pg_terminate_backend($1::int)::int",
	        1, vals),
	    1);
	for (i = 0; i < 50; i++) {
		if (test_long(test_admin,
		        "SELECT count(*) FROM pg_stat_activity WHERE pid = "
		        "$1::int",
		        1, vals) == 0)
			return;
		usleep(100 * 1000);
	}
	CU_FAIL("backend did not go away");
}

static void
test_reconnect(void)
{
	struct db *db = test_db_fresh();
	PGresult *res = NULL;
	struct test_tx t;
	int pid1, pid2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL_FATAL(
	    db_prepare(db, "pid", "SELECT pg_backend_pid() AS pid", 0), OK);
	CU_ASSERT_EQUAL_FATAL(db_exec(db, "pid", 0, NULL, &res), OK);
	pid1 = atoi(PQgetvalue(res, 0, PQfnumber(res, "pid")));
	PQclear(res);
	res = NULL;

	/* Outside a transaction: reconnected, re-prepared, retried unseen. */
	test_kill_backend(pid1);
	CU_ASSERT_EQUAL(db_exec(db, "pid", 0, NULL, &res), OK);
	if (res != NULL) {
		pid2 = atoi(PQgetvalue(res, 0, PQfnumber(res, "pid")));
		CU_ASSERT(pid2 > 0 && pid2 != pid1);
		PQclear(res);
	}

	/* Inside one: the work is lost, so is the call; never retried. */
	CU_ASSERT_EQUAL_FATAL(
	    db_exec_sql(db, "CREATE TABLE t (v text)", 0, NULL, NULL), OK);
	CU_ASSERT_EQUAL_FATAL(
	    db_prepare(db, "ins", "INSERT INTO t VALUES ($1)", 1), OK);
	memset(&t, 0, sizeof(t));
	t.value = "lost";
	t.kill_pid = test_backend_pid(db);
	CU_ASSERT_EQUAL(db_tx(db, test_tx_fn, &t), ERR_DB_DOWN);
	CU_ASSERT_EQUAL(t.calls, 1);
	/* And the next call finds a new connection. */
	CU_ASSERT_EQUAL(test_long(db, "SELECT count(*) FROM t", 0, NULL), 0);
	CU_ASSERT_NOT_EQUAL(test_backend_pid(db), t.kill_pid);
	db_free(db);
}

static void
test_unreachable(void)
{
	struct db *db = db_new("host=/nonexistent dbname=berth", 2);
	PGresult *res = (PGresult *)1;
	double t0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	t0 = test_now();
	CU_ASSERT_EQUAL(
	    db_exec_sql(db, "SELECT 1", 0, NULL, &res), ERR_DB_DOWN);
	CU_ASSERT_PTR_NULL(res);
	CU_ASSERT_EQUAL(db_prepare(db, "one", "SELECT 1", 0), OK);
	CU_ASSERT_EQUAL(db_exec(db, "one", 0, NULL, &res), ERR_DB_DOWN);
	CU_ASSERT_EQUAL(db_connect(db), ERR_DB_DOWN);
	CU_ASSERT_PTR_NULL(db_conn(db));
	CU_ASSERT(test_now() - t0 < 2.0);
	db_free(db);
}

/*
 * A server that accepts TCP connections and never answers (a listening
 * socket nobody accepts on): the connect must give up after
 * connect_timeout, and for a second after that, calls must fail at once
 * instead of waiting again.
 */
static void
test_never_hang(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct db *db = NULL;
	char conninfo[128];
	double t0, t1;
	int s;

	CU_ASSERT_FATAL((s = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(s, 8) == -1 ||
	    getsockname(s, (struct sockaddr *)&sa, &len) == -1) {
		CU_FAIL("cannot listen on loopback");
		goto out;
	}
	snprintf(conninfo, sizeof(conninfo),
	    "host=127.0.0.1 port=%d dbname=berth sslmode=disable",
	    ntohs(sa.sin_port));
	if ((db = db_new(conninfo, 2)) == NULL) {
		CU_FAIL("db_new");
		goto out;
	}
	t0 = test_now();
	CU_ASSERT_EQUAL(db_connect(db), ERR_DB_DOWN);
	t1 = test_now();
	/* libpq counts whole seconds: a timeout of 2 waits 1 to 2 s. */
	CU_ASSERT(t1 - t0 >= 0.9 && t1 - t0 < 5.0);
	/* Rate limited: no new attempt within the second. */
	CU_ASSERT_EQUAL(
	    db_exec_sql(db, "SELECT 1", 0, NULL, NULL), ERR_DB_DOWN);
	CU_ASSERT(test_now() - t1 < 0.5);
	/* After it, a real attempt again. */
	usleep(1100 * 1000);
	t0 = test_now();
	CU_ASSERT_EQUAL(db_connect(db), ERR_DB_DOWN);
	CU_ASSERT(test_now() - t0 >= 0.9);
out:
	db_free(db);
	close(s);
}

/*
 * Runs fn with stderr captured into buf, and the log at DEBUG so that every
 * line db.c might write is seen.
 */
static void
test_capture_stderr(
    void (*fn)(const char *), const char *arg, char *buf, size_t size)
{
	char path[] = "/tmp/berth-test-log.XXXXXX";
	enum log_level lvl = log_get_level();
	int fd, saved;
	ssize_t n;

	buf[0] = '\0';
	if ((fd = mkstemp(path)) == -1)
		return;
	unlink(path);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	log_set_level(LOG_LVL_DEBUG);
	fn(arg);
	log_set_level(lvl);
	dup2(saved, STDERR_FILENO);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

static void
test_try_conninfo(const char *conninfo)
{
	struct db *db = db_new(conninfo, 2);

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(
	    db_exec_sql(db, "SELECT 1", 0, NULL, NULL), ERR_DB_DOWN);
	db_free(db);
}

static void
test_no_secret_logged(void)
{
	char buf[8192];

	/* Malformed: libpq's own message would quote the password. */
	test_capture_stderr(test_try_conninfo,
	    "host=/nonexistent password 'Sekr1tPw' dbname=x", buf, sizeof(buf));
	CU_ASSERT(strstr(buf, "Sekr1tPw") == NULL);
	CU_ASSERT(strstr(buf, "malformed") != NULL);
	test_capture_stderr(test_try_conninfo,
	    "postgresql://u:Sekr1tPw@/x?host=/nonexistent", buf, sizeof(buf));
	CU_ASSERT(strstr(buf, "Sekr1tPw") == NULL);
	CU_ASSERT(strstr(buf, "cannot connect") != NULL);
}

/* ---- migrate.c --------------------------------------------------------- */

static void
test_migrate_fresh(void)
{
	struct db *db = test_db_fresh();
	int applied = -1, nfiles = test_count_sql(), i;
	char err[512];

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_FATAL(nfiles >= 1);
	CU_ASSERT_EQUAL(migrate_pending(db, migrate_default_dir()), nfiles);
	CU_ASSERT_EQUAL(
	    migrate_run(db, migrate_default_dir(), &applied, err, sizeof(err)),
	    OK);
	CU_ASSERT_EQUAL(applied, nfiles);
	for (i = 0; test_tables[i] != NULL; i++)
		CU_ASSERT(test_table_exists(db, test_tables[i]));
	CU_ASSERT_EQUAL(
	    test_long(db,
	        "SELECT count(*) FROM schema_migrations WHERE checksum ~ "
	        "'^[0-9a-f]{64}$' AND name LIKE '%.sql'",
	        0, NULL),
	    nfiles);
	CU_ASSERT_EQUAL(migrate_pending(db, migrate_default_dir()), 0);

	/* Again: nothing to do, and not an error. */
	applied = -1;
	CU_ASSERT_EQUAL(
	    migrate_run(db, migrate_default_dir(), &applied, err, sizeof(err)),
	    OK);
	CU_ASSERT_EQUAL(applied, 0);
	CU_ASSERT_EQUAL(
	    test_long(db, "SELECT count(*) FROM schema_migrations", 0, NULL),
	    nfiles);

	/* The advisory lock was released: another session can take it. */
	CU_ASSERT_EQUAL(
	    test_long(db,
	        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = "
	        "l.database WHERE l.locktype = 'advisory' AND d.datname = "
	        "current_database()",
	        0, NULL),
	    0);
	db_free(db);
}

/* A few constraints of 001 that the code relies on, seen to hold. */
static void
test_schema_constraints(void)
{
	struct db *db = test_db_fresh();
	int applied;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL_FATAL(
	    migrate_run(db, migrate_default_dir(), &applied, NULL, 0), OK);
	CU_ASSERT_EQUAL(
	    db_exec_sql(db, "INSERT INTO users (username) VALUES ('alice')", 0,
	        NULL, NULL),
	    OK);
	CU_ASSERT_EQUAL(
	    db_exec_sql(db, "INSERT INTO users (username) VALUES ('alice')", 0,
	        NULL, NULL),
	    ERR_DB);
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "23505");
	/* A digest is 32 bytes, never a token in the clear. */
	CU_ASSERT_EQUAL(db_exec_sql(db,
	                    "INSERT INTO api_keys (user_id, key_digest, "
	                    "key_prefix) SELECT id, 'sk-plain'::bytea, 'sk-' "
	                    "FROM users",
	                    0, NULL, NULL),
	    ERR_DB);
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "23514");
	CU_ASSERT_EQUAL(
	    db_exec_sql(db,
	        "INSERT INTO runs (agent_name, environment, source, status) "
	        "VALUES ('a', 'dev', 'cli', 'done')",
	        0, NULL, NULL),
	    ERR_DB);
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "23514");
	CU_ASSERT_EQUAL(db_exec_sql(db,
	                    "INSERT INTO runs (agent_name, environment, "
	                    "source) VALUES ('a', 'dev', 'cli')",
	                    0, NULL, NULL),
	    OK);
	/* A finished run has finished_at; a failed one an error. */
	CU_ASSERT_EQUAL(db_exec_sql(db,
	                    "UPDATE runs SET status = 'failed', finished_at = "
	                    "now()",
	                    0, NULL, NULL),
	    ERR_DB);
	CU_ASSERT_EQUAL(db_exec_sql(db,
	                    "UPDATE runs SET status = 'failed', finished_at = "
	                    "now(), error = 'x'",
	                    0, NULL, NULL),
	    OK);
	/* Outbox rows pin their run. */
	CU_ASSERT_EQUAL(db_exec_sql(db,
	                    "INSERT INTO lighthouse_outbox (run_id) SELECT id "
	                    "FROM runs",
	                    0, NULL, NULL),
	    OK);
	CU_ASSERT_EQUAL(
	    db_exec_sql(db, "DELETE FROM runs", 0, NULL, NULL), ERR_DB);
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "23503");
	/* The audit log is append-only and its chain cannot fork. */
	CU_ASSERT_EQUAL(
	    db_exec_sql(db,
	        "INSERT INTO audit_log (action, success, row_hash) VALUES "
	        "('login', true, sha256('a'))",
	        0, NULL, NULL),
	    OK);
	CU_ASSERT_EQUAL(db_exec_sql(db, "UPDATE audit_log SET success = false",
	                    0, NULL, NULL),
	    ERR_DB);
	CU_ASSERT_EQUAL(
	    db_exec_sql(db,
	        "INSERT INTO audit_log (action, success, row_hash) VALUES "
	        "('login', true, sha256('b'))",
	        0, NULL, NULL),
	    ERR_DB);
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "23505");
	db_free(db);
}

/*
 * Two processes, each with its own connection, run the migrations on one
 * fresh database at the same moment: one applies them all, the other waits
 * for the lock and finds nothing to do; both succeed.
 */
static void
test_migrate_concurrent(void)
{
	char *url = test_fresh_db();
	int nfiles = test_count_sql(), gate[2], i, st, exits[2];
	pid_t kids[2];
	struct db *db;
	char c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(url);
	CU_ASSERT_FATAL(pipe(gate) == 0);
	fflush(NULL);
	for (i = 0; i < 2; i++) {
		if ((kids[i] = fork()) == 0) {
			int applied = -1;
			berr rc;

			close(gate[1]);
			db = db_new(url, 5);
			if (db == NULL || db_connect(db) != OK)
				_exit(1);
			/* Both connected; wait until both may start. */
			if (read(gate[0], &c, 1) != 0)
				_exit(1);
			rc = migrate_run(
			    db, migrate_default_dir(), &applied, NULL, 0);
			db_free(db);
			free(url);
			if (rc != OK)
				_exit(2);
			_exit(applied == 0 ? 10 : applied == nfiles ? 11 : 3);
		}
	}
	close(gate[0]);
	usleep(300 * 1000);
	close(gate[1]); /* EOF releases both */
	for (i = 0; i < 2; i++) {
		exits[i] = -1;
		if (kids[i] > 0 && waitpid(kids[i], &st, 0) == kids[i] &&
		    WIFEXITED(st))
			exits[i] = WEXITSTATUS(st);
	}
	CU_ASSERT((exits[0] == 10 && exits[1] == 11) ||
	    (exits[0] == 11 && exits[1] == 10));
	if ((db = db_new(url, 5)) != NULL) {
		CU_ASSERT_EQUAL(
		    test_long(
		        db, "SELECT count(*) FROM schema_migrations", 0, NULL),
		    nfiles);
		CU_ASSERT_EQUAL(test_long(db,
		                    "SELECT count(DISTINCT version) FROM "
		                    "schema_migrations",
		                    0, NULL),
		    nfiles);
		db_free(db);
	}
	free(url);
}

static void
test_migrate_checksum(void)
{
	struct db *db = test_db_fresh();
	char dir[64], err[512], path[512];
	int applied, n;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_FATAL(test_mkdtemp(dir));
	n = test_copy_sql(dir);
	CU_ASSERT(n >= 1);
	CU_ASSERT_EQUAL(migrate_run(db, dir, &applied, err, sizeof(err)), OK);
	CU_ASSERT_EQUAL(applied, n);
	/* One byte more in an applied file. */
	snprintf(path, sizeof(path), "%s/001_schema.sql", dir);
	if ((f = fopen(path, "a")) != NULL) {
		fputs("\n", f);
		fclose(f);
	}
	CU_ASSERT_EQUAL(
	    migrate_run(db, dir, &applied, err, sizeof(err)), ERR_CONFLICT);
	CU_ASSERT_EQUAL(applied, 0);
	CU_ASSERT(strstr(err, "001_schema.sql") != NULL);
	CU_ASSERT_EQUAL(migrate_pending(db, dir), -1);
	test_rmdir(dir);
	db_free(db);
}

/* Each folder is refused before anything reaches the database. */
static void
test_migrate_bad_names(void)
{
	static const struct {
		const char *files[3];
		berr rc;
		const char *named;
	} cases[] = {
		{ { "abc.sql" }, ERR_INVALID, "abc.sql" },
		{ { "001-x.sql" }, ERR_INVALID, "001-x.sql" },
		{ { "001_.sql" }, ERR_INVALID, "001_.sql" },
		{ { "0_zero.sql" }, ERR_INVALID, "0_zero.sql" },
		{ { "1234567890_big.sql" }, ERR_INVALID, "1234567890_big.sql" },
		{ { "001_a b.sql" }, ERR_INVALID, "001_a b.sql" },
		{ { "001_a.sql", "1_b.sql" }, ERR_INVALID, "1_b.sql" },
	};
	struct db *db = test_db_fresh();
	char dir[64], err[512];
	size_t i, j;
	int applied;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_FATAL(test_mkdtemp(dir));
		for (j = 0; j < 3 && cases[i].files[j] != NULL; j++)
			CU_ASSERT(test_writes(dir, cases[i].files[j],
			    "CREATE TABLE never (a int);\n"));
		err[0] = '\0';
		CU_ASSERT_EQUAL(
		    migrate_run(db, dir, &applied, err, sizeof(err)),
		    cases[i].rc);
		CU_ASSERT(strstr(err, cases[i].named) != NULL);
		CU_ASSERT_EQUAL(migrate_pending(db, dir), -1);
		test_rmdir(dir);
	}
	CU_ASSERT(!test_table_exists(db, "schema_migrations"));
	CU_ASSERT(!test_table_exists(db, "never"));

	/* Not migrations at all: ignored. */
	CU_ASSERT_FATAL(test_mkdtemp(dir));
	CU_ASSERT(test_writes(dir, "README", "not sql\n"));
	CU_ASSERT(test_writes(dir, ".001_hidden.sql", "broken\n"));
	CU_ASSERT(test_writes(dir, "001_a.sql~", "broken\n"));
	CU_ASSERT(test_writes(dir, "001_a.sql", "CREATE TABLE a (x int);\n"));
	CU_ASSERT_EQUAL(migrate_run(db, dir, &applied, err, sizeof(err)), OK);
	CU_ASSERT_EQUAL(applied, 1);
	test_rmdir(dir);

	CU_ASSERT_EQUAL(
	    migrate_run(db, "/nonexistent/sql", &applied, err, sizeof(err)),
	    ERR_IO);
	CU_ASSERT(strstr(err, "/nonexistent/sql") != NULL);
	db_free(db);
}

static void
test_migrate_rollback(void)
{
	struct db *db = test_db_fresh();
	char dir[64], err[512];
	int applied = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_FATAL(test_mkdtemp(dir));
	CU_ASSERT(test_writes(dir, "001_ok.sql",
	    "CREATE TABLE ok1 (a int);\nINSERT INTO ok1 VALUES (1);\n"));
	CU_ASSERT(test_writes(dir, "002_broken.sql",
	    "CREATE TABLE partial2 (a int);\n"
	    "INSERT INTO partial2 VALUES (1);\n"
	    "SELECT * FROM no_such_table;\n"
	    "CREATE TABLE after2 (a int);\n"));
	CU_ASSERT_EQUAL(
	    migrate_run(db, dir, &applied, err, sizeof(err)), ERR_DB);
	CU_ASSERT_EQUAL(applied, 1);
	/* Named, with the line of the failing statement and the SQLSTATE. */
	CU_ASSERT(strstr(err, "002_broken.sql:3:") != NULL);
	CU_ASSERT(strstr(err, "42P01") != NULL);
	CU_ASSERT_EQUAL(test_long(db,
	                    "SELECT count(*) FROM schema_migrations WHERE "
	                    "version = 1",
	                    0, NULL),
	    1);
	CU_ASSERT_EQUAL(
	    test_long(db, "SELECT count(*) FROM schema_migrations", 0, NULL),
	    1);
	CU_ASSERT(test_table_exists(db, "ok1"));
	CU_ASSERT(!test_table_exists(db, "partial2"));
	CU_ASSERT(!test_table_exists(db, "after2"));
	CU_ASSERT_EQUAL(migrate_pending(db, dir), 1);

	/* Never applied, so it may be fixed; then it goes in. */
	CU_ASSERT(test_writes(
	    dir, "002_broken.sql", "CREATE TABLE partial2 (a int);\n"));
	CU_ASSERT_EQUAL(migrate_run(db, dir, &applied, err, sizeof(err)), OK);
	CU_ASSERT_EQUAL(applied, 1);
	CU_ASSERT(test_table_exists(db, "partial2"));

	/* A file that commits by itself would escape its transaction. */
	CU_ASSERT(test_writes(
	    dir, "003_commit.sql", "CREATE TABLE c3 (a int);\nCOMMIT;\n"));
	CU_ASSERT_EQUAL(
	    migrate_run(db, dir, &applied, err, sizeof(err)), ERR_INVALID);
	CU_ASSERT(strstr(err, "003_commit.sql") != NULL);
	CU_ASSERT_EQUAL(
	    test_long(
	        db, "SELECT max(version) FROM schema_migrations", 0, NULL),
	    2);
	test_rmdir(dir);
	db_free(db);
}

static void
test_migrate_order_and_limits(void)
{
	struct db *db = test_db_fresh();
	char dir[64], err[512], *big;
	int applied;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_FATAL(test_mkdtemp(dir));
	CU_ASSERT(test_writes(dir, "002_b.sql", "CREATE TABLE b (x int);\n"));
	CU_ASSERT_EQUAL(migrate_run(db, dir, &applied, err, sizeof(err)), OK);
	/* Added later with a lower number: would run out of order. */
	CU_ASSERT(test_writes(dir, "001_a.sql", "CREATE TABLE a (x int);\n"));
	CU_ASSERT_EQUAL(
	    migrate_run(db, dir, &applied, err, sizeof(err)), ERR_CONFLICT);
	CU_ASSERT(strstr(err, "001_a.sql") != NULL);
	CU_ASSERT(!test_table_exists(db, "a"));
	test_rmdir(dir);

	/* Bigger than the cap. */
	CU_ASSERT_FATAL(test_mkdtemp(dir));
	if ((big = malloc(LIMIT_MIGRATION_BYTES + 2)) != NULL) {
		memset(big, ' ', LIMIT_MIGRATION_BYTES + 1);
		CU_ASSERT(test_write(
		    dir, "003_big.sql", big, LIMIT_MIGRATION_BYTES + 1));
		free(big);
	}
	CU_ASSERT_EQUAL(
	    migrate_run(db, dir, &applied, err, sizeof(err)), ERR_TOO_BIG);
	CU_ASSERT(strstr(err, "003_big.sql") != NULL);
	test_rmdir(dir);

	/* A NUL byte would cut the file short unseen. */
	CU_ASSERT_FATAL(test_mkdtemp(dir));
	CU_ASSERT(
	    test_write(dir, "003_nul.sql", "SELECT 1;\0DROP TABLE b;", 23));
	CU_ASSERT_EQUAL(
	    migrate_run(db, dir, &applied, err, sizeof(err)), ERR_INVALID);
	CU_ASSERT(strstr(err, "003_nul.sql") != NULL);
	test_rmdir(dir);
	CU_ASSERT(test_table_exists(db, "b"));
	db_free(db);
}

static void
test_migrate_default_dir(void)
{
	char *saved = getenv("BERTH_SQL_DIR");

	if (saved != NULL && (saved = strdup(saved)) == NULL)
		return;
	setenv("BERTH_SQL_DIR", "/somewhere/sql", 1);
	CU_ASSERT_STRING_EQUAL(migrate_default_dir(), "/somewhere/sql");
	unsetenv("BERTH_SQL_DIR");
	CU_ASSERT_STRING_EQUAL(migrate_default_dir(), BERTH_PKGDATADIR "/sql");
	setenv("BERTH_SQL_DIR", "", 1);
	CU_ASSERT_STRING_EQUAL(migrate_default_dir(), BERTH_PKGDATADIR "/sql");
	if (saved != NULL)
		setenv("BERTH_SQL_DIR", saved, 1);
	else
		unsetenv("BERTH_SQL_DIR");
	free(saved);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "db", "prepared statements and parameters", test_prepared },
		{ "db", "SQL errors carry their SQLSTATE", test_sql_error },
		{ "db", "db_tx commits, rolls back, retries", test_tx },
		{ "db", "db_tx refuses nesting", test_tx_nested },
		{ "db", "lost connection: retried outside a tx only",
		    test_reconnect },
		{ "db", "unreachable database fails fast", test_unreachable },
		{ "db", "silent server: connect_timeout and rate limit",
		    test_never_hang },
		{ "db", "no password in the logs", test_no_secret_logged },
		{ "migrate", "apply on an empty database, then again",
		    test_migrate_fresh },
		{ "migrate", "001 constraints hold", test_schema_constraints },
		{ "migrate", "two processes at once", test_migrate_concurrent },
		{ "migrate", "edited applied file is refused",
		    test_migrate_checksum },
		{ "migrate", "bad file names are refused",
		    test_migrate_bad_names },
		{ "migrate", "failing migration is rolled back",
		    test_migrate_rollback },
		{ "migrate", "out of order, too big, NUL byte",
		    test_migrate_order_and_limits },
		{ "migrate", "default folder", test_migrate_default_dir },
	};
	int status;

	if ((test_admin_url = getenv("DATABASE_URL")) == NULL ||
	    *test_admin_url == '\0') {
		fprintf(stderr, "test_db: DATABASE_URL not set; skipped\n");
		return 77;
	}
	log_init("test_db", LOG_LVL_WARN);
	/* A failed test must not leave a child writing into a closed pipe. */
	signal(SIGPIPE, SIG_IGN);
	if ((test_admin = db_new(test_admin_url, 5)) == NULL ||
	    db_connect(test_admin) != OK) {
		fprintf(stderr, "test_db: cannot connect to DATABASE_URL\n");
		db_free(test_admin);
		return 1;
	}
	status = unit_run(tests, UNIT_COUNT(tests));
	test_drop_dbs();
	db_free(test_admin);
	return status;
}
