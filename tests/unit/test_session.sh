#!/usr/bin/env bash
# test_session.sh - login sessions and the login lockout helpers, against a private PostgreSQL (see with-db.sh).
exec bash "$(dirname "${BASH_SOURCE[0]}")/with-db.sh" test_session --migrate
