#!/usr/bin/env bash
#
# test_faults.sh - faults in Berth's surroundings, survived under load,
# through nginx (issue 9, "Fault tests" and "Slow and greedy clients").
# One PASS line per fault says what was observed:
#
#   1. PostgreSQL stopped and restarted while wrk loads GET /auth/whoami with
#      an API key: during the outage only Berth's own 503 (with Retry-After),
#      200 before and after, no 500/502/504, no socket errors; berth-fcgi and
#      its workers are not restarted; afterwards at most one backend
#      connection per worker (none leaked).
#   2. A worker SIGKILLed mid-request: the request it holds (a whoami whose
#      last_used_at write waits on a row lock this test holds, so it stays
#      in the worker as long as needed) gets nginx's 502; the supervisor
#      replaces the worker; concurrent wrk load sees only 200.
#   3. nginx reloaded twice under load: zero non-200 answers; zero socket
#      errors for new connections per request; for keep-alive connections
#      at most one closed connection per connection and reload (HTTP's
#      keep-alive close race, see below).
#   4. 50 slowloris clients sending a POST /mcp body one byte at a time:
#      nginx buffers bodies, no worker is held, /healthz keeps answering
#      within 1 s; each slow client is answered in the end.
#   5. Disk full: mcp_sessions moved to a tablespace on a full 1 MiB tmpfs;
#      an MCP initialize (one INSERT) gets 503 and berth-fcgi logs SQLSTATE
#      53100 with PostgreSQL's message; freeing the space makes it 200.
#      Needs root and a working `mount -t tmpfs`; otherwise a NOTE says it
#      was not done.
#
# Needs wrk, ss (iproute2), psql and python3 (skips without them).
# Helper files live in tests/integration/faults/: status.lua (wrk script
# tallying status codes) and slow_clients.py (the slowloris clients).

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_cmd wrk ss
[[ -n $LIB_PY ]] || skip "python3 is needed for the slow clients"
PSQL=$(command -v psql || true)
for p in /usr/lib/postgresql/*/bin/psql; do
	[[ -x $p ]] && PSQL=$p
done
[[ -n $PSQL ]] || skip "psql is not installed"
NGINX=/usr/sbin/nginx
[[ -x $NGINX ]] || NGINX=$(command -v nginx || true)

WORKERS=4
stack_up --workers "$WORKERS"

BUILD=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH_BIN=$BUILD/cli/berth
FAULTS=$BERTH_SRCDIR/tests/integration/faults
LUA=$FAULTS/status.lua
T=$STACK_DIR/faults
mkdir -p "$T"
export DATABASE_URL BERTH_CONFIG
FCGI_PID=$(stack_fcgi_pid)
[[ -n $FCGI_PID ]] || fail "no berth-fcgi pid file in $STACK_DIR/run"
FCGI_LOG=$STACK_DIR/log/berth-fcgi.log
FCGI_PORT=$(sed -n 's/^FCGI_PORT=//p' "$STACK_DIR/run/state")
NGINX_PORT=$(sed -n 's/^NGINX_PORT=//p' "$STACK_DIR/run/state")
STATE_DIR=$(sed -n 's/^STATE_DIR=//p' "$STACK_DIR/run/state")
[[ -n $FCGI_PORT && -n $NGINX_PORT && -n $STATE_DIR ]] || fail "incomplete $STACK_DIR/run/state"

# --- cleanup: background jobs and the tmpfs, then the stack --------------------

BG_PIDS=()
MOUNTED=''
faults_cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	if [[ -n $MOUNTED ]]; then
		# PostgreSQL first, so nothing writes into the tablespace while it
		# goes away (the stack is removed afterwards anyway).
		rm -f -- "$MOUNTED/fill"
		stack pg-stop --dir "$STACK_DIR" >/dev/null 2>&1 || true
		umount "$MOUNTED" 2>/dev/null || umount -l "$MOUNTED" 2>/dev/null || true
		rmdir -- "$MOUNTED" 2>/dev/null || true
	fi
}
# stack_cleanup reads the test's exit status from $?: hand it on.
faults_exit() {
	local rc=$?
	faults_cleanup
	if ((rc == 0)); then
		stack_cleanup
	else
		(exit "$rc") || stack_cleanup
	fi
}
trap faults_exit EXIT

# --- helpers ---------------------------------------------------------------------

# sql SQL [NAME=VALUE...]: runs SQL (psql variables quoted by psql), prints
# unaligned rows.
sql() {
	local q=$1 v args=()
	shift
	for v in "$@"; do
		args+=(-v "$v")
	done
	printf '%s\n' "$q" | "$PSQL" -X -q -At -v ON_ERROR_STOP=1 "${args[@]}" -d "$DATABASE_URL"
}

# Seconds from START to END (EPOCHREALTIME values), one decimal.
elapsed() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'
}

# The worker pids of berth-fcgi, sorted, space separated.
worker_pids() {
	pgrep -P "$FCGI_PID" | sort -n | tr '\n' ' ' | sed 's/ $//'
}

# Backend connections of berth-fcgi (its fallback_application_name).
fcgi_backends() {
	sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'berth-fcgi'"
}

# wrk_get FILE KEY: the value of KEY in wrk's WRK_RESULT line (0 if absent).
wrk_get() {
	local w
	for w in $(grep '^WRK_RESULT ' "$1" | tail -n 1); do
		if [[ $w == "$2="* ]]; then
			printf '%s\n' "${w#*=}"
			return
		fi
	done
	echo 0
}

# wrk_other FILE STATUS...: responses whose status is not one of STATUS.
wrk_other() {
	local file=$1 w n=0
	shift
	for w in $(grep '^WRK_RESULT ' "$file" | tail -n 1); do
		[[ $w =~ ^s([0-9]{3})=([0-9]+)$ ]] || continue
		[[ " $* " == *" ${BASH_REMATCH[1]} "* ]] && continue
		n=$((n + BASH_REMATCH[2]))
	done
	echo "$n"
}

# The sNNN=count words of FILE's WRK_RESULT line, e.g. "s200=10 s503=3".
wrk_statuses() {
	grep '^WRK_RESULT ' "$1" | tail -n 1 | tr ' ' '\n' | grep '^s[0-9]' | tr '\n' ' ' | sed 's/ $//'
}

# wrk_socket_errors FILE: connect+read+write+timeout.
wrk_socket_errors() {
	echo $(($(wrk_get "$1" connect) + $(wrk_get "$1" read) + $(wrk_get "$1" write) + $(wrk_get "$1" timeout)))
}

# wrk_check FILE: fails unless wrk ran and printed its result line.
wrk_check() {
	grep -q '^WRK_RESULT ' "$1" || {
		cat "$1"
		fail "wrk printed no WRK_RESULT line ($1)"
	}
}

# wrk_bg OUT SECONDS CONNECTIONS URL [wrk args...]: starts wrk in the
# background (pid in WRK_PID). A run meant to last until the fault is over
# is given a long duration and ended with wrk_stop.
wrk_bg() {
	local out=$1 secs=$2 conns=$3 url=$4 threads=2
	shift 4
	((conns >= 2)) || threads=1
	wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 5s -s "$LUA" "$@" "$url" >"$out" 2>&1 &
	WRK_PID=$!
	BG_PIDS+=("$WRK_PID")
}

# wrk_stop PID WHAT: ends a wrk run early (SIGINT: wrk stops and prints its
# summary and the script's done() line as at the end of its time).
wrk_stop() {
	kill -INT "$1" 2>/dev/null || true
	wait "$1" || fail "wrk ($2) failed"
}

# A new user with a fresh API key, printed.
new_key() {
	"$BERTH_BIN" user create "$1" --role viewer >/dev/null || fail "berth user create $1"
	local key
	key=$("$BERTH_BIN" apikey create "$1" --name faults 2>/dev/null) || fail "berth apikey create $1"
	[[ $key =~ ^sk-[A-Za-z0-9_-]{43}$ ]] || fail "berth apikey create $1: not a key"
	printf '%s\n' "$key"
}

# The berth-fcgi worker whose backend connection is PostgreSQL process
# BACKEND: the unix socket peer of the backend's socket, found with ss.
worker_of_backend() {
	local backend=$1 peer
	peer=$(ss -xpn | awk -v p="pid=$backend," 'index($0, p) && index($0, ".s.PGSQL.") { print $8; exit }')
	[[ -n $peer ]] || return 0
	ss -xpn | awk -v i="$peer" '$6 == i' | sed -n 's/.*"berth-fcgi",pid=\([0-9]*\),.*/\1/p' | head -n 1
}

LOAD_KEY=$(new_key faults-load)
http_get "$BERTH_URL/auth/whoami" -H "Authorization: Bearer $LOAD_KEY"
assert_eq "$HTTP_STATUS" 200 "whoami with the load key"
pass "setup: $WORKERS workers (pids $(worker_pids)), user faults-load with an API key, GET /auth/whoami -> 200"

# --- 1. PostgreSQL stopped and restarted under load ------------------------------
#
# wrk loads whoami from before the outage until 1 s after /healthz is 200
# again; PostgreSQL is stopped after 2 s (pg_ctl stop -m fast ends the
# workers' sessions) and started 3 s later. Berth answers 503 at once while
# it is down (a worker tries to reconnect at most once a second and fails
# fast in between), so no request should wait, let alone time out. A
# second, short wrk run then must see only 200.

workers_before=$(worker_pids)
backends_before=$(fcgi_backends)
wrk_bg "$T/wrk1.out" 60 8 "$BERTH_URL/auth/whoami" -H "Authorization: Bearer $LOAD_KEY"
wrk1=$WRK_PID
sleep 2
t_stop=$EPOCHREALTIME
stack_cmd pg-stop --dir "$STACK_DIR"
t_stopped=$EPOCHREALTIME
sleep 3
stack_cmd pg-start --dir "$STACK_DIR"
t_start=$EPOCHREALTIME
deadline=$((SECONDS + 20))
while :; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BERTH_URL/healthz" || true)
	[[ $code == 200 ]] && break
	((SECONDS < deadline)) || fail "postgres restarted: /healthz still $code after 20 s"
	sleep 0.05
done
t_healthy=$EPOCHREALTIME
# A worker retries the database at most once a second: 1 s after the
# first 200, every worker under load has reconnected.
sleep 1
wrk_stop "$wrk1" "postgres outage"
# From now on, everything must be 200.
wrk_bg "$T/wrk1b.out" 2 8 "$BERTH_URL/auth/whoami" -H "Authorization: Bearer $LOAD_KEY"
wait "$WRK_PID" || fail "wrk (after the outage) failed"
wrk_check "$T/wrk1b.out"
((($(wrk_other "$T/wrk1b.out" 200) + $(wrk_socket_errors "$T/wrk1b.out")) == 0)) ||
	fail "after the outage: not all 200: $(grep WRK_RESULT "$T/wrk1b.out")"
wrk_check "$T/wrk1.out"
f=$T/wrk1.out
n503=$(wrk_get "$f" s503)
n200=$(wrk_get "$f" s200)
other=$(wrk_other "$f" 200 503)
sockerr=$(wrk_socket_errors "$f")
((other == 0)) || fail "postgres outage: $other answers other than 200/503 ($(wrk_statuses "$f"))"
((n503 > 0)) || fail "postgres outage: no 503 seen ($(wrk_statuses "$f"))"
assert_eq "$(wrk_get "$f" berth503)" "$n503" "503 answers from Berth itself (with its X-Request-Id)"
assert_eq "$(wrk_get "$f" retry_after)" "$n503" "503 answers with Retry-After"
((sockerr == 0)) || fail "postgres outage: $sockerr socket errors: $(grep WRK_RESULT "$f")"
tail200=$(wrk_get "$f" tail200)
((tail200 > 0)) || fail "postgres outage: no 200 after the last 503"
assert_eq "$(stack_fcgi_pid)" "$FCGI_PID" "berth-fcgi pid after the outage"
kill -0 "$FCGI_PID" 2>/dev/null || fail "berth-fcgi (pid $FCGI_PID) is gone"
workers_after=$(worker_pids)
if [[ $workers_after == "$workers_before" ]]; then
	wdesc="same $WORKERS worker pids"
else
	nw=$(wc -w <<<"$workers_after")
	assert_eq "$nw" "$WORKERS" "worker count after the outage"
	wdesc="workers replaced: $workers_before -> $workers_after"
fi
# Every worker is back on the database (the load reached each of them);
# none holds more than its one connection.
backends_after=$(fcgi_backends)
((backends_after <= WORKERS)) ||
	fail "postgres outage: $backends_after berth-fcgi backends for $WORKERS workers (leaked connections)"
pass "postgres down $(elapsed "$t_stop" "$t_start") s under load (pg-stop issued until pg-start returned; the stop itself took $(elapsed "$t_stop" "$t_stopped") s): $n503 requests got 503 (all from Berth itself, with Retry-After), $n200 got 200 ($tail200 after the last 503), 0 other statuses, 0 socket errors; then $(wrk_get "$T/wrk1b.out" requests) requests in 2 s all 200; /healthz 200 again $(elapsed "$t_start" "$t_healthy") s after restart; berth-fcgi pid $FCGI_PID unchanged, $wdesc; $backends_after backend connections for $WORKERS workers (before: $backends_before), 0 leaked"

# --- 2. a worker killed mid-request -----------------------------------------------
#
# The request to kill: GET /auth/whoami with a never-used key. Its lookup
# finds last_used_at unset, so a second statement writes it, and this test
# holds the key's row lock (SELECT ... FOR UPDATE in an open transaction), so the
# statement waits in PostgreSQL and the request stays in its worker for as
# long as needed: no timing guesswork. The worker is found exactly: the
# berth-fcgi backend waiting on a lock in pg_stat_activity, then the worker
# at the other end of that backend's unix socket (ss -xp). A prefork worker
# holds one request at a time, and nginx connects per request (no upstream
# keepalive), so the killed worker holds that one request and nothing else:
# nginx answers it 502 (no response header had come yet), and the wrk load
# on the other workers must see only 200.

VICTIM_KEY=$(new_key faults-victim)
wrk_bg "$T/wrk2.out" 60 6 "$BERTH_URL/auth/whoami" -H "Authorization: Bearer $LOAD_KEY"
wrk2=$WRK_PID
PGAPPNAME=berth-fault-lock "$PSQL" -X -q -d "$DATABASE_URL" \
	-c 'BEGIN' \
	-c "SELECT 1 FROM api_keys a JOIN users u ON u.id = a.user_id WHERE u.username = 'faults-victim' FOR UPDATE OF a" \
	-c 'SELECT pg_sleep(60)' -c 'COMMIT' >"$T/lock.out" 2>&1 &
lock_pid=$!
BG_PIDS+=("$lock_pid")
deadline=$((SECONDS + 10))
until [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'berth-fault-lock' AND query LIKE '%pg_sleep%'") == 1 ]]; do
	((SECONDS < deadline)) || fail "the row lock was not taken: $(cat "$T/lock.out")"
	sleep 0.1
done
t_held=$EPOCHREALTIME
curl -sS -o "$T/held.body" -w '%{http_code}' --max-time 30 \
	-H "Authorization: Bearer $VICTIM_KEY" "$BERTH_URL/auth/whoami" >"$T/held.code" 2>"$T/held.err" &
held_pid=$!
BG_PIDS+=("$held_pid")
backend=''
deadline=$((SECONDS + 10))
while [[ -z $backend ]]; do
	backend=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'berth-fcgi' AND wait_event_type = 'Lock' LIMIT 1")
	[[ -n $backend ]] && break
	((SECONDS < deadline)) || fail "the held request never reached the row lock"
	sleep 0.1
done
victim=$(worker_of_backend "$backend")
[[ -n $victim ]] || fail "no berth-fcgi process at the other end of backend $backend (ss -xp)"
[[ " $(worker_pids) " == *" $victim "* ]] || fail "process $victim (backend $backend's client) is not a worker of $FCGI_PID"
kill -0 "$held_pid" 2>/dev/null || fail "the held request ended before the kill: $(cat "$T/held.code")"
kill -KILL "$victim"
t_kill=$EPOCHREALTIME
wait "$held_pid" || true
held_code=$(cat "$T/held.code")
[[ $held_code == 502 ]] ||
	fail "request held by the killed worker -> '$held_code', expected 502 ($(cat "$T/held.err") $(one_line "$(cat "$T/held.body")"))"
assert_contains "$(cat "$T/held.body")" bad_gateway "502 body"
deadline=$((SECONDS + 10))
while :; do
	now=$(worker_pids)
	if [[ $(wc -w <<<"$now") == "$WORKERS" && " $now " != *" $victim "* ]]; then
		break
	fi
	((SECONDS < deadline)) || fail "worker $victim not replaced: workers now $now"
	sleep 0.05
done
t_replaced=$EPOCHREALTIME
replacement=$(comm -13 <(tr ' ' '\n' <<<"$workers_after" | sort) <(tr ' ' '\n' <<<"$now" | sort) | tr '\n' ' ' | sed 's/ $//')
grep -q "worker $victim killed by signal 9" "$FCGI_LOG" || fail "no log line about worker $victim"
# Let the lock go: the killed worker's backend then runs its statement,
# finds its client gone and ends.
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'berth-fault-lock'" >/dev/null
wait "$lock_pid" 2>/dev/null || true
deadline=$((SECONDS + 10))
until (($(fcgi_backends) <= WORKERS)); do
	((SECONDS < deadline)) || fail "after the kill: $(fcgi_backends) berth-fcgi backends for $WORKERS workers"
	sleep 0.1
done
backends2=$(fcgi_backends)
# A little load on the replacement worker too.
sleep 1
wrk_stop "$wrk2" "worker kill"
f=$T/wrk2.out
wrk_check "$f"
other=$(wrk_other "$f" 200)
sockerr=$(wrk_socket_errors "$f")
((other == 0)) || fail "worker kill: concurrent load got $other non-200 answers ($(wrk_statuses "$f"))"
((sockerr == 0)) || fail "worker kill: concurrent load had $sockerr socket errors: $(grep WRK_RESULT "$f")"
pass "worker killed mid-request: worker $victim (holding GET /auth/whoami for $(elapsed "$t_held" "$t_kill") s on a row lock; found via pg_stat_activity backend $backend + ss -xp) got SIGKILL; that request -> 502 from nginx; replaced by pid $replacement within $(elapsed "$t_kill" "$t_replaced") s ($WORKERS workers); concurrent load: $(wrk_get "$f" requests) requests, all 200, 0 socket errors; $backends2 backend connections afterwards (the killed worker's is gone)"

# --- 3. nginx reloaded under load -----------------------------------------------------
#
# Two wrk runs at once, reloaded twice: one opens a new connection per
# request (Connection: close): a reload hands the listening sockets to the
# new workers and lets the old ones finish what they have, so nothing may
# fail. The other keeps connections alive: an old worker closes its idle
# keep-alive connections when it exits, and wrk counts a connection closed
# while its next request was already on the way as a read (or write)
# error, though that request was never processed - the race every HTTP
# keep-alive client handles by retrying. That can happen at most once per
# connection and reload, which bounds those errors; statuses must all be
# 200 there too.

NGINX_PID=$(head -n 1 "$STACK_DIR/run/nginx.pid")
[[ -n $NGINX_PID && -n $NGINX ]] || fail "no nginx pid or binary"
nginx_workers() {
	pgrep -P "$NGINX_PID" | sort -n | tr '\n' ' ' | sed 's/ $//'
}
old_workers=$(nginx_workers)
RELOADS=2
KA_CONNS=4
wrk_bg "$T/wrk3c.out" 60 4 "$BERTH_URL/auth/whoami" -H "Authorization: Bearer $LOAD_KEY" -H 'Connection: close'
wrk3c=$WRK_PID
wrk_bg "$T/wrk3k.out" 60 "$KA_CONNS" "$BERTH_URL/auth/whoami" -H "Authorization: Bearer $LOAD_KEY"
wrk3k=$WRK_PID
for _ in $(seq "$RELOADS"); do
	sleep 1.5
	"$NGINX" -p "$STACK_DIR/nginx/" -c "$STACK_DIR/nginx/nginx.conf" -e "$STACK_DIR/log/nginx-error.log" \
		-s reload 2>>"$T/reload.err" || fail "nginx -s reload: $(cat "$T/reload.err")"
done
sleep 1.5
wrk_stop "$wrk3c" "reload, connection per request"
wrk_stop "$wrk3k" "reload, keep-alive"
wrk_check "$T/wrk3c.out"
wrk_check "$T/wrk3k.out"
# The reloads really happened: the master stays, its workers are new.
deadline=$((SECONDS + 10))
while :; do
	new_workers=$(nginx_workers)
	left=$(comm -12 <(tr ' ' '\n' <<<"$old_workers" | sort) <(tr ' ' '\n' <<<"$new_workers" | sort) | wc -l)
	((left == 0)) && [[ -n $new_workers ]] && break
	((SECONDS < deadline)) || fail "nginx workers not replaced after reload: $old_workers -> $new_workers"
	sleep 0.1
done
kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx master $NGINX_PID is gone"
f=$T/wrk3c.out
((($(wrk_other "$f" 200)) == 0)) || fail "nginx reload (new connections): non-200 answers ($(wrk_statuses "$f"))"
((($(wrk_socket_errors "$f")) == 0)) || fail "nginx reload (new connections): socket errors: $(grep WRK_RESULT "$f")"
g=$T/wrk3k.out
((($(wrk_other "$g" 200)) == 0)) || fail "nginx reload (keep-alive): non-200 answers ($(wrk_statuses "$g"))"
ka_closed=$(($(wrk_get "$g" read) + $(wrk_get "$g" write)))
((($(wrk_get "$g" connect) + $(wrk_get "$g" timeout)) == 0)) ||
	fail "nginx reload (keep-alive): connect errors or timeouts: $(grep WRK_RESULT "$g")"
((ka_closed <= KA_CONNS * RELOADS)) ||
	fail "nginx reload (keep-alive): $ka_closed closed connections, more than $KA_CONNS connections x $RELOADS reloads"
pass "nginx reloaded $RELOADS times under load (master $NGINX_PID kept, workers $old_workers -> $new_workers): connection per request: $(wrk_get "$f" requests) requests, all 200, 0 socket errors; keep-alive: $(wrk_get "$g" requests) requests, all 200, $ka_closed keep-alive connections closed by exiting old workers (bound $KA_CONNS x $RELOADS), 0 connect errors or timeouts"

# --- 4. slow and greedy clients ----------------------------------------------------------
#
# 50 clients send the head of POST /mcp and then its 24-byte body one byte
# per connection every 0.4 s (9.6 s). nginx reads request bodies itself
# (fastcgi_request_buffering is on by default) and passes a request to
# berth-fcgi only once its body is complete, so the 4 workers stay free
# meanwhile: /healthz must answer in under 1 s throughout, and no
# FastCGI connection should be open except a probe's own. Each slow client
# is answered in the end by Berth itself: 400, "Mcp-Session-Id header is
# required" (no session is created, which part 5 relies on). They send a
# valid key: anonymous requests count towards the per-address lockout
# (auth.lockout_address_failures), and 50 of them from 127.0.0.1 would lock
# every later request of this test out.

LOC_CONF=$BERTH_SRCDIR/conf/nginx/berth-locations.conf
body_timeout=$(sed -n 's/^[[:space:]]*client_body_timeout[[:space:]]\{1,\}\([^;]*\);.*/\1/p' "$LOC_CONF" | head -n 1)
header_timeout=$(sed -n 's/^[[:space:]]*client_header_timeout[[:space:]]\{1,\}\([^;]*\);.*/\1/p' "$LOC_CONF" | head -n 1)
[[ -n $body_timeout ]] || body_timeout="not set (nginx default 60s)"
[[ -n $header_timeout ]] || header_timeout="not set (nginx default 60s)"
SLOW=50
rm -f -- "$T/slow.ready"
"$LIB_PY" "$FAULTS/slow_clients.py" 127.0.0.1 "$NGINX_PORT" /mcp "$SLOW" 24 0.4 "$T/slow.ready" \
	"Authorization: Bearer $LOAD_KEY" >"$T/slow.out" 2>&1 &
slow_pid=$!
BG_PIDS+=("$slow_pid")
deadline=$((SECONDS + 10))
until [[ -s $T/slow.ready ]]; do
	((SECONDS < deadline)) || fail "slow clients did not connect: $(cat "$T/slow.out")"
	sleep 0.05
done
slow_conns=$(ss -Htn state established "( dport = :$NGINX_PORT )" | wc -l)
max_t=0 max_fcgi=0 probes=0
# At most 10 probes and at most 4 s of probing, well inside the bodies'
# 9.6 s, so a loaded machine cannot make the bodies finish first.
probe_end=$(($(date +%s%N) + 4000000000))
for _ in $(seq 10); do
	(($(date +%s%N) < probe_end)) || break
	out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 "$BERTH_URL/healthz" || true)
	code=${out%% *} t=${out#* }
	[[ $code == 200 ]] || fail "slow clients: /healthz -> $out"
	max_t=$(awk -v a="$max_t" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
	n=$(ss -Htn state established "( dport = :$FCGI_PORT )" | wc -l)
	((n > max_fcgi)) && max_fcgi=$n
	probes=$((probes + 1))
	sleep 0.2
done
still=$(ss -Htn state established "( dport = :$NGINX_PORT )" | wc -l)
wait "$slow_pid" || fail "slow clients: $(cat "$T/slow.out")"
res=$(grep '^SLOW_RESULT ' "$T/slow.out") || fail "slow clients printed no result: $(cat "$T/slow.out")"
slow_get() {
	local w
	for w in $res; do
		[[ $w == "$1="* ]] && printf '%s\n' "${w#*=}" && return
	done
}
assert_eq "$(slow_get connected)" "$SLOW" "slow clients connected"
((slow_conns >= SLOW)) || fail "slow clients: only $slow_conns connections to nginx open while probing"
((still >= SLOW)) || fail "slow clients: only $still connections to nginx still open after the probes (bodies finished too early?)"
awk -v t="$max_t" 'BEGIN { exit !(t < 1.0) }' || fail "slow clients: /healthz took ${max_t} s"
((max_fcgi < WORKERS)) || fail "slow clients: $max_fcgi FastCGI connections open: the workers were held"
assert_eq "$(slow_get errors)" 0 "slow client errors"
# One answer for all, from Berth (today 400: no Mcp-Session-Id), never
# nginx's 408 (body timeout), a 429 lockout or a 5xx.
slow_st=$(slow_get statuses)
[[ $slow_st =~ ^(4[0-9][0-9]):$SLOW$ && ${BASH_REMATCH[1]} != 408 && ${BASH_REMATCH[1]} != 429 ]] ||
	fail "slow clients' statuses: $slow_st, expected one Berth 4xx for all $SLOW"
pass "slow clients: $SLOW connections sending a POST /mcp body 1 byte/0.4 s ($slow_conns open at the first probe, $still at the last): /healthz 200 in at most $(awk -v t="$max_t" 'BEGIN { printf "%.1f", t * 1000 }') ms over $probes probes, at most $max_fcgi FastCGI connection(s) open (workers free: nginx buffers bodies); each slow client answered by Berth (${slow_st%%:*} for all $SLOW: the JSON-RPC answer to its body) after $(slow_get seconds) s; client_body_timeout $body_timeout, client_header_timeout $header_timeout"

# --- 5. disk full --------------------------------------------------------------------------
#
# The realistic way to fill a disk under PostgreSQL without filling this
# machine's: a tablespace on a 1 MiB tmpfs, mcp_sessions moved into it
# (still empty, so its first INSERT must extend the file), the tmpfs then
# filled up. PostgreSQL answers that INSERT with SQLSTATE 53100 ("could not
# extend file ...: No space left on device"), which Berth classes as
# "database cannot serve now": 503, and one ERROR log line naming the
# statement, the SQLSTATE and PostgreSQL's message.

INIT_BODY='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test_faults","version":"1"}}}'
mcp_init() {
	http_get "$BERTH_URL/mcp" -D "$T/init.h" -H "Authorization: Bearer $LOAD_KEY" \
		-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		--data "$INIT_BODY"
}
disk_full() {
	local mnt=$STATE_DIR/faults-tiny owner err lines logline retry ra_desc body503 health
	if [[ $EUID -ne 0 ]]; then
		echo "NOTE disk full: not done: mounting a tmpfs needs root"
		return
	fi
	mkdir -p -- "$mnt"
	if ! err=$(mount -t tmpfs -o size=1m,mode=0755 berth-faults-tiny "$mnt" 2>&1); then
		rmdir -- "$mnt" 2>/dev/null || true
		echo "NOTE disk full: not done: mount -t tmpfs refused here: $(one_line "$err")"
		return
	fi
	MOUNTED=$mnt
	owner=$(stat -L -c %U -- "$STACK_DIR/pg/data")
	mkdir -- "$mnt/ts"
	chown "$owner:" "$mnt/ts"
	chmod 0700 "$mnt/ts"
	sql "CREATE TABLESPACE berth_faults_tiny LOCATION '$mnt/ts'"
	sql "ALTER TABLE mcp_sessions SET TABLESPACE berth_faults_tiny"
	assert_eq "$(sql "SELECT pg_relation_size('mcp_sessions')")" 0 "size of mcp_sessions (must be empty so that an INSERT extends it)"
	dd if=/dev/zero of="$mnt/fill" bs=64k >/dev/null 2>&1 || true
	assert_eq "$(df -P -- "$mnt" | awk 'NR == 2 { print $4 }')" 0 "free KiB on the tmpfs"
	lines=$(wc -l <"$FCGI_LOG")
	mcp_init
	[[ $HTTP_STATUS == 503 ]] || fail "disk full: initialize -> $HTTP_STATUS, expected 503: $(one_line "$HTTP_BODY")"
	assert_json "$HTTP_BODY" "disk full: 503 body"
	body503=$HTTP_BODY
	retry=$(tr -d '\r' <"$T/init.h" | sed -n 's/^[Rr]etry-[Aa]fter: //p')
	ra_desc="no Retry-After"
	[[ -z $retry ]] || ra_desc="Retry-After: $retry"
	logline=$(tail -n +"$((lines + 1))" "$FCGI_LOG" | grep -m 1 'SQLSTATE 53100' || true)
	[[ -n $logline ]] || fail "disk full: no SQLSTATE 53100 line in $FCGI_LOG: $(tail -n +"$((lines + 1))" "$FCGI_LOG" | tail -n 5)"
	assert_contains "$logline" "No space left on device" "disk full log line"
	assert_contains "$logline" " ERROR " "disk full log line level"
	http_get "$BERTH_URL/healthz"
	health=$HTTP_STATUS
	rm -f -- "$mnt/fill"
	mcp_init
	[[ $HTTP_STATUS == 200 ]] || fail "disk full: initialize after freeing space -> $HTTP_STATUS: $(one_line "$HTTP_BODY")"
	sql "ALTER TABLE mcp_sessions SET TABLESPACE pg_default"
	sql "DROP TABLESPACE berth_faults_tiny"
	umount "$mnt"
	MOUNTED=''
	rmdir -- "$mnt"
	pass "disk full: MCP initialize (INSERT INTO mcp_sessions on a full 1 MiB tmpfs tablespace) -> 503 $(one_line "$body503"), $ra_desc; log: \"$(one_line "${logline#* berth-fcgi*] }")\"; /healthz meanwhile $health (the database itself answers); space freed -> initialize 200"
}
disk_full

# --- no crash ----------------------------------------------------------------------------------

killed=$(grep -c 'killed by signal' "$FCGI_LOG" || true)
exited=$(grep -c 'exited with status' "$FCGI_LOG" || true)
assert_eq "$killed" 1 "workers killed by a signal (only the one killed on purpose)"
assert_eq "$exited" 0 "workers that exited"
assert_eq "$(wc -w <<<"$(worker_pids)")" "$WORKERS" "workers at the end"
pass "no worker crashed or exited during the faults: the one SIGKILLed on purpose was the only one replaced; berth-fcgi pid $FCGI_PID throughout"
