/*
 * agents.h - agent definitions: from the .prompt files on disk into the
 * agents table, so every responder and daemon sees the same set.
 *
 * Files are <agents_dir>/<environment>/agents/<name>.prompt for each
 * environment in the config (agents_dir defaults to
 * <workspace>/environments, Station's layout). berthd syncs at start and on
 * SIGHUP; `berth agent sync` does the same by hand.
 *
 * Sync rules, per environment, in one transaction:
 * - a file that parses is inserted, or updated when its SHA-256 or path
 *   changed (unchanged files cost no write);
 * - a bad file is reported ("FILE:LINE: message", log_warn) and skipped,
 *   and the agent it defined before keeps its last good definition;
 * - an agent whose file is gone is deleted (its runs keep agent_name);
 * - an environment whose agents folder does not exist is left alone, with a
 *   warning: a missing mount must not delete every agent.
 *
 * Owns nothing between calls; the caller owns db and cfg.
 */
#ifndef BERTH_AGENTS_H
#define BERTH_AGENTS_H

#include "db.h"
#include "err.h"

struct config;

/* The most .prompt files read per environment. */
#define AGENTS_MAX_FILES 1000

struct agents_sync_report {
	int added, updated, unchanged, removed, failed;
	int environments; /* environments whose folder was read */
	int missing;      /* environments without a folder (left alone) */
};

/*
 * Syncs every configured environment, or only `environment` when not NULL
 * (ERR_NOT_FOUND when it is not configured). Bad files are counted in
 * rep->failed and logged, not returned as errors. Returns OK, ERR_DB_DOWN,
 * ERR_DB, ERR_IO (a folder that exists could not be read), ERR_NOMEM.
 * *rep is filled as far as the sync got.
 */
berr agents_sync(struct db *db, const struct config *cfg,
    const char *environment, struct agents_sync_report *rep)
    __attribute__((warn_unused_result));

#endif
