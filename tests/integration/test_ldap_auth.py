"""The LDAP authenticator against a real slapd on loopback, in a network
namespace of its own: a good user is accepted with its ID, a wrong password,
a disabled user, an unknown user, an empty password and filter injections
in the user name are refused, and a dead server is an error, not a yes."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("WM_BUILD_DIR", ROOT / "build")).resolve()
PROBE = BUILD_DIR / "tests" / "unit" / "ldap_probe"
SLAPD = "/usr/sbin/slapd"
NS = f"wmh-auth-{os.getpid()}"
PORT = 3890
URL = f"ldap://127.0.0.1:{PORT}"
BASE = "dc=example,dc=org"
ADMIN = "cn=admin,dc=example,dc=org"
ADMIN_PW = "service-secret"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.access(SLAPD, os.X_OK),
    reason="needs root and slapd")


def sh(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


def nsexec(*args, **kw):
    return sh("ip", "netns", "exec", NS, *args, **kw)


def ssha(pw):
    return sh("/usr/sbin/slappasswd", "-s", pw).stdout.strip()


def slapd_prepare(tmp):
    """slapd.conf and a database with alice (good), bob (disabled) and carol
    (good, another employeeType) under tmp."""
    (tmp / "db").mkdir()
    (tmp / "slapd.conf").write_text(f"""
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {tmp}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "{BASE}"
rootdn "{ADMIN}"
rootpw {ssha(ADMIN_PW)}
directory {tmp}/db
maxsize 10485760
""")
    users = [("alice", "alice-pw", None), ("bob", "bob-pw", "disabled"),
             ("carol", "carol-pw", "staff")]
    ldif = f"""dn: {BASE}
objectClass: dcObject
objectClass: organization
o: example
dc: example

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people
"""
    for uid, pw, etype in users:
        ldif += f"""
dn: uid={uid},ou=people,{BASE}
objectClass: inetOrgPerson
uid: {uid}
cn: {uid}
sn: {uid}
userPassword: {ssha(pw)}
"""
        if etype:
            ldif += f"employeeType: {etype}\n"
    (tmp / "data.ldif").write_text(ldif)
    r = sh("/usr/sbin/slapadd", "-f", str(tmp / "slapd.conf"), "-l", str(tmp / "data.ldif"))
    assert r.returncode == 0, r.stderr


@contextlib.contextmanager
def slapd_running(ns, tmp):
    """slapd on 127.0.0.1:PORT inside the network namespace ns, until the
    block ends; stopped by its PID (ip netns exec execs slapd)."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, SLAPD, "-d", "0", "-f", str(tmp / "slapd.conf"),
         "-h", f"{URL}/"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Poll until slapd answers (bounded).
        for _ in range(100):
            if sh("ip", "netns", "exec", ns, "/usr/bin/ldapsearch", "-x", "-H", URL, "-b",
                  BASE, "-s", "base", "-LLL", "dn").returncode == 0:
                break
            if proc.poll() is not None:
                pytest.fail(f"slapd exited with {proc.returncode}")
            time.sleep(0.1)
        else:
            pytest.fail("slapd did not come up")
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def slapd():
    if not PROBE.exists():
        pytest.fail(f"{PROBE} is not built")
    tmp = Path(tempfile.mkdtemp(prefix="wmh-ldap-"))
    try:
        slapd_prepare(tmp)
        assert sh("ip", "netns", "add", NS).returncode == 0
        try:
            nsexec("ip", "link", "set", "lo", "up")
            with slapd_running(NS, tmp):
                yield tmp
        finally:
            sh("ip", "netns", "del", NS)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def probe(user, password, url=URL):
    r = nsexec(str(PROBE), url, BASE, ADMIN, ADMIN_PW, user, password, timeout=30)
    return r.returncode, r.stdout.strip()


def test_good_user(slapd):
    assert probe("alice", "alice-pw") == (0, "OK alice")
    assert probe("carol", "carol-pw") == (0, "OK carol")


def test_wrong_password(slapd):
    code, out = probe("alice", "nope")
    assert code == 1 and out.startswith("REFUSED")
    assert "nope" not in out


def test_disabled_user(slapd):
    code, out = probe("bob", "bob-pw")
    assert code == 1 and "disabled" in out


def test_unknown_and_empty(slapd):
    assert probe("mallory", "x")[0] == 1
    assert probe("alice", "")[0] == 1  # would be an unauthenticated bind


@pytest.mark.parametrize("name", ["*)(uid=*", "*", "alice)(uid=*", "a*", "*)(|(uid=*",
                                  "alice\\2a"])
def test_injection_refused(slapd, name):
    # With the filter escaped these match no entry (or a literal one that
    # does not exist): never alice, never "more than one".
    code, out = probe(name, "alice-pw")
    assert code == 1, out
    assert "OK" not in out


def test_server_down(slapd):
    code, out = probe("alice", "alice-pw", url="ldap://127.0.0.1:3891")
    assert code == 2 and out.startswith("ERROR")


# ---- a real webmeshd with LDAP authentication -------------------------------
# The bootstrap node authenticates joiners against slapd running in its own
# network namespace (127.0.0.1:PORT there); joiners present basic credentials
# from a 0600 config file, never on the command line.

from wmtest import WG_PORT, topology, wait_until  # noqa: E402

SECRETS = (ADMIN_PW, "alice-pw", "bob-pw", "not-alices-pw")


def secret_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def yaml_str(v):
    return "'" + v.replace("'", "''") + "'"


def state_of(server):
    """What a refused join must not change: nodes and graph, as JSON."""
    return (server.wmctl("get", "nodes", "-o", "json").stdout,
            server.wmctl("get", "graph", "-o", "json").stdout)


@pytest.fixture(scope="module")
def ldap_mesh():
    with topology() as t:
        data = t.dir / "slapd"
        data.mkdir()
        slapd_prepare(data)
        s1 = t.add_node("s1")
        with slapd_running(s1.ns, data):
            conf = secret_file(t.dir / "s1.yaml", "".join(
                f"{k}: {yaml_str(v)}\n" for k, v in (
                    ("ldap-url", URL), ("ldap-bind-dn", ADMIN),
                    ("ldap-bind-password", ADMIN_PW), ("ldap-base-dn", BASE),
                    ("ldap-user-filter", "(objectClass=inetOrgPerson)"),
                    ("ldap-disabled-attr", "employeeType"),
                    ("ldap-disabled-value", "disabled"))))
            s1.start("--bootstrap", "--node-id", "s1", "--endpoints",
                     f"{s1.underlay}:{WG_PORT}", "--config", str(conf))
            s1.wait_ready("leader")
            t.server = s1
            pat = re.compile(r"--join-fingerprint[ =](sha256:[0-9a-fA-F]{64})")
            t.fingerprint = wait_until(lambda: (m := pat.search(s1.log())) and m.group(1),
                                       10, "the join fingerprint")
            yield t
            for n in t.nodes.values():
                log = n.log()
                for secret in SECRETS:
                    assert secret not in log, f"a password in {n.name}'s log"


def ldap_joiner(t, name, node_id, user, password):
    node = t.add_node(name)
    conf = secret_file(t.dir / f"{name}.yaml", f"basic-auth-user: {yaml_str(user)}\n"
                       f"basic-auth-password: {yaml_str(password)}\n")
    args = t.join_args(node, "--config", str(conf))
    args[args.index("--node-id") + 1] = node_id
    node.start(*args)
    return node


def test_daemon_ldap_is_the_auth_method(ldap_mesh):
    assert ldap_mesh.server.status()["auth_methods"] == "ldap"


@pytest.mark.parametrize("case,node_id,user,password,reason", [
    ("wrong-password", "alice", "alice", "not-alices-pw", "wrong password"),
    ("disabled", "bob", "bob", "bob-pw", "the account is disabled"),
    # Escaped, the filter matches no entry: never alice, never "several".
    ("injection", "alice", "*)(uid=*", "alice-pw", "unknown user"),
])
def test_daemon_ldap_refuses(ldap_mesh, case, node_id, user, password, reason):
    t = ldap_mesh
    before = state_of(t.server)
    seen = len(t.server.log())
    node = ldap_joiner(t, case, node_id, user, password)
    code = node.wait_exit(60)
    assert code == 1, node.log_tail()
    log = node.log()
    assert "refused" in log and "UNAUTHENTICATED" in log, node.log_tail()
    assert state_of(t.server) == before
    assert node_id not in t.server.nodes()
    # The server says why in its log (the joiner is only told it failed),
    # without the password.
    said = t.server.log()[seen:]
    # The joiner's first call asks the server who it is (for its node proof).
    assert "unauthenticated /webmesh.v1.Node/GetBootstrapInfo" in said, said
    assert reason in said, said
    assert password not in t.server.log()


def test_daemon_ldap_good_user_joins(ldap_mesh):
    t = ldap_mesh
    node = ldap_joiner(t, "good", "alice", "alice", "alice-pw")
    node.wait_ready("member")
    assert "alice" in t.server.nodes()
    for n in t.nodes.values():
        assert "alice-pw" not in n.log()
