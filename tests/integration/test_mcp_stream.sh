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

# --- cancellation by closing the stream ---------------------------------------------

failed_calls() {
	sql "SELECT count(*) FROM audit_log WHERE action = 'tool.call'
	     AND resource = 'tool:get_run' AND NOT success"
}

# wait_failed_calls N: waits (up to 10 s) until N get_run calls have been
# audited as failed; prints how long it took.
wait_failed_calls() {
	local want=$1 i
	for i in $(seq 100); do
		if (($(failed_calls) >= want)); then
			echo "$((i * 100))"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

for front in nginx apache; do
	run=$(new_run)
	before=$(failed_calls)
	probe "$front" "$(call_body 21 "$run" 60 '{"progressToken":7}')" --mode close1
	assert_contains "$PROBE_OUT" 'event: message' "$front close1: first event"
	ms=$(wait_failed_calls $((before + 1))) ||
		fail "$front: closing the stream did not stop get_run within 10 s (wait_seconds 60)"
	pass "$front: client closed the stream after the first event -> get_run stopped and audited as failed within ~${ms} ms"
	note "$front cancel by close: tool stopped ${ms} ms after the close (poll granularity 100 ms)"
	# The slot is free again at once (max_streams = 1).
	run2=$(new_run)
	probe "$front" "$(call_body 22 "$run2" 1)"
	assert_contains "$PROBE_OUT" "status 200" "$front long call after a cancelled one"
	assert_contains "$PROBE_OUT" '"wait_timed_out":true' "$front long call after a cancelled one: result"
	pass "$front: the next long call gets the freed slot (200, timed out after 1 s as asked)"
	sql "UPDATE runs SET status = 'cancelled', finished_at = now() WHERE id IN ($run, $run2)" >/dev/null
	still_up "$front cancel by close"
done

# A long call answered with JSON (Accept: */* names no stream): a client that
# gives up (curl --max-time) stops it too.
run=$(new_run)
before=$(failed_calls)
curl -sS -o /dev/null --max-time 2 -H "$CT" -H "$AUTH" -H 'Accept: */*' -H "Mcp-Session-Id: $SID" \
	--data "$(call_body 23 "$run" 60)" "$BERTH_URL/mcp" 2>/dev/null || true
ms=$(wait_failed_calls $((before + 1))) ||
	fail "a JSON-mode get_run kept waiting after its client left (wait_seconds 60)"
pass "nginx: a JSON-mode long call whose client gave up after 2 s stopped within ~${ms} ms"
sql "UPDATE runs SET status = 'cancelled', finished_at = now() WHERE id = $run" >/dev/null

# --- notifications/cancelled (2025 era), on another POST ------------------------------

run=$(new_run)
before=$(failed_calls)
"$LIB_PY" "$PROBE" "$BERTH_URL/mcp" "$(call_body '"c-31"' "$run" 30)" "${S_HDRS[@]}" >"$STACK_DIR/cancel.out" 2>&1 &
probe_pid=$!
sleep 1.5
req POST "$BERTH_APACHE_URL/mcp" "${S_HDRS[@]/#--header/-H}" \
	--data '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c-31","reason":"test"}}'
assert_eq "$STATUS" 202 "notifications/cancelled"
t0=$(date +%s%N)
wait "$probe_pid" || fail "the cancelled stream's probe failed: $(one_line "$(cat "$STACK_DIR/cancel.out")")"
t1=$(date +%s%N)
PROBE_OUT=$(cat "$STACK_DIR/cancel.out")
[[ $PROBE_OUT != *'"id":"c-31","result"'* ]] || fail "a response followed the cancellation: $(one_line "$PROBE_OUT")"
assert_eq "$(sql "SELECT count(*) FROM mcp_cancels WHERE request_id = '\"c-31\"'")" 1 "cancel marker"
ms=$(wait_failed_calls $((before + 1))) || fail "the cancelled get_run was not audited as failed"
pass "notifications/cancelled through Apache -> 202; the stream via nginx (another connection) ended $(((t1 - t0) / 1000000)) ms later without a response; marker in mcp_cancels"
note "cancel by notifications/cancelled: stream ended $(((t1 - t0) / 1000000)) ms after the 202"
sql "UPDATE runs SET status = 'cancelled', finished_at = now() WHERE id = $run" >/dev/null

# Malformed or unknown cancels: 202 (the specification: ignore them), nothing stored.
n0=$(sql "SELECT count(*) FROM mcp_cancels")
for p in '{"requestId":{"x":1}}' '{"requestId":1.5}' '{}' '{"requestId":null}' \
	'{"requestId":123456789012345678901234}' "{\"requestId\":\"$(printf 'y%.0s' $(seq 300))\"}"; do
	req POST "$BERTH_URL/mcp" "${S_HDRS[@]/#--header/-H}" \
		--data '{"jsonrpc":"2.0","method":"notifications/cancelled","params":'"$p"'}'
	assert_eq "$STATUS" 202 "cancel ${p:0:40}"
done
assert_eq "$(sql "SELECT count(*) FROM mcp_cancels")" "$n0" "no marker for malformed cancels"
req POST "$BERTH_URL/mcp" "${S_HDRS[@]/#--header/-H}" \
	--data '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":999999}}'
assert_eq "$STATUS" 202 "cancel of an unknown id"
for i in $(seq 120); do
	printf '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":%d}}\n' "$((100000 + i))"
done >"$STACK_DIR/cancels"
while IFS= read -r line; do
	curl -sS -o /dev/null -H "$CT" -H "$AUTH" -H "$ACCEPT_BOTH" -H "Mcp-Session-Id: $SID" --data "$line" "$BERTH_URL/mcp"
done <"$STACK_DIR/cancels"
kept=$(sql "SELECT count(*) FROM mcp_cancels WHERE session_id = '$SID'")
((kept <= 100)) || fail "121 cancels kept $kept markers (cap 100)"
pass "malformed cancels (object, fraction, missing, null, huge, 300-byte ids) -> 202, nothing stored; unknown id -> 202; 121 cancels keep $kept markers (cap 100)"
still_up "hostile cancels"

# --- the streaming cap (mcp.max_streams = 1) -------------------------------------------

run=$(new_run)
"$LIB_PY" "$PROBE" "$BERTH_URL/mcp" "$(call_body 41 "$run" 3)" "${S_HDRS[@]}" >"$STACK_DIR/cap.out" 2>&1 &
probe_pid=$!
sleep 1
req POST "$BERTH_APACHE_URL/mcp" "${S_HDRS[@]/#--header/-H}" --data "$(call_body 42 "$run" 3)"
[[ $STATUS == 503 ]] || fail "a second long call at the cap -> $STATUS $(one_line "$BODY"); the first: $(one_line "$(cat "$STACK_DIR/cap.out")")"
assert_eq "$(rpc_code)" -32000 "503 JSON-RPC code"
assert_contains "$HEADERS" "retry-after:" "503 Retry-After"
req POST "$BERTH_URL/mcp" "${S_HDRS[@]/#--header/-H}" --data '{"jsonrpc":"2.0","id":43,"method":"tools/list"}'
assert_eq "$STATUS" 200 "tools/list while the cap is reached"
wait "$probe_pid" || true
assert_contains "$(cat "$STACK_DIR/cap.out")" '"id":41,"result"' "the first long call finished"
pass "at the cap (1): a second long call -> 503 -32000 with Retry-After; tools/list -> 200; the first call finished"

# A client that never reads: its slot comes back when its wait ends.
"$LIB_PY" "$PROBE" "$BERTH_URL/mcp" "$(call_body 44 "$run" 2 '{"progressToken":"p"}')" "${S_HDRS[@]}" --mode noread --stall 4 >/dev/null 2>&1 &
probe_pid=$!
sleep 4.5
wait "$probe_pid" || true
probe nginx "$(call_body 45 "$run" 1)"
assert_contains "$PROBE_OUT" '"id":45,"result"' "long call after a never-reading client"
pass "a client that never reads holds its slot only for its wait: the next long call is served"
sql "UPDATE runs SET status = 'cancelled', finished_at = now() WHERE id = $run" >/dev/null
still_up "the streaming cap"

# --- hostile progress tokens and log levels -------------------------------------------

done_run=$(new_run)
sql "UPDATE runs SET status = 'succeeded', finished_at = now() WHERE id = $done_run" >/dev/null
for meta in '{"progressToken":123456789012345678901234}' '{"progressToken":1.5}' '{"progressToken":1e20}' \
	'{"progressToken":{"a":1}}' '{"progressToken":null}' '{"progressToken":true}' \
	"{\"progressToken\":\"$(printf 'z%.0s' $(seq 300))\"}" '{"progressToken":9007199254740992}'; do
	req POST "$BERTH_URL/mcp" "${S_HDRS[@]/#--header/-H}" --data "$(call_body 51 "$done_run" 1 "$meta")"
	assert_eq "$STATUS" 200 "progressToken ${meta:0:40}"
	assert_eq "$(rpc_code)" -32602 "progressToken ${meta:0:40}"
done
for meta in '{"progressToken":-5}' '{"progressToken":-9007199254740991}' '{"progressToken":""}'; do
	probe nginx "$(call_body 52 "$done_run" 1 "$meta")"
	assert_contains "$PROBE_OUT" '"id":52,"result"' "progressToken $meta"
done
pass "progress tokens huge, fractional, 1e20, object, null, boolean, 300 bytes, 2^53 -> -32602; -5, -(2^53-1), \"\" -> served"
still_up "hostile progress tokens"

# --- the official SDK v1 client through Apache -------------------------------------------

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	CLIENT_SRC=$BERTH_SRCDIR/tests/integration/mcp-client
	CLIENT_DIR=${BERTH_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}/mcp-client
	mkdir -p -- "$CLIENT_DIR"
	for f in package.json package-lock.json client.mjs; do
		if ! cmp -s -- "$CLIENT_SRC/$f" "$CLIENT_DIR/$f"; then
			cp -- "$CLIENT_SRC/$f" "$CLIENT_DIR/$f"
			chmod u+w -- "$CLIENT_DIR/$f"
		fi
	done
	if [[ ! -d $CLIENT_DIR/node_modules ]] ||
		! cmp -s -- "$CLIENT_DIR/package-lock.json" "$CLIENT_DIR/node_modules/.berth-lock"; then
		(cd "$CLIENT_DIR" && npm ci --no-audit --no-fund >"$CLIENT_DIR/npm-ci.log" 2>&1) ||
			fail "npm ci in $CLIENT_DIR failed"
		cp -- "$CLIENT_DIR/package-lock.json" "$CLIENT_DIR/node_modules/.berth-lock"
	fi
	rc=0
	out=$(cd "$CLIENT_DIR" && timeout 60 node client.mjs --url "$BERTH_APACHE_URL/mcp" --key "$KEY" \
		connect session list call:station_status close 2>&1) || rc=$?
	for step in connect session list call:station_status close; do
		line=$(printf '%s\n' "$out" | grep -E "^(OK|ERR) $step( |\$)" | head -n 1 || true)
		[[ $line == OK* ]] || fail "SDK client via Apache: ${line:-no line for $step} (exit $rc): $(one_line "$out")"
		pass "SDK client via Apache: $line"
	done
else
	fail "node and npm are needed for the SDK client through Apache"
fi
still_up "the SDK client through Apache"
