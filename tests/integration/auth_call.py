"""One gRPC call with a client certificate and extra metadata, for the
authorization tests (test_auth.py): runs inside a node's namespace, prints
{"code", "details", "responses"} as JSON.

Arguments: --gen DIR (protoc --python_out output), --target HOST:PORT, --ca
FILE, --name NAME (the server's name in its certificate), --cert/--key (the
caller's), --method /pkg.Service/Method, --request TYPE, --response TYPE,
--json REQUEST, --stream (server stream; responses until the deadline),
--metadata KEY=VALUE (repeatable), --timeout SECONDS.
"""

import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    for a in ("--gen", "--target", "--ca", "--name", "--cert", "--key", "--method",
              "--request", "--response"):
        ap.add_argument(a, required=True)
    ap.add_argument("--json", default="{}")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--metadata", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    sys.path.insert(0, a.gen)
    import grpc
    from google.protobuf import json_format
    from webmesh.v1 import admin_pb2, mesh_pb2, rbac_pb2, signaling_pb2

    def cls(name):
        for m in (admin_pb2, mesh_pb2, rbac_pb2, signaling_pb2):
            if hasattr(m, name):
                return getattr(m, name)
        raise KeyError(name)

    def read(path):
        with open(path, "rb") as f:
            return f.read()
    creds = grpc.ssl_channel_credentials(read(a.ca), read(a.key), read(a.cert))
    ch = grpc.secure_channel(a.target, creds,
                             options=[("grpc.ssl_target_name_override", a.name),
                                      ("grpc.enable_retries", 0)])
    req = json_format.Parse(a.json, cls(a.request)())
    resp_cls = cls(a.response)
    md = [tuple(kv.split("=", 1)) for kv in a.metadata]
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
