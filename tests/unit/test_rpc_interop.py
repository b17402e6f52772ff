#!/usr/bin/python3
"""Interoperability of the RPC layer with independent HTTP/2 and gRPC stacks.

Starts tests/unit/rpc_echo_server (path in argv[1]) and drives it with
python3-grpcio over the unix socket (cleartext, prior knowledge) and over TLS
with the server's self-signed certificate as root, then sends hand-made
requests with curl (HTTP/2 prior knowledge) for what grpcio never sends.
Prints "N passed, N failed" and exits non-zero on any failure.
"""
import gzip
import os
import select
import signal
import subprocess
import sys
import tempfile

import grpc

RESULTS = {"passed": 0, "failed": 0}


def check(name, cond, detail=""):
    if cond:
        RESULTS["passed"] += 1
        print(f"ok   {name}")
    else:
        RESULTS["failed"] += 1
        print(f"FAIL {name} {detail}")


def ident(x):
    return x


def unary(ch, method):
    return ch.unary_unary(method, request_serializer=ident, response_deserializer=ident)


def stream(ch, method):
    return ch.unary_stream(method, request_serializer=ident, response_deserializer=ident)


def status_of(fn):
    try:
        fn()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def grpc_checks(label, ch):
    r = unary(ch, "/echo.Echo/Unary")(b"hello", timeout=10)
    check(f"{label}: unary echo", r == b"hello", repr(r))
    r = unary(ch, "/echo.Echo/Unary")(b"", timeout=10)
    check(f"{label}: empty message", r == b"", repr(r))
    big = bytes(i % 251 for i in range(900 * 1024))
    r = unary(ch, "/echo.Echo/Unary")(big, timeout=30)
    check(f"{label}: 900 KiB echo (flow control)", r == big, len(r))

    msgs = list(stream(ch, "/echo.Echo/Stream")(b"5", timeout=10))
    check(f"{label}: server stream", msgs == [b"msg-%d" % i for i in range(5)], msgs)
    msgs = list(stream(ch, "/echo.Echo/Stream")(b"3000", timeout=30))
    check(f"{label}: server stream of 3000", len(msgs) == 3000 and msgs[-1] == b"msg-2999")
    it = stream(ch, "/echo.Echo/Stream")(b"100000", timeout=30)
    first = next(it)
    it.cancel()
    check(f"{label}: client cancels a stream", first == b"msg-0")

    code, _ = status_of(lambda: unary(ch, "/echo.Echo/Nope")(b"x", timeout=10))
    check(f"{label}: unknown method", code == grpc.StatusCode.UNIMPLEMENTED, code)
    code, det = status_of(lambda: unary(ch, "/echo.Echo/Unary")(b"\0" * (2 << 20), timeout=30))
    check(f"{label}: oversized request", code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, det))
    code, det = status_of(lambda: unary(ch, "/echo.Echo/Fail")(b"", timeout=10))
    check(f"{label}: status and percent-encoded message",
          code == grpc.StatusCode.INVALID_ARGUMENT and det == "bad thing: 100% wrong \u2717",
          (code, det))
    r = unary(ch, "/echo.Echo/Meta")(b"", timeout=5, metadata=(("x-test", "v 1"),))
    text = r.decode()
    rem = int(text.split("rem=")[1])
    check(f"{label}: metadata and grpc-timeout", "x-test=v 1" in text and 3000 < rem <= 6000,
          text)
    code, _ = status_of(lambda: unary(ch, "/echo.Echo/Hold")(b"", timeout=0.2))
    check(f"{label}: deadline", code == grpc.StatusCode.DEADLINE_EXCEEDED, code)
    # A really compressed request (grpc-encoding: gzip, the message's
    # compressed flag set, gzip bytes): refused for the encoding, by name.
    code, det = status_of(lambda: unary(ch, "/echo.Echo/Unary")(
        b"\0" * 65536, timeout=10, compression=grpc.Compression.Gzip))
    check(f"{label}: gzip-compressed request refused",
          code == grpc.StatusCode.UNIMPLEMENTED and
          det == "message compression is not supported (grpc-encoding must be identity)",
          (code, det))
    r = unary(ch, "/echo.Echo/Unary")(b"after", timeout=10)
    check(f"{label}: still serving", r == b"after")


def curl(sock, path, body, headers=()):
    """One hand-made HTTP/2 request; returns the verbose output (headers and trailers).

    body None sends the request as one HEADERS frame with END_STREAM. Requests
    refused from their headers are sent that way: the server answers a request
    still open with trailers and then RST_STREAM(NO_ERROR) (RFC 9113 8.1, as
    grpc-go and grpc-core do), and curl 7.88 drops a response followed by that.
    """
    cmd = ["curl", "-sS", "-v", "--http2-prior-knowledge", "--unix-socket", sock,
           "--max-time", "20", "-o", "/dev/null", "-X", "POST", "-H", "te: trailers"]
    if body is not None:
        cmd += ["--data-binary", "@-"]
    for h in headers:
        cmd += ["-H", h]
    cmd.append("http://localhost" + path)
    p = subprocess.run(cmd, input=body or b"", capture_output=True, timeout=30)
    return p.stderr.decode(errors="replace")


def frame(payload, flags=0):
    return bytes([flags]) + len(payload).to_bytes(4, "big") + payload


def curl_checks(sock):
    grpc_ct = "content-type: application/grpc"
    out = curl(sock, "/echo.Echo/Unary", frame(b"hi"), [grpc_ct])
    check("curl: unary answered with grpc-status 0", "< grpc-status: 0" in out, out)
    # A gzip message with the compressed flag and no grpc-encoding: refused
    # by the framing, not by a header rule (grpc_checks sends gzip with the
    # header, which curl cannot: see curl()).
    out = curl(sock, "/echo.Echo/Unary", frame(gzip.compress(b"hi"), flags=1), [grpc_ct])
    check("curl: compressed flag refused",
          "< grpc-status: 12" in out and
          "< grpc-message: compressed messages are not supported" in out, out)
    out = curl(sock, "/echo.Echo/Unary", None, ["content-type: application/json"])
    check("curl: wrong content-type gets 415", "< HTTP/2 415" in out, out)
    out = curl(sock, "/echo.Echo/Unary", frame(b"hi"), ["content-type: application/grpc+proto"])
    check("curl: application/grpc+proto accepted", "< grpc-status: 0" in out, out)
    out = curl(sock, "/echo.Echo/Unary", frame(b"hi")[:4], [grpc_ct])
    check("curl: truncated message", "< grpc-status: 13" in out, out)
    out = curl(sock, "/echo.Echo/Unary", frame(b"a") + frame(b"b"), [grpc_ct])
    check("curl: two messages on a unary call", "< grpc-status: 12" in out, out)
    out = curl(sock, "/echo.Echo/Unary", None, [grpc_ct, "grpc-timeout: 1x"])
    check("curl: malformed grpc-timeout", "< grpc-status: 3" in out, out)
    out = curl(sock, "/echo.Nope/X", None, [grpc_ct])
    check("curl: unknown method, trailers-only", "< grpc-status: 12" in out, out)
    out = curl(sock, "/echo.Echo/Unary", None, [grpc_ct])
    check("curl: no request message", "< grpc-status: 12" in out, out)
    # curl has no deadline of its own: DEADLINE_EXCEEDED can only come from the server.
    for unit, value in (("m", "150"), ("u", "150000"), ("n", "99000000"), ("S", "1")):
        out = curl(sock, "/echo.Echo/Hold", frame(b""), [grpc_ct, f"grpc-timeout: {value}{unit}"])
        check(f"curl: server enforces grpc-timeout {value}{unit}", "< grpc-status: 4" in out, out)


def main():
    server = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="wm-rpc-interop-") as d:
        p = subprocess.Popen([server, d, str(1 << 20)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            ready, _, _ = select.select([p.stdout], [], [], 30)
            line = p.stdout.readline() if ready else ""
            if not line.startswith("ready port="):
                check("server starts", False, line)
                return
            port = int(line.split("=")[1])
            with open(os.path.join(d, "tls.crt"), "rb") as f:
                pem = f.read()
            sock = os.path.join(d, "echo.sock")
            with grpc.insecure_channel("unix:" + sock) as ch:
                grpc_checks("unix", ch)
            creds = grpc.ssl_channel_credentials(root_certificates=pem)
            opts = [("grpc.ssl_target_name_override", "echo-server")]
            with grpc.secure_channel(f"127.0.0.1:{port}", creds, options=opts) as ch:
                grpc_checks("tls", ch)
            with grpc.secure_channel(f"localhost:{port}", creds, options=[
                    ("grpc.ssl_target_name_override", "wrong-name")]) as ch:
                code, _ = status_of(lambda: unary(ch, "/echo.Echo/Unary")(b"x", timeout=10))
                check("tls: wrong server name refused", code == grpc.StatusCode.UNAVAILABLE, code)
            if subprocess.run(["which", "curl"], capture_output=True).returncode == 0:
                curl_checks(sock)
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                _, err = p.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
            check("server exits cleanly on SIGTERM", p.returncode == 0, (p.returncode, err))
            check("server saw the deadline cancel its handler",
                  "cancelled /echo.Echo/Hold" in err, err)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")


if __name__ == "__main__":
    main()
    sys.exit(1 if RESULTS["failed"] else 0)
