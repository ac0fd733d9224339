#!/usr/bin/env bash
# test_db.sh - the database layer and the migrator (which starts from an empty database), against a private PostgreSQL (see with-db.sh).
exec bash "$(dirname "${BASH_SOURCE[0]}")/with-db.sh" test_db
