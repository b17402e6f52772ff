/* Client side of gRPC calls: requests as HTTP/2 streams, responses decoded
 * into messages and a status, deadlines, cancellation. */
#include "rpc/client_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_WINDOW (1u << 20)
#define CONN_WINDOW (4u << 20)
/* The server enforces the deadline we send and answers DEADLINE_EXCEEDED
 * itself; we give its answer this long to arrive before giving up locally. */
#define DEADLINE_SLACK_MS 1000
#define E_TOO_MANY 1000 /* decoder callback: a second message on a unary call */

/* Calls are found by stream id, never through pointers kept by nghttp2, so a
 * call can end (and be freed) at any time, e.g. while its request is still
 * queued inside nghttp2. */
static struct wm_rpc_stream *find(struct cconn *cc, int32_t id)
{
	for (struct wm_rpc_stream *s = cc->calls; s; s = s->next)
		if (s->stream_id == id)
			return s;
	return NULL;
}

static struct cconn *cconn_of(void *user_data)
{
	return ((struct wm_conn *)user_data)->owner;
}

/* ------------------------------------------------------------ lifetime */

static void timer_free_cb(uv_handle_t *h)
{
	free(h);
}

static void timer_stop(struct wm_rpc_stream *s)
{
	if (s->timer) {
		uv_close((uv_handle_t *)s->timer, timer_free_cb);
		s->timer = NULL;
	}
}

static void call_unref(struct wm_rpc_stream *s)
{
	if (--s->refs > 0)
		return;
	timer_stop(s);
	for (size_t i = 0; i < s->n_md; i++) {
		free((char *)s->md[i].key);
		free((char *)s->md[i].value);
	}
	free(s->md);
	free(s->path);
	free(s->req);
	free(s->resp);
	free(s->grpc_message);
	wm_grpc_decoder_free(&s->dec);
	free(s);
}

static void attach(struct wm_rpc_stream *s, struct cconn *cc)
{
	s->cc = cc;
	s->prev = NULL;
	s->next = cc->calls;
	if (cc->calls)
		cc->calls->prev = s;
	cc->calls = s;
}

static void detach(struct wm_rpc_stream *s)
{
	struct cconn *cc = s->cc;
	if (!cc)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		cc->calls = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->cc = NULL;
	s->prev = s->next = NULL;
}

void wm_cl_call_move(struct wm_rpc_stream *s, struct cconn *to)
{
	detach(s);
	attach(s, to);
}

void wm_cl_call_complete(struct wm_rpc_stream *s, int status, const char *message)
{
	if (s->done)
		return;
	s->done = true;
	struct cconn *cc = s->cc;
	detach(s);
	if (cc && s->stream_id > 0 && !s->stream_closed && cc->conn.h2 && !cc->conn.closing) {
		nghttp2_submit_rst_stream(cc->conn.h2, NGHTTP2_FLAG_NONE, s->stream_id,
					  NGHTTP2_CANCEL);
		wm_conn_flush(&cc->conn);
	}
	timer_stop(s);
	if (s->unary)
		s->unary_cb(s->data, status, message, status == WM_GRPC_OK ? s->resp : NULL,
			    status == WM_GRPC_OK ? s->resp_len : 0);
	else
		s->close_cb(s->data, status, message);
	call_unref(s);
}

/* ------------------------------------------------------------ requests */

static ssize_t req_read_cb(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
			   uint32_t *flags, nghttp2_data_source *src, void *user_data)
{
	(void)h2;
	(void)src;
	struct wm_rpc_stream *s = find(cconn_of(user_data), id);
	if (!s) { /* ended; its RST_STREAM follows */
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return 0;
	}
	size_t n = s->req_len - s->req_off;
	if (n > length)
		n = length;
	memcpy(buf, s->req + s->req_off, n);
	s->req_off += n;
	if (s->req_off == s->req_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static bool md_ok(const struct wm_rpc_metadata *m)
{
	if (!m->key || !m->value || !*m->key || strncmp(m->key, "grpc-", 5) == 0 ||
	    strcmp(m->key, "content-type") == 0 || strcmp(m->key, "te") == 0)
		return false;
	for (const char *p = m->key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			return false;
	for (const unsigned char *p = (const unsigned char *)m->value; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return false;
	return true;
}

static int submit(struct wm_rpc_stream *s)
{
	struct cconn *cc = s->cc;
	struct wm_rpc_client *cl = s->cl;
	struct wm_rpc_metadata creds[8];
	size_t n_creds = 0;
	/* The client's credentials, made now: they may sign the server this
	 * connection reached and the current time. */
	if (cl->call_metadata) {
		n_creds = cl->call_metadata(cl->call_metadata_data, s->path,
					    cc->server_fp[0] ? cc->server_fp : NULL, creds, 8);
		for (size_t i = 0; i < n_creds; i++)
			if (!md_ok(&creds[i]))
				return -EINVAL;
	}
	nghttp2_nv *nv = malloc((9 + s->n_md + n_creds) * sizeof(*nv));
	char tmo[16];
	size_t n = 0;
	if (!nv)
		return -ENOMEM;
	nv[n++] = (nghttp2_nv)WM_NV(":method", "POST");
	nv[n++] = (nghttp2_nv)WM_NV(":scheme", cl->tls ? "https" : "http");
	nv[n++] = (nghttp2_nv)WM_NV(":path", s->path);
	nv[n++] = (nghttp2_nv)WM_NV(":authority", cl->authority);
	nv[n++] = (nghttp2_nv)WM_NV("content-type", "application/grpc");
	nv[n++] = (nghttp2_nv)WM_NV("te", "trailers");
	nv[n++] = (nghttp2_nv)WM_NV("user-agent", "webmesh/" WM_VERSION);
	if (s->timeout_ms) {
		/* What is left of the deadline, after waiting for the connection. */
		uint64_t now = uv_now(cl->loop);
		wm_grpc_timeout_format(s->deadline > now ? s->deadline - now : 1, tmo);
		nv[n++] = (nghttp2_nv)WM_NV("grpc-timeout", tmo);
	}
	for (size_t i = 0; i < s->n_md; i++) {
		const char *k = s->md[i].key, *v = s->md[i].value;
		nv[n++] = (nghttp2_nv){(uint8_t *)k, (uint8_t *)v, strlen(k), strlen(v),
				       NGHTTP2_NV_FLAG_NONE};
	}
	for (size_t i = 0; i < n_creds; i++) {
		const char *k = creds[i].key, *v = creds[i].value;
		nv[n++] = (nghttp2_nv){(uint8_t *)k, (uint8_t *)v, strlen(k), strlen(v),
				       NGHTTP2_NV_FLAG_NONE};
	}
	nghttp2_data_provider prd = {.read_callback = req_read_cb};
	int32_t id = nghttp2_submit_request(cc->conn.h2, NULL, nv, n, &prd, NULL);
	free(nv);
	if (id < 0)
		return -EIO;
	s->stream_id = id;
	wm_conn_flush(&cc->conn);
	return 0;
}

void wm_cl_call_submit(struct wm_rpc_stream *s)
{
	if (submit(s))
		wm_cl_call_complete(s, WM_GRPC_UNAVAILABLE, "cannot start an HTTP/2 stream");
}

static void deadline_cb(uv_timer_t *t)
{
	struct wm_rpc_stream *s = t->data;
	if (!s->in_slack && s->stream_id > 0) {
		s->in_slack = true;
		uv_timer_start(t, deadline_cb, DEADLINE_SLACK_MS, 0);
		return;
	}
	wm_cl_call_complete(s, WM_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
}

static int call_start(struct wm_rpc_client *cl, const char *path, const uint8_t *req, size_t len,
		      uint64_t timeout_ms, const struct wm_rpc_metadata *md, size_t n_md,
		      struct wm_rpc_stream *tmpl, struct wm_rpc_stream **out)
{
	if (!cl || !path || path[0] != '/' || len > UINT32_MAX || (len && !req) || (n_md && !md))
		return -EINVAL;
	if (cl->freeing)
		return -ECANCELED;
	for (size_t i = 0; i < n_md; i++)
		if (!md_ok(&md[i]))
			return -EINVAL;
	/* The client's credentials go after the call's own metadata, made as
	 * the call goes out (submit). */
	struct wm_rpc_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = *tmpl;
	s->cl = cl;
	s->refs = 1;
	s->grpc_status = -1;
	s->timeout_ms = timeout_ms;
	s->deadline = uv_now(cl->loop) + timeout_ms;
	wm_grpc_decoder_init(&s->dec, cl->max_message);
	s->path = strdup(path);
	s->req_len = WM_GRPC_FRAME_HDR + len;
	s->req = malloc(s->req_len);
	s->md = n_md ? calloc(n_md, sizeof(*s->md)) : NULL;
	if (!s->path || !s->req || (n_md && !s->md))
		goto nomem;
	for (; s->n_md < n_md; s->n_md++) {
		s->md[s->n_md].key = strdup(md[s->n_md].key);
		s->md[s->n_md].value = strdup(md[s->n_md].value);
		if (!s->md[s->n_md].key || !s->md[s->n_md].value) {
			s->n_md++;
			goto nomem;
		}
	}
	wm_grpc_frame_header(s->req, (uint32_t)len);
	if (len)
		memcpy(s->req + WM_GRPC_FRAME_HDR, req, len);
	struct cconn *cc = wm_cl_conn_get(cl);
	if (!cc)
		goto nomem;
	attach(s, cc);
	if (cc->conn.h2 && !cc->conn.closing && submit(s)) {
		detach(s);
		call_unref(s);
		return -EIO;
	}
	if (timeout_ms) {
		s->timer = malloc(sizeof(*s->timer));
		if (s->timer) {
			uv_timer_init(cl->loop, s->timer);
			s->timer->data = s;
			uv_timer_start(s->timer, deadline_cb, timeout_ms, 0);
		}
	}
	if (out)
		*out = s;
	return 0;
nomem:
	call_unref(s);
	return -ENOMEM;
}

int wm_rpc_client_unary(struct wm_rpc_client *c, const char *path, const uint8_t *req, size_t len,
			uint64_t timeout_ms, const struct wm_rpc_metadata *md, size_t n_md,
			wm_rpc_unary_cb cb, void *data)
{
	if (!cb)
		return -EINVAL;
	struct wm_rpc_stream t = {.unary = true, .unary_cb = cb, .data = data};
	return call_start(c, path, req, len, timeout_ms, md, n_md, &t, NULL);
}

int wm_rpc_client_stream(struct wm_rpc_client *c, const char *path, const uint8_t *req, size_t len,
			 uint64_t timeout_ms, const struct wm_rpc_metadata *md, size_t n_md,
			 wm_rpc_message_cb msg_cb, wm_rpc_close_cb close_cb, void *data,
			 struct wm_rpc_stream **out)
{
	if (!msg_cb || !close_cb)
		return -EINVAL;
	struct wm_rpc_stream t = {.msg_cb = msg_cb, .close_cb = close_cb, .data = data};
	return call_start(c, path, req, len, timeout_ms, md, n_md, &t, out);
}

void wm_rpc_stream_cancel(struct wm_rpc_stream *s)
{
	if (s)
		wm_cl_call_complete(s, WM_GRPC_CANCELLED, "cancelled by the client");
}

/* ------------------------------------------------------------ responses */

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *user_data)
{
	(void)h2;
	(void)flags;
	struct cconn *cc = cconn_of(user_data);
	if (cc->conn.closing)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	struct wm_rpc_stream *s = f->hd.type == NGHTTP2_HEADERS ? find(cc, f->hd.stream_id) : NULL;
	if (!s)
		return 0;
	if (nlen == 7 && memcmp(name, ":status", 7) == 0) {
		s->http_status = vlen == 3 ? atoi((const char *)value) : 0;
	} else if (nlen == 12 && memcmp(name, "content-type", 12) == 0) {
		s->bad_ctype = !wm_grpc_content_type_ok((const char *)value, vlen);
	} else if (nlen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		int v = 0;
		for (size_t i = 0; i < vlen && v < 1000; i++)
			v = value[i] >= '0' && value[i] <= '9' ? v * 10 + value[i] - '0' : 1000;
		s->grpc_status = vlen && v <= WM_GRPC_UNAUTHENTICATED ? v : WM_GRPC_UNKNOWN;
	} else if (nlen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		free(s->grpc_message);
		s->grpc_message = wm_grpc_percent_decode((const char *)value, vlen);
	}
	return 0;
}

static int on_response_msg(void *data, const uint8_t *msg, size_t len)
{
	struct wm_rpc_stream *s = data;
	if (s->done)
		return 1;
	if (!s->unary) {
		if (s->msg_cb(s->data, msg, len)) {
			wm_cl_call_complete(s, WM_GRPC_CANCELLED, "cancelled by the receiver");
			return 1;
		}
		return 0;
	}
	if (s->n_msgs++ > 0)
		return E_TOO_MANY;
	s->resp = malloc(len ? len : 1);
	if (!s->resp)
		return -ENOMEM;
	memcpy(s->resp, msg, len);
	s->resp_len = len;
	return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *user_data)
{
	(void)h2;
	(void)flags;
	struct cconn *cc = cconn_of(user_data);
	if (cc->conn.closing)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	struct wm_rpc_stream *s = find(cc, id);
	if (!s)
		return 0;
	char msg[128];
	s->refs++; /* a message callback may end the call */
	int rv = wm_grpc_decoder_feed(&s->dec, data, len, on_response_msg, s);
	if (rv && !s->done) {
		int status = WM_GRPC_INTERNAL;
		const char *why = msg;
		switch (rv) {
		case -EMSGSIZE:
			status = WM_GRPC_RESOURCE_EXHAUSTED;
			snprintf(msg, sizeof(msg),
				 "response message of %u bytes exceeds the limit of %zu",
				 s->dec.last_len, s->cl->max_message);
			break;
		case -ENOMEM:
			status = WM_GRPC_RESOURCE_EXHAUSTED;
			why = "out of memory";
			break;
		case -EPROTONOSUPPORT:
			why = "the server sent a compressed message (not supported)";
			break;
		case E_TOO_MANY:
			why = "the server sent more than one message for a unary call";
			break;
		default:
			why = "invalid message framing from the server";
			break;
		}
		wm_cl_call_complete(s, status, why);
	}
	call_unref(s);
	return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *user_data)
{
	(void)h2;
	struct cconn *cc = cconn_of(user_data);
	if (cc->conn.closing)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	/* The server speaks HTTP/2; from now on the timer is the keepalive's.
	 * Any frame shows the server alive. */
	bool first = !cc->h2_up;
	cc->h2_up = true;
	cc->ping_out = false;
	cc->ping_grace = false;
	if (!cc->cl->keepalive_ms)
		wm_conn_disarm(&cc->conn);
	else if (first || (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK)))
		wm_conn_arm(&cc->conn, cc->cl->keepalive_ms);
	if (f->hd.type == NGHTTP2_GOAWAY) {
		/* Calls in flight finish here; new ones go to a new connection. */
		cc->draining = true;
		if (cc->cl->active == cc)
			cc->cl->active = NULL;
	}
	return 0;
}

static int rst_status(uint32_t code)
{
	switch (code) {
	case NGHTTP2_REFUSED_STREAM:
		return WM_GRPC_UNAVAILABLE;
	case NGHTTP2_CANCEL:
		return WM_GRPC_CANCELLED;
	case NGHTTP2_ENHANCE_YOUR_CALM:
		return WM_GRPC_RESOURCE_EXHAUSTED;
	case NGHTTP2_INADEQUATE_SECURITY:
		return WM_GRPC_PERMISSION_DENIED;
	default:
		return WM_GRPC_INTERNAL;
	}
}

/* A stream refused by a server going away was never processed: send it again
 * on a fresh connection, once. */
static bool retry(struct wm_rpc_stream *s)
{
	struct wm_rpc_client *cl = s->cl;
	if (s->retried || s->http_status || cl->freeing)
		return false;
	detach(s);
	s->retried = true;
	s->stream_id = 0;
	s->stream_closed = false;
	s->req_off = 0;
	struct cconn *cc = wm_cl_conn_get(cl);
	if (!cc)
		return false;
	attach(s, cc);
	if (cc->conn.h2 && !cc->conn.closing)
		wm_cl_call_submit(s);
	return true;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t code, void *user_data)
{
	(void)h2;
	struct wm_rpc_stream *s = find(cconn_of(user_data), id);
	if (!s)
		return 0;
	s->stream_closed = true;
	if (code == NGHTTP2_REFUSED_STREAM && retry(s))
		return 0;
	char msg[160];
	int status;
	const char *why = msg;
	if (s->grpc_status >= 0) {
		status = s->grpc_status;
		why = s->grpc_message;
		if (status == WM_GRPC_OK && s->unary && s->n_msgs != 1) {
			status = WM_GRPC_INTERNAL;
			why = "the server sent no response message";
		}
	} else if (code != NGHTTP2_NO_ERROR) {
		status = rst_status(code);
		snprintf(msg, sizeof(msg), "stream reset by the server: %s",
			 nghttp2_http2_strerror(code));
	} else if (s->http_status != 200) {
		status = wm_grpc_status_from_http(s->http_status);
		snprintf(msg, sizeof(msg), "HTTP status %d from the server", s->http_status);
	} else if (s->bad_ctype) {
		status = WM_GRPC_UNKNOWN;
		why = "the server's response is not gRPC (content-type)";
	} else {
		status = WM_GRPC_INTERNAL;
		why = "the server ended the call without a grpc-status";
	}
	wm_cl_call_complete(s, status, why);
	return 0;
}

void wm_cl_conn_timeout(struct cconn *cc)
{
	struct wm_conn *c = &cc->conn;
	struct wm_rpc_client *cl = cc->cl;
	char why[128];
	if (!cc->h2_up || !cl->keepalive_ms) {
		wm_conn_close(c, -ETIMEDOUT,
			      c->ready ? "no HTTP/2 settings received in time"
				       : "connection or TLS handshake timed out");
		return;
	}
	/* libuv runs timers before it reads sockets: after a loop turn longer
	 * than the timeout (a busy process, thousands of connections on one
	 * loop) the answer may be waiting unread. One more turn reads it. */
	if (cc->ping_out && !cc->ping_grace) {
		cc->ping_grace = true;
		wm_conn_arm(c, 1);
		return;
	}
	if (cc->ping_out) {
		snprintf(why, sizeof(why), "no answer to a keepalive PING within %u ms",
			 cl->keepalive_timeout_ms);
		wm_conn_close(c, -ETIMEDOUT, why);
		return;
	}
	if (nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL) != 0) {
		wm_conn_close(c, -ENOMEM, "cannot send a keepalive PING");
		return;
	}
	cc->ping_out = true;
	cc->ping_grace = false;
	wm_conn_arm(c, cl->keepalive_timeout_ms ? cl->keepalive_timeout_ms : cl->keepalive_ms);
	wm_conn_flush(c);
}

int wm_cl_session_new(struct cconn *cc)
{
	nghttp2_session_callbacks *cbs;
	if (nghttp2_session_callbacks_new(&cbs))
		return -ENOMEM;
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	int rv = nghttp2_session_client_new(&cc->conn.h2, cbs, &cc->conn);
	nghttp2_session_callbacks_del(cbs);
	if (rv)
		return -ENOMEM;
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
	};
	if (nghttp2_submit_settings(cc->conn.h2, NGHTTP2_FLAG_NONE, iv, 2) ||
	    nghttp2_session_set_local_window_size(cc->conn.h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW))
		return -ENOMEM;
	return 0;
}
