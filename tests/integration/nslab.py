"""A lab of hand-built namespaces and the processes run in them, shared by
the tests that wire their own underlay (routers, NATs, IPv6-only links)
instead of wmtest.Topology's one bridge: test_nat.py, test_ping_netcheck.py
and test_ipv6_underlay.py. One place for naming, spawning, logs, coturn and
cleanup, so that a fix to teardown reaches every such test.
"""

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import wmtest
from wmtest import run, wait_until

TURN_PORT = 3478

# What every lab's coturn runs with: shared-secret auth (only the webmesh
# server knows the secret and hands out short-lived credentials), UDP only,
# logging to the spawned process's log file.
_COTURN_CONF = """
{listening}
relay-ip={relay}
listening-port={port}
min-port=49152
max-port=65535
realm=webmesh.test
use-auth-secret
static-auth-secret={secret}
fingerprint
no-tcp
no-tls
no-dtls
no-cli
{extra}
pidfile={dir}/turnserver.pid
log-file=stdout
simple-log
"""

# A relay must not reach into the private networks around it (IPv4 labs).
COTURN_DENY_PRIVATE = """no-multicast-peers
denied-peer-ip=10.0.0.0-10.255.255.255
denied-peer-ip=172.16.0.0-172.31.255.255
denied-peer-ip=192.168.0.0-192.168.255.255"""


def hostport(ip, port):
    """ip:port as ss and the daemon print it (IPv6 in brackets)."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class NsLab:
    """Namespaces and processes of one test; close() removes them all."""

    def __init__(self, kind):
        self.prefix = f"wmh-{kind}-" + secrets.token_hex(2)
        self.dir = Path(tempfile.mkdtemp(prefix=self.prefix + "-"))
        self.namespaces = []
        self.procs = {}  # name -> Popen
        self.turn_secret = secrets.token_hex(16)
        self.fingerprint = None

    # --- namespaces ----------------------------------------------------
    def ns(self, name):
        return f"{self.prefix}-{name}"

    def ns_add(self, name):
        ns = self.ns(name)
        self.namespaces.append(ns)
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return ns

    # --- processes -----------------------------------------------------
    def spawn(self, name, ns, argv, mount=True, preexec=None):
        log = open(self.dir / f"{name}.log", "ab")
        cmd = ["ip", "netns", "exec", ns]
        if mount:
            cmd += ["unshare", "-m", "--propagation", "private", "sh", "-c", wmtest.NODE_SH, "sh"]
        cmd += [str(a) for a in argv]
        env = dict(wmtest.ENV)
        if os.environ.get("WM_TEST_NICE_DEBUG") == "1":  # libnice's own trace
            env.update(NICE_DEBUG="all", G_MESSAGES_DEBUG="all")
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             env=env, start_new_session=True, preexec_fn=preexec)
        log.close()
        self.procs[name] = p
        return p

    def log(self, name):
        try:
            return (self.dir / f"{name}.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def logs(self, lines=80):
        out = []
        for name in self.procs:
            tail = self.log(name).splitlines()[-lines:]
            out.append(f"--- {name} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(out)

    def wait_fingerprint(self, name, before):
        """The sha256:HEX that the log of name prints after the regex before."""
        pat = re.compile(before + r"(sha256:[0-9a-fA-F]{64})")

        def found():
            if self.procs[name].poll() is not None:
                raise wmtest.StopWaiting(f"{name} exited:\n" + self.log(name))
            m = pat.search(self.log(name))
            return m and m.group(1)
        return wait_until(found, 60, f"{name}'s certificate fingerprint")

    def start_coturn(self, listen_ips, relay_ip, extra="", ns="public"):
        """coturn in namespace ns, listening on every address of listen_ips."""
        conf = self.dir / "turnserver.conf"
        conf.write_text(_COTURN_CONF.format(
            listening="\n".join(f"listening-ip={ip}" for ip in listen_ips), relay=relay_ip,
            port=TURN_PORT, secret=self.turn_secret, extra=extra, dir=self.dir))
        self.spawn("coturn", self.ns(ns), ["turnserver", "-c", conf], mount=False)

        def listening():
            out = run(["ip", "netns", "exec", self.ns(ns), "ss", "-uln"]).stdout
            return all(hostport(ip, TURN_PORT) in out for ip in listen_ips)
        wait_until(listening, 20, f"coturn to listen on {', '.join(listen_ips)}")

    def stop(self, name):
        p = self.procs.get(name)
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def failed(self):
        """Some process ended other than by our SIGTERM."""
        return any(p.poll() is not None and p.returncode not in (0, -15)
                   for p in self.procs.values())

    # --- teardown ------------------------------------------------------
    def close(self):
        for name in reversed(list(self.procs)):
            self.stop(name)
        for ns in reversed(self.namespaces):
            left = [int(x) for x in run(["ip", "netns", "pids", ns], check=False).stdout.split()]
            wmtest._kill_wait(left, 5)
            run(["ip", "netns", "del", ns], check=False)
        if os.environ.get("WM_TEST_KEEP") == "1":
            print(f"{self.prefix}: kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def close_reporting(self):
        """close(), printing the logs first when a process failed."""
        try:
            if self.failed():
                print(self.logs())
        finally:
            self.close()


def router_rules(nat_rule, family="ip", input_extra=""):
    """A home router's nftables: forward only what the LAN (lan0) starts and
    its answers, drop unsolicited inbound on the WAN (wan0), and translate
    with nat_rule in table family (ip: NAT44, ip6: NAT66); input_extra is
    more of what the router itself accepts."""
    return f"""
table inet wmh-fw {{
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
  }}
  chain input {{
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname "lo" accept
    iifname "lan0" accept
    {input_extra}
  }}
}}
table {family} wmh-nat {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    {nat_rule}
  }}
}}
"""
