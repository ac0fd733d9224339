/*
 * guard.h - the authentication gate of berth-fcgi's protected endpoints.
 *
 * guard_principal() resolves the request's Authorization header with
 * principal_resolve(), applies the per-address brute-force lockout, audits
 * failures, and when it refuses answers the request itself: 401 with
 * WWW-Authenticate and a JSON body, 429 with Retry-After, or 503.
 */
#ifndef BERTH_FCGI_GUARD_H
#define BERTH_FCGI_GUARD_H

#include "principal.h"
#include "router.h"

/* Registers the prepared statements the gate needs. */
berr guard_init(struct worker_ctx *ctx) __attribute__((warn_unused_result));

/* OK with *p filled, or not OK after having answered req. */
berr guard_principal(struct worker_ctx *ctx, struct request *req,
    struct principal *p) __attribute__((warn_unused_result));

#endif
