/*
 * cmd_run.c - `berth agent run` (queue a run) and `berth run work|reap|show`.
 *
 * `run work` executes queued runs in this process with the same code
 * berthd's workers use (shared/runner.c): for cron, for a host without the
 * daemon, and for tests. `run reap` fails runs whose worker died.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cmd.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "parse.h"
#include "runner.h"
#include "upstream_tools.h"

static const char cmd_run_sql_show[] =
    "SELECT json_build_object('id', r.id, 'agent', r.agent_name, "
    "'environment', r.environment, 'status', r.status, 'source', r.source, "
    "'input', r.input, 'steps', r.steps, 'tool_calls', r.tool_calls, "
    "'input_tokens', r.input_tokens, 'output_tokens', r.output_tokens, "
    "'model', r.model, 'final_response', r.final_response, 'error', "
    "r.error, 'created_at', r.created_at, 'finished_at', r.finished_at, "
    "'events', (SELECT coalesce(json_agg(json_build_object('seq', e.seq, "
    "'kind', e.kind, 'payload', e.payload) ORDER BY e.seq), '[]'::json) "
    "FROM run_events e WHERE e.run_id = r.id))::text "
    "FROM runs r WHERE r.id = $1::bigint";

static void
cmd_run_usage(FILE *out)
{
	fprintf(out,
	    "usage: berth agent run NAME TASK [--env ENV] "
	    "[--var KEY=VALUE ...]\n"
	    "       berth run work [--once] [--max N]\n"
	    "       berth run reap [--stale-seconds N]\n"
	    "       berth run show ID\n");
}

int
cmd_agent_run(int argc, char **argv, const char *config_path)
{
	struct json_object *vars = json_object_new_object();
	struct config *cfg = NULL;
	struct db *db = NULL;
	const char *name = NULL, *task = NULL, *env = NULL;
	long long id = 0;
	int i, status = 1;
	berr rc;

	/* argv[0] is "agent", argv[1] "run" */
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--env") == 0 && i + 1 < argc) {
			env = argv[++i];
		} else if (strcmp(argv[i], "--var") == 0 && i + 1 < argc) {
			char *eq = strchr(argv[++i], '=');

			if (eq == NULL || eq == argv[i]) {
				cmd_run_usage(stderr);
				status = 2;
				goto out;
			}
			*eq = '\0';
			json_object_object_add(
			    vars, argv[i], json_object_new_string(eq + 1));
		} else if (argv[i][0] != '-' && name == NULL) {
			name = argv[i];
		} else if (argv[i][0] != '-' && task == NULL) {
			task = argv[i];
		} else {
			cmd_run_usage(stderr);
			status = 2;
			goto out;
		}
	}
	if (name == NULL || task == NULL || vars == NULL) {
		cmd_run_usage(stderr);
		status = 2;
		goto out;
	}
	if (cmd_common_open("agent", config_path, &cfg, &db) != 0)
		goto out;
	if (env == NULL)
		env = cfg->environments.n > 0 ? cfg->environments.v[0]
		                              : "default";
	rc = runner_enqueue(db, name, env, 0, "cli", task, vars, &id);
	if (rc == ERR_INVALID) {
		fprintf(stderr,
		    "berth agent: bad agent name or task (1 to 2000 "
		    "characters, no control characters)\n");
		goto out;
	}
	if (rc != OK) {
		fprintf(stderr, "berth agent: cannot queue the run: %s\n",
		    err_str(rc));
		goto out;
	}
	printf("%lld\n", id);
	fprintf(stderr, "queued run %lld of agent %s in %s\n", id, name, env);
	status = 0;
out:
	json_object_put(vars);
	db_free(db);
	config_free(cfg);
	return status;
}

static int
cmd_run_work(bool once, int max, const char *config_path)
{
	struct runner_outcome o;
	struct config *cfg = NULL;
	struct db *db = NULL;
	static struct crypto_key key, old;
	char host[128] = "", worker[200], why[512];
	int done = 0, status = 1;
	berr rc;

	if (cmd_common_open("run", config_path, &cfg, &db) != 0)
		goto out;
	if (upstream_tools_setup(cfg, &key, &old, why, sizeof(why)) != OK)
		fprintf(stderr,
		    "berth run: upstream tools not available to agents: %s\n",
		    why);
	(void)gethostname(host, sizeof(host) - 1);
	snprintf(worker, sizeof(worker), "%s:%ld:cli", host, (long)getpid());
	for (;;) {
		if ((rc = runner_run_one(db, cfg, worker, &o)) != OK) {
			fprintf(stderr, "berth run: %s\n", err_str(rc));
			goto out;
		}
		if (o.run_id == 0)
			break;
		printf("run %lld: %s after %d step(s)%s%s\n", o.run_id,
		    o.status, o.steps, *o.error ? ": " : "", o.error);
		done++;
		if (once || (max > 0 && done >= max))
			break;
	}
	if (done == 0)
		printf("no queued runs\n");
	status = 0;
out:
	upstream_tools_free();
	crypto_key_wipe(&key);
	crypto_key_wipe(&old);
	db_free(db);
	config_free(cfg);
	return status;
}

static int
cmd_run_reap(int stale, const char *config_path)
{
	struct config *cfg = NULL;
	struct db *db = NULL;
	int n = 0, status = 1;

	if (cmd_common_open("run", config_path, &cfg, &db) != 0)
		goto out;
	if (runner_reap(db, cfg, stale, &n) != OK) {
		fprintf(stderr, "berth run: reap failed\n");
		goto out;
	}
	printf("%d stale run(s) failed\n", n);
	status = 0;
out:
	db_free(db);
	config_free(cfg);
	return status;
}

static int
cmd_run_show(const char *id, const char *config_path)
{
	struct config *cfg = NULL;
	struct db *db = NULL;
	PGresult *res = NULL;
	struct json_object *o;
	const char *v[1] = { id };
	long lid;
	int status = 1;

	if (parse_long(id, 1, LONG_MAX, &lid) != OK) {
		cmd_run_usage(stderr);
		return 2;
	}
	if (cmd_common_open("run", config_path, &cfg, &db) != 0)
		goto out;
	if (db_exec_sql(db, cmd_run_sql_show, 1, v, &res) != OK)
		goto out;
	if (PQntuples(res) != 1) {
		fprintf(stderr, "berth run: no run %s\n", id);
		goto out;
	}
	o = json_tokener_parse(PQgetvalue(res, 0, 0));
	printf("%s\n",
	    json_object_to_json_string_ext(
	        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	status = 0;
out:
	PQclear(res);
	db_free(db);
	config_free(cfg);
	return status;
}

int
cmd_run(int argc, char **argv, const char *config_path)
{
	bool once = false;
	int max = 0, stale = 120, i;

	if (argc < 2) {
		cmd_run_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "show") == 0 && argc == 3)
		return cmd_run_show(argv[2], config_path);
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0) {
			once = true;
		} else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc) {
			if (parse_int(argv[++i], 1, 1000000, &max) != OK)
				goto usage;
		} else if (strcmp(argv[i], "--stale-seconds") == 0 &&
		    i + 1 < argc) {
			if (parse_int(argv[++i], 1, 86400 * 30, &stale) != OK)
				goto usage;
		} else {
			goto usage;
		}
	}
	if (strcmp(argv[1], "work") == 0)
		return cmd_run_work(once, max, config_path);
	if (strcmp(argv[1], "reap") == 0)
		return cmd_run_reap(stale, config_path);
usage:
	cmd_run_usage(stderr);
	return 2;
}
