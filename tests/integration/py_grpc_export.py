#!/usr/bin/python3
"""Independent client: Python grpcio (Debian python3-grpcio) against the
real ternd. The request is encoded by hand here from the OTLP field
numbers, so neither tern's codec nor its client code is involved."""
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import urllib.request

import grpc

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_fixed64(num, v):
    return varint(num << 3 | 1) + struct.pack("<Q", v)


def span(i):
    return (field_bytes(1, bytes([i + 1]) * 16) + field_bytes(2, bytes([i + 1]) * 8)
            + field_bytes(5, b"py-span-%d" % i) + field_varint(6, 2)
            + field_fixed64(7, 1700000000000000000 + i)
            + field_fixed64(8, 1700000000000001000 + i))


def request(n):
    any_str = field_bytes(1, b"py-service")
    kv = field_bytes(1, b"service.name") + field_bytes(2, any_str)
    resource = field_bytes(1, kv)
    scope_spans = b"".join(field_bytes(2, span(i)) for i in range(n))
    rs = field_bytes(1, resource) + field_bytes(2, scope_spans)
    return field_bytes(1, rs)


def metric(addr, name):
    body = urllib.request.urlopen("http://%s/metrics" % addr, timeout=30).read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[-1])
    raise AssertionError("no metric " + name)


def main():
    if os.environ.get("TERN_UNDER_VALGRIND") == "1":
        # Valgrind would check the Python interpreter, not ternd; the C
        # integration tests run ternd itself under valgrind.
        print("skip - python grpcio test under valgrind")
        return 77
    ternd = os.environ["TERND"]
    data = tempfile.mkdtemp(prefix="ternd-py-")
    proc = subprocess.Popen(
        [ternd, "--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0",
         "--query", "127.0.0.1:0", "--data", data],
        stdout=subprocess.PIPE, text=True)
    addrs = {}
    try:
        while len(addrs) < 3:
            line = proc.stdout.readline()
            assert line, "ternd exited before listening"
            parts = line.split()
            if len(parts) == 3 and parts[0] == "listening":
                addrs[parts[1]] = parts[2]
        with grpc.insecure_channel(addrs["otlp-grpc"]) as ch:
            export = ch.unary_unary(METHOD)  # bytes in, bytes out
            resp = export(request(3), timeout=30)
            assert resp == b"", "expected an empty response (partial_success unset), got %r" % resp
            resp = export(request(2), timeout=30, compression=grpc.Compression.Gzip)
            assert resp == b""
            try:
                export(b"\x0a\xff\xff\xff\xff\x0f\x01", timeout=30)
                raise AssertionError("garbage was accepted")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.code()
                assert e.details(), "INVALID_ARGUMENT without a message"
            try:
                ch.unary_unary("/some.Other/Method")(b"", timeout=30)
                raise AssertionError("an unknown method was served")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e.code()
        assert metric(addrs["query"], "ternd_spans_accepted_total") == 5
        assert metric(addrs["query"],
                      'ternd_requests_total{protocol="grpc",outcome="invalid"}') == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)
    assert rc == 0, "ternd exited with %d" % rc
    print("ok - python grpcio export")


if __name__ == "__main__":
    sys.exit(main())
