/*
 * db.h - one libpq connection per process, with reconnect and prepared
 * statements, and a transaction helper.
 *
 * A struct db owns its PGconn and its registry of prepared statements. A
 * statement is registered once with db_prepare() and prepared lazily on each
 * new connection, so a reconnect after a PostgreSQL restart is invisible to
 * callers. When the server is unreachable, calls fail fast with ERR_DB_DOWN
 * (callers answer 503): after a failed connection attempt no new one is
 * made for a second, and calls in between return at once. A connection
 * never hangs: connect_timeout bounds the connect, TCP keepalives and
 * tcp_user_timeout a dead peer.
 *
 * Results: on OK, *res is a PGresult the caller clears with PQclear(). On any
 * error *res is NULL and nothing is left to free. Errors are logged here,
 * once, with the SQLSTATE (constraint violations, serialization failures
 * and lock timeouts at WARN, the rest at ERROR; an outage once, not on every
 * fast failure); callers need not log them again. The connection string is
 * never logged: it may hold a password.
 *
 * Not thread-safe: one struct db per process (or per thread).
 */
#ifndef BERTH_DB_H
#define BERTH_DB_H

#include <libpq-fe.h>

#include "err.h"

struct db;

/*
 * Does not connect. conninfo (a postgresql:// URI or key=value string) is
 * copied. connect_timeout_s <= 0 means 5 (libpq's 0 would wait forever).
 * NULL only when out of memory.
 */
struct db *db_new(const char *conninfo, int connect_timeout_s);

/* Closes the connection and frees everything. NULL is fine. */
void db_free(struct db *db);

/*
 * Makes sure the connection is up, reconnecting when it is not (rate
 * limited). Returns OK or ERR_DB_DOWN.
 */
berr db_connect(struct db *db) __attribute__((warn_unused_result));

/*
 * Registers a statement under name (both strings copied). It is prepared on
 * first use on each connection. Registering the same name and SQL again is
 * OK. ERR_CONFLICT if name is taken with other SQL, ERR_INVALID for an empty
 * name or one longer than 63 bytes (PostgreSQL would truncate it), ERR_NOMEM.
 */
berr db_prepare(struct db *db, const char *name, const char *sql, int nparams)
    __attribute__((warn_unused_result));

/*
 * Executes a registered statement with text parameters (NULL = SQL NULL).
 * Outside a transaction, a statement that failed because the connection
 * was lost is retried once on a new connection (as with any client, a
 * statement whose connection died mid-flight may have run: prefer
 * idempotent writes outside db_tx()). Inside a transaction nothing is
 * retried and no new connection is made: the call fails with ERR_DB_DOWN.
 * Returns OK (*res set, caller clears; res may be NULL to discard it),
 * ERR_DB_DOWN (unreachable, lost, or the server is starting, shutting down
 * or out of disk/resources: SQLSTATE classes 08 and 53, 57P01-57P03),
 * ERR_DB (SQL error; db_sqlstate() tells which), ERR_NOT_FOUND (no such
 * statement registered), ERR_INTERNAL (nparams differs from the
 * registration: a bug).
 */
berr db_exec(struct db *db, const char *name, int nparams,
    const char *const *values, PGresult **res)
    __attribute__((warn_unused_result));

/* As db_exec(), for one-off SQL (PQexecParams). res may be NULL. */
berr db_exec_sql(struct db *db, const char *sql, int nparams,
    const char *const *values, PGresult **res)
    __attribute__((warn_unused_result));

/*
 * Runs fn inside BEGIN ... COMMIT. If fn returns non-OK, or COMMIT fails,
 * the transaction is rolled back and that error returned. A statement that
 * failed inside fn aborts the transaction even if fn ignored its error:
 * COMMIT then reports ERR_DB with SQLSTATE 25P02. Serialization failures
 * and deadlocks (40001, 40P01) are retried up to 3 times, so fn must be
 * safe to run again. A lost connection is ERR_DB_DOWN, not retried. fn uses
 * db_exec()/db_exec_sql() on the same db; calling db_tx() inside fn is
 * ERR_INTERNAL.
 */
berr db_tx(struct db *db, berr (*fn)(struct db *db, void *arg), void *arg)
    __attribute__((warn_unused_result));

/*
 * SQLSTATE of the last failed call ("" after a success or when libpq had
 * none). Owned by db; valid until the next call.
 */
const char *db_sqlstate(const struct db *db);

/*
 * The live connection, NULL when down. For migrations and LISTEN; the
 * caller must not close it, and must not keep it across other db_* calls,
 * which may replace it.
 */
PGconn *db_conn(struct db *db);

/*
 * Which connection db has: a number that changes every time db opens a new
 * one (0 before the first). Session state (LISTEN, SET) lives and dies with
 * a connection: compare to know when to set it again.
 */
unsigned long db_generation(const struct db *db);

#endif
