#!/usr/bin/env bash
# test_mcp.sh - the MCP core and tool registry, against a private PostgreSQL (see with-db.sh).
exec bash "$(dirname "${BASH_SOURCE[0]}")/with-db.sh" test_mcp --migrate
