#!/usr/bin/env bash
#
# test_conformance.sh - the official MCP conformance suite
# (@modelcontextprotocol/conformance, server scenarios, the "active" suite)
# against Berth's /mcp through nginx, under Node 22 from the npm package
# node@22 (the machine's own node may be older; the suite needs 22).
#
# The fixture configuration is the stack's plus mcp.conformance_fixtures
# (the suite's fixture tools, test-only). The suite sends no credentials,
# and /mcp has no anonymous access, so the fixture front end is a second nginx in front of the stack's berth-fcgi that adds an
# API key of a test user to every request (fastcgi_param HTTP_AUTHORIZATION):
# a test-only front end, never a deployment's configuration.
#
# Every scenario's result is printed (PASS/NOTE lines) with the pass count
# as a NOTE. The test fails only on a regression: a scenario listed in
# tests/fixtures/conformance/expected-pass.txt that does not pass. A
# scenario that passes and is not listed is reported so the list can grow.
# Scenarios that fail are listed by name with their first failing check:
# out of scope for Berth (fixture tools, resources and prompts with fixed
# names the suite expects, server-initiated requests) or not done yet.
#
# Versions are pinned (CONFORMANCE_VERSION, NODE_VERSION below); packages
# are installed once into ${BERTH_NODE_CACHE:-~/.cache/berth}/conformance.

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ -n $LIB_PY ]] || skip "python3 is needed to read JSON"
command -v npm >/dev/null 2>&1 || fail "npm is not installed: it installs node@22 and the conformance suite"

CONFORMANCE_VERSION=0.1.16
NODE_VERSION=22.23.3
BUILD=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH_BIN=$BUILD/cli/berth
EXPECTED=$BERTH_SRCDIR/tests/fixtures/conformance/expected-pass.txt
[[ -f $EXPECTED ]] || fail "no $EXPECTED"

note() {
	printf 'NOTE %s\n' "$*"
}

# --- Node 22 and the suite, in a cache outside the build tree ----------------------------

CACHE=${BERTH_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}/conformance
mkdir -p -- "$CACHE"
stamp="node@$NODE_VERSION conformance@$CONFORMANCE_VERSION"
if [[ ! -x $CACHE/node_modules/.bin/node || $(cat "$CACHE/.berth-stamp" 2>/dev/null) != "$stamp" ]]; then
	if ! (cd "$CACHE" && npm install --no-audit --no-fund --prefix "$CACHE" \
		"node@$NODE_VERSION" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" \
		>"$CACHE/npm-install.log" 2>&1); then
		tail -n 20 "$CACHE/npm-install.log"
		fail "npm install of node@$NODE_VERSION and the conformance suite failed"
	fi
	printf '%s\n' "$stamp" >"$CACHE/.berth-stamp"
fi
NODE22=$CACHE/node_modules/.bin/node
SUITE=$CACHE/node_modules/@modelcontextprotocol/conformance/dist/index.js
[[ -f $SUITE ]] || fail "no conformance suite at $SUITE"
pass "conformance suite $CONFORMANCE_VERSION under node $("$NODE22" --version) in $CACHE"

# The fixture configuration: the suite's fixture tools (test_simple_text,
# ...), and the fixture front end's own address as an allowed Host and
# Origin (the suite checks that 127.0.0.1:PORT is accepted and
# evil.example.com refused: dns-rebinding-protection).
FIX_PORT=$("$LIB_PY" -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export BERTH_STACK_CONFIG_EXTRA=$'mcp:\n  conformance_fixtures: true'
export BERTH_STACK_HTTP_EXTRA="    - \"127.0.0.1:$FIX_PORT\"
  allowed_origins:
    - \"http://127.0.0.1:$FIX_PORT\""
stack_up

"$BERTH_BIN" user create conform --email conform@example.com --role admin >/dev/null ||
	fail "berth user create conform"
KEY=$("$BERTH_BIN" apikey create conform --name conformance 2>/dev/null) || fail "berth apikey create"
[[ $KEY =~ ^sk- ]] || fail "berth apikey create printed no key"

# --- the fixture front end: the stack's nginx.conf, another port, a key added --------------

FIX=$STACK_DIR/conformance
mkdir -p -- "$FIX/nginx" "$FIX/results"
HOST_A=${BERTH_URL#http://}
FIX_PID=$FIX/nginx.pid
fixture_cleanup() {
	local rc=$?
	if [[ -s $FIX_PID ]]; then
		kill -TERM "$(cat "$FIX_PID")" 2>/dev/null || true
	fi
	if ((rc == 0)); then
		stack_cleanup
	else
		(exit "$rc") || stack_cleanup
	fi
}
trap fixture_cleanup EXIT
sed -e "s#listen 127.0.0.1:${HOST_A#*:};#listen 127.0.0.1:$FIX_PORT;#" \
	-e "s#^pid .*#pid \"$FIX_PID\";#" \
	-e "s#access_log \"[^\"]*\"#access_log \"$FIX/nginx-access.log\"#" \
	"$STACK_DIR/nginx/nginx.conf" >"$FIX/nginx.conf"
grep -q "listen 127.0.0.1:$FIX_PORT" "$FIX/nginx.conf" || fail "could not write $FIX/nginx.conf (listen)"
# The server-level fastcgi_params live in the included berth-locations.conf:
# the fixture uses a copy with the key added there (nginx then does not pass
# the client's Authorization; Host and Origin go through unchanged).
inc=$(sed -n 's#^[[:space:]]*include[[:space:]]*"\{0,1\}\([^";]*berth-locations.conf\)"\{0,1\};#\1#p' "$FIX/nginx.conf" | head -n 1)
[[ -n $inc && -f $inc ]] || fail "cannot find berth-locations.conf in $FIX/nginx.conf"
{
	printf 'fastcgi_param HTTP_AUTHORIZATION "Bearer %s";\n' "$KEY"
	cat -- "$inc"
} >"$FIX/berth-locations.conf"
sed -i "s#$inc#$FIX/berth-locations.conf#" "$FIX/nginx.conf"
grep -q "$FIX/berth-locations.conf" "$FIX/nginx.conf" || fail "could not point the fixture at its locations"
chmod 0600 "$FIX/nginx.conf" "$FIX"/berth-locations.conf 2>/dev/null || true
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX_BIN" -p "$FIX/nginx/" -c "$FIX/nginx.conf" -e "$FIX/nginx-error.log" \
	</dev/null >"$FIX/nginx-start.log" 2>&1 || {
	cat "$FIX/nginx-start.log"
	fail "the fixture nginx did not start"
}
wait_for_status 30 200 "http://127.0.0.1:$FIX_PORT/healthz" ||
	fail "fixture nginx: /healthz -> $HTTP_STATUS"
pass "fixture nginx on 127.0.0.1:$FIX_PORT adds the test user's key to /mcp"

# --- run the suite --------------------------------------------------------------------------

rc=0
(cd "$FIX" && timeout 600 "$NODE22" "$SUITE" server --url "http://127.0.0.1:$FIX_PORT/mcp" \
	-o "$FIX/results" >"$FIX/suite.out" 2>&1) || rc=$?
note "conformance suite exit status $rc (non-zero whenever any scenario fails)"
find "$FIX/results" -name checks.json | grep -q . ||
	{ tail -n 30 "$FIX/suite.out"; fail "the suite wrote no results"; }

# One line per scenario: "<scenario> <pass|fail> <first failing check>".
"$LIB_PY" - "$FIX/results" >"$FIX/summary" <<'EOF'
import json, os, re, sys
root = sys.argv[1]
res = {}
for d in sorted(os.listdir(root)):
    p = os.path.join(root, d, "checks.json")
    if not os.path.isfile(p):
        continue
    m = re.match(r"server-(.*)-\d{4}-\d{2}-\d{2}T.*$", d) or re.match(r"server-(.*?)-\d+$", d)
    name = m.group(1) if m else d
    try:
        checks = json.load(open(p))
    except Exception:
        checks = []
    bad = [c for c in checks if str(c.get("status", "")).upper() not in ("SUCCESS", "PASS", "PASSED", "INFO", "SKIPPED", "WARNING")]
    why = ""
    if bad:
        c = bad[0]
        why = (c.get("name") or c.get("id") or "") + ": " + str(c.get("errorMessage") or c.get("description") or "")
    res[name] = ("pass" if checks and not bad else "fail", why.replace("\n", " ")[:200])
for n in sorted(res):
    print(n, res[n][0], res[n][1])
EOF
total=$(wc -l <"$FIX/summary")
passed=$(awk '$2 == "pass"' "$FIX/summary" | wc -l)
((total > 0)) || fail "no scenario results parsed"
while read -r name verdict why; do
	if [[ $verdict == pass ]]; then
		pass "conformance $name"
	else
		note "conformance $name does not pass: $why"
	fi
done <"$FIX/summary"
note "conformance: $passed of $total server scenarios pass (suite $CONFORMANCE_VERSION)"

# Regressions: listed as passing, not passing now.
regress=0
while read -r name; do
	[[ -z $name || $name == \#* ]] && continue
	if ! awk -v n="$name" '$1 == n && $2 == "pass" { f = 1 } END { exit !f }' "$FIX/summary"; then
		printf 'FAIL regression: conformance scenario %s is listed in %s but does not pass\n' "$name" "${EXPECTED#"$BERTH_SRCDIR"/}"
		regress=1
	fi
done <"$EXPECTED"
while read -r name verdict _; do
	if [[ $verdict == pass ]] && ! grep -qx "$name" "$EXPECTED"; then
		note "conformance $name passes but is not in expected-pass.txt: add it"
	fi
done <"$FIX/summary"
((regress == 0)) || fail "conformance regressions (see above)"
pass "no regression against tests/fixtures/conformance/expected-pass.txt"
