#!/usr/bin/env bash
# test_daemon.sh - berthd against the test Lighthouse: registration and
# AuthResult, station_status, heartbeats, management requests, every
# Disconnect reason, a refused key, SIGHUP and SIGTERM.
. "$(dirname "$0")/lib_daemon.sh"

psql_q "INSERT INTO agents (environment, name, description, template, tools)
	VALUES ('default', 'helper', 'Helps.', 'You help.', '[\"list_runs\"]')" >/dev/null
lh_start --hb-ms 1000
write_config a
bd_start a

# --- registration ------------------------------------------------------------
t=$(lh_wait auth 1 15)
auth_ok() {
	[[ $(lh_count auth "$1") == 1 ]] || fail "StationAuth: expected $1; got $(grep '"ev":"auth"' "$LH_REC" | head -n 1 | cut -c1-600)"
}
auth_ok "m['registration_key'] == '$REG_KEY' and m['station_auth']['registration_key'] == '$REG_KEY'"
auth_ok "m['station_auth']['name'] == 'test-station' and m['station_auth']['environment'] == 'default'"
auth_ok "m['station_auth']['os'] == 'linux' and m['station_auth']['arch'] != '' and m['station_auth']['version'] != '' and m['station_auth']['hostname'] != ''"
auth_ok "[a['name'] for a in m['station_auth']['agents']] == ['helper'] and m['station_auth']['agents'][0]['assigned_tools'] == ['list_runs']"
auth_ok "'station_status' in [x['name'] for x in m['station_auth']['tools']]"
pass "StationAuth first (${t}s after start): key, name, os, arch, version, hostname, environment, agents, tools"

bd_wait_log a "V2 auth successful: station_id=st-1 name=test-station heartbeat_interval=1s" 5
bd_wait_log a "Successfully registered with CloudShip management channel" 1
bd_wait_log a "Connected to CloudShip Lighthouse at 127.0.0.1:$LH_PORT (plaintext)" 1
if grep -q SECRETTAIL "$W/a.log"; then fail "the registration key was logged"; fi
pass "Station's log lines; the registration key is not logged beyond its prefix"

row=$(psql_q "SELECT connected, station_id, org_id, endpoint, heartbeat_interval_s,
	daemon LIKE '%:' || '${BD_PID[a]}', connected_at IS NOT NULL, replaced
	FROM station_status WHERE name = 'test-station'")
assert_eq "$row" "t|st-1|org-test|127.0.0.1:$LH_PORT|1|t|t|f" "station_status row"
pass "station_status: connected, station_id, org_id, endpoint, interval, daemon host:pid"

# --- heartbeats ----------------------------------------------------------------
lh_wait heartbeat 4 10 >/dev/null
hb=$("$PY" - "$LH_REC" <<'PY'
import json, sys
ts = [o["t"] for o in map(json.loads, open(sys.argv[1])) if o["ev"] == "heartbeat"]
d = [b - a for a, b in zip(ts, ts[1:])]
print("%.2f %.2f" % (sum(d) / len(d), max(d)))
PY
)
[[ $(lh_count heartbeat "m.get('registration_key') == '$REG_KEY' and m.get('status') == 'SYSTEM_STATUS_HEALTHY' and 'timestamp' in m") -ge 4 ]] ||
	fail "heartbeat content: $(grep '"ev":"heartbeat"' "$LH_REC" | head -n 1)"
[[ $(psql_q "SELECT last_heartbeat IS NOT NULL FROM station_status") == t ]] || fail "last_heartbeat not written"
note "heartbeat interval asked 1.00 s; measured mean/max ${hb/ / / } s"
pass "heartbeats at the AuthResult interval, HEALTHY, key and timestamp; last_heartbeat written"

# --- management requests -------------------------------------------------------------
send() {
	lh_cmd "{\"cmd\": \"send\", \"msg\": $1}"
}
resp() { # resp REQUEST_ID [N] [FILTER]
	lh_wait recv "${2:-1}" 25 "m.get('request_id') == '$1' and m.get('is_response') == True${3:+ and ($3)}" >/dev/null
}
send '{"request_id": "r-la", "list_agents_request": {"environment": "default"}}'
resp r-la 1 "m['list_agents_response']['agents'][0]['name'] == 'helper' and m['list_agents_response']['total_agents'] == 1 and m['success']"
send '{"request_id": "r-lt", "list_tools_request": {}}'
resp r-lt 1 "'get_run' in [t['name'] for t in m['list_tools_response']['tools']]"
send '{"request_id": "r-ge", "get_environments_request": {}}'
resp r-ge 1 "[e['name'] for e in m['get_environments_response']['environments']] == ['default', 'staging'] and m['get_environments_response']['environments'][0]['agent_count'] == 1 and m['get_environments_response']['environments'][0]['is_default']"
send '{"request_id": "r-gd", "get_agent_details_request": {"agent_id": "helper"}}'
resp r-gd 1 "m['get_agent_details_response']['agent']['prompt_template'] == 'You help.'"
send '{"request_id": "r-gd2", "get_agent_details_request": {"agent_id": "nobody"}}'
resp r-gd2 1 "m['error']['code'] == 'AGENT_NOT_FOUND'"
pass "list_agents, list_tools, get_environments, get_agent_details (and an unknown agent -> AGENT_NOT_FOUND)"

send '{"request_id": "r-up", "update_agent_prompt_request": {"agent_id": "helper", "new_prompt": "You help a lot."}}'
resp r-up 1 "m['update_agent_prompt_response']['success'] and m['update_agent_prompt_response']['updated_agent']['prompt_template'] == 'You help a lot.'"
assert_eq "$(psql_q "SELECT template FROM agents WHERE name = 'helper'")" "You help a lot." "persisted prompt"
assert_eq "$(psql_q "SELECT count(*) FROM audit_log WHERE action = 'agent.prompt_update' AND success")" 1 "audit row"
pass "update_agent_prompt persisted and audited"

send '{"request_id": "r-ex1", "execute_agent_request": {"agent_id": "ghost", "task": "boo", "run_id": "lh-run-1"}}'
resp r-ex1 2 "m['execute_agent_response']['execution_id'] == 'lh-run-1'"
first=$(lh_count recv "m.get('request_id') == 'r-ex1' and m['execute_agent_response'].get('status', 'EXECUTION_QUEUED') == 'EXECUTION_QUEUED' and m.get('success') == True")
failed=$(lh_count recv "m.get('request_id') == 'r-ex1' and m['execute_agent_response'].get('status') == 'EXECUTION_FAILED' and 'AGENT_NOT_FOUND' in m['execute_agent_response']['partial_response']")
assert_eq "$first/$failed" "1/1" "QUEUED then FAILED AGENT_NOT_FOUND"
assert_eq "$(psql_q "SELECT status, agent_name, source, lighthouse_request_id, error LIKE 'AGENT_NOT_FOUND%' FROM runs WHERE lighthouse_run_id = 'lh-run-1'")" \
	"failed|ghost|lighthouse|r-ex1|t" "the failed run"
lh_wait send_run 1 10 "m['send_run_request']['run_data']['run_id'] == 'lh-run-1' and m['send_run_request']['run_data']['status'] == 'LIGHTHOUSE_RUN_STATUS_FAILED'" >/dev/null
pass "execute_agent of an unknown agent: QUEUED, then FAILED with AGENT_NOT_FOUND; its report sent as send_run (run_id lh-run-1)"

send '{"request_id": "r-ex2", "execute_agent_request": {"agent_id": "helper", "task": "help", "variables": {"x": "1"}}}'
resp r-ex2 1 "m['execute_agent_response']['execution_id'] == 'r-ex2' and m['execute_agent_response'].get('status', 'EXECUTION_QUEUED') == 'EXECUTION_QUEUED'"
assert_eq "$(psql_q "SELECT status, input->>'task', input->'variables'->>'x' FROM runs WHERE lighthouse_request_id = 'r-ex2'")" "queued|help|1" "the queued run"
pass "execute_agent of a known agent: QUEUED at once, run queued for the runner (issue 8)"

# The runner (issue 8) only updates the runs row; berthd streams it.
psql_q "UPDATE runs SET status = 'running', claimed_by = 'test:1:1', started_at = now(), steps = 2
	WHERE lighthouse_request_id = 'r-ex2'" >/dev/null
resp r-ex2 1 "m['execute_agent_response'].get('status') == 'EXECUTION_RUNNING' and m['execute_agent_response']['step_number'] == 2 and m['execute_agent_response']['step_description'] == 'step 2'"
psql_q "UPDATE runs SET status = 'succeeded', finished_at = now(), final_response = 'all helped'
	WHERE lighthouse_request_id = 'r-ex2'" >/dev/null
resp r-ex2 1 "m['execute_agent_response'].get('status') == 'EXECUTION_COMPLETED' and m['execute_agent_response']['partial_response'] == 'all helped' and m['execute_agent_response']['execution_id'] == 'r-ex2'"
assert_eq "$(lh_count recv "m.get('request_id') == 'r-ex2'")" 3 "updates of r-ex2 (QUEUED, RUNNING, COMPLETED, once each)"
pass "a run's progress in its row is streamed with the request id: RUNNING (step 2), then COMPLETED with the final text"

for f in 14 24 31; do
	lh_cmd "{\"cmd\": \"send_unknown\", \"request_id\": \"r-u$f\", \"field\": $f}"
	resp "r-u$f" 1 "m.get('success') != True and m['error'].get('code', 'UNKNOWN_ERROR') == 'UNKNOWN_ERROR'"
done
send '{"request_id": "r-u17", "send_run_request": {}}'
resp r-u17 1 "m['error'].get('code', 'UNKNOWN_ERROR') == 'UNKNOWN_ERROR'"
pass "unsupported requests (fields 14, 24, 31, a send_run_request from Lighthouse) answered with UNKNOWN_ERROR"

# --- heartbeat "not registered" and Disconnect reasons that reconnect -------------
n=$(lh_count auth)
lh_cmd '{"cmd": "set", "hb_not_registered": true}'
t=$(lh_wait auth $((n + 1)) 15)
lh_cmd '{"cmd": "set", "hb_not_registered": false}'
note "heartbeat 'not registered' -> re-registered in ${t} s"
pass "a heartbeat answered 'not registered' makes berthd reconnect the channel"

for code in 5 6 7 0; do
	sleep 0.5 # let the new stream settle
	n=$(lh_count auth)
	lh_cmd "{\"cmd\": \"disconnect\", \"code\": $code, \"reason\": \"test $code\", \"delay_ms\": $([[ $code == 5 ]] && echo 500 || echo 0)}"
	t=$(lh_wait auth $((n + 1)) 15)
	note "Disconnect code $code -> reconnected in ${t} s"
done
pass "Disconnect SHUTDOWN (reconnect_delay_ms 500), HEARTBEAT_TIMEOUT, ERROR, UNSPECIFIED -> reconnect"

# --- reasons that stop; SIGHUP with a changed config resumes ------------------------
tagn=0
resume() {
	tagn=$((tagn + 1))
	write_config a
	sed -i "s/^  name: .*/&\n  tags: [t$tagn]/" "$W/a.yaml"
	local n
	n=$(lh_count auth)
	kill -HUP "${BD_PID[a]}"
	t=$(lh_wait auth $((n + 1)) 10)
}
stopped() { # stopped WHAT: no new StationAuth for 2 s
	local n
	n=$(lh_count auth)
	sleep 2
	[[ $(lh_count auth) == "$n" ]] || fail "$1: berthd reconnected"
}

sleep 0.5
lh_cmd '{"cmd": "disconnect", "code": 1, "reason": "name taken"}'
bd_wait_log a "replaced: another station took the name test-station" 5
stopped REPLACED
assert_eq "$(psql_q "SELECT connected, replaced FROM station_status")" "f|t" "station_status after REPLACED"
printf 'cloudship: [broken\n' >"$W/a.yaml"
kill -HUP "${BD_PID[a]}"
bd_wait_log a "configuration not reloaded, keeping the old one" 5
stopped "REPLACED, bad config on SIGHUP"
resume
assert_eq "$(psql_q "SELECT connected, replaced FROM station_status")" "t|f" "station_status after SIGHUP"
pass "REPLACED: logged, replaced=t, no retry; a bad config on SIGHUP keeps the old one; a changed config reconnects (${t} s)"

for code in 2 3; do
	sleep 0.5
	lh_cmd "{\"cmd\": \"disconnect\", \"code\": $code, \"reason\": \"key trouble\"}"
	bd_wait_log a "key trouble; not reconnecting" 5
	stopped "Disconnect $code"
	assert_contains "$(psql_q "SELECT connected, last_error FROM station_status")" "f|" "station_status after $code"
	resume
done
pass "AUTH_FAILED and KEY_REVOKED: reported, no retry until the config changes"

sleep 0.5
lh_cmd '{"cmd": "disconnect", "code": 4, "reason": "too many stations"}'
bd_wait_log a "reconnecting to Lighthouse in 30000 ms" 5
stopped LIMIT_REACHED
assert_contains "$(psql_q "SELECT last_error FROM station_status")" "station limit reached" "last_error"
resume
pass "LIMIT_REACHED: next try in 30 s (none within 2 s), last_error says why"

sleep 0.5
lh_cmd '{"cmd": "set", "auth_fail": "invalid registration key"}'
lh_cmd '{"cmd": "disconnect", "code": 7, "reason": "go again"}'
bd_wait_log a "Lighthouse refused the registration key: invalid registration key" 10
stopped "refused key"
assert_eq "$(psql_q "SELECT connected, last_error FROM station_status")" "f|invalid registration key" "station_status after a refused key"
lh_cmd '{"cmd": "set", "auth_fail": ""}'
resume
pass "AuthResult success=false: reported, no retry until the config changes"

# --- SIGTERM -------------------------------------------------------------------
sleep 1
n=$(lh_count stream_end)
bd_stop a TERM || fail "berthd exited $? on SIGTERM"
lh_wait stream_end $((n + 1)) 5 >/dev/null
assert_eq "$(psql_q "SELECT connected, last_error FROM station_status")" "f|daemon stopped" "station_status after SIGTERM"
pass "SIGTERM: stream closed, exit 0, station_status disconnected"

# --- enabled without a key: no link, no retry loop, still a clean exit ---------
write_config nokey
sed -i 's/^  registration_key: .*/  registration_key: ""/' "$W/nokey.yaml"
n=$(lh_count auth)
bd_start nokey
bd_wait_log nokey "registration_key is empty: no Lighthouse link" 5
sleep 1
assert_eq "$(lh_count auth)" "$n" "StationAuth without a key"
bd_stop nokey TERM || fail "berthd exited $? on SIGTERM"
pass "cloudship.enabled without a registration key: logged, no connection attempt"
