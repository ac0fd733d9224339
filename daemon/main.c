/*
 * main.c - berthd, the one long-running daemon.
 *
 * Start-up: the configuration is validated (exit 1 on a bad one, like every
 * Berth program), gRPC core initialised, the database reached. Then the
 * daemon takes the station lease (lease.h: one active berthd per station
 * name; a second one waits as a standby and takes over within a second or
 * two of the first one's death) and runs the Lighthouse link (link.h) when
 * cloudship.enabled is true. Housekeeping runs once a minute whatever the
 * lease: the housekeeper process (daemon/workers.h) runs
 * shared/maintenance.c, and the run workers execute queued agent runs.
 *
 * Signals: SIGTERM and SIGINT close the management stream cleanly and exit
 * 0; SIGHUP reloads the config file (a bad file keeps the old config; a
 * changed cloudship: section reconnects, also after REPLACED or a refused
 * key; other keys that cannot change at run time need a restart).
 *
 * berthd never forks: it runs in the foreground under systemd
 * (conf/systemd/berthd.service) and logs to stderr (the journal);
 * --foreground is accepted for compatibility with Station's flags.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agents.h"
#include "autoconf.h"
#include "config.h"
#include "db.h"
#include "lease.h"
#include "link.h"
#include "log.h"
#include "parse.h"
#include "transport.h"
#include "workers.h"

#define LOOP_MS          200
#define WORKERS_GRACE_S  10
#define SHUTDOWN_WAIT_MS 2000

static volatile sig_atomic_t got_stop, got_reload;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_reload = 1;
	else
		got_stop = 1;
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a sleep ends early so the loop sees the flag. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	(void)nanosleep(&ts, NULL); /* EINTR: the caller checks the flags */
}

/* Is the Lighthouse link on? Enabled, and with a key to register with. */
static bool
link_wanted(const struct config *cfg)
{
	return cfg->cloudship.enabled && *cfg->cloudship.registration_key;
}

/* Loads the agent files into the database (shared/agents.h). */
static void
sync_agents(struct db *db, const struct config *cfg)
{
	struct agents_sync_report r;
	berr rc = agents_sync(db, cfg, NULL, &r);

	if (rc != OK)
		log_warn("agents: sync failed: %s", err_str(rc));
	else
		log_info("agents: %d added, %d updated, %d unchanged, %d "
		         "removed, %d bad file(s) skipped",
		    r.added, r.updated, r.unchanged, r.removed, r.failed);
}

/* Reloads path; on success swaps *cfg, tells the link, returns true. */
static bool
reload(const char *path, struct config **cfg, struct link *l, bool debug_flag)
{
	struct config *next = NULL;
	const char *key;
	char *diag = NULL;
	berr rc;

	rc = config_load(path, &next, &diag);
	if (rc != OK) {
		log_error("SIGHUP: configuration not reloaded, keeping the "
		          "old one (%s)%s%s",
		    err_str(rc), diag ? ": " : "", diag ? diag : "");
		free(diag);
		return false;
	}
	free(diag);
	key = config_static_change(*cfg, next);
	if (key != NULL && strncmp(key, "cloudship.", 10) != 0) {
		log_error("SIGHUP: %s changed, which needs a restart; keeping "
		          "the old configuration",
		    key);
		config_free(next);
		return false;
	}
	log_set_level(debug_flag || next->debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (l != NULL)
		link_reconfigure(l, next);
	config_free(*cfg);
	*cfg = next;
	log_info("SIGHUP: configuration reloaded from %s", (*cfg)->path);
	return true;
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: berthd [--config FILE] [--foreground] [--debug]\n"
	    "       (berthd starts its own run workers as "
	    "berthd --run-worker N)\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "run-worker", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	struct config *cfg = NULL;
	struct db *db = NULL;
	struct link *l = NULL;
	struct lease *ls = NULL;
	struct workers w = { 0 };
	int worker = -2; /* --run-worker: >= 0 runs, -1 housekeeper */
	bool debug_flag = false, have_lease = false, said_standby = false;
	char *diag = NULL, key6[16];
	int c, status = 1;
	berr rc;

	log_init("berthd", LOG_LVL_INFO);
	while ((c = getopt_long(argc, argv, "c:fdhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'f': break; /* always in the foreground */
		case 'd': debug_flag = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("berthd %s\n", PACKAGE_VERSION); return 0;
		case 'w':
			if (parse_int(optarg, -1, WORKERS_MAX, &worker) != OK) {
				usage(stderr);
				return 2;
			}
			break;
		default: usage(stderr); return 2;
		}
	}
	rc = config_load(config_path, &cfg, &diag);
	if (diag != NULL)
		fputs(diag, stderr);
	free(diag);
	if (rc != OK) {
		log_error(
		    "not starting: configuration is invalid (%s)", err_str(rc));
		return 1;
	}
	log_set_level(debug_flag || cfg->debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (worker >= -1) /* a child started by workers_start() */
		return workers_main(config_path, cfg, worker);
	install_signals();
	transport_global_init();
	log_info("berthd %s starting (gRPC core %s)", PACKAGE_VERSION,
	    transport_version());
	if ((db = db_new(cfg->database.url, cfg->database.connect_timeout)) ==
	        NULL ||
	    (l = link_new(cfg, db)) == NULL ||
	    (ls = lease_new(cfg->database.url, cfg->database.connect_timeout,
	         link_name(l))) == NULL) {
		log_error("out of memory");
		goto out;
	}
	if (db_connect(db) != OK) {
		log_error("database unreachable");
		goto out;
	}
	if (cfg->cloudship.enabled)
		log_info("station %s, Lighthouse %s, registration key %s",
		    link_name(l), cfg->cloudship.endpoint,
		    log_secret_prefix(
		        cfg->cloudship.registration_key, key6, sizeof(key6)));
	else
		log_info("cloudship.enabled is false: no Lighthouse link; "
		         "run workers and housekeeping only");
	if (cfg->cloudship.enabled && !link_wanted(cfg))
		log_error("cloudship.enabled is true but cloudship."
		          "registration_key is empty: no Lighthouse link until "
		          "a key is configured (SIGHUP)");
	if (cfg->cloudship.enabled && cfg->cloudship.use_tls &&
	    cfg->cloudship.skip_tls_verify)
		log_warn("cloudship.skip_tls_verify is true: the Lighthouse "
		         "certificate is NOT checked; for local development "
		         "only");
	if (cfg->cloudship.enabled && !cfg->cloudship.use_tls)
		log_warn("cloudship.use_tls is false: the registration key "
		         "travels in plaintext");
	sync_agents(db, cfg);
	w.config_path = config_path;
	w.debug = debug_flag;
	/* A run step can take a whole model call with its retries. */
	if (workers_start(&w, cfg, cfg->runner.workers,
	        cfg->ai_timeout * (cfg->ai_max_retries + 1) + 60) == ERR_IO)
		goto out;

	while (!got_stop) {
		workers_check(&w);
		if (got_reload) {
			got_reload = 0;
			if (reload(config_path, &cfg, l, debug_flag)) {
				sync_agents(db, cfg);
				workers_signal(&w, SIGHUP);
			}
		}
		if (!link_wanted(cfg)) {
			if (have_lease) {
				link_shutdown(l, SHUTDOWN_WAIT_MS);
				lease_free(ls);
				ls = lease_new(cfg->database.url,
				    cfg->database.connect_timeout,
				    link_name(l));
				have_lease = false;
				if (ls == NULL) {
					log_error("out of memory");
					goto out;
				}
			}
			sleep_ms(LOOP_MS);
			continue;
		}
		if (have_lease && !lease_check(ls)) {
			log_error("station lease lost: dropping the Lighthouse "
			          "link, back to standby");
			link_shutdown(l, 0);
			have_lease = false;
		}
		if (!have_lease) {
			rc = lease_try(ls);
			if (rc == OK) {
				log_info("station lease for %s taken: this "
				         "berthd is active",
				    link_name(l));
				have_lease = true;
				said_standby = false;
			} else {
				if (rc == ERR_CONFLICT && !said_standby)
					log_info(
					    "standby: another berthd is "
					    "active for station %s; waiting",
					    link_name(l));
				said_standby = rc == ERR_CONFLICT;
				sleep_ms(1000);
				continue;
			}
		}
		link_step(l, LOOP_MS);
	}
	log_info("stopping");
	if (have_lease)
		link_shutdown(l, SHUTDOWN_WAIT_MS);
	status = 0;
out:
	workers_stop(&w, WORKERS_GRACE_S);
	link_free(l);
	lease_free(ls);
	db_free(db);
	transport_global_shutdown();
	config_free(cfg);
	return status;
}
