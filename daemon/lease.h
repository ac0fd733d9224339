/*
 * lease.h - one active berthd per station name: a PostgreSQL session
 * advisory lock on its own connection.
 *
 * Key: (1113944693, hashtext(station name)). 1113944692 is Berth's first
 * key (with 1, 2, 3 taken by other locks); 1113944693 is the lease's own
 * key space, so no other Berth lock can collide with it. The lock lives as
 * long as the session: when the holder dies (even kill -9) PostgreSQL ends
 * the session and a standby's next try (once a second) takes it. A lease
 * whose connection is lost is lost too (lease_check() says so), and the
 * daemon goes back to standby.
 *
 * Ownership: lease_new() copies conninfo and name; lease_free() closes the
 * connection, releasing the lock.
 */
#ifndef BERTH_LEASE_H
#define BERTH_LEASE_H

#include <stdbool.h>

#include "err.h"

struct lease;

/* NULL when out of memory. Does not connect. */
struct lease *lease_new(
    const char *conninfo, int connect_timeout_s, const char *name);

/*
 * Tries once to take the lock (connecting when needed). OK when held,
 * ERR_CONFLICT when another daemon holds it, ERR_DB_DOWN.
 */
berr lease_try(struct lease *ls) __attribute__((warn_unused_result));

/* True while the lock is held and its connection alive. */
bool lease_check(struct lease *ls);

void lease_free(struct lease *ls);

#endif
