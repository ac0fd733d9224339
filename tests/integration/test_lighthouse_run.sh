#!/usr/bin/env bash
# test_lighthouse_run.sh - a remote agent run end to end: the test
# Lighthouse sends execute_agent, berthd queues the run, its own run worker
# (runner.workers: 1) claims it and runs it against the stand-in provider
# (ai-mock, Anthropic's Messages API) with the real tool registry, and
# berthd streams QUEUED -> RUNNING -> COMPLETED back, then reports the run
# with send_run_request: tool calls, execution steps, token usage, model,
# status, Lighthouse's run id. Also: a provider that keeps failing (FAILED
# update and report), and a run worker killed mid-run (restarted, the run
# reaped and reported failed).
RUNNER_WORKERS=1
. "$(dirname "$0")/lib_daemon.sh"
unset OPENAI_API_KEY STN_AI_AUTH_TYPE GEMINI_API_KEY

KEY=sk-ant-mock-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$PY" "$BERTH_SRCDIR/tests/integration/ai-mock/ai_mock.py" \
	--port-file "$W/ai.port" --log "$W/ai.jsonl" --key "$KEY" >"$W/ai.out" 2>&1 &
AI_PID=$!
trap 'rc=$?; kill "$AI_PID" 2>/dev/null || true; daemon_cleanup "$rc"' EXIT
for _ in $(seq 100); do [[ -s $W/ai.port ]] && break; sleep 0.1; done
[[ -s $W/ai.port ]] || fail "ai_mock.py did not start: $(cat "$W/ai.out")"
AI=http://127.0.0.1:$(cat "$W/ai.port")
export ANTHROPIC_API_KEY=$KEY
# A stand-in Claude Code credentials file must not win over the key here.
export HOME=$W/home
mkdir -p "$HOME"

WS=$W/workspace
A=$WS/environments/default/agents
mkdir -p "$A"
agent() { # NAME MODEL
	cat >"$A/$1.prompt" <<EOF
---
metadata:
  name: $1
  description: remote agent $1
model: $2
max_steps: 4
tools: [station_status]
---
{{role "system"}}You watch the station.
{{role "user"}}{{userInput}} ({{who}})
EOF
}
agent watcher tool-then-text
agent flaky always-503
agent sleepy slow

# lh_wait's failure text is its output: shown, not thrown away.
waitfor() {
	local out
	out=$(lh_wait "$@") || fail "$out; last records: $(tail -n 3 "$LH_REC" | cut -c1-600)"
}

lh_start --hb-ms 1000
write_config a "workspace: $WS" "ai_provider: anthropic" "ai_model: text" \
	"ai_base_url: $AI" "ai_max_retries: 1"
bd_start a
waitfor auth 1 15
bd_wait_log a "Successfully registered with CloudShip management channel" 10
[[ $(lh_count auth "sorted(a['name'] for a in m['station_auth']['agents']) == ['flaky', 'sleepy', 'watcher']") == 1 ]] ||
	fail "StationAuth agents: $(grep '"ev":"auth"' "$LH_REC" | head -n 1 | cut -c1-400)"
pass "berthd synced the workspace's agents at start and announced them"

send() {
	lh_cmd "{\"cmd\": \"send\", \"msg\": $1}"
}
resp() { # resp REQUEST_ID [N] [FILTER] [SECONDS]
	waitfor recv "${2:-1}" "${4:-30}" "m.get('request_id') == '$1' and m.get('is_response') == True${3:+ and ($3)}"
}

# --- a run that calls a tool and answers -------------------------------------
send '{"request_id": "r-run1", "execute_agent_request": {"agent_id": "watcher", "task": "How is the station?", "variables": {"who": "ops"}, "run_id": "lh-e2e-1"}}'
resp r-run1 1 "m['execute_agent_response'].get('status', 'EXECUTION_QUEUED') == 'EXECUTION_QUEUED' and m['execute_agent_response']['execution_id'] == 'lh-e2e-1'"
resp r-run1 1 "m['execute_agent_response'].get('status') == 'EXECUTION_COMPLETED' and m['execute_agent_response']['partial_response'].startswith('The tool said:')"
running=$(lh_count recv "m.get('request_id') == 'r-run1' and m['execute_agent_response'].get('status') == 'EXECUTION_RUNNING'")
((running >= 1)) || fail "no EXECUTION_RUNNING update before COMPLETED"
row=$(psql_q "SELECT status, steps, source, lighthouse_request_id, requested_by IS NULL, claimed_by LIKE '%:%', input_tokens, output_tokens
	FROM runs WHERE lighthouse_run_id = 'lh-e2e-1'")
assert_eq "$row" "succeeded|2|lighthouse|r-run1|t|t|22|14" "the run's row"
pass "execute_agent: QUEUED, RUNNING ($running update(s)), COMPLETED with the model's final text; run claimed by berthd's worker"

# What the provider got: Anthropic's format, the key, the rendered prompt.
first=$(sed -n 1p "$W/ai.jsonl")
assert_contains "$first" '"path": "/v1/messages"' "Anthropic Messages API"
assert_contains "$first" '"key_ok": true' "provider key sent"
assert_contains "$first" 'How is the station? (ops)' "task and Lighthouse's variable rendered"
assert_contains "$first" '"name": "station_status"' "registry tool offered"
pass "the run went to the provider in Anthropic's wire format, with the rendered task and the registry tool"

waitfor send_run 1 20 "m['send_run_request']['run_data']['run_id'] == 'lh-e2e-1'"
report() { # report FILTER on the send_run_request's run_data d
	[[ $(lh_count send_run "m['send_run_request']['run_data']['run_id'] == 'lh-e2e-1' and (lambda d: $1)(m['send_run_request']['run_data'])") -ge 1 ]] ||
		fail "send_run_request lh-e2e-1: expected $1; got $(grep '"ev":"send_run"' "$LH_REC" | grep lh-e2e-1 | head -n 1 | cut -c1-1500)"
}
report "d['status'] == 'LIGHTHOUSE_RUN_STATUS_COMPLETED' and d['agent_name'] == 'watcher' and d['task'] == 'How is the station?' and d['response'].startswith('The tool said:')"
report "d['token_usage']['prompt_tokens'] == 22 and d['token_usage']['completion_tokens'] == 14 and d['token_usage']['total_tokens'] == 36"
report "len(d['tool_calls']) == 1 and d['tool_calls'][0]['tool_name'] == 'station_status' and d['tool_calls'][0]['success'] == True and 'lighthouse' in d['tool_calls'][0]['result'] and 'timestamp' in d['tool_calls'][0]"
report "[s.get('type') for s in d['execution_steps']] == ['STEP_TYPE_LLM_CALL', 'STEP_TYPE_TOOL_CALL', 'STEP_TYPE_LLM_CALL'] and [s['step_number'] for s in d['execution_steps']] == [1, 2, 3] and all('timestamp' in s for s in d['execution_steps'])"
report "d['model_name'] == 'tool-then-text' and int(d['duration_ms']) >= 0 and 'started_at' in d and 'completed_at' in d and d['metadata']['berth_run_id'] != ''"
for _ in $(seq 50); do
	[[ $(psql_q "SELECT count(*) FROM lighthouse_outbox o JOIN runs r ON r.id = o.run_id WHERE r.lighthouse_run_id = 'lh-e2e-1' AND o.acked_at IS NOT NULL") == 1 ]] && break
	sleep 0.2
done
assert_eq "$(psql_q "SELECT count(*) FROM lighthouse_outbox o JOIN runs r ON r.id = o.run_id WHERE r.lighthouse_run_id = 'lh-e2e-1' AND o.acked_at IS NOT NULL")" 1 "report acknowledged"
pass "send_run_request: COMPLETED, response, token usage 22+14=36, the station_status tool call, 3 execution steps, model, times; acknowledged"

# --- a provider that keeps failing ----------------------------------------------
send '{"request_id": "r-run2", "execute_agent_request": {"agent_id": "flaky", "task": "Try", "variables": {"who": "x"}, "run_id": "lh-e2e-2"}}'
resp r-run2 1 "m['execute_agent_response'].get('status') == 'EXECUTION_FAILED' and 'HTTP 503' in m['execute_agent_response']['partial_response'] and m.get('success') != True"
waitfor send_run 1 20 "m['send_run_request']['run_data']['run_id'] == 'lh-e2e-2' and m['send_run_request']['run_data']['status'] == 'LIGHTHOUSE_RUN_STATUS_FAILED' and 'HTTP 503' in m['send_run_request']['run_data']['response']"
pass "provider answering 503 after retries: FAILED update with the reason, and a FAILED report"

# --- the run worker dies mid-run --------------------------------------------------
send '{"request_id": "r-run3", "execute_agent_request": {"agent_id": "sleepy", "task": "Wait", "variables": {"who": "y"}, "run_id": "lh-e2e-3"}}'
for _ in $(seq 100); do
	[[ $(psql_q "SELECT status FROM runs WHERE lighthouse_run_id = 'lh-e2e-3'") == running ]] && break
	sleep 0.1
done
assert_eq "$(psql_q "SELECT status FROM runs WHERE lighthouse_run_id = 'lh-e2e-3'")" running "run claimed"
wpid=$(pgrep -P "${BD_PID[a]}" -f -- '--run-worker 0' | head -n 1)
[[ -n $wpid ]] || fail "no run worker process under berthd"
kill -KILL "$wpid"
for _ in $(seq 100); do
	npid=$(pgrep -P "${BD_PID[a]}" -f -- '--run-worker 0' | head -n 1 || true)
	[[ -n $npid && $npid != "$wpid" ]] && break
	sleep 0.1
done
[[ -n $npid && $npid != "$wpid" ]] || fail "berthd did not restart the killed run worker"
psql_q "UPDATE runs SET heartbeat_at = now() - interval '1 hour' WHERE lighthouse_run_id = 'lh-e2e-3'"
t0=$(now_ms)
resp r-run3 1 "m['execute_agent_response'].get('status') == 'EXECUTION_FAILED' and 'worker lost' in m['execute_agent_response']['partial_response']" 90
note "stale run (heartbeat 1 h old) reaped by the housekeeper and reported FAILED after $(secs $(($(now_ms) - t0))) s (it looks once a minute)"
waitfor send_run 1 30 "m['send_run_request']['run_data']['run_id'] == 'lh-e2e-3' and m['send_run_request']['run_data']['status'] == 'LIGHTHOUSE_RUN_STATUS_FAILED'"
pass "a run worker killed mid-run is restarted; the run is reaped ('worker lost'), reported FAILED"

bd_stop a
pass "berthd stops on SIGTERM with its workers"
