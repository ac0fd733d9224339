/* PLACEHOLDER: replaced by the migrate implementation. */
#include <stdlib.h>
#include "migrate.h"
const char *migrate_default_dir(void) { return BERTH_PKGDATADIR "/sql"; }
berr migrate_run(struct db *db, const char *dir, int *applied, char *err, size_t errlen) { (void)db; (void)dir; (void)applied; (void)err; (void)errlen; return ERR_INTERNAL; }
int migrate_pending(struct db *db, const char *dir) { (void)db; (void)dir; return -1; }
