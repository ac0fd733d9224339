/*
 * auth_session.h - POST /auth/logout and GET /auth/status, for the bearer
 * of a login session (auth_login.h).
 *
 * Logout deletes the session (the token stops working everywhere at once)
 * and is audited. Status tells the bearer whether their credentials are
 * valid, who they are, when the session expires, whether an upstream key
 * is stored with it, and the CloudShip link state the daemon keeps in
 * station_status, so `berth status` can show it. A refused token gets the
 * gate's 401 (guard.h); an expired session is audited as session_expired.
 */
#ifndef BERTH_FCGI_AUTH_SESSION_H
#define BERTH_FCGI_AUTH_SESSION_H

#include "router.h"

berr auth_session_init(struct worker_ctx *ctx)
    __attribute__((warn_unused_result));

void auth_session_logout(struct worker_ctx *ctx, struct request *req);

void auth_session_status(struct worker_ctx *ctx, struct request *req);

#endif
