/*
 * migrate.h - numbered SQL migrations from sql/, applied in order.
 *
 * Files are named NNN_words.sql (NNN digits). Each pending file runs inside
 * its own transaction and is recorded in schema_migrations(version, name,
 * checksum, applied_at). A session-level advisory lock serialises runners,
 * so two hosts may run `berth migrate` at once: one applies, the other
 * waits and then finds nothing to do. An applied file whose checksum no
 * longer matches is an error: applied migrations are never edited.
 */
#ifndef BERTH_MIGRATE_H
#define BERTH_MIGRATE_H

#include <stddef.h>

#include "db.h"
#include "err.h"

/* Default folder of the migrations: $BERTH_SQL_DIR or the installed one. */
const char *migrate_default_dir(void);

/*
 * Applies every pending migration in dir. *applied (may be NULL) receives
 * how many were applied now. On error, err (may be NULL) receives a message
 * naming the file, and the failing migration's transaction is rolled back;
 * earlier ones stay applied. Returns OK, ERR_IO (dir or file unreadable),
 * ERR_INVALID (bad file name, duplicate version, NUL byte, a file that
 * commits or rolls back itself), ERR_TOO_BIG (file over
 * LIMIT_MIGRATION_BYTES), ERR_CONFLICT (checksum mismatch, or a pending
 * file numbered below the newest applied one), ERR_DB, ERR_DB_DOWN,
 * ERR_NOMEM, ERR_INTERNAL (lost the lock's session).
 */
berr migrate_run(struct db *db, const char *dir, int *applied, char *err,
    size_t errlen) __attribute__((warn_unused_result));

/* Count of migrations in dir not yet applied; -1 on error (logged). */
int migrate_pending(struct db *db, const char *dir);

#endif
