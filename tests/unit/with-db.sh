#!/usr/bin/env bash
# with-db.sh SUITE [--migrate] - runs the CUnit suite tests/unit/SUITE
# against a private PostgreSQL, migrated first with --migrate. The database
# suites' own scripts (test_db.sh, test_audit.sh, test_mcp.sh) call this.
#
# `make check` runs this with BERTH_SRCDIR and BERTH_BUILDDIR set. It starts
# a cluster of its own with scripts/berth-stack (--db-only) in a temporary
# folder, applies the migrations with the real `berth migrate`, runs the
# suite with DATABASE_URL pointing at it, and stops and removes the cluster
# on every way out (trap). Exits 77 (skipped) when the PostgreSQL server
# programs are not installed. BERTH_TEST_WRAPPER, when set, is put before
# the test program, e.g.
#   BERTH_TEST_WRAPPER="valgrind --leak-check=full --error-exitcode=1"
set -euo pipefail

suite=${1:?usage: with-db.sh SUITE [--migrate]}
migrate=0
[ "${2:-}" = --migrate ] && migrate=1

src=${BERTH_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
build=${BERTH_BUILDDIR:-$src}
stack="$src/scripts/berth-stack"
bin="$build/tests/unit/$suite"
berth="$build/cli/berth"

if ! command -v initdb >/dev/null 2>&1 &&
	! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
	echo "SKIP: PostgreSQL server programs not installed (scripts/install-deps)"
	exit 77
fi
[ -x "$bin" ] || { echo "FAIL: $bin not built"; exit 1; }
[ "$migrate" = 0 ] || [ -x "$berth" ] || { echo "FAIL: $berth not built"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/berth-$suite.XXXXXX")
# Reachable by the unprivileged user berth-stack runs PostgreSQL as when we
# are root; otherwise it would put the cluster elsewhere, outside our trap.
chmod 0755 "$dir"

cleanup() {
	local rc=$?
	if ! bash "$stack" down --dir "$dir" >"$dir.down.log" 2>&1; then
		echo "WARN: berth-stack down failed:" >&2
		cat "$dir.down.log" >&2
	fi
	rm -rf "$dir" "$dir.down.log"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! out=$(bash "$stack" up --db-only --dir "$dir"); then
	echo "FAIL: berth-stack up --db-only failed"
	exit 1
fi
DATABASE_URL=$(printf '%s\n' "$out" | sed -n 's/^DATABASE_URL=//p' | tail -n 1)
if [ -z "$DATABASE_URL" ]; then
	echo "FAIL: berth-stack printed no DATABASE_URL"
	exit 1
fi
export DATABASE_URL
export BERTH_SQL_DIR="$src/sql"
if [ "$migrate" = 1 ]; then
	# No config file of the host may point the migrator elsewhere.
	unset BERTH_CONFIG
	printf 'database:\n  url: "%s"\n' "$DATABASE_URL" >"$dir/config.yaml"
	if ! "$berth" --config "$dir/config.yaml" migrate >"$dir/migrate.log" 2>&1; then
		cat "$dir/migrate.log"
		echo "FAIL: berth migrate"
		exit 1
	fi
fi

# Word splitting of the wrapper is wanted: it is a command with options.
# shellcheck disable=SC2086
${BERTH_TEST_WRAPPER:-} "$bin"
