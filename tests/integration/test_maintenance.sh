#!/usr/bin/env bash
#
# test_maintenance.sh - housekeeping (`berth maintenance --once`, the code
# berthd runs every minute) against the full stack (PostgreSQL, berth-fcgi,
# nginx):
#   * a million expired login sessions (BERTH_MAINT_ROWS, default 1000000)
#     plus expired token-cache rows, idle and absolutely expired MCP
#     sessions, stale auth-failure counters, runs past retention (with
#     events and acknowledged reports) and an audit-log prefix older than
#     retention.audit_days: all gone after one pass; live sessions, live
#     cache rows, live MCP sessions, recent runs, a run whose report is not
#     acknowledged and recent audit rows are kept;
#   * while the pass runs, logins (POST /auth/login) and a background loop
#     keep going; the loop makes authenticated
#     requests through nginx (GET /auth/whoami and an MCP ping in a live
#     session, with an API key): they must all succeed; their count and
#     latency are printed;
#   * the audit chain still verifies (`berth audit verify`), with one
#     session_expired row per batch and an audit.retention row;
#   * --dry-run counts without deleting;
#   * two runners: the second is skipped (exit 0, says so) while the first
#     holds the lock;
#   * the database down: exit 1 with "database unreachable".
# No timing is asserted: the figures are printed as NOTE lines.

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ -n $LIB_PY ]] || skip "python3 is needed"

ROWS=${BERTH_MAINT_ROWS:-1000000}
if ! [[ $ROWS =~ ^[1-9][0-9]*$ ]]; then
	fail "BERTH_MAINT_ROWS=$ROWS: want a positive number"
fi
# Old audit rows, enough for several batches of 5000.
AUDIT_OLD=12000

stack_up

PSQL=$(command -v psql || true)
for p in /usr/lib/postgresql/*/bin/psql; do
	[[ -x $p ]] && PSQL=$p
done
[[ -n $PSQL ]] || skip "psql is not installed"

BUILD=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH_BIN=$BUILD/cli/berth
[[ -x $BERTH_BIN ]] || fail "no berth CLI at $BERTH_BIN"
export DATABASE_URL BERTH_CONFIG
W=$STACK_DIR/maint
mkdir -p "$W"

# sql SQL [NAME=VALUE...]: runs SQL (psql variables interpolated and quoted
# by psql), prints unaligned rows.
sql() {
	local q=$1 v args=()
	shift
	for v in "$@"; do
		args+=(-v "$v")
	done
	printf '%s\n' "$q" | "$PSQL" -X -q -At -v ON_ERROR_STOP=1 "${args[@]}" -d "$DATABASE_URL"
}

# run ARGS...: runs berth; stdout in OUT, stderr in ERR, exit status in RC.
run() {
	RC=0
	"$BERTH_BIN" "$@" >"$W/out" 2>"$W/err" || RC=$?
	OUT=$(cat "$W/out")
	ERR=$(cat "$W/err")
}

# count_of WHAT: the number berth maintenance printed for WHAT.
count_of() {
	printf '%s\n' "$OUT" | sed -n "s/^ *$1: *\([0-9][0-9]*\)\$/\1/p"
}

now_ms() {
	date +%s%3N
}

# --- an audit-log prefix older than retention ------------------------------------

# Rows of the berth-audit-v1 chain (shared/audit.c) dated 400 days ago,
# hashed here exactly as audit_append() would have hashed them, so the
# chain verifies before retention and must still verify after it.
n=$(sql "SELECT count(*) FROM audit_log")
assert_eq "$n" 0 "audit rows before the test's own"
"$LIB_PY" - "$AUDIT_OLD" >"$W/old-audit.sql" <<'PY'
import datetime, hashlib, struct, sys, time

n = int(sys.argv[1])
start_us = (int(time.time()) - 400 * 86400) * 1000000

def f(s):
    if s is None:
        return b"\xff\xff\xff\xff"
    b = s.encode()
    return struct.pack(">I", len(b)) + b

prev = None
print("BEGIN;")
for i in range(n):
    us = start_us + i * 1000
    row = [str(us), None, "oldtimer", "test.old", "old:%d" % i, None, None, "t", "{}"]
    h = hashlib.sha256((prev or bytes(32)) + b"berth-audit-v1" + b"".join(f(x) for x in row)).digest()
    ts = datetime.datetime.fromtimestamp(us // 1000000, datetime.timezone.utc)
    lit = ts.strftime("%Y-%m-%d %H:%M:%S") + ".%06d+00" % (us % 1000000)
    print("INSERT INTO audit_log (ts, username, action, resource, success, details, prev_hash, row_hash) "
          "VALUES ('%s', 'oldtimer', 'test.old', 'old:%d', true, '{}', %s, '\\x%s');"
          % (lit, i, "NULL" if prev is None else "'\\x%s'" % prev.hex(), h.hex()))
    prev = h
print("COMMIT;")
PY
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f "$W/old-audit.sql" >/dev/null ||
	fail "inserting the old audit rows"
run audit verify
assert_eq "$RC" 0 "audit verify before retention: $OUT $ERR"
pass "$AUDIT_OLD audit rows dated 400 days ago, chain intact: $OUT"

# --- a user, a key, a live MCP session --------------------------------------------

"$BERTH_BIN" user create alice --email alice@example.com --role admin >/dev/null ||
	fail "berth user create alice"
KEY=$("$BERTH_BIN" apikey create alice --name maint-test 2>/dev/null) || fail "berth apikey create alice"
[[ $KEY =~ ^sk- ]] || fail "berth apikey create printed no key"
UID_A=$(sql "SELECT id FROM users WHERE username = 'alice'")
# bob signs in with POST /auth/login during the pass (a local password).
BOB_PW='correct horse battery staple'
printf '%s\n' "$BOB_PW" | "$BERTH_BIN" user create bob --role viewer --password-stdin >/dev/null ||
	fail "berth user create bob"
UID_B=$(sql "SELECT id FROM users WHERE username = 'bob'")
AUTH=(-H "Authorization: Bearer $KEY")
JSON_HDRS=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
INIT_BODY='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'

code=$(curl -sS --max-time 30 -o "$W/init.body" -D "$W/init.h" -w '%{http_code}' \
	"${JSON_HDRS[@]}" "${AUTH[@]}" --data "$INIT_BODY" "$BERTH_URL/mcp") || fail "POST /mcp initialize"
assert_eq "$code" 200 "POST /mcp initialize"
SID=$(tr -d '\r' <"$W/init.h" | sed -n 's/^[Mm][Cc][Pp]-[Ss]ession-[Ii][Dd]: *//p')
[[ -n $SID ]] || fail "initialize returned no Mcp-Session-Id"
curl -sS --max-time 30 -o /dev/null "${JSON_HDRS[@]}" "${AUTH[@]}" -H "Mcp-Session-Id: $SID" \
	-H 'MCP-Protocol-Version: 2025-11-25' --data '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	"$BERTH_URL/mcp" || fail "notifications/initialized"
pass "alice with an API key and a live MCP session"

# --- the rows to delete, and the rows to keep ---------------------------------------

t0=$(now_ms)
# In digest order, with expires_at following it: both indexes then grow
# at their right edge, which is several times faster than random order.
sql "INSERT INTO sessions (token_digest, user_id, created_at, expires_at, last_used_at)
     SELECT d, :'u', now() - interval '40 days',
            now() - interval '10 days' + row_number() OVER (ORDER BY d) * interval '1 ms',
            now() - interval '10 days'
     FROM (SELECT sha256(int8send(g)) AS d FROM generate_series(1, :'n') g) s
     ORDER BY d" "u=$UID_A" "n=$ROWS"
t1=$(now_ms)
echo "NOTE inserting $ROWS expired sessions took $((t1 - t0)) ms"
sql "INSERT INTO sessions (token_digest, user_id, expires_at)
     SELECT sha256(convert_to('live' || g, 'UTF8')), :'u', now() + interval '1 day'
     FROM generate_series(1, 100) g" "u=$UID_A"

# Token cache: 1000 expired, 10 live.
sql "INSERT INTO token_cache (token_digest, active, cached_at, expires_at)
     SELECT sha256(convert_to('tc' || g, 'UTF8')), false, now() - interval '1 hour',
            now() - interval '59 minutes'
     FROM generate_series(1, 1000) g;
     INSERT INTO token_cache (token_digest, active, expires_at)
     SELECT sha256(convert_to('tclive' || g, 'UTF8')), false, now() + interval '4 minutes'
     FROM generate_series(1, 10) g"

# MCP sessions: 300 idle past sessions.mcp_idle_timeout (default 1 h),
# 200 past their absolute timeout, 20 live (and the curl one).
sql "INSERT INTO mcp_sessions (id, user_id, auth_method, protocol_version,
                               created_at, last_used_at, expires_at)
     SELECT 'maint-idle-' || lpad(g::text, 8, '0'), :'u', 'api_key', '2025-11-25',
            now() - interval '3 hours', now() - interval '2 hours', now() + interval '1 day'
     FROM generate_series(1, 300) g;
     INSERT INTO mcp_sessions (id, user_id, auth_method, protocol_version,
                               created_at, last_used_at, expires_at)
     SELECT 'maint-done-' || lpad(g::text, 8, '0'), :'u', 'api_key', '2025-11-25',
            now() - interval '2 days', now() - interval '1 minute', now() - interval '1 day'
     FROM generate_series(1, 200) g;
     INSERT INTO mcp_sessions (id, user_id, auth_method, protocol_version, expires_at)
     SELECT 'maint-live-' || lpad(g::text, 8, '0'), :'u', 'api_key', '2025-11-25',
            now() + interval '1 day'
     FROM generate_series(1, 20) g" "u=$UID_A"

# Auth failures: 50 windows long over, 5 current.
sql "INSERT INTO auth_failures (scope, subject, window_start, failures, locked_until)
     SELECT 'address', '192.0.2.' || g, now() - interval '1 day', 9,
            now() - interval '1 day' + interval '15 minutes'
     FROM generate_series(1, 50) g;
     INSERT INTO auth_failures (scope, subject, failures)
     SELECT 'account', 'current' || g, 1 FROM generate_series(1, 5) g"

# Runs: 1200 finished 100 days ago (3 events each; 400 with an
# acknowledged report), one old with a report not yet acknowledged, one old
# still queued, 10 recent.
sql "INSERT INTO runs (agent_name, environment, status, source, created_at, finished_at)
     SELECT 'old', 'development', 'succeeded', 'cli', now() - interval '100 days',
            now() - interval '100 days'
     FROM generate_series(1, 1200) g;
     INSERT INTO run_events (run_id, seq, kind)
     SELECT r.id, s, 'step' FROM runs r, generate_series(0, 2) s WHERE r.agent_name = 'old';
     INSERT INTO lighthouse_outbox (run_id, attempts, sent_at, acked_at)
     SELECT id, 1, now() - interval '99 days', now() - interval '99 days'
     FROM runs WHERE agent_name = 'old' ORDER BY id LIMIT 400;
     INSERT INTO runs (agent_name, environment, status, source, created_at, finished_at, error)
     VALUES ('unacked', 'development', 'failed', 'lighthouse', now() - interval '100 days',
             now() - interval '100 days', 'boom');
     INSERT INTO lighthouse_outbox (run_id, attempts)
     SELECT id, 3 FROM runs WHERE agent_name = 'unacked';
     INSERT INTO runs (agent_name, environment, source, created_at)
     VALUES ('queued', 'development', 'cli', now() - interval '100 days');
     INSERT INTO runs (agent_name, environment, status, source, finished_at)
     SELECT 'recent', 'development', 'succeeded', 'cli', now() FROM generate_series(1, 10)" 2>"$W/runs.err" ||
	fail "inserting runs: $(cat "$W/runs.err")"
pass "rows inserted: $ROWS expired sessions, 1000 token-cache rows, 500 MCP sessions, 50 auth failures, 1200 old runs"

# --- dry run -------------------------------------------------------------------------

run maintenance --dry-run
assert_eq "$RC" 0 "maintenance --dry-run: $ERR"
assert_eq "$(count_of sessions)" "$ROWS" "dry run: sessions"
assert_eq "$(count_of token_cache)" 1000 "dry run: token_cache"
assert_eq "$(count_of mcp_sessions)" 500 "dry run: mcp_sessions"
assert_eq "$(count_of runs)" 1200 "dry run: runs"
assert_eq "$(count_of audit)" "$AUDIT_OLD" "dry run: audit"
n=$(sql "SELECT count(*) FROM sessions")
assert_eq "$n" $((ROWS + 100)) "sessions after the dry run"
pass "maintenance --dry-run counts, deletes nothing: $(one_line "$OUT")"

# --- the pass, under load -------------------------------------------------------------

# One request: whoami or an MCP ping in the live session. Appends
# "STATUS SECONDS" to the log file.
load_loop() {
	local i=0 out
	while [[ ! -e $W/stop ]]; do
		if ((i % 2 == 0)); then
			out=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code} %{time_total}' \
				"${AUTH[@]}" "$BERTH_URL/auth/whoami" 2>/dev/null) || out="000 0"
		else
			out=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code} %{time_total}' \
				"${JSON_HDRS[@]}" "${AUTH[@]}" -H "Mcp-Session-Id: $SID" \
				-H 'MCP-Protocol-Version: 2025-11-25' \
				--data '{"jsonrpc":"2.0","id":2,"method":"ping"}' "$BERTH_URL/mcp" 2>/dev/null) || out="000 0"
		fi
		printf '%s\n' "$out" >>"$W/load.$1"
		i=$((i + 1))
	done
}
: >"$W/load.1"
: >"$W/load.2"
# Logins: POST /auth/login (scrypt, a new session row each) until the
# pass ends. "STATUS SECONDS" per login.
login_loop() {
	local out
	while [[ ! -e $W/stop ]]; do
		out=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code} %{time_total}' \
			-H 'Content-Type: application/json' \
			--data "{\"username\":\"bob\",\"password\":\"$BOB_PW\"}" \
			"$BERTH_URL/auth/login" 2>/dev/null) || out="000 0"
		printf '%s\n' "$out" >>"$W/login.log"
	done
}
: >"$W/login.log"
load_loop 1 &
L1=$!
load_loop 2 &
L2=$!
login_loop &
L3=$!
sleep 0.5
t0=$(now_ms)
run maintenance --once
t1=$(now_ms)
touch "$W/stop"
wait "$L1" "$L2" "$L3" || true
assert_eq "$RC" 0 "maintenance --once: $OUT $ERR"
printf '    %s\n' "${OUT//$'\n'/$'\n'    }"

total=$(cat "$W/load.1" "$W/load.2" | wc -l)
bad=$(cat "$W/load.1" "$W/load.2" | grep -vc '^200 ' || true)
maxlat=$(cat "$W/load.1" "$W/load.2" | awk '$1 == 200 && $2 > m { m = $2 } END { printf "%.3f", m + 0 }')
avglat=$(cat "$W/load.1" "$W/load.2" | awk '$1 == 200 { s += $2; n++ } END { printf "%.4f", n ? s / n : 0 }')
echo "NOTE maintenance --once deleted $ROWS expired sessions (and the rest) in $((t1 - t0)) ms (berth: $(echo "$OUT" | sed -n 's/^took //p'))"
echo "NOTE during the pass: $total authenticated requests through nginx (whoami + MCP ping), $bad failed, average ${avglat} s, max ${maxlat} s"
((total > 0)) || fail "the load loop made no request"
if ((bad > 0)); then
	cat "$W/load.1" "$W/load.2" | grep -v '^200 ' | sort | uniq -c | head
	fail "$bad of $total requests failed during maintenance"
fi
pass "$total authenticated requests during the pass, all 200"
logins=$(wc -l <"$W/login.log")
badlogin=$(grep -vc '^200 ' "$W/login.log" || true)
maxlogin=$(awk '$1 == 200 && $2 > m { m = $2 } END { printf "%.3f", m + 0 }' "$W/login.log")
echo "NOTE during the pass: $logins logins (POST /auth/login, scrypt), $badlogin failed, slowest ${maxlogin} s"
((logins > 0)) || fail "no login was made during the pass"
((badlogin == 0)) || { sort "$W/login.log" | uniq -c | head; fail "$badlogin of $logins logins failed during maintenance"; }
assert_eq "$(sql "SELECT count(*) FROM sessions WHERE user_id = :'u'" "u=$UID_B")" "$logins" "every login's session kept"
pass "$logins logins during the pass, all 200, each session kept"

# --- what is gone, what is kept ----------------------------------------------------------

assert_eq "$(count_of sessions)" "$ROWS" "sessions deleted"
assert_eq "$(count_of token_cache)" 1000 "token_cache deleted"
assert_eq "$(count_of mcp_sessions)" 500 "mcp_sessions deleted"
assert_eq "$(count_of auth_failures)" 50 "auth_failures deleted"
assert_eq "$(count_of runs)" 1200 "runs deleted"
assert_eq "$(count_of run_events)" 3600 "run_events deleted"
assert_eq "$(count_of outbox)" 400 "outbox deleted"
assert_eq "$(count_of audit)" "$AUDIT_OLD" "audit rows deleted"

assert_eq "$(sql "SELECT count(*) FROM sessions WHERE expires_at < now()")" 0 "expired sessions left"
assert_eq "$(sql "SELECT count(*) FROM sessions WHERE user_id <> :'u'" "u=$UID_B")" 100 "live sessions kept"
assert_eq "$(sql "SELECT count(*) FROM token_cache")" 10 "live token-cache rows kept"
assert_eq "$(sql "SELECT count(*) FROM mcp_sessions WHERE id LIKE 'maint-%'")" 20 "live MCP sessions kept"
assert_eq "$(sql "SELECT count(*) FROM mcp_sessions WHERE id = :'s'" "s=$SID")" 1 "the curl MCP session kept"
assert_eq "$(sql "SELECT count(*) FROM auth_failures")" 5 "current auth failures kept"
assert_eq "$(sql "SELECT string_agg(agent_name || '=' || n, ',' ORDER BY agent_name)
                  FROM (SELECT agent_name, count(*) AS n FROM runs GROUP BY 1) s")" \
	"queued=1,recent=10,unacked=1" "runs kept"
assert_eq "$(sql "SELECT count(*) FROM lighthouse_outbox")" 1 "the unacknowledged report kept"
assert_eq "$(sql "SELECT count(*) FROM run_events")" 0 "run events left"
pass "all expired and old rows gone; live sessions, cache rows, MCP sessions, counters, recent runs and the unacknowledged run kept"

batches=$(((ROWS + 4999) / 5000))
n=$(sql "SELECT count(*) FROM audit_log WHERE action = 'session_expired'")
assert_eq "$n" "$batches" "session_expired audit rows (one per batch of 5000)"
n=$(sql "SELECT sum((details->>'count')::bigint) FROM audit_log WHERE action = 'session_expired'")
assert_eq "$n" "$ROWS" "sessions counted in the session_expired rows"
assert_eq "$(sql "SELECT count(*) FROM audit_log WHERE action = 'test.old'")" 0 "old audit rows left"
n=$(sql "SELECT details->>'deleted' FROM audit_log WHERE action = 'audit.retention'")
assert_eq "$n" "$AUDIT_OLD" "audit.retention row"
run audit verify
assert_eq "$RC" 0 "audit verify after retention: $OUT $ERR"
pass "audit: $batches session_expired rows, one audit.retention row, chain verifies after retention: $OUT"

run maintenance --once
assert_eq "$RC" 0 "second pass: $ERR"
assert_eq "$(count_of sessions)" 0 "second pass: sessions"
assert_eq "$(count_of audit)" 0 "second pass: audit"
pass "a second pass finds nothing: $(one_line "$OUT")"

# --- one runner at a time -----------------------------------------------------------------

# Another session holds the lock: the pass is skipped, exit 0.
printf "SELECT pg_advisory_lock(1113944692, 3);\nSELECT pg_sleep(30);\n" |
	"$PSQL" -X -q -d "$DATABASE_URL" >/dev/null 2>&1 &
HOLDER=$!
for _ in $(seq 1 100); do
	[[ $(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1113944692 AND objid = 3 AND granted") == 1 ]] && break
	sleep 0.1
done
run maintenance --once
kill "$HOLDER" 2>/dev/null || true
wait "$HOLDER" 2>/dev/null || true
sql "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1113944692 AND objid = 3" >/dev/null
assert_eq "$RC" 0 "maintenance while the lock is held: $ERR"
assert_contains "$OUT" "skipped" "maintenance while the lock is held"
pass "lock held by another session -> skipped, exit 0: $(one_line "$OUT")"

# Two berth maintenance --once at once. To make the overlap certain, a
# third session holds token_cache locked: the first runner deletes the
# sessions, then waits there holding the maintenance lock; the second
# starts meanwhile and must be skipped. Then the table is let go.
N2=$(((ROWS + 4) / 5))
sql "INSERT INTO sessions (token_digest, user_id, created_at, expires_at)
     SELECT d, :'u', now() - interval '2 days', now() - interval '1 day'
     FROM (SELECT sha256(int8send(-g)) AS d FROM generate_series(1, :'n') g) s
     ORDER BY d" "u=$UID_A" "n=$N2"
printf "BEGIN;\nLOCK TABLE token_cache IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(60);\n" |
	"$PSQL" -X -q -d "$DATABASE_URL" >/dev/null 2>&1 &
BLOCKER=$!
# wait_sql SQL: polls until SQL prints 1 (10 s at most); 0 when it did.
wait_sql() {
	local i
	for i in $(seq 1 100); do
		[[ $(sql "$1") == 1 ]] && return 0
		sleep 0.1
	done
	return 1
}
wait_sql "SELECT count(*) FROM pg_locks WHERE relation = 'token_cache'::regclass
          AND mode = 'AccessExclusiveLock' AND granted" || fail "the table lock was never taken"
"$BERTH_BIN" maintenance --once >"$W/first.out" 2>"$W/first.err" &
FIRST=$!
wait_sql "SELECT count(*) FROM pg_locks WHERE relation = 'token_cache'::regclass AND NOT granted" ||
	fail "the first runner never reached token_cache"
run maintenance --once
sql "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE relation = 'token_cache'::regclass
     AND mode = 'AccessExclusiveLock' AND granted" >/dev/null
wait "$BLOCKER" 2>/dev/null || true
rc1=0
wait "$FIRST" || rc1=$?
assert_eq "$rc1" 0 "first runner: $(cat "$W/first.err")"
assert_eq "$RC" 0 "second runner: $ERR"
assert_contains "$OUT" "skipped" "second runner while the first holds the lock"
assert_contains "$(cat "$W/first.out")" "sessions:      $N2" "first runner's count"
assert_eq "$(sql "SELECT count(*) FROM sessions WHERE expires_at < now()")" 0 "expired sessions after two runners"
pass "two concurrent runs: one deleted $N2 sessions, the other skipped: $(one_line "$OUT")"

# --- the database down -----------------------------------------------------------------------

stack_cmd pg-stop --dir "$STACK_DIR"
run maintenance --once
stack_cmd pg-start --dir "$STACK_DIR"
assert_eq "$RC" 1 "maintenance with the database down"
assert_contains "$ERR" "database unreachable" "maintenance with the database down"
pass "database down -> exit 1: $(one_line "$ERR")"
