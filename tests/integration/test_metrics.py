"""Issue 13, the HTTP listener: /metrics checked by promtool on a live node,
its per-peer byte counters against `wg show webmesh0 transfer`, /healthz and
/readyz before and after a join, the console's one-time token, and no way
out of the console's directory.

Each node listens on its default http-listen, 127.0.0.1:8080, inside its own
namespace; requests are made there by a small Python client (http.client,
which sends the path as given: no normalising of "..")."""

import json
import re
import shutil

import pytest

from wmtest import PYTHON, WEBMESHD, run, topology, wait_until

URL = "127.0.0.1:8080"

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None,
                                reason="promtool (Debian's prometheus) is not installed")

# Runs in the node's network namespace: one request, the answer as JSON.
CLIENT = r"""
import http.client, json, sys
path, headers = sys.argv[1], json.loads(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=10)
c.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
c.putheader("Host", "127.0.0.1")
for k, v in headers.items():
    c.putheader(k, v)
c.endheaders()
r = c.getresponse()
body = r.read()
print(json.dumps({"status": r.status, "headers": [[k.lower(), v] for k, v in r.getheaders()],
                  "body": body.decode("latin-1")}))
"""


# A POST with a body (hex), the answer as JSON with the body in hex.
POSTER = r"""
import http.client, json, sys
path, headers, body = sys.argv[1], json.loads(sys.argv[2]), bytes.fromhex(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=10)
c.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
c.putheader("Host", "127.0.0.1:8080")
c.putheader("Content-Length", str(len(body)))
for k, v in headers.items():
    c.putheader(k, v)
c.endheaders()
c.send(body)
r = c.getresponse()
data = r.read()
print(json.dumps({"status": r.status, "headers": [[k.lower(), v] for k, v in r.getheaders()],
                  "body": data.hex()}))
"""


def post(node, path, body, **headers):
    p = run(["ip", "netns", "exec", node.ns, PYTHON, "-c", POSTER, path, json.dumps(headers),
             body.hex()], timeout=30)
    r = json.loads(p.stdout)
    r["header"] = {k: v for k, v in r["headers"]}
    r["body"] = bytes.fromhex(r["body"])
    return r


def grpcweb_frames(body):
    """[(flag, payload)] of a gRPC-web response body."""
    out = []
    while body:
        assert len(body) >= 5, body
        n = int.from_bytes(body[1:5], "big")
        out.append((body[0], body[5:5 + n]))
        body = body[5 + n:]
    return out


def get(node, path, **headers):
    p = run(["ip", "netns", "exec", node.ns, PYTHON, "-c", CLIENT, path, json.dumps(headers)],
            timeout=30)
    r = json.loads(p.stdout)
    r["header"] = {k: v for k, v in r["headers"]}
    return r


def transfer(node):
    """`wg show webmesh0 transfer`: {public key: (rx, tx)}."""
    out = node.exec("wg", "show", "webmesh0", "transfer").stdout
    res = {}
    for line in out.strip().splitlines():
        key, rx, tx = line.split("\t")
        res[key] = (int(rx), int(tx))
    return res


LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset of (label, value))}: value of a text exposition."""
    res = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, labels = series, frozenset()
        if "{" in series:
            name, rest = series.split("{", 1)
            labels = frozenset(LABEL_RE.findall(rest))
        res[(name, labels)] = float(value)
    return res


def by_key(metrics, name):
    """{public_key: value} of a per-peer metric."""
    return {dict(labels)["public_key"]: v for (n, labels), v in metrics.items() if n == name}


@pytest.fixture(scope="module")
def mesh():
    """n1 bootstraps; n2 starts cut off from it (its readiness is checked
    before the join), with a console directory of its own and a secret
    beside it that must never be served."""
    with topology() as t:
        n1 = t.bootstrap("n1")
        console = t.dir / "console"
        console.mkdir()
        (console / "index.html").write_text("<html>webmesh console</html>")
        (console / "app.js").write_text("console.log('plain')")
        (console / "app.js.gz").write_bytes(b"GZ-APP")
        (t.dir / "secret.txt").write_text("TOP-SECRET")
        n2 = t.add_node("n2")
        n2.set_link(False)
        n2.start(*t.join_args(n2), "--console-dir", str(console))
        yield t, n1, n2


def joined(mesh):
    """The mesh with n2 in it (whichever test runs first)."""
    t, n1, n2 = mesh
    n2.set_link(True)
    n2.wait_ready("member")
    return mesh


def test_readyz_before_and_after_join(mesh):
    t, n1, n2 = mesh
    # the listener answers before the node is in the mesh: alive, not ready
    r = wait_until(lambda: _try(n2, "/healthz"), 30, "n2's /healthz")
    assert r["status"] == 200 and r["body"] == "ok\n"
    r = get(n2, "/readyz")
    assert r["status"] == 503, r
    assert "not in a mesh" in r["body"]
    n2.set_link(True)
    n2.wait_ready("member")
    wait_until(lambda: get(n2, "/readyz")["status"] == 200, 30, "n2 ready")
    # a server is ready once its replica caught up
    wait_until(lambda: get(n1, "/readyz")["status"] == 200, 30, "n1 ready")


def _try(node, path):
    try:
        return get(node, path)
    except Exception:
        return None


def test_promtool_and_byte_counters(mesh):
    t, n1, n2 = joined(mesh)
    a1 = n1.status()["address_ipv4"].split("/")[0]
    assert n2.ping(a1, count=3), "no traffic over the mesh"
    for node in (n1, n2):
        r = get(node, "/metrics")
        assert r["status"] == 200
        assert r["header"]["content-type"].startswith("text/plain; version=0.0.4")
        p = run(["promtool", "check", "metrics"], check=False, input=r["body"])
        assert p.returncode == 0, p.stdout + p.stderr
        # within one scrape: between what wg said before and after it
        before = transfer(node)
        m = parse_metrics(get(node, "/metrics")["body"])
        after = transfer(node)
        rx = by_key(m, "wireguard_peer_receive_bytes_total")
        tx = by_key(m, "wireguard_peer_transmit_bytes_total")
        assert set(rx) == set(before) == set(after) and rx, (rx, before)
        for key in before:
            assert before[key][0] <= rx[key] <= after[key][0], (key, before, rx, after)
            assert before[key][1] <= tx[key] <= after[key][1], (key, before, tx, after)
        assert any(v > 0 for v in rx.values()), rx
        # the peer is named, its path known
        other = "n1" if node is n2 else "n2"
        ids = {dict(lbl).get("node_id") for (n, lbl) in m if n == "wireguard_peer_receive_bytes_total"}
        assert ids == {other}, ids
        paths = {dict(lbl)["path"]: v for (n, lbl), v in m.items() if n == "webmesh_peer_path"}
        assert sum(paths.values()) == 1, paths
        assert m[("process_resident_memory_bytes", frozenset())] > 1 << 20
    # the server's Raft and the API calls it answered (n2's Join among them)
    m = parse_metrics(get(n1, "/metrics")["body"])
    assert m[("webmesh_raft_role", frozenset({("role", "leader")}))] == 1
    assert m[("webmesh_raft_leader", frozenset({("leader_id", "n1")}))] == 1
    assert m[("webmesh_raft_commit_index", frozenset())] >= 1
    assert m[("webmesh_joins_total", frozenset())] >= 1
    assert m[("webmesh_api_calls_total", frozenset({("method", "/webmesh.v1.Membership/Join"),
                                                    ("code", "OK")}))] >= 1
    # a member holds no replica
    m2 = parse_metrics(get(n2, "/metrics")["body"])
    assert not any(n == "webmesh_raft_term" for n, _ in m2)


def test_console_token_flow(mesh):
    t, n1, n2 = joined(mesh)
    # no token, no cookie: 401, for the page and its files alike
    assert get(n2, "/")["status"] == 401
    assert get(n2, "/app.js")["status"] == 401
    url = n2.wmctl("console").stdout.strip()
    assert url.startswith(f"http://{URL}/?token="), url
    path = url[len(f"http://{URL}"):]
    r = get(n2, path)
    assert r["status"] == 303, r
    assert r["header"]["location"] == "/"
    cookie = r["header"]["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = cookie.split(";")[0]
    assert session.startswith("wm_session=")
    # the token is spent
    r = get(n2, path)
    assert r["status"] == 401 and "set-cookie" not in r["header"]
    # the cookie opens the page and its files, gzip'd when accepted
    r = get(n2, "/", Cookie=session)
    assert r["status"] == 200 and "webmesh console" in r["body"]
    assert r["header"]["content-type"].startswith("text/html")
    r = get(n2, "/app.js", Cookie=session, **{"Accept-Encoding": "gzip"})
    assert r["status"] == 200 and r["body"] == "GZ-APP"
    assert r["header"]["content-encoding"] == "gzip"
    assert r["header"]["content-type"].startswith("text/javascript")
    # a forged cookie
    assert get(n2, "/", Cookie="wm_session=" + "0" * 64)["status"] == 401
    # /metrics and the probes need none (the loopback boundary)
    assert get(n2, "/metrics")["status"] == 200
    # each node hands out tokens of its own listener
    assert n1.wmctl("console").stdout.strip().startswith("http://127.0.0.1:8080/?token=")


def test_no_traversal_out_of_the_console(mesh):
    t, n1, n2 = joined(mesh)
    url = n2.wmctl("console").stdout.strip()
    r = get(n2, url[len(f"http://{URL}"):])
    session = r["header"]["set-cookie"].split(";")[0]
    for path in ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
                 "/%2E%2E%2Fsecret.txt", "/./../secret.txt", "//secret.txt",
                 "/app.js/../../secret.txt", "/..\\secret.txt"]:
        r = get(n2, path, Cookie=session)
        assert r["status"] in (400, 404), (path, r)
        assert "TOP-SECRET" not in r["body"], path
    # the node still serves
    assert get(n2, "/", Cookie=session)["status"] == 200


def test_http_listen_off_and_bad(mesh):
    t, n1, n2 = joined(mesh)
    # a bad value is refused by name; an empty one turns the listener off
    p = run([WEBMESHD, "--http-listen", "nonsense", "--print-config"], check=False)
    assert p.returncode != 0 and "http-listen" in p.stderr, p.stdout + p.stderr
    n3 = t.join("n3", "--http-listen", "")
    assert _try(n3, "/healthz") is None
    p = n3.wmctl("console", check=False)
    assert p.returncode != 0 and "http-listen is empty" in p.stderr.replace("\n", " "), p.stdout + p.stderr


def test_grpc_web_on_the_listener_needs_the_session(mesh):
    """The console's API calls on the HTTP listener: gRPC-web through the
    local socket's methods, only with a console session and only from the
    listener's own origin."""
    t, n1, n2 = joined(mesh)
    path = "/webmesh.v1.Node/GetStatus"
    empty = b"\x00\x00\x00\x00\x00"  # one frame, an empty GetStatusRequest
    web = {"Content-Type": "application/grpc-web+proto"}
    # no session: refused before any handler runs
    assert post(n2, path, empty, **web)["status"] == 401
    url = n2.wmctl("console").stdout.strip()
    session = get(n2, url[len(f"http://{URL}"):])["header"]["set-cookie"].split(";")[0]
    r = post(n2, path, empty, Cookie=session, **web)
    assert r["status"] == 200, r
    assert r["header"]["content-type"].startswith("application/grpc-web"), r
    frames = grpcweb_frames(r["body"])
    assert frames[-1][0] == 0x80 and b"grpc-status:0" in frames[-1][1], frames
    # the status names the node (field 1, its ID)
    assert frames[0][0] == 0 and b"n2" in frames[0][1], frames
    # another origin (a page on another local port is same-site): refused
    r = post(n2, path, empty, Cookie=session, Origin="http://127.0.0.1:9999", **web)
    assert r["status"] == 403, r
    # its own origin is fine
    r = post(n2, path, empty, Cookie=session, Origin="http://127.0.0.1:8080", **web)
    assert r["status"] == 200, r
    # a method that does not exist: a gRPC error in the trailer, not a crash
    r = post(n2, "/webmesh.v1.Node/NoSuchMethod", empty, Cookie=session, **web)
    assert r["status"] == 200 and b"grpc-status:12" in grpcweb_frames(r["body"])[-1][1], r
    assert get(n2, "/healthz")["status"] == 200


# Runs in a client namespace: GET /healthz at host:port with a given Host.
REMOTE = r"""
import http.client, json, sys
addr, host = sys.argv[1], sys.argv[2]
c = http.client.HTTPConnection(addr, 8080, timeout=10)
c.putrequest("GET", "/healthz", skip_host=True, skip_accept_encoding=True)
c.putheader("Host", host)
c.endheaders()
r = c.getresponse()
print(json.dumps({"status": r.status, "body": r.read().decode("latin-1")}))
"""


def test_listener_on_a_lan_address_refuses_unknown_host_names(mesh):
    """A listener on a non-loopback address (an operator scraping from
    another host) answers to IP addresses and the names of
    http-allowed-hosts only: a page whose name an attacker re-points at the
    node's address (DNS rebinding, from a browser inside the LAN) gets 421."""
    t, n1, n2 = joined(mesh)
    n3 = t.join("n4", "--http-listen", "0.0.0.0:8080",
                "--http-allowed-hosts", "Metrics.Example,n3.lan")
    client = t.add_client("lanclient", 201)
    wait_until(lambda: _try(n3, "/healthz"), 30, "n4's /healthz")

    def remote(host):
        p = run(["ip", "netns", "exec", client, PYTHON, "-c", REMOTE, n3.underlay, host],
                timeout=30)
        return json.loads(p.stdout)

    for host in (f"{n3.underlay}:8080", n3.underlay, "metrics.example:8080", "N3.LAN"):
        r = remote(host)
        assert r["status"] == 200 and r["body"] == "ok\n", (host, r)
    for host in ("evil.example:8080", "metrics.example.evil.example", "n3.lan.", "n3"):
        r = remote(host)
        assert r["status"] == 421 and "http-allowed-hosts" in r["body"], (host, r)
    # a bad name is refused by name at startup
    p = run([WEBMESHD, "--http-allowed-hosts", "bad_name!", "--print-config"], check=False)
    assert p.returncode != 0 and "http-allowed-hosts" in p.stderr, p.stdout + p.stderr
