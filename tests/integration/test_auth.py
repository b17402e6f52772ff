"""Issue 5 end to end: who may join and do what (mTLS, basic auth, RBAC) and
network ACLs enforced on the wire. Every refused call must leave the stored
state as it was, and no credential may reach a log."""

import importlib
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from wmtest import (agreed_dumps, API_PORT, PYTHON, WG_PORT, WMCTL, generate_protos, host_ip, run,
                    topology, wait_until)

AUTH_CALL = Path(__file__).resolve().parent / "auth_call.py"


def pki(ca_dir, *args):
    return run([str(WMCTL), "pki", *args, "--dir", str(ca_dir)])


def expired_cert(ca_dir, name):
    """A certificate signed by the mesh CA that expired in 2020 (openssl ca
    takes explicit dates; OpenSSL 3.0's x509 cannot)."""
    d = ca_dir / f"ca-{name}"
    d.mkdir()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    (d / "ca.cnf").write_text(f"""[ca]
default_ca = c
[c]
database = {d}/index.txt
new_certs_dir = {d}
serial = {d}/serial
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
[ext]
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth,serverAuth
""")
    key, csr, crt = ca_dir / f"{name}.key", d / f"{name}.csr", ca_dir / f"{name}.crt"
    run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)])
    key.chmod(0o600)
    run(["openssl", "req", "-new", "-key", str(key), "-subj", f"/CN={name}", "-out", str(csr)])
    run(["openssl", "ca", "-batch", "-config", str(d / "ca.cnf"), "-cert",
         str(ca_dir / "ca.crt"), "-keyfile", str(ca_dir / "ca.key"), "-in", str(csr),
         "-out", str(crt), "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
         "-extensions", "ext"])
    return crt, key


def state_of(server):
    """Nodes and graph, as JSON (what the ACL test must see unchanged while
    it changes the ACLs stored beside them)."""
    return (server.wmctl("get", "nodes", "-o", "json").stdout,
            server.wmctl("get", "graph", "-o", "json").stdout)


def voters_state(t):
    """What a refused call must not change: the replicated state of every
    server of the mesh, row by row."""
    return agreed_dumps(n for n in t.nodes.values() if n.name in ("s1", "s2") and n.running())


def start_joiner(topo, name, ca, *extra):
    node = topo.add_node(name)
    node.start("--join", f"{topo.server.underlay}:{API_PORT}", "--ca-file", str(ca),
               "--node-id", name, "--endpoints", f"{node.underlay}:{WG_PORT}", *extra)
    return node


def refused(node, status, reason):
    """The joiner gives up (exit 1) and says why: the status and the server's
    exact reason."""
    code = node.wait_exit(60)
    assert code == 1, node.log_tail()
    assert status in node.log(), node.log_tail()
    assert reason in node.log(), node.log_tail()


@pytest.fixture(scope="module")
def mtls_mesh():
    with topology() as t:
        ca = t.dir / "pki"
        pki(ca, "init")
        for n in ("s1", "s2"):
            pki(ca, "issue", n, "--server-cert")
        for n in ("good", "voterless", "admin"):
            pki(ca, "issue", n)
        other = t.dir / "other-pki"
        pki(other, "init")
        pki(other, "issue", "foreign")
        t.ca, t.other = ca, other
        s1 = t.add_node("s1")
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 "--tls-cert", str(ca / "s1.crt"), "--tls-key", str(ca / "s1.key"),
                 "--ca-file", str(ca / "ca.crt"), "--mtls", "--bootstrap-voters", "s2")
        s1.wait_ready("leader")
        t.server = s1
        yield t


def creds(ca, name):
    return ["--tls-cert", str(ca / f"{name}.crt"), "--tls-key", str(ca / f"{name}.key")]


def test_mtls_good_certificate_joins(mtls_mesh):
    t = mtls_mesh
    st = t.server.status()
    assert st["auth_methods"] == "mtls"
    assert not any("no authentication" in w for w in st.get("warnings", []))
    node = start_joiner(t, "good", t.ca / "ca.crt", *creds(t.ca, "good"))
    node.wait_ready("member")
    assert "good" in t.server.nodes()


@pytest.mark.parametrize("case", ["foreign-ca", "expired", "none"])
def test_mtls_bad_certificates_are_unauthenticated(mtls_mesh, case):
    t = mtls_mesh
    before = voters_state(t)
    if case == "foreign-ca":
        extra = ["--tls-cert", str(t.other / "foreign.crt"),
                 "--tls-key", str(t.other / "foreign.key")]
        name = "foreign"
    elif case == "expired":
        crt, key = expired_cert(t.ca, "expired")
        extra = ["--tls-cert", str(crt), "--tls-key", str(key)]
        name = "expired"
    else:
        extra, name = [], "nocert"
    node = start_joiner(t, name, t.ca / "ca.crt", *extra)
    refused(node, "UNAUTHENTICATED", "authentication failed")
    assert voters_state(t) == before
    assert name not in t.server.nodes()


def test_rbac_join_as_voter_needs_the_voters_binding(mtls_mesh):
    t = mtls_mesh
    before = voters_state(t)
    node = start_joiner(t, "voterless", t.ca / "ca.crt", *creds(t.ca, "voterless"),
                        "--voter")
    refused(node, "PERMISSION_DENIED",
            "voterless may not join as a voter (not bound to the voters role)")
    assert voters_state(t) == before


def good_member(t):
    """The member "good" (joined by test_mtls_good_certificate_joins, or here
    when that test did not run). A member that died fails the test: a refusal
    test that skips when its caller is gone would pass with every check broken."""
    good = t.nodes.get("good")
    if good is None:
        good = start_joiner(t, "good", t.ca / "ca.crt", *creds(t.ca, "good"))
        good.wait_ready("member")
    assert good.running(), f"the member good exited:\n{good.log_tail()}"
    return good


def remote_wmctl(t, node, name, *args, check=True):
    return node.exec(str(WMCTL), "--server", f"{t.server.underlay}:{API_PORT}", "--ca-file",
                     str(t.ca / "ca.crt"), *creds(t.ca, name), *args, check=check)


def test_rbac_only_admins_put_edges(mtls_mesh):
    t = mtls_mesh
    good = good_member(t)
    before = voters_state(t)
    p = remote_wmctl(t, good, "good", "put", "edge", "s1", "good", "--weight", "7",
                     check=False)
    assert p.returncode != 0 and "PERMISSION_DENIED" in p.stderr, p.stderr
    assert "good may not put edges" in p.stderr, p.stderr
    assert voters_state(t) == before
    # Reads need only an authenticated caller.
    remote_wmctl(t, good, "good", "get", "nodes")
    # The bootstrap admin ("admin" by default) may.
    remote_wmctl(t, good, "admin", "put", "edge", "s1", "good", "--weight", "7")
    edges = t.server.wmctl("get", "edges", "-o", "json").stdout
    assert '"weight": 7' in edges or '"weight":7' in edges, edges


def call(t, node, name, method, request, req_type, resp_type, server=None, stream=False,
         metadata=(), timeout=10):
    """One gRPC call from inside node's namespace with name's certificate
    (auth_call.py); returns {"code", "details", "responses"}."""
    server = server or t.server
    if not getattr(t, "gen", None):
        t.gen = t.dir / "gen"
        t.gen.mkdir()
        generate_protos(t.gen)
    args = [PYTHON, AUTH_CALL, "--gen", t.gen, "--target", f"{server.underlay}:{API_PORT}",
            "--ca", t.ca / "ca.crt", "--name", server.name, "--cert", t.ca / f"{name}.crt",
            "--key", t.ca / f"{name}.key", "--method", method, "--request", req_type,
            "--response", resp_type, "--json", json.dumps(request), "--timeout", timeout]
    if stream:
        args.append("--stream")
    for k, v in metadata:
        args += ["--metadata", f"{k}={v}"]
    return json.loads(node.exec(*[str(a) for a in args], timeout=timeout + 30).stdout)


SIG = "/webmesh.v1.Signaling/"


def test_signaling_only_as_itself(mtls_mesh):
    t = mtls_mesh
    good = good_member(t)
    before = voters_state(t)
    # Its own signals. A deadline alone proves nothing (a gate that hangs
    # times out too): while our stream is open, s1 sends good BYEs, and the
    # stream must either receive one or be replaced by good's own daemon
    # taking its stream back (ABORTED, which only an accepted stream gets).
    own = {}

    def receive():
        own.update(call(t, good, "good", SIG + "ReceiveSignals", {"id": "good"},
                        "ReceiveSignalsRequest", "Signal", stream=True, timeout=8))
    reader = threading.Thread(target=receive)
    reader.start()
    try:
        for session in range(1, 13):
            time.sleep(0.5)
            if not reader.is_alive():
                break
            bye = call(t, t.server, "s1", SIG + "SendSignal",
                       {"from": "s1", "to": "good", "kind": "SIGNAL_KIND_BYE",
                        "session": str(session)}, "Signal", "SendSignalResponse")
            assert bye["code"] == "OK", bye
    finally:
        reader.join(60)
    assert not reader.is_alive(), "ReceiveSignals did not end"
    assert own["code"] == "ABORTED" or (
        own["code"] == "DEADLINE_EXCEEDED" and own["responses"] and
        all(r.get("from") == "s1" for r in own["responses"])), own
    # Another node's signals, or signals in another node's name: refused.
    other = call(t, good, "good", SIG + "ReceiveSignals", {"id": "s1"},
                 "ReceiveSignalsRequest", "Signal", stream=True, timeout=5)
    assert other["code"] == "PERMISSION_DENIED" and not other["responses"], other
    assert other["details"] == "good may act only as itself, not as s1", other
    forged = call(t, good, "good", SIG + "SendSignal",
                  {"from": "s1", "to": "good", "kind": "SIGNAL_KIND_BYE", "session": "1"},
                  "Signal", "SendSignalResponse")
    assert forged["code"] == "PERMISSION_DENIED", forged
    assert forged["details"] == "good may act only as itself, not as s1", forged
    # A signal as itself passes the gate (a BYE for no session: ignored).
    sent = call(t, good, "good", SIG + "SendSignal",
                {"from": "good", "to": "s1", "kind": "SIGNAL_KIND_BYE", "session": "1"},
                "Signal", "SendSignalResponse")
    assert sent["code"] == "OK", sent
    assert voters_state(t) == before


PUT_EDGE = "/webmesh.v1.Admin/PutEdge"


def test_a_member_cannot_forge_proxied_for(mtls_mesh):
    t = mtls_mesh
    good = good_member(t)
    before = voters_state(t)
    # As the bootstrap admin, and as the server itself.
    for who in ("admin", "s1", "@local"):
        r = call(t, good, "good", PUT_EDGE, {"source": "s1", "target": "good", "weight": 3},
                 "PutEdgeRequest", "AdminWriteResponse",
                 metadata=[("x-webmesh-proxied-for", who)])
        assert r["code"] == "PERMISSION_DENIED" and "forward" in r["details"], (who, r)
        r = call(t, good, "good", SIG + "ReceiveSignals", {"id": "s1"},
                 "ReceiveSignalsRequest", "Signal", stream=True, timeout=5,
                 metadata=[("x-webmesh-proxied-for", who)])
        assert r["code"] == "PERMISSION_DENIED" and not r["responses"], (who, r)
    assert voters_state(t) == before


def wait_server(node):
    def ready():
        if not node.running():
            raise AssertionError(f"{node.name} exited\n{node.log_tail()}")
        s = node.status()
        return s.get("raft_state") == "follower" and s.get("leader_id") == "s1"
    wait_until(ready, 60, f"{node.name} to follow s1")


def test_forwarded_calls_are_authorized_as_the_original_caller(mtls_mesh):
    t = mtls_mesh
    good = good_member(t)
    s2 = start_joiner(t, "s2", t.ca / "ca.crt", *creds(t.ca, "s2"), "--voter", "--mtls")
    wait_server(s2)

    def via_s2(name, *args, check=True):
        return good.exec(str(WMCTL), "--server", f"{s2.underlay}:{API_PORT}", "--ca-file",
                         str(t.ca / "ca.crt"), *creds(t.ca, name), *args, check=check)
    wait_until(lambda: s2.state_dump() == t.server.state_dump(), 30, "s2 to catch up")
    before = voters_state(t)
    assert set(before) == {"s1", "s2"}
    # A non-admin through the follower: refused, nothing changes anywhere.
    p = via_s2("good", "put", "edge", "s2", "good", "--weight", "5", check=False)
    assert p.returncode != 0 and "PERMISSION_DENIED" in p.stderr, p.stderr
    r = call(t, good, "good", PUT_EDGE, {"source": "s2", "target": "good", "weight": 5},
             "PutEdgeRequest", "AdminWriteResponse", server=s2)
    assert r["code"] == "PERMISSION_DENIED" and "good may not put edges" in r["details"], r
    assert voters_state(t) == before
    # The admin through the follower: forwarded to the leader as the admin
    # (s2 itself may not put edges), stored on both.
    via_s2("admin", "put", "edge", "s2", "good", "--weight", "5")

    def has_edge(node):
        edges = json.loads(node.wmctl("get", "edges", "-o", "json").stdout)
        return any({e.get("source"), e.get("target")} == {"s2", "good"} and
                   e.get("weight") == 5 for e in edges.get("edges", []))
    wait_until(lambda: has_edge(t.server) and has_edge(s2), 30, "the edge on s1 and s2")
    # A forged proxied-for from a member to the follower is refused too.
    r = call(t, good, "good", PUT_EDGE, {"source": "s2", "target": "good", "weight": 9},
             "PutEdgeRequest", "AdminWriteResponse", server=s2,
             metadata=[("x-webmesh-proxied-for", "admin")])
    assert r["code"] == "PERMISSION_DENIED" and "forward" in r["details"], r
    assert has_edge(t.server) and has_edge(s2)

BASIC_PW = "s3cret-Basic-Pw"


def test_basic_auth_join_and_no_password_in_logs():
    crypt = importlib.import_module("crypt")  # stdlib: a missing one must fail, not skip
    with topology() as t:
        s1 = t.add_node("s1")
        hp = t.dir / "htpasswd"
        salt = crypt.mksalt(crypt.METHOD_SHA512)
        hp.write_text(f"m1:{crypt.crypt(BASIC_PW, salt)}\nm2:{crypt.crypt('other', salt)}\n")
        hp.chmod(0o600)
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 "--basic-auth-file", str(hp))
        s1.wait_ready("leader")
        t.server = s1
        pat = __import__("re").compile(r"--join-fingerprint[ =](sha256:[0-9a-fA-F]{64})")
        t.fingerprint = wait_until(lambda: (m := pat.search(s1.log())) and m.group(1), 10,
                                   "fingerprint")
        before = voters_state(t)

        def secret_config(name, user, pw):
            # In a 0600 file, not on the command line (ps shows that).
            f = t.dir / f"{name}.yaml"
            f.write_text(f"basic-auth-user: {user}\nbasic-auth-password: {pw}\n")
            f.chmod(0o600)
            return ["--config", str(f)]
        bad = t.add_node("m2")
        bad.start(*t.join_args(bad, *secret_config("m2", "m2", "wrong-Password-9")))
        refused(bad, "UNAUTHENTICATED", "authentication failed")
        assert voters_state(t) == before
        good = t.add_node("m1")
        good.start(*t.join_args(good, *secret_config("m1", "m1", BASIC_PW)))
        good.wait_ready("member")
        # A user may join only as itself: m1's password does not make it m3
        # (the joiner proves m3's key, its credentials name m1).
        imp = t.add_node("m3")
        imp.start(*t.join_args(imp, *secret_config("m3", "m1", BASIC_PW)))
        refused(imp, "PERMISSION_DENIED", "node proof for m3 but credentials of m1")
        for n in t.nodes.values():
            log = n.log()
            assert BASIC_PW not in log and "wrong-Password-9" not in log, n.name


# ---- network ACLs ---------------------------------------------------------

def mesh_ip(node):
    return host_ip(node.status()["address_ipv4"])


def test_acl_deny_stops_peering_and_port_deny_drops_tcp():
    with topology() as t:
        s1 = t.bootstrap("s1")
        a, b, c = t.join("a"), t.join("b"), t.join("c")
        key = {n.name: n.status()["public_key"] for n in (a, b, c)}
        wait_until(lambda: key["b"] in a.wg_peers(), 30, "a to peer with b")
        before = state_of(s1)
        # Deny a <-> b completely: they stop peering (and nothing else changes).
        s1.wmctl("put", "networkacls", "no-a-b", "--action", "deny", "--priority", "100",
                 "--src", "a,b", "--dst", "a,b")
        wait_until(lambda: key["b"] not in a.wg_peers() and key["a"] not in b.wg_peers(),
                   30, "a and b to stop peering")
        assert key["c"] in a.wg_peers() and key["c"] in b.wg_peers()
        assert state_of(s1) == before  # nodes and graph: ACLs are stored beside them
        # Port level: c may not open tcp/8080 on a, but may ping it and reach 8081.
        s1.wmctl("put", "networkacls", "no-c-a-8080", "--action", "deny", "--priority", "90",
                 "--src", "c", "--dst", "a", "--proto", "tcp", "--port", "8080")
        ip = mesh_ip(a)
        servers = [subprocess.Popen(["ip", "netns", "exec", a.ns, "python3", "-m",
                                     "http.server", "--bind", ip, str(port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    cwd=str(t.dir))
                   for port in (8080, 8081)]
        try:
            def tcp(port):
                return c.netns_exec("python3", "-c",
                                    "import socket,sys; socket.create_connection("
                                    f"(sys.argv[1], {port}), timeout=2).close()", ip,
                                    check=False, timeout=20).returncode == 0
            wait_until(lambda: tcp(8081), 30, "c to reach a:8081")
            wait_until(lambda: "acl" in a.exec("nft", "list", "table", "inet", "webmesh").stdout
                       and "8080" in a.exec("nft", "list", "table", "inet", "webmesh").stdout,
                       30, "a to install the port rule")
            assert not tcp(8080)
            assert c.ping(ip)
            assert tcp(8081)
        finally:
            for p in servers:
                p.terminate()
                p.wait(timeout=10)
        # Removing the ACLs brings the peering back.
        s1.wmctl("delete", "networkacls", "no-a-b")
        wait_until(lambda: key["b"] in a.wg_peers(), 30, "a and b to peer again")


def test_key_auth_join_with_an_ed25519_key():
    with topology() as t:
        keys = t.dir / "keys"
        keys.mkdir(mode=0o700)
        pub = run([str(WMCTL), "pki", "keygen", str(keys / "k1")]).stdout.strip()
        run([str(WMCTL), "pki", "keygen", str(keys / "stranger")])
        allowed = t.dir / "allowed-keys"
        allowed.write_text(f"k1 {pub}\n")
        s1 = t.add_node("s1")
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 "--key-auth-keys-file", str(allowed))
        s1.wait_ready("leader")
        t.server = s1
        pat = __import__("re").compile(r"--join-fingerprint[ =](sha256:[0-9a-fA-F]{64})")
        t.fingerprint = wait_until(lambda: (m := pat.search(s1.log())) and m.group(1), 10,
                                   "fingerprint")
        assert s1.status()["auth_methods"] == "key"
        before = voters_state(t)
        # A key that is not listed for the node is refused.
        bad = t.add_node("k2")
        bad.start(*t.join_args(bad, "--key-auth-private-key-file", str(keys / "stranger")))
        refused(bad, "UNAUTHENTICATED", "authentication failed")
        assert voters_state(t) == before
        good = t.add_node("k1")
        good.start(*t.join_args(good, "--key-auth-private-key-file", str(keys / "k1")))
        good.wait_ready("member")
