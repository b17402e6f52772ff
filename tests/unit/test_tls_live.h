/* Helpers for tests that serve gRPC over TLS on loopback (include after cmocka.h). */
#ifndef WM_TEST_TLS_LIVE_H
#define WM_TEST_TLS_LIVE_H

#include <stdint.h>
#include <stdio.h>

#include "rpc/rpc.h"
#include "rpc/tls.h"

/* srv listens with TLS on 127.0.0.1 (a free port, returned), with a
 * self-signed certificate for name made in dir. */
static inline uint16_t test_tls_listen(struct wm_rpc_server *srv, const char *dir, const char *name)
{
	char cert[256], key[256], err[256];

	snprintf(cert, sizeof(cert), "%s/%s-api.crt", dir, name);
	snprintf(key, sizeof(key), "%s/%s-api.key", dir, name);
	assert_int_equal(wm_tls_ensure_self_signed(cert, key, name, NULL, 0, err, sizeof(err)), 0);
	struct wm_tls_server_opts so = {.cert_file = cert, .key_file = key};
	SSL_CTX *ctx = wm_tls_server_ctx_new(&so, err, sizeof(err));
	assert_non_null(ctx);
	assert_int_equal(wm_rpc_server_listen_tcp(srv, "127.0.0.1", 0, ctx), 0);
	SSL_CTX_free(ctx);
	int port = wm_rpc_server_port(srv);
	assert_true(port > 0);
	return (uint16_t)port;
}

/* A TLS client of 127.0.0.1:port that accepts any server certificate. */
static inline struct wm_rpc_client *test_tls_client(uv_loop_t *loop, uint16_t port)
{
	struct wm_tls_client_opts co = {.insecure_skip_verify = true};
	struct wm_rpc_client *c;
	char err[256];

	SSL_CTX *ctx = wm_tls_client_ctx_new(&co, err, sizeof(err));
	assert_non_null(ctx);
	struct wm_rpc_client_config cc = {.host = "127.0.0.1", .port = port, .tls = ctx};
	assert_int_equal(wm_rpc_client_new(loop, &cc, &c), 0);
	SSL_CTX_free(ctx);
	return c;
}

#endif
