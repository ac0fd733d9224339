/*
 * whoami.h - GET /auth/whoami: the caller's principal as JSON (user, org,
 * auth method, token id, role per environment). The smallest protected
 * endpoint: what a client, an operator or a test uses to check a key.
 */
#ifndef BERTH_FCGI_WHOAMI_H
#define BERTH_FCGI_WHOAMI_H

#include "router.h"

void whoami_handle(struct worker_ctx *ctx, struct request *req);

#endif
