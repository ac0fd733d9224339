/*
 * authfail.h - brute-force protection: failed authentications counted per
 * account and per client address in PostgreSQL (table auth_failures), so
 * every responder on every host sees the same counts.
 *
 * After auth.lockout_failures failures of an account, or
 * auth.lockout_address_failures of an address, within auth.lockout_window
 * seconds, the subject is refused until the window passes: callers answer
 * 429 with Retry-After and audit the refusal. Whether an address is locked
 * is read inside principal_resolve()'s one statement (no round trip of its
 * own); a login endpoint (issue 5) adds the account check and the clearing
 * after a success, with their tests.
 */
#ifndef BERTH_AUTHFAIL_H
#define BERTH_AUTHFAIL_H

#include "db.h"
#include "err.h"

struct config;

/* Registers the prepared statements. */
berr authfail_prepare(struct db *db) __attribute__((warn_unused_result));

/*
 * Records one failure for account and/or address (NULL = skip). Returns OK,
 * or ERR_DENIED when this failure locked a subject (*retry_after set).
 */
berr authfail_record(struct db *db, const struct config *cfg,
    const char *account, const char *address, int *retry_after)
    __attribute__((warn_unused_result));

/*
 * Whether account and/or address (NULL = skip) is locked now: OK when
 * neither is; ERR_DENIED with *retry_after (seconds, >= 1) when one is
 * (the longer wait of the two); ERR_DB/ERR_DB_DOWN. For endpoints that
 * take a password (/auth/login), before any password hashing.
 */
berr authfail_check(struct db *db, const char *account, const char *address,
    int *retry_after) __attribute__((warn_unused_result));

/*
 * Forgets the failures of account after a successful login (the address
 * keeps its count: one good password must not reset a spray from the
 * same address). OK or a database error.
 */
berr authfail_clear(struct db *db, const char *account)
    __attribute__((warn_unused_result));

#endif
