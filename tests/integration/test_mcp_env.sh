#!/usr/bin/env bash
#
# test_mcp_env.sh - the environment selector of /mcp, prompts/resources,
# and resource subscriptions, with raw curl, through nginx and then Apache
# (the shipped configurations in conf/, unchanged: the query string of /mcp
# passes through both).
#
#   * /mcp?environment=NAME: a user with a role in development (developer)
#     and none in staging. In development tools/list shows the station's
#     tools; in staging it is empty (200, not 403: the caller is
#     authenticated and MCP lists what it may call, as for a viewer's
#     missing tools) and tools/call is an isError result naming the
#     missing permission. Unknown environment: 404 with a JSON-RPC body
#     (after authentication: 401 without a credential). Empty or repeated
#     parameter: 400. No parameter: the first configured environment.
#   * A 2025-era session is bound to its environment: used with another
#     one it is 404 (as another principal's session).
#   * prompts/get of an unknown prompt: -32602; resources/read of an
#     unknown URI: -32002 with data.uri; with the test-only fixtures
#     (mcp.conformance_fixtures) a prompt with arguments (missing one:
#     -32602 naming it), the template resource; resources/subscribe of a
#     fixture stored in mcp_subscriptions (PostgreSQL), unsubscribe removes
#     it, DELETE of the session removes the rest; an unknown URI: -32002.
#     The fixtures are invisible where the user has no role.
#   * berth-fcgi answers /healthz at the end of each round.
#   * A server-to-client request (fixture test_sampling): asked on an SSE
#     stream through nginx, answered by a POST through Apache (any
#     responder), the tool's result carries the client's text; a client
#     without the sampling capability is not asked (isError); an answer to
#     an id never asked is 202 and stores nothing (mcp_ask.py).

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ -n $LIB_PY ]] || skip "python3 is needed to read JSON"

BUILD=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH_BIN=$BUILD/cli/berth
[[ -x $BERTH_BIN ]] || fail "no berth CLI at $BERTH_BIN"

PSQL=$(command -v psql || true)
for p in /usr/lib/postgresql/*/bin/psql; do
	[[ -x $p ]] && PSQL=$p
done
[[ -n $PSQL ]] || skip "psql is not installed"

note() {
	printf 'NOTE %s\n' "$*"
}

export BERTH_STACK_CONFIG_EXTRA=$'mcp:\n  conformance_fixtures: true'

sql() {
	printf '%s\n' "$1" | "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL"
}

# req METHOD URL [curl args...]: sets STATUS, BODY, HEADERS.
req() {
	local method=$1 url=$2 out rc=0
	shift 2
	: >"$STACK_DIR/h" && : >"$STACK_DIR/b"
	out=$(curl -sS --max-time 30 -X "$method" -D "$STACK_DIR/h" -o "$STACK_DIR/b" \
		-w '%{http_code}' "$@" "$url" 2>&1) || rc=$?
	((rc == 0)) || fail "curl $method $url: exit $rc: $out"
	STATUS=$out
	BODY=$(cat "$STACK_DIR/b")
	HEADERS=$(tr -d '\r' <"$STACK_DIR/h" | sed 's/^\([^:]*\):/\L\1:/')
}

# py EXPR: evaluates EXPR with j = BODY parsed (None when not JSON).
py() {
	"$LIB_PY" -c '
import json, sys
try:
    j = json.loads(sys.argv[2])
except Exception:
    j = None
try:
    v = eval(sys.argv[1])
except Exception:
    v = ""
print(json.dumps(v) if isinstance(v, (dict, list)) else v)
' "$1" "$BODY"
}

JSON_HDRS=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
INIT_BODY='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'

# rpc ENV SESSION BODY: POSTs BODY to /mcp?environment=ENV ("" = no
# parameter) with the user's key and SESSION ("" = none).
rpc() {
	local url=$FRONT_URL/mcp args=("${JSON_HDRS[@]}" -H "Authorization: Bearer $KEY" -H 'MCP-Protocol-Version: 2025-11-25')
	[[ -n $1 ]] && url="$url?environment=$1"
	[[ -n $2 ]] && args+=(-H "Mcp-Session-Id: $2")
	req POST "$url" "${args[@]}" --data-binary "$3"
}

# init ENV: a new session in ENV; prints nothing, sets SID.
init() {
	rpc "$1" "" "$INIT_BODY"
	[[ $STATUS == 200 ]] || fail "initialize in '${1:-<none>}': $STATUS $(one_line "$BODY")"
	SID=$(printf '%s\n' "$HEADERS" | sed -n 's/^mcp-session-id: //p' | head -n 1)
	[[ -n $SID ]] || fail "initialize in '${1:-<none>}': no Mcp-Session-Id"
	rpc "$1" "$SID" '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	[[ $STATUS == 202 ]] || fail "notifications/initialized: $STATUS"
}

# round LABEL URL: every check through the front end at URL.
round() {
	local label=$1 sid_dev sid_none sid_stg n
	FRONT_URL=$2

	# --- the selector --------------------------------------------------------------------
	init development
	sid_dev=$SID
	rpc development "$sid_dev" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
	[[ $STATUS == 200 ]] || fail "$label: tools/list in development: $STATUS"
	n=$(py 'len(j["result"]["tools"])')
	assert_contains "$(py '[t["name"] for t in j["result"]["tools"]]')" station_status "$label: development tools"
	pass "$label: ?environment=development (role developer): tools/list shows $n tools"

	init staging
	sid_stg=$SID
	rpc staging "$sid_stg" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
	[[ $STATUS == 200 ]] || fail "$label: tools/list in staging: $STATUS"
	assert_eq "$(py 'len(j["result"]["tools"])')" 0 "$label: tools in staging (no role)"
	rpc staging "$sid_stg" '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"station_status","arguments":{}}}'
	assert_eq "$(py 'j["result"]["isError"]')" True "$label: station_status in staging isError"
	assert_contains "$(py 'j["result"]["content"][0]["text"]')" "staging" "$label: the refusal names the environment"
	rpc staging "$sid_stg" '{"jsonrpc":"2.0","id":4,"method":"prompts/list"}'
	assert_eq "$(py 'len(j["result"]["prompts"])')" 0 "$label: prompts in staging (no role)"
	pass "$label: ?environment=staging (no role): tools/list and prompts/list empty (200), tools/call isError"

	rpc staging "$sid_dev" '{"jsonrpc":"2.0","id":5,"method":"tools/list"}'
	assert_eq "$STATUS" 404 "$label: development session used in staging"
	rpc development "$sid_stg" '{"jsonrpc":"2.0","id":5,"method":"ping"}'
	assert_eq "$STATUS" 404 "$label: staging session used in development"
	rpc development "$sid_dev" '{"jsonrpc":"2.0","id":6,"method":"ping"}'
	assert_eq "$STATUS" 200 "$label: development session in development after the mismatch"
	pass "$label: a session used with another environment is 404 (both ways); it still works in its own"

	# No parameter: the first configured environment (development).
	init ""
	sid_none=$SID
	rpc development "$sid_none" '{"jsonrpc":"2.0","id":7,"method":"ping"}'
	assert_eq "$STATUS" 200 "$label: a session made without the parameter, used in development"
	assert_eq "$(sql "SELECT environment FROM mcp_sessions WHERE id = '$sid_none'")" development "$label: stored environment"
	pass "$label: without ?environment= the first configured environment (development) is used and stored"

	rpc nosuchenv "" "$INIT_BODY"
	assert_eq "$STATUS" 404 "$label: unknown environment"
	assert_eq "$(py 'j["error"]["code"]')" -32000 "$label: unknown environment code"
	[[ $BODY != *nosuchenv* ]] || fail "$label: the 404 echoes the environment name"
	rpc '*' "" "$INIT_BODY"
	assert_eq "$STATUS" 404 "$label: environment '*'"
	req POST "$FRONT_URL/mcp?environment=nosuchenv" "${JSON_HDRS[@]}" --data-binary "$INIT_BODY"
	assert_eq "$STATUS" 401 "$label: unknown environment without a credential"
	req POST "$FRONT_URL/mcp?environment=" "${JSON_HDRS[@]}" -H "Authorization: Bearer $KEY" --data-binary "$INIT_BODY"
	assert_eq "$STATUS" 400 "$label: empty environment parameter"
	req POST "$FRONT_URL/mcp?environment=development&environment=staging" "${JSON_HDRS[@]}" -H "Authorization: Bearer $KEY" --data-binary "$INIT_BODY"
	assert_eq "$STATUS" 400 "$label: repeated environment parameter"
	pass "$label: unknown environment 404 (JSON-RPC -32000, name not echoed; 401 first without a credential), empty or repeated parameter 400"

	# --- prompts and resources ---------------------------------------------------------
	rpc development "$sid_dev" '{"jsonrpc":"2.0","id":10,"method":"prompts/get","params":{"name":"no_such_prompt"}}'
	assert_eq "$(py 'j["error"]["code"]')" -32602 "$label: unknown prompt"
	rpc development "$sid_dev" '{"jsonrpc":"2.0","id":11,"method":"prompts/get","params":{"name":"test_prompt_with_arguments","arguments":{"arg1":"v-one","arg2":"v-two"}}}'
	assert_contains "$(py 'j["result"]["messages"][0]["content"]["text"]')" "arg1='v-one', arg2='v-two'" "$label: prompt with arguments"
	rpc development "$sid_dev" '{"jsonrpc":"2.0","id":12,"method":"prompts/get","params":{"name":"test_prompt_with_arguments","arguments":{"arg2":"x"}}}'
	assert_eq "$(py 'j["error"]["code"]')" -32602 "$label: missing argument"
	assert_contains "$(py 'j["error"]["message"]')" arg1 "$label: the error names the argument"
	rpc development "$sid_dev" '{"jsonrpc":"2.0","id":13,"method":"prompts/get","params":{"name":"test_prompt_with_arguments","arguments":{"arg1":1,"arg2":"x"}}}'
	assert_eq "$(py 'j["error"]["code"]')" -32602 "$label: argument not a string"
	rpc staging "$sid_stg" '{"jsonrpc":"2.0","id":14,"method":"prompts/get","params":{"name":"test_simple_prompt"}}'
	assert_eq "$(py 'j["error"]["code"]')" -32602 "$label: fixture prompt where the user has no role"
	pass "$label: prompts/get: unknown -32602, arguments substituted, missing/non-string argument -32602 naming it, invisible without a role"

	rpc development "$sid_dev" '{"jsonrpc":"2.0","id":20,"method":"resources/read","params":{"uri":"test://no-such"}}'
	assert_eq "$(py 'j["error"]["code"]')" -32002 "$label: unknown resource"
	assert_eq "$(py 'j["error"]["data"]["uri"]')" test://no-such "$label: unknown resource data.uri"
	rpc development "$sid_dev" '{"jsonrpc":"2.0","id":21,"method":"resources/read","params":{"uri":"test://template/a-7/data"}}'
	assert_eq "$(py 'json.loads(j["result"]["contents"][0]["text"])["id"]')" a-7 "$label: template id"
	rpc development "$sid_dev" '{"jsonrpc":"2.0","id":22,"method":"resources/read","params":{"uri":"test://template/a\"b/data"}}'
	assert_eq "$(py 'j["error"]["code"]')" -32002 "$label: template id with a quote"
	rpc development "$sid_dev" '{"jsonrpc":"2.0","id":23,"method":"resources/templates/list"}'
	assert_eq "$(py 'j["result"]["resourceTemplates"][0]["uriTemplate"]')" 'test://template/{id}/data' "$label: templates/list"
	pass "$label: resources/read: unknown -32002 with data.uri, template substitution (ids checked), templates listed"

	# --- subscriptions -------------------------------------------------------------------
	init development
	local sid_sub=$SID
	rpc development "" "$INIT_BODY"
	assert_eq "$(py 'j["result"]["capabilities"]["resources"].get("subscribe")')" True "$label: resources.subscribe capability"
	rpc development "$sid_sub" '{"jsonrpc":"2.0","id":30,"method":"resources/subscribe","params":{"uri":"test://watched-resource"}}'
	assert_eq "$BODY" '{"jsonrpc":"2.0","id":30,"result":{}}' "$label: subscribe"
	rpc development "$sid_sub" '{"jsonrpc":"2.0","id":31,"method":"resources/subscribe","params":{"uri":"test://watched-resource"}}'
	assert_eq "$(py 'j["result"]')" '{}' "$label: subscribe again"
	rpc development "$sid_sub" '{"jsonrpc":"2.0","id":32,"method":"resources/subscribe","params":{"uri":"test://static-text"}}'
	assert_eq "$(sql "SELECT string_agg(uri, ',' ORDER BY uri) FROM mcp_subscriptions WHERE session_id = '$sid_sub'")" \
		"test://static-text,test://watched-resource" "$label: stored subscriptions"
	rpc development "$sid_sub" '{"jsonrpc":"2.0","id":33,"method":"resources/subscribe","params":{"uri":"test://nope"}}'
	assert_eq "$(py 'j["error"]["code"]')" -32002 "$label: subscribe to an unknown resource"
	rpc development "$sid_sub" '{"jsonrpc":"2.0","id":34,"method":"resources/unsubscribe","params":{"uri":"test://watched-resource"}}'
	assert_eq "$(py 'j["result"]')" '{}' "$label: unsubscribe"
	assert_eq "$(sql "SELECT string_agg(uri, ',') FROM mcp_subscriptions WHERE session_id = '$sid_sub'")" \
		"test://static-text" "$label: after unsubscribe"
	rpc development "$sid_sub" '{"jsonrpc":"2.0","id":35,"method":"resources/unsubscribe","params":{"uri":"test://never"}}'
	assert_eq "$(py 'j["result"]')" '{}' "$label: unsubscribe of something never subscribed"
	req DELETE "$FRONT_URL/mcp?environment=development" -H "Authorization: Bearer $KEY" -H "Mcp-Session-Id: $sid_sub"
	assert_eq "$STATUS" 204 "$label: DELETE"
	assert_eq "$(sql "SELECT count(*) FROM mcp_subscriptions WHERE session_id = '$sid_sub'")" 0 "$label: subscriptions after DELETE"
	pass "$label: resources/subscribe stored in PostgreSQL (idempotent), unknown URI -32002, unsubscribe removes it, DELETE removes the rest"

	req GET "$FRONT_URL/healthz"
	[[ $STATUS == 200 ]] || fail "$label: /healthz -> $STATUS"
	pass "$label: berth-fcgi answers /healthz"
}

if have_cmd apache2 || have_cmd httpd; then
	stack_up --apache
else
	stack_up
	note "apache2 is not installed: the Apache round is skipped"
fi
"$BERTH_BIN" user create envdev --email envdev@example.com --env development=developer >/dev/null ||
	fail "berth user create envdev"
KEY=$("$BERTH_BIN" apikey create envdev --name env-test 2>/dev/null) || fail "berth apikey create"
[[ $KEY =~ ^sk- ]] || fail "berth apikey create printed no key"

round nginx "$BERTH_URL"
if [[ -n ${BERTH_APACHE_URL:-} ]]; then
	round apache "$BERTH_APACHE_URL"
fi

# --- a server-to-client request: asked on nginx's stream, answered through
# the other front end (any responder may receive the answer) --------------------------
ASK=$BERTH_SRCDIR/tests/integration/mcp_ask.py
ANSWER_URL=${BERTH_APACHE_URL:-$BERTH_URL}
ANSWER_VIA=nginx
[[ -n ${BERTH_APACHE_URL:-} ]] && ANSWER_VIA=Apache
out=$("$LIB_PY" "$ASK" "$BERTH_URL/mcp?environment=development" "$ANSWER_URL/mcp?environment=development" "$KEY" sampling 2>&1) ||
	fail "mcp_ask.py: $(one_line "$out")"
printf '%s\n' "$out" | sed 's/^/    ask: /'
assert_contains "$out" "STRAY 202" "an answer to a request never made"
assert_contains "$out" "ASKED sampling/createMessage ping-42" "the sampling request on the stream"
assert_contains "$out" "ANSWERED 202" "the answer POST"
assert_contains "$out" "RESULT False LLM response: pong-17" "the tool's result"
assert_eq "$(sql "SELECT count(*) FROM mcp_server_requests")" 0 "pending server requests left"
pass "sampling/createMessage asked on the nginx stream, answered through $ANSWER_VIA: the tool returns the client's text; nothing left in mcp_server_requests"
out=$("$LIB_PY" "$ASK" "$BERTH_URL/mcp?environment=development" "$ANSWER_URL/mcp?environment=development" "$KEY" none 2>&1) ||
	fail "mcp_ask.py (no capability): $(one_line "$out")"
[[ $out != *ASKED* ]] || fail "the server asked a client without the sampling capability"
assert_contains "$out" "RESULT True The client did not grant" "no capability: isError"
pass "a client without the sampling capability is not asked: isError result"
