"""Two WireGuard daemons in two network namespaces joined by a veth, for the
embedded backend's interop tests and its benchmark: each side runs either
webmesh-wg (our embedded WireGuard, as `wireguard-go -f` runs) or
wireguard-go, and is configured with `wg` over its UAPI socket, as a user
would. Names are unique per run (interfaces too, since /run/wireguard is
shared); close() ends only the processes started here and deletes the
namespaces, also on failure.
"""

import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from wmtest import BUILD_DIR, ENV, RUN_ID, run, scaled, wait_until

WEBMESH_WG = BUILD_DIR / "src" / "wg" / "webmesh-wg"
UAPI_DIR = Path("/run/wireguard")
PORT = 51820

_count = 0


class Side:
    def __init__(self, pair, name, kind, index):
        self.pair = pair
        self.name = name
        self.kind = kind  # "embedded" or "go"
        self.index = index
        self.ns = f"{pair.prefix}-{name}"
        self.ifname = f"wme{pair.tag}{name}"
        self.underlay = f"10.252.{pair.num}.{index}"
        self.inner4 = f"10.253.{pair.num}.{index}"
        self.inner6 = f"fd77:{pair.num:x}::{index}"
        self.proc = None
        self.key_path = pair.dir / f"{name}.key"
        self.private = run(["wg", "genkey"]).stdout.strip()
        self.key_path.write_text(self.private + "\n")
        os.chmod(self.key_path, 0o600)
        self.public = run(["wg", "pubkey"], input=self.private + "\n").stdout.strip()
        self.log_path = pair.dir / f"{name}.log"

    def exec(self, *cmd, check=True, timeout=30, input=None):
        return run(["ip", "netns", "exec", self.ns, *cmd], check=check, timeout=timeout,
                   input=input)

    def start(self, env=None):
        sock = UAPI_DIR / f"{self.ifname}.sock"
        if self.kind == "embedded":
            cmd = [str(WEBMESH_WG), *self.pair.embedded_args, self.ifname]
        else:
            cmd = ["wireguard-go", "-f", self.ifname]
        e = dict(ENV)
        e.update(env or {})
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, *cmd],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=e,
                                         start_new_session=True)
        self.pair.procs.append(self.proc)
        wait_until(lambda: sock.exists() or self.proc.poll() is not None, 10,
                   f"{self.ifname}.sock")
        assert self.proc.poll() is None, f"{self.kind} exited: {self.log_path.read_text()}"
        self.exec("wg", "set", self.ifname, "private-key", self.key_path, "listen-port",
                  PORT)
        self.exec("ip", "addr", "add", f"{self.inner4}/24", "dev", self.ifname)
        self.exec("ip", "addr", "add", f"{self.inner6}/64", "dev", self.ifname)
        self.exec("ip", "link", "set", self.ifname, "up")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def add_peer(self, other, endpoint=True, *extra):
        args = ["wg", "set", self.ifname, "peer", other.public, "allowed-ips",
                f"{other.inner4}/32,{other.inner6}/128"]
        if endpoint:
            args += ["endpoint", f"{other.underlay}:{PORT}"]
        self.exec(*args, *extra)

    def dump(self):
        """`wg show IF dump`: (interface fields, {public_key: peer fields})."""
        lines = self.exec("wg", "show", self.ifname, "dump").stdout.strip().splitlines()
        peers = {}
        for line in lines[1:]:
            f = line.split("\t")
            peers[f[0]] = {"endpoint": f[2], "allowed_ips": f[3],
                           "latest_handshake": int(f[4]), "rx": int(f[5]), "tx": int(f[6])}
        return lines[0].split("\t"), peers

    def handshake_time(self, other):
        return self.dump()[1][other.public]["latest_handshake"]

    def ping(self, addr, count=1, wait=2, interval=None):
        fam = "-6" if ":" in addr else "-4"
        args = ["ping", fam, "-n", "-q", "-c", str(count), "-W", str(wait)]
        if interval:
            args += ["-i", str(interval)]
        p = self.exec(*args, addr, check=False, timeout=count * wait + 20)
        return p.returncode == 0

    def iperf_to(self, other, seconds=2, reverse=False, streams=1):
        """Mbit/s received by iperf3 over the tunnel, self -> other (or
        other -> self with reverse)."""
        server = subprocess.Popen(["ip", "netns", "exec", other.ns, "iperf3", "-s", "-1",
                                   "-B", other.inner4], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=ENV, start_new_session=True)
        self.pair.procs.append(server)
        try:
            out = None
            deadline = time.monotonic() + scaled(10)
            while time.monotonic() < deadline:
                p = self.exec("iperf3", "-c", other.inner4, "-t", str(seconds), "-J",
                              "-P", str(streams), *(["-R"] if reverse else []), check=False,
                              timeout=seconds + 30)
                try:
                    res = json.loads(p.stdout)
                except ValueError:
                    res = {}
                if p.returncode == 0 and "sum_received" in res.get("end", {}):
                    out = res
                    break
                if server.poll() is not None:  # -1: a failed attempt ended it
                    server = subprocess.Popen(
                        ["ip", "netns", "exec", other.ns, "iperf3", "-s", "-1", "-B",
                         other.inner4], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, env=ENV, start_new_session=True)
                    self.pair.procs.append(server)
                time.sleep(0.2)  # the server may not listen yet
            assert out, f"iperf3 to {other.inner4} failed: {p.stdout[-500:]} {p.stderr}"
            return out["end"]["sum_received"]["bits_per_second"] / 1e6
        finally:
            if server.poll() is None:
                server.kill()
            server.wait(timeout=5)

    def rss_kib(self):
        with open(f"/proc/{self.daemon_pid()}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def daemon_pid(self):
        """The daemon's PID: `ip netns exec` execs it, so it is proc.pid,
        except wireguard-go -f, which may re-exec itself in place."""
        return self.proc.pid


class Pair:
    def __init__(self, kind_a, kind_b, embedded_args=()):
        """embedded_args: webmesh-wg's options (--workers N, --no-offload)."""
        global _count
        self.embedded_args = list(embedded_args)
        _count += 1
        self.num = 100 + _count
        self.prefix = f"{RUN_ID}-wg{_count}"
        self.tag = secrets.token_hex(3)
        self.dir = Path(subprocess.run(["mktemp", "-d", f"/tmp/{self.prefix}-XXXX"],
                                       capture_output=True, text=True).stdout.strip())
        self.procs = []
        self.namespaces = []
        self.a = Side(self, "a", kind_a, 1)
        self.b = Side(self, "b", kind_b, 2)
        for s in (self.a, self.b):
            self.namespaces.append(s.ns)
            run(["ip", "netns", "add", s.ns])
            s.exec("ip", "link", "set", "lo", "up")
        run(["ip", "-n", self.a.ns, "link", "add", "eth0", "type", "veth", "peer", "name",
             "eth0", "netns", self.b.ns])
        for s in (self.a, self.b):
            s.exec("ip", "addr", "add", f"{s.underlay}/24", "dev", "eth0")
            s.exec("ip", "link", "set", "eth0", "up")

    def start(self, env_a=None, env_b=None, endpoints=(True, True)):
        self.a.start(env_a)
        self.b.start(env_b)
        self.a.add_peer(self.b, endpoints[0])
        self.b.add_peer(self.a, endpoints[1])
        return self

    def close(self):
        for s in (self.a, self.b):
            s.stop()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for ns in self.namespaces:
            # whatever is left inside a namespace we made is ours
            for pid in run(["ip", "netns", "pids", ns], check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            run(["ip", "netns", "del", ns], check=False)
        for s in (self.a, self.b):
            (UAPI_DIR / f"{s.ifname}.sock").unlink(missing_ok=True)
        subprocess.run(["rm", "-rf", str(self.dir)])
