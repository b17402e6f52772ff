"""Issue 14 item 2 where systemd-resolved runs: a member with --use-meshdns
gives its mesh interface per-link DNS for the mesh domain only (through
resolved's D-Bus API, called with busctl), the system resolver (getent hosts,
resolvectl query) then finds mesh names, nothing else about the host's DNS
changes, and on exit the link's settings are reverted.

systemd-resolved is never installed on the machine running the tests: its
postinst would make this host's /etc/resolv.conf a symlink to resolved's
stub. scripts/deps.sh downloads its .deb into apt's cache (matching the
installed systemd); this test unpacks it with dpkg-deb -x into the build dir
and runs a private dbus-daemon and systemd-resolved inside the member's own
network and mount namespaces, on a tmpfs /run, with resolved's stub file
bind-mounted on /etc/resolv.conf: the member sees what it sees on a host
where resolved runs, and the host sees nothing of it.
"""

import glob
import ipaddress
import os
import subprocess
import time

import pytest

from wmtest import BUILD_DIR, IFACE, run, scaled, topology, wait_until

D = "webmesh.internal"

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

# Sourced by the node's sh before webmeshd (wmtest's NODE_SH), in the node's
# namespaces. resolved, started as root, drops to the user systemd-resolve:
# it exists only in this mount namespace's /etc/passwd.
PRE_START = r"""
D={dir}
R={root}
mount -t tmpfs -o mode=0755 none /run
mkdir -p /run/dbus /run/systemd /run/wireguard /run/webmesh
{{ cat /etc/passwd; echo 'systemd-resolve:x:991:991:resolved:/:/usr/sbin/nologin'; }} >$D/passwd
{{ cat /etc/group; echo 'systemd-resolve:x:991:'; }} >$D/group
mount --bind $D/passwd /etc/passwd
mount --bind $D/group /etc/group
dbus-daemon --config-file=$D/bus.conf --fork --print-pid=3 3>$D/dbus.pid
SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console $R/lib/systemd/systemd-resolved \
    >$D/resolved.log 2>&1 </dev/null &
echo $! >$D/resolved.pid
i=0
while [ ! -e /run/systemd/resolve/stub-resolv.conf ] && [ $i -lt 200 ]; do
    sleep 0.05; i=$((i + 1))
done
[ -e /run/systemd/resolve/stub-resolv.conf ] || {{ echo "pre-start: no resolved" >&2; exit 1; }}
mount --bind /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
"""


def systemd_version():
    p = run(["dpkg-query", "-W", "-f=${Version}", "systemd"], check=False)
    return p.stdout.strip() if p.returncode == 0 else None


@pytest.fixture(scope="module")
def resolved_root():
    """systemd-resolved unpacked into the build dir (not installed)."""
    ver = systemd_version()
    assert ver, "systemd is not installed (scripts/deps.sh installs it)"
    debs = glob.glob(f"/var/cache/apt/archives/systemd-resolved_{ver.replace(':', '%3a')}_*.deb")
    # scripts/deps.sh (as root) downloads it: missing, the test fails
    assert debs, (f"systemd-resolved {ver} is not in /var/cache/apt/archives: "
                  "run scripts/deps.sh as root (it downloads, never installs it)")
    root = BUILD_DIR / f"systemd-resolved-{ver}"
    if not (root / "lib/systemd/systemd-resolved").exists():
        tmp = BUILD_DIR / f"systemd-resolved-{ver}.tmp{os.getpid()}"
        run(["rm", "-rf", str(tmp)])
        run(["dpkg-deb", "-x", debs[0], str(tmp)])
        os.replace(tmp, root)
    return root


def nsrun(pid, *cmd, check=False):
    """cmd in the network and mount namespaces of process pid."""
    return run(["nsenter", "-t", str(pid), "-m", "-n", *cmd], check=check)


def test_member_uses_resolved_per_link_and_reverts(resolved_root):
    resolvectl = str(resolved_root / "usr/bin/resolvectl")
    with topology() as t:
        t.bootstrap("n1", "--meshdns-listen", "0.0.0.0:53")
        t.join("n2")
        n3 = t.add_node("n3")
        n3.dir.mkdir(parents=True, exist_ok=True)
        (n3.dir / "bus.conf").write_text(BUS_CONF)
        (n3.dir / "pre-start.sh").write_text(PRE_START.format(dir=n3.dir, root=resolved_root))
        n3.start(*t.join_args(n3, "--use-meshdns"))
        n3.wait_ready("member")
        rpid = int((n3.dir / "resolved.pid").read_text())
        stub = n3.exec("cat", "/etc/resolv.conf").stdout
        assert "nameserver 127.0.0.53" in stub, stub
        global_before = n3.exec(resolvectl, "dns").stdout.splitlines()[0]

        nodes = t.nodes["n1"].nodes()
        n1v4 = nodes["n1"]["private_ipv4"].split("/")[0]
        n2 = nodes["n2"]
        n2addrs = {n2["private_ipv4"].split("/")[0],
                   str(ipaddress.ip_network(n2["private_ipv6"], strict=False)
                       .network_address + 1)}

        # per-link DNS on the mesh interface: n1's MeshDNS, the mesh domain only
        wait_until(lambda: n1v4 in n3.exec(resolvectl, "dns", IFACE, check=False).stdout,
                   scaled(20), "resolved to get the mesh link's DNS server")
        dom = n3.exec(resolvectl, "domain", IFACE).stdout
        assert f"~{D}" in dom.split(), dom
        # not a default route: names outside the mesh never go to MeshDNS
        assert "-DefaultRoute" in n3.exec(resolvectl, "status", IFACE).stdout
        # nothing else changed: the global servers, the other links, the stub
        assert n3.exec(resolvectl, "dns").stdout.splitlines()[0] == global_before
        for line in n3.exec(resolvectl, "domain").stdout.splitlines():
            if f"({IFACE})" not in line:
                assert D not in line, line
        assert n3.exec("cat", "/etc/resolv.conf").stdout == stub

        # the system resolver: glibc -> resolved's stub -> MeshDNS over the mesh
        def getent():
            out = n3.exec("getent", "hosts", f"n2.{D}", check=False).stdout.split()
            return out[:1] and out[0] in n2addrs
        wait_until(getent, scaled(20), "getent hosts n2 through resolved and MeshDNS")
        q = n3.exec(resolvectl, "query", "--cache=no", f"n2.{D}").stdout
        assert any(a in q for a in n2addrs), q
        assert f"link: {IFACE}" in q, q

        # on exit: the link's settings reverted, by webmeshd itself
        assert n3.stop() == 0
        log = (n3.dir / "resolved.log").read_text()
        assert "member=RevertLink" in log, log[-3000:]
        p = nsrun(rpid, resolvectl, "dns", IFACE)
        assert n1v4 not in p.stdout, p.stdout
        p = nsrun(rpid, resolvectl, "domain", IFACE)
        assert D not in p.stdout, p.stdout
        # n2 is not found any more (resolved asks its global server, which
        # this namespace cannot reach: a failure either way)
        p = nsrun(rpid, "timeout", "10", "getent", "hosts", f"n2.{D}")
        assert p.returncode != 0 and not p.stdout.strip(), p.stdout
