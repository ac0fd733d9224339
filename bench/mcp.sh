#!/usr/bin/env bash
# mcp.sh - authenticated MCP through nginx: tools/list and tools/call
# station_status on berth-fcgi against the trivial FastCGI responder
# (bench/fcgi-trivial), same nginx, same FastCGI port, same worker count,
# measured in the same run, at 32 and 128 connections.
#
# The requests are of the 2026 era (MCP-Protocol-Version 2026-07-28, the
# per-request _meta envelope, Mcp-Method/Mcp-Name), which needs no session:
# each one is authenticated by its API key and answered on its own, as a
# stateless client would send them. bench/mcp.lua builds them and checks
# every response (200 and a JSON-RPC result; no isError); a run with any
# other answer is printed as INVALID and the script exits 1. The baseline
# gets the very same request (same headers, same body, POST /mcp: same
# nginx location) and answers its fixed 200 JSON without reading it.
#
# Order: for each connection count in turn, the baseline and Berth's
# tools/list take turns over several rounds, with a baseline run at both
# ends (see "Rounds" below); then Berth, started once more, runs
# tools/call and the 2025 session and, restarted with auth.cache_lease 0,
# tools/list without the credential cache (each request asks PostgreSQL,
# for comparison). The responders take turns on the one FastCGI port;
# berth-fcgi is restarted as berth-stack starts it.
# Prints, per run: requests/s, p50 and p99 latency (wrk --latency) and the
# ratio to the baseline; per connection count, tools/list's ratio in each
# round and their median; then the RSS of berth-fcgi's master and of each
# worker (ps -o rss) after Berth's runs, each with its PSS
# (/proc/PID/smaps_rollup); then the load average before and after, since
# the figures are only comparable within one run on a shared machine.
#
# usage: bench/mcp.sh [SECONDS] [WORKERS]   (run from a build, or with
#        BERTH_BUILDDIR/BERTH_SRCDIR set as `make check` sets them)
#        WORKERS defaults to 4, berth-fcgi's own default (fcgi.workers)
#        and berth-stack's; both responders always get the same count.
#        BERTH_BENCH_CONNS="32 128" chooses the connection counts,
#        BERTH_BENCH_ROUNDS=5 the number of tools/list rounds;
#        GLIBC_TUNABLES, for both responders, replaces berth-stack's
#        malloc setting (glibc.malloc.tcache_count=7 is glibc's default).
set -euo pipefail
secs=${1:-10}
workers=${2:-4}
conns_list=${BERTH_BENCH_CONNS:-32 128}
src=${BERTH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${BERTH_BUILDDIR:-$src/build}
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/install-deps)"; exit 1; }
export BERTH_SRCDIR=$src BERTH_BUILDDIR=$build
# berth-fcgi runs with berth-stack's malloc setting (GLIBC_TUNABLES); the
# baseline gets the same, so neither side has a setting the other lacks.
tunables=${GLIBC_TUNABLES:-$(sed -n 's/^BERTH_FCGI_TUNABLES=//p' "$src/scripts/berth-stack")}
lua=$src/bench/mcp.lua
dir=$(mktemp -d /tmp/berth-bench.XXXXXX)
chmod 0755 "$dir"
trivial_pid=
cleanup() {
	if [[ -n $trivial_pid ]]; then
		kill "$trivial_pid" 2>/dev/null || true
	fi
	bash "$src/scripts/berth-stack" down --dir "$dir" >/dev/null 2>&1 || true
	rm -rf -- "$dir"
}
trap cleanup EXIT
bash "$src/scripts/berth-stack" up --dir "$dir" --workers "$workers" >/dev/null 2>"$dir/up.log" || { cat "$dir/up.log"; exit 1; }
set -a
# shellcheck source=/dev/null
. "$dir/stack.env"
set +a
port=$(sed -n 's/^FCGI_PORT=//p' "$dir/run/state")
url=$BERTH_URL/mcp

# A user and an API key, as an operator makes them.
"$build/cli/berth" user create bench --email bench@example.com --role admin >/dev/null
BERTH_BENCH_KEY=$("$build/cli/berth" apikey create bench --name bench 2>/dev/null)
[[ $BERTH_BENCH_KEY =~ ^sk- ]] || { echo "berth apikey create printed no key"; exit 1; }
export BERTH_BENCH_KEY BERTH_BENCH_TOOL=station_status

# to_ms VALUE: wrk's "1.23ms" / "850.00us" / "1.02s" in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
		printf "%.2f", n }'
}

# run LABEL CONNS METHOD EXPECT [SESSION]: one measured wrk run (after a
# 1 s warm-up) of bench/mcp.lua (2025 era in SESSION when given); appends
# "LABEL|CONNS|rps|p50|p99|verdict" to $dir/rows.
run() {
	local label=$1 c=$2 out rps p50 p99 check verdict
	export BERTH_BENCH_METHOD=$3 BERTH_BENCH_EXPECT=$4 BERTH_BENCH_SESSION=${5:-}
	wrk -t2 -c"$c" -d1s -s "$lua" "$url" >/dev/null
	out=$(wrk -t2 -c"$c" -d"${secs}s" --latency -s "$lua" "$url")
	printf '%s\n' "$out" >>"$dir/wrk.log"
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
	p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
	check=$(grep '^CHECK ' <<<"$out" || true)
	if [[ $check =~ responses=([0-9]+)\ non200=([0-9]+)\ unexpected=([0-9]+) ]] &&
		((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] == 0 && BASH_REMATCH[3] == 0)); then
		verdict="ok: ${BASH_REMATCH[1]} x 200 with $4"
	else
		verdict="INVALID (${check:-no CHECK line}): see below"
		INVALID=1
		printf '%s\n' "$out" >>"$dir/invalid.log"
		# One request by hand, to show what the server answers.
		curl -sS -i -X POST "$url" -H "Authorization: Bearer $BERTH_BENCH_KEY" \
			-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
			-H 'MCP-Protocol-Version: 2026-07-28' -H "Mcp-Method: $3" \
			-H "Mcp-Name: station_status" \
			--data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$3\",\"params\":{\"name\":\"station_status\",\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}" \
			>>"$dir/invalid.log" 2>&1 || true
	fi
	if grep -q '^  Socket errors' <<<"$out"; then
		verdict="$verdict; wrk:$(grep '^  Socket errors' <<<"$out" | cut -d: -f2)"
	fi
	printf '%s|%s|%s|%s|%s|%s\n' "$label" "$c" "$rps" "$p50" "$p99" "$verdict" >>"$dir/rows"
}
INVALID=0
: >"$dir/rows"
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

# port_free: waits (5 s at most) until nothing accepts on the FastCGI port.
port_free() {
	for _ in $(seq 1 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 0
		sleep 0.1
	done
	echo "the FastCGI port $port is still taken"
	exit 1
}
# port_taken: waits (10 s at most) until something accepts on it.
port_taken() {
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on the FastCGI port $port"
	exit 1
}
stop_berth() {
	kill "$(head -n 1 "$dir/run/berth-fcgi.pid")"
	port_free
}
# start_berth: berth-fcgi again as berth-stack starts it (same config,
# port, workers and pid file, so that `berth-stack down` still stops it).
start_berth() {
	local config=${1:-$BERTH_CONFIG}
	rm -f -- "$dir/run/berth-fcgi.pid"
	env "DATABASE_URL=$DATABASE_URL" "BERTH_CONFIG=$config" "GLIBC_TUNABLES=$tunables" setsid \
		"$build/fcgi/berth-fcgi" --config "$config" --listen "127.0.0.1:$port" \
		--workers "$workers" --pidfile "$dir/run/berth-fcgi.pid" </dev/null \
		>>"$dir/berth-fcgi-bench.log" 2>&1 &
	port_taken
	for _ in $(seq 1 50); do
		[[ -s $dir/run/berth-fcgi.pid ]] && break
		sleep 0.1
	done
}
# start_trivial [BODY_BYTES]: the baseline, its body padded to BODY_BYTES.
start_trivial() {
	GLIBC_TUNABLES=$tunables "$build/bench/fcgi-trivial" --listen "127.0.0.1:$port" \
		--workers "$workers" --body-bytes "${1:-0}" &
	trivial_pid=$!
	port_taken
}
stop_trivial() {
	kill "$trivial_pid"
	wait "$trivial_pid" 2>/dev/null || true
	trivial_pid=
	port_free
}

# Rounds: for each connection count, the baseline and Berth's tools/list
# take turns, ROUNDS times (BERTH_BENCH_ROUNDS, default 5), with a
# baseline round at both ends:
#   T1 B1 T2 B2 ... Tn Bn T(n+1)
# Each Berth round's ratio is taken against the mean of the two baseline
# rounds beside it, and the median of those ratios is the figure: on a
# machine shared with other work the load drifts during a run, and a
# baseline measured at one end only, or a single round, would credit or
# charge that drift to Berth. Neighbours are one run apart (the responder
# is restarted between runs, as the two share the FastCGI port), not a
# whole round of every connection count. The other Berth rows
# (tools/call, the 2025 session, no cache) run once, after the rounds,
# and are compared with the mean of all baseline rounds.
rounds=${BERTH_BENCH_ROUNDS:-5}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "BERTH_BENCH_ROUNDS must be a whole number from 1"; exit 2; }
baseline_run() {
	start_trivial
	run "trivial responder (baseline) $1" "$2" tools/list '"status":"ok"'
	stop_trivial
}
stop_berth
for c in $conns_list; do
	for r in $(seq 1 "$rounds"); do
		baseline_run "$r" "$c"
		start_berth
		run "berth tools/list $r" "$c" tools/list '"result":'
		stop_berth
	done
	baseline_run $((rounds + 1)) "$c"
done

# --- the other Berth rows ---------------------------------------------------------
start_berth
# A 2025-era session (initialize, notifications/initialized) for the "2025
# session" rows: the same request with Mcp-Session-Id, which costs the
# session's lookup on top of the key's.
init_out=$(curl -sS -D - -o /dev/null -X POST "$url" -H "Authorization: Bearer $BERTH_BENCH_KEY" \
	-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	--data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"berth-bench","version":"1"}}}')
session=$(tr -d '\r' <<<"$init_out" | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')
[[ -n $session ]] || { echo "initialize answered no Mcp-Session-Id: $init_out"; exit 1; }
curl -sS -o /dev/null -X POST "$url" -H "Authorization: Bearer $BERTH_BENCH_KEY" \
	-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	-H 'MCP-Protocol-Version: 2025-11-25' -H "Mcp-Session-Id: $session" \
	--data '{"jsonrpc":"2.0","method":"notifications/initialized"}'
# The size of the answer, for the padded baseline row below.
body_bytes=$(curl -sS -o /dev/null -w '%{size_download}' -X POST "$url" \
	-H "Authorization: Bearer $BERTH_BENCH_KEY" -H 'Content-Type: application/json' \
	-H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
	-H 'Mcp-Method: tools/list' \
	--data '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}')
for c in $conns_list; do
	run "berth tools/call station_status" "$c" tools/call '"result":'
	run "berth tools/list, 2025 session" "$c" tools/list '"result":' "$session"
done
master=$(head -n 1 "$dir/run/berth-fcgi.pid")
# pss PID: the proportional set size in kB (shared pages divided among the
# processes that map them), "?" when /proc does not say. RSS counts every
# shared library page in full in each process; PSS is what one more worker
# actually costs.
pss() {
	if [[ -r /proc/$1/smaps_rollup ]]; then
		awk '/^Pss:/ {print $2; found = 1} END {if (!found) print "?"}' "/proc/$1/smaps_rollup"
	else
		echo '?'
	fi
}
rss="master pid $master $(ps -o rss= -p "$master" | tr -d ' ') kB (PSS $(pss "$master") kB)"
while read -r pid kb; do
	rss="$rss; worker pid $pid $kb kB (PSS $(pss "$pid") kB)"
done < <(ps -o pid=,rss= --ppid "$master")

# --- Berth without its credential cache (auth.cache_lease: 0), for comparison:
# every request then asks PostgreSQL for its credential, as before migration 009.
stop_berth
if grep -q '^auth:' "$BERTH_CONFIG"; then
	echo "the stack's config has an auth: section already; cannot add cache_lease: 0"
	exit 1
fi
{ cat "$BERTH_CONFIG"; printf 'auth:\n  cache_lease: 0\n'; } >"$dir/config-nocache.yaml"
start_berth "$dir/config-nocache.yaml"
for c in $conns_list; do
	run "berth tools/list, no cache" "$c" tools/list '"result":'
done
stop_berth

# --- for comparison: the baseline padded to the size of Berth's answer ------------
# Not part of any ratio above: it shows how much of the gap is nginx and the
# client carrying Berth's larger answer rather than Berth's own work.
start_trivial "$body_bytes"
for c in $conns_list; do
	run "trivial, ${body_bytes}-byte body" "$c" tools/list '"status":"ok"'
done
stop_trivial

# --- report ----------------------------------------------------------------------
# rps LABEL CONNS: that run's requests/s.
rps_of() {
	awk -F'|' -v l="$1" -v c="$2" '$1 == l && $2 == c {print $3}' "$dir/rows"
}
printf 'POST /mcp via nginx, 2026-07-28 era with an API key, %s workers, %s s per run (wrk -t2 --latency), %s rounds:\n' \
	"$workers" "$secs" "$rounds"
printf '  %-5s %-34s %10s %9s %9s %7s  %s\n' conns run 'req/s' 'p50 ms' 'p99 ms' ratio check
for c in $conns_list; do
	base=$(awk -F'|' -v c="$c" '$1 ~ /^trivial responder \(baseline\)/ && $2 == c {s += $3; n++} END {if (n) print s / n}' "$dir/rows")
	ratios=
	# In the order they ran; a tools/list round against its two neighbours.
	while IFS='|' read -r label conns rps p50 p99 verdict; do
		[[ $conns == "$c" ]] || continue
		b=$base
		if [[ $label =~ ^berth\ tools/list\ ([0-9]+)$ ]]; then
			r=${BASH_REMATCH[1]}
			b=$(awk -v x="$(rps_of "trivial responder (baseline) $r" "$c")" \
				-v y="$(rps_of "trivial responder (baseline) $((r + 1))" "$c")" 'BEGIN {print (x + y) / 2}')
			ratios="$ratios $(awk -v a="$rps" -v b="$b" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
		fi
		awk -v c="$conns" -v l="$label" -v r="$rps" -v p50="$p50" -v p99="$p99" -v b="$b" -v v="$verdict" 'BEGIN {
			printf "  %-5s %-34s %10.0f %9.2f %9.2f %7.2f  %s\n", c, l, r, p50, p99, (b > 0 ? r / b : 0), v }'
	done <"$dir/rows"
	median=$(tr ' ' '\n' <<<"$ratios" | sed '/^$/d' | sort -n |
		awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2}')
	printf '  %-5s berth tools/list: ratio per round%s; median %s\n' "$c" "$ratios" "$median"
done
printf '(ratio of a "berth tools/list N" round: requests/s over the mean of baseline rounds N and N+1;\n'
printf ' of the other rows: over the mean of all baseline rounds at the same connection count;\n'
printf ' "trivial, N-byte body" is the baseline padded to the size of Berth'"'"'s tools/list answer)\n'
printf 'berth-fcgi RSS after its runs (ps -o rss): %s\n' "$rss"
printf 'malloc setting of both responders: GLIBC_TUNABLES=%s\n' "${tunables:-(none)}"
printf 'load average (1, 5, 15 min): %s before, %s after; %s CPUs\n' "$load_before" \
	"$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')" "$(nproc 2>/dev/null || echo '?')"
if ((INVALID)); then
	echo "---- wrk output and a sample answer of the invalid run(s) ----"
	cat "$dir/invalid.log"
	echo "INVALID: at least one run did not get 200s with a JSON-RPC result; its figures mean nothing"
	exit 1
fi
