#!/usr/bin/python3
"""fake-upstream.py - a stand-in for an upstream API of Touchstone's shape,
for tests/integration/test_login.sh.

    fake-upstream.py PORT RECORD_FILE

POST /api/auth {"username","password"} -> 200 {"api_key": KEY} for the
users below, 401 otherwise. GET /api/me and GET /api/echo/... with X-API-Key -> 200 {"user",
"path"} or 401. Every request is recorded as one JSON line in RECORD_FILE: method,
path, the X-API-Key and Authorization headers it carried, and the body.
POST /_mode {"mode": M} switches how /api/auth answers: normal, slow
(sleeps 5 s), html (200 with an HTML page), huge (200 with a 10 MB body),
nokey (200 {"token": ...} without api_key), error (500).
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USERS = {
    "alice": ("alice-pw", "tsk-alice-7f3a9c1e5b2d4a6f8e0c"),
    "bob": ("bob-pw", "tsk-bob-0d9e8c7b6a5f4e3d2c1b"),
    "carol": ("carol-pw", "tsk-carol-11223344556677889900"),
}
KEYS = {v[1]: k for k, v in USERS.items()}
STATE = {"mode": "normal"}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _record(self, body):
        rec = {
            "method": self.command,
            "path": self.path,
            "x_api_key": self.headers.get("X-API-Key"),
            "authorization": self.headers.get("Authorization"),
            "body": body.decode("utf-8", "replace"),
        }
        with LOCK, open(sys.argv[2], "a") as f:
            f.write(json.dumps(rec) + "\n")

    def _send(self, status, body, ctype="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self):
        body = self._body()
        self._record(body)
        if self.path == "/_mode":
            STATE["mode"] = json.loads(body)["mode"]
            return self._send(200, {"mode": STATE["mode"]})
        if self.path != "/api/auth":
            return self._send(404, {"error": "not found"})
        mode = STATE["mode"]
        if mode == "slow":
            time.sleep(5)
        elif mode == "html":
            return self._send(200, b"<html><body>Login</body></html>", "text/html")
        elif mode == "huge":
            return self._send(200, b"{\"api_key\": \"" + b"x" * (10 * 1024 * 1024) + b"\"}")
        elif mode == "error":
            return self._send(500, {"error": "internal"})
        try:
            req = json.loads(body)
            user, pw = req["username"], req["password"]
        except Exception:
            return self._send(400, {"error": "bad request"})
        if user not in USERS or USERS[user][0] != pw:
            return self._send(401, {"error": "invalid credentials"})
        if mode == "nokey":
            return self._send(200, {"token": "no-key-here"})
        return self._send(200, {"api_key": USERS[user][1], "user": user})

    def do_GET(self):
        self._record(b"")
        if self.path.startswith("/api/me") or self.path.startswith("/api/echo/"):
            user = KEYS.get(self.headers.get("X-API-Key") or "")
            if user is None:
                return self._send(401, {"error": "bad key"})
            return self._send(200, {"user": user, "path": self.path})
        return self._send(404, {"error": "not found"})


if __name__ == "__main__":
    srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    srv.daemon_threads = True
    srv.serve_forever()
