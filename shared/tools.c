/* PLACEHOLDER: replaced by its owner. */
#include "tools.h"
berr tools_list(const struct tool_call_ctx *c, const char *cu, size_t l, struct json_object **t, char **n) { (void)c; (void)cu; (void)l; *t = NULL; *n = NULL; return ERR_INTERNAL; }
berr tools_call(const struct tool_call_ctx *c, const char *n, struct json_object *a, struct json_object **r) { (void)c; (void)n; (void)a; *r = NULL; return ERR_INTERNAL; }
berr tools_check_args(const char *s, struct json_object *a, char *w, size_t l) { (void)s; (void)a; (void)w; (void)l; return ERR_INTERNAL; }
