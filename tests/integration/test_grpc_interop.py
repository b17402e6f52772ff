"""gRPC interop: Debian's python3-grpcio (an independent HTTP/2 + TLS + gRPC
implementation) calls a webmesh node. The protobuf modules are generated from
proto/webmesh/v1/*.proto with protoc at test time. The client runs in its own
namespace on the bridge and trusts the node's self-signed certificate
(STATE_DIR/tls.crt) with the node ID as the target name.
"""

import pytest

from wmtest import host_ip, topology

STATUS = {"op": "unary", "method": "/webmesh.v1.Node/GetStatus",
          "request_type": "webmesh.v1.GetStatusRequest",
          "response_type": "webmesh.v1.Status"}


@pytest.fixture(scope="module")
def mesh():
    with topology() as topo:
        topo.bootstrap("node1")
        topo.join("node2")
        yield topo


def call(mesh, pb_gen, *ops, via="tls", target="node1"):
    return mesh.grpc(pb_gen, mesh.nodes[target], list(ops), via=via)


def ok(r):
    assert r.get("code") == "OK", r
    return r


def test_unary_get_status(mesh, pb_gen):
    n1 = mesh.nodes["node1"]
    r = ok(call(mesh, pb_gen, STATUS)[0])["response"]
    st = n1.status()
    assert r["id"] == "node1"
    assert r["public_key"] == st["public_key"]
    assert host_ip(r["address_ipv4"]) == host_ip(st["address_ipv4"])
    assert r["raft_state"] == "leader"


def test_unary_over_unix_socket(mesh, pb_gen):
    r = ok(call(mesh, pb_gen, STATUS, via="unix", target="node2")[0])["response"]
    assert r["id"] == "node2"
    assert r["subscribed"] is True


def test_unary_list_nodes(mesh, pb_gen):
    r = ok(call(mesh, pb_gen, {"op": "unary", "method": "/webmesh.v1.Mesh/ListNodes",
                               "request_type": "webmesh.v1.ListNodesRequest",
                               "response_type": "webmesh.v1.ListNodesResponse"})[0])
    assert sorted(n["id"] for n in r["response"]["nodes"]) == ["node1", "node2"]


def test_server_stream_subscribe_peers(mesh, pb_gen):
    key1 = mesh.nodes["node1"].status()["public_key"]
    r = ok(call(mesh, pb_gen, {"op": "stream", "method": "/webmesh.v1.Membership/SubscribePeers",
                               "request_type": "webmesh.v1.SubscribePeersRequest",
                               "request": {"id": "node2"},
                               "response_type": "webmesh.v1.PeerConfigurations",
                               "max": 1, "timeout": 20})[0])
    assert len(r["responses"]) >= 1
    peers = r["responses"][0].get("peers", [])
    assert [p["node"]["public_key"] for p in peers] == [key1], peers
    assert peers[0]["node"]["id"] == "node1"
    assert peers[0].get("allowed_ips"), peers[0]


def test_unknown_method_is_unimplemented(mesh, pb_gen):
    res = call(mesh, pb_gen,
               {"op": "raw", "method": "/webmesh.v1.Node/NoSuchMethod", "payload_hex": ""},
               {"op": "raw", "method": "/webmesh.v1.NoSuchService/GetStatus",
                "payload_hex": ""},
               STATUS)
    assert res[0].get("code") == "UNIMPLEMENTED", res[0]
    assert res[1].get("code") == "UNIMPLEMENTED", res[1]
    ok(res[2])


def test_oversized_message_is_resource_exhausted(mesh, pb_gen):
    before = mesh.nodes["node1"].nodes()
    res = call(mesh, pb_gen,
               {"op": "raw", "method": "/webmesh.v1.Mesh/ListNodes",
                "payload_size": 5 * 1024 * 1024, "timeout": 30},
               {"op": "raw", "method": "/webmesh.v1.Membership/Join",
                "payload_size": 4 * 1024 * 1024 + 1, "timeout": 30},
               STATUS)
    assert res[0].get("code") == "RESOURCE_EXHAUSTED", res[0]
    assert res[1].get("code") == "RESOURCE_EXHAUSTED", res[1]
    ok(res[2])  # and the server keeps serving
    assert mesh.nodes["node1"].nodes() == before
