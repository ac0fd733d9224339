/* PLACEHOLDER */
#include <string.h>
#include "cmd.h"
int main(int argc, char **argv) { if (argc > 1 && !strcmp(argv[1], "config")) return cmd_config(argc - 1, argv + 1, NULL); if (argc > 1 && !strcmp(argv[1], "migrate")) return cmd_migrate(argc - 1, argv + 1, NULL); return 2; }
