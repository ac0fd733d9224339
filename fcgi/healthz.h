/*
 * healthz.h - GET /healthz: liveness plus database reachability.
 *
 * 200 {"status":"ok","database":"ok",...} when a trivial prepared query
 * answers, 503 {"status":"unavailable","database":"unreachable"} with
 * Retry-After when it does not. Never cached. Needs no authentication and
 * says nothing that would help an attacker (no versions of dependencies,
 * no error text from the database).
 */
#ifndef BERTH_FCGI_HEALTHZ_H
#define BERTH_FCGI_HEALTHZ_H

#include "router.h"

/* Registers the prepared statement. */
berr healthz_init(struct worker_ctx *ctx) __attribute__((warn_unused_result));
void healthz_handle(struct worker_ctx *ctx, struct request *req);

#endif
