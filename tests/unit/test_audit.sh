#!/usr/bin/env bash
# test_audit.sh - the audit log, against a private PostgreSQL (see with-db.sh).
exec bash "$(dirname "${BASH_SOURCE[0]}")/with-db.sh" test_audit --migrate
