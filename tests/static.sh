#!/usr/bin/env bash
# static.sh - cppcheck finds nothing in the project's C code (issue 9):
# warnings, performance and portability classes. (Style-only findings such
# as "scope can be reduced" clash with the house style of declaring at the
# top of a function, and are not checked.)
set -euo pipefail
src=${BERTH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
command -v cppcheck >/dev/null || { echo "FAIL cppcheck is not installed (scripts/install-deps)"; exit 1; }
out=$(cppcheck --quiet --enable=warning,performance,portability --std=c11 \
	--inline-suppr --suppress=missingIncludeSystem -I shared -I fcgi -I cli \
	shared fcgi cli daemon bench 2>&1) || true
if [[ -n $out ]]; then
	echo "$out"
	echo "FAIL cppcheck: $(grep -c ': ' <<<"$out") finding(s)"
	exit 1
fi
echo "PASS cppcheck: $(find shared fcgi cli daemon bench -name '*.c' | wc -l) files, 0 findings"
