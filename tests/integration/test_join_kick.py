"""End to end (issue 16, "Join to first ping"): a newcomer's first WireGuard
handshake with a member is never lost.

WireGuard retries a lost initiation only after REKEY_TIMEOUT (5 s). Two
ways lost the first one: the newcomer and the member initiating at the
same moment (crossed initiations cancel each other), and the newcomer's
initiation reaching the member before the member had it as a peer. The
newcomer now kicks at once, the member only if no handshake happened a
little later, and adds the peer again if its kick crossed one.

What is asserted is the number of handshake initiations, counted by an
nftables rule on each side (a WireGuard initiation is a UDP datagram whose
first byte is 1): in every join the newcomer sends at most one to the
member, so it never needed WireGuard's retry, and the member at most two
(its kick and, after a crossing, the one of the peer it added again). The
time to the first ping is measured by bench/failover, not asserted here.

The same race cost pings when a path changes: an edge put back between two
members makes both add each other at once, and a lost first handshake
stalled the direct path for 5 s. A ping every 0.1 s across three deletions
and restorations of the edge lost 39 (the issue) to 77 of 300. The kick order
fixed the stall; make before break (core/mbb.h, docs/PATHS.md) fixed the
rest: the new path carries traffic only once the far end accepts it (a new
peer: once its handshake completed), and the old one is still accepted for
a while after. Nothing may be lost.
"""

import re
import subprocess
import time

from wmtest import ENV, WG_PORT, host_ip, scaled, topology, wait_until

JOINS = 10
TABLE = "wmkickcount"


def count_initiations(node, daddr):
    """Adds a counter of WireGuard initiations node sends to daddr."""
    node.netns_exec("nft", "-f", "-", input=(
        f"table inet {TABLE} {{\n"
        " chain out { type filter hook output priority 0; policy accept; }\n"
        "}\n"))
    node.netns_exec("nft", "add", "rule", "inet", TABLE, "out", "ip", "daddr", daddr, "udp",
                    "dport", str(WG_PORT), "@th,64,8", "1", "counter", "comment",
                    f"\"to {daddr}\"")


def initiations(node, daddr):
    out = node.netns_exec("nft", "list", "chain", "inet", TABLE, "out").stdout
    m = re.search(r"ip daddr " + re.escape(daddr) + r" .*counter packets (\d+)", out)
    assert m, f"no initiation counter to {daddr} on {node.name}:\n{out}"
    return int(m.group(1))


def test_joins_never_wait_for_a_handshake_retry():
    with topology() as topo:
        topo.bootstrap("s1")
        m1 = topo.join("m1")
        target = host_ip(m1.status()["address_ipv4"])
        seen = []
        for i in range(JOINS):
            node = topo.add_node(f"j{i}")
            count_initiations(node, m1.underlay)
            count_initiations(m1, node.underlay)
            node.start(*topo.join_args(node))
            node.wait_ready("member")
            # Bounded well past the 5 s retry: the counters, not this
            # bound, tell whether a retry was needed.
            assert node.ping(target, count=1, wait=scaled(8)), \
                f"j{i} never reached m1\n{node.log_tail()}\n{m1.log_tail()}"
            sent, answered = initiations(node, m1.underlay), initiations(m1, node.underlay)
            seen.append((sent, answered))
            assert sent <= 1, (f"j{i} sent {sent} handshake initiations to m1: its first "
                               f"was lost and WireGuard retried (all joins: {seen})")
            assert answered <= 2, f"m1 sent {answered} initiations to j{i} ({seen})"
            assert sent + answered >= 1
            node.stop()
        print("initiations (newcomer, member) per join:", seen)


PINGS = 300


def test_edge_put_back_three_times_loses_no_pings():
    with topology() as topo:
        b = topo.bootstrap("b", "--topology", "manual")
        a, c = topo.join("a"), topo.join("c")
        g = b.wmctl_json("get", "graph")
        if not any({e["source"], e["target"]} == {"a", "c"} for e in g.get("edges", [])):
            b.wmctl("put", "edge", "a", "c")
        ip_c = host_ip(c.status()["address_ipv4"])
        # The pair first settles on its direct path (right after two joins
        # and the put, a first echo was sometimes lost to a handshake
        # retry: not what this test is about); then not one echo may be lost.
        wait_until(lambda: a.ping(ip_c, count=1, wait=1), scaled(15), "a -> c")
        # bounded: PINGS at 0.1 s, each waited for at most 1 s
        ping = subprocess.Popen(["ip", "netns", "exec", a.ns, "ping", "-n", "-q", "-i", "0.1",
                                 "-c", str(PINGS), "-W", "1", ip_c], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=ENV)
        try:
            for _ in range(3):
                time.sleep(4)  # direct
                b.wmctl("delete", "edge", "a", "c")
                time.sleep(5)  # through b, then direct again
                b.wmctl("put", "edge", "a", "c")
            out, _ = ping.communicate(timeout=PINGS * 0.1 + 60)
        finally:
            if ping.poll() is None:
                ping.kill()
                ping.wait()
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        assert m, out
        sent, received = int(m.group(1)), int(m.group(2))
        print(f"pings across 3 edge deletions and restorations: {sent} sent, "
              f"{received} received")
        assert sent == PINGS and received == sent, out


# Removal reaches a neighbour in tens of ms (the issue's bound is 2 s); make
# before break would keep the direct tunnel sending for WM_MBB_HOLD_MS (1 s)
# and as a peer for WM_MBB_OVERLAP_MS (2 s) more. Not scaled: a scale of 3
# would pass the hold.
GONE_AFTER = 0.5


def test_removed_node_loses_its_direct_tunnel_at_once():
    """docs/SECURITY.md, Known limits: c removed while a reaches it directly
    and the hub b carries the whole mesh network. The peer set a gets looks
    like an edge deleted (c now behind b), but the server names c's key as
    gone, so a drops c's peer at once instead of after the hold."""
    with topology() as topo:
        b = topo.bootstrap("b", "--topology", "manual")
        # make before break runs on the embedded backend only
        a = topo.join("a", "--wireguard-backend", "embedded")
        c = topo.join("c", "--wireguard-backend", "embedded")
        g = b.wmctl_json("get", "graph")
        if not any({e["source"], e["target"]} == {"a", "c"} for e in g.get("edges", [])):
            b.wmctl("put", "edge", "a", "c")
        ip_a = host_ip(a.status()["address_ipv4"])
        wait_until(lambda: c.ping(ip_a, count=1, wait=1), 10, "c to reach a")
        key_c = b.nodes()["c"]["public_key"]
        assert key_c in a.wg_peers()
        # the case of the limit: after the removal a's hub peer carries c's
        # address (the whole mesh network)
        removed = time.monotonic()
        b.wmctl("delete", "node", "c")
        gone_at = None
        for _ in range(100):  # bounded: 100 reads 0.05 s apart
            if key_c not in a.wg_peers():
                gone_at = time.monotonic() - removed
                break
            time.sleep(0.05)
        print(f"c's peer left a's device {gone_at} s after c's removal")
        assert gone_at is not None, f"a kept c's peer\n{a.log_tail()}"
        assert gone_at < GONE_AFTER, (f"a kept the removed c's tunnel for {gone_at:.2f} s"
                                      f"\n{a.log_tail()}")
        net_a = a.wg_peers()
        assert any(str(n).endswith("/12") for p in net_a.values() for n in p["allowed_ips"]), \
            f"a's hub peer does not carry the mesh network: {net_a}"


def test_member_subscribing_again_drops_a_node_removed_meanwhile():
    """A member whose peer stream broke while a node was removed names the
    peers it holds when it subscribes again (SubscribePeersRequest.held): the
    first set of the new stream names the removed node's key as gone, so its
    tunnel ends at once, not after the make-before-break hold."""
    with topology() as topo:
        b = topo.bootstrap("b")
        a = topo.join("a", "--wireguard-backend", "embedded")
        c = topo.join("c", "--wireguard-backend", "embedded")
        key_c = b.nodes()["c"]["public_key"]
        wait_until(lambda: key_c in a.wg_peers(), 10, "a to have c as a peer")
        follows = a.log().count("following peer updates")
        a.set_link(False)
        b.wmctl("delete", "node", "c")
        wait_until(lambda: "peer stream from" in a.log().split("following peer updates")[-1],
                   30, "a to see its peer stream end")
        assert key_c in a.wg_peers(), "a dropped c before it could hear of the removal"
        a.set_link(True)
        back_at = gone_at = None
        for _ in range(600):  # bounded: 600 reads 0.05 s apart
            now = time.monotonic()
            if back_at is None and a.log().count("following peer updates") > follows:
                back_at = now
            if key_c not in a.wg_peers():
                gone_at = now
                break
            time.sleep(0.05)
        assert gone_at is not None, f"a kept c's peer\n{a.log_tail()}"
        back_at = back_at if back_at is not None else gone_at
        print(f"c's peer left a's device {gone_at - back_at:.2f} s after a subscribed again")
        assert gone_at - back_at < GONE_AFTER, (
            f"a kept the removed c's tunnel {gone_at - back_at:.2f} s into its new stream"
            f"\n{a.log_tail()}")
