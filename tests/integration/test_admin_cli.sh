#!/usr/bin/env bash
# test_admin_cli.sh - the admin commands of the real `berth` against a
# private PostgreSQL: user create/list/show/grant/revoke, apikey
# create/list/revoke, audit listing, --json, export, verify, and a row
# edited behind the append-only trigger's back found by `audit verify`.
. "$(dirname "$0")/../lib.sh"

BIN=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH=$BIN/cli/berth
[[ -x $BERTH ]] || fail "berth not built at $BERTH"
export BERTH_SQL_DIR=$BERTH_SRCDIR/sql
unset BERTH_CONFIG CLOUDSHIP_REGISTRATION_KEY CLOUDSHIP_ENDPOINT CLOUDSHIP_STATION_NAME

stack_up --db-only
W=$STACK_DIR/admin
mkdir -p "$W"

# The environments come from the config; the database from DATABASE_URL.
cat >"$W/config.yaml" <<'YAML'
environments: [development, staging, production]
YAML
b() {
	"$BERTH" --config "$W/config.yaml" "$@"
}
# run NAME ARGS...: runs berth, keeps stdout in OUT, stderr in ERR, exit in RC.
run() {
	RC=0
	b "$@" >"$W/out" 2>"$W/err" || RC=$?
	OUT=$(cat "$W/out")
	ERR=$(cat "$W/err")
}

run migrate
assert_eq "$RC" 0 "berth migrate: $ERR"
pass "berth migrate -> $(one_line "$OUT")"

# --- users -----------------------------------------------------------------
run user create alice --role viewer --env development=admin \
	--env staging=developer --email alice@example.org
assert_eq "$RC" 0 "user create alice: $ERR"
assert_contains "$OUT" "created user alice" "user create output"
pass "user create alice --role viewer --env development=admin --env staging=developer -> $(one_line "$OUT")"

printf 'correct horse battery staple\n' >"$W/pw"
run user create bob --env production=none --password-stdin <"$W/pw"
assert_eq "$RC" 0 "user create bob: $ERR"
h=$(psql_q "SELECT password_hash FROM users WHERE username = 'bob'")
[[ $h == scrypt\$* ]] || fail "bob's password is not stored as scrypt: $(one_line "$h")"
pass "user create bob --password-stdin -> password stored as scrypt\$..."

run user create alice --role admin
assert_eq "$RC" 1 "duplicate user create"
assert_contains "$ERR" "already exists" "duplicate user message"
n=$(psql_q "SELECT count(*) FROM users WHERE username = 'alice'")
assert_eq "$n" 1 "one alice"
pass "duplicate user create -> exit 1: $(one_line "$ERR")"

run user create carol --env moon=admin
assert_eq "$RC" 1 "unknown environment"
assert_contains "$ERR" "moon" "unknown environment named"
run user create carol --role overlord
assert_eq "$RC" 1 "unknown role"
assert_contains "$ERR" "overlord" "unknown role named"
run user create carol --env development
assert_eq "$RC" 2 "--env without ROLE"
run user create 'car ol' --role viewer
assert_eq "$RC" 1 "username with a space"
run user create
assert_eq "$RC" 2 "user create without NAME"
n=$(psql_q "SELECT count(*) FROM users WHERE username LIKE 'car%'")
assert_eq "$n" 0 "no carol"
pass "bad environment/role/name -> exit 1, malformed arguments -> exit 2, nothing created"

run user list
assert_eq "$RC" 0 "user list"
assert_contains "$OUT" "alice" "list has alice"
line=$(grep -E '^[0-9]+ +alice ' <<<"$OUT" || true)
assert_contains "$line" "*=viewer" "alice's default role"
assert_contains "$line" "development=admin" "alice's development role"
assert_contains "$line" "staging=developer" "alice's staging role"
pass "user list -> $(one_line "$line")"

run user grant alice --env production=developer --env staging=viewer
assert_eq "$RC" 0 "user grant: $ERR"
r=$(psql_q "SELECT string_agg(environment || '=' || role, ',' ORDER BY environment) FROM user_roles JOIN users ON users.id = user_id WHERE username = 'alice'")
assert_eq "$r" "*=viewer,development=admin,production=developer,staging=viewer" "alice's roles after grant"
pass "user grant alice --env production=developer --env staging=viewer -> $r"
run user grant alice --env production=none
assert_eq "$RC" 0 "grant none"
run user grant nobody --env production=viewer
assert_eq "$RC" 1 "grant to an unknown user"
run user grant alice
assert_eq "$RC" 2 "grant without --env"
pass "user grant ROLE none accepted, unknown user -> exit 1, no --env -> exit 2"

# --- API keys ----------------------------------------------------------------
run apikey create alice --name laptop --expires 30d
assert_eq "$RC" 0 "apikey create: $ERR"
KEY=$OUT
[[ $KEY =~ ^sk-[A-Za-z0-9_-]{43}$ ]] || fail "key of the wrong shape: $(one_line "$KEY")"
assert_contains "$ERR" "shown only this once" "the once-only hint on stderr"
pass "apikey create alice --name laptop --expires 30d -> stdout is one sk- key of 46 characters, hint on stderr"
run apikey create alice --expires 12h
assert_eq "$RC" 0 "second key"
KEY2=$OUT
run apikey create alice --expires 30x
assert_eq "$RC" 2 "bad --expires"
run apikey create nobody
assert_eq "$RC" 1 "key for an unknown user"
pass "apikey create --expires 30x -> exit 2, unknown user -> exit 1"

d=$(psql_q "SELECT encode(key_digest, 'hex') FROM api_keys WHERE name = 'laptop'")
want=$(printf '%s' "$KEY" | sha256sum | cut -d' ' -f1)
assert_eq "$d" "$want" "stored digest is SHA-256 of the key"
n=$(psql_q "SELECT count(*) FROM api_keys WHERE name = 'laptop' AND expires_at BETWEEN now() + interval '29 days 23 hours' AND now() + interval '30 days 1 hour'")
assert_eq "$n" 1 "expiry in 30 days"
pass "database keeps only the SHA-256 of the key; expires in 30 days"

run apikey list
assert_eq "$RC" 0 "apikey list"
assert_contains "$OUT" "${KEY:0:7}" "list shows the prefix"
assert_contains "$OUT" "laptop" "list shows the name"
assert_contains "$OUT" "active" "list shows the state"
pass "apikey list -> $(one_line "$(grep laptop <<<"$OUT")")"
run apikey list alice
assert_eq "$RC" 0 "apikey list alice"
run apikey list nobody
assert_eq "$RC" 1 "apikey list of an unknown user"
pass "apikey list alice -> exit 0; unknown user -> exit 1"

KEY2_ID=$(psql_q "SELECT id FROM api_keys WHERE key_digest = sha256(convert_to('$KEY2', 'UTF8'))")
run apikey revoke "$KEY2_ID"
assert_eq "$RC" 0 "apikey revoke: $ERR"
run apikey list alice
line=$(grep -E "^$KEY2_ID " <<<"$OUT" || true)
assert_contains "$line" "revoked" "revoked key listed as revoked"
run apikey revoke 999999
assert_eq "$RC" 1 "revoke an unknown key"
run apikey revoke x1
assert_eq "$RC" 2 "revoke with a bad id"
pass "apikey revoke $KEY2_ID -> listed revoked; unknown id -> exit 1, bad id -> exit 2"

run user show alice
assert_eq "$RC" 0 "user show"
assert_contains "$OUT" "development" "show lists roles"
assert_contains "$OUT" "${KEY:0:7}" "show lists key prefixes"
assert_contains "$OUT" "sessions:" "show counts sessions"
pass "user show alice -> roles, keys by prefix, session counts"

# --- user revoke ---------------------------------------------------------------
uid=$(psql_q "SELECT id FROM users WHERE username = 'alice'")
psql_q "INSERT INTO sessions (token_digest, user_id, expires_at) VALUES (sha256('t1'), $uid, now() + interval '1 day'), (sha256('t2'), $uid, now() + interval '1 day')"
psql_q "INSERT INTO mcp_sessions (id, user_id, auth_method, protocol_version, expires_at) VALUES ('mcp-session-0123456789', $uid, 'api_key', '2025-06-18', now() + interval '1 hour')"
run user show alice
assert_contains "$OUT" "2 active login session(s), 1 MCP session(s)" "sessions before revoke"
run user revoke alice
assert_eq "$RC" 0 "user revoke: $ERR"
assert_contains "$OUT" "1 key(s) revoked" "revoke counts keys"
assert_contains "$OUT" "2 session(s)" "revoke counts sessions"
assert_contains "$OUT" "1 MCP session(s)" "revoke counts MCP sessions"
s=$(psql_q "SELECT disabled, (SELECT count(*) FROM api_keys WHERE user_id = $uid AND revoked_at IS NULL), (SELECT count(*) FROM sessions WHERE user_id = $uid), (SELECT count(*) FROM mcp_sessions WHERE user_id = $uid) FROM users WHERE id = $uid")
assert_eq "$s" "t|0|0|0" "alice disabled, no live key, no session"
pass "user revoke alice -> $(one_line "$OUT")"
run apikey create alice
assert_eq "$RC" 1 "key for a disabled user"
run user revoke nobody
assert_eq "$RC" 1 "revoke an unknown user"
pass "a disabled user gets no new key; revoking an unknown user -> exit 1"

# --- audit -------------------------------------------------------------------------
run audit --since "1h ago"
assert_eq "$RC" 0 "audit: $ERR"
for a in user.create user.grant apikey.create apikey.revoke user.revoke; do
	assert_contains "$OUT" "$a" "audit lists $a"
done
pass "audit --since \"1h ago\" lists user.create, user.grant, apikey.create, apikey.revoke, user.revoke"

run audit --since "1h ago" --json
assert_eq "$RC" 0 "audit --json"
n=0
while IFS= read -r line; do
	assert_json "$line" "audit --json line"
	for k in timestamp user_id username action resource environment ip_address success details; do
		"$LIB_PY" -c 'import json,sys; o=json.loads(sys.argv[1]); sys.exit(0 if sys.argv[2] in o else 1)' "$line" "$k" ||
			fail "audit --json line lacks $k: $(one_line "$line")"
	done
	n=$((n + 1))
done <<<"$OUT"
((n >= 7)) || fail "audit --json printed $n lines"
pass "audit --json -> $n lines, each one JSON object with the security guide's fields"

run audit --action user.create --json
c=$(grep -c '"action":"user.create"' <<<"$OUT" || true)
assert_eq "$c" 2 "two user.create rows"
assert_eq "$(wc -l <<<"$OUT")" 2 "--action filters"
run audit --action 'apikey.*'
assert_contains "$OUT" "apikey.create" "family filter"
if [[ $OUT == *user.create* ]]; then fail "--action apikey.* showed user.create"; fi
run audit --limit 1 --json
assert_eq "$(wc -l <<<"$OUT")" 1 "--limit 1"
assert_contains "$OUT" '"action":"user.revoke"' "--limit keeps the newest"
pass "audit --action user.create, --action 'apikey.*', --limit 1 filter as asked"

since=$(date -u -d '10 minutes ago' +%Y-%m-%dT%H:%M:%SZ)
run audit export --since "$since"
assert_eq "$RC" 0 "audit export"
n=$(wc -l <<<"$OUT")
total=$(psql_q "SELECT count(*) FROM audit_log")
assert_eq "$n" "$total" "export has every row"
while IFS= read -r line; do assert_json "$line" "export line"; done <<<"$OUT"
run audit export --since "2999-01-01"
assert_eq "$RC:$OUT" "0:" "export of the future is empty"
pass "audit export --since $since -> $n JSON lines (all rows); a future --since -> none"

for bad in "1 hour" "yesterday" "1h ago " "-1h ago" "2026-13-01" "2026-02-30" "2026-01-01T25:00" "1y ago" "99999999999999999999s ago"; do
	run audit --since "$bad"
	assert_eq "$RC" 2 "--since '$bad'"
	assert_contains "$ERR" "--since" "message for '$bad'"
done
run audit --limit 0
assert_eq "$RC" 2 "--limit 0"
run audit --action 'Bad-Name'
assert_eq "$RC" 2 "--action with a bad name"
pass "bad --since values, --limit 0, a bad --action -> exit 2 with a message"

# The key itself never appears in any output but its creation's stdout.
all=$(b user list; b user show alice; b apikey list; b audit --json; b audit export; b audit)
if [[ $all == *"$KEY"* || $all == *"${KEY:7}"* || $all == *"$KEY2"* ]]; then
	fail "a full API key appeared in list/show/audit output"
fi
if psql_q "SELECT details::text FROM audit_log" | grep -q -- "${KEY:7:20}"; then
	fail "a full API key is in the audit log"
fi
if psql_q "SELECT details::text FROM audit_log" | grep -qi "horse"; then
	fail "a password is in the audit log"
fi
pass "no full API key in user list/show, apikey list, audit output or the audit log; no password either"

# --- verify and tampering ---------------------------------------------------------
run audit verify
assert_eq "$RC" 0 "audit verify: $OUT $ERR"
assert_contains "$OUT" "audit chain intact: $total rows" "verify output"
pass "audit verify -> $OUT"

if psql_q "UPDATE audit_log SET success = false WHERE id = (SELECT min(id) FROM audit_log)" 2>/dev/null; then
	fail "the append-only trigger let an UPDATE through"
fi
pass "UPDATE audit_log is refused by the append-only trigger"

victim=$(psql_q "SELECT id FROM audit_log WHERE action = 'apikey.create' ORDER BY id LIMIT 1")
psql_q "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"
psql_q "UPDATE audit_log SET details = details || '{\"name\": \"innocent\"}' WHERE id = $victim"
psql_q "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"
run audit verify
assert_eq "$RC" 1 "verify after tampering"
assert_contains "$OUT" "audit chain broken at row $victim" "verify names the row"
pass "row $victim edited behind the trigger -> audit verify exit 1: $OUT"

# Retention deletes the oldest rows: not a break. The edited row stays one.
psql_q "DELETE FROM audit_log WHERE id < $victim"
run audit verify
assert_eq "$RC" 1 "verify after retention, the edited row first"
assert_contains "$OUT" "broken at row $victim" "edited anchor still caught"
psql_q "DELETE FROM audit_log WHERE id <= $victim"
run audit verify
assert_eq "$RC" 0 "verify after retention removed the edited row: $OUT"
pass "oldest rows deleted (retention) -> audit verify intact again: $OUT"

run audit verify extra
assert_eq "$RC" 2 "verify with an argument"
pass "audit verify extra -> exit 2"
