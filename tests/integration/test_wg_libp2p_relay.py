"""WireGuard over a libp2p circuit relay (issue 11): two sites that reach
nothing of each other (every UDP datagram dropped on the underlay, and all
TCP between the two, so that no direct connection nor DCUtR's hole punch
works) carry their WireGuard datagrams over a relayed libp2p
connection through the server, which serves as a circuit relay v2
(--libp2p-relay) and on which both hold a reservation (--libp2p-peers).
Ping works, and `wmctl status` reports the path as libp2p-relay with the
relay's peer ID. Everything stays in the namespaces of the test's topology."""
import re
import time

import pytest

import wmtest
from wmtest import scaled, wait_until

PORT = 4001


def no_udp_and_no_tcp_with(other_ip, ip="ip"):
    """Drops UDP both ways, and TCP to and from the other site in any state
    (no direct connection, not even DCUtR's hole punch); loopback stays
    open: WireGuard talks to its libp2p relay there. ip: nftables' family
    of other_ip, "ip" or "ip6" (ICMPv6, neighbour discovery, stays open)."""
    return f"""
table inet wmh-site {{
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname "lo" accept
    meta l4proto udp drop
    {ip} saddr {other_ip} meta l4proto tcp drop
  }}
  chain output {{
    type filter hook output priority filter; policy accept;
    oifname "lo" accept
    meta l4proto udp drop
    {ip} daddr {other_ip} meta l4proto tcp drop
  }}
}}
"""


@pytest.fixture
def topo():
    with wmtest.topology() as t:
        yield t


def field(d, camel, snake, default=None):
    return d.get(camel, d.get(snake, default))


def peer(node, peer_id):
    for p in node.status().get("peers", []):
        if p.get("id") == peer_id:
            return p
    return None


def path_is(node, peer_id, *paths):
    p = peer(node, peer_id)
    return p if p and p.get("path") in paths else None


def v4_args(node):
    """WireGuard and libp2p at node's IPv4 underlay address."""
    return ["--endpoints", f"{node.underlay}:{wmtest.WG_PORT}", "--libp2p-listen",
            f"/ip4/{node.underlay}/tcp/{PORT}"]


def start_server(topo, *extra, args_for=v4_args):
    """The bootstrap server "srv", with args_for(srv) (its addresses) and
    extra; topo learns its join fingerprint."""
    srv = topo.add_node("srv")
    srv.start("--bootstrap", "--node-id", "srv", *args_for(srv), *extra)
    srv.wait_ready("leader")
    pat = re.compile(r"--join-fingerprint[ =](sha256:[0-9a-fA-F]{64})")
    topo.fingerprint = wait_until(lambda: (m := pat.search(srv.log())) and m.group(1), 10,
                                  "the join fingerprint")
    topo.server = srv
    return srv


def meet_through_relay(a, b, relay, rid):
    """a and b reach libp2p-relay through relay (peer ID rid), ping each
    other over the mesh, and say so in `wmctl status`; the relay counts the
    circuit it carries. wait_until scales its timeouts itself."""
    pa = wait_until(lambda: path_is(a, "b", "libp2p-relay"), 90,
                    "a's path to b through the relay")
    assert field(pa, "libp2pRelayPeerId", "libp2p_relay_peer_id") == rid, pa
    wait_until(lambda: path_is(b, "a", "libp2p-relay"), 30, "b's path to a through the relay")
    ip_b = b.status()["address_ipv4"].split("/")[0]
    ip_a = a.status()["address_ipv4"].split("/")[0]
    wait_until(lambda: a.ping(ip_b, count=1, wait=1), 30, "a -> b through the relay")
    wait_until(lambda: b.ping(ip_a, count=1, wait=1), 15, "b -> a through the relay")
    text = a.wmctl("status").stdout
    assert "libp2p-relay" in text and rid in text, text
    assert field(relay.status(), "libp2pRelayCircuits", "libp2p_relay_circuits", 0) >= 1


def test_sites_meet_through_the_relay(topo):
    srv, a, b, _ = relay_and_two_sites(topo, no_udp_and_no_tcp_with, handshake_timeout=5)
    rid = field(srv.status(), "libp2pPeerId", "libp2p_peer_id")
    assert rid and rid.startswith("12D3KooW")
    meet_through_relay(a, b, srv, rid)


def no_udp_and_no_inbound_tcp_from(other_ip, ip="ip"):
    """A stateful firewall: UDP with the other site dropped both ways, and
    every TCP connection the other site starts; a SYN answering one of our
    own (the simultaneous open of DCUtR's punch) is in the reply direction
    of our attempt, established, and let in. ip: as above."""
    return f"""
table inet wmh-site {{
  chain input {{
    type filter hook input priority filter; policy accept;
    {ip} saddr {other_ip} meta l4proto udp drop
    {ip} saddr {other_ip} meta l4proto tcp ct state new drop
  }}
  chain output {{
    type filter hook output priority filter; policy accept;
    {ip} daddr {other_ip} meta l4proto udp drop
  }}
}}
"""


def relay_and_two_sites(topo, firewall, handshake_timeout=2):
    """A server that is a relay, and sites a, b joined with libp2p on and a
    reservation on it; firewall: their nftables, given before they join;
    handshake_timeout: their --ice-handshake-timeout.
    Returns the server, a, b and b's peer ID."""
    srv = start_server(topo, "--libp2p-relay", "--ice-handshake-timeout", "5")
    rid = field(srv.status(), "libp2pPeerId", "libp2p_peer_id")

    a, b = topo.add_node("a"), topo.add_node("b")
    if firewall:
        for n, other in ((a, b), (b, a)):
            n.netns_exec("nft", "-f", "-", input=firewall(other.underlay))
    for n in (a, b):
        n.start(*topo.join_args(n, "--libp2p-listen", f"/ip4/{n.underlay}/tcp/{PORT}",
                                "--libp2p-peers",
                                f"/ip4/{srv.underlay}/tcp/{PORT}/p2p/{rid}",
                                "--ice-handshake-timeout", str(handshake_timeout)))
        n.wait_ready("member")
    for n in (a, b):
        wait_until(lambda n=n: field(n.status(), "libp2pReservations",
                                     "libp2p_reservations"), scaled(30),
                   f"{n.name}'s reservation on the relay")
    return srv, a, b, field(b.status(), "libp2pPeerId", "libp2p_peer_id")


def punched(node, other_id):
    """node's hole-punched connection to other_id, if it has one and no
    relayed one to it."""
    cs = [c for c in field(node.status(), "libp2pConnections", "libp2p_connections", [])
          if field(c, "peerId", "peer_id") == other_id]
    ok = [c for c in cs if not c.get("relayed") and field(c, "holePunched", "hole_punched")]
    return ok and not any(c.get("relayed") for c in cs) and ok


def test_dcutr_upgrades_the_wireguard_link(topo):
    """Two sites whose UDP to each other fails and whose firewalls drop the
    TCP connections the other starts: the WireGuard pair goes over libp2p
    through the relay first, DCUtR punches a direct connection that replaces
    the relayed one, and WireGuard follows onto it: the path becomes
    libp2p-direct over a hole-punched connection, with no relayed connection
    left, and pings pass."""
    srv, a, b, bid = relay_and_two_sites(topo, no_udp_and_no_inbound_tcp_from)

    pa = wait_until(lambda: path_is(a, "b", "libp2p-direct") and punched(a, bid), scaled(90),
                    "a's path to b over a hole-punched connection")
    assert pa
    wait_until(lambda: path_is(b, "a", "libp2p-direct"), scaled(30),
               "b's path to a over the punched connection")
    # The relayed connection came first (a direct dial never connects),
    # and the punch replaced it.
    for n in (a, b):
        log = n.log()
        rel, hp = log.find(", relayed)"), log.find(", hole punched)")
        assert 0 <= rel < hp, f"{n.name}: relayed at {rel}, hole punched at {hp}"
    ip_b = b.status()["address_ipv4"].split("/")[0]
    ip_a = a.status()["address_ipv4"].split("/")[0]
    wait_until(lambda: a.ping(ip_b, count=1, wait=1), scaled(30), "a -> b over the punch")
    wait_until(lambda: b.ping(ip_a, count=1, wait=1), scaled(15), "b -> a over the punch")
    # and the bytes went over the punched connection, not the relay
    p = path_is(a, "b", "libp2p-direct")
    assert p and field(p, "libp2pRelayPeerId", "libp2p_relay_peer_id", "") == "", p
    assert a.ping(ip_b, count=3, wait=1)
    assert punched(a, bid)

    # UDP allowed again: the pair returns to direct, and the punched
    # connection, made for the link's stream, closes once idle as the
    # relayed one it replaced would have (else it stays the peers' best
    # connection for ever, dead or alive).
    for n in (a, b):
        n.netns_exec("nft", "delete", "table", "inet", "wmh-site")
    wait_until(lambda: path_is(a, "b", "direct") and path_is(b, "a", "direct"), scaled(120),
               "the pair back on direct")
    aid = field(a.status(), "libp2pPeerId", "libp2p_peer_id")

    def none_between():
        return not any(field(c, "peerId", "peer_id") == other
                       for n, other in ((a, bid), (b, aid))
                       for c in field(n.status(), "libp2pConnections", "libp2p_connections", []))
    wait_until(none_between, scaled(40), "the connections between a and b to close once idle")


def test_punched_connection_whose_path_dies_ends(topo):
    """A hole-punched connection carrying the WireGuard pair, then every
    packet between the two sites dropped, established TCP too (a NAT that
    forgot the mapping): the connection must end (data unacknowledged for
    20 s) rather than hold WireGuard for the minutes TCP retransmits, and
    the pair carries on through the relay."""
    srv, a, b, bid = relay_and_two_sites(topo, no_udp_and_no_inbound_tcp_from)
    wait_until(lambda: path_is(a, "b", "libp2p-direct") and punched(a, bid), scaled(90),
               "a's path to b over a hole-punched connection")
    ip_b = b.status()["address_ipv4"].split("/")[0]
    wait_until(lambda: a.ping(ip_b, count=1, wait=1), scaled(30), "a -> b over the punch")
    for n, other in ((a, b), (b, a)):
        n.netns_exec("nft", "delete", "table", "inet", "wmh-site")
        n.netns_exec("nft", "-f", "-", input=no_udp_and_no_tcp_with(other.underlay))

    def punched_gone():
        a.ping(ip_b, count=1, wait=1)  # traffic for the dead connection to carry
        return not any(not c.get("relayed") and field(c, "peerId", "peer_id") == bid
                       for c in field(a.status(), "libp2pConnections",
                                      "libp2p_connections", []))
    # 20 s of unacknowledged data; TCP's own retransmissions would take ~15 min
    wait_until(punched_gone, 60, "a's dead punched connection to b to end")
    wait_until(lambda: path_is(a, "b", "libp2p-relay") and a.ping(ip_b, count=1, wait=1),
               scaled(60), "a -> b through the relay")


def test_dcutr_when_both_sides_move_at_once(topo):
    """The pair on direct, then the same firewalls as above and the edge
    marked libp2p: both sides open their links at the same moment, and still
    DCUtR's punch replaces the relayed connection and WireGuard runs over it
    (with both dialing through the relay at once, the circuits crossed, each
    side's DCUtR cancelled the other's, and the pair stalled on the relay)."""
    srv, a, b, bid = relay_and_two_sites(topo, None)
    wait_until(lambda: path_is(a, "b", "direct") and path_is(b, "a", "direct"), scaled(30),
               "the pair on direct")
    # The libp2p connection the join may have made between them closes as
    # idle first: a firewall put under a live connection is not the case.
    aid = field(a.status(), "libp2pPeerId", "libp2p_peer_id")
    wait_until(lambda: not any(field(c, "peerId", "peer_id") == other
                               for n, other in ((a, bid), (b, aid))
                               for c in field(n.status(), "libp2pConnections",
                                              "libp2p_connections", [])),
               scaled(40), "no libp2p connection between a and b")
    for n, other in ((a, b), (b, a)):
        n.netns_exec("nft", "-f", "-", input=no_udp_and_no_inbound_tcp_from(other.underlay))
    srv.wmctl("put", "edge", "a", "b", "--attr", "libp2p=true")
    wait_until(lambda: path_is(a, "b", "libp2p-direct") and path_is(b, "a", "libp2p-direct")
               and punched(a, bid), scaled(60), "the pair over a hole-punched connection")
    ip_b = b.status()["address_ipv4"].split("/")[0]
    wait_until(lambda: a.ping(ip_b, count=1, wait=1), scaled(30), "a -> b over the punch")
    assert punched(a, bid)


def test_relayed_pair_moves_back_to_direct(topo):
    """The sites of test_sites_meet_through_the_relay meet through the
    relay; then their firewalls go (UDP and the TCP between them allowed
    again): the pair must not stay on the relay for ever but move back to
    direct WireGuard over UDP, found by the probes of the direct path a pair
    on libp2p makes (the first 10 s after libp2p began, doubling to 60 s,
    plus at most a quarter of jitter: so within 75 s plus the probe's 4 s
    window). Ping still works, and `wmctl status` says direct."""
    srv, a, b, _ = relay_and_two_sites(topo, no_udp_and_no_tcp_with, handshake_timeout=5)
    wait_until(lambda: path_is(a, "b", "libp2p-relay") and path_is(b, "a", "libp2p-relay"),
               90, "the pair through the relay")
    ip_b = b.status()["address_ipv4"].split("/")[0]
    ip_a = a.status()["address_ipv4"].split("/")[0]
    wait_until(lambda: a.ping(ip_b, count=1, wait=1), 30, "a -> b through the relay")
    # 30 s on the relay, so that the probes have backed off (10, 20, 40 s)
    # and the way back does not depend on an early one; the failing probes
    # meanwhile must not take the pair off the relay.
    end = time.monotonic() + scaled(30)
    while time.monotonic() < end:
        assert path_is(a, "b", "libp2p-relay") and path_is(b, "a", "libp2p-relay")
        time.sleep(1)

    for n in (a, b):
        n.netns_exec("nft", "delete", "table", "inet", "wmh-site")
    # wait_until scales its timeout: 90 s covers the longest probe interval
    # (75 s) and the window, once.
    wait_until(lambda: path_is(a, "b", "direct") and path_is(b, "a", "direct"), 90,
               "the pair back on direct")
    wait_until(lambda: a.ping(ip_b, count=1, wait=1), 15, "a -> b on direct")
    wait_until(lambda: b.ping(ip_a, count=1, wait=1), 15, "b -> a on direct")
    # Still direct after pings (no flapping back to the relay), and the
    # WireGuard endpoints are the peers' underlay addresses, not loopback.
    for n, other in ((a, "b"), (b, "a")):
        text = n.wmctl("status").stdout
        row = next((line for line in text.splitlines() if line.split()[:1] == [other]), "")
        assert row.split()[1:2] == ["direct"], text
        p = path_is(n, other, "direct")
        assert p and not p.get("endpoint", "").startswith("127."), p
