"""Issue 10, "only proven servers speak for others": forwarding metadata
(x-webmesh-proxied-for, x-webmesh-proxied-from) is honoured only from a
caller that proves with its node key (a node proof) that it is a current
voter or observer; users and nodes live in separate name spaces.

The mesh: s1 bootstraps with mTLS and basic auth; s2 joins as a voter exactly
as the README shows (without --mtls); s3 joins as a voter that enforces mTLS
and basic auth; m1 is a plain member. The attacker is an independent client
(python3-grpcio, auth_call.py) that computes node proofs with its own code.
Every refusal asserts the status and the exact reason, and that the
replicated state of every voter is byte-identical before and after."""

import importlib
import json
from pathlib import Path

import pytest

from wmtest import (agreed_dumps, API_PORT, PYTHON, WG_PORT, WMCTL, generate_protos, run, topology,
                    wait_until)

AUTH_CALL = Path(__file__).resolve().parent / "auth_call.py"
PUT_EDGE = "/webmesh.v1.Admin/PutEdge"
BASIC_PW = "Server-Named-Pw-7"

NOT_PROVEN = ("only proven servers may forward calls: {} needs the node proof of a "
              "current voter or observer")
FOR = "x-webmesh-proxied-for"
FROM = "x-webmesh-proxied-from"


def pki(ca_dir, *args):
    return run([str(WMCTL), "pki", *args, "--dir", str(ca_dir)])


def creds(ca, name):
    return ["--tls-cert", str(ca / f"{name}.crt"), "--tls-key", str(ca / f"{name}.key")]


def wait_follower(node, leader="s1"):
    def ready():
        if not node.running():
            raise AssertionError(f"{node.name} exited\n{node.log_tail()}")
        s = node.status()
        return s.get("raft_state") == "follower" and s.get("leader_id") == leader
    wait_until(ready, 90, f"{node.name} to follow {leader}")


@pytest.fixture(scope="module")
def mesh():
    crypt = importlib.import_module("crypt")  # stdlib: a missing one must fail, not skip
    with topology() as t:
        ca = t.dir / "pki"
        pki(ca, "init")
        # Server certificates for the nodes that serve (m2 serves without a
        # replica), client ones for the rest.
        for n in ("s1", "s2", "s3", "m2"):
            pki(ca, "issue", n, "--server-cert")
        for n in ("m1", "admin"):
            pki(ca, "issue", n)
        hp = t.dir / "htpasswd"
        # A basic-auth user whose name is a server's node ID.
        hp.write_text(f"s3:{crypt.crypt(BASIC_PW, crypt.mksalt(crypt.METHOD_SHA512))}\n")
        hp.chmod(0o600)
        t.ca = ca
        auth = ["--ca-file", str(ca / "ca.crt"), "--mtls", "--basic-auth-file", str(hp)]
        s1 = t.add_node("s1")
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 *creds(ca, "s1"), *auth, "--bootstrap-voters", "s2,s3")
        s1.wait_ready("leader")
        t.server = s1

        def joiner(name, *extra):
            node = t.add_node(name)
            node.start("--join", f"{s1.underlay}:{API_PORT}", "--ca-file", str(ca / "ca.crt"),
                       "--node-id", name, "--endpoints", f"{node.underlay}:{WG_PORT}",
                       *creds(ca, name), *extra)
            return node
        # The README's voter join: --voter without --mtls. Whether such a
        # node may serve at all is another test's concern (issue 10, part
        # 1); this file holds either way.
        s2 = joiner("s2", "--voter")
        s3 = joiner("s3", "--voter", *auth)
        m1 = joiner("m1")
        m1.wait_ready("member")
        wait_follower(s3)
        try:
            wait_follower(s2)
        except AssertionError:
            pass  # refused to serve: not a target then
        t.gen = t.dir / "gen"
        t.gen.mkdir()
        generate_protos(t.gen)
        t.client_ns = t.add_client()
        # Every joiner learnt its server's ID and key and made node proofs.
        for n in (s3, m1):
            assert "without a node proof" not in n.log(), n.log_tail()
        yield t


def voters(t):
    return [t.nodes[n] for n in ("s1", "s2", "s3") if t.nodes[n].running()]


def dumps(t):
    return agreed_dumps(voters(t))


def targets(t):
    """The voters serving an API: (node, whether it authenticates callers)."""
    out = []
    for n in voters(t):
        st = n.status()
        out.append((n, st.get("auth_methods", "none") != "none"))
    return out


def call(t, server, *, cert=None, basic=None, metadata=(), proof=None, request=None,
         audience=None, window=0, method=PUT_EDGE, types=("PutEdgeRequest", "AdminWriteResponse"),
         timeout=10):
    """PutEdge from the client namespace to server; proof is (WireGuard key
    file, node ID) for a node proof made for audience (default: server),
    window windows of 30 s away from now."""
    if request is None:
        request = {"source": "s1", "target": "m1", "weight": 3}
    args = [PYTHON, AUTH_CALL, "--gen", t.gen, "--target", f"{server.underlay}:{API_PORT}",
            "--ca", t.ca / "ca.crt", "--name", server.name, "--method", method,
            "--request", types[0], "--response", types[1],
            "--json", json.dumps(request), "--timeout", timeout]
    if cert:
        args += ["--cert", t.ca / f"{cert}.crt", "--key", t.ca / f"{cert}.key"]
    if basic:
        args += ["--basic", basic]
    if proof:
        key_file, node_id = proof
        audience = audience or server
        args += ["--proof-key", key_file, "--proof-id", node_id, "--audience", audience.name,
                 "--audience-pub", audience.status()["public_key"], "--proof-window", window]
    for k, v in metadata:
        args += ["--metadata", f"{k}={v}"]
    p = run(["ip", "netns", "exec", t.client_ns, *[str(a) for a in args]], timeout=timeout + 30)
    return json.loads(p.stdout)


def wg_key(node):
    return node.state_dir / "wireguard.key"


def metadata_values(t):
    """Each forwarding metadata value the issue names, and proxied-from alone."""
    return [[(FOR, v)] for v in ("@local", "admin", "user:admin", "node:s1", "s1", "s3")] + \
        [[(FROM, "s1")], [(FOR, "node:s1"), (FROM, "s1")]]


def expect(r, code, details):
    assert (r["code"], r["details"]) == (code, details), r


def test_outsider_without_certificate_cannot_forward(mesh):
    """The issue's first scenario: no certificate, each forwarding metadata
    value, to the README-joined voter, the mTLS voter and the leader."""
    t = mesh
    before = dumps(t)
    for server, authenticates in targets(t):
        for md in metadata_values(t):
            r = call(t, server, metadata=md)
            if authenticates:
                expect(r, "UNAUTHENTICATED", "authentication failed")
            else:
                expect(r, "PERMISSION_DENIED", NOT_PROVEN.format(md[0][0]))
        if not authenticates and server.name != "s1":
            # Without metadata an open voter forwards the outsider as
            # anonymous, never as itself: the leader refuses it.
            expect(call(t, server), "PERMISSION_DENIED",
                   FOR + ": anonymous callers are not forwarded into a mesh with "
                   "authentication")
    assert dumps(t) == before


def test_user_named_like_a_server_cannot_forward(mesh):
    t = mesh
    before = dumps(t)
    s1, s3 = t.nodes["s1"], t.nodes["s3"]
    for server in (s1, s3):
        for md in metadata_values(t):
            r = call(t, server, basic=f"s3:{BASIC_PW}", metadata=md)
            expect(r, "PERMISSION_DENIED", NOT_PROVEN.format(md[0][0]))
        # A node proof for s3 made with another key is no proof.
        other = t.dir / "not-s3.key"
        if not other.exists():
            other.write_text(run(["wg", "genkey"]).stdout)
        r = call(t, server, basic=f"s3:{BASIC_PW}", proof=(other, "s3"),
                 metadata=[(FOR, "user:admin")])
        expect(r, "UNAUTHENTICATED", "the node proof does not match node s3's key")
        # As a user it is a user: the voters' rights are node s3's, not its.
        expect(call(t, server, basic=f"s3:{BASIC_PW}"), "PERMISSION_DENIED",
               "s3 may not put edges")
    assert dumps(t) == before


def test_member_with_node_proof_cannot_forward(mesh):
    t = mesh
    before = dumps(t)
    m1 = t.nodes["m1"]
    for server in (t.nodes["s1"], t.nodes["s3"]):
        for md in metadata_values(t):
            r = call(t, server, cert="m1", proof=(wg_key(m1), "m1"), metadata=md)
            expect(r, "PERMISSION_DENIED", NOT_PROVEN.format(md[0][0]))
        # The proof holds (m1 is node m1 now), and m1 may not put edges.
        expect(call(t, server, cert="m1", proof=(wg_key(m1), "m1")), "PERMISSION_DENIED",
               "m1 may not put edges")
        # A proof two windows old is outside the skew (30 s).
        r = call(t, server, cert="m1", proof=(wg_key(m1), "m1"), window=-2)
        expect(r, "UNAUTHENTICATED",
               "the node proof's time window is outside the allowed clock skew")
        # Holding s3's key does not make m1's certificate s3's.
        r = call(t, server, cert="m1", proof=(wg_key(t.nodes["s3"]), "s3"),
                 metadata=[(FOR, "user:admin")])
        expect(r, "PERMISSION_DENIED", "node proof for s3 but credentials of m1")
    # A proof made for s3 is no proof for s1 (replayed to another server).
    r = call(t, t.nodes["s1"], cert="m1", proof=(wg_key(m1), "m1"), audience=t.nodes["s3"])
    expect(r, "UNAUTHENTICATED", "the node proof does not match node m1's key")
    assert dumps(t) == before


def has_edge(node, a, b, weight):
    edges = json.loads(node.wmctl("get", "edges", "-o", "json").stdout)
    return any({e.get("source"), e.get("target")} == {a, b} and e.get("weight") == weight
               for e in edges.get("edges", []))


def test_forwarded_write_keeps_the_callers_kind(mesh):
    """Through a follower, a write is authorized as the original caller with
    its kind: a user: binding does not match the same name as a node."""
    t = mesh
    s1, s3, m1 = t.nodes["s1"], t.nodes["s3"], t.nodes["m1"]
    s1.wmctl("put", "role", "edge-writer", "--rule", "put:edges")
    s1.wmctl("put", "rolebinding", "edge-writers", "--role", "edge-writer",
             "--subject", "user:m1")
    wait_until(lambda: dumps(t)["s3"] == dumps(t)["s1"], 30, "s3 to catch up")
    # can-i tells the two name spaces apart; a bare name asks about either.
    for as_, want in (
            ("user:m1", "yes: user:m1 is allowed by role edge-writer (role binding edge-writers)"),
            ("node:m1", "no: "), ("m1", "yes: ")):
        out = s1.wmctl("auth", "can-i", "put", "edges", "--as", as_, check=False)
        assert out.stdout.strip().startswith(want), (as_, out.stdout, out.stderr)
    before = dumps(t)
    # m1 as a node (its node proof): forwarded as node:m1, which the user:
    # binding does not name; refused on the leader, nothing changes.
    r = call(t, s3, cert="m1", proof=(wg_key(m1), "m1"),
             request={"source": "s3", "target": "m1", "weight": 4})
    expect(r, "PERMISSION_DENIED", "m1 may not put edges")
    # s3's local socket is forwarded as node s3, never as "@local".
    p = s3.wmctl("put", "edge", "s3", "m1", "--weight", "4", check=False)
    assert p.returncode != 0 and "s3 may not put edges" in p.stderr, p.stderr
    assert dumps(t) == before
    # m1 as the user its certificate names: forwarded as user:m1, allowed.
    r = call(t, s3, cert="m1", request={"source": "s3", "target": "m1", "weight": 4})
    assert r["code"] == "OK", r
    # The admin through the follower, too.
    r = call(t, s3, cert="admin", request={"source": "s2", "target": "m1", "weight": 6})
    assert r["code"] == "OK", r
    for n in voters(t):
        wait_until(lambda: has_edge(n, "s3", "m1", 4) and has_edge(n, "s2", "m1", 6), 30,
                   f"both edges on {n.name}")


def test_registered_node_rejoins_only_with_its_proof(mesh):
    """A user named like a registered node cannot re-join it, not even with
    its public key; the node itself can (a restart re-joins with its proof)."""
    t = mesh
    m1 = t.nodes["m1"]
    join = dict(method="/webmesh.v1.Membership/Join", types=("JoinRequest", "JoinResponse"))
    before = dumps(t)
    for server in (t.nodes["s1"], t.nodes["s3"]):
        req = {"id": "m1", "publicKey": m1.status()["public_key"], "listenPort": WG_PORT}
        r = call(t, server, cert="m1", request=req, **join)
        expect(r, "PERMISSION_DENIED",
               "node m1 is registered: joining as it again needs its node proof")
        thief = t.dir / "thief.key"
        if not thief.exists():
            thief.write_text(run(["wg", "genkey"]).stdout)
        req["publicKey"] = run(["wg", "pubkey"], input=thief.read_text()).stdout.strip()
        r = call(t, server, cert="m1", request=req, proof=(thief, "m1"), **join)
        expect(r, "UNAUTHENTICATED", "the node proof does not match node m1's key")
    assert dumps(t) == before
    joins = m1.log().count("joined the mesh")
    m1.stop()
    m1.restart()
    wait_until(lambda: m1.log().count("joined the mesh") > joins, 60, "m1 to join again")
    assert "without a node proof" not in m1.log(), m1.log_tail()
    assert "refused" not in m1.log().split("start: webmeshd")[-1], m1.log_tail()


def test_member_without_replica_does_not_lend_its_name(mesh):
    """A member with --serve holds no replica, so it is no proven server: it
    passes on nothing in its own name for other callers."""
    t = mesh
    auth = ["--ca-file", str(t.ca / "ca.crt"), "--mtls", "--basic-auth-file",
            str(t.dir / "htpasswd")]
    m2 = t.add_node("m2")
    m2.start("--join", f"{t.nodes['s1'].underlay}:{API_PORT}", "--node-id", "m2",
             "--endpoints", f"{m2.underlay}:{WG_PORT}", *creds(t.ca, "m2"), *auth, "--serve")
    m2.wait_ready("member")
    wait_until(lambda: m2.status().get("subscribed"), 30, "m2 to follow its server")
    before = dumps(t)
    # Without a replica its gate grants nothing by RBAC ...
    r = call(t, m2, cert="admin", request={"source": "s1", "target": "m2", "weight": 5})
    expect(r, "PERMISSION_DENIED", "admin may not put edges")
    # ... and what a caller may do as itself is not passed on in m2's name
    # (its server would see m2 heartbeat for m1).
    r = call(t, m2, cert="m1", method="/webmesh.v1.Membership/Heartbeat",
             types=("HeartbeatRequest", "HeartbeatResponse"), request={"id": "m1"})
    expect(r, "FAILED_PRECONDITION", "this node holds no replica and cannot call for others: "
           "send /webmesh.v1.Membership/Heartbeat to a Raft voter or observer")
    # Forwarding metadata to it is refused like anywhere else.
    r = call(t, m2, cert="admin", metadata=[(FOR, "user:admin")])
    expect(r, "PERMISSION_DENIED", NOT_PROVEN.format(FOR))
    assert dumps(t) == before
    # Reads of the mesh depend on who asks (a node of the mesh, or RBAC's get
    # nodes): m2 has no replica to decide that for a user, so it refuses
    # rather than pass the read on in its own name.
    r = call(t, m2, cert="admin", method="/webmesh.v1.Mesh/ListNodes",
             types=("ListNodesRequest", "ListNodesResponse"), request={})
    expect(r, "PERMISSION_DENIED", "admin may not get nodes")
    # The same read on a server, which has the replica: admin's role allows it.
    r = call(t, t.nodes["s1"], cert="admin", method="/webmesh.v1.Mesh/ListNodes",
             types=("ListNodesRequest", "ListNodesResponse"), request={})
    assert r["code"] == "OK", r
    assert any(n.get("id") == "s1" for n in r["responses"][0].get("nodes", [])), r
