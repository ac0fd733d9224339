#!/usr/bin/env bash
# test_runner_shared.sh - two berthd daemons (two run workers each) share
# one run queue: 200 runs, half queued before they start (a backlog both
# grab at once), half queued by `berth agent run` while they work. Every
# run is executed exactly once: one provider request per run (the
# stand-in provider's log, by each run's unique task), one 'finished'
# event, one claim; both daemons took part.
. "$(dirname "$0")/../lib.sh"

BIN=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH=$BIN/cli/berth
BERTHD=$BIN/daemon/berthd
[[ -x $BERTH && -x $BERTHD ]] || fail "berth/berthd not built in $BIN"
export BERTH_SQL_DIR=$BERTH_SRCDIR/sql
unset BERTH_CONFIG CLOUDSHIP_REGISTRATION_KEY CLOUDSHIP_ENDPOINT CLOUDSHIP_STATION_NAME
unset OPENAI_API_KEY ANTHROPIC_API_KEY STN_AI_AUTH_TYPE GEMINI_API_KEY

stack_up --db-only
W=$STACK_DIR/shared
A=$W/workspace/environments/development/agents
mkdir -p "$A"

KEY=sk-mock-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
/usr/bin/python3 "$BERTH_SRCDIR/tests/integration/ai-mock/ai_mock.py" \
	--port-file "$W/port" --log "$W/requests.jsonl" --key "$KEY" >"$W/mock.out" 2>&1 &
MOCK_PID=$!
D1='' D2=''
trap 'rc=$?; kill -9 $D1 $D2 2>/dev/null || true; kill "$MOCK_PID" 2>/dev/null || true; stack_cleanup "$rc"' EXIT
for _ in $(seq 100); do [[ -s $W/port ]] && break; sleep 0.1; done
[[ -s $W/port ]] || fail "ai_mock.py did not start: $(cat "$W/mock.out")"

cat >"$W/config.yaml" <<YAML
workspace: $W/workspace
environments: [development]
ai_provider: openai
ai_model: text
ai_base_url: http://127.0.0.1:$(cat "$W/port")/v1
ai_max_retries: 0
cloudship:
  enabled: false
runner:
  workers: 2
YAML
cat >"$A/echo.prompt" <<'EOF'
---
name: echo
description: answers at once
model: text
max_steps: 2
---
{{userInput}}
EOF
"$BERTH" --config "$W/config.yaml" migrate >"$W/out" 2>&1 || fail "migrate: $(cat "$W/out")"
"$BERTH" --config "$W/config.yaml" agent sync >"$W/out" 2>&1 || fail "agent sync: $(cat "$W/out")"

# The backlog: 100 runs queued before any daemon runs.
psql_q "INSERT INTO runs (agent_name, environment, source, input)
	SELECT 'echo', 'development', 'cli', jsonb_build_object('task', 'task-' || g)
	FROM generate_series(1, 100) g" >/dev/null

export OPENAI_API_KEY=$KEY
"$BERTHD" --config "$W/config.yaml" >"$W/d1.log" 2>&1 &
D1=$!
"$BERTHD" --config "$W/config.yaml" >"$W/d2.log" 2>&1 &
D2=$!
t0=$(date +%s%N)
# The second half, queued through the CLI while both daemons work.
for i in $(seq 101 200); do
	"$BERTH" --config "$W/config.yaml" agent run echo "task-$i" >/dev/null 2>"$W/err" ||
		fail "agent run $i: $(cat "$W/err")"
done
deadline=$((SECONDS + 120))
until [[ $(psql_q "SELECT count(*) FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled')") == 200 ]]; do
	((SECONDS < deadline)) || fail "runs not all finished in 120 s: $(psql_q "SELECT status, count(*) FROM runs GROUP BY 1")"
	kill -0 "$D1" && kill -0 "$D2" || fail "a berthd died: $(tail -n 5 "$W/d1.log" "$W/d2.log")"
	sleep 0.2
done
t1=$(date +%s%N)
note "200 runs done in $(((t1 - t0) / 1000000)) ms by 2 daemons x 2 workers"

assert_eq "$(psql_q "SELECT status, count(*) FROM runs GROUP BY 1")" "succeeded|200" "every run succeeded"
# One provider request per run, by its unique task.
dup=$(/usr/bin/python3 - "$W/requests.jsonl" <<'PY'
import collections, json, re, sys
seen = collections.Counter()
for line in open(sys.argv[1]):
    body = json.dumps(json.loads(line).get("body", {}))
    m = re.findall(r"task-(\d+)", body)
    for t in set(m):
        seen[t] += 1
bad = {t: n for t, n in seen.items() if n != 1}
print(len(seen), sorted(bad.items())[:5])
PY
)
assert_eq "$dup" "200 []" "provider requests per run (distinct tasks seen, tasks seen more than once)"
assert_eq "$(psql_q "SELECT count(*) FROM (SELECT run_id FROM run_events WHERE kind = 'finished' GROUP BY run_id HAVING count(*) = 1) x")" 200 "one 'finished' event per run"
assert_eq "$(psql_q "SELECT count(*) FROM lighthouse_outbox")" 0 "no reports queued (cloudship.enabled is false)"
c1=$(grep -c ': claimed by ' "$W/d1.log" || true)
c2=$(grep -c ': claimed by ' "$W/d2.log" || true)
assert_eq "$((c1 + c2))" 200 "claims logged by the two daemons"
((c1 > 0 && c2 > 0)) || fail "one daemon did all the work ($c1/$c2)"
workers=$(psql_q "SELECT count(DISTINCT claimed_by) FROM runs")
note "claims: daemon 1 $c1, daemon 2 $c2; $workers distinct workers"
pass "two berthd daemons x 2 workers shared 200 runs: each executed once (one provider request, one finished event), split $c1/$c2"
