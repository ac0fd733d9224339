/*
 * link.h - berthd's connection to CloudShip Lighthouse: its lifecycle.
 *
 * States: waiting (backoff) -> authenticating (stream open, StationAuth
 * sent) -> connected (heartbeats, management requests, run reports) ->
 * waiting again on any end; or stopped (REPLACED, AUTH_FAILED, KEY_REVOKED,
 * a refused key) until link_reconfigure() brings a changed cloudship:
 * section. Backoff: 1 s doubling to 30 s, +-20 % jitter, reset by a
 * successful AuthResult; LIMIT_REACHED waits 30 s; a Disconnect's
 * reconnect_delay_ms is honoured. A silent server is caught by HTTP/2
 * keepalive (transport.h) and by a receive watchdog (no message and no
 * heartbeat answer for interval + 15 s).
 *
 * Every change of state is written to station_status (one row per station
 * name). The registration key is never logged beyond its first 6 chars.
 *
 * Ownership: link_new() borrows cfg and db (both must outlive the link, or
 * be replaced with link_reconfigure()); link_free() closes the stream.
 */
#ifndef BERTH_LINK_H
#define BERTH_LINK_H

#include <stdbool.h>

struct config;
struct db;
struct link;

/* NULL when out of memory. "host:pid" goes to station_status.daemon. */
struct link *link_new(const struct config *cfg, struct db *db);

/* The station name (cloudship.name, else the host name). Owned by l. */
const char *link_name(const struct link *l);

/*
 * Runs the link for at most max_wait_ms: connects when due, handles what
 * Lighthouse sent, sends heartbeats and due run reports.
 */
void link_step(struct link *l, int max_wait_ms);

/*
 * Takes a reloaded config (borrowed from now on). When the cloudship:
 * section changed, the link drops its connection and starts over, also
 * from the stopped state.
 */
void link_reconfigure(struct link *l, const struct config *cfg);

/* True when the link gave up (replaced, key refused) until reconfigured. */
bool link_stopped(const struct link *l);

/*
 * Half-closes the stream, waits up to wait_ms for Lighthouse to end it,
 * and records the station as disconnected. The link stays usable.
 */
void link_shutdown(struct link *l, int wait_ms);

/* Closes everything (no clean close: see link_shutdown). NULL is fine. */
void link_free(struct link *l);

#endif
