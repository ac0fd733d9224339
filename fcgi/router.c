/*
 * router.c - the route table of berth-fcgi. See router.h.
 */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "auth_login.h"
#include "auth_session.h"
#include "guard.h"
#include "healthz.h"
#include "mcp_endpoint.h"
#include "wellknown.h"
#include "whoami.h"

struct route {
	const char *path;
	unsigned methods;
	route_handler handler;
	berr (*init)(struct worker_ctx *ctx);
};

static const struct route routes[] = {
	{ "/healthz", ROUTE_GET | ROUTE_HEAD, healthz_handle, healthz_init },
	{ "/auth/whoami", ROUTE_GET, whoami_handle, guard_init },
	{ "/auth/login", ROUTE_POST, auth_login_handle, auth_login_init },
	{ "/auth/logout", ROUTE_POST, auth_session_logout, auth_session_init },
	{ "/auth/status", ROUTE_GET, auth_session_status, auth_session_init },
	{ "/mcp", ROUTE_POST | ROUTE_GET | ROUTE_DELETE, mcp_endpoint_handle,
	    mcp_endpoint_init },
	{ "/.well-known/oauth-protected-resource", ROUTE_GET | ROUTE_HEAD,
	    wellknown_handle, NULL },
	{ "/.well-known/oauth-protected-resource/mcp", ROUTE_GET | ROUTE_HEAD,
	    wellknown_handle, NULL },
};

static unsigned
router_method_bit(const char *m)
{
	if (strcmp(m, "GET") == 0)
		return ROUTE_GET;
	if (strcmp(m, "HEAD") == 0)
		return ROUTE_HEAD;
	if (strcmp(m, "POST") == 0)
		return ROUTE_POST;
	if (strcmp(m, "DELETE") == 0)
		return ROUTE_DELETE;
	if (strcmp(m, "OPTIONS") == 0)
		return ROUTE_OPTIONS;
	return 0;
}

/* Writes "Allow: GET, HEAD\r\n" for methods into buf. */
static void
router_allow_header(unsigned methods, char *buf, size_t size)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ ROUTE_GET, "GET" },
		{ ROUTE_HEAD, "HEAD" },
		{ ROUTE_POST, "POST" },
		{ ROUTE_DELETE, "DELETE" },
		{ ROUTE_OPTIONS, "OPTIONS" },
	};
	size_t i, off;
	const char *sep = "";

	off = (size_t)snprintf(buf, size, "Allow: ");
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && off < size; i++) {
		if (!(methods & names[i].bit))
			continue;
		off += (size_t)snprintf(
		    buf + off, size - off, "%s%s", sep, names[i].name);
		sep = ", ";
	}
	if (off < size)
		snprintf(buf + off, size - off, "\r\n");
}

berr
router_init(struct worker_ctx *ctx)
{
	size_t i;
	berr rc;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (routes[i].init != NULL && (rc = routes[i].init(ctx)) != OK)
			return rc;
	return OK;
}

void
router_dispatch(struct worker_ctx *ctx, struct request *req)
{
	unsigned bit = router_method_bit(req->method);
	char allow[96], msg[160];
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].path, req->path) != 0)
			continue;
		if (!(routes[i].methods & bit)) {
			router_allow_header(
			    routes[i].methods, allow, sizeof(allow));
			snprintf(msg, sizeof(msg),
			    "method %.16s not allowed on %s", req->method,
			    routes[i].path);
			request_reply_error(
			    req, 405, "method_not_allowed", msg, allow);
			return;
		}
		routes[i].handler(ctx, req);
		return;
	}
	snprintf(msg, sizeof(msg), "no such endpoint: %.100s", req->path);
	request_reply_error(req, 404, "not_found", msg, NULL);
}
