/*
 * db.c - see db.h.
 *
 * Failure classes. A failed call is either "down" (ERR_DB_DOWN: the
 * connection is gone, the server is starting or shutting down, or it is out
 * of disk or other resources; the caller answers 503 and a later call may
 * succeed) or an SQL error (ERR_DB: the statement itself is wrong for this
 * data; db_sqlstate() says which). Only a lost connection outside a
 * transaction is retried here, once: inside a transaction the work done so
 * far is gone with the connection, and only the caller can redo it (db_tx()
 * does, for serialization failures).
 *
 * Rate limit. After a failed connection attempt no new one is made for
 * DB_RETRY_MS; calls in between fail at once. A responder under load with
 * the database down then answers 503 in microseconds instead of making every
 * request wait for connect_timeout.
 */
#define _GNU_SOURCE /* program_invocation_short_name */
#include "db.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

/* No connection attempt sooner than this after a failed one. */
#define DB_RETRY_MS 1000
/* How often db_tx() reruns a transaction after 40001 or 40P01. */
#define DB_TX_RETRIES 3
/* Used when the caller passes no usable connect timeout (0 = wait forever). */
#define DB_DEFAULT_CONNECT_TIMEOUT_S 5
/* Longest statement name PostgreSQL keeps without truncating (NAMEDATALEN-1). */
#define DB_NAME_MAX 63

struct db_stmt {
	char *name;
	char *sql;
	int nparams;
	unsigned long gen; /* connection generation it is prepared on; 0 = none */
};

struct db {
	char *conninfo;        /* a secret: may hold a password; never logged */
	bool conninfo_bad;     /* unparseable: we never try to connect */
	char timeout[16];      /* connect_timeout, as libpq wants it */
	PGconn *conn;          /* NULL when down */
	unsigned long gen;     /* bumped for every new connection */
	long long next_try_ms; /* monotonic: no attempt before this */
	bool down_logged;      /* the outage has been logged once */
	bool in_tx;            /* inside db_tx(): never reconnect or retry */
	unsigned long tx_gen;  /* connection the transaction began on */
	struct db_stmt *stmts;
	size_t nstmts;
	size_t capstmts;
	char sqlstate[6];
};

/*
 * Copies a libpq message into buf on one line: libpq ends messages with a
 * newline and puts hints on continuation lines, which would break the
 * one-line log format.
 */
static const char *
db_oneline(const char *msg, char *buf, size_t size)
{
	size_t i, n = 0;
	bool space = false;

	if (msg == NULL)
		msg = "";
	for (i = 0; msg[i] != '\0' && n + 1 < size; i++) {
		if (msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t') {
			space = true;
			continue;
		}
		if (space && n > 0 && n + 2 < size)
			buf[n++] = ' ';
		space = false;
		buf[n++] = msg[i];
	}
	buf[n] = '\0';
	return buf;
}

/* Routes server notices to our log instead of libpq's default (stderr). */
static void
db_notice(void *arg, const PGresult *res)
{
	const char *sev, *msg;

	(void)arg;
	sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (msg == NULL)
		return;
	if (sev != NULL && strcmp(sev, "WARNING") == 0)
		log_warn("db: server warning: %s", msg);
	else
		log_debug("db: server notice: %s", msg);
}

struct db *
db_new(const char *conninfo, int connect_timeout_s)
{
	struct db *db;
	PQconninfoOption *opts;
	char *perr = NULL;

	if ((db = calloc(1, sizeof(*db))) == NULL)
		return NULL;
	if ((db->conninfo = strdup(conninfo != NULL ? conninfo : "")) == NULL) {
		free(db);
		return NULL;
	}
	/*
	 * libpq's parse errors quote the text around the mistake, which may be
	 * the password: check here, remember, and never show the message.
	 */
	opts = PQconninfoParse(db->conninfo, &perr);
	if (opts == NULL)
		db->conninfo_bad = true;
	PQconninfoFree(opts);
	PQfreemem(perr);
	if (connect_timeout_s <= 0)
		connect_timeout_s = DB_DEFAULT_CONNECT_TIMEOUT_S;
	snprintf(db->timeout, sizeof(db->timeout), "%d", connect_timeout_s);
	return db;
}

void
db_free(struct db *db)
{
	size_t i;

	if (db == NULL)
		return;
	if (db->conn != NULL)
		PQfinish(db->conn);
	for (i = 0; i < db->nstmts; i++) {
		free(db->stmts[i].name);
		free(db->stmts[i].sql);
	}
	free(db->stmts);
	free(db->conninfo);
	free(db);
}

/* Drops the connection: every statement must be prepared again. */
static void
db_drop(struct db *db)
{
	if (db->conn != NULL)
		PQfinish(db->conn);
	db->conn = NULL;
}

/*
 * Opens a new connection. Keepalives and tcp_user_timeout make a dead peer
 * (host gone, cable pulled) an error within about a minute instead of a hang
 * on a read that never returns. Our settings come before the caller's
 * string so that it may tune them, except connect_timeout, which comes from
 * the configuration and is never 0 (wait forever).
 */
static berr
db_open(struct db *db)
{
	const char *keys[] = { "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"fallback_application_name", "client_encoding", "dbname",
		"connect_timeout", NULL };
	const char *vals[] = { "1", "30", "10", "3", "60000",
		program_invocation_short_name, "UTF8", db->conninfo,
		db->timeout, NULL };
	char msg[512];
	PGconn *conn;

	if (db->conninfo_bad) {
		if (!db->down_logged)
			log_error(
			    "db: the database connection string is malformed "
			    "(not shown: it may hold a password)");
		db->down_logged = true;
		db->next_try_ms = clock_ms() + DB_RETRY_MS;
		return ERR_DB_DOWN;
	}
	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		db_oneline(
		    conn != NULL ? PQerrorMessage(conn) : "out of memory", msg,
		    sizeof(msg));
		/* Once per outage at ERROR; the retries each second at DEBUG. */
		if (!db->down_logged)
			log_error("db: cannot connect: %s", msg);
		else
			log_debug("db: still cannot connect: %s", msg);
		db->down_logged = true;
		db->next_try_ms = clock_ms() + DB_RETRY_MS;
		if (conn != NULL)
			PQfinish(conn);
		return ERR_DB_DOWN;
	}
	PQsetNoticeReceiver(conn, db_notice, NULL);
	if (db->down_logged)
		log_info("db: connected again");
	db->down_logged = false;
	db->conn = conn;
	db->gen++;
	return OK;
}

berr
db_connect(struct db *db)
{
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
		return OK;
	db_drop(db);
	if (clock_ms() < db->next_try_ms)
		return ERR_DB_DOWN;
	return db_open(db);
}

/*
 * A connection usable for the next statement: inside a transaction only the
 * one it began on (a fresh one would run the rest of it in autocommit).
 */
static berr
db_ready(struct db *db)
{
	if (!db->in_tx)
		return db_connect(db);
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK ||
	    db->gen != db->tx_gen)
		return ERR_DB_DOWN;
	return OK;
}

static struct db_stmt *
db_find(struct db *db, const char *name)
{
	size_t i;

	for (i = 0; i < db->nstmts; i++)
		if (strcmp(db->stmts[i].name, name) == 0)
			return &db->stmts[i];
	return NULL;
}

berr
db_prepare(struct db *db, const char *name, const char *sql, int nparams)
{
	struct db_stmt *st, *grown;
	size_t cap;

	if (name == NULL || *name == '\0' || strlen(name) > DB_NAME_MAX ||
	    sql == NULL || nparams < 0) {
		log_error("db: bad statement registration \"%s\"",
		    name != NULL ? name : "(null)");
		return ERR_INVALID;
	}
	if ((st = db_find(db, name)) != NULL) {
		if (strcmp(st->sql, sql) == 0 && st->nparams == nparams)
			return OK;
		log_error("db: statement \"%s\" registered twice with "
		          "different SQL",
		    name);
		return ERR_CONFLICT;
	}
	if (db->nstmts == db->capstmts) {
		cap = db->capstmts != 0 ? db->capstmts * 2 : 16;
		if ((grown = realloc(db->stmts, cap * sizeof(*grown))) == NULL)
			return ERR_NOMEM;
		db->stmts = grown;
		db->capstmts = cap;
	}
	st = &db->stmts[db->nstmts];
	st->name = strdup(name);
	st->sql = strdup(sql);
	if (st->name == NULL || st->sql == NULL) {
		free(st->name);
		free(st->sql);
		return ERR_NOMEM;
	}
	st->nparams = nparams;
	st->gen = 0;
	db->nstmts++;
	return OK;
}

/* SQLSTATEs that mean "the server cannot serve us now", not "bad SQL". */
static bool
db_state_down(const char *s)
{
	return strncmp(s, "08", 2) == 0 || /* connection exception */
	    strncmp(s, "53", 2) == 0 ||    /* disk full, out of memory... */
	    strcmp(s, "57P01") == 0 ||     /* admin shutdown */
	    strcmp(s, "57P02") == 0 ||     /* crash shutdown */
	    strcmp(s, "57P03") == 0;       /* cannot connect now */
}

/* SQLSTATEs after which the session itself is gone. */
static bool
db_state_fatal(const char *s)
{
	return strncmp(s, "08", 2) == 0 || strcmp(s, "57P01") == 0 ||
	    strcmp(s, "57P02") == 0;
}

/* Errors a caller provokes on purpose or retries: not worth an ERROR line. */
static bool
db_state_expected(const char *s)
{
	return strncmp(s, "23", 2) == 0 || /* integrity constraint */
	    strncmp(s, "40", 2) == 0 ||    /* serialization, deadlock */
	    strcmp(s, "55P03") == 0;       /* lock not available (NOWAIT) */
}

/*
 * Classifies a result. Fills db->sqlstate and msg (for the one log line the
 * caller writes) and drops a connection that cannot be used again.
 */
static berr
db_check(struct db *db, const PGresult *res, char *msg, size_t size)
{
	const char *state, *text;

	msg[0] = '\0';
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY: return OK;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		/* Nothing here speaks COPY: the session is stuck in it. */
		snprintf(msg, size, "COPY is not supported");
		db_drop(db);
		return ERR_DB;
	default: break;
	}
	state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	text = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
	                   : NULL;
	if (text == NULL)
		text =
		    db->conn != NULL ? PQerrorMessage(db->conn) : "no result";
	db_oneline(text, msg, size);
	if (state != NULL)
		snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state);
	/* libpq's own errors (lost connection) carry no SQLSTATE. */
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK ||
	    (state != NULL && db_state_fatal(state))) {
		db_drop(db);
		return ERR_DB_DOWN;
	}
	if (state != NULL && db_state_down(state))
		return ERR_DB_DOWN;
	return ERR_DB;
}

/*
 * One attempt at a statement: prepares st on this connection when it is not
 * yet, then runs it. *lost tells whether a live connection was lost on the
 * way (as opposed to none being available at all).
 */
static berr
db_try(struct db *db, struct db_stmt *st, const char *sql, int nparams,
    const char *const *values, PGresult **out, bool *lost, char *msg,
    size_t size)
{
	PGresult *r = NULL;
	bool ready = false;
	berr rc;

	*out = NULL;
	db->sqlstate[0] = '\0';
	if ((rc = db_ready(db)) != OK) {
		snprintf(msg, size, "not connected");
		goto out;
	}
	ready = true;
	if (st != NULL && st->gen != db->gen) {
		r = PQprepare(db->conn, st->name, st->sql, st->nparams, NULL);
		if ((rc = db_check(db, r, msg, size)) != OK)
			goto out;
		st->gen = db->gen;
		PQclear(r);
	}
	if (st != NULL)
		r = PQexecPrepared(
		    db->conn, st->name, nparams, values, NULL, NULL, 0);
	else
		r = PQexecParams(
		    db->conn, sql, nparams, NULL, values, NULL, NULL, 0);
	if ((rc = db_check(db, r, msg, size)) != OK)
		goto out;
	*out = r;
	r = NULL;
out:
	/* db_check() drops a connection that cannot be used again. */
	*lost = ready && rc == ERR_DB_DOWN && db->conn == NULL;
	PQclear(r);
	return rc;
}

/*
 * The one log line of a failed call. An outage is logged by db_open() when
 * it starts; the fast failures while it lasts are quiet.
 */
static void
db_log_failure(struct db *db, const char *label, berr rc, const char *msg)
{
	char what[64];

	db_oneline(label, what, sizeof(what));
	if (rc == ERR_DB && db_state_expected(db->sqlstate))
		log_warn(
		    "db: \"%s\": SQLSTATE %s: %s", what, db->sqlstate, msg);
	else if (rc == ERR_DB || db->sqlstate[0] != '\0')
		log_error("db: \"%s\": SQLSTATE %s: %s", what,
		    db->sqlstate[0] != '\0' ? db->sqlstate : "none", msg);
	else if (db->conn != NULL || !db->down_logged)
		log_error("db: \"%s\": database unreachable: %s", what, msg);
}

/*
 * Runs one statement (prepared when st is set, else sql) and returns its
 * result in *res (or clears it when res is NULL). Outside a transaction, a
 * statement that failed because the connection was lost, or because a
 * pooler handed us a server where the statement is not prepared (26000), is
 * retried once on a fresh connection. As with any client, a statement lost
 * in flight may have run; for a connection killed while idle (a restart,
 * pg_terminate_backend), the usual case, it never started.
 */
static berr
db_run(struct db *db, struct db_stmt *st, const char *sql, int nparams,
    const char *const *values, PGresult **res)
{
	PGresult *r = NULL;
	char msg[512] = "";
	bool lost;
	berr rc;
	int attempt;

	if (res != NULL)
		*res = NULL;
	for (attempt = 0;; attempt++) {
		rc = db_try(
		    db, st, sql, nparams, values, &r, &lost, msg, sizeof(msg));
		if (rc == OK || attempt > 0 || db->in_tx)
			break;
		if (lost)
			log_info("db: connection lost (%s); reconnecting", msg);
		else if (rc == ERR_DB && st != NULL &&
		    strcmp(db->sqlstate, "26000") == 0)
			st->gen = 0;
		else
			break;
	}
	if (rc != OK)
		db_log_failure(db, st != NULL ? st->name : sql, rc, msg);
	if (res != NULL)
		*res = r;
	else
		PQclear(r);
	return rc;
}

berr
db_exec(struct db *db, const char *name, int nparams, const char *const *values,
    PGresult **res)
{
	struct db_stmt *st;

	if (res != NULL)
		*res = NULL;
	db->sqlstate[0] = '\0';
	if ((st = db_find(db, name)) == NULL) {
		log_error("db: no statement \"%s\" registered", name);
		return ERR_NOT_FOUND;
	}
	if (nparams != st->nparams) {
		log_error("db: statement \"%s\" takes %d parameters, got %d",
		    name, st->nparams, nparams);
		return ERR_INTERNAL;
	}
	return db_run(db, st, NULL, nparams, values, res);
}

berr
db_exec_sql(struct db *db, const char *sql, int nparams,
    const char *const *values, PGresult **res)
{
	return db_run(db, NULL, sql, nparams, values, res);
}

/*
 * Ends a failed transaction. Raw PQexec: a ROLLBACK must not reconnect,
 * retry or overwrite the SQLSTATE the caller is about to read.
 */
static void
db_rollback(struct db *db)
{
	PGresult *r;
	PGTransactionStatusType ts;

	if (db->conn == NULL || db->gen != db->tx_gen)
		return;
	ts = PQtransactionStatus(db->conn);
	if (ts != PQTRANS_INTRANS && ts != PQTRANS_INERROR)
		return;
	r = PQexec(db->conn, "ROLLBACK");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_warn("db: ROLLBACK failed; dropping the connection");
		db_drop(db);
	}
	PQclear(r);
}

/*
 * COMMIT of a transaction in which a statement failed "succeeds" with the
 * tag ROLLBACK: that is a failure of the transaction, reported as one.
 */
static berr
db_commit(struct db *db)
{
	PGresult *r = NULL;
	berr rc;

	if ((rc = db_run(db, NULL, "COMMIT", 0, NULL, &r)) != OK)
		goto out;
	if (strcmp(PQcmdStatus(r), "ROLLBACK") == 0) {
		snprintf(db->sqlstate, sizeof(db->sqlstate), "25P02");
		log_error("db: transaction rolled back at COMMIT: a statement "
		          "in it had failed");
		rc = ERR_DB;
	}
out:
	PQclear(r);
	return rc;
}

static bool
db_state_retry(const char *s)
{
	return strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0;
}

berr
db_tx(struct db *db, berr (*fn)(struct db *db, void *arg), void *arg)
{
	char state[sizeof(db->sqlstate)];
	berr rc;
	int attempt;

	if (db->in_tx) {
		log_error("db: db_tx() called inside a transaction");
		return ERR_INTERNAL;
	}
	for (attempt = 0;; attempt++) {
		/* BEGIN runs outside the transaction: it may reconnect. */
		if ((rc = db_run(db, NULL, "BEGIN", 0, NULL, NULL)) != OK)
			return rc;
		db->in_tx = true;
		db->tx_gen = db->gen;
		rc = fn(db, arg);
		if (rc == OK)
			rc = db_commit(db);
		memcpy(state, db->sqlstate, sizeof(state));
		if (rc != OK)
			db_rollback(db);
		memcpy(db->sqlstate, state, sizeof(state));
		db->in_tx = false;
		if (rc != ERR_DB || !db_state_retry(db->sqlstate) ||
		    attempt >= DB_TX_RETRIES)
			return rc;
		log_info("db: transaction failed with SQLSTATE %s; retry %d "
		         "of %d",
		    db->sqlstate, attempt + 1, DB_TX_RETRIES);
	}
}

const char *
db_sqlstate(const struct db *db)
{
	return db != NULL ? db->sqlstate : "";
}

unsigned long
db_generation(const struct db *db)
{
	return db->gen;
}

PGconn *
db_conn(struct db *db)
{
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
		return NULL;
	return db->conn;
}
