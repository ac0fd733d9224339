/*
 * cmd.h - the subcommands of the berth CLI.
 *
 * Each cmd_* takes the arguments after its own name (argv[0] is the
 * subcommand name) and the --config path given before it (NULL = default),
 * prints to stdout/stderr, and returns the process exit status: 0 success,
 * 1 failure, 2 usage error.
 */
#ifndef BERTH_CLI_CMD_H
#define BERTH_CLI_CMD_H

/* berth config check [FILE] | berth config show */
int cmd_config(int argc, char **argv, const char *config_path);

/* berth migrate [--sql-dir DIR] [--status] */
int cmd_migrate(int argc, char **argv, const char *config_path);

/* berth user create|list|show|revoke|grant ... (admin, DATABASE_URL) */
int cmd_user(int argc, char **argv, const char *config_path);

/* berth apikey create|list|revoke ... */
int cmd_apikey(int argc, char **argv, const char *config_path);

/* berth audit [--since ...] | audit verify | audit export --since ... */
int cmd_audit(int argc, char **argv, const char *config_path);

#endif
