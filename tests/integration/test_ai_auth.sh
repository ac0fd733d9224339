#!/usr/bin/env bash
# test_ai_auth.sh - the runner's Anthropic credentials (issue 8): `berth
# auth anthropic login|status|logout` against token_mock.py (Anthropic's
# OAuth endpoints with PKCE S256, checking the verifier against the
# challenge), the tokens sealed in ai_credentials, runs through `berth run
# work` against ai_mock.py (Anthropic's Messages API, checking the Bearer
# token and the OAuth beta header), refresh before expiry under a row lock,
# and Station's priority order: STN_AI_AUTH_TYPE=api_key, stored tokens,
# ~/.claude/.credentials.json, ANTHROPIC_API_KEY.
. "$(dirname "$0")/../lib.sh"

BIN=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH=$BIN/cli/berth
[[ -x $BERTH ]] || fail "berth not built at $BERTH"
export BERTH_SQL_DIR=$BERTH_SRCDIR/sql
unset BERTH_CONFIG CLOUDSHIP_REGISTRATION_KEY CLOUDSHIP_ENDPOINT CLOUDSHIP_STATION_NAME
unset OPENAI_API_KEY ANTHROPIC_API_KEY STN_AI_AUTH_TYPE BERTH_ENCRYPTION_KEY_OLD TS_MCP_ENCRYPTION_KEY

stack_up --db-only
W=$STACK_DIR/aiauth
WS=$W/workspace
mkdir -p "$WS/environments/development/agents" "$W/home"
export HOME=$W/home
psql_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PSQL=$psql_bin/psql
[[ -x $PSQL ]] || PSQL=psql
PG_DUMP=$psql_bin/pg_dump
[[ -x $PG_DUMP ]] || PG_DUMP=pg_dump
psql_q() {
	"$PSQL" -Atq -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -c "$1"
}
BERTH_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)
export BERTH_ENCRYPTION_KEY

# --- the two mocks --------------------------------------------------------------
KEY=sk-ant-mock-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
CLAUDE_TOKEN=claude-file-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
# ai_mock key indexes: 0 the API key, 1 Claude Code's token, 2.. oat-access-1..
keys=(--key "$KEY" --key "$CLAUDE_TOKEN")
for n in $(seq 1 20); do keys+=(--key "oat-access-$n"); done
/usr/bin/python3 "$BERTH_SRCDIR/tests/integration/ai-mock/ai_mock.py" \
	--port-file "$W/ai.port" --log "$W/ai.jsonl" "${keys[@]}" >"$W/ai.out" 2>&1 &
AI_PID=$!
echo '{}' >"$W/control.json"
/usr/bin/python3 "$BERTH_SRCDIR/tests/integration/ai-mock/token_mock.py" \
	--port-file "$W/tok.port" --log "$W/tok.jsonl" --control "$W/control.json" \
	--client-id test-client-id --redirect-uri "http://127.0.0.1:9/callback" >"$W/tok.out" 2>&1 &
TOK_PID=$!
trap 'rc=$?; kill "$AI_PID" "$TOK_PID" 2>/dev/null || true; stack_cleanup "$rc"' EXIT
for _ in $(seq 100); do [[ -s $W/ai.port && -s $W/tok.port ]] && break; sleep 0.1; done
[[ -s $W/ai.port ]] || fail "ai_mock.py did not start: $(cat "$W/ai.out")"
[[ -s $W/tok.port ]] || fail "token_mock.py did not start: $(cat "$W/tok.out")"
AI=http://127.0.0.1:$(cat "$W/ai.port")
TOK=http://127.0.0.1:$(cat "$W/tok.port")
touch "$W/ai.jsonl" "$W/tok.jsonl"

cat >"$W/config.yaml" <<YAML
workspace: $WS
environments: [development]
ai_provider: anthropic
ai_model: text
ai_base_url: $AI
ai_max_retries: 0
ai_oauth:
  authorize_url: $TOK/oauth/authorize
  token_url: $TOK/v1/oauth/token
  client_id: test-client-id
  redirect_uri: http://127.0.0.1:9/callback
  scopes: [org:create_api_key, user:profile, user:inference]
  timeout: 5
YAML
cat >"$WS/environments/development/agents/chat.prompt" <<EOF
---
metadata:
  name: chat
  description: says something
model: text
max_steps: 2
tools: []
---
{{role "user"}}{{userInput}}
EOF
ALL_OUT=$W/all-output.txt
: >"$ALL_OUT"
run() {
	RC=0
	"$BERTH" --config "${CFG:-$W/config.yaml}" "$@" >"$W/out" 2>"$W/err" </dev/null || RC=$?
	OUT=$(cat "$W/out")
	ERR=$(cat "$W/err")
	cat "$W/out" "$W/err" >>"$ALL_OUT"
}
run migrate
assert_eq "$RC" 0 "migrate: $ERR"
run agent sync
assert_eq "$RC" 0 "agent sync: $ERR"

# login [PASTE-FUNCTION]: runs `berth auth anthropic login --code-stdin`,
# opens the URL it prints at token_mock (as a browser would) and pastes
# what the page shows, through PASTE-FUNCTION when given. Sets RC, OUT, ERR,
# URL.
login() {
	local fifo=$W/login.fifo page pid i
	rm -f "$fifo" "$W/lout" "$W/lerr"
	mkfifo "$fifo"
	"$BERTH" --config "${CFG:-$W/config.yaml}" auth anthropic login --code-stdin <"$fifo" >"$W/lout" 2>"$W/lerr" &
	pid=$!
	exec 3>"$fifo"
	URL=''
	for i in $(seq 100); do
		URL=$(grep -o 'http://[^ ]*/oauth/authorize?[^ ]*' "$W/lout" 2>/dev/null || true)
		[[ -n $URL ]] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	page=''
	[[ -n $URL ]] && page=$(curl -fsS "$URL" 2>/dev/null || true)
	if [[ -n ${1:-} ]]; then page=$("$1" "$page"); fi
	printf '%s\n' "$page" >&3 2>/dev/null || true
	exec 3>&-
	RC=0
	wait "$pid" || RC=$?
	OUT=$(cat "$W/lout")
	ERR=$(cat "$W/lerr")
	cat "$W/lout" "$W/lerr" >>"$ALL_OUT"
}
# One run of agent chat, worked here; sets RUN_OUT and LAST (the last
# request ai_mock saw).
one_run() {
	run agent run chat "hello"
	assert_eq "$RC" 0 "agent run: $ERR"
	local id=$OUT
	run run work --once
	RUN_OUT=$OUT
	LAST=$(tail -n 1 "$W/ai.jsonl")
	RUN_ID=$id
}
tok_count() { # GRANT [ok]: token requests seen with that grant (and verdict)
	local f=$W/tok.jsonl
	if [[ ${2:-} == ok ]]; then
		grep -c "\"grant\": \"$1\", \"ok\": true" "$f" || true
	else
		grep -c "\"grant\": \"$1\"" "$f" || true
	fi
}
rows() { psql_q "SELECT count(*) FROM ai_credentials"; }
control() { echo "$1" >"$W/control.json"; }

# --- logged out to start with -----------------------------------------------------
run auth anthropic status
assert_eq "$RC" 1 "status before login exits 1"
assert_contains "$OUT" "anthropic: not logged in" "status before login"
pass "status before any login: not logged in (exit 1)"

# --- failures store nothing --------------------------------------------------------
bad_state() { echo "${1%%#*}#not-the-state-of-this-login"; }
login bad_state
assert_eq "$RC" 1 "bad state refused"
assert_contains "$ERR" "the state does not match this login" "bad state message"
assert_eq "$(rows)" 0 "nothing stored after a bad state"
assert_eq "$(tok_count authorization_code)" 0 "a bad state never reaches the token endpoint"
pass "pasted code with another state -> refused before the exchange, nothing stored"

no_hash() { echo "${1%%#*}"; }
login no_hash
assert_eq "$RC" 1 "code without state"
assert_contains "$ERR" "expected CODE#STATE" "code without state message"
pass "pasted code without #STATE -> clear error"

# The PKCE check: login A's code pasted into login B with B's state. B sends
# its own verifier, which does not hash to A's challenge: token_mock says 400.
rm -f "$W/a.fifo"
mkfifo "$W/a.fifo"
"$BERTH" --config "$W/config.yaml" auth anthropic login --code-stdin <"$W/a.fifo" >"$W/aout" 2>"$W/aerr" &
APID=$!
exec 4>"$W/a.fifo"
for _ in $(seq 100); do grep -q 'oauth/authorize' "$W/aout" 2>/dev/null && break; sleep 0.05; done
A_URL=$(grep -o 'http://[^ ]*/oauth/authorize?[^ ]*' "$W/aout")
A_CODE=$(curl -fsS "$A_URL")
other_code() { echo "${A_CODE%%#*}#${1#*#}"; }
login other_code
exec 4>&-
wait "$APID" || true
assert_eq "$RC" 1 "wrong verifier"
assert_contains "$ERR" "the token endpoint refused (HTTP 400): invalid_grant: code_verifier does not match the code_challenge" "wrong verifier message"
assert_contains "$ERR" "nothing stored" "wrong verifier: nothing stored"
assert_eq "$(rows)" 0 "nothing stored after a wrong verifier"
pass "code exchanged with another login's verifier -> token endpoint 400 (PKCE S256 checked), clear error, nothing stored"

control '{"mode": "error400"}'
login
assert_eq "$RC" 1 "400"
assert_contains "$ERR" "the token endpoint refused (HTTP 400): invalid_request: the server says no" "400 message"
control '{"mode": "html"}'
login
assert_eq "$RC" 1 "html"
assert_contains "$ERR" "the token endpoint did not answer JSON (HTTP 200, Content-Type text/html)" "html message"
control '{"mode": "huge"}'
login
assert_eq "$RC" 1 "huge"
assert_contains "$ERR" "the token endpoint's answer is over 65536 bytes" "huge message"
control '{}'
DOWN_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s|token_url: .*|token_url: http://127.0.0.1:$DOWN_PORT/v1/oauth/token|" "$W/config.yaml" >"$W/down.yaml"
CFG=$W/down.yaml login
assert_eq "$RC" 1 "down"
assert_contains "$ERR" "the token endpoint is unreachable" "down message"
sed -e "s|token_url: .*|token_url: http://192.0.2.1/v1/oauth/token|" "$W/config.yaml" >"$W/plain.yaml"
CFG=$W/plain.yaml login
assert_eq "$RC" 1 "plain http"
assert_contains "$ERR" "ai_oauth.token_url must be https" "plain http refused"
assert_eq "$(rows)" 0 "nothing stored after the failures"
assert_eq "$(psql_q "SELECT count(*) FROM audit_log WHERE action = 'ai_auth.login' AND NOT success")" 9 "failed logins audited"
pass "token endpoint 400 / HTML / 200 KB answer / down / plain http to a remote host -> clear errors, nothing stored, 9 failed logins audited (with the abandoned login)"

# --- login -> status -> a run with the token ---------------------------------------
control '{"expires_in": 3600}'
login
assert_eq "$RC" 0 "login: $ERR"
assert_contains "$OUT" "Logged in to Anthropic" "login message"
assert_contains "$URL" "code_challenge_method=S256" "S256 challenge in the URL"
assert_contains "$URL" "scope=org%3Acreate_api_key%20user%3Aprofile%20user%3Ainference" "scopes in the URL"
assert_eq "$(rows)" 1 "one row stored"
assert_eq "$(psql_q "SELECT refreshable FROM ai_credentials")" t "refresh token stored"
run auth anthropic status
assert_eq "$RC" 0 "status: $ERR"
assert_contains "$OUT" "anthropic: logged in" "status logged in"
assert_contains "$OUT" "refresh:   possible" "status refresh"
assert_contains "$OUT" "key:       opens with this master key" "status opens"
[[ $OUT =~ \(in\ (59|60)\ min\) ]] || fail "status expiry: $OUT"
pass "login (code pasted on stdin) -> tokens stored sealed; status: logged in, expires in about an hour, refresh possible"

one_run
assert_contains "$RUN_OUT" "succeeded" "oauth run: $RUN_OUT $(psql_q "SELECT error FROM runs WHERE id = $RUN_ID")"
assert_contains "$LAST" '"auth_kind": "bearer"' "run used a Bearer token"
assert_contains "$LAST" '"key_index": 2' "run used oat-access-1"
assert_contains "$LAST" '"anthropic_beta": "oauth-2025-04-20"' "OAuth beta header sent"
pass "a run uses the stored OAuth token (Bearer + anthropic-beta oauth-2025-04-20)"

# --- refresh before expiry ----------------------------------------------------------
control '{"expires_in": 60}' # inside the 300 s refresh margin
login
assert_eq "$RC" 0 "login 2: $ERR"
control '{"expires_in": 3600}'
before=$(tok_count refresh_token)
one_run
assert_contains "$RUN_OUT" "succeeded" "refresh run: $RUN_OUT $(psql_q "SELECT error FROM runs WHERE id = $RUN_ID")"
assert_eq "$(tok_count refresh_token ok)" $((before + 1)) "one refresh"
assert_contains "$LAST" '"key_index": 4' "the refreshed token (oat-access-3) used"
run auth anthropic status
[[ $OUT =~ \(in\ (59|60)\ min\) ]] || fail "status after refresh: $OUT"
assert_contains "$OUT" "refreshed: 20" "refreshed_at set"
one_run
assert_contains "$LAST" '"key_index": 4' "fresh token reused"
assert_eq "$(tok_count refresh_token ok)" $((before + 1)) "no second refresh"
pass "a token 60 s from expiry is refreshed before the run (grant_type=refresh_token), the new one stored and used; a fresh one is not refreshed again"

# Two workers at once with a token to refresh and a slow token endpoint:
# the row lock makes one refresh; refresh tokens rotate, so a second
# refresh with the old one would fail a run.
control '{"expires_in": 30}'
login
control '{"expires_in": 3600, "refresh_delay": 1.5}'
before=$(tok_count refresh_token)
run agent run chat "one"
r1=$OUT
run agent run chat "two"
r2=$OUT
"$BERTH" --config "$W/config.yaml" run work --once >"$W/w1" 2>&1 &
w1=$!
"$BERTH" --config "$W/config.yaml" run work --once >"$W/w2" 2>&1 &
w2=$!
wait "$w1" "$w2" || true
cat "$W/w1" "$W/w2" >>"$ALL_OUT"
assert_eq "$(psql_q "SELECT string_agg(status, ',') FROM runs WHERE id IN ($r1, $r2)")" "succeeded,succeeded" "both runs: $(cat "$W/w1" "$W/w2")"
assert_eq "$(tok_count refresh_token)" $((before + 1)) "exactly one refresh for two workers"
pass "two workers, one expiring token, a slow token endpoint -> one refresh under the row lock, both runs succeed with the new token"

# A refresh that fails on an expired token fails the run clearly.
control '{"expires_in": 0}'
login
control '{"mode": "refresh-fail"}'
one_run
assert_contains "$RUN_OUT" "failed" "refresh failure fails the run"
err=$(psql_q "SELECT error FROM runs WHERE id = $RUN_ID")
assert_contains "$err" "refreshing the stored anthropic token failed: the token endpoint refused (HTTP 400): invalid_grant" "refresh failure reason"
pass "refresh refused (400 invalid_grant) with an expired token -> failed run: $err"
control '{}'

# --- priority order ------------------------------------------------------------------
login
assert_eq "$RC" 0 "login 5: $ERR"
stored_idx=$(($(grep -c '"grant": "[a-z_]*", "ok": true' "$W/tok.jsonl") + 1))
export ANTHROPIC_API_KEY=$KEY
STN_AI_AUTH_TYPE=api_key one_run
assert_contains "$LAST" '"auth_kind": "x-api-key"' "STN_AI_AUTH_TYPE=api_key -> the key"
assert_contains "$LAST" '"key_index": 0' "the API key"
pass "STN_AI_AUTH_TYPE=api_key wins over stored tokens (x-api-key: ANTHROPIC_API_KEY)"

mkdir -p "$HOME/.claude"
printf '{"claudeAiOauth": {"accessToken": "%s", "expiresAt": %s}}\n' "$CLAUDE_TOKEN" "$((($(date +%s) + 3600) * 1000))" >"$HOME/.claude/.credentials.json"
chmod 600 "$HOME/.claude/.credentials.json"
one_run
assert_contains "$LAST" '"auth_kind": "bearer"' "stored tokens over the file"
assert_contains "$LAST" "\"key_index\": $stored_idx" "stored token (not Claude Code's) used"
pass "stored tokens win over ~/.claude/.credentials.json and ANTHROPIC_API_KEY"

# --- logout -------------------------------------------------------------------------------
run auth anthropic logout
assert_eq "$RC" 0 "logout: $ERR"
assert_contains "$OUT" "logged out" "logout message"
assert_eq "$(rows)" 0 "row deleted"
assert_eq "$(psql_q "SELECT count(*) FROM audit_log WHERE action = 'ai_auth.logout' AND success")" 1 "logout audited"
run auth anthropic status
assert_eq "$RC" 1 "status after logout"
assert_contains "$OUT" "not logged in" "status after logout"
one_run
assert_contains "$LAST" "\"key_index\": 1" "Claude Code's token after logout"
assert_contains "$LAST" '"anthropic_beta": "oauth-2025-04-20"' "beta header with Claude Code's token"
pass "after logout: status not logged in; ~/.claude/.credentials.json wins over ANTHROPIC_API_KEY"
rm -f "$HOME/.claude/.credentials.json"
one_run
assert_contains "$RUN_OUT" "succeeded" "env key run"
assert_contains "$LAST" '"auth_kind": "x-api-key"' "env key after logout"
assert_contains "$LAST" '"key_index": 0' "ANTHROPIC_API_KEY used"
pass "logged out, no Claude Code file -> the run falls back to ANTHROPIC_API_KEY"
unset ANTHROPIC_API_KEY

# --- a row that does not open ---------------------------------------------------------------
login
assert_eq "$RC" 0 "login 6: $ERR"
BERTH_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64) one_run
err=$(psql_q "SELECT error FROM runs WHERE id = $RUN_ID")
assert_contains "$err" "stored anthropic credentials do not open with this master key" "wrong master key"
pass "stored tokens under another master key -> failed run (no silent fallback): $err"

# --- key rotation re-seals the row ----------------------------------------------------------------
K1=$BERTH_ENCRYPTION_KEY
K2=$(head -c 32 /dev/urandom | base64)
kid1=$(psql_q "SELECT key_id FROM ai_credentials")
BERTH_ENCRYPTION_KEY_OLD=$K1 BERTH_ENCRYPTION_KEY=$K2 run keys rotate
assert_eq "$RC" 0 "keys rotate: $ERR"
assert_contains "$OUT" "and the stored anthropic tokens" "rotate mentions the tokens"
kid2=$(psql_q "SELECT key_id FROM ai_credentials")
[[ $kid1 != "$kid2" ]] || fail "the row is still under key $kid1"
export BERTH_ENCRYPTION_KEY=$K2
stored_idx=$(($(grep -c '"grant": "[a-z_]*", "ok": true' "$W/tok.jsonl") + 1))
one_run
assert_contains "$RUN_OUT" "succeeded" "run after rotation: $(psql_q "SELECT error FROM runs WHERE id = $RUN_ID")"
assert_contains "$LAST" "\"key_index\": $stored_idx" "stored token after rotation"
pass "berth keys rotate re-seals the stored tokens ($kid1 -> $kid2); runs with only the new key use them"

# --- nothing in the clear -----------------------------------------------------------------------
"$PG_DUMP" -d "$DATABASE_URL" >"$W/dump.sql"
[[ -s $W/dump.sql ]] || fail "pg_dump wrote nothing"
grep -q "ai_credentials" "$W/dump.sql" || fail "pg_dump lacks the table"
if grep -Eq 'oat-(access|refresh)-[0-9]' "$W/dump.sql"; then fail "a token is in pg_dump's output in the clear"; fi
if grep -Eq 'oat-(access|refresh)-[0-9]' "$ALL_OUT"; then fail "a token was printed by berth: $(grep -Eo 'oat-[a-z]+-[0-9]+' "$ALL_OUT" | head -3)"; fi
if grep -Fq "$KEY" "$ALL_OUT"; then fail "the API key was printed"; fi
pass "pg_dump ($(wc -c <"$W/dump.sql") bytes) and everything berth printed hold no token in the clear"
NOTE_LOGINS=$(tok_count authorization_code ok)
printf 'NOTE %s\n' "token endpoint: $NOTE_LOGINS code exchanges, $(tok_count refresh_token ok) refreshes granted; ai_mock saw $(wc -l <"$W/ai.jsonl") requests"
