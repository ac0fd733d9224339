/*
 * main.c - berthd, the one long-running daemon.
 *
 * Foundation stage: berthd validates its configuration (exiting non-zero on
 * a bad one, like every Berth program), checks that gRPC core initialises
 * and that the database answers, and reports that the Lighthouse link, run
 * workers and housekeeping are not built yet (issues 7 and 8). It exits 0
 * so that supervisors do not restart it in a loop.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <grpc/grpc.h>

#include "autoconf.h"
#include "config.h"
#include "db.h"
#include "log.h"

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	struct config *cfg = NULL;
	struct db *db = NULL;
	char *diag = NULL;
	int c, status = 1;
	berr rc;

	log_init("berthd", LOG_LVL_INFO);
	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'h': printf("usage: berthd [--config FILE]\n"); return 0;
		case 'V': printf("berthd %s\n", PACKAGE_VERSION); return 0;
		default:
			fprintf(stderr, "usage: berthd [--config FILE]\n");
			return 2;
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
	grpc_init();
	log_info("gRPC core %s initialised", grpc_version_string());
	if ((db = db_new(cfg->database.url, cfg->database.connect_timeout)) ==
	    NULL)
		goto out;
	if (db_connect(db) != OK) {
		log_error("database unreachable");
		goto out;
	}
	log_warn("the Lighthouse link, run workers and housekeeping are not "
	         "implemented yet; nothing to do");
	status = 0;
out:
	db_free(db);
	grpc_shutdown();
	config_free(cfg);
	return status;
}
