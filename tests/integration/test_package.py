"""The Debian package and `make install` (issue 14): `make deb` builds
webmesh_<version>_<arch>.deb with debhelper, lintian finds no error, and the
package installed with `dpkg -i` into a throwaway root holds the daemon, the
CLI, the embedded WireGuard alone (webmesh-wg), the modules where webmeshd looks for them, a unit systemd-analyze
accepts, man pages man renders and bash completion; its webmeshd starts from
the shipped configuration file and hands the local socket to group webmesh.

The throwaway root is an overlay over this machine's own root (its packages
satisfy the dependencies), writable in a tmpfs and mounted in a private
mount namespace: dpkg, its maintainer scripts (addgroup) and the started
daemon change nothing outside it, and nothing is left when the test ends.
Every tool used is installed by scripts/deps.sh; a missing one fails.
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import wmtest

ROOT = wmtest.ROOT
TOOLS = ("dpkg-buildpackage", "dh", "lintian", "fakeroot", "systemd-analyze", "man", "unshare")


def _version():
    m = re.search(r"project\(webmesh VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text())
    return m.group(1)


def _arch():
    return subprocess.run(["dpkg-architecture", "-qDEB_HOST_ARCH"], capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def deb():
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        pytest.fail(f"missing tools {missing}: run scripts/deps.sh")
    out = Path(tempfile.mkdtemp(prefix="wm-deb-"))
    try:
        p = subprocess.run(["make", "-C", str(ROOT), "deb", f"BUILD_DEB={out}"],
                           capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
        path = out / f"webmesh_{_version()}_{_arch()}.deb"
        assert path.is_file(), sorted(os.listdir(out))
        yield path
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_lintian_finds_no_error(deb):
    p = subprocess.run(["lintian", "--fail-on", "error", "--display-info",
                        "--no-tag-display-limit", str(deb)],
                       capture_output=True, text=True, timeout=300)
    tags = [line for line in p.stdout.splitlines() if re.match(r"[EWIXP]: ", line)]
    # listed in the test's output (pytest -rA, or on failure)
    print("lintian:\n" + "\n".join(tags or ["(no tags)"]))
    errors = [t for t in tags if t.startswith("E: ")]
    assert not errors and p.returncode == 0, p.stdout + p.stderr


# Runs in the throwaway root; prints KEY=VALUE lines and sections the test reads.
INSIDE = r"""
set -u
R=$1 DEB=$2
cp "$DEB" "$R/tmp/webmesh.deb"
echo "== dpkg"
chroot "$R" dpkg -i /tmp/webmesh.deb 2>&1; echo "dpkg_rc=$?"
echo "== files"
chroot "$R" dpkg -L webmesh
echo "== copyright"
chroot "$R" cat /usr/share/doc/webmesh/copyright
echo "== webmesh-wg"
chroot "$R" /usr/sbin/webmesh-wg --help 2>&1; echo "wg_rc=$?"
echo "== group"
chroot "$R" getent group webmesh; echo "group_rc=$?"
echo "== verify"
chroot "$R" systemd-analyze verify /lib/systemd/system/webmeshd.service 2>&1; echo "verify_rc=$?"
echo "== security"
chroot "$R" systemd-analyze security --offline=yes /lib/systemd/system/webmeshd.service 2>&1 | tail -1
for page in webmeshd wmctl webmesh-wg; do
	echo "== man $page"
	chroot "$R" env MANWIDTH=100 man -l /usr/share/man/man8/$page.8.gz 2>&1; echo "man_rc=$?"
done
echo "== completion"
chroot "$R" bash -c '. /usr/share/bash-completion/completions/wmctl;
	COMP_WORDS=(wmctl p); COMP_CWORD=1; _wmctl; echo "wmctl p: ${COMPREPLY[*]}";
	COMP_WORDS=(wmctl ping n1 --w); COMP_CWORD=3; _wmctl; echo "wmctl ping --w: ${COMPREPLY[*]}";
	. /usr/share/bash-completion/completions/webmeshd;
	COMP_WORDS=(webmeshd --wireguard-backend u); COMP_CWORD=2; _webmeshd;
	echo "webmeshd --wireguard-backend u: ${COMPREPLY[*]}"'
echo "== run"
# The installed daemon as the unit runs it: root with the unit's capability
# bounding set and group, no new privileges, the shipped configuration file,
# modules from where it looks (LIBDIR/webmesh), wireguard-go for the
# interface, nftables for an advertised route; in a network namespace of
# its own.
chroot "$R" unshare -n sh -c '
	ip link set lo up
	mkdir -p /run/wireguard
	setpriv --bounding-set=-all,+net_admin,+net_bind_service --inh-caps=-all --no-new-privs \
		--regid=webmesh --clear-groups \
		/usr/sbin/webmeshd --config /etc/webmesh/webmeshd.yaml --bootstrap --node-id pkgtest \
		--wireguard-backend userspace --routes 10.77.0.0/24 >/tmp/webmeshd.log 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 150 ] && ! /usr/bin/wmctl status >/dev/null 2>&1; do sleep 0.2; i=$((i+1)); done
	echo "socket=$(stat -c "%U:%G %a" /run/webmesh/webmesh.sock)"
	echo "caps=$(grep CapEff /proc/$pid/status)"
	/usr/bin/wmctl status -o json | grep -o "\"raft_state\": *\"[a-z]*\""
	ip -br link show webmesh0 | cut -d" " -f1
	nft list tables | grep -c webmesh | sed "s/^/nft_tables=/"
	/usr/bin/wmctl netcheck -o json | grep -o "\"nat_mapping\": *\"[a-z-]*\""
	kill $pid; wait $pid; echo "daemon_rc=$?"
	tail -5 /tmp/webmeshd.log
	# socket-group, for hosts without the unit: the same socket from a
	# daemon of group root
	/usr/sbin/webmeshd --bootstrap --node-id pkgtest2 --state-dir /tmp/s2 \
		--wireguard-backend userspace --interface wm1 --socket-group webmesh >/tmp/w2.log 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 150 ] && ! /usr/bin/wmctl status >/dev/null 2>&1; do sleep 0.2; i=$((i+1)); done
	echo "socket_group=$(stat -c "%U:%G %a" /run/webmesh/webmesh.sock)"
	kill $pid; wait $pid; echo "daemon2_rc=$?"'
"""

SETUP = r"""
set -e
T=$1
mount -t tmpfs tmpfs "$T"
mkdir "$T/upper" "$T/work" "$T/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/root"
R=$T/root
mount --rbind /dev "$R/dev"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs tmpfs "$R/tmp"
mount -t tmpfs tmpfs "$R/run"
"""


def _sections(out):
    parts, name = {}, None
    for line in out.splitlines():
        if line.startswith("== "):
            name = line[3:]
            parts[name] = []
        elif name:
            parts[name].append(line)
    return {k: "\n".join(v) for k, v in parts.items()}


def test_installed_package(deb):
    t = Path(tempfile.mkdtemp(prefix="wm-root-"))
    try:
        script = SETUP + INSIDE.replace("R=$1 DEB=$2", "DEB=$2")
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                            "sh", str(t), str(deb)], capture_output=True, text=True,
                           timeout=240)
    finally:
        shutil.rmtree(t, ignore_errors=True)
    out = p.stdout + p.stderr
    s = _sections(p.stdout)
    assert p.returncode == 0 and "dpkg_rc=0" in s.get("dpkg", ""), out
    files = set(s["files"].split())
    libdir = next(f for f in files if f.endswith("/webmesh/webmesh-store.so")).rsplit("/", 1)[0]
    # webmeshd looks for modules in LIBDIR/webmesh (src/util/module.c)
    assert re.fullmatch(r"/usr/lib/[a-z0-9_-]+/webmesh", libdir), libdir
    for f in ("/usr/sbin/webmeshd", "/usr/bin/wmctl", f"{libdir}/webmesh-ice.so",
              f"{libdir}/webmesh-ldap.so", f"{libdir}/webmesh-p2p.so", f"{libdir}/webmesh-etcd.so",
              "/lib/systemd/system/webmeshd.service",
              "/etc/webmesh/webmeshd.yaml", "/usr/share/man/man8/webmeshd.8.gz",
              "/usr/share/man/man8/wmctl.8.gz", "/usr/share/man/man8/webmesh-wg.8.gz",
              "/usr/share/bash-completion/completions/wmctl",
              "/usr/share/bash-completion/completions/webmeshd",
              "/usr/lib/sysusers.d/webmesh.conf", "/usr/sbin/webmesh-wg"):
        assert f in files, (f, sorted(files))
    # the embedded WireGuard alone runs from the package (its usage)
    assert "usage: webmesh-wg" in s["webmesh-wg"] and "wg_rc=0" in s["webmesh-wg"], \
        s["webmesh-wg"]
    # DEP-5, the project's license (LICENSE) by its SPDX name
    cr = s["copyright"]
    assert cr.startswith("Format: https://www.debian.org/doc/packaging-manuals/"
                         "copyright-format/1.0/"), cr
    assert "License: Apache-2.0" in cr and "/usr/share/common-licenses/Apache-2.0" in cr, cr
    assert "License: none" not in cr, cr
    assert "group_rc=0" in s["group"] and s["group"].startswith("webmesh:"), s["group"]
    # systemd-analyze prints what it ignores but exits 0: silence is the test
    assert s["verify"].strip() == "verify_rc=0", s["verify"]
    m = re.search(r"Overall exposure level for webmeshd.service: ([0-9.]+)", s["security"])
    assert m and float(m.group(1)) <= 3.0, s["security"]
    man_d, man_c = s["man webmeshd"], s["man wmctl"]
    assert "man_rc=0" in man_d and "man_rc=0" in man_c, out
    assert "WEBMESHD(8)" in man_d and "--wireguard-port" in man_d and \
        "WEBMESH_SOCKET_GROUP" in man_d, man_d
    assert "WMCTL(8)" in man_c and "wmctl ping NODE" in man_c and "wmctl netcheck" in man_c, man_c
    assert "warning" not in (man_d + man_c).lower(), out
    man_w = s["man webmesh-wg"]
    assert "man_rc=0" in man_w and "WEBMESH-WG(8)" in man_w and "--workers" in man_w and \
        "warning" not in man_w.lower(), man_w
    comp = s["completion"]
    assert "wmctl p: put pki ping pubkey" in comp, comp
    assert "wmctl ping --w: --wait-ms" in comp, comp
    assert "webmeshd --wireguard-backend u: userspace" in comp, comp
    run = s["run"]
    print(run)
    assert "socket=root:webmesh 660" in run, out
    # CAP_NET_ADMIN (12) and CAP_NET_BIND_SERVICE (10), nothing else
    assert "caps=CapEff:\t0000000000001400" in run, out
    assert re.search(r'"raft_state": *"leader"', run), out
    assert "\nwebmesh0\n" in run and "nft_tables=0" not in run, out
    assert re.search(r'"nat_mapping": *"unknown"', run), out
    assert "daemon_rc=0" in run, out
    assert "socket_group=root:webmesh 660" in run and "daemon2_rc=0" in run, out


def test_make_install_rules(tmp_path):
    """The install rules of the build the suite uses (`make install` is
    configure + build + these): the same files under DESTDIR/PREFIX."""
    cache = (wmtest.BUILD_DIR / "CMakeCache.txt").read_text()
    prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", cache, re.M).group(1)
    env = dict(os.environ, DESTDIR=str(tmp_path))
    p = subprocess.run(["cmake", "--install", str(wmtest.BUILD_DIR)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    got = {str(f.relative_to(tmp_path)) for f in tmp_path.rglob("*") if f.is_file()}
    base = prefix.lstrip("/")
    # GNUInstallDirs' rule for the configuration directory
    etc = "etc" if prefix == "/usr" else f"etc{prefix}" if prefix.startswith("/opt/") \
        else f"{base}/etc"
    want = {f"{base}/sbin/webmeshd", f"{base}/bin/wmctl",
            f"{base}/share/man/man8/webmeshd.8", f"{base}/share/man/man8/wmctl.8",
            f"{base}/share/man/man8/webmesh-wg.8",
            f"{base}/share/bash-completion/completions/webmeshd",
            f"{base}/share/bash-completion/completions/wmctl",
            f"{etc}/webmesh/webmeshd.yaml", f"{base}/lib/systemd/system/webmeshd.service",
            f"{base}/lib/sysusers.d/webmesh.conf"}
    assert want <= got, sorted(want - got)
    mods = sorted(f for f in got if "/webmesh/webmesh-" in f)
    assert [Path(m).name for m in mods] == ["webmesh-etcd.so", "webmesh-ice.so", "webmesh-ldap.so",
                                            "webmesh-p2p.so", "webmesh-store.so"], mods
    unit = (tmp_path / base / "lib/systemd/system/webmeshd.service").read_text()
    assert f"ExecStart={prefix}/sbin/webmeshd --config /{etc}/webmesh/webmeshd.yaml" in unit


def test_license_file_is_apache_2():
    """LICENSE is the Apache License 2.0, word for word as Debian ships it."""
    assert (ROOT / "LICENSE").read_text() == \
        Path("/usr/share/common-licenses/Apache-2.0").read_text()
