#!/usr/bin/python3
"""An example out-of-process ipam plugin (docs/PLUGINS.md): every node's
IPv4 address comes from a static table, a file of "NODE-ID ADDRESS" lines
('#' starts a comment), re-read when it changes. Nodes missing from the table
are refused (NOT_FOUND: the join gets UNAVAILABLE).

webmeshd runs it with --plugin NAME=exec:/path/to/ipam_table.py,
--plugin-config NAME.capabilities=ipam and --plugin-config NAME.table=FILE;
it serves webmesh.v1.IpamPlugin (proto/webmesh/v1/plugin.proto) on the unix
socket named in WEBMESH_PLUGIN_SOCKET. Needs python3-grpcio and
python3-protobuf, and plugin_pb2 beside it (CMake puts it in
build/examples/plugins).
"""

import ipaddress
import os
import re
import signal
import sys
import threading
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
from webmesh.v1 import plugin_pb2  # noqa: E402

NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class Table:
    """The table file, re-read when it changes; an invalid file fails every
    allocation until fixed (fail closed)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.stamp = None
        self.table, self.error = {}, None

    def load(self):
        st = os.stat(self.path)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self.stamp:
            return
        table, error = {}, None
        with open(self.path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                parts = line.split()
                try:
                    if len(parts) != 2 or not NODE_ID.match(parts[0]):
                        raise ValueError
                    table[parts[0]] = str(ipaddress.IPv4Address(parts[1]))
                except ValueError:
                    error = f"{self.path}:{n}: expected \"NODE-ID IPV4-ADDRESS\""
                    break
        self.stamp, self.table, self.error = stamp, table, error

    def lookup(self, node_id):
        with self.lock:
            try:
                self.load()
            except OSError as e:
                return None, f"cannot read the table: {e.strerror}"
            if self.error:
                return None, self.error
            return self.table.get(node_id), None


def main():
    sock = os.environ.get("WEBMESH_PLUGIN_SOCKET")
    path = os.environ.get("WEBMESH_PLUGIN_CONFIG_TABLE")
    name = os.environ.get("WEBMESH_PLUGIN_NAME", "ipam")
    if not sock or not path:
        print(f"{name}: WEBMESH_PLUGIN_SOCKET and the config key table are required",
              file=sys.stderr)
        return 2
    table = Table(path)

    def allocate(req, ctx):
        addr, err = table.lookup(req.node_id)
        if err:
            ctx.abort(grpc.StatusCode.FAILED_PRECONDITION, err)
        if not addr:
            ctx.abort(grpc.StatusCode.NOT_FOUND, f"node {req.node_id} is not in the table")
        if ipaddress.IPv4Address(addr) not in ipaddress.IPv4Network(req.network, strict=False):
            ctx.abort(grpc.StatusCode.FAILED_PRECONDITION,
                      f"{addr} (node {req.node_id}) is outside {req.network}")
        return plugin_pb2.PluginIpamAllocateResponse(address=addr)

    def release(req, ctx):
        # a static table keeps the address for the node's next join
        return plugin_pb2.PluginIpamReleaseResponse()

    handler = grpc.method_handlers_generic_handler("webmesh.v1.IpamPlugin", {
        "Allocate": grpc.unary_unary_rpc_method_handler(
            allocate,
            request_deserializer=plugin_pb2.PluginIpamAllocateRequest.FromString,
            response_serializer=plugin_pb2.PluginIpamAllocateResponse.SerializeToString),
        "Release": grpc.unary_unary_rpc_method_handler(
            release,
            request_deserializer=plugin_pb2.PluginIpamReleaseRequest.FromString,
            response_serializer=plugin_pb2.PluginIpamReleaseResponse.SerializeToString),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
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
