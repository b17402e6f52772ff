"""Issue 10, items 1 and 8: every server enforces the mesh's authentication
(recorded at bootstrap, replicated), TLS means what it says (a member's
certificate is no server certificate), key-auth signatures cannot be replayed
to another server, and secrets given as flags are warned about. Refusals are
checked by status code and exact reason, and the state of every voter is
compared before and after."""

import json
import re
import subprocess
from pathlib import Path

from wmtest import (agreed_dumps, API_PORT, PYTHON, WG_PORT, WMCTL, generate_protos, run, topology,
                    wait_until)

PROBE = Path(__file__).resolve().parent / "auth_call.py"


def pki(ca_dir, *args):
    return run([str(WMCTL), "pki", *args, "--dir", str(ca_dir)])


def fingerprint(path):
    """sha256:<hex> of a PEM certificate, computed by openssl (not by us)."""
    out = run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(path)])
    return "sha256:" + out.stdout.strip().split("=", 1)[1].replace(":", "").lower()


def dumps(*servers):
    return agreed_dumps(servers)


def wait_follower(node, leader="s1"):
    def ready():
        if not node.running():
            raise AssertionError(f"{node.name} exited\n{node.log_tail()}")
        s = node.status()
        return s.get("raft_state") == "follower" and s.get("leader_id") == leader
    wait_until(ready, 90, f"{node.name} to follow {leader}")


def probe(t, server, ca, method, req_type, resp_type, request=None, **kw):
    """One call from an outsider's namespace on the bridge."""
    if not getattr(t, "gen", None):
        t.gen = t.dir / "gen"
        t.gen.mkdir()
        generate_protos(t.gen)
    if not getattr(t, "client_ns", None):
        t.client_ns = t.add_client()
    args = ["ip", "netns", "exec", t.client_ns, PYTHON, PROBE, "--gen", t.gen, "--target",
            f"{server.underlay}:{API_PORT}", "--ca", ca, "--name", server.name, "--method",
            method, "--request", req_type, "--response", resp_type, "--json",
            json.dumps(request or {})]
    for k, v in kw.items():
        args += [f"--{k.replace('_', '-')}", v]
    r = json.loads(run([str(a) for a in args], timeout=60).stdout)
    return {"code": r["code"], "details": r["details"]}


def daemon_log(node):
    """What webmeshd wrote (the harness's own "=== start: ..." lines hold
    the command line, which is the test's)."""
    return "\n".join(l for l in node.log().splitlines() if not l.startswith("=== "))


def log_has(node, text, timeout=10):
    return wait_until(lambda: text in node.log(), timeout, f"{text!r} in {node.name}'s log")


GET_STATUS = ("/webmesh.v1.Node/GetStatus", "GetStatusRequest", "Status")


def test_a_voter_must_enforce_the_meshs_mtls():
    """The README's old voter join (no --mtls) refuses to serve and names the
    flag; with it, the voter serves and refuses a caller with no certificate,
    also one sending forwarding metadata."""
    with topology() as t:
        ca = t.dir / "pki"
        pki(ca, "init")
        s1, s2 = t.add_node("s1"), t.add_node("s2")
        pki(ca, "issue", "s1", "--server-cert", "--san", s1.underlay)
        pki(ca, "issue", "s2", "--server-cert", "--san", s2.underlay)
        ca_fp = fingerprint(ca / "ca.crt")
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 "--tls-cert", ca / "s1.crt", "--tls-key", ca / "s1.key", "--ca-file",
                 ca / "ca.crt", "--mtls", "--bootstrap-voters", "s2")
        s1.wait_ready("leader")
        t.server = s1
        log_has(s1, f"mesh authentication: mtls, CA {ca_fp}, RBAC on")
        assert "THIS MESH IS OPEN" not in s1.log()

        join = ["--join", f"{s1.underlay}:{API_PORT}", "--node-id", "s2", "--endpoints",
                f"{s2.underlay}:{WG_PORT}", "--voter", "--ca-file", ca / "ca.crt",
                "--tls-cert", ca / "s2.crt", "--tls-key", ca / "s2.key"]
        s2.start(*join)
        assert s2.wait_exit(60) == 1, s2.log_tail()
        assert ("refusing to serve: the mesh uses mTLS: start this server with --mtls "
                f"--ca-file FILE (CA fingerprint {ca_fp})") in s2.log(), s2.log_tail()
        assert "serving the API" not in s2.log()

        s2.start(*join, "--mtls")
        wait_follower(s2)
        log_has(s2, f"mesh authentication: mtls, CA {ca_fp}, RBAC on")
        wait_until(lambda: dumps(s1, s2)["s1"] == dumps(s1, s2)["s2"], 30, "replicas equal")
        before = dumps(s1, s2)
        r = probe(t, s2, ca / "ca.crt", *GET_STATUS)
        assert r == {"code": "UNAUTHENTICATED", "details": "authentication failed"}, r
        log_has(s2, "unauthenticated /webmesh.v1.Node/GetStatus from ")
        assert re.search(r"unauthenticated /webmesh\.v1\.Node/GetStatus from \S+: "
                         r"no credentials \(accepted: mtls\)", s2.log()), s2.log_tail()
        # The attack of the issue: an edge through the voter, as someone else.
        for who in ("@local", "admin", "s1"):
            r = probe(t, s2, ca / "ca.crt", "/webmesh.v1.Admin/PutEdge", "PutEdgeRequest",
                      "AdminWriteResponse", {"source": "s1", "target": "s2", "weight": 3},
                      metadata=f"x-webmesh-proxied-for={who}")
            assert r == {"code": "UNAUTHENTICATED", "details": "authentication failed"}, r
        assert dumps(s1, s2) == before

        # A restarted bootstrap server checks its own replica again.
        assert s1.stop() == 0
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 "--tls-cert", ca / "s1.crt", "--tls-key", ca / "s1.key", "--ca-file",
                 ca / "ca.crt")
        assert s1.wait_exit(90) == 1, s1.log_tail()
        assert ("refusing to serve: the mesh uses mTLS: start this server with --mtls "
                f"--ca-file FILE (CA fingerprint {ca_fp})") in s1.log(), s1.log_tail()


def test_a_member_certificate_is_no_server_certificate():
    """A client certificate from wmctl pki issue, presented by a server, is
    refused by a joiner and by wmctl that verify with --ca-file."""
    with topology() as t:
        ca = t.dir / "pki"
        pki(ca, "init")
        pki(ca, "issue", "member")
        s1 = t.add_node("s1")
        pki(ca, "issue", "s1", "--server-cert", "--san", s1.underlay)
        # A member posing as a server with its own (client) certificate.
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 "--tls-cert", ca / "member.crt", "--tls-key", ca / "member.key")
        s1.wait_ready("leader")
        log_has(s1, "THIS MESH IS OPEN")
        before = s1.state_dump()
        n1 = t.add_node("n1")
        n1.start("--join", f"{s1.underlay}:{API_PORT}", "--node-id", "n1", "--endpoints",
                 f"{n1.underlay}:{WG_PORT}", "--ca-file", ca / "ca.crt")
        want = ("TLS handshake failed: certificate rejected: the server's certificate is not "
                "a server certificate (extended key usage without serverAuth)")
        log_has(n1, want, timeout=30)
        assert "joined the mesh" not in n1.log()
        p = subprocess.run(["ip", "netns", "exec", n1.ns, str(WMCTL), "--server",
                            f"{s1.underlay}:{API_PORT}", "--ca-file", str(ca / "ca.crt"),
                            "status"], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert want in p.stderr, p.stderr
        assert s1.state_dump() == before
        # The same joiner accepts a real server certificate.
        n1.stop()
        assert s1.stop() == 0
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 "--tls-cert", ca / "s1.crt", "--tls-key", ca / "s1.key")
        s1.wait_ready("leader")
        n1.restart()
        n1.wait_ready("member")


def test_a_key_auth_header_for_one_server_is_refused_by_another():
    with topology() as t:
        keys = t.dir / "keys"
        keys.mkdir(mode=0o700)
        pubs = {n: run([str(WMCTL), "pki", "keygen", str(keys / n)]).stdout.strip()
                for n in ("s2", "k1")}
        allowed = t.dir / "allowed-keys"
        allowed.write_text("".join(f"{n} {p}\n" for n, p in pubs.items()))
        s1 = t.bootstrap("s1", "--key-auth-keys-file", allowed, "--bootstrap-voters", "s2")
        log_has(s1, "mesh authentication: key, RBAC on")
        s2 = t.add_node("s2")
        s2.start(*t.join_args(s2, "--voter", "--key-auth-keys-file", allowed,
                              "--key-auth-private-key-file", keys / "s2"))
        wait_follower(s2)
        # A member joins with its key: the signature names the server it met.
        t.join("k1", "--key-auth-private-key-file", keys / "k1")
        fp1, fp2 = fingerprint(s1.state_dir / "tls.crt"), fingerprint(s2.state_dir / "tls.crt")
        wait_until(lambda: s1.state_dump() == s2.state_dump(), 30, "replicas equal")
        before = dumps(s1, s2)
        signed_for_s1 = {"key_seed": keys / "k1", "key_id": "k1", "key_audience": fp1}
        ok = probe(t, s1, s1.state_dir / "tls.crt", *GET_STATUS, **signed_for_s1)
        assert ok == {"code": "OK", "details": ""}, ok
        replay = probe(t, s2, s2.state_dir / "tls.crt", *GET_STATUS, **signed_for_s1)
        assert replay == {"code": "UNAUTHENTICATED", "details": "authentication failed"}, replay
        log_has(s2, "key: the key-auth signature is for another server (not this server's "
                    f"certificate {fp2})")
        assert dumps(s1, s2) == before


def test_secrets_as_flags_are_warned_about_and_never_logged():
    with topology() as t:
        secret = "s3cr3t-turn-" + "x" * 8
        s1 = t.bootstrap("s1", "--turn-secret", secret)
        log_has(s1, "the secret turn-secret is given as a flag: every local user can read it "
                    "in /proc/PID/cmdline; use --turn-secret-file FILE (mode 0600) instead")
        log_has(s1, "THIS MESH IS OPEN")
        assert secret not in daemon_log(s1)
        # The file form: no warning (0600), and the secret still never logged.
        assert s1.stop() == 0
        f = t.dir / "turn.secret"
        f.write_text(secret + "\n")
        f.chmod(0o600)
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 "--turn-secret-file", f)
        s1.wait_ready("leader")
        log = s1.log().split("start: webmeshd")[-1]
        assert "is given as a flag" not in log and "readable by group" not in log
        assert secret not in daemon_log(s1)


def test_a_removed_node_is_refused_until_an_admin_allows_it():
    with topology() as t:
        ca = t.dir / "pki"
        pki(ca, "init")
        s1 = t.add_node("s1")
        pki(ca, "issue", "s1", "--server-cert", "--san", s1.underlay)
        for n in ("n1", "n2", "admin"):
            pki(ca, "issue", n)
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 "--tls-cert", ca / "s1.crt", "--tls-key", ca / "s1.key", "--ca-file",
                 ca / "ca.crt", "--mtls")
        s1.wait_ready("leader")
        t.server = s1

        def member(name, *extra):
            node = t.nodes.get(name) or t.add_node(name)
            node.start("--join", f"{s1.underlay}:{API_PORT}", "--node-id", name,
                       "--endpoints", f"{node.underlay}:{WG_PORT}", "--ca-file",
                       ca / "ca.crt", "--tls-cert", ca / f"{name}.crt", "--tls-key",
                       ca / f"{name}.key", *extra)
            return node

        def admin(*args, check=True):
            return run(["ip", "netns", "exec", s1.ns, str(WMCTL), "--server",
                        f"{s1.underlay}:{API_PORT}", "--ca-file", str(ca / "ca.crt"),
                        "--tls-cert", str(ca / "admin.crt"), "--tls-key",
                        str(ca / "admin.key"), *args], check=check)

        n1 = member("n1")
        n1.wait_ready("member")
        # A node's own leave (an ephemeral exit) does not deny it.
        n2 = member("n2", "--ephemeral")
        n2.wait_ready("member")
        n2.stop()
        wait_until(lambda: "n2" not in s1.nodes(), 30, "n2 to leave")
        n2.start(*n2.args)
        n2.wait_ready("member")

        out = admin("delete", "node", "n1").stdout
        assert "removed node n1; it is denied until: wmctl allow node n1" in out, out
        wait_until(lambda: "n1" not in s1.nodes(), 30, "n1 to be removed")
        n1.stop()
        reason = ("node n1 was removed from the mesh by an administrator; an administrator "
                  "re-admits it with: wmctl allow node n1")
        before = s1.state_dump()
        assert [r["node_id"] for r in before["denied_nodes"]] == ["n1"]
        # Its certificate is refused on any call, and its rejoin too.
        r = probe(t, s1, ca / "ca.crt", *GET_STATUS, cert=ca / "n1.crt", key=ca / "n1.key")
        assert r == {"code": "UNAUTHENTICATED", "details": reason}, r
        n1.start(*n1.args)
        assert n1.wait_exit(60) == 1, n1.log_tail()
        assert ("the mesh refused to let this node join: UNAUTHENTICATED: " + reason
                in n1.log()), n1.log_tail()
        # Someone else joining under its name is refused as well.
        r = probe(t, s1, ca / "ca.crt", "/webmesh.v1.Membership/Join", "JoinRequest",
                  "JoinResponse", {"id": "n1"}, cert=ca / "n2.crt", key=ca / "n2.key")
        assert r == {"code": "PERMISSION_DENIED", "details": reason}, r
        assert s1.state_dump() == before

        # Only an administrator re-admits it.
        p = run(["ip", "netns", "exec", n2.ns, str(WMCTL), "--server",
                 f"{s1.underlay}:{API_PORT}", "--ca-file", str(ca / "ca.crt"),
                 "--tls-cert", str(ca / "n2.crt"), "--tls-key", str(ca / "n2.key"),
                 "allow", "node", "n1"], check=False)
        assert p.returncode == 1 and "PERMISSION_DENIED" in p.stderr, p.stderr
        assert s1.state_dump() == before
        assert "node n1 may join again" in admin("allow", "node", "n1").stdout
        n1.start(*n1.args)
        n1.wait_ready("member")
        assert "n1" in s1.nodes()
