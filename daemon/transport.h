/*
 * transport.h - berthd's gRPC client for Lighthouse, over gRPC C core.
 *
 * The only module that includes grpc/grpc.h: the link (link.h) sees bytes
 * in, bytes out, and events, so the transport can be swapped (HTTP/2 by
 * hand, libcurl) without touching the protocol code.
 *
 * One struct transport is one channel (one connection attempt: the link
 * makes a new one after every failure, so gRPC's own reconnect machinery
 * never hides an outage) with one completion queue, at most one
 * ManagementChannel stream and at most one Heartbeat call in flight.
 * Single-threaded: everything happens inside transport_poll().
 *
 * Liveness: HTTP/2 keepalive pings every LIMIT_LH_KEEPALIVE_MS, the
 * connection dropped when one is not answered in
 * LIMIT_LH_KEEPALIVE_TIMEOUT_MS, pings sent with or without calls and data,
 * so a server that stops answering (SIGSTOP, a dead middlebox) ends the
 * stream with UNAVAILABLE within their sum.
 *
 * Ownership: transport_open() returns a transport the caller frees with
 * transport_close(); event payloads (ev->data, ev->details) belong to the
 * caller, freed with transport_event_clear().
 */
#ifndef BERTH_TRANSPORT_H
#define BERTH_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct transport;

struct transport_opts {
	const char *target; /* host:port */
	bool use_tls;       /* false: plaintext h2c with prior knowledge */
	bool skip_verify;   /* TLS without certificate checks: local dev only */
};

enum transport_ev_kind {
	TEV_NONE = 0,      /* the timeout passed with nothing to report */
	TEV_STREAM_UP,     /* the server sent the stream's initial metadata */
	TEV_STREAM_MSG,    /* data/len: one ManagementMessage, serialised */
	TEV_STREAM_END,    /* status/details: the stream is over */
	TEV_HEARTBEAT_END, /* status/details, data/len on status 0 */
};

struct transport_event {
	enum transport_ev_kind kind;
	uint8_t *data; /* malloc'ed, caller frees (transport_event_clear) */
	size_t len;
	int status;    /* gRPC status code (0 OK, 4 deadline, 14 unavailable) */
	char *details; /* malloc'ed status message or NULL */
};

/*
 * Creates the channel (TLS with ALPN h2 and the system CA store, or
 * plaintext). Does not connect yet: the first call does. ERR_NOMEM,
 * ERR_IO (no CA store readable), ERR_INTERNAL (gRPC refused).
 */
berr transport_open(const struct transport_opts *opts, struct transport **out)
    __attribute__((warn_unused_result));

/*
 * Cancels whatever is in flight, waits for gRPC to hand every operation
 * back, and frees everything. NULL is fine.
 */
void transport_close(struct transport *t);

/*
 * Starts the ManagementChannel stream and reception on it. ERR_CONFLICT
 * when one is already open on t, ERR_INTERNAL when gRPC refused.
 */
berr transport_stream_start(struct transport *t)
    __attribute__((warn_unused_result));

/*
 * Queues one serialised message (copied) for the stream; messages go out
 * in order, one at a time. ERR_CONFLICT when the stream is not open,
 * ERR_TOO_BIG when LIMIT_LH_SENDQ messages are already waiting.
 */
berr transport_stream_send(struct transport *t, const uint8_t *buf, size_t len)
    __attribute__((warn_unused_result));

/* Half-closes the stream after the queued messages (clean shutdown). */
void transport_stream_close_send(struct transport *t);

/* True while the stream is open (started, status not received). */
bool transport_stream_open(const struct transport *t);

/* True while a Heartbeat call is in flight. */
bool transport_heartbeat_busy(const struct transport *t);

/*
 * Starts a unary Heartbeat call with the serialised request (copied),
 * failing with DEADLINE_EXCEEDED after deadline_ms. ERR_CONFLICT when one
 * is already in flight.
 */
berr transport_heartbeat(struct transport *t, const uint8_t *buf, size_t len,
    int deadline_ms) __attribute__((warn_unused_result));

/*
 * Waits up to timeout_ms for the next event and fills *ev (TEV_NONE when
 * nothing came). Never fails: gRPC errors become TEV_STREAM_END.
 */
void transport_poll(
    struct transport *t, int timeout_ms, struct transport_event *ev);

/* Frees what ev holds and zeroes it. */
void transport_event_clear(struct transport_event *ev);

/* gRPC core's version string, for the start-up log. Static. */
const char *transport_version(void);

/* Process-wide set-up and tear-down of gRPC core (once each, in main). */
void transport_global_init(void);
void transport_global_shutdown(void);

#endif
