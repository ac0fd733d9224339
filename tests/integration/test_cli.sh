#!/usr/bin/env bash
# test_cli.sh - the real `berth` and `berthd` binaries: config check/show
# exit codes and masking, migrate applied, re-applied and raced from two
# processes, and a database that is down.
. "$(dirname "$0")/../lib.sh"

BIN=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH=$BIN/cli/berth
BERTHD=$BIN/daemon/berthd
[[ -x $BERTH ]] || fail "berth not built at $BERTH"
export BERTH_SQL_DIR=$BERTH_SRCDIR/sql
unset BERTH_CONFIG DATABASE_URL CLOUDSHIP_REGISTRATION_KEY CLOUDSHIP_ENDPOINT CLOUDSHIP_STATION_NAME

stack_up --db-only
W=$STACK_DIR/cli
mkdir -p "$W"

# config check: 0 valid, 1 invalid (file, line, key named), 2 usage.
cat >"$W/good.yaml" <<YAML
cloudship:
  enabled: true
  registration_key: "rk-live-0123456789abcdefSECRETTAIL"
  name: test-station
database:
  url: "$DATABASE_URL"
YAML
out=$("$BERTH" config check "$W/good.yaml" 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 0 "config check of a good file"
pass "berth config check good.yaml -> exit 0"
printf 'cloudship:\n  use_tls: maybe\n' >"$W/bad.yaml"
out=$("$BERTH" config check "$W/bad.yaml" 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 1 "config check of a bad file"
assert_contains "$out" "bad.yaml:2: cloudship.use_tls" "file, line and key"
pass "berth config check bad.yaml -> exit 1: $(one_line "$out")"
"$BERTH" config check a b >/dev/null 2>&1 && rc=0 || rc=$?
assert_eq "$rc" 2 "config check with two files"
"$BERTH" no-such-command >/dev/null 2>&1 && rc=0 || rc=$?
assert_eq "$rc" 2 "unknown command"
pass "usage errors -> exit 2"

# config show: effective values, the secret masked, env overrides applied.
out=$(CLOUDSHIP_STATION_NAME=from-env "$BERTH" --config "$W/good.yaml" config show 2>&1)
if [[ $out == *SECRETTAIL* ]]; then fail "config show printed the registration key"; fi
assert_contains "$out" "rk-liv" "masked key prefix"
assert_contains "$out" "from-env" "CLOUDSHIP_STATION_NAME override"
assert_contains "$out" "lighthouse.cloudshipai.com:443" "default endpoint"
pass "berth config show: registration key masked, CLOUDSHIP_STATION_NAME applied, defaults shown"

# migrate: applies, then has nothing to do.
out=$("$BERTH" --config "$W/good.yaml" migrate 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 0 "first migrate"
assert_contains "$out" "applied" "first migrate output"
pass "berth migrate (first) -> $(one_line "$out")"
out=$("$BERTH" --config "$W/good.yaml" migrate 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 0 "second migrate"
assert_contains "$out" "nothing to apply" "second migrate output"
pass "berth migrate (again) -> $(one_line "$out")"
out=$("$BERTH" --config "$W/good.yaml" migrate --status 2>&1)
assert_contains "$out" "001" "status lists 001"
pass "berth migrate --status lists the applied migrations"

# Two processes race on a fresh database: both succeed, one applies.
psql_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
"$psql_bin/psql" -q -d "$DATABASE_URL" -c 'CREATE DATABASE race' >/dev/null
RACE_URL=${DATABASE_URL/\/berth\?//race?}
DATABASE_URL=$RACE_URL "$BERTH" migrate >"$W/r1" 2>&1 &
p1=$!
DATABASE_URL=$RACE_URL "$BERTH" migrate >"$W/r2" 2>&1 &
p2=$!
wait "$p1" && r1=0 || r1=$?
wait "$p2" && r2=0 || r2=$?
assert_eq "$r1:$r2" 0:0 "both racing migrations succeed"
applied=$(cat "$W/r1" "$W/r2" | grep -c '^applied' || true)
assert_eq "$applied" 1 "exactly one racer applied"
n=$("$psql_bin/psql" -Atq -d "$RACE_URL" -c 'SELECT count(*) FROM schema_migrations')
assert_eq "$n" "$(ls "$BERTH_SQL_DIR"/[0-9]*.sql | wc -l)" "each migration recorded once"
pass "two berth migrate at once: both exit 0, one applied, schema_migrations has $n row(s)"

# A database that is down: a clear error, exit 1, no hang.
stack pg-stop --dir "$STACK_DIR" >/dev/null 2>&1
start=$(date +%s)
out=$("$BERTH" --config "$W/good.yaml" migrate 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 1 "migrate with the database down"
(($(date +%s) - start < 10)) || fail "migrate took too long with the database down"
pass "berth migrate, database down -> exit 1: $(one_line "$out")"
if [[ $out == *"$STACK_DIR/pg/run"*password* ]]; then fail "connection string leaked"; fi
stack pg-start --dir "$STACK_DIR" >/dev/null 2>&1

# berthd refuses a bad config before doing anything.
out=$("$BERTHD" --config "$W/bad.yaml" 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 1 "berthd with a bad config"
assert_contains "$out" "cloudship.use_tls" "berthd names the key"
pass "berthd with a bad config -> exit 1, key named"
