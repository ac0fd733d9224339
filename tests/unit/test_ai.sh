#!/usr/bin/env bash
# test_ai.sh - runs the test_ai suite against tests/integration/ai-mock/
# ai_mock.py, a stand-in provider speaking OpenAI's and Anthropic's wire
# formats. BERTH_TEST_WRAPPER (e.g. valgrind) wraps the suite.
set -euo pipefail
src=${BERTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${BERTH_BUILDDIR:-$src}
dir=$(mktemp -d /tmp/berth-ai.XXXXXX)
mock_pid=
cleanup() {
	local rc=$?
	if [[ -n $mock_pid ]]; then kill "$mock_pid" 2>/dev/null; wait "$mock_pid" 2>/dev/null || true; fi
	rm -rf "$dir"
	exit $rc
}
trap cleanup EXIT
/usr/bin/python3 "$src/tests/integration/ai-mock/ai_mock.py" --port-file "$dir/port" \
	--log "$dir/requests.jsonl" --key "sk-test-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	>"$dir/mock.out" 2>&1 &
mock_pid=$!
for _ in $(seq 100); do [[ -s $dir/port ]] && break; sleep 0.1; done
[[ -s $dir/port ]] || { echo "FAIL ai_mock.py did not start"; cat "$dir/mock.out"; exit 1; }
export AI_MOCK_URL="http://127.0.0.1:$(cat "$dir/port")"
export AI_MOCK_KEY=$(tr '\0' ' ' </proc/$mock_pid/cmdline | sed 's/.*--key \([^ ]*\).*/\1/')
export AI_MOCK_LOG=$dir/requests.jsonl
# shellcheck disable=SC2086
${BERTH_TEST_WRAPPER:-} "$build/tests/unit/test_ai"
