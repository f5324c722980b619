#!/usr/bin/python3
"""A small, independent OTLP/gRPC trace receiver for libtern's tests.

It uses Python grpcio (not tern's code) and stores every Export request
body as OUTDIR/NNNN.bin, with its metadata in OUTDIR/NNNN.md, so the test
can decode and compare what arrived span by span.

usage: otlp_receiver.py OUTDIR [MODE]
MODE: ok | unavailable:N | exhausted | exhausted_retry:N | partial:K
With RECV_TLS_CERT and RECV_TLS_KEY (PEM files) it serves TLS.
Prints "listening PORT" on stdout; exits when stdin is closed.
"""
import os
import sys
import threading
from concurrent import futures

import grpc

outdir = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "ok"
lock = threading.Lock()
calls = 0


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def retry_info_status(delay_ms):
    duration = field(2, 0, delay_ms * 1000000)  # nanos
    retry_info = field(1, 2, duration)
    any_ = field(1, 2, b"type.googleapis.com/google.rpc.RetryInfo") + field(2, 2, retry_info)
    return field(1, 0, 8) + field(2, 2, b"slow down") + field(3, 2, any_)


def export(request, context):
    global calls
    with lock:
        calls += 1
        n = calls
    kind, _, arg = mode.partition(":")
    if kind == "unavailable" and n <= int(arg):
        context.abort(grpc.StatusCode.UNAVAILABLE, "not yet")
    if kind == "exhausted":
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "full, no RetryInfo")
    if kind == "exhausted_retry" and n <= int(arg):
        context.set_trailing_metadata((("grpc-status-details-bin", retry_info_status(50)),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "full, retry in 50 ms")
    base = os.path.join(outdir, "%04d" % n)
    with open(base + ".md.tmp", "w") as f:
        for k, v in context.invocation_metadata():
            f.write("%s: %s\n" % (k, v if isinstance(v, str) else v.hex()))
    with open(base + ".bin.tmp", "wb") as f:
        f.write(request)
    os.rename(base + ".md.tmp", base + ".md")
    os.rename(base + ".bin.tmp", base + ".bin")
    if kind == "partial":
        ps = field(1, 0, int(arg)) + field(2, 2, b"some spans were bad")
        return field(1, 2, ps)
    return b""


handler = grpc.method_handlers_generic_handler(
    "opentelemetry.proto.collector.trace.v1.TraceService",
    {"Export": grpc.unary_unary_rpc_method_handler(export)},
)
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
server.add_generic_rpc_handlers((handler,))
cert, key = os.environ.get("RECV_TLS_CERT"), os.environ.get("RECV_TLS_KEY")
if cert and key:
    with open(key, "rb") as k, open(cert, "rb") as c:
        creds = grpc.ssl_server_credentials([(k.read(), c.read())])
    port = server.add_secure_port("127.0.0.1:0", creds)
else:
    port = server.add_insecure_port("127.0.0.1:0")
server.start()
print("listening %d" % port, flush=True)
sys.stdin.read()
server.stop(0)
