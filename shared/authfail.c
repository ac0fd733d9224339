/*
 * authfail.c - brute-force lockout counted in PostgreSQL. See authfail.h.
 *
 * A subject (scope 'account' or 'address', plus the name) has one row: the
 * start of its current window, the failures in it, and locked_until. Every
 * change is one INSERT ... ON CONFLICT DO UPDATE, so responders on several
 * hosts counting failures of the same subject at the same moment never lose
 * one: the row lock serialises them and each sees the other's increment.
 *
 * Rules (fixed windows): the first failure opens a window of
 * auth.lockout_window seconds; a failure after the window has passed opens
 * a new one with a count of 1. When the count in a window reaches the
 * threshold, the subject is locked until the window ends: so a subject gets
 * at most threshold failures per window, and the lockout ends by itself.
 * The database's clock (now()) decides, so hosts need not agree on time.
 */
#include "authfail.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "parse.h"

/* Used while the config leaves the auth keys at 0 (unset). */
#define AUTHFAIL_ACCOUNT_DEFAULT 5
#define AUTHFAIL_ADDRESS_DEFAULT 20
#define AUTHFAIL_WINDOW_DEFAULT  900
/* auth_failures.subject CHECK: 1..256 characters. */
#define AUTHFAIL_SUBJECT_MAX 256

/*
 * $1 account, $2 address (either NULL), $3 account threshold, $4 address
 * threshold, $5 window in seconds. One row per subject recorded, with
 * whether it is now locked and for how many more seconds (at least 1).
 * "inside" is the old row's window still running at now().
 */
static const char authfail_sql_record[] =
    "INSERT INTO auth_failures AS f"
    " (scope, subject, window_start, failures, locked_until) "
    "SELECT s.scope, left(s.subject, 256), now(), 1,"
    " CASE WHEN s.threshold <= 1"
    " THEN now() + make_interval(secs => $5::int) END "
    "FROM (VALUES ('account', $1::text, $3::int),"
    " ('address', $2::text, $4::int)) AS s (scope, subject, threshold) "
    "WHERE s.subject IS NOT NULL AND s.subject <> '' "
    "ON CONFLICT (scope, subject) DO UPDATE SET"
    " window_start = CASE"
    " WHEN f.window_start > now() - make_interval(secs => $5::int)"
    " THEN f.window_start ELSE now() END,"
    " failures = CASE"
    " WHEN f.window_start > now() - make_interval(secs => $5::int)"
    " THEN least(f.failures, 1000000000) + 1 ELSE 1 END,"
    " locked_until = CASE"
    " WHEN f.window_start > now() - make_interval(secs => $5::int)"
    " THEN CASE WHEN f.failures + 1 >= (CASE f.scope WHEN 'account'"
    " THEN $3::int ELSE $4::int END)"
    " THEN f.window_start + make_interval(secs => $5::int) END"
    " ELSE CASE WHEN 1 >= (CASE f.scope WHEN 'account'"
    " THEN $3::int ELSE $4::int END)"
    " THEN now() + make_interval(secs => $5::int) END END "
    "RETURNING f.scope, f.subject, f.failures,"
    " coalesce(f.locked_until > now(), false) AS locked,"
    " ceil(extract(epoch FROM f.locked_until - now()))::int AS retry_after";

/* $1 account, $2 address (either NULL): seconds left on the longer lock. */
static const char authfail_sql_check[] =
    "SELECT ceil(extract(epoch FROM max(locked_until) - now()))::int"
    " AS retry_after FROM auth_failures"
    " WHERE locked_until > now() AND ((scope = 'account'"
    " AND subject = left($1::text, 256)) OR (scope = 'address'"
    " AND subject = left($2::text, 256)))";

static const char authfail_sql_clear[] =
    "DELETE FROM auth_failures WHERE scope = 'account'"
    " AND subject = left($1::text, 256)";

/* The thresholds and window from cfg, with defaults for unset (0) keys. */
static void
authfail_settings(
    const struct config *cfg, int *account, int *address, int *window)
{
	*account = AUTHFAIL_ACCOUNT_DEFAULT;
	*address = AUTHFAIL_ADDRESS_DEFAULT;
	*window = AUTHFAIL_WINDOW_DEFAULT;
	if (cfg == NULL)
		return;
	if (cfg->auth.lockout_failures > 0)
		*account = cfg->auth.lockout_failures;
	if (cfg->auth.lockout_address_failures > 0)
		*address = cfg->auth.lockout_address_failures;
	if (cfg->auth.lockout_window > 0)
		*window = cfg->auth.lockout_window;
}

/* s with every byte outside printable ASCII as '?', cut to size. */
static const char *
authfail_printable(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* NULL for a subject to skip (NULL or ""), else s. */
static const char *
authfail_subject(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

berr
authfail_prepare(struct db *db)
{
	berr rc;

	if ((rc = db_prepare(db, "authfail_record", authfail_sql_record, 5)) !=
	        OK ||
	    (rc = db_prepare(db, "authfail_check", authfail_sql_check, 2)) !=
	        OK)
		return rc;
	return db_prepare(db, "authfail_clear", authfail_sql_clear, 1);
}

berr
authfail_check(
    struct db *db, const char *account, const char *address, int *retry_after)
{
	const char *values[2];
	PGresult *res = NULL;
	const char *v;
	berr rc;

	*retry_after = 0;
	values[0] = authfail_subject(account);
	values[1] = authfail_subject(address);
	if (values[0] == NULL && values[1] == NULL)
		return OK;
	if ((rc = authfail_prepare(db)) != OK ||
	    (rc = db_exec(db, "authfail_check", 2, values, &res)) != OK)
		goto out;
	if (PQntuples(res) != 1 || PQfnumber(res, "retry_after") < 0) {
		rc = ERR_INTERNAL;
		goto out;
	}
	v = PQgetvalue(res, 0, PQfnumber(res, "retry_after"));
	if (*v != '\0') {
		if (parse_int(v, 1, INT_MAX, retry_after) != OK)
			*retry_after = 1;
		rc = ERR_DENIED;
	}
out:
	PQclear(res);
	return rc;
}

berr
authfail_clear(struct db *db, const char *account)
{
	const char *values[1];
	berr rc;

	if ((values[0] = authfail_subject(account)) == NULL)
		return OK;
	if ((rc = authfail_prepare(db)) != OK)
		return rc;
	return db_exec(db, "authfail_clear", 1, values, NULL);
}

berr
authfail_record(struct db *db, const struct config *cfg, const char *account,
    const char *address, int *retry_after)
{
	char acc_n[16], addr_n[16], win_n[16];
	int acc, addr, win, i, c_locked, c_retry, c_scope, c_subject, c_fail;
	char subj[AUTHFAIL_SUBJECT_MAX + 1];
	int n;
	const char *values[5];
	PGresult *res = NULL;
	berr rc;

	*retry_after = 0;
	values[0] = authfail_subject(account);
	values[1] = authfail_subject(address);
	if (values[0] == NULL && values[1] == NULL)
		return OK;
	authfail_settings(cfg, &acc, &addr, &win);
	snprintf(acc_n, sizeof(acc_n), "%d", acc);
	snprintf(addr_n, sizeof(addr_n), "%d", addr);
	snprintf(win_n, sizeof(win_n), "%d", win);
	values[2] = acc_n;
	values[3] = addr_n;
	values[4] = win_n;
	if ((rc = authfail_prepare(db)) != OK)
		goto out;
	if ((rc = db_exec(db, "authfail_record", 5, values, &res)) != OK)
		goto out;
	if ((c_locked = PQfnumber(res, "locked")) < 0 ||
	    (c_retry = PQfnumber(res, "retry_after")) < 0 ||
	    (c_scope = PQfnumber(res, "scope")) < 0 ||
	    (c_subject = PQfnumber(res, "subject")) < 0 ||
	    (c_fail = PQfnumber(res, "failures")) < 0) {
		rc = ERR_INTERNAL;
		goto out;
	}
	for (i = 0; i < PQntuples(res); i++) {
		if (*PQgetvalue(res, i, c_locked) != 't')
			continue;
		if (parse_int(PQgetvalue(res, i, c_retry), 1, INT_MAX, &n) !=
		    OK)
			n = 1;
		if (n > *retry_after)
			*retry_after = n;
		/* The subject is a username or an address, not a secret;
		 * but a username tried may be anything, so printable only. */
		log_warn("auth: %s %s locked for %d s after %s failures",
		    PQgetvalue(res, i, c_scope),
		    authfail_printable(
		        PQgetvalue(res, i, c_subject), subj, sizeof(subj)),
		    n, PQgetvalue(res, i, c_fail));
		rc = ERR_DENIED;
	}
out:
	PQclear(res);
	return rc;
}
