/*
 * test_authcache.c - CUnit suite for shared/authcache.c against a real
 * PostgreSQL with migration 009: registration, what matches an entry, a
 * notification empties the cache and is acknowledged, a lookup overtaken
 * by a notification is not kept, the barrier, an unacknowledged lease
 * waited out, agent listings, a lost connection, the cache turned off.
 *
 * Two connections: test_db plays the berth-fcgi worker (the cache is this
 * process's), other_db the admin who changes things. Needs a migrated
 * database in DATABASE_URL (tests/unit/test_authcache.sh); without one the
 * program exits 77, "skipped" to automake.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "authcache.h"
#include "db.h"
#include "log.h"
#include "unit.h"

static struct db *test_db;
static struct db *other_db;

/* The first column of the first row of sql run on db ("" on error). */
static const char *
test_str(struct db *db, const char *sql)
{
	static char buf[256];
	PGresult *res = NULL;

	buf[0] = '\0';
	if (db_exec_sql(db, sql, 0, NULL, &res) == OK && PQntuples(res) > 0 &&
	    !PQgetisnull(res, 0, 0))
		snprintf(buf, sizeof(buf), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return buf;
}

/* Waits (5 s at most) until the worker's connection has something to
 * read, then syncs: what a berth-fcgi worker does while idle. */
static void
test_wait_sync(void)
{
	struct pollfd p = { .fd = authcache_fd(test_db), .events = POLLIN };

	CU_ASSERT_TRUE(p.fd >= 0);
	if (p.fd >= 0)
		CU_ASSERT_EQUAL(poll(&p, 1, 5000), 1);
	authcache_readable(test_db);
}

/* A change the auth triggers announce, made on the admin's connection. */
static void
test_change(void)
{
	CU_ASSERT_EQUAL(db_exec_sql(other_db,
	                    "UPDATE users SET email = email WHERE username = "
	                    "'cache-u'",
	                    0, NULL, NULL),
	    OK);
}

static struct principal test_p;
static const unsigned char test_d1[32] = { 1, 2, 3 };
static const unsigned char test_d2[32] = { 1, 2, 4 };

static void
test_setup_user(void)
{
	CU_ASSERT_EQUAL(
	    db_exec_sql(other_db,
	        "INSERT INTO users (username, email) VALUES "
	        "('cache-u', 'u@example.com') ON CONFLICT DO NOTHING",
	        0, NULL, NULL),
	    OK);
	memset(&test_p, 0, sizeof(test_p));
	test_p.user_id = 7;
	snprintf(test_p.username, sizeof(test_p.username), "cache-u");
	test_p.method = AUTH_API_KEY;
}

static void
test_register(void)
{
	char sql[160];

	test_setup_user();
	authcache_enable(10);
	CU_ASSERT_TRUE(authcache_enabled());
	authcache_sync(test_db);
	snprintf(sql, sizeof(sql),
	    "SELECT (acked = (SELECT gen FROM auth_epoch) AND lease_until > "
	    "now() + interval '8 s')::text FROM auth_caches WHERE holder = "
	    "pg_backend_pid()");
	CU_ASSERT_STRING_EQUAL(test_str(test_db, sql), "true");
}

static void
test_match(void)
{
	struct principal out;
	unsigned long mark = authcache_mark();

	authcache_put(
	    test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &test_p, 30, mark);
	CU_ASSERT_TRUE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &out));
	CU_ASSERT_STRING_EQUAL(out.username, "cache-u");
	CU_ASSERT_EQUAL(out.user_id, 7);
	/* Another address, kind or digest: a miss. */
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, "127.0.0.2", &out));
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, NULL, &out));
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_SESSION, test_d1, "127.0.0.1", &out));
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_API_KEY, test_d2, "127.0.0.1", &out));
	/* A ttl of 0 (expired key, touch due): not kept. */
	authcache_put(test_db, AUTH_API_KEY, test_d2, "127.0.0.1", &test_p, 0,
	    authcache_mark());
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_API_KEY, test_d2, "127.0.0.1", &out));
	/* An address too long for an entry: answered, not kept. */
	authcache_put(test_db, AUTH_API_KEY, test_d2,
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    &test_p, 30, authcache_mark());
	CU_ASSERT_FALSE(authcache_get(test_db, AUTH_API_KEY, test_d2,
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    &out));
}

static void
test_notify(void)
{
	struct principal out;
	unsigned long mark;

	authcache_put(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &test_p, 30,
	    authcache_mark());
	mark = authcache_mark(); /* a lookup starts */
	test_change();
	test_wait_sync();
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &out));
	/* The lookup that started before the notification: not kept. */
	authcache_put(
	    test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &test_p, 30, mark);
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &out));
	/* Acknowledged: the barrier on the admin's side returns at once. */
	CU_ASSERT_STRING_EQUAL(test_str(test_db,
	                           "SELECT (acked = (SELECT gen FROM "
	                           "auth_epoch))::text FROM auth_caches WHERE "
	                           "holder = pg_backend_pid()"),
	    "true");
	CU_ASSERT_STRING_EQUAL(
	    test_str(other_db, "SELECT berth_auth_barrier(30)::text"), "true");
}

/* A payload that is no number still empties the cache; a barrier asked
 * inside a transaction is refused (it would wait for its own change). */
static void
test_bad_input(void)
{
	struct principal out;

	authcache_put(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &test_p, 30,
	    authcache_mark());
	CU_ASSERT_EQUAL(db_exec_sql(other_db,
	                    "NOTIFY berth_auth, 'not-a-number'", 0, NULL, NULL),
	    OK);
	test_wait_sync();
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &out));
	CU_ASSERT_EQUAL(db_exec_sql(other_db, "BEGIN", 0, NULL, NULL), OK);
	CU_ASSERT_EQUAL(authcache_barrier(other_db), ERR_INTERNAL);
	CU_ASSERT_EQUAL(db_exec_sql(other_db, "ROLLBACK", 0, NULL, NULL), OK);
}

static void
test_barrier_waits(void)
{
	struct principal out;
	char sql[128];

	/* A 1 s lease, a change the worker does not read: the barrier can
	 * only end by the lease running out. */
	authcache_enable(1);
	authcache_sync(test_db);
	authcache_put(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &test_p, 30,
	    authcache_mark());
	test_change();
	CU_ASSERT_STRING_EQUAL(
	    test_str(other_db, "SELECT berth_auth_barrier(30)::text"), "true");
	snprintf(sql, sizeof(sql),
	    "SELECT (lease_until <= clock_timestamp() AND acked < (SELECT gen "
	    "FROM auth_epoch))::text FROM auth_caches");
	CU_ASSERT_STRING_EQUAL(test_str(other_db, sql), "true");
	/* The worker's own view of its lease ended before the database's. */
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &out));
	CU_ASSERT_EQUAL(authcache_agents_gen(), 0);
	authcache_enable(10);
	authcache_sync(test_db);
}

/*
 * A change whose notification has not come (late, or lost): the next
 * renewal reads the epoch, empties the cache and acknowledges it. With a
 * 1 s lease every sync renews.
 */
static void
test_epoch_ahead(void)
{
	struct principal out;

	authcache_enable(1);
	authcache_sync(test_db);
	authcache_put(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &test_p, 30,
	    authcache_mark());
	CU_ASSERT_TRUE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &out));
	CU_ASSERT_EQUAL(
	    db_exec_sql(
	        other_db, "UPDATE auth_epoch SET gen = gen + 1", 0, NULL, NULL),
	    OK);
	authcache_sync(test_db);
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &out));
	CU_ASSERT_STRING_EQUAL(test_str(test_db,
	                           "SELECT (acked = (SELECT gen FROM "
	                           "auth_epoch))::text FROM auth_caches WHERE "
	                           "holder = pg_backend_pid()"),
	    "true");
	authcache_enable(10);
	authcache_sync(test_db);
}

static void
test_agents(void)
{
	unsigned long g = authcache_agents_gen();

	CU_ASSERT_NOT_EQUAL(g, 0);
	CU_ASSERT_EQUAL(db_exec_sql(other_db,
	                    "INSERT INTO agents (environment, name, template) "
	                    "VALUES ('default', 'cache-a', 'x')",
	                    0, NULL, NULL),
	    OK);
	test_wait_sync();
	CU_ASSERT_NOT_EQUAL(authcache_agents_gen(), g);
	CU_ASSERT_NOT_EQUAL(authcache_agents_gen(), 0);
}

static void
test_lost_connection(void)
{
	struct principal out;
	char sql[96];
	int i;

	authcache_put(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &test_p, 30,
	    authcache_mark());
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)::text",
	    test_str(test_db, "SELECT pg_backend_pid()"));
	CU_ASSERT_STRING_EQUAL(test_str(other_db, sql), "true");
	/* As the idle loop does: the socket stays readable until libpq has
	 * read the end of the connection. */
	for (i = 0; i < 3 && db_conn(test_db) != NULL; i++)
		test_wait_sync();
	CU_ASSERT_PTR_NULL(db_conn(test_db));
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &out));
	/* A new connection registers again at the next sync. */
	(void)!db_connect(test_db);
	authcache_sync(test_db);
	authcache_put(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &test_p, 30,
	    authcache_mark());
	CU_ASSERT_TRUE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &out));
}

static void
test_release_off(void)
{
	struct principal out;

	authcache_release(test_db);
	CU_ASSERT_STRING_EQUAL(test_str(test_db,
	                           "SELECT count(*) FROM auth_caches WHERE "
	                           "holder = pg_backend_pid()"),
	    "0");
	authcache_enable(0);
	CU_ASSERT_FALSE(authcache_enabled());
	authcache_sync(test_db);
	authcache_put(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &test_p, 30,
	    authcache_mark());
	CU_ASSERT_FALSE(
	    authcache_get(test_db, AUTH_API_KEY, test_d1, "127.0.0.1", &out));
	CU_ASSERT_EQUAL(authcache_agents_gen(), 0);
	CU_ASSERT_EQUAL(authcache_fd(test_db), -1);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "authcache", "a worker registers: LISTEN and a lease",
		    test_register },
		{ "authcache", "an entry matches digest, kind and address",
		    test_match },
		{ "authcache", "a notification empties, and is acknowledged",
		    test_notify },
		{ "authcache",
		    "a malformed payload, a barrier inside a transaction",
		    test_bad_input },
		{ "authcache", "the barrier waits out an unacknowledged lease",
		    test_barrier_waits },
		{ "authcache",
		    "an epoch ahead of the notifications empties the cache",
		    test_epoch_ahead },
		{ "authcache", "agent listings follow berth_agents",
		    test_agents },
		{ "authcache", "a lost connection drops the cache",
		    test_lost_connection },
		{ "authcache", "release, and the cache turned off",
		    test_release_off },
	};
	const char *url = getenv("DATABASE_URL");
	int status;

	if (url == NULL || *url == '\0') {
		fprintf(
		    stderr, "test_authcache: DATABASE_URL not set; skipped\n");
		return 77;
	}
	log_init("test_authcache", LOG_LVL_ERROR);
	test_db = db_new(url, 5);
	other_db = db_new(url, 5);
	if (test_db == NULL || other_db == NULL || db_connect(test_db) != OK ||
	    db_connect(other_db) != OK) {
		fprintf(
		    stderr, "test_authcache: cannot connect to DATABASE_URL\n");
		db_free(test_db);
		db_free(other_db);
		return 1;
	}
	status = unit_run(tests, UNIT_COUNT(tests));
	db_free(test_db);
	db_free(other_db);
	return status;
}
