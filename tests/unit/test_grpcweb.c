/* Unit tests of gRPC-web (src/rpc/grpcweb.c): content types, the trailer
 * frame, base64 text mode, request decoding, and the transport-independent
 * adapter running registered methods through a sink. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/base64.h"
#include "rpc/frame.h"
#include "rpc/grpcweb.h"
#include "rpc/rpc.h"

static void test_mode_of(void **st)
{
	(void)st;
	struct {
		const char *v;
		enum wm_grpcweb_mode m;
	} cases[] = {
		{"application/grpc-web", WM_GRPCWEB_BINARY},
		{"application/grpc-web+proto", WM_GRPCWEB_BINARY},
		{"Application/GRPC-Web+Proto", WM_GRPCWEB_BINARY},
		{"application/grpc-web;charset=utf-8", WM_GRPCWEB_BINARY},
		{"application/grpc-web-text", WM_GRPCWEB_TEXT},
		{"application/grpc-web-text+proto", WM_GRPCWEB_TEXT},
		{"application/grpc-web+json", WM_GRPCWEB_NONE},
		{"application/grpc", WM_GRPCWEB_NONE},
		{"application/grpc-webx", WM_GRPCWEB_NONE},
		{"application/grpc-web-textual", WM_GRPCWEB_NONE},
		{"text/html", WM_GRPCWEB_NONE},
		{"", WM_GRPCWEB_NONE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(wm_grpcweb_mode_of(cases[i].v, strlen(cases[i].v)), cases[i].m);
	assert_int_equal(wm_grpcweb_mode_of(NULL, 0), WM_GRPCWEB_NONE);
	assert_string_equal(wm_grpcweb_content_type(WM_GRPCWEB_TEXT),
			    "application/grpc-web-text+proto");
	assert_string_equal(wm_grpcweb_content_type(WM_GRPCWEB_BINARY),
			    "application/grpc-web+proto");
}

static void test_trailer(void **st)
{
	(void)st;
	size_t n;
	uint8_t *t = wm_grpcweb_trailer(0, NULL, &n);
	static const char ok[] = "grpc-status:0\r\n";
	assert_non_null(t);
	assert_int_equal(n, 5 + sizeof(ok) - 1);
	assert_int_equal(t[0], 0x80);
	assert_int_equal(t[1] << 24 | t[2] << 16 | t[3] << 8 | t[4], sizeof(ok) - 1);
	assert_memory_equal(t + 5, ok, sizeof(ok) - 1);
	free(t);

	/* The message is percent-encoded: a CR LF in it cannot forge a line. */
	t = wm_grpcweb_trailer(7, "no\r\ngrpc-status:0 100%", &n);
	static const char denied[] =
		"grpc-status:7\r\ngrpc-message:no%0D%0Agrpc-status:0 100%25\r\n";
	assert_non_null(t);
	assert_int_equal(n, 5 + sizeof(denied) - 1);
	assert_memory_equal(t + 5, denied, sizeof(denied) - 1);
	free(t);
}

static void test_b64(void **st)
{
	(void)st;
	struct wm_grpcweb_b64 d = {0};
	uint8_t out[64];
	size_t n, total = 0;
	/* "AAEC" "Aw==" as two chunks split in odd places, then a second padded
	 * chunk: a client may encode each piece on its own. */
	const char *parts[] = {"AA", "ECA", "w=", "=BA==", ""};
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(wm_grpcweb_b64_feed(&d, (const uint8_t *)parts[i],
						     strlen(parts[i]), out + total, &n),
				 0);
		total += n;
	}
	assert_true(wm_grpcweb_b64_idle(&d));
	assert_int_equal(total, 5);
	static const uint8_t want[] = {0, 1, 2, 3, 4};
	assert_memory_equal(out, want, 5);

	/* a pending partial group */
	memset(&d, 0, sizeof(d));
	assert_int_equal(wm_grpcweb_b64_feed(&d, (const uint8_t *)"QUJ", 3, out, &n), 0);
	assert_int_equal(n, 0);
	assert_false(wm_grpcweb_b64_idle(&d));

	const char *bad[] = {"QU J", "Q===", "=AAA", "QU=J", "QUJ\n", "QU-_"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&d, 0, sizeof(d));
		assert_int_equal(
			wm_grpcweb_b64_feed(&d, (const uint8_t *)bad[i], strlen(bad[i]), out, &n),
			-EBADMSG);
	}
}

static size_t framed(uint8_t *out, uint8_t flag, const char *msg)
{
	size_t len = strlen(msg);
	wm_grpc_frame_header(out, (uint32_t)len);
	out[0] = flag;
	memcpy(out + 5, msg, len);
	return 5 + len;
}

static void test_request_decode(void **st)
{
	(void)st;
	uint8_t body[256], *msg;
	size_t n = framed(body, 0, "hello"), len;
	char text[512];

	assert_int_equal(wm_grpcweb_request_decode(WM_GRPCWEB_BINARY, body, n, 100, &msg, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(msg, "hello", 5);
	free(msg);

	size_t tn = wm_base64_encode(body, n, text);
	assert_int_equal(
		wm_grpcweb_request_decode(WM_GRPCWEB_TEXT, (uint8_t *)text, tn, 100, &msg, &len),
		0);
	assert_int_equal(len, 5);
	assert_memory_equal(msg, "hello", 5);
	free(msg);

	/* an empty message is a message */
	n = framed(body, 0, "");
	assert_int_equal(wm_grpcweb_request_decode(WM_GRPCWEB_BINARY, body, n, 100, &msg, &len), 0);
	assert_int_equal(len, 0);
	free(msg);

	/* the errors, each with its status */
	const char *why;
	n = framed(body, 0, "one");
	n += framed(body + n, 0, "two");
	assert_int_equal(wm_grpcweb_request_decode(WM_GRPCWEB_BINARY, body, n, 100, &msg, &len),
			 -E2BIG);
	assert_int_equal(wm_grpcweb_decode_status(-E2BIG, &why), WM_GRPC_UNIMPLEMENTED);
	assert_int_equal(wm_grpcweb_request_decode(WM_GRPCWEB_BINARY, body, 0, 100, &msg, &len),
			 -E2BIG);
	n = framed(body, 0, "hello");
	assert_int_equal(wm_grpcweb_request_decode(WM_GRPCWEB_BINARY, body, n - 1, 100, &msg, &len),
			 -EBADMSG);
	assert_int_equal(wm_grpcweb_decode_status(-EBADMSG, &why), WM_GRPC_INTERNAL);
	assert_int_equal(wm_grpcweb_request_decode(WM_GRPCWEB_BINARY, body, n, 4, &msg, &len),
			 -EMSGSIZE);
	assert_int_equal(wm_grpcweb_decode_status(-EMSGSIZE, &why), WM_GRPC_RESOURCE_EXHAUSTED);
	n = framed(body, 1, "hello");
	assert_int_equal(wm_grpcweb_request_decode(WM_GRPCWEB_BINARY, body, n, 100, &msg, &len),
			 -EPROTONOSUPPORT);
	n = framed(body, 0x80, "grpc-status:0\r\n");
	assert_int_equal(wm_grpcweb_request_decode(WM_GRPCWEB_BINARY, body, n, 100, &msg, &len),
			 -EBADMSG);
	assert_int_equal(wm_grpcweb_request_decode(WM_GRPCWEB_TEXT, (const uint8_t *)"AAAA=", 5,
						   100, &msg, &len),
			 -EBADMSG);
}

/* ---- the adapter, with methods registered on a server that never listens */

struct out {
	int headers, ends, status;
	char ctype[64];
	uint8_t body[4096];
	size_t len;
	int chunks;
	int fail_data;				/* the transport's client is gone */
	struct wm_grpcweb_call **detach_in_end; /* the transport detaches in end */
};

static int o_headers(void *data, int status, const char *ctype)
{
	struct out *o = data;
	assert_int_equal(o->len, 0);
	o->headers++;
	o->status = status;
	snprintf(o->ctype, sizeof(o->ctype), "%s", ctype);
	return 0;
}

static int o_data(void *data, const uint8_t *b, size_t len)
{
	struct out *o = data;
	assert_int_equal(o->headers, 1);
	assert_int_equal(o->ends, 0);
	if (o->fail_data)
		return -EPIPE;
	assert_true(o->len + len <= sizeof(o->body));
	memcpy(o->body + o->len, b, len);
	o->len += len;
	o->chunks++;
	return 0;
}

static void o_end(void *data)
{
	struct out *o = data;
	o->ends++;
	if (o->detach_in_end)
		wm_grpcweb_call_detach(*o->detach_in_end);
}

static const struct wm_grpcweb_sink sink = {o_headers, o_data, o_end};

static void echo(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)data;
	const char *auth = wm_rpc_call_metadata(call, "authorization");
	const char *fp = wm_rpc_call_server_fingerprint(call);
	/* only a local caller's transport may say which certificate it stands for */
	if (wm_rpc_call_is_local(call))
		assert_string_equal(fp, "sha256:00");
	else
		assert_null(fp);
	/* The forwarding headers never reach a handler from a browser, whatever
	 * case the transport gave their names in; nor do cookies. */
	assert_null(wm_rpc_call_metadata(call, "x-webmesh-proxied-for"));
	assert_null(wm_rpc_call_metadata(call, "x-webmesh-proxied-from"));
	assert_null(wm_rpc_call_metadata(call, "cookie"));
	if (auth && strcmp(auth, "Basic bad") == 0) {
		wm_rpc_call_finish(call, WM_GRPC_UNAUTHENTICATED, "authentication failed");
		return;
	}
	assert_int_equal(wm_rpc_call_send(call, req, len), 0);
	/* a unary call sends one message */
	assert_int_equal(wm_rpc_call_send(call, req, len), -EINVAL);
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static struct wm_rpc_call *held;
static int cancels;

static void on_cancel(struct wm_rpc_call *call, void *data)
{
	(void)data;
	cancels++;
	wm_rpc_call_finish(call, WM_GRPC_CANCELLED, NULL);
	held = NULL;
}

static void stream(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)data;
	if (wm_rpc_call_send(call, req, len) < 0) {
		assert_true(wm_rpc_call_cancelled(call));
		wm_rpc_call_finish(call, WM_GRPC_CANCELLED, NULL);
		return;
	}
	assert_int_equal(wm_rpc_call_send(call, (const uint8_t *)"two", 3), 0);
	wm_rpc_call_set_cancel_cb(call, on_cancel, NULL);
	held = call;
}

/* Parses frames from o: message payloads joined by '|', then the trailer. */
static void frames(const uint8_t *b, size_t len, char *msgs, size_t mlen, char *trailer,
		   size_t tlen)
{
	size_t off = 0;
	msgs[0] = trailer[0] = '\0';
	while (off + 5 <= len) {
		uint32_t n = (uint32_t)b[off + 1] << 24 | (uint32_t)b[off + 2] << 16 |
			     (uint32_t)b[off + 3] << 8 | b[off + 4];
		assert_true(off + 5 + n <= len);
		if (b[off] == 0x80) {
			snprintf(trailer, tlen, "%.*s", (int)n, (const char *)b + off + 5);
		} else {
			assert_int_equal(b[off], 0);
			size_t l = strlen(msgs);
			snprintf(msgs + l, mlen - l, "%s%.*s", l ? "|" : "", (int)n,
				 (const char *)b + off + 5);
		}
		off += 5 + n;
	}
	assert_int_equal(off, len);
}

static struct wm_rpc_server *server(uv_loop_t *loop)
{
	struct wm_rpc_server *srv;
	assert_int_equal(wm_rpc_server_new(loop, NULL, &srv), 0);
	struct wm_rpc_method m1 = {"/t.S/Echo", false, echo, NULL};
	struct wm_rpc_method m2 = {"/t.S/Stream", true, stream, NULL};
	assert_int_equal(wm_rpc_server_register(srv, &m1), 0);
	assert_int_equal(wm_rpc_server_register(srv, &m2), 0);
	return srv;
}

static void test_adapter_unary(void **st)
{
	(void)st;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wm_rpc_server *srv = server(&loop);
	uint8_t body[64];
	size_t n = framed(body, 0, "ping");
	struct wm_rpc_metadata md[] = {{"Authorization", "Basic ok"},
				       {"x-webmesh-proxied-for", "node:n1"},
				       {"X-Webmesh-Proxied-For", "node:n1"},
				       {"X-WEBMESH-PROXIED-FROM", "n1"},
				       {"Cookie", "session=1"}};
	struct wm_grpcweb_request rq = {.path = "/t.S/Echo",
					.content_type = "application/grpc-web+proto",
					.md = md,
					.n_md = 5,
					.peer = "127.0.0.1:1",
					.server_fp = "sha256:00",
					.body = body,
					.len = n};
	struct out o = {0};
	struct wm_grpcweb_call *c;
	char msgs[256], tr[256];

	assert_int_equal(wm_grpcweb_call_start(srv, &loop, &rq, &sink, &o, &c), 0);
	assert_int_equal(o.headers, 1);
	assert_int_equal(o.status, 200);
	assert_string_equal(o.ctype, "application/grpc-web+proto");
	assert_int_equal(o.ends, 1);
	frames(o.body, o.len, msgs, sizeof(msgs), tr, sizeof(tr));
	assert_string_equal(msgs, "ping");
	assert_string_equal(tr, "grpc-status:0\r\n");
	wm_grpcweb_call_detach(c);
	rq.local = true;
	memset(&o, 0, sizeof(o));
	assert_int_equal(wm_grpcweb_call_start(srv, &loop, &rq, &sink, &o, &c), 0);
	assert_int_equal(o.ends, 1);
	wm_grpcweb_call_detach(c);
	rq.local = false;

	/* the usual transport: detach in end, for a dispatched call and for
	 * one refused before any handler ran */
	memset(&o, 0, sizeof(o));
	o.detach_in_end = &c;
	assert_int_equal(wm_grpcweb_call_start(srv, &loop, &rq, &sink, &o, &c), 0);
	assert_int_equal(o.ends, 1);
	rq.path = "/t.S/Nope";
	memset(&o, 0, sizeof(o));
	o.detach_in_end = &c;
	assert_int_equal(wm_grpcweb_call_start(srv, &loop, &rq, &sink, &o, &c), 0);
	assert_int_equal(o.ends, 1);
	rq.path = "/t.S/Echo";

	/* the handler sees the metadata (key case folded) and refuses */
	md[0].value = "Basic bad";
	memset(&o, 0, sizeof(o));
	assert_int_equal(wm_grpcweb_call_start(srv, &loop, &rq, &sink, &o, &c), 0);
	frames(o.body, o.len, msgs, sizeof(msgs), tr, sizeof(tr));
	assert_string_equal(msgs, "");
	assert_string_equal(tr, "grpc-status:16\r\ngrpc-message:authentication failed\r\n");
	wm_grpcweb_call_detach(c);

	/* unknown method, wrong content type, bad body: answered, not dispatched */
	struct {
		const char *path, *ctype;
		size_t len;
		const char *want;
	} bad[] = {
		{"/t.S/Nope", "application/grpc-web", n, "grpc-status:12\r\n"},
		{"/t.S/Echo", "application/json", n, "grpc-status:2\r\n"},
		{"/t.S/Echo", "application/grpc-web", n - 1, "grpc-status:13\r\n"},
	};
	for (size_t i = 0; i < 3; i++) {
		rq.path = bad[i].path;
		rq.content_type = bad[i].ctype;
		rq.len = bad[i].len;
		memset(&o, 0, sizeof(o));
		assert_int_equal(wm_grpcweb_call_start(srv, &loop, &rq, &sink, &o, &c), 0);
		assert_int_equal(o.ends, 1);
		frames(o.body, o.len, msgs, sizeof(msgs), tr, sizeof(tr));
		assert_string_equal(msgs, "");
		assert_memory_equal(tr, bad[i].want, strlen(bad[i].want));
		wm_grpcweb_call_detach(c);
	}
	assert_int_equal(wm_grpcweb_call_start(srv, &loop, &rq, NULL, &o, &c), -EINVAL);
	wm_rpc_server_free(srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_adapter_text_stream(void **st)
{
	(void)st;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wm_rpc_server *srv = server(&loop);
	uint8_t body[64], plain[4096];
	char text[128], msgs[256], tr[256];
	size_t n = framed(body, 0, "one");
	size_t tn = wm_base64_encode(body, n, text);
	struct wm_grpcweb_request rq = {.path = "/t.S/Stream",
					.content_type = "application/grpc-web-text",
					.body = (uint8_t *)text,
					.len = tn};
	struct out o = {0};
	struct wm_grpcweb_call *c;

	cancels = 0;
	assert_int_equal(wm_grpcweb_call_start(srv, &loop, &rq, &sink, &o, &c), 0);
	assert_string_equal(o.ctype, "application/grpc-web-text+proto");
	assert_non_null(held);
	assert_false(wm_rpc_call_cancelled(held));
	assert_int_equal(o.ends, 0);
	/* each chunk is base64 of whole frames, decodable on its own */
	assert_int_equal(o.chunks, 2);
	struct wm_grpcweb_b64 d = {0};
	size_t pn;
	assert_int_equal(wm_grpcweb_b64_feed(&d, o.body, o.len, plain, &pn), 0);
	frames(plain, pn, msgs, sizeof(msgs), tr, sizeof(tr));
	assert_string_equal(msgs, "one|two");
	assert_string_equal(tr, "");

	/* the client goes away: the handler is told and finishes; no callback */
	int ends = o.ends;
	wm_grpcweb_call_detach(c);
	assert_int_equal(cancels, 1);
	assert_null(held);
	assert_int_equal(o.ends, ends);

	/* a transport that fails a write cancels the stream */
	memset(&o, 0, sizeof(o));
	o.fail_data = 1;
	cancels = 0;
	assert_int_equal(wm_grpcweb_call_start(srv, &loop, &rq, &sink, &o, &c), 0);
	/* the handler's first send failed and it finished: end, no data */
	assert_int_equal(o.ends, 1);
	assert_int_equal(o.len, 0);
	assert_int_equal(cancels, 0);
	wm_grpcweb_call_detach(c);

	wm_rpc_server_free(srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* The one rule both transports ask: an Origin must name this very server. */
static void test_same_origin(void **state)
{
	(void)state;
	assert_true(wm_grpcweb_same_origin(NULL, "https", "a.example:8443"));
	assert_true(wm_grpcweb_same_origin("https://a.example:8443", "https", "a.example:8443"));
	assert_true(wm_grpcweb_same_origin("http://127.0.0.1:8080", "http", "127.0.0.1:8080"));
	assert_false(wm_grpcweb_same_origin("http://a.example:8443", "https", "a.example:8443"));
	assert_false(wm_grpcweb_same_origin("https://a.example:8443/", "https", "a.example:8443"));
	assert_false(wm_grpcweb_same_origin("https://a.example", "https", "a.example:8443"));
	assert_false(
		wm_grpcweb_same_origin("https://a.example:8443.evil", "https", "a.example:8443"));
	assert_false(wm_grpcweb_same_origin("null", "https", "a.example:8443"));
	assert_false(wm_grpcweb_same_origin("https:/a.example:8443", "https", "a.example:8443"));
	assert_false(wm_grpcweb_same_origin("https://a.example:8443", "https", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_of),	      cmocka_unit_test(test_trailer),
		cmocka_unit_test(test_b64),	      cmocka_unit_test(test_request_decode),
		cmocka_unit_test(test_adapter_unary), cmocka_unit_test(test_adapter_text_stream),
		cmocka_unit_test(test_same_origin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
