#!/usr/bin/python3
"""lighthouse.py - a scriptable test CloudShip Lighthouse for berthd's tests.

Speaks lighthouse.v1 (ManagementChannel, Heartbeat) over plaintext h2c, or
TLS with --tls-cert/--tls-key, with Debian's python3-grpcio. The message classes are generated at start-up from
the project's own proto/lighthouse.proto with grpc_tools.protoc into
--gen-dir, so the test checks berthd against the same contract file.

Everything received is appended to --record as one JSON object per line:
  {"t": 1700000000.1, "ev": "auth"|"recv"|"heartbeat"|"stream_end"|
   "send_run"|"sent", "conn": N, "msg": {...}}
(msg is the protobuf message as JSON, field names as in the .proto).

Behaviour is scripted by flags at start and by JSON lines appended to
--control while running:
  {"cmd": "set", "auth_fail": "invalid key" | "", "hb_ms": 1000,
   "ack_sendrun": true, "hb_not_registered": false}
  {"cmd": "disconnect", "code": 1, "reason": "...", "delay_ms": 0}
  {"cmd": "send", "msg": {<ManagementMessage as JSON>}}
  {"cmd": "send_unknown", "request_id": "r9", "field": 14}
  {"cmd": "close"}            end every open stream without a Disconnect
"""
import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--proto-dir", required=True)
    p.add_argument("--gen-dir", required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--control", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--hb-ms", type=int, default=1000)
    p.add_argument("--auth-fail", default="")
    p.add_argument("--no-ack-sendrun", action="store_true")
    p.add_argument("--tls-cert", default="")
    p.add_argument("--tls-key", default="")
    return p.parse_args()


ARGS = parse_args()
os.makedirs(ARGS.gen_dir, exist_ok=True)
if not os.path.exists(os.path.join(ARGS.gen_dir, "lighthouse_pb2_grpc.py")):
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", ARGS.proto_dir,
         "--python_out", ARGS.gen_dir, "--grpc_python_out", ARGS.gen_dir,
         "lighthouse.proto"], check=True)
sys.path.insert(0, ARGS.gen_dir)

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
import lighthouse_pb2 as pb  # noqa: E402
import lighthouse_pb2_grpc as pbg  # noqa: E402

STATE = {
    "auth_fail": ARGS.auth_fail,
    "hb_ms": ARGS.hb_ms,
    "ack_sendrun": not ARGS.no_ack_sendrun,
    "hb_not_registered": False,
}
LOCK = threading.Lock()
CONNS = {}
NEXT_CONN = [0]
REC = open(ARGS.record, "a", buffering=1)


def record(ev, conn, msg=None, **extra):
    o = {"t": time.time(), "ev": ev, "conn": conn}
    if msg is not None:
        o["msg"] = json_format.MessageToDict(
            msg, preserving_proto_field_name=True)
    o.update(extra)
    with LOCK:
        REC.write(json.dumps(o, separators=(",", ":")) + "\n")


class Service(pbg.LighthouseServiceServicer):
    def ManagementChannel(self, request_iterator, context):
        out = queue.Queue()
        with LOCK:
            NEXT_CONN[0] += 1
            cid = NEXT_CONN[0]
            CONNS[cid] = out

        def reader():
            try:
                for m in request_iterator:
                    kind = m.WhichOneof("message")
                    if kind == "station_auth":
                        record("auth", cid, m)
                        fail = STATE["auth_fail"]
                        if fail:
                            r = pb.AuthResult(success=False, error=fail)
                        else:
                            r = pb.AuthResult(
                                success=True, station_id="st-%d" % cid,
                                name=m.station_auth.name,
                                heartbeat_interval_ms=STATE["hb_ms"],
                                org_id="org-test", replaced_existing=False)
                        out.put(pb.ManagementMessage(
                            request_id=m.request_id, is_response=True,
                            success=r.success, auth_result=r))
                    elif kind == "send_run_request":
                        record("send_run", cid, m)
                        if STATE["ack_sendrun"]:
                            out.put(pb.ManagementMessage(
                                request_id=m.request_id, is_response=True,
                                success=True,
                                send_run_response=pb.SendRunResponse(
                                    success=True, message="stored",
                                    run_id=m.send_run_request.run_data.run_id)))
                    else:
                        record("recv", cid, m)
            except Exception as e:  # the stream was cancelled
                record("reader_error", cid, error=str(e)[:200])
            finally:
                out.put(None)

        threading.Thread(target=reader, daemon=True).start()
        try:
            while True:
                item = out.get()
                if item is None or item == "CLOSE":
                    break
                record("sent", cid, item)
                yield item
        finally:
            with LOCK:
                CONNS.pop(cid, None)
            record("stream_end", cid)

    def Heartbeat(self, request, context):
        record("heartbeat", 0, request)
        if STATE["hb_not_registered"]:
            return pb.HeartbeatResponse(
                success=False, message="station not registered")
        return pb.HeartbeatResponse(success=True, message="ok")


def broadcast(items):
    with LOCK:
        qs = list(CONNS.values())
    for q in qs:
        for it in items:
            q.put(it)
    return len(qs)


def control_loop():
    pos = 0
    while True:
        time.sleep(0.05)
        try:
            with open(ARGS.control) as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            continue
        if not data.endswith("\n"):
            continue
        pos += len(data.encode())
        for line in data.splitlines():
            if not line.strip():
                continue
            c = json.loads(line)
            cmd = c.pop("cmd")
            if cmd == "set":
                STATE.update(c)
            elif cmd == "disconnect":
                d = pb.Disconnect(reason=c.get("reason", "test"),
                                  code=c["code"],
                                  should_reconnect=c.get("reconnect", True),
                                  reconnect_delay_ms=c.get("delay_ms", 0))
                broadcast([pb.ManagementMessage(disconnect=d), "CLOSE"])
            elif cmd == "send":
                m = json_format.ParseDict(c["msg"], pb.ManagementMessage())
                broadcast([m])
            elif cmd == "send_unknown":
                rid = c["request_id"].encode()
                tag = (c["field"] << 3) | 2
                raw = bytes([0x0A, len(rid)]) + rid + bytes([tag, 0x00])
                if tag > 127:
                    raw = bytes([0x0A, len(rid)]) + rid + bytes(
                        [(tag & 0x7F) | 0x80, tag >> 7, 0x00])
                m = pb.ManagementMessage()
                m.ParseFromString(raw)
                broadcast([m])
            elif cmd == "close":
                broadcast(["CLOSE"])
            record("control", 0, cmd=cmd)


def main():
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=32),
        options=[("grpc.keepalive_permit_without_calls", 1),
                 ("grpc.http2.min_recv_ping_interval_without_data_ms", 1000),
                 ("grpc.http2.max_ping_strikes", 0)])
    pbg.add_LighthouseServiceServicer_to_server(Service(), server)
    if ARGS.tls_cert:
        with open(ARGS.tls_key, "rb") as k, open(ARGS.tls_cert, "rb") as c:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        server.add_secure_port("127.0.0.1:%d" % ARGS.port, creds)
    else:
        server.add_insecure_port("127.0.0.1:%d" % ARGS.port)
    server.start()
    threading.Thread(target=control_loop, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    with open(ARGS.ready, "w") as f:
        f.write("%d\n" % os.getpid())
    stop.wait()
    server.stop(0)


main()
