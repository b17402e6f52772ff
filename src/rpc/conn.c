/* One HTTP/2 connection over a libuv stream, optionally in TLS through memory
 * BIOs: reads feed OpenSSL then nghttp2, nghttp2's output goes back the same
 * way, and the write queue bounds how much we pull from nghttp2. */
#include "rpc/conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "core/net.h"

/* Stop taking frames from nghttp2 while this much is queued for the socket:
 * a slow reader then holds data in nghttp2's flow control and in the calls'
 * own queues, where it is bounded, not in an ever growing write queue. */
#define HIGH_WATER (256u * 1024)
/* Coalesce small frames into writes (and TLS records) of about this size. */
#define OUT_CHUNK (16u * 1024)
/* What one read takes from the socket (and, with TLS, from OpenSSL). */
#define READ_BUF (64u * 1024)

struct wreq {
	uv_write_t req;
	struct wm_conn *c;
	size_t len;
	uint8_t data[];
};

static void close_cb(uv_handle_t *h)
{
	struct wm_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	nghttp2_session_del(c->h2);
	c->h2 = NULL;
	SSL_free(c->ssl);
	c->ssl = NULL;
	free(c->out);
	c->out = NULL;
	c->ops->closed(c);
}

void wm_conn_close(struct wm_conn *c, int err, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	c->err = err;
	snprintf(c->why, sizeof(c->why), "%s", why ? why : "");
	uv_close(&c->io.handle, close_cb);
	uv_close((uv_handle_t *)&c->timer, close_cb);
}

static void timer_cb(uv_timer_t *t)
{
	struct wm_conn *c = t->data;
	if (c->ops->timeout) {
		c->ops->timeout(c);
		return;
	}
	wm_conn_close(c, -ETIMEDOUT,
		      c->ready ? "no HTTP/2 settings received in time"
			       : "connection or TLS handshake timed out");
}

int wm_conn_init(uv_loop_t *loop, struct wm_conn *c, bool pipe, const struct wm_conn_ops *ops,
		 void *owner)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->ops = ops;
	c->owner = owner;
	c->is_pipe = pipe;
	int rv = pipe ? uv_pipe_init(loop, &c->io.pipe, 0) : uv_tcp_init(loop, &c->io.tcp);
	if (rv < 0)
		return rv;
	uv_timer_init(loop, &c->timer);
	c->io.handle.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	snprintf(c->peer, sizeof(c->peer), "%s", pipe ? "unix" : "unknown");
	return 0;
}

void wm_conn_arm(struct wm_conn *c, uint64_t ms)
{
	if (!c->closing)
		uv_timer_start(&c->timer, timer_cb, ms, 0);
}

void wm_conn_disarm(struct wm_conn *c)
{
	if (!c->closing)
		uv_timer_stop(&c->timer);
}

void wm_conn_set_peer(struct wm_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char ip[48] = "";
	if (c->is_pipe || uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		uv_ip4_name(a, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		/* The dual-stack listener ([::]) names IPv4 clients
		 * ::ffff:a.b.c.d: the peer is named by its IPv4 address, so that
		 * limits, backoff and logs count one host as one source. */
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		struct wm_endpoint e = {.ip = {.family = AF_INET6, .len = 128},
					.port = ntohs(a->sin6_port)};
		memcpy(e.ip.addr, &a->sin6_addr, 16);
		wm_endpoint_unmap(&e);
		if (wm_endpoint_format(&e, c->peer, sizeof(c->peer)) < 0) {
			uv_ip6_name(a, ip, sizeof(ip));
			snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip, ntohs(a->sin6_port));
		}
	}
}

/* ------------------------------------------------------------ writing */

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct wm_conn *c = w->c;
	c->inflight -= w->len;
	free(w);
	if (c->closing)
		return;
	if (status < 0)
		wm_conn_close(c, status, uv_strerror(status));
	else
		wm_conn_flush(c);
}

static int write_raw(struct wm_conn *c, const void *data, size_t len, BIO *from)
{
	struct wreq *w = malloc(sizeof(*w) + len);
	if (!w)
		return -ENOMEM;
	w->c = c;
	w->len = len;
	if (from) {
		if (BIO_read(from, w->data, (int)len) != (int)len) {
			free(w);
			return -EIO;
		}
	} else {
		memcpy(w->data, data, len);
	}
	uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned int)len);
	int rv = uv_write(&w->req, &c->io.stream, &buf, 1, write_cb);
	if (rv < 0) {
		free(w);
		return rv;
	}
	c->inflight += len;
	return 0;
}

/* Sends what TLS produced (records, handshake messages, alerts). */
static int drain_tls(struct wm_conn *c)
{
	BIO *wbio = SSL_get_wbio(c->ssl);
	size_t n;
	while ((n = BIO_ctrl_pending(wbio)) > 0) {
		int rv = write_raw(c, NULL, n, wbio);
		if (rv)
			return rv;
	}
	return 0;
}

static void emit(struct wm_conn *c)
{
	int rv = 0;
	if (!c->out_len || c->closing)
		return;
	if (c->ssl) {
		ERR_clear_error();
		/* A memory BIO takes everything: SSL_write either writes it all or fails. */
		if (SSL_write(c->ssl, c->out, (int)c->out_len) != (int)c->out_len)
			rv = -EIO;
		else
			rv = drain_tls(c);
		ERR_clear_error();
	} else {
		rv = write_raw(c, c->out, c->out_len, NULL);
	}
	c->out_len = 0;
	if (rv)
		wm_conn_close(c, rv, "cannot write to the connection");
}

static int out_append(struct wm_conn *c, const uint8_t *d, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : OUT_CHUNK;
		while (cap < c->out_len + n)
			cap *= 2;
		uint8_t *p = realloc(c->out, cap);
		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, d, n);
	c->out_len += n;
	return 0;
}

void wm_conn_flush(struct wm_conn *c)
{
	if (c->closing || !c->h2)
		return;
	if (c->depth > 0) {
		c->want_flush = true;
		return;
	}
	c->depth++;
	do {
		c->want_flush = false;
		while (!c->closing && c->inflight + c->out_len < HIGH_WATER) {
			const uint8_t *d;
			ssize_t n = nghttp2_session_mem_send(c->h2, &d);
			if (n < 0) {
				wm_conn_close(c, -EPROTO, nghttp2_strerror((int)n));
				break;
			}
			if (n == 0)
				break;
			if (out_append(c, d, (size_t)n)) {
				wm_conn_close(c, -ENOMEM, "out of memory");
				break;
			}
			if (c->out_len >= OUT_CHUNK)
				emit(c);
		}
		emit(c);
	} while (c->want_flush && !c->closing && c->inflight < HIGH_WATER);
	c->depth--;
	/* Everything appended was emitted: the buffer holds nothing between
	 * flushes, and a server with thousands of idle members would keep
	 * 16 KiB each (measured with massif: a sixth of a server's heap). */
	if (c->depth == 0 && c->out_len == 0 && c->out) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	/* After GOAWAY and the last stream, nghttp2 wants nothing more: close once
	 * everything we queued has reached the socket. */
	if (!c->closing && c->inflight == 0 && !nghttp2_session_want_read(c->h2) &&
	    !nghttp2_session_want_write(c->h2))
		wm_conn_close(c, 0, "HTTP/2 session ended");
}

/* ------------------------------------------------------------ reading */

static void h2_recv(struct wm_conn *c, const uint8_t *p, size_t n)
{
	c->depth++;
	ssize_t rv = nghttp2_session_mem_recv(c->h2, p, n);
	c->depth--;
	if (rv < 0 && !c->closing) {
		char why[128];
		snprintf(why, sizeof(why), "HTTP/2 error: %s", nghttp2_strerror((int)rv));
		wm_conn_close(c, -EPROTO, why);
	}
}

static void become_ready(struct wm_conn *c)
{
	c->ready = true;
	int rv = c->ops->ready(c);
	if (rv < 0)
		wm_conn_close(c, rv, "cannot start the HTTP/2 session");
}

static void tls_fail(struct wm_conn *c, const char *what)
{
	char why[224], reason[176] = "connection closed";
	unsigned long e = ERR_peek_last_error();
	long vr = SSL_get_verify_result(c->ssl);
	if (vr == X509_V_ERR_INVALID_PURPOSE && !SSL_is_server(c->ssl))
		snprintf(reason, sizeof(reason),
			 "certificate rejected: the server's certificate is not a server "
			 "certificate (extended key usage without serverAuth)");
	else if (vr != X509_V_OK)
		snprintf(reason, sizeof(reason), "certificate rejected: %s",
			 X509_verify_cert_error_string(vr));
	else if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	snprintf(why, sizeof(why), "%s: %s", what, reason);
	drain_tls(c); /* the alert, if any */
	wm_conn_close(c, -EPROTO, why);
}

static void tls_handshake(struct wm_conn *c)
{
	ERR_clear_error();
	int rv = SSL_do_handshake(c->ssl);
	if (rv != 1) {
		int e = SSL_get_error(c->ssl, rv);
		if (e == SSL_ERROR_WANT_READ) {
			if (drain_tls(c))
				wm_conn_close(c, -EIO, "cannot write to the connection");
			return;
		}
		tls_fail(c, "TLS handshake failed");
		return;
	}
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
	bool h2 = alpn_len == 2 && memcmp(alpn, "h2", 2) == 0;
	/* A server accepts a client that sent no ALPN (prior knowledge); a client
	 * insists on h2, as gRPC requires. */
	if (!h2 && (!SSL_is_server(c->ssl) || alpn_len != 0)) {
		wm_conn_close(c, -EPROTO, "the peer did not negotiate HTTP/2 (ALPN h2)");
		return;
	}
	if (drain_tls(c)) {
		wm_conn_close(c, -EIO, "cannot write to the connection");
		return;
	}
	become_ready(c);
}

/* p holds n bytes read from the socket in a buffer of cap bytes, reused for
 * the plaintext once OpenSSL has copied them. */
static void tls_recv(struct wm_conn *c, uint8_t *p, size_t n, size_t cap)
{
	if (BIO_write(SSL_get_rbio(c->ssl), p, (int)n) != (int)n) {
		wm_conn_close(c, -ENOMEM, "out of memory");
		return;
	}
	if (!c->ready) {
		tls_handshake(c);
		if (!c->ready || c->closing)
			return;
	}
	while (!c->closing) {
		ERR_clear_error();
		int rv = SSL_read(c->ssl, p, (int)cap);
		if (rv > 0) {
			h2_recv(c, p, (size_t)rv);
			continue;
		}
		int e = SSL_get_error(c->ssl, rv);
		if (e == SSL_ERROR_WANT_READ)
			break;
		if (e == SSL_ERROR_ZERO_RETURN)
			wm_conn_close(c, -ECONNRESET, "closed by the peer");
		else
			tls_fail(c, "TLS error");
		return;
	}
	/* Reading may produce output too (TLS 1.3 tickets, key updates). */
	if (!c->closing && drain_tls(c))
		wm_conn_close(c, -EIO, "cannot write to the connection");
}

/* One loop per thread, callbacks never nest: a single buffer serves every
 * connection of a thread. It is allocated on the first read, not static: a
 * thread-local array is zeroed, and so made resident, in every thread of the
 * process, and a heap buffer only where reads have written. */
static pthread_key_t rbuf_key;
static pthread_once_t rbuf_once = PTHREAD_ONCE_INIT;
static _Thread_local char *rbuf;

static void rbuf_key_init(void)
{
	/* Frees a thread's buffer when it exits; if the key cannot be made, a
	 * thread that exits leaks one buffer. */
	(void)pthread_key_create(&rbuf_key, free);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	if (!rbuf) {
		pthread_once(&rbuf_once, rbuf_key_init);
		rbuf = malloc(READ_BUF);
		if (rbuf)
			(void)pthread_setspecific(rbuf_key, rbuf);
	}
	/* Without a buffer libuv reports UV_ENOBUFS to read_cb, which closes. */
	*buf = rbuf ? uv_buf_init(rbuf, READ_BUF) : uv_buf_init(NULL, 0);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct wm_conn *c = s->data;
	if (c->closing || n == 0)
		return;
	if (n < 0) {
		wm_conn_close(c, n == UV_EOF ? -ECONNRESET : (int)n,
			      n == UV_EOF ? "closed by the peer" : uv_strerror((int)n));
		return;
	}
	if (c->ssl)
		tls_recv(c, (uint8_t *)buf->base, (size_t)n, buf->len);
	else
		h2_recv(c, (const uint8_t *)buf->base, (size_t)n);
	wm_conn_flush(c);
}

int wm_conn_start(struct wm_conn *c, SSL *ssl)
{
	c->ssl = ssl;
	if (ssl) {
		BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
		if (!rbio || !wbio) {
			BIO_free(rbio);
			BIO_free(wbio);
			wm_conn_close(c, -ENOMEM, "out of memory");
			return -ENOMEM;
		}
		/* An empty read BIO means "wait for more", not end of file. */
		BIO_set_mem_eof_return(rbio, -1);
		SSL_set_bio(ssl, rbio, wbio);
	}
	int rv = uv_read_start(&c->io.stream, alloc_cb, read_cb);
	if (rv < 0) {
		wm_conn_close(c, rv, uv_strerror(rv));
		return rv;
	}
	if (ssl)
		tls_handshake(c); /* a client sends its hello now */
	else
		become_ready(c);
	if (!c->closing)
		wm_conn_flush(c);
	return c->closing ? c->err : 0;
}
