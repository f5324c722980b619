#!/usr/bin/python3
"""The tests' independent OTLP trace receiver (libtern's export tests, the
examples, the forwarder tests).

Python grpcio for OTLP/gRPC and, with --http-port, http.server for
OTLP/HTTP (protobuf, gzip accepted): not tern's code. For each request it
keeps, before answering (so an answer the sender saw as OK means the
request is recorded):
  OUTDIR/NNNN.bin   the request body (decompressed), NNNN = the call's number
  OUTDIR/NNNN.md    its metadata / headers, "key: value" per line
  OUTDIR/spans.txt  with --proto-py: "TRACE_HEX SPAN_HEX SERVICE" per span,
                    decoded with classes protoc generated from
                    proto/opentelemetry (Google's protobuf runtime)
  OUTDIR/sizes.txt  the size of each recorded request (protobuf bytes)
  OUTDIR/answers.txt  one word per answer: ok partial unavailable exhausted
                    exhausted_retry invalid
  OUTDIR/auth.txt   the last "authorization" header/metadata value

usage: otlp_receiver.py OUTDIR [MODE] [--grpc-port N] [--http-port N]
                        [--tls-dir DIR] [--proto-py DIR]
  Port 0 (the default): any free port; without --http-port no HTTP server.
  TLS: --tls-dir DIR with DIR/key.pem and DIR/cert.pem, or the environment
  RECV_TLS_CERT and RECV_TLS_KEY (PEM files), for gRPC and HTTP alike; if
  DIR/client-ca.pem exists, HTTP clients must present a certificate it
  signed.
  Prints "listening grpc PORT" (then "listening http PORT"); exits when
  stdin closes or on SIGTERM.

How it answers: MODE (default ok), or the contents of OUTDIR/mode when that
file exists, read again before every request:
  ok                   accept
  unavailable[:N]      gRPC UNAVAILABLE / HTTP 503 with Retry-After: 0
  exhausted            gRPC RESOURCE_EXHAUSTED without RetryInfo / HTTP 429
  exhausted_retry[:N]  RESOURCE_EXHAUSTED with google.rpc.RetryInfo (50 ms)
  invalid              gRPC INVALID_ARGUMENT / HTTP 400 (permanent)
  partial:K            accept, but report K rejected spans in partial_success
                       (the request is still recorded: K is only reported)
  slow:MS              accept after sleeping MS milliseconds
  continue             HTTP: send an interim "100 Continue" first, then accept
With :N only the first N calls get that answer; later ones are accepted.
"""
import gzip
import http.server
import os
import signal
import sys
import threading
import time
from concurrent import futures

import grpc


def parse_args(argv):
    opts = {"mode": "ok", "grpc_port": 0, "http_port": None, "tls_dir": None,
            "proto_py": None}
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            key = a[2:].replace("-", "_")
            if key not in opts or i + 1 >= len(argv):
                sys.exit("otlp_receiver.py: bad option " + a)
            v = argv[i + 1]
            opts[key] = int(v) if key.endswith("_port") else v
            i += 2
        else:
            pos.append(a)
            i += 1
    if not pos:
        sys.exit(__doc__)
    opts["outdir"] = pos[0]
    if len(pos) > 1:
        opts["mode"] = pos[1]
    return opts


opts = parse_args(sys.argv[1:])
outdir = opts["outdir"]
ts = None
if opts["proto_py"]:
    sys.path.insert(0, opts["proto_py"])
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts  # noqa: E402

lock = threading.Lock()
calls = 0
spans_f = open(os.path.join(outdir, "spans.txt"), "a") if ts else None
answers_f = open(os.path.join(outdir, "answers.txt"), "a")
sizes_f = open(os.path.join(outdir, "sizes.txt"), "a")


def mode():
    try:
        with open(os.path.join(outdir, "mode")) as f:
            return f.read().strip() or "ok"
    except FileNotFoundError:
        return opts["mode"]


def next_call():
    global calls
    with lock:
        calls += 1
        return calls


def answer_for(n):
    """(kind, arg) of the answer to call number n."""
    kind, _, arg = mode().partition(":")
    if kind in ("unavailable", "exhausted_retry") and arg and n > int(arg):
        return "ok", ""
    return kind, arg


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


def partial_response(k):
    """ExportTraceServiceResponse{partial_success{rejected_spans, error_message}}."""
    ps = field(1, 0, k) + field(2, 2, b"test rejects %d spans" % k)
    return field(1, 2, ps)


def note(answer):
    with lock:
        answers_f.write(answer + "\n")
        answers_f.flush()


def save_auth(value):
    with lock:
        with open(os.path.join(outdir, "auth.txt"), "w") as f:
            f.write(value)


def record(n, body, metadata, answer):
    """Keeps one accepted request; raises ValueError if it does not decode."""
    lines = []
    size = len(body)
    if ts is not None:
        req = ts.ExportTraceServiceRequest()
        req.ParseFromString(body)
        size = req.ByteSize()
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
    base = os.path.join(outdir, "%04d" % n)
    with open(base + ".md.tmp", "w") as f:
        for k, v in metadata:
            f.write("%s: %s\n" % (k, v if isinstance(v, str) else v.hex()))
    with open(base + ".bin.tmp", "wb") as f:
        f.write(body)
    os.rename(base + ".md.tmp", base + ".md")
    os.rename(base + ".bin.tmp", base + ".bin")
    with lock:
        if spans_f is not None:
            spans_f.write("".join(lines))
            spans_f.flush()
        answers_f.write(answer + "\n")
        answers_f.flush()
        sizes_f.write("%d\n" % size)
        sizes_f.flush()


def export(request, context):
    n = next_call()
    md = context.invocation_metadata()
    for k, v in md:
        if k == "authorization":
            save_auth(v)
    kind, arg = answer_for(n)
    if kind == "slow":
        time.sleep(int(arg) / 1000.0)
    if kind == "unavailable":
        note("unavailable")
        context.abort(grpc.StatusCode.UNAVAILABLE, "test: down for a while")
    if kind == "exhausted":
        note("exhausted")
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "test: full, no RetryInfo")
    if kind == "exhausted_retry":
        note("exhausted_retry")
        context.set_trailing_metadata((("grpc-status-details-bin", retry_info_status(50)),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "test: full, retry in 50 ms")
    if kind == "invalid":
        note("invalid")
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "test: refused for good")
    if kind == "partial":
        record(n, request, md, "partial")
        return partial_response(int(arg))
    record(n, request, md, "ok")
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
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path != "/v1/traces":
            self.answer(404)
            return
        if self.headers.get("Content-Encoding", "") == "gzip":
            body = gzip.decompress(body)
        if self.headers.get("Content-Type", "") != "application/x-protobuf":
            self.answer(415)
            return
        n = next_call()
        if self.headers.get("authorization"):
            save_auth(self.headers.get("authorization"))
        kind, arg = answer_for(n)
        if kind == "continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
            time.sleep(0.05)  # its own packet: the client must read past it
        if kind == "slow":
            time.sleep(int(arg) / 1000.0)
        if kind == "unavailable":
            note("unavailable")
            self.answer(503, b"", (("Retry-After", "0"),))
            return
        if kind in ("exhausted", "exhausted_retry"):
            note(kind)
            self.answer(429, b"", (("Retry-After", "0"),))
            return
        if kind == "invalid":
            note("invalid")
            self.answer(400)
            return
        md = [(k.lower(), v) for k, v in self.headers.items()]
        if kind == "partial":
            record(n, body, md, "partial")
            self.answer(200, partial_response(int(arg)))
            return
        record(n, body, md, "ok")
        self.answer(200)


handler = grpc.method_handlers_generic_handler(
    "opentelemetry.proto.collector.trace.v1.TraceService",
    {"Export": grpc.unary_unary_rpc_method_handler(export)},
)
server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                     options=[("grpc.max_receive_message_length", 64 << 20),
                              ("grpc.so_reuseport", 0)])
server.add_generic_rpc_handlers((handler,))
cert, key = os.environ.get("RECV_TLS_CERT"), os.environ.get("RECV_TLS_KEY")
if opts["tls_dir"]:
    cert = os.path.join(opts["tls_dir"], "cert.pem")
    key = os.path.join(opts["tls_dir"], "key.pem")
addr = "127.0.0.1:%d" % opts["grpc_port"]
if cert and key:
    with open(key, "rb") as k, open(cert, "rb") as c:
        creds = grpc.ssl_server_credentials([(k.read(), c.read())])
    port = server.add_secure_port(addr, creds)
else:
    port = server.add_insecure_port(addr)
if port == 0:
    print("cannot bind " + addr, file=sys.stderr)
    sys.exit(1)
server.start()
print("listening grpc %d" % port, flush=True)

hs = None
if opts["http_port"] is not None:
    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    hs = Server(("127.0.0.1", opts["http_port"]), Http)
    if cert and key:
        import ssl
        sc = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sc.load_cert_chain(cert, key)
        client_ca = os.path.join(opts["tls_dir"] or "", "client-ca.pem")
        if opts["tls_dir"] and os.path.exists(client_ca):
            sc.verify_mode = ssl.CERT_REQUIRED
            sc.load_verify_locations(client_ca)
        hs.socket = sc.wrap_socket(hs.socket, server_side=True)
    threading.Thread(target=hs.serve_forever, daemon=True).start()
    print("listening http %d" % hs.server_address[1], flush=True)

done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
done.wait()
server.stop(0)
if hs is not None:
    hs.shutdown()
