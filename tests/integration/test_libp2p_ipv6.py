"""libp2p over an IPv6-only underlay (issue 11, "IPv6 everywhere"): the
nodes of wmtest's topology with their IPv4 underlay addresses removed and
an IPv6 ULA (fd7b::INDEX/64) in their place, so that every libp2p
connection (TCP listen on /ip6/::, dials to /ip6/ADDR, identify's observed
and listen addresses, relay reservations and circuits, the DHT's peer
records) must work over IPv6 alone.

- WireGuard over a libp2p circuit relay: the sites drop all UDP and all TCP
  with each other; the pair goes through the relay (--libp2p-relay), pings,
  and `wmctl status` says libp2p-relay with the relay's peer ID.
- DCUtR: the sites drop UDP and the TCP connections the other starts; the
  hole punch over IPv6 replaces the relayed connection (libp2p-direct).
- Join by rendezvous with no address: the server's libp2p address is an
  /ip6 one, the node finds it through the DHT and joins.
Everything stays in the namespaces of the test's topology."""

import pytest

import wmtest
from wmtest import wait_until
from test_wg_libp2p_relay import (PORT, field, meet_through_relay, no_udp_and_no_inbound_tcp_from,
                                  no_udp_and_no_tcp_with, path_is, punched, start_server)

SECRET = "v6 only rendezvous secret 17"


def v6(node):
    return f"fd7b::{node.index}"


def six_only(node):
    """Replaces node's IPv4 underlay address with an IPv6 one (no duplicate
    address detection: usable at once)."""
    node.netns_exec("ip", "addr", "del", f"{node.underlay}/24", "dev", "eth0")
    node.netns_exec("ip", "addr", "add", f"{v6(node)}/64", "dev", "eth0", "nodad")
    out = node.netns_exec("ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    assert not out.strip(), f"{node.name} still has IPv4 on eth0: {out}"


def peer_id(node):
    pid = field(node.status(), "libp2pPeerId", "libp2p_peer_id")
    assert pid and pid.startswith("12D3KooW"), pid
    return pid


@pytest.fixture
def topo():
    with wmtest.topology() as t:
        yield t


def v6_args(node):
    """node made IPv6 only; WireGuard at its address, libp2p on [::]."""
    six_only(node)
    return ["--endpoints", f"[{v6(node)}]:{wmtest.WG_PORT}", "--libp2p-listen",
            f"/ip6/::/tcp/{PORT}"]


def bootstrap6(topo, *extra):
    return start_server(topo, *extra, args_for=v6_args)


def relay_and_two_sites6(topo, firewall):
    """A relay server and sites a, b joined with libp2p on and a
    reservation on it, all IPv6 only; firewall: the sites' nftables, given
    before they join. Returns the server, a, b and the relay's peer ID."""
    srv = bootstrap6(topo, "--libp2p-relay", "--ice-handshake-timeout", "5")
    rid = peer_id(srv)
    relay = f"/ip6/{v6(srv)}/tcp/{PORT}/p2p/{rid}"

    a, b = topo.add_node("a"), topo.add_node("b")
    for n, other in ((a, b), (b, a)):
        six_only(n)
        n.netns_exec("nft", "-f", "-", input=firewall(v6(other), ip="ip6"))
    for n in (a, b):
        n.start("--join", f"[{v6(srv)}]:{wmtest.API_PORT}", "--join-fingerprint",
                topo.fingerprint, "--node-id", n.name, "--endpoints",
                f"[{v6(n)}]:{wmtest.WG_PORT}", "--libp2p-listen", f"/ip6/::/tcp/{PORT}",
                "--libp2p-peers", relay, "--ice-handshake-timeout", "5")
        n.wait_ready("member")
    for n in (a, b):
        wait_until(lambda n=n: field(n.status(), "libp2pReservations", "libp2p_reservations"),
                   30, f"{n.name}'s reservation on the relay over IPv6")
    return srv, a, b, rid


def test_sites_meet_through_a_relay_over_ipv6(topo):
    srv, a, b, rid = relay_and_two_sites6(topo, no_udp_and_no_tcp_with)

    meet_through_relay(a, b, srv, rid)
    # a reaches the relay at its IPv6 address, and the circuit address its
    # reservation gives peers is an IPv6 one.
    st = a.status()
    to_relay = [c for c in field(st, "libp2pConnections", "libp2p_connections", [])
                if field(c, "peerId", "peer_id") == rid]
    assert any(c.get("address", "").startswith(f"/ip6/{v6(srv)}/tcp/{PORT}")
               for c in to_relay), to_relay
    addrs = [x for r in field(st, "libp2pReservations", "libp2p_reservations", [])
             for x in r.get("addrs", [])]
    assert any(x.startswith(f"/ip6/{v6(srv)}/tcp/{PORT}/p2p/{rid}/p2p-circuit")
               for x in addrs), addrs



def test_join_by_rendezvous_over_ipv6(topo):
    srv = bootstrap6(topo, "--announce-rendezvous", SECRET)
    node = topo.add_node("n")
    six_only(node)
    node.start("--node-id", "n", "--join-rendezvous", SECRET, "--libp2p-peers",
               f"/ip6/{v6(srv)}/tcp/{PORT}/p2p/{peer_id(srv)}", "--join-fingerprint",
               topo.fingerprint, "--endpoints", f"[{v6(node)}]:{wmtest.WG_PORT}")
    st = node.wait_ready("member")
    assert st.get("address_ipv4"), st
    assert "proved it knows the secret" in node.log()
    assert field(node.status(), "rendezvous_server", "rendezvousServer") == peer_id(srv)
    ip = srv.status()["address_ipv4"].split("/")[0]
    wait_until(lambda: node.ping(ip, count=1, wait=1), 30, "n pings srv over the mesh")


def test_dcutr_over_ipv6(topo):
    """DCUtR's address exchange over IPv6: each side learns the other's
    /ip6 addresses (identify, CONNECT/SYNC) and the simultaneous open
    replaces the relayed connection; WireGuard runs over it."""
    srv, a, b, rid = relay_and_two_sites6(topo, no_udp_and_no_inbound_tcp_from)
    bid = peer_id(b)

    conns = wait_until(lambda: path_is(a, "b", "libp2p-direct") and punched(a, bid), 90,
                       "a's path to b over a hole-punched IPv6 connection")
    assert conns[0].get("address", "").startswith(f"/ip6/{v6(b)}/tcp/"), conns
    ip_b = b.status()["address_ipv4"].split("/")[0]
    wait_until(lambda: a.ping(ip_b, count=1, wait=1), 30, "a -> b over the punch")
