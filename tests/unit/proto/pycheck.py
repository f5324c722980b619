#!/usr/bin/python3
"""Cross-checks tern's OTLP codec against Google's protobuf for Python.

usage: pycheck.py OTLP_TOOL PROTO_ROOT WORK_DIR

Compiles proto/opentelemetry/**/*.proto with protoc --python_out, then:
  1. parses the C encoding of the every-field fixture, checks fields, and
     checks Python re-serializes it to the same bytes (canonical output);
  2. builds requests in Python, runs them through `otlp-tool reencode`
     (C decode + C encode) and checks Python reads back an equal message;
  3. parses C-encoded responses;
  4. checks OTLP/JSON from C with Python's json_format, and JSON written by
     Python through `otlp-tool fromjson`.
"""
import glob
import math
import os
import subprocess
import sys

tool, proto_root, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
protos = sorted(glob.glob(os.path.join(proto_root, "opentelemetry/proto/**/*.proto"),
                          recursive=True))
subprocess.run(["protoc", "-I" + os.path.abspath(proto_root),
                "--python_out=" + os.path.abspath(work)] +
               [os.path.abspath(p) for p in protos], check=True)
sys.path.insert(0, work)

from google.protobuf import json_format  # noqa: E402
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts  # noqa: E402
from opentelemetry.proto.trace.v1 import trace_pb2  # noqa: E402

failures = 0


checks = 0


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", what)


def run(args, data=b""):
    p = subprocess.run([tool] + args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("otlp-tool %s: %s" % (args, p.stderr.decode()))
    return p.stdout


# 1. the fixture, encoded by C
raw = run(["fixture"])
req = ts.ExportTraceServiceRequest()
req.ParseFromString(raw)
check(req.SerializeToString() == raw, "fixture: Python re-serializes to the same bytes")
check(len(req.resource_spans) == 2, "fixture: 2 resource spans")
rs = req.resource_spans[0]
check(rs.resource.attributes[0].key == "service.name", "resource attr key")
check(rs.resource.attributes[0].value.string_value == "checkout", "resource attr value")
check(rs.resource.dropped_attributes_count == 2, "resource dropped")
check(rs.schema_url == "https://opentelemetry.io/schemas/1.21.0", "rs schema_url")
ss = rs.scope_spans[0]
check(ss.scope.name == "tern.test" and ss.scope.version == "1.2.3", "scope")
check(ss.scope.dropped_attributes_count == 1, "scope dropped")
s = ss.spans[0]
check(len(s.trace_id) == 16 and s.trace_id[0] == 0x4b, "trace_id")
check(len(s.span_id) == 8, "span_id")
check(s.parent_span_id == bytes(range(1, 9)), "parent_span_id")
check(s.trace_state == "rojo=00f067aa0ba902b7", "trace_state")
check(s.flags == 0x301, "flags")
check(s.kind == trace_pb2.Span.SPAN_KIND_CLIENT, "kind")
check(s.end_time_unix_nano - s.start_time_unix_nano == 12345, "times")
attrs = {kv.key: kv.value for kv in s.attributes}
check(attrs["http.method"].string_value == "GET", "string attr")
check(attrs["empty.string"].WhichOneof("value") == "string_value", "empty string kept")
check(attrs["http.status_code"].int_value == 200, "int attr")
check(attrs["negative"].int_value == -5, "negative int")
check(attrs["zero"].WhichOneof("value") == "int_value", "zero int kept")
check(attrs["ok"].bool_value is True, "bool")
check(attrs["notok"].WhichOneof("value") == "bool_value", "false bool kept")
check(attrs["ratio"].double_value == 0.25, "double")
check(attrs["neg.double"].double_value == -1e300, "double -1e300")
check(attrs["blob"].bytes_value == b"\x00\xff\x10", "bytes")
check(attrs["nothing"].WhichOneof("value") is None, "empty value")
lst = attrs["list"].array_value.values
check(lst[0].string_value == "a" and lst[1].int_value == 7, "array")
check(lst[2].kvlist_value.values[1].value.array_value.values[0].double_value == 3.5,
      "nested kvlist/array")
check(attrs["empty.list"].WhichOneof("value") == "array_value", "empty array kept")
check(attrs["empty.map"].WhichOneof("value") == "kvlist_value", "empty kvlist kept")
check(s.dropped_attributes_count == 3, "span dropped attrs")
check(len(s.events) == 2 and s.events[0].name == "exception", "events")
check(s.events[0].attributes[0].value.string_value == "boom", "event attr")
check(s.events[0].dropped_attributes_count == 4 and s.dropped_events_count == 5,
      "event dropped counts")
check(len(s.links) == 1 and s.links[0].trace_id == b"\x11" * 16, "link")
check(s.links[0].flags == 1 and s.links[0].dropped_attributes_count == 6, "link fields")
check(s.dropped_links_count == 7, "dropped links")
check(s.status.code == trace_pb2.Status.STATUS_CODE_ERROR, "status code")
check(s.status.message == "upstream failed", "status message")
check(ss.spans[1].status.code == trace_pb2.Status.STATUS_CODE_OK, "status OK")
check(not ss.spans[2].HasField("status") and ss.spans[2].name == "", "minimal span")
check(not rs.scope_spans[1].HasField("scope"), "scope_spans without scope")

# 2. Python-built requests through C decode + encode
def py_request(n_spans):
    r = ts.ExportTraceServiceRequest()
    rs = r.resource_spans.add()
    a = rs.resource.attributes.add()
    a.key, a.value.string_value = "service.name", "py-svc"
    rs.schema_url = "s"
    ss = rs.scope_spans.add()
    ss.scope.name = "py"
    for i in range(n_spans):
        sp = ss.spans.add()
        sp.trace_id = bytes([(i + k) % 255 + 1 for k in range(16)])
        sp.span_id = bytes([(i * 3 + k) % 255 + 1 for k in range(8)])
        if i % 2:
            sp.parent_span_id = bytes([9] * 8)
        sp.name = "op-%d ✓" % i
        sp.kind = i % 6 if i != 5 else -3  # open enums: negative is legal
        sp.start_time_unix_nano = 1700000000123456789 + i
        sp.end_time_unix_nano = 2 ** 64 - 1 - i
        sp.flags = i
        for j, v in enumerate([("s", "x" * (i % 300)), ("i", -(2 ** 63) + i),
                               ("d", math.inf), ("b", b"\x00" * (i % 5)),
                               ("t", True)]):
            kv = sp.attributes.add()
            kv.key = v[0]
            if v[0] == "s":
                kv.value.string_value = v[1]
            elif v[0] == "i":
                kv.value.int_value = v[1]
            elif v[0] == "d":
                kv.value.double_value = v[1]
            elif v[0] == "b":
                kv.value.bytes_value = v[1]
            else:
                kv.value.bool_value = v[1]
        kv = sp.attributes.add()
        kv.key = "arr"
        kv.value.array_value.values.add().int_value = i
        inner = kv.value.array_value.values.add().kvlist_value.values.add()
        inner.key = "deep"
        inner.value.double_value = -0.0
        ev = sp.events.add()
        ev.time_unix_nano = 5
        ev.name = "e"
        lk = sp.links.add()
        lk.trace_id = bytes([7] * 16)
        lk.span_id = bytes([8] * 8)
        lk.trace_state = "a=b"
        sp.status.message = "m"
        sp.status.code = i % 3
    return r


for n in (1, 7, 300):
    r = py_request(n)
    data = r.SerializeToString()
    out = run(["reencode"], data)
    back = ts.ExportTraceServiceRequest()
    back.ParseFromString(out)
    check(back == r, "python request of %d spans survives C decode+encode" % n)
    check(out == data, "python request of %d spans: C output is byte-identical" % n)

# Field order on the wire does not matter to the decoder: reversed fields.
r = py_request(3)
sp = r.resource_spans[0].scope_spans[0].spans[0]
body = sp.SerializeToString()
# A span whose fields come last-to-first: re-emit each field separately.
fields = []
for fd, val in sp.ListFields():
    single = trace_pb2.Span()
    getattr(single, fd.name).CopyFrom(val) if fd.message_type and fd.label != fd.LABEL_REPEATED \
        else (getattr(single, fd.name).extend(val) if fd.label == fd.LABEL_REPEATED
              else setattr(single, fd.name, val))
    fields.append(single.SerializeToString())
rev = b"".join(reversed(fields))
parsed = trace_pb2.Span()
parsed.ParseFromString(rev)
check(parsed == sp, "reversed span parses in Python")
req2 = ts.ExportTraceServiceRequest()
ss2 = req2.resource_spans.add().scope_spans.add()
ss2.spans.add().CopyFrom(sp)
# Splice the reversed span bytes in by hand.
def ld(field, body):
    n, v = len(body), bytearray([field << 3 | 2])
    while True:
        v.append((n & 0x7f) | (0x80 if n > 0x7f else 0))
        n >>= 7
        if not n:
            break
    return bytes(v) + body


reqb = ld(1, ld(2, ld(2, rev)))
out = run(["reencode"], reqb)
back = ts.ExportTraceServiceRequest()
back.ParseFromString(out)
check(back == req2, "reversed field order decodes to the same span")
check(out == req2.SerializeToString(), "reversed field order re-encodes canonically")

# 3. responses
resp = ts.ExportTraceServiceResponse()
resp.ParseFromString(run(["response", "0", ""]))
check(not resp.HasField("partial_success"), "full success leaves partial_success unset")
resp.ParseFromString(run(["response", "12", "bad ids"]))
check(resp.partial_success.rejected_spans == 12, "rejected_spans")
check(resp.partial_success.error_message == "bad ids", "error_message")

# 4. OTLP/JSON both ways, if the C side has it
try:
    js = run(["tojson"], raw)
except RuntimeError as e:
    js = None
    check(False, "tojson: %s" % e)
if js is not None:
    fromjs = ts.ExportTraceServiceRequest()
    # OTLP/JSON ids are hex, protobuf JSON's are base64: convert first.
    import json

    def hex_to_b64(o):
        import base64
        if isinstance(o, dict):
            for k, v in list(o.items()):
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                    o[k] = base64.b64encode(bytes.fromhex(v)).decode()
                else:
                    hex_to_b64(v)
        elif isinstance(o, list):
            for v in o:
                hex_to_b64(v)
        return o

    json_format.Parse(json.dumps(hex_to_b64(json.loads(js))), fromjs)
    check(fromjs == req, "C's OTLP/JSON equals the protobuf request in Python")
    # Python's JSON (base64 ids -> hex) into C.
    pj = json.loads(json_format.MessageToJson(py_request(4)))

    def b64_to_hex(o):
        import base64
        if isinstance(o, dict):
            for k, v in list(o.items()):
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                    o[k] = base64.b64decode(v).hex().upper()
                else:
                    b64_to_hex(v)
        elif isinstance(o, list):
            for v in o:
                b64_to_hex(v)
        return o

    out = run(["fromjson"], json.dumps(b64_to_hex(pj)).encode())
    back = ts.ExportTraceServiceRequest()
    back.ParseFromString(out)
    check(back == py_request(4), "Python's JSON decodes in C to the same request")
    # snake_case keys (preserving_proto_field_name) too.
    pj = json.loads(json_format.MessageToJson(py_request(2),
                                              preserving_proto_field_name=True))
    for rsj in pj["resource_spans"]:
        for ssj in rsj["scope_spans"]:
            for spj in ssj["spans"]:
                for k in ("trace_id", "span_id", "parent_span_id"):
                    if k in spj:
                        import base64
                        spj[k] = base64.b64decode(spj[k]).hex()
                for lk in spj.get("links", []):
                    pass
    # links ids are also base64 in protobuf JSON: convert them.
    for rsj in pj["resource_spans"]:
        for ssj in rsj["scope_spans"]:
            for spj in ssj["spans"]:
                for lk in spj.get("links", []):
                    import base64
                    lk["trace_id"] = base64.b64decode(lk["trace_id"]).hex()
                    lk["span_id"] = base64.b64decode(lk["span_id"]).hex()
    out = run(["fromjson"], json.dumps(pj).encode())
    back.ParseFromString(out)
    check(back == py_request(2), "snake_case JSON decodes in C to the same request")

print("pycheck: %d checks, %d failures" % (checks, failures))
sys.exit(1 if failures else 0)
