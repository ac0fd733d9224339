/*
 * workers.c - see workers.h.
 */
#include "workers.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agents.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "maintenance.h"
#include "runner.h"
#include "upstream_tools.h"

static volatile sig_atomic_t workers_term, workers_hup;

static void
workers_on_term(int sig)
{
	if (sig == SIGHUP)
		workers_hup = 1;
	else
		workers_term = 1;
}

/* SIGHUP: the parent reloaded; take the new file between two runs. */
static void
workers_reload(const char *path, struct config **cfg)
{
	struct config *next = NULL;
	char *diag = NULL;

	workers_hup = 0;
	if (config_load(path, &next, &diag) == OK) {
		config_free(*cfg);
		*cfg = next;
		log_info("worker: configuration reloaded");
	} else {
		log_warn("worker: configuration not reloaded, keeping the old "
		         "one");
	}
	free(diag);
}

/* Sleeps up to s seconds, ending early on SIGTERM. */
static void
workers_nap(int s)
{
	struct timespec ts = { 1, 0 };
	int i;

	for (i = 0; i < s && !workers_term; i++)
		nanosleep(&ts, NULL);
}

extern char **environ;

/*
 * Starts "berthd [--config PATH] --run-worker INDEX" (INDEX -1: the
 * housekeeper). posix_spawn, not fork: the parent runs gRPC's threads,
 * and a forked copy of a threaded process may only exec anyway.
 */
static pid_t
workers_spawn(const struct workers *w, int index)
{
	char self[PATH_MAX], idx[16];
	char *argv[8];
	posix_spawnattr_t attr;
	sigset_t none;
	ssize_t n;
	pid_t pid = -1;
	int a = 0;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	snprintf(idx, sizeof(idx), "%d", index);
	argv[a++] = "berthd";
	if (w->config_path != NULL) {
		argv[a++] = "--config";
		argv[a++] = (char *)w->config_path;
	}
	if (w->debug)
		argv[a++] = "--debug";
	argv[a++] = "--run-worker";
	argv[a++] = idx;
	argv[a] = NULL;
	if (posix_spawnattr_init(&attr) != 0)
		return -1;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	if (posix_spawn(&pid, self, NULL, &attr, argv, environ) != 0)
		pid = -1;
	posix_spawnattr_destroy(&attr);
	return pid;
}

berr
workers_start(struct workers *w, const struct config *cfg, int n, int stale_s)
{
	struct db *db;
	int i, reaped = 0;
	berr rc = OK;

	w->n = n < 0 ? 0 : n > WORKERS_MAX - 1 ? WORKERS_MAX - 1 : n;
	if ((db = db_new(cfg->database.url, cfg->database.connect_timeout)) !=
	    NULL) {
		rc = runner_reap(db, cfg, stale_s, &reaped);
		if (rc == OK && reaped > 0)
			log_warn("workers: %d run(s) whose worker died were "
			         "failed (worker lost)",
			    reaped);
		db_free(db);
	}
	/* Slots 0..n-1 run agents; slot n is the housekeeper. */
	for (i = 0; i <= w->n; i++) {
		if ((w->pid[i] = workers_spawn(w, i == w->n ? -1 : i)) < 0) {
			log_error("workers: cannot start a worker process");
			return ERR_IO;
		}
	}
	w->n++;
	log_info(
	    "workers: %d run worker(s) and the housekeeper started", w->n - 1);
	return rc == ERR_DB_DOWN ? rc : OK;
}

int
workers_check(struct workers *w)
{
	int i, status, replaced = 0;
	pid_t pid;

	if (w->stopping)
		return 0;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < w->n; i++) {
			if (w->pid[i] != pid)
				continue;
			log_warn(
			    "workers: worker %d (pid %ld) %s %d; restarting", i,
			    (long)pid,
			    WIFSIGNALED(status) ? "killed by signal" : "exited",
			    WIFSIGNALED(status) ? WTERMSIG(status)
			                        : WEXITSTATUS(status));
			w->pid[i] = workers_spawn(w, i == w->n - 1 ? -1 : i);
			w->restarts++;
			replaced++;
		}
	}
	return replaced;
}

void
workers_signal(struct workers *w, int sig)
{
	int i;

	for (i = 0; i < w->n; i++)
		if (w->pid[i] > 0)
			kill(w->pid[i], sig);
}

void
workers_stop(struct workers *w, int grace_s)
{
	struct timespec ts = { 0, 50 * 1000000L };
	int i, left, status, tries;

	w->stopping = true;
	for (i = 0; i < w->n; i++)
		if (w->pid[i] > 0)
			kill(w->pid[i], SIGTERM);
	for (tries = 0; tries < grace_s * 20; tries++) {
		left = 0;
		for (i = 0; i < w->n; i++) {
			if (w->pid[i] <= 0)
				continue;
			if (waitpid(w->pid[i], &status, WNOHANG) == w->pid[i])
				w->pid[i] = 0;
			else
				left++;
		}
		if (left == 0)
			return;
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < w->n; i++) {
		if (w->pid[i] > 0) {
			log_warn(
			    "workers: worker %d busy after %d s; killed (its "
			    "run is failed by the next reap)",
			    i, grace_s);
			kill(w->pid[i], SIGKILL);
			waitpid(w->pid[i], &status, 0);
			w->pid[i] = 0;
		}
	}
}

/*
 * Waits up to 1 s for a NOTIFY on berth_run_queued. LISTEN is said once per
 * connection (*listened: the db_generation() it was said on), not once a
 * wait: an idle worker costs no round trip a second.
 */
static void
workers_wait(struct db *db, unsigned long *listened)
{
	struct pollfd pfd;
	PGnotify *nt;
	PGconn *conn;

	if ((conn = db_conn(db)) == NULL || *listened != db_generation(db)) {
		if (db_exec_sql(db, "LISTEN berth_run_queued", 0, NULL, NULL) !=
		        OK ||
		    (conn = db_conn(db)) == NULL) {
			*listened = 0;
			sleep(1);
			return;
		}
		*listened = db_generation(db);
	}
	/* A NOTIFY read along with an earlier answer waits in libpq's
	 * queue, not on the socket: look there first. */
	if ((nt = PQnotifies(conn)) != NULL) {
		do
			PQfreemem(nt);
		while ((nt = PQnotifies(conn)) != NULL);
		return;
	}
	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	if (pfd.fd >= 0 && poll(&pfd, 1, 1000) > 0)
		PQconsumeInput(conn);
	while ((nt = PQnotifies(conn)) != NULL)
		PQfreemem(nt);
}

/*
 * The housekeeper: shared/maintenance.c once a minute (the same code as
 * `berth maintenance --once`; one runner across hosts by its advisory
 * lock) and the reap of runs whose worker stopped heart-beating.
 */
static int
workers_housekeeper(const char *path, struct config *cfg, struct db *db)
{
	struct maintenance_stats st;
	int reaped, stale;
	berr rc;

	log_info("housekeeper: ready");
	while (!workers_term) {
		if (workers_hup)
			workers_reload(path, &cfg);
		rc = maintenance_run(db, cfg, &st);
		if (rc != OK && rc != ERR_DB_DOWN)
			log_warn("housekeeper: maintenance: %s", err_str(rc));
		/* A step can take a whole model call with its retries. */
		stale = cfg->ai_timeout * (cfg->ai_max_retries + 1) + 60;
		if (runner_reap(db, cfg, stale, &reaped) == OK && reaped > 0)
			log_warn("housekeeper: %d stale run(s) failed (worker "
			         "lost)",
			    reaped);
		workers_nap(60);
	}
	config_free(cfg);
	return 0;
}

int
workers_main(const char *path, struct config *cfg, int index)
{
	struct runner_outcome o;
	struct sigaction sa;
	struct db *db;
	static struct crypto_key key, old;
	char host[128] = "", id[200], why[512];
	unsigned long listened = 0;
	int status = 0;
	berr rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = workers_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* berthd killed (even -9): stop too, never run on as an orphan. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		workers_term = 1;
	(void)gethostname(host, sizeof(host) - 1);
	snprintf(id, sizeof(id), "%s:%ld:%d", host, (long)getpid(), index);
	if ((db = db_new(cfg->database.url, cfg->database.connect_timeout)) ==
	    NULL) {
		config_free(cfg);
		return 1;
	}
	if (index < 0) {
		status = workers_housekeeper(path, cfg, db);
		db_free(db);
		return status;
	}
	/* Agents may name upstream tools: they run with the key of the user
	 * who queued the run, as on /mcp. */
	if (upstream_tools_setup(cfg, &key, &old, why, sizeof(why)) != OK)
		log_error("worker %d: upstream tools not available to "
		          "agents: %s",
		    index, why);
	log_info("worker %d: ready (%s)", index, id);
	while (!workers_term) {
		if (workers_hup)
			workers_reload(path, &cfg);
		rc = runner_run_one(db, cfg, id, &o);
		if (rc == ERR_DB_DOWN) {
			workers_nap(1);
			continue;
		}
		if (rc != OK) {
			log_error("worker %d: %s", index, err_str(rc));
			workers_nap(1);
			continue;
		}
		if (o.run_id == 0 && !workers_term)
			workers_wait(db, &listened);
	}
	upstream_tools_free();
	crypto_key_wipe(&key);
	crypto_key_wipe(&old);
	db_free(db);
	config_free(cfg);
	log_info("worker %d: stopped", index);
	return status;
}
