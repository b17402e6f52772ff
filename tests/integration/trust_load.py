"""Hostile load before authentication, and a legitimate caller beside it, for
test_trust_load.py. Runs inside a test namespace (ip netns exec ... python3
trust_load.py MODE ...); every mode is bounded in count and time and prints
one JSON object as its last line.

Modes:
  probe      an authenticated GetStatus (basic auth), or with --proof-key a
             member's Heartbeat with its node proof, every --interval s for
             --duration s, each with a 1 s deadline, on one channel connected
             first ("ready" is printed then): {"calls": [{"at", "code",
             "details", "ms"}]}
  streams    TLS + HTTP/2 written by hand: on each connection, --streams
             streams each announcing a --announce byte message, then DATA
             round-robin as fast as the socket takes it, ignoring flow
             control; a new connection when the server closes one; for
             --duration s: {"connections", "bytes_sent", "goaways"}
  idle       --count TCP connections that never send a byte, --tls of them
             finishing TLS and the HTTP/2 preface first; held for --hold s
             while sampling how many the server still keeps open:
             {"connected", "samples": [[t, open_raw, open_tls]]}
  passwords  --count concurrent GetStatus calls with a wrong password for
             --user over --channels connections, repeated for --duration s:
             {"codes": {code: n}, "details": {details: n}}
"""

import argparse
import base64
import hashlib
import hmac
import json
import resource
import select
import socket
import ssl
import struct
import sys
import threading
import time

GET_STATUS = "/webmesh.v1.Node/GetStatus"


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["probe", "streams", "idle", "passwords"])
    ap.add_argument("--target", required=True)  # host:port
    ap.add_argument("--ca")
    ap.add_argument("--name")
    ap.add_argument("--user")
    ap.add_argument("--password")
    # probe as a member node: Membership/Heartbeat for --user with the node
    # proof of --proof-key (its WireGuard key file) for server --audience
    ap.add_argument("--proof-key")
    ap.add_argument("--audience")
    ap.add_argument("--audience-pub")
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--announce", type=int, default=4 << 20)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--tls", type=int, default=0)
    ap.add_argument("--hold", type=float, default=5)
    ap.add_argument("--channels", type=int, default=5)
    return ap.parse_args()


A = parse_args()
HOST, PORT = A.target.rsplit(":", 1)
PORT = int(PORT)


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ---- gRPC (python3-grpcio) ---------------------------------------------------

def grpc_channel(i=0):
    import grpc
    with open(A.ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    # A distinct argument per channel: grpcio would share one connection.
    opts = [("grpc.ssl_target_name_override", A.name), ("grpc.enable_retries", 0),
            ("grpc.primary_user_agent", f"trust-load-{i}")]
    return grpc.secure_channel(A.target, creds, options=opts)


def get_status(ch):
    return ch.unary_unary(GET_STATUS, request_serializer=lambda b: b,
                          response_deserializer=lambda b: b)


HEARTBEAT = "/webmesh.v1.Membership/Heartbeat"
PROOF_LABEL = b"webmesh-node-proof-v1"


def node_proof(path):
    """The member's node proof for the server (docs/SECURITY.md), made here
    with python3-cryptography, independently of the daemon's C code."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import (X25519PrivateKey,
                                                                  X25519PublicKey)
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    with open(A.proof_key) as f:
        priv = X25519PrivateKey.from_private_bytes(base64.b64decode(f.read().strip()))
    pub = X25519PublicKey.from_public_bytes(base64.b64decode(A.audience_pub))
    k = HKDF(algorithm=hashes.SHA256(), length=32, salt=PROOF_LABEL,
             info=None).derive(priv.exchange(pub))
    window = int(time.time()) // 30 * 30
    msg = b"\n".join([PROOF_LABEL, A.user.encode(), A.audience.encode(),
                      str(window).encode(), path.encode()])
    mac = hmac.new(k, msg, hashlib.sha256).digest()
    return [("x-webmesh-node-id", A.user), ("x-webmesh-node-window", str(window)),
            ("x-webmesh-node-proof", base64.b64encode(mac).decode())]


def probe():
    import grpc
    ch = grpc_channel()
    grpc.channel_ready_future(ch).result(timeout=20)
    auth = [("authorization", basic(A.user, A.password))]
    if A.proof_key:
        # HeartbeatRequest{id = user}: field 1, length-delimited
        call = ch.unary_unary(HEARTBEAT, request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
        req = b"\x0a" + bytes([len(A.user)]) + A.user.encode()
    else:
        call, req = get_status(ch), b""
    print("ready", flush=True)
    out, t0 = [], time.monotonic()
    while time.monotonic() - t0 < A.duration:
        s = time.monotonic()
        md = auth + (node_proof(HEARTBEAT) if A.proof_key else [])
        try:
            call(req, timeout=1.0, metadata=md)
            code, details = "OK", ""
        except grpc.RpcError as e:
            code, details = e.code().name, e.details() or ""
        out.append({"at": round(s - t0, 3), "code": code, "details": details,
                    "ms": round((time.monotonic() - s) * 1000, 1)})
        time.sleep(max(0.0, A.interval - (time.monotonic() - s)))
    return {"calls": out}


def passwords():
    import grpc
    chans = [grpc_channel(i) for i in range(A.channels)]
    for ch in chans:
        grpc.channel_ready_future(ch).result(timeout=20)
    md = [("authorization", basic(A.user, "not-" + (A.password or "it")))]
    codes, details = {}, {}
    t0 = time.monotonic()
    rounds = 0
    while rounds == 0 or time.monotonic() - t0 < A.duration:
        rounds += 1
        futs = [get_status(chans[i % len(chans)]).future(b"", timeout=10, metadata=md)
                for i in range(A.count)]
        for f in futs:
            try:
                f.result()
                c, d = "OK", ""
            except grpc.RpcError as e:
                c, d = e.code().name, e.details() or ""
            codes[c] = codes.get(c, 0) + 1
            details[d] = details.get(d, 0) + 1
        if rounds >= 20:
            break
    return {"codes": codes, "details": details, "rounds": rounds}


# ---- HTTP/2 by hand ------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value):
    """Literal header field without indexing, new name, no Huffman."""
    n, v = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v


def request_headers(sid, path, extra=()):
    block = b"".join(literal(k, v) for k, v in (
        (":method", "POST"), (":scheme", "https"), (":path", path),
        (":authority", A.name or HOST), ("content-type", "application/grpc"),
        ("te", "trailers"), *extra))
    return frame(1, 0x4, sid, block)  # END_HEADERS


def tls_connect(timeout=5):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the attacker trusts anything
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection((HOST, PORT), timeout=timeout)
    s = ctx.wrap_socket(raw, server_hostname=A.name or HOST)
    s.sendall(PREFACE + frame(4, 0, 0))
    return s


def drain(s):
    """Reads what the server sent; counts GOAWAY frames roughly (type byte
    at a frame boundary is not tracked: a substring count is enough for a
    summary). Returns (closed, goaway_seen)."""
    got = b""
    try:
        while True:
            r, _, _ = select.select([s], [], [], 0)
            if not r and not s.pending():
                break
            d = s.recv(65536)
            if not d:
                return True, b"\x07\x00\x00\x00\x00\x00" in got
            got += d
    except (ssl.SSLWantReadError, BlockingIOError):
        pass
    except (OSError, ssl.SSLError):
        return True, False
    return False, b"\x07\x00\x00\x00\x00\x00" in got


def streams():
    t0 = time.monotonic()
    conns = sent = goaways = 0
    chunk = b"\x00" * 16384
    while time.monotonic() - t0 < A.duration and conns < 200:
        try:
            s = tls_connect()
        except OSError:
            time.sleep(0.1)
            continue
        conns += 1
        s.setblocking(False)
        out = bytearray()
        ids = [1 + 2 * i for i in range(A.streams)]
        for sid in ids:
            out += request_headers(sid, GET_STATUS)
            out += frame(0, 0, sid, b"\x00" + struct.pack(">I", A.announce))
        per_stream = {sid: 0 for sid in ids}
        closed = False
        while not closed and time.monotonic() - t0 < A.duration:
            if len(out) < 262144:
                for sid in ids:
                    if per_stream[sid] < A.announce:
                        out += frame(0, 0, sid, chunk)
                        per_stream[sid] += len(chunk)
            try:
                n = s.send(out[:65536])
                sent += n
                del out[:n]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                select.select([s], [s], [], 0.05)
            except (OSError, ssl.SSLError):
                closed = True
            c, g = drain(s)
            closed = closed or c
            goaways += g
            if all(v >= A.announce for v in per_stream.values()) and not out:
                break  # all announced bytes offered: start over
        try:
            s.close()
        except OSError:
            pass
    return {"connections": conns, "bytes_sent": sent, "goaways": goaways}


def idle():
    want = A.count + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    tls = []
    for _ in range(A.tls):
        try:
            tls.append(tls_connect())
        except OSError:
            pass
    raw = []
    for _ in range(A.count - A.tls):
        try:
            raw.append(socket.create_connection((HOST, PORT), timeout=3))
        except OSError:
            pass
    for s in raw + tls:
        s.setblocking(False)

    def still_open(s):
        # No select(): descriptors beyond 1024 are the point of this mode.
        try:
            if isinstance(s, ssl.SSLSocket):
                return bool(s.recv(4096))  # session tickets, SETTINGS, GOAWAY
            return bool(s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except (BlockingIOError, ssl.SSLWantReadError):
            return True
        except (OSError, ssl.SSLError):
            return False

    samples, t0 = [], time.monotonic()
    open_raw, open_tls = list(raw), list(tls)
    while time.monotonic() - t0 < A.hold:
        open_raw = [s for s in open_raw if still_open(s)]
        open_tls = [s for s in open_tls if still_open(s)]
        samples.append([round(time.monotonic() - t0, 2), len(open_raw), len(open_tls)])
        time.sleep(0.25)
    for s in raw + tls:
        try:
            s.close()
        except OSError:
            pass
    return {"connected": len(raw) + len(tls), "connected_tls": len(tls), "samples": samples}


def main():
    fn = {"probe": probe, "streams": streams, "idle": idle, "passwords": passwords}[A.mode]
    print(json.dumps(fn()), flush=True)


if __name__ == "__main__":
    threading.stack_size(1 << 20)
    main()
