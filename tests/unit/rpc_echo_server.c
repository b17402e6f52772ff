/* A small gRPC echo server on the RPC layer, for interoperability tests with
 * other gRPC implementations (tests/unit/test_rpc_interop.py drives it with
 * python3-grpcio).
 *
 * usage: rpc_echo_server DIR [MAX_MESSAGE]
 * Makes DIR/tls.crt + DIR/tls.key (self-signed, CN "echo-server", IP
 * 127.0.0.1), listens on 127.0.0.1:0 with TLS and on DIR/echo.sock, prints
 * "ready port=PORT" on stdout and serves until SIGTERM or SIGINT. Cancelled
 * calls are reported on stderr as "cancelled PATH". */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"
#include "rpc/tls.h"

static void unary_cb(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)data;
	wm_rpc_call_send(call, req, len);
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static void stream_cb(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)data;
	char buf[32];
	snprintf(buf, sizeof(buf), "%.*s", (int)(len < 31 ? len : 31), (const char *)req);
	int n = atoi(buf);
	for (int i = 0; i < n; i++) {
		int k = snprintf(buf, sizeof(buf), "msg-%d", i);
		if (wm_rpc_call_send(call, (const uint8_t *)buf, (size_t)k))
			break;
	}
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static void fail_cb(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	(void)data;
	wm_rpc_call_finish(call, WM_GRPC_INVALID_ARGUMENT, "bad thing: 100% wrong \xe2\x9c\x97");
}

static void meta_cb(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	(void)data;
	char buf[512];
	const char *v = wm_rpc_call_metadata(call, "x-test");
	int n = snprintf(buf, sizeof(buf), "x-test=%s local=%d rem=%lld", v ? v : "",
			 wm_rpc_call_is_local(call), (long long)wm_rpc_call_remaining_ms(call));
	wm_rpc_call_send(call, (const uint8_t *)buf, (size_t)n);
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static void hold_cancel_cb(struct wm_rpc_call *call, void *data)
{
	(void)data;
	fprintf(stderr, "cancelled %s\n", wm_rpc_call_path(call));
	wm_rpc_call_finish(call, WM_GRPC_CANCELLED, NULL);
}

static void hold_cb(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	(void)data;
	wm_rpc_call_set_cancel_cb(call, hold_cancel_cb, NULL);
}

static struct wm_rpc_server *srv;
static bool done;

static void done_cb(void *data)
{
	(void)data;
	done = true;
}

static void signal_cb(uv_signal_t *s, int signum)
{
	(void)signum;
	uv_close((uv_handle_t *)s, NULL);
	wm_rpc_server_shutdown(srv, 2000, done_cb, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [MAX_MESSAGE]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	char cert[512], key[512], sock[512], err[256];
	snprintf(cert, sizeof(cert), "%s/tls.crt", argv[1]);
	snprintf(key, sizeof(key), "%s/tls.key", argv[1]);
	snprintf(sock, sizeof(sock), "%s/echo.sock", argv[1]);
	const char *ips[] = {"127.0.0.1"};
	if (wm_tls_ensure_self_signed(cert, key, "echo-server", ips, 1, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct wm_tls_server_opts so = {.cert_file = cert, .key_file = key};
	SSL_CTX *tls = wm_tls_server_ctx_new(&so, err, sizeof(err));
	if (!tls) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	uv_loop_t *loop = uv_default_loop();
	struct wm_rpc_server_config cfg = {.max_message_size =
						   argc > 2 ? strtoul(argv[2], NULL, 10) : 0};
	wm_rpc_server_new(loop, &cfg, &srv);
	const struct wm_rpc_method methods[] = {
		{"/echo.Echo/Unary", false, unary_cb, NULL},
		{"/echo.Echo/Stream", true, stream_cb, NULL},
		{"/echo.Echo/Fail", false, fail_cb, NULL},
		{"/echo.Echo/Meta", false, meta_cb, NULL},
		{"/echo.Echo/Hold", false, hold_cb, NULL},
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		wm_rpc_server_register(srv, &methods[i]);
	int rv = wm_rpc_server_listen_tcp(srv, "127.0.0.1", 0, tls);
	if (!rv)
		rv = wm_rpc_server_listen_unix(srv, sock, 0600);
	if (rv) {
		fprintf(stderr, "listen: %s\n", uv_strerror(rv));
		return 1;
	}
	uv_signal_t sigterm, sigint;
	uv_signal_init(loop, &sigterm);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigterm, signal_cb, SIGTERM);
	uv_signal_start(&sigint, signal_cb, SIGINT);
	printf("ready port=%d\n", wm_rpc_server_port(srv));
	fflush(stdout);
	while (!done && uv_run(loop, UV_RUN_ONCE))
		;
	if (!uv_is_closing((uv_handle_t *)&sigterm))
		uv_close((uv_handle_t *)&sigterm, NULL);
	if (!uv_is_closing((uv_handle_t *)&sigint))
		uv_close((uv_handle_t *)&sigint, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	wm_rpc_server_free(srv);
	SSL_CTX_free(tls);
	return uv_loop_close(loop) == 0 ? 0 : 1;
}
