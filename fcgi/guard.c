/* PLACEHOLDER */
#include "guard.h"
berr guard_init(struct worker_ctx *ctx) { (void)ctx; return OK; }
berr guard_principal(struct worker_ctx *ctx, struct request *req, struct principal *p) { (void)ctx; (void)p; request_reply_error(req, 401, "unauthorized", "not implemented", NULL); return ERR_DENIED; }
