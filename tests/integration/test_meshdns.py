"""Issue 14, items 1 and 2 end to end: MeshDNS on a 3-node mesh, asked with
dig; changes visible within 2 s; a member resolving mesh names through the
system resolver with --use-meshdns and its resolv.conf restored exactly on
exit; REFUSED outside the domain; RBAC on dns-records."""

import ipaddress
import shutil
import subprocess
import time

import pytest

from wmtest import (API_PORT, PROPAGATION_TIMEOUT, WG_PORT, WMCTL, run, scaled, topology,
                    wait_until)

D = "webmesh.internal"
DNS = ["127.0.0.1", "53"]  # n1 serves on 0.0.0.0:53 in its namespace

pytestmark = pytest.mark.skipif(shutil.which("dig") is None,
                                reason="dig (bind9-dnsutils) is not installed")


def dig(node, name, qtype="A", *opts, server="127.0.0.1", port="53"):
    """dig's answer: (status, flags, [(type, data)...] of the answer section,
    [types of the authority section])."""
    out = node.exec("dig", f"@{server}", "-p", port, name, qtype, "+norecurse", "+time=2",
                    "+tries=1", *opts, check=False).stdout
    status, flags, answers, authority, section = None, "", [], [], None
    for line in out.splitlines():
        if "status:" in line:
            status = line.split("status:")[1].split(",")[0].strip()
        if line.startswith(";; flags:"):
            flags = line.split(";; flags:")[1].split(";")[0]
        if line.startswith(";; ANSWER SECTION"):
            section = "an"
            continue
        if line.startswith(";; AUTHORITY SECTION"):
            section = "ns"
            continue
        if not line.strip() or line.startswith(";"):
            section = None if not line.strip() else section
            continue
        f = line.split(None, 4)
        if section == "an" and len(f) == 5:
            answers.append((f[3], f[4]))
        elif section == "ns" and len(f) >= 4:
            authority.append(f[3])
    return status, flags.split(), answers, authority


def data(node, name, qtype="A", **kw):
    st, _, ans, _ = dig(node, name, qtype, **kw)
    return st, sorted(d for t, d in ans if t == qtype)


def aaaa(node, name):
    return data(node, f"{name}.{D}", "AAAA")[1][0]


def within(seconds, fn, what):
    t0 = time.monotonic()
    wait_until(fn, scaled(seconds), what, interval=0.05)
    return time.monotonic() - t0


@pytest.fixture(scope="module")
def mesh():
    with topology() as t:
        t.bootstrap("n1", "--meshdns-listen", "0.0.0.0:53", "--bootstrap-voters", "n2")
        t.join("n2", "--voter", "--meshdns-listen", "[::1]:5353")
        n3 = t.add_node("n3")
        # a private resolv.conf for n3 (wmtest bind-mounts it), with
        # something of its own that must survive
        t.resolv = n3.dir / "resolv.conf"
        t.resolv_text = "# the host's own\nnameserver 192.0.2.53\noptions edns0\n"
        t.resolv.write_text(t.resolv_text)
        n3.start(*t.join_args(n3, "--use-meshdns"))
        n3.wait_ready("member")
        yield t


def test_node_records(mesh):
    t = mesh
    n1, n2 = t.nodes["n1"], t.nodes["n2"]
    nodes = n1.nodes()
    v4 = nodes["n2"]["private_ipv4"].split("/")[0]
    assert data(n1, f"n2.{D}") == ("NOERROR", [v4])
    # AAAA: the first address of the node's /112, the one on its interface
    net6 = ipaddress.ip_network(nodes["n2"]["private_ipv6"], strict=False)
    assert data(n1, f"N2.{D}", "AAAA") == ("NOERROR", [str(net6.network_address + 1)])
    st, flags, ans, _ = dig(n1, f"n2.{D}", "TXT")
    assert st == "NOERROR" and "aa" in flags
    txt = ans[0][1]
    assert f'"key={nodes["n2"]["public_key"]}"' in txt and '"role=voter"' in txt, txt
    assert f'"endpoint={n2.underlay}:{WG_PORT}"' in txt, txt
    # leader: a CNAME to the leader's name, chased to its address
    leader = n1.status()["raft"]["leader"] if "raft" in n1.status() else None
    st, _, ans, _ = dig(n1, f"leader.{D}")
    assert st == "NOERROR" and ans[0][0] == "CNAME", ans
    assert ans[0][1] in (f"n1.{D}.", f"n2.{D}."), ans
    if leader:
        assert ans[0][1] == f"{leader}.{D}."
    # voters: both servers; observers: none (NODATA with the SOA... the
    # name exists only if it has records, so NXDOMAIN here)
    v1 = nodes["n1"]["private_ipv4"].split("/")[0]
    assert data(n1, f"voters.{D}") == ("NOERROR", sorted([v1, v4]))
    assert data(n1, f"observers.{D}")[0] == "NXDOMAIN"
    # PTR for both addresses
    rev4 = ".".join(reversed(v4.split("."))) + ".in-addr.arpa"
    assert data(n1, rev4, "PTR") == ("NOERROR", [f"n2.{D}."])
    n3v6 = aaaa(n1, "n3")
    rev6 = ipaddress.ip_address(n3v6).reverse_pointer
    assert data(n1, rev6, "PTR") == ("NOERROR", [f"n3.{D}."])
    # the same from the second server (once its replica caught up: SERVFAIL
    # before), over IPv6 loopback and TCP
    within(30, lambda: data(n2, f"n1.{D}", "A", server="::1", port="5353") ==
           ("NOERROR", [v1]), "n2's MeshDNS")
    st, _, ans, _ = dig(n2, f"n1.{D}", "A", "+tcp", server="::1", port="5353")
    assert st == "NOERROR" and ans == [("A", v1)]
    # the zone apex
    st, _, ans, _ = dig(n1, D, "SOA")
    assert st == "NOERROR" and ans[0][1].startswith(f"n1.{D}. hostmaster.{D}."), ans


def test_negative_answers_and_refused(mesh):
    n1 = mesh.nodes["n1"]
    st, flags, ans, auth = dig(n1, f"n2.{D}", "SRV")
    assert (st, ans, auth) == ("NOERROR", [], ["SOA"]) and "aa" in flags  # NODATA
    st, flags, ans, auth = dig(n1, f"nobody.{D}")
    assert (st, ans, auth) == ("NXDOMAIN", [], ["SOA"])
    st, flags, ans, auth = dig(n1, "example.org")
    assert (st, ans) == ("REFUSED", [])
    st, *_ = dig(n1, "1.0.0.10.in-addr.arpa", "PTR")
    assert st == "REFUSED"


def test_user_records_every_type_within_2s(mesh):
    n1, n2 = mesh.nodes["n1"], mesh.nodes["n2"]
    puts = [("www", "A", "10.1.2.3"), ("www", "AAAA", "fd00::1:2:3"),
            ("alias", "CNAME", f"n2.{D}"), ("note", "TXT", "hello mesh"),
            ("_http._tcp", "SRV", f"10 5 8080 n1.{D}"), ("*.svc", "A", "10.9.9.9")]
    for name, qtype, value in puts:
        n2.wmctl("put", "dns-record", name, qtype, value)  # through the follower
    within(PROPAGATION_TIMEOUT, lambda: data(n1, f"x.svc.{D}") == ("NOERROR", ["10.9.9.9"]),
           "the wildcard record in MeshDNS")
    assert data(n1, f"www.{D}") == ("NOERROR", ["10.1.2.3"])
    assert data(n1, f"www.{D}", "AAAA") == ("NOERROR", ["fd00::1:2:3"])
    st, _, ans, _ = dig(n1, f"alias.{D}")
    assert ans[0] == ("CNAME", f"n2.{D}.") and ans[1][0] == "A", ans
    assert data(n1, f"note.{D}", "TXT") == ("NOERROR", ['"hello mesh"'])
    assert data(n1, f"_http._tcp.{D}", "SRV") == ("NOERROR", [f"10 5 8080 n1.{D}."])
    assert data(n1, f"a.b.svc.{D}") == ("NOERROR", ["10.9.9.9"])
    st, _, ans, auth = dig(n1, f"svc.{D}")  # an empty non-terminal: NODATA
    assert (st, ans, auth) == ("NOERROR", [], ["SOA"])
    recs = n1.wmctl_json("get", "dns-records")["records"]
    assert {(r["name"], r["type"], r["value"]) for r in recs} == {
        (f"{n}.{D}", t, v) for n, t, v in puts}
    # a put is visible within 2 s, on both servers
    n1.wmctl("put", "dns-record", "late", "A", "10.7.7.7")
    el = within(PROPAGATION_TIMEOUT,
                lambda: data(n2, f"late.{D}", server="::1", port="5353")[1] == ["10.7.7.7"],
                "a new record on the other server")
    assert el < scaled(PROPAGATION_TIMEOUT)
    n1.wmctl("delete", "dns-record", "late", "A")
    within(PROPAGATION_TIMEOUT, lambda: data(n1, f"late.{D}")[0] == "NXDOMAIN",
           "a deleted record gone")
    # truncation over UDP, the whole answer over TCP
    for i in range(8):
        n1.wmctl("put", "dns-record", "big", "TXT", f"{i}" + "x" * 200)
    within(PROPAGATION_TIMEOUT, lambda: len(data(n1, f"big.{D}", "TXT", )[1]) in (0, 8)
           and "tc" in dig(n1, f"big.{D}", "TXT", "+ignore", "+noedns")[1],
           "a big answer truncated over UDP")
    st, flags, ans, _ = dig(n1, f"big.{D}", "TXT", "+tcp")
    assert st == "NOERROR" and len(ans) == 8 and "tc" not in flags
    # bad values are refused with the reason, nothing stored
    p = n1.wmctl("put", "dns-record", "bad", "A", "fd00::1", check=False)
    assert p.returncode != 0 and "INVALID_ARGUMENT" in p.stderr
    assert 'invalid A value "fd00::1": is not an IPv4 address' in p.stderr, p.stderr


def test_join_and_leave_within_2s(mesh):
    t = mesh
    n1 = t.nodes["n1"]
    n4 = t.join("n4", ephemeral=True, wait=False)
    within(60, lambda: "n4" in n1.nodes(), "n4 in the state")
    el = within(PROPAGATION_TIMEOUT, lambda: data(n1, f"n4.{D}")[0] == "NOERROR",
                "n4 in MeshDNS")
    assert el < scaled(PROPAGATION_TIMEOUT)
    n4.wait_ready("member")
    assert n4.stop() == 0
    el = within(PROPAGATION_TIMEOUT, lambda: data(n1, f"n4.{D}")[0] == "NXDOMAIN",
                "n4 gone from MeshDNS")
    assert el < scaled(PROPAGATION_TIMEOUT)


def test_member_resolves_with_use_meshdns_and_restores(mesh):
    t = mesh
    n3 = t.nodes["n3"]
    n2 = t.nodes["n1"].nodes()["n2"]
    addrs = [n2["private_ipv4"].split("/")[0],
             str(ipaddress.ip_network(n2["private_ipv6"], strict=False).network_address + 1)]
    n1v4 = t.nodes["n1"].nodes()["n1"]["private_ipv4"].split("/")[0]
    # the block names n1's MeshDNS, above what the host had
    within(10, lambda: f"nameserver {n1v4}" in t.resolv.read_text(), "the managed block")
    text = t.resolv.read_text()
    assert text.startswith("# BEGIN webmesh") and text.endswith(t.resolv_text), text
    out = within(10, lambda: n3.exec("getent", "hosts", f"n2.{D}", check=False)
                 .stdout.split()[:1] in ([a] for a in addrs),
                 "getent hosts n2 through MeshDNS")
    assert out < scaled(10)
    assert n3.stop() == 0
    assert t.resolv.read_text() == t.resolv_text  # byte for byte


def test_flags_are_checked(mesh):
    t = mesh
    # a plain member cannot serve MeshDNS: it has no replica
    n5 = t.add_node("n5")
    try:  # it may exit before start() returns
        n5.start(*t.join_args(n5, "--meshdns-listen", "127.0.0.1:53"))
    except AssertionError:
        pass
    assert n5.wait_exit(30) == 1
    assert ("--meshdns-listen needs a replica of the mesh state: only a voter or observer "
            "serves MeshDNS (--bootstrap, --voter or --observer)") in n5.log(), n5.log_tail()


def test_forwarders_never_open_on_a_public_address():
    with topology() as t:
        n = t.add_node("f1")
        n.start("--bootstrap", "--node-id", "f1", "--endpoints", f"{n.underlay}:{WG_PORT}",
                "--meshdns-listen", f"{n.underlay}:53", "--meshdns-forwarders",
                "127.0.0.1:5399")
        assert n.wait_exit(60) == 1
        assert (f"--meshdns-forwarders on {n.underlay}:53 would make an open resolver"
                in n.log()), n.log_tail()


def test_rbac_user_cannot_put_records():
    with topology() as t:
        ca = t.dir / "pki"
        run([str(WMCTL), "pki", "init", "--dir", str(ca)])
        run([str(WMCTL), "pki", "issue", "s1", "--server-cert", "--dir", str(ca)])
        for name in ("good", "admin"):
            run([str(WMCTL), "pki", "issue", name, "--dir", str(ca)])
        s1 = t.add_node("s1")
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 "--tls-cert", str(ca / "s1.crt"), "--tls-key", str(ca / "s1.key"),
                 "--ca-file", str(ca / "ca.crt"), "--mtls", "--meshdns-listen",
                 "127.0.0.1:53")
        s1.wait_ready("leader")
        t.server = s1

        def as_user(user, *args):
            return s1.exec(str(WMCTL), "--server", f"{s1.underlay}:{API_PORT}", "--ca-file",
                           str(ca / "ca.crt"), "--tls-cert", str(ca / f"{user}.crt"),
                           "--tls-key", str(ca / f"{user}.key"), *args, check=False)
        before = s1.state_dump()
        p = as_user("good", "put", "dns-record", "www", "A", "10.1.1.1")
        assert p.returncode != 0
        assert "PERMISSION_DENIED" in p.stderr, p.stderr
        assert "good may not put dns-records" in p.stderr, p.stderr
        assert s1.state_dump() == before
        assert data(s1, f"www.{D}")[0] == "NXDOMAIN"
        # the bootstrap admin may
        p = as_user("admin", "put", "dns-record", "www", "A", "10.1.1.1")
        assert p.returncode == 0, p.stderr
        within(PROPAGATION_TIMEOUT, lambda: data(s1, f"www.{D}") == ("NOERROR", ["10.1.1.1"]),
               "the admin's record")


def test_forwarders_answer_names_outside_the_mesh():
    # scripts/deps.sh installs it: missing, the test fails rather than skips
    assert shutil.which("dnsmasq"), "dnsmasq (dnsmasq-base) is not installed"
    with topology() as t:
        n = t.add_node("g1")
        hosts = n.dir / "upstream-hosts"
        hosts.write_text("192.0.2.77 outside.example\n")
        # the upstream: a dnsmasq on the node's loopback, ended by PID below
        up = subprocess.Popen(["ip", "netns", "exec", n.ns, "dnsmasq", "--keep-in-foreground",
                               "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
                               "--listen-address=127.0.0.1", "--bind-interfaces",
                               "--port=5354", "--user=root",
                               f"--pid-file={n.dir / 'dnsmasq.pid'}"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        try:
            n.start("--bootstrap", "--node-id", "g1", "--endpoints", f"{n.underlay}:{WG_PORT}",
                    "--meshdns-listen", "127.0.0.1:53", "--meshdns-forwarders",
                    "127.0.0.1:5354")
            n.wait_ready("leader")
            st, flags, ans, _ = within_result(lambda: dig(n, "outside.example", "A", "+rec"))
            assert st == "NOERROR" and ("A", "192.0.2.77") in ans, (st, ans)
            assert "ra" in flags, flags
            # over TCP too: the forwarder is asked over TCP (no REFUSED)
            st, flags, ans, _ = dig(n, "outside.example", "A", "+rec", "+tcp")
            assert st == "NOERROR" and ("A", "192.0.2.77") in ans, (st, ans)
            assert "ra" in flags, flags
            # mesh names are still ours, authoritative
            st, flags, ans, _ = dig(n, f"g1.{D}")
            assert st == "NOERROR" and "aa" in flags and ans[0][0] == "A"
        finally:
            up.terminate()
            up.wait(10)


def within_result(fn, seconds=10):
    """fn's result once its status is not None (the upstream may start late)."""
    box = []

    def ok():
        r = fn()
        box[:] = [r]
        return r[0] == "NOERROR"
    try:
        wait_until(ok, scaled(seconds), "an answer", interval=0.1)
    except AssertionError:
        pass
    return box[0]
