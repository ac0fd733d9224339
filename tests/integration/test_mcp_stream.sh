#!/usr/bin/env bash
#
# test_mcp_stream.sh - /mcp streaming and Accept rules, through nginx AND
# Apache (the configs in conf/ as they are):
#   * Accept: a POST whose Accept leaves out application/json or
#     text/event-stream (or refuses one with q=0) -> 406 with a JSON-RPC
#     body; none, */*, wildcards -> served;
#   * a long tools/call (get_run with wait_seconds on a running run, a
#     progressToken, a client naming text/event-stream) is answered as
#     text/event-stream with X-Accel-Buffering: no; progress events and ":"
#     keep-alives arrive BEFORE the final result (so neither front end
#     buffers the stream), the run finishing ends the wait early;
#   * cancellation: closing the stream stops the tool (its audit row says it
#     did not succeed, and its streaming slot is free again at once);
#     notifications/cancelled on another POST (2025 era) stops it too, and
#     no response follows;
#   * the streaming cap (mcp.max_streams = 1 here): a second long call
#     while one runs -> 503 with Retry-After, while short requests are
#     served; a client that never reads holds its slot only until its wait
#     ends;
#   * hostile streaming input: progress tokens that are huge, fractional,
#     objects or too long -> -32602; cancels of unknown or malformed ids ->
#     202; the responder stays up after each;
#   * the official SDK v1 client through Apache (connect, list, call).
#
# The stack runs with mcp.keepalive_seconds = 1 and mcp.max_streams = 1
# (BERTH_STACK_CONFIG_EXTRA). No timing is asserted beyond order: a
# progress or keep-alive line must arrive before the result line; the
# measured gaps are printed as NOTE lines.

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ -n $LIB_PY ]] || skip "python3 is needed to read JSON"

BUILD=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH_BIN=$BUILD/cli/berth
PROBE=$BERTH_SRCDIR/tests/integration/sse_probe.py

export BERTH_STACK_CONFIG_EXTRA=$'mcp:\n  keepalive_seconds: 1\n  max_streams: 1'
stack_up --apache

PSQL=$(command -v psql || true)
for p in /usr/lib/postgresql/*/bin/psql; do
	[[ -x $p ]] && PSQL=$p
done
[[ -n $PSQL ]] || skip "psql is not installed"
export DATABASE_URL BERTH_CONFIG

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

rpc_code() {
	"$LIB_PY" -c '
import json, sys
try:
    print(json.loads(sys.argv[1])["error"]["code"])
except Exception:
    print("")
' "$BODY"
}

# note TEXT: an observed figure (not a verdict).
note() {
	printf 'NOTE %s\n' "$*"
}

still_up() {
	http_get "$BERTH_URL/healthz"
	[[ $HTTP_STATUS == 200 ]] || fail "after $1: /healthz -> $HTTP_STATUS $(one_line "$HTTP_BODY")"
	pass "after $1: berth-fcgi answers /healthz 200"
}

[[ -x $BERTH_BIN ]] || fail "no berth CLI at $BERTH_BIN"
"$BERTH_BIN" user create alice --email alice@example.com --role admin >/dev/null ||
	fail "berth user create alice"
KEY=$("$BERTH_BIN" apikey create alice --name stream-test 2>/dev/null) || fail "berth apikey create"
AUTH="Authorization: Bearer $KEY"
ACCEPT_BOTH='Accept: application/json, text/event-stream'
CT='Content-Type: application/json'
INIT_BODY='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'

# A run that is "running" until the test says otherwise, in the environment
# /mcp serves (the first configured one).
ENV=$("$BERTH_BIN" --config "$BERTH_CONFIG" config show 2>/dev/null |
	sed -n '/^environments:/{n;s/^ *- *"\{0,1\}\([A-Za-z0-9_.-]*\).*/\1/p;}')
[[ -n $ENV ]] || fail "no environment in berth config show"
new_run() {
	sql "INSERT INTO runs (agent_name, environment, status, source, started_at, claimed_by)
	     VALUES ('probe', '$ENV', 'running', 'cli', now(), 'test:1:1') RETURNING id"
}

# --- Accept -----------------------------------------------------------------------

declare -A FRONT=([nginx]=$BERTH_URL [apache]=$BERTH_APACHE_URL)
for front in nginx apache; do
	url=${FRONT[$front]}/mcp
	for a in 'application/json' 'text/event-stream' 'application/json;q=0, text/event-stream' \
		'application/json, text/event-stream;q=0.0' 'text/html' 'application/jsonx, text/event-streamy'; do
		req POST "$url" -H "$CT" -H "$AUTH" -H "Accept: $a" --data "$INIT_BODY"
		assert_eq "$STATUS" 406 "$front Accept '$a'"
		assert_eq "$(rpc_code)" -32000 "$front 406 JSON-RPC code"
		pass "$front Accept '$a' -> 406 $(one_line "$BODY")"
	done
	for a in 'application/json, text/event-stream' '*/*' 'application/*, text/*' \
		'text/event-stream;q=0.5, application/json;q=1' 'APPLICATION/JSON , TEXT/EVENT-STREAM'; do
		req POST "$url" -H "$CT" -H "$AUTH" -H "Accept: $a" --data "$INIT_BODY"
		assert_eq "$STATUS" 200 "$front Accept '$a'"
		assert_contains "$HEADERS" "content-type: application/json" "$front Accept '$a' content type"
		pass "$front Accept '$a' -> 200 application/json"
	done
	req POST "$url" -H "$CT" -H "$AUTH" -H 'Accept:' --data "$INIT_BODY"
	assert_eq "$STATUS" 200 "$front without Accept"
	pass "$front without Accept (RFC 9110: anything) -> 200 JSON"
	req POST "$url" -H "$CT" -H "$AUTH" -H "Accept: $(printf 'x/y;q=1, %.0s' $(seq 500))" --data "$INIT_BODY"
	[[ $STATUS == 406 || $STATUS == 431 || $STATUS == 400 ]] ||
		fail "$front 5 kB Accept -> $STATUS"
	pass "$front 5 kB Accept of junk -> $STATUS"
	still_up "$front Accept variants"
done

# --- a legacy session -------------------------------------------------------------

req POST "$BERTH_URL/mcp" -H "$CT" -H "$AUTH" -H "$ACCEPT_BOTH" --data "$INIT_BODY"
assert_eq "$STATUS" 200 "initialize"
SID=$(printf '%s\n' "$HEADERS" | sed -n 's/^mcp-session-id: //p')
[[ -n $SID ]] || fail "initialize issued no Mcp-Session-Id"
S_HDRS=(--header "$CT" --header "$AUTH" --header "$ACCEPT_BOTH" --header "Mcp-Session-Id: $SID"
	--header 'MCP-Protocol-Version: 2025-11-25')
pass "session $SID opened"

call_body() { # ID RUN WAIT [META]
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":%s,"wait_seconds":%s}%s}}' \
		"$1" "$2" "$3" "${4:+,\"_meta\":$4}"
}

# probe FRONT BODY [probe args]: runs sse_probe.py; output in PROBE_OUT.
probe() {
	local front=$1 body=$2
	shift 2
	PROBE_OUT=$("$LIB_PY" "$PROBE" "${FRONT[$front]}/mcp" "$body" "${S_HDRS[@]}" "$@" 2>&1) ||
		fail "sse_probe.py failed: $(one_line "$PROBE_OUT")"
}

# first_t PATTERN: the time of the first probe line matching PATTERN.
first_t() {
	{ printf '%s\n' "$PROBE_OUT" | grep -E "^t=[0-9.]+ $1" || true; } | head -n 1 | sed 's/^t=\([0-9.]*\).*/\1/'
}

# --- a stream through each front end: unbuffered, finished early ------------------

for front in nginx apache; do
	run=$(new_run)
	(sleep 3.5 && sql "UPDATE runs SET status = 'succeeded', finished_at = now(), final_response = 'done' WHERE id = $run" >/dev/null) &
	upd=$!
	probe "$front" "$(call_body 11 "$run" 20 '{"progressToken":"tok-'"$front"'"}')"
	wait "$upd"
	assert_contains "$PROBE_OUT" "status 200" "$front stream status"
	assert_contains "$PROBE_OUT" "header content-type: text/event-stream" "$front stream content type"
	if [[ $front == nginx ]]; then
		# nginx consumes X-Accel-Buffering itself; Apache passes it on.
		:
	else
		assert_contains "$PROBE_OUT" "header x-accel-buffering: no" "$front X-Accel-Buffering"
	fi
	t_prog=$(first_t 'data: \{"jsonrpc":"2.0","method":"notifications/progress"')
	t_ka=$(first_t ': keep-alive')
	t_log=$(first_t 'data: \{"jsonrpc":"2.0","method":"notifications/message"')
	t_res=$(first_t 'data: \{"jsonrpc":"2.0","id":11,"result"')
	[[ -n $t_res ]] || fail "$front: no result event: $(one_line "$PROBE_OUT")"
	[[ -n $t_prog ]] || fail "$front: no progress event: $(one_line "$PROBE_OUT")"
	"$LIB_PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$t_prog" "$t_res" ||
		fail "$front: progress at $t_prog s not before the result at $t_res s"
	assert_contains "$PROBE_OUT" '"progressToken":"tok-'"$front"'"' "$front progress token echoed"
	assert_contains "$PROBE_OUT" 'event: message' "$front event name"
	res_line=$({ printf '%s\n' "$PROBE_OUT" | grep -E '^t=[0-9.]+ data: \{"jsonrpc":"2.0","id":11,"result"' || true; } | head -n 1)
	assert_contains "$res_line" '\"status\":\"succeeded\"' "$front result: the run finished"
	assert_contains "$res_line" '"wait_timed_out":false' "$front result: not timed out"
	pass "$front: text/event-stream, first progress at ${t_prog}s, log at ${t_log:-none}s, result at ${t_res}s (run finished at ~3.5s, wait 20s)"
	note "$front SSE with progressToken: progress ${t_prog}s, result ${t_res}s"

	# No progressToken: nothing but ":" keep-alives (and one log line)
	# until the result.
	run=$(new_run)
	(sleep 2.5 && sql "UPDATE runs SET status = 'failed', finished_at = now(), error = 'x' WHERE id = $run" >/dev/null) &
	upd=$!
	probe "$front" "$(call_body 12 "$run" 20)"
	wait "$upd"
	t_ka=$(first_t ': keep-alive')
	t_res=$(first_t 'data: \{"jsonrpc":"2.0","id":12,"result"')
	[[ -n $t_ka && -n $t_res ]] || fail "$front: want a keep-alive and a result: $(one_line "$PROBE_OUT")"
	"$LIB_PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$t_ka" "$t_res" ||
		fail "$front: keep-alive at $t_ka s not before the result at $t_res s"
	[[ $PROBE_OUT != *notifications/progress* ]] || fail "$front: progress sent without a progressToken"
	pass "$front: no progressToken -> no progress; keep-alive at ${t_ka}s before the result at ${t_res}s"
	note "$front SSE without progressToken: keep-alive ${t_ka}s, result ${t_res}s"
	still_up "$front stream"
done
