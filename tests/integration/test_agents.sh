#!/usr/bin/env bash
# test_agents.sh - `berth agent sync|list|show` against a private
# PostgreSQL, with Station-style .prompt files in a temporary workspace:
# good files load, a bad file is named with its line and skipped while the
# others load, an unchanged file costs no write, an edit updates, a bad
# edit keeps the last good definition, a removed file removes its agent,
# and a missing environment folder deletes nothing.
. "$(dirname "$0")/../lib.sh"

BIN=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH=$BIN/cli/berth
[[ -x $BERTH ]] || fail "berth not built at $BERTH"
export BERTH_SQL_DIR=$BERTH_SRCDIR/sql
unset BERTH_CONFIG CLOUDSHIP_REGISTRATION_KEY CLOUDSHIP_ENDPOINT CLOUDSHIP_STATION_NAME

stack_up --db-only
W=$STACK_DIR/agents
WS=$W/workspace
mkdir -p "$WS/environments/development/agents" "$WS/environments/staging/agents"
cat >"$W/config.yaml" <<YAML
workspace: $WS
environments: [development, staging, production]
YAML
run() {
	RC=0
	"$BERTH" --config "$W/config.yaml" "$@" >"$W/out" 2>"$W/err" || RC=$?
	OUT=$(cat "$W/out")
	ERR=$(cat "$W/err")
}
run migrate
assert_eq "$RC" 0 "berth migrate: $ERR"

D=$WS/environments/development/agents
cp "$BERTH_SRCDIR/tests/fixtures/dotprompt/good/station_finops.prompt" "$D/finops.prompt"
cp "$BERTH_SRCDIR/tests/fixtures/dotprompt/good/flat_picoschema.prompt" "$D/deploy.prompt"
cat >"$D/broken.prompt" <<'EOF'
---
name: broken
max_steps: 0
---
hi
EOF
cat >"$WS/environments/staging/agents/helper.prompt" <<'EOF'
---
metadata:
  name: helper
  description: Staging helper
model: claude-sonnet-4
---
{{role "system"}}Help with {{userInput}}.
EOF

# --- first sync -------------------------------------------------------------
run agent sync
assert_eq "$RC" 0 "agent sync: $ERR"
assert_contains "$OUT" "3 added, 0 updated, 0 unchanged, 0 removed, 1 bad file(s) skipped" "first sync summary"
assert_contains "$ERR" "$D/broken.prompt:3: max_steps: must be a whole number from 1 to 1000" "bad file named with line"
assert_contains "$OUT" "1 without a folder" "production has no folder"
assert_contains "$ERR" "production/agents: no such folder" "missing folder warned"
pass "first sync -> $(one_line "$OUT"); stderr names $(grep -c broken.prompt "$W/err") bad file with its line"

n=$(psql_q "SELECT count(*) FROM agents")
assert_eq "$n" 3 "agents rows after first sync"
row=$(psql_q "SELECT environment, name, model, max_steps, tools::text FROM agents WHERE name = 'AWS Cost Spike Analyzer'")
assert_eq "$row" 'development|AWS Cost Spike Analyzer|gpt-4o-mini|5|["__get_cost_and_usage", "__list_cost_allocation_tags"]' "finops row"
schema=$(psql_q "SELECT input_schema->'required' FROM agents WHERE name = 'deploy-checker'")
assert_eq "$schema" '["service", "tags", "target", "level"]' "Picoschema required list stored"
pass "rows hold name, model, steps, tools and the JSON Schema of the input"

run agent sync --strict
assert_eq "$RC" 1 "--strict fails while a file is bad"
assert_contains "$OUT" "0 added, 0 updated, 3 unchanged, 0 removed, 1 bad" "second sync unchanged"
upd=$(psql_q "SELECT count(*) FROM agents WHERE updated_at > created_at")
assert_eq "$upd" 0 "unchanged files wrote nothing"
pass "re-sync of unchanged files -> $(one_line "$OUT") (no row written), --strict exits 1"

# --- edits ------------------------------------------------------------------
sed -i 's/max_steps: 5/max_steps: 7/' "$D/finops.prompt"
printf -- '---\nname: broken\nmax_steps: 3\n---\nfixed {{userInput}}\n' >"$D/broken.prompt"
run agent sync --env development
assert_eq "$RC" 0 "sync after edit: $ERR"
assert_contains "$OUT" "1 added, 1 updated, 1 unchanged, 0 removed, 0 bad" "edit summary"
assert_eq "$(psql_q "SELECT max_steps FROM agents WHERE name = 'AWS Cost Spike Analyzer'")" 7 "edit applied"
pass "edit and fix -> $(one_line "$OUT")"

# A bad edit keeps the last good definition.
printf -- '---\nname: broken\nmax_steps: [\n---\n' >"$D/broken.prompt"
run agent sync --env development
assert_contains "$OUT" "0 removed, 1 bad" "bad edit summary"
assert_eq "$(psql_q "SELECT max_steps FROM agents WHERE name = 'broken'")" 3 "bad edit keeps the old definition"
pass "a bad edit keeps the last good definition -> $(one_line "$OUT")"

# --- removal and a missing folder ---------------------------------------------
rm "$D/deploy.prompt" "$D/broken.prompt"
rm -r "$WS/environments/staging"
run agent sync
assert_eq "$RC" 0 "sync after removal: $ERR"
assert_contains "$OUT" "2 removed" "removal summary"
assert_eq "$(psql_q "SELECT string_agg(name, ',' ORDER BY name) FROM agents")" "AWS Cost Spike Analyzer,helper" "removed file's agent gone, missing folder's agents kept"
pass "removed file -> agent removed; a missing folder deletes nothing -> $(one_line "$OUT")"

# --- list and show ------------------------------------------------------------
run agent list --json
assert_eq "$RC" 0 "agent list: $ERR"
assert_eq "$(grep -c '"name"' "$W/out")" 2 "list --json rows"
run agent show helper --env staging
assert_eq "$RC" 0 "agent show: $ERR"
assert_json "$OUT" "model" "claude-sonnet-4"
run agent show nobody
assert_eq "$RC" 1 "show of an unknown agent"
run agent sync --env nowhere
assert_eq "$RC" 1 "sync of an unconfigured environment"
assert_contains "$ERR" "not in the config" "unknown environment message"
run agent frobnicate
assert_eq "$RC" 2 "usage error"
audit=$(psql_q "SELECT count(*) FROM audit_log WHERE action = 'agent_sync'")
[[ $audit -ge 3 ]] || fail "agent_sync audit rows: $audit"
pass "list --json, show, unknown agent/environment/subcommand; $audit agent_sync audit rows"

# --- hostile files --------------------------------------------------------------
mkdir -p "$WS/environments/production/agents"
P=$WS/environments/production/agents
head -c 300000 /dev/zero | tr '\0' 'a' >"$P/huge.prompt"
printf -- '---\na: &x [1]\nb: *x\n---\n' >"$P/alias.prompt"
ln -s /etc/passwd "$P/link.prompt"
mkfifo "$P/fifo.prompt"
printf -- '---\nname: ok\n---\nfine\n' >"$P/ok.prompt"
run agent sync --env production
assert_eq "$RC" 0 "hostile sync: $ERR"
assert_contains "$OUT" "1 added" "the good file loads beside hostile ones"
assert_contains "$OUT" "4 bad file(s)" "hostile files skipped"
pass "huge, alias, symlink and fifo .prompt files skipped, the good one loads -> $(one_line "$OUT")"
