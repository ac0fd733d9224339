#!/usr/bin/python3
"""token_mock.py - a stand-in for Anthropic's OAuth endpoints, for
test_ai_auth.sh: the authorization page and the token endpoint of the
authorization-code flow with PKCE (RFC 7636, S256).

  GET  /oauth/authorize?...   checks client_id, redirect_uri,
                              response_type=code, code_challenge_method=S256,
                              a scope with user:inference; remembers the
                              challenge and state under a fresh code and
                              answers "CODE#STATE" as text, as Anthropic's
                              callback page shows it to the user
  POST /v1/oauth/token        JSON body. authorization_code: the code must be
                              known and unused, client_id, redirect_uri and
                              state those of the authorization, and
                              base64url(SHA-256(code_verifier)) the
                              challenge; refresh_token: a known, unused
                              refresh token (they rotate: each is good once).
                              Issues oat-access-N / oat-refresh-N.

--control FILE (JSON, read on every request) steers the token endpoint:
  {"expires_in": 3600}        lifetime of the next tokens
  {"mode": "html"}            200 with an HTML page
  {"mode": "huge"}            200 with a 200 KB JSON body
  {"mode": "error400"}        400 invalid_request on every request
  {"mode": "refresh-fail"}    400 invalid_grant on refresh requests
  {"refresh_delay": 1.0}      seconds to wait before answering a refresh
Every token request is logged to --log as one JSON line (grant type,
verdict), never with its secrets.
Usage: token_mock.py --port-file FILE --log FILE --control FILE
       --client-id ID --redirect-uri URI
"""
import argparse
import base64
import hashlib
import json
import os
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

ARGS = None
LOCK = threading.Lock()
CODES = {}      # code -> authorization parameters
REFRESH = set()  # refresh tokens still good
COUNTER = [0]


def control():
    try:
        with open(ARGS.control) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, obj=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log(self, **kw):
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(kw) + "\n")

    def do_GET(self):
        u = urlparse(self.path)
        if u.path != "/oauth/authorize":
            return self.send(404, {"error": "not_found"})
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        bad = None
        if q.get("client_id") != ARGS.client_id:
            bad = "client_id"
        elif q.get("redirect_uri") != ARGS.redirect_uri:
            bad = "redirect_uri"
        elif q.get("response_type") != "code":
            bad = "response_type"
        elif q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) != 43:
            bad = "code_challenge"
        elif "user:inference" not in q.get("scope", "").split(" "):
            bad = "scope"
        elif not q.get("state"):
            bad = "state"
        if bad:
            self.log(endpoint="authorize", ok=False, bad=bad)
            return self.send(400, raw=("bad " + bad).encode(), ctype="text/plain")
        code = "code-" + base64.urlsafe_b64encode(os.urandom(18)).decode()
        with LOCK:
            CODES[code] = q
        self.log(endpoint="authorize", ok=True)
        return self.send(200, raw=(code + "#" + q["state"]).encode(), ctype="text/plain")

    def issue(self, ctl, scope):
        with LOCK:
            COUNTER[0] += 1
            n = COUNTER[0]
            REFRESH.add("oat-refresh-%d" % n)
        return {"token_type": "Bearer", "access_token": "oat-access-%d" % n,
                "refresh_token": "oat-refresh-%d" % n,
                "expires_in": int(ctl.get("expires_in", 3600)), "scope": scope}

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        if self.path != "/v1/oauth/token":
            return self.send(404, {"error": "not_found"})
        ctl = control()
        mode = ctl.get("mode", "ok")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        grant = body.get("grant_type") if isinstance(body, dict) else None
        if "application/json" not in (self.headers.get("Content-Type") or ""):
            self.log(endpoint="token", grant=grant, ok=False, error="content-type")
            return self.send(400, {"error": "invalid_request",
                                   "error_description": "JSON body expected"})
        if mode == "html":
            self.log(endpoint="token", grant=grant, ok=False, error="html")
            return self.send(200, raw=b"<html><body>Sign in</body></html>", ctype="text/html")
        if mode == "huge":
            self.log(endpoint="token", grant=grant, ok=False, error="huge")
            return self.send(200, raw=b'{"access_token":"' + b"a" * 200000 + b'"}')
        if mode == "error400":
            self.log(endpoint="token", grant=grant, ok=False, error="error400")
            return self.send(400, {"error": "invalid_request",
                                   "error_description": "the server says no"})
        if grant == "authorization_code":
            with LOCK:
                auth = CODES.pop(body.get("code"), None)
            if auth is None:
                err = "unknown or used code"
            else:
                verifier = body.get("code_verifier") or ""
                challenge = base64.urlsafe_b64encode(
                    hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if challenge != auth["code_challenge"]:
                    err = "code_verifier does not match the code_challenge"
                elif body.get("client_id") != ARGS.client_id:
                    err = "client_id"
                elif body.get("redirect_uri") != auth["redirect_uri"]:
                    err = "redirect_uri"
                elif body.get("state") != auth["state"]:
                    err = "state"
                else:
                    err = None
            if err:
                self.log(endpoint="token", grant=grant, ok=False, error=err)
                return self.send(400, {"error": "invalid_grant", "error_description": err})
            self.log(endpoint="token", grant=grant, ok=True)
            return self.send(200, self.issue(ctl, auth["scope"]))
        if grant == "refresh_token":
            time.sleep(float(ctl.get("refresh_delay", 0)))
            rt = body.get("refresh_token")
            with LOCK:
                good = rt in REFRESH and body.get("client_id") == ARGS.client_id
                REFRESH.discard(rt)
            if mode == "refresh-fail" or not good:
                err = "refresh token invalid or already used"
                self.log(endpoint="token", grant=grant, ok=False, error=err)
                return self.send(400, {"error": "invalid_grant", "error_description": err})
            self.log(endpoint="token", grant=grant, ok=True)
            return self.send(200, self.issue(ctl, "user:inference"))
        self.log(endpoint="token", grant=grant, ok=False, error="grant_type")
        return self.send(400, {"error": "unsupported_grant_type"})


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--control", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--redirect-uri", required=True)
    ARGS = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
