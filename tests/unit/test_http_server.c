/* Unit tests for src/http/server.c and console.c on a real loop: a client
 * thread speaks raw HTTP/1.1 to a server on 127.0.0.1 while the test's loop
 * runs the server. Request parsing edge cases (pipelining, chunked bodies,
 * oversize headers and bodies, bad methods), the console session, streaming
 * answers and the client leaving, the console's files and traversal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "http/console.h"
#include "http/http.h"

#define RESP_MAX (256 * 1024)

struct client {
	uint16_t port;
	const char *send[4]; /* sent one after another on one connection */
	int n_conns;	     /* >1: open this many first, talk on the last */
	char resp[RESP_MAX];
	size_t len;
	uv_async_t done;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	int fds[40], fd = -1;
	int n = c->n_conns ? c->n_conns : 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	for (int i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		struct timeval tv = {.tv_sec = 5};
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
			goto out;
	}
	fd = fds[n - 1];
	for (int i = 0; i < 4 && c->send[i]; i++) {
		if (send(fd, c->send[i], strlen(c->send[i]), MSG_NOSIGNAL) < 0)
			break;
		usleep(20000);
	}
	/* until the server closes (the test server's idle timeout is short) */
	for (;;) {
		ssize_t r = recv(fd, c->resp + c->len, RESP_MAX - 1 - c->len, 0);
		if (r <= 0)
			break;
		c->len += (size_t)r;
	}
out:
	c->resp[c->len] = '\0';
	for (int i = 0; i < n; i++)
		close(fds[i]);
	uv_async_send(&c->done);
	return NULL;
}

static void client_done(uv_async_t *a)
{
	uv_close((uv_handle_t *)a, NULL);
	uv_stop(a->loop);
}

/* Runs the loop until the client thread is done. */
static void talk(uv_loop_t *loop, struct client *c)
{
	pthread_t t;
	uv_async_init(loop, &c->done, client_done);
	pthread_create(&t, NULL, client_main, c);
	uv_run(loop, UV_RUN_DEFAULT);
	pthread_join(t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* ---- handlers ---- */

static void h_hello(struct wm_http_req *req, void *arg)
{
	(void)arg;
	static const char *const h[] = {"Content-Type", "text/plain", NULL};
	char body[128];
	int n = snprintf(body, sizeof(body), "hello %s q=%s", wm_http_req_path(req),
			 wm_http_req_query(req));
	wm_http_respond(req, 200, h, body, (size_t)n);
}

static void h_echo(struct wm_http_req *req, void *arg)
{
	(void)arg;
	size_t len;
	const uint8_t *b = wm_http_req_body(req, &len);
	char out[64];
	const char *xh = wm_http_req_header(req, "x-TEST");
	int n = snprintf(out, sizeof(out), "len=%zu first=%c x=%s", len, len ? b[0] : '-',
			 xh ? xh : "none");
	wm_http_respond(req, 200, NULL, out, (size_t)n);
}

static void h_stream(struct wm_http_req *req, void *arg)
{
	(void)arg;
	static const char *const h[] = {"Content-Type", "text/event-stream", NULL};
	assert_int_equal(wm_http_start(req, 200, h), 0);
	assert_int_equal(wm_http_chunk(req, "abc", 3), 0);
	assert_int_equal(wm_http_chunk(req, "", 0), 0);
	assert_int_equal(wm_http_chunk(req, "defgh", 5), 0);
	assert_int_equal(wm_http_end(req), 0);
}

/* A stream that never ends by itself: the client leaves, on_close says so,
 * and the handler finishes then. */
static struct wm_http_req *held;
static int closed_seen;
static int end_rc = 1;
static void held_closed(void *data)
{
	(void)data;
	closed_seen++;
	end_rc = wm_http_end(held);
	held = NULL;
}

static void h_forever(struct wm_http_req *req, void *arg)
{
	(void)arg;
	held = req;
	wm_http_req_on_close(req, held_closed, NULL);
	wm_http_start(req, 200, NULL);
	wm_http_chunk(req, "tick", 4);
}

static void h_secret(struct wm_http_req *req, void *arg)
{
	(void)arg;
	const char *body = wm_http_req_session(req) ? "secret" : "no session?";
	wm_http_respond(req, 200, NULL, body, strlen(body));
}

static void h_badheader(struct wm_http_req *req, void *arg)
{
	(void)arg;
	static const char *const h[] = {"X-Evil", "a\r\nSet-Cookie: x=y", NULL};
	assert_int_equal(wm_http_respond(req, 200, h, "x", 1), -EINVAL);
}

struct fixture {
	uv_loop_t loop;
	struct wm_http *srv;
	struct wm_http_console *console;
	char dir[64];
	bool closed;
};

static void srv_closed(void *data)
{
	((struct fixture *)data)->closed = true;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	struct wm_http_config cfg = {.loop = &f->loop,
				     .max_header_bytes = 2048,
				     .max_body_bytes = 100,
				     .idle_timeout_ms = 300,
				     .max_connections_per_source = 3};
	assert_int_equal(wm_http_new(&cfg, &f->srv), 0);
	assert_int_equal(wm_http_mount_public(f->srv, "GET", "/hello", h_hello, NULL), 0);
	assert_int_equal(wm_http_mount_public(f->srv, "POST", "/echo", h_echo, NULL), 0);
	assert_int_equal(wm_http_mount_public(f->srv, "GET", "/stream", h_stream, NULL), 0);
	assert_int_equal(wm_http_mount_public(f->srv, "GET", "/forever", h_forever, NULL), 0);
	assert_int_equal(wm_http_mount_public(f->srv, "GET", "/badheader", h_badheader, NULL), 0);
	assert_int_equal(wm_http_mount(f->srv, "GET", "/secret", h_secret, NULL), 0);
	assert_int_equal(wm_http_mount(f->srv, "GET", "/secret", h_secret, NULL), -EEXIST);
	assert_int_equal(wm_http_mount(f->srv, "get", "/x", h_secret, NULL), -EINVAL);
	assert_int_equal(wm_http_mount(f->srv, "GET", "x", h_secret, NULL), -EINVAL);
	/* the console's files: a temporary directory with a file, its .gz,
	 * and a symbolic link out of it */
	snprintf(f->dir, sizeof(f->dir), "/tmp/wm-http-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char p[128];
	snprintf(p, sizeof(p), "%s/index.html", f->dir);
	FILE *fp = fopen(p, "w");
	fputs("<html>console</html>", fp);
	fclose(fp);
	snprintf(p, sizeof(p), "%s/app.js", f->dir);
	fp = fopen(p, "w");
	fputs("console.log(1)", fp);
	fclose(fp);
	snprintf(p, sizeof(p), "%s/app.js.gz", f->dir);
	fp = fopen(p, "w");
	fputs("GZIPPED", fp);
	fclose(fp);
	snprintf(p, sizeof(p), "%s/out", f->dir);
	assert_int_equal(symlink("/etc/hostname", p), 0);
	assert_int_equal(wm_http_console_mount(f->srv, f->dir, &f->console), 0);
	assert_int_equal(wm_http_listen(f->srv, "127.0.0.1:0"), 0);
	assert_true(wm_http_port(f->srv) > 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	wm_http_close(f->srv, srv_closed, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_true(f->closed);
	wm_http_console_free(f->console);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static struct client *client(struct fixture *f, const char *a, const char *b)
{
	struct client *c = calloc(1, sizeof(*c));
	c->port = wm_http_port(f->srv);
	c->send[0] = a;
	c->send[1] = b;
	return c;
}

static void test_get_and_keep_alive(void **state)
{
	struct fixture *f = *state;
	struct client *c = client(f, "GET /hello/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
				  "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	talk(&f->loop, c);
	/* both on one connection, in order, then closed for idleness */
	assert_int_equal(count(c->resp, "HTTP/1.1 200 OK"), 2);
	char *a = strstr(c->resp, "hello /hello/x q=a=1"), *b = strstr(c->resp, "hello /hello q=");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	free(c);
}

/* Two requests in one segment: answered in order, each once. */
static void test_pipelining(void **state)
{
	struct fixture *f = *state;
	struct client *c =
		client(f,
		       "GET /hello/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
		       "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nxyz"
		       "GET /hello/3 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
		       NULL);
	talk(&f->loop, c);
	assert_int_equal(count(c->resp, "HTTP/1.1 200 OK"), 3);
	char *a = strstr(c->resp, "hello /hello/1"), *b = strstr(c->resp, "len=3 first=x"),
	     *d = strstr(c->resp, "hello /hello/3");
	assert_true(a && b && d && a < b && b < d);
	assert_non_null(strstr(c->resp, "Connection: close"));
	free(c);
}

/* A chunked request body is read whole (within the limit), headers are
 * found whatever their case. */
static void test_chunked_request_body(void **state)
{
	struct fixture *f = *state;
	struct client *c = client(f,
				  "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Test: yes\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\n abc\r\n",
				  "0\r\n\r\n");
	talk(&f->loop, c);
	/* "3\r\n abc" has a 4th byte: the chunk is malformed -> 400 */
	assert_non_null(strstr(c->resp, "HTTP/1.1 400 "));
	free(c);
	c = client(f,
		   "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Test: yes\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n",
		   "0\r\n\r\n");
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(c->resp, "len=8 first=h x=yes"));
	free(c);
}

static void test_body_limits(void **state)
{
	struct fixture *f = *state;
	/* announced beyond the limit: refused before the body is read */
	struct client *c = client(
		f, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 101\r\n\r\n", NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 413 "));
	assert_non_null(strstr(c->resp, "Connection: close"));
	free(c);
	/* chunked beyond the limit */
	static char big[512];
	snprintf(big, sizeof(big),
		 "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "40\r\n%064d\r\n40\r\n%064d\r\n0\r\n\r\n",
		 0, 0);
	c = client(f, big, NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 413 "));
	assert_null(strstr(c->resp, "len="));
	free(c);
}

static void test_oversize_headers(void **state)
{
	struct fixture *f = *state;
	static char req[4096];
	char pad[3000];
	memset(pad, 'a', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: %s\r\n\r\n",
		 pad);
	struct client *c = client(f, req, NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 431 "));
	assert_null(strstr(c->resp, "hello"));
	free(c);
	/* a long URL counts too */
	snprintf(req, sizeof(req), "GET /hello?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", pad);
	c = client(f, req, NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 431 "));
	free(c);
}

static void test_bad_requests(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {
		"FOO /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", /* no such method */
		"GET /hello HTTP/1.1\r\nHost x\r\n\r\n",	  /* header without colon */
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",	  /* TLS to the HTTP port */
		"GET http://evil.example/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", /* absolute form */
		"CONNECT evil.example:443 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: "
		"2\r\n\r\n",
		/* smuggling: both framings, a negative or signed length, a chunk
		 * size beyond 64 bits, a coding other than chunked last */
		"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
		"Content-Length: 5\r\n\r\n0\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: +1\r\n\r\nx",
		"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		"fffffffffffffffff\r\n",
		"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
		"0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct client *c = client(f, bad[i], NULL);
		talk(&f->loop, c);
		assert_true(strstr(c->resp, "HTTP/1.1 400 ") || strstr(c->resp, "HTTP/1.1 405 "));
		assert_null(strstr(c->resp, "hello"));
		free(c);
	}
	/* the server still serves after all that */
	struct client *c = client(f, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 200 OK"));
	free(c);
}

/* DNS rebinding: a page of evil.example re-pointed at 127.0.0.1 sends its
 * own name as Host; a loopback listener refuses it, public paths included,
 * and so does a request with two Host headers. */
static void test_rebinding_host(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {
		"GET /hello HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n",
		"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct client *c = client(f, bad[i], NULL);
		talk(&f->loop, c);
		assert_non_null(strstr(c->resp, "HTTP/1.1 421 "));
		assert_null(strstr(c->resp, "hello"));
		free(c);
	}
	const char *good[] = {
		"GET /hello HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
		"GET /hello HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
		"GET /hello HTTP/1.0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct client *c = client(f, good[i], NULL);
		talk(&f->loop, c);
		assert_non_null(strstr(c->resp, "HTTP/1.1 200 OK"));
		free(c);
	}
}

/* A listener on 0.0.0.0 takes loopback connections too: those are held to
 * the same Host rule (a rebinding page reaches it as 127.0.0.1). */
static void test_rebinding_any_address(void **state)
{
	(void)state;
	struct fixture *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	struct wm_http_config cfg = {.loop = &f->loop,
				     .max_header_bytes = 2048,
				     .max_body_bytes = 100,
				     .idle_timeout_ms = 300,
				     .max_connections_per_source = 3};
	assert_int_equal(wm_http_new(&cfg, &f->srv), 0);
	assert_int_equal(wm_http_mount_public(f->srv, "GET", "/hello", h_hello, NULL), 0);
	assert_int_equal(wm_http_listen(f->srv, "0.0.0.0:0"), 0);
	struct client *c =
		client(f, "GET /hello HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n", NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 421 "));
	free(c);
	c = client(f, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 200 OK"));
	free(c);
	wm_http_close(f->srv, srv_closed, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_true(f->closed);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
}

static void test_routes(void **state)
{
	struct fixture *f = *state;
	struct client *c = client(f, "DELETE /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
				  "GET /hellothere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 405 "));
	/* /hellothere is no /hello: it falls to the console, which wants a session */
	assert_non_null(strstr(c->resp, "HTTP/1.1 401 "));
	free(c);
	/* a handler's header with CR LF is refused, never sent */
	c = client(f, "GET /badheader HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 500 "));
	assert_null(strstr(c->resp, "x=y"));
	free(c);
}

static void test_streaming(void **state)
{
	struct fixture *f = *state;
	struct client *c = client(f, "GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(c->resp, "\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n"));
	free(c);
}

/* The client leaves a stream: on_close runs once, and finishing then is
 * -ECONNRESET and frees the request. */
static void test_client_leaves_stream(void **state)
{
	struct fixture *f = *state;
	struct client *c = client(f, "GET /forever HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", NULL);
	/* the client reads until the 5 s receive timeout... too slow: close
	 * early by sending a shutdown through a second request line that the
	 * server only buffers. Instead, read once and close. */
	c->n_conns = 1;
	pthread_t t;
	uv_async_init(&f->loop, &c->done, client_done);
	closed_seen = 0;
	end_rc = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	(void)t;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(send(fd, c->send[0], strlen(c->send[0]), 0) > 0);
	for (int i = 0; i < 200 && !held; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT), usleep(5000);
	assert_non_null(held);
	close(fd);
	for (int i = 0; i < 200 && !closed_seen; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT), usleep(5000);
	assert_int_equal(closed_seen, 1);
	assert_int_equal(end_rc, -ECONNRESET);
	uv_close((uv_handle_t *)&c->done, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	free(c);
}

/* No token: 401. A token: a cookie and a redirect without the token; the
 * cookie opens the page. The same token again: 401. */
static void test_console_session(void **state)
{
	struct fixture *f = *state;
	char tok[WM_HTTP_TOKEN_LEN + 1];
	assert_int_equal(wm_http_token_new(f->srv, tok), 0);
	struct client *c = client(f, "GET /secret HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 401 "));
	free(c);
	static char req[512];
	snprintf(req, sizeof(req), "GET /secret?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", tok);
	c = client(f, req, NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 303 "));
	assert_non_null(strstr(c->resp, "Location: /secret\r\n"));
	char *sc = strstr(c->resp, "Set-Cookie: wm_session=");
	assert_non_null(sc);
	assert_non_null(strstr(sc, "HttpOnly"));
	assert_non_null(strstr(sc, "SameSite=Strict"));
	char cookie[80];
	assert_int_equal(sscanf(sc, "Set-Cookie: wm_session=%64[0-9a-f]", cookie), 1);
	free(c);
	static char req2[512];
	snprintf(req2, sizeof(req2),
		 "GET /secret HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: a=b; wm_session=%s\r\n\r\n",
		 cookie);
	c = client(f, req2, NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(c->resp, "secret"));
	free(c);
	/* no redirect off the site: "//host" and "/\\host" go to "/" */
	const char *offsite[] = {"//evil.example/x", "/\\evil.example/x"};
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(wm_http_token_new(f->srv, tok), 0);
		snprintf(req, sizeof(req), "GET %s?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			 offsite[i], tok);
		c = client(f, req, NULL);
		talk(&f->loop, c);
		assert_true(strstr(c->resp, "HTTP/1.1 303 ") || strstr(c->resp, "HTTP/1.1 400 "));
		assert_null(strstr(c->resp, "Location: //"));
		assert_null(strstr(c->resp, "Location: /\\"));
		free(c);
	}
	/* the token is spent */
	c = client(f, req, NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 401 "));
	assert_null(strstr(c->resp, "Set-Cookie"));
	free(c);
	/* a forged cookie */
	snprintf(req2, sizeof(req2),
		 "GET /secret HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: wm_session=%064d\r\n\r\n", 0);
	c = client(f, req2, NULL);
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 401 "));
	free(c);
}

static void test_console_files(void **state)
{
	struct fixture *f = *state;
	char tok[WM_HTTP_TOKEN_LEN + 1], cookie[80];
	assert_int_equal(wm_http_token_new(f->srv, tok), 0);
	static char req[512];
	snprintf(req, sizeof(req), "GET /?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", tok);
	struct client *c = client(f, req, NULL);
	talk(&f->loop, c);
	char *sc = strstr(c->resp, "Set-Cookie: wm_session=");
	assert_non_null(sc);
	assert_int_equal(sscanf(sc, "Set-Cookie: wm_session=%64[0-9a-f]", cookie), 1);
	free(c);
	struct {
		const char *path, *accept, *status, *has;
	} cases[] = {
		{"/", "", "200 OK", "<html>console</html>"},
		{"/", "", "200 OK", "Content-Type: text/html; charset=utf-8"},
		{"/nodes", "", "200 OK", "<html>console</html>"}, /* the page's route */
		{"/app.js", "", "200 OK", "console.log(1)"},
		{"/app.js", "Accept-Encoding: gzip, br\r\n", "200 OK", "Content-Encoding: gzip"},
		{"/app.js", "Accept-Encoding: gzip\r\n", "200 OK", "GZIPPED"},
		{"/app.js", "Accept-Encoding: gzip;q=0\r\n", "200 OK", "console.log(1)"},
		{"/missing.js", "", "404 ", "not found"},
		{"/../../etc/passwd", "", "400 ", "bad path"},
		{"/%2e%2e/%2e%2e/etc/passwd", "", "400 ", "bad path"},
		{"/a/%2E%2E/%2E%2E/etc/hostname", "", "400 ", "bad path"},
		{"/..%2fetc%2fpasswd", "", "400 ", "bad path"},
		{"/x%00.js", "", "400 ", "bad path"},
		{"/x\\..\\y", "", "400 ", ""},
		{"/out", "", "404 ", "not found"}, /* a symbolic link out of the root */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static char r[1024];
		snprintf(r, sizeof(r),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sCookie: "
			 "wm_session=%s\r\nConnection: "
			 "close\r\n\r\n",
			 cases[i].path, cases[i].accept, cookie);
		c = client(f, r, NULL);
		talk(&f->loop, c);
		if (!strstr(c->resp, cases[i].status) || !strstr(c->resp, cases[i].has)) {
			fprintf(stderr, "case %s %s:\n%s\n", cases[i].path, cases[i].accept,
				c->resp);
			fail();
		}
		assert_null(strstr(c->resp, "root:"));
		free(c);
	}
}

/* More connections from one source than allowed: the extra one is closed
 * before a byte is answered; the others still work. */
static void test_connections_per_source(void **state)
{
	struct fixture *f = *state;
	struct client *c = client(f, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", NULL);
	c->n_conns = 4; /* 3 allowed per source; the 4th talks */
	talk(&f->loop, c);
	assert_int_equal(c->len, 0);
	free(c);
	c = client(f, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", NULL);
	c->n_conns = 3;
	talk(&f->loop, c);
	assert_non_null(strstr(c->resp, "HTTP/1.1 200 OK"));
	free(c);
}

static void test_clean_path_and_types(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(wm_http_clean_path("/", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(wm_http_clean_path("/a/b%20c.js", out, sizeof(out)), 0);
	assert_string_equal(out, "a/b c.js");
	assert_int_equal(wm_http_clean_path("/a//b", out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_http_clean_path("/a/./b", out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_http_clean_path("/a/..", out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_http_clean_path("/%2", out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_http_clean_path("/%zz", out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_http_clean_path("a", out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_http_clean_path("/aaaaaaaaaa", out, 5), -EINVAL);
	assert_string_equal(wm_http_content_type("x/app.css"), "text/css; charset=utf-8");
	assert_string_equal(wm_http_content_type("a.b/noext"), "application/octet-stream");
	assert_string_equal(wm_http_content_type("i.svg"), "image/svg+xml");
	char v[16];
	assert_int_equal(wm_http_query_get("a=1&token=x%41y&b", "token", v, sizeof(v)), 0);
	assert_string_equal(v, "xAy");
	assert_int_equal(wm_http_query_get("tokenx=1", "token", v, sizeof(v)), -ENOENT);
	assert_int_equal(wm_http_query_get("token=%4", "token", v, sizeof(v)), -EINVAL);
	assert_int_equal(wm_http_query_get("token=%00", "token", v, sizeof(v)), -EINVAL);
	assert_int_equal(wm_http_query_get("token=0123456789abcdef0", "token", v, sizeof(v)),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_and_keep_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelining, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunked_request_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversize_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streaming, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_leaves_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connections_per_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebinding_host, setup, teardown),
		cmocka_unit_test(test_rebinding_any_address),
		cmocka_unit_test(test_clean_path_and_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
