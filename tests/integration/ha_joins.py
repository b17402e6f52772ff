"""Concurrent Membership.Join calls to several servers, on a schedule, for the
fault tests of issue 3 (test_ha.py, tests/chaos/chaos_joins.py). Runs inside
a test namespace with Debian's python3-grpcio, so the test process needs no
namespace switching and the calls overlap in time however slow the box is.

    ha_joins.py --gen DIR --spec FILE

The spec (JSON): {"targets": [{"name", "addr" ("host:port"), "ca"}],
"joins": [{"id", "public_key", "target" (index), "at" (seconds after start)}],
"endpoint": "ip:port", "timeout": seconds per call}. Every target's channel
is connected first; then "ready" is printed on a line of its own (the caller
times its faults from that line) and each join is sent at its "at" offset
without waiting for the earlier ones. The last line is a JSON list, one
result per join in spec order: id, target, code, details, address_ipv4,
address_ipv6, server_id, sent and done (seconds after start).
"""

import argparse
import json
import sys
import threading
import time


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--spec", required=True)
    return ap.parse_args()


ARGS = parse_args()
sys.path.insert(0, ARGS.gen)

import grpc  # noqa: E402
from webmesh.v1 import mesh_pb2  # noqa: E402

JOIN = "/webmesh.v1.Membership/Join"


def channel(t):
    with open(t["ca"], "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    opts = [("grpc.enable_retries", 0), ("grpc.ssl_target_name_override", t["name"])]
    return grpc.secure_channel(t["addr"], creds, options=opts)


def main():
    with open(ARGS.spec) as f:
        spec = json.load(f)
    timeout = spec.get("timeout", 15)
    chans = [channel(t) for t in spec["targets"]]
    for t, ch in zip(spec["targets"], chans):
        try:
            grpc.channel_ready_future(ch).result(timeout=20)
        except grpc.FutureTimeoutError:
            print(f"ha_joins: could not connect to {t['name']} at {t['addr']}",
                  file=sys.stderr)
            sys.exit(2)
    calls = [ch.unary_unary(JOIN, request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=mesh_pb2.JoinResponse.FromString)
             for ch in chans]
    joins = spec["joins"]
    results = [None] * len(joins)
    left = threading.Semaphore(0)
    print("ready", flush=True)
    start = time.monotonic()

    def done_cb(i, fut):
        j = joins[i]
        r = {"id": j["id"], "target": spec["targets"][j["target"]]["name"],
             "sent": results[i]["sent"], "done": round(time.monotonic() - start, 3)}
        try:
            resp = fut.result()
            r.update(code="OK", details="", address_ipv4=resp.address_ipv4,
                     address_ipv6=resp.address_ipv6, server_id=resp.server_id)
        except grpc.RpcError as e:
            r.update(code=e.code().name, details=e.details() or "")
        results[i] = r
        left.release()

    for i in sorted(range(len(joins)), key=lambda k: joins[k]["at"]):
        j = joins[i]
        delay = start + j["at"] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        req = mesh_pb2.JoinRequest(id=j["id"], public_key=j["public_key"],
                                   endpoints=[spec["endpoint"]],
                                   listen_port=int(spec["endpoint"].rsplit(":", 1)[1]))
        results[i] = {"sent": round(time.monotonic() - start, 3)}
        fut = calls[j["target"]].future(req, timeout=timeout)
        fut.add_done_callback(lambda f, i=i: done_cb(i, f))
    for _ in joins:
        left.acquire()  # bounded: every call has a deadline
    for ch in chans:
        ch.close()
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
