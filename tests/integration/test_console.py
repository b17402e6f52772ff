"""Issue 13, the browser half: the web console in Debian's headless Chromium
(driven by playwright-core, tests/browser/driver.mjs) against a 3-node mesh
with basic authentication, through the TLS API port (gRPC-web, same origin).
The tests run in file order on one mesh and one browser: the nodes, a fourth
node appearing live, an edge deleted from the page, then wrong credentials
and a user RBAC denies. Screenshots land in build/console-screenshots/."""

import base64
import importlib
import json
import shutil
import subprocess

import pytest

from wmtest import API_PORT, BUILD_DIR, ROOT, run, scaled, topology, wait_until

DRIVER = ROOT / "tests" / "browser" / "driver.mjs"
CONSOLE = BUILD_DIR / "console"
SHOTS = BUILD_DIR / "console-screenshots"
ADMIN_PW = "Adm1n-console-pw"
VIEWER_PW = "V1ewer-console-pw"
NODE_PW = "N0de-console-pw"


class Browser:
    """The driver process in the client namespace: one JSON line per step."""

    def __init__(self, ns):
        if not shutil.which("node") or not (ROOT / "console" / "node_modules").is_dir():
            pytest.fail("node and console/node_modules (make build runs npm ci) are needed")
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, "node", str(DRIVER)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

    def do(self, op, **kw):
        self.p.stdin.write(json.dumps({"op": op, **kw}) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError(f"browser driver exited: {self.p.stderr.read()[-3000:]}")
        r = json.loads(line)
        return r

    def ok(self, op, **kw):
        r = self.do(op, **kw)
        assert r["ok"], f"{op} {kw}: {r}"
        return r

    def close(self):
        try:
            self.do("close")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=10)


@pytest.fixture(scope="module")
def mesh():
    assert (CONSOLE / "index.html").is_file(), "make build builds the console into build/console"
    crypt = importlib.import_module("crypt")
    with topology() as t:
        salt = crypt.mksalt(crypt.METHOD_SHA512)
        hp = t.dir / "htpasswd"
        users = {"admin": ADMIN_PW, "viewer": VIEWER_PW,
                 **{n: NODE_PW for n in ("n2", "n3", "n4")}}
        hp.write_text("".join(f"{u}:{crypt.crypt(p, salt)}\n" for u, p in users.items()))
        hp.chmod(0o600)
        s1 = t.bootstrap("s1", "--basic-auth-file", str(hp), "--console-dir", str(CONSOLE))
        s1.wmctl("put", "rolebindings", "console-admin", "--role", "mesh-admin",
                 "--subject", "user:admin")
        t.creds = {}
        for n in ("n2", "n3", "n4"):
            f = t.dir / f"{n}.yaml"
            f.write_text(f"basic-auth-user: {n}\nbasic-auth-password: {NODE_PW}\n")
            f.chmod(0o600)
            t.creds[n] = ["--config", str(f)]
        t.join("n2", *t.creds["n2"])
        t.join("n3", *t.creds["n3"])
        t.client = t.add_client()
        t.url = f"https://{s1.underlay}:{API_PORT}/"
        SHOTS.mkdir(parents=True, exist_ok=True)
        b = Browser(t.client)
        t.browser = b
        try:
            yield t
        finally:
            b.close()


def login(b, user, pw):
    b.ok("wait", sel="#login-form")
    b.ok("fill", sel="#login-user", value=user)
    b.ok("fill", sel="#login-pass", value=pw)
    b.ok("click", sel="#login-submit")


def test_console_lists_the_nodes_and_draws_the_graph(mesh):
    t, b = mesh, mesh.browser
    b.ok("open", url=t.url)
    # No session: the page asks for the mesh's credentials first.
    login(b, "admin", ADMIN_PW)
    for n in ("s1", "n2", "n3"):
        b.ok("wait", sel="#nodes-rows", text=n, timeout=scaled(15) * 1000)
    rows = b.ok("eval", expr="[...document.querySelectorAll('#nodes-rows tr')]"
                             ".map(r => r.dataset.node)")["value"]
    assert sorted(rows) == ["n2", "n3", "s1"]
    st = t.server.status()
    row = b.ok("text", sel="#nodes-rows tr[data-node='s1']")["text"]
    assert st["address_ipv4"].split("/")[0] in row and "leader" in row
    b.ok("wait", sel="#live", text="live", timeout=scaled(10) * 1000)
    b.ok("screenshot", path=str(SHOTS / "nodes.png"))
    b.ok("click", sel="#tab-graph")
    b.ok("wait", sel="#graph-legend", text="3 nodes", timeout=scaled(15) * 1000)
    assert b.ok("eval", expr="document.querySelectorAll('#graph canvas').length")["value"] > 0
    b.ok("screenshot", path=str(SHOTS / "graph.png"))
    b.ok("click", sel="#tab-join")
    cmd = b.ok("text", sel="#join-cmd")["text"]
    assert f"--join {t.server.underlay}:{API_PORT}" in cmd
    assert f"--join-fingerprint {t.fingerprint}" in cmd
    # RBAC and ACLs, and who may reach whom under them.
    t.server.wmctl("put", "networkacls", "no-ssh", "--action", "deny", "--priority", "10",
                   "--src", "n2", "--dst", "n3", "--proto", "tcp", "--port", "22")
    b.ok("click", sel="#tab-access")
    b.ok("wait", sel="#roles", text="mesh-admin", timeout=scaled(10) * 1000)
    b.ok("wait", sel="#bindings", text="user:admin", timeout=scaled(10) * 1000)
    b.ok("wait", sel="#acls", text="no-ssh", timeout=scaled(10) * 1000)
    b.ok("wait", sel="#matrix", text="all except tcp/22", timeout=scaled(10) * 1000)
    cells = b.ok("eval", expr="[...document.querySelectorAll('#matrix td[title]')]"
                              ".map(c => c.title).filter(x => x)")["value"]
    assert "n2 may reach n3 on all except tcp/22" in cells
    assert "n3 may reach n2 on all" in cells
    b.ok("click", sel="#tab-nodes")


UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def shown_rx(b, node):
    """The bytes-in cell of node's row, as bytes (the page shows "1.5 KiB")."""
    text = b.ok("eval", expr=f"document.querySelector(\"#nodes-rows tr[data-node='{node}']\")"
                             ".children[7].textContent")["value"].strip()
    if text == "0":
        return 0
    num, unit = text.split()
    return float(num) * UNITS[unit]


def test_peer_counters_update_live_without_reload_or_click(mesh):
    t, b = mesh, mesh.browser
    # Run alone (-k), the page is not open yet.
    r = b.do("eval", expr="!!document.querySelector('#app') && !document.querySelector('#app').hidden")
    if not r.get("value"):
        b.ok("open", url=t.url)
        login(b, "admin", ADMIN_PW)
    b.ok("click", sel="#tab-nodes")
    b.ok("wait", sel="#nodes-rows", text="n2", timeout=scaled(15) * 1000)
    b.ok("eval", expr="window.__liveCounters = 1")
    s1 = t.server.status()["address_ipv4"].split("/")[0]
    # Three rounds of bounded traffic from n2 to s1's mesh address (~6 KiB
    # that s1 receives from n2 each, far above the page's display resolution
    # at this size); each must show up on its own. Nothing is clicked: the
    # Status stream alone must move the number, also once the mesh is quiet
    # and no membership change makes the page read anything.
    for i in range(3):
        before = shown_rx(b, "n2")
        t.nodes["n2"].netns_exec("ping", "-4", "-n", "-q", "-c", "5", "-i", "0.2", "-s", "1200",
                                 "-W", "2", s1, timeout=20)
        after = wait_until(lambda: (v := shown_rx(b, "n2")) >= before + 4000 and v, 5,
                           f"the page to show n2's bytes in grow (round {i + 1})")
        print(f"round {i + 1}: n2 bytes in shown: {before:.0f} -> {after:.0f}")
    assert b.ok("eval", expr="window.__liveCounters === 1")["value"], "the page was reloaded"


def test_a_fourth_node_appears_without_reload(mesh):
    t, b = mesh, mesh.browser
    b.ok("eval", expr="window.__sameDocument = 1")
    t.join("n4", *t.creds["n4"])
    # From the moment the node is a member, the stream brings it to the page.
    r = b.ok("wait", sel="#nodes-rows", text="n4", timeout=scaled(2) * 1000)
    print(f"n4 appeared {r['ms']} ms after it became a member")
    assert b.ok("eval", expr="window.__sameDocument === 1")["value"], "the page was reloaded"


def test_deleting_an_edge_on_the_page_changes_wg_show(mesh):
    t, b = mesh, mesh.browser
    n2, n3 = t.nodes["n2"], t.nodes["n3"]
    k3 = n3.status()["public_key"]
    wait_until(lambda: k3 in n2.wg_peers(), 30, "n2 to peer with n3")
    b.ok("click", sel="#tab-graph")
    b.ok("fill", sel="#edge-source", value="n2")
    b.ok("fill", sel="#edge-target", value="n3")
    b.ok("click", sel="#edge-delete")
    b.ok("wait", sel="#edge-msg", text="done", timeout=scaled(10) * 1000)
    graph = t.server.wmctl_json("get", "graph")
    assert not any({e["source"], e["target"]} == {"n2", "n3"} for e in graph.get("edges", []))
    wait_until(lambda: k3 not in n2.wg_peers(), 30, "wg show on n2 to drop n3")
    b.ok("click", sel="#tab-nodes")


def edges(t):
    return sorted((e["source"], e["target"])
                  for e in t.server.wmctl_json("get", "graph").get("edges", []))


def test_a_user_rbac_denies_cannot_read_or_write(mesh):
    t, b = mesh, mesh.browser
    before = edges(t)
    b.ok("click", sel="#logout")
    # Signed in as a user without role bindings: reads and writes that RBAC
    # guards are refused, and the mesh stays as it was.
    login(b, "viewer", VIEWER_PW)
    b.ok("wait", sel="#error", text="may not get nodes", timeout=scaled(10) * 1000)
    b.ok("click", sel="#tab-access")
    b.ok("wait", sel="#roles", text="may not get roles", timeout=scaled(10) * 1000)
    b.ok("wait", sel="#bindings", text="may not get rolebindings", timeout=scaled(10) * 1000)
    b.ok("click", sel="#tab-graph")
    b.ok("fill", sel="#edge-source", value="n2")
    b.ok("fill", sel="#edge-target", value="s1")
    b.ok("click", sel="#edge-delete")
    b.ok("wait", sel="#edge-msg", text="may not delete edges", timeout=scaled(10) * 1000)
    b.ok("fill", sel="#edge-source", value="n2")
    b.ok("fill", sel="#edge-target", value="n3")
    b.ok("fill", sel="#edge-weight", value="5")
    b.ok("click", sel="#edge-put")
    b.ok("wait", sel="#edge-msg", text="may not put edges", timeout=scaled(10) * 1000)
    assert edges(t) == before


def grpc_web(t, path, origin=None, auth=("admin", ADMIN_PW), text=False):
    """One gRPC-web call with curl (HTTP/2 over TLS) from the client
    namespace: (HTTP status, body bytes). The request (an empty message)
    is a file, so curl sends it with the headers as a browser's fetch does."""
    req = t.dir / "empty-request"
    req.write_bytes(base64.b64encode(b"\x00" * 5) if text else b"\x00" * 5)
    ctype = "application/grpc-web-text" if text else "application/grpc-web+proto"
    cmd = ["ip", "netns", "exec", t.client, "curl", "-sk", "--http2", "-o", "-",
           "-w", "\n%{http_code}", "-H", f"content-type: {ctype}",
           "--data-binary", f"@{req}", f"https://{t.server.underlay}:{API_PORT}{path}"]
    if origin:
        cmd[5:5] = ["-H", f"origin: {origin}"]
    if auth:
        cmd[5:5] = ["-u", f"{auth[0]}:{auth[1]}"]
    p = subprocess.run(cmd, capture_output=True, timeout=30)
    body, _, code = p.stdout.rpartition(b"\n")
    return code.decode(), body


def test_grpc_web_is_same_origin_and_authenticated(mesh):
    t = mesh
    code, body = grpc_web(t, "/webmesh.v1.Mesh/ListNodes")
    assert code == "200" and b"grpc-status:0" in body and b"n4" in body
    code, body = grpc_web(t, "/webmesh.v1.Mesh/ListNodes",
                          origin=f"https://{t.server.underlay}:{API_PORT}")
    assert b"grpc-status:0" in body
    # Another site's page may not use the browser's credentials for us.
    code, body = grpc_web(t, "/webmesh.v1.Mesh/ListNodes", origin="https://evil.example")
    assert b"grpc-status:7" in body and b"n4" not in body
    # Text mode: the body base64'd, each frame of the answer base64'd on its own.
    code, body = grpc_web(t, "/webmesh.v1.Mesh/ListNodes", text=True)
    assert len(body) % 4 == 0
    plain = b"".join(base64.b64decode(body[i:i + 4]) for i in range(0, len(body), 4))
    assert b"n4" in plain and b"grpc-status:0" in plain
    # The console's files: the page, and no path outside the console.
    p = run(["ip", "netns", "exec", t.client, "curl", "-sk", "--http2", "-o", "/dev/null",
             "-w", "%{http_code}", f"https://{t.server.underlay}:{API_PORT}/"])
    assert p.stdout == "200"
    for bad in ("/../../etc/passwd", "/.hidden", "/%2e%2e/etc/passwd", "/nope.js"):
        p = run(["ip", "netns", "exec", t.client, "curl", "-sk", "--http2", "--path-as-is",
                 "-o", "/dev/null", "-w", "%{http_code}",
                 f"https://{t.server.underlay}:{API_PORT}{bad}"])
        assert p.stdout == "404", bad


def test_wrong_credentials_read_and_write_nothing(mesh):
    """Last: failed logins make the server back off for a while (then the
    answer is RESOURCE_EXHAUSTED instead of UNAUTHENTICATED, still nothing)."""
    t, b = mesh, mesh.browser
    before = edges(t)
    b.ok("click", sel="#logout")
    login(b, "admin", "not-the-password")
    why = wait_until(lambda: b.ok("text", sel="#login-why")["text"], 10,
                     "the login form to say why")
    assert "refused" in why or "too many" in why, why
    assert not b.ok("eval", expr="document.querySelector('#login').hidden")["value"]
    assert b.ok("eval", expr="document.querySelectorAll('#nodes-rows tr').length")["value"] == 0
    code, body = grpc_web(t, "/webmesh.v1.Mesh/ListNodes", auth=("admin", "wrong"))
    assert (b"grpc-status:16" in body or b"grpc-status:8" in body) and b"n4" not in body
    code, body = grpc_web(t, "/webmesh.v1.Admin/DeleteEdge", auth=("admin", "wrong"))
    assert b"grpc-status:16" in body or b"grpc-status:8" in body
    assert edges(t) == before


def test_loopback_console_opens_with_a_token_and_not_without(mesh):
    """On the node itself: `wmctl console` gives a one-time URL of the HTTP
    listener; the page opens without a login (the session is the local
    administrator's) and lists the mesh through gRPC-web on that listener;
    without the token the page is refused."""
    t = mesh
    s1 = t.server
    b = Browser(s1.ns)
    try:
        r = b.do("open", url="http://127.0.0.1:8080/")
        assert r["ok"]
        assert "401" in b.ok("eval", expr="document.title + document.body.innerText")["value"] \
            or b.ok("eval", expr="!document.querySelector('#nodes-rows')")["value"]
        url = s1.wmctl("console").stdout.strip()
        assert url.startswith("http://127.0.0.1:8080/?token="), url
        b.ok("open", url=url)
        for n in ("s1", "n2", "n3"):
            b.ok("wait", sel="#nodes-rows", text=n, timeout=scaled(15) * 1000)
        assert b.ok("eval", expr="document.querySelector('#login').hidden")["value"] is True
        # the token left the address bar (a redirect without it)
        assert "token=" not in b.ok("eval", expr="location.href")["value"]
        b.ok("wait", sel="#live", text="live", timeout=scaled(10) * 1000)
        b.ok("screenshot", path=str(SHOTS / "loopback-nodes.png"))
    finally:
        b.close()
