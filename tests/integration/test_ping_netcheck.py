"""wmctl ping and wmctl netcheck (issue 14) on the NAT lab of test_nat.py:
two sites behind masquerading routers, a public server and coturn.

coturn listens on two public addresses here, so that a site asks two STUN
servers from one socket as netcheck does: a cone NAT shows both the same
mapping, a symmetric one a new port per destination. A third STUN address
that nobody serves shows what an unreachable server looks like.
"""

import json
import time

import pytest

import wmtest
from nslab import COTURN_DENY_PRIVATE, NsLab
from wmtest import run, wait_until
from test_nat import NatLab, PUBLIC_IP, ROUTER_WAN, lab_factory  # noqa: F401 (fixture)

STUN2_IP = "203.0.113.12"
DEAD_STUN = "203.0.113.99"


class PingLab(NatLab):
    def start_coturn(self):
        run(["ip", "-n", self.ns("public"), "addr", "add", f"{STUN2_IP}/24", "dev", "br0"])
        NsLab.start_coturn(self, [PUBLIC_IP, STUN2_IP], PUBLIC_IP,
                           COTURN_DENY_PRIVATE + "\nno-rfc5780")

    def wmctl(self, side, *args, check=True, timeout=60):
        name = "server" if side == "server" else f"site-{side}"
        return run([wmtest.WMCTL, "--socket", self.dir / name / "webmesh.sock", *args],
                   check=check, timeout=timeout)

    def state_dump(self):
        """The server's replica, every row of every table (as wmtest's)."""
        db = str(self.dir / "server" / "state.db")
        tables = run(["sqlite3", "-readonly", db, "SELECT name FROM sqlite_master WHERE "
                      "type = 'table' ORDER BY name"]).stdout.split()
        assert tables
        return {t: sorted(json.loads(run(["sqlite3", "-readonly", "-json", db,
                                          f'SELECT * FROM "{t}"']).stdout or "[]"),
                          key=lambda r: json.dumps(r, sort_keys=True)) for t in tables}

    def netcheck(self, side):
        return json.loads(self.wmctl(side, "netcheck", "--wait-ms", "3000", "-o",
                                     "json").stdout)

    def ping(self, side, node, count=3):
        p = self.wmctl(side, "ping", node, "-c", str(count), "--interval-ms", "200",
                       "--wait-ms", "1500", "-o", "json", check=False)
        # 0: answers came back, 1: none did (as ping(8)); anything else is a
        # crash or a sanitizer's report
        assert p.returncode in (0, 1), p.stdout + p.stderr
        r = json.loads(p.stdout) if p.stdout.strip() else {"stderr": p.stderr}
        assert (p.returncode == 0) == bool(r.get("received")), r
        return r


@pytest.fixture
def ping_lab(lab_factory):  # noqa: F811
    labs = []

    def make(nat_a, nat_b):
        # lab_factory's checks and cleanup, with the two-address coturn
        lab = lab_factory(nat_a=nat_a, nat_b=nat_b)
        lab.__class__ = PingLab
        labs.append(lab)
        return lab
    return make


def _start(lab):
    lab.start_coturn()
    lab.start_server()
    for side in ("a", "b"):
        lab.start_node(side, "--stun-servers", f"stun:{STUN2_IP}:3478", "--stun-servers",
                       f"stun:{DEAD_STUN}:3478")
    wait_until(lambda: lab.address("a") and lab.address("b"), 60, "both sites to join")


def _three_answers(lab, side, other, path, timeout):
    """Once site-side's peer other is on path (within timeout s), wmctl ping
    until all three echoes answer; the ping's JSON."""
    def on_path():
        p = lab.peer(side, other)
        return p if p and p["path"] == path else None
    wait_until(on_path, timeout, f"site-{side}'s {path} path to {other}")
    return wait_until(lambda: (lambda x: x if x.get("received") == 3 else None)(
        lab.ping(side, other)), 40, f"three answers from {other} over {path}")


def _checks(nc, kind):
    return {c["address"]: c for c in nc.get("checks", []) if c["kind"] == kind}


def _paths(nc):
    return {p["path"]: p for p in nc["paths"]}


def _assert_netcheck(lab, side, mapping):
    # The sites learn the TURN server from the server (GetTurnCredentials)
    # just after they join.
    def with_turn():
        nc = lab.netcheck(side)
        return nc if _checks(nc, "turn") else None
    nc = wait_until(with_turn, 30, f"site-{side}'s netcheck to list a TURN server")
    assert f"10.{1 if side == 'a' else 2}.0.2" in nc["addresses"], nc
    assert nc["mapped"].startswith(ROUTER_WAN[side] + ":"), nc
    assert nc["nat_mapping"] == mapping, nc
    stun = _checks(nc, "stun")
    for ip in (PUBLIC_IP, STUN2_IP):
        c = stun[f"{ip}:3478"]
        assert c["reachable"] and c["mapped"].startswith(ROUTER_WAN[side] + ":"), nc
    assert not stun[f"{DEAD_STUN}:3478"]["reachable"], nc
    assert stun[f"{DEAD_STUN}:3478"]["error"] == "no answer", nc
    # the TURN server the server handed out answers (a 401: no credentials sent)
    turn = _checks(nc, "turn")[f"{PUBLIC_IP}:3478"]
    assert turn["reachable"] and turn["rtt_ms"] < 3000, nc
    server = _checks(nc, "server")[f"{PUBLIC_IP}:8443"]
    assert server["reachable"] and server["error"] == "", nc
    paths = _paths(nc)
    assert paths["direct"]["possible"]
    assert "libp2p" not in paths
    return nc, paths


def _grpc(lab, gen, sock, ops):
    out = run([wmtest.PYTHON, wmtest.GRPC_CLIENT, "--gen", gen, "--unix", sock],
              input=json.dumps(ops), timeout=60).stdout
    return json.loads(out)


def test_ping_reports_direct_and_ice_paths(ping_lab, pb_gen):
    """site-a pings the public server directly and site-b over a hole-punched
    ICE pair (the edge asks for ICE); a cone NAT is endpoint-independent in
    netcheck."""
    lab = ping_lab("cone", "cone-snat")
    try:
        _start(lab)
        # site-b may use an ICMP ping socket (as under systemd's
        # ping_group_range, which webmeshd.service relies on: no CAP_NET_RAW);
        # site-a keeps the kernel's default, which allows none: a raw socket.
        run(["ip", "netns", "exec", lab.ns("site-b"), "sysctl", "-q", "-w",
             "net.ipv4.ping_group_range=0 2147483647"])
        r = wait_until(lambda: (lambda x: x if x.get("received") == 3 else None)(
            lab.ping("b", "server")), 30, "site-b's pings to the server")
        assert all(p["path"] == "direct" for p in r["replies"]), r
        r = wait_until(lambda: (lambda x: x if x.get("received") else None)(
            lab.ping("a", "server")), 30, "site-a's pings to the server")
        assert r["node_id"] == "server" and r["sent"] == 3, r
        got = [p for p in r["replies"] if p.get("received")]
        assert got and all(p["path"] == "direct" for p in got), r
        assert all(p["rtt_us"] > 0 and p["endpoint"] == f"{PUBLIC_IP}:51820" for p in got), r

        # Both cone NATs keep WireGuard's port and both sites advertise it
        # (two STUN servers agree), so WireGuard alone may punch through:
        # the edge's ice attribute puts the pair on ICE for sure.
        lab.wmctl("server", "put", "edge", "site-a", "site-b", "--attr", "ice=true")

        r = _three_answers(lab, "a", "site-b", "ice-direct", 60)
        for p in r["replies"]:
            # a hole punched through the NATs, not WireGuard's own endpoint
            assert p["path"] == "ice_srflx", r
            assert p["local_candidate"] and p["remote_candidate"], r
        table = lab.wmctl("a", "ping", "site-b", "-c", "1").stdout
        assert "seq=0 ice-srflx" in table and "1 received" in table, table
        # Idle, the pair stays on ICE. The controlling side (site-a) hears
        # nothing from an idle peer: its keepalives restart the other's
        # timer, which then never fires. It took that for a dead path and
        # tore the session down every 17-20 s; only the controlled side,
        # which hears those keepalives, may call the path silent so soon.
        time.sleep(25)  # the daemon's 16 s rule, not scaled
        for side, other in (("a", "site-b"), ("b", "site-a")):
            assert lab.peer(side, other)["path"] == "ice-direct", lab.peer(side, other)
            assert "the path went silent" not in lab.log(f"site-{side}"), side

        nc, paths = _assert_netcheck(lab, "a", "endpoint-independent")
        assert nc["port_preserved"], nc
        assert paths["ice_srflx"]["possible"], paths
        assert paths["ice_relay"]["possible"], paths

        # a node that is not a peer: refused by the daemon, and said so;
        # no refusal below changes the mesh's state
        before = lab.state_dump()
        p = lab.wmctl("a", "ping", "nosuch", check=False)
        assert p.returncode == 1
        assert "NOT_FOUND: nosuch is not a peer of this node (wmctl status lists them)" \
            in p.stderr, p.stderr
        # and wmctl refuses a bad count before asking
        p = lab.wmctl("a", "ping", "site-b", "-c", "0", check=False)
        assert p.returncode == 2 and "ping -c takes 1..100, not \"0\"" in p.stderr, p.stderr
        # the daemon checks what another client sends (python3-grpcio)
        ping = {"op": "unary", "method": "/webmesh.v1.Node/Ping",
                "request_type": "webmesh.v1.PingRequest", "response_type": "webmesh.v1.PingResponse"}
        res = _grpc(lab, pb_gen, str(lab.dir / "site-a" / "webmesh.sock"), [
            dict(ping, request={"node_id": "site-b", "count": 101}),
            dict(ping, request={"node_id": "site-b", "interval_ms": 50}),
            dict(ping, request={"node_id": "Bad_ID"}),
            {"op": "unary", "method": "/webmesh.v1.Node/NetCheck",
             "request_type": "webmesh.v1.NetCheckRequest", "response_type": "webmesh.v1.NetCheckResponse",
             "request": {"timeout_ms": 20000}},
        ])
        assert [(r["code"], r["details"]) for r in res] == [
            ("INVALID_ARGUMENT", "count must be 1..100, not 101"),
            ("INVALID_ARGUMENT", "interval_ms must be 100..10000, not 50"),
            ("INVALID_ARGUMENT",
             'invalid node ID "Bad_ID": has upper-case letters (use lower case)'),
            ("INVALID_ARGUMENT", "timeout_ms must be 200..10000, not 20000"),
        ], res
        assert lab.state_dump() == before
    except BaseException:
        print(lab.logs())
        raise


def test_netcheck_symmetric_nat(ping_lab):
    """Behind a symmetric NAT each STUN server sees another port: netcheck says
    endpoint-dependent, that hole punching will not work and the relay will;
    and wmctl ping to the other site goes through the relay and says so."""
    lab = ping_lab("cone", "symmetric")
    try:
        _start(lab)
        nc, paths = _assert_netcheck(lab, "b", "endpoint-dependent")
        stun = _checks(nc, "stun")
        assert stun[f"{PUBLIC_IP}:3478"]["mapped"] != stun[f"{STUN2_IP}:3478"]["mapped"], nc
        assert not paths["ice_srflx"]["possible"], paths
        assert "symmetric" in paths["ice_srflx"]["why"], paths
        assert paths["ice_relay"]["possible"], paths
        table = lab.wmctl("b", "netcheck").stdout
        assert "NAT mapping endpoint-dependent" in table and "ice-relay" in table, table
        # the cone side of the same lab, for contrast
        _assert_netcheck(lab, "a", "endpoint-independent")
        # the public server: no STUN server of its own, its TURN server
        # configured, its public endpoint advertised
        nc = lab.netcheck("server")
        assert PUBLIC_IP in nc["addresses"] and f"{PUBLIC_IP}:51820" in nc["endpoints"], nc
        assert nc["mapped"] == "" and nc["nat_mapping"] == "unknown", nc
        assert _checks(nc, "turn")[f"{PUBLIC_IP}:3478"]["reachable"], nc
        paths = _paths(nc)
        assert paths["direct"]["why"] == \
            "any peer can reach this node at its public endpoint", paths
        assert not paths["ice_srflx"]["possible"] and paths["ice_srflx"]["why"] == \
            "no STUN server configured: no reflexive candidates", paths

        # wmctl ping over the TURN relay: between the cone and the symmetric
        # site ICE finds no hole, so every echo goes through coturn, and each
        # says so (ice_relay, with the relayed candidate)
        r = _three_answers(lab, "b", "site-a", "ice-relay", 90)
        assert r["node_id"] == "site-a" and r["sent"] == 3, r
        for p in r["replies"]:
            assert p["path"] == "ice_relay", r
            assert p["rtt_us"] > 0, r
            assert "relay" in p["local_candidate"] + p["remote_candidate"], r
        table = lab.wmctl("b", "ping", "site-a", "-c", "1").stdout
        assert "seq=0 ice-relay" in table and "1 received" in table, table
    except BaseException:
        print(lab.logs())
        raise
