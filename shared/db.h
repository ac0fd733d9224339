/*
 * db.h - one libpq connection per process, with reconnect and prepared
 * statements, and a transaction helper.
 *
 * A struct db owns its PGconn and its registry of prepared statements. A
 * statement is registered once with db_prepare() and prepared lazily on each
 * new connection, so a reconnect after a PostgreSQL restart is invisible to
 * callers. When the server is unreachable, calls fail fast with ERR_DB_DOWN
 * (callers answer 503); reconnects are attempted at most once a second.
 *
 * Results: on OK, *res is a PGresult the caller clears with PQclear(). On any
 * error *res is NULL and nothing is left to free. Errors are logged here,
 * once, with the SQLSTATE; callers need not log them again.
 */
#ifndef BERTH_DB_H
#define BERTH_DB_H

#include <libpq-fe.h>

#include "err.h"

struct db;

/* Does not connect. conninfo is copied. NULL only when out of memory. */
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
 * first use on each connection. ERR_CONFLICT if name is taken with other SQL.
 */
berr db_prepare(struct db *db, const char *name, const char *sql, int nparams)
    __attribute__((warn_unused_result));

/*
 * Executes a registered statement with text parameters (NULL = SQL NULL).
 * Outside a transaction, a lost connection is re-established and the
 * statement retried once. Returns OK (*res set, caller clears), ERR_DB_DOWN
 * (unreachable, or the server is shutting down or out of disk/resources),
 * ERR_DB (SQL error; db_sqlstate() tells which), ERR_NOT_FOUND (no such
 * statement registered).
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
 * the transaction is rolled back and that error returned. Serialization
 * failures and deadlocks (40001, 40P01) are retried up to 3 times, so fn
 * must be safe to run again.
 */
berr db_tx(struct db *db, berr (*fn)(struct db *db, void *arg), void *arg)
    __attribute__((warn_unused_result));

/* SQLSTATE of the last ERR_DB, or "" . Static to db; valid until next call. */
const char *db_sqlstate(const struct db *db);

/* The live connection (may be NULL when down). For migrations and LISTEN. */
PGconn *db_conn(struct db *db);

#endif
