"""Join by rendezvous (issue 11): a server started with --announce-rendezvous
SECRET announces itself in the libp2p DHT; a node started with
--join-rendezvous SECRET and only the server's libp2p address as DHT
bootstrap peer (no --join address) finds it, checks that it knows the
secret, joins over a libp2p stream piped to the server's own TLS API, gets
an address and pings. A node with another secret finds nobody and never
joins. Everything runs in the test's own namespaces.
"""
import re
import time

from wmtest import scaled, topology, wait_until

LIBP2P_PORT = 4001
SECRET = "correct horse battery staple 42"


def libp2p_addr(node):
    st = node.status()
    peer_id = st.get("libp2pPeerId") or st.get("libp2p_peer_id")
    assert peer_id, st
    return f"/ip4/{node.underlay}/tcp/{LIBP2P_PORT}/p2p/{peer_id}"


def daemon_log(node):
    """What webmeshd wrote (the harness's "=== start" lines carry the command)."""
    return "\n".join(l for l in node.log().splitlines() if not l.startswith("=== "))


def rendezvous_args(topo, node, secret, server):
    return ["--node-id", node.name, "--join-rendezvous", secret,
            "--libp2p-peers", libp2p_addr(server),
            "--join-fingerprint", topo.fingerprint,
            "--endpoints", f"{node.underlay}:51820"]


def test_node_joins_by_rendezvous_without_an_address():
    with topology() as topo:
        server = topo.bootstrap(
            "a", "--libp2p-listen", f"/ip4/0.0.0.0/tcp/{LIBP2P_PORT}",
            "--announce-rendezvous", SECRET)
        assert SECRET not in daemon_log(server), "the secret must never be logged"

        node = topo.add_node("b")
        t0 = time.monotonic()
        node.start(*rendezvous_args(topo, node, SECRET, server))
        st = node.wait_ready("member")
        took = time.monotonic() - t0
        print(f"rendezvous join took {took:.2f} s")
        assert st.get("address_ipv4")
        log = node.log()
        assert re.search(r"proved it knows the secret", log), log[-3000:]
        assert "--join" not in node.args
        assert SECRET not in daemon_log(node) and SECRET not in daemon_log(server)

        # Status names the server joined through and the DHT's size.
        server_id = libp2p_addr(server).rsplit("/", 1)[1]
        st = node.status()
        assert st.get("rendezvous_server") == server_id, st
        assert st.get("libp2p_dht_peers", 0) >= 1, st
        sst = server.status()
        assert sst.get("libp2p_dht_records", 0) >= 1, sst  # its own announce
        assert not sst.get("rendezvous_server"), sst
        out = node.wmctl("status").stdout
        assert f"joined by rendezvous through {server_id}" in out, out

        # The mesh works: b pings a over WireGuard.
        a_ip = server.status()["address_ipv4"].split("/")[0]
        wait_until(lambda: node.ping(a_ip), scaled(30), "b pings a over the mesh")

        # Another secret: the DHT key differs, no server is found; the node
        # keeps looking and never joins.
        other = topo.add_node("c")
        other.start(*rendezvous_args(topo, other, SECRET + " but wrong", server))
        time.sleep(scaled(3))
        assert other.running()
        assert not other.status().get("address_ipv4")
        assert "proved it knows the secret" not in other.log()


def test_rendezvous_through_another_dht_peer():
    """The joiner's only libp2p peer is a member, not the server: the server
    is found through it in the DHT and dialed at the address its record
    gives (not its loopback one)."""
    with topology() as topo:
        server = topo.bootstrap(
            "a", "--libp2p-listen", f"/ip4/0.0.0.0/tcp/{LIBP2P_PORT}",
            "--announce-rendezvous", SECRET)
        relay = topo.join("d", "--libp2p-listen", f"/ip4/0.0.0.0/tcp/{LIBP2P_PORT}",
                          "--libp2p-peers", libp2p_addr(server))
        node = topo.add_node("b")
        args = rendezvous_args(topo, node, SECRET, relay)
        node.start(*args)
        st = node.wait_ready("member")
        assert st.get("address_ipv4")
        server_id = libp2p_addr(server).rsplit("/", 1)[1]
        assert f"{server_id} proved it knows the secret" in node.log()
        a_ip = server.status()["address_ipv4"].split("/")[0]
        wait_until(lambda: node.ping(a_ip), scaled(30), "b pings a over the mesh")
