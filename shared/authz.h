/*
 * authz.h - may this principal do that, in that environment? One place.
 *
 * Permissions are a fixed set. Roles map to permission sets: the built-in
 * roles of Station's security guide,
 *   admin      every permission;
 *   developer  tools.list, tools.call, agents.run, runs.read, agents.manage;
 *   viewer     tools.list, runs.read;
 *   none       nothing;
 * plus custom roles from config.yaml (`roles: {name: [permission, ...]}`),
 * which may not reuse a built-in's name. A user holds one role per
 * environment (struct principal): the role in environment E is the row
 * for E, else the row for "*" (every environment), else none. A role name
 * the config does not define (say, a custom role since removed) grants
 * nothing. Nothing here allocates or touches the database.
 */
#ifndef BERTH_AUTHZ_H
#define BERTH_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct config;
struct principal;

enum perm {
	PERM_TOOLS_LIST = 0, /* "tools.list" */
	PERM_TOOLS_CALL,     /* "tools.call" */
	PERM_AGENTS_RUN,     /* "agents.run" */
	PERM_RUNS_READ,      /* "runs.read" */
	PERM_AGENTS_MANAGE,  /* "agents.manage" */
	PERM_USERS_MANAGE,   /* "users.manage" */
	PERM_AUDIT_READ,     /* "audit.read" */
	PERM__COUNT
};

/* "tools.list", ...; static. */
const char *authz_perm_name(enum perm p);

/* Parses a permission name; ERR_INVALID when unknown. */
berr authz_perm_parse(const char *name, enum perm *out)
    __attribute__((warn_unused_result));

/*
 * The permission bit set (1u << perm) of role into *mask: built-in or from
 * cfg's custom roles (custom roles may not redefine built-ins). cfg may be
 * NULL: built-ins only. ERR_NOT_FOUND (and *mask 0) when no such role.
 */
berr authz_role_perms(const struct config *cfg, const char *role,
    unsigned *mask) __attribute__((warn_unused_result));

/* True when role is built-in or defined in cfg (NULL: built-ins only). */
bool authz_role_exists(const struct config *cfg, const char *role);

/* True when environment is one of cfg->environments, or "*". */
bool authz_environment_exists(
    const struct config *cfg, const char *environment);

/*
 * May p use perm in environment? OK (why, when given, set to ""), or
 * ERR_DENIED with why (may be NULL) receiving e.g. "missing permission
 * tools.call in environment production (role viewer)", or for a role the
 * config does not define "... (role ops is not defined)". ERR_INVALID with
 * why "unknown environment X" when environment is not one of
 * cfg->environments ("*" included: one acts in a single environment), and
 * for an out-of-range perm or a NULL p. why is cut to whylen, always
 * terminated when whylen > 0.
 */
berr authz_may(const struct config *cfg, const struct principal *p,
    enum perm perm, const char *environment, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/*
 * Every permission of p in environment at once, as the bit set
 * AUTHZ_BIT(perm) into *mask, for a caller that checks several (a
 * tools/list checks three per tool): the answers of authz_may() without
 * the why. ERR_INVALID (and *mask 0) wherever authz_may() says it.
 */
berr authz_mask(const struct config *cfg, const struct principal *p,
    const char *environment, unsigned *mask)
    __attribute__((warn_unused_result));

#define AUTHZ_BIT(perm) (1u << (unsigned)(perm))

#endif
