"""End to end (issue 16, "Failover in seconds"): what a member and a voter
see when a server dies, is cut off or restarts. Behaviour only; the times
are measured by bench/failover.

One class fixture: s1 bootstraps, s2 and s3 join as voters, c1 joins
through s1 and c2 through s2, all with default settings (keepalive,
heartbeats, liveness). The tests run in file order; each starts by healing
what an earlier one left dead or cut off.

- a member whose server is SIGKILLed, or cut off by an nftables drop (no
  RST, no FIN), follows another server and learns of a node that joined
  through another server afterwards, while pings between the members keep
  flowing;
- a voter that was away (crashed, restarted after an outage) is back in
  Raft: it follows the leader and holds what was written while it was gone;
- after a full restart of every voter, no member ever loses a WireGuard peer
  it had, and none is told it is not in the mesh (a server that has not
  caught up refuses with UNAVAILABLE instead).
"""

import os
import threading
import time

import pytest

from test_ha import (Pinger, build_servers, following, server_addresses, status, stop_together,
                     wait_cluster, wait_server)
from wmtest import API_PORT, WG_PORT, host_ip, scaled, topology, wait_until

VOTERS = ("s1", "s2", "s3")
# Pings between the members across a server's loss: the data plane does not
# depend on the control plane, so expect none lost; a few for a busy box.
PING_INTERVAL = 0.2
PING_COUNT = 50
MAX_LOST = 2
CUT_TABLE = "wmfailcut"
NOT_IN_MESH = "the mesh no longer lists this node"


def cut(node):
    """Drops every packet in and out of node's namespace but loopback's:
    the node is cut off without a reset or a FIN reaching anyone."""
    rules = (f"table inet {CUT_TABLE} {{\n"
             " chain in { type filter hook input priority -300; policy drop; iif lo accept; }\n"
             " chain out { type filter hook output priority -300; policy drop; oif lo accept; }\n"
             "}\n")
    node.netns_exec("nft", "-f", "-", input=rules)


def uncut(node):
    node.netns_exec("nft", "delete", "table", "inet", CUT_TABLE, check=False)


def heal(topo):
    for name in VOTERS:
        n = topo.nodes[name]
        uncut(n)
        if not n.running():
            n.crash()
            n.restart()
            wait_server(n)
    return wait_cluster(topo, VOTERS, ())


def join_member(topo, name, via):
    """A plain member joining through server via (not s1, whose fingerprint
    the topology pins), with default settings."""
    n = topo.add_node(name)
    n.start("--join", f"{via.underlay}:{API_PORT}", "--insecure-skip-verify", "--node-id",
            name, "--endpoints", f"{n.underlay}:{WG_PORT}")
    n.wait_ready("member")
    return n


@pytest.fixture(scope="class")
def fo():
    with topology() as topo:
        build_servers(topo, VOTERS, ())
        # c1's heartbeats come once a minute, so that only the API keepalive
        # can tell it in time that a cut-off server is gone
        topo.join("c1", "--heartbeat-interval-ms", "60000")
        join_member(topo, "c2", topo.nodes["s2"])
        yield topo


class PeerWatch:
    """Samples members' WireGuard peers in the background; records every
    sample that misses a key the member had at the start."""

    def __init__(self, members, interval=0.2, limit=3000):
        self.want = {m.name: set(m.wg_peers()) for m in members}
        self.members = members
        self.interval = interval
        self.limit = limit
        self.missing = []
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set() and self.samples < self.limit:
            for m in self.members:
                try:
                    have = set(m.wg_peers())
                except AssertionError:
                    continue  # a failed wg call is no observation
                gone = self.want[m.name] - have
                if gone:
                    self.missing.append((time.monotonic(), m.name, sorted(gone)))
            self.samples += 1
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(30)
        return self.missing


def lose_server(fo, how):
    """c1's server is SIGKILLed or cut off; c1 must follow another server,
    get a node that joined through a third one afterwards, and keep
    reaching c2. Returns the lost server."""
    c1, c2 = fo.nodes["c1"], fo.nodes["c2"]
    server = wait_until(lambda: following(fo, c1, VOTERS), 30, "c1 to follow one server")
    target = host_ip(status(c2)["address_ipv4"])
    wait_until(lambda: c1.ping(target, wait=1), 15, f"c1 -> c2 {target}", interval=0.2)
    pinger = Pinger(c1, target, count=PING_COUNT, interval=PING_INTERVAL)
    try:
        time.sleep(1.0)  # some pings before the loss
        if how == "kill":
            server.crash()
        else:
            cut(server)

        def moved():
            now = following(fo, c1, VOTERS)
            return status(c1).get("subscribed") is True and now and now is not server and now
        now = wait_until(moved, 15 if how == "cut" else 30,
                         f"c1 to follow a server other than {server.name}", interval=0.2)
        via = next(fo.nodes[v] for v in VOTERS if v not in (server.name, now.name))
        name = f"n-{how}"
        joined = join_member(fo, name, via)
        key = status(joined)["public_key"]
        wait_until(lambda: key in c1.wg_peers(), 20,
                   f"c1 to get {name}, joined through {via.name}", interval=0.2)
        sent, received = pinger.finish()
    finally:
        pinger.close()
    assert sent - received <= MAX_LOST, \
        f"c1 -> c2: {sent - received} of {sent} pings lost while {server.name} was lost"
    assert NOT_IN_MESH not in c1.log()
    return server


# pidfd_open and pidfd_getfd (Linux 5.6): a copy of another process's socket,
# to read its options.
SYS_PIDFD_OPEN = 434
SYS_PIDFD_GETFD = 438


def api_sockets_nodelay(node):
    """{(local, remote): TCP_NODELAY} of webmeshd's established TCP sockets
    on node to or from API_PORT, read from copies of its descriptors."""
    import ctypes
    import socket
    libc = ctypes.CDLL(None, use_errno=True)
    pid = node.pid
    inodes = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes[target[8:-1]] = int(name)
    conns = {}
    # tcp6 too: the API listens on [::] by default, so accepted IPv4
    # clients are v4-mapped IPv6 sockets
    lines = []
    for table in ("tcp", "tcp6"):
        lines += open(f"/proc/{pid}/net/{table}").read().splitlines()[1:]
    for line in lines:
        f = line.split()
        local, remote, state, inode = f[1], f[2], f[3], f[9]
        lport, rport = int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)
        if state == "01" and API_PORT in (lport, rport) and inode in inodes:
            conns[(local, remote)] = inodes[inode]
    pidfd = libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    assert pidfd >= 0, f"pidfd_open: errno {ctypes.get_errno()}"
    out = {}
    try:
        for key, fd in conns.items():
            copy = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
            assert copy >= 0, f"pidfd_getfd: errno {ctypes.get_errno()}"
            sock = socket.socket(fileno=copy)
            try:
                out[key] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            finally:
                sock.detach()
                os.close(copy)
    finally:
        os.close(pidfd)
    return out


class TestFailover:
    def test_api_sockets_set_nodelay(self, fo):
        """The join's answer is two small TLS records: with Nagle the second
        waits for the client's delayed ACK. Both ends of every API
        connection (c1's client, its server's accepted socket) disable it."""
        heal(fo)
        c1 = fo.nodes["c1"]
        server = wait_until(lambda: following(fo, c1, VOTERS), 30, "c1 to follow one server")
        for node in (c1, server):
            got = wait_until(lambda: api_sockets_nodelay(node), 10,
                             f"{node.name}'s API connections")
            assert all(got.values()), f"{node.name}: TCP_NODELAY per connection: {got}"

    def test_member_follows_another_server_after_sigkill(self, fo):
        heal(fo)
        lose_server(fo, "kill")

    def test_member_follows_another_server_after_cut(self, fo):
        heal(fo)
        lose_server(fo, "cut")

    def test_restarted_voter_is_back_in_raft(self, fo):
        leader = heal(fo)
        voter = next(fo.nodes[v] for v in VOTERS if v != leader.name)
        voter.crash()
        # written while it is away
        away = join_member(fo, "while-away", leader)
        time.sleep(scaled(5))
        voter.restart()
        s = wait_server(voter)
        assert s["raft_state"] == "follower" and s["leader_id"], s

        def back():
            lst = status(leader)
            st = status(voter)
            return (st["leader_id"] == lst["leader_id"] and
                    st["applied_index"] >= lst["commit_index"] and st)
        wait_until(back, 30, f"{voter.name} to apply what the leader committed",
                   interval=0.2)
        assert away.name in voter.nodes()
        wait_cluster(fo, VOTERS, ())

    def test_full_restart_keeps_members_peers(self, fo):
        heal(fo)
        members = [fo.nodes[c] for c in ("c1", "c2")]
        servers = [fo.nodes[v] for v in VOTERS]
        for m in members:
            wait_until(lambda: status(m).get("subscribed") is True, 30,
                       f"{m.name} to follow a server", interval=0.2)
        logs_before = {m.name: len(m.log()) for m in members}
        watch = PeerWatch(members)
        try:
            codes = stop_together(servers)
            assert all(c == 0 for c in codes.values()), f"exit codes after SIGTERM: {codes}"
            for n in servers:
                n.restart()
            for n in servers:
                wait_server(n)
            wait_cluster(fo, VOTERS, ())
            for m in members:
                wait_until(lambda: status(m).get("subscribed") is True, 60,
                           f"{m.name} to follow a server again", interval=0.2)
            # a while longer: a member told it is not in the mesh would
            # drop its peers only after joining again
            time.sleep(scaled(3))
        finally:
            missing = watch.stop()
        assert watch.samples > 10, f"only {watch.samples} samples of the members' peers"
        assert not missing, f"members lost WireGuard peers during the restart: {missing[:5]}"
        for m in members:
            tail = m.log()[logs_before[m.name]:]
            assert NOT_IN_MESH not in tail, f"{m.name} was told it is not in the mesh"


# =============================================================================
# Route and exit-node failover: s1 leads, s2 follows; exit nodes e1 and e2
# both advertise 0.0.0.0/0 and both hold PUBLIC_HOST (each answers for it
# itself); member m follows s2 and chose e1 as its exit. When e1 is killed and
# the leader marks it unreachable, m's default route moves to e2 (the marks
# reach s2, which computes m's peers, through the log), and back to e1 when it
# returns.

HEARTBEAT_MS = 500
UNREACHABLE_MS = 3000
LIVENESS_FLAGS = ("--heartbeat-interval-ms", str(HEARTBEAT_MS), "--unreachable-after-ms",
                  str(UNREACHABLE_MS), "--remove-after-ms", "3600000")
PUBLIC_HOST = "198.51.100.1"


def start_exit(topo, name, via):
    n = topo.add_node(name)
    n.netns_exec("ip", "addr", "add", f"{PUBLIC_HOST}/32", "dev", "lo")
    n.start("--join", f"{via.underlay}:{API_PORT}", "--insecure-skip-verify", "--node-id",
            name, "--endpoints", f"{n.underlay}:{WG_PORT}", "--routes", "0.0.0.0/0",
            *LIVENESS_FLAGS)
    n.wait_ready("member")
    return n


@pytest.fixture(scope="class")
def exits():
    with topology() as topo:
        s1 = topo.bootstrap("s1", *LIVENESS_FLAGS)
        s2 = topo.join("s2", "--voter", *LIVENESS_FLAGS, wait=False)
        wait_server(s2)
        start_exit(topo, "e1", s1)
        start_exit(topo, "e2", s1)
        m = topo.add_node("m")
        m.start("--join", f"{s2.underlay}:{API_PORT}", "--insecure-skip-verify", "--node-id",
                "m", "--endpoints", f"{m.underlay}:{WG_PORT}", "--use-exit-node", "e1",
                *LIVENESS_FLAGS)
        m.wait_ready("member")
        yield topo


def exit_of(m, keys):
    """Which exit (by name) carries 0.0.0.0/0 on m's device, or None."""
    peers = m.wg_peers()
    got = [name for name, k in keys.items() if "0.0.0.0/0" in peers.get(k, {}).get(
        "allowed_ips", set())]
    return got[0] if len(got) == 1 else None


class TestRouteFailover:
    def test_default_route_moves_to_the_other_exit_and_back(self, exits):
        s1, s2, m = exits.nodes["s1"], exits.nodes["s2"], exits.nodes["m"]
        e1 = exits.nodes["e1"]
        keys = {n: status(exits.nodes[n])["public_key"] for n in ("e1", "e2")}
        # m's peers come from s2, a follower: the marks must reach it
        assert status(m)["join_server"].rsplit(":", 1)[0] in server_addresses(exits, "s2")
        wait_until(lambda: exit_of(m, keys) == "e1", 20, "m's default route through e1",
                   interval=0.2)
        wait_until(lambda: m.ping(PUBLIC_HOST, wait=1), 20, f"m -> {PUBLIC_HOST} via e1",
                   interval=0.2)
        e1.crash()
        wait_until(lambda: "e1" in status(s1).get("unreachable_nodes", []),
                   UNREACHABLE_MS / 1000 + 30, "the leader to mark e1 unreachable",
                   interval=0.2)
        wait_until(lambda: exit_of(m, keys) == "e2", 20, "m's default route through e2",
                   interval=0.1)
        wait_until(lambda: m.ping(PUBLIC_HOST, wait=1), 20, f"m -> {PUBLIC_HOST} via e2",
                   interval=0.2)
        e1.restart()
        wait_until(lambda: "e1" not in status(s1).get("unreachable_nodes", []), 30,
                   "the leader to see e1 again", interval=0.2)
        wait_until(lambda: exit_of(m, keys) == "e1", 20, "m's default route back on e1",
                   interval=0.1)
        wait_until(lambda: m.ping(PUBLIC_HOST, wait=1), 30, f"m -> {PUBLIC_HOST} via e1 again",
                   interval=0.2)
