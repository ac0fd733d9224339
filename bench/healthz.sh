#!/usr/bin/env bash
# healthz.sh - GET /healthz through nginx: berth-fcgi against the trivial
# FastCGI responder (bench/fcgi-trivial), same nginx, same FastCGI port, same
# worker count, measured in the same run. Prints requests/s for both and
# their ratio. /healthz does one database round trip per request; the
# baseline does none, so the ratio is Berth's routing + database cost.
#
# usage: bench/healthz.sh [SECONDS] [CONNECTIONS]   (run from a build, or
#        with BERTH_BUILDDIR/BERTH_SRCDIR set as `make check` sets them)
set -euo pipefail
secs=${1:-5}
conns=${2:-16}
src=${BERTH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${BERTH_BUILDDIR:-$src/build}
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/install-deps)"; exit 1; }
export BERTH_SRCDIR=$src BERTH_BUILDDIR=$build
dir=$(mktemp -d /tmp/berth-bench.XXXXXX)
chmod 0755 "$dir"
trivial_pid=
cleanup() {
	[[ -n $trivial_pid ]] && kill "$trivial_pid" 2>/dev/null || true
	bash "$src/scripts/berth-stack" down --dir "$dir" >/dev/null 2>&1 || true
	rm -rf -- "$dir"
}
trap cleanup EXIT
bash "$src/scripts/berth-stack" up --dir "$dir" --workers 2 >/dev/null 2>"$dir/up.log" || { cat "$dir/up.log"; exit 1; }
# shellcheck source=/dev/null
. "$dir/stack.env"
port=$(sed -n 's/^FCGI_PORT=//p' "$dir/run/state")

rps() { # URL -> requests/s (wrk's figure), after a 1 s warm-up
	wrk -t2 -c"$conns" -d1s "$1" >/dev/null
	wrk -t2 -c"$conns" -d"${secs}s" "$1" | awk '/Requests\/sec/ {print $2}'
}

berth=$(rps "$BERTH_URL/healthz")
kill "$(cat "$dir/run/berth-fcgi.pid")"
for _ in $(seq 1 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
	sleep 0.1
done
"$build/bench/fcgi-trivial" --listen "127.0.0.1:$port" --workers 2 &
trivial_pid=$!
sleep 0.5
base=$(rps "$BERTH_URL/healthz")
printf 'GET /healthz via nginx, 2 workers, %s connections, %s s:\n' "$conns" "$secs"
printf '  trivial responder (baseline) %10.0f req/s\n' "$base"
printf '  berth-fcgi /healthz          %10.0f req/s\n' "$berth"
awk -v b="$berth" -v t="$base" 'BEGIN { printf "  ratio berth/baseline         %10.2f\n", b / t }'
