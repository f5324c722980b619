#!/usr/bin/python3
"""Writes the seed corpora of the otlp_proto and otlp_json fuzz targets.

usage: make_corpus.py OTLP_TOOL PROTO_ROOT WORK_DIR FUZZ_CORPUS_DIR

Seeds are small requests that reach every message and value type, the
limits, and the error paths: built with Google's protobuf for Python, the
codec's every-field fixture (otlp-tool fixture), and their OTLP/JSON forms
(otlp-tool tojson, and Python's json_format with hex ids and snake_case).
"""
import base64
import glob
import json
import os
import subprocess
import sys

tool, proto_root, work, out = sys.argv[1:5]
os.makedirs(work, exist_ok=True)
protos = sorted(glob.glob(os.path.join(proto_root, "opentelemetry/proto/**/*.proto"),
                          recursive=True))
subprocess.run(["protoc", "-I" + os.path.abspath(proto_root),
                "--python_out=" + os.path.abspath(work)] +
               [os.path.abspath(p) for p in protos], check=True)
sys.path.insert(0, work)
from google.protobuf import json_format  # noqa: E402
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts  # noqa: E402


def run(args, data=b""):
    return subprocess.run([tool] + args, input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def span(ss, i, **kw):
    sp = ss.spans.add()
    sp.trace_id = bytes([(i + k) % 255 + 1 for k in range(16)])
    sp.span_id = bytes([(i * 3 + k) % 255 + 1 for k in range(8)])
    sp.name = "op%d" % i
    sp.start_time_unix_nano = 1700000000000000000 + i
    sp.end_time_unix_nano = 1700000000000001000 + i
    for k, v in kw.items():
        setattr(sp, k, v)
    return sp


def request():
    r = ts.ExportTraceServiceRequest()
    rs = r.resource_spans.add()
    a = rs.resource.attributes.add()
    a.key, a.value.string_value = "service.name", "fuzz"
    return r, rs.scope_spans.add()


seeds = {}
r, ss = request()
seeds["empty_scope"] = r
r, ss = request()
span(ss, 1)
seeds["one_span"] = r
r, ss = request()
ss.scope.name, ss.scope.version = "lib", "1.0"
sp = span(ss, 2, kind=2, flags=0x301, trace_state="a=b", parent_span_id=b"\x09" * 8)
for key, field, val in [("s", "string_value", "v"), ("i", "int_value", -7),
                        ("d", "double_value", 2.5), ("b", "bool_value", True),
                        ("y", "bytes_value", b"\x00\x01")]:
    kv = sp.attributes.add()
    kv.key = key
    setattr(kv.value, field, val)
kv = sp.attributes.add()
kv.key = "arr"
kv.value.array_value.values.add().int_value = 1
inner = kv.value.array_value.values.add().kvlist_value.values.add()
inner.key, inner.value.string_value = "k", "v"
ev = sp.events.add()
ev.time_unix_nano, ev.name = 5, "ev"
ev.attributes.add().key = "e"
lk = sp.links.add()
lk.trace_id, lk.span_id, lk.flags = b"\x07" * 16, b"\x08" * 8, 1
sp.status.code, sp.status.message = 2, "failed"
sp.dropped_attributes_count = sp.dropped_events_count = sp.dropped_links_count = 1
seeds["every_value"] = r
r, ss = request()
span(ss, 3, kind=-3)
seeds["negative_kind"] = r
r, ss = request()
sp = span(ss, 4)
kv = sp.attributes.add()
kv.key = "deep"
v = kv.value
for d in range(12):
    v = v.array_value.values.add() if d % 2 == 0 else v.kvlist_value.values.add().value
v.int_value = 1
seeds["deep_value"] = r
r, ss = request()
sp = span(ss, 5)
for i in range(40):
    sp.attributes.add().key = "a%d" % i
seeds["many_attrs"] = r
r, ss = request()
sp = span(ss, 6)
kv = sp.attributes.add()
kv.key, kv.value.string_value = "big", "x" * 5000
span(ss, 7)
seeds["big_value"] = r
r, ss = request()
span(ss, 8, trace_id=b"\x01" * 15)
span(ss, 9, span_id=b"\x00" * 8)
span(ss, 10, parent_span_id=b"\x01" * 3)
span(ss, 11)
seeds["bad_ids"] = r
r, ss = request()
for i in range(20):
    span(ss, 20 + i, kind=i % 6)
seeds["twenty_spans"] = r

# Issue 15: shapes that amplified memory, and text to repair. The fuzz
# targets' tight limits are 64 events/links and 256-byte names.
r, ss = request()
span(ss, 40)
sp = span(ss, 41)
for i in range(300):
    sp.events.add()
span(ss, 42)
seeds["event_flood"] = r
r, ss = request()
sp = span(ss, 43)
for i in range(100):
    lk = sp.links.add()
    lk.trace_id, lk.span_id = b"\x07" * 16, bytes([8] * 7 + [i + 1])
sp = span(ss, 44)
for i in range(300):
    sp.links.add()
seeds["link_flood"] = r
r, ss = request()
span(ss, 45, name="n" * 300 + "\u20ac" * 100)
ev = span(ss, 46).events.add()
ev.name = "e\u00e9" * 200
seeds["long_names"] = r
r, ss = request()
for i in range(30):
    sp = span(ss, 50 + i)
    for k in range(30):
        sp.events.add().time_unix_nano = k
seeds["many_small_lists"] = r

os.makedirs(os.path.join(out, "otlp_proto"), exist_ok=True)
os.makedirs(os.path.join(out, "otlp_json"), exist_ok=True)


def write(kind, name, data):
    with open(os.path.join(out, kind, name), "wb") as f:
        f.write(data)


def to_otlp_json(msg, snake=False):
    o = json.loads(json_format.MessageToJson(msg, preserving_proto_field_name=snake))

    def conv(x):
        if isinstance(x, dict):
            for k, v in list(x.items()):
                if k in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id",
                         "parent_span_id"):
                    x[k] = base64.b64decode(v).hex()
                else:
                    conv(v)
        elif isinstance(x, list):
            for v in x:
                conv(v)
    conv(o)
    return json.dumps(o, indent=1).encode()


fixture = run(["fixture"])
write("otlp_proto", "fixture.pb", fixture)
write("otlp_json", "fixture.json", run(["tojson"], fixture))
for name, msg in seeds.items():
    data = msg.SerializeToString()
    write("otlp_proto", name + ".pb", data)
    write("otlp_json", name + ".json", run(["tojson"], data))
    write("otlp_json", name + ".py.json", to_otlp_json(msg))
write("otlp_json", "snake_case.json", to_otlp_json(seeds["every_value"], snake=True))
write("otlp_json", "enum_names.json",
      b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090A0B0C0D0E0F10",'
      b'"spanId":"0102030405060708","kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_OK"},'
      b'"attributes":[{"key":"d","value":{"doubleValue":"-Infinity"}},'
      b'{"key":"n","value":{"intValue":12}}]}]}]}]}')
write("otlp_proto", "unknown_fields.pb", b"\x48\x05" + fixture[:0] +
      seeds["one_span"].SerializeToString() + b"\x9a\x3e\x01\x00")
write("otlp_proto", "empty.pb", b"")

# Invalid UTF-8 and NUL where text goes (Python's protobuf only writes
# valid strings, so same-length placeholders are patched in the bytes).
r, ss = request()
r.resource_spans[0].resource.attributes[0].value.string_value = "svc@@@@"
sp = span(ss, 60, name="GET /####")
kv = sp.attributes.add()
kv.key, kv.value.string_value = "k%%%%ey", "v$$$$"
sp.status.message = "&&&&"
raw = r.SerializeToString()
for ph, bad in [(b"@@@@", b"\xc3(\xff\x00"), (b"####", b"\xed\xa0\x80\x00"),
                (b"%%%%", b"\x00\xf0\x9f\x98"), (b"$$$$", b"\xc0\xaf\x80\xfe"),
                (b"&&&&", b"\xf4\x90\x80\x80")]:
    raw = raw.replace(ph, bad)
write("otlp_proto", "invalid_utf8.pb", raw)
write("otlp_json", "invalid_utf8.json",
      b'{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":'
      b'{"stringValue":"svc\xc3(\xff"}}]},"scopeSpans":[{"spans":[{"traceId":'
      b'"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":'
      b'"GET \\u0000/\xed\xa0\x80","attributes":[{"key":"k\\u0000ey","value":'
      b'{"stringValue":"\\ud800x"}}]}]}]}]}')
write("otlp_json", "event_flood_empty.json",
      b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":'
      b'"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","events":[' +
      b",".join([b"{}"] * 5000) + b']}]}]}]}')
write("otlp_json", "empty_object.json", b"{}")
print("corpus written to", out)
