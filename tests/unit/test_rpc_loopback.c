/* Loopback tests of the RPC layer: server and client on one libuv loop, over
 * 127.0.0.1 with TLS and over a unix socket. No sleeps: everything is driven
 * by running the loop until a flag is set. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rpc/rpc.h"
#include "rpc/tls.h"

#define BIG (3u * 1024 * 1024)

struct fx {
	uv_loop_t loop;
	char dir[64], cert[96], key[96], ccert[96], ckey[96], sock[96];
	char fp[WM_FINGERPRINT_LEN], cfp[WM_FINGERPRINT_LEN];
	SSL_CTX *srv_tls;
	struct wm_rpc_server *srv;
	int port;
	bool srv_done;
	struct wm_rpc_call *held;
	int held_calls, held_cancelled;
	int64_t held_remaining;
	int flood_sent, flood_err;
};

struct result {
	bool done;
	int status;
	char msg[256];
	size_t msg_len;
	uint8_t *resp;
	size_t len;
	int n_msgs, cancel_after;
	char msgs[8][32];
};

/* ------------------------------------------------------------ handlers */

static void unary_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)data;
	if (len == 4 && memcmp(req, "long", 4) == 0) {
		char *m = malloc(20001);
		memset(m, 'e', 20000);
		m[20000] = 0;
		wm_rpc_call_finish(call, WM_GRPC_INTERNAL, m);
		free(m);
		return;
	}
	if (len == 4 && memcmp(req, "fail", 4) == 0) {
		wm_rpc_call_finish(call, WM_GRPC_INVALID_ARGUMENT,
				   "bad thing: 100% wrong \xe2\x9c\x97\n");
		return;
	}
	assert_int_equal(wm_rpc_call_send(call, req, len), 0);
	assert_int_equal(wm_rpc_call_send(call, req, len), -EINVAL); /* unary: one only */
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static void stream_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)data;
	char buf[32];
	snprintf(buf, sizeof(buf), "%.*s", (int)len, (const char *)req);
	int n = atoi(buf);
	size_t size = strchr(buf, 'x') ? 65536 : 0;
	uint8_t *big = size ? calloc(1, size) : NULL;
	for (int i = 0; i < n; i++) {
		int k = snprintf(buf, sizeof(buf), "msg-%d", i);
		if (big)
			memcpy(big, buf, (size_t)k + 1);
		int rv = big ? wm_rpc_call_send(call, big, size)
			     : wm_rpc_call_send(call, (const uint8_t *)buf, (size_t)k);
		assert_int_equal(rv, 0);
	}
	free(big);
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static void meta_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	(void)data;
	char buf[512], fp[WM_FINGERPRINT_LEN] = "none";
	const char *v = wm_rpc_call_metadata(call, "x-test");
	X509 *cert = wm_rpc_call_peer_cert(call);
	if (cert)
		wm_tls_cert_fingerprint(cert, fp);
	const char *own = wm_rpc_call_server_fingerprint(call);
	int n = snprintf(buf, sizeof(buf),
			 "x-test=%s local=%d peer=%s path=%s cert=%s rem=%lld own=%s",
			 v ? v : "(none)", wm_rpc_call_is_local(call), wm_rpc_call_peer(call),
			 wm_rpc_call_path(call), fp, (long long)wm_rpc_call_remaining_ms(call),
			 own ? own : "none");
	wm_rpc_call_send(call, (const uint8_t *)buf, (size_t)n);
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

struct later {
	uv_timer_t t;
	struct wm_rpc_call *call;
};

static void later_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void later_cb(uv_timer_t *t)
{
	struct later *l = t->data;
	wm_rpc_call_send(l->call, (const uint8_t *)"later", 5);
	wm_rpc_call_finish(l->call, WM_GRPC_OK, NULL);
	uv_close((uv_handle_t *)t, later_close_cb);
}

static void deferred_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	struct fx *fx = data;
	struct later *l = calloc(1, sizeof(*l));
	l->call = call;
	uv_timer_init(&fx->loop, &l->t);
	l->t.data = l;
	uv_timer_start(&l->t, later_cb, 0, 0);
}

/* Sends 1 MiB messages until refused: nothing drains while the handler runs. */
static void flood_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	struct fx *fx = data;
	uint8_t *m = calloc(1, 1024 * 1024);
	int rv = 0;
	for (fx->flood_sent = 0; fx->flood_sent < 100; fx->flood_sent++)
		if ((rv = wm_rpc_call_send(call, m, 1024 * 1024)))
			break;
	fx->flood_err = rv;
	free(m);
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static void hold_cancel_cb(struct wm_rpc_call *call, void *data)
{
	struct fx *fx = data;
	assert_true(wm_rpc_call_cancelled(call));
	assert_int_equal(wm_rpc_call_send(call, (const uint8_t *)"x", 1), -ECANCELED);
	fx->held_cancelled++;
	fx->held = NULL;
	wm_rpc_call_finish(call, WM_GRPC_CANCELLED, NULL);
}

static void hold_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	struct fx *fx = data;
	fx->held = call;
	fx->held_calls++;
	fx->held_remaining = wm_rpc_call_remaining_ms(call);
	wm_rpc_call_set_cancel_cb(call, hold_cancel_cb, fx);
}

/* ------------------------------------------------------------ fixture */

static void srv_done_cb(void *data)
{
	((struct fx *)data)->srv_done = true;
}

static void run_until(struct fx *fx, const bool *flag)
{
	for (int i = 0; !*flag && i < 1000000; i++)
		uv_run(&fx->loop, UV_RUN_ONCE);
	assert_true(*flag);
}

static void run_until_count(struct fx *fx, const int *n, int want)
{
	for (int i = 0; *n < want && i < 1000000; i++)
		uv_run(&fx->loop, UV_RUN_ONCE);
	assert_int_equal(*n, want);
}

static void start_server(struct fx *fx, const struct wm_rpc_server_config *cfg,
			 const struct wm_tls_server_opts *so)
{
	char err[256] = "";
	struct wm_tls_server_opts def = {.cert_file = fx->cert, .key_file = fx->key};
	fx->srv_tls = wm_tls_server_ctx_new(so ? so : &def, err, sizeof(err));
	assert_non_null(fx->srv_tls);
	assert_int_equal(wm_rpc_server_new(&fx->loop, cfg, &fx->srv), 0);
	struct wm_rpc_method methods[] = {
		{"/test.Echo/Unary", false, unary_handler, fx},
		{"/test.Echo/Stream", true, stream_handler, fx},
		{"/test.Echo/Meta", false, meta_handler, fx},
		{"/test.Echo/Deferred", false, deferred_handler, fx},
		{"/test.Echo/Hold", true, hold_handler, fx},
		{"/test.Echo/Flood", true, flood_handler, fx},
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		assert_int_equal(wm_rpc_server_register(fx->srv, &methods[i]), 0);
	assert_int_equal(wm_rpc_server_register(fx->srv, &methods[0]), -EEXIST);
	assert_int_equal(wm_rpc_server_port(fx->srv), -ENOENT);
	assert_int_equal(wm_rpc_server_listen_tcp(fx->srv, "127.0.0.1", 0, fx->srv_tls), 0);
	assert_int_equal(wm_rpc_server_listen_unix(fx->srv, fx->sock, 0660), 0);
	fx->port = wm_rpc_server_port(fx->srv);
	assert_true(fx->port > 0);
	struct stat st;
	assert_int_equal(stat(fx->sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char err[256];
	uv_loop_init(&fx->loop);
	strcpy(fx->dir, "/tmp/wm-rpc-loop-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->cert, sizeof(fx->cert), "%s/tls.crt", fx->dir);
	snprintf(fx->key, sizeof(fx->key), "%s/tls.key", fx->dir);
	snprintf(fx->ccert, sizeof(fx->ccert), "%s/client.crt", fx->dir);
	snprintf(fx->ckey, sizeof(fx->ckey), "%s/client.key", fx->dir);
	snprintf(fx->sock, sizeof(fx->sock), "%s/api.sock", fx->dir);
	const char *ips[] = {"127.0.0.1"};
	if (wm_tls_ensure_self_signed(fx->cert, fx->key, "node-1", ips, 1, err, sizeof(err)) ||
	    wm_tls_ensure_self_signed(fx->ccert, fx->ckey, "client-1", NULL, 0, err, sizeof(err)) ||
	    wm_tls_cert_file_fingerprint(fx->cert, fx->fp) ||
	    wm_tls_cert_file_fingerprint(fx->ccert, fx->cfp))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	if (fx->srv) {
		wm_rpc_server_shutdown(fx->srv, 0, srv_done_cb, fx);
		run_until(fx, &fx->srv_done);
		wm_rpc_server_free(fx->srv);
		assert_int_equal(access(fx->sock, F_OK), -1); /* socket removed */
	}
	SSL_CTX_free(fx->srv_tls);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	/* Every handle was closed: nothing leaks past the tests. */
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	unlink(fx->cert);
	unlink(fx->key);
	unlink(fx->ccert);
	unlink(fx->ckey);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static struct wm_rpc_client *tls_client(struct fx *fx, const struct wm_tls_client_opts *o,
					size_t max_message)
{
	char err[256] = "";
	struct wm_tls_client_opts def = {.pin_fingerprint = fx->fp};
	SSL_CTX *ctx = wm_tls_client_ctx_new(o ? o : &def, err, sizeof(err));
	assert_non_null(ctx);
	struct wm_rpc_client_config cfg = {.host = "127.0.0.1",
					   .port = (uint16_t)fx->port,
					   .tls = ctx,
					   .max_message_size = max_message};
	struct wm_rpc_client *c;
	assert_int_equal(wm_rpc_client_new(&fx->loop, &cfg, &c), 0);
	SSL_CTX_free(ctx); /* the client holds its own reference */
	return c;
}

static struct wm_rpc_client *unix_client(struct fx *fx)
{
	struct wm_rpc_client_config cfg = {.unix_path = fx->sock};
	struct wm_rpc_client *c;
	assert_int_equal(wm_rpc_client_new(&fx->loop, &cfg, &c), 0);
	return c;
}

static void unary_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	struct result *r = data;
	assert_false(r->done);
	r->done = true;
	r->status = status;
	snprintf(r->msg, sizeof(r->msg), "%s", message ? message : "");
	r->msg_len = message ? strlen(message) : 0;
	if (resp) {
		r->resp = malloc(len + 1);
		memcpy(r->resp, resp, len);
		r->resp[len] = 0;
		r->len = len;
	} else {
		assert_int_not_equal(status, WM_GRPC_OK);
	}
}

static int msg_cb(void *data, const uint8_t *msg, size_t len)
{
	struct result *r = data;
	if (r->n_msgs < 8)
		snprintf(r->msgs[r->n_msgs], sizeof(r->msgs[0]), "%.*s", (int)(len < 31 ? len : 31),
			 (const char *)msg);
	r->n_msgs++;
	r->len += len;
	return r->cancel_after && r->n_msgs == r->cancel_after;
}

static void close_cb(void *data, int status, const char *message)
{
	struct result *r = data;
	assert_false(r->done);
	r->done = true;
	r->status = status;
	snprintf(r->msg, sizeof(r->msg), "%s", message ? message : "");
}

static void unary(struct fx *fx, struct wm_rpc_client *c, const char *path, const void *req,
		  size_t len, uint64_t timeout_ms, struct result *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(wm_rpc_client_unary(c, path, req, len, timeout_ms, NULL, 0, unary_cb, r),
			 0);
	run_until(fx, &r->done);
}

/* ------------------------------------------------------------ tests */

static void check_echo(struct fx *fx, struct wm_rpc_client *c)
{
	struct result r;
	unary(fx, c, "/test.Echo/Unary", "hello", 5, 5000, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	assert_int_equal(r.len, 5);
	assert_memory_equal(r.resp, "hello", 5);
	free(r.resp);
	unary(fx, c, "/test.Echo/Unary", "", 0, 0, &r); /* empty message */
	assert_int_equal(r.status, WM_GRPC_OK);
	assert_int_equal(r.len, 0);
	free(r.resp);
	unary(fx, c, "/test.Echo/Deferred", "x", 1, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	assert_string_equal((char *)r.resp, "later");
	free(r.resp);
}

static void test_unary_tls_and_unix(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_client *t = tls_client(fx, NULL, 0), *u = unix_client(fx);
	check_echo(fx, t);
	check_echo(fx, u);
	wm_rpc_client_free(t);
	wm_rpc_client_free(u);
}

static void test_error_status(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_client *c = tls_client(fx, NULL, 0);
	struct result r;
	unary(fx, c, "/test.Echo/Unary", "fail", 4, 0, &r);
	assert_int_equal(r.status, WM_GRPC_INVALID_ARGUMENT);
	assert_string_equal(r.msg, "bad thing: 100% wrong \xe2\x9c\x97\n");
	assert_null(r.resp);
	unary(fx, c, "/test.Echo/Unary", "long", 4, 0, &r);
	assert_int_equal(r.status, WM_GRPC_INTERNAL);
	assert_int_equal(r.msg_len, 1024); /* cut by the server */
	unary(fx, c, "/test.Echo/Nope", "x", 1, 0, &r);
	assert_int_equal(r.status, WM_GRPC_UNIMPLEMENTED);
	assert_string_equal(r.msg, "unknown method /test.Echo/Nope");
	unary(fx, c, "/other.Service/Unary", NULL, 0, 0, &r);
	assert_int_equal(r.status, WM_GRPC_UNIMPLEMENTED);
	/* Bad arguments are refused at once, without a callback. */
	struct wm_rpc_metadata bad = {"X-Upper", "v"};
	assert_int_equal(
		wm_rpc_client_unary(c, "/test.Echo/Unary", NULL, 0, 0, &bad, 1, unary_cb, &r),
		-EINVAL);
	assert_int_equal(wm_rpc_client_unary(c, "no-slash", NULL, 0, 0, NULL, 0, unary_cb, &r),
			 -EINVAL);
	wm_rpc_client_free(c);
}

static void test_server_stream(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_client *cs[] = {tls_client(fx, NULL, 0), unix_client(fx)};
	for (int k = 0; k < 2; k++) {
		struct result r = {0};
		assert_int_equal(wm_rpc_client_stream(cs[k], "/test.Echo/Stream",
						      (const uint8_t *)"5", 1, 5000, NULL, 0,
						      msg_cb, close_cb, &r, NULL),
				 0);
		run_until(fx, &r.done);
		assert_int_equal(r.status, WM_GRPC_OK);
		assert_int_equal(r.n_msgs, 5);
		assert_string_equal(r.msgs[0], "msg-0");
		assert_string_equal(r.msgs[4], "msg-4");
		/* Many small and many large messages: deferred data and flow control. */
		memset(&r, 0, sizeof(r));
		wm_rpc_client_stream(cs[k], "/test.Echo/Stream", (const uint8_t *)"2000", 4, 0,
				     NULL, 0, msg_cb, close_cb, &r, NULL);
		run_until(fx, &r.done);
		assert_int_equal(r.status, WM_GRPC_OK);
		assert_int_equal(r.n_msgs, 2000);
		memset(&r, 0, sizeof(r));
		wm_rpc_client_stream(cs[k], "/test.Echo/Stream", (const uint8_t *)"100x", 4, 0,
				     NULL, 0, msg_cb, close_cb, &r, NULL);
		run_until(fx, &r.done);
		assert_int_equal(r.status, WM_GRPC_OK);
		assert_int_equal(r.n_msgs, 100);
		assert_int_equal(r.len, 100 * 65536);
		assert_string_equal(r.msgs[7], "msg-7");
		/* The receiver stops the stream. */
		memset(&r, 0, sizeof(r));
		r.cancel_after = 3;
		wm_rpc_client_stream(cs[k], "/test.Echo/Stream", (const uint8_t *)"1000", 4, 0,
				     NULL, 0, msg_cb, close_cb, &r, NULL);
		run_until(fx, &r.done);
		assert_int_equal(r.status, WM_GRPC_CANCELLED);
		assert_int_equal(r.n_msgs, 3);
		wm_rpc_client_free(cs[k]);
	}
}

static void test_big_messages(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_client *c = tls_client(fx, NULL, 0);
	uint8_t *big = malloc(BIG);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (uint8_t)(i * 31 + 7);
	struct result r;
	unary(fx, c, "/test.Echo/Unary", big, BIG, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	assert_int_equal(r.len, BIG);
	assert_memory_equal(r.resp, big, BIG);
	free(r.resp);
	wm_rpc_client_free(c);
	/* A client with a small limit refuses a big response. */
	c = tls_client(fx, NULL, 1000);
	unary(fx, c, "/test.Echo/Unary", big, 2000, 0, &r);
	assert_int_equal(r.status, WM_GRPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(r.msg, "2000"));
	/* ... and the connection stays usable. */
	unary(fx, c, "/test.Echo/Unary", "ok", 2, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	free(r.resp);
	wm_rpc_client_free(c);
	free(big);
}

static void test_oversized_request(void **state)
{
	struct fx *fx = *state;
	struct wm_rpc_server_config cfg = {.max_message_size = 1024 * 1024};
	start_server(fx, &cfg, NULL);
	struct wm_rpc_client *cs[] = {tls_client(fx, NULL, 0), unix_client(fx)};
	size_t len = 2 * 1024 * 1024;
	uint8_t *big = calloc(1, len);
	for (int k = 0; k < 2; k++) {
		struct result r;
		unary(fx, cs[k], "/test.Echo/Unary", big, len, 0, &r);
		assert_int_equal(r.status, WM_GRPC_RESOURCE_EXHAUSTED);
		assert_non_null(strstr(r.msg, "2097152 bytes exceeds the limit of 1048576"));
		unary(fx, cs[k], "/test.Echo/Unary", big, 1024 * 1024, 0,
		      &r); /* the limit itself */
		assert_int_equal(r.status, WM_GRPC_OK);
		free(r.resp);
		/* A streaming handler cannot queue without bound. */
		memset(&r, 0, sizeof(r));
		wm_rpc_client_stream(cs[k], "/test.Echo/Flood", NULL, 0, 0, NULL, 0, msg_cb,
				     close_cb, &r, NULL);
		run_until(fx, &r.done);
		assert_int_equal(fx->flood_err, -ENOBUFS);
		assert_int_equal(fx->flood_sent, 2); /* 2 x max_message + 64 KiB */
		assert_int_equal(r.status, WM_GRPC_OK);
		assert_int_equal(r.n_msgs, 2);
		wm_rpc_client_free(cs[k]);
	}
	free(big);
}

static void test_deadline(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_client *c = unix_client(fx);
	struct result r;
	unary(fx, c, "/test.Echo/Hold", "x", 1, 100, &r);
	assert_int_equal(r.status, WM_GRPC_DEADLINE_EXCEEDED);
	assert_int_equal(fx->held_calls, 1);
	assert_true(fx->held_remaining >= 0 && fx->held_remaining <= 100);
	/* The server's deadline cancels the handler. */
	run_until_count(fx, &fx->held_cancelled, 1);
	/* No deadline: the handler sees -1. */
	unary(fx, c, "/test.Echo/Meta", "", 0, 0, &r);
	assert_non_null(strstr((char *)r.resp, "rem=-1"));
	free(r.resp);
	wm_rpc_client_free(c);
}

static void test_pin_mismatch(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_tls_client_opts o = {
		.pin_fingerprint =
			"sha256:0000000000000000000000000000000000000000000000000000000000000000"};
	struct wm_rpc_client *c = tls_client(fx, &o, 0);
	struct result r;
	unary(fx, c, "/test.Echo/Unary", "x", 1, 0, &r);
	assert_int_equal(r.status, WM_GRPC_UNAVAILABLE);
	assert_non_null(strstr(r.msg, "certificate"));
	wm_rpc_client_free(c);
	/* The right CA and name work; a wrong name is refused. */
	o = (struct wm_tls_client_opts){.ca_file = fx->cert, .verify_name = "node-1"};
	c = tls_client(fx, &o, 0);
	unary(fx, c, "/test.Echo/Unary", "x", 1, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	free(r.resp);
	wm_rpc_client_free(c);
	o = (struct wm_tls_client_opts){.ca_file = fx->cert, .verify_name = "127.0.0.1"};
	c = tls_client(fx, &o, 0);
	unary(fx, c, "/test.Echo/Unary", "x", 1, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	free(r.resp);
	wm_rpc_client_free(c);
	o = (struct wm_tls_client_opts){.ca_file = fx->cert, .verify_name = "node-2"};
	c = tls_client(fx, &o, 0);
	unary(fx, c, "/test.Echo/Unary", "x", 1, 0, &r);
	assert_int_equal(r.status, WM_GRPC_UNAVAILABLE);
	wm_rpc_client_free(c);
	o = (struct wm_tls_client_opts){.ca_file = fx->ccert}; /* wrong CA */
	c = tls_client(fx, &o, 0);
	unary(fx, c, "/test.Echo/Unary", "x", 1, 0, &r);
	assert_int_equal(r.status, WM_GRPC_UNAVAILABLE);
	wm_rpc_client_free(c);
}

static void test_client_free_pending(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_client *c = tls_client(fx, NULL, 0);
	struct result r = {0}, s = {0}, q = {0};
	wm_rpc_client_unary(c, "/test.Echo/Hold", (const uint8_t *)"x", 1, 0, NULL, 0, unary_cb,
			    &r);
	wm_rpc_client_stream(c, "/test.Echo/Hold", (const uint8_t *)"x", 1, 0, NULL, 0, msg_cb,
			     close_cb, &s, NULL);
	run_until_count(fx, &fx->held_calls, 2);
	/* A call still waiting in the client, too. */
	struct wm_rpc_client *c2 = tls_client(fx, NULL, 0);
	wm_rpc_client_unary(c2, "/test.Echo/Unary", (const uint8_t *)"x", 1, 0, NULL, 0, unary_cb,
			    &q);
	wm_rpc_client_free(c2);
	assert_true(q.done);
	assert_int_equal(q.status, WM_GRPC_CANCELLED);
	wm_rpc_client_free(c);
	assert_true(r.done && s.done);
	assert_int_equal(r.status, WM_GRPC_CANCELLED);
	assert_int_equal(s.status, WM_GRPC_CANCELLED);
	/* The server learns it and cancels both handlers. */
	run_until_count(fx, &fx->held_cancelled, 2);
}

static void test_metadata_peer(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_client *cs[] = {tls_client(fx, NULL, 0), unix_client(fx)};
	struct wm_rpc_metadata md[] = {{"x-test", "hello there"}, {"x-other", "1"}};
	for (int k = 0; k < 2; k++) {
		struct result r = {0};
		assert_int_equal(wm_rpc_client_unary(cs[k], "/test.Echo/Meta", NULL, 0, 3000, md, 2,
						     unary_cb, &r),
				 0);
		run_until(fx, &r.done);
		assert_int_equal(r.status, WM_GRPC_OK);
		char *s = (char *)r.resp;
		assert_non_null(strstr(s, "x-test=hello there"));
		assert_non_null(strstr(s, "path=/test.Echo/Meta"));
		assert_non_null(strstr(s, "cert=none"));
		assert_null(strstr(s, "rem=-1"));
		if (k == 0) {
			assert_non_null(strstr(s, "local=0 peer=127.0.0.1:"));
		} else {
			assert_non_null(strstr(s, "local=1 peer=unix"));
		}
		free(r.resp);
		wm_rpc_client_free(cs[k]);
	}
}

static void test_mtls(void **state)
{
	struct fx *fx = *state;
	struct wm_tls_server_opts so = {.cert_file = fx->cert,
					.key_file = fx->key,
					.client_ca_file = fx->ccert,
					.require_client_cert = true};
	start_server(fx, NULL, &so);
	struct wm_tls_client_opts o = {
		.pin_fingerprint = fx->fp, .cert_file = fx->ccert, .key_file = fx->ckey};
	struct wm_rpc_client *c = tls_client(fx, &o, 0);
	struct result r;
	unary(fx, c, "/test.Echo/Meta", NULL, 0, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	char want[100];
	snprintf(want, sizeof(want), "cert=%s", fx->cfp);
	assert_non_null(strstr((char *)r.resp, want));
	free(r.resp);
	wm_rpc_client_free(c);
	/* Without a client certificate the handshake still succeeds: the call
	 * arrives with no certificate, and the handler (the authenticator in
	 * webmeshd) refuses it with a status the client can report. */
	c = tls_client(fx, NULL, 0);
	unary(fx, c, "/test.Echo/Meta", NULL, 0, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	assert_non_null(strstr((char *)r.resp, "cert=none"));
	free(r.resp);
	wm_rpc_client_free(c);
	/* A certificate the CA did not sign (the server's own, self-signed) is
	 * handed to the call unverified. */
	struct wm_tls_client_opts o2 = {
		.pin_fingerprint = fx->fp, .cert_file = fx->cert, .key_file = fx->key};
	c = tls_client(fx, &o2, 0);
	unary(fx, c, "/test.Echo/Meta", NULL, 0, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	snprintf(want, sizeof(want), "cert=%s", fx->fp);
	assert_non_null(strstr((char *)r.resp, want));
	free(r.resp);
	wm_rpc_client_free(c);
}

struct creds_seen {
	int calls;
	char server_fp[WM_FINGERPRINT_LEN];
	char path[64];
};

static size_t creds_md(void *data, const char *path, const char *server_fp,
		       struct wm_rpc_metadata *md, size_t max)
{
	struct creds_seen *seen = data;
	seen->calls++;
	snprintf(seen->server_fp, sizeof(seen->server_fp), "%s", server_fp ? server_fp : "none");
	snprintf(seen->path, sizeof(seen->path), "%s", path);
	assert_true(max >= 1);
	md[0] = (struct wm_rpc_metadata){"x-test", "from-provider"};
	return 1;
}

/* The client's metadata provider runs for every call and its entries arrive;
 * on a unix socket it sees no server certificate. */
static void test_call_metadata(void **state)
{
	struct fx *fx = *state;
	struct creds_seen seen = {0};
	start_server(fx, NULL, NULL);
	struct wm_rpc_client_config cfg = {
		.unix_path = fx->sock, .call_metadata = creds_md, .call_metadata_data = &seen};
	struct wm_rpc_client *c;
	assert_int_equal(wm_rpc_client_new(&fx->loop, &cfg, &c), 0);
	for (int i = 0; i < 2; i++) {
		struct result r;
		unary(fx, c, "/test.Echo/Meta", NULL, 0, 0, &r);
		assert_int_equal(r.status, WM_GRPC_OK);
		assert_non_null(strstr((char *)r.resp, "x-test=from-provider"));
		assert_non_null(strstr((char *)r.resp, "own=none"));
		free(r.resp);
	}
	assert_int_equal(seen.calls, 2);
	assert_string_equal(seen.server_fp, "none");
	assert_string_equal(seen.path, "/test.Echo/Meta");
	wm_rpc_client_free(c);
}

/* Over TLS the provider is given the certificate the server presented in the
 * handshake, and the server knows it as its own: key-auth signatures name
 * the server with it. */
static void test_call_metadata_server_fingerprint(void **state)
{
	struct fx *fx = *state;
	struct creds_seen seen = {0};
	char err[256] = "", want[WM_FINGERPRINT_LEN + 8];
	start_server(fx, NULL, NULL);
	struct wm_tls_client_opts o = {.pin_fingerprint = fx->fp};
	SSL_CTX *ctx = wm_tls_client_ctx_new(&o, err, sizeof(err));
	assert_non_null(ctx);
	struct wm_rpc_client_config cfg = {.host = "127.0.0.1",
					   .port = (uint16_t)fx->port,
					   .tls = ctx,
					   .call_metadata = creds_md,
					   .call_metadata_data = &seen};
	struct wm_rpc_client *c;
	assert_int_equal(wm_rpc_client_new(&fx->loop, &cfg, &c), 0);
	SSL_CTX_free(ctx);
	struct result r;
	unary(fx, c, "/test.Echo/Meta", NULL, 0, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	assert_int_equal(seen.calls, 1);
	assert_string_equal(seen.server_fp, fx->fp);
	snprintf(want, sizeof(want), "own=%s", fx->fp);
	assert_non_null(strstr((char *)r.resp, want));
	free(r.resp);
	wm_rpc_client_free(c);
}

struct raw {
	uv_tcp_t tcp;
	uv_pipe_t pipe;
	uv_stream_t *s;
	uv_connect_t creq;
	uv_write_t wreq;
	bool closed;
};

static void raw_close_cb(uv_handle_t *h)
{
	((struct raw *)h->data)->closed = true;
}

static void raw_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
	(void)h;
	static char b[65536];
	(void)n;
	*buf = uv_buf_init(b, sizeof(b));
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	if (n < 0)
		uv_close((uv_handle_t *)s, raw_close_cb);
}

static void raw_write_cb(uv_write_t *w, int status)
{
	(void)w;
	(void)status;
}

static void raw_connect_cb(uv_connect_t *req, int status)
{
	struct raw *r = req->data;
	assert_int_equal(status, 0);
	static char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01garbage";
	uv_buf_t b = uv_buf_init(junk, sizeof(junk));
	uv_write(&r->wreq, r->s, &b, 1, raw_write_cb);
	uv_read_start(r->s, raw_alloc, raw_read);
}

static void test_garbage(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_client *c = tls_client(fx, NULL, 0), *u = unix_client(fx);
	struct result r;
	unary(fx, c, "/test.Echo/Unary", "a", 1, 0, &r); /* an open connection meanwhile */
	free(r.resp);
	for (int k = 0; k < 2; k++) {
		struct raw raw = {0};
		raw.creq.data = &raw;
		if (k == 0) {
			struct sockaddr_in sa;
			uv_ip4_addr("127.0.0.1", fx->port, &sa);
			uv_tcp_init(&fx->loop, &raw.tcp);
			raw.s = (uv_stream_t *)&raw.tcp;
			raw.tcp.data = &raw;
			uv_tcp_connect(&raw.creq, &raw.tcp, (struct sockaddr *)&sa, raw_connect_cb);
		} else {
			uv_pipe_init(&fx->loop, &raw.pipe, 0);
			raw.s = (uv_stream_t *)&raw.pipe;
			raw.pipe.data = &raw;
			uv_pipe_connect(&raw.creq, &raw.pipe, fx->sock, raw_connect_cb);
		}
		run_until(fx, &raw.closed); /* the server hung up */
	}
	/* Others are still served, on old and new connections. */
	unary(fx, c, "/test.Echo/Unary", "b", 1, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	free(r.resp);
	unary(fx, u, "/test.Echo/Unary", "c", 1, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	free(r.resp);
	wm_rpc_client_free(c);
	wm_rpc_client_free(u);
}

static void test_shutdown_grace(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_client *c = tls_client(fx, NULL, 0);
	struct result r = {0};
	wm_rpc_client_unary(c, "/test.Echo/Hold", (const uint8_t *)"x", 1, 0, NULL, 0, unary_cb,
			    &r);
	run_until_count(fx, &fx->held_calls, 1);
	wm_rpc_server_shutdown(fx->srv, 60000, srv_done_cb, fx);
	/* A call sent before the client read the GOAWAY is refused by it and
	 * retried on a new connection, which finds nobody listening. */
	struct result late = {0};
	wm_rpc_client_unary(c, "/test.Echo/Unary", (const uint8_t *)"x", 1, 0, NULL, 0, unary_cb,
			    &late);
	run_until(fx, &late.done);
	assert_int_equal(late.status, WM_GRPC_UNAVAILABLE);
	assert_non_null(strstr(late.msg, "cannot connect"));
	/* The call in flight still completes during the grace period. */
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_false(fx->srv_done);
	assert_int_equal(wm_rpc_call_send(fx->held, (const uint8_t *)"done", 4), 0);
	wm_rpc_call_finish(fx->held, WM_GRPC_OK, NULL);
	fx->held = NULL;
	run_until(fx, &r.done);
	assert_int_equal(r.status, WM_GRPC_OK);
	assert_string_equal((char *)r.resp, "done");
	free(r.resp);
	run_until(fx, &fx->srv_done);
	/* New calls find nobody listening. */
	unary(fx, c, "/test.Echo/Unary", "x", 1, 0, &r);
	assert_int_equal(r.status, WM_GRPC_UNAVAILABLE);
	wm_rpc_client_free(c);
	wm_rpc_server_free(fx->srv);
	fx->srv = NULL;
}

static void test_connection_lost(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_client *c = unix_client(fx);
	struct result r = {0};
	wm_rpc_client_unary(c, "/test.Echo/Hold", (const uint8_t *)"x", 1, 0, NULL, 0, unary_cb,
			    &r);
	run_until_count(fx, &fx->held_calls, 1);
	wm_rpc_server_shutdown(fx->srv, 0, srv_done_cb, fx); /* no grace: connections cut */
	run_until(fx, &r.done);
	assert_int_equal(r.status, WM_GRPC_UNAVAILABLE);
	assert_int_equal(fx->held_cancelled, 1);
	run_until(fx, &fx->srv_done);
	wm_rpc_server_free(fx->srv);
	fx->srv = NULL;
	wm_rpc_client_free(c);
}

/* A server on its own loop and thread, as a real server is another process:
 * it answers PINGs while the client's loop is busy. Its one method answers
 * 3 s after the call. */
struct far {
	uv_loop_t loop;
	uv_async_t stop;
	uv_timer_t later;
	struct wm_rpc_server *srv;
	struct wm_rpc_call *call;
	SSL_CTX *tls;
	int port;
};

static void far_later_cb(uv_timer_t *t)
{
	struct far *f = t->data;
	if (f->call) {
		wm_rpc_call_send(f->call, (const uint8_t *)"y", 1);
		wm_rpc_call_finish(f->call, WM_GRPC_OK, NULL);
		f->call = NULL;
	}
}

static void far_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	struct far *f = data;
	f->call = call;
	uv_timer_start(&f->later, far_later_cb, 3000, 0);
}

static void far_done_cb(void *data)
{
	struct far *f = data;
	uv_close((uv_handle_t *)&f->later, NULL);
	uv_close((uv_handle_t *)&f->stop, NULL);
}

static void far_stop_cb(uv_async_t *a)
{
	struct far *f = a->data;
	uv_timer_stop(&f->later);
	wm_rpc_server_shutdown(f->srv, 0, far_done_cb, f);
}

static void *far_thread(void *arg)
{
	struct far *f = arg;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	return NULL;
}

static int slow_turns;
static struct result *slow_result;

/* A loop turn much longer than the keepalive timeout, as a process with
 * thousands of connections on one loop has under load. */
static void slow_turn_cb(uv_timer_t *t)
{
	slow_turns++;
	usleep(150 * 1000);
	if (slow_result->done || slow_turns > 60)
		uv_stop(t->loop);
}

/* The client's keepalive must not take a PING answer that waits unread behind
 * a long loop turn for a dead server: libuv runs the timeout before it reads
 * the socket. A call on a keepalive connection (PING every 20 ms, 40 ms to
 * answer) lives through turns of 150 ms for 3 s and ends normally. The loop
 * runs as the daemon's does (UV_RUN_DEFAULT). */
static void test_keepalive_survives_slow_turns(void **state)
{
	struct fx *fx = *state;
	char err[256] = "";
	struct far f = {0};
	struct wm_tls_server_opts so = {.cert_file = fx->cert, .key_file = fx->key};
	struct wm_tls_client_opts o = {.pin_fingerprint = fx->fp};
	struct wm_rpc_method m = {"/test.Far/Later", false, far_handler, &f};
	pthread_t th;
	uv_timer_t slow;
	struct result r = {0};

	assert_int_equal(uv_loop_init(&f.loop), 0);
	f.tls = wm_tls_server_ctx_new(&so, err, sizeof(err));
	assert_non_null(f.tls);
	assert_int_equal(wm_rpc_server_new(&f.loop, NULL, &f.srv), 0);
	assert_int_equal(wm_rpc_server_register(f.srv, &m), 0);
	assert_int_equal(wm_rpc_server_listen_tcp(f.srv, "127.0.0.1", 0, f.tls), 0);
	f.port = wm_rpc_server_port(f.srv);
	uv_timer_init(&f.loop, &f.later);
	f.later.data = &f;
	uv_async_init(&f.loop, &f.stop, far_stop_cb);
	f.stop.data = &f;
	assert_int_equal(pthread_create(&th, NULL, far_thread, &f), 0);

	SSL_CTX *ctx = wm_tls_client_ctx_new(&o, err, sizeof(err));
	assert_non_null(ctx);
	struct wm_rpc_client_config cfg = {.host = "127.0.0.1",
					   .port = (uint16_t)f.port,
					   .tls = ctx,
					   .keepalive_ms = 20,
					   .keepalive_timeout_ms = 40};
	struct wm_rpc_client *c;
	assert_int_equal(wm_rpc_client_new(&fx->loop, &cfg, &c), 0);
	SSL_CTX_free(ctx);
	wm_rpc_client_unary(c, "/test.Far/Later", (const uint8_t *)"x", 1, 0, NULL, 0, unary_cb,
			    &r);
	slow_turns = 0;
	slow_result = &r;
	uv_timer_init(&fx->loop, &slow);
	uv_timer_start(&slow, slow_turn_cb, 5, 5);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&slow);
	uv_close((uv_handle_t *)&slow, NULL);
	/* slow lives on this stack: its close must finish before we return */
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	if (r.status != WM_GRPC_OK)
		fail_msg("the call ended during slow turns: %d %s", r.status, r.msg);
	assert_true(slow_turns >= 5);
	free(r.resp);
	wm_rpc_client_free(c);

	uv_async_send(&f.stop);
	assert_int_equal(pthread_join(th, NULL), 0);
	wm_rpc_server_free(f.srv);
	SSL_CTX_free(f.tls);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f.loop), 0);
}

static void test_unary_sync(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_client *c = unix_client(fx);
	uint8_t *resp;
	size_t len;
	char *msg;
	assert_int_equal(wm_rpc_client_unary_sync(c, &fx->loop, "/test.Echo/Unary",
						  (const uint8_t *)"sync", 4, 1000, NULL, 0, &resp,
						  &len, &msg),
			 WM_GRPC_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(resp, "sync", 4);
	assert_null(msg);
	free(resp);
	assert_int_equal(wm_rpc_client_unary_sync(c, &fx->loop, "/test.Echo/Unary",
						  (const uint8_t *)"fail", 4, 1000, NULL, 0, &resp,
						  &len, &msg),
			 WM_GRPC_INVALID_ARGUMENT);
	assert_null(resp);
	assert_non_null(strstr(msg, "100% wrong"));
	free(msg);
	wm_rpc_client_free(c);
	/* Nobody listening on the path: UNAVAILABLE with the reason. */
	struct wm_rpc_client_config cfg = {.unix_path = "/tmp/wm-rpc-no-such.sock"};
	assert_int_equal(wm_rpc_client_new(&fx->loop, &cfg, &c), 0);
	assert_int_equal(wm_rpc_client_unary_sync(c, &fx->loop, "/test.Echo/Unary", NULL, 0, 0,
						  NULL, 0, &resp, &len, &msg),
			 WM_GRPC_UNAVAILABLE);
	assert_non_null(strstr(msg, "cannot connect"));
	free(msg);
	wm_rpc_client_free(c);
}

static void test_unix_socket_files(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct wm_rpc_server *other;
	assert_int_equal(wm_rpc_server_new(&fx->loop, NULL, &other), 0);
	/* A live socket is not taken over. */
	assert_int_equal(wm_rpc_server_listen_unix(other, fx->sock, 0600), -EADDRINUSE);
	char path[128];
	snprintf(path, sizeof(path), "%s/file", fx->dir);
	FILE *f = fopen(path, "w");
	fclose(f);
	assert_int_equal(wm_rpc_server_listen_unix(other, path, 0600), -EEXIST);
	unlink(path);
	wm_rpc_server_free(other); /* never listened */
}

static void test_limits(void **state)
{
	struct fx *fx = *state;
	struct wm_rpc_server_config cfg = {.max_connections = 1, .max_concurrent_streams = 2};
	start_server(fx, &cfg, NULL);
	struct wm_rpc_client *a = unix_client(fx), *b = tls_client(fx, NULL, 0);
	struct result r[3];
	unary(fx, a, "/test.Echo/Unary", "a", 1, 0, &r[0]);
	assert_int_equal(r[0].status, WM_GRPC_OK);
	free(r[0].resp);
	/* A second connection is over the limit: closed at once. */
	unary(fx, b, "/test.Echo/Unary", "b", 1, 0, &r[0]);
	assert_int_equal(r[0].status, WM_GRPC_UNAVAILABLE);
	wm_rpc_client_free(b);
	/* Three calls on a connection allowing two streams: the third waits. */
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 3; i++)
		assert_int_equal(wm_rpc_client_unary(a, "/test.Echo/Hold", (const uint8_t *)"x", 1,
						     0, NULL, 0, unary_cb, &r[i]),
				 0);
	run_until_count(fx, &fx->held_calls, 2);
	for (int i = 0; i < 20; i++)
		uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(fx->held_calls, 2);
	struct wm_rpc_call *held = fx->held;
	fx->held = NULL;
	wm_rpc_call_send(held, (const uint8_t *)"1", 1);
	wm_rpc_call_finish(held, WM_GRPC_OK, NULL);
	run_until_count(fx, &fx->held_calls, 3);
	wm_rpc_client_free(a);
	for (int i = 0; i < 3; i++)
		assert_true(r[i].done);
	int ok = 0;
	for (int i = 0; i < 3; i++) {
		ok += r[i].status == WM_GRPC_OK;
		free(r[i].resp);
	}
	assert_int_equal(ok, 1);
}

struct chain {
	struct fx *fx;
	struct wm_rpc_client *c;
	struct result first, second, other;
	bool free_in_cb;
};

static void chain_second_cb(void *data, int status, const char *message, const uint8_t *resp,
			    size_t len)
{
	struct chain *ch = data;
	unary_cb(&ch->second, status, message, resp, len);
}

static void chain_first_cb(void *data, int status, const char *message, const uint8_t *resp,
			   size_t len)
{
	struct chain *ch = data;
	unary_cb(&ch->first, status, message, resp, len);
	if (ch->free_in_cb) {
		/* Freed from inside its own callback, with another call pending. */
		wm_rpc_client_free(ch->c);
		assert_true(ch->other.done);
		assert_int_equal(ch->other.status, WM_GRPC_CANCELLED);
		assert_int_equal(wm_rpc_client_unary(ch->c, "/test.Echo/Unary", NULL, 0, 0, NULL, 0,
						     chain_second_cb, ch),
				 -ECANCELED);
		return;
	}
	/* A new call from inside a callback. */
	assert_int_equal(wm_rpc_client_unary(ch->c, "/test.Echo/Unary", (const uint8_t *)"two", 3,
					     0, NULL, 0, chain_second_cb, ch),
			 0);
}

static void stop_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	struct fx *fx = data;
	wm_rpc_server_shutdown(fx->srv, 60000, srv_done_cb, fx);
	wm_rpc_call_send(call, (const uint8_t *)"bye", 3);
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static void test_reentrancy(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	struct chain ch = {.fx = fx, .c = tls_client(fx, NULL, 0)};
	wm_rpc_client_unary(ch.c, "/test.Echo/Unary", (const uint8_t *)"one", 3, 0, NULL, 0,
			    chain_first_cb, &ch);
	run_until(fx, &ch.second.done);
	assert_int_equal(ch.first.status, WM_GRPC_OK);
	assert_int_equal(ch.second.status, WM_GRPC_OK);
	assert_string_equal((char *)ch.second.resp, "two");
	free(ch.first.resp);
	free(ch.second.resp);
	wm_rpc_client_free(ch.c);

	memset(&ch, 0, sizeof(ch));
	ch.fx = fx;
	ch.free_in_cb = true;
	ch.c = unix_client(fx);
	wm_rpc_client_unary(ch.c, "/test.Echo/Hold", (const uint8_t *)"x", 1, 0, NULL, 0, unary_cb,
			    &ch.other);
	wm_rpc_client_unary(ch.c, "/test.Echo/Unary", (const uint8_t *)"one", 3, 0, NULL, 0,
			    chain_first_cb, &ch);
	run_until(fx, &ch.first.done);
	assert_int_equal(ch.first.status, WM_GRPC_OK);
	free(ch.first.resp);
	run_until_count(fx, &fx->held_cancelled, 1);

	/* A handler shutting the server down still gets its answer out. */
	struct wm_rpc_method m = {"/test.Echo/Stop", false, stop_handler, fx};
	assert_int_equal(wm_rpc_server_register(fx->srv, &m), 0);
	struct wm_rpc_client *c = unix_client(fx);
	struct result r;
	unary(fx, c, "/test.Echo/Stop", NULL, 0, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	assert_string_equal((char *)r.resp, "bye");
	free(r.resp);
	run_until(fx, &fx->srv_done);
	wm_rpc_client_free(c);
	wm_rpc_server_free(fx->srv);
	fx->srv = NULL;
}

static void flag_cb(void *data)
{
	*(bool *)data = true;
}

static void test_names_and_ipv6(void **state)
{
	struct fx *fx = *state;
	start_server(fx, NULL, NULL);
	char err[256];
	struct wm_tls_client_opts o = {.pin_fingerprint = fx->fp};
	SSL_CTX *ctx = wm_tls_client_ctx_new(&o, err, sizeof(err));
	/* A name, resolved with uv_getaddrinfo. */
	struct wm_rpc_client_config cfg = {.host = "localhost",
					   .port = (uint16_t)fx->port,
					   .tls = ctx,
					   .server_name = "node-1"};
	struct wm_rpc_client *c;
	assert_int_equal(wm_rpc_client_new(&fx->loop, &cfg, &c), 0);
	struct result r;
	unary(fx, c, "/test.Echo/Meta", NULL, 0, 0, &r);
	assert_int_equal(r.status, WM_GRPC_OK);
	free(r.resp);
	wm_rpc_client_free(c);
	/* IPv6 loopback, where the machine has it. */
	struct wm_rpc_server *s6;
	assert_int_equal(wm_rpc_server_new(&fx->loop, NULL, &s6), 0);
	struct wm_rpc_method m = {"/test.Echo/Meta", false, meta_handler, fx};
	wm_rpc_server_register(s6, &m);
	if (wm_rpc_server_listen_tcp(s6, "::1", 0, fx->srv_tls) == 0) {
		cfg = (struct wm_rpc_client_config){
			.host = "::1", .port = (uint16_t)wm_rpc_server_port(s6), .tls = ctx};
		assert_int_equal(wm_rpc_client_new(&fx->loop, &cfg, &c), 0);
		unary(fx, c, "/test.Echo/Meta", NULL, 0, 0, &r);
		assert_int_equal(r.status, WM_GRPC_OK);
		assert_non_null(strstr((char *)r.resp, "peer=[::1]:"));
		free(r.resp);
		wm_rpc_client_free(c);
	}
	bool done = false;
	wm_rpc_server_shutdown(s6, 0, flag_cb, &done);
	run_until(fx, &done);
	SSL_CTX_free(ctx);
	/* Configuration errors. */
	struct wm_rpc_client_config bad[] = {
		{.host = "127.0.0.1", .port = 1},		      /* TLS missing */
		{.host = "127.0.0.1", .unix_path = "/x", .tls = ctx}, /* both */
		{0},						      /* neither */
	};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(wm_rpc_client_new(&fx->loop, &bad[i], &c), -EINVAL);
	wm_rpc_server_free(s6);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as every program using the RPC layer must */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unary_tls_and_unix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_survives_slow_turns, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_client_free_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metadata_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mtls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_metadata_server_fingerprint, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unary_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unix_socket_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reentrancy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_and_ipv6, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
