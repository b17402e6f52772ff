/* libFuzzer harness for the HTTP listener's front end (src/http): each input
 * is sent as a client's bytes to a live server on 127.0.0.1 (its parser,
 * limits, pipelining, the session and token checks, the mount table and
 * the console's path checks), then the server must close or answer and go
 * on serving. The pure helpers (query, cookie, path) get the input too. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/console.h"
#include "http/http.h"
#include "http/session.h"

static uv_loop_t loop;
static struct wm_http *srv;
static struct wm_http_console *console;

static void h_echo(struct wm_http_req *req, void *arg)
{
	(void)arg;
	size_t len;
	const uint8_t *b = wm_http_req_body(req, &len);
	const char *ct = wm_http_req_header(req, "content-type");
	char q[64];
	wm_http_query_get(wm_http_req_query(req), "a", q, sizeof(q));
	if (ct && ct[0] == 's') { /* a streamed answer now and then */
		wm_http_start(req, 200, NULL);
		wm_http_chunk(req, b, len);
		wm_http_end(req);
		return;
	}
	wm_http_respond(req, 200, NULL, b, len);
}

static void setup(void)
{
	uv_loop_init(&loop);
	struct wm_http_config cfg = {.loop = &loop,
				     .max_header_bytes = 4096,
				     .max_body_bytes = 8192,
				     .idle_timeout_ms = 50,
				     .max_connections_per_source = 1000};
	if (wm_http_new(&cfg, &srv) || wm_http_mount_public(srv, "*", "/echo", h_echo, NULL) ||
	    wm_http_mount(srv, "POST", "/api.", h_echo, NULL) ||
	    wm_http_console_mount(srv, "/nonexistent-console-dir", &console) ||
	    wm_http_listen(srv, "127.0.0.1:0"))
		abort();
	char tok[WM_HTTP_TOKEN_LEN + 1];
	wm_http_token_new(srv, tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!srv)
		setup();
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	char out[256];
	wm_http_query_get(s, "token", out, sizeof(out));
	wm_cookie_get(s, "wm_session", out, sizeof(out));
	if (s[0] == '/')
		wm_http_clean_path(s, out, sizeof(out));
	free(s);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(wm_http_port(srv))};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		abort();
	size_t off = 0;
	bool eof = false, shut = false;
	char buf[65536];
	/* bounded: the server answers or closes within its idle timeout */
	for (int i = 0; i < 20000 && !eof; i++) {
		if (off < size) {
			ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != ENOTCONN)
				off = size;
		} else if (!shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		uv_run(&loop, UV_RUN_NOWAIT);
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			eof = true;
		if (!eof && r < 0)
			usleep(100);
	}
	close(fd);
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	return 0;
}
