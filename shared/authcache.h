/*
 * authcache.h - a berth-fcgi worker's cache of resolved credentials, kept
 * strict by NOTIFY, acknowledgements and leases (sql/009_auth_cache.sql).
 *
 * Who owns what: this module owns the process's cache (a fixed array, no
 * allocation) and the worker's row in auth_caches; principal.c decides
 * what may be cached and for how long; fcgi/main.c calls authcache_sync()
 * before every request and while idle; whoever takes something away from
 * a credential (apikey.c, session.c, the CLI's user commands) calls
 * authcache_barrier() after its commit. Triggers in PostgreSQL, not the
 * callers, send the notifications, so a change made in psql still reaches
 * every cache; only the wait needs the caller.
 *
 * The rule that keeps revocation strict: a worker answers from its cache
 * only while it holds a lease in auth_caches, and empties the cache on
 * every berth_auth notification before it acknowledges it there.
 * authcache_barrier() returns once every other worker with a live lease
 * has acknowledged the change (or its lease has run out). So once a
 * revocation command has returned, no worker on any host can accept the
 * revoked credential from memory: it has dropped it, or its lease has
 * ended and it asks PostgreSQL again. A worker that stops hearing from
 * PostgreSQL stops trusting its cache when its own lease ends, which it
 * measures from before it asked for the lease, so it is never later than
 * the database's view of it.
 *
 * Not cached: refusals (every wrong guess still reaches the database and
 * the lockout), OAuth tokens (oauth.c keeps its own cache), an entry
 * beyond auth.key_touch_interval (so last_used_at is still written) or
 * beyond the credential's expiry. An entry matches the digest of the
 * credential and the client address both: an address locked out later is
 * refused even for a key it used before.
 *
 * Single-threaded, one per process. Off (every call a no-op, every lookup
 * a miss) until authcache_enable().
 */
#ifndef BERTH_AUTHCACHE_H
#define BERTH_AUTHCACHE_H

#include <stdbool.h>

#include "err.h"
#include "principal.h"

struct config;
struct db;

/* Turns the cache on in this process with a lease of lease_s seconds (0
 * leaves it off). berth-fcgi's workers only. */
void authcache_enable(int lease_s);

/* Whether the cache is on. */
bool authcache_enabled(void);

/*
 * Reads what PostgreSQL sent on this connection without waiting for more:
 * a berth_auth notification empties the cache and is acknowledged (one
 * round trip), berth_agents bumps authcache_agents_gen(). On a new
 * connection it LISTENs and takes a lease; near the end of the lease it
 * renews it. Call before every request and whenever authcache_fd() is
 * readable. Errors only empty the cache (the request then goes to the
 * database and meets the error there).
 */
void authcache_sync(struct db *db);

/* The socket on which notifications arrive, -1 when none: poll it while
 * idle and call authcache_readable() when it is readable. */
int authcache_fd(struct db *db);

/* As authcache_sync(), reading the socket now. authcache_sync() reads it
 * at most every 10 ms (what libpq holds already is taken every time): a
 * revoker waits that much longer for a busy worker's acknowledgement, and
 * the worker saves a system call on nearly every request. */
void authcache_readable(struct db *db);

/*
 * A copy of the principal cached for (m, digest, address) into *out;
 * false when there is none, it has run out, or the lease has, or db is
 * no longer on the connection that was registered (a reconnect lost the
 * LISTEN).
 * digest is APIKEY_DIGEST_LEN (32) bytes; address may be NULL.
 */
bool authcache_get(struct db *db, enum auth_method m,
    const unsigned char *digest, const char *address, struct principal *out);

/* Taken before a database lookup and handed to authcache_put(): a lookup
 * that a notification overtook is answered but not kept. */
unsigned long authcache_mark(void);

/*
 * Whether something this process read from the database after mark may
 * still be answered from memory: the lease holds on db's registered
 * connection and no berth_auth notification has emptied the cache since.
 * Other caches of the process key on it (mcp_session.c keeps 2025-era
 * sessions so; a trigger on mcp_sessions announces their changes).
 */
bool authcache_valid(struct db *db, unsigned long mark);

/* Keeps p, a successful lookup made after mark, for ttl_s seconds at most
 * (<= 0: not kept). */
void authcache_put(struct db *db, enum auth_method m,
    const unsigned char *digest, const char *address, const struct principal *p,
    int ttl_s, unsigned long mark);

/*
 * Changes on every berth_agents notification, on every new connection and
 * whenever the cache is emptied for want of a lease: agent_tools.c keeps
 * its listing while this stays the same. 0 while the cache is off (then
 * nothing may be kept).
 */
unsigned long authcache_agents_gen(void);

/*
 * After the commit of a change that takes something from a credential:
 * returns once no responder anywhere can still answer from a cache that
 * predates it (at most the longest lease, 60 s, when a worker is stuck).
 * OK, or the db_exec() error (logged; the change itself is committed).
 */
berr authcache_barrier(struct db *db) __attribute__((warn_unused_result));

/* A worker leaving: gives its lease back, so no barrier waits for it. */
void authcache_release(struct db *db);

#endif
