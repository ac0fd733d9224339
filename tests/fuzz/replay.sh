#!/usr/bin/env bash
# replay.sh - every fuzz target over its checked-in corpus (issue 9). A
# crash, a sanitizer report or a hang (60 s) fails the test.
set -euo pipefail
src=${BERTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${BERTH_BUILDDIR:-$src}
status=0
for t in config auth validate mcp dotprompt lighthouse pbutil; do
	bin=$build/tests/fuzz/replay_$t
	corpus=$src/tests/fuzz/corpus/$t
	if out=$(timeout 60 "$bin" "$corpus" 2>&1); then
		echo "PASS fuzz replay $t: $(tail -n 1 <<<"$out")"
	else
		echo "FAIL fuzz replay $t:"; echo "$out" | tail -n 30; status=1
	fi
done
exit $status
