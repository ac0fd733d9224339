#!/usr/bin/env python3
"""sse_probe.py - one raw HTTP/1.1 POST to /mcp, reading the answer as it
arrives, for tests/integration/test_mcp_stream.sh.

    sse_probe.py URL BODY [--header 'Name: value']... [--mode MODE]
                 [--timeout S]

MODE:
  read       read to the end (default)
  close1     close the connection after the first event
  noread     read nothing for --stall seconds (a client that never reads),
             then close

Prints "status N", then "header name: value" lines (names lower-cased), then
one line per SSE line as it arrives: "t=SECONDS LINE" (seconds since the
request was sent), then "end t=SECONDS". Chunked transfer coding is
decoded. Exit status 0 unless the connection could not be made.
"""
import socket
import sys
import time
from urllib.parse import urlsplit


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    url, body = args[0], args[1].encode()
    headers, mode, timeout, stall = [], "read", 30.0, 5.0
    i = 2
    while i < len(args):
        if args[i] == "--header":
            headers.append(args[i + 1])
        elif args[i] == "--mode":
            mode = args[i + 1]
        elif args[i] == "--timeout":
            timeout = float(args[i + 1])
        elif args[i] == "--stall":
            stall = float(args[i + 1])
        else:
            sys.exit("unknown argument " + args[i])
        i += 2
    u = urlsplit(url)
    s = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
    if mode == "noread":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    req = "POST %s HTTP/1.1\r\nHost: %s\r\n" % (u.path or "/", u.netloc)
    for h in headers:
        req += h + "\r\n"
    req += "Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    t0 = time.monotonic()
    s.sendall(req.encode() + body)
    if mode == "noread":
        time.sleep(stall)
        s.close()
        print("end t=%.3f" % (time.monotonic() - t0))
        return
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    print("status " + (lines[0].split(" ")[1] if " " in lines[0] else "000"))
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip()
        print("header %s: %s" % (name, value))
        if name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    sys.stdout.flush()
    raw = rest
    data = b""
    events = 0
    done = False

    def take():
        nonlocal raw, data, done
        if not chunked:
            data += raw
            raw = b""
            return
        while True:
            nl = raw.find(b"\r\n")
            if nl < 0:
                return
            size = int(raw[:nl].split(b";")[0] or b"0", 16)
            if size == 0:
                done = True
                raw = b""
                return
            if len(raw) < nl + 2 + size + 2:
                return
            data += raw[nl + 2:nl + 2 + size]
            raw = raw[nl + 2 + size + 2:]

    while True:
        take()
        while b"\n" in data:
            line, _, data = data.partition(b"\n")
            text = line.decode("utf-8", "replace").rstrip("\r")
            print("t=%.3f %s" % (time.monotonic() - t0, text))
            sys.stdout.flush()
            if text == "":
                events += 1
                if mode == "close1" and events >= 1:
                    s.close()
                    print("end t=%.3f" % (time.monotonic() - t0))
                    return
        if done:
            break
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            print("timeout")
            break
        if not chunk:
            break
        raw += chunk
    if data:
        print("t=%.3f %s" % (time.monotonic() - t0, data.decode("utf-8", "replace")))
    print("end t=%.3f" % (time.monotonic() - t0))
    s.close()


if __name__ == "__main__":
    main()
