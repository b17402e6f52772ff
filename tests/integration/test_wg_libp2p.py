"""WireGuard over libp2p (issue 11): two nodes whose namespaces drop every
UDP datagram on the underlay (only TCP gets through, as behind routers that
allow nothing else) reach each other with WireGuard carried over a libp2p
stream (/webmesh/wg/1.0.0, through each side's loopback relay), ping works
and `wmctl status` reports the path as libp2p-direct; once UDP is allowed
again the pair returns to the direct path. A second test marks the edge
libp2p=true: the pair goes over libp2p at once, with UDP open. Everything
stays in the namespaces of the test's topology."""
import json
import re

import pytest

import wmtest
from wmtest import scaled, wait_until

LIBP2P_PORT = 4001
# Drops UDP on the underlay both ways; loopback stays open (WireGuard talks
# to its libp2p relay there).
NO_UDP = """
table inet wmh-noudp {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "lo" accept
    meta l4proto udp drop
  }
  chain output {
    type filter hook output priority filter; policy accept;
    oifname "lo" accept
    meta l4proto udp drop
  }
}
"""


@pytest.fixture
def topo():
    with wmtest.topology() as t:
        yield t


def libp2p_args(node, *extra):
    return ["--libp2p-listen", f"/ip4/{node.underlay}/tcp/{LIBP2P_PORT}",
            "--ice-handshake-timeout", "5", *extra]


def start(topo, name, *extra, bootstrap=False, block_udp=False):
    node = topo.add_node(name)
    if block_udp:
        node.netns_exec("nft", "-f", "-", input=NO_UDP)
    if bootstrap:
        args = ["--bootstrap", "--node-id", name, "--endpoints",
                f"{node.underlay}:{wmtest.WG_PORT}"]
        node.start(*args, *libp2p_args(node, *extra))
        node.wait_ready("leader")
        pat = re.compile(r"--join-fingerprint[ =](sha256:[0-9a-fA-F]{64})")
        topo.fingerprint = wait_until(lambda: (m := pat.search(node.log())) and m.group(1),
                                      10, "the join fingerprint")
        topo.server = node
    else:
        node.start(*topo.join_args(node, *libp2p_args(node, *extra)))
        node.wait_ready("member")
    return node


def peer(node, peer_id):
    for p in node.status().get("peers", []):
        if p.get("id") == peer_id:
            return p
    return None


def path_is(node, peer_id, *paths):
    p = peer(node, peer_id)
    return p if p and p.get("path") in paths else None


def mesh_ip(node):
    return node.status()["address_ipv4"].split("/")[0]


def test_udp_blocked_goes_over_libp2p_and_back(topo):
    srv = start(topo, "srv", bootstrap=True)
    a = start(topo, "a", block_udp=True)
    b = start(topo, "b", block_udp=True)
    # Both published their libp2p side with their Join.
    nodes = srv.nodes()
    for n in (a, b):
        rec = nodes[n.name]
        pid = rec.get("libp2pPeerId") or rec.get("libp2p_peer_id")
        assert pid and pid.startswith("12D3KooW"), rec
        addrs = rec.get("libp2pAddrs") or rec.get("libp2p_addrs")
        assert addrs == [f"/ip4/{n.underlay}/tcp/{LIBP2P_PORT}"], rec

    pa = wait_until(lambda: path_is(a, "b", "libp2p-direct"), scaled(60),
                    "a's path to b over libp2p")
    wait_until(lambda: path_is(b, "a", "libp2p-direct"), scaled(30),
               "b's path to a over libp2p")
    assert (pa.get("libp2pRelayPeerId") or pa.get("libp2p_relay_peer_id") or "") == ""
    ip_b, ip_a = mesh_ip(b), mesh_ip(a)
    wait_until(lambda: a.ping(ip_b, count=1, wait=1), scaled(30), "a -> b over libp2p")
    wait_until(lambda: b.ping(ip_a, count=1, wait=1), scaled(15), "b -> a over libp2p")
    # WireGuard reaches b at a's loopback relay; what crossed it is counted.
    wg = a.wg_peers()
    b_key = b.status()["public_key"]
    assert wg[b_key]["endpoint"].startswith("127.0.0.1:"), wg[b_key]
    pa = peer(a, "b")
    rx = int(pa.get("libp2pRxBytes") or pa.get("libp2p_rx_bytes") or 0)
    assert rx > 0, pa
    text = a.wmctl("status").stdout
    assert "over libp2p:" in text, text
    row = next(l for l in text.splitlines()[text.splitlines().index("over libp2p:"):]
               if l.split()[:1] == ["b"])
    assert row.split()[1:3] == ["libp2p-direct", "direct"], text
    assert f"/ip4/{b.underlay}/tcp/" in row, text
    # /metrics (the default http-listen, 127.0.0.1:8080 in a's namespace)
    metrics = a.netns_exec("/usr/bin/python3", "-c",
                           "import urllib.request; print(urllib.request.urlopen("
                           "'http://127.0.0.1:8080/metrics').read().decode())").stdout
    series = [l for l in metrics.splitlines()
              if l.startswith("webmesh_peer_path{") and b_key in l and l.endswith(" 1")]
    assert len(series) == 1 and 'path="libp2p"' in series[0], series

    # UDP allowed again: a probe of the direct path brings the pair back.
    a.netns_exec("nft", "delete", "table", "inet", "wmh-noudp")
    b.netns_exec("nft", "delete", "table", "inet", "wmh-noudp")
    wait_until(lambda: path_is(a, "b", "direct"), scaled(120), "a's path to b back to direct")
    wait_until(lambda: path_is(b, "a", "direct"), scaled(60), "b's path to a back to direct")
    wait_until(lambda: a.ping(ip_b, count=1, wait=1), scaled(15), "a -> b direct")
    wg = a.wg_peers()
    assert wg[b_key]["endpoint"] == f"{b.underlay}:{wmtest.WG_PORT}", wg[b_key]


def test_edge_marked_libp2p(topo):
    srv = start(topo, "srv", bootstrap=True)
    a = start(topo, "a")
    b = start(topo, "b")
    srv.wmctl("put", "edge", "a", "b", "--attr", "libp2p=true")
    wait_until(lambda: path_is(a, "b", "libp2p-direct"), scaled(30),
               "a's path to b over libp2p (edge)")
    wait_until(lambda: path_is(b, "a", "libp2p-direct"), scaled(30),
               "b's path to a over libp2p (edge)")
    wait_until(lambda: a.ping(mesh_ip(b), count=1, wait=1), scaled(30), "a -> b (edge)")
    # wmctl ping names the path each answer took, as status does
    r = json.loads(a.wmctl("ping", "b", "-c", "1", "--wait-ms", "3000", "-o", "json").stdout)
    assert r.get("received") == 1 and r["replies"][0]["path"] == "libp2p_direct", r
    text = a.wmctl("ping", "b", "-c", "1", "--wait-ms", "3000").stdout
    assert "libp2p-direct" in text, text
    # a to the server is not marked: direct.
    assert path_is(a, "srv", "direct")
