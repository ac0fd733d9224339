/*
 * main.c - berth, the command-line tool: dispatches to cli/cmd_*.c.
 *
 * Global options come before the subcommand: berth [--config FILE] CMD ...
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "autoconf.h"
#include "cmd.h"
#include "log.h"

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: berth [--config FILE] COMMAND [ARGS]\n"
	    "\n"
	    "commands:\n"
	    "  config check [FILE]   validate a config file\n"
	    "  config show           print the effective config, secrets "
	    "masked\n"
	    "  migrate [--status] [--sql-dir DIR]\n"
	    "                        apply pending database migrations\n"
	    "  user create NAME [--role R] [--env ENV=ROLE ...] [--email E]\n"
	    "              [--password-stdin]\n"
	    "  user list | user show NAME | user revoke NAME\n"
	    "  user grant NAME --env ENV=ROLE [...]\n"
	    "  apikey create USER [--name N] [--expires 30d]\n"
	    "  apikey list [USER] | apikey revoke ID\n"
	    "  audit [--since \"1h ago\"] [--user U] [--action A] [--json]\n"
	    "  audit export --since WHEN   JSON lines\n"
	    "  audit verify                check the hash chain\n"
	    "  agent sync [--env ENV] [--strict]\n"
	    "                        load the .prompt files into the database\n"
	    "  agent list [--env ENV] [--json] | agent show NAME [--env ENV]\n"
	    "  agent run NAME TASK [--env ENV] [--var K=V ...]   queue a run\n"
	    "  run work [--once] [--max N]  execute queued runs here\n"
	    "  run reap [--stale-seconds N] | run show ID\n"
	    "  maintenance --once [--dry-run]\n"
	    "                        delete expired sessions and old data "
	    "now\n"
	    "  login [SERVER] [--username U] [--password-stdin]\n"
	    "                        sign in to a Berth server (URL or a "
	    "server name\n"
	    "                        from your MCP client configs)\n"
	    "  logout [SERVER]       end the session on the server and "
	    "forget it\n"
	    "  status                cloud sessions and local "
	    "configuration\n"
	    "  proxy [SERVER]        stdio MCP server forwarding to "
	    "SERVER's /mcp\n"
	    "  auth anthropic login [--code-stdin]\n"
	    "                        OAuth login (PKCE) for the runner's "
	    "Anthropic calls;\n"
	    "                        tokens stored encrypted in the "
	    "database\n"
	    "  auth anthropic status | auth anthropic logout\n"
	    "  keys rotate           re-encrypt stored upstream keys from\n"
	    "                        $BERTH_ENCRYPTION_KEY_OLD to "
	    "$BERTH_ENCRYPTION_KEY\n"
	    "  version               print the version\n"
	    "\n"
	    "The config file is FILE, else $BERTH_CONFIG, else "
	    "/etc/berth/config.yaml.\n");
}

int
main(int argc, char **argv)
{
	const char *config_path = NULL;
	int i = 1;

	log_init("berth", LOG_LVL_WARN);
	while (i < argc && argv[i][0] == '-') {
		if ((strcmp(argv[i], "--config") == 0 ||
		        strcmp(argv[i], "-c") == 0) &&
		    i + 1 < argc) {
			config_path = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config_path = argv[i] + 9;
			i++;
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			main_usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("berth %s\n", PACKAGE_VERSION);
			return 0;
		} else {
			fprintf(stderr, "berth: unknown option %s\n", argv[i]);
			main_usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		main_usage(stderr);
		return 2;
	}
	if (strcmp(argv[i], "config") == 0)
		return cmd_config(argc - i, argv + i, config_path);
	if (strcmp(argv[i], "migrate") == 0)
		return cmd_migrate(argc - i, argv + i, config_path);
	if (strcmp(argv[i], "user") == 0)
		return cmd_user(argc - i, argv + i, config_path);
	if (strcmp(argv[i], "apikey") == 0)
		return cmd_apikey(argc - i, argv + i, config_path);
	if (strcmp(argv[i], "agent") == 0)
		return cmd_agent(argc - i, argv + i, config_path);
	if (strcmp(argv[i], "run") == 0)
		return cmd_run(argc - i, argv + i, config_path);
	if (strcmp(argv[i], "audit") == 0)
		return cmd_audit(argc - i, argv + i, config_path);
	if (strcmp(argv[i], "maintenance") == 0)
		return cmd_maintenance(argc - i, argv + i, config_path);
	if (strcmp(argv[i], "keys") == 0)
		return cmd_keys(argc - i, argv + i, config_path);
	if (strcmp(argv[i], "login") == 0 || strcmp(argv[i], "logout") == 0 ||
	    strcmp(argv[i], "status") == 0 || strcmp(argv[i], "proxy") == 0 ||
	    strcmp(argv[i], "auth") == 0) {
		int (*fn)(int, char **, const char *) =
		    strcmp(argv[i], "auth") == 0     ? cmd_auth
		    : strcmp(argv[i], "login") == 0  ? cmd_login
		    : strcmp(argv[i], "logout") == 0 ? cmd_logout
		    : strcmp(argv[i], "status") == 0 ? cmd_status
		                                     : cmd_proxy;
		int status;

		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fprintf(stderr, "berth: libcurl failed to start\n");
			return 1;
		}
		status = fn(argc - i, argv + i, config_path);
		curl_global_cleanup();
		return status;
	}
	if (strcmp(argv[i], "version") == 0) {
		printf("berth %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(argv[i], "help") == 0) {
		main_usage(stdout);
		return 0;
	}
	fprintf(stderr, "berth: unknown command %s\n", argv[i]);
	main_usage(stderr);
	return 2;
}
