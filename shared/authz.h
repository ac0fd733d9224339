/*
 * authz.h - may this principal do that, in that environment? One place.
 *
 * Permissions are a fixed set. Roles map to permission sets: the built-in
 * admin, developer, viewer and none (Station's security guide), plus custom
 * roles from config.yaml (`roles: {name: [permission, ...]}`). A user holds
 * one role per environment (struct principal). Nothing here allocates or
 * touches the database.
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
 * The permission bit set (1u << perm) of role: built-in or from cfg's
 * custom roles (custom roles may not redefine built-ins). ERR_NOT_FOUND
 * when no such role.
 */
berr authz_role_perms(const struct config *cfg, const char *role,
    unsigned *mask) __attribute__((warn_unused_result));

/* True when role is built-in or defined in cfg. */
bool authz_role_exists(const struct config *cfg, const char *role);

/* True when environment is one of cfg->environments, or "*". */
bool authz_environment_exists(
    const struct config *cfg, const char *environment);

/*
 * May p use perm in environment? OK, or ERR_DENIED with why (may be NULL)
 * receiving e.g. "missing permission tools.call in environment production
 * (role viewer)". ERR_INVALID when environment is not configured.
 */
berr authz_may(const struct config *cfg, const struct principal *p,
    enum perm perm, const char *environment, char *why, size_t whylen)
    __attribute__((warn_unused_result));

#endif
