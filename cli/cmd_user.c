/* PLACEHOLDER */
#include "cmd.h"
int cmd_user(int argc, char **argv, const char *config_path) { (void)argc; (void)argv; (void)config_path; return 1; }
