/* gRPC-web: wire pieces (content types, trailer frame, base64 text mode,
 * request decoding) and the adapter that runs a call for a transport other
 * than HTTP/2 through a sink (see grpcweb.h). */
#include "rpc/grpcweb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "rpc/server_int.h"

#define MAX_MESSAGE_TEXT 1024 /* as server_call.c: peers cap metadata */

/* ------------------------------------------------------------ wire pieces */

enum wm_grpcweb_mode wm_grpcweb_mode_of(const char *v, size_t len)
{
	static const char bin[] = "application/grpc-web", text[] = "application/grpc-web-text";
	enum wm_grpcweb_mode mode;
	size_t n;

	if (!v)
		return WM_GRPCWEB_NONE;
	if (len >= sizeof(text) - 1 && strncasecmp(v, text, sizeof(text) - 1) == 0) {
		mode = WM_GRPCWEB_TEXT;
		n = sizeof(text) - 1;
	} else if (len >= sizeof(bin) - 1 && strncasecmp(v, bin, sizeof(bin) - 1) == 0) {
		mode = WM_GRPCWEB_BINARY;
		n = sizeof(bin) - 1;
	} else {
		return WM_GRPCWEB_NONE;
	}
	if (len - n >= 6 && strncasecmp(v + n, "+proto", 6) == 0)
		n += 6;
	/* Anything else after the type is a parameter list or nothing. */
	if (n == len || v[n] == ';' || v[n] == ' ')
		return mode;
	return WM_GRPCWEB_NONE;
}

const char *wm_grpcweb_content_type(enum wm_grpcweb_mode mode)
{
	return mode == WM_GRPCWEB_TEXT ? "application/grpc-web-text+proto"
				       : "application/grpc-web+proto";
}

uint8_t *wm_grpcweb_trailer(int status, const char *message, size_t *len)
{
	char *enc = NULL;
	if (message && *message) {
		char *m = strndup(message, MAX_MESSAGE_TEXT);
		enc = m ? wm_grpc_percent_encode(m) : NULL;
		free(m);
		if (!enc)
			return NULL;
	}
	size_t cap = 64 + (enc ? strlen(enc) : 0);
	uint8_t *f = malloc(WM_GRPC_FRAME_HDR + cap);
	if (!f) {
		free(enc);
		return NULL;
	}
	int n = snprintf((char *)f + WM_GRPC_FRAME_HDR, cap, "grpc-status:%d\r\n%s%s%s", status,
			 enc ? "grpc-message:" : "", enc ? enc : "", enc ? "\r\n" : "");
	free(enc);
	wm_grpc_frame_header(f, (uint32_t)n);
	f[0] = WM_GRPCWEB_FLAG_TRAILER;
	*len = WM_GRPC_FRAME_HDR + (size_t)n;
	return f;
}

/* One group of four: "xxxx", "xxx=" or "xx==". */
static int b64_group(const char q[4], uint8_t *out, size_t *n)
{
	int v[4], pad = 0;
	for (int i = 0; i < 4; i++) {
		if (q[i] == '=') {
			if (i < 2)
				return -EBADMSG;
			pad++;
			v[i] = 0;
			continue;
		}
		if (pad || (v[i] = wm_base64_value(q[i])) < 0)
			return -EBADMSG; /* data after padding inside a group */
	}
	uint32_t w =
		(uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
	out[0] = (uint8_t)(w >> 16);
	out[1] = (uint8_t)(w >> 8);
	out[2] = (uint8_t)w;
	*n = 3 - (size_t)pad;
	return 0;
}

int wm_grpcweb_b64_feed(struct wm_grpcweb_b64 *d, const uint8_t *in, size_t len, uint8_t *out,
			size_t *outlen)
{
	size_t o = 0, n;
	for (size_t i = 0; i < len; i++) {
		d->q[d->n++] = (char)in[i];
		if (d->n < 4)
			continue;
		d->n = 0;
		if (b64_group(d->q, out + o, &n) < 0)
			return -EBADMSG;
		o += n;
	}
	*outlen = o;
	return 0;
}

bool wm_grpcweb_b64_idle(const struct wm_grpcweb_b64 *d)
{
	return d->n == 0;
}

struct one {
	uint8_t *msg;
	size_t len;
	unsigned n;
};

static int take_one(void *data, const uint8_t *msg, size_t len)
{
	struct one *o = data;
	if (o->n++ > 0)
		return -E2BIG;
	o->msg = malloc(len ? len : 1);
	if (!o->msg)
		return -ENOMEM;
	memcpy(o->msg, msg, len);
	o->len = len;
	return 0;
}

int wm_grpcweb_request_decode(enum wm_grpcweb_mode mode, const uint8_t *body, size_t len,
			      size_t max, uint8_t **msg, size_t *msg_len)
{
	struct wm_grpc_decoder dec;
	struct one o = {0};
	uint8_t *plain = NULL;
	int r;

	if (mode == WM_GRPCWEB_NONE)
		return -EBADMSG;
	if (mode == WM_GRPCWEB_TEXT) {
		struct wm_grpcweb_b64 b = {0};
		size_t n;
		plain = malloc((len + 3) / 4 * 3 + 1);
		if (!plain)
			return -ENOMEM;
		if (wm_grpcweb_b64_feed(&b, body, len, plain, &n) < 0 || !wm_grpcweb_b64_idle(&b)) {
			free(plain);
			return -EBADMSG;
		}
		body = plain;
		len = n;
	}
	wm_grpc_decoder_init(&dec, max);
	r = wm_grpc_decoder_feed(&dec, body, len, take_one, &o);
	if (r == 0 && !wm_grpc_decoder_idle(&dec))
		r = -EBADMSG;
	if (r == 0 && o.n != 1)
		r = -E2BIG;
	if (r == -EPROTO)
		r = -EBADMSG;
	wm_grpc_decoder_free(&dec);
	free(plain);
	if (r < 0) {
		free(o.msg);
		return r;
	}
	*msg = o.msg;
	*msg_len = o.len;
	return 0;
}

int wm_grpcweb_decode_status(int err, const char **why)
{
	switch (err) {
	case -EMSGSIZE:
		*why = "request message exceeds the size limit";
		return WM_GRPC_RESOURCE_EXHAUSTED;
	case -EPROTONOSUPPORT:
		*why = "compressed messages are not supported";
		return WM_GRPC_UNIMPLEMENTED;
	case -E2BIG:
		*why = "this method takes exactly one request message";
		return WM_GRPC_UNIMPLEMENTED;
	case -ENOMEM:
		*why = "out of memory";
		return WM_GRPC_RESOURCE_EXHAUSTED;
	default:
		*why = "invalid gRPC-web request body (framing or base64)";
		return WM_GRPC_INTERNAL;
	}
}

/* ------------------------------------------------------------ the adapter */

/* Body bytes to the sink, base64'd in text mode. A sink that cannot take
 * them (the client is gone) cancels the call. */
static int sink_emit(struct wm_rpc_call *call, const uint8_t *b, size_t len)
{
	if (!call->sink || call->sink_failed)
		return -ECANCELED;
	int r;
	if (call->web == WM_GRPCWEB_TEXT) {
		char *t = malloc(WM_BASE64_ENCODED_LEN(len));
		if (!t)
			return -ENOMEM;
		size_t n = wm_base64_encode(b, len, t);
		r = call->sink->data(call->sink_data, (const uint8_t *)t, n);
		free(t);
	} else {
		r = call->sink->data(call->sink_data, b, len);
	}
	if (r < 0) {
		/* The handler learns it from its next send, or from the cancel
		 * callback when the transport detaches. */
		call->sink_failed = true;
		return -ECANCELED;
	}
	return 0;
}

static void sink_headers(struct wm_rpc_call *call)
{
	if (call->headers_sent || !call->sink)
		return;
	call->headers_sent = true;
	if (call->sink->headers(call->sink_data, 200, wm_grpcweb_content_type(call->web)) < 0)
		call->sink_failed = true;
}

/* Ends the response: headers if none went out, the trailer frame, end. */
static void sink_end(struct wm_rpc_call *call, int status, const char *message)
{
	if (call->ended || !call->sink)
		return;
	call->ended = true;
	sink_headers(call);
	size_t n;
	uint8_t *t = wm_grpcweb_trailer(status, message, &n);
	if (t)
		sink_emit(call, t, n);
	free(t);
	call->sink->end(call->sink_data);
}

int wm_grpcweb_virt_send(struct wm_rpc_call *call, const uint8_t *msg, size_t len)
{
	if (call->cancelled || call->sink_failed || !call->sink)
		return -ECANCELED;
	if (call->ended || !call->owned || (!call->m.streaming && call->n_sent > 0))
		return -EINVAL;
	if (len > UINT32_MAX - WM_GRPC_FRAME_HDR)
		return -EMSGSIZE;
	uint8_t *f = malloc(WM_GRPC_FRAME_HDR + len);
	if (!f)
		return -ENOMEM;
	wm_grpc_frame_header(f, (uint32_t)len);
	if (len)
		memcpy(f + WM_GRPC_FRAME_HDR, msg, len);
	sink_headers(call);
	int r = sink_emit(call, f, WM_GRPC_FRAME_HDR + len);
	free(f);
	if (r == 0)
		call->n_sent++;
	return r;
}

void wm_grpcweb_virt_finish(struct wm_rpc_call *call, int status, const char *message)
{
	if (!call->owned)
		return;
	call->owned = false;
	if (status < 0 || status > WM_GRPC_UNAUTHENTICATED)
		status = WM_GRPC_UNKNOWN;
	sink_end(call, status, message);
	wm_srv_call_unref(call);
}

/* Request headers a browser may pass on as metadata: the rest (pseudo
 * headers, grpc-*, forwarding headers of servers, hop headers) are the
 * transport's or must not come from a browser at all. Compared without case:
 * an HTTP/1.1 transport hands names as the client wrote them, and they are
 * folded to lower case only once they pass. */
static bool md_passes(const char *k)
{
	return k && *k && k[0] != ':' && strncasecmp(k, "grpc-", 5) != 0 &&
	       strncasecmp(k, "x-webmesh-proxied-", 18) != 0 && strcasecmp(k, "te") != 0 &&
	       strcasecmp(k, "content-type") != 0 && strcasecmp(k, "cookie") != 0;
}

static int copy_md(struct wm_rpc_call *call, const struct wm_grpcweb_request *rq)
{
	size_t n = 0;
	for (size_t i = 0; i < rq->n_md; i++)
		n += md_passes(rq->md[i].key) && rq->md[i].value;
	if (!n)
		return 0;
	if (n > 64)
		return -E2BIG;
	call->md = calloc(n, sizeof(*call->md));
	if (!call->md)
		return -ENOMEM;
	for (size_t i = 0; i < rq->n_md; i++) {
		if (!md_passes(rq->md[i].key) || !rq->md[i].value)
			continue;
		struct md *m = &call->md[call->n_md];
		m->key = strdup(rq->md[i].key);
		m->value = strdup(rq->md[i].value);
		if (!m->key || !m->value) {
			free(m->key);
			free(m->value);
			return -ENOMEM;
		}
		for (char *p = m->key; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		call->n_md++;
	}
	return 0;
}

bool wm_grpcweb_same_origin(const char *origin, const char *scheme, const char *authority)
{
	size_t n = strlen(scheme);
	if (!origin)
		return true;
	return authority && strncmp(origin, scheme, n) == 0 && strncmp(origin + n, "://", 3) == 0 &&
	       strcmp(origin + n + 3, authority) == 0;
}

int wm_grpcweb_call_start(struct wm_rpc_server *srv, uv_loop_t *loop,
			  const struct wm_grpcweb_request *rq, const struct wm_grpcweb_sink *sink,
			  void *sink_data, struct wm_grpcweb_call **out)
{
	if (!srv || !loop || !rq || !rq->path || !sink || !sink->headers || !sink->data ||
	    !sink->end || !out)
		return -EINVAL;
	struct wm_rpc_call *call = calloc(1, sizeof(*call));
	if (!call)
		return -ENOMEM;
	call->loop = loop;
	call->refs = 1; /* the transport's, until it detaches */
	call->local = rq->local;
	call->max_message = srv->max_message;
	snprintf(call->peer, sizeof(call->peer), "%s", rq->peer ? rq->peer : "web");
	call->virt = true;
	call->sink = sink;
	call->sink_data = sink_data;
	int r = copy_md(call, rq);
	if (r == -ENOMEM || !(call->path = strdup(rq->path))) {
		wm_srv_call_unref(call);
		return -ENOMEM;
	}
	if (rq->peer_cert && X509_up_ref(rq->peer_cert))
		call->peer_cert = rq->peer_cert;
	if (rq->local && rq->server_fp && strlen(rq->server_fp) < sizeof(call->own_fp))
		snprintf(call->own_fp, sizeof(call->own_fp), "%s", rq->server_fp);
	*out = (struct wm_grpcweb_call *)call;

	call->web = (uint8_t)wm_grpcweb_mode_of(rq->content_type,
						rq->content_type ? strlen(rq->content_type) : 0);
	if (call->web == WM_GRPCWEB_NONE) {
		/* Answer in the binary framing: the client asked for neither. */
		call->web = WM_GRPCWEB_BINARY;
		sink_end(call, WM_GRPC_UNKNOWN, "content-type is not application/grpc-web");
		return 0;
	}
	if (r == -E2BIG) {
		sink_end(call, WM_GRPC_RESOURCE_EXHAUSTED, "request metadata too large");
		return 0;
	}
	const struct method *m = wm_srv_find_method(srv, rq->path);
	if (!m) {
		char msg[320];
		snprintf(msg, sizeof(msg), "unknown method %.256s", rq->path);
		sink_end(call, WM_GRPC_UNIMPLEMENTED, msg);
		return 0;
	}
	uint8_t *req;
	size_t req_len;
	r = wm_grpcweb_request_decode(call->web, rq->body, rq->len, call->max_message, &req,
				      &req_len);
	if (r < 0) {
		const char *why;
		int st = wm_grpcweb_decode_status(r, &why);
		sink_end(call, st, why);
		return 0;
	}
	call->m = *m;
	call->dispatched = true;
	call->owned = true;
	call->refs++; /* the handler's, until it finishes the call */
	call->m.handler(call, req, req_len, call->m.data);
	free(req);
	return 0;
}

void wm_grpcweb_call_detach(struct wm_grpcweb_call *c)
{
	struct wm_rpc_call *call = (struct wm_rpc_call *)c;
	if (!call)
		return;
	call->sink = NULL;
	if (call->owned && !call->cancelled) {
		call->cancelled = true;
		call->refs++; /* the callback may finish the call */
		if (call->cancel_cb)
			call->cancel_cb(call, call->cancel_data);
		wm_srv_call_unref(call);
	}
	wm_srv_call_unref(call);
}
