/*
 * lease.c - the advisory lock of lease.h on a raw libpq connection (not
 * shared/db.c's, which reconnects behind its callers' backs and would lose
 * the lock silently).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lease.h"
#include "log.h"

#define LEASE_KEY1 "1113944693"

struct lease {
	char *conninfo;
	char *name;
	int timeout_s;
	PGconn *conn;
	bool held;
};

struct lease *
lease_new(const char *conninfo, int connect_timeout_s, const char *name)
{
	struct lease *ls = calloc(1, sizeof(*ls));

	if (ls == NULL)
		return NULL;
	ls->conninfo = strdup(conninfo);
	ls->name = strdup(name);
	ls->timeout_s = connect_timeout_s > 0 ? connect_timeout_s : 5;
	if (ls->conninfo == NULL || ls->name == NULL) {
		lease_free(ls);
		return NULL;
	}
	return ls;
}

static void
lease_disconnect(struct lease *ls)
{
	if (ls->conn != NULL)
		PQfinish(ls->conn);
	ls->conn = NULL;
	ls->held = false;
}

static bool
lease_connect(struct lease *ls)
{
	const char *keys[] = { "dbname", "connect_timeout", "keepalives",
		"keepalives_idle", "keepalives_interval", "keepalives_count",
		"application_name", NULL };
	char to[16];
	const char *vals[8];

	if (ls->conn != NULL && PQstatus(ls->conn) == CONNECTION_OK)
		return true;
	lease_disconnect(ls);
	snprintf(to, sizeof(to), "%d", ls->timeout_s);
	vals[0] = ls->conninfo;
	vals[1] = to;
	vals[2] = "1";
	vals[3] = "10";
	vals[4] = "5";
	vals[5] = "3";
	vals[6] = "berthd-lease";
	vals[7] = NULL;
	ls->conn = PQconnectdbParams(keys, vals, 1);
	if (ls->conn == NULL || PQstatus(ls->conn) != CONNECTION_OK) {
		lease_disconnect(ls);
		return false;
	}
	return true;
}

berr
lease_try(struct lease *ls)
{
	const char *v[1] = { ls->name };
	PGresult *res;
	berr rc = ERR_DB_DOWN;

	if (ls->held && lease_check(ls))
		return OK;
	if (!lease_connect(ls))
		return ERR_DB_DOWN;
	res = PQexecParams(ls->conn,
	    "SELECT pg_try_advisory_lock(" LEASE_KEY1 ", hashtext($1))", 1,
	    NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		ls->held = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		rc = ls->held ? OK : ERR_CONFLICT;
	} else {
		lease_disconnect(ls);
	}
	PQclear(res);
	return rc;
}

bool
lease_check(struct lease *ls)
{
	if (!ls->held || ls->conn == NULL)
		return false;
	/* Reads what the server sent (an admin shutdown, a reset). */
	if (!PQconsumeInput(ls->conn) || PQstatus(ls->conn) != CONNECTION_OK) {
		log_error("the station lease's database connection was lost");
		lease_disconnect(ls);
		return false;
	}
	return true;
}

void
lease_free(struct lease *ls)
{
	if (ls == NULL)
		return;
	lease_disconnect(ls);
	free(ls->conninfo);
	free(ls->name);
	free(ls);
}
