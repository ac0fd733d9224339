/*
 * cmd_agent.c - `berth agent sync|list|show`.
 *
 * sync loads the .prompt files into PostgreSQL as berthd does at start and
 * on SIGHUP (shared/agents.c); bad files are named with their line on
 * stderr and skipped. list and show read the agents table.
 * Exit status: 0 done (sync: also when some files were bad, which the
 * summary and stderr say; --strict makes that 1), 1 failure, 2 usage.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agents.h"
#include "cmd.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "parse.h"

static const char cmd_agent_sql_list[] =
    "SELECT environment, name, description, coalesce(model, '') AS model, "
    "max_steps, jsonb_array_length(tools) AS ntools, "
    "to_char(updated_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS updated_at "
    "FROM agents WHERE $1::text IS NULL OR environment = $1 "
    "ORDER BY environment, name";
static const char cmd_agent_sql_show[] =
    "SELECT json_build_object('environment', environment, 'name', name, "
    "'description', description, 'model', model, 'max_steps', max_steps, "
    "'tools', tools, 'allowed_tools', allowed_tools, 'denied_tools', "
    "denied_tools, 'input_schema', input_schema, 'template', template, "
    "'source_path', source_path, 'checksum', checksum, 'updated_at', "
    "updated_at)::text AS j "
    "FROM agents WHERE name = $1 AND ($2::text IS NULL OR environment = $2) "
    "ORDER BY environment";

static void
cmd_agent_usage(FILE *out)
{
	fprintf(out,
	    "usage: berth agent sync [--env ENV] [--strict]\n"
	    "       berth agent list [--env ENV] [--json]\n"
	    "       berth agent show NAME [--env ENV]\n");
}

static int
cmd_agent_sync(const char *env, bool strict, const char *config_path)
{
	struct agents_sync_report rep;
	struct config *cfg = NULL;
	struct db *db = NULL;
	struct json_object *d;
	int status = 1;
	berr rc;

	if (cmd_common_open("agent", config_path, &cfg, &db) != 0)
		goto out;
	rc = agents_sync(db, cfg, env, &rep);
	if (rc == ERR_NOT_FOUND) {
		fprintf(stderr,
		    "berth agent: environment %s is not in the "
		    "config's environments\n",
		    env);
		goto out;
	}
	if (rc != OK) {
		fprintf(stderr, "berth agent: sync failed: %s\n", err_str(rc));
		goto out;
	}
	printf("agents: %d added, %d updated, %d unchanged, %d removed, "
	       "%d bad file(s) skipped (%d environment(s) read, %d without "
	       "a folder)\n",
	    rep.added, rep.updated, rep.unchanged, rep.removed, rep.failed,
	    rep.environments, rep.missing);
	if (rep.added + rep.updated + rep.removed > 0) {
		d = json_object_new_object();
		if (d != NULL) {
			json_object_object_add(
			    d, "added", json_object_new_int(rep.added));
			json_object_object_add(
			    d, "updated", json_object_new_int(rep.updated));
			json_object_object_add(
			    d, "removed", json_object_new_int(rep.removed));
			json_object_object_add(
			    d, "failed", json_object_new_int(rep.failed));
		}
		if (cmd_common_audit(db, "agent_sync", "agents", env, d) != OK)
			fprintf(stderr,
			    "berth agent: warning: the audit row "
			    "could not be written\n");
	}
	status = strict && rep.failed > 0 ? 1 : 0;
out:
	db_free(db);
	config_free(cfg);
	return status;
}

static int
cmd_agent_list(const char *env, bool as_json, const char *config_path)
{
	struct config *cfg = NULL;
	struct db *db = NULL;
	PGresult *res = NULL;
	const char *v[1] = { env };
	char a[128], b[256], c[128];
	int status = 1, i, n;

	if (cmd_common_open("agent", config_path, &cfg, &db) != 0)
		goto out;
	if (db_exec_sql(db, cmd_agent_sql_list, 1, v, &res) != OK) {
		fprintf(stderr, "berth agent: cannot read agents\n");
		goto out;
	}
	n = PQntuples(res);
	if (!as_json)
		printf("%-16s %-32s %-24s %5s %5s  %s\n", "ENVIRONMENT", "NAME",
		    "MODEL", "STEPS", "TOOLS", "UPDATED");
	for (i = 0; i < n; i++) {
		const char *envv =
		    PQgetvalue(res, i, PQfnumber(res, "environment"));
		const char *name = PQgetvalue(res, i, PQfnumber(res, "name"));
		const char *model = PQgetvalue(res, i, PQfnumber(res, "model"));
		const char *steps =
		    PQgetvalue(res, i, PQfnumber(res, "max_steps"));
		const char *ntools =
		    PQgetvalue(res, i, PQfnumber(res, "ntools"));
		const char *upd =
		    PQgetvalue(res, i, PQfnumber(res, "updated_at"));

		if (as_json) {
			struct json_object *o = json_object_new_object();
			int isteps = 0, itools = 0;

			if (parse_int(steps, 0, 1000000, &isteps) != OK ||
			    parse_int(ntools, 0, 1000000, &itools) != OK)
				fprintf(stderr, "berth agent: bad row\n");

			if (o == NULL)
				goto out;
			json_object_object_add(
			    o, "environment", json_object_new_string(envv));
			json_object_object_add(
			    o, "name", json_object_new_string(name));
			json_object_object_add(o, "description",
			    json_object_new_string(PQgetvalue(
			        res, i, PQfnumber(res, "description"))));
			json_object_object_add(
			    o, "model", json_object_new_string(model));
			json_object_object_add(
			    o, "max_steps", json_object_new_int(isteps));
			json_object_object_add(
			    o, "tools", json_object_new_int(itools));
			json_object_object_add(
			    o, "updated_at", json_object_new_string(upd));
			printf("%s\n",
			    json_object_to_json_string_ext(
			        o, JSON_C_TO_STRING_PLAIN));
			json_object_put(o);
		} else {
			printf("%-16s %-32s %-24s %5s %5s  %s\n",
			    cmd_common_clean(envv, a, sizeof(a)),
			    cmd_common_clean(name, b, sizeof(b)),
			    *model ? cmd_common_clean(model, c, sizeof(c))
			           : "-",
			    steps, ntools, upd);
		}
	}
	status = 0;
out:
	PQclear(res);
	db_free(db);
	config_free(cfg);
	return status;
}

static int
cmd_agent_show(const char *name, const char *env, const char *config_path)
{
	struct config *cfg = NULL;
	struct db *db = NULL;
	PGresult *res = NULL;
	const char *v[2] = { name, env };
	struct json_object *o;
	int status = 1, i;

	if (cmd_common_open("agent", config_path, &cfg, &db) != 0)
		goto out;
	if (db_exec_sql(db, cmd_agent_sql_show, 2, v, &res) != OK) {
		fprintf(stderr, "berth agent: cannot read agents\n");
		goto out;
	}
	if (PQntuples(res) == 0) {
		fprintf(stderr, "berth agent: no agent named %s\n", name);
		goto out;
	}
	for (i = 0; i < PQntuples(res); i++) {
		o = json_tokener_parse(PQgetvalue(res, i, 0));
		printf("%s\n",
		    json_object_to_json_string_ext(o,
		        JSON_C_TO_STRING_PRETTY |
		            JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	}
	status = 0;
out:
	PQclear(res);
	db_free(db);
	config_free(cfg);
	return status;
}

int
cmd_agent(int argc, char **argv, const char *config_path)
{
	const char *env = NULL, *name = NULL, *sub;
	bool as_json = false, strict = false;
	int i;

	if (argc < 2) {
		cmd_agent_usage(stderr);
		return 2;
	}
	sub = argv[1];
	if (strcmp(sub, "run") == 0)
		return cmd_agent_run(argc, argv, config_path);
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--env") == 0 && i + 1 < argc)
			env = argv[++i];
		else if (strncmp(argv[i], "--env=", 6) == 0)
			env = argv[i] + 6;
		else if (strcmp(argv[i], "--json") == 0)
			as_json = true;
		else if (strcmp(argv[i], "--strict") == 0)
			strict = true;
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else {
			cmd_agent_usage(stderr);
			return 2;
		}
	}
	if (strcmp(sub, "sync") == 0 && name == NULL && !as_json) {
		/* The summary is the point: show warnings for bad files. */
		log_set_level(LOG_LVL_WARN);
		return cmd_agent_sync(env, strict, config_path);
	}
	if (strcmp(sub, "list") == 0 && name == NULL && !strict)
		return cmd_agent_list(env, as_json, config_path);
	if (strcmp(sub, "show") == 0 && name != NULL && !strict && !as_json)
		return cmd_agent_show(name, env, config_path);
	cmd_agent_usage(stderr);
	return 2;
}
