/*
 * workers.h - berthd's run workers: child processes that claim queued runs
 * and execute them (shared/runner.c), so a long model call never blocks
 * the Lighthouse link.
 *
 * Workers are berthd itself, exec'ed with --run-worker N (a fresh process:
 * gRPC's threads and the parent's connection are not inherited by a fork
 * that keeps running). Each worker has its own database connection, waits
 * on LISTEN
 * berth_run_queued (with a poll every second as a safety net), and runs
 * one run at a time. The parent restarts a worker that dies, reaps runs
 * whose worker died (runner_reap) before starting workers, and on stop
 * sends SIGTERM: a worker finishes at once when idle, or is killed after
 * the grace period when a run is in flight — that run then goes stale and
 * is failed ("worker lost") by the next reap, with its report queued.
 *
 * The struct workers belongs to the parent; the children never return
 * from workers_start().
 */
#ifndef BERTH_DAEMON_WORKERS_H
#define BERTH_DAEMON_WORKERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

struct config;

#define WORKERS_MAX 64

struct workers {
	const char *config_path; /* reloaded by each new worker */
	bool debug;              /* pass --debug on */
	bool stopping;
	int n; /* run workers + the housekeeper */
	pid_t pid[WORKERS_MAX];
	int restarts;
};

/*
 * Fails stale runs (stale_s without a heartbeat) and starts n run
 * workers (0 = none) and the housekeeper. cfg is the parent's config, inherited by the children.
 * OK, ERR_DB_DOWN (the stale-run reap could not run: workers start anyway
 * and the next start retries), ERR_IO (fork failed).
 */
berr workers_start(struct workers *w, const struct config *cfg, int n,
    int stale_s) __attribute__((warn_unused_result));

/*
 * Call after SIGCHLD: waits for dead workers and starts replacements
 * (unless stopping). Returns how many were replaced.
 */
int workers_check(struct workers *w);

/* Sends sig (SIGHUP: reload) to every worker. */
void workers_signal(struct workers *w, int sig);

/* SIGTERM to every worker, SIGKILL after grace_s, all waited for. */
void workers_stop(struct workers *w, int grace_s);

/*
 * The body of a worker process (berthd --run-worker INDEX): claims and
 * runs queued runs until SIGTERM; INDEX -1 is the housekeeper (maintenance
 * once a minute, stale runs reaped). Takes cfg (loaded from path, reloaded
 * on SIGHUP between runs). Returns the process exit status.
 */
int workers_main(const char *path, struct config *cfg, int index);

#endif
