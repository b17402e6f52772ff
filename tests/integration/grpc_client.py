"""An independent gRPC client (Debian's python3-grpcio) for the interop and
bad-input tests. Runs inside a test namespace (ip netns exec ... python3
grpc_client.py), reads a JSON list of operations on stdin and prints a JSON
list of results, one per operation, so that the test process needs no
namespace switching itself.

Operations ("op"):
  unary   method, request_type, request (dict), response_type -> code, details, response
  stream  method, request_type, request, response_type, max -> code, details, responses
  raw     method, payload_size (bytes of a valid unknown field), or payload_hex
          -> code, details   (the response is not decoded)
  garbage_tcp  data_hex: raw bytes to the port -> closed (bool), received
  garbage_h2   data_hex: TLS with ALPN h2, then the bytes -> closed, received
Every operation has a deadline ("timeout", default 10 s); unary ones may carry
"metadata", a list of [key, value].

Arguments: --gen DIR (protoc --python_out output), --target HOST:PORT,
--ca FILE and --name NAME (TLS, verifying the node's self-signed certificate
as root with that target name) or --unix PATH.
"""

import argparse
import json
import socket
import ssl
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--target")
    ap.add_argument("--ca")
    ap.add_argument("--name")
    ap.add_argument("--unix")
    return ap.parse_args()


ARGS = parse_args()
sys.path.insert(0, ARGS.gen)

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from webmesh.v1 import mesh_pb2, node_pb2  # noqa: E402

MODULES = (mesh_pb2, node_pb2)


def msg_class(full_name):
    short = full_name.rsplit(".", 1)[-1]
    for m in MODULES:
        if hasattr(m, short):
            return getattr(m, short)
    raise KeyError(full_name)


def channel():
    opts = [("grpc.enable_retries", 0), ("grpc.max_receive_message_length", 16 << 20)]
    if ARGS.unix:
        return grpc.insecure_channel(f"unix:{ARGS.unix}", options=opts)
    with open(ARGS.ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    opts.append(("grpc.ssl_target_name_override", ARGS.name))
    return grpc.secure_channel(ARGS.target, creds, options=opts)


def to_dict(msg):
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def rpc_error(e):
    return {"code": e.code().name, "details": e.details()}


def op_unary(ch, op):
    req = json_format.ParseDict(op.get("request", {}), msg_class(op["request_type"])())
    call = ch.unary_unary(op["method"], request_serializer=lambda m: m.SerializeToString(),
                          response_deserializer=msg_class(op["response_type"]).FromString)
    try:
        resp = call(req, timeout=op.get("timeout", 10),
                    metadata=[tuple(m) for m in op.get("metadata", [])] or None)
    except grpc.RpcError as e:
        return rpc_error(e)
    return {"code": "OK", "details": "", "response": to_dict(resp)}


def op_stream(ch, op):
    req = json_format.ParseDict(op.get("request", {}), msg_class(op["request_type"])())
    call = ch.unary_stream(op["method"], request_serializer=lambda m: m.SerializeToString(),
                           response_deserializer=msg_class(op["response_type"]).FromString)
    out = {"code": "OK", "details": "", "responses": []}
    it = call(req, timeout=op.get("timeout", 10))
    try:
        for resp in it:
            out["responses"].append(to_dict(resp))
            if len(out["responses"]) >= op.get("max", 1):
                it.cancel()
                break
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.CANCELLED or not out["responses"]:
            out.update(rpc_error(e))
    return out


def op_raw(ch, op):
    if "payload_size" in op:
        # field 15, wire type 2 (length-delimited): a valid unknown field of
        # the requested total size, so only the size can be objected to.
        n = op["payload_size"]
        body_len = n - 1 - 4
        payload = bytes([15 << 3 | 2]) + _varint4(body_len) + b"x" * body_len
    else:
        payload = bytes.fromhex(op.get("payload_hex", ""))
    call = ch.unary_unary(op["method"], request_serializer=lambda b: b,
                          response_deserializer=lambda b: b)
    try:
        resp = call(payload, timeout=op.get("timeout", 10))
    except grpc.RpcError as e:
        return rpc_error(e)
    return {"code": "OK", "details": "", "response_len": len(resp)}


def _varint4(n):
    # a 4-byte (padded) varint keeps the size arithmetic exact
    assert n < 1 << 28
    return bytes([(n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80,
                  ((n >> 14) & 0x7F) | 0x80, (n >> 21) & 0x7F])


def _drain(sock, timeout):
    """Reads until EOF/reset (-> closed) or timeout (-> still open)."""
    sock.settimeout(0.5)
    received = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            return {"closed": True, "received": received}
        if not b:
            return {"closed": True, "received": received}
        received += len(b)
    return {"closed": False, "received": received}


def _host_port():
    host, port = ARGS.target.rsplit(":", 1)
    return host.strip("[]"), int(port)


def op_garbage_tcp(op):
    s = socket.create_connection(_host_port(), timeout=5)
    try:
        try:
            s.sendall(bytes.fromhex(op["data_hex"]))
        except OSError:
            return {"closed": True, "received": 0}
        return _drain(s, op.get("timeout", 10))
    finally:
        s.close()


def op_garbage_h2(op):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(_host_port(), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname=ARGS.name or "webmesh")
    try:
        alpn = s.selected_alpn_protocol()
        try:
            s.sendall(bytes.fromhex(op["data_hex"]))
        except OSError:
            return {"closed": True, "received": 0, "alpn": alpn}
        r = _drain(s, op.get("timeout", 10))
        r["alpn"] = alpn
        return r
    finally:
        s.close()


def main():
    ops = json.load(sys.stdin)
    results = []
    ch = None
    for op in ops:
        kind = op["op"]
        try:
            if kind in ("unary", "stream", "raw"):
                ch = ch or channel()
                r = {"unary": op_unary, "stream": op_stream, "raw": op_raw}[kind](ch, op)
            elif kind == "garbage_tcp":
                r = op_garbage_tcp(op)
            elif kind == "garbage_h2":
                r = op_garbage_h2(op)
            else:
                r = {"error": f"unknown op {kind}"}
        except Exception as e:  # noqa: BLE001 - reported to the test
            r = {"error": f"{type(e).__name__}: {e}"}
        results.append(r)
    if ch:
        ch.close()
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
