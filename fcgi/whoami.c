/*
 * whoami.c - GET /auth/whoami. See whoami.h.
 */
#include "whoami.h"

#include <stdbool.h>

#include <json-c/json.h>

#include "guard.h"

/* A JSON string, or null for "" (no email, no org). */
static struct json_object *
whoami_string_or_null(const char *s)
{
	return s[0] != '\0' ? json_object_new_string(s) : NULL;
}

void
whoami_handle(struct worker_ctx *ctx, struct request *req)
{
	struct json_object *o = NULL, *user, *roles;
	struct principal p;
	bool ok = false;
	size_t i;

	if (guard_principal(ctx, req, &p) != OK)
		return; /* answered */
	if ((o = json_object_new_object()) == NULL ||
	    (user = json_object_new_object()) == NULL)
		goto out;
	json_object_object_add(o, "user", user);
	json_object_object_add(user, "id", json_object_new_int64(p.user_id));
	json_object_object_add(
	    user, "username", json_object_new_string(p.username));
	json_object_object_add(user, "email", whoami_string_or_null(p.email));
	json_object_object_add(user, "org_id", whoami_string_or_null(p.org_id));
	json_object_object_add(o, "auth_method",
	    json_object_new_string(principal_method_name(p.method)));
	json_object_object_add(
	    o, "token_id", whoami_string_or_null(p.token_id));
	if ((roles = json_object_new_object()) == NULL)
		goto out;
	json_object_object_add(o, "roles", roles);
	for (i = 0; i < p.nroles && i < PRINCIPAL_MAX_ROLES; i++)
		json_object_object_add(roles, p.roles[i].environment,
		    json_object_new_string(p.roles[i].role));
	request_reply_json(req, 200, o, NULL);
	ok = true;
out:
	if (!ok)
		request_reply_error(
		    req, 500, "internal_error", "out of memory", NULL);
	json_object_put(o);
}
