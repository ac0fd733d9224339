/*
 * wellknown.c - RFC 9728 protected resource metadata. See wellknown.h.
 */
#include "wellknown.h"

#include <stdio.h>

#include <json-c/json.h>

#include "config.h"
#include "oauth.h"

/* Long enough to spare the responders, short enough that a changed
 * authorization server or scope list reaches clients soon. */
#define WELLKNOWN_HEADERS                        \
	"Cache-Control: public, max-age=300\r\n" \
	"Access-Control-Allow-Origin: *\r\n"

void
wellknown_handle(struct worker_ctx *ctx, struct request *req)
{
	const struct config *cfg = ctx->cfg;
	struct json_object *o = NULL, *servers, *scopes, *methods;
	char resource[2048], issuer[2048];
	size_t i;

	if (!oauth_active(cfg)) {
		request_reply_error(req, 404, "not_found",
		    "OAuth is not enabled on this server", NULL);
		return;
	}
	if (oauth_resource_url(cfg, resource, sizeof(resource)) != OK ||
	    oauth_issuer(cfg, issuer, sizeof(issuer)) != OK) {
		request_reply_error(req, 500, "internal_error",
		    "configured URLs too long", NULL);
		return;
	}
	if ((o = json_object_new_object()) == NULL ||
	    (servers = json_object_new_array()) == NULL) {
		request_reply_error(
		    req, 500, "internal_error", "out of memory", NULL);
		json_object_put(o);
		return;
	}
	json_object_object_add(o, "resource", json_object_new_string(resource));
	json_object_array_add(servers, json_object_new_string(issuer));
	json_object_object_add(o, "authorization_servers", servers);
	if ((scopes = json_object_new_array()) != NULL) {
		for (i = 0; i < cfg->cloudship.oauth.scopes.n; i++)
			json_object_array_add(scopes,
			    json_object_new_string(
			        cfg->cloudship.oauth.scopes.v[i]));
		json_object_object_add(o, "scopes_supported", scopes);
	}
	if ((methods = json_object_new_array()) != NULL) {
		json_object_array_add(
		    methods, json_object_new_string("header"));
		json_object_object_add(o, "bearer_methods_supported", methods);
	}
	json_object_object_add(
	    o, "resource_name", json_object_new_string("Berth"));
	request_reply_json(req, 200, o, WELLKNOWN_HEADERS);
	json_object_put(o);
}
