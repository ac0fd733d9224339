#!/usr/bin/env bash
# test_maintenance.sh - housekeeping edge cases, against a private PostgreSQL
# (see with-db.sh); the million-row run is tests/integration/test_maintenance.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/with-db.sh" test_maintenance --migrate
