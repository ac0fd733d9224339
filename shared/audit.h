/*
 * audit.h - the append-only, tamper-evident audit log (table audit_log).
 *
 * Each row carries row_hash = SHA-256(prev_hash || canonical bytes of the
 * row), prev_hash being the previous row's row_hash, so editing or removing
 * a row in the middle breaks the chain at that row. Appends are serialised
 * with a transaction-level advisory lock so the chain never forks. The
 * format follows Station's security guide: timestamp, user_id, action,
 * resource, environment, ip_address, success, details (JSON object).
 * The canonical encoding the hash covers is documented at the top of
 * audit.c ("berth-audit-v1").
 */
#ifndef BERTH_AUDIT_H
#define BERTH_AUDIT_H

#include <stdbool.h>

#include <json-c/json.h>

#include "db.h"
#include "err.h"

struct audit_event {
	long long user_id;       /* 0 = none */
	const char *username;    /* may be NULL */
	const char *action;      /* "login", "apikey.create", ... */
	const char *resource;    /* may be NULL */
	const char *environment; /* may be NULL */
	const char *ip_address;  /* may be NULL; must be an IP when set */
	bool success;
	struct json_object *details; /* borrowed; NULL = {} */
};

/*
 * Appends ev. ERR_INVALID (action not ^[a-z][a-z0-9_.]{0,63}$, an address
 * that is not a plain IPv4/IPv6 address, details not an object, negative
 * user_id), ERR_DB, ERR_DB_DOWN. Called inside the caller's db_tx(), the row
 * joins that transaction (committed or rolled back with it; the append lock
 * is held until it ends, so keep it short); otherwise it runs in a
 * transaction of its own. The time is taken here. Never logs secrets:
 * callers must not put them in details.
 */
berr audit_append(struct db *db, const struct audit_event *ev)
    __attribute__((warn_unused_result));

/*
 * Walks the whole chain in id order. OK when intact (*checked = rows);
 * ERR_CONFLICT when broken: *first_bad = id of the first row whose hash or
 * link does not match. The first remaining row (after retention deleted
 * older ones) is taken as the anchor. Reads one consistent snapshot, a
 * page of rows at a time, in a transaction of its own (not inside db_tx()).
 * Deleting the newest rows cannot be seen from the table alone.
 */
berr audit_verify(struct db *db, long long *checked, long long *first_bad)
    __attribute__((warn_unused_result));

#endif
