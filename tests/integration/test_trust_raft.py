"""Issue 10, item 3: Raft is closed to everyone but Raft members.

Three voters (s1 bootstraps, s2 and s3 join with --voter) and one plain
member c1. The member tries the leader's Raft port (its mesh address, port
9000) over WireGuard:

- as it is: nftables resets the connection (only the voters' mesh addresses
  are in the raft-servers set);
- with the nft rule bypassed (a test-only accept for c1 inserted on the
  leader): libraft's own handshake followed by a forged RequestVote with a
  far higher term, and a TLS session with a forged hello claiming to be s2,
  are each refused by the authenticated transport, with the reason in the
  leader's log.

After each attack the leader and its term are unchanged and the state of
every voter (Node.state_dump) is byte-identical to before.
"""

import hashlib
import json
import struct
import textwrap

import pytest

from test_ha import build_servers, status, wait_cluster
from wmtest import agreed_dumps, PYTHON, host_ip, topology, wait_until

VOTERS = ("s1", "s2", "s3")
RAFT_PORT = 9000
RAFT_IO_REQUEST_VOTE = 3


def raft_id(node_id):
    """wm_store_raft_id: the first 8 bytes of SHA-256(node ID), never 0."""
    v = int.from_bytes(hashlib.sha256(node_id.encode()).digest()[:8], "big")
    return v or 1


def libraft_handshake(server_id, address):
    """libraft 0.15's TCP handshake (uv_tcp_connect.c): protocol 1, server
    ID, the padded length of the NUL-terminated address, the address."""
    addr = address.encode() + b"\0"
    addr += b"\0" * (-len(addr) % 8)
    return struct.pack("<QQQ", 1, server_id, len(addr)) + addr


def request_vote(term, candidate_id):
    """A RequestVote as uv_encoding.c writes it: type and body length, then
    term, candidate, last log index and term, flags (1: disrupt the
    leader, so that even a healthy leader's followers would vote)."""
    body = struct.pack("<QQQQQ", term, candidate_id, 1 << 40, term, 1)
    return struct.pack("<QQ", RAFT_IO_REQUEST_VOTE, len(body)) + body


def forged_hello(node_id, address):
    """Our transport's hello (core/raft_hello.h) with a MAC that proves
    nothing: the attacker does not hold node_id's WireGuard key."""
    nid, addr = node_id.encode(), address.encode()
    body = (bytes([len(nid)]) + nid + struct.pack(">Q", raft_id(node_id)) + bytes([len(addr)])
            + addr + b"\x42" * 32)
    return b"WMR1" + struct.pack(">H", len(body)) + body


# Runs in the member's namespace: one TCP connection, the payload, then what
# the server did (reset, closed, or still open after the wait).
CLIENT = textwrap.dedent("""
    import json, socket, ssl, sys
    host, port, mode, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3], bytes.fromhex(sys.argv[4])
    out = {}
    s = socket.socket()
    s.settimeout(10)
    try:
        s.connect((host, port))
    except OSError as e:
        print(json.dumps({"connect": type(e).__name__})); sys.exit(0)
    out["connect"] = "ok"
    try:
        if mode == "tls":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            s = ctx.wrap_socket(s)
            out["tls"] = s.version()
        s.sendall(payload)
        data = s.recv(4096)
        out["after"] = "closed" if not data else "data:" + data.hex()
    except socket.timeout:
        out["after"] = "open"
    except (OSError, ssl.SSLError) as e:
        out["after"] = type(e).__name__
    print(json.dumps(out))
""")


def attack(member, host, mode, payload):
    out = member.exec(PYTHON, "-c", CLIENT, host, str(RAFT_PORT), mode, payload.hex(),
                      timeout=60).stdout
    return json.loads(out)


def snapshot(topo):
    """(leader ID, term) as every voter sees it, and every voter's state,
    once the voters' replicas agree: a change committed just before (the
    fixture's join of c1) may still be on its way to a follower, and a
    "before" taken then would differ from an "after" without any attack."""
    sts = {v: status(topo.nodes[v]) for v in VOTERS}
    views = {(s.get("leader_id"), s.get("term")) for s in sts.values()}
    assert len(views) == 1, f"voters disagree on leader and term: {sts}"
    return views.pop(), agreed_dumps(topo.nodes[v] for v in VOTERS)


@pytest.fixture(scope="module")
def mesh():
    with topology() as topo:
        build_servers(topo, voters=VOTERS, observers=())
        topo.join("c1")
        wait_cluster(topo, voters=VOTERS, observers=())
        yield topo


def leader_of(topo):
    return wait_cluster(topo, voters=VOTERS, observers=())


def mesh_ip(node):
    return host_ip(status(node)["address_ipv4"])


def raft_servers_set(node):
    out = node.exec("nft", "-j", "list", "set", "inet", "webmesh", "raft-servers").stdout
    for item in json.loads(out)["nftables"]:
        if "set" in item:
            return set(item["set"].get("elem", []))
    return set()


class Bypass:
    """A test-only nft rule on node accepting src at the head of raft-input,
    as if the attacker had got around the firewall."""

    def __init__(self, node, src):
        self.node, self.src = node, src

    def __enter__(self):
        self.node.exec("nft", "insert", "rule", "inet", "webmesh", "raft-input", "ip", "saddr",
                       self.src, "accept", "comment", '"test-bypass"')
        return self

    def __exit__(self, *exc):
        out = self.node.exec("nft", "-a", "list", "chain", "inet", "webmesh",
                             "raft-input").stdout
        for line in out.splitlines():
            if "test-bypass" in line:
                handle = line.rsplit("handle", 1)[1].split()[0]
                self.node.exec("nft", "delete", "rule", "inet", "webmesh", "raft-input",
                               "handle", handle)


def test_member_is_refused_by_the_firewall(mesh):
    leader = leader_of(mesh)
    c1 = mesh.nodes["c1"]
    voters_ips = {mesh_ip(mesh.nodes[v]) for v in VOTERS}
    for v in VOTERS:
        node = mesh.nodes[v]
        wait_until(lambda: raft_servers_set(node) == voters_ips, 30,
                   f"{v}'s raft-servers set to be the voters' mesh addresses")
    assert mesh_ip(c1) not in raft_servers_set(leader)
    before = snapshot(mesh)
    got = attack(c1, mesh_ip(leader), "plain",
                 libraft_handshake(raft_id("s2"), "1.2.3.4:9000"))
    assert got == {"connect": "ConnectionRefusedError"}, got
    assert snapshot(mesh) == before


def test_forged_request_vote_changes_nothing(mesh):
    leader = leader_of(mesh)
    c1 = mesh.nodes["c1"]
    c1_ip = mesh_ip(c1)
    (lid, term), dumps = snapshot(mesh)
    candidate = next(v for v in VOTERS if v != leader.name)
    payload = (libraft_handshake(raft_id(candidate), f"{c1_ip}:{RAFT_PORT}")
               + request_vote(term + 100, raft_id(candidate)))
    with Bypass(leader, c1_ip):
        got = attack(c1, mesh_ip(leader), "plain", payload)
    assert got["connect"] == "ok", got
    assert got["after"] in ("closed", "ConnectionResetError"), got
    reason = f"raft: connection from {c1_ip} refused: not TLS (first byte 0x01)"
    wait_until(lambda: reason in leader.log(), 10, f"{reason!r} in {leader.name}'s log")
    # Give a successful RequestVote time to depose the leader (a few
    # heartbeats); none may have.
    wait_until(lambda: leader.status().get("raft_state") == "leader", 5, "the leader to lead")
    assert snapshot(mesh) == ((lid, term), dumps)


def test_forged_hello_inside_tls_changes_nothing(mesh):
    leader = leader_of(mesh)
    c1 = mesh.nodes["c1"]
    c1_ip = mesh_ip(c1)
    before = snapshot(mesh)
    candidate = next(v for v in VOTERS if v != leader.name)
    payload = forged_hello(candidate, f"{c1_ip}:{RAFT_PORT}")
    with Bypass(leader, c1_ip):
        got = attack(c1, mesh_ip(leader), "tls", payload)
    assert got["connect"] == "ok" and got.get("tls") == "TLSv1.3", got
    assert got["after"] in ("closed", "ConnectionResetError", "SSLEOFError",
                            "SSLZeroReturnError"), got
    reason = (f"raft: connection from {c1_ip} refused: node {candidate} did not prove its "
              "WireGuard key")
    wait_until(lambda: reason in leader.log(), 10, f"{reason!r} in {leader.name}'s log")
    assert snapshot(mesh) == before


def test_firewall_follows_the_configuration(mesh, pb_gen):
    """Last (it shrinks the cluster): a voter removed from the mesh drops
    out of every remaining voter's raft-servers set."""
    leader = leader_of(mesh)
    gone = next(mesh.nodes[v] for v in VOTERS if v != leader.name)
    gone_ip = mesh_ip(gone)
    rest = [mesh.nodes[v] for v in VOTERS if v != gone.name]
    rest_ips = {mesh_ip(n) for n in rest}
    assert all(gone_ip in raft_servers_set(n) for n in rest)
    leave = {"op": "unary", "method": "/webmesh.v1.Membership/Leave",
             "request_type": "webmesh.v1.LeaveRequest",
             "response_type": "webmesh.v1.LeaveResponse", "request": {"id": gone.name}}
    res = mesh.grpc(pb_gen, leader, [leave], via="unix")
    assert res[0]["code"] == "OK", res
    for n in rest:
        wait_until(lambda: raft_servers_set(n) == rest_ips, 30,
                   f"{n.name}'s raft-servers set to drop {gone.name}")
