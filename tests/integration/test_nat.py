"""NAT traversal end to end (issue 6), in namespaces this file makes.

Topology (one per test, unique names wmh-nat-XXXX-*):

    site-a (10.1.0.2) -- router-a (10.1.0.1 | 203.0.113.1) --+
                                                               +-- public: 203.0.113.10
    site-b (10.2.0.2) -- router-b (10.2.0.1 | 203.0.113.2) --+     webmeshd --bootstrap,
                                                                    coturn (STUN + TURN)

Each router masquerades (nftables) and drops unsolicited inbound traffic;
"cone" routers keep the mapping per source (Linux keeps the source port), the
"symmetric" one uses random ports per destination (masquerade
random,fully-random). Every node is a real webmeshd over wireguard-go: the
sites join through the server and signal through its Signaling service.
coturn runs with its own config in a temp dir, shared-secret auth; only the
server knows the secret (--turn-secret) and hands the sites short-lived
credentials, so coturn accepting them checks that path and our generator.
What the tests read is `wmctl status -o json` on each site's socket.
"""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

import wmtest
from nslab import COTURN_DENY_PRIVATE, NsLab, router_rules
from wmtest import run, wait_until

PUBLIC_IP = "203.0.113.10"
SERVER2_IP = "203.0.113.11"
ROUTER_WAN = {"a": "203.0.113.1", "b": "203.0.113.2"}
SITE_NET = {"a": "10.1.0", "b": "10.2.0"}
NAT_RULES = {
    # Linux keeps the source port when it is free: one mapping per source,
    # whatever the destination ("cone"); the two routers say it differently.
    "cone": 'oifname "wan0" masquerade',
    "cone-snat": 'oifname "wan0" snat to {wan}',
    # a new random port for every new destination ("symmetric")
    "symmetric": 'oifname "wan0" masquerade random,fully-random',
}


class NatLab(NsLab):
    """The namespaces, coturn, the server and the site nodes of one test."""

    def __init__(self, nat_a="cone", nat_b="cone-snat"):
        super().__init__("nat")
        try:
            self._build(nat_a, nat_b)
        except BaseException:
            self.close()
            raise

    def _build(self, nat_a, nat_b):
        pub = self.ns_add("public")
        run(["ip", "-n", pub, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", pub, "addr", "add", f"{PUBLIC_IP}/24", "dev", "br0"])
        run(["ip", "-n", pub, "link", "set", "br0", "up"])
        # The public side has a default route that leads nowhere, as on the
        # Internet: traffic for private addresses vanishes instead of failing
        # at once with "network unreachable".
        run(["ip", "-n", pub, "link", "add", "nowhere", "type", "veth", "peer", "name",
             "void"])
        run(["ip", "-n", pub, "addr", "add", "198.51.100.1/30", "dev", "nowhere"])
        run(["ip", "-n", pub, "link", "set", "nowhere", "up"])
        run(["ip", "-n", pub, "link", "set", "void", "up"])
        run(["ip", "-n", pub, "neigh", "add", "198.51.100.2", "lladdr", "02:00:00:00:00:01",
             "dev", "nowhere"])
        run(["ip", "-n", pub, "route", "add", "default", "via", "198.51.100.2"])
        for side, nat in (("a", nat_a), ("b", nat_b)):
            router = self.ns_add(f"router-{side}")
            site = self.ns_add(f"site-{side}")
            net = SITE_NET[side]
            run(["ip", "-n", pub, "link", "add", f"v{side}", "type", "veth", "peer", "name",
                 "wan0", "netns", router])
            run(["ip", "-n", pub, "link", "set", f"v{side}", "master", "br0", "up"])
            run(["ip", "-n", router, "addr", "add", f"{ROUTER_WAN[side]}/24", "dev", "wan0"])
            run(["ip", "-n", router, "link", "set", "wan0", "up"])
            run(["ip", "-n", router, "link", "add", "lan0", "type", "veth", "peer", "name",
                 "eth0", "netns", site])
            run(["ip", "-n", router, "addr", "add", f"{net}.1/24", "dev", "lan0"])
            run(["ip", "-n", router, "link", "set", "lan0", "up"])
            run(["ip", "-n", site, "addr", "add", f"{net}.2/24", "dev", "eth0"])
            run(["ip", "-n", site, "link", "set", "eth0", "up"])
            run(["ip", "-n", site, "route", "add", "default", "via", f"{net}.1"])
            run(["ip", "netns", "exec", router, "sysctl", "-q", "-w",
                 "net.ipv4.ip_forward=1"])
            run(["ip", "netns", "exec", router, "nft", "-f", "-"],
                input=router_rules(NAT_RULES[nat].format(wan=ROUTER_WAN[side])))

    def nft(self, side, cmds):
        run(["ip", "netns", "exec", self.ns(f"router-{side}"), "nft", "-f", "-"], input=cmds)

    # --- processes -----------------------------------------------------
    def start_coturn(self):
        super().start_coturn([PUBLIC_IP], PUBLIC_IP, COTURN_DENY_PRIVATE + "\nverbose")

    def start_server(self, turn=True):
        state = self.dir / "server"
        state.mkdir(mode=0o700)
        relay = ["--turn-servers", f"turn:{PUBLIC_IP}:3478", "--turn-secret",
                 self.turn_secret] if turn else []
        self.spawn("server", self.ns("public"),
                   [wmtest.WEBMESHD, "--bootstrap", "--node-id", "server", "--state-dir", state,
                    "--endpoints", f"{PUBLIC_IP}:51820", "--socket", state / "webmesh.sock",
                    *relay, "--log-level", "debug"])
        self.fingerprint = self.wait_fingerprint("server", r"--join-fingerprint[ =]")

    def start_second_server(self):
        """A second voter, server2 at SERVER2_IP, in a namespace of its own on
        the public bridge; returns its certificate fingerprint."""
        ns = self.ns_add("public2")
        run(["ip", "-n", self.ns("public"), "link", "add", "vs2", "type", "veth", "peer",
             "name", "eth0", "netns", ns])
        run(["ip", "-n", self.ns("public"), "link", "set", "vs2", "master", "br0", "up"])
        run(["ip", "-n", ns, "addr", "add", f"{SERVER2_IP}/24", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        state = self.dir / "server2"
        state.mkdir(mode=0o700)
        self.spawn("server2", ns,
                   [wmtest.WEBMESHD, "--join", f"{PUBLIC_IP}:8443", "--join-fingerprint",
                    self.fingerprint, "--voter", "--node-id", "server2", "--state-dir", state,
                    "--endpoints", f"{SERVER2_IP}:51820", "--socket", state / "webmesh.sock",
                    "--turn-servers", f"turn:{PUBLIC_IP}:3478", "--turn-secret",
                    self.turn_secret, "--log-level", "debug"])
        return self.wait_fingerprint("server2", r"serving the API on \S+ \(TLS, certificate ")

    def start_node(self, side, *extra):
        name = f"site-{side}"
        state = self.dir / name
        state.mkdir(mode=0o700, exist_ok=True)
        # No TURN configuration: the server hands out servers and credentials.
        # Both sites have private addresses only, so after
        # ice-handshake-timeout without a direct handshake the pair moves to ICE.
        # 10 s, not less: WireGuard sends a lost handshake initiation again
        # after 5 s, and the server adds a new member to its device a moment
        # after the member's first initiation may have arrived.
        args = [wmtest.WEBMESHD, "--join", f"{PUBLIC_IP}:8443", "--join-fingerprint",
                self.fingerprint, "--node-id", name, "--state-dir", state,
                "--socket", state / "webmesh.sock", "--stun-servers",
                f"stun:{PUBLIC_IP}:3478", "--ice-handshake-timeout", "10",
                "--log-level", "debug"]
        self.spawn(name, self.ns(name), args + list(extra))

    # --- observations --------------------------------------------------
    def status(self, side):
        name = f"site-{side}"
        if self.procs[name].poll() is not None:
            raise wmtest.StopWaiting(f"{name} exited:\n" + self.log(name))
        p = run([wmtest.WMCTL, "--socket", self.dir / name / "webmesh.sock", "status", "-o",
                 "json"], check=False)
        return json.loads(p.stdout) if p.returncode == 0 else {}

    def peer(self, side, peer_id):
        for p in self.status(side).get("peers", []):
            if p.get("id") == peer_id:
                return p
        return None

    def address(self, side):
        a = self.status(side).get("address_ipv4", "")
        return a.split("/")[0] if a else None

    def ping(self, side, addr, count=1, wait=2):
        p = run(["ip", "netns", "exec", self.ns(f"site-{side}"), "ping", "-n", "-q", "-c",
                 str(count), "-W", str(wait), addr], check=False, timeout=count * wait + 10)
        return p.returncode == 0


@pytest.fixture
def lab_factory():
    labs = []

    def make(**kw):
        if not os.access(wmtest.WEBMESHD, os.X_OK):
            pytest.fail(f"{wmtest.WEBMESHD} is not built")
        if not shutil.which("turnserver"):
            pytest.fail("coturn (turnserver) is not installed: scripts/deps.sh")
        lab = NatLab(**kw)
        labs.append(lab)
        return lab
    yield make
    for lab in labs:
        lab.close_reporting()


def _start_pair(lab, **kw):
    lab.start_coturn()
    lab.start_server()
    lab.start_node("a", **kw)
    lab.start_node("b", **kw)
    wait_until(lambda: lab.address("a") and lab.address("b"), 60, "both sites to join")


def _connected(lab, side, other):
    p = lab.peer(side, f"site-{other}")
    return p if p and p["path"] in ("ice-direct", "ice-relay") else None


def _ping_until(lab, side, addr, timeout):
    return wait_until(lambda: lab.ping(side, addr), timeout, f"site-{side} to ping {addr}",
                      interval=0.5)


def test_cone_nats_punch_through(lab_factory):
    """Two cone-like NATs: ICE finds a server-reflexive pair, nothing relayed."""
    lab = lab_factory(nat_a="cone", nat_b="cone-snat")
    try:
        _start_pair(lab)
        pa = wait_until(lambda: _connected(lab, "a", "b"), 60, "site-a's ICE path to site-b")
        wait_until(lambda: _connected(lab, "b", "a"), 30, "site-b's ICE path to site-a")
        _ping_until(lab, "a", lab.address("b"), 30)
        assert lab.ping("b", lab.address("a"), count=3)
        for side, other in (("a", "b"), ("b", "a")):
            p = lab.peer(side, f"site-{other}")
            assert p["path"] == "ice-direct", p
            # a hole-punched pair: reflexive candidates, no relay anywhere
            assert "relay" not in p["local_candidate"] and "relay" not in p["remote_candidate"]
            assert p["remote_candidate"].split()[0] in ("srflx", "prflx"), p
            assert p["endpoint"].startswith("127.0.0.1:"), p  # WireGuard -> our relay
            assert p["ice_rx_bytes"] > 0 and p["ice_tx_bytes"] > 0
            assert p["ice_reason"] == "neither side has a public endpoint" or \
                p["ice_reason"] == "the peer started ICE"
        # the server stays direct: it has a public endpoint (and idle as that
        # peer is, it got a handshake: no ICE for it)
        assert lab.peer("a", "server")["path"] == "direct"
        # the server reaches site-a where WireGuard saw it (its NAT), not at
        # the private address site-a advertises, also after a change to the
        # server's peers (a route behind site-b) made it reconfigure them
        server_sock = lab.dir / "server" / "webmesh.sock"
        run([wmtest.WMCTL, "--socket", server_sock, "put", "route", "site-b", "10.99.0.0/24"])

        def server_peer(peer_id):
            st = json.loads(run([wmtest.WMCTL, "--socket", server_sock, "status", "-o",
                                 "json"]).stdout)
            return next(p for p in st["peers"] if p["id"] == peer_id)
        wait_until(lambda: "10.99.0.0/24" in server_peer("site-b")["allowed_ips"], 20,
                   "the server to route 10.99.0.0/24 to site-b")
        seen = server_peer("site-a")
        assert seen["endpoint"].startswith(ROUTER_WAN["a"] + ":"), seen
        # what a user reads: the path per peer, and the pair under it
        table = run([wmtest.WMCTL, "--socket", lab.dir / "site-a" / "webmesh.sock",
                     "status"]).stdout
        row = next(line for line in table.splitlines() if line.split()[:1] == ["site-b"])
        assert row.split()[1] == "ice-direct", table
        assert "over ICE:" in table and ("srflx" in table or "prflx" in table), table
    except BaseException:
        print(lab.logs())
        raise


def _relay_port(p):
    """The port of the relayed candidate of a pair, from either side's view."""
    for field in ("local_candidate", "remote_candidate"):
        kind, _, addr = p[field].partition(" ")
        if kind == "relay":
            return int(addr.rsplit(":", 1)[1])
    return None


def test_symmetric_nat_falls_back_to_turn_and_renegotiates(lab_factory):
    """A symmetric NAT on one side: ICE falls back to the TURN relay; when the
    relayed flow is dropped in the routers, the pair re-negotiates within 30 s
    (and the new session works again)."""
    lab = lab_factory(nat_a="cone", nat_b="symmetric")
    try:
        _start_pair(lab)
        wait_until(lambda: _connected(lab, "a", "b"), 90, "site-a's ICE path to site-b")
        wait_until(lambda: _connected(lab, "b", "a"), 30, "site-b's ICE path to site-a")
        _ping_until(lab, "a", lab.address("b"), 30)
        pa, pb = lab.peer("a", "site-b"), lab.peer("b", "site-a")
        # The sites have no TURN configuration: the relay works with the
        # servers and credentials the server handed out.
        assert pa["path"] == "ice-relay", pa
        assert pb["path"] == "ice-relay", pb
        port = _relay_port(pa) or _relay_port(pb)
        assert port, (pa, pb)

        # Kill the relayed path: drop the relayed port in both routers.
        sessions = {s: lab.peer(s, f"site-{o}")["ice_sessions"] for s, o in (("a", "b"),
                                                                            ("b", "a"))}
        rule = (f"add rule inet wmh-fw forward ip daddr {PUBLIC_IP} udp dport {port} drop\n"
                f"add rule inet wmh-fw forward ip saddr {PUBLIC_IP} udp sport {port} drop\n")
        killed = time.monotonic()
        for side in ("a", "b"):
            lab.nft(side, rule.replace("add rule", "insert rule"))

        def renegotiated():
            return all(lab.peer(s, f"site-{o}")["ice_sessions"] > sessions[s]
                       for s, o in (("a", "b"), ("b", "a")))
        wait_until(renegotiated, 30, "both sides to re-negotiate after the path was killed",
                   interval=0.5)
        print(f"re-negotiation started {time.monotonic() - killed:.1f}s after the drop")
        wait_until(lambda: _connected(lab, "a", "b") and _connected(lab, "b", "a"), 60,
                   "the new session to connect")
        _ping_until(lab, "a", lab.address("b"), 30)
        assert _relay_port(lab.peer("a", "site-b")) != port or \
            _relay_port(lab.peer("b", "site-a")) != port
    except BaseException:
        print(lab.logs())
        raise


def test_silent_public_endpoint_moves_to_ice(lab_factory):
    """site-b advertises a public endpoint that its NAT does not forward: site-a
    tries it first, gets no handshake within ice-handshake-timeout and starts
    ICE; site-b, which has nothing to decide (it looks public), follows the
    offer."""
    lab = lab_factory(nat_a="cone", nat_b="cone-snat")
    try:
        lab.start_coturn()
        lab.start_server()
        lab.start_node("a")
        lab.start_node("b", "--endpoints", f"{ROUTER_WAN['b']}:51820")
        wait_until(lambda: lab.address("a") and lab.address("b"), 60, "both sites to join")
        # first direct, at the advertised (dead) endpoint
        p = wait_until(lambda: lab.peer("a", "site-b"), 30, "site-a to know site-b")
        assert p["path"] == "direct" and p["endpoint"] == f"{ROUTER_WAN['b']}:51820", p
        wait_until(lambda: _connected(lab, "a", "b") and _connected(lab, "b", "a"), 60,
                   "the pair to move to ICE")
        assert lab.peer("a", "site-b")["ice_reason"] == "no handshake at the direct endpoints"
        assert lab.peer("b", "site-a")["ice_reason"] == "the peer started ICE"
        _ping_until(lab, "a", lab.address("b"), 30)
        assert lab.ping("b", lab.address("a"), count=2)
    except BaseException:
        print(lab.logs())
        raise


def test_roaming_node_announces_new_endpoints(lab_factory):
    """A node whose addresses change (a laptop on a new network) tells the
    mesh: the server's record of it follows within a refresh or two."""
    lab = lab_factory(nat_a="cone", nat_b="cone-snat")
    try:
        lab.start_coturn()
        lab.start_server()
        lab.start_node("a", "--endpoint-refresh", "1")
        wait_until(lambda: lab.address("a"), 60, "site-a to join")
        server_sock = lab.dir / "server" / "webmesh.sock"

        def endpoints():
            p = run([wmtest.WMCTL, "--socket", server_sock, "get", "node", "site-a", "-o",
                     "json"], check=False)
            return json.loads(p.stdout).get("endpoints", []) if p.returncode == 0 else []
        assert "10.1.0.2:51820" in endpoints()
        site = lab.ns("site-a")
        run(["ip", "netns", "exec", site, "sysctl", "-q", "-w",
             "net.ipv4.conf.eth0.promote_secondaries=1"])
        run(["ip", "-n", site, "addr", "add", "10.1.0.3/24", "dev", "eth0"])
        wait_until(lambda: "10.1.0.3:51820" in endpoints(), 20,
                   "the server to learn site-a's new address")
        run(["ip", "-n", site, "addr", "del", "10.1.0.2/24", "dev", "eth0"])
        wait_until(lambda: "10.1.0.2:51820" not in endpoints(), 20,
                   "the server to forget site-a's old address")
        assert "10.1.0.3:51820" in endpoints()
        assert "this node's endpoints changed" in lab.log("site-a")
    except BaseException:
        print(lab.logs())
        raise


def test_sites_on_different_servers_signal_through_both(lab_factory):
    """site-a follows the bootstrap server, site-b a second voter: their
    offers and answers cross from one server to the other, and the pair
    connects over ICE as if they shared a server."""
    lab = lab_factory(nat_a="cone", nat_b="cone-snat")
    try:
        lab.start_coturn()
        lab.start_server()
        fp2 = lab.start_second_server()
        lab.start_node("a")
        # later flags win: site-b joins through server2
        lab.start_node("b", "--join", f"{SERVER2_IP}:8443", "--join-fingerprint", fp2)
        wait_until(lambda: lab.address("a") and lab.address("b"), 60, "both sites to join")
        assert lab.status("b")["join_server"] == f"{SERVER2_IP}:8443"
        wait_until(lambda: _connected(lab, "a", "b") and _connected(lab, "b", "a"), 90,
                   "the pair to connect over ICE")
        _ping_until(lab, "a", lab.address("b"), 30)
        assert lab.ping("b", lab.address("a"), count=2)
    except BaseException:
        print(lab.logs())
        raise


def _forward_wireguard(lab, side):
    """A port forward on side's router: its WAN address, port 51820, reaches
    the site's WireGuard (as a user with a public address on a home router
    would set up)."""
    site = f"{SITE_NET[side]}.2"
    lab.nft(side, f"""
table ip wmh-dnat {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "wan0" udp dport 51820 dnat to {site}:51820
  }}
}}
add rule inet wmh-fw forward iifname "wan0" oifname "lan0" ip daddr {site} udp dport 51820 accept
""")


def _ping_stats(out):
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def test_pair_returns_to_direct_when_the_direct_path_works_again(lab_factory):
    """site-b is reachable at a port forward that drops site-a's packets: the
    pair goes over ICE. site-a probes the direct path now and then; once the
    drop is lifted, a probe works and both sides return to direct (the PATH
    column says so), while a ping that runs all along keeps getting answers
    (losses only while a probe fails, at most its window each)."""
    lab = lab_factory(nat_a="cone", nat_b="cone-snat")
    pinger = None
    try:
        _forward_wireguard(lab, "b")
        block = (f"table inet wmh-block {{\n chain forward {{\n"
                 f"  type filter hook forward priority -10; policy accept;\n"
                 f"  ip saddr {ROUTER_WAN['a']} udp dport 51820 drop\n }}\n}}\n")
        lab.nft("b", block)
        lab.start_coturn()
        lab.start_server()
        lab.start_node("a")
        lab.start_node("b", "--endpoints", f"{ROUTER_WAN['b']}:51820")
        wait_until(lambda: lab.address("a") and lab.address("b"), 60, "both sites to join")
        wait_until(lambda: _connected(lab, "a", "b") and _connected(lab, "b", "a"), 90,
                   "the pair to move to ICE")
        assert lab.peer("a", "site-b")["ice_reason"] == "no handshake at the direct endpoints"
        addr_b = lab.address("b")
        _ping_until(lab, "a", addr_b, 30)

        # A ping every 0.2 s for the rest of the test (bounded by count and
        # deadline); SIGINT makes it print its statistics.
        pinger = subprocess.Popen(
            ["ip", "netns", "exec", lab.ns("site-a"), "ping", "-n", "-q", "-i", "0.2", "-c",
             "3000", "-w", "500", addr_b], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)

        # While the drop is there, a probe fails and the pair stays on ICE.
        failed = re.compile(r"path to site-b: probing -> connected")
        wait_until(lambda: failed.search(lab.log("site-a")), 90,
                   "site-a to probe the blocked direct path")
        assert _connected(lab, "a", "b") and _connected(lab, "b", "a")

        lab.nft("b", "delete table inet wmh-block\n")
        wait_until(lambda: lab.peer("a", "site-b")["path"] == "direct" and
                   lab.peer("b", "site-a")["path"] == "direct", 120,
                   "the pair to return to direct")
        pa, pb = lab.peer("a", "site-b"), lab.peer("b", "site-a")
        assert pa["endpoint"] == f"{ROUTER_WAN['b']}:51820", pa
        # site-b keeps where site-a's packets came from (its NAT), not the
        # private address site-a advertises
        assert pb["endpoint"].startswith(ROUTER_WAN["a"] + ":"), pb
        table = run([wmtest.WMCTL, "--socket", lab.dir / "site-a" / "webmesh.sock",
                     "status"]).stdout
        row = next(line for line in table.splitlines() if line.split()[:1] == ["site-b"])
        assert row.split()[1] == "direct", table
        assert "the direct path works again" in lab.log("site-a")
        assert "the peer's packets come over the direct path" in lab.log("site-b")
        # direct for good: a few more seconds of pings, both ways, and the
        # pair does not go back to ICE
        assert lab.ping("b", lab.address("a"), count=3)
        time.sleep(5)
        pinger.send_signal(2)
        out, _ = pinger.communicate(timeout=20)
        sent, received = _ping_stats(out)
        lost = sent - received
        probes_failed = len(failed.findall(lab.log("site-a")))
        print(f"pings: {sent} sent, {lost} lost; {probes_failed} failed probes")
        assert lab.peer("a", "site-b")["path"] == "direct"
        assert lab.peer("b", "site-a")["path"] == "direct"
        assert received > 0
        # a failed probe costs at most its window (4 s) and a tick: 25 pings
        # at 0.2 s; everything else (the move back included) costs a few
        assert lost <= probes_failed * 30 + 10, out
    except BaseException:
        print(lab.logs())
        raise
    finally:
        if pinger and pinger.poll() is None:
            pinger.kill()
            pinger.wait(5)


def test_cone_nats_punch_through_with_stun_only(lab_factory):
    """Issue 11: both routers masquerade, a STUN server (coturn) and no TURN
    server anywhere (the server has no turn-secret): the sites hole-punch
    with their server-reflexive candidates."""
    lab = lab_factory(nat_a="cone", nat_b="cone")
    try:
        lab.start_coturn()
        lab.start_server(turn=False)
        # the default timeout, as a new user has it
        lab.start_node("a", "--ice-handshake-timeout", "20")
        lab.start_node("b", "--ice-handshake-timeout", "20")
        wait_until(lambda: lab.address("a") and lab.address("b"), 60, "both sites to join")
        wait_until(lambda: _connected(lab, "a", "b") and _connected(lab, "b", "a"), 90,
                   "the pair to connect over ICE")
        _ping_until(lab, "a", lab.address("b"), 30)
        assert lab.ping("b", lab.address("a"), count=2)
        for side, other in (("a", "b"), ("b", "a")):
            p = lab.peer(side, f"site-{other}")
            assert p["path"] == "ice-direct", p
            assert p["remote_candidate"].split()[0] in ("srflx", "prflx"), p
            # a connected pair lists what was gathered and received too
            _assert_candidates(p, side, other)
    except BaseException:
        print(lab.logs())
        raise


def _candidates_listed(p, side, other):
    """p (site-side's view of site-other) lists a host candidate of its own
    and the peer's host candidate among those received; None if not yet."""
    if not p:
        return None
    local = p.get("ice_local_candidates", [])
    remote = p.get("ice_remote_candidates", [])
    if not any(c.startswith(f"host {SITE_NET[side]}.2:") for c in local):
        return None
    if not any(c.startswith(f"host {SITE_NET[other]}.2:") for c in remote):
        return None
    return p


def _assert_candidates(p, side, other):
    assert _candidates_listed(p, side, other), p
    for c in p["ice_local_candidates"] + p["ice_remote_candidates"]:
        kind, addr = c.split(" ")
        assert kind in ("host", "srflx", "prflx", "relay"), p
        assert 0 < int(addr.rsplit(":", 1)[1]) < 65536, p
    assert len(p["ice_local_candidates"]) <= 8 and len(p["ice_remote_candidates"]) <= 8, p


def test_failing_pair_shows_its_candidates(lab_factory):
    """Issue 11: a pair that cannot connect (STUN only, and router-b drops
    everything from router-a) stays checking or fails; `wmctl status` shows
    the candidates each side gathered and those it received, the reflexive
    ones included, so that a user can see what the checks try."""
    lab = lab_factory(nat_a="cone", nat_b="cone")
    try:
        lab.nft("b", f"""
insert rule inet wmh-fw forward ip saddr {ROUTER_WAN['a']} drop
insert rule inet wmh-fw input ip saddr {ROUTER_WAN['a']} drop
""")
        lab.start_coturn()
        lab.start_server(turn=False)
        lab.start_node("a")
        lab.start_node("b")
        wait_until(lambda: lab.address("a") and lab.address("b"), 60, "both sites to join")
        for side, other in (("a", "b"), ("b", "a")):
            p = wait_until(lambda: _candidates_listed(lab.peer(side, f"site-{other}"), side,
                                                      other), 90,
                           f"site-{side} to list the candidates of its pair with site-{other}")
            assert p["path"] not in ("ice-direct", "ice-relay"), p
            assert p["ice_state"] in ("checking", "failed"), p
            _assert_candidates(p, side, other)
            # STUN works for both sides: the reflexive candidates are there
            assert any(c.startswith("srflx ") for c in p["ice_local_candidates"]), p
            assert any(c.startswith(f"srflx {ROUTER_WAN[other]}:")
                       for c in p["ice_remote_candidates"]), p
        # what a user reads: the candidates under the pair in the ICE table
        # (polled: a session that failed is started again, and lists
        # nothing while it gathers)
        def table():
            out = run([wmtest.WMCTL, "--socket", lab.dir / "site-a" / "webmesh.sock",
                       "status"]).stdout
            return ("candidates" in out and f"host {SITE_NET['a']}.2:" in out
                    and f"srflx {ROUTER_WAN['b']}:" in out) and out
        out = wait_until(table, 60, "site-a's table to list the pair's candidates")
        print(out)
    except BaseException:
        print(lab.logs())
        raise
