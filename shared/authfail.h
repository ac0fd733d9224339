/*
 * authfail.h - brute-force protection: failed authentications counted per
 * account and per client address in PostgreSQL (table auth_failures), so
 * every responder on every host sees the same counts.
 *
 * After auth.lockout_failures failures of an account, or
 * auth.lockout_address_failures of an address, within auth.lockout_window
 * seconds, the subject is refused until the window passes: callers answer
 * 429 with Retry-After and audit the refusal.
 */
#ifndef BERTH_AUTHFAIL_H
#define BERTH_AUTHFAIL_H

#include "db.h"
#include "err.h"

struct config;

/* Registers the prepared statements. */
berr authfail_prepare(struct db *db) __attribute__((warn_unused_result));

/*
 * Is account (may be NULL: bearer tokens name no account) or address (may
 * be NULL) locked? OK when not; ERR_DENIED when locked, *retry_after set to
 * the seconds left (>= 1). ERR_DB_DOWN.
 */
berr authfail_check(struct db *db, const struct config *cfg,
    const char *account, const char *address, int *retry_after)
    __attribute__((warn_unused_result));

/*
 * Records one failure for account and/or address (NULL = skip). Returns OK,
 * or ERR_DENIED when this failure locked a subject (*retry_after set).
 */
berr authfail_record(struct db *db, const struct config *cfg,
    const char *account, const char *address, int *retry_after)
    __attribute__((warn_unused_result));

/* Forgets the failures of account after a successful login. */
berr authfail_clear(struct db *db, const char *account)
    __attribute__((warn_unused_result));

#endif
