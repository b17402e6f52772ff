"""The kernel WireGuard backend in a real kernel (`make test-kernel`).

This host has no WireGuard module, Debian's kernel package does: the fixture
boots that kernel under qemu-system-x86_64 (TCG, no network device) with an
initramfs built by mkinitramfs.sh, whose /init (guest.sh) runs the mesh of
./scenario in network namespaces and sends back, over a second serial port,
what every node's wmctl and `wg show` said at each phase and every ping. The
tests here judge those records; a step the guest could not finish shows up
as missing data and fails them, with the guest's console in the message.

One VM run per session, bounded by WM_KERNEL_TEST_TIMEOUT seconds (default
600); qemu is killed by PID on every way out, and dies with this process
(PR_SET_PDEATHSIG) if that is killed. WM_BUILD_DIR picks the binaries,
WM_KERNEL_TEST_DIR where the image and records go (default
BUILD/kernel-test), WM_KERNEL_TEST_SCENARIO another scenario file,
WM_TEST_TIME_SCALE stretches the guest's waits.
"""

import base64
import ctypes
import io
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BUILD_DIR = Path(os.environ.get("WM_BUILD_DIR", ROOT / "build")).resolve()
WORK = Path(os.environ.get("WM_KERNEL_TEST_DIR", BUILD_DIR / "kernel-test")).resolve()
SCENARIO_FILE = Path(os.environ.get("WM_KERNEL_TEST_SCENARIO", HERE / "scenario")).resolve()
TIMEOUT = float(os.environ.get("WM_KERNEL_TEST_TIMEOUT", "600"))
# guest-side waits are multiplied by this (slow or busy hosts)
SCALE = int(os.environ.get("WM_TEST_TIME_SCALE", "1") or 1)
QEMU = "qemu-system-x86_64"
WG_PORT = 51820
PR_SET_PDEATHSIG = 1


def read_scenario():
    """[(name, backend, role)] from the scenario file; refuses what the
    guest would not run as meant."""
    nodes = []
    for i, line in enumerate(SCENARIO_FILE.read_text().splitlines(), 1):
        f = line.split("#", 1)[0].split()
        if not f:
            continue
        where = f"{SCENARIO_FILE}:{i}"
        if len(f) != 3:
            raise ValueError(f"{where}: want NAME BACKEND ROLE, got {line!r}")
        name, backend, role = f
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,12}", name):
            raise ValueError(f"{where}: bad node name {name!r}")
        if role not in ("bootstrap", "join", "late"):
            raise ValueError(f"{where}: role {role!r} is not bootstrap, join or late")
        if name in (n for n, _, _ in nodes):
            raise ValueError(f"{where}: node {name} twice")
        nodes.append((name, backend, role))
    if [r for _, _, r in nodes].count("bootstrap") != 1:
        raise ValueError(f"{SCENARIO_FILE}: needs exactly one bootstrap node")
    return nodes


SCENARIO = read_scenario()
INITIAL = [n for n, _, r in SCENARIO if r in ("bootstrap", "join")]
LATE = [n for n, _, r in SCENARIO if r == "late"]
BACKEND = {n: b for n, b, _ in SCENARIO}


def _die_with_parent():
    # qemu must not outlive a killed test run
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _kill(proc):
    if proc.poll() is None:
        proc.kill()  # by PID: only the qemu this run started
        proc.wait(30)


class Results:
    """The guest's records, unpacked into a directory."""

    def __init__(self, directory, console, seconds):
        self.dir = directory
        self.console = console
        self.seconds = seconds

    def text(self, rel):
        p = self.dir / rel
        return p.read_text() if p.exists() else None

    def console_tail(self, lines=80):
        return "\n".join(self.console.splitlines()[-lines:])

    def fail(self, msg):
        failures = self.text("failures") or ""
        pytest.fail(f"{msg}\n--- guest failures:\n{failures}\n--- guest console (tail):\n"
                    f"{self.console_tail()}", pytrace=False)

    def json(self, phase, node, what):
        rel = f"{phase}/{node}/{what}.json"
        t = self.text(rel)
        if not t:
            err = self.text(f"{phase}/{node}/{what}.err")
            self.fail(f"no {rel} from the guest (stderr: {err!r})")
        try:
            return json.loads(t)
        except ValueError:
            self.fail(f"{rel} is not JSON: {t[:300]!r}")

    def wg_dump(self, phase, node):
        """`wg show webmesh0 dump` as (own public key, {peer key: fields})."""
        rel = f"{phase}/{node}/wg.dump"
        t = self.text(rel)
        if not t:
            self.fail(f"no {rel} from the guest (stderr: {self.text(rel[:-4] + 'err')!r})")
        lines = t.strip().splitlines()
        own = lines[0].split("\t")[1]
        peers = {}
        for line in lines[1:]:
            f = line.split("\t")
            allowed = set() if f[3] == "(none)" else {net(a) for a in f[3].split(",")}
            peers[f[0]] = {"endpoint": f[2], "allowed_ips": allowed,
                           "latest_handshake": int(f[4]), "rx": int(f[5]),
                           "tx": int(f[6])}
        return own, peers


def net(addr):
    return str(ipaddress.ip_network(addr, strict=False))


def decode_results(serial):
    m = re.search(r"BEGIN RESULTS\r?\n(.*?)END RESULTS", serial, re.S)
    if not m:
        return None
    data = base64.b64decode(re.sub(r"[^A-Za-z0-9+/=]", "", m.group(1)))
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")


@pytest.fixture(scope="session")
def vm():
    if os.geteuid() != 0:
        pytest.fail("make test-kernel needs root (it reads apt's cache and builds an image)")
    for tool in (QEMU, "busybox"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not found: run scripts/deps.sh as root")
    if WORK.exists():
        for old in ("results", "console.log", "serial1.log"):
            p = WORK / old
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    p = subprocess.run([str(HERE / "mkinitramfs.sh"), str(BUILD_DIR), str(WORK),
                        str(SCENARIO_FILE)],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        pytest.fail(f"mkinitramfs.sh failed ({p.returncode}):\n{p.stdout}{p.stderr}",
                    pytrace=False)
    print(p.stdout.strip(), f"({time.monotonic() - t0:.1f}s)")
    console = WORK / "console.log"
    serial1 = WORK / "serial1.log"
    cmd = [QEMU, "-machine", "pc", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "1024",
           "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
           "-nic", "none", "-monitor", "none",
           "-serial", f"file:{console}", "-serial", f"file:{serial1}",
           "-kernel", str(WORK / "vmlinuz"), "-initrd", str(WORK / "initramfs.cpio.gz"),
           "-append", f"console=ttyS0 panic=-1 oops=panic wmscale={SCALE}"]
    t1 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        out = b""
    finally:
        _kill(proc)
    seconds = time.monotonic() - t1
    cons = console.read_text(errors="replace") if console.exists() else ""
    print(f"VM run: {seconds:.1f}s (qemu exit {proc.returncode})")
    res_dir = WORK / "results"
    res = Results(res_dir, cons, seconds)
    if timed_out:
        res.fail(f"the VM did not finish within {TIMEOUT:.0f}s (WM_KERNEL_TEST_TIMEOUT); killed")
    tar = decode_results(serial1.read_text(errors="replace") if serial1.exists() else "")
    if tar is None:
        res.fail(f"the VM sent no results (qemu exit {proc.returncode}, "
                 f"output {out.decode(errors='replace')[-500:]!r})")
    res_dir.mkdir()
    # only plain files and directories below res_dir (Python 3.11.2 has no
    # extraction filters)
    for m in tar.getmembers():
        if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in m.name.split("/"):
            res.fail(f"unexpected entry in the guest's results: {m.name!r}")
    tar.extractall(res_dir)
    return res


def test_guest_finished(vm):
    failures = vm.text("failures")
    if failures or vm.text("done") is None:
        vm.fail("the guest did not finish its scenario")


def test_wireguard_module_loaded(vm):
    version = vm.text("wireguard-version")
    assert version and version.strip(), "the wireguard module did not load"


def test_netlink_writes_far_bigger_than_a_message(vm):
    # wg_probe.c: 301 peers with 6600 allowed IPs set, read back, changed by
    # a diff and read back again, in the real module
    out = vm.text("wg_probe.out") or ""
    rc = (vm.text("wg_probe.rc") or "").strip()
    assert rc == "0" and "wg_probe: all held" in out, f"wg_probe exited {rc!r}:\n{out}"


def test_each_node_runs_its_backend(vm):
    for phase, nodes in (("mesh", INITIAL), ("joined", INITIAL + LATE)):
        for n in nodes:
            st = vm.json(phase, n, "status")
            assert st.get("wireguard_backend") == BACKEND[n], (n, st.get("wireguard_backend"))
            link = vm.text(f"{phase}/{n}/link") or ""
            # the kernel's own device, or a TUN device that wireguard-go or
            # webmeshd serves
            kind = "wireguard" if BACKEND[n] == "kernel" else "tun"
            assert re.search(rf"^\s+{kind}\b", link, re.M), f"{n}: not a {kind} link:\n{link}"


def expected_pings(phase):
    if phase in ("mesh", "left"):
        pairs = [(a, b) for a in INITIAL for b in INITIAL if a != b]
    else:
        pairs = [(a, b) for a in LATE for b in INITIAL] + [(b, a) for a in LATE for b in INITIAL]
    return pairs


def test_every_pair_pings_v4_and_v6(vm):
    got = {}
    for line in (vm.text("pings") or "").splitlines():
        phase, a, b, addr, verdict = line.split()
        fam = 6 if ":" in addr else 4
        got.setdefault((phase, a, b), {})[fam] = verdict
    phases = ["mesh"] + (["joined", "left"] if LATE else [])
    missing, failed = [], []
    for phase in phases:
        for a, b in expected_pings(phase):
            r = got.get((phase, a, b), {})
            for fam in (4, 6):
                if fam not in r:
                    missing.append(f"{phase}: {a} -> {b} v{fam}")
                elif r[fam] != "ok":
                    failed.append(f"{phase}: {a} -> {b} v{fam}")
    if missing or failed:
        vm.fail(f"pings failed: {failed}; never tried: {missing}")


def expected_peers(vm, phase, node, members):
    """What the mesh computed for node, as its own `wmctl get nodes` says:
    every other member, at its /32 and /112, at an endpoint it announced."""
    state = {r["id"]: r for r in vm.json(phase, node, "nodes").get("nodes", [])}
    assert set(state) == set(members), f"{phase}: {node}'s state lists {sorted(state)}"
    exp = {}
    for o in members:
        if o == node:
            continue
        r = state[o]
        exp[r["public_key"]] = {"allowed_ips": {net(r["private_ipv4"]), net(r["private_ipv6"])},
                                "endpoints": set(r.get("endpoints", [])), "id": o}
    return exp, state


PHASES = [("mesh", INITIAL)] + ([("joined", INITIAL + LATE), ("left", INITIAL)] if LATE else [])


@pytest.mark.parametrize("phase,members", PHASES, ids=[p for p, _ in PHASES])
def test_wg_show_lists_what_the_mesh_computed(vm, phase, members):
    for n in members:
        exp, state = expected_peers(vm, phase, n, members)
        own, peers = vm.wg_dump(phase, n)
        assert own == state[n]["public_key"], f"{phase}: {n}'s device has another key"
        got_ips = {k: p["allowed_ips"] for k, p in peers.items()}
        exp_ips = {k: e["allowed_ips"] for k, e in exp.items()}
        assert got_ips == exp_ips, f"{phase}: {n}: wg show has {got_ips}, the mesh {exp_ips}"
        for k, p in peers.items():
            assert p["endpoint"] in exp[k]["endpoints"], \
                f"{phase}: {n}'s endpoint for {exp[k]['id']} is {p['endpoint']}"
            assert p["endpoint"].endswith(f":{WG_PORT}")
        # and the status the CLI shows is the device's
        st = vm.json(phase, n, "status")
        assert {p["id"] for p in st.get("peers", [])} == {e["id"] for e in exp.values()}, \
            f"{phase}: {n}'s wmctl status peers"


def untouched(before, after, who, label):
    """Peers in both dumps kept their session and counters: a peer that was
    removed and added again starts from zero."""
    errs = []
    for k, b in before.items():
        a = after.get(k)
        if a is None:
            errs.append(f"{who}: {label}: peer {k} is gone")
            continue
        if b["latest_handshake"] == 0 or b["rx"] == 0 or b["tx"] == 0:
            errs.append(f"{who}: {label}: peer {k} had no session before: {b}")
        if a["rx"] < b["rx"] or a["tx"] < b["tx"] or \
                a["latest_handshake"] < b["latest_handshake"]:
            errs.append(f"{who}: {label}: peer {k} was reset: before {b}, after {a}")
    return errs


@pytest.mark.skipif(not LATE, reason="the scenario has no late node")
def test_join_and_leave_are_diffs(vm):
    errs = []
    for n in INITIAL:
        _, mesh = vm.wg_dump("mesh", n)
        _, joined = vm.wg_dump("joined", n)
        _, left = vm.wg_dump("left", n)
        errs += untouched(mesh, joined, n, "after the join")
        errs += untouched({k: joined[k] for k in mesh if k in joined}, left, n,
                          "after the leave")
    assert not errs, "\n".join(errs)


@pytest.mark.skipif(not LATE, reason="the scenario has no late node")
def test_leave_removes_the_peer(vm):
    late_keys = {vm.json("joined", n, "status")["public_key"]: n for n in LATE}
    for n in LATE:
        rc = (vm.text(f"exit-{n}") or "").strip()
        assert rc == "0", f"{n} exited with {rc!r} after wmctl leave:\n{vm.text(f'leave-{n}.out')}"
    for n in INITIAL:
        _, peers = vm.wg_dump("left", n)
        still = [late_keys[k] for k in peers if k in late_keys]
        assert not still, f"{n} still has {still} as peers after they left"
        state = {r["id"] for r in vm.json("left", n, "nodes").get("nodes", [])}
        assert not state & set(LATE), f"{n}'s state still lists {state & set(LATE)}"


KERNEL_TROUBLE = re.compile(r"WARNING:|BUG:|Oops|general protection|Call Trace:|"
                            r"kernel BUG|refcount_t:|UBSAN:|KASAN:")


def test_kernel_logged_no_warning(vm):
    # what webmeshd sends over generic netlink must not trip the module
    dmesg = vm.text("dmesg")
    assert dmesg, "no kernel log from the guest"
    bad = [line for line in dmesg.splitlines() if KERNEL_TROUBLE.search(line)]
    assert not bad, "the kernel logged:\n" + "\n".join(bad[:40])
