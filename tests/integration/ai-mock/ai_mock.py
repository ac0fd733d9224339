#!/usr/bin/python3
"""ai_mock.py - a stand-in AI provider speaking the real wire formats of
OpenAI's Chat Completions API (POST /v1/chat/completions), Anthropic's
Messages API (POST /v1/messages) and Gemini's generateContent (POST
/v1beta/models/MODEL:generateContent), for tests: the public providers cannot
be reached from here. The model name picks the behaviour:

  tool-then-text   a tool call first; once the conversation holds a tool
                   result, a final text (echoing that result)
  text             a final text at once
  flaky-429        429 with Retry-After: 0 on the first request of each
                   conversation, then as "text"
  always-503       503 every time
  always-500       500 every time
  unknown-tool     as tool-then-text, but the call names a tool nobody
                   offered (no_such_tool)
  html             200 with an HTML page
  huge             200 with a 10 MB body
  slow             waits 5 s, then as "text"
  slow-tools       waits 3 s on every request; a tool call until the
                   conversation holds two tool results, then a final text
                   (three model calls: a run to cancel or outwait)
  bad-shape        200 with a JSON object lacking the answer fields
  unknown-model    404 with the provider's error JSON

Requests with a key other than --key get 401 (--key may be given several
times; the log's key_index says which one a request carried, -1 for none).
An Anthropic request with a Bearer token (OAuth) must carry the
anthropic-beta header oauth-2025-04-20, as Anthropic's API wants; 401
otherwise. Every request is appended (method, path, headers that matter,
body) to --log as one JSON line.
Usage: ai_mock.py --port-file FILE --log FILE --key KEY [--key KEY2 ...]
"""
import argparse
import json
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

ARGS = None
SEEN_429 = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, obj=None, raw=None, ctype="application/json", headers=()):
        data = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        anthropic = self.path == "/v1/messages"
        gemini = self.path.startswith("/v1beta/models/") and self.path.endswith(":generateContent")
        if gemini:
            key = self.headers.get("x-goog-api-key")
        elif anthropic and self.headers.get("x-api-key"):
            key = self.headers.get("x-api-key")
        else:
            key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        with open(ARGS.log, "a") as f:
            f.write(json.dumps({
                "path": self.path, "body": body,
                "auth_kind": ("x-goog-api-key" if self.headers.get("x-goog-api-key")
                              else "x-api-key" if self.headers.get("x-api-key") else "bearer"),
                "key_ok": key in ARGS.key,
                "key_index": ARGS.key.index(key) if key in ARGS.key else -1,
                "anthropic_version": self.headers.get("anthropic-version"),
                "anthropic_beta": self.headers.get("anthropic-beta"),
            }) + "\n")
        if self.path not in ("/v1/chat/completions", "/v1/messages") and not gemini:
            return self.send(404, {"error": {"message": "no such path"}})
        oauth_beta = "oauth-2025-04-20" in (self.headers.get("anthropic-beta") or "")
        if anthropic and not self.headers.get("x-api-key") and not oauth_beta:
            return self.send(401, {"error": {"type": "authentication_error",
                                             "message": "OAuth authentication is currently not supported."}})
        if key not in ARGS.key:
            return self.send(401, {"error": {"type": "authentication_error",
                                             "message": "invalid x-api-key"}})
        if not isinstance(body, dict):
            return self.send(400, {"error": {"message": "body is not JSON"}})
        if gemini:
            return self.gemini(body, self.path[len("/v1beta/models/"):-len(":generateContent")])
        model = body.get("model", "")
        msgs = body.get("messages", [])
        conv = json.dumps(msgs[:1])
        if model == "always-503":
            return self.send(503, {"error": {"message": "overloaded"}})
        if model == "always-500":
            return self.send(500, {"error": {"message": "internal"}})
        if model == "flaky-429" and conv not in SEEN_429:
            SEEN_429.add(conv)
            return self.send(429, {"error": {"message": "slow down"}}, headers=[("Retry-After", "0")])
        if model == "html":
            return self.send(200, raw=b"<html><body>gateway</body></html>", ctype="text/html")
        if model == "huge":
            return self.send(200, raw=b'{"x":"' + b"a" * (10 * 1024 * 1024) + b'"}')
        if model == "slow":
            time.sleep(5)
        if model == "bad-shape":
            return self.send(200, {"id": "x", "object": "nothing"})
        if model == "unknown-model":
            return self.send(404, {"error": {"type": "not_found_error",
                                             "message": "model: unknown-model"}})
        tool_result = self.find_tool_result(msgs, anthropic)
        want_tool = model in ("tool-then-text", "unknown-tool") and tool_result is None
        if model == "slow-tools":
            time.sleep(3)
            want_tool = self.count_tool_results(msgs, anthropic) < 2
        # The call names the first tool offered (station_status when none
        # is), with {"verbose": true} when its schema has that property.
        tools = body.get("tools") or []
        tname, props = "station_status", {}
        if tools:
            t = tools[0].get("function", tools[0])
            tname = t.get("name", tname)
            props = (t.get("parameters") or t.get("input_schema") or {}).get("properties", {})
        targs = {"verbose": True} if "verbose" in props else {}
        if model == "unknown-tool":
            tname, targs = "no_such_tool", {}
        if anthropic:
            if want_tool:
                content = [{"type": "text", "text": "Let me check."},
                           {"type": "tool_use", "id": "toolu_01", "name": tname,
                            "input": targs}]
                stop = "tool_use"
            else:
                content = [{"type": "text", "text": self.final_text(tool_result)}]
                stop = "end_turn"
            return self.send(200, {"id": "msg_01", "type": "message", "role": "assistant",
                                   "model": model, "content": content, "stop_reason": stop,
                                   "usage": {"input_tokens": 11, "output_tokens": 7}})
        if want_tool:
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_01", "type": "function",
                 "function": {"name": tname, "arguments": json.dumps(targs)}}]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": self.final_text(tool_result)}
            finish = "stop"
        return self.send(200, {"id": "chatcmpl-1", "object": "chat.completion", "model": model,
                               "choices": [{"index": 0, "message": message,
                                            "finish_reason": finish}],
                               "usage": {"prompt_tokens": 11, "completion_tokens": 7,
                                         "total_tokens": 18}})

    def gemini(self, body, model):
        contents = body.get("contents", [])
        result = None
        for c in contents:
            for p in c.get("parts", []):
                if "functionResponse" in p:
                    result = p["functionResponse"].get("response", {}).get("content")
        if model == "always-503":
            return self.send(503, {"error": {"code": 503, "message": "overloaded"}})
        decls = [d for t in body.get("tools", []) for d in t.get("functionDeclarations", [])]
        if model == "tool-then-text" and result is None:
            name = decls[0]["name"] if decls else "station_status"
            props = (decls[0].get("parameters") or {}).get("properties", {}) if decls else {}
            parts = [{"functionCall": {"name": name,
                                       "args": {"verbose": True} if "verbose" in props else {}}}]
        else:
            parts = [{"text": self.final_text(result)}]
        return self.send(200, {"candidates": [{"content": {"role": "model", "parts": parts},
                                               "finishReason": "STOP"}],
                               "usageMetadata": {"promptTokenCount": 11,
                                                 "candidatesTokenCount": 7},
                               "modelVersion": model})

    @staticmethod
    def find_tool_result(msgs, anthropic):
        for m in msgs:
            if anthropic and m.get("role") == "user" and isinstance(m.get("content"), list):
                for b in m["content"]:
                    if b.get("type") == "tool_result":
                        return b.get("content")
            if not anthropic and m.get("role") == "tool":
                return m.get("content")
        return None

    @staticmethod
    def count_tool_results(msgs, anthropic):
        n = 0
        for m in msgs:
            if anthropic and m.get("role") == "user" and isinstance(m.get("content"), list):
                n += sum(1 for b in m["content"] if b.get("type") == "tool_result")
            if not anthropic and m.get("role") == "tool":
                n += 1
        return n

    @staticmethod
    def final_text(tool_result):
        return "Done." if tool_result is None else "The tool said: " + str(tool_result)


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--key", required=True, action="append")
    ARGS = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
