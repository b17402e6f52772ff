"""webmeshd on etcd (issue 12, item 3): `--storage etcd` servers with no Raft,
members joining through either of them, the data plane between them, and
one etcd member SIGKILLed during 30 concurrent joins (ha_joins.py, sent
round robin to both servers).

A 3-member etcd cluster runs in namespaces of its own (test_etcd.Etcd); two
webmeshd servers keep the mesh in it through webmesh-etcd.so: the first
with --bootstrap (creates the mesh in etcd), the second with --serve only
(finds it there, registers and serves; no join address). Members join as
usual, through either server.
"""

import base64
import json
import re
import time

import pytest

import wmtest
from test_etcd import ETCD, ETCDCTL, Etcd, make_pki
from test_ha import JoinBurst, make_joins
from wmtest import API_PORT, WG_PORT, host_ip, wait_until

MESH = "webmesh"  # the plugin's default mesh name in etcd
FP = re.compile(r"--join-fingerprint[ =](sha256:[0-9a-fA-F]{64})")


@pytest.fixture(autouse=True)
def _need_etcd():
    if not ETCD or not ETCDCTL:
        pytest.fail("etcd and etcdctl are missing: make deps installs etcd-server "
                    "and etcd-client")
    if not (wmtest.BUILD_DIR / "src" / "node" / "webmesh-etcd.so").exists():
        pytest.fail("webmesh-etcd.so is not built (make build)")


def start_server(t, e, name, *role):
    node = t.add_node(name)
    node.start(*role, "--storage", "etcd", "--etcd-endpoints", e.endpoints, "--node-id", name,
               "--endpoints", f"{node.underlay}:{WG_PORT}")

    def ready():
        if not node.running():
            raise AssertionError(f"{name} exited:\n{node.log_tail()}")
        s = node.status()
        m = FP.search(node.log())
        return s.get("storage") == "etcd" and s.get("address_ipv4") and m and m.group(1)
    node.fingerprint = wait_until(ready, wmtest.READY_TIMEOUT, f"{name} serving on etcd")
    return node


def join(t, name, server, *extra):
    node = t.add_node(name)
    node.start("--join", f"{server.underlay}:{API_PORT}", "--join-fingerprint",
               server.fingerprint, "--node-id", name, "--endpoints",
               f"{node.underlay}:{WG_PORT}", *extra)
    return node


def etcd_nodes(e, endpoints=None):
    out = e.ctl("get", "--prefix", "--keys-only", f"/webmesh/{MESH}/nodes/",
                endpoints=endpoints).stdout.split()
    return {k.rsplit("/", 1)[1] for k in out if k}


def etcd_leases(e, endpoints=None):
    out = e.ctl("get", "--prefix", f"/webmesh/{MESH}/leases/v4/",
                endpoints=endpoints).stdout.splitlines()
    return dict(zip(out[0::2], out[1::2]))


def test_two_servers_on_etcd_members_join_either(tmp_path):
    with wmtest.topology() as t:
        e = Etcd(t, 3)
        try:
            s1 = start_server(t, e, "s1", "--bootstrap")
            s2 = start_server(t, e, "s2", "--serve")
            st = s2.status()
            # No Raft on a server on etcd: the status says where the state is.
            assert st["storage"] == "etcd" and st["raft_state"] == "serving", st
            assert st["storage_endpoints"] == e.endpoints
            assert int(st.get("storage_revision", 0)) > 0
            assert "revision" in s2.wmctl("status").stdout
            # The plain http:// endpoints were warned about at startup.
            assert "plain http://" in s1.log()
            # Both servers registered on a lease.
            servers = e.ctl("get", "--prefix", "--keys-only",
                            f"/webmesh/{MESH}/servers/").stdout.split()
            assert {k.rsplit("/", 1)[1] for k in servers if k} == {"s1", "s2"}

            m1 = join(t, "m1", s1)
            m2 = join(t, "m2", s2)
            for m in (m1, m2):
                m.wait_ready("member")
            a1 = host_ip(m1.status()["address_ipv4"])
            a2 = host_ip(m2.status()["address_ipv4"])
            assert a1 != a2
            wait_until(lambda: m1.ping(a2), 30, "m1 pings m2 (joined through s2)")
            wait_until(lambda: m2.ping(a1), 30, "m2 pings m1 (joined through s1)")

            # 30 concurrent joins through both servers; one etcd member is
            # SIGKILLed while they are under way: the servers fail over.
            gen = wmtest.generate_protos(tmp_path)
            burst = JoinBurst(t, gen, [s1, s2], make_joins("j", 30, 2, 0.1))
            try:
                burst.wait_ready()
                time.sleep(1)
                e.kill("etcd0")
                results = burst.results()
            finally:
                burst.close()
            ok = {r["id"]: r for r in results if r["code"] == "OK"}
            print("burst:", len(ok), "OK; others:",
                  [(r["id"], r["code"], r["details"]) for r in results if r["code"] != "OK"])
            assert len(ok) >= 25, results  # a few may time out while etcd elects
            assert {r["target"] for r in ok.values()} == {"s1", "s2"}
            alive = ",".join(f"http://{m.underlay}:2379" for m in e.members[1:])
            late = [join(t, "m3", s1), join(t, "m4", s2)]
            for m in late:
                m.wait_ready("member")
            a3 = host_ip(late[0].status()["address_ipv4"])
            wait_until(lambda: m2.ping(a3), 30, "m2 pings m3 after the failover")
            wait_until(lambda: m1.ping(a2), 30, "m1 still pings m2")

            # Every join answered OK is in etcd with the address it was
            # told, and no address is held twice.
            want = {"s1", "s2", "m1", "m2", "m3", "m4"}
            stored = etcd_nodes(e, alive)
            assert want | set(ok) <= stored, sorted(want | set(ok) - stored)
            leases = etcd_leases(e, alive)
            assert len(leases) == len(stored)
            assert len(set(leases.values())) == len(leases)
            addrs = {n.name: host_ip(n.status()["address_ipv4"])
                     for n in (s1, s2, m1, m2, *late)}
            addrs.update({i: host_ip(r["address_ipv4"]) for i, r in ok.items()})
            assert len(set(addrs.values())) == len(addrs)
            for name, a in addrs.items():
                key = "%02x%02x%02x%02x" % tuple(int(x) for x in a.split("."))
                assert leases[f"/webmesh/{MESH}/leases/v4/{key}"] == name

            # A Raft voter cannot join a mesh that has no Raft.
            v = join(t, "v1", s2, "--voter")
            assert v.wait_exit(30) != 0
            assert "not as a voter or observer" in v.log()
            assert "v1" not in etcd_nodes(e, alive)

            # A restarted --bootstrap server resumes the mesh in etcd and
            # keeps its address.
            s1.stop()
            s1.restart()
            wait_until(lambda: s1.status().get("raft_state") == "serving"
                       and s1.status().get("address_ipv4"), 60, "s1 serving again")
            assert host_ip(s1.status()["address_ipv4"]) == addrs["s1"]
            assert len(etcd_leases(e, alive)) == len(leases)
            wait_until(lambda: m2.ping(host_ip(s1.status()["address_ipv4"])), 30,
                       "m2 pings the restarted s1")
        finally:
            e.close()


def failed_start(node, *args):
    """Starts webmeshd expecting it to stop by itself; returns its log."""
    try:
        node.start(*args)
    except AssertionError:
        pass  # exited before the harness saw it run: what we expect
    if node.running():
        assert node.wait_exit(60) != 0
    return node.log()


def test_server_on_etcd_over_tls():
    """--etcd-ca-file, --etcd-cert and --etcd-key reach the plugin: a server
    with them serves; one that trusts another CA, or gives no CA for an
    https:// endpoint, stops with the reason and changes nothing."""
    with wmtest.topology() as t:
        ip = f"10.250.{t.subnet}.1"  # the first node added: etcd0
        make_pki(t.dir, [ip])
        d = t.dir
        (d / "client.key").chmod(0o600)
        e = Etcd(t, 1, tls=lambda m: [
            "--cert-file", str(d / "server.pem"), "--key-file", str(d / "server.key"),
            "--client-cert-auth", "--trusted-ca-file", str(d / "ca.pem")])
        try:
            tls = ["--etcd-ca-file", d / "ca.pem", "--etcd-cert", d / "client.pem",
                   "--etcd-key", d / "client.key"]
            s1 = start_server(t, e, "s1", "--bootstrap", *tls)
            assert "plain http" not in s1.log()
            assert s1.status()["storage_endpoints"] == e.endpoints
            nodes = e.ctl("get", "--prefix", "--keys-only", f"/webmesh/{MESH}/nodes/").stdout
            assert f"/webmesh/{MESH}/nodes/s1" in nodes.split()

            def server(name, *extra):
                n = t.add_node(name)
                return n, ["--serve", "--storage", "etcd", "--etcd-endpoints", e.endpoints,
                           "--node-id", name, "--endpoints", f"{n.underlay}:{WG_PORT}",
                           *extra]
            n, args = server("s2", "--etcd-ca-file", d / "other-ca.pem", "--etcd-cert",
                             d / "client.pem", "--etcd-key", d / "client.key")
            log = failed_start(n, *args)
            assert "storage etcd" in log, log[-2000:]
            n, args = server("s3")
            log = failed_start(n, *args)
            assert "etcd-ca-file" in log, log[-2000:]
            nodes = e.ctl("get", "--prefix", "--keys-only", f"/webmesh/{MESH}/nodes/").stdout
            assert {k.rsplit("/", 1)[1] for k in nodes.split()} == {"s1"}
        finally:
            e.close()


# -----------------------------------------------------------------------------
# Liveness across servers on etcd (issue 12 with issue 16's failover): exits e1
# and e2 advertise 0.0.0.0/0 and heartbeat to s1; member m follows s2 and chose
# e1. Each server writes, on its lease, the nodes it has not heard from
# (liveness/<server>); a node every server marks is unreachable, and every
# server computes its members' peers from those marks. When e1 is killed, s1
# and s2 both mark it and m's default route (computed by s2) moves to e2; when
# e1 returns, s1 hears it again and the route comes back.

HEARTBEAT_MS = 500
UNREACHABLE_MS = 3000
LIVENESS_FLAGS = ("--heartbeat-interval-ms", str(HEARTBEAT_MS), "--unreachable-after-ms",
                  str(UNREACHABLE_MS), "--remove-after-ms", "3600000")
PUBLIC_HOST = "198.51.100.1"
# A mark is in force within unreachable-after, one sweep (a quarter of it)
# and etcd's watch (docs/ARCHITECTURE.md); the rest is slack for a busy box.
MARK_S = (UNREACHABLE_MS * 5 / 4) / 1000 + 20


def exit_of(m, keys):
    """Which exit (by name) carries 0.0.0.0/0 on m's device, or None."""
    peers = m.wg_peers()
    got = [name for name, k in keys.items()
           if "0.0.0.0/0" in peers.get(k, {}).get("allowed_ips", set())]
    return got[0] if len(got) == 1 else None


def etcd_servers(e):
    out = e.ctl("get", "--prefix", "--keys-only", f"/webmesh/{MESH}/servers/").stdout.split()
    return {k.rsplit("/", 1)[1] for k in out if k}


def liveness_keys(e):
    out = e.ctl("get", "--prefix", "--keys-only", f"/webmesh/{MESH}/liveness/").stdout.split()
    return {k.rsplit("/", 1)[1] for k in out if k}


def test_route_failover_across_servers_on_etcd():
    with wmtest.topology() as t:
        e = Etcd(t, 1)
        try:
            s1 = start_server(t, e, "s1", "--bootstrap", *LIVENESS_FLAGS)
            s2 = start_server(t, e, "s2", "--serve", *LIVENESS_FLAGS)
            exits = {}
            for name in ("e1", "e2"):
                n = t.add_node(name)
                n.netns_exec("ip", "addr", "add", f"{PUBLIC_HOST}/32", "dev", "lo")
                n.start("--join", f"{s1.underlay}:{API_PORT}", "--join-fingerprint",
                        s1.fingerprint, "--node-id", name, "--endpoints",
                        f"{n.underlay}:{WG_PORT}", "--routes", "0.0.0.0/0", *LIVENESS_FLAGS)
                exits[name] = n
            m = join(t, "m", s2, "--use-exit-node", "e1", *LIVENESS_FLAGS)
            for n in (*exits.values(), m):
                n.wait_ready("member")
            keys = {name: n.status()["public_key"] for name, n in exits.items()}
            wait_until(lambda: exit_of(m, keys) == "e1", 30, "m's default route through e1",
                       interval=0.2)
            wait_until(lambda: m.ping(PUBLIC_HOST, wait=1), 30, f"m -> {PUBLIC_HOST} via e1",
                       interval=0.2)
            # Both servers write their marks once they have listened for a
            # full period: s1 marks m (it heartbeats to s2), s2 marks e1
            # and e2; nothing is in force, as every node is heard by one.
            wait_until(lambda: liveness_keys(e) == {"s1", "s2"}, MARK_S,
                       "both servers' liveness records in etcd", interval=0.5)
            for s in (s1, s2):
                assert s.status().get("unreachable_nodes", []) == [], s.name
            assert exit_of(m, keys) == "e1"

            exits["e1"].crash()
            for s in (s1, s2):
                wait_until(lambda: "e1" in s.status().get("unreachable_nodes", []), MARK_S,
                           f"{s.name} to hold e1 unreachable", interval=0.2)
            # s2 computes m's peers: the route moved with the marks in etcd.
            wait_until(lambda: exit_of(m, keys) == "e2", 20, "m's default route through e2",
                       interval=0.1)
            wait_until(lambda: m.ping(PUBLIC_HOST, wait=1), 20, f"m -> {PUBLIC_HOST} via e2",
                       interval=0.2)
            assert "e2" not in s2.status().get("unreachable_nodes", [])

            exits["e1"].restart()
            for s in (s1, s2):
                wait_until(lambda: "e1" not in s.status().get("unreachable_nodes", []), 60,
                           f"{s.name} to see e1 again", interval=0.2)
            wait_until(lambda: exit_of(m, keys) == "e1", 20, "m's default route back on e1",
                       interval=0.1)

            # A lease lost while the server runs (revoked here, as etcd does
            # after an outage longer than its TTL) takes the server's record;
            # the server registers again and puts its record back.
            kvs = json.loads(e.ctl("get", f"/webmesh/{MESH}/servers/s2", "-w",
                                   "json").stdout)["kvs"]
            e.ctl("lease", "revoke", "%x" % kvs[0]["lease"])
            assert "s2" not in liveness_keys(e)
            wait_until(lambda: liveness_keys(e) == {"s1", "s2"}, 30,
                       "s2's liveness record back on its new lease", interval=0.5)
            assert "s2" in etcd_servers(e)

            # A server's marks live on its lease: s1 SIGKILLed, its record
            # goes with the lease, and s2's marks alone are in force.
            s1.crash()
            wait_until(lambda: liveness_keys(e) == {"s2"}, 60,
                       "s1's liveness record gone with its lease", interval=0.5)
            # Nobody hears s1 now: it is marked. e1 and e2 lost their
            # server and follow s2, which hears them: they stay reachable,
            # and m's default route stays on e1.
            wait_until(lambda: "s1" in s2.status().get("unreachable_nodes", []), MARK_S,
                       "s2 to hold the dead s1 unreachable", interval=0.2)
            wait_until(lambda: not {"e1", "e2"} & set(s2.status().get("unreachable_nodes", [])),
                       90, "e1 and e2 heard through s2", interval=0.5)
            wait_until(lambda: exit_of(m, keys) == "e1", 30,
                       "m's default route on e1 after s1 died", interval=0.2)
            assert m.ping(PUBLIC_HOST, wait=2)
        finally:
            e.close()


# -----------------------------------------------------------------------------
# Administration through either server on etcd: what the admin puts through
# s2 (an edge, a route, a DNS record, an RBAC binding) s1 acts on (its peer
# sets and its members' WireGuard peers, its MeshDNS answer, its RBAC), and
# what RBAC denies a user is refused by both servers with nothing written.

LAN = "192.168.77.0/24"


def etcd_state(e):
    """Every key of the mesh in etcd with its value and mod revision, but
    the servers' liveness records (soft state, rewritten as heartbeats come
    and go)."""
    out = json.loads(e.ctl("get", "--prefix", f"/webmesh/{MESH}/", "-w", "json").stdout)
    got = {}
    for kv in out.get("kvs", []):
        k = base64.b64decode(kv["key"]).decode()
        if not k.startswith(f"/webmesh/{MESH}/liveness/"):
            got[k] = (kv.get("value", ""), kv["mod_revision"])
    return got


def test_admin_through_either_server_on_etcd():
    from test_meshdns import D, data  # dig's answer from a node's namespace
    with wmtest.topology() as t:
        ca = t.dir / "pki"
        wmtest.run([str(wmtest.WMCTL), "pki", "init", "--dir", str(ca)])
        for n in ("s1", "s2"):
            wmtest.run([str(wmtest.WMCTL), "pki", "issue", n, "--server-cert", "--dir", str(ca)])
        for n in ("a", "b", "admin", "good"):
            wmtest.run([str(wmtest.WMCTL), "pki", "issue", n, "--dir", str(ca)])

        def creds(name):
            return ["--tls-cert", str(ca / f"{name}.crt"), "--tls-key", str(ca / f"{name}.key")]
        e = Etcd(t, 1)
        try:
            servers = {}
            for name, role in (("s1", "--bootstrap"), ("s2", "--serve")):
                node = t.add_node(name)
                node.start(role, "--storage", "etcd", "--etcd-endpoints", e.endpoints,
                           "--node-id", name, "--endpoints", f"{node.underlay}:{WG_PORT}",
                           "--ca-file", str(ca / "ca.crt"), "--mtls", *creds(name),
                           "--meshdns-listen", "127.0.0.1:53")

                def ready(node=node):
                    if not node.running():
                        raise AssertionError(f"{node.name} exited:\n{node.log_tail()}")
                    st = node.status()
                    return st.get("storage") == "etcd" and st.get("address_ipv4")
                wait_until(ready, wmtest.READY_TIMEOUT, f"{name} serving on etcd")
                servers[name] = node
            s1, s2 = servers["s1"], servers["s2"]
            members = {}
            for name, via in (("a", s1), ("b", s2)):
                n = t.add_node(name)
                n.start("--join", f"{via.underlay}:{API_PORT}", "--ca-file",
                        str(ca / "ca.crt"), *creds(name), "--node-id", name, "--endpoints",
                        f"{n.underlay}:{WG_PORT}")
                members[name] = n
            for n in members.values():
                n.wait_ready("member")
            a, b = members["a"], members["b"]

            def as_user(server, user, *args):
                return a.exec(str(wmtest.WMCTL), "--server", f"{server.underlay}:{API_PORT}",
                              "--ca-file", str(ca / "ca.crt"), *creds(user), *args,
                              check=False)

            # A user RBAC does not allow: refused by both servers, with the
            # reason, and nothing is written to etcd.
            before = etcd_state(e)
            for server in (s1, s2):
                for args, what in ((("put", "edge", "a", "b", "--weight", "3"), "edges"),
                                   (("put", "route", "b", LAN), "routes"),
                                   (("put", "dns-record", "www", "A", "10.1.1.1"),
                                    "dns-records"),
                                   (("put", "rolebindings", "mine", "--role", "mesh-admin",
                                     "--subject", "user:good"), "rolebindings")):
                    p = as_user(server, "good", *args)
                    assert p.returncode != 0, (server.name, args, p.stdout)
                    assert "PERMISSION_DENIED" in p.stderr, (server.name, args, p.stderr)
                    assert f"good may not put {what}" in p.stderr, (server.name, p.stderr)
            assert etcd_state(e) == before
            assert data(s1, f"www.{D}")[0] == "NXDOMAIN"

            # The admin through s2; s1 acts on each.
            for args in (("put", "edge", "a", "b", "--weight", "3"), ("put", "route", "b", LAN),
                         ("put", "dns-record", "www", "A", "10.1.1.1")):
                p = as_user(s2, "admin", *args)
                assert p.returncode == 0, (args, p.stderr)

            def has_edge(node):
                edges = node.wmctl_json("get", "edges").get("edges", [])
                return any({x.get("source"), x.get("target")} == {"a", "b"} and
                           x.get("weight") == 3 for x in edges)
            wait_until(lambda: has_edge(s1), 20, "s1 to hold the edge put through s2")
            b_key = b.status()["public_key"]
            # a follows s1: s1 computed its peers, with b's new route.
            wait_until(lambda: LAN in a.wg_peers().get(b_key, {}).get("allowed_ips", set()),
                       20, "the route put through s2 on a's WireGuard peer b", interval=0.2)
            wait_until(lambda: data(s1, f"www.{D}") == ("NOERROR", ["10.1.1.1"]), 20,
                       "s1's MeshDNS to answer the record put through s2", interval=0.2)

            # An RBAC binding through s2 lets the user write through s1.
            p = as_user(s2, "admin", "put", "rolebindings", "good-admin", "--role",
                        "mesh-admin", "--subject", "user:good")
            assert p.returncode == 0, p.stderr

            def good_may():
                p = as_user(s1, "good", "put", "dns-record", "ok", "A", "10.2.2.2")
                assert p.returncode == 0 or "PERMISSION_DENIED" in p.stderr, p.stderr
                return p.returncode == 0
            wait_until(good_may, 20, "s1 to allow good after the binding put through s2",
                       interval=0.5)
            wait_until(lambda: data(s2, f"ok.{D}") == ("NOERROR", ["10.2.2.2"]), 20,
                       "s2's MeshDNS to answer the record put through s1", interval=0.2)
        finally:
            e.close()
