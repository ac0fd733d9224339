/* PLACEHOLDER: replaced by the config implementation. */
#include <stdlib.h>
#include "config.h"
const char *config_default_path(void) { return "/etc/berth/config.yaml"; }
berr config_load(const char *path, struct config **out, char **diag) { (void)path; *out = NULL; if (diag) *diag = NULL; return ERR_INTERNAL; }
berr config_load_buffer(const char *name, const char *text, size_t len, struct config **out, char **diag) { (void)name; (void)text; (void)len; *out = NULL; if (diag) *diag = NULL; return ERR_INTERNAL; }
void config_free(struct config *cfg) { free(cfg); }
void config_show(const struct config *cfg, FILE *out) { (void)cfg; (void)out; }
