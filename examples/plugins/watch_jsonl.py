#!/usr/bin/python3
"""An example out-of-process watch plugin (docs/PLUGINS.md): appends every
event as a JSON line to the file given as the config key "file" (made 0600),
the same lines as the in-process watch_jsonl.so.

webmeshd runs it with --plugin NAME=exec:/path/to/watch_jsonl.py,
--plugin-config NAME.capabilities=watch and --plugin-config NAME.file=PATH;
it serves webmesh.v1.WatchPlugin on the unix socket named in
WEBMESH_PLUGIN_SOCKET. webmeshd sends one Deliver at a time and the next only
after an OK, so the file is in order; an event whose OK was lost (a crash
between write and answer) is sent again: a line with a seq already written
is skipped.
"""

import json
import os
import signal
import sys
import threading
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
from webmesh.v1 import plugin_pb2  # noqa: E402

KINDS = {1: "node_joined", 2: "node_changed", 3: "node_left", 4: "leader_changed",
         5: "edge_put", 6: "edge_deleted", 7: "routes_put", 8: "routes_deleted"}


def last_seq(path):
    """The highest seq in the file, so that a restarted plugin skips the
    event it wrote before its OK was lost."""
    seq = 0
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    seq = max(seq, int(json.loads(line).get("seq", 0)))
                except (ValueError, AttributeError):
                    pass
    except FileNotFoundError:
        pass
    return seq


def main():
    sock = os.environ.get("WEBMESH_PLUGIN_SOCKET")
    path = os.environ.get("WEBMESH_PLUGIN_CONFIG_FILE")
    name = os.environ.get("WEBMESH_PLUGIN_NAME", "watch")
    if not sock or not path:
        print(f"{name}: WEBMESH_PLUGIN_SOCKET and the config key file are required",
              file=sys.stderr)
        return 2
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    out = os.fdopen(fd, "a", encoding="utf-8")
    lock = threading.Lock()
    state = {"seq": last_seq(path)}

    def deliver(req, ctx):
        with lock:
            if req.dropped:
                out.write(json.dumps({"kind": "dropped", "count": req.dropped}) + "\n")
            for ev in req.events:
                if ev.seq and ev.seq <= state["seq"]:
                    continue  # written before a lost OK
                state["seq"] = max(state["seq"], ev.seq)
                out.write(json.dumps({
                    "seq": ev.seq, "kind": KINDS.get(ev.kind, f"kind_{ev.kind}"),
                    "index": ev.index, "time_ms": ev.time_ms, "node": ev.node_id,
                    "peer": ev.peer_id, "address": ev.address, "detail": ev.detail}) + "\n")
            out.flush()
            os.fsync(out.fileno())
        return plugin_pb2.PluginWatchDeliverResponse()

    handler = grpc.method_handlers_generic_handler("webmesh.v1.WatchPlugin", {
        "Deliver": grpc.unary_unary_rpc_method_handler(
            deliver,
            request_deserializer=plugin_pb2.PluginWatchDeliverRequest.FromString,
            response_serializer=plugin_pb2.PluginWatchDeliverResponse.SerializeToString),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
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
