"""One gRPC call with a client certificate and extra metadata, for the
authorization tests (test_auth.py, test_trust_*.py): runs inside a
namespace, prints {"code", "details", "responses"} as JSON.

Arguments: --gen DIR (protoc --python_out output), --target HOST:PORT, --ca
FILE, --name NAME (the server's name in its certificate), --cert/--key (the
caller's; no client certificate without them), --basic USER:PASSWORD,
--method /pkg.Service/Method, --request TYPE, --response TYPE, --json
REQUEST, --stream (server stream; responses until the deadline), --metadata
KEY=VALUE (repeatable), --timeout SECONDS, and a node proof made here,
independently of the daemon's code (X25519 + HKDF-SHA256 + HMAC-SHA256 with
the cryptography module): --proof-key FILE (a WireGuard private key, base64),
--proof-id ID, --audience ID, --audience-pub BASE64, --proof-window N
(windows of 30 s away from now; default 0); and key-auth headers signed here
with an Ed25519 seed: --key-seed FILE, --key-id ID, --key-audience sha256:HEX
(the server certificate the signature is for).
"""

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time

LABEL = b"webmesh-node-proof-v1"


def node_proof(priv_b64, node_id, audience, audience_pub_b64, path, shift):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import (X25519PrivateKey,
                                                                  X25519PublicKey)
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    priv = X25519PrivateKey.from_private_bytes(base64.b64decode(priv_b64))
    pub = X25519PublicKey.from_public_bytes(base64.b64decode(audience_pub_b64))
    k = HKDF(algorithm=hashes.SHA256(), length=32, salt=LABEL,
             info=None).derive(priv.exchange(pub))
    window = (int(time.time()) // 30 + shift) * 30
    msg = b"\n".join([LABEL, node_id.encode(), audience.encode(), str(window).encode(),
                      path.encode()])
    mac = hmac.new(k, msg, hashlib.sha256).digest()
    return [("x-webmesh-node-id", node_id), ("x-webmesh-node-window", str(window)),
            ("x-webmesh-node-proof", base64.b64encode(mac).decode())]


def key_auth_headers(seed_file, node_id, audience):
    """The key-auth headers webmeshd's client sends (src/core/keyauth.h),
    signed for audience (a server certificate's fingerprint): what a server
    that captured them could try to replay."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    with open(seed_file) as f:
        seed = base64.b64decode(f.read().strip())
    window = int(time.time()) // 30 * 30
    msg = f"webmesh-key-auth-v2\n{node_id}\n{audience}\n{window}".encode()
    sig = Ed25519PrivateKey.from_private_bytes(seed).sign(msg)
    return [("x-webmesh-key-id", node_id), ("x-webmesh-key-window", str(window)),
            ("x-webmesh-key-audience", audience),
            ("x-webmesh-key-sig", base64.b64encode(sig).decode())]


def main():
    ap = argparse.ArgumentParser()
    for a in ("--gen", "--target", "--ca", "--name", "--method", "--request", "--response"):
        ap.add_argument(a, required=True)
    for a in ("--cert", "--key", "--basic", "--proof-key", "--proof-id", "--audience",
              "--audience-pub", "--key-seed", "--key-id", "--key-audience"):
        ap.add_argument(a)
    ap.add_argument("--proof-window", type=int, default=0)
    ap.add_argument("--json", default="{}")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--metadata", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    sys.path.insert(0, a.gen)
    import grpc
    from google.protobuf import json_format
    from webmesh.v1 import admin_pb2, mesh_pb2, node_pb2, rbac_pb2, signaling_pb2

    def cls(name):
        for m in (admin_pb2, mesh_pb2, node_pb2, rbac_pb2, signaling_pb2):
            if hasattr(m, name):
                return getattr(m, name)
        raise KeyError(name)

    def read(path):
        with open(path, "rb") as f:
            return f.read()
    if a.cert:
        creds = grpc.ssl_channel_credentials(read(a.ca), read(a.key), read(a.cert))
    else:
        creds = grpc.ssl_channel_credentials(read(a.ca))
    ch = grpc.secure_channel(a.target, creds,
                             options=[("grpc.ssl_target_name_override", a.name),
                                      ("grpc.enable_retries", 0)])
    req = json_format.Parse(a.json, cls(a.request)())
    resp_cls = cls(a.response)
    md = [tuple(kv.split("=", 1)) for kv in a.metadata]
    if a.basic:
        md.append(("authorization", "Basic " + base64.b64encode(a.basic.encode()).decode()))
    if a.key_seed:
        md += key_auth_headers(a.key_seed, a.key_id, a.key_audience)
    if a.proof_key:
        with open(a.proof_key) as f:
            md += node_proof(f.read().strip(), a.proof_id, a.audience, a.audience_pub,
                             a.method, a.proof_window)
    out = {"code": "OK", "details": "", "responses": []}
    kw = dict(request_serializer=lambda m: m.SerializeToString(),
              response_deserializer=resp_cls.FromString)
    try:
        if a.stream:
            call = ch.unary_stream(a.method, **kw)(req, timeout=a.timeout, metadata=md)
            for r in call:
                out["responses"].append(json_format.MessageToDict(r))
        else:
            r = ch.unary_unary(a.method, **kw)(req, timeout=a.timeout, metadata=md)
            out["responses"].append(json_format.MessageToDict(r))
    except grpc.RpcError as e:
        out["code"], out["details"] = e.code().name, e.details() or ""
    print(json.dumps(out))


if __name__ == "__main__":
    main()
