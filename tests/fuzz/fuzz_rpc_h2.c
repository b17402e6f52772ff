/* libFuzzer harness for the server side of the RPC layer: arbitrary bytes
 * after the HTTP/2 client preface go into a real server connection (conn.c,
 * nghttp2 with the server's callbacks, call dispatch, handlers answering at
 * once, streaming, or holding the call until it is cancelled), with request
 * byte budgets small enough to be filled.
 *
 * Build and run (not part of the default build):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -DWM_VERSION='"fuzz"' -Isrc tests/fuzz/fuzz_rpc_h2.c \
 *     src/rpc/server.c src/rpc/server_call.c src/rpc/conn.c src/rpc/frame.c \
 *     src/rpc/status.c $(pkg-config --cflags --libs libnghttp2 libuv openssl) \
 *     -o fuzz_rpc_h2
 *   ./fuzz_rpc_h2 -max_len=65536 -max_total_time=300
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc/server_int.h"

static uv_loop_t *loop;
static struct wm_rpc_server *srv;

static void unary_cb(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)data;
	wm_rpc_call_send(call, req, len);
	wm_rpc_call_metadata(call, "x-test");
	wm_rpc_call_finish(call, WM_GRPC_OK, "done");
}

static void stream_cb(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)data;
	for (size_t i = 0; i < 4; i++)
		wm_rpc_call_send(call, req, len);
	wm_rpc_call_finish(call, WM_GRPC_INTERNAL, "failed: 100%");
}

static void cancel_cb(struct wm_rpc_call *call, void *data)
{
	(void)data;
	wm_rpc_call_finish(call, WM_GRPC_CANCELLED, NULL);
}

static void hold_cb(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	(void)data;
	wm_rpc_call_set_cancel_cb(call, cancel_cb, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	struct wm_rpc_server_config cfg = {.max_message_size = 4096, .max_concurrent_streams = 8};
	if (wm_rpc_server_new(loop, &cfg, &srv))
		abort();
	/* Budgets small enough for a fuzz input to fill (below what the public
	 * configuration allows): announced lengths, metadata and refusals. */
	srv->max_buffered_conn = 8192;
	srv->max_buffered = 12288;
	const struct wm_rpc_method m[] = {
		{"/a.B/U", false, unary_cb, NULL},
		{"/a.B/S", true, stream_cb, NULL},
		{"/a.B/H", true, hold_cb, NULL},
	};
	for (size_t i = 0; i < 3; i++)
		wm_rpc_server_register(srv, &m[i]);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char magic[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	int sv[2];
	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	int big = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (wm_rpc_server_adopt_fd(srv, sv[0]) < 0) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	/* The preface first, unless the input starts with 0xff (then raw bytes). */
	if (size && data[0] == 0xff) {
		data++;
		size--;
	} else if (write(sv[1], magic, sizeof(magic) - 1) < 0) {
		abort();
	}
	for (size_t off = 0; off < size;) {
		ssize_t n = write(sv[1], data + off, size - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(sv[1], SHUT_WR);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	/* Run until the server has dropped the connection, draining what it wrote
	 * so its writes never block; bounded in loop turns. */
	char buf[65536];
	for (int i = 0; srv->n_conns > 0 && i < 100000; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		while (read(sv[1], buf, sizeof(buf)) > 0)
			;
	}
	if (srv->n_conns > 0)
		abort(); /* a connection that never ends after EOF is a bug */
	close(sv[1]);
	uv_run(loop, UV_RUN_NOWAIT); /* close callbacks of per-call timers */
	return 0;
}
