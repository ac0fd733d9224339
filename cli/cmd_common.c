/*
 * cmd_common.c - what every admin command shares: loading the
 * configuration and connecting to its database (saying why not on stderr),
 * and auditing a change in the name of the operating-system user.
 */
#include "cmd.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>

#include <unistd.h>

#include "audit.h"
#include "authcache.h"
#include "config.h"
#include "db.h"

int
cmd_common_config(const char *who, const char *config_path, struct config **cfg)
{
	char *diag = NULL;
	berr rc;

	rc = config_load(config_path, cfg, &diag);
	if (diag != NULL && *diag != '\0')
		fprintf(stderr, "%s%s", diag,
		    diag[strlen(diag) - 1] == '\n' ? "" : "\n");
	free(diag);
	if (rc != OK) {
		fprintf(stderr,
		    "berth: %s: cannot load the configuration: %s\n", who,
		    err_str(rc));
		return 1;
	}
	return 0;
}

int
cmd_common_connect(const char *who, const struct config *cfg, struct db **db)
{
	if (cfg->database.url[0] == '\0') {
		fprintf(stderr,
		    "berth: %s: no database: set database.url in the "
		    "configuration or DATABASE_URL\n",
		    who);
		return 1;
	}
	if ((*db = db_new(cfg->database.url, cfg->database.connect_timeout)) ==
	    NULL) {
		fprintf(stderr, "berth: %s: out of memory\n", who);
		return 1;
	}
	/* The database layer has logged why it is unreachable. */
	if (db_connect(*db) != OK) {
		fprintf(stderr, "berth: %s: database unreachable\n", who);
		return 1;
	}
	return 0;
}

int
cmd_common_open(const char *who, const char *config_path, struct config **cfg,
    struct db **db)
{
	if (cmd_common_config(who, config_path, cfg) != 0)
		return 1;
	return cmd_common_connect(who, *cfg, db);
}

const char *
cmd_common_clean(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		buf[i] =
		    ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

berr
cmd_common_audit(struct db *db, const char *action, const char *resource,
    const char *environment, struct json_object *details)
{
	return cmd_common_audit_result(
	    db, action, resource, environment, details, true);
}

berr
cmd_common_audit_result(struct db *db, const char *action, const char *resource,
    const char *environment, struct json_object *details, bool success)
{
	struct audit_event ev = { 0 };
	struct passwd *pw;
	char actor[128];
	berr rc;

	if (details == NULL)
		return ERR_NOMEM;
	/* The CLI has no Berth user: name who ran it. */
	pw = getpwuid(geteuid());
	if (pw != NULL && pw->pw_name != NULL)
		snprintf(actor, sizeof(actor), "cli:%s", pw->pw_name);
	else
		snprintf(actor, sizeof(actor), "cli:uid %ld", (long)geteuid());
	json_object_object_add(details, "by", json_object_new_string(actor));
	ev.action = action;
	ev.resource = resource;
	ev.environment = environment;
	ev.success = success;
	ev.details = details;
	rc = audit_append(db, &ev);
	json_object_put(details);
	return rc;
}

void
cmd_common_barrier(struct db *db, const char *who)
{
	berr rc = authcache_barrier(db);

	if (rc != OK)
		fprintf(stderr,
		    "berth: %s: done, but the responders could not be asked "
		    "to forget it (%s): they do within auth.cache_lease "
		    "seconds\n",
		    who, err_str(rc));
}

bool
cmd_common_line(FILE *f, char *buf, size_t size)
{
	size_t n;

	if (fgets(buf, (int)size, f) == NULL)
		return false;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(f))
		return false; /* longer than the buffer */
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return true;
}

bool
cmd_common_prompt(const char *prompt, bool secret, char *buf, size_t size)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	bool ok, restore = false;

	if (tty == NULL)
		return false;
	fputs(prompt, tty);
	fflush(tty);
	if (secret && tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
	}
	ok = cmd_common_line(tty, buf, size);
	if (restore) {
		(void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
		fputs("\n", tty);
	}
	fclose(tty);
	return ok;
}
