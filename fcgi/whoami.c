/* PLACEHOLDER */
#include "whoami.h"
#include "guard.h"
void whoami_handle(struct worker_ctx *ctx, struct request *req) { struct principal p; if (guard_principal(ctx, req, &p) != OK) return; request_reply_error(req, 500, "internal_error", "not implemented", NULL); }
