"""Attacks on the browser-facing half of the TLS API port (gRPC-web and the
console's files, docs/SECURITY.md section 1): forwarding headers in any
order, Origin variants, base64 text-mode edge cases, paths out of the
console directory (encoded, doubled, backslashes, symlinks, huge), other
methods, and the headers a browser-facing answer needs. One server with
basic authentication, called with curl --http2 from a client namespace."""

import base64
import importlib
import os
import shutil
import subprocess

import pytest

from wmtest import API_PORT, BUILD_DIR, topology

CONSOLE = BUILD_DIR / "console"
ADMIN_PW = "Adm1n-trust-pw"


@pytest.fixture(scope="module")
def srv():
    assert (CONSOLE / "index.html").is_file(), "make build builds the console into build/console"
    crypt = importlib.import_module("crypt")
    with topology() as t:
        hp = t.dir / "htpasswd"
        hp.write_text(f"admin:{crypt.crypt(ADMIN_PW, crypt.mksalt(crypt.METHOD_SHA512))}\n")
        hp.chmod(0o600)
        # A console directory of our own, holding symlinks that point out of
        # it: a file and a directory.
        web = t.dir / "console"
        shutil.copytree(CONSOLE, web)
        secret = t.dir / "outside"
        secret.mkdir()
        (secret / "secret.txt").write_text("outside the console\n")
        os.symlink(secret / "secret.txt", web / "leak.txt")
        os.symlink(secret, web / "out")
        (web / "big.js").write_bytes(b"A" * (2 << 20))
        s1 = t.bootstrap("s1", "--basic-auth-file", str(hp), "--console-dir", str(web))
        s1.wmctl("put", "rolebindings", "trust-admin", "--role", "mesh-admin",
                 "--subject", "user:admin")
        t.client = t.add_client()
        t.base = f"https://{s1.underlay}:{API_PORT}"
        yield t


def curl(t, *args, timeout=30):
    """curl --http2 in the client namespace: (HTTP status, headers, body)."""
    hdr = t.dir / "curl-headers"
    cmd = ["ip", "netns", "exec", t.client, "curl", "-sk", "--http2", "--path-as-is",
           "-D", str(hdr), "-o", "-", "-w", "\n%{http_code}", *args]
    p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    body, _, code = p.stdout.rpartition(b"\n")
    headers = hdr.read_text(errors="replace").lower() if hdr.exists() else ""
    return code.decode(), headers, body


def web_call(t, path, body=b"\x00" * 5, headers=(), auth=True,
             ctype="application/grpc-web+proto"):
    """A gRPC-web POST; headers are sent in the order given, content-type
    where the list puts it (or last)."""
    req = t.dir / "web-request"
    req.write_bytes(body)
    hs = list(headers)
    if not any(h.lower().startswith("content-type:") for h in hs):
        hs.append(f"content-type: {ctype}")
    args = []
    for h in hs:
        args += ["-H", h]
    if auth:
        args += ["-u", f"admin:{ADMIN_PW}"]
    return curl(t, *args, "--data-binary", f"@{req}", t.base + path)


def test_forwarding_headers_are_refused_in_any_order(srv):
    # content-type after the forwarding header: the rule must not depend on
    # the order the client picked.
    for hs in (["x-webmesh-proxied-for: user:admin"],
               ["x-webmesh-proxied-for: user:admin", "content-type: application/grpc-web+proto"],
               ["x-webmesh-proxied-from: s1", "content-type: application/grpc-web+proto"],
               ["content-type: application/grpc-web+proto", "x-webmesh-proxied-from: s1"]):
        code, _, body = web_call(srv, "/webmesh.v1.Mesh/ListNodes", headers=hs)
        assert code == "200", hs
        assert b"grpc-status:7" in body, (hs, body)
        assert b"may not carry x-webmesh-proxied" in body, (hs, body)
        assert b"s1" not in body.split(b"grpc-status")[0], hs


def test_only_this_very_origin_passes(srv):
    t = srv
    code, _, body = web_call(t, "/webmesh.v1.Mesh/ListNodes",
                             headers=[f"origin: {t.base}"])
    assert b"grpc-status:0" in body and b"s1" in body
    host = t.base[len("https://"):]
    for origin in ("null", "https://evil.example", t.base.upper(),
                   "HTTPS://" + host, "http://" + host, "https://" + host.split(":")[0],
                   t.base + ".evil.example", t.base + "/", t.base + ":1",
                   "https://evil.example@" + host):
        code, _, body = web_call(t, "/webmesh.v1.Mesh/ListNodes", headers=[f"origin: {origin}"])
        assert b"grpc-status:7" in body, origin
        assert b"s1" not in body.split(b"grpc-status")[0], origin


def test_unauthenticated_and_bad_text_mode_bodies_get_nothing(srv):
    t = srv
    code, _, body = web_call(t, "/webmesh.v1.Mesh/ListNodes", auth=False)
    assert b"grpc-status:16" in body and b"s1" not in body
    text = "application/grpc-web-text"
    good = base64.b64encode(b"\x00" * 5)
    # Padded chunks one after the other are valid (a client encoding each
    # chunk on its own).
    code, _, body = web_call(t, "/webmesh.v1.Mesh/ListNodes", ctype=text,
                             body=base64.b64encode(b"\x00\x00") + base64.b64encode(b"\x00" * 3))
    plain = b"".join(base64.b64decode(body[i:i + 4]) for i in range(0, len(body), 4))
    assert b"grpc-status:0" in plain and b"s1" in plain
    for bad in (good + b"\n", b" " + good, good[:-1], b"====" + good, b"AA=A" + good,
                base64.b64encode(b"\x01" + b"\x00" * 4), b"%%%%"):
        code, _, body = web_call(t, "/webmesh.v1.Mesh/ListNodes", ctype=text, body=bad)
        plain = b"".join(base64.b64decode(body[i:i + 4]) for i in range(0, len(body), 4))
        assert b"grpc-status:0" not in plain and b"s1" not in plain, bad
    # A message over the limit (4 MiB) is refused, not buffered.
    big = b"\x00" + (5 << 20).to_bytes(4, "big") + b"\x00" * 1024
    code, _, body = web_call(t, "/webmesh.v1.Mesh/ListNodes", body=big)
    assert b"grpc-status:8" in body


def test_console_files_stay_inside_the_console_dir(srv):
    t = srv
    code, headers, body = curl(t, t.base + "/")
    assert code == "200" and b"<" in body
    for h in ("content-security-policy: default-src 'self'", "x-content-type-options: nosniff",
              "x-frame-options: deny", "referrer-policy: no-referrer"):
        assert h in headers, h
    bad = ["/leak.txt", "/out/secret.txt", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd",
           "//etc/passwd", "/.%2e/etc/passwd", "/..\\..\\etc\\passwd", "/index.html/",
           "/index.html%00.js", "/" + "a" * 8000, "/./index.html", "/%69ndex.html"]
    for path in bad:
        code, headers, body = curl(t, t.base + path)
        assert code in ("404", "400", "431"), path
        assert b"outside the console" not in body and b"root:" not in body, path
    # Other methods get no file.
    for method in ("HEAD", "PUT", "DELETE", "OPTIONS"):
        how = ["-I"] if method == "HEAD" else ["-X", method]
        code, headers, body = curl(t, *how, t.base + "/index.html", timeout=15)
        assert code == "405", method
        assert "access-control-allow-origin" not in headers, method


# A minimal HTTP/2 client (no h2 module on the test machine): it opens many
# GET streams with a 100-byte window and never reads further, then prints
# the first DATA of each stream as JSON. HPACK literals only, no Huffman.
SLOW_READER = r"""
import json, socket, ssl, struct, sys, time
host, port, path, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["h2"])
s = ctx.wrap_socket(socket.create_connection((host, port), timeout=10))
assert s.selected_alpn_protocol() == "h2"
def frame(t, f, sid, p):
    return struct.pack(">I", len(p))[1:] + bytes([t, f]) + struct.pack(">I", sid) + p
def lit(idx, v):
    v = v.encode()
    return bytes([idx, len(v)]) + v
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
          frame(4, 0, 0, struct.pack(">HI", 4, 100)) + frame(4, 1, 0, b""))
auth = f"{host}:{port}"
for i in range(n):
    block = b"\x82\x87" + lit(4, path) + lit(1, auth)
    s.sendall(frame(1, 5, 1 + 2 * i, block))
data, buf, end = {}, b"", time.monotonic() + 5
while time.monotonic() < end and len(data) < n:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    buf += chunk
    while len(buf) >= 9:
        ln = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + ln:
            break
        t, sid, p = buf[3], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + ln]
        buf = buf[9 + ln:]
        if t == 0 and sid and sid not in data:
            data[sid] = p[:40].decode("latin-1")
print(json.dumps(data))
"""


def test_a_reader_that_reads_nothing_holds_a_bounded_amount(srv):
    """Many GETs of a 2 MiB file on one connection that never opens its
    window: the copies waiting in memory count on the connection's byte
    budget, so beyond it the answer is 503, not another copy."""
    import json
    t = srv
    script = t.dir / "slow_reader.py"
    script.write_text(SLOW_READER)
    host, port = t.base[len("https://"):].rsplit(":", 1)
    p = subprocess.run(["ip", "netns", "exec", t.client, "/usr/bin/python3", str(script), host,
                        port, "/big.js", "40"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    first = json.loads(p.stdout)
    served = [v for v in first.values() if v.startswith("AAAA")]
    busy = [v for v in first.values() if v.startswith("server busy")]
    assert served, first
    assert busy and len(served) + len(busy) == 40, first
    assert len(served) <= 10, len(served)
    # Once that connection is gone its budget is back.
    code, _, body = curl(t, t.base + "/big.js")
    assert code == "200" and len(body) == 2 << 20


def test_grpc_web_answers_are_not_sniffed(srv):
    code, headers, body = web_call(srv, "/webmesh.v1.Mesh/ListNodes")
    assert b"grpc-status:0" in body
    assert "x-content-type-options: nosniff" in headers
    assert "access-control-allow-origin" not in headers
    # Credentials never come back in an answer.
    assert ADMIN_PW.encode() not in body
