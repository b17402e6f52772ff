"""Issue 16, upgrades without downtime: a rolling upgrade of a live mesh.

Three voters (s1 bootstraps, s2 and s3 join with --voter) and two members
(c1, c2) run the build of the commit before command versions
(WM_UPGRADE_BASE, default 30926c0; upgrade_base.py builds it from a
`git worktree` of that commit, cached in build/upgrade-base/<hash>/; the
test skips, saying why, when git or the commit is not there). Voters snapshot
every 64 entries and the test writes RECORDS DNS records before upgrading,
so that each voter has a snapshot of the old schema on disk. (Fewer than 64
entries while the voters join: the old build cannot load a snapshot of its
own (a WAL-marked image, fixed in this build), so a voter it adds after one
is taken would never catch up.)

While c1 pings c2 over the mesh every 0.2 s (a bounded count), the voters
are upgraded one at a time: stop, then the new webmeshd on the same state
dir. After each step a new node joins through that voter, and the
upgraded voter has said "migrated state from schema 5 to 7". Then the
members are upgraded the same way. At the end:

- nothing lost: every node whose join was answered is in every replica;
- the pings flowed through the voter upgrades (the data plane does not
  depend on the control plane: at most MAX_LOST lost, expect none), and
  flow again both ways after each member's own restart;
- every voter holds the same state (schema and rows, state.db read the way
  test_ha.py does), no replica has stopped applying, and the leader counts
  the mesh at this build's command version, heard from every voter's
  heartbeat.
"""

import contextlib
import re
import subprocess
import threading

import pytest

import upgrade_base
import wmtest
from test_ha import replicas_identical, status, wait_cluster, wait_server
from wmtest import BUILD_DIR, host_ip, topology, wait_until

VOTERS = ("s1", "s2", "s3")
MEMBERS = ("c1", "c2")
# Snapshots from the start, so that an upgraded voter restores one of the
# old schema (and migrates it) rather than replaying the whole log.
SERVER_FLAGS = ("--raft-election-ms", "1000", "--raft-snapshot-threshold", "64")
RECORDS = 72
PING_INTERVAL = 0.2
# A bound for the whole voter phase (120 s; it takes about 10): the ping
# process ends at its count, or when the phase is over.
PING_COUNT = 600
# The data plane does not go through the servers: expect 0 (bench/upgrade
# holds 0 as its target); a few are tolerated for a box under load.
MAX_LOST = 3
MIGRATED = "migrated state from schema 5 to 7"
# wmtest's own, from this build: it speaks to old daemons as well (the
# Node API only grows fields).
NEW_WEBMESHD = wmtest.WEBMESHD


@pytest.fixture(scope="module")
def base_build():
    try:
        out, commit = upgrade_base.build_base(BUILD_DIR)
    except upgrade_base.Unavailable as e:
        pytest.skip(f"no build of the commit before command versions: {e}")
    return out / "src" / "node" / "webmeshd", commit


@contextlib.contextmanager
def binary(path):
    """Node.start runs wmtest.WEBMESHD: the old build for what starts here."""
    saved = wmtest.WEBMESHD
    wmtest.WEBMESHD = path
    try:
        yield
    finally:
        wmtest.WEBMESHD = saved


def upgrade(node):
    """Stops node and starts this build's webmeshd on its state dir with the
    same flags."""
    assert node.stop() == 0, node.log_tail()
    with binary(NEW_WEBMESHD):
        node.restart()


class Pinger:
    """ping -i INTERVAL -c COUNT from one member's namespace: one process,
    bounded in count and time, its summary read at the end."""

    def __init__(self, src, dst_ip, count=PING_COUNT, interval=PING_INTERVAL):
        self.count = count
        cmd = ["ip", "netns", "exec", src.ns, "ping", "-4", "-n", "-i", str(interval),
               "-c", str(count), "-W", "1", dst_ip]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=wmtest.ENV, start_new_session=True)
        self.out = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        self.out = self.proc.stdout.read()

    def stop(self):
        """SIGINT (ping prints its summary), then the counts."""
        if self.proc.poll() is None:
            self.proc.send_signal(2)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(10)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", self.out)
        assert m, f"no ping summary: {self.out[-500:]!r}"
        return int(m.group(1)), int(m.group(2))


def mesh_ip(node):
    return host_ip(status(node)["address_ipv4"])


def pings(src, dst):
    return src.ping(mesh_ip(dst), count=1, wait=1)


def fingerprint(server):
    """The server's API certificate fingerprint, from its log."""
    found = re.findall(r"TLS, certificate (sha256:[0-9a-f]{64})", server.log())
    assert found, server.log_tail()
    return found[-1]


def leader_status(topo):
    sts = [status(topo.nodes[v]) for v in VOTERS if topo.nodes[v].running()]
    lead = [s for s in sts if s.get("raft_state") == "leader"]
    assert len(lead) == 1, [s.get("raft_state") for s in sts]
    return lead[0]


def join_new(topo, name, server):
    """A member of this build joins through server; returns its node ID once
    the join was answered (it is a member)."""
    node = topo.add_node(name)
    args = topo.join_args(node, server=server)
    args[args.index("--join-fingerprint") + 1] = fingerprint(server)
    with binary(NEW_WEBMESHD):
        node.start(*args)
    node.wait_ready("member")
    return node.name


def test_rolling_upgrade(base_build):
    old_webmeshd, commit = base_build
    print(f"upgrading from {commit}")
    joined = []
    with topology() as topo:
        with binary(old_webmeshd):
            topo.bootstrap("s1", *SERVER_FLAGS)
            for v in VOTERS[1:]:
                wait_server(topo.join(v, "--voter", *SERVER_FLAGS, wait=False))
            wait_cluster(topo, VOTERS, ())
            for m in MEMBERS:
                topo.join(m)
        joined += [*VOTERS, *MEMBERS]
        s1 = topo.nodes["s1"]
        for i in range(RECORDS):
            s1.wmctl("put", "dns-record", f"rec-{i}", "TXT", f"v{i}")

        def snapshots():
            return all(list((topo.nodes[v].state_dir / "raft").glob("snapshot-*"))
                       for v in VOTERS)
        wait_until(snapshots, 30, "a snapshot of the old schema on every voter")
        c1, c2 = (topo.nodes[m] for m in MEMBERS)
        wait_until(lambda: pings(c1, c2), 30, "c1 to reach c2 over the mesh")
        for v in VOTERS:
            n = topo.nodes[v]
            assert not status(n).get("command_version"), f"{v} is not the old build"

        # --- the voters, one at a time, under pings and joins
        pinger = Pinger(c1, mesh_ip(c2))
        try:
            for i, v in enumerate(VOTERS):
                node = topo.nodes[v]
                upgrade(node)
                wait_server(node)
                wait_cluster(topo, VOTERS, ())
                st = status(node)
                assert st.get("command_version") == 3, st
                assert not st.get("stalled_index"), st
                assert MIGRATED in node.log(), node.log_tail()
                # a leader of this build counts the old voters at version 1
                lead = leader_status(topo)
                if lead.get("command_version") == 3:
                    want = 3 if i == len(VOTERS) - 1 else 1
                    wait_until(lambda: leader_status(topo).get("mesh_command_version") == want,
                               30, f"the leader to count the mesh at version {want}")
                # through the voter just upgraded: a new server takes joins
                # in a mesh whose leader may still be old
                joined.append(join_new(topo, f"n{i + 1}", node))
        finally:
            sent, received = pinger.stop()
        print(f"c1 -> c2 during the voter upgrades: {received} of {sent} answered")
        assert sent > 0 and sent - received <= MAX_LOST, \
            f"c1 -> c2 during the voter upgrades: {received} of {sent} answered"

        # --- every voter runs this build: the leader counts the mesh at it
        wait_until(lambda: leader_status(topo).get("mesh_command_version") == 3, 30,
                   "the leader to count every voter at command version 3")
        lead = next(topo.nodes[v] for v in VOTERS if status(topo.nodes[v]).get("raft_state")
                    == "leader")
        assert "versions:   command version 3, mesh 3" in lead.wmctl("status").stdout

        # --- then the members; each one's pings come back both ways
        for m in MEMBERS:
            node = topo.nodes[m]
            upgrade(node)
            node.wait_ready("member")
            assert status(node).get("command_version") == 3
            wait_until(lambda: pings(c1, c2) and pings(c2, c1), 30,
                       f"pings c1 <-> c2 after {m}'s upgrade")
        joined.append(join_new(topo, "n4", topo.nodes["s2"]))

        # --- nothing lost, one state
        voters = [topo.nodes[v] for v in VOTERS]
        for v in voters:
            ids = set(v.nodes())
            missing = [j for j in joined if j not in ids]
            assert not missing, f"{v.name} lacks nodes whose join was answered: {missing}"
            assert not status(v).get("stalled_index"), status(v)
        dump = wait_until(lambda: replicas_identical(voters, skip=("meta",)), 30,
                          "every voter to hold the same state")
        assert len(dump["dns_records"]) == RECORDS, dump["dns_records"]
