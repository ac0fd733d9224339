#!/usr/bin/env python3
"""slow_clients.py - slowloris-style clients for tests/integration/test_faults.sh.

    slow_clients.py HOST PORT PATH N BODY_BYTES INTERVAL READY_FILE [HEADER...]

Opens N connections to HOST:PORT, sends on each the head of a POST to PATH
announcing a body of BODY_BYTES bytes (plus every HEADER given, "Name:
value"), then sends the body one byte per connection every INTERVAL seconds,
so the last byte leaves about BODY_BYTES * INTERVAL seconds after the start.
READY_FILE is created once every connection is open and its head sent: the
test starts probing then. At the end every connection's response status is
read (30 s at most) and one line is printed:

    SLOW_RESULT clients=N connected=N sent=N answered=N statuses=401:50
      errors=0 seconds=6.1

statuses lists status:count pairs separated by commas ("none" when no
response came); errors counts connections that failed (refused, reset,
closed early, no answer in time).
"""

import socket
import sys
import time


def main():
    if len(sys.argv) < 8:
        sys.stderr.write(__doc__)
        return 2
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    n, body_len, interval = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    ready_file = sys.argv[7]
    extra = sys.argv[8:]
    body = (b'{"jsonrpc":"2.0","id":1}' * (body_len // 24 + 1))[:body_len]
    head = (
        "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\nContent-Length: %d\r\n"
        % (path, host, port, body_len)
    )
    for h in extra:
        head += h + "\r\n"
    head += "Connection: close\r\n\r\n"

    start = time.monotonic()
    socks, errors = [], 0
    for _ in range(n):
        try:
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(head.encode())
            socks.append(s)
        except OSError:
            errors += 1
    connected = len(socks)
    with open(ready_file, "w") as f:
        f.write("%d\n" % connected)

    # One byte per connection per round.
    alive = list(socks)
    for i in range(body_len):
        time.sleep(interval)
        still = []
        for s in alive:
            try:
                s.sendall(body[i:i + 1])
                still.append(s)
            except OSError:
                errors += 1
                s.close()
        alive = still
    sent = len(alive)

    statuses, answered = {}, 0
    for s in alive:
        try:
            s.settimeout(30)
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            line = data.split(b"\r\n", 1)[0].split()
            if len(line) >= 2 and line[0].startswith(b"HTTP/"):
                code = line[1].decode()
                statuses[code] = statuses.get(code, 0) + 1
                answered += 1
            else:
                errors += 1
        except OSError:
            errors += 1
        finally:
            s.close()
    st = ",".join("%s:%d" % kv for kv in sorted(statuses.items())) or "none"
    print(
        "SLOW_RESULT clients=%d connected=%d sent=%d answered=%d statuses=%s "
        "errors=%d seconds=%.1f"
        % (n, connected, sent, answered, st, errors, time.monotonic() - start)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
