/* Server side of gRPC calls: HTTP/2 request streams are parsed and checked,
 * dispatched to handlers, and answered with framed messages and trailers. */
#include "rpc/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"

#define MAX_HEADER_BYTES (16u * 1024) /* counted as HPACK does: name + value + 32 */
#define MAX_METADATA 64
#define MAX_MESSAGE_TEXT 1024 /* bytes of grpc-message before percent-encoding */
#define STREAM_WINDOW (1u << 20)

static struct sconn *sconn_of(void *user_data)
{
	struct wm_conn *c = user_data;
	return c->owner;
}

/* ------------------------------------------------------------ budgets */

/* Gives back what the call counted: its bytes on the connection's and the
 * server's budgets, and its DATA to the connection's flow-control window (so
 * the peer may send that much again). */
static void budget_release(struct wm_rpc_call *call)
{
	struct sconn *sc = call->sc;
	if (!sc)
		return;
	if (call->held && sc->conn.h2 && !sc->conn.closing)
		nghttp2_session_consume_connection(sc->conn.h2, call->held);
	call->held = 0;
	sc->buffered -= call->budget;
	sc->srv->buffered -= call->budget;
	call->budget = 0;
}

/* Counts n more bytes for the call, or says which budget is full. */
static int budget_take(struct wm_rpc_call *call, size_t n, char *why, size_t whylen)
{
	struct sconn *sc = call->sc;
	struct wm_rpc_server *srv = sc->srv;
	if (sc->buffered + n > srv->max_buffered_conn) {
		snprintf(why, whylen,
			 "too many request bytes in flight on this connection (limit %zu bytes)",
			 srv->max_buffered_conn);
		wm_srv_limit_hit(srv, sc->src, "requests refused: connection byte budget full");
		return -ENOBUFS;
	}
	if (srv->buffered + n > srv->max_buffered) {
		snprintf(why, whylen,
			 "the server has too many request bytes in flight (limit %zu bytes); "
			 "retry later",
			 srv->max_buffered);
		wm_srv_limit_hit(srv, sc->src, "requests refused: server byte budget full");
		return -ENOBUFS;
	}
	sc->buffered += n;
	srv->buffered += n;
	call->budget += n;
	return 0;
}

/* The call is served (dispatched) or no longer: the connection is idle when
 * none is. */
static void set_active(struct wm_rpc_call *call, bool active)
{
	struct sconn *sc = call->sc;
	if (!sc || call->active == active)
		return;
	call->active = active;
	if (active && sc->n_active++ == 0)
		wm_srv_conn_idle(sc, false);
	else if (!active && --sc->n_active == 0)
		wm_srv_conn_idle(sc, true);
}

/* ------------------------------------------------------------ lifetime */

static void timer_free_cb(uv_handle_t *h)
{
	free(h);
}

static void timer_stop(struct wm_rpc_call *call)
{
	if (call->timer) {
		uv_close((uv_handle_t *)call->timer, timer_free_cb);
		call->timer = NULL;
	}
}

void wm_srv_call_unref(struct wm_rpc_call *call)
{
	if (--call->refs > 0)
		return;
	timer_stop(call);
	if (call->user_free)
		call->user_free(call->user);
	for (size_t i = 0; i < call->n_md; i++) {
		free(call->md[i].key);
		free(call->md[i].value);
	}
	free(call->md);
	free(call->path);
	free(call->authority);
	free(call->req);
	free(call->out.data);
	free(call->message);
	wm_grpc_decoder_free(&call->dec);
	X509_free(call->peer_cert);
	free(call);
}

/* The stream is closed (or its connection is gone): a handler still owning the
 * call learns it is cancelled. */
static void stream_detach(struct wm_rpc_call *call)
{
	struct sconn *sc = call->sc;
	if (!sc)
		return;
	budget_release(call);
	set_active(call, false);
	sc->n_calls--;
	if (call->prev)
		call->prev->next = call->next;
	else
		sc->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->sc = NULL;
	if (call->owned && !call->cancelled) {
		call->cancelled = true;
		timer_stop(call);
		if (call->cancel_cb)
			call->cancel_cb(call, call->cancel_data);
	}
	wm_srv_call_unref(call);
}

void wm_srv_detach_calls(struct sconn *sc)
{
	while (sc->calls)
		stream_detach(sc->calls);
}

/* ------------------------------------------------------------ responses */

static int outq_append(struct outq *q, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t need = q->len + alen + blen;
	if (q->off > 0 && q->off >= q->len / 2) { /* compact before growing */
		memmove(q->data, q->data + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
		need = q->len + alen + blen;
	}
	if (need > q->cap) {
		size_t cap = q->cap ? q->cap : 1024;
		while (cap < need)
			cap *= 2;
		uint8_t *p = realloc(q->data, cap);
		if (!p)
			return -ENOMEM;
		q->data = p;
		q->cap = cap;
	}
	if (alen)
		memcpy(q->data + q->len, a, alen);
	if (blen)
		memcpy(q->data + q->len + alen, b, blen);
	q->len += alen + blen;
	return 0;
}

/* Queues response body bytes: whole frames, base64'd on their own in
 * gRPC-web text mode (so the client can decode each chunk as it comes). */
static int out_push2(struct wm_rpc_call *call, const uint8_t *a, size_t alen, const uint8_t *b,
		     size_t blen)
{
	if (call->web != WM_GRPCWEB_TEXT)
		return outq_append(&call->out, a, alen, b, blen);
	uint8_t *plain = malloc(alen + blen + 1);
	char *t = malloc(WM_BASE64_ENCODED_LEN(alen + blen));
	int r = -ENOMEM;
	if (plain && t) {
		memcpy(plain, a, alen);
		if (blen)
			memcpy(plain + alen, b, blen);
		size_t n = wm_base64_encode(plain, alen + blen, t);
		r = outq_append(&call->out, (const uint8_t *)t, n, NULL, 0);
	}
	free(plain);
	free(t);
	return r;
}

static int out_push(struct wm_rpc_call *call, const uint8_t *b, size_t len)
{
	return out_push2(call, b, len, NULL, 0);
}

static int nv_status(nghttp2_nv *nv, size_t n, const struct wm_rpc_call *call, char *buf)
{
	snprintf(buf, 16, "%d", call->status);
	nv[n++] = (nghttp2_nv)WM_NV("grpc-status", buf);
	if (call->message && *call->message)
		nv[n++] = (nghttp2_nv)WM_NV("grpc-message", call->message);
	return (int)n;
}

static ssize_t data_read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
			    uint32_t *flags, nghttp2_data_source *src, void *user_data)
{
	struct wm_rpc_call *call = src->ptr;
	struct outq *q = &call->out;
	(void)user_data;
	size_t avail = q->len - q->off, n = avail < length ? avail : length;
	memcpy(buf, q->data + q->off, n);
	q->off += n;
	if (q->off == q->len) {
		q->off = q->len = 0;
		if (q->cap > 64 * 1024) { /* do not keep a burst's buffer */
			free(q->data);
			q->data = NULL;
			q->cap = 0;
		}
	}
	if (n == avail && call->ended && (call->web || call->get)) {
		/* gRPC-web carries its status in the body's trailer frame; a
		 * static file has none. */
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return (ssize_t)n;
	}
	if (n == avail && call->ended) {
		char st[16];
		nghttp2_nv nv[2];
		int nn = nv_status(nv, 0, call, st);
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(s, id, nv, (size_t)nn) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		return (ssize_t)n;
	}
	if (n == 0) {
		call->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static void submit_headers(struct wm_rpc_call *call, bool trailers_only, int http_status)
{
	nghttp2_session *h2 = call->sc->conn.h2;
	char hs[8], st[16];
	nghttp2_nv nv[5];
	size_t n = 0;
	snprintf(hs, sizeof(hs), "%d", http_status);
	nv[n++] = (nghttp2_nv)WM_NV(":status", hs);
	nv[n++] = (nghttp2_nv)WM_NV("content-type", call->web ? wm_grpcweb_content_type(call->web)
							      : "application/grpc");
	/* A browser must not sniff an answer into something it renders. */
	if (call->web)
		nv[n++] = (nghttp2_nv)WM_NV("x-content-type-options", "nosniff");
	call->headers_sent = true;
	if (trailers_only && !call->web) {
		n = (size_t)nv_status(nv, n, call, st);
		nghttp2_submit_response(h2, call->stream_id, nv, n, NULL);
		return;
	}
	nghttp2_data_provider prd = {.source.ptr = call, .read_callback = data_read_cb};
	nghttp2_submit_response(h2, call->stream_id, nv, n, &prd);
}

/* Ends the response with a status; queued messages still go out first unless
 * drop is set. */
static void respond_end(struct wm_rpc_call *call, int status, const char *msg, bool drop,
			int http_status)
{
	if (call->ended || !call->sc)
		return;
	call->ended = true;
	call->status = status;
	if (msg && *msg) {
		/* Peers cap metadata (grpc-core at 8 KiB): keep the message short. */
		char *m = strndup(msg, MAX_MESSAGE_TEXT);
		call->message = m ? wm_grpc_percent_encode(m) : NULL;
		free(m);
	}
	if (drop)
		call->out.off = call->out.len = 0;
	if (call->web) {
		size_t tn;
		char *plain = call->message
				      ? wm_grpc_percent_decode(call->message, strlen(call->message))
				      : NULL;
		uint8_t *t = wm_grpcweb_trailer(status, plain, &tn);
		free(plain);
		/* Without memory for the trailer the client sees the body end
		 * without a status, which it takes for an error too. */
		if (t)
			out_push(call, t, tn);
		free(t);
	}
	if (!call->headers_sent) {
		submit_headers(call, call->out.len == 0, http_status);
	} else if (call->deferred) {
		call->deferred = false;
		nghttp2_session_resume_data(call->sc->conn.h2, call->stream_id);
	}
}

static void reject(struct wm_rpc_call *call, int status, const char *msg)
{
	respond_end(call, status, msg, true, 200);
	wm_grpc_decoder_free(&call->dec);
	free(call->req);
	call->req = NULL;
	budget_release(call);
}

/* ------------------------------------------------------------ deadline */

static void deadline_cb(uv_timer_t *t)
{
	struct wm_rpc_call *call = t->data;
	struct sconn *sc = call->sc;
	if (!sc)
		return;
	if (call->ended) {
		/* Finished, but the client is not taking the response. */
		nghttp2_submit_rst_stream(sc->conn.h2, NGHTTP2_FLAG_NONE, call->stream_id,
					  NGHTTP2_CANCEL);
		wm_conn_flush(&sc->conn);
		return;
	}
	respond_end(call, WM_GRPC_DEADLINE_EXCEEDED, "deadline exceeded", true, 200);
	if (call->owned && !call->cancelled) {
		call->cancelled = true;
		call->refs++; /* the callback may finish the call */
		if (call->cancel_cb)
			call->cancel_cb(call, call->cancel_data);
		wm_srv_call_unref(call);
	}
	wm_conn_flush(&sc->conn);
}

/* ------------------------------------------------------------ requests */

/* A message's length is known before its bytes: it is counted whole now, so
 * that every message let in can also be read to its end within the
 * connection's window. */
static int on_msg_header(void *data, uint32_t len)
{
	struct wm_rpc_call *call = data;
	if (!call->sc || budget_take(call, (size_t)len + WM_GRPC_FRAME_HDR, call->budget_why,
				     sizeof(call->budget_why)))
		return -ENOBUFS;
	return 0;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user_data)
{
	struct sconn *sc = sconn_of(user_data);
	if (sc->conn.closing)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct wm_rpc_call *call = calloc(1, sizeof(*call));
	if (!call)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	call->loop = sc->conn.loop;
	call->sc = sc;
	call->stream_id = f->hd.stream_id;
	call->refs = 1;
	call->local = sc->local;
	call->max_message = sc->srv->max_message;
	memcpy(call->peer, sc->conn.peer, sizeof(call->peer));
	if (sc->peer_cert && X509_up_ref(sc->peer_cert))
		call->peer_cert = sc->peer_cert;
	memcpy(call->own_fp, sc->own_fp, sizeof(call->own_fp));
	wm_grpc_decoder_init(&call->dec, call->max_message);
	call->dec.on_header = on_msg_header;
	call->dec.on_header_data = call;
	call->next = sc->calls;
	if (sc->calls)
		sc->calls->prev = call;
	sc->calls = call;
	sc->n_calls++;
	nghttp2_session_set_stream_user_data(s, call->stream_id, call);
	return 0;
}

static bool name_is(const uint8_t *name, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(name, want, len) == 0;
}

static int add_md(struct wm_rpc_call *call, const uint8_t *name, size_t nlen, const uint8_t *value,
		  size_t vlen)
{
	if (call->n_md >= MAX_METADATA) {
		call->hdr_overflow = true;
		return 0;
	}
	if (call->over_budget ||
	    budget_take(call, nlen + vlen + 32, call->budget_why, sizeof(call->budget_why))) {
		call->over_budget = true;
		return 0;
	}
	struct md *md = realloc(call->md, (call->n_md + 1) * sizeof(*md));
	if (!md)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	call->md = md;
	md[call->n_md].key = strndup((const char *)name, nlen);
	md[call->n_md].value = strndup((const char *)value, vlen);
	if (!md[call->n_md].key || !md[call->n_md].value) {
		free(md[call->n_md].key);
		free(md[call->n_md].value);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	call->n_md++;
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *user_data)
{
	(void)flags;
	if (sconn_of(user_data)->conn.closing)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	struct wm_rpc_call *call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!call || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	call->hdr_bytes += nlen + vlen + 32;
	if (call->hdr_bytes > MAX_HEADER_BYTES) {
		call->hdr_overflow = true;
		return 0;
	}
	if (name_is(name, nlen, ":method")) {
		call->get = vlen == 3 && memcmp(value, "GET", 3) == 0;
		call->bad_method = !(vlen == 4 && memcmp(value, "POST", 4) == 0) && !call->get;
	} else if (name_is(name, nlen, ":authority")) {
		free(call->authority);
		if (!(call->authority = strndup((const char *)value, vlen)))
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	} else if (name_is(name, nlen, ":path")) {
		free(call->path);
		if (!(call->path = strndup((const char *)value, vlen)))
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	} else if (nlen && name[0] == ':') {
		return 0;
	} else if (name_is(name, nlen, "content-type")) {
		call->ctype_ok = wm_grpc_content_type_ok((const char *)value, vlen);
		call->web = (uint8_t)wm_grpcweb_mode_of((const char *)value, vlen);
		call->ctype_ok |= call->web != WM_GRPCWEB_NONE;
	} else if (name_is(name, nlen, "grpc-timeout")) {
		uint64_t ms;
		if (wm_grpc_timeout_parse((const char *)value, vlen, &ms) == 0) {
			call->has_timeout = true;
			call->deadline = uv_now(call->loop) + ms;
		} else {
			call->bad_timeout = true;
		}
	} else if (name_is(name, nlen, "grpc-encoding")) {
		call->bad_encoding = !(vlen == 8 && memcmp(value, "identity", 8) == 0);
	} else if (name_is(name, nlen, "x-webmesh-proxied-for") ||
		   name_is(name, nlen, "x-webmesh-proxied-from")) {
		/* A browser never forwards calls: a page must not act as a server.
		 * Judged in dispatch: content-type may come after this header. */
		call->bad_forward = true;
		return add_md(call, name, nlen, value, vlen);
	} else if (!name_is(name, nlen, "te")) {
		return add_md(call, name, nlen, value, vlen);
	}
	return 0;
}

/* ------------------------------------------------------------ the console's files */

#define STATIC_MAX (16u * 1024 * 1024)

static const struct {
	const char *ext, *type;
} mime_types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".json", "application/json"},
	{".ico", "image/x-icon"},
	{".txt", "text/plain; charset=utf-8"},
};

/* A request path we serve: "/" and letters, digits, '-', '_', '.', with no
 * segment starting with '.' (no "..", no hidden files) and no empty one. */
static bool static_path_ok(const char *p, size_t n)
{
	if (n < 2 || n > 200 || p[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		bool seg_start = i > 0 && p[i - 1] == '/';
		if (c == '/' ? seg_start : seg_start && c == '.')
			return false;
		if (!(c == '/' || c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') ||
		      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return p[n - 1] != '/';
}

/* Whether every directory between root and the file p[0..n) is a real one:
 * O_NOFOLLOW guards the last component only, and a symlinked directory in
 * the console's directory must not serve files from elsewhere. */
static bool static_dirs_real(const char *root, const char *p, size_t n)
{
	char dir[1024];
	struct stat st;

	for (size_t i = 1; i < n; i++) {
		if (p[i] != '/')
			continue;
		int k = snprintf(dir, sizeof(dir), "%s%.*s", root, (int)i, p);
		if (k < 0 || (size_t)k >= sizeof(dir) || lstat(dir, &st) < 0 ||
		    !S_ISDIR(st.st_mode))
			return false;
	}
	return true;
}

/* Reads a regular file of at most STATIC_MAX bytes into the call's queue. */
static int static_read(struct wm_rpc_call *call, const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > STATIC_MAX) {
		close(fd);
		return -ENOENT;
	}
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	if (!buf)
		r = -ENOMEM;
	while (!r && got < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			r = -EIO;
		else
			got += (size_t)k;
	}
	close(fd);
	if (!r)
		r = outq_append(&call->out, buf, got, NULL, 0);
	free(buf);
	return r;
}

/* GET of the web console's files (rpc.h: static_dir): the console is a
 * client of this same port, so it is same-origin with the API it calls. */
static void serve_static(struct wm_rpc_call *call)
{
	const char *root = call->sc->srv->static_dir;
	const char *p = call->path ? call->path : "/";
	size_t n = strcspn(p, "?#");
	const char *type = "text/plain; charset=utf-8", *enc = NULL;
	char file[1024], hs[8];
	int status = 404;

	if (n == 1 && p[0] == '/') {
		p = "/index.html";
		n = strlen(p);
	}
	if (root && static_path_ok(p, n) && static_dirs_real(root, p, n)) {
		for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++) {
			size_t el = strlen(mime_types[i].ext);
			if (n > el && memcmp(p + n - el, mime_types[i].ext, el) == 0)
				type = mime_types[i].type;
		}
		const char *ae = wm_rpc_call_metadata(call, "accept-encoding");
		int k = snprintf(file, sizeof(file), "%s%.*s.gz", root, (int)n, p);
		if (ae && strstr(ae, "gzip") && k > 0 && (size_t)k < sizeof(file) &&
		    static_read(call, file) == 0) {
			status = 200;
			enc = "gzip";
		} else if (k > 0 && (size_t)k < sizeof(file)) {
			file[k - 3] = '\0';
			if (static_read(call, file) == 0)
				status = 200;
		}
	}
	/* A file waits in memory until the client reads it: many streams of a
	 * client that reads nothing count on the same byte budgets as requests. */
	char why[160];
	if (status == 200 && budget_take(call, call->out.len, why, sizeof(why)) < 0)
		status = 503;
	if (status != 200) {
		static const char nf[] = "not found\n", busy[] = "server busy: retry later\n";
		const char *b = status == 503 ? busy : nf;
		call->out.off = call->out.len = 0;
		type = "text/plain; charset=utf-8";
		enc = NULL;
		if (outq_append(&call->out, (const uint8_t *)b, strlen(b), NULL, 0))
			status = 500;
	}
	snprintf(hs, sizeof(hs), "%d", status);
	nghttp2_nv nv[10];
	size_t k = 0;
	nv[k++] = (nghttp2_nv)WM_NV(":status", hs);
	nv[k++] = (nghttp2_nv)WM_NV("content-type", type);
	nv[k++] = (nghttp2_nv)WM_NV("cache-control", "no-cache");
	nv[k++] = (nghttp2_nv)WM_NV("x-content-type-options", "nosniff");
	nv[k++] = (nghttp2_nv)WM_NV("x-frame-options", "DENY");
	nv[k++] = (nghttp2_nv)WM_NV("referrer-policy", "no-referrer");
	nv[k++] = (nghttp2_nv)WM_NV("content-security-policy",
				    "default-src 'self'; style-src 'self' 'unsafe-inline'; "
				    "img-src 'self' data:; frame-ancestors 'none'");
	nv[k++] = (nghttp2_nv)WM_NV("vary", "accept-encoding");
	if (enc)
		nv[k++] = (nghttp2_nv)WM_NV("content-encoding", enc);
	call->headers_sent = true;
	call->ended = true;
	nghttp2_data_provider prd = {.source.ptr = call, .read_callback = data_read_cb};
	nghttp2_submit_response(call->sc->conn.h2, call->stream_id, nv, k, &prd);
}

static void headers_done(struct wm_rpc_call *call)
{
	char msg[320];
	if (call->get && !call->bad_method) {
		serve_static(call);
		return;
	}
	if (call->bad_method) {
		respond_end(call, WM_GRPC_UNIMPLEMENTED, "gRPC requires POST", true, 405);
		return;
	}
	if (!call->ctype_ok) {
		respond_end(call, WM_GRPC_UNKNOWN, "content-type is not application/grpc", true,
			    415);
		return;
	}
	if (call->hdr_overflow) {
		reject(call, WM_GRPC_RESOURCE_EXHAUSTED, "request metadata too large");
		return;
	}
	if (call->over_budget) {
		reject(call, WM_GRPC_RESOURCE_EXHAUSTED, call->budget_why);
		return;
	}
	if (call->bad_timeout) {
		reject(call, WM_GRPC_INVALID_ARGUMENT, "malformed grpc-timeout");
		return;
	}
	if (call->bad_encoding) {
		reject(call, WM_GRPC_UNIMPLEMENTED,
		       "message compression is not supported (grpc-encoding must be identity)");
		return;
	}
	const struct method *m = call->path ? wm_srv_find_method(call->sc->srv, call->path) : NULL;
	if (!m) {
		snprintf(msg, sizeof(msg), "unknown method %.256s", call->path ? call->path : "");
		reject(call, WM_GRPC_UNIMPLEMENTED, msg);
		return;
	}
	call->m = *m;
	if (call->has_timeout) {
		uint64_t now = uv_now(call->loop);
		call->timer = malloc(sizeof(*call->timer));
		if (!call->timer) {
			reject(call, WM_GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
		uv_timer_init(call->loop, call->timer);
		call->timer->data = call;
		uv_timer_start(call->timer, deadline_cb,
			       call->deadline > now ? call->deadline - now : 0, 0);
	}
}

static int on_request_msg(void *data, const uint8_t *msg, size_t len)
{
	struct wm_rpc_call *call = data;
	if (call->n_req++ > 0)
		return 1;
	call->req = malloc(len ? len : 1);
	if (!call->req)
		return -ENOMEM;
	memcpy(call->req, msg, len);
	call->req_len = len;
	return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *user_data)
{
	(void)flags;
	if (sconn_of(user_data)->conn.closing)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	/* Windows are given back by hand: a stream's at once (the connection's
	 * bounds it), the connection's when the bytes are no longer kept. */
	nghttp2_session_consume_stream(s, id, len);
	struct wm_rpc_call *call = nghttp2_session_get_stream_user_data(s, id);
	if (!call || call->ended || call->dispatched) {
		nghttp2_session_consume_connection(s, len);
		return 0;
	}
	call->held += len;
	char msg[128];
	uint8_t *plain = NULL;
	if (call->web == WM_GRPCWEB_TEXT) {
		size_t n;
		plain = malloc((len + 3) / 4 * 3 + 1);
		if (!plain) {
			reject(call, WM_GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return 0;
		}
		if (wm_grpcweb_b64_feed(&call->web_b64, data, len, plain, &n) < 0) {
			free(plain);
			reject(call, WM_GRPC_INTERNAL, "invalid base64 in a grpc-web-text request");
			return 0;
		}
		data = plain;
		len = n;
	}
	int fr = wm_grpc_decoder_feed(&call->dec, data, len, on_request_msg, call);
	free(plain);
	switch (fr) {
	case 0:
		break;
	case -ENOBUFS:
		reject(call, WM_GRPC_RESOURCE_EXHAUSTED, call->budget_why);
		break;
	case -EMSGSIZE:
		snprintf(msg, sizeof(msg), "request message of %u bytes exceeds the limit of %zu",
			 call->dec.last_len, call->max_message);
		reject(call, WM_GRPC_RESOURCE_EXHAUSTED, msg);
		break;
	case -EPROTONOSUPPORT:
		reject(call, WM_GRPC_UNIMPLEMENTED, "compressed messages are not supported");
		break;
	case 1:
		reject(call, WM_GRPC_UNIMPLEMENTED,
		       "this method takes exactly one request message");
		break;
	case -ENOMEM:
		reject(call, WM_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		break;
	default:
		reject(call, WM_GRPC_INTERNAL, "invalid message framing");
		break;
	}
	return 0;
}

static void dispatch(struct wm_rpc_call *call)
{
	if (!wm_grpc_decoder_idle(&call->dec) || !wm_grpcweb_b64_idle(&call->web_b64)) {
		reject(call, WM_GRPC_INTERNAL, "the request ended inside a message");
		return;
	}
	if (call->n_req != 1) {
		reject(call, WM_GRPC_UNIMPLEMENTED,
		       "this method takes exactly one request message");
		return;
	}
	if (call->web && !wm_grpcweb_same_origin(wm_rpc_call_metadata(call, "origin"), "https",
						 call->authority)) {
		/* CORS is same-origin only: a page of another site may not use
		 * the credentials a browser holds for this one. Refused once the
		 * request is complete, so that the answer never races the body. */
		reject(call, WM_GRPC_PERMISSION_DENIED,
		       "gRPC-web from another origin is refused (same-origin only)");
		return;
	}
	if (call->web && call->bad_forward) {
		reject(call, WM_GRPC_PERMISSION_DENIED,
		       "gRPC-web calls may not carry x-webmesh-proxied-* headers");
		return;
	}
	wm_grpc_decoder_free(&call->dec);
	call->dispatched = true;
	call->owned = true;
	call->refs++;
	set_active(call, true);
	uint8_t *req = call->req;
	call->req = NULL;
	/* The handler may finish (and so free) the call before it returns. */
	call->m.handler(call, req, call->req_len, call->m.data);
	free(req);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user_data)
{
	struct sconn *sc = sconn_of(user_data);
	if (sc->conn.closing)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (!sc->spoke) {
		/* The client speaks HTTP/2: the handshake deadline gives way to
		 * the idle one. */
		sc->spoke = true;
		wm_srv_conn_idle(sc, sc->n_active == 0);
	}
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	/* Only requests keep a connection alive, not PINGs or SETTINGS. */
	if (sc->n_active == 0)
		wm_srv_conn_idle(sc, true);
	struct wm_rpc_call *call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!call)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
		headers_done(call);
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		call->remote_closed = true;
		if (!call->ended && !call->dispatched)
			dispatch(call);
	}
	return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *user_data)
{
	(void)user_data;
	if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
	    !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	struct wm_rpc_call *call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	/* gRPC-web and static files end with DATA, gRPC with trailers. */
	if (f->hd.type == NGHTTP2_DATA && call && !call->web && !call->get)
		return 0;
	/* RFC 9113 8.1: a complete response before the end of the request; ask the
	 * client to stop sending without an error. */
	if (call && !call->remote_closed)
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *user_data)
{
	(void)error_code;
	(void)user_data;
	struct wm_rpc_call *call = nghttp2_session_get_stream_user_data(s, id);
	if (call) {
		nghttp2_session_set_stream_user_data(s, id, NULL);
		stream_detach(call);
	}
	return 0;
}

int wm_srv_session_new(struct sconn *sc)
{
	nghttp2_session_callbacks *cbs;
	if (nghttp2_session_callbacks_new(&cbs))
		return -ENOMEM;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_option *opt;
	if (nghttp2_option_new(&opt)) {
		nghttp2_session_callbacks_del(cbs);
		return -ENOMEM;
	}
	nghttp2_option_set_no_auto_window_update(opt, 1);
	int rv = nghttp2_session_server_new2(&sc->conn.h2, cbs, &sc->conn, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rv)
		return -ENOMEM;
	/* The connection window is the connection's budget, plus room for the
	 * few bytes of message prefixes not yet counted (up to 4 per stream). */
	size_t window = sc->srv->max_buffered_conn + 65536 + 4 * (size_t)sc->srv->max_streams;
	if (window > INT32_MAX)
		window = INT32_MAX;
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, sc->srv->max_streams},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_BYTES},
	};
	if (nghttp2_submit_settings(sc->conn.h2, NGHTTP2_FLAG_NONE, iv, 3) ||
	    nghttp2_session_set_local_window_size(sc->conn.h2, NGHTTP2_FLAG_NONE, 0,
						  (int32_t)window))
		return -ENOMEM;
	return 0;
}

/* ------------------------------------------------------------ public API */

int wm_rpc_call_send(struct wm_rpc_call *call, const uint8_t *msg, size_t len)
{
	if (call->virt)
		return wm_grpcweb_virt_send(call, msg, len);
	if (call->cancelled || !call->sc)
		return -ECANCELED;
	if (call->ended || !call->owned || (!call->m.streaming && call->n_sent > 0))
		return -EINVAL;
	if (len > UINT32_MAX)
		return -EMSGSIZE;
	/* A reader that does not keep up gets an error, not all our memory. */
	if (call->out.len - call->out.off + len > 2 * call->max_message + 65536)
		return -ENOBUFS;
	uint8_t hdr[WM_GRPC_FRAME_HDR];
	wm_grpc_frame_header(hdr, (uint32_t)len);
	if (out_push2(call, hdr, WM_GRPC_FRAME_HDR, msg, len))
		return -ENOMEM;
	call->n_sent++;
	if (!call->headers_sent) {
		submit_headers(call, false, 200);
	} else if (call->deferred) {
		call->deferred = false;
		nghttp2_session_resume_data(call->sc->conn.h2, call->stream_id);
	}
	wm_conn_flush(&call->sc->conn);
	return 0;
}

void wm_rpc_call_finish(struct wm_rpc_call *call, int grpc_status, const char *message)
{
	if (!call->owned)
		return;
	if (call->virt) {
		wm_grpcweb_virt_finish(call, grpc_status, message);
		return;
	}
	call->owned = false;
	struct sconn *sc = call->sc;
	/* The handler is done with the request: its bytes no longer count. */
	budget_release(call);
	set_active(call, false);
	if (sc && !call->ended) {
		if (grpc_status < 0 || grpc_status > WM_GRPC_UNAUTHENTICATED)
			grpc_status = WM_GRPC_UNKNOWN;
		if (sc->srv->call_done)
			sc->srv->call_done(sc->srv->call_done_data, call->path, grpc_status);
		respond_end(call, grpc_status, message, false, 200);
	}
	wm_srv_call_unref(call);
	if (sc)
		wm_conn_flush(&sc->conn);
}

void wm_rpc_call_set_cancel_cb(struct wm_rpc_call *call, wm_rpc_cancel_cb cb, void *data)
{
	call->cancel_cb = cb;
	call->cancel_data = data;
}

bool wm_rpc_call_cancelled(const struct wm_rpc_call *call)
{
	if (call->virt)
		return call->cancelled || call->sink_failed || !call->sink;
	return call->cancelled || !call->sc;
}

void wm_rpc_call_set_user(struct wm_rpc_call *call, void *user, void (*user_free)(void *user))
{
	if (call->user_free)
		call->user_free(call->user);
	call->user = user;
	call->user_free = user_free;
}

void *wm_rpc_call_user(const struct wm_rpc_call *call)
{
	return call->user;
}

const char *wm_rpc_call_metadata(const struct wm_rpc_call *call, const char *key)
{
	for (size_t i = 0; i < call->n_md; i++)
		if (strcmp(call->md[i].key, key) == 0)
			return call->md[i].value;
	return NULL;
}

bool wm_rpc_call_metadata_at(const struct wm_rpc_call *call, size_t i, struct wm_rpc_metadata *out)
{
	if (i >= call->n_md)
		return false;
	out->key = call->md[i].key;
	out->value = call->md[i].value;
	return true;
}

const char *wm_rpc_call_path(const struct wm_rpc_call *call)
{
	return call->path ? call->path : "";
}

const char *wm_rpc_call_peer(const struct wm_rpc_call *call)
{
	return call->peer;
}

X509 *wm_rpc_call_peer_cert(const struct wm_rpc_call *call)
{
	return call->peer_cert;
}

const char *wm_rpc_call_server_fingerprint(const struct wm_rpc_call *call)
{
	return call->own_fp[0] ? call->own_fp : NULL;
}

bool wm_rpc_call_is_local(const struct wm_rpc_call *call)
{
	return call->local;
}

int64_t wm_rpc_call_remaining_ms(const struct wm_rpc_call *call)
{
	if (!call->has_timeout)
		return -1;
	uint64_t now = uv_now(call->loop);
	return call->deadline > now ? (int64_t)(call->deadline - now) : 0;
}
