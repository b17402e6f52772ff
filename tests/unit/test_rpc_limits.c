/* The RPC server's limits before authentication, against a real server on
 * one libuv loop: announced message lengths count against byte budgets (per
 * connection and in all) and are refused with RESOURCE_EXHAUSTED, streams
 * beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused, connections per source
 * are capped and logged once, idle connections and silent handshakes are
 * closed. The hostile client is an nghttp2 client session driven by hand
 * over a socketpair the server adopts, so that it can announce lengths and
 * never send the bytes. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rpc/server_int.h"
#include "rpc/tls.h"

#define MIB (1024u * 1024)
#define MAX_STREAMS 128

struct fx {
	uv_loop_t loop;
	char dir[64], cert[96], key[96];
	char fp[WM_FINGERPRINT_LEN];
	SSL_CTX *srv_tls;
	struct wm_rpc_server *srv;
	int port;
	bool srv_done;
	struct wm_rpc_call *held;
	int limit_hits;
	char limit_source[64], limit_what[128];
};

/* ------------------------------------------------------------ handlers */

/* Answers with the request's length as text. */
static void size_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)data;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%zu", len);
	wm_rpc_call_send(call, (const uint8_t *)buf, (size_t)n);
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static void hold_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	((struct fx *)data)->held = call;
}

static void on_limit(void *data, const char *source, const char *what)
{
	struct fx *fx = data;
	fx->limit_hits++;
	snprintf(fx->limit_source, sizeof(fx->limit_source), "%s", source);
	snprintf(fx->limit_what, sizeof(fx->limit_what), "%s", what);
}

/* ------------------------------------------------------------ fixture */

static void srv_done_cb(void *data)
{
	((struct fx *)data)->srv_done = true;
}

static void start_server(struct fx *fx, struct wm_rpc_server_config cfg)
{
	char err[256] = "";
	struct wm_tls_server_opts so = {.cert_file = fx->cert, .key_file = fx->key};
	fx->srv_tls = wm_tls_server_ctx_new(&so, err, sizeof(err));
	assert_non_null(fx->srv_tls);
	cfg.on_limit = on_limit;
	cfg.on_limit_data = fx;
	assert_int_equal(wm_rpc_server_new(&fx->loop, &cfg, &fx->srv), 0);
	struct wm_rpc_method methods[] = {
		{"/t.S/Size", false, size_handler, fx},
		{"/t.S/Hold", true, hold_handler, fx},
	};
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(wm_rpc_server_register(fx->srv, &methods[i]), 0);
	assert_int_equal(wm_rpc_server_listen_tcp(fx->srv, "127.0.0.1", 0, fx->srv_tls), 0);
	fx->port = wm_rpc_server_port(fx->srv);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char err[256];
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&fx->loop);
	strcpy(fx->dir, "/tmp/wm-rpc-limits-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->cert, sizeof(fx->cert), "%s/tls.crt", fx->dir);
	snprintf(fx->key, sizeof(fx->key), "%s/tls.key", fx->dir);
	const char *ips[] = {"127.0.0.1"};
	if (wm_tls_ensure_self_signed(fx->cert, fx->key, "node-1", ips, 1, err, sizeof(err)) ||
	    wm_tls_cert_file_fingerprint(fx->cert, fx->fp))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	if (fx->srv) {
		wm_rpc_server_shutdown(fx->srv, 0, srv_done_cb, fx);
		for (int i = 0; !fx->srv_done && i < 100000; i++)
			uv_run(&fx->loop, UV_RUN_ONCE);
		assert_true(fx->srv_done);
		wm_rpc_server_free(fx->srv);
	}
	SSL_CTX_free(fx->srv_tls);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	unlink(fx->cert);
	unlink(fx->key);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void wake_cb(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until *flag or about ms of loop time passed. */
static void run_for(struct fx *fx, const bool *flag, uint64_t ms)
{
	uint64_t end = uv_now(&fx->loop) + ms;
	uv_timer_t t;
	uv_timer_init(&fx->loop, &t);
	uv_timer_start(&t, wake_cb, ms, 0);
	while ((!flag || !*flag) && uv_now(&fx->loop) < end)
		uv_run(&fx->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
}

/* ------------------------------------------------------------ h2 client */

struct hstream {
	int32_t id;
	uint8_t *body; /* what the DATA frames carry */
	size_t len, off;
	bool end; /* END_STREAM after body */
	bool closed, has_status;
	uint32_t rst; /* error code of its closing */
	int status;
	char msg[200];
};

struct h2c {
	struct fx *fx;
	int fd;
	nghttp2_session *s;
	struct hstream st[MAX_STREAMS];
	int n;
	uint8_t *pend;
	size_t pend_len, pend_off;
	bool eof;
};

static struct hstream *by_id(struct h2c *c, int32_t id)
{
	for (int i = 0; i < c->n; i++)
		if (c->st[i].id == id)
			return &c->st[i];
	return NULL;
}

static int h_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		    const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	(void)s;
	(void)flags;
	struct hstream *h = by_id(ud, f->hd.stream_id);
	if (!h)
		return 0;
	if (nlen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		h->has_status = true;
		h->status = atoi((const char *)value);
	} else if (nlen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		char *m = wm_grpc_percent_decode((const char *)value, vlen);
		snprintf(h->msg, sizeof(h->msg), "%s", m);
		free(m);
	}
	return 0;
}

static int h_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	(void)s;
	struct hstream *h = by_id(ud, id);
	if (h) {
		h->closed = true;
		h->rst = code;
	}
	return 0;
}

static ssize_t h_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
		      nghttp2_data_source *src, void *ud)
{
	(void)s;
	(void)id;
	(void)ud;
	struct hstream *h = src->ptr;
	size_t n = h->len - h->off < length ? h->len - h->off : length;
	memcpy(buf, h->body + h->off, n);
	h->off += n;
	if (h->off == h->len) {
		if (h->end) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			return (ssize_t)n;
		}
		if (n == 0)
			return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static void h2c_open(struct fx *fx, struct h2c *c)
{
	int sv[2];
	memset(c, 0, sizeof(*c));
	c->fx = fx;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(wm_rpc_server_adopt_fd(fx->srv, sv[0]), 0);
	c->fd = sv[1];
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	nghttp2_session_callbacks *cbs;
	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_on_header_callback(cbs, h_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h_close);
	assert_int_equal(nghttp2_session_client_new(&c->s, cbs, c), 0);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0);
}

static void h2c_close(struct h2c *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->st[i].body);
	free(c->pend);
	nghttp2_session_del(c->s);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* A request whose body starts with a message prefix announcing announced
 * bytes, followed by the first have bytes of the message. */
static struct hstream *h2c_request(struct h2c *c, const char *path, uint32_t announced, size_t have,
				   bool end, const nghttp2_nv *extra, size_t n_extra)
{
	assert_true(c->n < MAX_STREAMS);
	struct hstream *h = &c->st[c->n++];
	h->len = WM_GRPC_FRAME_HDR + have;
	h->body = calloc(1, h->len);
	wm_grpc_frame_header(h->body, announced);
	h->end = end;
	nghttp2_nv nv[24] = {
		WM_NV(":method", "POST"),
		WM_NV(":scheme", "http"),
		WM_NV(":authority", "x"),
		{(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
		WM_NV("content-type", "application/grpc"),
		WM_NV("te", "trailers"),
	};
	size_t n = 6;
	for (size_t i = 0; i < n_extra && n < 24; i++)
		nv[n++] = extra[i];
	nghttp2_data_provider prd = {.source.ptr = h, .read_callback = h_read};
	h->id = nghttp2_submit_request(c->s, NULL, nv, n, &prd, h);
	assert_true(h->id > 0);
	return h;
}

/* More bytes for a stream (and END_STREAM when end). */
static void h2c_more(struct h2c *c, struct hstream *h, size_t n, bool end)
{
	uint8_t *b = realloc(h->body, h->len + n);
	assert_non_null(b);
	memset(b + h->len, 'm', n);
	h->body = b;
	h->len += n;
	h->end = end;
	nghttp2_session_resume_data(c->s, h->id);
}

/* Writes what the client session has, lets the server run, and feeds the
 * client what the server wrote: once. */
static void h2c_pump(struct h2c *c)
{
	for (int guard = 0; guard < 64; guard++) {
		if (c->pend_off == c->pend_len) {
			const uint8_t *d;
			ssize_t n = nghttp2_session_mem_send(c->s, &d);
			if (n <= 0)
				break;
			uint8_t *p = realloc(c->pend, (size_t)n);
			assert_non_null(p);
			memcpy(p, d, (size_t)n);
			c->pend = p;
			c->pend_len = (size_t)n;
			c->pend_off = 0;
		}
		ssize_t w = write(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off);
		if (w <= 0)
			break;
		c->pend_off += (size_t)w;
	}
	uv_run(&c->fx->loop, UV_RUN_NOWAIT);
	uint8_t buf[65536];
	ssize_t r;
	while ((r = read(c->fd, buf, sizeof(buf))) > 0)
		assert_true(nghttp2_session_mem_recv(c->s, buf, (size_t)r) >= 0);
	if (r == 0)
		c->eof = true;
}

static int count_closed(struct h2c *c)
{
	int n = 0;
	for (int i = 0; i < c->n; i++)
		n += c->st[i].closed;
	return n;
}

/* Pumps until want streams are closed (bounded in turns). */
static void h2c_until_closed(struct h2c *c, int want)
{
	for (int i = 0; count_closed(c) < want && !c->eof && i < 20000; i++)
		h2c_pump(c);
	assert_int_equal(count_closed(c), want);
}

#define CONN_FULL "too many request bytes in flight on this connection (limit %zu bytes)"
#define SRV_FULL "the server has too many request bytes in flight (limit %zu bytes); retry later"

/* ------------------------------------------------------------ tests */

/* 100 streams announcing 4 MiB each on one connection: what is counted is
 * bounded by the connection's budget, not by what the peer announces; the
 * rest are refused with the exact reason; an admitted message completes. */
static void test_announced_lengths(void **state)
{
	struct fx *fx = *state;
	start_server(fx, (struct wm_rpc_server_config){0});
	size_t cap = 2 * WM_RPC_DEFAULT_MAX_MESSAGE + 2 * MIB;
	assert_int_equal(fx->srv->max_buffered_conn, cap);
	struct h2c c;
	h2c_open(fx, &c);
	for (int i = 0; i < 100; i++)
		h2c_request(&c, "/t.S/Size", 4 * MIB, 0, false, NULL, 0);
	h2c_until_closed(&c, 98);
	char want[200];
	snprintf(want, sizeof(want), CONN_FULL, cap);
	for (int i = 0; i < 100; i++) {
		if (i < 2) {
			assert_false(c.st[i].closed);
			continue;
		}
		assert_true(c.st[i].has_status);
		assert_int_equal(c.st[i].status, WM_GRPC_RESOURCE_EXHAUSTED);
		assert_string_equal(c.st[i].msg, want);
	}
	/* Counted: the two admitted messages whole, nothing of the others. */
	assert_int_equal(fx->srv->buffered, 2 * (4 * MIB + WM_GRPC_FRAME_HDR));
	assert_int_equal(fx->srv->conns->buffered, fx->srv->buffered);
	/* The window the server gives the peer is the budget (plus slack), and
	 * what the peer may still send is less by what it sent (WINDOW_UPDATEs
	 * for given-back bytes come in batches). */
	nghttp2_session *h2 = fx->srv->conns->conn.h2;
	assert_int_equal(nghttp2_session_get_effective_local_window_size(h2),
			 (int32_t)(cap + 65536 + 4 * 100));
	assert_true(nghttp2_session_get_local_window_size(h2) <=
		    (int32_t)(cap + 65536 + 4 * 100 - 2 * WM_GRPC_FRAME_HDR));
	assert_int_equal(fx->limit_hits, 1);
	assert_string_equal(fx->limit_source, "unix");
	assert_string_equal(fx->limit_what, "requests refused: connection byte budget full");
	/* The first message arrives in full and is served; its bytes are free
	 * again once it is answered, and a new stream fits. */
	h2c_more(&c, &c.st[0], 4 * MIB, true);
	h2c_until_closed(&c, 99);
	assert_int_equal(c.st[0].status, WM_GRPC_OK);
	assert_int_equal(fx->srv->buffered, 4 * MIB + WM_GRPC_FRAME_HDR);
	struct hstream *h = h2c_request(&c, "/t.S/Size", 4 * MIB, 0, false, NULL, 0);
	for (int i = 0; i < 200; i++)
		h2c_pump(&c);
	assert_false(h->closed);
	assert_int_equal(fx->srv->buffered, 2 * (4 * MIB + WM_GRPC_FRAME_HDR));
	/* The connection gone, nothing stays counted. */
	h2c_close(&c);
	for (int i = 0; fx->srv->n_conns > 0 && i < 10000; i++)
		uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(fx->srv->n_conns, 0);
	assert_int_equal(fx->srv->buffered, 0);
}

/* The server's budget over all connections. */
static void test_server_budget(void **state)
{
	struct fx *fx = *state;
	start_server(fx, (struct wm_rpc_server_config){.max_message_size = MIB,
						       .max_buffered_per_connection = 3 * MIB,
						       .max_buffered = 4 * MIB});
	struct h2c a, b;
	h2c_open(fx, &a);
	h2c_open(fx, &b);
	h2c_request(&a, "/t.S/Size", MIB, 10, false, NULL, 0);
	h2c_request(&a, "/t.S/Size", MIB, 10, false, NULL, 0);
	for (int i = 0; i < 100; i++)
		h2c_pump(&a);
	h2c_request(&b, "/t.S/Size", MIB, 0, false, NULL, 0);
	h2c_request(&b, "/t.S/Size", MIB, 0, false, NULL, 0);
	h2c_until_closed(&b, 1);
	char want[200];
	snprintf(want, sizeof(want), SRV_FULL, (size_t)4 * MIB);
	assert_false(b.st[0].closed);
	assert_int_equal(b.st[1].status, WM_GRPC_RESOURCE_EXHAUSTED);
	assert_string_equal(b.st[1].msg, want);
	assert_int_equal(fx->srv->buffered, 3 * (MIB + WM_GRPC_FRAME_HDR));
	assert_int_equal(fx->limit_hits, 1);
	assert_string_equal(fx->limit_what, "requests refused: server byte budget full");
	/* One peer going away frees its share for the others. */
	h2c_close(&a);
	for (int i = 0; fx->srv->n_conns > 1 && i < 10000; i++)
		uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(fx->srv->buffered, MIB + WM_GRPC_FRAME_HDR);
	h2c_request(&b, "/t.S/Size", 100, 100, true, NULL, 0);
	h2c_until_closed(&b, 2);
	assert_int_equal(b.st[2].status, WM_GRPC_OK);
	h2c_close(&b);
}

/* Metadata counts too: many streams with large headers fill the budget. */
static void test_metadata_budget(void **state)
{
	struct fx *fx = *state;
	start_server(fx, (struct wm_rpc_server_config){.max_message_size = 1024,
						       .max_buffered_per_connection = 1});
	size_t cap = fx->srv->max_buffered_conn;
	assert_int_equal(cap, 1024 + 65536); /* the least a connection gets */
	static char value[1000];
	memset(value, 'v', sizeof(value) - 1);
	char names[15][8];
	nghttp2_nv md[15];
	for (int i = 0; i < 15; i++) {
		snprintf(names[i], sizeof(names[i]), "x-md%02d", i);
		md[i] = (nghttp2_nv){(uint8_t *)names[i], (uint8_t *)value, 6, sizeof(value) - 1,
				     NGHTTP2_NV_FLAG_NO_INDEX};
	}
	struct h2c c;
	h2c_open(fx, &c);
	for (int i = 0; i < 5; i++)
		h2c_request(&c, "/t.S/Size", 10, 0, false, md, 15);
	h2c_until_closed(&c, 1);
	char want[200];
	snprintf(want, sizeof(want), CONN_FULL, cap);
	for (int i = 0; i < 4; i++)
		assert_false(c.st[i].closed);
	assert_int_equal(c.st[4].status, WM_GRPC_RESOURCE_EXHAUSTED);
	assert_string_equal(c.st[4].msg, want);
	size_t per = 15 * (6 + 999 + 32) + 10 + WM_GRPC_FRAME_HDR;
	assert_int_equal(fx->srv->buffered, 4 * per);
	h2c_close(&c);
}

/* Streams beyond SETTINGS_MAX_CONCURRENT_STREAMS, sent before the client
 * could have read the SETTINGS, are refused. */
static void test_stream_limit(void **state)
{
	struct fx *fx = *state;
	start_server(fx, (struct wm_rpc_server_config){.max_concurrent_streams = 4});
	struct h2c c;
	h2c_open(fx, &c);
	for (int i = 0; i < 7; i++)
		h2c_request(&c, "/t.S/Size", 100, 0, false, NULL, 0);
	h2c_until_closed(&c, 3);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(c.st[i].closed, i >= 4);
		if (i >= 4) {
			assert_int_equal(c.st[i].rst, NGHTTP2_REFUSED_STREAM);
			assert_false(c.st[i].has_status);
		}
	}
	assert_int_equal(
		nghttp2_session_get_remote_settings(c.s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
		4);
	h2c_close(&c);
}

struct result {
	bool done;
	int status;
	char msg[256];
};

static void unary_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	(void)resp;
	(void)len;
	struct result *r = data;
	r->done = true;
	r->status = status;
	snprintf(r->msg, sizeof(r->msg), "%s", message ? message : "");
}

static struct wm_rpc_client *tls_client(struct fx *fx)
{
	char err[256] = "";
	struct wm_tls_client_opts o = {.pin_fingerprint = fx->fp};
	SSL_CTX *ctx = wm_tls_client_ctx_new(&o, err, sizeof(err));
	assert_non_null(ctx);
	struct wm_rpc_client_config cfg = {
		.host = "127.0.0.1", .port = (uint16_t)fx->port, .tls = ctx};
	struct wm_rpc_client *c;
	assert_int_equal(wm_rpc_client_new(&fx->loop, &cfg, &c), 0);
	SSL_CTX_free(ctx);
	return c;
}

static int unary(struct fx *fx, struct wm_rpc_client *c, const char *path, struct result *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(
		wm_rpc_client_unary(c, path, (const uint8_t *)"x", 1, 5000, NULL, 0, unary_cb, r),
		0);
	run_for(fx, &r->done, 10000);
	assert_true(r->done);
	return r->status;
}

/* Connections per source: the third from 127.0.0.1 is closed at accept, and
 * the refusals are logged once. */
static void test_connections_per_source(void **state)
{
	struct fx *fx = *state;
	start_server(fx, (struct wm_rpc_server_config){.max_connections_per_source = 2});
	struct wm_rpc_client *c[4];
	struct result r;
	for (int i = 0; i < 4; i++) {
		c[i] = tls_client(fx);
		assert_int_equal(unary(fx, c[i], "/t.S/Size", &r),
				 i < 2 ? WM_GRPC_OK : WM_GRPC_UNAVAILABLE);
	}
	assert_int_equal(fx->limit_hits, 1);
	assert_string_equal(fx->limit_source, "127.0.0.1");
	assert_string_equal(fx->limit_what, "connections refused: 2 from this source (limit)");
	/* A local (unix socket) connection does not count for a source. */
	struct h2c h;
	h2c_open(fx, &h);
	h2c_request(&h, "/t.S/Size", 1, 1, true, NULL, 0);
	h2c_until_closed(&h, 1);
	assert_int_equal(h.st[0].status, WM_GRPC_OK);
	h2c_close(&h);
	/* A connection that goes frees its place. */
	wm_rpc_client_free(c[0]);
	for (int i = 0; fx->srv->n_conns > 1 && i < 10000; i++)
		uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(unary(fx, c[2], "/t.S/Size", &r), WM_GRPC_OK);
	for (int i = 1; i < 4; i++)
		wm_rpc_client_free(c[i]);
}

static size_t conns_of(struct fx *fx)
{
	return fx->srv->n_conns;
}

/* No call in progress for idle_timeout_ms: GOAWAY and close; a client then
 * connects again. A call in progress keeps the connection. */
static void test_idle_timeout(void **state)
{
	struct fx *fx = *state;
	start_server(fx, (struct wm_rpc_server_config){.idle_timeout_ms = 200});
	struct wm_rpc_client *c = tls_client(fx);
	struct result r;
	assert_int_equal(unary(fx, c, "/t.S/Size", &r), WM_GRPC_OK);
	assert_int_equal(conns_of(fx), 1);
	/* A held call: the connection stays past the idle timeout. */
	memset(&r, 0, sizeof(r));
	wm_rpc_client_unary(c, "/t.S/Hold", (const uint8_t *)"x", 1, 0, NULL, 0, unary_cb, &r);
	run_for(fx, NULL, 600);
	assert_non_null(fx->held);
	assert_int_equal(conns_of(fx), 1);
	wm_rpc_call_finish(fx->held, WM_GRPC_OK, NULL);
	fx->held = NULL;
	run_for(fx, &r.done, 1000);
	assert_true(r.done);
	/* Then idle: closed by the server within a bounded time. */
	uint64_t t0 = uv_now(&fx->loop);
	for (int i = 0; conns_of(fx) > 0 && uv_now(&fx->loop) - t0 < 5000 && i < 100000; i++)
		uv_run(&fx->loop, UV_RUN_ONCE);
	assert_int_equal(conns_of(fx), 0);
	assert_true(uv_now(&fx->loop) - t0 >= 150);
	assert_int_equal(unary(fx, c, "/t.S/Size", &r), WM_GRPC_OK);
	wm_rpc_client_free(c);
}

struct raw {
	uv_tcp_t tcp;
	uv_connect_t creq;
	bool connected, closed;
	char buf[256];
};

static void raw_close_cb(uv_handle_t *h)
{
	((struct raw *)h->data)->closed = true;
}

static void raw_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
	(void)n;
	struct raw *r = h->data;
	*buf = uv_buf_init(r->buf, sizeof(r->buf));
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	if (n < 0)
		uv_close((uv_handle_t *)s, raw_close_cb);
}

static void raw_connect_cb(uv_connect_t *req, int status)
{
	struct raw *r = req->data;
	assert_int_equal(status, 0);
	r->connected = true;
	uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

/* A connection that never says anything (no TLS hello, no preface) is closed
 * after the handshake timeout; so is a socket that never sends the preface. */
static void test_handshake_timeout(void **state)
{
	struct fx *fx = *state;
	start_server(fx, (struct wm_rpc_server_config){.handshake_timeout_ms = 200});
	struct raw raw = {0};
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", fx->port, &sa);
	uv_tcp_init(&fx->loop, &raw.tcp);
	raw.tcp.data = &raw;
	raw.creq.data = &raw;
	uv_tcp_connect(&raw.creq, &raw.tcp, (struct sockaddr *)&sa, raw_connect_cb);
	uint64_t t0 = uv_now(&fx->loop);
	run_for(fx, &raw.closed, 5000);
	assert_true(raw.connected);
	assert_true(raw.closed);
	assert_true(uv_now(&fx->loop) - t0 >= 150);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(wm_rpc_server_adopt_fd(fx->srv, sv[0]), 0);
	for (int i = 0; conns_of(fx) > 0 && uv_now(&fx->loop) - t0 < 10000 && i < 100000; i++)
		uv_run(&fx->loop, UV_RUN_ONCE);
	assert_int_equal(conns_of(fx), 0);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_announced_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metadata_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connections_per_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
