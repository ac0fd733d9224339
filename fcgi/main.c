/*
 * main.c - berth-fcgi: the stateless FastCGI responder.
 *
 * Start-up: load the config (a bad one stops us before anything listens),
 * open or inherit the socket, drop privileges, write the pid file, then let
 * server.c supervise the workers. Each worker owns one database connection
 * (opened lazily, so a database that is down at start-up only makes
 * /healthz answer 503) and answers requests one at a time. With the
 * credential cache on (auth.cache_lease, authcache.h) an idle worker
 * waits on the listening socket and its database connection at once, and
 * calls authcache_sync() before every request.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>

#include "agent_tools.h"
#include "authcache.h"
#include "autoconf.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "request.h"
#include "router.h"
#include "server.h"
#include "upstream.h"
#include "upstream_tools.h"

static const struct config *main_cfg;
/* The master key (crypto.h), loaded before the workers fork; NULL when
 * none is configured. */
static struct crypto_key main_key_store;
static struct crypto_key main_old_key;
static const struct crypto_key *main_key;

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: berth-fcgi [--config FILE] [--listen unix:PATH|HOST:PORT]\n"
	    "                  [--workers N] [--pidfile FILE] [--user USER]\n"
	    "                  [--socket-mode OCTAL]\n"
	    "Without --listen, serves the socket passed by systemd "
	    "(LISTEN_FDS)\n"
	    "or on fd 0 (spawn-fcgi, mod_fcgid), else fcgi.listen from the "
	    "config.\n");
}

/*
 * With the credential cache on (authcache.h), a worker waits for a
 * connection and for PostgreSQL's notifications at once, so an idle
 * worker acknowledges a revocation at once instead of making the
 * revoker wait out its lease. The listening socket is non-blocking then:
 * of several workers woken by one connection, the losers get EAGAIN from
 * FCGX_Accept_r() and come back here. The worker counts as busy while it
 * waits, so SIGTERM lets it give its lease back before it exits; the wait
 * is cut to a second so that the flag is seen. 1: a connection may be
 * waiting; 0: not yet. Called only after FCGX_Accept_r() found none.
 */
static int
main_idle(int fd, struct db *db)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
		{ .fd = authcache_fd(db), .events = POLLIN } };
	int n;

	n = poll(p, p[1].fd >= 0 ? 2 : 1, 1000);
	if (n <= 0)
		return 0;
	if (p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP)))
		authcache_readable(db);
	return (p[0].revents & POLLIN) != 0;
}

/* The body of one worker process: accept, route, answer, repeat. */
static int
main_worker(int fd, void *arg)
{
	struct worker_ctx ctx = {
		.cfg = main_cfg, .db = NULL, .key = main_key
	};
	FCGX_Request fcgx;
	struct request req;
	int status = 0;

	(void)arg;
	if (FCGX_Init() != 0) {
		log_error("FCGX_Init failed");
		return 1;
	}
	if (FCGX_InitRequest(&fcgx, fd, 0) != 0) {
		log_error("FCGX_InitRequest failed");
		return 1;
	}
	ctx.db =
	    db_new(main_cfg->database.url, main_cfg->database.connect_timeout);
	if (ctx.db == NULL || router_init(&ctx) != OK) {
		log_error("worker initialisation failed");
		status = 1;
		goto out;
	}
	/* Connect now so the first request does not pay for it; failure is
	 * fine here, db_exec() reconnects. */
	(void)!db_connect(ctx.db);
	if (main_cfg->auth.cache_lease > 0) {
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			log_error("cannot make the listening socket "
			          "non-blocking: %s",
			    strerror(errno));
			status = 1;
			goto out;
		}
		authcache_enable(main_cfg->auth.cache_lease);
		authcache_sync(ctx.db);
	}

	for (;;) {
		int r;

		server_worker_busy(authcache_enabled());
		if (server_worker_stopping())
			break;
		/* Under load a connection is usually waiting: take it first,
		 * and wait only when there was none. */
		if ((r = FCGX_Accept_r(&fcgx)) < 0) {
			if (authcache_enabled() &&
			    (r == -EAGAIN || r == -EINTR)) {
				(void)main_idle(fd, ctx.db);
				continue;
			}
			break;
		}
		server_worker_busy(1);
		authcache_sync(ctx.db);
		if (request_init(&req, &fcgx) == OK)
			router_dispatch(&ctx, &req);
		else if (!req.replied)
			request_reply_error(&req, 400, "bad_request",
			    "malformed request", NULL);
		request_release(&req);
		FCGX_Finish_r(&fcgx);
	}
out:
	authcache_release(ctx.db);
	db_free(ctx.db);
	return status;
}

/*
 * Loads the master key (crypto.h) into main_key. An upstream stores users'
 * keys encrypted, so with upstream.base_url set a missing or malformed key
 * stops the start (exit 1); without an upstream a missing key is fine, a
 * malformed one is still refused (it was meant to be used). Also
 * initialises libcurl once, before any worker exists. 0 or -1 (logged).
 */
static int
main_load_key(const struct config *cfg)
{
	char buf[512];
	const char *why = NULL;
	berr rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("not starting: libcurl initialisation failed");
		return -1;
	}
	rc = crypto_key_load(cfg, &main_key_store, buf, sizeof(buf), &why);
	if (rc == OK) {
		main_key = &main_key_store;
		log_info("encryption key %s loaded", main_key_store.id);
		/* During a rotation: the old key opens what it sealed. */
		rc = crypto_key_load_old(
		    cfg, &main_old_key, buf, sizeof(buf), &why);
		if (rc == OK) {
			main_key_store.previous = &main_old_key;
			log_info("previous encryption key %s accepted for "
			         "reading until the rotation ends",
			    main_old_key.id);
		} else if (rc != ERR_NOT_FOUND) {
			log_error("not starting: old key: %s", why);
			return -1;
		}
		return 0;
	}
	if (rc == ERR_NOT_FOUND && !upstream_configured(cfg) &&
	    cfg->upstream.tools_file[0] == '\0')
		return 0;
	log_error("not starting: %s%s", why ? why : err_str(rc),
	    rc == ERR_NOT_FOUND ? " (upstream.base_url is set: users' "
	                          "upstream keys are stored encrypted)"
	                        : "");
	return -1;
}

/* Loads upstream.tools_file (needs an upstream and the key). 0 or -1. */
static int
main_load_tools(const struct config *cfg)
{
	char why[512];

	if (cfg->upstream.tools_file[0] == '\0')
		return 0;
	if (!upstream_configured(cfg) || main_key == NULL) {
		log_error("not starting: upstream.tools_file needs "
		          "upstream.base_url and an encryption key");
		return -1;
	}
	if (upstream_tools_load(
	        cfg->upstream.tools_file, main_key, why, sizeof(why)) != OK) {
		log_error("not starting: upstream tools: %s", why);
		return -1;
	}
	log_info("upstream tools loaded from %s", cfg->upstream.tools_file);
	return 0;
}

/* Writes our pid to path, created 0644 and replaced atomically. */
static int
main_write_pidfile(const char *path)
{
	char tmp[4096], buf[32];
	int fd, n;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n || close(fd) != 0)
		return -1;
	return rename(tmp, path);
}

/* As root, becomes user (and its groups). Returns 0 or -1 (logged). */
static int
main_drop_privileges(const char *user)
{
	struct passwd *pw;

	if (user == NULL || *user == '\0')
		return 0;
	if (geteuid() != 0) {
		log_warn("--user %s ignored: not running as root", user);
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL) {
		log_error("--user %s: no such user", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		log_error("cannot become %s: %s", user, strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "socket-mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *listen = NULL, *pidfile = NULL;
	const char *user = NULL;
	struct config *cfg = NULL;
	char *diag = NULL, *end;
	long workers = 0, mode = 0660;
	int c, fd, status;
	berr rc;

	log_init("berth-fcgi", LOG_LVL_INFO);
	while (
	    (c = getopt_long(argc, argv, "c:l:w:p:u:m:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'l': listen = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'u': user = optarg; break;
		case 'w':
			errno = 0;
			workers = strtol(optarg, &end, 10);
			if (errno || *end || workers < 1 || workers > 256) {
				fprintf(stderr,
				    "berth-fcgi: --workers must be "
				    "1..256\n");
				return 2;
			}
			break;
		case 'm':
			errno = 0;
			mode = strtol(optarg, &end, 8);
			if (errno || *end || mode < 0 || mode > 0777) {
				fprintf(stderr,
				    "berth-fcgi: --socket-mode must "
				    "be octal, e.g. 0660\n");
				return 2;
			}
			break;
		case 'h': main_usage(stdout); return 0;
		case 'V': printf("berth-fcgi %s\n", PACKAGE_VERSION); return 0;
		default: main_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		return 2;
	}

	rc = config_load(config_path, &cfg, &diag);
	if (diag != NULL)
		fputs(diag, stderr);
	free(diag);
	if (rc != OK) {
		log_error("not starting: configuration %s is invalid (%s)",
		    config_path ? config_path : config_default_path(),
		    err_str(rc));
		return 1;
	}
	if (cfg->debug)
		log_set_level(LOG_LVL_DEBUG);
	main_cfg = cfg;
	if (main_load_key(cfg) != 0 || main_load_tools(cfg) != 0) {
		config_free(cfg);
		return 1;
	}
	/* Agents as tools: here only, never in run workers (agent_tools.h). */
	agent_tools_register();
	if (listen == NULL && cfg->fcgi.listen[0] != '\0')
		listen = cfg->fcgi.listen;
	if (workers == 0)
		workers = cfg->fcgi.workers;

	if (server_listen(listen, (mode_t)mode, &fd) != OK) {
		config_free(cfg);
		return 1;
	}
	/* Before dropping privileges, so the pid file may live in /run. */
	if (pidfile != NULL && main_write_pidfile(pidfile) != 0) {
		log_error(
		    "cannot write pid file %s: %s", pidfile, strerror(errno));
		config_free(cfg);
		return 1;
	}
	if (main_drop_privileges(user) != 0) {
		config_free(cfg);
		return 1;
	}
	log_info(
	    "berth-fcgi %s starting %ld workers", PACKAGE_VERSION, workers);
	status = server_run(fd, (int)workers, main_worker, NULL);
	if (pidfile != NULL)
		(void)unlink(pidfile);
	if (listen != NULL && strncmp(listen, "unix:", 5) == 0)
		(void)unlink(listen + 5);
	upstream_tools_free();
	agent_tools_unregister();
	crypto_key_wipe(&main_key_store);
	crypto_key_wipe(&main_old_key);
	curl_global_cleanup();
	config_free(cfg);
	return status;
}
