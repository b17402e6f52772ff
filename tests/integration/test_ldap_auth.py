"""The LDAP authenticator against a real slapd on loopback, in a network
namespace of its own: a good user is accepted with its ID, a wrong password,
a disabled user, an unknown user, an empty password and filter injections
in the user name are refused, and a dead server is an error, not a yes."""

import os
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


@pytest.fixture(scope="module")
def slapd():
    if not PROBE.exists():
        pytest.fail(f"{PROBE} is not built")
    tmp = Path(tempfile.mkdtemp(prefix="wmh-ldap-"))
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
    assert sh("ip", "netns", "add", NS).returncode == 0
    proc = None
    try:
        nsexec("ip", "link", "set", "lo", "up")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", NS, SLAPD, "-d", "0", "-f", str(tmp / "slapd.conf"),
             "-h", f"{URL}/"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Poll until slapd answers (bounded).
        for _ in range(100):
            if nsexec("/usr/bin/ldapsearch", "-x", "-H", URL, "-b", BASE, "-s", "base",
                      "-LLL", "dn").returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail("slapd did not come up")
        yield tmp
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        sh("ip", "netns", "del", NS)
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
