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
