"""End to end (issue 3): no single controller. Raft voters and observers,
any server takes writes, failover loses nothing.

Two topologies, each built by a class fixture and torn down when its class
is done (so that at most one runs at a time on a 2-core box):

- TestBootstrapAndLiveness: three servers started at the same instant with
  --bootstrap --bootstrap-servers form one mesh; a SIGKILLed plain member is
  first listed unreachable and then removed (short liveness timers).
- TestFailover: s1 bootstraps, s2 and s3 join as voters, o1 as an observer,
  c1 and c2 as plain members. The tests run in file order; each starts by
  restarting whatever server an earlier test left dead (heal).

A "crash" (Node.crash) is SIGKILL of webmeshd and of everything else in the
node's namespace (its wireguard-go): a host that dies, not a daemon that
restarts under a running data plane. Replicas are compared by reading each server's
state.db (WAL mode: a reader never blocks the daemon; test_state_db_reader_*
checks that) until two reads in a row agree, and by `wmctl get graph` on
each server's own socket.

The safety scenario (joins_under_faults) is also run in a loop by
tests/chaos/chaos_joins.py.
"""

import base64
import concurrent.futures
import ipaddress
import json
import os
import queue
import random
import re
import secrets
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import wmtest
from wmtest import (API_PORT, PYTHON, READY_TIMEOUT, WG_PORT, StopWaiting, host_ip, net,
                    scaled, topology, wait_until)

HA_JOINS = Path(__file__).resolve().parent / "ha_joins.py"

# Raft election timeout given to every server (the default, stated here
# because the failover bound is derived from it).
ELECTION_MS = 1000
SERVER_FLAGS = ("--raft-election-ms", str(ELECTION_MS))
# Polling granularity of the new-leader measurement: one wmctl status round
# (nsenter + wmctl on each survivor) plus the daemon's own leader poll.
POLL_SLACK = 0.5
# Election rounds the failover bound allows. One round takes up to twice the
# election timeout (each survivor's is drawn from [E, 2E]); with two
# survivors a round can end without a leader (both stand at once and split
# the vote, or one's pre-vote is refused by the other, which heard the dead
# leader more recently), and the next round is Raft working as designed:
# seen once in CI, a leader after 3.34 s against a one-round bound of 2.5 s.
ELECTION_ROUNDS = 2
# Overlay pings between the two clients across a leader crash: one every
# PING_INTERVAL s, PING_COUNT of them; at most MAX_LOST may go unanswered
# (the data plane does not depend on the control plane, so expect 0).
PING_INTERVAL = 0.2
PING_COUNT = 60
MAX_LOST = 3
# Peers of a restarted node only re-handshake after REKEY_TIMEOUT +
# KEEPALIVE_TIMEOUT (see test_mesh.py).
RESTART_PING_TIMEOUT = 30

VOTERS = ("s1", "s2", "s3")
OBSERVERS = ("o1",)
CLIENTS = ("c1", "c2")

STATUS_OP = {"op": "unary", "method": "/webmesh.v1.Node/GetStatus",
             "request_type": "webmesh.v1.GetStatusRequest",
             "response_type": "webmesh.v1.Status"}


# --- reading state ------------------------------------------------------------

def status(node, timeout=10):
    out = node.wmctl("status", "-o", "json", timeout=timeout).stdout
    return json.loads(out)


def statuses(nodes):
    """wmctl status of several nodes at once, as {name: status or exception}."""
    with concurrent.futures.ThreadPoolExecutor(max(1, len(nodes))) as ex:
        futs = {n.name: ex.submit(status, n, 5) for n in nodes}
    out = {}
    for name, f in futs.items():
        try:
            out[name] = f.result()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            out[name] = e
    return out


def _read_db(path, skip):
    # One read transaction: a consistent snapshot. In WAL mode (what the
    # store uses) a reader never blocks the daemon's writes; immutable=1
    # would not do: it ignores the WAL, where recent entries live.
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2,
                          isolation_level=None)
    try:
        con.execute("BEGIN")
        out = {"sqlite_master": con.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()}
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for t in tables:
            if t in skip:
                continue
            ncol = len(con.execute(f'SELECT * FROM "{t}" LIMIT 0').description)
            order = ", ".join(str(i + 1) for i in range(ncol))
            out[t] = con.execute(f'SELECT * FROM "{t}" ORDER BY {order}').fetchall()
        con.execute("COMMIT")
        return out
    finally:
        con.close()


def store_dump(node, skip=()):
    """Every table of the node's state.db (schema included), rows sorted,
    except the tables in skip. Two reads in a row must agree (the replica
    may be applying entries) and the node table must not be empty."""
    path = node.state_dir / "state.db"
    prev, last = None, None
    for _ in range(40):
        try:
            cur = _read_db(path, skip)
        except sqlite3.Error as e:
            prev, last = None, e
            time.sleep(0.05)
            continue
        if cur == prev:
            if not cur.get("nodes"):
                raise AssertionError(f"{path} has no nodes: not the replica it should be")
            return cur
        prev = cur
        time.sleep(0.05)
    raise AssertionError(f"no stable read of {path}: {last!r}")


def dump_diff(name_a, a, name_b, b, limit=8):
    lines = []
    for t in sorted(set(a) | set(b)):
        ra, rb = set(a.get(t, [])), set(b.get(t, []))
        for r in sorted(ra - rb, key=repr)[:limit]:
            lines.append(f"  {t}: only on {name_a}: {r}")
        for r in sorted(rb - ra, key=repr)[:limit]:
            lines.append(f"  {t}: only on {name_b}: {r}")
    return "\n".join(lines) or "  (same rows, different order or counts)"


def replicas_identical(nodes, skip=()):
    """True if every node's store dump is the same; raises with the
    difference otherwise (for wait_until)."""
    dumps = {n.name: store_dump(n, skip) for n in nodes}
    first = nodes[0].name
    bad = [n for n in dumps if dumps[n] != dumps[first]]
    if bad:
        raise AssertionError("replicas differ:\n" + "\n".join(
            f" {first} vs {b}:\n{dump_diff(first, dumps[first], b, dumps[b])}" for b in bad))
    return dumps[first]


def graph(node):
    """wmctl get graph on the node's own socket, normalised for comparison."""
    g = node.wmctl_json("get", "graph")
    nodes = sorted(g.get("nodes", []), key=lambda n: n["id"])
    edges = sorted(g.get("edges", []), key=lambda e: (e["source"], e["target"]))
    return {"nodes": nodes, "edges": edges}


def graphs_identical(nodes):
    gs = {n.name: graph(n) for n in nodes}
    first = nodes[0].name
    bad = [n for n in gs if gs[n] != gs[first]]
    if bad:
        ids = {n: [x["id"] for x in g["nodes"]] for n, g in gs.items()}
        raise AssertionError(f"get graph differs between {first} and {bad}: node ids {ids}")
    return gs[first]


# --- servers ------------------------------------------------------------------

def wait_server(node, timeout=READY_TIMEOUT):
    """Waits until node is in Raft and knows a leader; returns its status."""
    def ready():
        if not node.running():
            raise StopWaiting(f"webmeshd on {node.name} exited with "
                              f"{node.proc.returncode}")
        s = status(node)
        return (s.get("address_ipv4") and s.get("raft_state") in ("leader", "follower")
                and s.get("leader_id") and s)
    try:
        return wait_until(ready, timeout, f"{node.name} to be a server with a leader")
    except (AssertionError, StopWaiting) as e:
        raise AssertionError(f"{e}\n{node.log_tail()}") from None


def expected_members(voters, observers):
    return {**{v: "voter" for v in voters}, **{o: "observer" for o in observers}}


def cluster_agrees(servers, members):
    """The running servers agree on one leader (a voter that says it leads)
    and each lists exactly members ({id: role}) in Raft. Returns the leader
    node; raises naming the disagreement otherwise."""
    sts = statuses(servers)
    errs = [f"{n}: {s!r}" for n, s in sts.items() if isinstance(s, Exception)]
    if errs:
        raise AssertionError("status failed: " + "; ".join(errs))
    leaders = [n for n, s in sts.items() if s.get("raft_state") == "leader"]
    if len(leaders) != 1:
        raise AssertionError(f"expected one leader, got {leaders}: "
                             f"{ {n: s.get('raft_state') for n, s in sts.items()} }")
    lid = leaders[0]
    if members.get(lid) != "voter":
        raise AssertionError(f"{lid} leads but is {members.get(lid)!r}, not a voter")
    for n, s in sts.items():
        if s.get("leader_id") != lid:
            raise AssertionError(f"{n} says the leader is {s.get('leader_id')!r}, "
                                 f"{lid} says it leads")
        got = {m["id"]: m["role"] for m in s.get("raft_members", [])}
        if got != members:
            raise AssertionError(f"{n} lists raft members {got}, expected {members}")
    node = next(x for x in servers if x.name == lid)
    return node


def wait_cluster(topo, voters=VOTERS, observers=OBSERVERS, timeout=60):
    servers = [topo.nodes[n] for n in (*voters, *observers) if topo.nodes[n].running()]
    members = expected_members(voters, observers)
    return wait_until(lambda: cluster_agrees(servers, members), timeout,
                      "the servers to agree on one leader and the raft members",
                      interval=0.2)


def build_servers(topo, voters=VOTERS, observers=OBSERVERS, extra=()):
    """voters[0] bootstraps; the others join it as voters, then the
    observers; each waits to be in Raft before the next starts."""
    topo.bootstrap(voters[0], *SERVER_FLAGS, *extra)
    for name, flag in [(v, "--voter") for v in voters[1:]] + \
                      [(o, "--observer") for o in observers]:
        n = topo.join(name, flag, *SERVER_FLAGS, *extra, wait=False)
        wait_server(n)
    return wait_cluster(topo, voters, observers)


def heal(topo, voters=VOTERS, observers=OBSERVERS):
    """Restarts (same command line) every server an earlier step left dead or
    cut off, and waits for the cluster to agree again."""
    for name in (*voters, *observers):
        n = topo.nodes[name]
        n.set_link(True)
        if not n.running():
            n.crash()  # whatever the dead daemon left in its namespace
            n.restart()
            wait_server(n)
    return wait_cluster(topo, voters, observers)


def server_nodes(topo, voters=VOTERS, observers=OBSERVERS):
    return [topo.nodes[n] for n in (*voters, *observers)]


# --- joins through the API ----------------------------------------------------

def random_key():
    return base64.b64encode(os.urandom(32)).decode()


def make_joins(prefix, n, ntargets, spacing):
    """n joins with distinct IDs and random keys, round robin over ntargets,
    the i-th sent at i * spacing seconds."""
    return [{"id": f"{prefix}-{i:02d}", "public_key": random_key(), "target": i % ntargets,
             "at": round(i * spacing, 3)} for i in range(n)]


class JoinBurst:
    """ha_joins.py run from a client namespace of the topology: the joins are
    sent on their schedule while the caller does other things."""

    def __init__(self, topo, gen_dir, targets, joins, timeout=15):
        ns = getattr(topo, "ha_joiner_ns", None)
        if not ns:
            ns = topo.ha_joiner_ns = topo.add_client("hajoin", index=201)
        tag = secrets.token_hex(3)
        spec = {"targets": [{"name": t.name, "addr": f"{t.underlay}:{API_PORT}",
                             "ca": str(t.state_dir / "tls.crt")} for t in targets],
                "joins": joins, "timeout": timeout,
                "endpoint": f"10.250.{topo.subnet}.201:{WG_PORT}"}
        spec_path = topo.dir / f"joins-{tag}.json"
        spec_path.write_text(json.dumps(spec))
        self.err_path = topo.dir / f"joins-{tag}.err"
        self.deadline = timeout + 30 + max([j["at"] for j in joins] or [0])
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, PYTHON, HA_JOINS, "--gen", gen_dir, "--spec",
                 spec_path], stdout=subprocess.PIPE, stderr=err, text=True, env=wmtest.ENV)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_ready(self, timeout=40):
        try:
            line = self.lines.get(timeout=scaled(timeout))
        except queue.Empty:
            line = "(nothing)"
        if line != "ready":
            self.close()
            raise AssertionError(f"ha_joins.py did not get ready: {line!r}\n"
                                 f"{self.err_path.read_text()[-2000:]}")

    def results(self):
        try:
            self.proc.wait(scaled(self.deadline))
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError(f"ha_joins.py still running after {self.deadline}s") from None
        self.reader.join(5)
        lines = []
        while True:
            line = self.lines.get_nowait() if not self.lines.empty() else None
            if line is None:
                break
            lines.append(line)
        if self.proc.returncode != 0 or not lines:
            raise AssertionError(f"ha_joins.py exited with {self.proc.returncode}:\n"
                                 f"{self.err_path.read_text()[-2000:]}")
        return json.loads(lines[-1])

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def joins_present(voter, results):
    """Problems with the joins answered OK as voter's replica records them:
    missing, another key, or another address than the caller was told."""
    nodes = voter.nodes()
    problems = []
    for r in results:
        if r["code"] != "OK":
            continue
        n = nodes.get(r["id"])
        if n is None:
            problems.append(f"{voter.name}: {r['id']} was answered OK by {r['target']} "
                            f"but is missing")
        elif net(n["private_ipv4"]) != net(r["address_ipv4"]):
            problems.append(f"{voter.name}: {r['id']} has {n['private_ipv4']}, the caller was "
                            f"told {r['address_ipv4']}")
    return problems


def unique_addresses(voter):
    """Problems: two nodes with the same IPv4 or IPv6 in voter's replica."""
    problems = []
    for field in ("private_ipv4", "private_ipv6"):
        c = Counter(net(n[field]) for n in voter.nodes().values() if n.get(field))
        problems += [f"{voter.name}: {a} held by {k} nodes" for a, k in c.items() if k > 1]
    return problems


# --- the safety scenario --------------------------------------------------------

def joins_under_faults(topo, gen_dir, voters=VOTERS, observers=OBSERVERS, n_joins=30,
                       link_down_s=4.0, rng=None, tag="cj"):
    """Sends n_joins joins through every server while the leader is crashed
    and another voter loses its underlay link for link_down_s; then restarts
    the crashed leader and checks that every join answered OK is on every
    voter with the address the caller was told, that no address is held
    twice and that the replicas (voters and observers) are identical.
    Returns a report dict; report["problems"] is empty when safety held."""
    rng = rng or random.Random()
    leader = wait_cluster(topo, voters, observers)
    others = [topo.nodes[v] for v in voters if v != leader.name]
    cut = rng.choice(others)
    targets = server_nodes(topo, voters, observers)
    rng.shuffle(targets)
    joins = make_joins(tag, n_joins, len(targets), spacing=0.1)
    burst = JoinBurst(topo, gen_dir, targets, joins)
    report = {"leader": leader.name, "cut": cut.name, "problems": []}
    try:
        burst.wait_ready()
        t0 = time.monotonic()

        def at(t):
            d = t0 + t - time.monotonic()
            if d > 0:
                time.sleep(d)
        at(0.5)
        leader.crash()
        at(1.0)
        cut.set_link(False)
        at(1.0 + link_down_s)
        cut.set_link(True)
        results = burst.results()
    finally:
        cut.set_link(True)
        burst.close()
    report["codes"] = dict(Counter(r["code"] for r in results))
    report["ok"] = sum(r["code"] == "OK" for r in results)
    report["by_target"] = {t.name: dict(Counter(r["code"] for r in results
                                                if r["target"] == t.name)) for t in targets}
    report["failed"] = [f"{r['id']} via {r['target']} (sent {r['sent']}s, done "
                        f"{r['done']}s): {r['code']} {r['details']}"
                        for r in results if r["code"] != "OK"]
    # The issue: a call caught by a leader change "is retried or fails with
    # UNAVAILABLE". Anything else (CANCELLED, DEADLINE_EXCEEDED, ...) breaks
    # that promise without breaking safety, so it is reported apart.
    report["wrong_codes"] = [f for f, r in zip(report["failed"],
                                               [r for r in results if r["code"] != "OK"])
                             if r["code"] != "UNAVAILABLE"]
    report["recovered"] = True
    try:
        heal(topo, voters, observers)
    except AssertionError as e:
        # still compare what runs: a stuck replica shows up as missing joins
        report["recovered"] = False
        report["problems"].append(f"the cluster did not recover: {e}")
    servers = [n for n in server_nodes(topo, voters, observers) if n.running()]
    try:
        wait_until(lambda: replicas_identical(servers), 60 if report["recovered"] else 10,
                   "every replica to be identical", interval=0.5)
        graphs_identical(servers)
    except AssertionError as e:
        report["problems"].append(str(e))
    up = [topo.nodes[v] for v in voters if topo.nodes[v].running()]
    for v in up:
        try:
            report["problems"] += joins_present(v, results)
            report["problems"] += unique_addresses(v)
        except AssertionError as e:  # wmctl failed
            report["problems"].append(f"{v.name}: {e}")
    state = up[0].nodes() if up else {}
    report["applied_not_ok"] = sorted(r["id"] for r in results
                                      if r["code"] != "OK" and r["id"] in state)
    return report


def format_report(r):
    return (f"leader {r['leader']} crashed, {r['cut']} cut off: {r['ok']} joins OK, "
            f"codes {r['codes']}, per server {r['by_target']}, applied though not OK: "
            f"{len(r['applied_not_ok'])}, failed with other than UNAVAILABLE: "
            f"{len(r['wrong_codes'])}")


# --- output -------------------------------------------------------------------

def report(capsys, msg):
    """Shown in the test output even with -q (the measurements the issue asks
    for), and kept in the captured output of a failure."""
    print(f"[ha] {msg}")
    with capsys.disabled():
        print(f"\n[ha] {msg}", end="")


class Pinger:
    """A bounded ping running in the background in node's namespace."""

    def __init__(self, node, addr, count=PING_COUNT, interval=PING_INTERVAL):
        self.cmd = ["ip", "netns", "exec", node.ns, "ping", "-n", "-q", "-i", str(interval),
                    "-c", str(count), "-W", "1", addr]
        self.timeout = count * interval + 15
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=wmtest.ENV)

    def finish(self):
        """Waits for the end; returns (sent, received)."""
        try:
            out, _ = self.proc.communicate(timeout=scaled(self.timeout))
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError(f"ping still running after {self.timeout}s") from None
        m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", out)
        if not m:
            raise AssertionError(f"cannot read ping's summary: {out!r}")
        return int(m.group(1)), int(m.group(2))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# =============================================================================
# Three bootstrap servers started at once; liveness of plain members.

HEARTBEAT_MS = 500
UNREACHABLE_MS = 3000
REMOVE_MS = 8000
LIVENESS_FLAGS = ("--heartbeat-interval-ms", str(HEARTBEAT_MS),
                  "--unreachable-after-ms", str(UNREACHABLE_MS),
                  "--remove-after-ms", str(REMOVE_MS))
TRIO = ("b1", "b2", "b3")


def start_together(starts):
    """Calls node.start(*args) for every (node, args) from threads released by
    one barrier: the daemons start within milliseconds of each other."""
    barrier = threading.Barrier(len(starts))
    errors = []

    def go(node, args):
        barrier.wait()
        try:
            node.start(*args)
        except Exception as e:  # noqa: BLE001 - re-raised below
            errors.append(e)
    threads = [threading.Thread(target=go, args=s) for s in starts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]


@pytest.fixture(scope="class")
def trio():
    with topology() as topo:
        nodes = [topo.add_node(n) for n in TRIO]
        servers = ",".join(f"{n.name}={n.underlay}:{API_PORT}" for n in nodes)
        start_together([(n, ["--bootstrap", "--bootstrap-servers", servers, "--node-id",
                             n.name, "--insecure-skip-verify", "--endpoints",
                             f"{n.underlay}:{WG_PORT}", *SERVER_FLAGS, *LIVENESS_FLAGS])
                        for n in nodes])
        for n in nodes:
            wait_server(n)
        yield topo


def trio_join(topo, name, *extra, via="b2"):
    n = topo.add_node(name)
    n.start("--join", f"{topo.nodes[via].underlay}:{API_PORT}", "--insecure-skip-verify",
            "--node-id", name, "--endpoints", f"{n.underlay}:{WG_PORT}", *LIVENESS_FLAGS,
            *extra)
    n.wait_ready("member")
    return n


class TestBootstrapAndLiveness:
    def test_simultaneous_bootstrap_forms_one_mesh(self, trio):
        leader = wait_cluster(trio, TRIO, ())
        nodes = [trio.nodes[n] for n in TRIO]
        sts = {n.name: status(n) for n in nodes}
        for field in ("network_ipv4", "network_ipv6", "mesh_domain"):
            vals = {n: s.get(field) for n, s in sts.items()}
            assert len(set(vals.values())) == 1 and all(vals.values()), (field, vals)
        # every server's replica: exactly the three servers, as voters
        for n in nodes:
            got = n.nodes()
            assert set(got) == set(TRIO), (n.name, sorted(got))
            assert {k: v["raft_role"] for k, v in got.items()} == \
                {k: "voter" for k in TRIO}, (n.name, got)
        wait_until(lambda: replicas_identical(nodes), 30, "the three replicas to agree",
                   interval=0.5)
        # the bootstrap servers hold the first hosts, in list order
        hosts = ipaddress.ip_network(sts["b1"]["network_ipv4"]).hosts()
        for name, want in zip(TRIO, hosts):
            assert host_ip(sts[name]["address_ipv4"]) == str(want), (name, sts[name])
        # one mesh on the data plane too
        for a in nodes:
            for b in nodes:
                if a is not b:
                    ip = host_ip(sts[b.name]["address_ipv4"])
                    wait_until(lambda: a.ping(ip, wait=1), 15, f"{a.name} -> {b.name} {ip}",
                               interval=0.2)
        print(f"leader after simultaneous bootstrap: {leader.name}")

    def test_dead_member_is_marked_then_removed(self, trio, capsys):
        m1 = trio_join(trio, "m1")
        m2 = trio_join(trio, "m2", via="b3")
        servers = [trio.nodes[n] for n in TRIO]
        key1 = status(m1)["public_key"]
        wait_until(lambda: all(key1 in n.wg_peers() for n in (*servers, m2)), 15,
                   "every node to peer with m1")
        m1.crash()
        t0 = time.monotonic()

        def unreachable():
            leader = wait_cluster(trio, TRIO, (), timeout=10)
            return status(leader).get("unreachable_nodes", [])
        got = wait_until(lambda: "m1" in (u := unreachable()) and u,
                         UNREACHABLE_MS / 1000 + 30, "the leader to list m1 as unreachable",
                         interval=0.2)
        t_unreach = time.monotonic() - t0
        assert "m2" not in got and not set(TRIO) & set(got), f"live nodes unreachable: {got}"
        # then removed: from every replica and from every live node's device
        wait_until(lambda: all("m1" not in n.nodes() for n in servers),
                   REMOVE_MS / 1000 + 30, "m1 to be removed from every replica", interval=0.3)
        t_removed = time.monotonic() - t0
        wait_until(lambda: not any(key1 in n.wg_peers() for n in (*servers, m2)), 15,
                   "every live node to drop m1's WireGuard peer", interval=0.2)
        report(capsys, f"SIGKILLed member: unreachable after {t_unreach:.1f}s "
                       f"(unreachable-after {UNREACHABLE_MS} ms), removed after "
                       f"{t_removed:.1f}s (remove-after {REMOVE_MS} ms)")
        for n in servers:
            assert set(n.nodes()) == {*TRIO, "m2"}, (n.name, sorted(n.nodes()))
        assert "m2" not in status(wait_cluster(trio, TRIO, ())).get("unreachable_nodes", [])

    def test_member_with_serve_takes_calls(self, trio, pb_gen):
        """A plain member started with --serve is a server without a replica:
        it answers the API and forwards writes."""
        m3 = trio_join(trio, "m3", "--serve", via="b1")
        assert status(m3)["raft_role"] == "member"
        joins = make_joins("via-m3", 1, 1, spacing=0)
        burst = JoinBurst(trio, pb_gen, [m3], joins)
        try:
            burst.wait_ready()
            r = burst.results()[0]
        finally:
            burst.close()
        assert r["code"] == "OK", r
        for n in TRIO:
            wait_until(lambda: "via-m3-00" in trio.nodes[n].nodes(), 10,
                       f"the join through m3 on {n}", interval=0.2)


# =============================================================================
# Three voters, an observer, two plain members.

@pytest.fixture(scope="class")
def ha():
    with topology() as topo:
        build_servers(topo)
        for c in CLIENTS:
            topo.join(c)
        yield topo


def server_addresses(topo, name):
    """What may name a server in a client's status: its ID, its underlay
    address or its mesh IPv4."""
    node = topo.nodes[name]
    found = [name, node.underlay]
    if node.running():
        found.append(host_ip(status(node)["address_ipv4"]))
    return found


def following(topo, client, servers=(*VOTERS, *OBSERVERS)):
    """The one of servers whose API client has its (one) TCP connection to,
    read from the kernel's socket table (the ground truth); None if there is
    not exactly one."""
    out = client.netns_exec("ss", "-Htn", "state", "established", "dport", "=",
                            f":{API_PORT}").stdout
    peers = {line.split()[-1].rsplit(":", 1)[0].strip("[]") for line in out.splitlines()
             if line.strip()}
    if len(peers) != 1:
        return None
    peer = peers.pop()
    for name in servers:
        try:
            names = server_addresses(topo, name)
        except AssertionError:
            # a server that does not answer is named by its ID and
            # underlay address only
            names = (name, topo.nodes[name].underlay)
        if peer in names:
            return topo.nodes[name]
    return None


def stop_together(nodes, timeout=30):
    """SIGTERM to every node at once, then waits for each; returns the exit
    codes (a node still running after timeout is SIGKILLed: code -9)."""
    for n in nodes:
        n.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + scaled(timeout)
    codes = {}
    for n in nodes:
        try:
            codes[n.name] = n.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            n.proc.kill()
            codes[n.name] = n.proc.wait(10)
    return codes


def client_addr(topo, name, family="address_ipv4"):
    return host_ip(status(topo.nodes[name])[family])


class TestFailover:
    def test_roles_in_status(self, ha, pb_gen):
        leader = wait_cluster(ha)
        members = expected_members(VOTERS, OBSERVERS)
        for name, role in members.items():
            s = status(ha.nodes[name])
            assert s["raft_role"] == role, (name, s["raft_role"])
            assert s["term"] >= 1 and s["commit_index"] >= s["applied_index"] > 0, (name, s)
        assert leader.name in VOTERS
        for c in CLIENTS:
            s = status(ha.nodes[c])
            assert s["raft_role"] == "member" and s["raft_state"] == "none", (c, s)
        # every server answers the public API; a plain member does not listen
        for name in members:
            r = ha.grpc(pb_gen, ha.nodes[name], [STATUS_OP])[0]
            assert r.get("code") == "OK" and r["response"]["id"] == name, (name, r)
        r = ha.grpc(pb_gen, ha.nodes["c1"], [{"op": "garbage_tcp", "data_hex": "00"}])[0]
        assert "Refused" in r.get("error", ""), f"c1 serves {API_PORT} without --serve: {r}"
        wait_until(lambda: replicas_identical(server_nodes(ha)), 30,
                   "every replica to be identical", interval=0.5)

    def test_leader_failover(self, ha, pb_gen, capsys):
        leader = heal(ha)
        term = status(leader)["term"]
        c1 = ha.nodes["c1"]
        target = client_addr(ha, "c2")
        wait_until(lambda: c1.ping(target, wait=1), 15, f"c1 -> c2 {target}", interval=0.2)
        survivors = [ha.nodes[v] for v in VOTERS if v != leader.name]
        pinger = Pinger(c1, target)
        problems = []
        try:
            time.sleep(1.0)  # some pings before the crash, for comparison
            t0 = time.monotonic()
            leader.crash()

            def new_leader():
                for name, s in statuses(survivors).items():
                    if not isinstance(s, Exception) and s.get("raft_state") == "leader" \
                            and s.get("term", 0) > term:
                        return name, time.monotonic() - t0
                return None
            new, elapsed = wait_until(new_leader, 30, "a new leader among the survivors",
                                      interval=0.02)
            # a join through every surviving server, at once
            targets = [ha.nodes[n] for n in (*VOTERS, *OBSERVERS) if n != leader.name]
            joins = make_joins("after", len(targets), len(targets), spacing=0)
            for j, t in zip(joins, targets):
                j["id"] = f"after-{leader.name}-via-{t.name}"
            burst = JoinBurst(ha, pb_gen, targets, joins)
            try:
                burst.wait_ready()
                results = burst.results()
            finally:
                burst.close()
            sent, received = pinger.finish()
        finally:
            pinger.close()
        lost = sent - received
        bound = scaled(ELECTION_ROUNDS * 2 * ELECTION_MS / 1000) + POLL_SLACK
        report(capsys, f"leader {leader.name} SIGKILLed: {new} leads after {elapsed:.2f}s "
                       f"(bound {bound:.2f}s = {ELECTION_ROUNDS} rounds of up to 2 x "
                       f"{ELECTION_MS} ms + {POLL_SLACK}s polling); "
                       f"c1 -> c2 pings: {received}/{sent} answered, {lost} lost")
        bad = [r for r in results if r["code"] != "OK"]
        if bad:
            problems.append(f"joins through surviving servers failed: {bad}")
        if elapsed > bound:
            problems.append(f"new leader after {elapsed:.2f}s > {bound:.2f}s")
        if lost > MAX_LOST:
            problems.append(f"{lost} of {sent} pings lost across the failover (max {MAX_LOST})")
        for v in survivors:
            problems += wait_or_problems(lambda: no_problems(joins_present(v, results)), 10,
                                         f"the joins on {v.name}")
        assert not problems, "\n".join(problems)

    def test_clients_resubscribe_after_server_loss(self, ha, pb_gen, capsys):
        heal(ha)
        c1, c2 = ha.nodes["c1"], ha.nodes["c2"]
        server = wait_until(lambda: following(ha, c1), 30, "c1 to follow one server")
        server.crash()
        t0 = time.monotonic()

        def moved(c):
            s = status(c)
            now = following(ha, c)
            return s.get("subscribed") is True and now and now is not server and now
        for c in (c1, c2):
            wait_until(lambda: moved(c), 60, f"{c.name} to subscribe through another server",
                       interval=0.2)
        elapsed = time.monotonic() - t0
        # the new stream is live: a join elsewhere (once a leader is elected
        # again, if the crashed server led) reaches the clients' devices
        wait_cluster(ha)
        alive = [ha.nodes[n] for n in (*VOTERS, *OBSERVERS) if n != server.name]
        joins = make_joins(f"resub-{server.name}", 1, 1, spacing=0)
        burst = JoinBurst(ha, pb_gen, alive[:1], joins)
        try:
            burst.wait_ready()
            r = burst.results()[0]
        finally:
            burst.close()
        assert r["code"] == "OK", r
        key = joins[0]["public_key"]
        for c in (c1, c2):
            wait_until(lambda: key in c.wg_peers(), 15, f"{c.name} to get the new peer",
                       interval=0.2)
        target = client_addr(ha, "c2")
        wait_until(lambda: c1.ping(target, wait=1), 15, f"c1 -> c2 {target}", interval=0.2)
        report(capsys, f"clients' server {server.name} SIGKILLed: both clients subscribed "
                       f"elsewhere after {elapsed:.1f}s")
        # status names the server the client follows now, not the one it
        # first joined through
        for c in (c1, c2):
            now, js = following(ha, c), status(c)["join_server"]
            assert js.rsplit(":", 1)[0] in server_addresses(ha, now.name), \
                f"{c.name} follows {now.name} but its status says join_server {js!r}"

    def test_joins_under_faults(self, ha, pb_gen, capsys):
        heal(ha)
        r = joins_under_faults(ha, pb_gen, tag="cj")
        report(capsys, "safety: " + format_report(r))
        print("\n".join(r["failed"]))
        assert not r["problems"], "\n".join(r["problems"])
        assert not r["wrong_codes"], ("safety held, but calls caught by the leader change "
                                      "failed with other than UNAVAILABLE:\n" +
                                      "\n".join(r["wrong_codes"]))

    def test_full_restart(self, ha, capsys):
        heal(ha)
        servers = server_nodes(ha)
        before = wait_until(lambda: replicas_identical(servers, skip=("meta",)), 30,
                            "every replica to be identical", interval=0.5)
        graph_before = graphs_identical(servers)
        st_before = {n.name: status(n) for n in servers}
        codes = stop_together(servers)
        assert all(c == 0 for c in codes.values()), f"exit codes after SIGTERM: {codes}"
        for n in servers:
            wait_until(lambda: not n.ns_pids(), 10, f"nothing left running in {n.ns}")
        t0 = time.monotonic()
        for n in servers:
            n.restart()
        for n in servers:
            wait_server(n)
        wait_cluster(ha)
        t_leader = time.monotonic() - t0
        after = wait_until(lambda: replicas_identical(servers, skip=("meta",)), 30,
                           "every replica to be identical after the restart", interval=0.5)
        if after != before:
            raise AssertionError("state changed across the restart:\n" +
                                 dump_diff("before", before, "after", after))
        assert graphs_identical(servers) == graph_before
        for n in servers:
            s = status(n)
            for k in ("public_key", "address_ipv4", "address_ipv6", "network_ipv4",
                      "network_ipv6", "raft_role"):
                assert s[k] == st_before[n.name][k], (n.name, k, st_before[n.name][k], s[k])
        # the mesh re-forms by itself: clients resubscribe and reach each other
        # and the servers
        c1, c2 = ha.nodes["c1"], ha.nodes["c2"]
        for c in (c1, c2):
            wait_until(lambda: status(c).get("subscribed") is True, 60,
                       f"{c.name} to resubscribe", interval=0.2)
        for fam in ("address_ipv4", "address_ipv6"):
            ip = client_addr(ha, "c2", fam)
            wait_until(lambda: c1.ping(ip, wait=1), RESTART_PING_TIMEOUT, f"c1 -> c2 {ip}",
                       interval=0.2)
        for n in servers:
            ip = host_ip(st_before[n.name]["address_ipv4"])
            wait_until(lambda: c2.ping(ip, wait=1), RESTART_PING_TIMEOUT,
                       f"c2 -> {n.name} {ip}", interval=0.2)
        # and once the clients are back (they may have joined again), still
        # the same state
        final = wait_until(lambda: replicas_identical(servers, skip=("meta",)), 30,
                           "every replica to be identical with the clients back",
                           interval=0.5)
        if final != before:
            raise AssertionError("state changed once the clients came back:\n" +
                                 dump_diff("before", before, "after", final))
        report(capsys, f"full restart of {len(servers)} servers: leader agreed "
                       f"{t_leader:.1f}s after the restart, state identical")

    # last: if it fails, the forked replica would spoil the other tests
    def test_state_db_reader_does_not_fork_a_replica(self, ha, pb_gen):
        """`sqlite3 state.db` on a running server (documented as the way to
        inspect it) holds SQLite's SHARED lock while it reads; entries applied
        meanwhile must still reach that replica."""
        leader = heal(ha)
        follower = next(ha.nodes[v] for v in VOTERS if v != leader.name)
        con = sqlite3.connect(str(follower.state_dir / "state.db"), isolation_level=None,
                              timeout=0)
        try:
            con.execute("BEGIN")
            con.execute("SELECT count(*) FROM nodes").fetchall()
            joins = make_joins(f"reader-{follower.name}", 1, 1, spacing=0)
            burst = JoinBurst(ha, pb_gen, [leader], joins)
            try:
                burst.wait_ready()
                r = burst.results()[0]
            finally:
                burst.close()
            assert r["code"] == "OK", r
            # the follower learns that the entry is committed (and so applies
            # it) while the read is open
            wait_until(lambda: joins[0]["id"] in leader.nodes(), 10, "the join on the leader")
            index = status(leader)["commit_index"]
            try:
                wait_until(lambda: status(follower)["commit_index"] >= index, 5,
                           f"{follower.name} to learn commit index {index}")
            except AssertionError:
                pass  # stalled by the reader: the check below says so
        finally:
            con.execute("COMMIT")
            con.close()
        wait_until(lambda: joins[0]["id"] in follower.nodes(), 10,
                   f"the join on {follower.name}, read while it was applied", interval=0.3)
        wait_until(lambda: replicas_identical(server_nodes(ha)), 30,
                   "every replica to be identical", interval=0.5)


def no_problems(problems):
    if problems:
        raise AssertionError("\n".join(problems))
    return True


def wait_or_problems(fn, timeout, what):
    try:
        wait_until(fn, timeout, what, interval=0.3)
        return []
    except AssertionError as e:
        return [str(e)]
