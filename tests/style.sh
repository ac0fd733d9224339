#!/usr/bin/env bash
# style.sh - every C file of the project matches the checked-in .clang-format.
set -euo pipefail
src=${BERTH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
command -v clang-format >/dev/null || { echo "FAIL clang-format not installed (scripts/install-deps)"; exit 1; }
mapfile -t files < <(find shared fcgi daemon cli tests bench -name '*.[ch]' 2>/dev/null | sort)
bad=0
for f in "${files[@]}"; do
	if ! clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "FAIL $f is not formatted (run: clang-format -i $f)"
		bad=$((bad + 1))
	fi
done
echo "style: ${#files[@]} files checked, $bad not formatted"
[ "$bad" -eq 0 ]
