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

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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

/* berth agent sync [--env ENV] | agent list | agent show NAME */
int cmd_agent(int argc, char **argv, const char *config_path);

/* berth agent run NAME TASK ... (called by cmd_agent) */
int cmd_agent_run(int argc, char **argv, const char *config_path);

/* berth run work [--once] | run reap | run show ID */
int cmd_run(int argc, char **argv, const char *config_path);

/* berth maintenance --once [--dry-run] */
int cmd_maintenance(int argc, char **argv, const char *config_path);
/* berth login [SERVER] [--username U] [--password-stdin] */
int cmd_login(int argc, char **argv, const char *config_path);

/* berth logout [SERVER] */
int cmd_logout(int argc, char **argv, const char *config_path);

/* berth status: cloud sessions and local configuration */
int cmd_status(int argc, char **argv, const char *config_path);

/* berth auth anthropic login|status|logout: the runner's Anthropic OAuth
 * tokens, stored encrypted in the database (cmd_auth.c, aicred.h) */
int cmd_auth(int argc, char **argv, const char *config_path);

/* berth keys rotate: re-encrypt stored upstream keys under the new key */
int cmd_keys(int argc, char **argv, const char *config_path);

/* berth proxy [SERVER]: stdio MCP server forwarding to SERVER's /mcp */
int cmd_proxy(int argc, char **argv, const char *config_path);

/*
 * The server URL (size >= 1024) for a client command named who: arg (a
 * URL or a server name) resolved through the MCP client configs; without
 * arg, the only stored session's server also does. 0, or 1 after saying
 * why on stderr. (cmd_session.c)
 */
int cmd_session_resolve(
    const char *who, const char *arg, char *url, size_t size);

#include <json-c/json.h>

#include "err.h"

struct config;
struct db;

/*
 * Shared by the admin commands (cmd_common.c); who names the command in
 * messages ("user", "apikey", ...). Each returns 0, or 1 after printing
 * why on stderr. *cfg and *db belong to the caller, who frees them with
 * config_free()/db_free() on every path, also after a failure.
 */
int cmd_common_config(
    const char *who, const char *config_path, struct config **cfg);
int cmd_common_connect(
    const char *who, const struct config *cfg, struct db **db);
int cmd_common_open(const char *who, const char *config_path,
    struct config **cfg, struct db **db);

/*
 * Copies s into buf (size > 0) with control characters (and DEL) replaced
 * by '?', cut to fit: text from the database on its way to a terminal.
 * Returns buf.
 */
const char *cmd_common_clean(const char *s, char *buf, size_t size);

/*
 * One line from f into buf, its newline (and a CR before it) dropped;
 * false at EOF or when the line does not fit.
 */
bool cmd_common_line(FILE *f, char *buf, size_t size);

/*
 * Writes prompt on the terminal (/dev/tty) and reads one line, echo off
 * when secret (restored afterwards). false without a terminal.
 */
bool cmd_common_prompt(const char *prompt, bool secret, char *buf, size_t size);

/*
 * Appends a successful admin action on resource ("user:alice") to the
 * audit log, with details.by = "cli:<OS user>"; takes ownership of details
 * (NULL = ERR_NOMEM). Returns audit_append()'s result.
 */
berr cmd_common_audit(struct db *db, const char *action, const char *resource,
    const char *environment, struct json_object *details);

/*
 * After the commit of a change that takes something from a credential
 * (revoked key, disabled user, changed roles): waits until no responder
 * can still answer from a cache that predates it (authcache.h). A failure
 * is only reported on stderr under who: the change itself stands.
 */
void cmd_common_barrier(struct db *db, const char *who);

/* As cmd_common_audit(), for an action that may have failed. */
berr cmd_common_audit_result(struct db *db, const char *action,
    const char *resource, const char *environment, struct json_object *details,
    bool success);

#endif
