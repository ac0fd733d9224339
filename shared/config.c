/*
 * config.c - see config.h.
 *
 * Everything about a key lives in one row of config_keys[]: its dotted path,
 * type, place in struct config, default, bounds, environment override, and
 * whether it is secret or may be applied by a running program. Defaults, the
 * YAML walk, environment overrides, validation, config_show(), config_free()
 * and config_static_change() all walk that table; only the rules that
 * relate keys to each other live outside it (ld_finish()). roles: is the
 * one key whose value is a mapping (CT_ROLES): its names and permissions
 * are checked as it is read (ld_set_roles()), each problem at its own line.
 *
 * A load goes, weakest first: defaults, the file, the environment. The
 * per-key checks run last, on whatever won, so a bad value is reported with
 * the place it came from (file line, environment variable or default).
 * Problems are collected, not stopped at, so one run of `berth config check`
 * shows them all.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <yaml.h>

#include "authz.h"
#include "file.h"
#include "limit.h"
#include "log.h"

/* Longest value quoted back in a message; longer ones end in "…". */
#define CONFIG_QUOTE_MAX 40
/*
 * Secrets shorter than this are shown as "…" alone: the usual first 6
 * characters would give away most of a short password.
 */
#define CONFIG_SECRET_SHOW_MIN 16
/* Longest dotted key path we look up; longer keys are unknown anyway. */
#define CONFIG_PATH_MAX 128
/* Longest ${NAME} we look up in the environment. */
#define CONFIG_VAR_MAX 64
/*
 * Longest custom role name: a role is stored per user and environment in
 * a column and in struct principal_role's role[65], so it must fit there.
 */
#define CONFIG_ROLE_NAME_MAX 64

/* CT_ROLES is roles: alone, a mapping of role name to permission list. */
enum ctype { CT_STR, CT_BOOL, CT_INT, CT_LIST, CT_ROLES };

#define CF_SECRET   0x1 /* config_show() masks it */
#define CF_RELOAD   0x2 /* a running program may apply a new value */
#define CF_CONNINFO 0x4 /* a libpq connection string: mask its password */

/*
 * Validates (and may normalise in place) the field of a key after the load.
 * Returns OK, ERR_CONFIG with msg filled (never quoting a secret), or
 * ERR_NOMEM. field is a char ** for CT_STR, a struct strlist * for CT_LIST.
 */
typedef berr (*check_fn)(void *field, char *msg, size_t msglen);

struct ckey {
	const char *key; /* dotted path in the YAML file */
	enum ctype type;
	size_t off;      /* offsetof(struct config, ...) */
	const char *def; /* default as text; lists comma-separated */
	long min, max;   /* CT_INT bounds, inclusive */
	const char *env; /* environment override, or NULL */
	unsigned flags;  /* CF_* */
	check_fn check;  /* NULL: any value of the type will do */
};

/* The fallible helpers; their result must be looked at. */
#define MUST_CHECK __attribute__((warn_unused_result))
struct loader;
static berr strlist_add(struct strlist *l, const char *s, size_t n) MUST_CHECK;
static berr key_set_text(struct config *cfg, const struct ckey *k,
    const char *text, char *msg, size_t msglen) MUST_CHECK;
static berr expand(const char *s, bool secret, char **out, char *msg,
    size_t msglen) MUST_CHECK;
static berr ld_scalar(struct loader *ld, const struct ckey *k,
    const yaml_node_t *n, char **out) MUST_CHECK;
static berr ld_prescan(
    struct loader *ld, const char *text, size_t len) MUST_CHECK;
static berr ld_parse(
    struct loader *ld, const char *text, size_t len) MUST_CHECK;
static berr ld_defaults(struct loader *ld) MUST_CHECK;
static berr ld_run(struct loader *ld, const char *path, const char *text,
    size_t len) MUST_CHECK;
static bool ld_path(
    char *path, size_t size, const char *prefix, const yaml_node_t *kn);

/* A growable string; a failed allocation is sticky and checked once. */
struct cbuf {
	char *p;
	size_t len, cap;
	bool nomem;
};

static void
cbuf_add(struct cbuf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->nomem)
		return;
	/* len + n + 1 cannot wrap, so an empty buffer (cap 0) always grows
	 * here before the copy. */
	if (n >= SIZE_MAX / 2 - b->len) {
		b->nomem = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->nomem = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
cbuf_adds(struct cbuf *b, const char *s)
{
	cbuf_add(b, s, strlen(s));
}

static void cbuf_vaddf(struct cbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
cbuf_vaddf(struct cbuf *b, const char *fmt, va_list ap)
{
	char small[512], *big;
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		b->nomem = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		cbuf_add(b, small, (size_t)n);
		return;
	}
	if ((big = malloc((size_t)n + 1)) == NULL) {
		b->nomem = true;
		return;
	}
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	cbuf_add(b, big, (size_t)n);
	free(big);
}

static void cbuf_addf(struct cbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
cbuf_addf(struct cbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cbuf_vaddf(b, fmt, ap);
	va_end(ap);
}

/*
 * Writes s into buf as a double-quoted, escaped string for messages, cut at
 * CONFIG_QUOTE_MAX characters. Returns buf.
 */
static const char *
quoted(const char *s, char *buf, size_t size)
{
	size_t o = 0, i;
	unsigned char c;

	buf[o++] = '"';
	for (i = 0; s[i] != '\0' && o + 8 < size; i++) {
		if (i == CONFIG_QUOTE_MAX) {
			o += (size_t)snprintf(buf + o, size - o, "…");
			break;
		}
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* A new string a followed by b, or NULL when out of memory. */
static char *
str_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s;

	if ((s = malloc(la + lb + 1)) == NULL)
		return NULL;
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* Replaces the string *field with s (which it takes over). */
static void
str_set(char **field, char *s)
{
	free(*field);
	*field = s;
}

static void
strlist_clear(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Appends a copy of n bytes of s. OK or ERR_NOMEM (l unchanged). */
static berr
strlist_add(struct strlist *l, const char *s, size_t n)
{
	char **v, *copy;

	if ((copy = strndup(s, n)) == NULL)
		return ERR_NOMEM;
	/* Room doubles when n reaches a power of two: no capacity field. */
	if ((l->n & (l->n - 1)) == 0) {
		if ((v = realloc(l->v, (l->n ? l->n * 2 : 1) * sizeof(*v))) ==
		    NULL) {
			free(copy);
			return ERR_NOMEM;
		}
		l->v = v;
	}
	l->v[l->n++] = copy;
	return OK;
}

static void
roles_clear(struct config_roles *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].name);
		strlist_clear(&r->v[i].perms);
	}
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

/*
 * Appends a role named name, without permissions yet. OK or ERR_NOMEM (r
 * unchanged).
 */
static berr
roles_add(struct config_roles *r, const char *name)
{
	struct config_role *v;
	char *copy;

	if ((copy = strdup(name)) == NULL)
		return ERR_NOMEM;
	/* As strlist_add(): room doubles at powers of two. */
	if ((r->n & (r->n - 1)) == 0) {
		if ((v = realloc(r->v, (r->n ? r->n * 2 : 1) * sizeof(*v))) ==
		    NULL) {
			free(copy);
			return ERR_NOMEM;
		}
		r->v = v;
	}
	r->v[r->n].name = copy;
	r->v[r->n].perms.v = NULL;
	r->v[r->n].perms.n = 0;
	r->n++;
	return OK;
}

static bool
strlist_equal(const struct strlist *a, const struct strlist *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

static bool
roles_equal(const struct config_roles *a, const struct config_roles *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, b->v[i].name) != 0 ||
		    !strlist_equal(&a->v[i].perms, &b->v[i].perms))
			return false;
	return true;
}

/* --- per-key checks ----------------------------------------------------- */

static bool
has_space_or_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return true;
	return false;
}

static berr
check_nonempty(void *field, char *msg, size_t msglen)
{
	if (**(char **)field != '\0')
		return OK;
	snprintf(msg, msglen, "must not be empty");
	return ERR_CONFIG;
}

/*
 * Expands a leading "~" or "~/" with $HOME, or the password database when a
 * service manager started us without HOME.
 */
static berr
check_dir(void *field, char *msg, size_t msglen)
{
	char **s = field, *home, *v;
	struct passwd *pw;

	if ((*s)[0] != '~' || ((*s)[1] != '\0' && (*s)[1] != '/'))
		return OK;
	home = getenv("HOME");
	if (home == NULL || *home == '\0') {
		pw = getpwuid(getuid());
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home == NULL || *home == '\0') {
		snprintf(msg, msglen, "cannot expand ~: HOME is not set");
		return ERR_CONFIG;
	}
	if ((v = str_join(home, *s + 1)) == NULL)
		return ERR_NOMEM;
	str_set(s, v);
	return OK;
}

static berr
check_workspace(void *field, char *msg, size_t msglen)
{
	berr rc;

	if ((rc = check_nonempty(field, msg, msglen)) != OK)
		return rc;
	return check_dir(field, msg, msglen);
}

/* Case-insensitive, stored lower-case: Station users write "OpenAI". */
static berr
check_provider(void *field, char *msg, size_t msglen)
{
	static const char *const providers[] = { "openai", "anthropic",
		"gemini", "ollama", "openai-compatible" };
	char *s = *(char **)field, q[64];
	size_t i;

	for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
		if (strcasecmp(s, providers[i]) == 0) {
			strcpy(s, providers[i]); /* same length */
			return OK;
		}
	}
	snprintf(msg, msglen,
	    "unknown provider %s, expected one of: openai, anthropic, gemini, "
	    "ollama, openai-compatible",
	    quoted(s, q, sizeof(q)));
	return ERR_CONFIG;
}

/* HOST:PORT or [V6]:PORT with a port in 1..65535. */
static bool
is_hostport(const char *s)
{
	const char *colon, *p;
	long port = 0;

	if (*s == '[') {
		if ((p = strchr(s, ']')) == NULL || p == s + 1 || p[1] != ':')
			return false;
		colon = p + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || colon == s)
			return false;
		for (p = s; p < colon; p++)
			if (*p == ':' || *p == '/' || *p == '@')
				return false;
	}
	if (has_space_or_ctl(s) || colon[1] == '\0')
		return false;
	for (p = colon + 1; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) || p - colon > 5)
			return false;
		port = port * 10 + (*p - '0');
	}
	return port >= 1 && port <= 65535;
}

static berr
check_hostport(void *field, char *msg, size_t msglen)
{
	char *s = *(char **)field, q[64];

	if (is_hostport(s))
		return OK;
	snprintf(
	    msg, msglen, "expected HOST:PORT, got %s", quoted(s, q, sizeof(q)));
	return ERR_CONFIG;
}

static berr
check_listen(void *field, char *msg, size_t msglen)
{
	char *s = *(char **)field, q[64];

	if (*s == '\0' || is_hostport(s))
		return OK;
	if (strncmp(s, "unix:", 5) == 0 && s[5] != '\0')
		return OK;
	snprintf(msg, msglen, "expected unix:PATH or HOST:PORT, got %s",
	    quoted(s, q, sizeof(q)));
	return ERR_CONFIG;
}

/* http:// or https:// followed by a non-empty host, no blanks anywhere. */
static bool
is_http_url(const char *s)
{
	size_t skip;

	if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	return !has_space_or_ctl(s) && strcspn(s + skip, "/?#") > 0;
}

/*
 * URL checks, by flag: URL_REQUIRED rejects "", URL_STRIP removes trailing
 * slashes (base URLs get paths appended; a redirect URI must stay exact).
 */
#define URL_REQUIRED 0x1
#define URL_STRIP    0x2

static berr
check_url_flags(void *field, char *msg, size_t msglen, unsigned fl)
{
	char *s = *(char **)field, q[64];
	size_t n;

	if (*s == '\0' && !(fl & URL_REQUIRED))
		return OK;
	if (!is_http_url(s)) {
		snprintf(msg, msglen,
		    "expected an http:// or https:// URL, got %s",
		    quoted(s, q, sizeof(q)));
		return ERR_CONFIG;
	}
	if (fl & URL_STRIP) {
		n = strlen(s);
		while (n > 0 && s[n - 1] == '/')
			s[--n] = '\0';
		/* "http:///" has no host left: is_http_url() caught it. */
	}
	return OK;
}

static berr
check_public_url(void *field, char *msg, size_t msglen)
{
	return check_url_flags(field, msg, msglen, URL_REQUIRED | URL_STRIP);
}

static berr
check_base_url(void *field, char *msg, size_t msglen)
{
	return check_url_flags(field, msg, msglen, URL_STRIP);
}

static berr
check_url(void *field, char *msg, size_t msglen)
{
	return check_url_flags(field, msg, msglen, 0);
}

static berr
check_url_required(void *field, char *msg, size_t msglen)
{
	return check_url_flags(field, msg, msglen, URL_REQUIRED);
}

/* libpq's parser decides; its message may quote the password, so drop it. */
static berr
check_conninfo(void *field, char *msg, size_t msglen)
{
	PQconninfoOption *opts;
	char *err = NULL;

	if (**(char **)field == '\0') {
		snprintf(msg, msglen, "must not be empty");
		return ERR_CONFIG;
	}
	opts = PQconninfoParse(*(char **)field, &err);
	if (err != NULL)
		PQfreemem(err);
	if (opts == NULL) {
		snprintf(msg, msglen,
		    "not a valid PostgreSQL connection string "
		    "(postgresql://USER:PASSWORD@HOST/DB or key=value)");
		return ERR_CONFIG;
	}
	PQconninfoFree(opts);
	return OK;
}

static berr
check_method(void *field, char *msg, size_t msglen)
{
	char *s = *(char **)field, q[64];

	if (strcasecmp(s, "POST") == 0 || strcasecmp(s, "PUT") == 0) {
		strcpy(s, strlen(s) == 4 ? "POST" : "PUT"); /* same length */
		return OK;
	}
	snprintf(msg, msglen, "expected POST or PUT, got %s",
	    quoted(s, q, sizeof(q)));
	return ERR_CONFIG;
}

static berr
check_abspath(void *field, char *msg, size_t msglen)
{
	char *s = *(char **)field, q[64];

	if (*s == '/' && !has_space_or_ctl(s))
		return OK;
	snprintf(msg, msglen, "expected a path starting with /, got %s",
	    quoted(s, q, sizeof(q)));
	return ERR_CONFIG;
}

/* A user_roles.environment: [A-Za-z0-9_.-]{1,64} or "*". */
static berr
check_role_env(void *field, char *msg, size_t msglen)
{
	const char *s = *(char **)field;
	char q[64];
	size_t i, n = strlen(s);

	if (strcmp(s, "*") == 0)
		return OK;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '.' && s[i] != '-')
			break;
	if (n >= 1 && n <= 64 && i == n)
		return OK;
	snprintf(msg, msglen,
	    "expected \"*\" or an environment name of [A-Za-z0-9_.-], got %s",
	    quoted(s, q, sizeof(q)));
	return ERR_CONFIG;
}

/* An HTTP header name: an RFC 9110 token. */
static berr
check_header(void *field, char *msg, size_t msglen)
{
	char *s = *(char **)field, *p, q[64];

	for (p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) &&
		    !strchr("!#$%&'*+-.^_`|~", *p))
			break;
	if (*s != '\0' && *p == '\0')
		return OK;
	snprintf(msg, msglen, "not a valid HTTP header name: %s",
	    quoted(s, q, sizeof(q)));
	return ERR_CONFIG;
}

/*
 * Origins are compared as exact strings with the browser's Origin header,
 * which never has a path or a trailing slash: reject what could not match.
 */
static berr
check_origins(void *field, char *msg, size_t msglen)
{
	struct strlist *l = field;
	const char *host;
	char q[64];
	size_t i;

	for (i = 0; i < l->n; i++) {
		host = strstr(l->v[i], "://");
		if (is_http_url(l->v[i]) && strpbrk(host + 3, "/?#") == NULL)
			continue;
		snprintf(msg, msglen,
		    "item %zu: expected an origin http(s)://HOST[:PORT] "
		    "without a path, got %s",
		    i + 1, quoted(l->v[i], q, sizeof(q)));
		return ERR_CONFIG;
	}
	return OK;
}

static berr
check_hosts(void *field, char *msg, size_t msglen)
{
	struct strlist *l = field;
	char q[64];
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (l->v[i][0] != '\0' && !has_space_or_ctl(l->v[i]) &&
		    strpbrk(l->v[i], "/?#@") == NULL)
			continue;
		snprintf(msg, msglen,
		    "item %zu: expected HOST or HOST:PORT, got %s", i + 1,
		    quoted(l->v[i], q, sizeof(q)));
		return ERR_CONFIG;
	}
	return OK;
}

/* OAuth scopes: non-empty tokens without blanks. */
static berr
check_tokens(void *field, char *msg, size_t msglen)
{
	struct strlist *l = field;
	char q[64];
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (l->v[i][0] != '\0' && !has_space_or_ctl(l->v[i]))
			continue;
		snprintf(msg, msglen,
		    "item %zu: expected a word without blanks, got %s", i + 1,
		    quoted(l->v[i], q, sizeof(q)));
		return ERR_CONFIG;
	}
	return OK;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Environment names end up in URLs and SQL values: [a-z0-9_-]+, at least
 * one, no duplicates. Duplicates are found by sorting a copy of the
 * pointers, so a huge list costs n log n, not n squared.
 */
static berr
check_environments(void *field, char *msg, size_t msglen)
{
	struct strlist *l = field;
	char **sorted = NULL, q[64];
	berr rc = OK;
	size_t i;

	if (l->n == 0) {
		snprintf(msg, msglen, "must list at least one environment");
		return ERR_CONFIG;
	}
	for (i = 0; i < l->n; i++) {
		if (l->v[i][0] != '\0' &&
		    strspn(l->v[i], "abcdefghijklmnopqrstuvwxyz0123456789_-") ==
		        strlen(l->v[i]))
			continue;
		snprintf(msg, msglen,
		    "item %zu: environment names are made of a-z, 0-9, _ and "
		    "-, got %s",
		    i + 1, quoted(l->v[i], q, sizeof(q)));
		return ERR_CONFIG;
	}
	if ((sorted = malloc(l->n * sizeof(*sorted))) == NULL)
		return ERR_NOMEM;
	memcpy(sorted, l->v, l->n * sizeof(*sorted));
	qsort(sorted, l->n, sizeof(*sorted), cmp_str);
	for (i = 1; i < l->n; i++) {
		if (strcmp(sorted[i - 1], sorted[i]) == 0) {
			snprintf(msg, msglen, "environment %s is listed twice",
			    quoted(sorted[i], q, sizeof(q)));
			rc = ERR_CONFIG;
			goto out;
		}
	}
out:
	free(sorted);
	return rc;
}

/* --- the table ---------------------------------------------------------- */

#define OFF(f) offsetof(struct config, f)
/* One row of the table; kept on two lines whatever the formatter says. */
/* clang-format off */
#define K_STR(key, f, def, env, fl, chk) \
	{ key, CT_STR, OFF(f), def, 0, 0, env, fl, chk }
#define K_BOOL(key, f, def, fl) \
	{ key, CT_BOOL, OFF(f), def, 0, 0, NULL, fl, NULL }
#define K_INT(key, f, def, lo, hi, env, fl) \
	{ key, CT_INT, OFF(f), def, lo, hi, env, fl, NULL }
#define K_LIST(key, f, def, fl, chk) \
	{ key, CT_LIST, OFF(f), def, 0, 0, NULL, fl, chk }
#define K_ROLES(key, f, fl) \
	{ key, CT_ROLES, OFF(f), "", 0, 0, NULL, fl, NULL }
/* clang-format on */

/*
 * Keys of one section must be contiguous: config_show() opens a section
 * when its first key comes and never reopens it.
 */
static const struct ckey config_keys[] = {
	/* Station's top-level keys, Station's defaults. */
	K_STR("workspace", workspace, "~/.config/station", NULL, 0,
	    check_workspace),
	K_STR("ai_provider", ai_provider, "openai", NULL, CF_RELOAD,
	    check_provider),
	K_STR("ai_model", ai_model, "gpt-4o", NULL, CF_RELOAD, check_nonempty),
	K_STR("ai_base_url", ai_base_url, "", NULL, CF_RELOAD, NULL),
	K_INT("ai_timeout", ai_timeout, "120", 1, 3600, NULL, CF_RELOAD),
	K_INT("ai_max_retries", ai_max_retries, "3", 0, 10, NULL, CF_RELOAD),
	K_BOOL("debug", debug, "false", CF_RELOAD),
	K_BOOL("local_mode", local_mode, "true", 0),

	/* Station's cloudship: section, as Station documents it. */
	K_BOOL("cloudship.enabled", cloudship.enabled, "false", 0),
	K_STR("cloudship.registration_key", cloudship.registration_key, "",
	    "CLOUDSHIP_REGISTRATION_KEY", CF_SECRET, NULL),
	K_STR("cloudship.endpoint", cloudship.endpoint,
	    "lighthouse.cloudshipai.com:443", "CLOUDSHIP_ENDPOINT", 0,
	    check_hostport),
	K_BOOL("cloudship.use_tls", cloudship.use_tls, "true", 0),
	K_BOOL(
	    "cloudship.skip_tls_verify", cloudship.skip_tls_verify, "false", 0),
	K_STR("cloudship.name", cloudship.name, "", "CLOUDSHIP_STATION_NAME", 0,
	    NULL),
	K_LIST("cloudship.tags", cloudship.tags, "", 0, NULL),
	K_STR("cloudship.base_url", cloudship.base_url,
	    "https://app.cloudshipai.com", NULL, 0, check_base_url),
	K_STR("cloudship.org_id", cloudship.org_id, "", NULL, 0, NULL),
	K_BOOL("cloudship.oauth.enabled", cloudship.oauth.enabled, "false", 0),
	K_STR("cloudship.oauth.client_id", cloudship.oauth.client_id, "", NULL,
	    0, NULL),
	K_STR("cloudship.oauth.client_secret", cloudship.oauth.client_secret,
	    "", NULL, CF_SECRET, NULL),
	K_STR("cloudship.oauth.auth_url", cloudship.oauth.auth_url, "", NULL, 0,
	    check_url),
	K_STR("cloudship.oauth.token_url", cloudship.oauth.token_url, "", NULL,
	    0, check_url),
	K_STR("cloudship.oauth.introspect_url", cloudship.oauth.introspect_url,
	    "", NULL, 0, check_url),
	K_STR("cloudship.oauth.redirect_uri", cloudship.oauth.redirect_uri, "",
	    NULL, 0, check_url),
	K_LIST("cloudship.oauth.scopes", cloudship.oauth.scopes, "", 0,
	    check_tokens),
	/* Berth's own OAuth keys (oauth.h, docs/SECURITY.md). */
	K_STR("cloudship.oauth.issuer", cloudship.oauth.issuer, "", NULL, 0,
	    check_base_url),
	K_BOOL("cloudship.oauth.org_scoping", cloudship.oauth.org_scoping,
	    "true", 0),
	K_INT("cloudship.oauth.timeout", cloudship.oauth.timeout, "5", 1, 60,
	    NULL, 0),
	K_INT("cloudship.oauth.cache_seconds", cloudship.oauth.cache_seconds,
	    "300", 1, 300, NULL, 0),
	K_INT("cloudship.oauth.negative_cache_seconds",
	    cloudship.oauth.negative_cache_seconds, "30", 0, 300, NULL, 0),

	/* Berth's own. */
	K_STR("database.url", database.url, "postgresql:///berth",
	    "DATABASE_URL", CF_CONNINFO, check_conninfo),
	K_INT("database.connect_timeout", database.connect_timeout, "5", 1, 60,
	    NULL, 0),
	K_STR("http.public_url", http.public_url, "http://localhost:8080", NULL,
	    CF_RELOAD, check_public_url),
	K_LIST("http.allowed_origins", http.allowed_origins, "", CF_RELOAD,
	    check_origins),
	K_LIST("http.allowed_hosts", http.allowed_hosts, "", CF_RELOAD,
	    check_hosts),
	K_STR("fcgi.listen", fcgi.listen, "", NULL, 0, check_listen),
	K_INT("fcgi.workers", fcgi.workers, "4", 1, LIMIT_WORKERS, NULL, 0),
	K_INT("sessions.ttl_days", sessions.ttl_days, "30", 1, 3650,
	    "TS_MCP_SESSION_TTL_DAYS", CF_RELOAD),
	K_INT("sessions.mcp_idle_timeout", sessions.mcp_idle_timeout, "3600",
	    60, 604800, NULL, CF_RELOAD),
	K_INT("sessions.mcp_absolute_timeout", sessions.mcp_absolute_timeout,
	    "86400", 60, 2592000, NULL, CF_RELOAD),
	K_INT(
	    "mcp.max_streams", mcp.max_streams, "2", 1, LIMIT_WORKERS, NULL, 0),
	K_INT("mcp.keepalive_seconds", mcp.keepalive_seconds, "15", 1, 300,
	    NULL, CF_RELOAD),
	K_INT("mcp.agent_wait_seconds", mcp.agent_wait_seconds, "60", 1, 600,
	    NULL, CF_RELOAD),
	K_BOOL(
	    "mcp.conformance_fixtures", mcp.conformance_fixtures, "false", 0),
	K_INT("retention.audit_days", retention.audit_days, "365", 1, 36500,
	    NULL, CF_RELOAD),
	K_INT("retention.runs_days", retention.runs_days, "90", 1, 36500, NULL,
	    CF_RELOAD),
	K_INT("runner.workers", runner.workers, "2", 0, 64, NULL, 0),
	/* `berth auth anthropic login` and the runner's refresh (aicred.h). */
	K_STR("ai_oauth.authorize_url", ai_oauth.authorize_url,
	    "https://claude.ai/oauth/authorize", NULL, CF_RELOAD,
	    check_url_required),
	K_STR("ai_oauth.token_url", ai_oauth.token_url,
	    "https://console.anthropic.com/v1/oauth/token", NULL, CF_RELOAD,
	    check_url_required),
	K_STR("ai_oauth.client_id", ai_oauth.client_id,
	    "9d1c250a-e61b-44d9-88ed-5944d1962f5e", NULL, CF_RELOAD,
	    check_nonempty),
	K_STR("ai_oauth.redirect_uri", ai_oauth.redirect_uri,
	    "https://console.anthropic.com/oauth/code/callback", NULL,
	    CF_RELOAD, check_url_required),
	K_LIST("ai_oauth.scopes", ai_oauth.scopes,
	    "org:create_api_key,user:profile,user:inference", CF_RELOAD,
	    check_tokens),
	K_INT("ai_oauth.timeout", ai_oauth.timeout, "30", 1, 300, NULL,
	    CF_RELOAD),
	K_INT("ai_oauth.refresh_margin", ai_oauth.refresh_margin, "300", 0,
	    86400, NULL, CF_RELOAD),
	K_STR("upstream.name", upstream.name, "upstream", NULL, CF_RELOAD,
	    check_nonempty),
	K_STR("upstream.base_url", upstream.base_url, "", NULL, CF_RELOAD,
	    check_base_url),
	K_STR("upstream.login_path", upstream.login_path, "/api/auth", NULL,
	    CF_RELOAD, check_abspath),
	K_STR("upstream.login_method", upstream.login_method, "POST", NULL,
	    CF_RELOAD, check_method),
	K_STR("upstream.username_field", upstream.username_field, "username",
	    NULL, CF_RELOAD, check_nonempty),
	K_STR("upstream.password_field", upstream.password_field, "password",
	    NULL, CF_RELOAD, check_nonempty),
	K_STR("upstream.api_key_field", upstream.api_key_field, "api_key", NULL,
	    CF_RELOAD, check_nonempty),
	K_STR("upstream.api_key_header", upstream.api_key_header, "X-API-Key",
	    NULL, CF_RELOAD, check_header),
	K_INT("upstream.timeout", upstream.timeout, "10", 1, 300, NULL,
	    CF_RELOAD),
	K_STR("upstream.tools_file", upstream.tools_file, "", NULL, 0, NULL),
	K_STR("encryption.key_file", encryption.key_file, "", NULL, 0, NULL),
	K_STR("encryption.old_key_file", encryption.old_key_file, "", NULL, 0,
	    NULL),
	K_STR("agents_dir", agents_dir, "", NULL, 0, check_dir),
	K_LIST("environments", environments, "development,staging,production",
	    0, check_environments),
	/*
	 * Roles and the auth: keys are read afresh at every decision, so a
	 * reload applies them. auth.default_role is checked against roles:
	 * in ld_finish().
	 */
	K_ROLES("roles", roles, CF_RELOAD),
	K_INT("auth.lockout_failures", auth.lockout_failures, "5", 1, 1000,
	    NULL, CF_RELOAD),
	K_INT("auth.lockout_address_failures", auth.lockout_address_failures,
	    "20", 1, 100000, NULL, CF_RELOAD),
	K_INT("auth.lockout_window", auth.lockout_window, "900", 1, 86400, NULL,
	    CF_RELOAD),
	K_INT("auth.key_touch_interval", auth.key_touch_interval, "60", 0,
	    86400, NULL, CF_RELOAD),
	K_INT(
	    "auth.cache_lease", auth.cache_lease, "10", 0, 60, NULL, CF_RELOAD),
	K_STR("auth.default_role", auth.default_role, "viewer", NULL, CF_RELOAD,
	    NULL),
	K_STR("auth.default_environment", auth.default_environment, "*", NULL,
	    CF_RELOAD, check_role_env),
};

#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static void *
key_field(const struct config *cfg, const struct ckey *k)
{
	return (char *)cfg + k->off;
}

/* Index of key in config_keys[], or -1. */
static int
key_find(const char *key)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* True when some key lives under path (path is a section). */
static bool
key_is_section(const char *path)
{
	size_t i, n = strlen(path);

	for (i = 0; i < NKEYS; i++)
		if (strncmp(config_keys[i].key, path, n) == 0 &&
		    config_keys[i].key[n] == '.')
			return true;
	return false;
}

static const char *
type_name(enum ctype t)
{
	switch (t) {
	case CT_STR: return "a string";
	case CT_BOOL: return "true or false";
	case CT_INT: return "an integer";
	case CT_LIST: return "a list";
	case CT_ROLES: return "a mapping of roles";
	}
	return "?";
}

/* YAML booleans, case-insensitive, as YAML 1.1 and Station accept them. */
static bool
parse_bool(const char *s, bool *b)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
	    !strcasecmp(s, "on"))
		*b = true;
	else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") ||
	    !strcasecmp(s, "off"))
		*b = false;
	else
		return false;
	return true;
}

/*
 * Converts text to the type of k and stores it in cfg, replacing what was
 * there. Lists given as text (defaults, environment) are comma-separated.
 * Returns OK, ERR_CONFIG with msg set (cfg unchanged) or ERR_NOMEM.
 */
static berr
key_set_text(struct config *cfg, const struct ckey *k, const char *text,
    char *msg, size_t msglen)
{
	void *f = key_field(cfg, k);
	struct strlist l = { NULL, 0 };
	const char *p, *e;
	char *s, *end, q[64];
	berr rc;
	bool b;
	long v;

	switch (k->type) {
	case CT_STR:
		if ((s = strdup(text)) == NULL)
			return ERR_NOMEM;
		str_set(f, s);
		return OK;
	case CT_BOOL:
		if (!parse_bool(text, &b)) {
			snprintf(msg, msglen, "expected true or false, got %s",
			    quoted(text, q, sizeof(q)));
			return ERR_CONFIG;
		}
		*(bool *)f = b;
		return OK;
	case CT_INT:
		errno = 0;
		v = strtol(text, &end, 10);
		if (end == text || *end != '\0' ||
		    !(isdigit((unsigned char)*text) || *text == '-' ||
		        *text == '+')) {
			snprintf(msg, msglen, "expected an integer, got %s",
			    quoted(text, q, sizeof(q)));
			return ERR_CONFIG;
		}
		if (errno == ERANGE || v < k->min || v > k->max) {
			snprintf(msg, msglen,
			    "must be between %ld and %ld, got %s", k->min,
			    k->max, quoted(text, q, sizeof(q)));
			return ERR_CONFIG;
		}
		*(int *)f = (int)v;
		return OK;
	case CT_LIST:
		for (p = text; *p != '\0'; p = *e ? e + 1 : e) {
			e = p + strcspn(p, ",");
			if ((rc = strlist_add(&l, p, (size_t)(e - p))) != OK) {
				strlist_clear(&l);
				return rc;
			}
		}
		strlist_clear(f);
		*(struct strlist *)f = l;
		return OK;
	case CT_ROLES:
		/* Only the default comes as text: "", no custom roles. */
		if (*text != '\0')
			return ERR_INTERNAL;
		roles_clear(f);
		return OK;
	}
	return ERR_INTERNAL;
}

/* --- the loader --------------------------------------------------------- */

/* One diagnostic line, kept to be sorted by where it points. */
struct diag_line {
	int rank; /* file-wide first, then by line, then environment/default */
	int seq;  /* report order, to keep the sort stable */
	char *text;
};

struct loader {
	const char *name; /* file name, for messages */
	struct config *cfg;
	yaml_document_t *doc;
	struct diag_line errs[LIMIT_CONFIG_DIAG], warns[LIMIT_CONFIG_DIAG];
	int nerr, nwarn, seq;   /* nerr, nwarn: all reported, kept or not */
	bool diag_nomem;        /* a diagnostic was lost to memory */
	berr fatal;             /* ERR_NOMEM: stop everything */
	int line[NKEYS];        /* line of the key in the file, 0 = not set */
	const char *env[NKEYS]; /* environment override that won, or NULL */
	struct {
		char path[CONFIG_PATH_MAX];
		int line;
	} sections[16];
	size_t nsections;
};

static void ld_report(struct loader *ld, bool warn, int line, const char *env,
    const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/*
 * Records one diagnostic line: "error: FILE:LINE: KEY: message". line 0
 * drops ":LINE", env replaces "FILE:LINE" by "environment VAR", key NULL
 * drops "KEY: ". Past LIMIT_CONFIG_DIAG of a kind, only counts.
 */
static void
ld_report(struct loader *ld, bool warn, int line, const char *env,
    const char *key, const char *fmt, ...)
{
	struct diag_line *d = warn ? ld->warns : ld->errs;
	int *n = warn ? &ld->nwarn : &ld->nerr;
	struct cbuf b = { NULL, 0, 0, false };
	va_list ap;

	if (*n >= LIMIT_CONFIG_DIAG) {
		(*n)++;
		return;
	}
	cbuf_adds(&b, warn ? "warning: " : "error: ");
	if (env != NULL)
		cbuf_addf(&b, "environment %s", env);
	else if (line > 0)
		cbuf_addf(&b, "%s:%d", ld->name, line);
	else
		cbuf_adds(&b, ld->name);
	cbuf_adds(&b, ": ");
	if (key != NULL) {
		cbuf_adds(&b, key);
		cbuf_adds(&b, ": ");
	}
	va_start(ap, fmt);
	cbuf_vaddf(&b, fmt, ap);
	va_end(ap);
	cbuf_adds(&b, "\n");
	if (b.nomem) {
		free(b.p);
		ld->diag_nomem = true;
		return;
	}
	d[*n].rank = line > 0 ? line : env == NULL && key == NULL ? 0 : 1 << 30;
	d[*n].seq = ld->seq++;
	d[*n].text = b.p;
	(*n)++;
}

/* Libyaml counts lines from 0; people and editors from 1. */
static int
node_line(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static const char *
node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a scalar";
	}
}

/* An unquoted ~, null or nothing: "not set here", so the default stays. */
static bool
node_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") ||
	    !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/*
 * Expands ${NAME}, ${NAME:-default} and $$ in s into a new string *out. A
 * "$" followed by anything else stays as it is, so a password with a "$"
 * in it needs no escaping. As in the shell, ${NAME:-default} takes the
 * default when NAME is unset or empty; the default is literal text up to
 * the first "}". A secret's text is never quoted in msg. Returns OK,
 * ERR_CONFIG with msg set, or ERR_NOMEM; *out is NULL on error.
 */
static berr
expand(const char *s, bool secret, char **out, char *msg, size_t msglen)
{
	struct cbuf b = { NULL, 0, 0, false };
	const char *p = s, *end, *name, *ne, *val;
	char var[CONFIG_VAR_MAX];
	berr rc = OK;
	size_t n;

	*out = NULL;
	while (*p != '\0') {
		n = strcspn(p, "$");
		cbuf_add(&b, p, n);
		if (p[n] == '\0')
			break;
		p += n;
		if (p[1] != '{') {
			/* "$$" is one "$"; a lone "$" is itself. */
			cbuf_add(&b, "$", 1);
			p += p[1] == '$' ? 2 : 1;
			continue;
		}
		name = p + 2;
		if ((end = strchr(name, '}')) == NULL) {
			snprintf(msg, msglen,
			    "unterminated ${ (write $$ for a literal $)");
			rc = ERR_CONFIG;
			goto out;
		}
		for (ne = name;
		     ne < end && (isalnum((unsigned char)*ne) || *ne == '_');
		     ne++)
			;
		if (ne == name || isdigit((unsigned char)*name) ||
		    (size_t)(ne - name) >= sizeof(var) ||
		    (ne != end && strncmp(ne, ":-", 2) != 0)) {
			/* Inside a secret, the reference may be secret text. */
			snprintf(msg, msglen,
			    "bad reference ${%.*s}, expected ${NAME} or "
			    "${NAME:-default}",
			    secret ? 3
			           : (int)(end - name > 40 ? 40 : end - name),
			    secret ? "…" : name);
			rc = ERR_CONFIG;
			goto out;
		}
		memcpy(var, name, (size_t)(ne - name));
		var[ne - name] = '\0';
		val = getenv(var);
		if (val != NULL && (ne == end || *val != '\0')) {
			cbuf_adds(&b, val);
		} else if (ne != end) {
			/* ${NAME:-default} with NAME unset or empty. */
			cbuf_add(&b, ne + 2, (size_t)(end - ne - 2));
		} else {
			snprintf(msg, msglen,
			    "${%s} is not set (write ${%s:-default} for a "
			    "fallback)",
			    var, var);
			rc = ERR_CONFIG;
			goto out;
		}
		p = end + 1;
		if (b.len > LIMIT_CONFIG_BYTES) {
			snprintf(msg, msglen,
			    "longer than %d bytes once expanded",
			    LIMIT_CONFIG_BYTES);
			rc = ERR_CONFIG;
			goto out;
		}
	}
	if (b.nomem) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (b.p == NULL && (b.p = strdup("")) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	*out = b.p;
	b.p = NULL;
out:
	free(b.p);
	return rc;
}

/*
 * The text of scalar n for key k, ${} expanded, in *out (caller frees).
 * Returns OK, ERR_CONFIG (reported here) or ERR_NOMEM.
 */
static berr
ld_scalar(
    struct loader *ld, const struct ckey *k, const yaml_node_t *n, char **out)
{
	char msg[256];
	berr rc;

	*out = NULL;
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL) {
		ld_report(ld, false, node_line(n), NULL, k->key,
		    "value contains a NUL character");
		return ERR_CONFIG;
	}
	rc = expand((const char *)n->data.scalar.value,
	    (k->flags & (CF_SECRET | CF_CONNINFO)) != 0, out, msg, sizeof(msg));
	if (rc == ERR_CONFIG)
		ld_report(ld, false, node_line(n), NULL, k->key, "%s", msg);
	return rc;
}

/* A role name seen in roles:, with its line, to find duplicates. */
struct role_seen {
	const char *name;
	int line;
};

static int
role_seen_cmp(const void *a, const void *b)
{
	const struct role_seen *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

/*
 * True when the n bytes of s are a role name: 1 to CONFIG_ROLE_NAME_MAX of
 * [A-Za-z0-9_.-]. Role names go into the database, URLs and messages
 * unquoted, and "*" is kept for "every environment".
 */
static bool
role_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > CONFIG_ROLE_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

/*
 * The permissions of one role from list vn, into perms. Each problem is
 * reported against key (roles.NAME) at its own line. Returns OK (problems
 * reported or not) or ERR_NOMEM.
 */
static berr
ld_role_perms(struct loader *ld, const char *key, const yaml_node_t *vn,
    struct strlist *perms)
{
	yaml_node_item_t *it;
	yaml_node_t *item;
	const char *name;
	char q[64], all[256];
	enum perm p;
	size_t i, j, o;
	berr rc;

	if (node_is_null(vn))
		return OK; /* "ops:" alone: a role without permissions */
	if (vn->type != YAML_SEQUENCE_NODE) {
		ld_report(ld, false, node_line(vn), NULL, key,
		    "expected a list of permissions, got %s", node_kind(vn));
		return OK;
	}
	for (it = vn->data.sequence.items.start;
	     it < vn->data.sequence.items.top; it++) {
		item = yaml_document_get_node(ld->doc, *it);
		i = (size_t)(it - vn->data.sequence.items.start) + 1;
		if (item->type != YAML_SCALAR_NODE) {
			ld_report(ld, false, node_line(item), NULL, key,
			    "item %zu: expected a string, got %s", i,
			    node_kind(item));
			continue;
		}
		name = (const char *)item->data.scalar.value;
		/* A NUL inside would make "tools.list\0x" pass for tools.list. */
		if (strlen(name) != item->data.scalar.length ||
		    authz_perm_parse(name, &p) != OK) {
			/* The list comes from authz: one source of truth. */
			for (o = 0, j = 0; j < PERM__COUNT; j++)
				o += (size_t)snprintf(all + o, sizeof(all) - o,
				    "%s%s", j ? ", " : "",
				    authz_perm_name((enum perm)j));
			ld_report(ld, false, node_line(item), NULL, key,
			    "item %zu: unknown permission %s, expected one "
			    "of: %s",
			    i, quoted(name, q, sizeof(q)), all);
			continue;
		}
		/* At most PERM__COUNT names get in, so this stays short. */
		for (j = 0; j < perms->n; j++)
			if (strcmp(perms->v[j], name) == 0)
				break;
		if (j < perms->n) {
			ld_report(ld, false, node_line(item), NULL, key,
			    "item %zu: permission %s is listed twice", i, name);
			continue;
		}
		if ((rc = strlist_add(perms, name, strlen(name))) != OK)
			return rc;
	}
	return OK;
}

/*
 * Sets the custom roles from mapping vn, NAME: [PERMISSION, ...]. Each
 * problem is reported against roles.NAME at its own line and the walk
 * goes on, so one check shows them all; a rejected name is left out, a
 * rejected permission too. Only running out of memory stops the load
 * (ld->fatal). Duplicate names are found by sorting, n log n.
 */
static void
ld_set_roles(struct loader *ld, const struct ckey *k, const yaml_node_t *vn)
{
	struct config_roles r = { NULL, 0 };
	struct role_seen *seen = NULL;
	yaml_node_pair_t *pair;
	yaml_node_t *kn, *val;
	const char *name;
	char path[CONFIG_PATH_MAX], q[64];
	size_t npairs, nseen = 0, first, i;
	unsigned mask;
	berr rc = OK;

	if (vn->type != YAML_MAPPING_NODE) {
		ld_report(ld, false, node_line(vn), NULL, k->key,
		    "expected a mapping of role names to permission lists, "
		    "got %s",
		    node_kind(vn));
		return;
	}
	npairs =
	    (size_t)(vn->data.mapping.pairs.top - vn->data.mapping.pairs.start);
	if (npairs > 0 && (seen = calloc(npairs, sizeof(*seen))) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (pair = vn->data.mapping.pairs.start;
	     pair < vn->data.mapping.pairs.top; pair++) {
		kn = yaml_document_get_node(ld->doc, pair->key);
		val = yaml_document_get_node(ld->doc, pair->value);
		if (kn->type != YAML_SCALAR_NODE) {
			ld_report(ld, false, node_line(kn), NULL, k->key,
			    "keys must be strings, got %s", node_kind(kn));
			continue;
		}
		name = (const char *)kn->data.scalar.value;
		ld_path(path, sizeof(path), k->key, kn);
		if (!role_name_ok(name, kn->data.scalar.length)) {
			ld_report(ld, false, node_line(kn), NULL, path,
			    "role names are 1 to %d of A-Z, a-z, 0-9, _, . "
			    "and -, got %s",
			    CONFIG_ROLE_NAME_MAX, quoted(name, q, sizeof(q)));
			continue;
		}
		if (authz_role_perms(NULL, name, &mask) == OK) {
			ld_report(ld, false, node_line(kn), NULL, path,
			    "cannot redefine the built-in role %s", name);
			continue;
		}
		if ((rc = roles_add(&r, name)) != OK)
			goto out;
		seen[nseen].name = r.v[r.n - 1].name;
		seen[nseen++].line = node_line(kn);
		rc = ld_role_perms(ld, path, val, &r.v[r.n - 1].perms);
		if (rc != OK)
			goto out;
	}
	if (nseen > 1)
		qsort(seen, nseen, sizeof(*seen), role_seen_cmp);
	for (first = 0, i = 1; i < nseen; i++) {
		if (strcmp(seen[first].name, seen[i].name) != 0) {
			first = i;
			continue;
		}
		snprintf(path, sizeof(path), "%s.%s", k->key, seen[i].name);
		ld_report(ld, false, seen[i].line, NULL, path,
		    "duplicate role (first at line %d)", seen[first].line);
	}
	roles_clear(key_field(ld->cfg, k));
	*(struct config_roles *)key_field(ld->cfg, k) = r;
	r.v = NULL;
	r.n = 0;
out:
	if (rc != OK)
		ld->fatal = rc;
	free(seen);
	roles_clear(&r);
}

/*
 * Sets key i from value node vn (key node kn). Problems are reported; only
 * running out of memory stops the load (ld->fatal).
 */
static void
ld_set_node(
    struct loader *ld, size_t i, const yaml_node_t *kn, const yaml_node_t *vn)
{
	const struct ckey *k = &config_keys[i];
	struct strlist l = { NULL, 0 };
	yaml_node_item_t *it;
	yaml_node_t *item;
	char *text = NULL, msg[256];
	berr rc = OK;

	if (ld->line[i] != 0) {
		ld_report(ld, false, node_line(kn), NULL, k->key,
		    "duplicate key (first set at line %d)", ld->line[i]);
		return;
	}
	ld->line[i] = node_line(kn);
	if (node_is_null(vn))
		return;
	if (k->type == CT_ROLES) {
		ld_set_roles(ld, k, vn);
		return;
	}
	if (k->type != CT_LIST) {
		if (vn->type != YAML_SCALAR_NODE) {
			ld_report(ld, false, node_line(vn), NULL, k->key,
			    "expected %s, got %s", type_name(k->type),
			    node_kind(vn));
			return;
		}
		if ((rc = ld_scalar(ld, k, vn, &text)) != OK)
			goto out;
		rc = key_set_text(ld->cfg, k, text, msg, sizeof(msg));
		if (rc == ERR_CONFIG)
			ld_report(
			    ld, false, node_line(vn), NULL, k->key, "%s", msg);
		goto out;
	}
	if (vn->type != YAML_SEQUENCE_NODE) {
		ld_report(ld, false, node_line(vn), NULL, k->key,
		    "expected a list, got %s", node_kind(vn));
		return;
	}
	for (it = vn->data.sequence.items.start;
	     it < vn->data.sequence.items.top; it++) {
		item = yaml_document_get_node(ld->doc, *it);
		if (item->type != YAML_SCALAR_NODE) {
			ld_report(ld, false, node_line(item), NULL, k->key,
			    "item %zu: expected a string, got %s",
			    (size_t)(it - vn->data.sequence.items.start) + 1,
			    node_kind(item));
			rc = ERR_CONFIG;
			goto out;
		}
		if ((rc = ld_scalar(ld, k, item, &text)) != OK)
			goto out;
		if ((rc = strlist_add(&l, text, strlen(text))) != OK)
			goto out;
		free(text);
		text = NULL;
	}
	strlist_clear(key_field(ld->cfg, k));
	*(struct strlist *)key_field(ld->cfg, k) = l;
	l.v = NULL;
	l.n = 0;
out:
	if (rc != OK && rc != ERR_CONFIG)
		ld->fatal = rc;
	free(text);
	strlist_clear(&l);
}

static void ld_walk(
    struct loader *ld, const yaml_node_t *map, const char *prefix);

/* Enters section path (a mapping, or null for an empty section). */
static void
ld_section(struct loader *ld, const char *path, int line, const yaml_node_t *vn)
{
	size_t i;

	for (i = 0; i < ld->nsections; i++) {
		if (strcmp(ld->sections[i].path, path) == 0) {
			ld_report(ld, false, line, NULL, path,
			    "duplicate section (first at line %d)",
			    ld->sections[i].line);
			return;
		}
	}
	/* The table has fewer sections than slots; keep going if not. */
	if (ld->nsections < sizeof(ld->sections) / sizeof(ld->sections[0])) {
		snprintf(ld->sections[ld->nsections].path,
		    sizeof(ld->sections[0].path), "%s", path);
		ld->sections[ld->nsections++].line = line;
	}
	if (node_is_null(vn))
		return;
	if (vn->type != YAML_MAPPING_NODE) {
		ld_report(ld, false, node_line(vn), NULL, path,
		    "expected a mapping of keys, got %s", node_kind(vn));
		return;
	}
	ld_walk(ld, vn, path);
}

/*
 * Builds prefix.key into path for lookups and messages, control characters
 * shown as "?", cut to fit. Returns true when the key could be one of ours:
 * short, plain, without "." (a dotted key is not a nested one).
 */
static bool
ld_path(char *path, size_t size, const char *prefix, const yaml_node_t *kn)
{
	const unsigned char *k = kn->data.scalar.value;
	size_t klen = kn->data.scalar.length, o, i;
	bool plain = klen > 0 && klen < 64;

	o = (size_t)snprintf(path, size, "%s%s", prefix, *prefix ? "." : "");
	for (i = 0; i < klen && o + 1 < size; i++) {
		if (k[i] < 0x20 || k[i] == 0x7f || k[i] == '.') {
			plain = false;
			path[o++] = k[i] == '.' ? '.' : '?';
		} else {
			path[o++] = (char)k[i];
		}
	}
	path[o] = '\0';
	return plain && i == klen;
}

/*
 * Walks the pairs of a mapping at prefix ("" for the top level). Recursion
 * follows sections of the table only, so its depth is the table's, never
 * the file's.
 */
static void
ld_walk(struct loader *ld, const yaml_node_t *map, const char *prefix)
{
	yaml_node_pair_t *pair;
	yaml_node_t *kn, *vn;
	char path[CONFIG_PATH_MAX];
	int idx, line;
	bool ours;

	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top && ld->fatal == OK; pair++) {
		kn = yaml_document_get_node(ld->doc, pair->key);
		vn = yaml_document_get_node(ld->doc, pair->value);
		line = node_line(kn);
		if (kn->type != YAML_SCALAR_NODE) {
			ld_report(ld, false, line, NULL,
			    *prefix ? prefix : NULL,
			    "keys must be strings, got %s", node_kind(kn));
			continue;
		}
		ours = ld_path(path, sizeof(path), prefix, kn);
		if (ours && (idx = key_find(path)) >= 0)
			ld_set_node(ld, (size_t)idx, kn, vn);
		else if (ours && key_is_section(path))
			ld_section(ld, path, line, vn);
		else
			ld_report(
			    ld, true, line, NULL, path, "unknown key, ignored");
	}
}

static void
ld_yaml_error(struct loader *ld, const yaml_parser_t *p)
{
	const char *problem = p->problem != NULL ? p->problem : "bad YAML";

	if (p->error == YAML_MEMORY_ERROR) {
		ld->fatal = ERR_NOMEM;
	} else if (p->error == YAML_READER_ERROR) {
		ld_report(ld, false, 0, NULL, NULL, "YAML: %s at byte %zu",
		    problem, p->problem_offset);
	} else if (p->context != NULL) {
		ld_report(ld, false, (int)p->problem_mark.line + 1, NULL, NULL,
		    "YAML: %s (%s at line %d)", problem, p->context,
		    (int)p->context_mark.line + 1);
	} else {
		ld_report(ld, false, (int)p->problem_mark.line + 1, NULL, NULL,
		    "YAML: %s", problem);
	}
}

/*
 * A first pass over the events, before anything is built: refuses aliases
 * (an alias is a second pointer to a node, so a few lines can stand for
 * billions of nodes, or for a cycle) and nesting deeper than
 * LIMIT_CONFIG_DEPTH (libyaml's scanner slows down with the square of the
 * flow depth, so a megabyte of "[" would take minutes). It tracks the key
 * path to name the key in messages. Problems are reported; the return is
 * OK or ERR_NOMEM.
 */
static berr
ld_prescan(struct loader *ld, const char *text, size_t len)
{
	struct {
		bool map, want_key;
		size_t plen; /* length of path when the collection began */
	} st[LIMIT_CONFIG_DEPTH];
	char path[CONFIG_PATH_MAX] = "";
	yaml_parser_t parser;
	yaml_event_t ev;
	yaml_event_type_t t;
	const char *v;
	size_t plen, i;
	int depth = 0;

	if (!yaml_parser_initialize(&parser))
		return ERR_NOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (;;) {
		if (!yaml_parser_parse(&parser, &ev)) {
			ld_yaml_error(ld, &parser);
			break;
		}
		t = ev.type;
		if (t == YAML_ALIAS_EVENT)
			ld_report(ld, false, (int)ev.start_mark.line + 1, NULL,
			    *path ? path : NULL,
			    "aliases (*%.40s) are not allowed",
			    (const char *)ev.data.alias.anchor);
		if (t == YAML_MAPPING_START_EVENT ||
		    t == YAML_SEQUENCE_START_EVENT) {
			if (depth == LIMIT_CONFIG_DEPTH) {
				ld_report(ld, false,
				    (int)ev.start_mark.line + 1, NULL, NULL,
				    "nested deeper than %d levels",
				    LIMIT_CONFIG_DEPTH);
				yaml_event_delete(&ev);
				break;
			}
			st[depth].map = t == YAML_MAPPING_START_EVENT;
			st[depth].want_key = true;
			st[depth++].plen = strlen(path);
		} else if (t == YAML_SCALAR_EVENT && depth > 0 &&
		    st[depth - 1].map && st[depth - 1].want_key) {
			/* A key: the path grows by it until its value ends. */
			st[depth - 1].want_key = false;
			v = (const char *)ev.data.scalar.value;
			plen = strlen(path);
			if (plen > 0 && plen + 1 < sizeof(path))
				path[plen++] = '.';
			for (i = 0; v[i] != '\0' && plen + 1 < sizeof(path);
			     i++)
				path[plen++] =
				    (unsigned char)v[i] < 0x20 ? '?' : v[i];
			path[plen] = '\0';
			t = YAML_NO_EVENT; /* not a value */
		} else if (t == YAML_MAPPING_END_EVENT ||
		    t == YAML_SEQUENCE_END_EVENT) {
			depth--;
		}
		/* A value (scalar, alias or collection) has ended: back to its key. */
		if ((t == YAML_SCALAR_EVENT || t == YAML_ALIAS_EVENT ||
		        t == YAML_MAPPING_END_EVENT ||
		        t == YAML_SEQUENCE_END_EVENT) &&
		    depth > 0 && st[depth - 1].map) {
			if (st[depth - 1].want_key) {
				/* a complex key (a collection) ended: value next */
				st[depth - 1].want_key = false;
			} else {
				path[st[depth - 1].plen] = '\0';
				st[depth - 1].want_key = true;
			}
		}
		yaml_event_delete(&ev);
		if (t == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&parser);
	return ld->fatal; /* ld_yaml_error() sets it when memory ran out */
}

/*
 * Parses text and applies what it sets. Problems are reported; the return
 * is OK or ERR_NOMEM.
 */
static berr
ld_parse(struct loader *ld, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root, *n;
	bool have_doc = false;
	berr rc = OK;
	int nerr;

	nerr = ld->nerr;
	if ((rc = ld_prescan(ld, text, len)) != OK || ld->nerr > nerr)
		return rc;
	if (!yaml_parser_initialize(&parser))
		return ERR_NOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ld_yaml_error(ld, &parser);
		goto out;
	}
	have_doc = true;
	ld->doc = &doc;
	if ((root = yaml_document_get_root_node(&doc)) == NULL)
		goto out; /* empty file or only comments: all defaults */
	/* A second document is a stray "---", not something to merge. */
	if (!yaml_parser_load(&parser, &extra)) {
		ld_yaml_error(ld, &parser);
	} else {
		if ((n = yaml_document_get_root_node(&extra)) != NULL)
			ld_report(ld, false, node_line(n), NULL, NULL,
			    "only one YAML document is allowed");
		yaml_document_delete(&extra);
	}
	if (node_is_null(root))
		goto out;
	if (root->type != YAML_MAPPING_NODE) {
		ld_report(ld, false, node_line(root), NULL, NULL,
		    "the top level must be a mapping of keys, got %s",
		    node_kind(root));
		goto out;
	}
	ld_walk(ld, root, "");
out:
	if (have_doc)
		yaml_document_delete(&doc);
	ld->doc = NULL;
	yaml_parser_delete(&parser);
	if (rc == OK)
		rc = ld->fatal;
	return rc;
}

/* Only non-empty variables override: an empty one is treated as unset. */
static void
ld_env(struct loader *ld)
{
	const struct ckey *k;
	const char *v;
	char msg[256];
	size_t i;
	berr rc;

	for (i = 0; i < NKEYS && ld->fatal == OK; i++) {
		k = &config_keys[i];
		if (k->env == NULL || (v = getenv(k->env)) == NULL ||
		    *v == '\0')
			continue;
		rc = key_set_text(ld->cfg, k, v, msg, sizeof(msg));
		if (rc == OK)
			ld->env[i] = k->env;
		else if (rc == ERR_CONFIG)
			ld_report(ld, false, 0, k->env, k->key, "%s", msg);
		else
			ld->fatal = rc;
	}
}

/* Reports msg against key i where its value came from. */
static void
ld_report_key(struct loader *ld, size_t i, const char *msg)
{
	ld_report(ld, false, ld->env[i] ? 0 : ld->line[i], ld->env[i],
	    config_keys[i].key, "%s", msg);
}

static void
ld_check(struct loader *ld)
{
	const struct ckey *k;
	char msg[256];
	size_t i;
	berr rc;

	for (i = 0; i < NKEYS && ld->fatal == OK; i++) {
		k = &config_keys[i];
		if (k->check == NULL)
			continue;
		rc = k->check(key_field(ld->cfg, k), msg, sizeof(msg));
		if (rc == ERR_CONFIG)
			ld_report_key(ld, i, msg);
		else if (rc != OK)
			ld->fatal = rc;
	}
}

/* The rules that relate keys to each other; after ld_check(). */
static void
ld_finish(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	size_t n = strlen(cfg->workspace);
	char msg[256], q[64], *s;
	int i;

	if (cfg->agents_dir[0] == '\0') {
		s = str_join(cfg->workspace,
		    n > 0 && cfg->workspace[n - 1] == '/' ? "environments"
		                                          : "/environments");
		if (s == NULL) {
			ld->fatal = ERR_NOMEM;
			return;
		}
		str_set(&cfg->agents_dir, s);
	}
	if (cfg->sessions.mcp_absolute_timeout <
	    cfg->sessions.mcp_idle_timeout) {
		snprintf(msg, sizeof(msg),
		    "must be at least sessions.mcp_idle_timeout (%d), got %d",
		    cfg->sessions.mcp_idle_timeout,
		    cfg->sessions.mcp_absolute_timeout);
		i = key_find("sessions.mcp_absolute_timeout");
		ld_report_key(ld, (size_t)i, msg);
	}
	/* New users get this role: it must mean something. */
	if (!authz_role_exists(cfg, cfg->auth.default_role)) {
		snprintf(msg, sizeof(msg),
		    "unknown role %s, expected admin, developer, viewer, none "
		    "or a role defined under roles:",
		    quoted(cfg->auth.default_role, q, sizeof(q)));
		i = key_find("auth.default_role");
		ld_report_key(ld, (size_t)i, msg);
	}
}

/* Every key to its default. ERR_INTERNAL means a bad default: a bug. */
static berr
ld_defaults(struct loader *ld)
{
	char msg[256];
	size_t i;
	berr rc;

	for (i = 0; i < NKEYS; i++) {
		rc = key_set_text(ld->cfg, &config_keys[i], config_keys[i].def,
		    msg, sizeof(msg));
		if (rc != OK)
			return rc == ERR_CONFIG ? ERR_INTERNAL : rc;
	}
	return OK;
}

static void
ld_init(struct loader *ld, const char *name)
{
	memset(ld, 0, sizeof(*ld));
	ld->name = name != NULL ? name : "(buffer)";
}

/*
 * Builds ld->cfg: defaults, then text (when not NULL), environment, checks.
 * path is what cfg->path will say. Returns OK (even with problems
 * reported), ERR_NOMEM or ERR_INTERNAL.
 */
static berr
ld_run(struct loader *ld, const char *path, const char *text, size_t len)
{
	berr rc;

	if ((ld->cfg = calloc(1, sizeof(*ld->cfg))) == NULL)
		return ERR_NOMEM;
	if ((rc = ld_defaults(ld)) != OK)
		return rc;
	if ((ld->cfg->path = strdup(path)) == NULL)
		return ERR_NOMEM;
	if (text != NULL && (rc = ld_parse(ld, text, len)) != OK)
		return rc;
	ld_env(ld);
	if (ld->fatal == OK)
		ld_check(ld);
	if (ld->fatal == OK)
		ld_finish(ld);
	return ld->fatal;
}

/* Orders diagnostics as the file reads, stable. */
static int
diag_cmp(const void *a, const void *b)
{
	const struct diag_line *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * Ends a load: hands cfg to *out when rc is OK and nothing was wrong, else
 * frees it; hands the diagnostics (errors, then warnings, each in file
 * order) to *diag. Returns the final code.
 */
static berr
ld_done(struct loader *ld, berr rc, struct config **out, char **diag)
{
	struct cbuf d = { NULL, 0, 0, false };
	int i, shown;

	if (rc == OK && ld->nerr > 0)
		rc = ERR_CONFIG;
	shown = ld->nerr < LIMIT_CONFIG_DIAG ? ld->nerr : LIMIT_CONFIG_DIAG;
	qsort(ld->errs, (size_t)shown, sizeof(ld->errs[0]), diag_cmp);
	for (i = 0; i < shown; i++)
		cbuf_adds(&d, ld->errs[i].text);
	if (ld->nerr > shown)
		cbuf_addf(&d, "error: %s: %d more errors not shown\n", ld->name,
		    ld->nerr - shown);
	shown = ld->nwarn < LIMIT_CONFIG_DIAG ? ld->nwarn : LIMIT_CONFIG_DIAG;
	qsort(ld->warns, (size_t)shown, sizeof(ld->warns[0]), diag_cmp);
	for (i = 0; i < shown; i++)
		cbuf_adds(&d, ld->warns[i].text);
	if (ld->nwarn > shown)
		cbuf_addf(&d, "warning: %s: %d more warnings not shown\n",
		    ld->name, ld->nwarn - shown);
	for (i = 0; i < LIMIT_CONFIG_DIAG; i++) {
		free(ld->errs[i].text);
		free(ld->warns[i].text);
	}
	/* Diagnostics lost to memory would turn a bad file into a good one. */
	if (d.nomem || ld->diag_nomem)
		rc = ERR_NOMEM;
	if (diag != NULL && rc != ERR_NOMEM) {
		*diag = d.p;
		d.p = NULL;
	}
	free(d.p);
	if (rc == OK)
		*out = ld->cfg;
	else
		config_free(ld->cfg);
	ld->cfg = NULL;
	return rc;
}

/* --- the contract ------------------------------------------------------- */

const char *
config_default_path(void)
{
	const char *p = getenv("BERTH_CONFIG");

	return p != NULL && *p != '\0' ? p : "/etc/berth/config.yaml";
}

berr
config_load(const char *path, struct config **out, char **diag)
{
	const char *file = path != NULL ? path : config_default_path();
	const char *env = getenv("BERTH_CONFIG");
	struct loader ld;
	char *text = NULL;
	size_t len = 0;
	berr rc;
	int err;

	*out = NULL;
	if (diag != NULL)
		*diag = NULL;
	ld_init(&ld, file);
	rc = file_read(file, 0, LIMIT_CONFIG_BYTES, &text, &len, &err);
	if (rc == ERR_IO && err == ENOENT && path == NULL) {
		/*
		 * No file is a normal way to run on defaults and environment;
		 * but when BERTH_CONFIG names a file, a typo deserves a word.
		 */
		if (env != NULL && *env != '\0')
			ld_report(&ld, true, 0, NULL, NULL,
			    "not found, using built-in defaults");
		rc = ld_run(&ld, "", NULL, 0);
	} else if (rc == ERR_IO) {
		ld_report(&ld, false, 0, NULL, NULL, "cannot read: %s",
		    strerror(err));
	} else if (rc == ERR_TOO_BIG) {
		ld_report(&ld, false, 0, NULL, NULL, "larger than %d bytes",
		    LIMIT_CONFIG_BYTES);
	} else if (rc == OK) {
		rc = ld_run(&ld, file, text, len);
	}
	free(text);
	return ld_done(&ld, rc, out, diag);
}

berr
config_load_buffer(const char *name, const char *text, size_t len,
    struct config **out, char **diag)
{
	struct loader ld;
	berr rc;

	*out = NULL;
	if (diag != NULL)
		*diag = NULL;
	ld_init(&ld, name);
	if (len > LIMIT_CONFIG_BYTES) {
		ld_report(&ld, false, 0, NULL, NULL, "larger than %d bytes",
		    LIMIT_CONFIG_BYTES);
		rc = ERR_TOO_BIG;
	} else {
		rc = ld_run(&ld, ld.name, text != NULL ? text : "",
		    text != NULL ? len : 0);
	}
	return ld_done(&ld, rc, out, diag);
}

void
config_free(struct config *cfg)
{
	const struct ckey *k;
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < NKEYS; i++) {
		k = &config_keys[i];
		if (k->type == CT_STR)
			free(*(char **)key_field(cfg, k));
		else if (k->type == CT_LIST)
			strlist_clear(key_field(cfg, k));
		else if (k->type == CT_ROLES)
			roles_clear(key_field(cfg, k));
	}
	free(cfg->path);
	free(cfg);
}

const char *
config_static_change(const struct config *a, const struct config *b)
{
	const struct ckey *k;
	bool same;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		k = &config_keys[i];
		if (k->flags & CF_RELOAD)
			continue;
		switch (k->type) {
		case CT_STR:
			same = strcmp(*(char **)key_field(a, k),
			           *(char **)key_field(b, k)) == 0;
			break;
		case CT_BOOL:
			same = *(bool *)key_field(a, k) ==
			    *(bool *)key_field(b, k);
			break;
		case CT_INT:
			same =
			    *(int *)key_field(a, k) == *(int *)key_field(b, k);
			break;
		case CT_LIST:
			same = strlist_equal(key_field(a, k), key_field(b, k));
			break;
		case CT_ROLES:
			same = roles_equal(key_field(a, k), key_field(b, k));
			break;
		default: same = true;
		}
		if (!same)
			return k->key;
	}
	return NULL;
}

/* --- config_show -------------------------------------------------------- */

/*
 * Writes s as a YAML double-quoted scalar that config_load() reads back as
 * s: a "$" before "{" or "$" is doubled so ${} expansion leaves it alone.
 */
static void
show_quoted(FILE *out, const char *s)
{
	unsigned char c;

	fputc('"', out);
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else if (c == '$' && (s[1] == '{' || s[1] == '$'))
			fputs("$$", out);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* "" stays "", a short secret is "…" alone, a long one "sk-abc…". */
static const char *
show_mask(const char *s, char *buf, size_t size)
{
	if (*s == '\0')
		return "";
	if (strlen(s) < CONFIG_SECRET_SHOW_MIN)
		return "…";
	return log_secret_prefix(s, buf, size);
}

/* The libpq options that hold a secret. */
static bool
conninfo_secret(const char *key, size_t len)
{
	return (len == 8 && strncmp(key, "password", 8) == 0) ||
	    (len == 11 && strncmp(key, "sslpassword", 11) == 0);
}

/*
 * Copies a libpq connection string into b with every password replaced by
 * "…": a URI's user:PASSWORD@, a URI's password= and sslpassword=
 * parameters, and the same keys in key=value form (quoted or not). Everything else is kept, so the
 * output still tells which server and database.
 */
static void
mask_conninfo(const char *s, struct cbuf *b)
{
	static const char blank[] = " \t\n\r\f\v";
	const char *p, *auth, *end, *at = NULL, *colon, *key;
	size_t n, klen;

	if (strncmp(s, "postgresql://", 13) == 0 ||
	    strncmp(s, "postgres://", 11) == 0) {
		auth = strstr(s, "://") + 3;
		end = auth + strcspn(auth, "/?#");
		for (p = auth; p < end; p++)
			if (*p == '@')
				at = p;
		if (at != NULL &&
		    (colon = memchr(auth, ':', (size_t)(at - auth))) != NULL) {
			cbuf_add(b, s, (size_t)(colon + 1 - s));
			cbuf_adds(b, "…");
			s = at;
		}
		if ((p = strchr(s, '?')) == NULL) {
			cbuf_adds(b, s);
			return;
		}
		cbuf_add(b, s, (size_t)(p + 1 - s));
		for (p++; *p != '\0' && *p != '#';) {
			n = strcspn(p, "&#");
			klen = strcspn(p, "=&#");
			if (p[klen] == '=' && conninfo_secret(p, klen)) {
				cbuf_add(b, p, klen + 1);
				cbuf_adds(b, "…");
			} else {
				cbuf_add(b, p, n);
			}
			p += n;
			if (*p == '&')
				cbuf_add(b, p++, 1);
		}
		cbuf_adds(b, p);
		return;
	}
	for (p = s; *p != '\0';) {
		n = strspn(p, blank);
		cbuf_add(b, p, n);
		if (*(p += n) == '\0')
			break;
		key = p;
		klen = strcspn(p, "= \t\n\r\f\v");
		p += klen;
		p += strspn(p, blank);
		if (*p == '=') {
			p++;
			p += strspn(p, blank);
		}
		if (conninfo_secret(key, klen))
			cbuf_add(b, key, (size_t)(p - key));
		if (*p == '\'') {
			for (p++; *p != '\0' && *p != '\''; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			if (*p == '\'')
				p++;
		} else {
			for (; *p != '\0' && !strchr(blank, *p); p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
		}
		if (conninfo_secret(key, klen))
			cbuf_adds(b, "…");
		else
			cbuf_add(b, key, (size_t)(p - key));
	}
}

/*
 * Prints the sections of key that the previous key (prev) was not in, and
 * returns the depth of key's leaf; *leaf points at its last component.
 */
static int
show_sections(FILE *out, const char *prev, const char *key, const char **leaf)
{
	const char *dot;
	bool same = true;
	size_t n;
	int depth = 0;

	for (; (dot = strchr(key, '.')) != NULL; key = dot + 1, depth++) {
		n = (size_t)(dot - key);
		if (same && strncmp(prev, key, n) == 0 && prev[n] == '.') {
			prev += n + 1;
			continue;
		}
		same = false;
		fprintf(out, "%*s%.*s:\n", depth * 2, "", (int)n, key);
	}
	*leaf = key;
	return depth;
}

/* The items of l, one per line at indent, after a "key:" that ended. */
static void
show_list(FILE *out, const struct strlist *l, int indent)
{
	size_t j;

	for (j = 0; j < l->n; j++) {
		fprintf(out, "%*s- ", indent, "");
		show_quoted(out, l->v[j]);
		fputc('\n', out);
	}
}

/*
 * The custom roles after "roles:", as a mapping at indent of quoted names
 * to permission lists; "{}" when there are none, so it loads back.
 */
static void
show_roles(FILE *out, const struct config_roles *r, int indent)
{
	size_t i;

	fputs(r->n == 0 ? " {}\n" : "\n", out);
	for (i = 0; i < r->n; i++) {
		fprintf(out, "%*s", indent, "");
		show_quoted(out, r->v[i].name);
		fputs(r->v[i].perms.n == 0 ? ": []\n" : ":\n", out);
		show_list(out, &r->v[i].perms, indent + 2);
	}
}

void
config_show(const struct config *cfg, FILE *out)
{
	const struct ckey *k;
	const struct strlist *l;
	const char *prev = "", *leaf, *s;
	struct cbuf b;
	char buf[64];
	size_t i;
	int depth;

	fprintf(out,
	    "# Effective configuration: %s, then environment overrides.\n"
	    "# Secrets are masked.\n",
	    *cfg->path != '\0' ? cfg->path : "built-in defaults");
	for (i = 0; i < NKEYS; i++) {
		k = &config_keys[i];
		depth = show_sections(out, prev, k->key, &leaf);
		prev = k->key;
		fprintf(out, "%*s%s:", depth * 2, "", leaf);
		switch (k->type) {
		case CT_STR:
			s = *(char **)key_field(cfg, k);
			fputc(' ', out);
			if (k->flags & CF_SECRET) {
				show_quoted(
				    out, show_mask(s, buf, sizeof(buf)));
			} else if (k->flags & CF_CONNINFO) {
				memset(&b, 0, sizeof(b));
				mask_conninfo(s, &b);
				show_quoted(
				    out, b.nomem || b.p == NULL ? "…" : b.p);
				free(b.p);
			} else {
				show_quoted(out, s);
			}
			fputc('\n', out);
			break;
		case CT_BOOL:
			fprintf(out, " %s\n",
			    *(bool *)key_field(cfg, k) ? "true" : "false");
			break;
		case CT_INT:
			fprintf(out, " %d\n", *(int *)key_field(cfg, k));
			break;
		case CT_LIST:
			l = key_field(cfg, k);
			fputs(l->n == 0 ? " []\n" : "\n", out);
			show_list(out, l, depth * 2 + 2);
			break;
		case CT_ROLES:
			show_roles(out, key_field(cfg, k), depth * 2 + 2);
			break;
		}
	}
}
