#!/usr/bin/env bash
#
# test_mcp_agents.sh - agents as MCP tools (agent_<name>, issue 8) through
# nginx, driven by the official MCP SDK v1 client
# (tests/integration/mcp-client/client-agents.mjs), with runs executed by
# berthd's run workers against the scripted provider
# (tests/integration/ai-mock/ai_mock.py) and agents synced from a
# temporary workspace:
#   * tools/list: agent_<name> for a developer, after the built-in tools,
#     only the agents of the request's environment and only those with a
#     valid tool name; none for a viewer, none for a role that may call
#     tools but not run agents (agents.run);
#   * a call with onprogress sees progress notifications (queued, steps,
#     the tool call, finished) and gets the final answer; the run row says
#     who asked (the caller's user), where (the environment) and how (mcp);
#     the agent called a built-in tool (station_status) and then answered;
#     the call is audited;
#   * variables reach the run; a failing provider makes an isError result
#     with the run's error;
#   * a client that aborts mid-run (the SDK sends notifications/cancelled)
#     -> the run ends cancelled; so does one whose client closes the SSE
#     stream after the first event (tests/integration/sse_probe.py);
#   * a run longer than mcp.agent_wait_seconds (6 here) -> a plain result
#     with the run id, and get_run with wait_seconds follows it to the end;
#   * bad arguments (no input, input not a string, empty input, variables
#     not an object) -> isError, and no run is queued;
#   * an unknown agent (also one of another environment) -> -32602;
#     a forbidden one -> isError.
# No timing is asserted; durations are printed as NOTE lines.

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ -n $LIB_PY ]] || skip "python3 is needed to read JSON"
command -v node >/dev/null 2>&1 ||
	fail "node is not installed: the MCP SDK client needs Node.js >= 18 (Debian: scripts/install-deps)"
command -v npm >/dev/null 2>&1 ||
	fail "npm is not installed: it installs the MCP SDK client (Debian: scripts/install-deps)"

BUILD=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH_BIN=$BUILD/cli/berth
BERTHD=$BUILD/daemon/berthd
[[ -x $BERTH_BIN ]] || fail "no berth CLI at $BERTH_BIN"
[[ -x $BERTHD ]] || fail "no berthd at $BERTHD"
unset CLOUDSHIP_REGISTRATION_KEY CLOUDSHIP_ENDPOINT CLOUDSHIP_STATION_NAME
unset OPENAI_API_KEY ANTHROPIC_API_KEY STN_AI_AUTH_TYPE GEMINI_API_KEY

# --- the SDK client, in its own cache folder (no npm race with other tests) ---
CLIENT_SRC=$BERTH_SRCDIR/tests/integration/mcp-client
CLIENT_DIR=${BERTH_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}/mcp-client-agents
mkdir -p -- "$CLIENT_DIR"
for f in package.json package-lock.json client-agents.mjs; do
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
pass "MCP SDK client installed in $CLIENT_DIR (node $(node --version))"

# --- the scripted provider ------------------------------------------------------
W=$(mktemp -d "${TMPDIR:-/tmp}/berth-mcp-agents.XXXXXX")
WS=$W/workspace
MOCK_KEY=sk-mock-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
/usr/bin/python3 "$BERTH_SRCDIR/tests/integration/ai-mock/ai_mock.py" \
	--port-file "$W/port" --log "$W/requests.jsonl" --key "$MOCK_KEY" >"$W/mock.out" 2>&1 &
MOCK_PID=$!
DPID=''
cleanup_agents() {
	local rc=$?
	[[ -z $DPID ]] || kill -9 "$DPID" 2>/dev/null || true
	kill "$MOCK_PID" 2>/dev/null || true
	if ((rc != 0 && rc != 77)) && [[ -s $W/berthd.log ]]; then
		echo "---- last lines of berthd's log ----"
		tail -n 30 "$W/berthd.log"
	fi
	rm -rf -- "$W"
	return "$rc"
}
trap 'cleanup_agents' EXIT
# note TEXT: an observed figure (not a verdict).
note() {
	printf 'NOTE %s\n' "$*"
}
for _ in $(seq 100); do [[ -s $W/port ]] && break; sleep 0.1; done
[[ -s $W/port ]] || fail "ai_mock.py did not start: $(cat "$W/mock.out")"
MOCK=http://127.0.0.1:$(cat "$W/port")

# --- agents ---------------------------------------------------------------------
agent() { # ENV NAME MODEL DESCRIPTION
	mkdir -p "$WS/environments/$1/agents"
	cat >"$WS/environments/$1/agents/${2// /_}.prompt" <<EOF
---
metadata:
  name: $2
  description: $4
model: $3
max_steps: 5
tools: [station_status]
---
{{role "system"}}You watch the station. Topic: {{topic}}.
{{role "user"}}{{userInput}}
EOF
}
agent development helper tool-then-text "Checks the station and says how it is."
agent development plain text "Answers at once."
agent development slowpoke slow-tools "Takes its time."
agent development broken always-503 "Its provider is down."
agent development "odd agent" text "A name no MCP tool may have."
agent staging stager text "Lives in staging."

export BERTH_STACK_CONFIG_EXTRA="workspace: $WS
environments: [development, staging]
ai_provider: openai
ai_model: text
ai_base_url: $MOCK/v1
ai_max_retries: 1
roles: {caller: [tools.list, tools.call, runs.read]}
runner:
  workers: 2
mcp:
  keepalive_seconds: 1
  max_streams: 3
  agent_wait_seconds: 6"
stack_up
# stack_up set its own EXIT trap: chain ours before it (both keep $?).
trap 'cleanup_agents; stack_cleanup' EXIT

PSQL=$(command -v psql || true)
for p in /usr/lib/postgresql/*/bin/psql; do
	[[ -x $p ]] && PSQL=$p
done
[[ -n $PSQL ]] || skip "psql is not installed"
export DATABASE_URL BERTH_CONFIG
sql() {
	printf '%s\n' "$1" | "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL"
}

out=$("$BERTH_BIN" --config "$BERTH_CONFIG" agent sync 2>&1) || fail "berth agent sync: $out"
assert_contains "$out" "6 added" "agents synced"
pass "6 agents synced from $WS (5 in development, 1 in staging)"

OPENAI_API_KEY=$MOCK_KEY "$BERTHD" --config "$BERTH_CONFIG" >"$W/berthd.log" 2>&1 &
DPID=$!
deadline=$((SECONDS + 30))
until [[ $(pgrep -P "$DPID" -f -- "--run-worker" | wc -l) -ge 2 ]]; do
	((SECONDS < deadline)) || fail "berthd did not start its run workers: $(tail -n 20 "$W/berthd.log")"
	kill -0 "$DPID" 2>/dev/null || fail "berthd exited: $(tail -n 20 "$W/berthd.log")"
	sleep 0.2
done
pass "berthd runs its run workers"

user() { # NAME ROLE -> prints an API key
	"$BERTH_BIN" --config "$BERTH_CONFIG" user create "$1" --role "$2" >/dev/null ||
		fail "berth user create $1"
	"$BERTH_BIN" --config "$BERTH_CONFIG" apikey create "$1" --name agents-test 2>/dev/null ||
		fail "berth apikey create $1"
}
DEV_KEY=$(user dana developer)
VIEW_KEY=$(user vic viewer)
CALL_KEY=$(user carl caller)
DEV_ID=$(sql "SELECT id FROM users WHERE username = 'dana'")

# client KEY STEP...: runs the SDK client; OUT holds its lines.
client() {
	local key=$1 rc=0
	shift
	OUT=$(cd "$CLIENT_DIR" && timeout 120 node client-agents.mjs --url "$BERTH_URL/mcp" --key "$key" "$@" 2>&1) || rc=$?
	CLIENT_RC=$rc
}
# step N: the JSON detail of the N-th line (1-based) of OUT.
step() {
	sed -n "${1}p" <<<"$OUT" | cut -d' ' -f3-
}
jget() { # JSON PATH (dots; numbers index arrays)
	"$LIB_PY" -c '
import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    if k == "":
        continue
    v = v[int(k)] if isinstance(v, list) else v.get(k)
    if v is None:
        break
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
' "$1" "$2"
}
runs_count() {
	sql "SELECT count(*) FROM runs"
}

# --- tools/list ------------------------------------------------------------------
client "$DEV_KEY" list 'call:station_status:{}'
assert_eq "$CLIENT_RC" 0 "developer list: $OUT"
names=$(jget "$(step 1)" names)
assert_eq "$names" '["station_status", "list_agents", "list_runs", "get_run", "agent_broken", "agent_helper", "agent_plain", "agent_slowpoke"]' "developer's tools"
assert_eq "$(jget "$(step 2)" structured.tools)" 8 "station_status counts the agent tools"
pass "developer: tools/list -> $names (built-ins first; not agent_stager of staging, not 'odd agent')"

client "$VIEW_KEY" list
assert_eq "$CLIENT_RC" 0 "viewer list: $OUT"
assert_eq "$(jget "$(step 1)" names)" '[]' "viewer's tools"
pass "viewer (no tools.call, no agents.run): tools/list -> no agent tools"

client "$CALL_KEY" list
assert_eq "$CLIENT_RC" 0 "caller list: $OUT"
names=$(jget "$(step 1)" names)
assert_eq "$names" '["station_status", "list_agents", "list_runs", "get_run"]' "caller's tools"
pass "custom role with tools.call but not agents.run: tools/list -> $names"

# --- a call with progress: model -> station_status -> model ---------------------
before=$(runs_count)
t0=$(date +%s%N)
client "$DEV_KEY" 'call:agent_helper:{"input":"How is the station?"}'
t1=$(date +%s%N)
assert_eq "$CLIENT_RC" 0 "agent_helper call: $OUT"
d=$(step 1)
assert_eq "$(jget "$d" isError)" false "agent_helper isError: $d"
assert_contains "$(jget "$d" text)" "The tool said:" "final answer (the tool's result echoed by the model)"
assert_contains "$(jget "$d" text)" "lighthouse" "the answer carries station_status's output"
assert_eq "$(jget "$d" structured.status)" succeeded "structured status"
assert_eq "$(jget "$d" structured.steps)" 2 "structured steps"
assert_eq "$(jget "$d" structured.agent)" helper "structured agent"
assert_eq "$(jget "$d" structured.tool_call_count)" 1 "structured tool calls"
progress=$(jget "$d" progress)
assert_contains "$progress" "queued" "progress: queued"
assert_contains "$progress" "step 1: the model asked for 1 tool call(s)" "progress: step 1"
assert_contains "$progress" "step 1: tool station_status succeeded" "progress: tool call"
assert_contains "$progress" "step 2: the model answered" "progress: step 2"
assert_contains "$progress" "finished: succeeded" "progress: finished"
nprog=$("$LIB_PY" -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$progress")
RID=$(jget "$d" structured.run_id)
row=$(sql "SELECT requested_by, environment, source, status, steps, tool_calls->0->>'name', (tool_calls->0->>'success')
           FROM runs WHERE id = $RID")
assert_eq "$row" "$DEV_ID|development|mcp|succeeded|2|station_status|true" "run row"
assert_eq "$(runs_count)" "$((before + 1))" "one run queued"
assert_eq "$(sql "SELECT count(*) FROM audit_log WHERE action = 'tool.call' AND resource = 'tool:agent_helper' AND success AND username = 'dana' AND environment = 'development'")" 1 "call audited"
pass "agent_helper: $nprog progress notifications, final answer, run $RID by user $DEV_ID in development (source mcp) called station_status then answered; audited"
note "agent_helper call took $(((t1 - t0) / 1000000)) ms end to end (client start included)"

# --- variables; a failing provider ------------------------------------------------
client "$DEV_KEY" 'call:agent_plain:{"input":"hello","variables":{"topic":"disks"}}' \
	'call:agent_broken:{"input":"hello"}'
d=$(step 1)
assert_eq "$(jget "$d" isError)" false "agent_plain: $d"
assert_eq "$(jget "$d" text)" "Done." "agent_plain answer"
pid=$(jget "$d" structured.run_id)
assert_eq "$(sql "SELECT input->>'task', input->'variables'->>'topic' FROM runs WHERE id = $pid")" "hello|disks" "input and variables stored"
assert_contains "$(grep -F '"model": "text"' "$W/requests.jsonl" | grep -F '"content": "hello"' | tail -n 1)" "Topic: disks." "variable rendered into the prompt"
pass "agent_plain: variables reach the run and its prompt (run $pid)"
d=$(step 2)
assert_eq "$(jget "$d" isError)" true "agent_broken: $d"
assert_contains "$(jget "$d" text)" "failed: step 1: the provider answered HTTP 503" "failed run's error"
assert_eq "$(jget "$d" structured.status)" failed "failed status"
pass "agent_broken: failed run -> isError: $(jget "$d" text)"

# --- a client that aborts mid-run ---------------------------------------------------
before=$(runs_count)
client "$DEV_KEY" 'abort:agent_slowpoke:{"input":"take your time"}:step 1'
assert_eq "$CLIENT_RC" 0 "abort: $OUT"
assert_eq "$(jget "$(step 1)" aborted)" true "aborted"
assert_eq "$(runs_count)" "$((before + 1))" "one run queued"
CID=$(sql "SELECT max(id) FROM runs WHERE agent_name = 'slowpoke'")
deadline=$((SECONDS + 40))
while :; do
	st=$(sql "SELECT status FROM runs WHERE id = $CID")
	[[ $st == queued || $st == running ]] || break
	((SECONDS < deadline)) || fail "run $CID still $st after the client left"
	sleep 0.2
done
row=$(sql "SELECT status, cancel_requested, error, final_response IS NULL FROM runs WHERE id = $CID")
assert_eq "$row" "cancelled|t|cancelled on request|t" "aborted run's row"
calls=$(sql "SELECT count(*) FROM run_events WHERE run_id = $CID AND kind = 'llm_call'")
((calls < 3)) || fail "run $CID made all $calls model calls: it was not stopped"
assert_eq "$(sql "SELECT count(*) FROM audit_log WHERE action = 'tool.call' AND resource = 'tool:agent_slowpoke' AND NOT success")" 1 "aborted call audited as not succeeded"
pass "client aborted at the first step -> run $CID ended cancelled after $calls of the 3 model calls it needed ($row)"

# --- a client that closes its stream (no notifications/cancelled) -----------------
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"probe","version":"1"}}}'
H=(--header "Authorization: Bearer $DEV_KEY" --header 'Content-Type: application/json'
	--header 'Accept: application/json, text/event-stream')
sid=$(curl -sS --max-time 30 -D - -o /dev/null "${H[@]}" --data "$INIT" "$BERTH_URL/mcp" |
	tr -d '\r' | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')
[[ -n $sid ]] || fail "initialize gave no Mcp-Session-Id"
body='{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"agent_slowpoke","arguments":{"input":"close on me"},"_meta":{"progressToken":"p1"}}}'
out=$("$LIB_PY" "$BERTH_SRCDIR/tests/integration/sse_probe.py" "$BERTH_URL/mcp" "$body" "${H[@]}" \
	--header "Mcp-Session-Id: $sid" --header 'MCP-Protocol-Version: 2025-11-25' --mode close1 2>&1) ||
	fail "sse_probe.py: $out"
assert_contains "$out" "header content-type: text/event-stream" "agent call streamed"
assert_contains "$out" "notifications/progress" "first event: progress"
XID=$(sql "SELECT max(id) FROM runs WHERE agent_name = 'slowpoke'")
assert_eq "$(sql "SELECT input->>'task' FROM runs WHERE id = $XID")" "close on me" "the probe's run"
t0=$SECONDS
deadline=$((SECONDS + 40))
while :; do
	st=$(sql "SELECT status FROM runs WHERE id = $XID")
	[[ $st == queued || $st == running ]] || break
	((SECONDS < deadline)) || fail "run $XID still $st after its stream closed"
	sleep 0.2
done
assert_eq "$(sql "SELECT status, error FROM runs WHERE id = $XID")" "cancelled|cancelled on request" "closed stream's run"
pass "stream closed after its first event -> run $XID cancelled ($((SECONDS - t0)) s after the close)"

# --- a run longer than mcp.agent_wait_seconds ------------------------------------------
t0=$(date +%s%N)
client "$DEV_KEY" 'call:agent_slowpoke:{"input":"outwait me"}'
t1=$(date +%s%N)
d=$(step 1)
assert_eq "$CLIENT_RC" 0 "slow call: $OUT"
assert_eq "$(jget "$d" isError)" false "over the wait: not an error: $d"
assert_eq "$(jget "$d" structured.wait_timed_out)" true "wait_timed_out"
SID=$(jget "$d" structured.run_id)
[[ $SID =~ ^[0-9]+$ ]] || fail "no run id in $d"
assert_contains "$(jget "$d" text)" "get_run" "text points at get_run"
assert_contains "$(jget "$d" text)" "\"run_id\": $SID" "text names the run"
note "agent_slowpoke answered after $(((t1 - t0) / 1000000)) ms with run $SID still $(jget "$d" structured.status)"
client "$DEV_KEY" "call:get_run:{\"run_id\":$SID,\"wait_seconds\":60}"
d=$(step 1)
assert_eq "$(jget "$d" isError)" false "get_run: $d"
assert_eq "$(jget "$d" structured.status)" succeeded "get_run followed the run to the end"
assert_eq "$(jget "$d" structured.steps)" 3 "three steps"
assert_eq "$(sql "SELECT status, requested_by FROM runs WHERE id = $SID")" "succeeded|$DEV_ID" "row"
pass "run over mcp.agent_wait_seconds (6) -> result with run $SID; get_run followed it to succeeded"

# --- bad arguments --------------------------------------------------------------------
before=$(runs_count)
client "$DEV_KEY" 'call:agent_helper:{}' 'call:agent_helper:{"input":5}' \
	'call:agent_helper:{"input":""}' 'call:agent_helper:{"input":"x","variables":"y"}' \
	'call:agent_helper:{"input":"x","variables":[1]}'
assert_eq "$CLIENT_RC" 0 "bad arguments: $OUT"
want=("arguments.input: required" "arguments.input: must be a string"
	"arguments.input: must be at least 1 characters" "arguments.variables: must be an object"
	"arguments.variables: must be an object")
for i in 1 2 3 4 5; do
	d=$(step "$i")
	assert_eq "$(jget "$d" isError)" true "bad arguments $i: $d"
	assert_contains "$(jget "$d" text)" "${want[$((i - 1))]}" "bad arguments $i text"
done
assert_eq "$(runs_count)" "$before" "no run queued for bad arguments"
pass "bad arguments (no input, input 5, input \"\", variables \"y\", variables [1]) -> isError each, no run queued"

# --- unknown and forbidden --------------------------------------------------------------
client "$DEV_KEY" 'call:agent_nosuch:{"input":"x"}' 'call:agent_stager:{"input":"x"}' 'call:agent_odd agent:{"input":"x"}'
for i in 1 2 3; do
	line=$(sed -n "${i}p" <<<"$OUT")
	[[ $line == ERR* ]] || fail "unknown agent $i answered without a JSON-RPC error: $line"
	assert_eq "$(jget "$(step "$i")" code)" -32602 "unknown agent $i code"
done
assert_eq "$(runs_count)" "$before" "no run queued for unknown agents"
pass "agent_nosuch, agent_stager (staging's) and 'agent_odd agent' -> -32602 Unknown tool"

client "$CALL_KEY" 'call:agent_helper:{"input":"x"}'
d=$(step 1)
assert_eq "$(jget "$d" isError)" true "caller without agents.run: $d"
assert_contains "$(jget "$d" text)" "agents.run" "names the missing permission"
client "$VIEW_KEY" 'call:agent_helper:{"input":"x"}'
d=$(step 1)
assert_eq "$(jget "$d" isError)" true "viewer: $d"
assert_eq "$(runs_count)" "$before" "no run queued for forbidden calls"
pass "forbidden (no agents.run; viewer) -> isError: $(jget "$d" text)"

kill -0 "$DPID" 2>/dev/null || fail "berthd died: $(tail -n 20 "$W/berthd.log")"
http_get "$BERTH_URL/healthz"
assert_eq "$HTTP_STATUS" 200 "healthz after the agent calls"
pass "berth-fcgi and berthd still up"
