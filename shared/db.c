/* PLACEHOLDER: replaced by the db implementation. */
#include <stdlib.h>
#include "db.h"
struct db { int x; };
struct db *db_new(const char *c, int t) { (void)c; (void)t; return calloc(1, sizeof(struct db)); }
void db_free(struct db *db) { free(db); }
berr db_connect(struct db *db) { (void)db; return ERR_DB_DOWN; }
berr db_prepare(struct db *db, const char *n, const char *s, int np) { (void)db; (void)n; (void)s; (void)np; return OK; }
berr db_exec(struct db *db, const char *n, int np, const char *const *v, PGresult **res) { (void)db; (void)n; (void)np; (void)v; *res = NULL; return ERR_DB_DOWN; }
berr db_exec_sql(struct db *db, const char *s, int np, const char *const *v, PGresult **res) { (void)db; (void)s; (void)np; (void)v; if (res) *res = NULL; return ERR_DB_DOWN; }
berr db_tx(struct db *db, berr (*fn)(struct db *, void *), void *arg) { (void)db; (void)fn; (void)arg; return ERR_DB_DOWN; }
const char *db_sqlstate(const struct db *db) { (void)db; return ""; }
PGconn *db_conn(struct db *db) { (void)db; return NULL; }
