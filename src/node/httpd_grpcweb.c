/* gRPC-web on the HTTP listener: the console's API calls on the loopback
 * listener (--http-listen) run through the local socket's method table (the
 * same gate and handlers wmctl reaches on the unix socket) as the local
 * administrator, because the request carries a console session: a one-time
 * token from `wmctl console`, which only a user who can read the local socket
 * gets (docs/SECURITY.md, boundary 11). The adapter is src/rpc/grpcweb.h;
 * this file only carries its sink over the HTTP/1.1 response. */
#include "node/httpd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/grpcweb.h"
#include "util/log.h"

struct web_call {
	struct wm_http_req *req;
	struct wm_grpcweb_call *gw;
	bool finished; /* the HTTP request was finished (end or respond) */
};

static int sink_headers(void *data, int http_status, const char *content_type)
{
	struct web_call *w = data;
	const char *const h[] = {"Content-Type", content_type, "Cache-Control", "no-store", NULL};
	return wm_http_start(w->req, http_status, h);
}

static int sink_data(void *data, const uint8_t *bytes, size_t len)
{
	struct web_call *w = data;
	int rc = wm_http_chunk(w->req, bytes, len);
	/* a slow reader loses the chunk: a gRPC-web stream with a hole in it is
	 * garbage to the browser, so the call ends instead */
	return rc == -ENOBUFS ? -ECONNRESET : rc;
}

static void sink_end(void *data)
{
	struct web_call *w = data;
	if (!w->finished) {
		w->finished = true;
		wm_http_end(w->req);
	}
	wm_grpcweb_call_detach(w->gw);
	free(w);
}

static const struct wm_grpcweb_sink sink = {sink_headers, sink_data, sink_end};

/* The client left before the answer ended: the handler's call is cancelled
 * (a server stream stops) and the HTTP request is finished, as http.h wants. */
static void client_gone(void *data)
{
	struct web_call *w = data;
	wm_grpcweb_call_detach(w->gw);
	if (!w->finished) {
		w->finished = true;
		wm_http_end(w->req);
	}
	free(w);
}

static void refuse(struct wm_http_req *req, int status, const char *msg)
{
	const char *const h[] = {"Content-Type", "text/plain; charset=utf-8", NULL};
	wm_http_respond(req, status, h, msg, strlen(msg));
}

static void serve_grpcweb(struct wm_http_req *req, void *arg)
{
	struct wm_node_httpd *h = arg;
	struct wm_rpc_server *local = h->c.local_rpc ? h->c.local_rpc(h->c.data) : NULL;
	if (!local) {
		refuse(req, 503, "the API is not serving yet\n");
		return;
	}
	/* A page of another local port is same-site, so SameSite alone would
	 * let its requests carry the session cookie. */
	if (!wm_grpcweb_same_origin(wm_http_req_header(req, "origin"), "http",
				    wm_http_req_header(req, "host"))) {
		refuse(req, 403, "gRPC-web from another origin is refused (same-origin only)\n");
		return;
	}
	struct web_call *w = calloc(1, sizeof(*w));
	if (!w) {
		refuse(req, 503, "out of memory\n");
		return;
	}
	w->req = req;
	size_t len;
	const uint8_t *body = wm_http_req_body(req, &len);
	const char *ctype = wm_http_req_header(req, "content-type");
	struct wm_grpcweb_request rq = {
		.path = wm_http_req_path(req),
		.content_type = ctype ? ctype : "",
		.peer = wm_http_req_peer(req),
		.local = true,
		.server_fp = h->c.tls_fingerprint ? h->c.tls_fingerprint(h->c.data) : NULL,
		.body = body,
		.len = len,
	};
	/* registered before the call starts: a handler that answers at once
	 * ends (and frees w) inside wm_grpcweb_call_start */
	wm_http_req_on_close(req, client_gone, w);
	int rc = wm_grpcweb_call_start(local, h->c.loop, &rq, &sink, w, &w->gw);
	if (rc) {
		wm_warn("gRPC-web call %s from %s not started: %s", rq.path, rq.peer,
			strerror(-rc));
		wm_http_req_on_close(req, NULL, NULL);
		free(w);
		refuse(req, 503, "the call could not be started\n");
	}
}

int wm_node_httpd_mount_grpcweb(struct wm_node_httpd *h)
{
	/* wm_http_mount: a console session is needed before anything runs */
	return wm_http_mount(h->http, "POST", "/webmesh.v1.", serve_grpcweb, h);
}
