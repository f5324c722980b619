#!/usr/bin/python3
"""An independent OTLP trace receiver for the forwarder tests.

Python grpcio for OTLP/gRPC and http.server for OTLP/HTTP (protobuf, gzip
accepted); every request is decoded with classes protoc generated from
proto/opentelemetry (Google's protobuf runtime, not tern's codec). For each
accepted request it appends one line per span, "TRACE_HEX SPAN_HEX SERVICE",
to OUTDIR/spans.txt and flushes it before answering, so an answer the
forwarder saw as OK means the spans are recorded.

usage: otlp_sink.py PROTO_PY_DIR OUTDIR GRPC_PORT HTTP_PORT [TLS_DIR]
  (port 0: any free port; with TLS_DIR, gRPC and HTTP are served over TLS
  with TLS_DIR/key.pem and TLS_DIR/cert.pem, and if TLS_DIR/client-ca.pem
  exists, HTTP clients must present a certificate it signed). Prints "listening grpc PORT" and
  "listening http PORT"; exits when stdin closes or on SIGTERM.

How it answers is read from OUTDIR/mode before every request:
  ok (or no file)      accept
  unavailable          gRPC UNAVAILABLE / HTTP 503 with Retry-After: 0
  exhausted_retry      RESOURCE_EXHAUSTED with google.rpc.RetryInfo (50 ms)
  invalid              gRPC INVALID_ARGUMENT / HTTP 400 (permanent)
  partial:K            accept, but report K rejected spans in partial_success
                       (the spans are still recorded: K is only reported)
  slow:MS              accept after sleeping MS milliseconds
  continue             HTTP: send an interim "100 Continue" first, then accept
Each answer's kind is counted in OUTDIR/answers.txt (one word per line), the
size of each recorded request (protobuf bytes) in OUTDIR/sizes.txt.
The value of the "authorization" header/metadata, if any, goes to OUTDIR/auth.txt.
"""
import gzip
import http.server
import os
import signal
import sys
import threading
import time
from concurrent import futures

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts  # noqa: E402

outdir = sys.argv[2]
grpc_port = int(sys.argv[3])
http_port = int(sys.argv[4])
tls_dir = sys.argv[5] if len(sys.argv) > 5 else None
lock = threading.Lock()
spans_f = open(os.path.join(outdir, "spans.txt"), "a")
answers_f = open(os.path.join(outdir, "answers.txt"), "a")
sizes_f = open(os.path.join(outdir, "sizes.txt"), "a")


def mode():
    try:
        with open(os.path.join(outdir, "mode")) as f:
            return f.read().strip() or "ok"
    except FileNotFoundError:
        return "ok"


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
    duration = field(2, 0, delay_ms * 1000000)
    retry_info = field(1, 2, duration)
    any_ = field(1, 2, b"type.googleapis.com/google.rpc.RetryInfo") + field(2, 2, retry_info)
    return field(1, 0, 8) + field(2, 2, b"slow down") + field(3, 2, any_)


def record(req, answer):
    size = req.ByteSize()
    lines = []
    for rs in req.resource_spans:
        svc = ""
        for kv in rs.resource.attributes:
            if kv.key == "service.name":
                svc = kv.value.string_value
        for ss in rs.scope_spans:
            for sp in ss.spans:
                if len(sp.trace_id) != 16 or len(sp.span_id) != 8:
                    raise ValueError("bad id length")
                lines.append("%s %s %s\n" % (sp.trace_id.hex(), sp.span_id.hex(), svc or "-"))
    with lock:
        spans_f.write("".join(lines))
        spans_f.flush()
        answers_f.write(answer + "\n")
        answers_f.flush()
        sizes_f.write("%d\n" % size)
        sizes_f.flush()


def note(answer):
    with lock:
        answers_f.write(answer + "\n")
        answers_f.flush()


def partial_response(k):
    resp = ts.ExportTraceServiceResponse()
    resp.partial_success.rejected_spans = k
    resp.partial_success.error_message = "test rejects %d spans" % k
    return resp


def save_auth(value):
    with lock:
        with open(os.path.join(outdir, "auth.txt"), "w") as f:
            f.write(value)


def export(request_bytes, context):
    m = mode()
    for k, v in context.invocation_metadata():
        if k == "authorization":
            save_auth(v)
    if m.startswith("slow:"):
        time.sleep(int(m.split(":")[1]) / 1000.0)
    if m == "unavailable":
        note("unavailable")
        context.abort(grpc.StatusCode.UNAVAILABLE, "test: down for a while")
    if m == "exhausted_retry":
        note("exhausted_retry")
        context.set_trailing_metadata((("grpc-status-details-bin", retry_info_status(50)),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "test: full, retry in 50 ms")
    if m == "invalid":
        note("invalid")
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "test: refused for good")
    req = ts.ExportTraceServiceRequest()
    req.ParseFromString(request_bytes)
    if m.startswith("partial:"):
        k = int(m.split(":")[1])
        record(req, "partial")
        return partial_response(k).SerializeToString()
    record(req, "ok")
    return b""


class Http(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body=b"", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.path != "/v1/traces":
            self.answer(404)
            return
        if self.headers.get("Content-Encoding", "") == "gzip":
            body = gzip.decompress(body)
        if self.headers.get("Content-Type", "") != "application/x-protobuf":
            self.answer(415)
            return
        m = mode()
        if m == "continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
            time.sleep(0.05)  # its own packet: the client must read past it
        if self.headers.get("authorization"):
            save_auth(self.headers.get("authorization"))
        if m == "unavailable":
            note("unavailable")
            self.answer(503, b"", (("Retry-After", "0"),))
            return
        if m == "invalid":
            note("invalid")
            self.answer(400)
            return
        req = ts.ExportTraceServiceRequest()
        req.ParseFromString(body)
        if m.startswith("partial:"):
            record(req, "partial")
            self.answer(200, partial_response(int(m.split(":")[1])).SerializeToString())
            return
        record(req, "ok")
        self.answer(200, ts.ExportTraceServiceResponse().SerializeToString())


handler = grpc.method_handlers_generic_handler(
    "opentelemetry.proto.collector.trace.v1.TraceService",
    {"Export": grpc.unary_unary_rpc_method_handler(export)},
)
server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                     options=[("grpc.max_receive_message_length", 64 << 20),
                              ("grpc.so_reuseport", 0)])
server.add_generic_rpc_handlers((handler,))
if tls_dir:
    with open(os.path.join(tls_dir, "key.pem"), "rb") as f:
        key = f.read()
    with open(os.path.join(tls_dir, "cert.pem"), "rb") as f:
        cert = f.read()
    port = server.add_secure_port("127.0.0.1:%d" % grpc_port,
                                  grpc.ssl_server_credentials([(key, cert)]))
else:
    port = server.add_insecure_port("127.0.0.1:%d" % grpc_port)
if port == 0:
    print("cannot bind 127.0.0.1:%d" % grpc_port, file=sys.stderr)
    sys.exit(1)
server.start()


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


hs = Server(("127.0.0.1", http_port), Http)
if tls_dir:
    import ssl
    sc = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sc.load_cert_chain(os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))
    client_ca = os.path.join(tls_dir, "client-ca.pem")
    if os.path.exists(client_ca):
        sc.verify_mode = ssl.CERT_REQUIRED
        sc.load_verify_locations(client_ca)
    hs.socket = sc.wrap_socket(hs.socket, server_side=True)
threading.Thread(target=hs.serve_forever, daemon=True).start()
print("listening grpc %d" % port, flush=True)
print("listening http %d" % hs.server_address[1], flush=True)

done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
done.wait()
server.stop(0)
hs.shutdown()
