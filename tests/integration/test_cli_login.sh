#!/usr/bin/env bash
#
# test_cli_login.sh - the CLI's client commands against a real stack,
# with a temporary HOME: `berth login` (server found by name in
# ~/.claude.json, password from stdin) -> `berth status` -> `berth proxy`
# driven by the official MCP SDK client over stdio (also across a
# berth-fcgi restart) -> `berth logout`. The token is kept in the 0600
# file (no session bus here; BERTH_NO_KEYCHAIN=1 makes sure), and when
# dbus-run-session and gnome-keyring-daemon are installed, once more in
# the Secret Service.

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ -n $LIB_PY ]] || skip "python3 is needed to read JSON"
command -v node >/dev/null 2>&1 || fail "node is not installed: the MCP SDK client needs Node.js >= 18"
command -v npm >/dev/null 2>&1 || fail "npm is not installed: it installs the MCP SDK client"

BUILD=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH_BIN=$BUILD/cli/berth
FCGI_BIN=$BUILD/fcgi/berth-fcgi

# The SDK client, in the same cache test_mcp.sh uses.
CLIENT_SRC=$BERTH_SRCDIR/tests/integration/mcp-client
CLIENT_DIR=${BERTH_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}/mcp-client
mkdir -p -- "$CLIENT_DIR"
for f in package.json package-lock.json client-stdio.mjs; do
	if ! cmp -s -- "$CLIENT_SRC/$f" "$CLIENT_DIR/$f"; then
		cp -- "$CLIENT_SRC/$f" "$CLIENT_DIR/$f"
		chmod u+w -- "$CLIENT_DIR/$f"
	fi
done
if [[ ! -d $CLIENT_DIR/node_modules ]] ||
	! cmp -s -- "$CLIENT_DIR/package-lock.json" "$CLIENT_DIR/node_modules/.berth-lock"; then
	if ! (cd "$CLIENT_DIR" && npm ci --no-audit --no-fund >"$CLIENT_DIR/npm-ci.log" 2>&1); then
		tail -n 20 "$CLIENT_DIR/npm-ci.log"
		fail "npm ci in $CLIENT_DIR failed"
	fi
	cp -- "$CLIENT_DIR/package-lock.json" "$CLIENT_DIR/node_modules/.berth-lock"
fi

stack_up
export DATABASE_URL BERTH_CONFIG

printf 'dave-pw\n' | "$BERTH_BIN" user create dave --role admin --password-stdin >/dev/null ||
	fail "berth user create dave"

# A temporary HOME with Claude Code's config naming two servers.
T=$(mktemp -d "${TMPDIR:-/tmp}/berth-cli-login.XXXXXX")
REAL_HOME=$HOME
cleanup_home() { rm -rf -- "$T"; }
trap 'rc=$?; cleanup_home; stack_cleanup "$rc"' EXIT
export HOME=$T/home XDG_CONFIG_HOME=$T/home/.config BERTH_NO_KEYCHAIN=1
unset DBUS_SESSION_BUS_ADDRESS
mkdir -p "$HOME"
cat >"$HOME/.claude.json" <<JSON
{"mcpServers": {
  "berth-test": {"type": "http", "url": "$BERTH_URL/mcp", "headers": {}},
  "other": {"type": "http", "url": "https://other.example/mcp"},
  "local-tool": {"command": "npx", "args": ["some-server"]}
}}
JSON
SESSIONS=$XDG_CONFIG_HOME/berth/sessions.json

# --- login ----------------------------------------------------------------------------

out=$(printf 'wrong\n' | "$BERTH_BIN" login berth-test --username dave --password-stdin 2>&1) && fail "login with a wrong password succeeded: $out"
assert_contains "$out" "invalid username or password" "wrong password message"
[[ ! -e $SESSIONS ]] || fail "a refused login left $SESSIONS"
pass "berth login with a wrong password: exit 1, '$(one_line "$out")', nothing stored"

out=$(printf 'dave-pw\n' | "$BERTH_BIN" login --username dave --password-stdin 2>&1) && fail "login without a name among two servers succeeded"
assert_contains "$out" "several MCP servers" "ambiguous server message"
pass "berth login without SERVER among two configured: $(one_line "$out")"

out=$(printf 'dave-pw\n' | "$BERTH_BIN" login nosuch --username dave --password-stdin 2>&1) && fail "login to an unknown name succeeded"
assert_contains "$out" "no MCP server named nosuch" "unknown server message"
pass "berth login nosuch: $(one_line "$out")"

out=$(printf 'dave-pw\n' | "$BERTH_BIN" login berth-test --username dave --password-stdin 2>&1) || fail "berth login berth-test: $out"
assert_contains "$out" "Logged in to $BERTH_URL as dave" "login output"
assert_contains "$out" "file" "login: token kept in the file"
pass "berth login berth-test (found in ~/.claude.json): $(one_line "$out")"
mode=$(stat -c %a "$SESSIONS")
assert_eq "$mode" 600 "sessions file mode"
assert_eq "$(stat -c %a "$XDG_CONFIG_HOME/berth")" 700 "sessions folder mode"
token=$("$LIB_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["token"])' "$SESSIONS" "$BERTH_URL")
[[ $token =~ ^bst_ ]] || fail "no session token in $SESSIONS"
pass "token stored in $SESSIONS (mode $mode, folder 700) under $BERTH_URL"

# --- status ---------------------------------------------------------------------------

out=$("$BERTH_BIN" status 2>&1) || fail "berth status: $out"
assert_contains "$out" "$BERTH_URL" "status server"
assert_contains "$out" "user:       dave" "status user"
assert_contains "$out" "status:     valid" "status validity"
assert_contains "$out" "cloudship:  not connected" "status cloudship"
assert_contains "$out" "Local configuration:" "status local config"
pass "berth status: $(one_line "$out")"

# --- proxy, driven by the SDK over stdio ------------------------------------------------

out=$(cd "$CLIENT_DIR" && timeout 60 node client-stdio.mjs --berth "$BERTH_BIN" --server berth-test \
	connect list call:station_status ping close 2>"$T/proxy.err") || fail "SDK over berth proxy: $out $(cat "$T/proxy.err")"
assert_contains "$out" "OK connect" "proxy connect"
assert_contains "$out" "station_status" "proxy list"
assert_contains "$out" "OK call:station_status" "proxy call"
pass "the MCP SDK over berth proxy: $(one_line "$out")"

# Across a restart: the call is sent while berth-fcgi is down and must
# arrive once it is back.
fcgi_port=$(sed -n 's/^FCGI_PORT=//p' "$STACK_DIR/run/state")
(cd "$CLIENT_DIR" && exec timeout 90 node client-stdio.mjs --berth "$BERTH_BIN" --server "$BERTH_URL" \
	connect list sleep:3000 call:station_status close >"$T/restart.out" 2>"$T/restart.err") &
node_pid=$!
for _ in $(seq 150); do
	grep -q '^OK list' "$T/restart.out" 2>/dev/null && break
	sleep 0.1
done
grep -q '^OK list' "$T/restart.out" || fail "proxy before the restart: $(cat "$T/restart.out" "$T/restart.err")"
old=$(stack_fcgi_pid)
kill -TERM "$old"
for _ in $(seq 100); do
	kill -0 "$old" 2>/dev/null || break
	sleep 0.1
done
sleep 5
setsid "$FCGI_BIN" --config "$BERTH_CONFIG" --listen "127.0.0.1:$fcgi_port" --workers 2 \
	--pidfile "$STACK_DIR/run/berth-fcgi.pid" </dev/null >>"$STACK_DIR/log/berth-fcgi.log" 2>&1 &
rc=0
wait "$node_pid" || rc=$?
out=$(cat "$T/restart.out")
((rc == 0)) || fail "SDK over berth proxy across a restart (exit $rc): $out $(cat "$T/restart.err")"
assert_contains "$out" "OK call:station_status" "call after the restart"
retries=$(grep -c 'retrying' "$T/restart.err" || true)
((retries > 0)) || fail "the proxy never had to retry: $(cat "$T/restart.err")"
pass "berth proxy across a berth-fcgi restart: the call went through after $retries retries: $(one_line "$out")"

# --- logout -----------------------------------------------------------------------------

out=$("$BERTH_BIN" logout berth-test 2>&1) || fail "berth logout: $out"
assert_contains "$out" "Logged out of $BERTH_URL" "logout output"
"$LIB_PY" -c 'import json,sys; sys.exit(1 if sys.argv[2] in json.load(open(sys.argv[1])) else 0)' "$SESSIONS" "$BERTH_URL" ||
	fail "the token is still in $SESSIONS"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$BERTH_URL/auth/whoami")
assert_eq "$code" 401 "the old token after logout"
pass "berth logout: token removed locally and revoked on the server (whoami -> $code)"
out=$("$BERTH_BIN" status 2>&1) || fail "berth status after logout: $out"
assert_contains "$out" "none: run berth login" "status after logout"
out=$(cd "$CLIENT_DIR" && timeout 30 node client-stdio.mjs --berth "$BERTH_BIN" --server berth-test connect 2>&1) &&
	fail "berth proxy without a session connected: $out"
pass "berth proxy without a session refuses: $(one_line "$out")"

# --- the Secret Service, when it can run here -------------------------------------------

if command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null &&
	command -v secret-tool >/dev/null; then
	out=$(env -u BERTH_NO_KEYCHAIN dbus-run-session -- bash -c '
		set -e
		printf "keyring-pw" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
		printf "dave-pw\n" | "$1" login "$2" --username dave --password-stdin
		echo "lookup: $(secret-tool lookup service berth account "session:$2" | cut -c1-4)"
		"$1" status | grep -E "token in|status:"
		"$1" logout "$2"
		echo "after: $(secret-tool lookup service berth account "session:$2" || echo gone)"
	' _ "$BERTH_BIN" "$BERTH_URL" 2>&1) || true
	if [[ $out == *"lookup: bst_"* ]]; then
		assert_contains "$out" "keychain" "login into the keychain"
		assert_contains "$out" "status:     valid" "status with the keychain token"
		assert_contains "$out" "after: gone" "logout removes the keychain entry"
		grep -q bst_ "$SESSIONS" && fail "the token went to the file too"
		pass "Secret Service: token stored as account session:$BERTH_URL, used by status, removed by logout: $(one_line "$out")"
	else
		echo "NOTE the Secret Service could not run here: $(one_line "$out")"
	fi
else
	echo "NOTE dbus-run-session, gnome-keyring-daemon or secret-tool missing: keychain not exercised"
fi
HOME=$REAL_HOME
