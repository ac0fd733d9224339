/* PLACEHOLDER */
#include "cmd.h"
int cmd_apikey(int argc, char **argv, const char *config_path) { (void)argc; (void)argv; (void)config_path; return 1; }
