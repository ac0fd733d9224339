/*
 * cmd_maintenance.c - `berth maintenance --once [--dry-run]`: one
 * housekeeping pass (shared/maintenance.c, the code berthd runs every
 * minute), for shops that prefer cron. Prints one line per kind of row
 * deleted and the time taken; --dry-run prints what would be deleted.
 * Exit 0 also when another runner holds the lock (the pass is skipped and
 * says so): a cron job overlapping the daemon is not an error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "db.h"
#include "maintenance.h"

static void
cmd_maintenance_usage(FILE *out)
{
	fprintf(out,
	    "usage: berth maintenance --once [--dry-run]\n"
	    "  --once     run one housekeeping pass now (berthd runs one "
	    "every minute)\n"
	    "  --dry-run  count what a pass would delete, delete nothing\n"
	    "Deletes expired login sessions, token-cache rows, idle and "
	    "expired MCP\nsessions, stale auth-failure counters, runs older "
	    "than retention.runs_days\nand audit rows older than "
	    "retention.audit_days.\n");
}

static void
cmd_maintenance_print(const struct maintenance_stats *s, bool dry)
{
	const char *verb = dry ? "would delete" : "deleted";

	printf("%s:\n", verb);
	printf("  sessions:      %lld\n", s->sessions);
	printf("  token_cache:   %lld\n", s->token_cache);
	printf("  mcp_sessions:  %lld\n", s->mcp_sessions);
	printf("  auth_failures: %lld\n", s->auth_failures);
	printf("  runs:          %lld\n", s->runs);
	printf("  run_events:    %lld\n", s->run_events);
	printf("  outbox:        %lld\n", s->outbox);
	printf("  audit:         %lld\n", s->audit);
	if (!dry)
		printf("batches: %lld\n", s->batches);
	printf("took %.3f s\n", s->seconds);
}

int
cmd_maintenance(int argc, char **argv, const char *config_path)
{
	struct maintenance_stats stats;
	struct config *cfg = NULL;
	struct db *db = NULL;
	bool once = false, dry = false;
	int i, st;
	berr rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0) {
			once = true;
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			dry = true;
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			cmd_maintenance_usage(stdout);
			return 0;
		} else {
			fprintf(stderr,
			    "berth: maintenance: unexpected argument %s\n",
			    argv[i]);
			cmd_maintenance_usage(stderr);
			return 2;
		}
	}
	if (!once && !dry) {
		fprintf(stderr,
		    "berth: maintenance: say --once (berthd runs "
		    "it every minute) or --dry-run\n");
		cmd_maintenance_usage(stderr);
		return 2;
	}
	if ((st = cmd_common_open("maintenance", config_path, &cfg, &db)) != 0)
		goto out;
	if (dry)
		rc = maintenance_count(db, cfg, &stats);
	else
		rc = maintenance_run(db, cfg, &stats);
	if (rc == OK && stats.skipped) {
		printf("skipped: another maintenance run holds the lock\n");
	} else if (rc == OK) {
		cmd_maintenance_print(&stats, dry);
	} else {
		/* Partial counts are still worth showing. */
		if (!dry)
			cmd_maintenance_print(&stats, false);
		fprintf(stderr, "berth: maintenance: %s\n", err_str(rc));
		st = 1;
	}
out:
	db_free(db);
	config_free(cfg);
	return st;
}
