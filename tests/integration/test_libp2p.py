"""libp2p interop (issue 11): webmeshd's own libp2p (TCP, multistream-select,
Noise XX, yamux, identify, ping) against js-libp2p from npm, the independent
peer (tests/p2p/peer.mjs, versions pinned by tests/p2p/package-lock.json and
installed by `make p2p-deps`). The js peer runs in a client namespace on the
test topology's bridge; nothing leaves the namespaces the test made.
"""
import json
import subprocess
import threading

import pytest

import wmtest
from wmtest import ROOT, run, scaled, wait_until

P2P_DIR = ROOT / "tests" / "p2p"
LIBP2P_PORT = 4001
JS_PORT = 4002
# A valid Ed25519 peer ID that no process here holds (the key of seed 01..20).
STRANGER = "12D3KooWJ1TsijH7H5F74hfAD5XishQz3sxrmAtVY37GtNd9CqYf"


@pytest.fixture(scope="module", autouse=True)
def js_libp2p():
    run(["make", "-C", str(ROOT), "p2p-deps"], timeout=600)


class JsPeer:
    """js-libp2p in a namespace; its JSON lines collected by a thread."""

    def __init__(self, ns, *args):
        self.events = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "node", str(P2P_DIR / "peer.mjs"), *args],
            cwd=P2P_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

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
            if self.proc.poll() is not None:
                raise AssertionError(f"js-libp2p exited: {self.events}")
            got = self.find(kind, pred)
            return got if len(got) >= count else None
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
    peers = []
    with wmtest.topology() as topo:
        topo.js_peers = peers
        try:
            yield topo
        finally:
            for p in peers:
                p.stop()


def start_js(topo, *args):
    ns = topo.add_client("js")
    peer = JsPeer(ns, "--listen", f"/ip4/{js_ip(topo)}/tcp/{JS_PORT}", *args)
    topo.js_peers.append(peer)
    return peer


def js_ip(topo):
    return f"10.250.{topo.subnet}.200"


def node_ip(topo, index=1):
    return f"10.250.{topo.subnet}.{index}"


def libp2p_status(node):
    st = node.status()
    return st.get("libp2pPeerId") or st.get("libp2p_peer_id"), st


def conns(st):
    return st.get("libp2pConnections") or st.get("libp2p_connections") or []


def field(d, camel, snake):
    return d.get(camel, d.get(snake))


def test_js_dials_pings_and_identifies_webmeshd(lab):
    ip = node_ip(lab)
    node = lab.bootstrap("a", "--libp2p-listen", f"/ip4/{ip}/tcp/{LIBP2P_PORT}")
    peer_id, st = libp2p_status(node)
    assert peer_id and peer_id.startswith("12D3KooW")
    assert field(st, "libp2pListenAddrs", "libp2p_listen_addrs") == [
        f"/ip4/{ip}/tcp/{LIBP2P_PORT}"]
    # The identity key is kept, owner-only.
    key = node.state_dir / "libp2p.key"
    assert key.stat().st_mode & 0o777 == 0o600

    js = start_js(lab, "--dial", f"/ip4/{ip}/tcp/{LIBP2P_PORT}/p2p/{peer_id}",
                  "--pings", "5")
    js_id = js.wait("ready")[0]["peer_id"]
    pings = js.wait("ping", count=5)
    assert all(p["rtt_ms"] >= 0 for p in pings)
    assert not js.find("error")
    # js-libp2p identified us: our peer ID, protocols and listen address.
    ident = js.wait("identify", lambda e: e["peer_id"] == peer_id)[0]
    assert {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"} <= set(ident["protocols"])
    assert f"/ip4/{ip}/tcp/{LIBP2P_PORT}" in ident["listen_addrs"]
    assert ident["agent"].startswith("webmesh/")
    assert ident["observed_addr"].startswith(f"/ip4/{js_ip(lab)}/tcp/")

    # ... and we identified it.
    def identified():
        for c in conns(node.status()):
            if field(c, "peerId", "peer_id") == js_id and field(c, "agentVersion",
                                                                 "agent_version"):
                return c
    c = wait_until(identified, 30, "webmeshd to identify the js peer")
    assert not c.get("outbound", False)
    assert "js-libp2p" in field(c, "agentVersion", "agent_version")
    assert "/ipfs/ping/1.0.0" in c["protocols"]
    assert f"/ip4/{js_ip(lab)}/tcp/{JS_PORT}" in field(c, "listenAddrs", "listen_addrs")
    # The table says the same to a person.
    text = node.wmctl("status").stdout
    assert f"libp2p:     {peer_id}" in text
    assert f"listening on /ip4/{ip}/tcp/{LIBP2P_PORT}" in text
    assert js_id in text
    print(f"js-libp2p -> webmeshd ping RTT (ms): {[p['rtt_ms'] for p in pings]}")


def test_wildcard_listener_offers_no_loopback(lab):
    """Listening on 0.0.0.0, the node offers peers (identify) its interfaces'
    addresses, never 127.0.0.1 (it leads a peer back to itself) nor its mesh
    address (a connection there would run inside WireGuard)."""
    ip = node_ip(lab)
    node = lab.bootstrap("a", "--libp2p-listen", f"/ip4/0.0.0.0/tcp/{LIBP2P_PORT}")
    peer_id, _ = libp2p_status(node)
    js = start_js(lab, "--dial", f"/ip4/{ip}/tcp/{LIBP2P_PORT}/p2p/{peer_id}", "--pings", "1")
    ident = js.wait("identify", lambda e: e["peer_id"] == peer_id)[0]
    assert f"/ip4/{ip}/tcp/{LIBP2P_PORT}" in ident["listen_addrs"], ident
    assert not any(a.startswith("/ip4/127.") for a in ident["listen_addrs"]), ident
    mesh_ip = node.status()["address_ipv4"].split("/")[0]
    assert not any(f"/ip4/{mesh_ip}/" in a for a in ident["listen_addrs"]), ident


def test_bad_libp2p_flags_are_refused(lab):
    """A wrong multiaddr stops the daemon before it starts, naming it."""
    ns = lab.add_client("flags")
    for flag, value, says in [
            ("--libp2p-listen", "/ip4/10.0.0.1/udp/4001", "tcp"),
            ("--libp2p-listen", "/ip4/10.0.0.1/tcp/4001/p2p/" + STRANGER, "/p2p"),
            ("--libp2p-peers", "/ip4/10.0.0.300/tcp/4001", "10.0.0.300"),
            ("--libp2p-peers", "/ip4/10.0.0.1/tcp/4001/p2p/QmNotAKey", "QmNotAKey")]:
        r = run(["ip", "netns", "exec", ns, str(wmtest.WEBMESHD), "--state-dir",
                 str(lab.dir / "flags"), flag, value], check=False)
        assert r.returncode != 0
        out = r.stdout + r.stderr
        assert flag.lstrip("-") in out and says in out, out


def test_configured_handshake_timeout_is_in_force(lab):
    """libp2p-handshake-timeout reaches the host: a TCP peer that connects
    and never starts Noise is dropped after the configured 2 s, long before
    the default 20 s."""
    ip = node_ip(lab)
    lab.bootstrap("a", "--libp2p-listen", f"/ip4/{ip}/tcp/{LIBP2P_PORT}",
                  "--libp2p-handshake-timeout", "2")
    ns = lab.add_client("silent")
    # Connects, reads until the daemon closes (bounded by the socket's
    # timeout), prints how long that took.
    probe = (
        "import socket, sys, time\n"
        f"s = socket.create_connection(('{ip}', {LIBP2P_PORT}), timeout=5)\n"
        f"s.settimeout({scaled(15)})\n"
        "t = time.monotonic()\n"
        "try:\n"
        "    for _ in range(64):\n"
        "        if not s.recv(4096):\n"
        "            break\n"
        "except (socket.timeout, ConnectionResetError):\n"
        "    pass\n"
        "print(time.monotonic() - t)\n")
    r = run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", probe],
            timeout=scaled(15) + 30)
    waited = float(r.stdout.strip())
    assert 1.5 <= waited <= 2 + scaled(3), f"closed after {waited:.1f} s"


def test_webmeshd_dials_pings_and_identifies_js(lab):
    js = start_js(lab)
    js_id = js.wait("ready")[0]["peer_id"]
    # Without /p2p: the ID is learnt in the Noise handshake. With a wrong
    # /p2p: the handshake proves another key, and the connection is refused.
    node = lab.bootstrap(
        "a", "--libp2p-ping-interval", "1", "--libp2p-peers",
        f"/ip4/{js_ip(lab)}/tcp/{JS_PORT},/ip4/{js_ip(lab)}/tcp/{JS_PORT}/p2p/{STRANGER}")
    peer_id, _ = libp2p_status(node)

    def pinged():
        for c in conns(node.status()):
            if field(c, "peerId", "peer_id") == js_id and \
                    int(field(c, "pingRttUs", "ping_rtt_us") or -1) > 0 and \
                    field(c, "agentVersion", "agent_version"):
                return c
    c = wait_until(pinged, 30, "webmeshd to ping and identify the js peer")
    assert c["outbound"]
    assert "js-libp2p" in field(c, "agentVersion", "agent_version")
    assert {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"} <= set(c["protocols"])
    assert f"/ip4/{js_ip(lab)}/tcp/{JS_PORT}" in field(c, "listenAddrs", "listen_addrs")
    ident = js.wait("identify", lambda e: e["peer_id"] == peer_id)[0]
    assert "/ipfs/ping/1.0.0" in ident["protocols"]
    # The dial that named a stranger's ID was refused, and is not kept.
    wait_until(lambda: "identity was refused" in node.log(), 30,
               "the refusal of a peer that is not the /p2p ID")
    assert [field(c, "peerId", "peer_id") for c in conns(node.status())] == [js_id]
    print(f"webmeshd -> js-libp2p ping RTT (us): {field(c, 'pingRttUs', 'ping_rtt_us')}")
