#!/usr/bin/env bash
# test_daemon_tls.sh - berthd's TLS to Lighthouse: a certificate the CA
# store trusts is accepted (ALPN h2, "(TLS)" logged), an unknown one is
# refused, skip_tls_verify connects anyway with a warning.
. "$(dirname "$0")/lib_daemon.sh"
require_cmd openssl

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost" \
	-keyout "$W/lh.key" -out "$W/lh.crt" >"$W/openssl.log" 2>&1 ||
	{ cat "$W/openssl.log"; fail "openssl could not make a certificate"; }
lh_start --hb-ms 1000 --tls-cert "$W/lh.crt" --tls-key "$W/lh.key"
tls_config() {
	write_config "$1"
	sed -i -e "s/^  endpoint: .*/  endpoint: \"localhost:$LH_PORT\"/" \
		-e "s/^  use_tls: false/  use_tls: true/" "$W/$1.yaml"
	[[ -z ${2:-} ]] || sed -i "s/^  use_tls: true/&\n  $2/" "$W/$1.yaml"
}

# The certificate is in the CA store berthd reads ($SSL_CERT_FILE).
tls_config trusted
SSL_CERT_FILE=$W/lh.crt bd_start trusted
lh_wait auth 1 15 >/dev/null
bd_wait_log trusted "Connected to CloudShip Lighthouse at localhost:$LH_PORT (TLS)" 5
bd_stop trusted TERM || fail "berthd exited $? on SIGTERM"
pass "TLS with a certificate from the CA store: registered, '(TLS)' logged"

# The system CA store does not know the test certificate: refused.
n=$(lh_count auth)
SSL_CERT_FILE=/nonexistent/ca.pem bd_start untrusted trusted
bd_wait_log untrusted "cannot read the CA store /nonexistent/ca.pem" 5
tls_config untrusted2
bd_stop untrusted TERM || true
SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt bd_start untrusted2
bd_wait_log untrusted2 "reconnecting to Lighthouse in" 15
assert_eq "$(lh_count auth)" "$n" "StationAuth received over an unverified connection"
bd_stop untrusted2 TERM || fail "berthd exited $? on SIGTERM"
pass "an unreadable CA store or an untrusted certificate: no connection, no key sent"

tls_config insecure "skip_tls_verify: true"
n=$(lh_count auth)
SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt bd_start insecure
lh_wait auth $((n + 1)) 15 >/dev/null
bd_wait_log insecure "cloudship.skip_tls_verify is true" 1
bd_stop insecure TERM || fail "berthd exited $? on SIGTERM"
pass "skip_tls_verify: connects to an untrusted certificate, with a warning"
