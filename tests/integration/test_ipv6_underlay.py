"""IPv6 underlays (issue 11, "IPv6 everywhere"), in namespaces this file makes.

IPv6 only (no IPv4 address on any underlay link):

    public (br0: fd77::1, fd77::a)  webmeshd --bootstrap (default api-listen),
      |                             coturn (STUN + TURN) on both addresses
      +-- m1 (fd77::2)              --join [fd77::1]:8443
      +-- router (wan0 fd77::20 | lan0 fd99::1, NAT66: nft masquerade,
      |            unsolicited inbound dropped)
      |     +-- site (fd99::2)      --join [fd77::1]:8443, STUN over IPv6
      +-- (dual-stack test: br0 has 192.0.2.1 too; m4 has 192.0.2.3 only)

Nodes are real webmeshd processes; the tests read `wmctl status` and
`wmctl netcheck` as JSON and ping over the mesh. A last test runs the daemon
where the kernel refuses IPv6 sockets (a seccomp filter answers socket(AF_INET6)
with EAFNOSUPPORT, as a kernel booted with ipv6.disable=1 does) and checks that
the default listener falls back to IPv4 and says so.
"""

import ctypes
import importlib
import json
import os
import re
import secrets
import shutil
import socket
import struct

import pytest

import wmtest
from nslab import NsLab, router_rules
from wmtest import run, wait_until

SERVER6 = "fd77::1"
STUN6_B = "fd77::a"
ROUTER_WAN6 = "fd77::20"
SERVER4 = "192.0.2.1"
PW = "s3cret-Dual-Stack-Pw"

# NAT66 with the router's own neighbour discovery let in.
ROUTER_RULES = router_rules(
    'oifname "wan0" masquerade', family="ip6",
    input_extra="icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept")


class Lab(NsLab):
    """Namespaces and processes of one test; everything goes in close()."""

    def __init__(self):
        super().__init__("v6")

    def addr(self, name, dev, cidr):
        cmd = ["ip", "-n", self.ns(name), "addr", "add", cidr, "dev", dev]
        if ":" in cidr:
            cmd.append("nodad")  # usable at once, no duplicate detection wait
        run(cmd)

    def public(self, v4=False):
        pub = self.ns_add("public")
        run(["ip", "-n", pub, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", pub, "link", "set", "br0", "up"])
        self.addr("public", "br0", f"{SERVER6}/64")
        self.addr("public", "br0", f"{STUN6_B}/64")
        if v4:
            self.addr("public", "br0", f"{SERVER4}/24")

    def host(self, name, *cidrs, route6=None):
        """A namespace on the public bridge with the given addresses."""
        ns = self.ns_add(name)
        port = "p" + secrets.token_hex(3)
        run(["ip", "-n", self.ns("public"), "link", "add", port, "type", "veth", "peer",
             "name", "eth0", "netns", ns])
        run(["ip", "-n", self.ns("public"), "link", "set", port, "master", "br0", "up"])
        for c in cidrs:
            self.addr(name, "eth0", c)
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        return ns

    def nat_site(self, site="site", router_name="router", wan=ROUTER_WAN6, lan="fd99::"):
        """router (NAT66) on the bridge, site behind it."""
        router = self.host(router_name, f"{wan}/64")
        site_ns = self.ns_add(site)
        run(["ip", "-n", router, "link", "set", "eth0", "name", "wan0"])
        run(["ip", "-n", router, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0",
             "netns", site_ns])
        self.addr(router_name, "lan0", f"{lan}1/64")
        run(["ip", "-n", router, "link", "set", "lan0", "up"])
        self.addr(site, "eth0", f"{lan}2/64")
        run(["ip", "-n", site_ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", site_ns, "-6", "route", "add", "default", "via", f"{lan}1"])
        run(["ip", "netns", "exec", router, "sysctl", "-q", "-w",
             "net.ipv6.conf.all.forwarding=1"])
        run(["ip", "netns", "exec", router, "nft", "-f", "-"], input=ROUTER_RULES)

    # --- processes -------------------------------------------------------
    def node(self, name, ns, *args, preexec=None):
        state = self.dir / name
        state.mkdir(mode=0o700, exist_ok=True)
        return self.spawn(name, ns, [wmtest.WEBMESHD, "--node-id", name, "--state-dir", state,
                                     "--socket", state / "webmesh.sock", "--log-level", "debug",
                                     *args], preexec=preexec)

    def start_server(self, *args):
        # No --api-listen and no --endpoints: the defaults must serve an
        # IPv6-only host, and detection must find its IPv6 address.
        self.node("server", self.ns("public"), "--bootstrap", *args)
        self.fingerprint = self.wait_fingerprint("server", r"--join-fingerprint[ =]")

    def join(self, name, ns, target, *args):
        self.node(name, ns, "--join", target, "--join-fingerprint", self.fingerprint, *args)

    def start_stun(self):
        self.start_coturn([SERVER6, STUN6_B], SERVER6)

    def wmctl(self, name, *args):
        if self.procs[name].poll() is not None:
            raise wmtest.StopWaiting(f"{name} exited:\n" + self.log(name))
        p = run([wmtest.WMCTL, "--socket", self.dir / name / "webmesh.sock", *args, "-o",
                 "json"], check=False, timeout=30)
        return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else {}

    def mesh_addrs(self, name):
        st = self.wmctl(name, "status")
        a4, a6 = st.get("address_ipv4", ""), st.get("address_ipv6", "")
        return (a4.split("/")[0], a6.split("/")[0]) if a4 and a6 else None

    def ping(self, name, addr):
        p = run(["ip", "netns", "exec", self.ns(name), "ping", "-n", "-q", "-c", "1", "-W", "2",
                 addr], check=False, timeout=15)
        return p.returncode == 0

    def pings(self, frm, ns_name, to):
        """Both mesh addresses of to answer frm's pings (in namespace ns_name)."""
        addrs = wait_until(lambda: self.mesh_addrs(to), 30, f"{to}'s mesh addresses")
        for a in addrs:
            wait_until(lambda: self.ping(ns_name, a), 30,
                       f"{frm} to ping {to} at {a} over the mesh", interval=1)


@pytest.fixture
def lab():
    if not os.access(wmtest.WEBMESHD, os.X_OK):
        pytest.fail(f"{wmtest.WEBMESHD} is not built")
    lab = Lab()
    try:
        yield lab
    finally:
        lab.close_reporting()


def no_ipv4_on_underlay(lab, name):
    out = run(["ip", "-n", lab.ns(name), "-4", "-o", "addr", "show"]).stdout
    return [ln for ln in out.splitlines() if " lo " not in ln and "webmesh" not in ln]


def test_ipv6_only_join_ping_and_nat66_stun(lab):
    if not shutil.which("turnserver"):
        pytest.fail("coturn (turnserver) is not installed: scripts/deps.sh")
    lab.public()
    lab.host("m1", "fd77::2/64")
    lab.nat_site()
    lab.start_stun()
    # The server hands out the IPv6 TURN server with credentials.
    lab.start_server("--turn-servers", f"turn:[{SERVER6}]:3478", "--turn-secret",
                     lab.turn_secret)
    # The join command it prints is ready to paste: the IPv6 address in
    # brackets, quoted for shells that would take [..] for a pattern.
    assert re.search(r"webmeshd --join '\[fd77::[1a]\]:8443' --join-fingerprint",
                     lab.log("server")), lab.log("server")
    # The server listens dual-stack by default.
    ss = run(["ip", "netns", "exec", lab.ns("public"), "ss", "-tln"]).stdout
    assert "[::]:8443" in ss or "*:8443" in ss, ss
    lab.join("m1", lab.ns("m1"), f"[{SERVER6}]:8443")
    lab.join("site", lab.ns("site"), f"[{SERVER6}]:8443", "--stun-servers",
             f"stun:[{SERVER6}]:3478,stun:[{STUN6_B}]:3478")
    for n in ("public", "m1", "router", "site"):
        assert no_ipv4_on_underlay(lab, n) == [], f"{n} has IPv4 on its underlay"

    # Detection found the server's IPv6 underlay address and advertises it.
    def server_endpoints():
        return lab.wmctl("server", "netcheck").get("endpoints", [])
    eps = wait_until(server_endpoints, 30, "the server's endpoints")
    assert f"[{SERVER6}]:51820" in eps, eps

    lab.pings("m1", "m1", "server")
    lab.pings("site", "site", "server")
    lab.pings("server", "public", "m1")

    # Behind NAT66: both IPv6 STUN servers saw the router's address with the
    # port kept, so the reflexive address is learnt and advertised.
    def nat_seen():
        nc = lab.wmctl("site", "netcheck")
        stun = [c for c in nc.get("checks", []) if c.get("kind") == "stun"]
        turn = [c for c in nc.get("checks", []) if c.get("kind") == "turn"]
        if len(stun) == 2 and all(c.get("mapped", "").startswith(f"[{ROUTER_WAN6}]:")
                                  for c in stun) and turn and turn[0].get("reachable"):
            return nc
        return None
    nc = wait_until(nat_seen, 30, "the site's IPv6 STUN answers", interval=1)
    assert nc["nat_mapping"] == "endpoint-independent", nc
    assert f"[{ROUTER_WAN6}]:51820" in nc["endpoints"], nc
    assert "[fd99::2]:51820" in nc["endpoints"], nc
    # Its own address must not be taken for the mapping.
    assert nc["mapped"].startswith(f"[{ROUTER_WAN6}]:"), nc


def test_ice_between_two_nat66_sites_uses_ipv6_candidates(lab):
    """Two sites behind NAT66 routers, private (ULA) addresses only. Their
    NATs keep ports, so WireGuard's own handshakes punch through directly;
    the edge between them asks for ICE (ice=true), whose agents gather IPv6
    host and reflexive candidates and connect."""
    if not shutil.which("turnserver"):
        pytest.fail("coturn (turnserver) is not installed: scripts/deps.sh")
    lab.public()
    lab.nat_site("site-a", "router-a", "fd77::20", "fd99::")
    lab.nat_site("site-b", "router-b", "fd77::21", "fd98::")
    lab.start_stun()
    lab.start_server()
    for side in ("site-a", "site-b"):
        lab.join(side, lab.ns(side), f"[{SERVER6}]:8443", "--stun-servers",
                 f"stun:[{SERVER6}]:3478,stun:[{STUN6_B}]:3478", "--ice-handshake-timeout", "10")
    wait_until(lambda: lab.mesh_addrs("site-a") and lab.mesh_addrs("site-b"), 60,
               "both sites to join")
    run([wmtest.WMCTL, "--socket", lab.dir / "server" / "webmesh.sock", "put", "edge", "site-a",
         "site-b", "--attr", "ice=true"])

    def on_ice(frm, to):
        for p in lab.wmctl(frm, "status").get("peers", []):
            if p.get("id") == to and p.get("path") in ("ice-direct", "ice-relay"):
                return p
        return None
    pa = wait_until(lambda: on_ice("site-a", "site-b"), 40,
                    "site-a's ICE path to site-b", interval=1)
    wait_until(lambda: on_ice("site-b", "site-a"), 20,
               "site-b's ICE path to site-a", interval=1)
    lab.pings("site-a", "site-a", "site-b")
    pa = on_ice("site-a", "site-b")
    assert pa["path"] == "ice-direct", pa
    # IPv6 candidates on both ends: "host [fd99::2]:PORT", "srflx [fd77::21]:PORT"
    for field in ("local_candidate", "remote_candidate"):
        kind, _, addr = pa[field].partition(" ")
        assert addr.startswith("[fd"), pa
    assert pa["ice_rx_bytes"] > 0 and pa["ice_tx_bytes"] > 0, pa


def test_dual_stack_ipv4_only_and_ipv6_only_members(lab):
    crypt = importlib.import_module("crypt")  # stdlib: a missing one must fail, not skip
    lab.public(v4=True)
    lab.host("m6", "fd77::2/64")
    lab.host("m4", "192.0.2.3/24")
    for n in ("m6",):
        assert no_ipv4_on_underlay(lab, n) == []
    out = run(["ip", "-n", lab.ns("m4"), "-6", "-o", "addr", "show", "scope", "global"]).stdout
    assert out.strip() == "", "m4 must have no global IPv6 address"
    hp = lab.dir / "htpasswd"
    salt = crypt.mksalt(crypt.METHOD_SHA512)
    # The user name is the node ID (a node proves its own name).
    hp.write_text("".join(f"{n}:{crypt.crypt(PW, salt)}\n" for n in ("m6", "m4", "m4-bad")))
    hp.chmod(0o600)
    lab.start_server("--basic-auth-file", hp)
    for name, ns, target, pw in (("m6", "m6", f"[{SERVER6}]:8443", PW),
                                 ("m4", "m4", f"{SERVER4}:8443", PW)):
        # In a 0600 file, not on the command line (ps shows that).
        f = lab.dir / f"{name}.yaml"
        f.write_text(f"basic-auth-user: {name}\nbasic-auth-password: {pw}\n")
        f.chmod(0o600)
        lab.join(name, lab.ns(ns), target, "--config", f)
    lab.pings("m6", "m6", "server")
    lab.pings("m4", "m4", "server")
    # m4 came in on the [::] listener as ::ffff:192.0.2.3: the server must
    # name it by its IPv4 address. A wrong password is logged with its source.
    bad = lab.dir / "bad.yaml"
    bad.write_text("basic-auth-user: m4-bad\nbasic-auth-password: wrong-password\n")
    bad.chmod(0o600)
    lab.join("m4-bad", lab.ns("m4"), f"{SERVER4}:8443", "--config", bad, "--wireguard-backend",
             "null", "--interface", "wmbad0")
    pat = re.compile(r"from 192\.0\.2\.3:\d+")
    wait_until(lambda: pat.search(lab.log("server")), 20,
               "the server to log the refused member by its IPv4 address")
    assert "::ffff:192.0.2.3" not in lab.log("server")


# seccomp: socket(AF_INET6, ...) fails with EAFNOSUPPORT, everything else runs.
def _deny_ipv6_sockets():
    AUDIT_ARCH_X86_64 = 0xC000003E
    ld, jeq, ret = 0x20, 0x15, 0x06
    prog = [
        (ld, 0, 0, 4),  # arch
        (jeq, 0, 5, AUDIT_ARCH_X86_64),
        (ld, 0, 0, 0),  # syscall number
        (jeq, 0, 3, 41),  # socket
        (ld, 0, 0, 16),  # args[0], low half
        (jeq, 0, 1, socket.AF_INET6),
        (ret, 0, 0, 0x00050000 | 97),  # SECCOMP_RET_ERRNO | EAFNOSUPPORT
        (ret, 0, 0, 0x7FFF0000),  # SECCOMP_RET_ALLOW
    ]
    raw = b"".join(struct.pack("HBBI", *i) for i in prog)
    buf = ctypes.create_string_buffer(raw)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = SockFprog(len(prog), ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        os._exit(120)
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        os._exit(121)


def test_no_ipv6_support_falls_back_to_ipv4(lab):
    if os.uname().machine != "x86_64":
        pytest.fail("the seccomp filter of this test is written for x86_64")
    pub = lab.ns_add("public")
    run(["ip", "-n", pub, "link", "add", "br0", "type", "bridge"])
    run(["ip", "-n", pub, "link", "set", "br0", "up"])
    lab.addr("public", "br0", f"{SERVER4}/24")
    lab.node("server", pub, "--bootstrap", preexec=_deny_ipv6_sockets)

    def fallback():
        if lab.procs["server"].poll() is not None:
            raise wmtest.StopWaiting("server exited:\n" + lab.log("server"))
        return "IPv6 is not supported on this host" in lab.log("server")
    wait_until(fallback, 30, "the IPv4 fallback message")
    wait_until(lambda: "0.0.0.0:8443" in run(["ip", "netns", "exec", pub, "ss", "-tln"]).stdout,
               10, "the API on 0.0.0.0:8443")
    out = run(["ip", "netns", "exec", pub, wmtest.PYTHON, "-c",
               f"import socket; socket.create_connection(('{SERVER4}', 8443), 5).close();"
               " print('connected')"]).stdout
    assert "connected" in out
    assert lab.procs["server"].poll() is None, lab.log("server")
