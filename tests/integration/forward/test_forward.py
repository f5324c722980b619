#!/usr/bin/python3
"""Forwarder integration tests (issue 6): real processes only.

ternd A (--sink store) forwards to ternd B (--sink store, a gateway) and to
tests/integration/helper/otlp_receiver.py, an independent Python grpcio /
http.server OTLP receiver that
decodes with protoc-generated classes and records every span id. Spans are
sent to A by this script over OTLP/gRPC (grpcio + generated classes). Each
scenario checks span ids, not only counts:

  basic     three forwarders from a YAML file (gRPC+gzip+headers to the
            sink, HTTP/protobuf+gzip to a second sink, gRPC to ternd B);
            SIGTERM: every span exactly once at each destination.
  outage    destinations answer UNAVAILABLE, RESOURCE_EXHAUSTED+RetryInfo,
            then are stopped (the sink and ternd B) and restarted on the same
            ports; ingest is unaffected, the lag shows in /metrics, and
            every span arrives exactly once. INVALID_ARGUMENT drops one batch
            (counted, never retried); partial_success is counted, not retried.
  sigkill   ternd A is SIGKILLed twice mid-stream and restarted on its data
            dir: every acknowledged span arrives; duplicates stay within the
            documented window (concurrency x batch_spans per kill).
  routing   two gateways: each trace lands whole on the gateway
            col_fwd_route() names; service filter + 50% sampling keeps each
            trace whole or absent, exactly as col_fwd_sampled() says.
  blackhole an OTLP/HTTP destination that accepts TCP and never answers:
            SIGTERM ends ternd within --shutdown-timeout-ms, and after a
            restart toward a real sink every span arrives exactly once.
  trickle   a destination that answers one byte a second: timeout_ms
            bounds the whole request (it fails and is retried), and the
            shutdown is as quick as with the black hole.
  continue  an interim "100 Continue" before the final 200: delivered,
            nothing dropped.
  https     OTLP/HTTP over TLS with ca_file + a client certificate
            (cert_file, key_file); without the client certificate, or
            without the CA, nothing is delivered.

usage: test_forward.py OTLP_SINK_PY STORE_DUMP PROTO_ROOT WORK_DIR [SCENARIO...]
env: TERND (the binary), TERN_UNDER_VALGRIND=1 (run A under valgrind, basic only).
"""
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sink_py, store_dump, proto_root, work = sys.argv[1:5]
only = sys.argv[5:]
TERND = os.environ["TERND"]
UNDER_VALGRIND = os.environ.get("TERN_UNDER_VALGRIND") == "1"
SUPP = os.environ.get("TERN_VALGRIND_SUPP")

shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
protos = sorted(glob.glob(os.path.join(proto_root, "opentelemetry/proto/**/*.proto"),
                          recursive=True))
pydir = os.path.join(work, "py")
os.makedirs(pydir)
subprocess.run(["protoc", "-I" + os.path.abspath(proto_root), "--python_out=" + pydir] +
               [os.path.abspath(p) for p in protos], check=True)
sys.path.insert(0, pydir)

import grpc  # noqa: E402
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts  # noqa: E402

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
failures = []
procs = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def wait_until(fn, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if fn():
            return True
        time.sleep(0.05)
    return check(False, "timed out (%.0f s) waiting for %s" % (timeout, what))


# ---- processes ----

class Ternd:
    def __init__(self, name, data, args=(), grpc_addr="127.0.0.1:0", valgrind=False,
                 shutdown_ms=3000):
        self.name, self.data = name, data
        cmd = [TERND, "--sink", "store", "--data", data, "--otlp-grpc", grpc_addr,
               "--otlp-http", "127.0.0.1:0", "--query", "127.0.0.1:0",
               "--shutdown-timeout-ms", str(shutdown_ms)] + list(args)
        if valgrind:
            cmd = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                   "--show-leak-kinds=definite,indirect",
                   "--errors-for-leak-kinds=definite,indirect"] + \
                  (["--suppressions=" + SUPP] if SUPP else []) + cmd
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                  text=True)
        procs.append(self.p)
        self.addr = {}
        deadline = time.time() + (120 if valgrind else 20)
        while len(self.addr) < 3 and time.time() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            parts = line.split()
            if len(parts) == 3 and parts[0] == "listening":
                self.addr[parts[1]] = parts[2]
        if len(self.addr) < 3:
            raise RuntimeError("ternd %s did not start" % name)
        self.grpc = self.addr["otlp-grpc"]
        self.query = self.addr["query"]

    def metrics(self):
        with urllib.request.urlopen("http://%s/metrics" % self.query, timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def fwd(self, metric, name):
        return self.metrics().get('ternd_forward_%s{forwarder="%s"}' % (metric, name), -1)

    def stop(self, timeout=60):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout)
        self.p.stdout.close()
        return rc

    def kill(self):
        self.p.kill()
        self.p.wait()
        self.p.stdout.close()


class Sink:
    def __init__(self, name, grpc_port=0, http_port=0, outdir=None, tls_dir=None):
        self.outdir = outdir or os.path.join(work, name)
        os.makedirs(self.outdir, exist_ok=True)
        self.p = subprocess.Popen(["/usr/bin/python3", sink_py, self.outdir,
                                   "--proto-py", pydir, "--grpc-port", str(grpc_port),
                                   "--http-port", str(http_port)] +
                                  (["--tls-dir", tls_dir] if tls_dir else []),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(self.p)
        ports = {}
        while len(ports) < 2:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("sink %s did not start" % name)
            _, kind, port = line.split()
            ports[kind] = int(port)
        self.grpc_port, self.http_port = ports["grpc"], ports["http"]
        self.grpc = "127.0.0.1:%d" % self.grpc_port
        self.http = "127.0.0.1:%d" % self.http_port

    def set_mode(self, mode):
        with open(os.path.join(self.outdir, "mode.tmp"), "w") as f:
            f.write(mode)
        os.rename(os.path.join(self.outdir, "mode.tmp"), os.path.join(self.outdir, "mode"))

    def spans(self):
        try:
            with open(os.path.join(self.outdir, "spans.txt")) as f:
                return [tuple(l.split()) for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def answers(self):
        try:
            with open(os.path.join(self.outdir, "answers.txt")) as f:
                return [l.strip() for l in f]
        except FileNotFoundError:
            return []

    def stop(self):
        self.p.stdin.close()
        self.p.wait(30)
        self.p.stdout.close()


class BadPeer:
    """An OTLP/HTTP destination on a real socket that misbehaves.
    blackhole: accepts, reads each request, never answers.
    trickle:   reads each request, then sends a valid answer one byte a
               second (status line first), so no single read ever waits
               long, but the answer never completes in time."""

    ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
              b"Content-Length: 0\r\n\r\n")

    def __init__(self, kind):
        self.kind = kind
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        self.addr = "127.0.0.1:%d" % self.ls.getsockname()[1]
        self.requests = 0
        self.closed = 0
        self.stopping = threading.Event()
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def read_request(self, c, buf):
        """One whole request (headers + Content-Length body) off c, or None."""
        while b"\r\n\r\n" not in buf:
            d = self.recv(c)
            if not d:
                return None
            buf += d
        head, rest = buf.split(b"\r\n\r\n", 1)
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        while len(rest) < n:
            d = self.recv(c)
            if not d:
                return None
            rest += d
        return rest[n:]

    def recv(self, c):
        while not self.stopping.is_set():
            try:
                return c.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return b""
        return b""

    def serve(self, c):
        c.settimeout(0.2)
        buf = b""
        try:
            while True:
                buf = self.read_request(c, buf)
                if buf is None:
                    break
                self.requests += 1
                if self.kind == "trickle":
                    for i in range(len(self.ANSWER)):
                        if self.stopping.wait(1.0):
                            break
                        c.sendall(self.ANSWER[i:i + 1])
        except OSError:
            pass
        self.closed += 1
        c.close()

    def stop(self):
        self.stopping.set()
        self.ls.close()


def timed_stop(a, limit, what):
    """SIGTERMs ternd a; checks that it exits 0 within limit seconds."""
    t0 = time.time()
    try:
        rc = a.stop(limit + 30)
    except subprocess.TimeoutExpired:
        a.kill()
        return check(False, "%s: ternd still running %.0f s after SIGTERM" % (what, limit + 30))
    took = time.time() - t0
    print("%s: ternd stopped %.2f s after SIGTERM" % (what, took), flush=True)
    check(rc == 0, "%s: ternd exits 0 (got %d)" % (what, rc))
    return check(took < limit, "%s: ternd took %.2f s to stop (limit %.1f s)" % (what, took, limit))


def dump_store(data):
    out = subprocess.run([store_dump, data], capture_output=True, text=True, check=True)
    return [tuple(l.split()) for l in out.stdout.splitlines() if l.strip()]


# ---- spans ----

class Gen:
    """Traces of 4 spans each; spans 0-1 in svc-a, 2-3 in svc-b; a trace's
    spans go out in different requests (round-robin), so routing must work
    span by span, not request by request."""

    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.sent = {}  # (trace, span) -> service

    def traces(self, n):
        spans = []
        for _ in range(n):
            t = self.rnd.getrandbits(128).to_bytes(16, "big")
            for i in range(4):
                s = self.rnd.getrandbits(64).to_bytes(8, "big")
                spans.append((t, s, "svc-a" if i < 2 else "svc-b", i))
        return spans

    @staticmethod
    def request(spans):
        req = ts.ExportTraceServiceRequest()
        by_svc = {}
        for t, s, svc, i in spans:
            by_svc.setdefault(svc, []).append((t, s, i))
        for svc, lst in sorted(by_svc.items()):
            rs = req.resource_spans.add()
            kv = rs.resource.attributes.add()
            kv.key = "service.name"
            kv.value.string_value = svc
            ss = rs.scope_spans.add()
            ss.scope.name = "test-forward"
            for t, s, i in lst:
                sp = ss.spans.add()
                sp.trace_id = t
                sp.span_id = s
                sp.name = "op-%d" % i
                sp.kind = 2
                sp.start_time_unix_nano = 1700000000000000000 + i
                sp.end_time_unix_nano = 1700000000000001000 + i
                a = sp.attributes.add()
                a.key = "i"
                a.value.int_value = i
        return req

    def send(self, addr, n_traces, per_req, timeout=10):
        """Sends n_traces traces to addr; returns the acked span keys."""
        spans = self.traces(n_traces)
        # round-robin over requests: each trace's spans land in different ones
        n_req = max(1, len(spans) // per_req)
        reqs = [[] for _ in range(n_req)]
        for k, sp in enumerate(spans):
            reqs[k % n_req].append(sp)
        ch = grpc.insecure_channel(addr)
        call = ch.unary_unary(METHOD, request_serializer=lambda r: r.SerializeToString(),
                              response_deserializer=ts.ExportTraceServiceResponse.FromString)
        acked = set()
        for r in reqs:
            # attempted spans count as sent: a call that fails on our side
            # (ternd killed before it answered) may still have been stored
            for t, s, svc, i in r:
                self.sent[(t.hex(), s.hex())] = svc
            call(self.request(r), timeout=timeout)
            for t, s, svc, i in r:
                acked.add((t.hex(), s.hex()))
        ch.close()
        return acked


def count(lines):
    c = {}
    for l in lines:
        k = (l[0], l[1])
        c[k] = c.get(k, 0) + 1
    return c


def exactly_once(lines, expected, what):
    c = count(lines)
    missing = [k for k in expected if k not in c]
    dup = [k for k, n in c.items() if n > 1]
    extra = [k for k in c if k not in expected]
    check(not missing, "%s: %d of %d spans missing" % (what, len(missing), len(expected)))
    check(not dup, "%s: %d spans arrived more than once" % (what, len(dup)))
    check(not extra, "%s: %d unexpected spans" % (what, len(extra)))


# ---- scenarios ----

def basic():
    p1, p2 = Sink("basic-grpc"), Sink("basic-http")
    b = Ternd("B", os.path.join(work, "basic-b"))
    cfg = os.path.join(work, "basic.yaml")
    with open(cfg, "w") as f:
        f.write("""log-level: info
forwarders:
  - name: sink-grpc
    url: grpc://%s
    gzip: true
    headers:
      authorization: Bearer test-token
    batch_spans: 300
    max_request_bytes: 20000
    concurrency: 3
  - name: sink-http
    protocol: http/protobuf
    endpoint: %s
    compression: gzip
    batch_spans: 500
    headers: ["Authorization: Basic dGVzdA=="]
  - name: gateway
    endpoints: [%s]
""" % (p1.grpc, p2.http, b.grpc))
    a = Ternd("A", os.path.join(work, "basic-a"), ["--config", cfg], valgrind=UNDER_VALGRIND)
    g = Gen(1)
    p2.set_mode("unavailable")  # the HTTP sink answers 503 + Retry-After: 0 at first
    acked = g.send(a.grpc, 250, 50)  # 1000 spans in 20 requests
    wait_until(lambda: "unavailable" in p2.answers(), 20, "a 503 from the HTTP sink")
    p2.set_mode("ok")
    acked |= g.send(a.grpc, 250, 200)
    n = len(acked)
    t = 120 if UNDER_VALGRIND else 20
    wait_until(lambda: len(p1.spans()) >= n, t, "gRPC sink to get %d spans" % n)
    wait_until(lambda: len(p2.spans()) >= n, t, "HTTP sink to get %d spans" % n)
    wait_until(lambda: a.fwd("spans_sent_total", "gateway") >= n, t, "gateway acks")
    # the sink records before it answers: the count follows the answer
    wait_until(lambda: a.fwd("spans_sent_total", "sink-http") >= n, t, "sink-http acks")
    wait_until(lambda: a.fwd("lag_spans", "sink-grpc") == 0, t, "lag 0")
    m = a.metrics()
    check(m.get('ternd_forward_spans_sent_total{forwarder="sink-http"}') == n,
          "sink-http sent_total %s != %d" % (m.get('ternd_forward_spans_sent_total{forwarder="sink-http"}'), n))
    check(m.get('ternd_forward_spans_failed_total{forwarder="sink-grpc"}') == 0, "no failures")
    check(m.get('ternd_forward_cursor_saves_total{forwarder="sink-grpc"}', 0) >= 1, "cursor saved")
    check(a.stop(120 if UNDER_VALGRIND else 30) == 0, "A exits 0 on SIGTERM (valgrind: no leaks)")
    check(b.stop() == 0, "B exits 0")
    for sk, want in ((p1, "Bearer test-token"), (p2, "Basic dGVzdA==")):
        try:
            with open(os.path.join(sk.outdir, "auth.txt")) as f:
                got = f.read()
        except FileNotFoundError:
            got = None
        check(got == want, "authorization header: %r != %r" % (got, want))
    with open(os.path.join(p1.outdir, "sizes.txt")) as f:
        sizes = [int(l) for l in f if l.strip()]
    check(sizes and max(sizes) <= 20000,
          "requests split under max_request_bytes (largest %d)" % max(sizes or [0]))
    check(len(sizes) > 2000 // 300 + 1, "more requests than batch_spans alone makes (%d)" % len(sizes))
    exactly_once(p1.spans(), acked, "basic gRPC sink")
    exactly_once(p2.spans(), acked, "basic HTTP sink")
    exactly_once(dump_store(b.data), acked, "basic gateway ternd B")
    p1.stop()
    p2.stop()


def outage():
    p = Sink("outage")
    ph = Sink("outage-http")  # an OTLP/HTTP destination, stopped with the others
    b = Ternd("B", os.path.join(work, "outage-b"))
    b_grpc = b.grpc
    cfg = os.path.join(work, "outage.yaml")
    with open(cfg, "w") as f:
        f.write("forwarders:\n  - name: gateway\n    url: grpc://%s?max_backoff_ms=400\n"
                "  - name: http\n    url: http://%s?max_backoff_ms=400\n" % (b_grpc, ph.http))
    a = Ternd("A", os.path.join(work, "outage-a"),
              ["--config", cfg,
               "--forward", "grpc://%s?name=sink&max_backoff_ms=400&batch_spans=200" % p.grpc])
    g = Gen(2)
    expected = set()

    # 1. the sink answers UNAVAILABLE: ingest goes on, the lag grows
    p.set_mode("unavailable")
    expected |= g.send(a.grpc, 100, 40)
    wait_until(lambda: a.fwd("spans_failed_total", "sink") > 0, 10, "failed attempts")
    time.sleep(0.5)
    check(len(p.spans()) == 0, "nothing recorded while UNAVAILABLE")
    wait_until(lambda: a.fwd("lag_spans", "sink") == 400, 5, "lag_spans 400 while down")
    p.set_mode("ok")
    wait_until(lambda: len(p.spans()) >= 400, 15, "catch-up after UNAVAILABLE")
    check(a.fwd("spans_retried_total", "sink") > 0, "retries counted")

    # 2. RESOURCE_EXHAUSTED with RetryInfo is retried
    p.set_mode("exhausted_retry")
    expected |= g.send(a.grpc, 50, 50)
    wait_until(lambda: "exhausted_retry" in p.answers(), 10, "an exhausted answer")
    p.set_mode("ok")
    wait_until(lambda: len(p.spans()) >= 600, 15, "catch-up after RESOURCE_EXHAUSTED")

    # 3. both destinations stopped, then restarted on the same ports
    wait_until(lambda: a.fwd("lag_spans", "gateway") == 0, 15, "gateway caught up")
    wait_until(lambda: a.fwd("lag_spans", "http") == 0, 15, "HTTP destination caught up")
    p.stop()
    ph.stop()
    check(b.stop() == 0, "B exits 0")
    expected |= g.send(a.grpc, 150, 60)
    # (the lag gauges are refreshed once a second)
    wait_until(lambda: a.fwd("lag_spans", "sink") == 600, 5, "sink lag 600 while stopped")
    wait_until(lambda: a.fwd("lag_spans", "gateway") == 600, 5, "gateway lag 600 while stopped")
    wait_until(lambda: a.fwd("lag_seconds", "sink") >= 1, 5, "lag_seconds >= 1 while stopped")
    check(len(p.spans()) == 600, "nothing new reached the stopped sink")
    wait_until(lambda: a.fwd("lag_spans", "http") == 600, 5, "HTTP lag 600 while stopped")
    p = Sink("outage", p.grpc_port, 0, p.outdir)
    ph = Sink("outage-http", 0, ph.http_port, ph.outdir)
    b = Ternd("B", os.path.join(work, "outage-b"), grpc_addr=b_grpc)
    wait_until(lambda: len(p.spans()) >= len(expected), 20, "sink catch-up after restart")
    wait_until(lambda: a.fwd("lag_spans", "gateway") == 0, 20, "gateway catch-up after restart")

    # 4. INVALID_ARGUMENT: the batch is dropped and counted, never retried
    p.set_mode("invalid")
    dropped = g.send(a.grpc, 25, 100)
    wait_until(lambda: a.fwd("spans_dropped_total", "sink") == 100, 10, "100 spans dropped")
    p.set_mode("ok")
    n_invalid = p.answers().count("invalid")
    expected_sink = set(expected)
    expected |= dropped
    # 5. partial_success: counted, not retried
    p.set_mode("partial:3")
    part = g.send(a.grpc, 25, 100)
    expected |= part
    expected_sink |= part
    wait_until(lambda: a.fwd("spans_rejected_total", "sink") >= 3, 10, "rejected counted")
    p.set_mode("ok")
    more = g.send(a.grpc, 25, 100)
    expected |= more
    expected_sink |= more
    wait_until(lambda: len(p.spans()) >= len(expected_sink), 15, "last spans")
    wait_until(lambda: a.fwd("lag_spans", "gateway") == 0, 15, "gateway done")
    wait_until(lambda: a.fwd("lag_spans", "http") == 0, 15, "HTTP destination done")
    time.sleep(0.3)
    check(p.answers().count("invalid") == n_invalid, "the refused batch was not retried")
    rej = a.fwd("spans_rejected_total", "sink")
    check(rej > 0 and rej % 3 == 0, "rejected_total %s is a multiple of 3" % rej)
    check(a.stop() == 0, "A exits 0")
    check(b.stop() == 0, "B exits 0")
    exactly_once(p.spans(), expected_sink, "outage sink")
    exactly_once(ph.spans(), expected, "outage HTTP destination (stopped and restarted)")
    ph.stop()
    exactly_once(dump_store(b.data), expected, "outage gateway ternd B")
    p.stop()


def sigkill():
    p = Sink("sigkill")
    data = os.path.join(work, "sigkill-a")
    b = Ternd("B", os.path.join(work, "sigkill-b"))
    conc, batch = 4, 150
    cfg = os.path.join(work, "sigkill.yaml")
    with open(cfg, "w") as f:
        f.write("forwarders:\n  - name: gateway\n    endpoint: %s\n    batch_spans: %d\n"
                "    concurrency: %d\n" % (b.grpc, batch, conc))
    args = ["--config", cfg,
            "--forward", "grpc://%s?name=sink&batch_spans=%d&concurrency=%d" % (p.grpc, batch, conc)]
    # slow answers keep calls in flight when the kill comes
    p.set_mode("slow:30")
    state = {"a": Ternd("A", data, args), "acked": set(), "done": False, "errors": 0}
    g = Gen(3)
    lock = threading.Lock()

    def sender():
        for _ in range(60):
            while True:
                with lock:
                    addr = state["a"].grpc
                try:
                    got = g.send(addr, 25, 100, timeout=3)
                    with lock:
                        state["acked"] |= got
                    break
                except grpc.RpcError:
                    state["errors"] += 1
                    time.sleep(0.05)
            time.sleep(0.01)
        state["done"] = True

    th = threading.Thread(target=sender)
    th.start()
    kills = 0
    for at in (15, 35):
        wait_until(lambda: len(state["acked"]) >= at * 100, 30, "sender progress")
        wait_until(lambda: len(p.spans()) > 0, 10, "forwarding started")
        with lock:
            state["a"].kill()
            kills += 1
            state["a"] = Ternd("A", data, args)
    th.join(120)
    a = state["a"]
    acked = state["acked"]
    wait_until(lambda: len(set((l[0], l[1]) for l in p.spans())) >= len(acked), 30,
               "all acked spans forwarded after kills")
    wait_until(lambda: a.fwd("lag_spans", "gateway") == 0, 30, "gateway caught up")
    check(a.stop() == 0, "A exits 0 after the kills")
    check(b.stop() == 0, "B exits 0")
    # A read unit ends with the record that reaches batch_spans: with
    # 100-span requests (one record each) that is 2 records, 200 spans.
    rec = 100
    unit_max = -(-batch // rec) * rec
    window = kills * conc * unit_max
    for what, lines in (("sink", p.spans()), ("gateway ternd B", dump_store(b.data))):
        c = count(lines)
        missing = [k for k in acked if k not in c]
        check(not missing, "sigkill %s: %d acked spans never arrived" % (what, len(missing)))
        extra = [k for k in c if k not in g.sent]
        check(not extra, "sigkill %s: %d spans nobody sent" % (what, len(extra)))
        dups = sum(n - 1 for n in c.values())
        check(dups <= window, "sigkill %s: %d duplicates > window %d" % (what, dups, window))
        print("sigkill %s: %d spans acked, %d duplicates (window %d), %d sender retries" %
              (what, len(acked), dups, window, state["errors"]), flush=True)
    p.stop()


def route_of(trace_hex, n):
    b = bytes.fromhex(trace_hex)
    z = int.from_bytes(b[:8], "big") ^ int.from_bytes(b[8:], "big")
    M = (1 << 64) - 1
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
    z ^= z >> 31
    return z % n


def sampled(trace_hex, ratio):
    lo = int.from_bytes(bytes.fromhex(trace_hex)[8:], "big") & ((1 << 56) - 1)
    return lo < ratio * (1 << 56)


def routing():
    g1, g2, s3 = Sink("route-1"), Sink("route-2"), Sink("route-sampled")
    g3, g4 = Sink("route-3"), Sink("route-4")
    cfg = os.path.join(work, "routing.yaml")
    with open(cfg, "w") as f:
        f.write("""forwarders:
  - name: gateways
    endpoints:
      - %s
      - %s
    batch_spans: 128
  - name: sampled
    url: grpc://%s
    services: [svc-a]
    sample: 0.5
  - name: split
    endpoints: [%s, %s]
    per_endpoint_cursors: true
    max_backoff_ms: 300
""" % (g1.grpc, g2.grpc, s3.grpc, g3.grpc, g4.grpc))
    a = Ternd("A", os.path.join(work, "routing-a"), ["--config", cfg])
    g = Gen(4)
    g4.stop()  # one gateway of "split" is down at first
    sent = g.send(a.grpc, 500, 100)  # 2000 spans, each trace over 4 requests
    wait_until(lambda: len(g1.spans()) + len(g2.spans()) >= len(sent), 20, "gateways")
    wait_until(lambda: a.fwd("lag_spans", "sampled") == 0, 20, "sampled caught up")
    # per_endpoint_cursors: the live gateway gets its whole share meanwhile
    share3 = set(k for k in sent if route_of(k[0], 2) == 0)
    wait_until(lambda: len(g3.spans()) >= len(share3), 20, "split.0 delivers while split.1 is down")
    wait_until(lambda: a.fwd("lag_spans", "split.1") == len(sent), 5, "split.1 lags")
    g4 = Sink("route-4", g4.grpc_port, 0, g4.outdir)
    wait_until(lambda: a.fwd("lag_spans", "split.1") == 0, 20, "split.1 catches up")
    check(a.stop() == 0, "A exits 0")
    l1, l2 = g1.spans(), g2.spans()
    exactly_once(l1 + l2, sent, "routing: both gateways together")
    t1 = set(l[0] for l in l1)
    t2 = set(l[0] for l in l2)
    check(t1 and t2, "both gateways got traces")
    check(not (t1 & t2), "routing: %d traces split across gateways" % len(t1 & t2))
    wrong = [t for t in t1 if route_of(t, 2) != 0] + [t for t in t2 if route_of(t, 2) != 1]
    check(not wrong, "routing: %d traces not where col_fwd_route says" % len(wrong))
    per_trace = {}
    for (t, s), svc in g.sent.items():
        per_trace.setdefault(t, []).append((s, svc))
    exp3 = set((t, s) for t, lst in per_trace.items() if sampled(t, 0.5)
               for s, svc in lst if svc == "svc-a")
    exactly_once(s3.spans(), exp3, "sampling+service filter")
    kept = len(set(l[0] for l in s3.spans()))
    check(150 <= kept <= 350, "sampling kept %d of 500 traces" % kept)
    exactly_once(g3.spans(), share3, "per_endpoint_cursors: endpoint 0")
    exactly_once(g4.spans(), set(sent) - share3, "per_endpoint_cursors: endpoint 1")
    for p in (g1, g2, s3, g3, g4):
        p.stop()


def needs_store():
    """--forward with a sink that has no log is a start-up error, not a silent no-op."""
    p = subprocess.run([TERND, "--sink", "null", "--otlp-grpc", "127.0.0.1:0", "--otlp-http",
                        "127.0.0.1:0", "--query", "127.0.0.1:0", "--forward", "grpc://127.0.0.1:9"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 1, "ternd --sink null --forward exits 1 (got %d)" % p.returncode)
    check("needs --sink store" in p.stderr, "the message says why: %r" % p.stderr[-300:])
    p = subprocess.run([TERND, "--forward", "ftp://jaeger:4317"], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 2 and "--forward" in p.stderr, "a bad --forward URL is a usage error")


def tls():
    """gRPC over TLS (grpcs://) with the server's certificate checked against
    ca_file; the same forwarder without the right CA must not deliver."""
    d = os.path.join(work, "tls")
    os.makedirs(d)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", os.path.join(d, "key.pem"), "-out", os.path.join(d, "cert.pem"),
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    p = Sink("tls-sink", tls_dir=d)
    cfg = os.path.join(work, "tls.yaml")
    with open(cfg, "w") as f:
        f.write("forwarders:\n"
                "  - name: tls\n    url: grpcs://%s\n    ca_file: %s\n"
                "  - name: untrusted\n    url: grpcs://%s\n    max_backoff_ms: 200\n"
                % (p.grpc, os.path.join(d, "cert.pem"), p.grpc))
    a = Ternd("A", os.path.join(work, "tls-a"), ["--config", cfg], valgrind=UNDER_VALGRIND)
    g = Gen(5)
    sent = g.send(a.grpc, 100, 100)
    t = 120 if UNDER_VALGRIND else 20
    wait_until(lambda: a.fwd("spans_sent_total", "tls") >= len(sent), t, "TLS delivery")
    wait_until(lambda: a.fwd("spans_failed_total", "untrusted") > 0, t,
               "the untrusted forwarder fails its handshakes")
    check(a.fwd("spans_sent_total", "untrusted") == 0, "no delivery without the right CA")
    wait_until(lambda: a.fwd("lag_spans", "untrusted") == len(sent), t / 4,
               "the untrusted forwarder lags")
    check(a.stop(t) == 0, "A exits 0 (valgrind: no leaks)")
    exactly_once(p.spans(), sent, "TLS sink")
    p.stop()


def blackhole():
    bh = BadPeer("blackhole")
    cfg = ["--forward", "http://%s?name=bh&timeout_ms=600000&concurrency=2" % bh.addr]
    data = os.path.join(work, "blackhole-a")
    a = Ternd("A", data, cfg, shutdown_ms=1000)
    g = Gen(6)
    sent = g.send(a.grpc, 50, 50)
    wait_until(lambda: bh.requests >= 1, 20, "the black hole receives a request")
    check(a.fwd("spans_sent_total", "bh") == 0, "nothing acknowledged by a black hole")
    # 1 s of --shutdown-timeout-ms, plus the drain and the store's close
    timed_stop(a, 3.0, "black hole")
    wait_until(lambda: bh.closed >= bh.requests, 5, "ternd closed its connections")
    bh.stop()
    # The cancelled requests were never acknowledged: a restart toward a
    # real destination (same forwarder name, same cursor) sends them all.
    p = Sink("blackhole-sink")
    a = Ternd("A", data, ["--forward", "http://%s?name=bh" % p.http])
    wait_until(lambda: a.fwd("spans_sent_total", "bh") >= len(sent), 20,
               "delivery after the restart")
    check(a.stop() == 0, "A exits 0")
    exactly_once(p.spans(), sent, "after the black hole")
    p.stop()


def trickle():
    tr = BadPeer("trickle")
    cfg = ["--forward", "http://%s?name=tr&timeout_ms=1500&max_backoff_ms=200" % tr.addr]
    a = Ternd("A", os.path.join(work, "trickle-a"), cfg, shutdown_ms=1000)
    g = Gen(7)
    g.send(a.grpc, 20, 80)
    wait_until(lambda: tr.requests >= 1, 20, "the trickling peer receives a request")
    t0 = time.time()
    wait_until(lambda: a.fwd("spans_failed_total", "tr") > 0, 15,
               "the trickled request fails")
    took = time.time() - t0
    # the answer needs ~60 s at 1 byte/s; timeout_ms is 1.5 s for the whole call
    check(took < 4.0, "timeout_ms bounds a trickled answer (failed after %.1f s)" % took)
    wait_until(lambda: tr.requests >= 2, 10, "the failed request is retried")
    check(a.fwd("spans_sent_total", "tr") == 0, "nothing acknowledged by a trickle")
    timed_stop(a, 3.0, "trickle")
    tr.stop()


def continue_100():
    p = Sink("continue")
    p.set_mode("continue")
    a = Ternd("A", os.path.join(work, "continue-a"),
              ["--forward", "http://%s?name=cont&gzip=1" % p.http])
    g = Gen(8)
    sent = g.send(a.grpc, 50, 40)
    wait_until(lambda: a.fwd("spans_sent_total", "cont") >= len(sent), 20,
               "delivery past 100 Continue")
    check(a.fwd("spans_dropped_total", "cont") == 0, "100 Continue is not an answer: no drop")
    check(a.fwd("spans_failed_total", "cont") == 0, "100 Continue: no failure")
    check(a.stop() == 0, "A exits 0")
    exactly_once(p.spans(), sent, "100 Continue sink")
    p.stop()


def https():
    """OTLP/HTTP over TLS, the server checked against ca_file, ternd
    presenting a client certificate the server requires."""
    d = os.path.join(work, "https")
    os.makedirs(d)
    for name, subj, san in (("", "/CN=localhost", "IP:127.0.0.1,DNS:localhost"),
                            ("client-", "/CN=ternd-client", "DNS:ternd-client")):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-keyout", os.path.join(d, name + "key.pem"),
                        "-out", os.path.join(d, name + "cert.pem"),
                        "-subj", subj, "-addext", "subjectAltName=" + san],
                       check=True, capture_output=True)
    shutil.copy(os.path.join(d, "client-cert.pem"), os.path.join(d, "client-ca.pem"))
    p = Sink("https-sink", tls_dir=d)
    cfg = os.path.join(work, "https.yaml")
    with open(cfg, "w") as f:
        f.write("forwarders:\n"
                "  - name: mtls\n    url: https://%s\n    ca_file: %s\n"
                "    cert_file: %s\n    key_file: %s\n    gzip: true\n"
                "  - name: nocert\n    url: https://%s\n    ca_file: %s\n    max_backoff_ms: 200\n"
                "  - name: untrusted\n    url: https://%s\n    max_backoff_ms: 200\n"
                % (p.http, os.path.join(d, "cert.pem"), os.path.join(d, "client-cert.pem"),
                   os.path.join(d, "client-key.pem"), p.http, os.path.join(d, "cert.pem"),
                   p.http))
    a = Ternd("A", os.path.join(work, "https-a"), ["--config", cfg], valgrind=UNDER_VALGRIND)
    g = Gen(9)
    sent = g.send(a.grpc, 100, 100)
    t = 120 if UNDER_VALGRIND else 20
    wait_until(lambda: a.fwd("spans_sent_total", "mtls") >= len(sent), t, "HTTPS delivery")
    for name in ("nocert", "untrusted"):
        wait_until(lambda: a.fwd("spans_failed_total", name) > 0, t, "%s fails" % name)
        check(a.fwd("spans_sent_total", name) == 0, "%s: no delivery" % name)
    check(a.stop(t) == 0, "A exits 0 (valgrind: no leaks)")
    exactly_once(p.spans(), sent, "HTTPS sink")
    p.stop()


scenarios = {"needs_store": needs_store, "tls": tls, "basic": basic, "outage": outage,
             "sigkill": sigkill, "routing": routing, "blackhole": blackhole,
             "trickle": trickle, "continue": continue_100, "https": https}
try:
    for name, fn in scenarios.items():
        if only and name not in only:
            continue
        if UNDER_VALGRIND and name not in ("basic", "needs_store", "tls", "https"):
            # ternd under memcheck is ~30x slower: the kill/outage timing
            # tests would only measure valgrind. basic covers the
            # forwarder's threads, calls and shutdown for leaks.
            print("skip %s under valgrind" % name, flush=True)
            continue
        t0 = time.time()
        n0 = len(failures)
        fn()
        print("%s: %s in %.1f s" % (name, "ok" if len(failures) == n0 else "FAILED",
                                     time.time() - t0), flush=True)
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
if failures:
    print("%d failures" % len(failures))
    sys.exit(1)
shutil.rmtree(work, ignore_errors=True)
print("all forward scenarios passed")
