/*
 * agents.c - see agents.h.
 *
 * Each environment is read from disk first (outside any transaction: file
 * I/O must not hold row locks), then written in one db_tx() so a responder
 * never sees half a sync.
 */
#include "agents.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "digest.h"
#include "dotprompt.h"
#include "file.h"
#include "log.h"

struct agents_file {
	char *path;
	char checksum[65];
	bool ok;
	struct dotprompt dp;
};

struct agents_env {
	const char *environment;
	struct agents_file *files;
	size_t n;
	struct agents_sync_report *rep;
};

static const char agents_sql_upsert[] =
    "INSERT INTO agents (environment, name, description, model, max_steps, "
    "tools, allowed_tools, denied_tools, input_schema, template, "
    "source_path, checksum) "
    "VALUES ($1, $2, $3, $4, $5::int, $6::jsonb, $7::jsonb, $8::jsonb, "
    "$9::jsonb, $10, $11, $12) "
    "ON CONFLICT (environment, name) DO UPDATE SET "
    "description = EXCLUDED.description, model = EXCLUDED.model, "
    "max_steps = EXCLUDED.max_steps, tools = EXCLUDED.tools, "
    "allowed_tools = EXCLUDED.allowed_tools, "
    "denied_tools = EXCLUDED.denied_tools, "
    "input_schema = EXCLUDED.input_schema, template = EXCLUDED.template, "
    "source_path = EXCLUDED.source_path, checksum = EXCLUDED.checksum "
    "WHERE agents.checksum IS DISTINCT FROM EXCLUDED.checksum "
    "OR agents.source_path IS DISTINCT FROM EXCLUDED.source_path "
    "RETURNING (xmax = 0) AS inserted";
/* Gone: not defined by a good file now, and not from a file that failed. */
static const char agents_sql_prune[] =
    "DELETE FROM agents WHERE environment = $1 "
    "AND NOT (name = ANY ($2::text[])) "
    "AND (source_path IS NULL OR NOT (source_path = ANY ($3::text[])))";

static void
agents_files_free(struct agents_file *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(f[i].path);
		dotprompt_free(&f[i].dp);
	}
	free(f);
}

static int
agents_cmp(const void *a, const void *b)
{
	return strcmp(((const struct agents_file *)a)->path,
	    ((const struct agents_file *)b)->path);
}

/* Parses one file into f; a bad file is logged and marked, not an error. */
static berr
agents_load_file(struct agents_file *f)
{
	struct dotprompt_error err;
	char *buf = NULL, base[256];
	const char *slash = strrchr(f->path, '/');
	size_t len = 0, blen;
	berr rc;

	snprintf(base, sizeof(base), "%s", slash ? slash + 1 : f->path);
	blen = strlen(base);
	if (blen > 7)
		base[blen - 7] = '\0'; /* ".prompt" */
	rc = file_read(f->path, FILE_REGULAR | FILE_NOFOLLOW | FILE_NONBLOCK,
	    DOTPROMPT_MAX_BYTES, &buf, &len, NULL);
	if (rc == ERR_NOMEM)
		return rc;
	if (rc != OK) {
		log_warn("%s: %s", f->path,
		    rc == ERR_TOO_BIG       ? "larger than 256 KiB, skipped"
		        : rc == ERR_INVALID ? "not a regular file, skipped"
		                            : "cannot be read, skipped");
		return OK;
	}
	(void)!digest_sha256_hex(buf, len, f->checksum);
	rc = dotprompt_parse(buf, len, base, &f->dp, &err);
	free(buf);
	if (rc == ERR_NOMEM)
		return rc;
	if (rc != OK) {
		if (err.line > 0)
			log_warn("%s:%d: %s", f->path, err.line, err.msg);
		else
			log_warn("%s: %s", f->path, err.msg);
		return OK;
	}
	f->ok = f->checksum[0] != '\0';
	return OK;
}

/*
 * Lists and parses dir's *.prompt files, sorted. *files new (free with
 * agents_files_free). ERR_NOT_FOUND when dir does not exist.
 */
static berr
agents_scan(const char *dir, struct agents_file **files, size_t *n)
{
	struct agents_file *v = NULL, *nv;
	struct dirent *de;
	size_t cap = 0, count = 0, len, i;
	DIR *d;
	berr rc = OK;

	*files = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT || errno == ENOTDIR ? ERR_NOT_FOUND
		                                           : ERR_IO;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 7 || strcmp(de->d_name + len - 7, ".prompt") != 0 ||
		    de->d_name[0] == '.')
			continue;
		if (count == AGENTS_MAX_FILES) {
			log_warn("%s: more than %d .prompt files; the rest are "
			         "skipped",
			    dir, AGENTS_MAX_FILES);
			break;
		}
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = ERR_NOMEM;
				goto out;
			}
			v = nv;
		}
		memset(&v[count], 0, sizeof(v[count]));
		if ((v[count].path = malloc(strlen(dir) + len + 2)) == NULL) {
			rc = ERR_NOMEM;
			goto out;
		}
		sprintf(v[count].path, "%s/%s", dir, de->d_name);
		count++;
	}
	if (count > 1)
		qsort(v, count, sizeof(*v), agents_cmp);
	for (i = 0; i < count; i++)
		if ((rc = agents_load_file(&v[i])) != OK)
			goto out;
	/* Two files naming one agent: the first (by path) wins. */
	for (i = 0; i < count; i++) {
		size_t j;

		for (j = 0; v[i].ok && j < i; j++) {
			if (v[j].ok &&
			    strcmp(v[i].dp.name, v[j].dp.name) == 0) {
				log_warn("%s: agent name already used by %s, "
				         "skipped",
				    v[i].path, v[j].path);
				v[i].ok = false;
			}
		}
	}
out:
	closedir(d);
	if (rc != OK) {
		agents_files_free(v, count);
		return rc;
	}
	*files = v;
	*n = count;
	return OK;
}

static const char *
agents_json(struct json_object *o)
{
	return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)
	         : NULL;
}

/* A text[] literal for PostgreSQL: {"a","b"} with " and \ escaped. */
static char *
agents_text_array(const struct agents_file *f, size_t n, bool names)
{
	size_t i, cap = 3;
	const char *s, *c;
	char *out, *p;

	for (i = 0; i < n; i++) {
		if (names ? !f[i].ok : f[i].ok)
			continue;
		s = names ? f[i].dp.name : f[i].path;
		cap += 2 * strlen(s) + 3;
	}
	if ((out = malloc(cap)) == NULL)
		return NULL;
	p = out;
	*p++ = '{';
	for (i = 0; i < n; i++) {
		if (names ? !f[i].ok : f[i].ok)
			continue;
		s = names ? f[i].dp.name : f[i].path;
		if (p > out + 1)
			*p++ = ',';
		*p++ = '"';
		for (c = s; *c != '\0'; c++) {
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

static berr
agents_write(struct db *db, void *arg)
{
	struct agents_env *e = arg;
	struct agents_sync_report *rep = e->rep;
	const char *v[12];
	char steps[16], *names = NULL, *failed = NULL;
	PGresult *res = NULL;
	long long removed;
	size_t i;
	berr rc = OK;
	int added = 0, updated = 0, unchanged = 0, f;

	for (i = 0; i < e->n; i++) {
		const struct dotprompt *dp = &e->files[i].dp;

		if (!e->files[i].ok)
			continue;
		snprintf(steps, sizeof(steps), "%d", dp->max_steps);
		v[0] = e->environment;
		v[1] = dp->name;
		v[2] = dp->description;
		v[3] = dp->model;
		v[4] = steps;
		v[5] = agents_json(dp->tools);
		v[6] = agents_json(dp->allowed_tools);
		v[7] = agents_json(dp->denied_tools);
		v[8] = agents_json(dp->input_schema);
		v[9] = dp->template;
		v[10] = e->files[i].path;
		v[11] = e->files[i].checksum;
		if ((rc = db_exec(db, "agents_upsert", 12, v, &res)) != OK)
			goto out;
		if (PQntuples(res) == 0) {
			unchanged++;
		} else {
			f = PQfnumber(res, "inserted");
			if (f >= 0 && strcmp(PQgetvalue(res, 0, f), "t") == 0)
				added++;
			else
				updated++;
		}
		PQclear(res);
		res = NULL;
	}
	names = agents_text_array(e->files, e->n, true);
	failed = agents_text_array(e->files, e->n, false);
	if (names == NULL || failed == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	v[0] = e->environment;
	v[1] = names;
	v[2] = failed;
	if ((rc = db_exec(db, "agents_prune", 3, v, &res)) != OK)
		goto out;
	removed = strtoll(PQcmdTuples(res), NULL, 10);
	/* Counted only now: db_tx() may run this again after a retry. */
	rep->added += added;
	rep->updated += updated;
	rep->unchanged += unchanged;
	rep->removed += (int)removed;
out:
	PQclear(res);
	free(names);
	free(failed);
	return rc;
}

/* One environment: scan, then write in one transaction. */
static berr
agents_sync_env(struct db *db, const struct config *cfg, const char *env,
    struct agents_sync_report *rep)
{
	struct agents_env e = { .environment = env, .rep = rep };
	char dir[PATH_MAX];
	size_t i;
	berr rc;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s/agents", cfg->agents_dir,
	        env) >= sizeof(dir))
		return ERR_IO;
	rc = agents_scan(dir, &e.files, &e.n);
	if (rc == ERR_NOT_FOUND) {
		log_warn("%s: no such folder; agents of environment %s left "
		         "as they are",
		    dir, env);
		rep->missing++;
		return OK;
	}
	if (rc != OK) {
		if (rc == ERR_IO)
			log_error("%s: cannot be read", dir);
		return rc;
	}
	rep->environments++;
	for (i = 0; i < e.n; i++)
		rep->failed += !e.files[i].ok;
	rc = db_tx(db, agents_write, &e);
	if (rc == OK)
		log_info("agents: %s: %zu file(s) read", env, e.n);
	agents_files_free(e.files, e.n);
	return rc;
}

berr
agents_sync(struct db *db, const struct config *cfg, const char *environment,
    struct agents_sync_report *rep)
{
	size_t i;
	bool found = false;
	berr rc;

	memset(rep, 0, sizeof(*rep));
	if ((rc = db_prepare(db, "agents_upsert", agents_sql_upsert, 12)) !=
	        OK ||
	    (rc = db_prepare(db, "agents_prune", agents_sql_prune, 3)) != OK)
		return rc;
	for (i = 0; i < cfg->environments.n; i++) {
		const char *env = cfg->environments.v[i];

		if (environment != NULL && strcmp(environment, env) != 0)
			continue;
		found = true;
		if ((rc = agents_sync_env(db, cfg, env, rep)) != OK)
			return rc;
	}
	return found || environment == NULL ? OK : ERR_NOT_FOUND;
}
