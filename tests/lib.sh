# shellcheck shell=bash
#
# lib.sh - helpers for Berth's integration tests (tests/integration/*.sh).
#
# A test sources this file, brings a stack up, makes requests and prints one
# line per observation:
#
#     . "$(dirname "$0")/../lib.sh"
#     stack_up --apache
#     expect_json "nginx GET /healthz" 200 "$BERTH_URL/healthz"
#
#     PASS nginx GET /healthz -> 200 {"status":"ok",...}
#
# Exit codes follow automake's test protocol: 0 pass, 1 fail, 77 skip.
# Environment:
#   BERTH_SRCDIR, BERTH_BUILDDIR   set by `make check`; found from this file
#                                  and the binaries otherwise
#   BERTH_TEST_KEEP=1              leave the stack running and its folder in
#                                  place (prints how to stop it)
#   BERTH_TEST_NO_SKIP=1           a missing prerequisite fails instead of
#                                  skipping (CI wants every test to run)

set -euo pipefail

BERTH_SRCDIR=${BERTH_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export BERTH_SRCDIR
if [[ -n ${BERTH_BUILDDIR:-} ]]; then
	export BERTH_BUILDDIR
fi
BERTH_STACK=${BERTH_STACK:-$BERTH_SRCDIR/scripts/berth-stack}

# The last response of http_get: status code, body, Content-Type, and
# curl's error message when the request failed outright (status 000).
HTTP_STATUS=''
HTTP_BODY=''
HTTP_CTYPE=''
HTTP_ERROR=''

STACK_DIR=''
LIB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-test-lib.XXXXXX")

# --- verdicts ----------------------------------------------------------------

pass() {
	printf 'PASS %s\n' "$*"
}

fail() {
	printf 'FAIL %s\n' "$*"
	exit 1
}

# psql_q SQL: one statement against the stack's database (after
# stack_up), unaligned output, stopping on error.
psql_q() {
	if [[ -z ${PSQL_Q_BIN:-} ]]; then
		PSQL_Q_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
		PSQL_Q_BIN=${PSQL_Q_BIN:+$PSQL_Q_BIN/}psql
	fi
	"$PSQL_Q_BIN" -Atq -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -c "$1"
}

# A figure the test observed (never asserted: tests do not fail on timing).
note() {
	printf 'NOTE %s\n' "$*"
}

skip() {
	if [[ ${BERTH_TEST_NO_SKIP:-0} == 1 ]]; then
		fail "(would skip) $*"
	fi
	printf 'SKIP %s\n' "$*"
	exit 77
}

# 0 when command NAME exists, on PATH or in the sbin folders an ordinary
# user's PATH lacks on Debian (nginx, apache2).
have_cmd() {
	command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /sbin/$1 ]]
}

# Skips the test unless every named command exists.
require_cmd() {
	local c
	for c in "$@"; do
		have_cmd "$c" || skip "$c is not installed"
	done
}

# Skips the test unless PostgreSQL's server programs are installed.
require_postgres() {
	if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null &&
		! have_cmd initdb && ! have_cmd pg_config; then
		skip "the PostgreSQL server is not installed"
	fi
}

# --- assertions ----------------------------------------------------------------

# assert_eq ACTUAL EXPECTED [WHAT]
assert_eq() {
	if [[ $1 != "$2" ]]; then
		fail "${3:-value}: expected '$2', got '$1'"
	fi
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
	if [[ $1 != *"$2"* ]]; then
		fail "${3:-value}: '$(one_line "$1")' does not contain '$2'"
	fi
}

# assert_json TEXT [WHAT]: TEXT is one JSON object.
assert_json() {
	if ! json_valid "$1"; then
		fail "${2:-body}: not a JSON object: '$(one_line "$1")'"
	fi
}

# --- JSON ----------------------------------------------------------------------

LIB_PY=$(command -v python3 || true)
[[ -x /usr/bin/python3 ]] && LIB_PY=/usr/bin/python3

json_valid() {
	if [[ -n $LIB_PY ]]; then
		"$LIB_PY" -c 'import json,sys; o=json.loads(sys.argv[1]); sys.exit(0 if isinstance(o, dict) else 1)' "$1" 2>/dev/null
	else
		[[ $1 =~ ^[[:space:]]*\{.*\}[[:space:]]*$ ]]
	fi
}

# json_get TEXT KEY: prints the top-level string/number/bool at KEY (empty
# when absent). Needs python3.
json_get() {
	[[ -n $LIB_PY ]] || skip "python3 is needed to read JSON"
	"$LIB_PY" -c '
import json, sys
try:
    v = json.loads(sys.argv[1]).get(sys.argv[2], "")
except Exception:
    v = ""
print(json.dumps(v) if isinstance(v, (dict, list)) else ("true" if v is True else "false" if v is False else v))
' "$1" "$2"
}

# The text on one line, cut to 160 characters, for messages.
one_line() {
	local s=${1//$'\n'/ }
	s=${s//$'\r'/}
	if ((${#s} > 160)); then
		s="${s:0:157}..."
	fi
	printf '%s' "$s"
}

# --- HTTP ----------------------------------------------------------------------

# http_get URL [curl args...]: makes the request; sets HTTP_STATUS (000 when
# no response came), HTTP_BODY, HTTP_CTYPE and HTTP_ERROR. Never fails.
http_get() {
	local url=$1 out rc=0
	shift
	: >"$LIB_TMP/body"
	out=$(curl -sS --max-time 30 -o "$LIB_TMP/body" -w '%{http_code} %{content_type}' \
		"$@" "$url" 2>"$LIB_TMP/err") || rc=$?
	HTTP_STATUS=${out%% *}
	HTTP_CTYPE=${out#* }
	[[ $HTTP_CTYPE != "$out" ]] || HTTP_CTYPE=''
	[[ -n $HTTP_STATUS ]] || HTTP_STATUS=000
	HTTP_BODY=$(cat "$LIB_TMP/body")
	HTTP_ERROR=''
	if ((rc != 0)); then
		HTTP_ERROR="curl exit $rc: $(one_line "$(cat "$LIB_TMP/err")")"
	fi
}

# http_status URL [curl args...]: prints only the status code.
http_status() {
	http_get "$@"
	printf '%s\n' "$HTTP_STATUS"
}

# expect_json LABEL STATUS URL [curl args...]: the response has STATUS and a
# JSON object body labelled application/json; prints the PASS line.
expect_json() {
	local label=$1 want=$2 url=$3
	shift 3
	http_get "$url" "$@"
	if [[ $HTTP_STATUS != "$want" ]]; then
		fail "$label -> $HTTP_STATUS, expected $want ${HTTP_ERROR:+($HTTP_ERROR) }$(one_line "$HTTP_BODY")"
	fi
	assert_contains "$HTTP_CTYPE" application/json "$label: Content-Type"
	assert_json "$HTTP_BODY" "$label"
	pass "$label -> $HTTP_STATUS $(one_line "$HTTP_BODY")"
}

# wait_for_status SECONDS STATUS URL: polls until URL answers STATUS; 0 in
# time, 1 not (HTTP_* then hold the last answer).
wait_for_status() {
	local deadline=$((SECONDS + $1)) want=$2 url=$3
	while :; do
		http_get "$url"
		[[ $HTTP_STATUS == "$want" ]] && return 0
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# A file of N bytes of JSON-ish filler, path printed (kept until exit).
make_body() {
	local n=$1 f="$LIB_TMP/body-$1"
	if [[ ! -f $f ]]; then
		head -c "$n" /dev/zero | tr '\0' ' ' >"$f"
	fi
	printf '%s\n' "$f"
}

# --- the stack -------------------------------------------------------------------

# The stack script, run with bash so a lost exec bit does not matter.
stack() {
	bash "$BERTH_STACK" "$@"
}

# stack_cmd ARGS...: runs berth-stack quietly; on failure shows what it
# said and fails the test.
stack_cmd() {
	if ! stack "$@" >"$LIB_TMP/stack.out" 2>&1; then
		cat "$LIB_TMP/stack.out"
		fail "berth-stack $*"
	fi
}

# stack_up [berth-stack up args...]: brings a stack up in a fresh temporary
# folder, exports what it prints (BERTH_URL, DATABASE_URL, ...) and sets
# STACK_DIR; on exit the stack is stopped and the folder removed (after
# showing the logs when the test failed). Skips when curl or PostgreSQL is
# missing, and when nginx is missing unless the arguments say --db-only.
stack_up() {
	require_cmd curl
	require_postgres
	if [[ " $* " != *" --db-only "* ]]; then
		require_cmd nginx
	fi
	if [[ " $* " == *" --apache "* ]] && ! have_cmd apache2 && ! have_cmd httpd; then
		skip "apache2 is not installed"
	fi
	[[ -f $BERTH_STACK ]] || fail "no stack script at $BERTH_STACK"
	STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/berth-test.XXXXXX")
	# As root, the cluster's user and the web servers' user must reach it.
	chmod 0755 "$STACK_DIR"
	trap stack_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if ! stack up --dir "$STACK_DIR" "$@" >"$STACK_DIR/up.out" 2>"$STACK_DIR/up.err"; then
		cat "$STACK_DIR/up.err"
		fail "berth-stack up $* failed"
	fi
	set -a
	# shellcheck source=/dev/null
	. "$STACK_DIR/stack.env"
	set +a
	echo "stack up in $STACK_DIR: $(tr '\n' ' ' <"$STACK_DIR/stack.env")"
}

# The pid of berth-fcgi in the current stack.
stack_fcgi_pid() {
	head -n 1 "$STACK_DIR/run/berth-fcgi.pid" 2>/dev/null || true
}

# stack_cleanup [RC]: stops the stack and exits with RC (default: the exit
# status it was called with). Traps that do more first pass the status they
# saved: re-raising it with "(exit $rc)" under set -e would end the trap
# right there, before the stack is stopped.
stack_cleanup() {
	local rc=${1:-$?}
	if [[ -n $STACK_DIR && -d $STACK_DIR ]]; then
		if ((rc != 0 && rc != 77)); then
			local f
			for f in "$STACK_DIR"/log/*.log; do
				[[ -s $f ]] || continue
				echo "---- last lines of $f ----"
				tail -n 20 "$f"
			done
		fi
		if [[ ${BERTH_TEST_KEEP:-0} == 1 ]]; then
			echo "stack kept in $STACK_DIR; stop it with: $BERTH_STACK down --dir $STACK_DIR"
		else
			stack down --dir "$STACK_DIR" >/dev/null 2>&1 || stack down --dir "$STACK_DIR" || true
			# berth-stack's root fallback keeps the cluster in /var/tmp.
			if [[ -L $STACK_DIR/pg ]]; then
				local shadow
				shadow=$(dirname -- "$(readlink -- "$STACK_DIR/pg")")
				case $shadow in
				/var/tmp/berth-stack.*) rm -rf -- "$shadow" ;;
				esac
			fi
			rm -rf -- "$STACK_DIR"
		fi
	fi
	rm -rf -- "$LIB_TMP"
	exit "$rc"
}

trap 'rm -rf -- "$LIB_TMP"' EXIT
