#!/usr/bin/env bash
# test_fcgi_modes.sh - berth-fcgi started every way an operator starts it
# (--listen unix and TCP, spawn-fcgi, systemd socket activation), its
# supervisor (a killed worker is replaced, SIGTERM stops everything and
# cleans up), a bad config refused before listening, and the request caps
# checked inside berth-fcgi itself (no web server in front), spoken to with
# libfcgi's own cgi-fcgi client.
. "$(dirname "$0")/../lib.sh"

require_cmd cgi-fcgi spawn-fcgi
FCGI=${BERTH_BUILDDIR:-$BERTH_SRCDIR}/fcgi/berth-fcgi
[[ -x $FCGI ]] || fail "berth-fcgi not built at $FCGI"

stack_up --db-only
CFG=$STACK_DIR/modes.yaml
printf 'database:\n  url: "%s"\n' "$DATABASE_URL" >"$CFG"
LOG=$STACK_DIR/log/modes.log
mkdir -p "$STACK_DIR/log"
PIDS=()
cleanup_modes() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}
# stack_cleanup exits with the status it finds in $?: keep the test's own.
modes_exit() {
	local rc=$?
	cleanup_modes
	(exit "$rc") || stack_cleanup
	stack_cleanup
}
trap modes_exit EXIT

# fcgi_req TARGET METHOD PATH [VAR=VALUE...]: one request through cgi-fcgi;
# sets FS (status) and FB (body).
fcgi_req() {
	local target=$1 method=$2 path=$3 out
	shift 3
	out=$(env -i REQUEST_METHOD="$method" REQUEST_URI="$path" \
		SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 "$@" \
		timeout 10 cgi-fcgi -bind -connect "$target" </dev/null 2>&1 || true)
	FS=$(printf '%s\n' "$out" | sed -n 's/^Status: \([0-9]*\).*/\1/p' | head -n 1)
	FB=$(printf '%s\n' "$out" | sed -n '/^\r\{0,1\}$/,$p' | tail -n +2)
}

# wait_fcgi TARGET: polls until /healthz answers 200 (10 s).
wait_fcgi() {
	local i
	for i in $(seq 1 100); do
		fcgi_req "$1" GET /healthz
		[[ $FS == 200 ]] && return 0
		sleep 0.1
	done
	return 1
}

children_of() {
	pgrep -P "$1" | wc -l
}

# 1. --listen unix:PATH, 3 workers, pid file.
SOCK=$STACK_DIR/m1.sock
"$FCGI" --config "$CFG" --listen "unix:$SOCK" --workers 3 \
	--pidfile "$STACK_DIR/m1.pid" 2>>"$LOG" &
PIDS+=($!)
wait_fcgi "$SOCK" || fail "--listen unix: /healthz never answered 200 (last $FS)"
assert_json "$FB" "unix /healthz body"
pass "--listen unix:$SOCK: /healthz -> 200 $(one_line "$FB")"
mode=$(stat -c %a "$SOCK")
assert_eq "$mode" 660 "socket mode"
pass "unix socket created with mode $mode"
parent=$(cat "$STACK_DIR/m1.pid")
assert_eq "$(children_of "$parent")" 3 "worker count"

# 2. The supervisor replaces a killed worker, and the others keep serving.
victim=$(pgrep -P "$parent" | head -n 1)
kill -KILL "$victim"
for _ in $(seq 1 50); do
	n=$(children_of "$parent")
	if [[ $n == 3 ]] && ! pgrep -P "$parent" | grep -qx "$victim"; then break; fi
	sleep 0.1
done
assert_eq "$(children_of "$parent")" 3 "workers after kill"
fcgi_req "$SOCK" GET /healthz
assert_eq "$FS" 200 "/healthz after a worker was killed"
pass "worker $victim killed with SIGKILL: replaced, 3 workers, /healthz -> 200"

# 3. Request caps inside berth-fcgi.
big=$(head -c 9000 /dev/zero | tr '\0' a)
fcgi_req "$SOCK" GET /healthz HTTP_X_BIG="$big"
assert_eq "$FS" 431 "9000-byte header"
assert_json "$FB" "431 body"
pass "9000-byte header -> 431 $(one_line "$FB")"
longpath=/$(head -c 3000 /dev/zero | tr '\0' p)
fcgi_req "$SOCK" GET "$longpath"
assert_eq "$FS" 414 "3000-byte path"
assert_json "$FB" "414 body"
pass "3000-byte path -> 414 $(one_line "$FB")"
fcgi_req "$SOCK" POST /healthz CONTENT_LENGTH=12abc
assert_eq "$FS" 400 "malformed Content-Length"
assert_json "$FB" "400 body"
pass "Content-Length: 12abc -> 400 $(one_line "$FB")"
fcgi_req "$SOCK" POST /healthz CONTENT_LENGTH=99999999999999999999999
assert_eq "$FS" 400 "overflowing Content-Length"
pass "Content-Length overflowing a long -> 400"
fcgi_req "$SOCK" POST /mcp CONTENT_LENGTH=5000000
assert_eq "$FS" 413 "declared 5 MB body"
pass "declared 5 MB body -> 413 before reading it $(one_line "$FB")"
fcgi_req "$SOCK" BREW /healthz
assert_eq "$FS" 405 "unknown method"
pass "method BREW -> 405 $(one_line "$FB")"
fcgi_req "$SOCK" GET '/healthz/../healthz'
assert_eq "$FS" 404 "dot-dot path"
pass "/healthz/../healthz -> 404 (paths are matched exactly)"
fcgi_req "$SOCK" GET /healthz HTTP_X_REQUEST_ID='abc"\r\nX-Evil: 1'
assert_eq "$FS" 200 "hostile request id"
if [[ $FB == *Evil* ]]; then fail "hostile X-Request-Id echoed"; fi
pass "hostile X-Request-Id replaced, not echoed"

# 4. SIGTERM: the parent stops its workers, removes socket and pid file.
kill -TERM "$parent"
for _ in $(seq 1 100); do kill -0 "$parent" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$parent" 2>/dev/null; then fail "berth-fcgi still running 10 s after SIGTERM"; fi
wait "$parent" && rc=0 || rc=$?
assert_eq "$rc" 0 "exit status after SIGTERM"
[[ -e $SOCK ]] && fail "socket left behind after SIGTERM"
[[ -e $STACK_DIR/m1.pid ]] && fail "pid file left behind after SIGTERM"
pass "SIGTERM: exit 0, no workers left, socket and pid file removed"

# 5. --listen HOST:PORT.
port=$("$LIB_PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$FCGI" --config "$CFG" --listen "127.0.0.1:$port" --workers 1 2>>"$LOG" &
PIDS+=($!)
wait_fcgi "127.0.0.1:$port" || fail "--listen TCP: no 200 (last $FS)"
pass "--listen 127.0.0.1:$port: /healthz -> 200"

# 6. Under spawn-fcgi (the socket arrives on fd 0).
SOCK2=$STACK_DIR/m2.sock
spawn-fcgi -n -s "$SOCK2" -M 0600 -- "$FCGI" --config "$CFG" --workers 2 2>>"$LOG" &
PIDS+=($!)
wait_fcgi "$SOCK2" || fail "spawn-fcgi: no 200 (last $FS)"
pass "under spawn-fcgi (fd 0): /healthz -> 200"

# 7. Under systemd socket activation (LISTEN_FDS, fd 3).
if command -v systemd-socket-activate >/dev/null 2>&1; then
	SOCK3=$STACK_DIR/m3.sock
	systemd-socket-activate -l "$SOCK3" -- "$FCGI" --config "$CFG" --workers 2 2>>"$LOG" &
	PIDS+=($!)
	for _ in $(seq 1 50); do [[ -S $SOCK3 ]] && break; sleep 0.1; done
	wait_fcgi "$SOCK3" || fail "systemd socket activation: no 200 (last $FS)"
	pass "under systemd-socket-activate (LISTEN_FDS): /healthz -> 200"
else
	echo "NOTE systemd-socket-activate not installed: socket activation not exercised"
fi

# 8. A bad config: exit 1 before listening, naming file, line and key.
printf 'database:\n  connect_timeout: soon\n' >"$STACK_DIR/bad.yaml"
out=$("$FCGI" --config "$STACK_DIR/bad.yaml" --listen "unix:$STACK_DIR/bad.sock" 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 1 "exit status with a bad config"
assert_contains "$out" "bad.yaml:2" "file and line"
assert_contains "$out" "database.connect_timeout" "key"
[[ -e $STACK_DIR/bad.sock ]] && fail "socket created despite a bad config"
pass "bad config -> exit 1, nothing listening: $(printf '%s' "$out" | grep -m1 bad.yaml)"
