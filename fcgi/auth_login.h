/*
 * auth_login.h - POST /auth/login: a username and password for a session
 * token (the TS-MCP "cloud mode").
 *
 * A user with a local password is checked against it (scrypt); otherwise,
 * when an upstream is configured, the credentials are exchanged with it
 * for the user's upstream API key, which is stored encrypted with the new
 * session. Unknown users, wrong passwords and disabled users all get the
 * same 401 after the same scrypt work. Failures count against the account
 * and the address (authfail.h); a locked one gets 429 with Retry-After.
 * Upstream trouble is 502 (down, garbage, too big) or 504 (timeout), and
 * nothing is stored. Every outcome is audited, never with a secret.
 */
#ifndef BERTH_FCGI_AUTH_LOGIN_H
#define BERTH_FCGI_AUTH_LOGIN_H

#include "router.h"

berr auth_login_init(struct worker_ctx *ctx)
    __attribute__((warn_unused_result));

void auth_login_handle(struct worker_ctx *ctx, struct request *req);

#endif
