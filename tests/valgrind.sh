#!/usr/bin/env bash
# valgrind.sh - the unit suites under valgrind memcheck: zero errors and no
# definite or indirect leaks (issue 9). The database suites run through
# their own wrappers, which bring up a private PostgreSQL.
set -euo pipefail
src=${BERTH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${BERTH_BUILDDIR:-$src}
export BERTH_SRCDIR=$src BERTH_BUILDDIR=$build
if [[ ${BERTH_TEST_VALGRIND:-1} == 0 ]]; then echo "SKIP valgrind: not on a sanitizer build"; exit 77; fi
command -v valgrind >/dev/null || { echo "FAIL valgrind is not installed (scripts/install-deps)"; exit 1; }
VG="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99"
status=0
for t in test_config test_authz test_apikey test_dotprompt test_mcp test_oauth test_crypto \
	test_request test_http test_pbutil; do
	bin=$build/tests/unit/$t
	[[ -x $bin ]] || { echo "FAIL $bin not built"; status=1; continue; }
	[[ $t == test_mcp ]] && continue # needs a database: run by its wrapper below
	if $VG "$bin" >"$build/tests/valgrind-$t.out" 2>&1; then
		echo "PASS valgrind $t: 0 errors, 0 leaks"
	else
		echo "FAIL valgrind $t (exit $?):"; tail -n 40 "$build/tests/valgrind-$t.out"; status=1
	fi
done
for w in test_db test_audit test_mcp test_ai test_maintenance test_session test_outbox test_authcache; do
	out=$build/tests/valgrind-$w.out
	if BERTH_TEST_WRAPPER="$VG" bash "$src/tests/unit/$w.sh" >"$out" 2>&1; then
		echo "PASS valgrind $w: 0 errors, 0 leaks"
	else
		rc=$?
		if [[ $rc == 77 ]]; then echo "SKIP valgrind $w (suite skipped)"; continue; fi
		echo "FAIL valgrind $w (exit $rc):"; tail -n 40 "$out"; status=1
	fi
done
exit $status
