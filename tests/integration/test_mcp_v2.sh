#!/usr/bin/env bash
#
# test_mcp_v2.sh - /mcp end to end through nginx with the official MCP SDK
# v2 client (@modelcontextprotocol/client, pinned in mcp-client/package.json),
# driven by mcp-client/client-v2.mjs with an API key:
#   * versionNegotiation {mode: 'auto'}: the client probes with
#     server/discover, Berth answers it, so the client settles on the 2026
#     era (2026-07-28); it lists tools and calls station_status;
#   * versionNegotiation {mode: {pin: '2026-07-28'}}: the same, with no
#     fallback allowed;
#   * in both, the requests on the wire are the 2026 era's: server/discover
#     first, every request with MCP-Protocol-Version 2026-07-28, the same
#     version in params._meta, Mcp-Method (and Mcp-Name for tools/call), and
#     no Mcp-Session-Id; and no session row is written to mcp_sessions;
#   * for contrast, mode 'legacy' of the same client opens a 2025-era
#     session (initialize, Mcp-Session-Id, one mcp_sessions row);
#   * a wrong key: the probe gets 401 and connect fails.
# berth-fcgi answers /healthz at the end.
#
# node >= 20 (the v2 client's engines) and npm are required: the client
# folder is copied to ~/.cache/berth/mcp-client-v2 (BERTH_NODE_CACHE) and
# `npm ci` runs there when the lock file changed. The folder is not
# test_mcp.sh's mcp-client: both tests may run at once under `make -j
# check`, and two `npm ci` in one folder would race.

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

command -v node >/dev/null 2>&1 ||
	fail "node is not installed: the MCP SDK client needs Node.js >= 20 (Debian: scripts/install-deps)"
command -v npm >/dev/null 2>&1 ||
	fail "npm is not installed: it installs the MCP SDK client (Debian: scripts/install-deps)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || fail "node $(node --version) is too old: @modelcontextprotocol/client needs >= 20"

BUILD=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH_BIN=$BUILD/cli/berth

# --- the SDK client, installed in a cache outside the build tree -------------
# (as test_mcp.sh does it: outside, so that `make distcheck`'s distclean
# check finds nothing left, and reused between runs)

CLIENT_SRC=$BERTH_SRCDIR/tests/integration/mcp-client
CLIENT_DIR=${BERTH_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}/mcp-client-v2
mkdir -p -- "$CLIENT_DIR"
# Copy only when something changed, so node_modules is reused between runs.
for f in package.json package-lock.json client-v2.mjs; do
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
v2_version=$(node -p 'require(process.argv[1]).version' \
	"$CLIENT_DIR/node_modules/@modelcontextprotocol/client/package.json")
pass "MCP SDK v2 client @modelcontextprotocol/client@$v2_version installed in $CLIENT_DIR (node $(node --version))"

stack_up

# --- helpers -------------------------------------------------------------------

PSQL=$(command -v psql || true)
for p in /usr/lib/postgresql/*/bin/psql; do
	[[ -x $p ]] && PSQL=$p
done
[[ -n $PSQL ]] || skip "psql is not installed"
export DATABASE_URL BERTH_CONFIG

sql() {
	local q=$1 v args=()
	shift
	for v in "$@"; do
		args+=(-v "$v")
	done
	printf '%s\n' "$q" | "$PSQL" -X -q -At -v ON_ERROR_STOP=1 "${args[@]}" -d "$DATABASE_URL"
}

URL=$BERTH_URL/mcp

# client MODE KEY STEP...: runs client-v2.mjs; output in CLIENT_OUT.
client() {
	local mode=$1 key=$2 rc=0
	shift 2
	CLIENT_OUT=$(cd "$CLIENT_DIR" && timeout 60 node client-v2.mjs --url "$URL" --key "$key" --mode "$mode" "$@" 2>&1) || rc=$?
	CLIENT_RC=$rc
}

# Shows the client's lines, indented, and its exit status; a session id
# only as its first 6 characters.
show_client() {
	local l
	while IFS= read -r l; do
		if [[ $l =~ ^OK\ session\ (.{6}).{4,} ]]; then
			l="OK session ${BASH_REMATCH[1]}..."
		fi
		printf '    client: %s\n' "$l"
	done <<<"$CLIENT_OUT"
	printf '    client: exit %s\n' "$CLIENT_RC"
}

# client_line STEP: the client's line for STEP ("" when none).
client_line() {
	printf '%s\n' "$CLIENT_OUT" | grep -E "^(OK|ERR) $1( |\$)" | head -n 1 || true
}

# client_ok LABEL STEP...: each STEP printed an OK line.
client_ok() {
	local label=$1 step line
	shift
	for step in "$@"; do
		line=$(client_line "$step")
		[[ $line == OK* ]] || fail "$label: ${line:-no line for $step}"
		pass "$label: $line"
	done
}

# alice's rows in mcp_sessions.
alice_sessions() {
	sql "SELECT count(*) FROM mcp_sessions s JOIN users u ON u.id = s.user_id
	     WHERE u.username = 'alice'"
}

# check_modern LABEL: the client's wire record is the 2026 era's.
check_modern() {
	local label=$1 wire entry first=1 n=0
	wire=$(client_line wire)
	wire=${wire#OK wire }
	[[ -n $wire ]] || fail "$label: no wire record"
	local IFS=';'
	for entry in $wire; do
		entry=${entry# }
		n=$((n + 1))
		if ((first)); then
			[[ $entry == 'server/discover[200] '* ]] ||
				fail "$label: the first request is not server/discover answered 200: $entry"
			first=0
		fi
		[[ $entry == *'[200] '* ]] || fail "$label: not answered 200: $entry"
		[[ $entry == *' v=2026-07-28 '* ]] || fail "$label: MCP-Protocol-Version is not 2026-07-28: $entry"
		[[ $entry == *' meta=2026-07-28 '* ]] || fail "$label: params._meta protocolVersion is not 2026-07-28: $entry"
		[[ $entry == *' sid=no' ]] || fail "$label: an Mcp-Session-Id was sent: $entry"
		local m=${entry%%\[*}
		[[ $entry == *" m=$m "* ]] || fail "$label: Mcp-Method does not mirror the body's method: $entry"
		if [[ $m == tools/call ]]; then
			[[ $entry == *' n=station_status '* ]] || fail "$label: Mcp-Name is not station_status: $entry"
		fi
	done
	((n >= 3)) || fail "$label: expected server/discover, tools/list and tools/call, got $n request(s)"
	pass "$label: $n requests, all 2026-era (server/discover first; MCP-Protocol-Version = _meta protocolVersion = 2026-07-28; Mcp-Method/Mcp-Name mirror the body; no Mcp-Session-Id)"
}

# --- users and keys --------------------------------------------------------------

[[ -x $BERTH_BIN ]] || fail "no berth CLI at $BERTH_BIN"
"$BERTH_BIN" user create alice --email alice@example.com --role admin >/dev/null ||
	fail "berth user create alice"
KEY=$("$BERTH_BIN" apikey create alice --name mcp-v2-test 2>/dev/null) || fail "berth apikey create alice"
[[ $KEY =~ ^sk- ]] || fail "berth apikey create printed no key"
pass "user alice with an API key (berth CLI)"

STEPS=(connect era session list call:station_status quiet wire close)

# --- (1) versionNegotiation {mode: 'auto'} -------------------------------------------

client auto "$KEY" "${STEPS[@]}"
show_client
client_ok "v2 auto" connect era session list call:station_status quiet close
assert_eq "$(client_line era)" "OK era modern 2026-07-28" "v2 auto: negotiated era"
assert_eq "$(client_line session)" "OK session none" "v2 auto: session"
assert_contains "$(client_line list)" station_status "v2 auto: tools/list"
assert_contains "$(client_line call:station_status)" '"lighthouse"' "v2 auto: station_status"
check_modern "v2 auto"

# --- (2) versionNegotiation {mode: {pin: '2026-07-28'}} --------------------------------

client 2026-07-28 "$KEY" "${STEPS[@]}"
show_client
client_ok "v2 pin 2026-07-28" connect era session list call:station_status quiet close
assert_eq "$(client_line era)" "OK era modern 2026-07-28" "v2 pin: negotiated era"
assert_eq "$(client_line session)" "OK session none" "v2 pin: session"
assert_contains "$(client_line list)" station_status "v2 pin: tools/list"
assert_contains "$(client_line call:station_status)" '"lighthouse"' "v2 pin: station_status"
check_modern "v2 pin 2026-07-28"

n=$(alice_sessions)
assert_eq "$n" 0 "mcp_sessions rows after the 2026-era clients"
pass "no mcp_sessions row after the 2026-era clients (the era has no protocol session)"

# --- for contrast: the same client in mode 'legacy' ------------------------------------

client legacy "$KEY" connect era session list call:station_status quiet close
show_client
client_ok "v2 legacy" connect era list call:station_status quiet close
assert_eq "$(client_line era)" "OK era legacy 2025-11-25" "v2 legacy: negotiated era"
SID=$(client_line session | sed -n 's/^OK session //p')
[[ -n $SID && $SID != none ]] || fail "v2 legacy: no Mcp-Session-Id was issued"
n=$(sql "SELECT count(*) FROM mcp_sessions WHERE id = :'i'" "i=$SID")
assert_eq "$n" 1 "mcp_sessions row of the legacy session"
pass "v2 legacy: session ${SID:0:6}... (2025-11-25) stored in mcp_sessions"

# --- a wrong key -----------------------------------------------------------------------

for mode in auto 2026-07-28; do
	client "$mode" sk-not-a-key connect wire
	line=$(client_line connect)
	[[ $line == ERR* && $line == *401* ]] || fail "v2 $mode with a wrong key: ${line:-no line for connect}"
	assert_contains "$(client_line wire)" 'server/discover[401]' "v2 $mode with a wrong key: wire"
	pass "v2 $mode with a wrong key: server/discover -> 401, connect fails ($(one_line "${line:0:100}"))"
done

http_get "$BERTH_URL/healthz"
assert_eq "$HTTP_STATUS" 200 "/healthz at the end"
pass "berth-fcgi answers /healthz 200 at the end"
