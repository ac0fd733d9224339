#!/usr/bin/env bash
#
# test_auth.sh - API-key authentication end to end, through nginx, against
# GET /auth/whoami (the smallest protected path):
#   * a valid key reaches it as its owner, with the owner's roles;
#   * revoked, expired, malformed, unknown, empty and oversized tokens, no
#     token, and another scheme are refused with 401, a JSON body and
#     WWW-Authenticate (error="invalid_token" only when a token was sent);
#   * disabling a user (`berth user revoke`, or the column) cuts off the
#     very next request;
#   * the per-address lockout: N bad tokens give 429 with Retry-After, even
#     a good key is refused while it lasts, another address is not, and
#     after the window a valid key works again;
#   * every refusal is in the audit log, without the token;
#   * without the database: 503 with Retry-After, then 200 again.
#
# Users and keys are made with the `berth` CLI when it works, else with SQL
# (psql) the way the CLI would: the SHA-256 of the key, never the key.
# BERTH_TEST_AUTH_NO_CLI=1 forces SQL.

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ -n $LIB_PY ]] || skip "python3 is needed to read JSON"

stack_up

# --- helpers -------------------------------------------------------------------

PSQL=$(command -v psql || true)
for p in /usr/lib/postgresql/*/bin/psql; do
	[[ -x $p ]] && PSQL=$p
done
[[ -n $PSQL ]] || skip "psql is not installed"

BUILD=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH_BIN=$BUILD/cli/berth
FCGI_BIN=$BUILD/fcgi/berth-fcgi
export DATABASE_URL BERTH_CONFIG

# sql SQL [NAME=VALUE...]: runs SQL (from stdin, so :'NAME' variables are
# interpolated and quoted by psql), prints unaligned rows.
sql() {
	local q=$1 v args=()
	shift
	for v in "$@"; do
		args+=(-v "$v")
	done
	printf '%s\n' "$q" | "$PSQL" -X -q -At -v ON_ERROR_STOP=1 "${args[@]}" -d "$DATABASE_URL"
}

# The CLI is used when `berth user create` works (another part of the
# project; SQL does the same otherwise).
USE_CLI=0
if [[ ${BERTH_TEST_AUTH_NO_CLI:-0} == 1 ]]; then
	echo "NOTE BERTH_TEST_AUTH_NO_CLI=1: users and keys are made with SQL"
elif [[ -x $BERTH_BIN ]] && "$BERTH_BIN" user create cli-probe --role viewer >/dev/null 2>&1; then
	USE_CLI=1
	pass "berth user create works: users and keys are made with the CLI"
else
	fail "berth user create cli-probe --role viewer failed"
fi

# make_user NAME ENV=ROLE...: a user with these roles (ENV may be *).
make_user() {
	local name=$1 spec env role args=()
	shift
	if ((USE_CLI)); then
		for spec in "$@"; do
			if [[ ${spec%%=*} == '*' ]]; then
				args+=(--role "${spec#*=}")
			else
				args+=(--env "$spec")
			fi
		done
		"$BERTH_BIN" user create "$name" --email "$name@example.com" "${args[@]}" >/dev/null ||
			fail "berth user create $name"
	else
		sql "INSERT INTO users (username, email) VALUES (:'n', :'n' || '@example.com')" "n=$name"
		for spec in "$@"; do
			env=${spec%%=*} role=${spec#*=}
			sql "INSERT INTO user_roles (user_id, environment, role)
			     SELECT id, :'e', :'r' FROM users WHERE username = :'n'" \
				"n=$name" "e=$env" "r=$role"
		done
	fi
}

# make_key USER: prints a new key of USER.
make_key() {
	local user=$1 key
	if ((USE_CLI)); then
		key=$("$BERTH_BIN" apikey create "$user" --name "test" 2>/dev/null) ||
			fail "berth apikey create $user"
	else
		key=sk-$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
		sql "INSERT INTO api_keys (user_id, name, key_digest, key_prefix)
		     SELECT id, 'test', sha256(convert_to(:'k', 'UTF8')), left(:'k', 7)
		     FROM users WHERE username = :'u'" "u=$user" "k=$key"
	fi
	[[ $key =~ ^sk-[A-Za-z0-9_-]{43}$ ]] || fail "make_key $user: not a key: '${key:0:7}...'"
	printf '%s\n' "$key"
}

# The id of KEY, found by its digest as Berth finds it.
key_id() {
	sql "SELECT id FROM api_keys WHERE key_digest = sha256(convert_to(:'k', 'UTF8'))" "k=$1"
}

# req URL [curl args...]: sets STATUS, BODY, HEADERS (lower-cased names).
req() {
	local url=$1 out rc=0
	shift
	: >"$STACK_DIR/h" && : >"$STACK_DIR/b"
	out=$(curl -sS --max-time 30 -D "$STACK_DIR/h" -o "$STACK_DIR/b" -w '%{http_code}' "$@" "$url" 2>&1) || rc=$?
	((rc == 0)) || fail "curl $url: exit $rc: $out"
	STATUS=$out
	BODY=$(cat "$STACK_DIR/b")
	HEADERS=$(tr -d '\r' <"$STACK_DIR/h" | sed 's/^\([^:]*\):/\L\1:/')
}

# header NAME: the value of response header NAME (lower case), or "".
header() {
	printf '%s\n' "$HEADERS" | sed -n "s/^$1: //p" | head -n 1
}

# jpath TEXT a.b.c: the value at that path ("" when absent; objects as JSON).
jpath() {
	"$LIB_PY" -c '
import json, sys
o = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    o = o.get(k, "") if isinstance(o, dict) else ""
print(json.dumps(o, sort_keys=True) if isinstance(o, (dict, list)) else ("null" if o is None else o))
' "$1" "$2"
}

# whoami LABEL STATUS KEY-OR-HEADER [curl args...]: GET /auth/whoami with
# that Authorization header ("" = none), expecting STATUS and a JSON body.
whoami() {
	local label=$1 want=$2 auth=$3
	shift 3
	if [[ -n $auth ]]; then
		req "$BERTH_URL/auth/whoami" -H "Authorization: $auth" "$@"
	else
		req "$BERTH_URL/auth/whoami" "$@"
	fi
	[[ $STATUS == "$want" ]] || fail "$label -> $STATUS, expected $want: $(one_line "$BODY")"
	assert_contains "$(header content-type)" application/json "$label: Content-Type"
	assert_json "$BODY" "$label"
}

# refused LABEL HEADER TOKEN_SENT(0|1) [curl args...]: a 401 as RFC 6750
# wants it, with Berth's JSON error body.
refused() {
	local label=$1 auth=$2 sent=$3 www
	shift 3
	whoami "$label" 401 "$auth" "$@"
	www=$(header www-authenticate)
	if ((sent)); then
		assert_eq "$www" 'Bearer realm="berth", error="invalid_token"' "$label: WWW-Authenticate"
	else
		assert_eq "$www" 'Bearer realm="berth"' "$label: WWW-Authenticate"
	fi
	assert_eq "$(json_get "$BODY" error)" unauthorized "$label: error"
	[[ -n $(json_get "$BODY" message) ]] || fail "$label: no message"
	assert_eq "$(json_get "$BODY" request_id)" "$(header x-request-id)" "$label: request_id"
	pass "$label -> 401, WWW-Authenticate: $www, $(one_line "$BODY")"
}

# --- users and keys --------------------------------------------------------------

make_user alice development=admin staging=developer production=viewer
make_user bob '*=developer'
make_user carol '*=viewer'
alice_key=$(make_key alice)
bob_key=$(make_key bob)
carol_key=$(make_key carol)
revoked_key=$(make_key alice)
expired_key=$(make_key alice)
alice_id=$(sql "SELECT id FROM users WHERE username = 'alice'")
pass "users alice, bob, carol and their keys exist (alice id $alice_id)"

# --- a valid key -------------------------------------------------------------------

whoami "valid key" 200 "Bearer $alice_key"
assert_eq "$(jpath "$BODY" user.username)" alice "whoami user.username"
assert_eq "$(jpath "$BODY" user.id)" "$alice_id" "whoami user.id"
assert_eq "$(jpath "$BODY" user.email)" alice@example.com "whoami user.email"
assert_eq "$(jpath "$BODY" auth_method)" api_key "whoami auth_method"
assert_eq "$(jpath "$BODY" token_id)" "$(key_id "$alice_key")" "whoami token_id"
assert_eq "$(jpath "$BODY" roles)" '{"development": "admin", "production": "viewer", "staging": "developer"}' "whoami roles"
pass "valid key -> 200 as alice: $(one_line "$BODY")"

# The scheme name is case-insensitive (RFC 7235).
whoami "valid key, scheme 'bearer'" 200 "bearer $alice_key"
assert_eq "$(jpath "$BODY" user.username)" alice "whoami (bearer) user.username"
pass "valid key with scheme 'bearer' -> 200 as alice"

whoami "bob's key" 200 "Bearer $bob_key"
assert_eq "$(jpath "$BODY" user.username)" bob "bob: user.username"
assert_eq "$(jpath "$BODY" roles)" '{"*": "developer"}' "bob: roles"
pass "bob's key -> 200 as bob, roles {\"*\": \"developer\"}"

# last_used_at is written on use, and not again within the interval.
used1=$(sql "SELECT last_used_at FROM api_keys WHERE id = $(key_id "$alice_key")")
[[ -n $used1 ]] || fail "last_used_at not set after a successful request"
whoami "valid key again" 200 "Bearer $alice_key"
used2=$(sql "SELECT last_used_at FROM api_keys WHERE id = $(key_id "$alice_key")")
assert_eq "$used2" "$used1" "last_used_at within the touch interval"
pass "last_used_at set on first use ($used1), not rewritten by the next request"

# --- refusals ----------------------------------------------------------------------

if ((USE_CLI)); then
	"$BERTH_BIN" apikey revoke "$(key_id "$revoked_key")" >/dev/null 2>&1 || fail "berth apikey revoke"
else
	sql "UPDATE api_keys SET revoked_at = now() WHERE id = $(key_id "$revoked_key")"
fi
sql "UPDATE api_keys SET created_at = now() - interval '2 hours',
     expires_at = now() - interval '1 hour' WHERE id = $(key_id "$expired_key")"
# What an admin does after changing credentials in SQL (docs/SECURITY.md):
# wait until no responder can still answer from its cache.
sql "SELECT berth_auth_barrier(62)" >/dev/null
unknown_key=sk-$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')

refused "revoked key" "Bearer $revoked_key" 1
msg_revoked=$(json_get "$BODY" message)
refused "expired key" "Bearer $expired_key" 1
msg_expired=$(json_get "$BODY" message)
refused "unknown well-formed key" "Bearer $unknown_key" 1
msg_unknown=$(json_get "$BODY" message)
assert_eq "$msg_expired" "$msg_revoked" "message of expired vs revoked"
assert_eq "$msg_unknown" "$msg_revoked" "message of unknown vs revoked"
pass "revoked, expired and unknown keys get the same message: '$msg_revoked'"

refused "malformed token" "Bearer not-a-key" 1
refused "malformed key (bad character)" "Bearer ${alice_key:0:40}+x" 1
refused "key with another prefix" "Bearer pk-${alice_key:3}" 1
refused "empty bearer" "Bearer " 0
refused "'Bearer' with no token" "Bearer" 0
refused "no Authorization header" "" 0
assert_eq "$(json_get "$BODY" message)" "missing credentials" "no header: message"
refused "Basic scheme" "Basic YWxpY2U6c2VjcmV0" 0
big=$(head -c 4993 /dev/zero | tr '\0' 'a')
refused "oversized header (5000 bytes)" "Bearer $big" 1
assert_eq "$(json_get "$BODY" message)" "authorization header too long" "oversized: message"

# --- disabled users ------------------------------------------------------------------

if ((USE_CLI)); then
	"$BERTH_BIN" user revoke bob >/dev/null 2>&1 || fail "berth user revoke bob"
	how="berth user revoke bob"
else
	sql "UPDATE users SET disabled = true, disabled_at = now() WHERE username = 'bob'"
	sql "SELECT berth_auth_barrier(62)" >/dev/null
	how="UPDATE users SET disabled = true (bob)"
fi
refused "bob's key after $how" "Bearer $bob_key" 1
pass "$how cuts off bob's next request"

whoami "carol's key" 200 "Bearer $carol_key"
sql "UPDATE users SET disabled = true, disabled_at = now() WHERE username = 'carol'"
sql "SELECT berth_auth_barrier(62)" >/dev/null
refused "carol's key after UPDATE users SET disabled = true" "Bearer $carol_key" 1
reason=$(sql "SELECT details->>'reason' FROM audit_log WHERE action = 'auth_failed'
              AND details->>'token_id' = '$(key_id "$carol_key")' ORDER BY id DESC LIMIT 1" 2>/dev/null || true)
if [[ -n $reason ]]; then
	assert_eq "$reason" disabled "audited reason for carol"
fi
pass "disabling carol in the database cuts off her next request${reason:+ (audited reason: $reason)}"

# --- the audit log -----------------------------------------------------------------------

n=$(sql "SELECT count(*) FROM audit_log WHERE action = 'auth_failed' AND NOT success" 2>/dev/null || echo 0)
if ((n > 0)); then
	# revoked, expired, unknown, 3 malformed, empty, no token, none, Basic,
	# oversized, bob, carol
	((n >= 13)) || fail "only $n auth_failed rows in audit_log, expected at least 13"
	reasons=$(sql "SELECT string_agg(DISTINCT details->>'reason', ',' ORDER BY details->>'reason')
	               FROM audit_log WHERE action = 'auth_failed'")
	for r in revoked expired unknown malformed missing scheme too_big disabled; do
		assert_contains ",$reasons," ",$r," "audited reasons"
	done
	# Not a token, not even its first characters, in a refusal's row.
	leaked=$(sql "SELECT count(*) FROM audit_log
	              WHERE action IN ('auth_failed', 'auth.locked')
	              AND (details::text ~ '(sk-|pk-|not-a-key|aaaaaaaa)'
	                   OR coalesce(resource, '') ~ '(sk-|pk-|not-a-key)')")
	assert_eq "$leaked" 0 "refusal audit rows mentioning a token"
	who=$(sql "SELECT username FROM audit_log WHERE action = 'auth_failed'
	           AND details->>'reason' = 'revoked'
	           AND details->>'token_id' = :'id'" "id=$(key_id "$revoked_key")")
	assert_eq "$who" alice "user of the revoked-key refusal"
	ip=$(sql "SELECT DISTINCT host(ip_address) FROM audit_log WHERE action = 'auth_failed'")
	assert_eq "$ip" 127.0.0.1 "audited address"
	pass "audit_log has $n auth_failed rows (reasons $reasons), from 127.0.0.1, none with a key in it"
else
	fail "no auth_failed rows in audit_log"
fi

# --- lockout ---------------------------------------------------------------------------------

# A small lockout for this part: berth-fcgi is restarted with an auth:
# section appended to the stack's config, on the same port (nginx does not
# notice), with the stack's pid file so that `berth-stack down` stops it.
# Wide enough that the steps below fit in it on a loaded machine (a 6 s
# window once expired between two requests at load average 15).
WINDOW=15
LIMIT=5
cat >>"$BERTH_CONFIG" <<EOF
auth:
  lockout_address_failures: $LIMIT
  lockout_window: $WINDOW
EOF
fcgi_port=$(sed -n 's/^FCGI_PORT=//p' "$STACK_DIR/run/state")
[[ -n $fcgi_port ]] || fail "no FCGI_PORT in $STACK_DIR/run/state"
old=$(stack_fcgi_pid)
kill -TERM "$old"
for _ in $(seq 100); do
	kill -0 "$old" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$old" 2>/dev/null && fail "berth-fcgi (pid $old) did not stop"
setsid "$FCGI_BIN" --config "$BERTH_CONFIG" --listen "127.0.0.1:$fcgi_port" --workers 2 \
	--pidfile "$STACK_DIR/run/berth-fcgi.pid" </dev/null >>"$STACK_DIR/log/berth-fcgi.log" 2>&1 &
wait_for_status 30 200 "$BERTH_URL/healthz" || fail "berth-fcgi did not come back: $HTTP_STATUS"
pass "berth-fcgi restarted with auth.lockout_address_failures=$LIMIT, auth.lockout_window=${WINDOW}s"

# The bad requests come from another loopback address when the system lets
# curl bind one, so the refusals above (from 127.0.0.1) do not count here
# and 127.0.0.1 can show that the lock is per address.
src=127.0.0.2
if ! curl -sS --max-time 5 -o /dev/null --interface "$src" "$BERTH_URL/healthz" 2>/dev/null; then
	src=127.0.0.1
	echo "NOTE cannot send from 127.0.0.2: the lockout is tested from 127.0.0.1 alone"
	sleep "$WINDOW"
fi
from=(--interface "$src")

# Quickly (plain curl, no JSON parsing): all of them inside the window even
# on a slow machine.
codes=''
for i in $(seq $((LIMIT - 1))); do
	codes+=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code} ' "${from[@]}" \
		-H "Authorization: Bearer $unknown_key$i" "$BERTH_URL/auth/whoami")
done
assert_eq "$codes" "$(printf '401 %.0s' $(seq $((LIMIT - 1))))" "bad tokens 1..$((LIMIT - 1)) from $src"
pass "bad tokens 1..$((LIMIT - 1)) of $LIMIT from $src -> $codes"
whoami "bad token $LIMIT/$LIMIT from $src" 429 "Bearer not-a-key" "${from[@]}"
retry=$(header retry-after)
if ! [[ $retry =~ ^[0-9]+$ ]] || ((retry < 1 || retry > WINDOW)); then
	fail "Retry-After '$retry' is not 1..$WINDOW"
fi
assert_eq "$(json_get "$BODY" error)" too_many_requests "429 error"
pass "bad token $LIMIT/$LIMIT from $src -> 429, Retry-After: $retry, $(one_line "$BODY")"

whoami "valid key from locked $src" 429 "Bearer $alice_key" "${from[@]}"
retry=$(header retry-after)
[[ $retry =~ ^[0-9]+$ ]] || fail "429 without a Retry-After: '$retry'"
pass "a valid key from the locked address -> 429, Retry-After: $retry"

if [[ $src != 127.0.0.1 ]]; then
	whoami "valid key from 127.0.0.1 during the lock" 200 "Bearer $alice_key"
	pass "the lock is per address: 127.0.0.1 with a valid key -> 200 meanwhile"
fi

locked_rows=$(sql "SELECT count(*) FROM audit_log WHERE action = 'auth.locked' AND host(ip_address) = :'a'" "a=$src" 2>/dev/null || echo 0)
((locked_rows > 0)) || fail "no auth.locked row in audit_log for $src"
pass "audit_log has $locked_rows auth.locked row(s) for $src"

# Retry-After rounds up: once it has passed, so has the lock.
sleep "$retry"
whoami "valid key from $src after the window" 200 "Bearer $alice_key" "${from[@]}"
assert_eq "$(jpath "$BODY" user.username)" alice "after the window: user.username"
pass "after the window passed, the valid key from $src -> 200 as alice"

# --- the database goes away ---------------------------------------------------------------

# Every credential lives in PostgreSQL: without it the answer is 503 with
# Retry-After (come back later), never a 401 that would make a client drop
# a good key.
stack_cmd pg-stop --dir "$STACK_DIR"
whoami "valid key, database down" 503 "Bearer $alice_key"
[[ -n $(header retry-after) ]] || fail "503 without Retry-After"
pass "database down: valid key -> 503, Retry-After: $(header retry-after), $(one_line "$BODY")"
stack_cmd pg-start --dir "$STACK_DIR"
deadline=$((SECONDS + 15))
until req "$BERTH_URL/auth/whoami" -H "Authorization: Bearer $alice_key" && [[ $STATUS == 200 ]]; do
	((SECONDS < deadline)) || fail "whoami after the database came back -> $STATUS $(one_line "$BODY")"
	sleep 0.2
done
pass "database back: valid key -> 200 again"
