#!/usr/bin/env python3
"""Writes the seed corpus under corpus/<target>/: a handful of valid inputs
per target (run.sh fuzzes from them; libFuzzer's finds are kept elsewhere)."""
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def seed(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(kind, flags, stream, payload):
    return struct.pack(">IBBI", len(payload), kind, flags, stream) + payload


def s16(text):
    b = text.encode()
    return struct.pack(">H", len(b)) + b


def head(service, endpoint, ct=1, kind=0, micros=0, metadata=()):
    out = s16(service) + s16(endpoint) + struct.pack(">BBQH", ct, kind, micros, len(metadata))
    for k, v in metadata:
        out += s16(k) + s16(v)
    return out


settings = struct.pack(">HIHI", 1, 4 << 20, 2, 256 * 1024)
hello = head("com.example.srv.greeter", "Greeter.Hello", 1, 0, 1_500_000, [("x-user", "ada")])
# tcp_frame: the first byte is the read size.
seed("tcp_frame", "settings_request_end", b"\x07" + frame(0, 0, 0, settings)
     + frame(1, 1, 1, hello + b"\x0a\x04John") + frame(3, 0, 1, b""))
seed("tcp_frame", "ping_window_goaway", b"\x40" + frame(6, 0, 0, bytes(8)) + frame(5, 0, 3, struct.pack(">I", 9))
     + frame(7, 0, 0, struct.pack(">I", 5) + b"shutting down"))
seed("tcp_frame", "stream_messages", b"\x01" + frame(1, 2, 3, head("s", "Greeter.Chat", 2, 3))
     + frame(2, 0, 3, b"\x0a\x01A") + frame(2, 1, 3, b"\x0a\x01B"))
seed("tcp_frame", "oversized_then_ping", b"\xff" + struct.pack(">IBBI", 70000, 2, 0, 5) + bytes(70000 - 65000)
     + frame(6, 0, 0, bytes(8)))
# tcp_request_head
seed("tcp_request_head", "unary_protobuf", hello + b"\x0a\x04John")
seed("tcp_request_head", "bidi_json", head("greeter", "Greeter.Chat", 2, 3, 0, [("a", "1"), ("B", "2")]))
seed("tcp_request_head", "no_metadata", head("s", "E.m"))
# tcp_response_head: END/RESET error payloads, SETTINGS
seed("tcp_response_head", "error", json.dumps({"id": "greeter", "code": 404, "detail": "no such endpoint",
                                                "status": "Not Found"}).encode())
seed("tcp_response_head", "error_code_only", b'{"code":503}')
seed("tcp_response_head", "settings", settings)
seed("tcp_response_head", "text", b"connection reset")
# codec_protobuf: greeter.v1.Request {name: "John"}; a Thing with nesting, a map, a oneof
seed("codec_protobuf", "request", b"\x0a\x04John")
part = b"\x0a\x02p1"
thing = (b"\x0a\x05thing" + b"\x10\x07" + b"\x2a\x03\x01\x02\x03" + b"\x30\x01" + b"\x3a\x01a"
         + b"\x42\x05\x0a\x01k\x10\x02" + b"\x52" + bytes([len(part)]) + part + b"\x62\x02hi"
         + b"\x70\x00" + b"\x82\x01\x04\x08\x01\x10\x02")
seed("codec_protobuf", "thing", thing)
seed("codec_protobuf", "nested_children", b"\xba\x01" + bytes([len(thing)]) + thing)
# codec_json
seed("codec_json", "request", b'{"name":"John"}')
seed("codec_json", "thing", json.dumps({
    "displayName": "thing", "count": "7", "big": "18446744073709551615", "small": -3, "payload": "AQID",
    "priority": "PRIORITY_HIGH", "tags": ["a", "b"], "scores": {"k": 2}, "partsById": {"5": {"id": "p"}},
    "main": {"id": "m"}, "text": "hi", "limit": 0, "created": "2024-01-02T03:04:05.123Z", "ttl": "1.5s",
    "extra": {"a": [1, "x", None, True]}, "maybe": 4, "note": "n", "done": True, "ratio": "NaN",
    "children": [{"number": 2.5}]}).encode())
seed("codec_json", "empty", b"{}")
# mdns_txt: deflate-compressed JSON chunks split at 0xff (see registry/mdns/fuzz.rs)
record = {"service": {"name": "com.example.srv.greeter", "version": "1.0.0",
                      "endpoints": [{"name": "Greeter.Hello", "request": "greeter.v1.Request",
                                     "response": "greeter.v1.Response", "metadata": {}}],
                      "nodes": [{"id": "greeter-1", "address": "127.0.0.1:9000",
                                 "metadata": {"transport": "tcp", "protocols": "micro,grpc"}}]},
          "ttl": 60, "beat": 3}


def deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


packed = deflate(json.dumps(record).encode())
seed("mdns_txt", "record", packed.replace(b"\xff", b""))  # a seed that may or may not decode
for i in range(1, 4):  # variants without 0xff bytes, so they decode whole
    record["beat"] = i
    record["service"]["nodes"][0]["id"] = "n" * i
    packed = deflate(json.dumps(record).encode())
    if b"\xff" not in packed:
        cut = len(packed) // 2
        seed("mdns_txt", "record_%d" % i, packed[:cut] + b"\xff" + packed[cut:])
seed("mdns_txt", "minimal", deflate(b'{"service":{"name":"s","nodes":[{"id":"n","address":"a:1"}]},"ttl":1,"beat":0}'))
# broker_envelope


def envelope(headers, body):
    h = json.dumps(headers, separators=(",", ":")).encode()
    return struct.pack(">I", len(h)) + h + body


seed("broker_envelope", "json_event", envelope({"content-type": "application/json", "micro-topic": "user.signup",
                                               "micro-id": "abc"}, b'{"email":"a@b.c"}'))
seed("broker_envelope", "empty", envelope({}, b""))
seed("broker_envelope", "binary", envelope({"content-type": "application/protobuf"}, b"\x0a\x04John"))
# gateway_path: path, namespace, then service=endpoints lines
reg = ("com.example.srv.greeter=Greeter.Hello,Greeter.HelloStream,Say.Hello\n"
       "com.example.srv.v1.greeter=Greeter.Hello\ncom.example.srv.foo.bar=Baz.Cat\na.orders=Orders.List\n"
       "b.orders=Orders.List\n")
for name, path, ns in [("short", "greeter/hello", ""), ("exact", "greeter/Greeter.Hello", ""),
                       ("versioned", "v1/greeter/hello", ""), ("nested", "foo/bar/baz/cat", ""),
                       ("ambiguous", "orders/list", ""), ("namespace", "orders/list", "a"),
                       ("dashes", "greeter/hello-stream", "com.example.srv")]:
    seed("gateway_path", name, ("%s\n%s\n" % (path, ns) + reg).encode())
# grpc_message: the first byte is (piece size << 1) | gzip


def grpc(flag, body):
    return struct.pack(">BI", flag, len(body)) + body


def gzip(data):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


seed("grpc_message", "plain", b"\x08" + grpc(0, b"\x0a\x04John") + grpc(0, b"") + grpc(0, b"\x0a\x01B"))
seed("grpc_message", "gzip", b"\x21" + grpc(1, gzip(b"\x0a\x04John" * 20)))
seed("grpc_message", "bytewise", b"\x02" + grpc(0, b"hello world"))
