/*
 * authcache.c - a worker's credential cache with NOTIFY and leases. See
 * authcache.h for the rule; sql/009_auth_cache.sql for the other half.
 *
 * Times are CLOCK_MONOTONIC in milliseconds. The lease this worker trusts
 * ends AUTHCACHE_MARGIN_MS before the one PostgreSQL records, counted from
 * before the statement that took it was sent: the database counts its
 * lease from now() inside that statement, later still.
 */
#include "authcache.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "apikey.h"
#include "clock.h"
#include "db.h"
#include "limit.h"
#include "log.h"
#include "parse.h"

#define AUTHCACHE_MARGIN_MS 500
/*
 * How often a busy worker reads its database socket for notifications.
 * Not a weakness: a revoker waits for this worker's acknowledgement, which
 * comes after the read, so this only bounds how much longer it waits
 * (authcache.h); it saves a system call on nearly every request.
 */
#define AUTHCACHE_READ_EVERY_MS 10
/* How often one sync may renew or acknowledge and read again. */
#define AUTHCACHE_ROUNDS 3

/*
 * Takes or renews this connection's lease and acknowledges $1 (NULL: the
 * epoch as it is now, for a new registration). Returns the acknowledged
 * number and the epoch: an epoch ahead of every notification heard means
 * one is late (or was lost), and the cache is emptied all the same.
 */
static const char authcache_sql_lease[] =
    "INSERT INTO auth_caches AS c (holder, acked, lease_until) "
    "VALUES (pg_backend_pid(), coalesce($1::bigint, "
    "(SELECT gen FROM auth_epoch)), now() + make_interval(secs => $2::int)) "
    "ON CONFLICT (holder) DO UPDATE SET acked = excluded.acked, "
    "lease_until = excluded.lease_until "
    "RETURNING acked, (SELECT gen FROM auth_epoch) AS gen";
static const char authcache_sql_release[] =
    "DELETE FROM auth_caches WHERE holder = pg_backend_pid()";
static const char authcache_sql_barrier[] =
    "SELECT berth_auth_barrier($1::float8)";

struct authcache_entry {
	bool used;
	enum auth_method method;
	unsigned char digest[APIKEY_DIGEST_LEN];
	char address[64];
	int64_t until;    /* ms: not served from here after */
	int64_t last_use; /* ms: for replacement */
	struct principal p;
};

static int authcache_lease_s;        /* 0: off */
static unsigned long authcache_conn; /* db_generation() registered on */
static long authcache_seen;          /* highest epoch notified */
static long authcache_acked;         /* highest epoch acknowledged */
static int64_t authcache_lease_end;  /* ms; 0: no lease */
static int64_t authcache_last_read;  /* ms: the socket last read */
static unsigned long authcache_marks = 1;
static unsigned long authcache_agents = 1;
static struct authcache_entry authcache_entries[LIMIT_AUTHCACHE_ENTRIES];

/* Forgets every entry, and that any lookup in flight may be kept. */
static void
authcache_flush(void)
{
	size_t i;

	for (i = 0; i < LIMIT_AUTHCACHE_ENTRIES; i++)
		authcache_entries[i].used = false;
	authcache_marks++;
	authcache_agents++;
}

/* No lease, no connection: nothing is trusted until the next sync. */
static void
authcache_drop(void)
{
	authcache_flush();
	authcache_lease_end = 0;
	authcache_conn = 0;
}

void
authcache_enable(int lease_s)
{
	authcache_lease_s = lease_s > 0 ? lease_s : 0;
	authcache_drop();
}

bool
authcache_enabled(void)
{
	return authcache_lease_s > 0;
}

/* Takes the lease (ack NULL: new registration) in one round trip. */
static berr
authcache_take_lease(struct db *db, const char *ack)
{
	char secs[16];
	const char *v[2] = { ack, secs };
	PGresult *res = NULL;
	int64_t sent = clock_ms();
	long acked = 0, gen = 0;
	berr rc;

	snprintf(secs, sizeof(secs), "%d", authcache_lease_s);
	if ((rc = db_prepare(db, "authcache_lease", authcache_sql_lease, 2)) !=
	        OK ||
	    (rc = db_exec(db, "authcache_lease", 2, v, &res)) != OK)
		goto out;
	if (PQntuples(res) != 1 || PQnfields(res) != 2 ||
	    parse_long(PQgetvalue(res, 0, 0), 0, LONG_MAX, &acked) != OK ||
	    parse_long(PQgetvalue(res, 0, 1), 0, LONG_MAX, &gen) != OK) {
		rc = ERR_DB;
		goto out;
	}
	/* A reconnect inside db_exec() took the lease on a connection that
	 * never said LISTEN: not a lease to trust. */
	if (db_generation(db) != authcache_conn) {
		rc = ERR_DB_DOWN;
		goto out;
	}
	if (acked > authcache_acked)
		authcache_acked = acked;
	if (acked > authcache_seen)
		authcache_seen = acked;
	/* A change committed that no notification told of yet: forget it
	 * all now; the caller's next round acknowledges gen. */
	if (gen > authcache_seen) {
		authcache_flush();
		authcache_seen = gen;
	}
	authcache_lease_end =
	    sent + (int64_t)authcache_lease_s * 1000 - AUTHCACHE_MARGIN_MS;
out:
	PQclear(res);
	return rc;
}

/* LISTENs on a new connection and takes a lease; OK or the error. */
static berr
authcache_register(struct db *db)
{
	berr rc;
	unsigned long gen;

	authcache_drop();
	if ((rc = db_exec_sql(db, "LISTEN berth_auth", 0, NULL, NULL)) != OK)
		return rc;
	gen = db_generation(db);
	if ((rc = db_exec_sql(db, "LISTEN berth_agents", 0, NULL, NULL)) != OK)
		return rc;
	if (db_generation(db) != gen)
		return ERR_DB_DOWN; /* reconnected between: the next sync */
	authcache_conn = gen;
	authcache_seen = authcache_acked = 0;
	if ((rc = authcache_take_lease(db, NULL)) != OK)
		authcache_drop();
	return rc;
}

/* Reads the notifications libpq holds; true when any was berth_auth. */
static bool
authcache_drain(PGconn *conn)
{
	PGnotify *n;
	bool auth = false;
	long g;

	while ((n = PQnotifies(conn)) != NULL) {
		if (strcmp(n->relname, "berth_auth") == 0) {
			auth = true;
			if (parse_long(n->extra, 0, LONG_MAX, &g) == OK &&
			    g > authcache_seen)
				authcache_seen = g;
		} else if (strcmp(n->relname, "berth_agents") == 0) {
			authcache_agents++;
		}
		PQfreemem(n);
	}
	if (auth)
		authcache_flush();
	return auth;
}

/*
 * authcache_sync() and authcache_readable(): force says to read the socket
 * now; otherwise a busy worker reads it at most every
 * AUTHCACHE_READ_EVERY_MS (what libpq already read along with an answer is
 * taken every time, without a system call).
 */
static void
authcache_sync_read(struct db *db, bool force)
{
	char ack[24];
	PGconn *conn;
	int64_t t;
	int round;

	if (authcache_lease_s == 0)
		return;
	if ((conn = db_conn(db)) == NULL ||
	    authcache_conn != db_generation(db)) {
		if (conn == NULL)
			authcache_drop();
		else
			(void)authcache_register(db);
		return;
	}
	t = clock_ms();
	if (force || t - authcache_last_read >= AUTHCACHE_READ_EVERY_MS) {
		if (!PQconsumeInput(conn)) {
			authcache_drop();
			return;
		}
		authcache_last_read = t;
	}
	for (round = 0; round < AUTHCACHE_ROUNDS; round++) {
		int64_t now;

		(void)authcache_drain(conn);
		now = clock_ms();
		if (now >= authcache_lease_end)
			authcache_flush(); /* the barrier no longer waits */
		if (authcache_seen <= authcache_acked &&
		    authcache_lease_end - now >
		        (int64_t)authcache_lease_s * 1000 / 2)
			return;
		snprintf(ack, sizeof(ack), "%ld", authcache_seen);
		if (authcache_take_lease(db, ack) != OK) {
			authcache_drop();
			return;
		}
		/* More may have come with the answer: read them too. */
		if ((conn = db_conn(db)) == NULL)
			return;
	}
}

void
authcache_sync(struct db *db)
{
	authcache_sync_read(db, false);
}

void
authcache_readable(struct db *db)
{
	authcache_sync_read(db, true);
}

int
authcache_fd(struct db *db)
{
	PGconn *conn;

	if (authcache_lease_s == 0 || (conn = db_conn(db)) == NULL)
		return -1;
	return PQsocket(conn);
}

/* Whether db is the registered connection and the lease still holds. */
static bool
authcache_live(struct db *db, int64_t now)
{
	return authcache_lease_s > 0 && authcache_conn != 0 &&
	    authcache_conn == db_generation(db) && now < authcache_lease_end;
}

static bool
authcache_match(const struct authcache_entry *e, enum auth_method m,
    const unsigned char *digest, const char *address)
{
	return e->used && e->method == m &&
	    CRYPTO_memcmp(e->digest, digest, APIKEY_DIGEST_LEN) == 0 &&
	    strcmp(e->address, address != NULL ? address : "") == 0;
}

bool
authcache_get(struct db *db, enum auth_method m, const unsigned char *digest,
    const char *address, struct principal *out)
{
	int64_t now = clock_ms();
	size_t i;

	if (!authcache_live(db, now))
		return false;
	for (i = 0; i < LIMIT_AUTHCACHE_ENTRIES; i++) {
		struct authcache_entry *e = &authcache_entries[i];

		if (!authcache_match(e, m, digest, address))
			continue;
		if (now >= e->until) {
			e->used = false;
			return false;
		}
		e->last_use = now;
		*out = e->p;
		return true;
	}
	return false;
}

unsigned long
authcache_mark(void)
{
	return authcache_marks;
}

bool
authcache_valid(struct db *db, unsigned long mark)
{
	return mark == authcache_marks && authcache_live(db, clock_ms());
}

void
authcache_put(struct db *db, enum auth_method m, const unsigned char *digest,
    const char *address, const struct principal *p, int ttl_s,
    unsigned long mark)
{
	struct authcache_entry *e = NULL;
	int64_t now = clock_ms();
	size_t i;

	if (ttl_s <= 0 || mark != authcache_marks || !authcache_live(db, now))
		return;
	if (address != NULL &&
	    strlen(address) >= sizeof(authcache_entries[0].address))
		return;
	/* The same credential, a free slot, else the least recently used. */
	for (i = 0; i < LIMIT_AUTHCACHE_ENTRIES; i++) {
		struct authcache_entry *c = &authcache_entries[i];

		if (authcache_match(c, m, digest, address) || !c->used) {
			e = c;
			break;
		}
		if (e == NULL || c->last_use < e->last_use)
			e = c;
	}
	e->used = true;
	e->method = m;
	memcpy(e->digest, digest, APIKEY_DIGEST_LEN);
	snprintf(e->address, sizeof(e->address), "%s",
	    address != NULL ? address : "");
	/* Counted from the mark's side: the lookup started before now. */
	e->until = now + (int64_t)ttl_s * 1000 - AUTHCACHE_MARGIN_MS;
	e->last_use = now;
	e->p = *p;
}

unsigned long
authcache_agents_gen(void)
{
	int64_t now = clock_ms();

	if (authcache_lease_s == 0 || authcache_conn == 0 ||
	    now >= authcache_lease_end)
		return 0;
	return authcache_agents;
}

berr
authcache_barrier(struct db *db)
{
	/* Leases are at most 60 s (auth.cache_lease); a worker of another
	 * config cannot hold one longer. */
	const char *v[1] = { "62" };
	PGconn *conn = db_conn(db);
	PGresult *res = NULL;
	berr rc;

	/* Inside the transaction that made the change, the barrier would
	 * wait for acknowledgements of something not yet committed. */
	if (conn != NULL && PQtransactionStatus(conn) != PQTRANS_IDLE) {
		log_error("auth: authcache_barrier() inside a transaction");
		return ERR_INTERNAL;
	}
	/* This process's own cache first: its notification is already
	 * here (PostgreSQL sends a session its own after the commit). */
	authcache_readable(db);
	if ((rc = db_exec_sql(db, authcache_sql_barrier, 1, v, &res)) != OK)
		goto out;
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		log_warn("auth: a responder did not confirm a revocation "
		         "within 62 s");
out:
	PQclear(res);
	return rc;
}

void
authcache_release(struct db *db)
{
	if (authcache_lease_s == 0 || authcache_conn == 0 ||
	    authcache_conn != db_generation(db))
		return;
	(void)!db_exec_sql(db, authcache_sql_release, 0, NULL, NULL);
	authcache_drop();
}
