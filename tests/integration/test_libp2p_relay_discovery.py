"""Relays found through the DHT (issue 11): a relay R (--libp2p-relay) that
no member names anywhere, a server that is no relay, and two sites a and b
whose underlay drops all UDP and the TCP between them, with only the
server as their --libp2p-peers. R announces itself in the DHT; a and b
find it there through the server, reserve on it (their status lists the
reservation with R's peer ID) and carry WireGuard to each other through
it: ping works, and `wmctl status` reports the path libp2p-relay with R's
peer ID; after the relay restarts they find it again. Everything stays in
the namespaces of the test's topology."""

import pytest

import wmtest
from wmtest import wait_until
from test_wg_libp2p_relay import (PORT, field, meet_through_relay, no_udp_and_no_tcp_with,
                                  start_server)


@pytest.fixture
def topo():
    with wmtest.topology() as t:
        yield t


def rsvp_on(node, relay_id):
    return any(field(r, "relayPeerId", "relay_peer_id") == relay_id
               for r in field(node.status(), "libp2pReservations", "libp2p_reservations", []))


def test_sites_find_the_relay_in_the_dht(topo):
    srv = start_server(topo, "--ice-handshake-timeout", "5")
    sid = field(srv.status(), "libp2pPeerId", "libp2p_peer_id")
    entry = f"/ip4/{srv.underlay}/tcp/{PORT}/p2p/{sid}"
    assert not field(srv.status(), "libp2pRelay", "libp2p_relay", False)

    r = topo.add_node("r")
    r.start(*topo.join_args(r, "--libp2p-listen", f"/ip4/{r.underlay}/tcp/{PORT}",
                            "--libp2p-relay", "--libp2p-peers", entry))
    r.wait_ready("member")
    rid = field(r.status(), "libp2pPeerId", "libp2p_peer_id")
    assert rid and rid.startswith("12D3KooW") and rid != sid

    a, b = topo.add_node("a"), topo.add_node("b")
    for n, other in ((a, b), (b, a)):
        n.netns_exec("nft", "-f", "-", input=no_udp_and_no_tcp_with(other.underlay))
    for n in (a, b):
        # Only the server, which is no relay: R must come from the DHT.
        n.start(*topo.join_args(n, "--libp2p-listen", f"/ip4/{n.underlay}/tcp/{PORT}",
                                "--libp2p-peers", entry, "--ice-handshake-timeout", "5"))
        n.wait_ready("member")
    # wait_until scales its timeout (WM_TEST_TIME_SCALE): plain seconds here.
    # A lookup runs a second after the DHT has a peer, then every 10 s while
    # no reservation is held.
    for n in (a, b):
        wait_until(lambda n=n: rsvp_on(n, rid), 30,
                   f"{n.name}'s reservation on the relay it found in the DHT")
        log = n.log()
        assert f"relay {rid} found in the DHT" in log, log[-3000:]
        assert rid not in " ".join(n.args), n.args
        # never the server: it does not speak hop
        assert not rsvp_on(n, sid)

    meet_through_relay(a, b, r, rid)
    ip_b = b.status()["address_ipv4"].split("/")[0]
    ip_a = a.status()["address_ipv4"].split("/")[0]

    # The relay restarts, its reservations gone with it: the sites drop
    # theirs as soon as the connection goes (nobody redials a relay the DHT
    # gave), find it again and carry WireGuard through it again.
    r.stop()
    for n in (a, b):
        wait_until(lambda n=n: not rsvp_on(n, rid), 15,
                   f"{n.name} to drop its reservation on the stopped relay")
    r.restart()
    r.wait_ready("member")
    for n in (a, b):
        wait_until(lambda n=n: rsvp_on(n, rid), 40,
                   f"{n.name}'s reservation on the restarted relay")
    wait_until(lambda: a.ping(ip_b, count=1, wait=1), 60, "a -> b through the relay again")
    wait_until(lambda: b.ping(ip_a, count=1, wait=1), 15, "b -> a through the relay again")
