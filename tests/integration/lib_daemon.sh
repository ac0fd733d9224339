# shellcheck shell=bash
#
# lib_daemon.sh - helpers for berthd's tests (test_daemon*.sh): a private
# PostgreSQL (stack_up --db-only, migrated), the test Lighthouse
# (lighthouse/lighthouse.py, Debian's python3-grpcio) and berthd processes.
#
#   lh_start [flags]         start the test Lighthouse on $LH_PORT
#   lh_cmd JSON              append a control command (see lighthouse.py)
#                            and wait until the Lighthouse has carried it
#                            out (its "control" record)
#   lh_count EV [FILTER]     events recorded ("auth", "heartbeat", ...),
#                            FILTER a Python expression on the record o
#   lh_wait EV N SECONDS [FILTER]  until lh_count reaches N; prints the
#                            seconds it took; fails after SECONDS
#   bd_start NAME [CONFIG]   start berthd NAME (log $W/NAME.log)
#   bd_wait_log NAME TEXT SECONDS  until the log has TEXT
#   psql_q SQL               one query, unaligned output
. "$(dirname "$0")/../lib.sh"

BIN=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH=$BIN/cli/berth
BERTHD=$BIN/daemon/berthd
[[ -x $BERTHD ]] || fail "berthd not built at $BERTHD"
PY=/usr/bin/python3
[[ -x $PY ]] || skip "/usr/bin/python3 is not installed"
"$PY" -c 'import grpc, grpc_tools' 2>/dev/null ||
	skip "python3-grpcio and python3-grpc-tools are not installed"
export BERTH_SQL_DIR=$BERTH_SRCDIR/sql
# Under --enable-sanitizers: c-ares (gRPC's resolver) keeps one allocation.
# print_suppressions=0: a run that only matched the suppression writes no
# report file (run-tests counts every file as a report).
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$BERTH_SRCDIR/tests/integration/lighthouse/lsan.supp:print_suppressions=0"
unset BERTH_CONFIG CLOUDSHIP_REGISTRATION_KEY CLOUDSHIP_ENDPOINT CLOUDSHIP_STATION_NAME

stack_up --db-only
W=$STACK_DIR/daemon
mkdir -p "$W"

LH_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LH_REC=$W/lighthouse.jsonl
LH_CTL=$W/lighthouse.ctl
LH_PID=''
REG_KEY=rk-test-0123456789SECRETTAIL
: >"$LH_REC"
: >"$LH_CTL"

declare -A BD_PID=()

# daemon_cleanup [RC]: as stack_cleanup (lib.sh), after the daemons.
daemon_cleanup() {
	local rc=${1:-$?} n
	for n in "${!BD_PID[@]}"; do
		kill -CONT "${BD_PID[$n]}" 2>/dev/null || true
		kill -KILL "${BD_PID[$n]}" 2>/dev/null || true
		wait "${BD_PID[$n]}" 2>/dev/null || true
	done
	if [[ -n $LH_PID ]]; then
		kill -CONT "$LH_PID" 2>/dev/null || true
		kill -KILL "$LH_PID" 2>/dev/null || true
		wait "$LH_PID" 2>/dev/null || true
	fi
	if ((rc != 0 && rc != 77)); then
		for n in "$W"/*.log; do
			[[ -s $n ]] || continue
			echo "---- last lines of $n ----"
			tail -n 30 "$n"
		done
		echo "---- last records of the Lighthouse ----"
		tail -n 15 "$LH_REC" | cut -c1-300
	fi
	stack_cleanup "$rc"
}
trap daemon_cleanup EXIT

# config NAME [extra YAML lines]: writes $W/NAME.yaml.
write_config() {
	local name=$1
	shift
	{
		printf 'cloudship:\n  enabled: true\n  registration_key: "%s"\n' "$REG_KEY"
		printf '  endpoint: "127.0.0.1:%s"\n  use_tls: false\n' "$LH_PORT"
		printf '  name: %s\n' "${STATION:-test-station}"
		printf 'database:\n  url: "%s"\n' "$DATABASE_URL"
		printf 'environments: [default, staging]\n'
		# Most tests play the runner themselves (they write the runs
		# rows berthd reports on): no run workers, the housekeeper
		# only, unless RUNNER_WORKERS says how many.
		printf 'runner:\n  workers: %s\n' "${RUNNER_WORKERS:-0}"
		local l
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$W/$name.yaml"
}

write_config migrate
"$BERTH" --config "$W/migrate.yaml" migrate >"$W/migrate.out" 2>&1 ||
	{ cat "$W/migrate.out"; fail "berth migrate"; }

lh_start() {
	rm -f "$W/lh.ready"
	"$PY" "$BERTH_SRCDIR/tests/integration/lighthouse/lighthouse.py" \
		--port "$LH_PORT" --proto-dir "$BERTH_SRCDIR/proto" \
		--gen-dir "$W/gen" --record "$LH_REC" --control "$LH_CTL" \
		--ready "$W/lh.ready" "$@" >>"$W/lighthouse.log" 2>&1 &
	LH_PID=$!
	local i
	for ((i = 0; i < 200; i++)); do
		[[ -s $W/lh.ready ]] && return 0
		kill -0 "$LH_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$W/lighthouse.log"
	fail "the test Lighthouse did not start"
}

lh_stop() {
	[[ -n $LH_PID ]] || return 0
	kill -"${1:-TERM}" "$LH_PID" 2>/dev/null || true
	wait "$LH_PID" 2>/dev/null || true
	LH_PID=''
}

# The Lighthouse reads its control file every 50 ms. Waiting for the
# command's "control" record keeps the next step from racing it: a
# "set auth_fail" not yet read when berthd registers again would refuse
# that registration too, and the daemon would stay stopped.
lh_cmd() {
	local n
	n=$(lh_count control)
	printf '%s\n' "$1" >>"$LH_CTL"
	lh_wait control $((n + 1)) 5 >/dev/null
}

lh_count() {
	"$PY" - "$LH_REC" "$1" "${2:-True}" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if o.get("ev") == sys.argv[2] and eval(sys.argv[3], {}, {"o": o, "m": o.get("msg", {})}):
        n += 1
print(n)
PY
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# lh_wait EV N SECONDS [FILTER]: prints the seconds waited (one decimal).
lh_wait() {
	local start c
	start=$(now_ms)
	while :; do
		c=$(lh_count "$1" "${4:-True}")
		if ((c >= $2)); then
			secs $(($(now_ms) - start))
			return 0
		fi
		if (($(now_ms) - start > $3 * 1000)); then
			# on stderr too: callers often send the seconds to /dev/null
			fail "waited $3 s for $2 '$1' record(s) (${4:-any}); have $c" >&2
		fi
		sleep 0.1
	done
}

# secs MS: "12.3"
secs() {
	printf '%d.%d\n' $(($1 / 1000)) $(($1 % 1000 / 100))
}

bd_start() {
	local name=$1 cfg=${2:-$1}
	"$BERTHD" --foreground --config "$W/$cfg.yaml" >>"$W/$name.log" 2>&1 &
	BD_PID[$name]=$!
}

bd_stop() {
	local name=$1 sig=${2:-TERM}
	kill -"$sig" "${BD_PID[$name]}" 2>/dev/null || true
	local rc=0
	wait "${BD_PID[$name]}" 2>/dev/null || rc=$?
	unset "BD_PID[$name]"
	return "$rc"
}

bd_wait_log() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -qF -- "$2" "$W/$1.log" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "berthd $1 did not log '$2' within $3 s"
}
