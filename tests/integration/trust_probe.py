"""One gRPC call as an outsider would make it, for test_trust_tls.py: TLS
verified against --ca (with --name as the server's name), an optional client
certificate, optional key-auth headers signed here with an Ed25519 seed file
for a chosen audience, and extra metadata. Prints {"code", "details"} as JSON.

Arguments: --gen DIR, --target HOST:PORT, --ca FILE, --name NAME, [--cert FILE
--key FILE], [--key-seed FILE --key-id ID --audience sha256:HEX], --method
/pkg.Service/Method, --request TYPE, --response TYPE, --json REQUEST,
--metadata KEY=VALUE, --timeout SECONDS.
"""

import argparse
import base64
import json
import sys
import time


def key_auth_headers(seed_file, node_id, audience):
    """The headers webmeshd's client sends (src/core/keyauth.h), made for
    audience: what a server that captured them could replay."""
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
    for a in ("--cert", "--key", "--key-seed", "--key-id", "--audience"):
        ap.add_argument(a)
    ap.add_argument("--metadata", action="append", default=[])
    ap.add_argument("--json", default="{}")
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    sys.path.insert(0, a.gen)
    import grpc
    from google.protobuf import json_format
    from webmesh.v1 import admin_pb2, mesh_pb2, node_pb2

    def cls(name):
        for m in (admin_pb2, mesh_pb2, node_pb2):
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
    md = key_auth_headers(a.key_seed, a.key_id, a.audience) if a.key_seed else []
    md += [tuple(kv.split("=", 1)) for kv in a.metadata]
    req = json_format.Parse(a.json, cls(a.request)())
    out = {"code": "OK", "details": ""}
    try:
        ch.unary_unary(a.method, request_serializer=lambda m: m.SerializeToString(),
                       response_deserializer=cls(a.response).FromString)(
                           req, timeout=a.timeout, metadata=md)
    except grpc.RpcError as e:
        out["code"], out["details"] = e.code().name, e.details() or ""
    print(json.dumps(out))


if __name__ == "__main__":
    main()
