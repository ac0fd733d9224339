#!/usr/bin/env bash
#
# test_oauth.sh - Berth as an OAuth 2.1 protected resource (issue 6), against
# a real authorization server run by the test: oidc-provider from npm
# (tests/integration/oauth/as.mjs), with PKCE S256, resource indicators,
# opaque access tokens (so Berth must introspect, RFC 7662) and revocation.
#   * RFC 9728 metadata at both paths, through nginx and Apache, public and
#     cacheable; 404 while OAuth is off;
#   * 401 with WWW-Authenticate resource_metadata (+ scope; invalid_token
#     only when a token was sent) and a JSON body; sk- keys still work;
#   * a token from oidc-provider accepted by introspection, mapped to a
#     Berth user made on first sight; a second request does no introspection;
#   * refusals: token for another resource, of another org, revoked,
#     expired (never used, and cached then expired), too few scopes (403
#     insufficient_scope), unknown (negative cache), malformed, oversized;
#   * 1,000 requests with one token through the responders: introspections
#     counted at the authorization server;
#   * authorization server stopped: a cached token still works, an unseen
#     one gets 503 (fail closed), the failure is audited;
#   * an introspection endpoint answering HTML, garbage, 10 MB, 500, or
#     too slowly: 503 with a JSON body, never a crash;
#   * the official MCP SDK clients (v1 and v2) with their OAuth support go
#     from 401 through discovery, authorization code + PKCE (login and
#     consent answered by the test), token, to a successful tools/list.
#
# node and npm install oidc-provider and the SDKs once into
# ${BERTH_NODE_CACHE:-~/.cache/berth}/oauth (see test_mcp.sh for why a cache).

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ -n $LIB_PY ]] || skip "python3 is needed to read JSON"
command -v node >/dev/null 2>&1 ||
	fail "node is not installed: oidc-provider and the MCP SDK need Node.js >= 20 (Debian: scripts/install-deps)"
command -v npm >/dev/null 2>&1 ||
	fail "npm is not installed: it installs oidc-provider and the MCP SDK (Debian: scripts/install-deps)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || fail "node $(node --version) is too old: oidc-provider needs >= 20"

BUILD=${BERTH_BUILDDIR:-$BERTH_SRCDIR}
BERTH_BIN=$BUILD/cli/berth
FCGI_BIN=$BUILD/fcgi/berth-fcgi

# --- oidc-provider and the SDKs, installed in a cache outside the build tree ----

AS_SRC=$BERTH_SRCDIR/tests/integration/oauth
AS_DIR=${BERTH_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}/oauth
mkdir -p -- "$AS_DIR"
for f in package.json package-lock.json as.mjs as-token.mjs interact.mjs oauth-client.mjs; do
	if ! cmp -s -- "$AS_SRC/$f" "$AS_DIR/$f"; then
		cp -- "$AS_SRC/$f" "$AS_DIR/$f"
		chmod u+w -- "$AS_DIR/$f"
	fi
done
if [[ ! -d $AS_DIR/node_modules ]] ||
	! cmp -s -- "$AS_DIR/package-lock.json" "$AS_DIR/node_modules/.berth-lock"; then
	if ! (cd "$AS_DIR" && npm ci --no-audit --no-fund >"$AS_DIR/npm-ci.log" 2>&1); then
		tail -n 20 "$AS_DIR/npm-ci.log"
		fail "npm ci in $AS_DIR failed"
	fi
	cp -- "$AS_DIR/package-lock.json" "$AS_DIR/node_modules/.berth-lock"
fi
ver() {
	node -p 'require(process.argv[1]).version' "$AS_DIR/node_modules/$1/package.json"
}
pass "oidc-provider@$(ver oidc-provider), @modelcontextprotocol/sdk@$(ver @modelcontextprotocol/sdk), @modelcontextprotocol/client@$(ver @modelcontextprotocol/client) installed in $AS_DIR"

APACHE_ARGS=()
if have_cmd apache2 || have_cmd httpd; then
	APACHE_ARGS=(--apache)
fi
stack_up "${APACHE_ARGS[@]}"
export DATABASE_URL BERTH_CONFIG

PSQL=$(command -v psql || true)
for p in /usr/lib/postgresql/*/bin/psql; do
	[[ -x $p ]] && PSQL=$p
done
[[ -n $PSQL ]] || skip "psql is not installed"
sql() {
	printf '%s\n' "$1" | "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL"
}

T=$STACK_DIR/oauth-test
mkdir -p "$T"
AS_PID=''
FAKE_PID=''
cleanup_oauth() {
	local rc=$?
	if [[ -n $AS_PID ]]; then
		kill "$AS_PID" 2>/dev/null || true
	fi
	if [[ -n $FAKE_PID ]]; then
		kill "$FAKE_PID" 2>/dev/null || true
	fi
	if ((rc != 0 && rc != 77)) && [[ -s $T/as.log ]]; then
		echo "---- last lines of the authorization server's log ----"
		tail -n 20 "$T/as.log"
	fi
	# stack_cleanup takes the exit status from $?.
	if ((rc == 0)); then
		stack_cleanup
	else
		(exit "$rc") || stack_cleanup
	fi
}
trap cleanup_oauth EXIT

note() {
	printf 'NOTE %s\n' "$*"
}

free_port() {
	"$LIB_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the authorization server -------------------------------------------------------

AS_PORT=$(free_port)
ISSUER=http://127.0.0.1:$AS_PORT
RESOURCE=$BERTH_URL/mcp
# The MCP client's redirect URI: never contacted, the interaction stops at
# the redirect and reads the code from it.
REDIRECT=http://127.0.0.1:9/callback
# Characters that RFC 6749 2.3.1 wants form-urlencoded inside Basic.
SECRET="s3cret:with/+ and%-$RANDOM$RANDOM"

start_as() {
	# A fresh log for each run (the counts below read it), the old one kept.
	if [[ -f $T/as.log ]]; then
		cat "$T/as.log" >>"$T/as-before.log"
		: >"$T/as.log"
	fi
	(cd "$AS_DIR" && exec node as.mjs --port "$AS_PORT" --resource "$RESOURCE" \
		--redirect "$REDIRECT" --secret "$SECRET") >>"$T/as.log" 2>&1 &
	AS_PID=$!
	local deadline=$((SECONDS + 20))
	until grep -q '^READY' "$T/as.log" 2>/dev/null; do
		kill -0 "$AS_PID" 2>/dev/null || fail "oidc-provider exited: $(tail -n 5 "$T/as.log")"
		((SECONDS < deadline)) || fail "oidc-provider did not come up in 20 s"
		sleep 0.2
	done
}
start_as
pass "oidc-provider runs at $ISSUER (PKCE S256, resource indicators, opaque tokens, introspection)"

as_count() {
	curl -sS --max-time 5 "$ISSUER/test/count" | "$LIB_PY" -c 'import json,sys; print(json.load(sys.stdin)["introspections"])'
}

# token [as-token.mjs args...]: a fresh access token (code + PKCE + resource).
token() {
	(cd "$AS_DIR" && timeout 30 node as-token.mjs --issuer "$ISSUER" --redirect "$REDIRECT" \
		--resource "$RESOURCE" "$@") 2>"$T/token.err" || fail "as-token.mjs $*: $(one_line "$(cat "$T/token.err")")"
}

# --- metadata while OAuth is off ----------------------------------------------------

expect_json "OAuth off: GET /.well-known/oauth-protected-resource/mcp" 404 \
	"$BERTH_URL/.well-known/oauth-protected-resource/mcp"

# --- Berth with OAuth on ----------------------------------------------------------------

# restart_fcgi: berth-fcgi restarted on the same port with the stack's
# config as it now is (nginx and Apache do not notice).
restart_fcgi() {
	local fcgi_port old
	fcgi_port=$(sed -n 's/^FCGI_PORT=//p' "$STACK_DIR/run/state")
	[[ -n $fcgi_port ]] || fail "no FCGI_PORT in $STACK_DIR/run/state"
	old=$(stack_fcgi_pid)
	kill -TERM "$old"
	for _ in $(seq 100); do
		kill -0 "$old" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$old" 2>/dev/null && fail "berth-fcgi (pid $old) did not stop"
	setsid "$FCGI_BIN" --config "$BERTH_CONFIG" --listen "127.0.0.1:$fcgi_port" --workers 4 \
		--pidfile "$STACK_DIR/run/berth-fcgi.pid" </dev/null >>"$STACK_DIR/log/berth-fcgi.log" 2>&1 &
	wait_for_status 30 200 "$BERTH_URL/healthz" || fail "berth-fcgi did not come back: $HTTP_STATUS"
}

cp "$BERTH_CONFIG" "$T/config.base.yaml"
# write_config INTROSPECT_URL [CLIENT_ID [SECRET]]: the stack's config plus
# OAuth (client berth with its secret unless told otherwise).
write_config() {
	local client=${2:-berth} secret=${3-$SECRET}
	{
		cat "$T/config.base.yaml"
		cat <<EOF
local_mode: false
cloudship:
  base_url: "$ISSUER"
  org_id: org-test
  oauth:
    enabled: true
    client_id: $client
    client_secret: "$secret"
    introspect_url: "$1"
    scopes: [mcp]
    timeout: 2
auth:
  default_role: developer
  lockout_address_failures: 1000
EOF
	} >"$BERTH_CONFIG"
}
write_config "$ISSUER/token/introspection"
restart_fcgi
pass "berth-fcgi restarted with cloudship.oauth.enabled, local_mode false, org_id org-test, scopes [mcp], auth.default_role developer"

# --- 1. RFC 9728 metadata ---------------------------------------------------------------

# headers_of FILE NAME: the value of header NAME in a curl -D dump.
header_of() {
	tr -d '\r' <"$1" | sed -n "s/^$2: //Ip" | tail -n 1
}

check_metadata() {
	local label=$1 url=$2 v
	expect_json "$label" 200 "$url" -D "$T/h"
	assert_eq "$(json_get "$HTTP_BODY" resource)" "$RESOURCE" "$label: resource"
	assert_eq "$(json_get "$HTTP_BODY" authorization_servers)" "[\"$ISSUER\"]" "$label: authorization_servers"
	assert_eq "$(json_get "$HTTP_BODY" scopes_supported)" '["mcp"]' "$label: scopes_supported"
	assert_eq "$(json_get "$HTTP_BODY" bearer_methods_supported)" '["header"]' "$label: bearer_methods_supported"
	v=$(header_of "$T/h" Cache-Control)
	assert_eq "$v" "public, max-age=300" "$label: Cache-Control"
	pass "$label: resource, authorization_servers, scopes_supported, bearer_methods_supported; Cache-Control: $v"
}
check_metadata "nginx GET /.well-known/oauth-protected-resource/mcp" "$BERTH_URL/.well-known/oauth-protected-resource/mcp"
check_metadata "nginx GET /.well-known/oauth-protected-resource" "$BERTH_URL/.well-known/oauth-protected-resource"
if [[ -n ${BERTH_APACHE_URL:-} ]]; then
	check_metadata "Apache GET /.well-known/oauth-protected-resource/mcp" "$BERTH_APACHE_URL/.well-known/oauth-protected-resource/mcp"
	check_metadata "Apache GET /.well-known/oauth-protected-resource" "$BERTH_APACHE_URL/.well-known/oauth-protected-resource"
else
	note "Apache is not installed: metadata checked through nginx only"
fi
http_get "$BERTH_URL/.well-known/oauth-protected-resource/other"
assert_eq "$HTTP_STATUS" 404 "GET /.well-known/oauth-protected-resource/other"

# --- 2. 401 without valid credentials ------------------------------------------------------

INIT_BODY='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
JSON_HDRS=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
META="$BERTH_URL/.well-known/oauth-protected-resource/mcp"

# mcp LABEL STATUS [curl args...]: POST initialize to /mcp, expects STATUS
# and a JSON body; headers in $T/h.
mcp() {
	local label=$1 want=$2
	shift 2
	http_get "$RESOURCE" -X POST "${JSON_HDRS[@]}" --data "$INIT_BODY" -D "$T/h" "$@"
	if [[ $HTTP_STATUS != "$want" ]]; then
		fail "$label -> $HTTP_STATUS, expected $want ${HTTP_ERROR:+($HTTP_ERROR) }$(one_line "$HTTP_BODY")"
	fi
	assert_json "$HTTP_BODY" "$label"
}

mcp "POST /mcp without credentials" 401
assert_eq "$(header_of "$T/h" WWW-Authenticate)" "Bearer resource_metadata=\"$META\", scope=\"mcp\"" \
	"no token: WWW-Authenticate"
pass "POST /mcp without credentials -> 401, WWW-Authenticate: $(header_of "$T/h" WWW-Authenticate), $(one_line "$HTTP_BODY")"

INVALID_WWW="Bearer resource_metadata=\"$META\", scope=\"mcp\", error=\"invalid_token\""
# refused LABEL STATUS AUTHORIZATION: POST /mcp with that header is refused
# with STATUS, a JSON body and WWW-Authenticate (invalid_token for 401).
refused() {
	local label=$1 want=$2 auth=$3 www
	mcp "$label" "$want" -H "Authorization: $auth"
	www=$(header_of "$T/h" WWW-Authenticate)
	if [[ $want == 401 ]]; then
		assert_eq "$www" "$INVALID_WWW" "$label: WWW-Authenticate"
	fi
	pass "$label -> $HTTP_STATUS${www:+, WWW-Authenticate: $www}, $(one_line "$HTTP_BODY")"
}

c0=$(as_count)
refused "malformed token (blank inside)" 401 "Bearer not a token"
refused "malformed token (quote)" 401 'Bearer abc"def'
refused "malformed sk- key (never sent to introspection)" 401 "Bearer sk-tooshort"
mcp "another scheme (Basic)" 401 -H "Authorization: Basic YWxpY2U6cHc="
assert_eq "$(header_of "$T/h" WWW-Authenticate)" "Bearer resource_metadata=\"$META\", scope=\"mcp\"" "Basic: WWW-Authenticate"
pass "another scheme (Basic) -> 401, no error= (no bearer token presented)"
mcp "Bearer without a token" 401 -H "Authorization: Bearer"
pass "Bearer without a token -> 401 $(one_line "$HTTP_BODY")"
big=$(head -c 5000 /dev/zero | tr '\0' 'A')
refused "oversized token (5000 bytes)" 401 "Bearer $big"
assert_eq "$(as_count)" "$c0" "introspections after malformed and oversized tokens"
pass "malformed tokens and sk- keys, foreign schemes and oversized tokens cost no introspection (count stays $c0)"

# --- sk- keys beside OAuth -------------------------------------------------------------------

"$BERTH_BIN" user create keyuser --email keyuser@example.com --role admin >/dev/null ||
	fail "berth user create keyuser"
KEY=$("$BERTH_BIN" apikey create keyuser --name oauth-test 2>/dev/null) || fail "berth apikey create keyuser"
mcp "sk- key with OAuth on" 200 -H "Authorization: Bearer $KEY"
pass "an sk- API key still works beside OAuth -> 200"

# --- 3. a token from oidc-provider ----------------------------------------------------------

TOK=$(token --login alice)
c0=$(as_count)
mcp "oidc-provider token (alice)" 200 -H "Authorization: Bearer $TOK"
c1=$(as_count)
assert_eq "$((c1 - c0))" 1 "introspections for the first use of a token"
pass "a token from oidc-provider (code + PKCE + resource) -> 200 after 1 introspection"
http_get "$BERTH_URL/auth/whoami" -H "Authorization: Bearer $TOK"
assert_eq "$HTTP_STATUS" 200 "whoami with the token"
c2=$(as_count)
assert_eq "$c2" "$c1" "introspections for the second use (cache hit)"
"$LIB_PY" - "$HTTP_BODY" <<'PY' || fail "whoami: $(one_line "$HTTP_BODY")"
import json, sys
o = json.loads(sys.argv[1])
assert o["auth_method"] == "oauth", o
u = o["user"]
assert u["username"] == "oauth:alice", u
assert u["email"] == "alice@example.com", u
assert u["org_id"] == "org-test", u
assert o["roles"].get("*") == "developer", o
PY
pass "second request: cache hit, no introspection; whoami: $(one_line "$HTTP_BODY")"
row=$(sql "SELECT username || ' ' || auth_source || ' ' || external_id || ' ' || coalesce(email, '') FROM users WHERE external_id = 'alice'")
assert_eq "$row" "oauth:alice oauth alice alice@example.com" "the Berth user made on first sight"
n=$(sql "SELECT count(*) FROM token_cache WHERE active AND user_id IS NOT NULL")
ttl=$(sql "SELECT ceil(extract(epoch FROM max(expires_at - cached_at))) FROM token_cache")
leak=$(sql "SELECT count(*) FROM token_cache WHERE claims::text LIKE '%' || '$TOK' || '%'")
assert_eq "$leak" 0 "token_cache rows holding the token"
pass "user oauth:alice (auth_source oauth, default role developer from auth.default_role); token_cache: $n positive row(s), longest lifetime ${ttl}s, the token itself in none"

# --- refusals -----------------------------------------------------------------------------------

TOK_OTHER_RES=$(token --login alice --resource https://other.example/mcp)
refused "token for another resource (aud https://other.example/mcp)" 401 "Bearer $TOK_OTHER_RES"
TOK_OTHER_ORG=$(token --login otherbob)
refused "token of another org (org-other)" 401 "Bearer $TOK_OTHER_ORG"
TOK_SCOPE=$(token --login carol --scope other)
mcp "token without scope mcp" 403 -H "Authorization: Bearer $TOK_SCOPE"
assert_eq "$(header_of "$T/h" WWW-Authenticate)" \
	"Bearer resource_metadata=\"$META\", scope=\"mcp\", error=\"insufficient_scope\"" "too few scopes: WWW-Authenticate"
pass "token with scope 'other' only -> 403, WWW-Authenticate: $(header_of "$T/h" WWW-Authenticate), $(one_line "$HTTP_BODY")"

# The station's organization as the daemon records it (station_status)
# beats cloudship.org_id; answers are checked again on every request, the
# cached ones too.
sql "INSERT INTO station_status (name, org_id) VALUES ('oauth-test', 'org-other')"
mcp "org-other token, station_status.org_id org-other" 200 -H "Authorization: Bearer $TOK_OTHER_ORG"
refused "org-test token (cached), station_status.org_id org-other" 401 "Bearer $TOK"
sql "DELETE FROM station_status WHERE name = 'oauth-test'"
mcp "org-test token (cached), station_status row gone" 200 -H "Authorization: Bearer $TOK"
pass "station_status.org_id (written by berthd) decides over cloudship.org_id, also for cached answers"

TOK_REV=$(token --login dave)
curl -sS --max-time 5 -o /dev/null -d "token=$TOK_REV&client_id=mcp-client" "$ISSUER/token/revocation" ||
	fail "revocation request failed"
refused "revoked token" 401 "Bearer $TOK_REV"

TOK_EXP=$(token --login erin --client short-client)
TOK_EXP2=$(token --login erin --client short-client)
mcp "short-lived token, used at once" 200 -H "Authorization: Bearer $TOK_EXP2"
pass "short-lived token (4 s) used at once -> 200 (cached no longer than its exp)"
sleep 5
refused "expired token, never used" 401 "Bearer $TOK_EXP"
refused "expired token, cached while valid" 401 "Bearer $TOK_EXP2"

UNKNOWN=unknown-token-$RANDOM$RANDOM
c0=$(as_count)
refused "unknown token" 401 "Bearer $UNKNOWN"
refused "unknown token again" 401 "Bearer $UNKNOWN"
c1=$(as_count)
assert_eq "$((c1 - c0))" 1 "introspections for an unknown token sent twice"
pass "an unknown token twice: 1 introspection (the refusal is cached for 30 s)"

# --- 1,000 requests with one token ------------------------------------------------------------

# Half through Apache when it runs: two web servers, one set of responders.
LOAD_URLS=("$BERTH_URL")
if [[ -n ${BERTH_APACHE_URL:-} ]]; then
	LOAD_URLS+=("$BERTH_APACHE_URL")
fi
{
	for i in $(seq 1000); do
		printf 'url = "%s/auth/whoami"\noutput = "/dev/null"\n' "${LOAD_URLS[i % ${#LOAD_URLS[@]}]}"
	done
} >"$T/load.cfg"
# Three rounds, each with a fresh token: the first requests of a round race
# each other on a cold cache (the single-flight claim is what keeps them
# from all asking).
for round in 1 2 3; do
	TOK_LOAD=$(token --login "frank$round")
	c0=$(as_count)
	t0=$(date +%s.%N)
	curl -sS --parallel --parallel-max 8 -K "$T/load.cfg" -H "Authorization: Bearer $TOK_LOAD" \
		-w '%{http_code}\n' >"$T/load.out" 2>"$T/load.err" || true
	t1=$(date +%s.%N)
	c1=$(as_count)
	ok=$(grep -c '^200$' "$T/load.out" || true)
	assert_eq "$ok" 1000 "round $round: 200 answers out of 1000 requests with one token"
	((c1 - c0 <= 1)) || fail "round $round: 1000 requests with one token: $((c1 - c0)) introspections, expected at most 1"
	note "round $round: 1000 requests with one token through ${#LOAD_URLS[@]} web server(s) (nginx, Apache when installed) and 4 berth-fcgi worker processes (8 in parallel; no cache inside a process, only token_cache): $ok x 200, $((c1 - c0)) introspection(s) at the authorization server, $("$LIB_PY" -c "print(round($t1 - $t0, 2))") s"
	pass "round $round: 1000 requests with one token, $((c1 - c0)) introspection"
done

# --- authorization server stopped --------------------------------------------------------------

TOK_UNSEEN=$(token --login grace)
kill "$AS_PID"
wait "$AS_PID" 2>/dev/null || true
AS_PID=''
mcp "authorization server down: cached token" 200 -H "Authorization: Bearer $TOK"
pass "authorization server down: a cached token still works -> 200"
mcp "authorization server down: unseen token" 503 -H "Authorization: Bearer $TOK_UNSEEN"
ra=$(header_of "$T/h" Retry-After)
[[ -n $ra ]] || fail "503 without Retry-After"
pass "authorization server down: an unseen token -> 503 (fail closed), Retry-After: $ra, $(one_line "$HTTP_BODY")"
n=$(sql "SELECT count(*) FROM audit_log WHERE action = 'oauth.introspect' AND NOT success")
((n >= 1)) || fail "no oauth.introspect failure in the audit log"
pass "the failed introspection is in the audit log ($n row(s))"

# --- a broken introspection endpoint ---------------------------------------------------------

FAKE_PORT=$(free_port)
cat >"$T/fake.py" <<'PY'
# A broken introspection endpoint: GET /mode/NAME picks how POST answers.
import http.server, sys, time
mode = ["html"]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        mode[0] = self.path.rsplit("/", 1)[-1]
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        m = mode[0]
        if m == "slow":
            time.sleep(6)
        body, status, ctype = {
            "html": (b"<html><body>Login</body></html>", 200, "text/html"),
            "garbage": (b'{"active": tru', 200, "application/json"),
            "string": (b'{"active": "true", "sub": "x"}', 200, "application/json"),
            "array": (b'[{"active": true}]', 200, "application/json"),
            "error": (b'{"error": "server_error"}', 500, "application/json"),
            "big": (b'{"active": true, "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}', 200, "application/json"),
            "slow": (b'{"active": true}', 200, "application/json"),
        }[m]
        try:
            self.send_response(status); self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
"$LIB_PY" "$T/fake.py" "$FAKE_PORT" >"$T/fake.log" 2>&1 &
FAKE_PID=$!
wait_for_status 10 200 "http://127.0.0.1:$FAKE_PORT/mode/html" || fail "the fake introspection endpoint did not start"
write_config "http://127.0.0.1:$FAKE_PORT/introspect"
restart_fcgi
for m in html garbage string array error big slow; do
	curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$FAKE_PORT/mode/$m"
	t0=$(date +%s.%N)
	mcp "introspection answering $m" 503 -H "Authorization: Bearer fake-$m-$RANDOM$RANDOM"
	t1=$(date +%s.%N)
	pass "introspection answering $m -> 503 in $("$LIB_PY" -c "print(round($t1 - $t0, 2))") s, $(one_line "$HTTP_BODY")"
done
http_get "$BERTH_URL/healthz"
assert_eq "$HTTP_STATUS" 200 "healthz after the broken introspection endpoint"
pass "berth-fcgi still answers after every broken introspection answer"

# --- a public client: the client_id parameter instead of Basic ----------------------------

write_config "$ISSUER/token/introspection" mcp-client ""
restart_fcgi
start_as
c0=$(as_count)
TOK_PUB=$(token --login heidi)
mcp "introspection as a public client (client_id parameter)" 200 -H "Authorization: Bearer $TOK_PUB"
assert_eq "$(grep -c 'auth=none' "$T/as.log")" "$(($(as_count) - c0))" "introspections made without Basic"
pass "no client_secret: introspection sends client_id as a parameter (no Basic header), oidc-provider accepts it -> 200"

# --- the official MCP SDK clients with their OAuth support -----------------------------------

write_config "$ISSUER/token/introspection"
restart_fcgi
for v in v1 v2; do
	rc=0
	out=$(cd "$AS_DIR" && timeout 90 node oauth-client.mjs --sdk "$v" --url "$RESOURCE" \
		--redirect "$REDIRECT" --login "sdk-$v" 2>&1) || rc=$?
	while IFS= read -r l; do
		printf '    %s client: %s\n' "$v" "$l"
	done <<<"$out"
	((rc == 0)) || fail "MCP SDK $v client with OAuth: exit $rc"
	for step in unauthorized authorize interaction token "connect with token" list; do
		grep -q "^OK $step" <<<"$out" || fail "MCP SDK $v client: no 'OK $step'"
	done
	grep -q "^OK list .*station_status" <<<"$out" || fail "MCP SDK $v client: tools/list without station_status"
	grep -q "oauth-protected-resource" <<<"$out" || fail "MCP SDK $v client did not fetch the protected resource metadata"
	pass "MCP SDK $v client: 401 -> metadata discovery -> authorization code + PKCE (login and consent answered) -> token -> $(grep '^OK list' <<<"$out" | head -n 1)"
done
