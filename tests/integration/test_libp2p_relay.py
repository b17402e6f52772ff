"""libp2p circuit relay v2 (issue 11): webmeshd as relay (hop), as reserving
client and as target (stop), against js-libp2p's @libp2p/circuit-relay-v2
(tests/p2p/relay.mjs, pinned by tests/p2p/package-lock.json) and against
itself. Everything runs in namespaces on the test topology's bridge.
"""
import datetime
import json
import re
import subprocess
import threading

import pytest

import wmtest
from wmtest import ROOT, scaled, wait_until

P2P_DIR = ROOT / "tests" / "p2p"
PORT = 4001
JS_PORT = 4002


@pytest.fixture(scope="module", autouse=True)
def js_libp2p():
    wmtest.run(["make", "-C", str(ROOT), "p2p-deps"], timeout=600)


class Js:
    """relay.mjs in a namespace of its own; its JSON lines collected."""

    def __init__(self, topo, name, index, *args, ready=True):
        self.ns = topo.add_client(name, index)
        self.ip = f"10.250.{topo.subnet}.{index}"
        self.events = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "node", str(P2P_DIR / "relay.mjs"),
             "--listen", f"/ip4/{self.ip}/tcp/{JS_PORT}", *args],
            cwd=P2P_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        topo.js_peers.append(self)
        self.id = self.wait("ready")[0]["peer_id"] if ready else None

    def output(self):
        with self.lock:
            return "\n".join(e.get("line", "") for e in self.events)

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "output", "line": line.rstrip()}
            with self.lock:
                self.events.append(ev)

    def find(self, kind, pred=lambda e: True):
        with self.lock:
            return [e for e in self.events if e.get("event") == kind and pred(e)]

    def wait(self, kind, pred=lambda e: True, timeout=30, count=1):
        def found():
            got = self.find(kind, pred)
            if len(got) >= count:
                return got
            if self.proc.poll() is not None:
                raise AssertionError(f"js-libp2p exited: {self.events}")
            return None
        try:
            return wait_until(found, timeout, f"js-libp2p event {kind}")
        except AssertionError:
            print("js-libp2p events:", self.events)
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def lab():
    with wmtest.topology() as topo:
        topo.js_peers = []
        try:
            yield topo
        finally:
            for p in topo.js_peers:
                p.stop()


def field(d, camel, snake, default=None):
    return d.get(camel, d.get(snake, default))


def p2p(node):
    st = node.status()
    return field(st, "libp2pPeerId", "libp2p_peer_id"), st


def conns(st):
    return field(st, "libp2pConnections", "libp2p_connections", [])


def listen(node):
    return f"/ip4/{node.underlay}/tcp/{PORT}"


def start_relay(lab, name, *limits):
    """A webmeshd relay; its peer ID and the circuit prefix through it."""
    node = lab.add_node(name)
    node.start("--bootstrap", "--node-id", name, "--libp2p-listen", listen(node),
               "--libp2p-relay", *limits)
    node.wait_ready("leader")
    rid, st = p2p(node)
    assert field(st, "libp2pRelay", "libp2p_relay")
    return node, rid, f"{listen(node)}/p2p/{rid}/p2p-circuit"


def test_webmeshd_relays_between_two_js_nodes(lab):
    relay, rid, circuit = start_relay(lab, "relay")
    target = Js(lab, "jsb", 201, "--listen", circuit)
    # The reservation gives the target its address through the relay.
    target.wait("addrs", lambda e: any("/p2p-circuit" in a for a in e["addrs"]))
    wait_until(lambda: field(relay.status(), "libp2pRelayReservations",
                             "libp2p_relay_reservations") == 1, 20, "the reservation")
    dialer = Js(lab, "jsa", 202, "--dial", f"{circuit}/p2p/{target.id}", "--pings", "3")
    pings = dialer.wait("ping", count=3, timeout=60)
    assert all(p["relayed"] for p in pings), pings
    assert not dialer.find("error")
    assert "circuit" in relay.log() and target.id in relay.log()
    text = relay.wmctl("status").stdout
    assert "relay: 1 reservations" in text, text


def test_js_relay_carries_webmeshd_to_webmeshd(lab):
    js = Js(lab, "jsr", 201, "--relay")
    via = f"/ip4/{js.ip}/tcp/{JS_PORT}/p2p/{js.id}"
    b = lab.add_node("b")
    b.start("--bootstrap", "--node-id", "b", "--libp2p-listen", listen(b),
            "--libp2p-peers", via)
    b.wait_ready("leader")
    bid, _ = p2p(b)

    def reserved():
        r = field(b.status(), "libp2pReservations", "libp2p_reservations", [])
        return r and r[0]
    r = wait_until(reserved, 30, "b's reservation on the js relay")
    assert field(r, "relayPeerId", "relay_peer_id") == js.id
    assert any(a.endswith(f"/p2p/{js.id}/p2p-circuit") for a in r["addrs"]), r

    a = lab.add_node("a")
    a.start("--bootstrap", "--node-id", "a", "--libp2p-ping-interval", "1",
            "--libp2p-peers", f"{via}/p2p-circuit/p2p/{bid}")
    a.wait_ready("leader")

    def pinged():
        for c in conns(a.status()):
            if field(c, "peerId", "peer_id") == bid and c.get("relayed") and \
                    int(field(c, "pingRttUs", "ping_rtt_us", -1)) > 0:
                return c
    c = wait_until(pinged, 40, "a to ping b through the js relay")
    assert field(c, "relayPeerId", "relay_peer_id") == js.id
    assert "webmesh/" in field(c, "agentVersion", "agent_version")
    # b sees the same connection, inbound and relayed.
    aid, _ = p2p(a)
    inbound = [c for c in conns(b.status()) if field(c, "peerId", "peer_id") == aid]
    assert inbound and inbound[0].get("relayed") and not inbound[0].get("outbound")
    assert "relayed" in a.wmctl("status").stdout


def test_webmeshd_relay_between_webmeshd_nodes_and_byte_limit(lab):
    """Our client, stop side and hop together; a circuit over its byte
    limit is closed by the relay (and the client dials a new one)."""
    relay, rid, circuit = start_relay(lab, "relay", "--libp2p-relay-circuit-bytes", "4000")
    b = lab.add_node("b")
    b.start("--bootstrap", "--node-id", "b", "--libp2p-peers", f"{listen(relay)}/p2p/{rid}")
    b.wait_ready("leader")
    bid, _ = p2p(b)
    wait_until(lambda: field(b.status(), "libp2pReservations", "libp2p_reservations"), 30,
               "b's reservation on our relay")
    a = lab.add_node("a")
    a.start("--bootstrap", "--node-id", "a", "--libp2p-ping-interval", "1",
            "--libp2p-peers", f"{circuit}/p2p/{bid}")
    a.wait_ready("leader")

    def pinged():
        return any(field(c, "peerId", "peer_id") == bid and c.get("relayed") and
                   int(field(c, "pingRttUs", "ping_rtt_us", -1)) > 0
                   for c in conns(a.status()))
    wait_until(pinged, 40, "a to ping b through our relay")
    # Pings every second (a stream each, about 150 bytes each way): Noise,
    # identify and the pings pass 4000 bytes within a minute; the relay
    # then closes that circuit.
    wait_until(lambda: "over its byte limit" in relay.log(), 90,
               "the relay to close the circuit at its byte limit")
    # The client keeps its target: it dials a new circuit, which works.
    wait_until(lambda: a.log().count("libp2p: circuit to") >= 2, 30,
               "a to dial b again through the relay")
    wait_until(pinged, 30, "a to ping b again")


def circuit_events(log):
    """(time in s, "open" or the reason it ended, bytes each way) of each
    "libp2p relay: circuit ..." line of a webmeshd log, in order."""
    out = []
    for m in re.finditer(r"^(\S+Z) \S+ .*libp2p relay: circuit \S+ -> \S+ "
                         r"(open|ended: (.*) \((\d+)/(\d+) bytes\))$", log, re.M):
        t = datetime.datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        if m[2] == "open":
            out.append((t, "open", None))
        else:
            out.append((t, m[3], (int(m[4]), int(m[5]))))
    return out


def test_webmeshd_relay_circuit_duration_limit(lab):
    """A circuit through a relay with --libp2p-relay-circuit-duration carries
    traffic until that time is up, not less, and is then closed by the relay;
    the client dials a new circuit, which works."""
    limit = int(scaled(3))
    relay, rid, circuit = start_relay(lab, "relay", "--libp2p-relay-circuit-duration",
                                      str(limit))
    b = lab.add_node("b")
    b.start("--bootstrap", "--node-id", "b", "--libp2p-peers", f"{listen(relay)}/p2p/{rid}")
    b.wait_ready("leader")
    bid, _ = p2p(b)
    wait_until(lambda: field(b.status(), "libp2pReservations", "libp2p_reservations"), 30,
               "b's reservation on our relay")
    a = lab.add_node("a")
    a.start("--bootstrap", "--node-id", "a", "--libp2p-ping-interval", "1",
            "--libp2p-peers", f"{circuit}/p2p/{bid}")
    a.wait_ready("leader")

    def ping_rtt():
        for c in conns(a.status()):
            if field(c, "peerId", "peer_id") == bid and c.get("relayed"):
                rtt = int(field(c, "pingRttUs", "ping_rtt_us", -1))
                if rtt > 0:
                    return rtt
    wait_until(ping_rtt, 40, "a to ping b through our relay")
    wait_until(lambda: any(e[1] == "over its time limit" for e in circuit_events(relay.log())),
               limit + 30, "the relay to close the circuit at its time limit")
    ev = circuit_events(relay.log())
    print("relay circuit events:", ev)
    end = next(i for i, e in enumerate(ev) if e[1] == "over its time limit")
    opened = [e for e in ev[:end] if e[1] == "open"]
    assert opened, ev
    # Closed for its time, not before: it was open the whole limit (the
    # relay checks once a second), and no circuit ended earlier.
    lived = ev[end][0] - opened[-1][0]
    assert limit <= lived < limit + 2.5, ev
    assert all(e[1] == "open" for e in ev[:end]), ev
    # It carried traffic both ways first (Noise, identify, a ping a second).
    assert min(ev[end][2]) > 500, ev
    aid, _ = p2p(a)

    def log_times(node, what):
        return [datetime.datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
                for m in re.finditer(r"^(\S+Z) .*" + re.escape(what), node.log(), re.M)]
    # Both ends saw it go: a dials b again through the relay (it does so
    # only once it has no connection to b), b takes the new circuit, and
    # each holds one connection to the other, not the old one besides.
    wait_until(lambda: len(log_times(a, f"libp2p: circuit to {bid} open")) >= 2, 30,
               "a to dial b again through the relay")
    wait_until(lambda: len(log_times(b, f"libp2p: relayed connection from {aid} via")) >= 2,
               30, "b to take the new circuit")
    assert log_times(a, f"libp2p: circuit to {bid} open")[1] >= ev[end][0]
    assert log_times(b, f"libp2p: relayed connection from {aid} via")[1] >= ev[end][0]
    wait_until(lambda: sum(e[1] == "open" for e in circuit_events(relay.log())) > len(opened),
               30, "the relay to open the new circuit")
    assert "over its byte limit" not in relay.log()
    wait_until(ping_rtt, 30, "a to ping b again")
    for node, other in ((a, bid), (b, aid)):
        mine = [c for c in conns(node.status()) if field(c, "peerId", "peer_id") == other]
        assert len(mine) <= 1, mine  # 0 if the new circuit also timed out since


def test_reservations_over_the_limit_are_refused(lab):
    relay, rid, circuit = start_relay(lab, "relay", "--libp2p-relay-max-reservations", "1")
    first = Js(lab, "js1", 201, "--listen", circuit)
    first.wait("addrs", lambda e: any("/p2p-circuit" in a for a in e["addrs"]))
    # js-libp2p treats a refused reservation on a listen address as fatal:
    # the second peer stops, saying why; the relay logged its refusal.
    second = Js(lab, "js2", 202, "--listen", circuit, ready=False)
    wait_until(lambda: second.proc.poll() is not None, 30, "the second js peer to give up")
    assert "RESERVATION_REFUSED" in second.output(), second.output()
    wait_until(lambda: "reservation of" in relay.log() and "refused: at the limit" in
               relay.log(), 10, "the relay to log its refusal")
    assert field(relay.status(), "libp2pRelayReservations", "libp2p_relay_reservations") == 1
    # The first reservation still carries a circuit.
    dialer = Js(lab, "jsa", 203, "--dial", f"{circuit}/p2p/{first.id}", "--pings", "1")
    assert dialer.wait("ping", timeout=60)[0]["relayed"]


def test_dcutr_punches_through_two_nats(tmp_path):
    """Two sites behind routers that masquerade (keeping ports) and drop
    unsolicited inbound traffic; a webmeshd relay on the public side. Site a
    reaches b through the relay; b starts DCUtR, both connect at once from
    their listen ports, and the direct connection replaces the relayed one."""
    from test_nat import PUBLIC_IP, NatLab

    lab = NatLab(nat_a="cone", nat_b="cone-snat")
    try:
        def start(name, ns, *args):
            state = lab.dir / name
            state.mkdir(mode=0o700)
            lab.spawn(name, ns, [wmtest.WEBMESHD, "--bootstrap", "--node-id", name,
                                 "--state-dir", state, "--socket", state / "webmesh.sock",
                                 "--log-level", "debug", *args])

        def status(name):
            if lab.procs[name].poll() is not None:
                raise wmtest.StopWaiting(f"{name} exited:\n" + lab.log(name))
            p = wmtest.run([wmtest.WMCTL, "--socket", lab.dir / name / "webmesh.sock",
                            "status", "-o", "json"], check=False)
            return json.loads(p.stdout) if p.returncode == 0 else {}

        def peer_id(name):
            return wait_until(lambda: field(status(name), "libp2pPeerId", "libp2p_peer_id"),
                              30, f"{name}'s libp2p peer ID")

        start("relay", lab.ns("public"), "--libp2p-listen", f"/ip4/{PUBLIC_IP}/tcp/{PORT}",
              "--libp2p-relay")
        rid = peer_id("relay")
        via = f"/ip4/{PUBLIC_IP}/tcp/{PORT}/p2p/{rid}"
        listen_any = f"/ip4/0.0.0.0/tcp/{PORT}"
        start("site-b", lab.ns("site-b"), "--libp2p-listen", listen_any, "--libp2p-peers", via)
        bid = peer_id("site-b")
        wait_until(lambda: field(status("site-b"), "libp2pReservations",
                                 "libp2p_reservations"), 30, "b's reservation")
        start("site-a", lab.ns("site-a"), "--libp2p-listen", listen_any, "--libp2p-ping-interval",
              "1", "--libp2p-peers", f"{via},{via}/p2p-circuit/p2p/{bid}")
        aid = peer_id("site-a")

        def direct(name, other):
            for c in conns(status(name)):
                if field(c, "peerId", "peer_id") == other and not c.get("relayed") and \
                        field(c, "holePunched", "hole_punched"):
                    return c
        c = wait_until(lambda: direct("site-a", bid), 60, "a hole-punched connection a->b")
        # Through b's router: its public address, b's listen port kept.
        assert c["address"] == f"/ip4/203.0.113.2/tcp/{PORT}", c
        assert wait_until(lambda: direct("site-b", aid), 20, "b's side of it")
        # The relayed connection is gone from both; pings go direct.
        wait_until(lambda: not any(x.get("relayed") for x in conns(status("site-a"))), 20,
                   "the relayed connection to close")
        wait_until(lambda: int(field(direct("site-a", bid) or {}, "pingRttUs", "ping_rtt_us",
                                     -1)) > 0, 20, "a ping over the direct connection")
        assert "hole punched" in wmtest.run(
            [wmtest.WMCTL, "--socket", lab.dir / "site-a" / "webmesh.sock", "status"]).stdout
    finally:
        lab.close_reporting()


# Addresses js-libp2p's DCUtR takes for public (it dials no reserved range,
# 203.0.113.0/24 included); they exist only inside this test's namespaces.
DC_NET = "192.0.3"


def test_dcutr_with_js_libp2p(tmp_path):
    """js-libp2p (public, with @libp2p/dcutr) holds a reservation on our
    relay; webmeshd behind a router that masquerades dials it through the
    relay. js-libp2p starts DCUtR over that relayed connection; webmeshd
    answers with the address the relay saw (its listen port kept by the NAT)
    and, on SYNC, connects directly: the relayed connection is replaced."""
    from nslab import NsLab, router_rules

    lab = NsLab("dcutr")
    js = None
    try:
        pub = lab.ns_add("public")
        run = wmtest.run
        run(["ip", "-n", pub, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", pub, "addr", "add", f"{DC_NET}.10/24", "dev", "br0"])
        run(["ip", "-n", pub, "link", "set", "br0", "up"])

        def attach(name, ip, peer_if="eth0"):
            ns = lab.ns_add(name)
            run(["ip", "-n", pub, "link", "add", f"v-{name}"[:15], "type", "veth", "peer",
                 "name", peer_if, "netns", ns])
            run(["ip", "-n", pub, "link", "set", f"v-{name}"[:15], "master", "br0", "up"])
            run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", peer_if])
            run(["ip", "-n", ns, "link", "set", peer_if, "up"])
            return ns
        jsns = attach("js", f"{DC_NET}.20")
        router = attach("router", f"{DC_NET}.2", "wan0")
        site = lab.ns_add("site")
        run(["ip", "-n", router, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0",
             "netns", site])
        run(["ip", "-n", router, "addr", "add", "10.1.0.1/24", "dev", "lan0"])
        run(["ip", "-n", router, "link", "set", "lan0", "up"])
        run(["ip", "-n", site, "addr", "add", "10.1.0.2/24", "dev", "eth0"])
        run(["ip", "-n", site, "link", "set", "eth0", "up"])
        run(["ip", "-n", site, "route", "add", "default", "via", "10.1.0.1"])
        run(["ip", "netns", "exec", router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        run(["ip", "netns", "exec", router, "nft", "-f", "-"],
            input=router_rules('oifname "wan0" masquerade'))

        def start(name, ns, *args):
            state = lab.dir / name
            state.mkdir(mode=0o700)
            lab.spawn(name, ns, [wmtest.WEBMESHD, "--bootstrap", "--node-id", name,
                                 "--state-dir", state, "--socket", state / "webmesh.sock",
                                 "--log-level", "debug", *args])

        def status(name):
            if lab.procs[name].poll() is not None:
                raise wmtest.StopWaiting(f"{name} exited:\n" + lab.log(name))
            p = run([wmtest.WMCTL, "--socket", lab.dir / name / "webmesh.sock", "status", "-o",
                     "json"], check=False)
            return json.loads(p.stdout) if p.returncode == 0 else {}

        start("relay", pub, "--libp2p-listen", f"/ip4/{DC_NET}.10/tcp/{PORT}", "--libp2p-relay")
        rid = wait_until(lambda: field(status("relay"), "libp2pPeerId", "libp2p_peer_id"), 30,
                         "the relay's peer ID")
        via = f"/ip4/{DC_NET}.10/tcp/{PORT}/p2p/{rid}"

        class Topo:  # what Js needs of a topology, in this lab
            subnet = None
            js_peers = []

            def add_client(self, name, index):
                return jsns
        topo = Topo()
        js = Js.__new__(Js)
        js.ns, js.ip, js.events = jsns, f"{DC_NET}.20", []
        js.lock = threading.Lock()
        js.proc = subprocess.Popen(
            # js-libp2p offers in DCUtR only addresses it holds for
            # confirmed (AutoNAT, not run here) or announced: announced.
            ["ip", "netns", "exec", jsns, "node", str(P2P_DIR / "relay.mjs"), "--dcutr",
             "--listen", f"/ip4/{js.ip}/tcp/{JS_PORT}", "--listen", f"{via}/p2p-circuit",
             "--announce", f"/ip4/{js.ip}/tcp/{JS_PORT}"],
            cwd=P2P_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=js._read, daemon=True).start()
        js.id = js.wait("ready")[0]["peer_id"]
        js.wait("addrs", lambda e: any("/p2p-circuit" in a for a in e["addrs"]))
        del topo

        start("site", site, "--libp2p-listen", f"/ip4/0.0.0.0/tcp/{PORT}",
              "--libp2p-ping-interval", "1", "--libp2p-peers", f"{via},{via}/p2p-circuit/p2p/{js.id}")

        def punched():
            for c in conns(status("site")):
                if field(c, "peerId", "peer_id") == js.id and \
                        field(c, "holePunched", "hole_punched"):
                    return c
        c = wait_until(punched, 30, "a hole-punched connection to js-libp2p")
        assert c["address"] == f"/ip4/{js.ip}/tcp/{JS_PORT}", c
        # js-libp2p saw it come from the router's address, our listen port kept.
        js.wait("conn", lambda e: e["addr"].startswith(f"/ip4/{DC_NET}.2/tcp/{PORT}"))
        wait_until(lambda: not any(x.get("relayed") for x in conns(status("site"))), 30,
                   "the relayed connection to close")
    except BaseException:
        if js:
            print("js-libp2p events:", js.events[-60:])
        raise
    finally:
        if js:
            js.stop()
        lab.close_reporting()


def test_bad_circuit_addresses_are_refused(lab):
    """A circuit address in libp2p-peers must name its relay by ID and end in
    its target's ID; a wrong one stops the daemon before it starts, saying so."""
    ns = lab.add_client("flags")
    rid = "12D3KooWJ1TsijH7H5F74hfAD5XishQz3sxrmAtVY37GtNd9CqYf"
    for value, says in [
            (f"/ip4/10.0.0.1/tcp/4001/p2p-circuit/p2p/{rid}", "relay part"),
            (f"/ip4/10.0.0.1/tcp/4001/p2p/{rid}/p2p-circuit", "ends in /p2p-circuit/p2p/ID"),
            (f"/ip4/10.0.0.1/tcp/4001/p2p/{rid}/p2p-circuit/p2p/{rid}", "its own target")]:
        r = wmtest.run(["ip", "netns", "exec", ns, str(wmtest.WEBMESHD), "--state-dir",
                        str(lab.dir / "flags"), "--libp2p-peers", value], check=False)
        assert r.returncode != 0
        out = r.stdout + r.stderr
        assert "libp2p-peers" in out and says in out, out
