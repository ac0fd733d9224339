#!/usr/bin/env bash
#
# test_authcache.sh - the responders' credential cache (shared/authcache.h,
# sql/009_auth_cache.sql) against a real PostgreSQL, through nginx, with
# one berth-fcgi worker (so every request reaches the worker watched) and
# auth.cache_lease 6 s.
#
#   * The worker holds a lease in auth_caches. With its own PostgreSQL
#     backend stopped (SIGSTOP), it still answers tools/list: from its
#     cache (a request that needed the database would hang); and a ping in
#     a 2025-era session (the session is cached too).
#   * A revocation while that backend is stopped: the worker can neither
#     hear of it nor acknowledge it. `berth apikey revoke` returns only
#     once the worker's lease has run out (checked in auth_caches, not by
#     the clock), and the worker's next request is not answered from its
#     cache: it waits for PostgreSQL (still running 1.5 s later) and, once
#     the backend runs again, gets 401.
#   * An idle worker acknowledges a revocation at once: after `berth apikey
#     revoke` its lease is still live and its acknowledgement current; the
#     very next request is 401.
#   * Roles changed by `berth user grant`, and a user disabled in SQL
#     followed by SELECT berth_auth_barrier() (what docs/SECURITY.md tells
#     an admin to do), apply to the very next request.
#   * An address locked out is refused even with a key it used (and that
#     was cached) before the lock.
#   * Agent tools: an agent added or removed in SQL shows in tools/list
#     (notified, no barrier: a listing, not a permission).
#   * A worker killed with SIGKILL holds its lease until it runs out; the
#     replacement takes its own; revocation still reaches the next request.
#     SIGTERM gives the leases back (no live row left).
#   * auth.cache_lease 0: no lease, no cache, revocation as before.

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ -n $LIB_PY ]] || skip "python3 is needed to read JSON"
BUILD=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH_BIN=$BUILD/cli/berth
FCGI_BIN=$BUILD/fcgi/berth-fcgi
[[ -x $BERTH_BIN && -x $FCGI_BIN ]] || fail "build berth and berth-fcgi first"

LEASE=6
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-authcache.XXXXXX")
STOPPED=''
cleanup_work() {
	if [[ -n $STOPPED ]]; then
		kill -CONT "$STOPPED" 2>/dev/null || true
	fi
	rm -rf -- "$WORK"
}
trap 'rc=$?; cleanup_work; stack_cleanup "$rc"' EXIT
printf 'auth:\n  cache_lease: %s\n' "$LEASE" >"$WORK/extra.yaml"
stack_up --workers 1 --config-extra "$WORK/extra.yaml"
trap 'rc=$?; cleanup_work; stack_cleanup "$rc"' EXIT

"$BERTH_BIN" user create carol --role admin >/dev/null || fail "berth user create carol"
new_key() {
	"$BERTH_BIN" apikey create carol --name "$1" 2>/dev/null || fail "berth apikey create carol $1"
}
key_id() {
	psql_q "SELECT id FROM api_keys WHERE name = '$1'"
}

LIST_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}'
# list_curl KEY OUTFILE [MAX-TIME]: the curl of one 2026-era tools/list;
# OUTFILE gets the status line "CODE" then the body.
list_curl() {
	curl -sS --max-time "${3:-30}" -o "$2.body" -w '%{http_code}' -X POST "$BERTH_URL/mcp" \
		-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/list' \
		-H "Authorization: Bearer $1" --data "$LIST_BODY" >"$2" 2>>"$WORK/curl.err" || true
}
# list KEY: sets STATUS and BODY.
list() {
	list_curl "$1" "$WORK/one"
	STATUS=$(cat "$WORK/one")
	BODY=$(cat "$WORK/one.body")
}
# tool_names: the names tools/list answered in BODY, one per line.
tool_names() {
	"$LIB_PY" -c 'import json, sys
for t in json.loads(sys.argv[1])["result"]["tools"]:
    print(t["name"])' "$BODY" || fail "not a tools/list result: $(one_line "$BODY")"
}
ntools() {
	tool_names | wc -l
}
# holder: the backend pid of the worker's live lease (exactly one).
holder() {
	local rows
	rows=$(psql_q "SELECT holder FROM auth_caches WHERE lease_until > clock_timestamp()")
	[[ $rows =~ ^[0-9]+$ ]] || fail "expected one live lease in auth_caches, got: $(one_line "$rows")"
	printf '%s\n' "$rows"
}
now_ms() {
	date +%s%3N
}

# --- the lease, and answers from the cache ----------------------------------------------

KEY=$(new_key main)
list "$KEY"
assert_eq "$STATUS" 200 "tools/list with carol's key"
N_ADMIN=$(ntools)
H=$(holder)
pass "the worker answered tools/list ($N_ADMIN tools) and holds a lease in auth_caches (backend $H)"

# while_stopped WHAT CMD...: runs CMD OUTFILE (a curl writing its status
# to OUTFILE when done) once normally, then again with the worker's
# backend stopped, and sets CACHED to the ms the second took. From the
# cache the answer comes at once; a request that needed the backend would
# wait. Should the lease (or a last_used_at write) have fallen due in
# between (a very slow machine), the request waits for the backend: let it
# go and try again, three times at most. Not kill -0 to tell when curl is
# done: an exited child may linger as a zombie until it is waited for.
while_stopped() {
	local what=$1 attempt t0 bg
	shift
	CACHED=''
	for attempt in 1 2 3; do
		"$@" "$WORK/one"
		assert_eq "$(cat "$WORK/one")" 200 "$what before stopping the backend"
		kill -STOP "$H"
		STOPPED=$H
		t0=$(now_ms)
		rm -f -- "$WORK/bg"
		"$@" "$WORK/bg" &
		bg=$!
		for _ in $(seq 20); do
			[[ -s $WORK/bg ]] && break
			sleep 0.1
		done
		[[ -s $WORK/bg ]] && CACHED=$(($(now_ms) - t0))
		kill -CONT "$H"
		STOPPED=''
		wait "$bg" 2>/dev/null || true
		[[ -n $CACHED ]] && break
		note "attempt $attempt: $what waited for the stopped backend (renewal due); again"
	done
	[[ -n $CACHED ]] || fail "$what with the worker's backend stopped never came from the cache"
	assert_eq "$(cat "$WORK/bg")" 200 "$what with the backend stopped"
}
list_to() {
	list_curl "$KEY" "$1" 20
}
while_stopped tools/list list_to
pass "with the worker's PostgreSQL backend stopped, tools/list is still answered (200 in $CACHED ms): from the worker's cache"

# The same with a 2025-era session: its key and its session come from the
# worker's memory (shared/mcp_session.c keeps the sessions it loaded).
init_out=$(curl -sS --max-time 30 -D - -o /dev/null -X POST "$BERTH_URL/mcp" \
	-H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
	-H 'Accept: application/json, text/event-stream' \
	--data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"cache-test","version":"1"}}}')
SID=$(tr -d '\r' <<<"$init_out" | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')
[[ -n $SID ]] || fail "initialize answered no Mcp-Session-Id: $(one_line "$init_out")"
# ping_curl OUTFILE: a ping in SID, status into OUTFILE (written at the end).
ping_curl() {
	curl -sS --max-time 20 -o /dev/null -w '%{http_code}' -X POST "$BERTH_URL/mcp" \
		-H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
		-H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2025-11-25' \
		-H "Mcp-Session-Id: $SID" --data '{"jsonrpc":"2.0","id":2,"method":"ping"}' >"$1" 2>>"$WORK/curl.err" || true
}
while_stopped "a ping in the session" ping_curl
pass "a 2025-era session too: with the backend stopped, a ping in it is answered (200 in $CACHED ms)"

# --- a revocation the worker cannot hear ----------------------------------------------------

list "$KEY"
assert_eq "$STATUS" 200 "tools/list before the revocation"
kill -STOP "$H"
STOPPED=$H
t0=$(now_ms)
out=$("$BERTH_BIN" apikey revoke "$(key_id main)" 2>&1) || fail "berth apikey revoke: $out"
waited=$(($(now_ms) - t0))
state=$(psql_q "SELECT (lease_until <= clock_timestamp())::text || ' ' ||
                       (acked < (SELECT gen FROM auth_epoch))::text
                FROM auth_caches WHERE holder = $H")
assert_eq "$state" "true true" "the stopped worker's lease (ended, unacknowledged) when revoke returned"
note "berth apikey revoke waited $waited ms for the stopped worker's lease ($LEASE s) to run out"
pass "berth apikey revoke returned only once the stopped worker's lease had run out (it never acknowledged)"

rm -f -- "$WORK/bg"
list_curl "$KEY" "$WORK/bg" 60 &
bg=$!
sleep 1.5
[[ ! -s $WORK/bg ]] ||
	fail "the worker answered the revoked key ($(cat "$WORK/bg")) without its database: from a cache whose lease had run out"
kill -CONT "$H"
STOPPED=''
wait "$bg" || true
assert_eq "$(cat "$WORK/bg")" 401 "the revoked key once the backend runs again"
pass "its next request was not answered from the cache: it waited for PostgreSQL, then 401"

# --- an idle worker acknowledges at once ---------------------------------------------------

KEY2=$(new_key idle)
list "$KEY2"
assert_eq "$STATUS" 200 "tools/list with a second key"
list "$KEY2"
assert_eq "$STATUS" 200 "tools/list with the second key, again (cached)"
sleep 0.5
t0=$(now_ms)
out=$("$BERTH_BIN" apikey revoke "$(key_id idle)" 2>&1) || fail "berth apikey revoke: $out"
waited=$(($(now_ms) - t0))
H=$(holder)
state=$(psql_q "SELECT (acked >= (SELECT gen FROM auth_epoch))::text FROM auth_caches WHERE holder = $H")
assert_eq "$state" true "the idle worker's acknowledgement"
list "$KEY2"
assert_eq "$STATUS" 401 "the very next request with the revoked key"
note "berth apikey revoke took $waited ms with an idle worker (process start included)"
pass "an idle worker acknowledged the revocation itself (lease still live); the very next request -> 401"

# --- roles and SQL changes -------------------------------------------------------------------

KEY3=$(new_key roles)
list "$KEY3"
assert_eq "$STATUS" 200 "tools/list as admin"
n_before=$(ntools)
"$BERTH_BIN" user grant carol --env '*=viewer' >/dev/null || fail "berth user grant carol *=viewer"
list "$KEY3"
assert_eq "$STATUS" 200 "tools/list as viewer"
n_after=$(ntools)
((n_after < n_before)) || fail "tools/list after the grant of viewer: $n_after tools, as many as the admin's $n_before"
"$BERTH_BIN" user grant carol --env '*=admin' >/dev/null || fail "berth user grant carol *=admin"
list "$KEY3"
assert_eq "$(ntools)" "$n_before" "tools/list once admin again"
pass "berth user grant: the very next tools/list shows the viewer's $n_after tools, not the admin's $n_before (and $n_before once admin again)"

psql_q "UPDATE users SET disabled = true, disabled_at = now() WHERE username = 'carol'" >/dev/null
assert_eq "$(psql_q "SELECT berth_auth_barrier(62)")" t "berth_auth_barrier() after the SQL change"
list "$KEY3"
assert_eq "$STATUS" 401 "a key of a user disabled in SQL"
psql_q "UPDATE users SET disabled = false, disabled_at = NULL WHERE username = 'carol'" >/dev/null
psql_q "SELECT berth_auth_barrier(62)" >/dev/null
list "$KEY3"
assert_eq "$STATUS" 200 "the key after the user is enabled again"
pass "a user disabled in SQL, then SELECT berth_auth_barrier(): the very next request -> 401 (200 again once enabled)"

# --- a lockout reaches cached keys -----------------------------------------------------------

KEY4=$(new_key lock)
list "$KEY4"
assert_eq "$STATUS" 200 "tools/list before the lockout"
psql_q "INSERT INTO auth_failures (scope, subject, failures, locked_until)
        VALUES ('address', '127.0.0.1', 99, now() + interval '1 minute')
        ON CONFLICT (scope, subject) DO UPDATE SET locked_until = excluded.locked_until" >/dev/null
psql_q "SELECT berth_auth_barrier(62)" >/dev/null
list "$KEY4"
assert_eq "$STATUS" 429 "a key cached before its address was locked"
psql_q "DELETE FROM auth_failures" >/dev/null
list "$KEY4"
assert_eq "$STATUS" 200 "the key once the lock is gone"
pass "an address locked after its key was cached -> 429 on the next request (200 once unlocked)"

# --- agent tools follow the agents table -----------------------------------------------------

has_agent() {
	list "$KEY4"
	[[ $STATUS == 200 ]] || fail "tools/list: $STATUS"
	tool_names | grep -cx agent_cachetest || true
}
[[ $(has_agent) == 0 ]] || fail "agent_cachetest listed before it exists"
psql_q "INSERT INTO agents (environment, name, template) VALUES ('development', 'cachetest', 'Say hi.')" >/dev/null
seen=0
for _ in $(seq 50); do
	seen=$(has_agent)
	[[ $seen == 1 ]] && break
	sleep 0.1
done
assert_eq "$seen" 1 "agent_cachetest in tools/list after the INSERT"
psql_q "DELETE FROM agents WHERE name = 'cachetest'" >/dev/null
for _ in $(seq 50); do
	seen=$(has_agent)
	[[ $seen == 0 ]] && break
	sleep 0.1
done
assert_eq "$seen" 0 "agent_cachetest in tools/list after the DELETE"
pass "an agent added, then removed, in SQL shows in tools/list and leaves it (the listing is notified)"

# --- workers that die, workers that stop -----------------------------------------------------

KEY5=$(new_key kill)
list "$KEY5"
assert_eq "$STATUS" 200 "tools/list before the kill"
master=$(stack_fcgi_pid)
old_worker=$(pgrep -P "$master" | head -n 1)
[[ -n $old_worker ]] || fail "no worker of berth-fcgi $master"
old_holder=$(holder)
kill -KILL "$old_worker"
wait_for_status 30 200 "$BERTH_URL/healthz" || fail "berth-fcgi did not answer after its worker was killed"
list "$KEY5"
assert_eq "$STATUS" 200 "tools/list through the replacement worker"
t0=$(now_ms)
out=$("$BERTH_BIN" apikey revoke "$(key_id kill)" 2>&1) || fail "berth apikey revoke: $out"
waited=$(($(now_ms) - t0))
list "$KEY5"
assert_eq "$STATUS" 401 "the revoked key after the kill"
note "with a killed worker's lease (backend $old_holder) still live, berth apikey revoke took $waited ms"
pass "a worker killed with SIGKILL: the replacement took a lease; a revocation still reaches the next request (401)"

kill -TERM "$master"
for _ in $(seq 100); do
	kill -0 "$master" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$master" 2>/dev/null && fail "berth-fcgi $master did not stop on SIGTERM"
left=$(psql_q "SELECT count(*) FROM auth_caches WHERE lease_until > clock_timestamp() AND holder <> $old_holder")
assert_eq "$left" 0 "live leases after berth-fcgi stopped on SIGTERM"
pass "berth-fcgi stopped on SIGTERM: its worker gave its lease back"

# --- auth.cache_lease 0 ------------------------------------------------------------------------

fcgi_port=$(sed -n 's/^FCGI_PORT=//p' "$STACK_DIR/run/state")
sed -i "s/^  cache_lease: $LEASE\$/  cache_lease: 0/" "$BERTH_CONFIG"
grep -q '^  cache_lease: 0$' "$BERTH_CONFIG" || fail "could not set auth.cache_lease 0 in $BERTH_CONFIG"
psql_q "DELETE FROM auth_caches" >/dev/null
setsid "$FCGI_BIN" --config "$BERTH_CONFIG" --listen "127.0.0.1:$fcgi_port" --workers 1 \
	--pidfile "$STACK_DIR/run/berth-fcgi.pid" </dev/null >>"$STACK_DIR/log/berth-fcgi.log" 2>&1 &
wait_for_status 30 200 "$BERTH_URL/healthz" || fail "berth-fcgi did not come back with cache_lease 0"
KEY6=$(new_key off)
list "$KEY6"
assert_eq "$STATUS" 200 "tools/list without the cache"
assert_eq "$(psql_q "SELECT count(*) FROM auth_caches")" 0 "leases with auth.cache_lease 0"
"$BERTH_BIN" apikey revoke "$(key_id off)" >/dev/null 2>&1 || fail "berth apikey revoke (off)"
list "$KEY6"
assert_eq "$STATUS" 401 "the revoked key without the cache"
pass "auth.cache_lease 0: no lease taken, a revoked key -> 401 on the next request"
