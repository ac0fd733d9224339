#!/usr/bin/env bash
# test_outbox.sh - the run report outbox, against a private PostgreSQL (see with-db.sh).
exec bash "$(dirname "${BASH_SOURCE[0]}")/with-db.sh" test_outbox --migrate
