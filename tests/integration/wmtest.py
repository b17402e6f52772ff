"""Harness for the end-to-end tests: webmeshd meshes in network namespaces.

Modelled on FRR's topotests and WireGuard's netns.sh: every run gets unique
namespace names (wmt-<random>-...), a "switch" namespace holds a bridge, each
node has its own network namespace (veth to the bridge, underlay
10.250.X.Y/24, no default route) and its own private mount namespace with a
tmpfs on /run/wireguard and /run/webmesh, so webmeshd runs with its real
defaults. Convergence is awaited by polling (wait_until), never by sleeping a
fixed time. Teardown ends only the PIDs we started (and whatever is left
inside namespaces we created), deletes the namespaces and temp dirs, also on
failure and, as a last resort, at interpreter exit.
"""

import atexit
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("WM_BUILD_DIR", ROOT / "build")).resolve()
WEBMESHD = BUILD_DIR / "src" / "node" / "webmeshd"
WMCTL = BUILD_DIR / "src" / "cli" / "wmctl"
PROTO_DIR = ROOT / "proto"
GRPC_CLIENT = Path(__file__).resolve().parent / "grpc_client.py"
SOCKET = "/run/webmesh/webmesh.sock"
PYTHON = sys.executable  # Debian's /usr/bin/python3, with grpcio and pytest

API_PORT = 8443
WG_PORT = 51820
IFACE = "webmesh0"
RUN_ID = "wmt-" + secrets.token_hex(3)
# Slow machines (sanitizer builds) may stretch every timeout.
TIME_SCALE = float(os.environ.get("WM_TEST_TIME_SCALE", "1"))
# How long a node may take to start and become ready (generous: a 2-core box
# running the whole suite).
READY_TIMEOUT = 60
# The promise: a join or an ephemeral leave reaches every node in 2 s.
PROPAGATION_TIMEOUT = 2.0
# WM_TEST_KEEP=1 keeps each topology's directory (logs, state) for debugging.
KEEP = os.environ.get("WM_TEST_KEEP") == "1"
# WM_TEST_WG_BACKEND=embedded|userspace|... runs every node whose command line
# names no backend on that one (default: webmeshd's own, auto).
WG_BACKEND = os.environ.get("WM_TEST_WG_BACKEND", "")

ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
# mount points for the per-node tmpfs; sh execs webmeshd so that its PID is
# the one Popen returns.
NODE_SH = (
    # A node whose directory holds pre-start.sh sources it first (in the
    # node's namespaces, before anything is mounted): a test's stand-in for
    # the host services a node meets, such as systemd-resolved.
    "{ [ ! -e \"${3%/*}/pre-start.sh\" ] || . \"${3%/*}/pre-start.sh\"; } && "
    "mount -t tmpfs -o mode=0755 none /run/wireguard && "
    "mount -t tmpfs -o mode=0755 none /run/webmesh && "
    # A node whose directory holds a resolv.conf sees it as /etc/resolv.conf
    # ($3 is --state-dir's value), so a test can watch what it does to it.
    "{ [ ! -e \"${3%/*}/resolv.conf\" ] || "
    "mount --bind \"${3%/*}/resolv.conf\" /etc/resolv.conf; } && exec \"$@\""
)


SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: |"
                          r"WARNING: ThreadSanitizer|SUMMARY: UndefinedBehaviorSanitizer")


class CommandError(AssertionError):
    pass


class StopWaiting(Exception):
    """Raised by a wait_until predicate: waiting further is pointless."""


def run(cmd, check=True, timeout=30, input=None):
    """Runs cmd, returns CompletedProcess (text); on failure (check) raises
    with the command, its exit code and output."""
    cmd = [str(c) for c in cmd]
    try:
        p = subprocess.run(cmd, input=input, capture_output=True, text=True,
                           timeout=timeout, env=ENV)
    except subprocess.TimeoutExpired as e:
        raise CommandError(f"timed out after {timeout}s: {' '.join(cmd)}") from e
    if check and p.returncode != 0:
        raise CommandError(
            f"exit {p.returncode}: {' '.join(cmd)}\nstdout: {p.stdout.strip()}\n"
            f"stderr: {p.stderr.strip()}")
    return p


def scaled(seconds):
    return seconds * TIME_SCALE


def _link_local_settled(ns):
    """eth0 in ns is up with its IPv6 link-local address, none tentative."""
    out = run(["ip", "-n", ns, "-6", "-o", "addr", "show", "dev", "eth0"]).stdout
    return "fe80::" in out and "tentative" not in out


def wait_until(fn, timeout, what, interval=0.1):
    """Polls fn until it returns something truthy and returns that. Exceptions
    count as "not yet". Fails after timeout (scaled) naming what and the last
    result."""
    start = time.monotonic()
    deadline = start + scaled(timeout)
    last = None
    while True:
        try:
            v = fn()
            if v:
                # shown with the output of a failed test: where time went
                print(f"wait_until: {what}: {time.monotonic() - start:.2f}s")
                return v
            last = v
        except StopWaiting:
            raise
        except Exception as e:  # noqa: BLE001 - not ready yet
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {scaled(timeout):.1f}s waiting for {what}; "
                f"last result: {last!r}")
        time.sleep(interval)



def agreed_dumps(servers, timeout=10):
    """{name: state_dump()} of servers once their replicas agree. Refusal
    tests compare these before and after an attack: a change committed just
    before "before" (a join of the test's own setup) may still be on its way
    to a follower, and without waiting a "before" taken then differs from the
    "after" with no attack at all. A replica an attack made diverge never
    agrees, and the wait fails."""
    servers = list(servers)
    got = {}

    def agreed():
        got.clear()
        got.update({s.name: s.state_dump() for s in servers})
        first = next(iter(got.values()), None)
        return all(d == first for d in got.values())

    wait_until(agreed, timeout, "the servers' replicas to agree")
    return dict(got)

def host_ip(addr):
    """'172.16.0.1/32' -> '172.16.0.1'."""
    return str(ipaddress.ip_interface(addr).ip)


def net(addr):
    """Normalised network of an address or prefix, for comparisons."""
    return str(ipaddress.ip_network(addr, strict=False))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _kill_wait(pids, timeout):
    """SIGTERM, then SIGKILL after timeout; only the given PIDs. Returns the
    PIDs that needed SIGKILL."""
    pids = [p for p in pids if _pid_alive(p)]
    killed = []
    for sig, secs in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        if sig == signal.SIGKILL:
            killed = list(pids)
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            pids = [p for p in pids if _pid_alive(p)]
            if not pids:
                return killed
            time.sleep(0.05)
    return killed


_mount_points_ready = False


def _ensure_mount_points():
    # Standard directories of wireguard-go and webmeshd; never removed, since
    # that would detach the tmpfs of nodes running in other mount namespaces.
    global _mount_points_ready
    if not _mount_points_ready:
        for d in ("/run/wireguard", "/run/webmesh"):
            os.makedirs(d, exist_ok=True)
        _mount_points_ready = True


class Node:
    """One webmeshd in its own network + mount namespace."""

    def __init__(self, topo, name, index):
        self.topo = topo
        self.name = name  # also the node ID
        self.index = index
        self.ns = f"{topo.prefix}-{name}"
        self.underlay = f"10.250.{topo.subnet}.{index}"
        self.dir = topo.dir / name
        self.state_dir = self.dir / "state"
        self.log_path = topo.dir / f"{name}.log"
        self.proc = None
        self.args = None

    def __repr__(self):
        return f"<Node {self.name} pid={self.pid}>"

    # --- process ---------------------------------------------------------
    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, *args):
        """Starts webmeshd --state-dir DIR ARGS; returns once the process is
        webmeshd (not yet ready: see wait_ready)."""
        assert not self.running(), f"{self.name} already running"
        self.args = [str(a) for a in args]
        if WG_BACKEND and "--wireguard-backend" not in self.args:
            self.args += ["--wireguard-backend", WG_BACKEND]
        cmd = ["ip", "netns", "exec", self.ns, "unshare", "-m", "--propagation",
               "private", "sh", "-c", NODE_SH, "sh", str(WEBMESHD), "--state-dir",
               str(self.state_dir), *self.args]
        with open(self.log_path, "ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} start: webmeshd "
                      f"--state-dir {self.state_dir} {' '.join(self.args)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=ENV,
                                         start_new_session=True)
        self.topo._procs.append((self.name, self.proc))

        def execed():
            if self.proc.poll() is not None:
                return True
            with open(f"/proc/{self.proc.pid}/comm") as f:
                return f.read().strip() == WEBMESHD.name[:15]
        wait_until(execed, 10, f"webmeshd to start on {self.name}", interval=0.02)
        if self.proc.poll() is not None:
            raise AssertionError(
                f"webmeshd on {self.name} exited at once with {self.proc.returncode}:\n"
                f"{self.log_tail()}")
        return self

    def restart(self):
        """Starts again with the same command line."""
        return self.start(*self.args)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Sends sig and waits for the exit; returns the exit code. SIGKILLs
        (and fails) if webmeshd does not exit within timeout."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout=20):
        """Waits for webmeshd to exit (after a signal sent by the test);
        returns the exit code, or kills it and fails after timeout."""
        try:
            return self.proc.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"webmeshd on {self.name} did not exit within "
                                 f"{timeout}s; killed\n{self.log_tail()}") from None

    def ns_pids(self):
        """PIDs of every process in this node's network namespace."""
        p = run(["ip", "netns", "pids", self.ns], check=False)
        return [int(x) for x in p.stdout.split()]

    # --- faults -----------------------------------------------------------
    def crash(self):
        """SIGKILL to webmeshd, then to whatever else runs in the node's
        namespace (its wireguard-go): the host is gone, not just the daemon.
        restart() brings it back with the same command line."""
        if self.running():
            self.proc.kill()
            self.proc.wait(10)
        for pid in self.ns_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not self.ns_pids(), 10, f"nothing left running in {self.ns}")

    def set_link(self, up):
        """Takes the node's underlay link (eth0) down or up: cut off from
        every other node, with its processes still running."""
        run(["ip", "-n", self.ns, "link", "set", "eth0", "up" if up else "down"])

    # --- commands inside the node -----------------------------------------
    def exec(self, *cmd, check=True, timeout=30, input=None):
        """Runs cmd in the node's network and mount namespaces."""
        assert self.running(), f"webmeshd on {self.name} is not running"
        return run(["nsenter", "-t", self.pid, "-m", "-n", *cmd], check=check,
                   timeout=timeout, input=input)

    def netns_exec(self, *cmd, check=True, timeout=30, input=None):
        """Runs cmd in the node's network namespace only (works while
        webmeshd is down)."""
        return run(["ip", "netns", "exec", self.ns, *cmd], check=check,
                   timeout=timeout, input=input)

    def wmctl(self, *args, check=True, timeout=30):
        return self.exec(WMCTL, *args, check=check, timeout=timeout)

    def wmctl_json(self, *args):
        out = self.wmctl(*args, "-o", "json").stdout
        try:
            return json.loads(out)
        except ValueError as e:
            raise AssertionError(f"wmctl {' '.join(args)} on {self.name}: not JSON: "
                                 f"{out[:500]!r}") from e

    def state_dump(self):
        """The replicated state as this server's replica holds it: every row
        of every table of state.db in a fixed order (sqlite3 -readonly, so a
        running daemon is not disturbed). Refusal tests compare the dump of
        every voter before and after an attack; servers only. The meta
        table (the last applied Raft index) is left out: soft-state entries
        such as the leader's liveness marks advance it without changing a
        stored row, and a liveness mark may fall inside any test's window."""
        db = self.state_dir / "state.db"
        tables = self.netns_exec("sqlite3", "-readonly", str(db),
                                 "SELECT name FROM sqlite_master WHERE type = 'table'"
                                 " ORDER BY name").stdout.split()
        assert tables, f"{self.name}: no tables in {db}"
        dump = {}
        for t in tables:
            if t == "meta":
                continue
            rows = self.netns_exec("sqlite3", "-readonly", "-json", str(db),
                                   f"SELECT * FROM \"{t}\"").stdout
            rows = json.loads(rows) if rows.strip() else []
            dump[t] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))
        return dump

    def status(self):
        return self.wmctl_json("status")

    def nodes(self):
        """wmctl get nodes, as {id: node}."""
        return {n["id"]: n for n in self.wmctl_json("get", "nodes").get("nodes", [])}

    def wg_peers(self):
        """`wg show webmesh0 dump` as {public_key: {endpoint, allowed_ips (set
        of normalised networks), latest_handshake}}."""
        lines = self.exec("wg", "show", IFACE, "dump").stdout.strip().splitlines()
        peers = {}
        for line in lines[1:]:
            f = line.split("\t")
            allowed = set() if f[3] == "(none)" else {net(a) for a in f[3].split(",")}
            peers[f[0]] = {"endpoint": f[2], "allowed_ips": allowed,
                           "latest_handshake": int(f[4])}
        return peers

    def ping(self, addr, count=1, wait=2):
        """True if addr answers (bounded: count packets, wait seconds each)."""
        fam = "-6" if ":" in addr else "-4"
        p = self.netns_exec("ping", fam, "-n", "-q", "-c", str(count), "-W", str(wait),
                            addr, check=False, timeout=count * wait + 10)
        return p.returncode == 0

    # --- readiness --------------------------------------------------------
    def is_leader(self):
        return self.status().get("raft_state") == "leader"

    def is_member(self):
        s = self.status()
        return bool(s.get("address_ipv4")) and s.get("subscribed") is True

    def wait_ready(self, kind, timeout=READY_TIMEOUT):
        """kind "leader" (bootstrap node) or "member"; fails early with the
        log if webmeshd exits."""
        check = self.is_leader if kind == "leader" else self.is_member

        def ready():
            if not self.running():
                raise _Exited()
            return check()
        try:
            wait_until(ready, timeout, f"{self.name} ready as {kind}", interval=0.1)
        except _Exited:
            raise AssertionError(
                f"webmeshd on {self.name} exited with {self.proc.returncode} before "
                f"becoming ready:\n{self.log_tail()}") from None
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.log_tail()}") from None
        return self.status()

    # --- logs -------------------------------------------------------------
    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        lines = self.log().splitlines()[-n:]
        return f"--- last {len(lines)} lines of {self.name}'s log:\n" + "\n".join(lines)


class _Exited(StopWaiting):
    pass


_live = set()


class Topology:
    """A switch namespace and a set of nodes; close() removes all of it."""

    _count = 0

    def __init__(self):
        Topology._count += 1
        self.num = Topology._count
        self.prefix = f"{RUN_ID}-{self.num}"
        self.subnet = self.num % 250
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.namespaces = []
        self.nodes = {}
        self._procs = []  # (name, Popen) of every webmeshd we started
        self.fingerprint = None
        self.server = None
        self.closed = False
        _live.add(self)
        _ensure_mount_points()
        self.switch = f"{self.prefix}-sw"
        self._ns_add(self.switch)
        run(["ip", "-n", self.switch, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.switch, "link", "set", "br0", "up"])

    def _ns_add(self, ns):
        self.namespaces.append(ns)  # recorded first: a failure is cleaned up
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def add_node(self, name):
        assert name not in self.nodes
        node = Node(self, name, len(self.nodes) + 1)
        self._ns_add(node.ns)
        veth = f"v{node.index}"
        run(["ip", "-n", self.switch, "link", "add", veth, "type", "veth", "peer", "name",
             "eth0", "netns", node.ns])
        run(["ip", "-n", self.switch, "link", "set", veth, "master", "br0", "up"])
        run(["ip", "-n", node.ns, "addr", "add", f"{node.underlay}/24", "dev", "eth0"])
        run(["ip", "-n", node.ns, "link", "set", "eth0", "up"])
        node.state_dir.mkdir(parents=True, mode=0o700)
        self.nodes[name] = node
        return node

    def bootstrap(self, name, *extra, endpoints=True):
        """Adds a node that bootstraps the mesh and waits until it leads and
        has logged its join fingerprint."""
        node = self.add_node(name)
        args = ["--bootstrap", "--node-id", name]
        if endpoints:
            args += ["--endpoints", f"{node.underlay}:{WG_PORT}"]
        node.start(*args, *extra)
        node.wait_ready("leader")
        pat = re.compile(r"--join-fingerprint[ =](sha256:[0-9a-fA-F]{64})")

        def fingerprint():
            m = pat.search(node.log())
            return m and m.group(1)
        self.fingerprint = wait_until(fingerprint, 10, f"the join fingerprint in {name}'s log")
        self.server = node
        return node

    def join_args(self, node, *extra, endpoints=True, ephemeral=False, server=None):
        server = server or self.server
        args = ["--join", f"{server.underlay}:{API_PORT}", "--join-fingerprint",
                self.fingerprint, "--node-id", node.name]
        if endpoints:
            args += ["--endpoints", f"{node.underlay}:{WG_PORT}"]
        if ephemeral:
            args.append("--ephemeral")
        return args + list(extra)

    def join(self, name, *extra, wait=True, **kw):
        """Adds a node that joins the mesh; waits until it is a member."""
        node = self.add_node(name)
        node.start(*self.join_args(node, *extra, **kw))
        if wait:
            node.wait_ready("member")
        return node

    def add_client(self, name="client", index=200):
        """A namespace on the bridge without a node, for outside callers."""
        ns = f"{self.prefix}-{name}"
        self._ns_add(ns)
        veth = f"c{index}"
        run(["ip", "-n", self.switch, "link", "add", veth, "type", "veth", "peer", "name",
             "eth0", "netns", ns])
        run(["ip", "-n", self.switch, "link", "set", veth, "master", "br0", "up"])
        run(["ip", "-n", ns, "addr", "add", f"10.250.{self.subnet}.{index}/24", "dev", "eth0"])
        # A client's addresses must be final before it is used: the kernel
        # adds eth0's IPv6 link-local address only once the veth's carrier is
        # up, after duplicate address detection, and Chromium aborts its
        # requests with ERR_NETWORK_CHANGED when an address appears under it
        # (seen as a flaky first page load in test_console). No DAD on this
        # private bridge, then wait for the address.
        v6 = os.path.isdir("/proc/sys/net/ipv6")
        if v6:
            run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        if v6:
            wait_until(lambda: _link_local_settled(ns), 10, f"{ns}'s eth0 addresses to settle")
        return ns

    def grpc(self, gen_dir, target, ops, via="tls", timeout=120):
        """Runs grpc_client.py against node target with the operations ops
        (see grpc_client.py); returns its list of results. via "tls": from
        a client namespace to target's API port, trusting target's
        self-signed certificate; via "unix": inside target's namespaces on
        the local socket."""
        if via == "tls":
            if not getattr(self, "client_ns", None):
                self.client_ns = self.add_client()
            cmd = ["ip", "netns", "exec", self.client_ns, PYTHON, GRPC_CLIENT,
                   "--gen", gen_dir, "--target", f"{target.underlay}:{API_PORT}",
                   "--ca", target.state_dir / "tls.crt", "--name", target.name]
        else:
            cmd = ["nsenter", "-t", target.pid, "-m", "-n", PYTHON, GRPC_CLIENT,
                   "--gen", gen_dir, "--unix", SOCKET]
        out = run(cmd, input=json.dumps(ops), timeout=timeout).stdout
        res = json.loads(out)
        assert len(res) == len(ops)
        return res

    def running_nodes(self):
        return [n for n in self.nodes.values() if n.running()]

    def logs(self, lines=150):
        out = []
        for n in self.nodes.values():
            out.append(n.log_tail(lines))
        return "\n".join(out)

    def _stop_all(self):
        """SIGTERM to every webmeshd still running (newest first), SIGKILL
        to those that have not exited after 15 s. Popen reaps them: a
        zombie would look alive to kill(pid, 0)."""
        procs = [(n, p) for n, p in reversed(self._procs) if p.poll() is None]
        for _, p in procs:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + scaled(15)
        for name, p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"wmtest: webmeshd {name} (pid {p.pid}) ignored SIGTERM for "
                      f"{scaled(15):.0f}s; killed", file=sys.stderr)
                p.kill()
                p.wait(10)

    def diagnostics(self):
        """What each running node's device and routes look like, for failure
        reports."""
        out = []
        for n in self.running_nodes():
            for cmd in (["wg", "show", IFACE, "dump"], ["ip", "-br", "addr"],
                        ["ip", "route"], ["ip", "-6", "route"]):
                try:
                    p = n.exec(*cmd, check=False, timeout=10)
                    text = (p.stdout + p.stderr).strip()
                except Exception as e:  # noqa: BLE001 - best effort
                    text = repr(e)
                out.append(f"--- {n.name}: {' '.join(cmd)}\n{text}")
        return "\n".join(out)

    def sanitizer_reports(self):
        """Lines of AddressSanitizer / LeakSanitizer / UBSan reports in the
        node logs (sanitizer builds: make integration-asan)."""
        found = []
        for n in self.nodes.values():
            for line in n.log().splitlines():
                if SANITIZER_RE.search(line):
                    found.append(f"{n.name}: {line.strip()}")
        return found

    def close(self):
        """Stops everything and removes the namespaces and files; then fails
        if a sanitizer reported anything in a node's log."""
        if self.closed:
            return
        self.closed = True
        reports = []
        try:
            self._stop_all()
            reports = self.sanitizer_reports()
            if reports:
                print(self.logs(400), file=sys.stderr)
            for ns in reversed(self.namespaces):
                # anything left in our namespaces is ours (a wireguard-go
                # orphaned by a SIGKILL)
                left = [int(x) for x in run(["ip", "netns", "pids", ns],
                                            check=False).stdout.split()]
                _kill_wait(left, 5)
                run(["ip", "netns", "del", ns], check=False)
            if KEEP:
                print(f"wmtest: kept logs and state in {self.dir}", file=sys.stderr)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            _live.discard(self)
        assert not reports, "sanitizer reports in node logs:\n" + "\n".join(reports[:20])


@contextlib.contextmanager
def topology():
    """A Topology that is closed on exit; if the body fails (e.g. a fixture
    building the mesh), the node logs are printed first."""
    t = Topology()
    try:
        yield t
    except BaseException:
        print(t.logs(), file=sys.stderr)
        raise
    finally:
        t.close()


def generate_protos(out_dir):
    """Python modules for proto/webmesh/v1/*.proto, generated with protoc."""
    protos = sorted(str(p) for p in (PROTO_DIR / "webmesh" / "v1").glob("*.proto"))
    run(["protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}", *protos])
    return str(out_dir)


def live_topologies():
    return list(_live)


def _close_all():
    for t in list(_live):
        try:
            t.close()
        except Exception as e:  # noqa: BLE001 - best effort at exit
            print(f"wmtest: cleanup of {t.prefix} failed: {e}", file=sys.stderr)


atexit.register(_close_all)
