#!/usr/bin/env python3
"""mcp_ask.py - a 2025-era client answering a server-to-client request, for
tests/integration/test_mcp_env.sh.

    mcp_ask.py URL ANSWER_URL KEY CAPS

Initializes a session at URL (capabilities: {"sampling": {}} when CAPS is
"sampling", {} when "none"), calls the fixture tool test_sampling with
prompt "ping-42" asking for text/event-stream, and reads the stream as it
arrives. When a sampling/createMessage request comes, it prints
"ASKED <method> <prompt text>" and POSTs the answer (text "pong-17") to
ANSWER_URL (another front end: any responder may get it). At the final
response it prints "RESULT <isError> <text>". Also prints
"STRAY <status>" for an answer to an id the server never asked (must be
accepted with 202 and change nothing). Exit status 0 unless something
could not be done at all.
"""
import json
import sys
import urllib.request
from urllib.parse import urlsplit
import http.client

URL, ANSWER_URL, KEY, CAPS = sys.argv[1:5]
BASE = {
    "Authorization": "Bearer " + KEY,
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


def post(url, body, sid=None):
    h = dict(BASE)
    if sid:
        h["Mcp-Session-Id"] = sid
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


caps = {"sampling": {}} if CAPS == "sampling" else {}
st, hd, _ = post(URL, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"protocolVersion": "2025-11-25", "capabilities": caps,
                                  "clientInfo": {"name": "mcp_ask", "version": "1"}}})
sid = hd.get("Mcp-Session-Id")
if st != 200 or not sid:
    sys.exit("initialize: %s" % st)
post(URL, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
st, _, _ = post(ANSWER_URL, {"jsonrpc": "2.0", "id": "berth-ask-0000000000000000",
                             "result": {"role": "assistant"}}, sid)
print("STRAY %s" % st)

u = urlsplit(URL)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=90)
h = dict(BASE)
h["Mcp-Session-Id"] = sid
conn.request("POST", u.path + ("?" + u.query if u.query else ""),
             body=json.dumps({"jsonrpc": "2.0", "id": "call-1", "method": "tools/call",
                              "params": {"name": "test_sampling",
                                         "arguments": {"prompt": "ping-42"}}}),
             headers=h)
resp = conn.getresponse()
ctype = resp.getheader("Content-Type", "")


def handle(msg):
    if msg.get("method") == "sampling/createMessage":
        text = msg["params"]["messages"][0]["content"]["text"]
        print("ASKED %s %s" % (msg["method"], text))
        sys.stdout.flush()
        st, _, _ = post(ANSWER_URL, {"jsonrpc": "2.0", "id": msg["id"], "result": {
            "role": "assistant", "content": {"type": "text", "text": "pong-17"},
            "model": "test-model", "stopReason": "endTurn"}}, sid)
        print("ANSWERED %s" % st)
        return False
    if msg.get("id") == "call-1":
        r = msg.get("result", {})
        print("RESULT %s %s" % (r.get("isError"), r.get("content", [{}])[0].get("text", "")))
        return True
    return False


if ctype.startswith("application/json"):
    handle(json.loads(resp.read().decode()))
else:
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.decode().rstrip("\r\n")
        if line.startswith("data: ") and handle(json.loads(line[6:])):
            break
conn.close()
