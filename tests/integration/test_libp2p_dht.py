"""Kademlia interop (issue 11): our DHT (src/p2p/dht.c, driven by the
p2p_dht_tool test binary on the real libp2p host) against js-libp2p's
@libp2p/kad-dht 16.4.5 as a DHT server (tests/p2p/dht.mjs, clientMode false,
/ipfs/kad/1.0.0). The js node dials ours; each announces a key and finds the
other's provider record. Both processes listen on loopback only, on ports
the kernel picks. Then webmeshd itself: js finds a server's rendezvous
record, in the test's namespaces.
"""
import hashlib
import json
import subprocess
import tempfile
import threading

import pytest

import wmtest
from wmtest import BUILD_DIR, ROOT, run, scaled, wait_until

P2P_DIR = ROOT / "tests" / "p2p"
TOOL = BUILD_DIR / "tests" / "unit" / "p2p_dht_tool"
# Two sha2-256 multihashes: ours announces KEY_C, the js node KEY_JS.
KEY_C = "1220" + "c0" * 32
KEY_JS = "1220" + "15" * 32


@pytest.fixture(scope="module", autouse=True)
def js_libp2p():
    run(["make", "-C", str(ROOT), "p2p-deps"], timeout=600)


class Proc:
    """A process printing JSON lines, collected by a thread."""

    def __init__(self, name, cmd, cwd=None):
        self.name = name
        self.events = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
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

    def wait(self, kind, pred=lambda e: True, timeout=30):
        def found():
            got = self.find(kind, pred)
            if got:
                return got[0]
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.events}")
            return None
        try:
            return wait_until(found, scaled(timeout), f"{self.name} event {kind}")
        except AssertionError:
            print(f"{self.name} events:", self.events)
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
def procs():
    started = []
    with tempfile.TemporaryDirectory(prefix="wm-dht-") as tmp:
        try:
            yield started, tmp
        finally:
            for p in started:
                p.stop()


def test_js_dht_and_ours_find_each_others_provider_records(procs):
    started, tmp = procs
    ours = Proc("p2p_dht_tool", [str(TOOL), "--key", f"{tmp}/c.key",
                                 "--listen", "/ip4/127.0.0.1/tcp/0",
                                 "--provide", KEY_C, "--find", KEY_JS,
                                 "--seconds", str(int(scaled(90)))])
    started.append(ours)
    ready = ours.wait("ready")
    our_addr = f"{ready['addrs'][0]}/p2p/{ready['peer_id']}"

    js = Proc("js kad-dht", ["node", str(P2P_DIR / "dht.mjs"),
                             "--listen", "/ip4/127.0.0.1/tcp/0", "--dial", our_addr,
                             "--provide", KEY_JS, "--find", KEY_C,
                             "--seconds", str(int(scaled(80)))], cwd=P2P_DIR)
    started.append(js)
    js_ready = js.wait("ready")
    # js-libp2p put us in its routing table (identify showed /ipfs/kad/1.0.0)
    # and announced its key through us.
    assert js.wait("table")["size"] >= 1
    js.wait("provided", lambda e: e["key"] == KEY_JS, timeout=40)

    # The js node finds our record, with an address it can dial.
    got = js.wait("provider", lambda e: e["key"] == KEY_C, timeout=40)
    assert got["peer_id"] == ready["peer_id"]
    assert any("/tcp/" in a for a in got["addrs"])

    # We find the js node's record.
    got = ours.wait("provider", lambda e: e["key"] == KEY_JS, timeout=40)
    assert got["peer_id"] == js_ready["peer_id"]
    assert "/ip4/127.0.0.1/tcp/" in got["addr"]
    assert not js.find("error"), js.events


def test_js_dht_finds_webmeshd_rendezvous_record():
    """webmeshd itself in the DHT: a server with --announce-rendezvous, a
    js-libp2p DHT node in another namespace dialing it; js finds the server
    as the provider of the rendezvous key (the sha2-256 multihash of the
    domain-separated secret, as docs/ARCHITECTURE.md says)."""
    secret = "a secret only the mesh knows"
    key = "1220" + hashlib.sha256(b"webmesh rendezvous dht v1\x00" +
                                  secret.encode()).hexdigest()
    with wmtest.topology() as topo:
        server = topo.bootstrap("a", "--libp2p-listen", "/ip4/0.0.0.0/tcp/4001",
                                "--announce-rendezvous", secret)
        st = server.status()
        peer_id = st.get("libp2p_peer_id")
        ns = topo.add_client("js")
        js = Proc("js kad-dht", ["ip", "netns", "exec", ns, "node", str(P2P_DIR / "dht.mjs"),
                                 "--listen", f"/ip4/10.250.{topo.subnet}.200/tcp/4002",
                                 "--dial", f"/ip4/{server.underlay}/tcp/4001/p2p/{peer_id}",
                                 "--find", key, "--seconds", str(int(scaled(60)))],
                  cwd=P2P_DIR)
        try:
            got = js.wait("provider", lambda e: e["key"] == key, timeout=40)
            assert got["peer_id"] == peer_id
            assert any(f"/ip4/{server.underlay}/tcp/4001" in a for a in got["addrs"]), got
            # The server counts js in its routing table.
            wait_until(lambda: server.status().get("libp2p_dht_peers", 0) >= 1, scaled(10),
                       "the server's DHT to hold the js node")
        finally:
            js.stop()
