/*
 * workers.c - see workers.h.
 */
#include "workers.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "runner.h"

static volatile sig_atomic_t workers_term;

static void
workers_on_term(int sig)
{
	(void)sig;
	workers_term = 1;
}

/* Forks and execs "berthd [--config PATH] --run-worker INDEX". */
static pid_t
workers_spawn(const struct workers *w, int index)
{
	char self[PATH_MAX], idx[16];
	char *argv[7];
	ssize_t n;
	pid_t pid;
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
	argv[a++] = "--run-worker";
	argv[a++] = idx;
	argv[a] = NULL;
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(self, argv);
		_exit(127);
	}
	return pid;
}

berr
workers_start(struct workers *w, const struct config *cfg, int n, int stale_s)
{
	struct db *db;
	int i, reaped = 0;
	berr rc = OK;

	w->n = n < 0 ? 0 : n > WORKERS_MAX ? WORKERS_MAX : n;
	if (w->n == 0)
		return OK;
	if ((db = db_new(cfg->database.url, cfg->database.connect_timeout)) !=
	    NULL) {
		rc = runner_reap(db, cfg, stale_s, &reaped);
		if (rc == OK && reaped > 0)
			log_warn("workers: %d run(s) whose worker died were "
			         "failed (worker lost)",
			    reaped);
		db_free(db);
	}
	for (i = 0; i < w->n; i++) {
		if ((w->pid[i] = workers_spawn(w, i)) < 0) {
			log_error("workers: fork: %s", strerror(errno));
			return ERR_IO;
		}
	}
	log_info("workers: %d run worker(s) started", w->n);
	return rc == ERR_DB_DOWN ? rc : OK;
}

int
workers_check(struct workers *w, const struct config *cfg)
{
	int i, status, replaced = 0;
	pid_t pid;

	(void)cfg;
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
			w->pid[i] = workers_spawn(w, i);
			w->restarts++;
			replaced++;
		}
	}
	return replaced;
}

void
workers_stop(struct workers *w, int grace_s)
{
	struct timespec ts = { 0, 50 * 1000000L };
	int i, left, status, tries;

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

/* Waits up to 1 s for a NOTIFY on berth_run_queued. */
static void
workers_wait(struct db *db)
{
	struct pollfd pfd;
	PGnotify *nt;
	PGconn *conn;

	if (db_exec_sql(db, "LISTEN berth_run_queued", 0, NULL, NULL) != OK ||
	    (conn = db_conn(db)) == NULL) {
		sleep(1);
		return;
	}
	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	if (pfd.fd >= 0 && poll(&pfd, 1, 1000) > 0)
		PQconsumeInput(conn);
	while ((nt = PQnotifies(conn)) != NULL)
		PQfreemem(nt);
}

int
workers_main(const struct config *cfg, int index)
{
	struct runner_outcome o;
	struct sigaction sa;
	struct db *db;
	char host[128] = "", id[200];
	berr rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = workers_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	(void)gethostname(host, sizeof(host) - 1);
	snprintf(id, sizeof(id), "%s:%ld:%d", host, (long)getpid(), index);
	if ((db = db_new(cfg->database.url, cfg->database.connect_timeout)) ==
	    NULL)
		return 1;
	log_info("worker %d: ready (%s)", index, id);
	while (!workers_term) {
		rc = runner_run_one(db, cfg, id, &o);
		if (rc == ERR_DB_DOWN) {
			sleep(1);
			continue;
		}
		if (rc != OK) {
			log_error("worker %d: %s", index, err_str(rc));
			sleep(1);
			continue;
		}
		if (o.run_id == 0 && !workers_term)
			workers_wait(db);
	}
	db_free(db);
	log_info("worker %d: stopped", index);
	return 0;
}
