/*
 * authz.c - see authz.h.
 *
 * A decision is a bit test: the role the principal holds in the
 * environment asked about gives a permission mask, and the permission is
 * in it or not. The role in environment E is the principal's row for E,
 * else its "*" row, else "none": an exact row always beats "*", so
 * "*=developer, production=viewer" narrows production only. A role name
 * that config.yaml no longer defines (a custom role removed while users
 * still hold it) grants nothing, and the denial says so, rather than the
 * request failing: removing a role from config is how an operator takes
 * its permissions away.
 *
 * Denials name the permission, the environment and the role, so a client
 * and an operator both see what to grant. The principal is not trusted to
 * carry NUL-terminated strings: its fixed arrays are read within bounds.
 */
#include "authz.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "principal.h"

#define PERM_ALL ((1u << PERM__COUNT) - 1)

/* Indexed by enum perm; the names config.yaml and the API use. */
static const char *const authz_perm_names[PERM__COUNT] = {
	[PERM_TOOLS_LIST] = "tools.list",
	[PERM_TOOLS_CALL] = "tools.call",
	[PERM_AGENTS_RUN] = "agents.run",
	[PERM_RUNS_READ] = "runs.read",
	[PERM_AGENTS_MANAGE] = "agents.manage",
	[PERM_USERS_MANAGE] = "users.manage",
	[PERM_AUDIT_READ] = "audit.read",
};

/*
 * The built-in roles, as Station's security guide describes them. admin
 * is every permission, present and future; developer works with tools
 * and agents but manages no users and reads no audit log; viewer only
 * looks; none is the explicit "no access" that a "*" row can be narrowed
 * to, and what a user without a row for an environment holds.
 */
static const struct {
	const char *name;
	unsigned mask;
} authz_builtins[] = {
	{ "admin", PERM_ALL },
	{ "developer",
	    AUTHZ_BIT(PERM_TOOLS_LIST) | AUTHZ_BIT(PERM_TOOLS_CALL) |
	        AUTHZ_BIT(PERM_AGENTS_RUN) | AUTHZ_BIT(PERM_RUNS_READ) |
	        AUTHZ_BIT(PERM_AGENTS_MANAGE) },
	{ "viewer", AUTHZ_BIT(PERM_TOOLS_LIST) | AUTHZ_BIT(PERM_RUNS_READ) },
	{ "none", 0 },
};

#define AUTHZ_NBUILTINS (sizeof(authz_builtins) / sizeof(authz_builtins[0]))

const char *
authz_perm_name(enum perm p)
{
	if ((unsigned)p >= PERM__COUNT)
		return "(unknown permission)";
	return authz_perm_names[p];
}

berr
authz_perm_parse(const char *name, enum perm *out)
{
	size_t i;

	if (name == NULL)
		return ERR_INVALID;
	for (i = 0; i < PERM__COUNT; i++) {
		if (strcmp(name, authz_perm_names[i]) == 0) {
			*out = (enum perm)i;
			return OK;
		}
	}
	return ERR_INVALID;
}

/*
 * The mask of a custom role. config.c has checked every permission name;
 * one that does not parse anyway grants nothing rather than failing.
 */
static unsigned
authz_custom_mask(const struct config_role *r)
{
	unsigned mask = 0;
	enum perm p;
	size_t i;

	for (i = 0; i < r->perms.n; i++)
		if (authz_perm_parse(r->perms.v[i], &p) == OK)
			mask |= AUTHZ_BIT(p);
	return mask;
}

berr
authz_role_perms(const struct config *cfg, const char *role, unsigned *mask)
{
	size_t i;

	*mask = 0;
	if (role == NULL)
		return ERR_NOT_FOUND;
	/* Built-ins first: config.c refuses custom roles of those names. */
	for (i = 0; i < AUTHZ_NBUILTINS; i++) {
		if (strcmp(role, authz_builtins[i].name) == 0) {
			*mask = authz_builtins[i].mask;
			return OK;
		}
	}
	if (cfg == NULL)
		return ERR_NOT_FOUND;
	for (i = 0; i < cfg->roles.n; i++) {
		if (strcmp(role, cfg->roles.v[i].name) == 0) {
			*mask = authz_custom_mask(&cfg->roles.v[i]);
			return OK;
		}
	}
	return ERR_NOT_FOUND;
}

bool
authz_role_exists(const struct config *cfg, const char *role)
{
	unsigned mask;

	return authz_role_perms(cfg, role, &mask) == OK;
}

bool
authz_environment_exists(const struct config *cfg, const char *environment)
{
	size_t i;

	if (environment == NULL)
		return false;
	if (strcmp(environment, "*") == 0)
		return true;
	if (cfg == NULL)
		return false;
	for (i = 0; i < cfg->environments.n; i++)
		if (strcmp(environment, cfg->environments.v[i]) == 0)
			return true;
	return false;
}

/* True when the fixed-size field (maybe not NUL-terminated) equals s. */
static bool
authz_field_is(const char *field, size_t size, const char *s)
{
	size_t n = strnlen(field, size);

	return n == strlen(s) && memcmp(field, s, n) == 0;
}

/*
 * The role of p in environment, written into role (size > 64): the first
 * row for environment, else the first "*" row, else "none". The only
 * reader of principal.roles[]: access is decided here and nowhere else.
 */
static void
authz_role_in(
    const struct principal *p, const char *environment, char *role, size_t size)
{
	const struct principal_role *r, *star = NULL, *found = NULL;
	size_t i, n;

	n = p->nroles < PRINCIPAL_MAX_ROLES ? p->nroles : PRINCIPAL_MAX_ROLES;
	for (i = 0; i < n && found == NULL; i++) {
		r = &p->roles[i];
		if (authz_field_is(
		        r->environment, sizeof(r->environment), environment))
			found = r;
		else if (star == NULL &&
		    authz_field_is(r->environment, sizeof(r->environment), "*"))
			star = r;
	}
	if (found == NULL)
		found = star;
	/* Plain copies: this runs for every permission checked. */
	if (found == NULL) {
		memcpy(role, "none", sizeof("none"));
		return;
	}
	n = strnlen(found->role, sizeof(found->role));
	if (n >= size)
		n = size - 1;
	memcpy(role, found->role, n);
	role[n] = '\0';
}

/* Writes a printf message into why when the caller wants one. */
static void authz_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
authz_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/*
 * The decision. ERR_INVALID (an unknown environment or permission, or no
 * principal) is the caller's mistake or a client naming an environment
 * that does not exist: answer 400/404, not 403. "*" is not an environment
 * one can act in, so it is unknown here too.
 */
/* ERR_INVALID with why when environment or p cannot be judged. */
static berr
authz_judgeable(const struct config *cfg, const struct principal *p,
    const char *environment, char *why, size_t whylen)
{
	if (environment == NULL || strcmp(environment, "*") == 0 ||
	    !authz_environment_exists(cfg, environment)) {
		authz_why(why, whylen, "unknown environment %s",
		    environment != NULL ? environment : "(none)");
		return ERR_INVALID;
	}
	if (p == NULL) {
		authz_why(why, whylen, "no principal");
		return ERR_INVALID;
	}
	return OK;
}

berr
authz_mask(const struct config *cfg, const struct principal *p,
    const char *environment, unsigned *mask)
{
	char role[sizeof(p->roles[0].role) + 1];
	berr rc;

	*mask = 0;
	if ((rc = authz_judgeable(cfg, p, environment, NULL, 0)) != OK)
		return rc;
	authz_role_in(p, environment, role, sizeof(role));
	/* A role the config does not define grants nothing (mask 0). */
	(void)!authz_role_perms(cfg, role, mask);
	return OK;
}

berr
authz_may(const struct config *cfg, const struct principal *p, enum perm perm,
    const char *environment, char *why, size_t whylen)
{
	char role[sizeof(p->roles[0].role) + 1];
	unsigned mask;
	bool defined;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if ((unsigned)perm >= PERM__COUNT) {
		authz_why(why, whylen, "unknown permission %d", (int)perm);
		return ERR_INVALID;
	}
	if (authz_judgeable(cfg, p, environment, why, whylen) != OK)
		return ERR_INVALID;
	authz_role_in(p, environment, role, sizeof(role));
	defined = authz_role_perms(cfg, role, &mask) == OK;
	if (mask & AUTHZ_BIT(perm))
		return OK;
	if (defined)
		authz_why(why, whylen,
		    "missing permission %s in environment %s (role %s)",
		    authz_perm_names[perm], environment, role);
	else
		authz_why(why, whylen,
		    "missing permission %s in environment %s (role %s is not "
		    "defined)",
		    authz_perm_names[perm], environment, role);
	return ERR_DENIED;
}
