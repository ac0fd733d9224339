#!/usr/bin/env bash
# test_authcache.sh - the credential cache, against a private PostgreSQL (see with-db.sh).
exec bash "$(dirname "${BASH_SOURCE[0]}")/with-db.sh" test_authcache --migrate
