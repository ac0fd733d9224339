/*
 * cmd_config.c - `berth config check [FILE]` and `berth config show [FILE]`.
 *
 * check loads the file exactly as the programs do at start and prints every
 * problem, "error: FILE:LINE: KEY: message" on stderr; warnings (unknown
 * keys) do not fail it. show prints the effective configuration (defaults,
 * file, environment) as YAML on stdout, secrets masked, so it can be pasted
 * into a bug report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"

static void
cmd_config_usage(FILE *out)
{
	fputs("usage: berth config check [FILE]\n"
	      "       berth config show [FILE]\n"
	      "FILE defaults to --config, else $BERTH_CONFIG, else "
	      "/etc/berth/config.yaml.\n",
	    out);
}

/*
 * Loads path (NULL = default) and prints the diagnostics on stderr. Returns
 * the config (caller frees) or NULL when it is unusable.
 */
static struct config *
cmd_config_load(const char *path)
{
	struct config *cfg = NULL;
	char *diag = NULL;
	berr rc;

	rc = config_load(path, &cfg, &diag);
	if (diag != NULL)
		fputs(diag, stderr);
	if (rc != OK && diag == NULL)
		fprintf(stderr, "error: %s: %s\n",
		    path != NULL ? path : config_default_path(), err_str(rc));
	free(diag);
	return rc == OK ? cfg : NULL;
}

static int
cmd_config_check(const char *path)
{
	struct config *cfg;

	if ((cfg = cmd_config_load(path)) == NULL)
		return 1;
	if (*cfg->path != '\0')
		printf("%s: valid\n", cfg->path);
	else
		printf("%s: no such file, built-in defaults and environment "
		       "are valid\n",
		    config_default_path());
	config_free(cfg);
	return 0;
}

static int
cmd_config_show(const char *path)
{
	struct config *cfg;
	int status = 0;

	if ((cfg = cmd_config_load(path)) == NULL)
		return 1;
	config_show(cfg, stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("berth: stdout");
		status = 1;
	}
	config_free(cfg);
	return status;
}

int
cmd_config(int argc, char **argv, const char *config_path)
{
	const char *path = config_path;

	if (argc >= 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		cmd_config_usage(stdout);
		return 0;
	}
	if (argc < 2 || argc > 3 || (argc == 3 && argv[2][0] == '-')) {
		cmd_config_usage(stderr);
		return 2;
	}
	if (argc == 3)
		path = argv[2];
	if (strcmp(argv[1], "check") == 0)
		return cmd_config_check(path);
	if (strcmp(argv[1], "show") == 0)
		return cmd_config_show(path);
	fprintf(stderr, "berth config: unknown subcommand %s\n", argv[1]);
	cmd_config_usage(stderr);
	return 2;
}
