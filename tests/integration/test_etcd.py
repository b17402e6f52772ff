"""etcd as the mesh store (issue 12, item 3): the etcd client and store of
src/etcd against Debian's etcd-server, through tests/unit/etcd_tool (and
tests/unit/etcd_conform, which runs the same commands through the Raft
store's FSM).

Each etcd member runs in a namespace of its own on the test's bridge; the
tool and etcdctl run in a client namespace. The store's promises checked
here: bootstrap creates the mesh or finds it, joins take unique addresses in
one transaction each, rejoins keep the lease, a different key is refused,
leaves release, the change feed reports every change once and in order, and
with one member of three SIGKILLed during 30 concurrent joins every join
answered OK is in etcd and no address is given twice.
"""

import json
import re
import shutil
import signal
import subprocess
import time

import pytest

import wmtest
from wmtest import BUILD_DIR, scaled, wait_until

ETCD = shutil.which("etcd")
ETCDCTL = shutil.which("etcdctl")
TOOL = BUILD_DIR / "tests" / "unit" / "etcd_tool"
CONFORM = BUILD_DIR / "tests" / "unit" / "etcd_conform"
STORE_CONFORM = BUILD_DIR / "tests" / "unit" / "store_conform"
MESH = "testmesh"
KEY_A = "YNv0dxJDr9kH0OQOqWNaoajIVsR8fTBEbz1tWg8G2ng="
KEY_B = "HrEkipF9rj3bi574T/xDAZkA5YvcpLKmJ9nfBFWumTM="


@pytest.fixture(autouse=True)
def _need_etcd():
    if not ETCD or not ETCDCTL:
        pytest.fail("etcd and etcdctl are missing: make deps installs etcd-server "
                    "and etcd-client")
    for b in (TOOL, CONFORM, STORE_CONFORM):
        if not b.exists():
            pytest.fail(f"{b} is not built (make build)")


class Etcd:
    """n etcd members, one per namespace, and a client namespace."""

    def __init__(self, topo, n, tls=None):
        self.topo = topo
        self.members = [topo.add_node(f"etcd{i}") for i in range(n)]
        self.client = topo.add_node("client")
        self.procs = {}
        self.argv = {}
        self.tls = tls
        scheme = "https" if tls else "http"
        cluster = ",".join(f"{m.name}=http://{m.underlay}:2380" for m in self.members)
        for m in self.members:
            log = open(m.log_path, "w")
            extra = tls(m) if tls else []
            self.argv[m.name] = (
                ["ip", "netns", "exec", m.ns, ETCD, "--name", m.name, *extra,
                 "--data-dir", str(m.state_dir / "etcd"),
                 "--listen-client-urls", f"{scheme}://{m.underlay}:2379",
                 "--advertise-client-urls", f"{scheme}://{m.underlay}:2379",
                 "--listen-peer-urls", f"http://{m.underlay}:2380",
                 "--initial-advertise-peer-urls", f"http://{m.underlay}:2380",
                 "--initial-cluster", cluster, "--initial-cluster-state", "new",
                 "--initial-cluster-token", topo.prefix,
                 "--heartbeat-interval", "100", "--election-timeout", "1000"])
            self.procs[m.name] = subprocess.Popen(self.argv[m.name], stdout=log,
                                                  stderr=subprocess.STDOUT, env=wmtest.ENV)
            log.close()
        self.endpoints = ",".join(f"{scheme}://{m.underlay}:2379" for m in self.members)
        self.ctl_tls = []
        if tls:
            d = topo.dir
            self.ctl_tls = [f"--cacert={d / 'ca.pem'}", f"--cert={d / 'client.pem'}",
                            f"--key={d / 'client.key'}"]
        wait_until(lambda: self.ctl("endpoint", "health", check=False).returncode == 0,
                   60, "the etcd cluster is healthy")

    def ctl(self, *args, endpoints=None, check=True):
        return self.client.netns_exec(
            ETCDCTL, "--endpoints", endpoints or self.endpoints, "--command-timeout=5s",
            *self.ctl_tls, *args, check=check)

    def tool(self, *args, endpoints=None, check=True, timeout=60, env=()):
        return self.client.netns_exec(
            "env", *env, str(TOOL), endpoints or self.endpoints, MESH, *args, check=check,
            timeout=timeout)

    def tool_bg(self, *args, out):
        return subprocess.Popen(
            ["ip", "netns", "exec", self.client.ns, str(TOOL), self.endpoints, MESH,
             *args], stdout=out, stderr=subprocess.STDOUT, text=True, env=wmtest.ENV)

    def keys(self, sub, endpoints=None):
        """key -> value under /webmesh/MESH/sub (lease keys: text values)."""
        out = self.ctl("get", "--prefix", f"/webmesh/{MESH}/{sub}",
                       endpoints=endpoints).stdout.splitlines()
        return dict(zip(out[0::2], out[1::2]))

    def key_names(self, sub, endpoints=None):
        """The keys under /webmesh/MESH/sub (node values are protobuf)."""
        out = self.ctl("get", "--prefix", "--keys-only", f"/webmesh/{MESH}/{sub}",
                       endpoints=endpoints).stdout.splitlines()
        return {k for k in out if k}

    def kill(self, name):
        p = self.procs[name]
        p.send_signal(signal.SIGKILL)
        p.wait(10)

    def restart(self, name):
        """Starts a killed member again on its data directory."""
        m = next(m for m in self.members if m.name == name)
        with open(m.log_path, "a") as log:
            self.procs[name] = subprocess.Popen(self.argv[name], stdout=log,
                                                stderr=subprocess.STDOUT, env=wmtest.ENV)

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)


@pytest.fixture
def etcd1():
    with wmtest.topology() as t:
        e = Etcd(t, 1)
        try:
            yield e
        finally:
            e.close()


@pytest.fixture
def etcd3():
    with wmtest.topology() as t:
        e = Etcd(t, 3)
        try:
            yield e
        finally:
            e.close()


def parse(lines, tag):
    """{id: (ipv4, ipv6, key)} of the tool's "TAG ID V4 V6 KEY" lines."""
    out = {}
    for line in lines.splitlines():
        f = line.split()
        if len(f) == 5 and f[0] == tag:
            assert f[1] not in out, f"{f[1]} reported twice"
            out[f[1]] = (f[2], f[3], f[4])
    return out


def test_etcd_single_member_mesh(etcd1):
    e = etcd1
    assert "ok mesh" in e.tool("bootstrap", "10.42.0.0/24", "fd42:1:2::/48",
                               "mesh.internal").stdout
    # A second bootstrap finds the mesh and changes nothing (resume).
    r = e.tool("bootstrap", "10.43.0.0/24", "fd43:1:2::/48", "other.internal", check=False)
    assert r.returncode == 1 and "already bootstrapped" in r.stdout

    with open(e.topo.dir / "watch.out", "w") as out:
        watch = e.tool_bg("watch", "6", "40", out=out)
        try:
            wait_until(lambda: "watching" in (e.topo.dir / "watch.out").read_text(), 20,
                       "the watch is open")
            a = parse(e.tool("join", "node-a", KEY_A).stdout, "ok")
            b = parse(e.tool("join", "node-b", KEY_B, "10.42.0.77").stdout, "ok")
            assert a["node-a"][0] == "10.42.0.1"
            assert b["node-b"][0] == "10.42.0.77"  # a free requested address is honoured
            # The same node again keeps its lease; another key under its ID is refused.
            again = parse(e.tool("join", "node-a", KEY_A).stdout, "ok")
            assert again["node-a"][0] == "10.42.0.1"
            r = e.tool("join", "node-a", KEY_B, check=False)
            assert r.returncode == 1 and "another public key" in r.stdout
            # B's key under a new ID (its derived IPv6 prefix is B's): said as
            # the Raft store says it.
            r = e.tool("join", "node-c", KEY_B, check=False)
            assert r.returncode == 1 and "already registered to node node-b" in r.stdout
            r = e.tool("join", "Bad_ID", KEY_B, check=False)
            assert r.returncode == 1 and "invalid node ID" in r.stdout
            assert "ok node-b" in e.tool("leave", "node-b").stdout
            # A denied node is refused until it is allowed again.
            assert "ok node-b" in e.tool("deny", "node-b").stdout
            r = e.tool("join", "node-b", KEY_B, check=False)
            assert r.returncode == 1 and "wmctl allow node node-b" in r.stdout
            assert "ok node-b" in e.tool("allow", "node-b").stdout
            watch.wait(scaled(30))
        finally:
            if watch.poll() is None:
                watch.kill()
                watch.wait(10)
    changes = [line.split() for line in (e.topo.dir / "watch.out").read_text().splitlines()
               if line.startswith("change ")]
    assert [(c[2], c[3]) for c in changes] == [
        ("join", "node-a"), ("join", "node-b"), ("join", "node-a"), ("remove", "node-b"),
        ("deny", "node-b"), ("allow", "node-b")]
    revs = [int(c[1]) for c in changes]
    assert revs == sorted(revs) and len(set(revs)) == len(revs)

    # The state as etcdctl sees it: one node key per node, its leases naming it.
    nodes = e.key_names("nodes/")
    assert sorted(k.rsplit("/", 1)[1] for k in nodes) == ["node-a"]
    assert e.keys("leases/v4/") == {f"/webmesh/{MESH}/leases/v4/0a2a0001": "node-a"}
    assert list(e.keys("leases/v6/").values()) == ["node-a"]
    listed = parse(e.tool("list").stdout, "node")
    assert listed == {"node-a": a["node-a"]}
    # The released address is the next one given.
    c = parse(e.tool("join", "node-c", "REH4xa48P0TtZCAHx1BwNslelGxusv41sCKkGacB5PQ=",
                     "10.42.0.77").stdout, "ok")
    assert c["node-c"][0] == "10.42.0.77"


def test_etcd_cluster_member_killed_during_joins(etcd3):
    e = etcd3
    members = sorted(line.split()[1:] for line in e.tool("members").stdout.splitlines()
                     if line.startswith("member "))
    assert members == [[m.name, f"http://{m.underlay}:2379"] for m in e.members]
    e.tool("bootstrap", "10.44.0.0/24", "fd44:1:2::/48", "mesh.internal")
    d = e.topo.dir
    with open(d / "watch.out", "w") as wout, open(d / "joins.out", "w") as jout:
        # The watch and the joins talk to etcd0 first (the first endpoint):
        # killing it makes both fail over, and the watch resume.
        watch = e.tool_bg("watch", "30", "120", out=wout)
        joins = None
        try:
            wait_until(lambda: "watching" in (d / "watch.out").read_text(), 20,
                       "the watch is open")
            joins = e.tool_bg("joins", "30", "n", "150", out=jout)
            wait_until(lambda: (d / "joins.out").read_text().count("ok ") >= 5, 30,
                       "the first joins are answered")
            e.kill("etcd0")
            joins.wait(scaled(90))
            watch.wait(scaled(90))
        finally:
            for p in (watch, joins):
                if p and p.poll() is None:
                    p.kill()
                    p.wait(10)
    out = (d / "joins.out").read_text()
    ok = parse(out, "ok")
    print(f"joins: {len(ok)} ok; others:", [x for x in out.splitlines() if x[:3] != "ok "])
    print("watch:", (d / "watch.out").read_text().splitlines()[-2:])
    assert len(ok) >= 25, out  # a handful may give up while the cluster elects
    alive = ",".join(f"http://{m.underlay}:2379" for m in e.members[1:])
    nodes = e.key_names("nodes/", endpoints=alive)
    leases = e.keys("leases/v4/", endpoints=alive)
    # Every join answered OK is in etcd, with the address it was told.
    for node_id, (v4, _, _) in ok.items():
        assert f"/webmesh/{MESH}/nodes/{node_id}" in nodes
        a = [int(x) for x in v4.split(".")]
        name = "%02x%02x%02x%02x" % tuple(a)
        assert leases.get(f"/webmesh/{MESH}/leases/v4/{name}") == node_id
    # No address twice: one lease key per node, each naming a different node.
    assert len(leases) == len(nodes)
    assert len(set(leases.values())) == len(leases)
    assert len({v4 for v4, _, _ in ok.values()}) == len(ok)
    # The change feed saw every join once, across the failover.
    seen = [line.split()[3] for line in (d / "watch.out").read_text().splitlines()
            if line.startswith("change ") and line.split()[2] == "join"]
    assert len(seen) == len(set(seen))
    assert set(ok) <= set(seen)
    # ... because it lost etcd0 and resumed on another member.
    restarts = [int(line.split()[1]) for line in (d / "watch.out").read_text().splitlines()
                if line.startswith("restarts ")]
    assert restarts and restarts[0] >= 1


def make_pki(d, server_ips):
    """A CA, a server certificate for the members' addresses and a client
    certificate, with the openssl command (independent of our TLS code)."""
    def ossl(*args):
        wmtest.run(["openssl", *args])
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", d / "ca.key", "-out", d / "ca.pem", "-days", "2", "-subj", "/CN=etcd-ca")
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", d / "other-ca.key", "-out", d / "other-ca.pem", "-days", "2",
         "-subj", "/CN=other-ca")
    for name, ext in (("server", "subjectAltName=" + ",".join(f"IP:{ip}" for ip in server_ips)
                       + "\nextendedKeyUsage=serverAuth,clientAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext.replace("\\n", "\n") + "\n")
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", d / f"{name}.key", "-out", d / f"{name}.csr", "-subj", f"/CN={name}")
        ossl("x509", "-req", "-in", d / f"{name}.csr", "-CA", d / "ca.pem", "-CAkey",
             d / "ca.key", "-CAcreateserial", "-out", d / f"{name}.pem", "-days", "2",
             "-extfile", d / f"{name}.ext")


def test_etcd_tls():
    with wmtest.topology() as t:
        ip = f"10.250.{t.subnet}.1"  # the first node added: etcd0
        make_pki(t.dir, [ip])
        d = t.dir
        e = Etcd(t, 1, tls=lambda m: [
            "--cert-file", str(d / "server.pem"), "--key-file", str(d / "server.key"),
            "--client-cert-auth", "--trusted-ca-file", str(d / "ca.pem")])
        try:
            good = (f"ETCD_CA={d / 'ca.pem'}", f"ETCD_CERT={d / 'client.pem'}",
                    f"ETCD_KEY={d / 'client.key'}")
            r = e.tool("bootstrap", "10.45.0.0/24", "fd45:1:2::/48", "mesh.internal", env=good)
            assert "ok mesh" in r.stdout
            assert "plain http" not in r.stdout + r.stderr
            assert "ok node-a 10.45.0.1" in e.tool("join", "node-a", KEY_A, env=good).stdout
            assert e.keys("leases/v4/") == {f"/webmesh/{MESH}/leases/v4/0a2d0001": "node-a"}
            # https:// without a CA to check the members against is refused at once.
            r = e.tool("list", check=False)
            assert r.returncode == 2 and "--etcd-ca-file" in r.stderr
            # A member whose certificate another CA signed is not talked to.
            bad_ca = (f"ETCD_CA={d / 'other-ca.pem'}", f"ETCD_CERT={d / 'client.pem'}",
                      f"ETCD_KEY={d / 'client.key'}")
            r = e.tool("list", env=bad_ca, check=False, timeout=60)
            assert r.returncode != 0 and "node node-a" not in r.stdout
            # Nor does etcd talk to us without our client certificate.
            r = e.tool("list", env=(f"ETCD_CA={d / 'ca.pem'}",), check=False, timeout=60)
            assert r.returncode != 0 and "node node-a" not in r.stdout
        finally:
            e.close()


def test_etcd_watch_reloads_after_compaction(etcd3):
    """The watch's member goes silent (SIGSTOP: no RST, only the keepalive
    notices) while joins happen and etcd compacts its history past them: the
    feed says "reload" at the compacted revision and goes on from there."""
    e = etcd3
    e.tool("bootstrap", "10.46.0.0/24", "fd46:1:2::/48", "mesh.internal")
    d = e.topo.dir
    others = ",".join(f"http://{m.underlay}:2379" for m in e.members[1:])
    stopped = False
    with open(d / "watch.out", "w") as wout:
        watch = e.tool_bg("watch", "2", "120", out=wout)  # on etcd0 first
        try:
            wait_until(lambda: "watching" in (d / "watch.out").read_text(), 20,
                       "the watch is open")
            e.procs["etcd0"].send_signal(signal.SIGSTOP)
            stopped = True
            e.tool("joins", "3", "c", endpoints=others)
            status = e.ctl("endpoint", "status", "-w", "json", endpoints=others).stdout
            rev = json.loads(status)[0]["Status"]["header"]["revision"]
            e.ctl("compact", str(rev), endpoints=others)
            wait_until(lambda: "reload" in (d / "watch.out").read_text(), 60,
                       "the watch reloads after the compaction")
            assert "ok c0" in e.tool("leave", "c0", endpoints=others).stdout
            watch.wait(scaled(60))
        finally:
            if stopped:
                e.procs["etcd0"].send_signal(signal.SIGCONT)
            if watch.poll() is None:
                watch.kill()
                watch.wait(10)
    changes = [line.split() for line in (d / "watch.out").read_text().splitlines()
               if line.startswith("change ")]
    # The three joins were compacted away: one reload at that revision
    # instead, then the leave, never an event twice.
    assert [c[2] for c in changes] == ["reload", "remove"], changes
    assert int(changes[0][1]) == rev and int(changes[1][1]) > rev


def test_etcd_servers_register_and_expire(etcd1):
    """Any process with access to etcd registers as a server, on a lease it
    renews: a live one stays past several TTLs, a SIGKILLed one goes within
    its TTL."""
    e = etcd1
    e.tool("bootstrap", "10.47.0.0/24", "fd47:1:2::/48", "mesh.internal")
    d = e.topo.dir
    ttl = 3
    with open(d / "s1.out", "w") as o1, open(d / "s2.out", "w") as o2:
        s1 = e.tool_bg("serve", "server-1", "10.250.0.1:8443", str(ttl), "40", out=o1)
        s2 = e.tool_bg("serve", "server-2", "10.250.0.2:8443", str(ttl), "40", out=o2)
        try:
            def servers():
                return {line.split()[1]: line.split()[2]
                        for line in e.tool("list").stdout.splitlines()
                        if line.startswith("server ")}
            wait_until(lambda: servers() == {"server-1": "10.250.0.1:8443",
                                             "server-2": "10.250.0.2:8443"},
                       20, "both servers are registered")
            s2.send_signal(signal.SIGKILL)
            s2.wait(10)
            wait_until(lambda: servers() == {"server-1": "10.250.0.1:8443"},
                       ttl + 10, "the killed server's lease expires")
            # server-1 renews: still there after three more TTLs.
            deadline = time.monotonic() + 3 * ttl
            while time.monotonic() < deadline:
                assert "server-1" in servers()
                time.sleep(0.5)
        finally:
            for p in (s1, s2):
                if p.poll() is None:
                    p.kill()
                    p.wait(10)


def test_etcd_commands_agree_across_members(etcd3):
    """Edges and routes through different etcd members: two processes put
    overlapping routes at once through different members and exactly one
    wins (the other is refused as the Raft store refuses an overlap); with a
    member SIGKILLed, edges still go in; stores reading through either
    surviving member, each rebuilt from etcd's records, dump the same
    state."""
    e = etcd3
    e.tool("bootstrap", "10.45.0.0/24", "fd45:1:2::/48", "mesh.internal")
    e.tool("joins", "6", "n")
    urls = [f"http://{m.underlay}:2379" for m in e.members]
    d = e.topo.dir
    procs = []
    try:
        for i, (node, prefix) in enumerate((("n0", "10.77.0.0/16"), ("n1", "10.77.1.0/24"))):
            order = ",".join(urls[i + 1:] + urls[:i + 1])
            out = open(d / f"routes{i}.out", "w")
            procs.append((subprocess.Popen(
                ["ip", "netns", "exec", e.client.ns, str(TOOL), order, MESH, "routes", node,
                 prefix], stdout=out, stderr=subprocess.STDOUT, text=True,
                env=wmtest.ENV), out))
        for p, out in procs:
            p.wait(scaled(60))
            out.close()
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    answers = [(d / f"routes{i}.out").read_text() for i in range(2)]
    oks = [a for a in answers if "\nok n" in "\n" + a]
    assert len(oks) == 1, answers
    assert sum("Permission denied" in a for a in answers) == 1, answers
    e.tool("edge", "n2", "n3", "4", endpoints=urls[1])
    e.kill("etcd0")
    alive = ",".join(urls[1:])
    e.tool("edge", "n4", "n5", "7", endpoints=alive)

    def state(endpoint):
        lines = e.tool("dump", endpoints=endpoint).stdout.splitlines()
        return [x for x in lines if not x.startswith("meta ")]
    one, two = state(urls[1]), state(urls[2])
    assert one == two
    assert "edge source=n2 target=n3 weight=4 attributes={}" in one
    assert "edge source=n4 target=n5 weight=7 attributes={}" in one
    assert len([x for x in one if x.startswith("route ")]) == 1


def etcd_leader(e, endpoints=None):
    """The client URL of the member that is the leader now, or None."""
    for st in json.loads(e.ctl("endpoint", "status", "-w", "json",
                               endpoints=endpoints).stdout):
        if st["Status"]["header"]["member_id"] == st["Status"].get("leader"):
            return st["Endpoint"]
    return None


def test_etcd_command_survives_leader_kill(etcd3):
    """The leader is SIGKILLed while joins go to it, one started every 100 ms:
    every join is still answered OK. The survivors elect a new leader (about
    1 s, more when votes split) and meanwhile answer "no leader", "leader
    changed", "raft proposal dropped" or "request timed out", some as UNKNOWN;
    the client retries those, with backoff, on the other members."""
    e = etcd3
    e.tool("bootstrap", "10.46.0.0/24", "fd46:1:2::/48", "mesh.internal")
    lead = wait_until(lambda: etcd_leader(e), 20, "the cluster has a leader")
    urls = [f"http://{m.underlay}:2379" for m in e.members]
    victim = e.members[urls.index(lead)].name
    others = [u for u in urls if u != lead]
    d = e.topo.dir
    n = 40
    with open(d / "joins.out", "w") as out:
        joins = subprocess.Popen(
            ["ip", "netns", "exec", e.client.ns, str(TOOL), ",".join([lead, *others]), MESH,
             "joins", str(n), "k", "100"],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=wmtest.ENV)
        try:
            wait_until(lambda: (d / "joins.out").read_text().count("ok ") >= 5, 30,
                       "the first joins are answered")
            e.kill(victim)
            answered_before = (d / "joins.out").read_text().count("ok ")
            joins.wait(scaled(90))
        finally:
            if joins.poll() is None:
                joins.kill()
                joins.wait(10)
    text = (d / "joins.out").read_text()
    ok = parse(text, "ok")
    print("after the kill:", [x for x in text.splitlines() if x[:3] != "ok "])
    assert joins.returncode == 0 and len(ok) == n, text
    # The kill fell among the joins: most were answered after it, through
    # a new leader, after the client moved off the dead one.
    assert answered_before < n / 2, text
    assert f"etcd {lead}: " in text and "; trying " in text, text
    new = wait_until(lambda: etcd_leader(e, ",".join(others)), 20, "a new leader")
    assert new != lead
    nodes = e.key_names("nodes/", endpoints=",".join(others))
    assert {k.rsplit("/", 1)[1] for k in nodes} == set(ok)


def test_etcd_command_waits_out_a_leaderless_cluster(etcd3):
    """The leader and a follower are SIGKILLed: the last member has no
    quorum, so no leader, and answers "etcdserver: no leader" at once (the
    client asks it to: "hasleader"). A join started then is retried with
    backoff, not given up after a quick round of the endpoints, and is
    answered OK once the follower is back and the two elect a leader."""
    e = etcd3
    e.tool("bootstrap", "10.47.0.0/24", "fd47:1:2::/48", "mesh.internal")
    lead = wait_until(lambda: etcd_leader(e), 20, "the cluster has a leader")
    urls = [f"http://{m.underlay}:2379" for m in e.members]
    names = {u: m.name for u, m in zip(urls, e.members)}
    survivor, back = [u for u in urls if u != lead]
    e.kill(names[lead])
    e.kill(names[back])

    def leaderless():
        st = json.loads(e.ctl("endpoint", "status", "-w", "json",
                              endpoints=survivor).stdout)
        return st[0]["Status"].get("leader", 0) == 0  # omitted when 0
    wait_until(leaderless, 20, "the last member knows it has no leader")
    d = e.topo.dir
    with open(d / "join.out", "w") as out:
        join = subprocess.Popen(
            ["ip", "netns", "exec", e.client.ns, "env", f"ETCD_RETRY_MS={scaled(20) * 1000}",
             str(TOOL), ",".join([survivor, lead, back]), MESH, "join", "node-a", KEY_A],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=wmtest.ENV)
        try:
            wait_until(lambda: "etcdserver: no leader" in (d / "join.out").read_text(), 20,
                       "the join is refused for want of a leader")
            assert join.poll() is None, (d / "join.out").read_text()
            e.restart(names[back])
            join.wait(scaled(60))
        finally:
            if join.poll() is None:
                join.kill()
                join.wait(10)
    text = (d / "join.out").read_text()
    print("join:", text.splitlines())
    assert join.returncode == 0 and "ok node-a 10.47.0.1 " in text, text
    assert e.key_names("nodes/", endpoints=f"{survivor},{back}") == {
        f"/webmesh/{MESH}/nodes/node-a"}


def test_etcd_conforms_to_raft_store(etcd1):
    """The store interface's conformance suite against both providers
    (tests/unit/etcd_conform.c): every command kind through the Raft store's
    FSM and through the etcd store, with the same results and refusals
    (before bootstrap, bad networks, taken, requested and IPAM addresses,
    another key under an ID, bad IDs, keys and routes, removal, deny and
    allow, exhaustion; edges, routes and their claims, DNS, RBAC, liveness)
    and the same dump after every command; then a seeded random sequence
    compared after every step; two servers racing on route claims; and a
    store that loads each mesh from etcd's records alone dumps the same."""
    e = etcd1
    for seed, mesh in ((12, "conform"), (7, "conform7")):
        r = e.client.netns_exec(str(CONFORM), e.endpoints, mesh, str(seed), "300",
                                check=False)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr
        m = re.search(r"^conform ok (\d+)$", r.stdout, re.M)
        assert m and int(m.group(1)) >= 400, r.stdout[-2000:]
        assert "reload after the fixed commands: same" in r.stdout
        assert "random: reload: same" in r.stdout


def _state_rows(dump):
    """A store dump without what differs by design: the meta row (the Raft
    store counts log entries, etcd revisions) and the mesh row's
    ipv4_low_water (the allocator's search hint; the leases are compared
    node by node)."""
    rows = []
    for line in dump.splitlines():
        if line.startswith("meta "):
            continue
        rows.append(re.sub(r" ipv4_low_water=\S+", "", line))
    return rows


def test_store_conformance_suite_both_providers(etcd1):
    """The store interface's conformance suite (tests/unit/store_conform.c,
    the Raft run is also a ctest test): the same cases through wm_store_*
    as webmeshd opens each provider, the Raft store through
    webmesh-store.so and etcd through the storage plugin webmesh-etcd.so;
    both pass every case, the state the node case leaves (leases included)
    is the same in both, and so is every refusal's error and message."""
    e = etcd1
    dumps, refused = {}, {}
    for name, args in (("raft", []), ("etcd", ["--etcd", e.endpoints])):
        out = e.topo.dir / f"conform-{name}.dump"
        r = e.client.netns_exec(str(STORE_CONFORM), *args, "--dump", str(out), check=False,
                                timeout=scaled(240))
        assert r.returncode == 0, f"{name}:\n{r.stdout[-4000:]}{r.stderr[-2000:]}"
        assert "[  PASSED  ] 8 test(s)." in r.stdout + r.stderr, r.stdout[-2000:]
        dumps[name] = _state_rows(out.read_text())
        refused[name] = (e.topo.dir / f"conform-{name}.dump.refusals").read_text().splitlines()
    assert any(x.startswith("node id=m0 ") for x in dumps["raft"]), dumps["raft"][:5]
    assert dumps["raft"] == dumps["etcd"]
    # Every refusal with the same error and the same words, but for one
    # difference found by the suite (reported, asserted in test_liveness):
    # liveness marks naming an invalid node ID, which only etcd refuses.
    live = [x for x in refused["etcd"] if x.startswith("920 ")]
    assert len(live) == 1 and live[0].startswith("920 -22 invalid node ID"), live
    assert len(refused["raft"]) >= 20, refused["raft"]
    assert refused["raft"] == [x for x in refused["etcd"] if not x.startswith("920 ")]
