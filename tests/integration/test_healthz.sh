#!/usr/bin/env bash
#
# test_healthz.sh - the whole stack, end to end, through nginx and Apache:
# /healthz answers 200 with JSON; unknown paths 404, wrong methods 405 and
# oversized bodies 413, all as JSON (Berth's own answer for a body over its
# 1 MiB cap, the web server's for one over 2 MiB); PostgreSQL stopped gives
# 503 and started again gives 200 without restarting berth-fcgi.

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

stack_up --apache

fronts=(nginx apache)
declare -A url=([nginx]=$BERTH_URL [apache]=$BERTH_APACHE_URL)

# Berth's cap is 1 MiB, the web servers' 2 MiB.
over_berth=$(make_body $((3 * 1024 * 1024 / 2)))
over_web=$(make_body $((3 * 1024 * 1024)))

for f in "${fronts[@]}"; do
	u=${url[$f]}

	expect_json "$f GET /healthz" 200 "$u/healthz"
	assert_eq "$(json_get "$HTTP_BODY" status)" ok "$f /healthz status"

	# The web server's own 404 (not a Berth path) and Berth's (a Berth
	# prefix, no such endpoint).
	expect_json "$f GET /no-such-path" 404 "$u/no-such-path"
	expect_json "$f GET /auth/no-such-endpoint" 404 "$u/auth/no-such-endpoint"

	expect_json "$f POST /healthz" 405 "$u/healthz" -X POST
	expect_json "$f DELETE /healthz" 405 "$u/healthz" -X DELETE

	# 1.5 MiB: passes the web server, Berth refuses it.
	expect_json "$f POST /healthz 1.5 MiB" 413 "$u/healthz" \
		-H 'Content-Type: application/json' --data-binary "@$over_berth"
	expect_json "$f POST /mcp 1.5 MiB" 413 "$u/mcp" \
		-H 'Content-Type: application/json' --data-binary "@$over_berth"
	# 3 MiB: the web server refuses it before Berth sees it.
	expect_json "$f POST /mcp 3 MiB" 413 "$u/mcp" \
		-H 'Content-Type: application/json' --data-binary "@$over_web"
	assert_contains "$HTTP_BODY" "web server" "$f 3 MiB answered by the web server"
done

# Request ids: 16 hex digits, all different. Each worker draws random bytes
# for 32 ids at a time, so 80 requests over the workers take every worker
# past at least one refill; a client's own sane id is kept.
ids=$(for _ in $(seq 1 80); do
	curl -sS -o /dev/null -D - "$BERTH_URL/healthz" | tr -d '\r' |
		sed -n 's/^[Xx]-[Rr]equest-[Ii]d: //p'
done)
assert_eq "$(grep -cE '^[0-9a-f]{16}$' <<<"$ids")" 80 "request ids of 80 requests are 16 hex digits"
assert_eq "$(sort -u <<<"$ids" | wc -l)" 80 "request ids of 80 requests are all different"
assert_eq "$(curl -sS -o /dev/null -D - -H 'X-Request-Id: trace-42' "$BERTH_URL/healthz" |
	tr -d '\r' | sed -n 's/^[Xx]-[Rr]equest-[Ii]d: //p')" trace-42 "a client's request id is kept"

# The database goes away: the responders say so, and come back by themselves.
pid_before=$(stack_fcgi_pid)
[[ -n $pid_before ]] || fail "no berth-fcgi pid file in $STACK_DIR/run"
stack_cmd pg-stop --dir "$STACK_DIR"
pass "PostgreSQL stopped"

for f in "${fronts[@]}"; do
	expect_json "$f GET /healthz, database down" 503 "${url[$f]}/healthz"
	assert_eq "$(json_get "$HTTP_BODY" status)" unavailable "$f /healthz status, database down"
done

stack_cmd pg-start --dir "$STACK_DIR"
pass "PostgreSQL started again"

# Every worker may need one failed query to notice, and a worker whose last
# connection attempt failed tries again only after a second (db.c's rate
# limit): once one answers 200, the others do within that second.
for f in "${fronts[@]}"; do
	wait_for_status 15 200 "${url[$f]}/healthz" ||
		fail "$f /healthz after the database came back -> $HTTP_STATUS $(one_line "$HTTP_BODY")"
done
sleep 1.2
for f in "${fronts[@]}"; do
	expect_json "$f GET /healthz, database back" 200 "${url[$f]}/healthz"
	assert_eq "$(json_get "$HTTP_BODY" status)" ok "$f /healthz status, database back"
done

pid_after=$(stack_fcgi_pid)
assert_eq "$pid_after" "$pid_before" "berth-fcgi pid"
kill -0 "$pid_after" 2>/dev/null || fail "berth-fcgi (pid $pid_after) is gone"
pass "berth-fcgi was not restarted (pid $pid_after before and after)"
