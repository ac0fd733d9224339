/*
 * router.h - maps method and path to a handler.
 *
 * The route table is static in router.c; every endpoint of berth-fcgi is
 * one line there. Unknown paths get a JSON 404, known paths with another
 * method a JSON 405 with an Allow header. The router owns nothing; the
 * worker context is the caller's.
 */
#ifndef BERTH_FCGI_ROUTER_H
#define BERTH_FCGI_ROUTER_H

#include "request.h"

struct config;
struct crypto_key;
struct db;

/* What a worker has for every request: owned by the worker's main loop. */
struct worker_ctx {
	const struct config *cfg;
	struct db *db;
	/* The master key of crypto.h; NULL when none is configured (then no
	 * upstream is either: main() refuses to start otherwise). */
	const struct crypto_key *key;
};

/* Method bits of a route. */
enum {
	ROUTE_GET = 1 << 0,
	ROUTE_HEAD = 1 << 1,
	ROUTE_POST = 1 << 2,
	ROUTE_DELETE = 1 << 3,
	ROUTE_OPTIONS = 1 << 4,
};

typedef void (*route_handler)(struct worker_ctx *ctx, struct request *req);

/*
 * Prepares what every handler needs on ctx (its prepared statements).
 * Returns OK or the first error.
 */
berr router_init(struct worker_ctx *ctx) __attribute__((warn_unused_result));

/* Answers req: runs the handler or the 404/405 answer. */
void router_dispatch(struct worker_ctx *ctx, struct request *req);

#endif
