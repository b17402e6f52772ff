#!/usr/bin/python3
"""An example out-of-process auth plugin (docs/PLUGINS.md): accepts
"authorization: Bearer TOKEN" when TOKEN is in a file of "TOKEN IDENTITY"
lines ('#' starts a comment), re-read when it changes.

webmeshd runs it with --plugin NAME=exec:/path/to/auth_bearer.py and
--plugin-config NAME.tokens=/path/to/file; it listens on the unix socket
webmeshd names in WEBMESH_PLUGIN_SOCKET and serves webmesh.v1.AuthPlugin
(proto/webmesh/v1/plugin.proto). Needs python3-grpcio and python3-protobuf,
and plugin_pb2 generated beside it (CMake does so in build/examples/plugins).

Run on its own as a remote plugin (webmeshd dials it with
--plugin NAME=grpcs://HOST:PORT), it serves over TLS and accepts only
clients whose certificate its CA signed:
  auth_bearer.py --listen HOST:PORT --cert FILE --key FILE --client-ca FILE
                 --tokens FILE
"""

import argparse
import hmac
import os
import re
import signal
import sys
import threading
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
from webmesh.v1 import plugin_pb2  # noqa: E402

Decision = plugin_pb2.PluginAuthResponse
IDENTITY = re.compile(r"^[a-z0-9]([a-z0-9._@-]{0,62})$")


class Tokens:
    """The token file, re-read when its mtime or size changes. A file that
    became invalid refuses everyone until fixed (fail closed)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.stamp = None
        self.tokens = {}
        self.error = None
        self.load()

    def load(self):
        st = os.stat(self.path)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self.stamp:
            return
        tokens, error = {}, None
        with open(self.path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                parts = line.split()
                if len(parts) != 2 or not IDENTITY.match(parts[1]):
                    error = f"{self.path}:{n}: expected \"TOKEN IDENTITY\""
                    break
                tokens[parts[0]] = parts[1]
        self.stamp, self.tokens, self.error = stamp, tokens, error

    def lookup(self, token):
        with self.lock:
            try:
                self.load()
            except OSError as e:
                return None, f"cannot read the token file: {e.strerror}"
            if self.error:
                return None, self.error
            for t, ident in self.tokens.items():
                # constant time per entry: no timing oracle on the token
                if hmac.compare_digest(t.encode(), token.encode()):
                    return ident, None
            return None, None


def parse_args():
    ap = argparse.ArgumentParser(description="bearer-token auth plugin for webmeshd")
    ap.add_argument("--listen", help="serve over TLS on HOST:PORT (a remote plugin)")
    ap.add_argument("--cert", help="server certificate (PEM)")
    ap.add_argument("--key", help="server key (PEM)")
    ap.add_argument("--client-ca", help="CA that signs the clients allowed (PEM)")
    ap.add_argument("--tokens", help="the token file")
    a = ap.parse_args()
    if a.listen and not (a.cert and a.key and a.client_ca):
        ap.error("--listen needs --cert, --key and --client-ca (mutual TLS)")
    return a


def main():
    args = parse_args()
    sock = os.environ.get("WEBMESH_PLUGIN_SOCKET")
    path = args.tokens or os.environ.get("WEBMESH_PLUGIN_CONFIG_TOKENS")
    name = os.environ.get("WEBMESH_PLUGIN_NAME", "bearer")
    if not (sock or args.listen) or not path:
        print(f"{name}: WEBMESH_PLUGIN_SOCKET (or --listen) and the config key tokens "
              "(or --tokens) are required", file=sys.stderr)
        return 2
    tokens = Tokens(path)

    def authenticate(req, ctx):
        auth = next((m.value for m in req.metadata if m.key == "authorization"), None)
        if not auth or not auth.startswith("Bearer "):
            return Decision(decision=Decision.NO_CREDENTIALS)
        ident, err = tokens.lookup(auth[7:].strip())
        if err:
            return Decision(decision=Decision.DECISION_UNSPECIFIED, message=err)
        if not ident:
            return Decision(decision=Decision.REFUSE, message="unknown bearer token")
        return Decision(decision=Decision.ACCEPT, identity=ident)

    handler = grpc.method_handlers_generic_handler("webmesh.v1.AuthPlugin", {
        "Authenticate": grpc.unary_unary_rpc_method_handler(
            authenticate,
            request_deserializer=plugin_pb2.PluginAuthRequest.FromString,
            response_serializer=plugin_pb2.PluginAuthResponse.SerializeToString),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    if args.listen:
        def read(p):
            with open(p, "rb") as f:
                return f.read()
        creds = grpc.ssl_server_credentials(
            [(read(args.key), read(args.cert))], root_certificates=read(args.client_ca),
            require_client_auth=True)
        if server.add_secure_port(args.listen, creds) == 0:
            print(f"{name}: cannot listen on {args.listen}", file=sys.stderr)
            return 1
    else:
        server.add_insecure_port(f"unix:{sock}")
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
