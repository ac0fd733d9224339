#!/usr/bin/env bash
# test_daemon_faults.sh - berthd when things break: a Lighthouse restart, a
# frozen Lighthouse (SIGSTOP), run reports finished during an outage, a
# kill -9 of the daemon with unsent reports, and standby takeover.
. "$(dirname "$0")/lib_daemon.sh"

lh_start --hb-ms 1000
write_config a
bd_start a
lh_wait auth 1 15 >/dev/null

# finish_runs N TAG: N finished runs and their outbox rows, each pair in one
# transaction, as shared/outbox.c's outbox_finish_run() writes them.
finish_runs() {
	local i
	for ((i = 1; i <= $1; i++)); do
		psql_q "BEGIN;
		WITH r AS (INSERT INTO runs (agent_name, environment, source, status,
			started_at, finished_at, final_response, input)
			VALUES ('helper', 'default', 'cli', 'succeeded', now(), now(),
			'done $2 $i', '{\"task\": \"$2-$i\"}') RETURNING id)
		INSERT INTO lighthouse_outbox (run_id, payload)
			SELECT id, jsonb_build_object('run_id', gen_random_uuid()::text) FROM r;
		COMMIT;" >/dev/null
	done
}
# run ids of the reports whose task starts with TAG, from the outbox.
report_ids() {
	psql_q "SELECT o.payload->>'run_id' FROM lighthouse_outbox o JOIN runs r ON r.id = o.run_id
		WHERE r.input->>'task' LIKE '$1-%' ORDER BY 1"
}
sends_of() { # number of send_run records for run id $1
	lh_count send_run "m['send_run_request']['run_data']['run_id'] == '$1'"
}

# --- Lighthouse restart ------------------------------------------------------
n=$(lh_count auth)
lh_stop KILL
sleep 2
start=$(now_ms)
lh_start --hb-ms 1000
lh_wait auth $((n + 1)) 40 >/dev/null
note "Lighthouse down 2 s then back: berthd re-registered $(secs $(($(now_ms) - start))) s after it came back (backoff 1 s doubling, jitter, cap 30 s)"
pass "Lighthouse restart -> reconnect"

# --- three runs finish during an outage ---------------------------------------------
n=$(lh_count auth)
lh_stop KILL
finish_runs 3 outage
lh_start --hb-ms 1000
lh_wait auth $((n + 1)) 40 >/dev/null
mapfile -t ids < <(report_ids outage)
assert_eq "${#ids[@]}" 3 "outbox rows"
for id in "${ids[@]}"; do
	lh_wait send_run 1 10 "m['send_run_request']['run_data']['run_id'] == '$id'" >/dev/null
done
sleep 2
for id in "${ids[@]}"; do
	assert_eq "$(sends_of "$id")" 1 "sends of run $id"
done
assert_eq "$(psql_q "SELECT count(*) FROM lighthouse_outbox o JOIN runs r ON r.id = o.run_id
	WHERE r.input->>'task' LIKE 'outage-%' AND acked_at IS NOT NULL")" 3 "acknowledged rows"
pass "3 runs finished while Lighthouse was down: each report delivered exactly once after reconnect, all acknowledged"

# --- kill -9 of the daemon with unsent reports ----------------------------------------
lh_cmd '{"cmd": "set", "ack_sendrun": false}'
finish_runs 2 killed
mapfile -t ids < <(report_ids killed)
for id in "${ids[@]}"; do
	lh_wait send_run 1 10 "m['send_run_request']['run_data']['run_id'] == '$id'" >/dev/null
done
bd_stop a KILL || true
lh_cmd '{"cmd": "set", "ack_sendrun": true}'
assert_eq "$(psql_q "SELECT count(*) FROM lighthouse_outbox WHERE acked_at IS NULL")" 2 "unacknowledged rows after kill -9"
n=$(lh_count auth)
bd_start a
lh_wait auth $((n + 1)) 15 >/dev/null
for id in "${ids[@]}"; do
	lh_wait send_run 2 10 "m['send_run_request']['run_data']['run_id'] == '$id'" >/dev/null
done
sleep 1
assert_eq "$(psql_q "SELECT count(*) FROM lighthouse_outbox WHERE acked_at IS NULL")" 0 "unacknowledged rows after restart"
pass "kill -9 with 2 sent-but-unacknowledged reports: both resent with the same run_id after restart and acknowledged"

# --- frozen Lighthouse ------------------------------------------------------------------
# At Lighthouse's usual heartbeat interval (60 s) only HTTP/2 keepalive can
# notice a frozen server within 30 s (the receive watchdog needs 75 s).
sleep 1.5
n=$(lh_count auth)
lh_cmd '{"cmd": "set", "hb_ms": 60000}'
lh_cmd '{"cmd": "disconnect", "code": 5, "reason": "new interval"}'
lh_wait auth $((n + 1)) 15 >/dev/null
bd_wait_log a "heartbeat_interval=1m0s" 5
before=$(grep -c "reconnecting to Lighthouse in" "$W/a.log" || true)
n=$(lh_count auth)
kill -STOP "$LH_PID"
start=$(now_ms)
while (($(grep -c "reconnecting to Lighthouse in" "$W/a.log" || true) <= before)); do
	(($(now_ms) - start < 60000)) || fail "a frozen Lighthouse was not noticed within 60 s"
	sleep 0.2
done
detect=$(secs $(($(now_ms) - start)))
how=$(grep -E "WARN (nothing received|Lighthouse stream ended)" "$W/a.log" | tail -n 1 | cut -d' ' -f4-)
# Written straight to the control file: lh_cmd would wait for a stopped
# Lighthouse to carry it out. It reads the file within 50 ms of SIGCONT.
printf '%s\n' '{"cmd": "set", "hb_ms": 1000}' >>"$LH_CTL"
kill -CONT "$LH_PID"
start=$(now_ms)
lh_wait auth $((n + 1)) 60 >/dev/null
note "frozen Lighthouse (SIGSTOP, heartbeat interval 60 s) noticed after $detect s ($how); re-registered $(secs $(($(now_ms) - start))) s after SIGCONT"
pass "a frozen Lighthouse is noticed (HTTP/2 keepalive) and the link comes back after it thaws"

# --- standby takeover ----------------------------------------------------------------------
bd_start b a
bd_wait_log b "standby: another berthd is active for station test-station" 10
sleep 1
[[ $(grep -c "taken: this berthd is active" "$W/b.log" || true) == 0 ]] || fail "the standby took the lease while the first daemon lived"
n=$(lh_count auth)
bd_stop a KILL || true
start=$(now_ms)
lh_wait auth $((n + 1)) 20 >/dev/null
bd_wait_log b "taken: this berthd is active" 1
note "standby took over $(secs $(($(now_ms) - start))) s after kill -9 of the active daemon"
assert_eq "$(psql_q "SELECT connected, daemon LIKE '%:' || '${BD_PID[b]}' FROM station_status")" "t|t" "station_status names the new daemon"
pass "two daemons, one station name: the second waits, and takes over when the first dies"
bd_stop b TERM || fail "berthd b exited $? on SIGTERM"
