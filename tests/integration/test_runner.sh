#!/usr/bin/env bash
# test_runner.sh - agent runs end to end without the daemon: `berth agent
# run` queues, `berth run work` executes with the runner berthd uses,
# against tests/integration/ai-mock/ai_mock.py (a stand-in provider with
# OpenAI's and Anthropic's wire formats) and the real tool registry.
# Checks: a model → tool → model run with steps, tool calls, tokens,
# events and its outbox row; an unknown agent; a provider that keeps
# failing; max_steps; cancel; denied tools; a missing key; a dead worker's
# run reaped.
. "$(dirname "$0")/../lib.sh"

BIN=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH=$BIN/cli/berth
[[ -x $BERTH ]] || fail "berth not built at $BERTH"
export BERTH_SQL_DIR=$BERTH_SRCDIR/sql
unset BERTH_CONFIG CLOUDSHIP_REGISTRATION_KEY CLOUDSHIP_ENDPOINT CLOUDSHIP_STATION_NAME
unset OPENAI_API_KEY ANTHROPIC_API_KEY STN_AI_AUTH_TYPE

stack_up --db-only
W=$STACK_DIR/runner
WS=$W/workspace
A=$WS/environments/development/agents
mkdir -p "$A"

KEY=sk-mock-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
/usr/bin/python3 "$BERTH_SRCDIR/tests/integration/ai-mock/ai_mock.py" \
	--port-file "$W/port" --log "$W/requests.jsonl" --key "$KEY" >"$W/mock.out" 2>&1 &
MOCK_PID=$!
trap 'rc=$?; kill "$MOCK_PID" 2>/dev/null || true; stack_cleanup "$rc"' EXIT
for _ in $(seq 100); do [[ -s $W/port ]] && break; sleep 0.1; done
[[ -s $W/port ]] || fail "ai_mock.py did not start: $(cat "$W/mock.out")"
MOCK=http://127.0.0.1:$(cat "$W/port")

cat >"$W/config.yaml" <<YAML
workspace: $WS
environments: [development]
ai_provider: openai
ai_model: text
ai_base_url: $MOCK/v1
ai_max_retries: 1
cloudship:
  enabled: true
  registration_key: test-registration-key
  name: runner-test
YAML
run() {
	RC=0
	"$BERTH" --config "$W/config.yaml" "$@" >"$W/out" 2>"$W/err" || RC=$?
	OUT=$(cat "$W/out")
	ERR=$(cat "$W/err")
}
agent() { # NAME MODEL MAX_STEPS EXTRA-FRONT-MATTER
	cat >"$A/$1.prompt" <<EOF
---
metadata:
  name: $1
  description: test agent $1
model: $2
max_steps: $3
tools: [station_status]
$4
---
{{role "system"}}You watch the station.
{{role "user"}}{{userInput}}
EOF
}
agent checker tool-then-text 5 ""
agent stubborn always-503 5 ""
agent short tool-then-text 1 ""
agent locked tool-then-text 5 "denied_tools: [station_status]"
declare -A fid=() fout=()
run migrate
assert_eq "$RC" 0 "migrate: $ERR"
run agent sync
assert_eq "$RC" 0 "agent sync: $ERR"
assert_contains "$OUT" "4 added" "agents loaded"

# --- a full run: model -> tool -> model ------------------------------------------
export OPENAI_API_KEY=$KEY
run agent run checker "How is the station?"
assert_eq "$RC" 0 "agent run: $ERR"
id=$OUT
assert_eq "$(psql_q "SELECT status FROM runs WHERE id = $id")" queued "queued"
run run work --once
assert_eq "$RC" 0 "run work: $ERR"
assert_contains "$OUT" "run $id: succeeded after 2 step(s)" "run succeeded"
row=$(psql_q "SELECT status, steps, input_tokens, output_tokens, model, final_response FROM runs WHERE id = $id")
assert_contains "$row" "succeeded|2|22|14|tool-then-text|The tool said:" "run row"
assert_eq "$(psql_q "SELECT tool_calls->0->>'name' || ' ' || (tool_calls->0->>'success') FROM runs WHERE id = $id")" "station_status true" "tool call recorded"
assert_eq "$(psql_q "SELECT string_agg(kind, ',' ORDER BY seq) FROM run_events WHERE run_id = $id")" "llm_call,tool_call,llm_call,finished" "events in order"
assert_eq "$(psql_q "SELECT count(*) FROM lighthouse_outbox WHERE run_id = $id AND acked_at IS NULL")" 1 "outbox row written with the run"
# What went over the wire: the rendered system prompt, the tool, the key.
first=$(sed -n 1p "$W/requests.jsonl")
assert_contains "$first" '"role": "system", "content": "You watch the station."' "system prompt sent"
assert_contains "$first" '"content": "How is the station?"' "task rendered into the user message"
assert_contains "$first" '"name": "station_status"' "registry tool offered to the model"
assert_contains "$first" '"key_ok": true' "provider key sent"
pass "run $id: queued -> claimed -> model -> station_status -> model -> succeeded; 2 steps, 22+14 tokens, 4 events, outbox row"

# --- failures -------------------------------------------------------------------
run agent run nobody "hello"
nid=$OUT
run run work --once
assert_contains "$OUT" "run $nid: failed after 0 step(s): AGENT_NOT_FOUND: no agent nobody in environment development" "unknown agent"
pass "unknown agent -> failed with AGENT_NOT_FOUND"

run agent run stubborn "hello"
sid=$OUT
t0=$(date +%s%N)
run run work --once
t1=$(date +%s%N)
assert_contains "$OUT" "run $sid: failed after 1 step(s): step 1: the provider answered HTTP 503 after retries: overloaded" "provider down"
assert_eq "$(psql_q "SELECT count(*) FROM lighthouse_outbox WHERE run_id = $sid")" 1 "failed run reported too"
pass "provider answering 503 -> failed after $(((t1 - t0) / 1000000)) ms (1 retry), reason kept, report queued"

run agent run short "hello"
mid=$OUT
run run work --once
assert_contains "$OUT" "run $mid: failed after 1 step(s): no final answer within max_steps (1)" "max_steps"
pass "max_steps 1 with a tool call pending -> failed, never loops on"

run agent run locked "hello"
lid=$OUT
run run work --once
assert_contains "$OUT" "run $lid: succeeded" "denied tool run"
assert_eq "$(psql_q "SELECT (tool_calls->0->>'success') || ' ' || (tool_calls->0->>'result') FROM runs WHERE id = $lid")" "false error: this agent has no tools" "denied tool not called"
pass "denied_tools: the model's call of a denied tool is refused, not run"

run agent run checker "stop me"
cid=$OUT
psql_q "UPDATE runs SET cancel_requested = true WHERE id = $cid" >/dev/null
run run work --once
assert_contains "$OUT" "run $cid: cancelled" "cancelled"
pass "cancel_requested before the first step -> cancelled"

# More provider faults, each ending in the right state.
agent flaky flaky-429 5 ""
agent broken always-500 5 ""
agent shapeless bad-shape 5 ""
agent wanderer unknown-tool 5 ""
run agent sync
assert_eq "$RC" 0 "agent sync: $ERR"
for a in flaky broken shapeless wanderer; do
	run agent run "$a" "fault $a"
	assert_eq "$RC" 0 "agent run $a: $ERR"
	fid[$a]=$OUT
	run run work --once
	fout[$a]=$OUT
done
assert_contains "${fout[flaky]}" "run ${fid[flaky]}: succeeded after 1 step(s)" "429 then success"
assert_contains "${fout[broken]}" "run ${fid[broken]}: failed after 1 step(s): step 1: the provider answered HTTP 500 after retries: internal" "500 forever"
assert_contains "${fout[shapeless]}" "run ${fid[shapeless]}: failed after 1 step(s): step 1:" "malformed answer"
assert_eq "$(psql_q "SELECT error ILIKE '%choices%' OR error ILIKE '%shape%' OR error ILIKE '%expected%' FROM runs WHERE id = ${fid[shapeless]}")" t "malformed answer named: $(psql_q "SELECT error FROM runs WHERE id = ${fid[shapeless]}")"
assert_contains "${fout[wanderer]}" "run ${fid[wanderer]}: succeeded after 2 step(s)" "unknown tool answered, run goes on"
assert_eq "$(psql_q "SELECT (tool_calls->0->>'name') || ' ' || (tool_calls->0->>'success') || ' ' || (tool_calls->0->>'result') FROM runs WHERE id = ${fid[wanderer]}")" \
	"no_such_tool false error: this tool is not available to the agent" "unknown tool refused, recorded"
pass "provider faults: 429 then success; 500 forever -> failed; malformed JSON -> failed, named; a call of an unknown tool refused and recorded, the model answers"

# A run queued by a user whose role list does not fit a principal
# (PRINCIPAL_MAX_ROLES is 32): refused, never run with a cut list. The
# same user with 32 roles runs.
uid=$(psql_q "INSERT INTO users (username) VALUES ('many-roles') RETURNING id")
psql_q "INSERT INTO user_roles (user_id, environment, role)
	SELECT $uid, 'e' || g, 'viewer' FROM generate_series(1, 31) g" >/dev/null
psql_q "INSERT INTO user_roles (user_id, environment, role) VALUES ($uid, 'development', 'developer')" >/dev/null
queue_as() { # queue_as USER_ID: a run of checker queued as that user
	psql_q "INSERT INTO runs (agent_name, environment, requested_by, source, input)
		VALUES ('checker', 'development', $1, 'mcp', '{\"task\": \"hi\"}') RETURNING id"
}
rid=$(queue_as "$uid")
run run work --once
assert_contains "$OUT" "run $rid: succeeded" "32 roles: runs"
psql_q "INSERT INTO user_roles (user_id, environment, role) VALUES ($uid, 'e32', 'viewer')" >/dev/null
rid=$(queue_as "$uid")
run run work --once
assert_contains "$OUT" "run $rid: failed after 0 step(s): the user who queued the run is disabled, gone, or has more roles than a principal holds" "33 roles: refused"
assert_eq "$(psql_q "SELECT count(*) FROM lighthouse_outbox WHERE run_id = $rid")" 1 "refused run reported"
pass "a run queued by a user with 33 roles (one over the cap) is refused, not run with a cut role list; 32 roles run"

unset OPENAI_API_KEY
run agent run checker "no key"
kid=$OUT
run run work --once
assert_contains "$OUT" "run $kid: failed after 0 step(s): no API key for openai (set OPENAI_API_KEY)" "no key"
grep -q "$KEY" "$W/out" "$W/err" && fail "the key appeared in output"
pass "no provider key -> failed with a clear reason"

# --- a dead worker's run --------------------------------------------------------
psql_q "INSERT INTO runs (agent_name, environment, source, status, claimed_by, claimed_at, started_at, heartbeat_at)
        VALUES ('checker', 'development', 'cli', 'running', 'gone:1:1', now() - interval '10 minutes', now() - interval '10 minutes', now() - interval '10 minutes')" >/dev/null
run run reap --stale-seconds 60
assert_contains "$OUT" "1 stale run(s) failed" "reap"
assert_eq "$(psql_q "SELECT status || ' ' || error FROM runs WHERE claimed_by = 'gone:1:1'")" "failed worker lost (no heartbeat for 60 s)" "reaped run"
run run work --once
assert_contains "$OUT" "no queued runs" "queue empty"
run run show "$id"
assert_eq "$RC" 0 "run show"
assert_json "$OUT" "status" "succeeded"
pass "a run whose worker died is failed by reap, with its outbox row; run show prints the run with its events"

# --- berthd's run workers ---------------------------------------------------------
# The same queue served by the daemon: berthd starts runner.workers run
# workers and a housekeeper (berthd --run-worker N); a queued run is taken
# within a NOTIFY; a kill -9 of berthd takes its workers with it.
BERTHD=$BIN/daemon/berthd
[[ -x $BERTHD ]] || fail "berthd not built at $BERTHD"
sed -e 's/^  enabled: true/  enabled: false/' "$W/config.yaml" >"$W/daemon.yaml"
printf 'runner:\n  workers: 2\n' >>"$W/daemon.yaml"
OPENAI_API_KEY=$KEY "$BERTHD" --config "$W/daemon.yaml" >"$W/berthd.log" 2>&1 &
DPID=$!
trap 'rc=$?; kill -9 "$DPID" 2>/dev/null || true; kill "$MOCK_PID" 2>/dev/null || true; stack_cleanup "$rc"' EXIT
deadline=$((SECONDS + 20))
until [[ $(pgrep -P "$DPID" -f -- "--run-worker" | wc -l) -ge 3 ]]; do
	((SECONDS < deadline)) || fail "berthd did not start its workers: $(tail -n 20 "$W/berthd.log")"
	sleep 0.2
done
export OPENAI_API_KEY=$KEY
t0=$(date +%s%N)
run --config "$W/daemon.yaml" agent run checker "via the daemon"
did=$OUT
deadline=$((SECONDS + 30))
until [[ $(psql_q "SELECT status FROM runs WHERE id = $did") == succeeded ]]; do
	((SECONDS < deadline)) || fail "berthd's workers did not run $did: $(psql_q "SELECT status, error FROM runs WHERE id = $did"); $(tail -n 20 "$W/berthd.log")"
	sleep 0.1
done
t1=$(date +%s%N)
claimed=$(psql_q "SELECT claimed_by FROM runs WHERE id = $did")
assert_contains "$(pgrep -P "$DPID" -f -- "--run-worker" | tr '\n' ' ')" "$(cut -d: -f2 <<<"$claimed")" "claimed by one of berthd's workers"
pass "berthd: 2 run workers + housekeeper; run $did queued -> succeeded in $(((t1 - t0) / 1000000)) ms, claimed by $claimed"

kill -9 "$DPID"
deadline=$((SECONDS + 10))
until ! pgrep -f -- "daemon.yaml --run-worker" >/dev/null; do
	((SECONDS < deadline)) || fail "workers outlived a kill -9 of berthd: $(pgrep -af -- --run-worker)"
	sleep 0.1
done
pass "kill -9 of berthd: its workers and housekeeper exit with it (no orphans)"
